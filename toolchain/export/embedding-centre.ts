import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FaceEngine } from '../../sdk/engine/face-engine';
import { InputFileError, InvalidArgumentError } from '../../sdk/errors';
import { placeOnCanvas } from '../../sdk/eval/canvas';
import { readEvaluationSettings } from '../../sdk/eval/evaluation-settings';
import { largestFace } from '../../sdk/eval/face-match';
import { loadImageFrame } from '../../sdk/image/decode';
import type { Frame } from '../../sdk/types';

/**
 * The mean unit embedding of a joint bundle over training faces. The student's embeddings share a
 * common direction (norm 0.37 on LFW's training crops for jetface-s v3) that carries no identity;
 * `jetface bundle centre` subtracts it inside the graph before the final normalization.
 */
export interface EmbeddingCentre {
  /** The bundle it was measured on. */
  modelId: string;
  images: number;
  faces: number;
  canvas: number;
  fill: string;
  /** Norm of the mean before it is subtracted. */
  norm: number;
  centre: Float32Array;
  /** The first few measured frames (on the canvas), to check the centred graph against. */
  checkFrames: Frame[];
}

const CHECK_FRAMES = 4;

export interface CentreOptions {
  /** One image path per line, relative to `root` (e.g. lfw/train_images.txt: never an evaluation list). */
  list: string;
  root: string;
  /** The first N images of the list (default 1500). */
  count?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Embeds the largest face of each listed crop, placed on the bundle's evaluation canvas, and averages. */
export async function measureEmbeddingCentre(bundleDir: string, options: CentreOptions): Promise<EmbeddingCentre> {
  const count = options.count ?? 1500;
  if (!Number.isInteger(count) || count < 1) throw new InvalidArgumentError('--count', 'a positive integer', count);
  const text = await readFile(options.list, 'utf8').catch((error: unknown) => {
    throw new InputFileError(options.list, `cannot read the image list (${(error as Error).message})`);
  });
  const files = text.split('\n').map((l) => l.trim()).filter(Boolean).slice(0, count);
  if (files.length === 0) throw new InputFileError(options.list, 'lists no images');
  const settings = await readEvaluationSettings(bundleDir);
  const engine = await FaceEngine.create(bundleDir, { providers: ['cpu'], minScore: settings.minScore.value });
  try {
    if (engine.manifest.kind !== 'joint') throw new InvalidArgumentError('--bundle', 'a joint bundle', engine.manifest.kind);
    const sum = new Float64Array(engine.manifest.embeddingDim);
    let faces = 0;
    const checkFrames: Frame[] = [];
    for (const [i, file] of files.entries()) {
      const frame = placeOnCanvas(await loadImageFrame(join(options.root, file)), settings.canvas.value, settings.fill.value);
      const face = largestFace(await engine.detect(frame));
      if (face) {
        face.embedding.forEach((v, k) => (sum[k] = sum[k]! + v));
        faces++;
        if (checkFrames.length < CHECK_FRAMES) checkFrames.push(frame);
      }
      options.onProgress?.(i + 1, files.length);
    }
    if (faces === 0) throw new InputFileError(options.list, `no face found in any of its first ${files.length} images`);
    const centre = Float32Array.from(sum, (v) => v / faces);
    return {
      modelId: engine.info.modelId,
      images: files.length,
      faces,
      canvas: settings.canvas.value,
      fill: settings.fill.value,
      norm: Math.hypot(...centre),
      centre,
      checkFrames,
    };
  } finally {
    await engine.close();
  }
}
