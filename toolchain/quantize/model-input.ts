import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { TensorInputSpec } from '../../sdk/bundle/manifest';
import { resizeForModel, toInputTensor, type ResizedImage } from '../../sdk/engine/preprocess';
import { InvalidArgumentError } from '../../sdk/errors';
import { loadImageFrame } from '../../sdk/image/decode';
import type { Frame } from '../../sdk/types';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.pgm']);

/** `count` images spread evenly over the sorted files of these folders (or the files themselves). */
export async function pickImages(sources: readonly string[], count: number): Promise<string[]> {
  const files: string[] = [];
  for (const source of sources) {
    if (IMAGE_EXTENSIONS.has(extname(source).toLowerCase())) {
      files.push(source);
      continue;
    }
    const entries = await readdir(source, { recursive: true }).catch((error: unknown) => {
      throw new InvalidArgumentError('--images', 'image files or folders that exist', `${source} (${String(error)})`);
    });
    files.push(...entries.filter((e) => IMAGE_EXTENSIONS.has(extname(e).toLowerCase())).sort().map((e) => join(source, e)));
  }
  if (files.length === 0) throw new InvalidArgumentError('--images', 'folders holding .jpg/.png images', sources.join(', '));
  if (files.length <= count) return files;
  return Array.from({ length: count }, (_, i) => files[Math.floor((i * files.length) / count)]!);
}

/** An image as the SDK feeds it to a model: decoded, resized (letterboxed) and packed per the bundle's input spec. */
export interface ModelInput {
  file: string;
  frame: Frame;
  resized: ResizedImage;
  feeds: Record<string, ort.Tensor>;
}

export async function prepareInput(file: string, spec: TensorInputSpec): Promise<ModelInput> {
  const frame = await loadImageFrame(file);
  const resized = await resizeForModel(frame, spec.width, spec.height, spec.resize);
  const tensor = toInputTensor(resized.pixels, resized.width, resized.height, frame.format, spec);
  return { file, frame, resized, feeds: { [spec.name]: new ort.Tensor(spec.dtype, tensor.data, tensor.dims) } };
}

/** One onnxruntime CPU session on one thread: the setting every latency in the toolchain is measured at. */
export function cpuSession(model: Uint8Array | string): Promise<ort.InferenceSession> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    logSeverityLevel: 3,
  };
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
}
