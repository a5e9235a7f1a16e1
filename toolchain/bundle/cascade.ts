import { mkdir } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { BundleManifest } from '../../sdk/bundle/manifest';
import { InvalidArgumentError } from '../../sdk/errors';
import { addModelFile, writeBundleFiles } from './write-bundle';

/** Options for {@link writeCascadeBundle}. */
export interface CascadeBundleOptions {
  /** YuNet ONNX (2023mar layout: cls/obj/bbox/kps at strides 8/16/32, BGR 0..255 NCHW input). */
  detector: string;
  /** ArcFace-template recognizer ONNX (112x112 RGB NCHW, (x-127.5)/128), e.g. MobileFaceNet. */
  recognizer: string;
  out: string;
  name?: string;
  /** Detector input side; the YuNet file must accept it (640 for the fixed 640x640 export). */
  detectorSize?: number;
  embeddingDim?: number;
  flipAugment?: boolean;
  thresholds?: { detection?: number; nmsIou?: number; match?: number };
  /** Data and terms that travel with the third-party weights (written to the model card). */
  terms?: string[];
}

/**
 * Writes a cascade bundle from a YuNet detector and an aligned-face recognizer. The ONNX files
 * are copied into the bundle (keep it outside the repository or git-ignored: third-party weights).
 *
 * @example
 * ```ts
 * await writeCascadeBundle({ detector: 'yunet.onnx', recognizer: 'mobilefacenet.onnx', out: 'build/bundles/cascade' });
 * ```
 */
export async function writeCascadeBundle(options: CascadeBundleOptions): Promise<BundleManifest> {
  const out = resolve(options.out);
  const size = options.detectorSize ?? 640;
  if (!Number.isInteger(size) || size % 32 !== 0 || size < 64 || size > 4096) throw new InvalidArgumentError('detectorSize', 'a multiple of 32 in 64..4096', size);
  await mkdir(out, { recursive: true });
  const detectorSha = await addModelFile(out, options.detector, 'detector.onnx');
  const recognizerSha = await addModelFile(out, options.recognizer, 'recognizer.onnx');
  const dim = options.embeddingDim ?? 128;
  const name = options.name ?? 'cascade-yunet-mobilefacenet';
  // Mirror averaging doubles the recognizer's cost for no measurable gain here (docs/BENCHMARKS.md).
  const flip = options.flipAugment ?? false;
  return writeBundleFiles(
    out,
    {
      format: 'jetface-bundle',
      formatVersion: 1,
      name,
      kind: 'cascade',
      modelId: `${name}:${detectorSha.slice(0, 8)}:${recognizerSha.slice(0, 8)}${flip ? ':flip' : ''}`,
      precision: 'fp32',
      embeddingDim: dim,
      thresholds: { detection: 0.6, nmsIou: 0.3, match: 0.4, ...options.thresholds },
      maxFaces: 200,
      detector: {
        file: 'detector.onnx',
        sha256: detectorSha,
        architecture: 'yunet',
        input: { name: 'input', width: size, height: size, layout: 'nchw', dtype: 'float32', colorOrder: 'bgr', mean: [0, 0, 0], std: [1, 1, 1], resize: 'letterbox' },
        strides: [8, 16, 32],
      },
      recognizer: {
        file: 'recognizer.onnx',
        sha256: recognizerSha,
        input: { name: 'input0', width: 112, height: 112, layout: 'nchw', dtype: 'float32', colorOrder: 'rgb', mean: [127.5, 127.5, 127.5], std: [128, 128, 128] },
        output: 'output0',
        alignment: 'arcface-112',
        flipAugment: flip,
      },
      provenance: {
        description: `Reference two-stage cascade: ${basename(options.detector)} + ${basename(options.recognizer)}`,
        trainingData: [],
        terms: options.terms ?? [],
      },
      metrics: {},
    },
    modelCard(name, options, size, flip),
  );
}

function modelCard(name: string, o: CascadeBundleOptions, size: number, flip: boolean): string {
  return `# ${name}

A **cascade** bundle: the reference two-stage pipeline jetface measures its joint model against
and uses as the teacher for training labels.

- Detector: \`${basename(o.detector)}\` (YuNet), input ${size}x${size}, letterboxed, BGR 0..255.
- Recognizer: \`${basename(o.recognizer)}\`, 5-point similarity alignment to the 112x112 ArcFace
  template, RGB (x-127.5)/128${flip ? ', embedding averaged with the mirrored face' : ''}.
- Cost: one detector run per frame plus ${flip ? 'two recognizer runs' : 'one recognizer run'} per face.

## Terms

These weights are third-party files; their terms travel with this bundle:

${(o.terms ?? ['(not given)']).map((t) => `- ${t}`).join('\n')}
`;
}
