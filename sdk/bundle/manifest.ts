import { z } from 'zod';
import { ManifestError, type ManifestIssue } from '../errors';

/** The manifest format this SDK reads and writes. A newer major version is refused, not guessed at. */
export const MANIFEST_FORMAT_VERSION = 1;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex sha256 (64 characters)');
/** A file name inside the bundle folder: no path separators, no escaping the folder. */
const bundleFile = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9._-]+$/, 'a plain file name inside the bundle folder')
  .refine((f) => f !== '.' && f !== '..', 'a plain file name inside the bundle folder');
const tensorName = z.string().min(1).max(200);
const side = z.number().int().min(16).max(4096);
const probability = z.number().min(0).max(1);
const triple = z.tuple([z.number().min(-1000).max(1000), z.number().min(-1000).max(1000), z.number().min(-1000).max(1000)]);
const positiveTriple = z.tuple([z.number().gt(0).max(1000), z.number().gt(0).max(1000), z.number().gt(0).max(1000)]);

const modelFile = z.strictObject({ file: bundleFile, sha256 });

/** How pixels become the model's input tensor. `value = (pixel - mean) / std` per channel, when dtype is float32. */
const tensorInput = z.strictObject({
  name: tensorName,
  width: side,
  height: side,
  layout: z.enum(['nchw', 'nhwc']),
  dtype: z.enum(['float32', 'uint8']),
  colorOrder: z.enum(['rgb', 'bgr']),
  mean: triple.default([0, 0, 0]),
  std: positiveTriple.default([1, 1, 1]),
  /** letterbox keeps the aspect ratio and pads right/bottom; stretch resizes each axis on its own. */
  resize: z.enum(['letterbox', 'stretch']).default('letterbox'),
});

const thresholds = z.strictObject({
  /** Minimum face score kept by detect(). */
  detection: probability,
  /** IoU above which the weaker of two overlapping faces is dropped. */
  nmsIou: probability,
  /** Default cosine similarity for a gallery match (the gallery may override per person). */
  match: z.number().min(-1).max(1),
});

const provenance = z.strictObject({
  description: z.string().max(2000).optional(),
  trainingData: z.array(z.string().max(500)).max(50).default([]),
  terms: z.array(z.string().max(1000)).max(50).default([]),
  toolchainVersion: z.string().max(100).optional(),
  gitRevision: z.string().max(100).optional(),
  createdAt: z.iso.datetime().optional(),
});

const modelId = z.string().regex(/^[A-Za-z0-9._:-]{1,100}$/, 'letters, digits and . _ : - (1 to 100)');

const common = {
  format: z.literal('jetface-bundle'),
  formatVersion: z.literal(MANIFEST_FORMAT_VERSION),
  name: z.string().min(1).max(100),
  /** Identifies the embedding space: a gallery refuses to mix embeddings of different model ids. */
  modelId,
  precision: z.enum(['fp32', 'fp16', 'int8-qdq-tensorrt', 'int8-qdq-cpu']),
  embeddingDim: z.number().int().min(8).max(4096),
  thresholds,
  /** Largest number of faces returned per frame, after NMS. */
  maxFaces: z.number().int().min(1).max(1000).default(200),
  provenance: provenance.default({ trainingData: [], terms: [] }),
  /**
   * How this bundle is evaluated when a command is given no flag for it (`eval verify`, `eval detect`,
   * `bench engine`), so bundles are compared with the same command line: the canvas side and fill an
   * LFW crop is centred on, and the minimum face score.
   */
  evaluation: z
    .strictObject({ canvas: side.optional(), fill: z.enum(['grey', 'black', 'edge']).optional(), minScore: probability.optional() })
    .optional(),
  /** Measured numbers (accuracy, latency) with the command that produced them; free-form. */
  metrics: z.record(z.string().max(100), z.union([z.number(), z.string().max(500), z.boolean()])).default({}),
};

const cascadeManifest = z.strictObject({
  ...common,
  kind: z.literal('cascade'),
  detector: z.strictObject({
    ...modelFile.shape,
    architecture: z.literal('yunet'),
    input: tensorInput,
    strides: z.array(z.number().int().min(2).max(128)).min(1).max(6),
  }),
  recognizer: z.strictObject({
    ...modelFile.shape,
    // The aligned face is written as a float tensor directly (no resize step: the warp is the resize).
    input: tensorInput.omit({ resize: true }).extend({ dtype: z.literal('float32') }),
    output: tensorName,
    /** The 5-point template the face is warped to before recognition. */
    alignment: z.literal('arcface-112'),
    /** Average the embeddings of the aligned face and its mirror image. */
    flipAugment: z.boolean().default(false),
  }),
});

/** How a reduced-precision bundle was made from its float source (written by `jetface model quantize`). */
const quantization = z.strictObject({
  target: z.enum(['tensorrt', 'cpu', 'fp16']),
  /** The float bundle it was made from: embeddings stay comparable only within one model id. */
  sourceModelId: modelId,
  method: z.enum(['minmax', 'percentile', 'entropy']).optional(),
  percentile: z.number().gt(50).max(100).optional(),
  calibrationImages: z.number().int().min(0).max(1_000_000).optional(),
  calibrationFile: bundleFile.optional(),
  /** Conv layers left in float because quantizing them cost the most accuracy. */
  floatLayers: z.array(z.string().max(300)).max(10_000).default([]),
});

const jointManifest = z.strictObject({
  ...common,
  kind: z.literal('joint'),
  model: modelFile,
  input: tensorInput,
  outputs: z.strictObject({ scores: tensorName, boxes: tensorName, landmarks: tensorName, embeddings: tensorName }),
  /** Candidates the graph emits: exactly this many (in-graph TopK), or at most this many with `inGraphNms`. */
  topK: z.number().int().min(1).max(10000),
  /**
   * Present when the graph applies the score threshold and NMS itself and emits only the K faces that
   * survive (K ≤ topK), so its per-face work runs on real faces only. Faces scoring under
   * `scoreThreshold` never leave the graph: it is the floor of `detect()`'s `minScore`.
   */
  inGraphNms: z.strictObject({ scoreThreshold: probability, iouThreshold: probability }).optional(),
  /**
   * Present when the graph takes any height and width that are multiples of `multiple`, up to
   * `maxSide`: the engine can then feed a large frame at its own resolution (FaceEngine's
   * `inputSize`). `input.width`/`height` stay the default size and the size small frames get.
   */
  dynamicInput: z
    .strictObject({ maxSide: side, multiple: z.number().int().min(1).max(256) })
    .refine((d) => d.maxSide % d.multiple === 0, { message: 'maxSide must be a multiple of multiple', path: ['maxSide'] })
    .optional(),
  quantization: quantization.optional(),
  /**
   * Set when the graph reproduces another model's embeddings (within 1e-4: `jetface bundle prune`
   * removed only channels that never fire): galleries enrolled under that model id stay valid.
   */
  embeddingSpace: modelId.optional(),
});

const manifestSchema = z.discriminatedUnion('kind', [cascadeManifest, jointManifest]);

export type BundleManifest = z.output<typeof manifestSchema>;
export type CascadeManifest = z.output<typeof cascadeManifest>;
export type JointManifest = z.output<typeof jointManifest>;
export type TensorInputSpec = z.output<typeof tensorInput>;
/** A manifest as written by hand or by the toolchain (defaults may be left out). */
export type BundleManifestInput = z.input<typeof manifestSchema>;

/**
 * Validates a parsed manifest.json strictly: unknown keys and out-of-range values are refused,
 * each problem reported with its path, the expectation and the value found.
 *
 * @example
 * ```ts
 * const manifest = parseManifest(JSON.parse(text), 'models/jetface-s/manifest.json');
 * ```
 */
export function parseManifest(value: unknown, file = 'manifest.json'): BundleManifest {
  const version = (value as { formatVersion?: unknown } | null)?.formatVersion;
  if (typeof version === 'number' && version > MANIFEST_FORMAT_VERSION) {
    throw new ManifestError(file, [
      { path: 'formatVersion', message: `this SDK reads format version ${MANIFEST_FORMAT_VERSION}; upgrade jetface to read version ${version}` },
    ]);
  }
  const result = manifestSchema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  throw new ManifestError(file, result.error.issues.map(toManifestIssue));
}

function toManifestIssue(issue: z.core.$ZodIssue): ManifestIssue {
  const path = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return { path, message: `unknown key(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}` };
  }
  const got = 'input' in issue && issue.input !== undefined ? `, got ${preview(issue.input)}` : issue.input === undefined ? ', but it is missing' : '';
  return { path, message: `${issue.message}${got}` };
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out ? `.${String(key)}` : String(key);
  return out;
}

function preview(value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) return String(value);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}
