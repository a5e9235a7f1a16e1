import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadBundle } from '../../sdk/bundle/load-bundle';
import type { BundleManifest, BundleManifestInput, JointManifest } from '../../sdk/bundle/manifest';
import { FaceEngine } from '../../sdk/engine/face-engine';
import { embeddingSpaceId } from '../../sdk/gallery/model-id';
import { resizeForModel, toInputTensor } from '../../sdk/engine/preprocess';
import { ContractError, InputFileError, InvalidArgumentError } from '../../sdk/errors';
import { placeOnCanvas } from '../../sdk/eval/canvas';
import { readEvaluationSettings } from '../../sdk/eval/evaluation-settings';
import { loadImageFrame } from '../../sdk/image/decode';
import type { Frame } from '../../sdk/types';
import { addModelFile, writeBundleFiles } from '../bundle/write-bundle';
import { DataType, cloneModel, encodeModel, floatValues, readModel, valueInfo, type OnnxModel } from '../onnx/model-io';
import { findChannelChains, removeDeadChannels, type PrunedLayer } from './dead-channels';
import { derivedModelCard } from './model-card';

export interface PrunedBundleOptions {
  /** A joint fp32 bundle. */
  from: string;
  out: string;
  /** Image paths, one per line, relative to `root` (training images: the channels that never fire on them go). */
  list: string;
  root: string;
  /** Channels removed per layer in multiples of this (default 16: the CPU kernels' block on AVX-512). */
  block?: number;
  notes?: string;
  metrics?: Record<string, number | string | boolean>;
  onProgress?: (done: number, total: number) => void;
}

/** Against the source's outputs on the held-back images; boxes must not move at all. */
const CHECK_TOLERANCE = 1e-4;
/** The list's last quarter, at most this many images, is held back for the check. */
const MAX_CHECK_IMAGES = 16;
const SMALLER = [2, 4, 8];

export interface PrunedBundle {
  manifest: BundleManifest;
  layers: PrunedLayer[];
  removed: number;
  total: number;
  measuredImages: number;
  checkImages: number;
  maxAbsDiff: number;
}

/**
 * Writes a joint bundle without the channels that never fired on the listed images (each image
 * as the SDK feeds it, on the bundle's evaluation canvas, and smaller). What a dead channel
 * contributed is a constant, folded into the next layer's bias, so the outputs stay the source's;
 * images held back from the measurement check that before the bundle is kept.
 */
export async function writePrunedBundle(options: PrunedBundleOptions): Promise<PrunedBundle> {
  const from = resolve(options.from);
  const out = resolve(options.out);
  if (from === out) throw new InvalidArgumentError('--out', 'a folder other than the source bundle', options.out);
  const block = options.block ?? 16;
  if (!Number.isInteger(block) || block < 1) throw new InvalidArgumentError('--block', 'a positive integer', block);
  const bundle = await loadBundle(from);
  const source = bundle.manifest;
  if (source.kind !== 'joint') throw new InvalidArgumentError('--bundle', 'a joint bundle', source.kind);
  if (source.precision !== 'fp32') throw new InvalidArgumentError('--bundle', 'an fp32 bundle (prune before quantizing)', source.precision);

  const files = await readList(options.list);
  const checkCount = Math.min(MAX_CHECK_IMAGES, Math.floor(files.length / 4));
  if (checkCount < 1) throw new InputFileError(options.list, `lists ${files.length} images; at least 4 are needed (the last quarter checks the result)`);
  const measured = files.slice(0, files.length - checkCount);
  const model = await readModel(bundle.modelFiles[0]!.path);
  const settings = await readEvaluationSettings(from);
  // The image filling the input, on the evaluation canvas, and at 1/2, 1/4 and 1/8 of the input's side: faces of many sizes.
  const placements = async (file: string): Promise<Frame[]> => {
    const frame = await loadImageFrame(join(options.root, file));
    const side = Math.max(frame.width, frame.height);
    const canvases = [...(side <= settings.canvas.value ? [settings.canvas.value] : []), ...SMALLER.map((k) => side * k)];
    return [frame, ...canvases.map((size) => placeOnCanvas(frame, size, settings.fill.value))];
  };

  const activity = await measureChannelActivity(model, source, measured, placements, options.onProgress);
  const pruned = removeDeadChannels(model, activity.maxima, block, activity.spatial);
  if (pruned.removed === 0) throw new ContractError(`no channel of ${source.modelId} stayed silent on the ${measured.length} measured images in a multiple of ${block}: nothing to remove`);

  const scratch = await mkdtemp(join(tmpdir(), 'jetface-prune-'));
  try {
    const file = join(scratch, 'model.onnx');
    await writeFile(file, encodeModel(pruned.model));
    const sha = await addModelFile(out, file, 'model.onnx');
    const checkFrames = (await Promise.all(files.slice(files.length - checkCount).map(placements))).flat();
    const sourceParams = source.metrics?.['params'];
    const params = typeof sourceParams === 'number' ? { params: sourceParams - (weightCount(model) - weightCount(pruned.model)) } : {};
    const metrics = {
      ...carriedMetrics(source.metrics ?? {}),
      ...params,
      ...flops(source.metrics ?? {}, pruned.layers, activity.perFace),
      pruned_from: source.modelId,
      pruned_channels: pruned.removed,
      pruned_of_channels: pruned.total,
      ...options.metrics,
    };
    // Same function, same embedding space: galleries enrolled with the source need no re-enrollment.
    const manifest: BundleManifestInput = { ...source, modelId: `${source.name}:${sha.slice(0, 12)}`, model: { file: 'model.onnx', sha256: sha }, metrics, embeddingSpace: embeddingSpaceId(source) };
    const card = await readFile(join(from, 'MODEL_CARD.md'), 'utf8').catch(() => `# ${source.name}\n`);
    const written = await writeBundleFiles(out, manifest, derivedModelCard(card, prunedSection(source, pruned, measured.length, checkCount, block), metrics, options.notes));
    const maxAbsDiff = await compareOutputs(from, out, checkFrames);
    if (!(maxAbsDiff <= CHECK_TOLERANCE)) {
      await rm(out, { recursive: true, force: true });
      throw new ContractError(`the pruned graph does not reproduce ${source.modelId} on ${checkCount} held-back images: max |Δ| ${maxAbsDiff} (tolerance ${CHECK_TOLERANCE}); measure on more images`);
    }
    return { manifest: written, layers: pruned.layers, removed: pruned.removed, total: pruned.total, measuredImages: measured.length, checkImages: checkCount, maxAbsDiff };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Accuracy figures describe the same function and carry over; timings and quantization results were
 * measured on the source graph and do not (pass new ones as metrics); GFLOPs are recounted.
 */
const GRAPH_SPECIFIC = /^(gflops|gflops_per_face|per_face_ms.*|cascade_per_face_ms.*|speedup_.*|int8_.*|fp16_.*)$/;

function carriedMetrics(metrics: Record<string, number | string | boolean>): Record<string, number | string | boolean> {
  return Object.fromEntries(Object.entries(metrics).filter(([key]) => !GRAPH_SPECIFIC.test(key)));
}

async function readList(list: string): Promise<string[]> {
  const text = await readFile(list, 'utf8').catch((error: unknown) => {
    throw new InputFileError(list, `cannot read the image list (${(error as Error).message})`);
  });
  return text.split('\n').map((l) => l.trim()).filter(Boolean);
}

/** What the probes saw: per channel maxima, each probe's height x width, and which ones run once per face. */
export interface ChannelActivity {
  maxima: Map<string, Float32Array>;
  spatial: Map<string, [number, number]>;
  /** Probes whose batch was ever other than 1: the recognition body, run on the K faces found. */
  perFace: Set<string>;
}

/** Each chain's pre-activation maxima per channel, over every frame of every measured image. */
export async function measureChannelActivity(
  model: OnnxModel,
  manifest: JointManifest,
  files: readonly string[],
  placements: (file: string) => Promise<Frame[]>,
  onProgress?: (done: number, total: number) => void,
): Promise<ChannelActivity> {
  const probes = findChannelChains(model).flatMap((c) => c.probes);
  if (probes.length === 0) throw new ContractError(`${manifest.modelId} has no Conv → ReLU-like → 1x1 Conv chain whose channels could be removed`);
  const probed = cloneModel(model);
  for (const name of probes) probed.graph!.output!.push(valueInfo(name, DataType.FLOAT));
  // Basic optimizations only: with the blocked-layout rewrite, a probed tensor of 0 faces (a frame with none) fails to reorder.
  const session = await ort.InferenceSession.create(encodeModel(probed), { executionProviders: ['cpu'], graphOptimizationLevel: 'basic', intraOpNumThreads: 2, logSeverityLevel: 3 });
  const maxima = new Map<string, Float32Array>();
  const spatial = new Map<string, [number, number]>();
  const perFace = new Set<string>();
  try {
    for (const [i, file] of files.entries()) {
      for (const frame of await placements(file)) {
        const spec = manifest.input;
        const resized = await resizeForModel(frame, spec.width, spec.height, spec.resize);
        const tensor = toInputTensor(resized.pixels, resized.width, resized.height, frame.format, spec);
        const out = await session.run({ [spec.name]: new ort.Tensor(spec.dtype, tensor.data, tensor.dims) }, probes);
        for (const name of probes) {
          const [n, , h, w] = out[name]!.dims as number[];
          if (n !== 1) perFace.add(name);
          if (n! > 0 && h !== undefined && w !== undefined && !spatial.has(name)) spatial.set(name, [h, w]);
          accumulateChannelMax(maxima, name, out[name]!);
        }
      }
      onProgress?.(i + 1, files.length);
    }
  } finally {
    await session.release();
  }
  return { maxima, spatial, perFace };
}

/** The source's GFLOPs (2 x multiply-adds) less what was removed, shared and per face; dropped when a layer's count is unknown. */
function flops(source: Record<string, unknown>, layers: readonly PrunedLayer[], perFace: ReadonlySet<string>): Record<string, number> {
  if (layers.some((l) => l.macsRemoved === undefined)) return {};
  const removed = (face: boolean): number => layers.filter((l) => perFace.has(l.probe) === face).reduce((sum, l) => sum + 2 * l.macsRemoved!, 0) / 1e9;
  const out: Record<string, number> = {};
  for (const [key, face] of [['gflops', false], ['gflops_per_face', true]] as const) {
    const before = source[key];
    if (typeof before === 'number') out[key] = Math.round((before - removed(face)) * 1000) / 1000;
  }
  return out;
}

/** NCHW: the largest value of each channel (a batch of 0 faces adds nothing). */
function accumulateChannelMax(maxima: Map<string, Float32Array>, name: string, tensor: ort.Tensor): void {
  const [n, c, h, w] = tensor.dims as number[];
  const data = tensor.data as Float32Array;
  const plane = (h ?? 1) * (w ?? 1);
  let m = maxima.get(name);
  if (!m) maxima.set(name, (m = new Float32Array(c!).fill(Number.NEGATIVE_INFINITY)));
  for (let b = 0; b < n!; b++) {
    for (let ch = 0; ch < c!; ch++) {
      const base = (b * c! + ch) * plane;
      let best = m[ch]!;
      for (let p = 0; p < plane; p++) if (data[base + p]! > best) best = data[base + p]!;
      m[ch] = best;
    }
  }
}

function weightCount(model: OnnxModel): number {
  return (model.graph?.initializer ?? []).filter((t) => t.dataType === DataType.FLOAT).reduce((sum, t) => sum + floatValues(t).length, 0);
}

/** Largest embedding difference between two bundles over frames; infinite when any box differs. */
export async function compareOutputs(a: string, b: string, frames: readonly Frame[]): Promise<number> {
  const [left, right] = [await FaceEngine.create(a, { providers: ['cpu'] }), await FaceEngine.create(b, { providers: ['cpu'] })];
  try {
    let worst = 0;
    for (const frame of frames) {
      const [x, y] = [await left.detect(frame), await right.detect(frame)];
      if (x.length !== y.length || x.some((f, i) => f.box.some((v, k) => v !== y[i]!.box[k]))) return Number.POSITIVE_INFINITY;
      x.forEach((f, i) => f.embedding.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - y[i]!.embedding[k]!)))));
    }
    return worst;
  } finally {
    await Promise.all([left.close(), right.close()]);
  }
}

function prunedSection(source: BundleManifest, pruned: { layers: PrunedLayer[]; removed: number; total: number }, measured: number, checked: number, block: number): string {
  return `## Pruned channels

Made by \`jetface bundle prune\` from \`${source.modelId}\`: ${pruned.removed} of the ${pruned.total} inner channels
of its Conv → ReLU-like (→ depthwise Conv → ReLU-like) → 1x1 Conv runs never fired on ${measured} training
images (each filling the input, on the evaluation canvas, and at 1/2, 1/4 and 1/8 of the input's side)
and were removed, in multiples of ${block} per layer. What such a channel contributed was a constant,
folded into the next layer's bias. The outputs are the source's (checked on ${checked} held-back images
to ${CHECK_TOLERANCE}), so embeddings stay comparable with the source's (the manifest's \`embeddingSpace\`:
galleries enrolled with it stay valid) and its accuracy figures below hold. Its timings
and quantization results are not carried over: any listed below were measured on this graph.

${pruned.layers.map((l) => `- \`${l.conv}\`: ${l.from} → ${l.to} channels`).join('\n')}
`;
}
