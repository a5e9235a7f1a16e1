import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FaceEngine } from '../../sdk/engine/face-engine';
import { InputFileError, InvalidArgumentError } from '../../sdk/errors';
import { placeOnCanvas } from '../../sdk/eval/canvas';
import { readEvaluationSettings } from '../../sdk/eval/evaluation-settings';
import { largestFace } from '../../sdk/eval/face-match';
import { loadImageFrame } from '../../sdk/image/decode';
import type { Frame } from '../../sdk/types';

/** A joint bundle's embeddings of training crops, with whose face each one is. */
export interface MeasuredEmbeddings {
  /** The bundle they were measured on. */
  modelId: string;
  images: number;
  canvas: number;
  fill: string;
  embeddings: Float32Array[];
  /** The identity of each embedding: the first folder of its path in the list (`name/name_0001.jpg`). */
  identities: string[];
  /** The first few measured frames (on the canvas), to check a transformed graph against. */
  checkFrames: Frame[];
}

export interface MeasureOptions {
  /** One image path per line, relative to `root`, a folder per person (e.g. lfw/train_images.txt: never an evaluation list). */
  list: string;
  root: string;
  /** The first N images of the list (default: all). */
  count?: number;
  onProgress?: (done: number, total: number) => void;
}

const CHECK_FRAMES = 4;

/** Embeds the largest face of each listed crop, placed on the bundle's evaluation canvas as `eval verify` does. */
export async function measureEmbeddings(bundleDir: string, options: MeasureOptions): Promise<MeasuredEmbeddings> {
  const count = options.count ?? Number.POSITIVE_INFINITY;
  if (count !== Number.POSITIVE_INFINITY && (!Number.isInteger(count) || count < 1)) throw new InvalidArgumentError('--count', 'a positive integer', count);
  const text = await readFile(options.list, 'utf8').catch((error: unknown) => {
    throw new InputFileError(options.list, `cannot read the image list (${(error as Error).message})`);
  });
  const files = text.split('\n').map((l) => l.trim()).filter(Boolean).slice(0, count);
  if (files.length === 0) throw new InputFileError(options.list, 'lists no images');
  const settings = await readEvaluationSettings(bundleDir);
  const engine = await FaceEngine.create(bundleDir, { providers: ['cpu'], minScore: settings.minScore.value });
  try {
    if (engine.manifest.kind !== 'joint') throw new InvalidArgumentError('--bundle', 'a joint bundle', engine.manifest.kind);
    const embeddings: Float32Array[] = [];
    const identities: string[] = [];
    const checkFrames: Frame[] = [];
    for (const [i, file] of files.entries()) {
      const frame = placeOnCanvas(await loadImageFrame(join(options.root, file)), settings.canvas.value, settings.fill.value);
      const face = largestFace(await engine.detect(frame));
      if (face) {
        embeddings.push(Float32Array.from(face.embedding));
        identities.push(file.split('/')[0]!);
        if (checkFrames.length < CHECK_FRAMES) checkFrames.push(frame);
      }
      options.onProgress?.(i + 1, files.length);
    }
    if (embeddings.length === 0) throw new InputFileError(options.list, `no face found in any of its first ${files.length} images`);
    return { modelId: engine.info.modelId, images: files.length, canvas: settings.canvas.value, fill: settings.fill.value, embeddings, identities, checkFrames };
  } finally {
    await engine.close();
  }
}
