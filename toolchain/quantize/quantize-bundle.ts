import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { loadBundle } from '../../sdk/bundle/load-bundle';
import type { BundleManifest, BundleManifestInput, JointManifest } from '../../sdk/bundle/manifest';
import { InvalidArgumentError, ManifestError } from '../../sdk/errors';
import type { Face } from '../../sdk/types';
import { addModelFile, writeBundleFiles } from '../bundle/write-bundle';
import { cloneModel, decodeModel, encodeModel, type OnnxModel } from '../onnx/model-io';
import { CALIBRATION_FILE, CALIBRATION_METHODS, DEFAULT_CALIBRATION_METHOD, calibrateBundle, jointBundleOnly, type Calibration, type CalibrationMethod } from './calibrate';
import { checkTensorRt } from './check-tensorrt';
import { agreementOf, facesOf, type Agreement } from './compare';
import { padDepthwiseChannels, resizeToExpand, stemToChannelsLast } from './cpu-kernels';
import { toFp16Weights } from './fp16';
import { cpuSession, prepareInput, type ModelInput } from './model-input';
import { insertQdq, quantizableConvs, type QuantTarget } from './qdq';

export type PrecisionTarget = QuantTarget | 'fp16';
export const PRECISION_TARGETS: readonly PrecisionTarget[] = ['tensorrt', 'cpu', 'fp16'];

/** What a quantized model may lose against the float one, measured on the calibration images. */
export interface QuantBudget {
  minCosine: number;
  minDetectionAgreement: number;
  /** Most Conv layers kept in float before giving up on the budget. */
  maxFloatLayers: number;
}

export const DEFAULT_BUDGET: QuantBudget = { minCosine: 0.985, minDetectionAgreement: 0.97, maxFloatLayers: 16 };

export interface QuantizeOptions {
  bundle: string;
  out: string;
  target: PrecisionTarget;
  /** calibration.json to use; default: the bundle's own, else a new calibration over `images`. */
  calibration?: string;
  images?: readonly string[];
  method?: CalibrationMethod;
  count?: number;
  /** Images (from the calibration set) the layer search measures agreement on. */
  searchImages?: number;
  budget?: Partial<QuantBudget>;
  /**
   * Conv layers kept in float from the start: those whose names begin with one of these (the
   * default bundle's stem and detector are `/net/`). The budget's search may add more; they do not
   * count against its `maxFloatLayers`.
   */
  floatPrefixes?: readonly string[];
  name?: string;
  onProgress?: (message: string) => void;
}

export interface QuantizeReport {
  target: PrecisionTarget;
  quantizedLayers: number;
  floatLayers: string[];
  agreement: Agreement;
  withinBudget: boolean;
  /** Layer search: cosine lost when each layer alone is quantized (worst first; only when the budget was missed). */
  sensitivity: { layer: string; cosineLoss: number }[];
}

const calibrationSchema = z.object({
  format: z.literal('jetface-calibration'),
  version: z.literal(1),
  method: z.enum(['minmax', 'percentile', 'entropy']),
  percentile: z.number().optional(),
  images: z.array(z.string()),
  modelSha256: z.string(),
  tensors: z.record(z.string(), z.object({ min: z.number(), max: z.number(), amax: z.number() })),
});

export async function readCalibration(path: string, modelSha256: string): Promise<Calibration> {
  const parsed = calibrationSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
  if (!parsed.success) throw new ManifestError(path, parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  if (parsed.data.modelSha256 !== modelSha256) {
    throw new ManifestError(path, [{ path: 'modelSha256', message: `measured on another model (${parsed.data.modelSha256.slice(0, 12)}), this bundle's is ${modelSha256.slice(0, 12)}: calibrate again` }]);
  }
  return parsed.data as Calibration;
}

/**
 * Makes a reduced-precision bundle from a float joint bundle. int8: Q/DQ placement for the
 * target, then, if the embedding cosine or detection agreement on the calibration images misses
 * the budget, the layers whose quantization costs most are put back in float one by one until
 * it fits. fp16: weights stored in half precision.
 */
export async function quantizeBundle(options: QuantizeOptions): Promise<{ manifest: BundleManifest; report: QuantizeReport }> {
  if (!PRECISION_TARGETS.includes(options.target)) throw new InvalidArgumentError('--target', PRECISION_TARGETS.join(' | '), options.target);
  const budget = { ...DEFAULT_BUDGET, ...options.budget };
  const say = options.onProgress ?? (() => {});
  const bundle = await loadBundle(options.bundle);
  const manifest = jointBundleOnly(bundle);
  const modelFile = bundle.modelFiles[0]!;
  const model = decodeModel(await readFile(modelFile.path), modelFile.path);

  const calibration = await obtainCalibration(options, manifest.model.sha256, say);
  const search = Math.max(1, options.searchImages ?? 16);
  const inputs: ModelInput[] = [];
  for (const file of calibration.images.slice(0, search)) inputs.push(await prepareInput(file, manifest.input));
  const minScore = manifest.thresholds.detection;
  const reference = await facesWith(encodeModel(model), inputs, manifest, minScore);
  const measure = async (candidate: OnnxModel) => agreementOf(reference, await facesWith(encodeModel(candidate), inputs, manifest, minScore));
  const fits = (a: Agreement) => a.cosineMean >= budget.minCosine && a.detectionAgreement >= budget.minDetectionAgreement;

  let result: { model: OnnxModel; quantized: string[]; float: string[] };
  let agreement: Agreement;
  const sensitivity: QuantizeReport['sensitivity'] = [];
  if (options.target === 'fp16') {
    const fp16 = toFp16Weights(model);
    result = { model: fp16.model, quantized: [], float: [] };
    agreement = await measure(result.model);
  } else {
    const target = options.target;
    // cpu: exact rewrites so that every int8 conv meets MLAS's fast symmetric kernels (cpu-kernels.ts).
    const source = target === 'cpu' ? cloneModel(model) : model;
    if (target === 'cpu') say(`depthwise convs padded for MLAS: ${padDepthwiseChannels(source).length}`);
    const qdq = (keepFloat: Set<string>) => {
      const placed = insertQdq(source, { target, ranges: calibration.tensors, keepFloat });
      if (target === 'cpu') {
        stemToChannelsLast(placed.model);
        resizeToExpand(placed.model);
      }
      return placed;
    };
    const convs = quantizableConvs(model).map((n) => n.name!);
    const prefixes = options.floatPrefixes ?? [];
    const pinned = convs.filter((name) => prefixes.some((p) => name.startsWith(p)));
    if (prefixes.length > 0 && pinned.length === 0) {
      throw new InvalidArgumentError('--float', `prefixes of Conv layer names in the model (e.g. ${convs[0]})`, prefixes.join(' '));
    }
    const keepFloat = new Set(pinned);
    result = qdq(keepFloat);
    agreement = await measure(result.model);
    say(`${result.quantized.length} layers int8${pinned.length ? ` (${pinned.length} kept float by --float)` : ''}: cosine ${agreement.cosineMean.toFixed(4)}, detection agreement ${agreement.detectionAgreement.toFixed(3)}`);
    if (!fits(agreement)) {
      const layers = convs.filter((l) => !keepFloat.has(l));
      for (const [i, layer] of layers.entries()) {
        const only = await measure(qdq(new Set([...pinned, ...layers.filter((l) => l !== layer)])).model);
        sensitivity.push({ layer, cosineLoss: 1 - only.cosineMean + (1 - only.detectionAgreement) });
        if ((i + 1) % 10 === 0) say(`layer sensitivity ${i + 1}/${layers.length}`);
      }
      sensitivity.sort((a, b) => b.cosineLoss - a.cosineLoss);
      for (const { layer } of sensitivity) {
        if (fits(agreement) || keepFloat.size - pinned.length >= budget.maxFloatLayers) break;
        keepFloat.add(layer);
        result = qdq(keepFloat);
        agreement = await measure(result.model);
        say(`${keepFloat.size} layer(s) in float (last: ${layer}): cosine ${agreement.cosineMean.toFixed(4)}, detection agreement ${agreement.detectionAgreement.toFixed(3)}`);
      }
    }
    if (target === 'tensorrt') {
      const check = checkTensorRt(result.model);
      if (!check.ok) throw new ManifestError(`${options.out}/model.onnx`, check.problems.map((p) => ({ path: 'model', message: p })));
    }
  }

  const report: QuantizeReport = {
    target: options.target,
    quantizedLayers: result.quantized.length,
    floatLayers: result.float,
    agreement,
    withinBudget: fits(agreement),
    sensitivity: sensitivity.slice(0, 10),
  };
  return { manifest: await writeQuantizedBundle(options, bundle.dir, manifest, result.model, calibration, report), report };
}

async function obtainCalibration(options: QuantizeOptions, modelSha256: string, say: (m: string) => void): Promise<Calibration> {
  if (options.method && !CALIBRATION_METHODS.includes(options.method)) throw new InvalidArgumentError('--method', CALIBRATION_METHODS.join(' | '), options.method);
  const own = join(options.bundle, CALIBRATION_FILE);
  const path = options.calibration ?? own;
  const exists = await readFile(path).then(() => true, () => false);
  if (exists && (options.calibration || !options.images)) return readCalibration(path, modelSha256);
  if (!options.images?.length) throw new InvalidArgumentError('--images', `calibration images (no ${CALIBRATION_FILE} in the bundle)`, undefined);
  say(`calibrating on ${options.count ?? 64} images (${options.method ?? DEFAULT_CALIBRATION_METHOD})`);
  return calibrateBundle(options.bundle, {
    images: options.images,
    ...(options.count ? { count: options.count } : {}),
    ...(options.method ? { method: options.method } : {}),
  });
}

async function facesWith(model: Uint8Array, inputs: readonly ModelInput[], manifest: JointManifest, minScore: number): Promise<Face[][]> {
  const session = await cpuSession(model);
  try {
    return await facesOf(session, inputs, manifest, minScore);
  } finally {
    await session.release();
  }
}

async function writeQuantizedBundle(
  options: QuantizeOptions,
  sourceDir: string,
  source: JointManifest,
  model: OnnxModel,
  calibration: Calibration,
  report: QuantizeReport,
): Promise<BundleManifest> {
  const out = resolve(options.out);
  const scratch = await mkdtemp(join(tmpdir(), 'jetface-quant-'));
  try {
    const file = join(scratch, 'model.onnx');
    await writeFile(file, encodeModel(model));
    const sha = await addModelFile(out, file, 'model.onnx');
    const int8 = options.target !== 'fp16';
    if (int8) await writeFile(join(out, CALIBRATION_FILE), `${JSON.stringify(calibration, null, 1)}\n`);
    const name = options.name ?? `${source.name}-${int8 ? `int8-${options.target}` : 'fp16'}`;
    const precision = options.target === 'fp16' ? 'fp16' : options.target === 'cpu' ? 'int8-qdq-cpu' : 'int8-qdq-tensorrt';
    const metrics = {
      ...source.metrics,
      quant_embedding_cosine_mean: round(report.agreement.cosineMean),
      quant_embedding_cosine_p1: round(report.agreement.cosineP1),
      quant_detection_agreement: round(report.agreement.detectionAgreement),
      quant_within_budget: report.withinBudget,
    };
    const manifest: BundleManifestInput = {
      ...source,
      name,
      modelId: `${name}:${sha.slice(0, 12)}`,
      precision,
      model: { file: 'model.onnx', sha256: sha },
      metrics,
      quantization: {
        target: options.target,
        sourceModelId: source.modelId,
        ...(int8 ? { method: calibration.method, calibrationImages: calibration.images.length, calibrationFile: CALIBRATION_FILE } : {}),
        ...(calibration.percentile !== undefined && int8 ? { percentile: calibration.percentile } : {}),
        floatLayers: report.floatLayers,
      },
    };
    const card = `${await readFile(join(sourceDir, 'MODEL_CARD.md'), 'utf8').catch(() => `# ${source.name}\n`)}
## Precision: ${precision}

Made by \`jetface model quantize --target ${options.target}\` from \`${source.modelId}\`.
${int8 ? `Calibration: ${calibration.method}${calibration.percentile ? ` (${calibration.percentile}%)` : ''} over ${calibration.images.length} images with the SDK's preprocessing.
Layers in int8: ${report.quantizedLayers}; kept in float: ${report.floatLayers.length ? report.floatLayers.join(', ') : 'none'}.` : 'Conv weights stored as float16 (cast to float32 in the graph; TensorRT builds fp16 kernels).'}
Against the float model on the first calibration images: embedding cosine mean ${round(report.agreement.cosineMean)} (1st percentile ${round(report.agreement.cosineP1)}), detection agreement ${round(report.agreement.detectionAgreement)}.
Verify with \`jetface model verify --reference <float bundle> --candidate <this bundle> --pairs ... --root ...\`.
`;
    return await writeBundleFiles(out, manifest, card);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function round(v: number): number {
  return Math.round(v * 10000) / 10000;
}

