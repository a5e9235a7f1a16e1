import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadBundle, type ModelBundle } from '../../sdk/bundle/load-bundle';
import type { JointManifest } from '../../sdk/bundle/manifest';
import { InvalidArgumentError, ManifestError } from '../../sdk/errors';
import { DataType, cloneModel, decodeModel, encodeModel, valueInfo, type OnnxModel } from '../onnx/model-io';
import { AbsHistogram } from './histogram';
import { cpuSession, pickImages, prepareInput } from './model-input';

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];
/**
 * The method used when none is given: the one that measured best on the shipped models. On
 * jetface-s, entropy sent 16 layers back to float (int8 cpu 0.885x, slower than fp32) where
 * minmax kept every layer int8 (1.45-1.8x); see docs/quantization.md.
 */
export const DEFAULT_CALIBRATION_METHOD: CalibrationMethod = 'minmax';
export const CALIBRATION_FILE = 'calibration.json';

/** Observed range of one tensor and the symmetric clipping threshold the method chose. */
export interface TensorRange {
  min: number;
  max: number;
  /** |x| threshold that maps to 127 (int8) or bounds the uint8 range. */
  amax: number;
}

export interface Calibration {
  format: 'jetface-calibration';
  version: 1;
  method: CalibrationMethod;
  percentile?: number;
  images: string[];
  /** sha256 of the float model the ranges were measured on. */
  modelSha256: string;
  tensors: Record<string, TensorRange>;
}

export interface CalibrateOptions {
  images: readonly string[];
  count?: number;
  method?: CalibrationMethod;
  percentile?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Ops whose activation inputs/outputs take part in int8 placement (both targets). */
const CALIBRATED_OPS = new Set(['Conv', 'Relu', 'Clip', 'Add']);

/** Float activations that need a range: every non-constant input and output of the ops above. */
export function calibrationTargets(model: OnnxModel): string[] {
  const constants = new Set((model.graph?.initializer ?? []).map((t) => t.name!));
  for (const n of model.graph?.node ?? []) if (n.opType === 'Constant') constants.add(n.output![0]!);
  const targets = new Set<string>();
  for (const n of model.graph?.node ?? []) {
    if (!CALIBRATED_OPS.has(n.opType!)) continue;
    const inputs = n.opType === 'Conv' ? [n.input![0]!] : n.opType === 'Clip' ? [n.input![0]!] : n.input!;
    for (const name of [...inputs, ...n.output!]) if (name && !constants.has(name)) targets.add(name);
  }
  return [...targets];
}

export function jointBundleOnly(bundle: ModelBundle): JointManifest {
  if (bundle.manifest.kind !== 'joint') {
    throw new ManifestError(join(bundle.dir, 'manifest.json'), [{ path: 'kind', message: `quantization works on joint bundles, got "${bundle.manifest.kind}"` }]);
  }
  if (bundle.manifest.precision !== 'fp32') {
    throw new ManifestError(join(bundle.dir, 'manifest.json'), [{ path: 'precision', message: `calibration needs the fp32 model, got "${bundle.manifest.precision}"` }]);
  }
  return bundle.manifest;
}

/**
 * Runs the bundle's float model over real images with the SDK's exact preprocessing and records
 * the range of every tensor int8 placement needs, reduced to a threshold by `method`.
 */
export async function calibrateBundle(bundleDir: string, options: CalibrateOptions): Promise<Calibration> {
  const method = options.method ?? DEFAULT_CALIBRATION_METHOD;
  if (!CALIBRATION_METHODS.includes(method)) throw new InvalidArgumentError('--method', CALIBRATION_METHODS.join(' | '), method);
  const percentile = options.percentile ?? 99.99;
  if (!(percentile > 50 && percentile <= 100)) throw new InvalidArgumentError('--percentile', 'a number in (50, 100]', percentile);
  const count = options.count ?? 64;
  if (!Number.isInteger(count) || count < 1) throw new InvalidArgumentError('--count', 'a positive integer', count);

  const bundle = await loadBundle(bundleDir);
  const manifest = jointBundleOnly(bundle);
  const bytes = await readFile(bundle.modelFiles[0]!.path);
  const model = decodeModel(bytes, bundle.modelFiles[0]!.path);
  const targets = calibrationTargets(model);
  const augmented = cloneModel(model);
  const outputs = new Set(augmented.graph!.output!.map((o) => o.name!));
  for (const name of targets) if (!outputs.has(name)) augmented.graph!.output!.push(valueInfo(name, DataType.FLOAT));

  const files = await pickImages(options.images, count);
  const session = await cpuSession(encodeModel(augmented));
  const histograms = new Map(targets.map((t) => [t, new AbsHistogram()]));
  try {
    for (const [i, file] of files.entries()) {
      const input = await prepareInput(file, manifest.input);
      const out = await session.run(input.feeds, targets);
      for (const name of targets) histograms.get(name)!.add(out[name]!.data as Float32Array);
      options.onProgress?.(i + 1, files.length);
    }
  } finally {
    await session.release();
  }

  const tensors: Record<string, TensorRange> = {};
  for (const [name, h] of histograms) {
    const observed = Math.max(Math.abs(h.min), Math.abs(h.max));
    const amax = method === 'minmax' ? observed : Math.min(observed, method === 'percentile' ? h.percentile(percentile) : h.entropyThreshold());
    tensors[name] = { min: h.min, max: h.max, amax: amax > 0 ? amax : observed };
  }
  return {
    format: 'jetface-calibration',
    version: 1,
    method,
    ...(method === 'percentile' ? { percentile } : {}),
    images: files,
    modelSha256: createHash('sha256').update(bytes).digest('hex'),
    tensors,
  };
}

export async function writeCalibration(dir: string, calibration: Calibration): Promise<string> {
  const path = join(dir, CALIBRATION_FILE);
  await writeFile(path, `${JSON.stringify(calibration, null, 1)}\n`);
  return path;
}
