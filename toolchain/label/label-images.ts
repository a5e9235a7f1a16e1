import { appendFile, mkdir, readFile, truncate } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { FaceEngine } from '../../sdk/engine/face-engine';
import { canvasOffset, placeOnCanvas } from '../../sdk/eval/canvas';
import { loadImageFrame } from '../../sdk/image/decode';
import type { Face } from '../../sdk/types';
import type { LabelItem } from './sources';

/** One labelled face: the teacher's box, landmarks, score and embedding. */
export interface FaceLabel {
  box: number[];
  score: number;
  landmarks: number[][];
  embedding: number[];
}

/** One line of the labels file. Coordinates are in the labelled image's pixels (after the canvas, when one was used). */
export interface ImageLabel {
  source: LabelItem['source'];
  image: string;
  identity?: string;
  width: number;
  height: number;
  /** LFW's 90x90 tight crops are labelled centred on an edge-padded canvas; the trainer rebuilds the same canvas. */
  canvas?: { size: number; fill: 'edge'; offsetX: number; offsetY: number };
  teacher: string;
  faces: FaceLabel[];
}

export interface LabelProgress {
  done: number;
  total: number;
  skipped: number;
  faces: number;
  errors: number;
}

/** Side of the canvas a tight LFW crop is centred on before the teacher looks at it. */
export const LFW_CANVAS = 160;

/**
 * Runs the teacher over `items` and appends one JSON line per image to `outFile`. Images already
 * in the file are skipped, so an interrupted run resumes where it stopped. An image that cannot
 * be decoded is reported and skipped, never fatal.
 */
export async function labelImages(
  engine: FaceEngine,
  dataRoot: string,
  items: readonly LabelItem[],
  outFile: string,
  onProgress: (p: LabelProgress) => void = () => undefined,
): Promise<LabelProgress> {
  await mkdir(dirname(outFile), { recursive: true });
  const done = await labelledImages(outFile);
  const progress: LabelProgress = { done: 0, total: items.length, skipped: 0, faces: 0, errors: 0 };
  let batch: string[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length > 0) await appendFile(outFile, batch.join(''));
    batch = [];
  };
  for (const item of items) {
    progress.done++;
    if (done.has(item.image)) {
      progress.skipped++;
      continue;
    }
    try {
      const label = await labelOne(engine, dataRoot, item);
      progress.faces += label.faces.length;
      batch.push(`${JSON.stringify(label)}\n`);
    } catch (error) {
      progress.errors++;
      process.stderr.write(`label: skipping ${item.image}: ${(error as Error).message}\n`);
    }
    if (batch.length >= 50) await flush();
    if (progress.done % 100 === 0) onProgress(progress);
  }
  await flush();
  onProgress(progress);
  return progress;
}

async function labelOne(engine: FaceEngine, dataRoot: string, item: LabelItem): Promise<ImageLabel> {
  let frame = await loadImageFrame(join(dataRoot, item.image));
  let canvas: ImageLabel['canvas'];
  if (item.source === 'lfw-train') {
    const { offsetX, offsetY } = canvasOffset(frame, LFW_CANVAS);
    frame = placeOnCanvas(frame, LFW_CANVAS, 'edge');
    canvas = { size: LFW_CANVAS, fill: 'edge', offsetX, offsetY };
  }
  const faces = await engine.detect(frame);
  return {
    source: item.source,
    image: item.image,
    ...(item.identity ? { identity: item.identity } : {}),
    width: frame.width,
    height: frame.height,
    ...(canvas ? { canvas } : {}),
    teacher: engine.info.modelId,
    faces: faces.map(toLabel),
  };
}

function toLabel(f: Face): FaceLabel {
  const r = (v: number): number => Math.round(v * 100) / 100;
  return {
    box: f.box.map(r),
    score: Math.round(f.score * 1e4) / 1e4,
    landmarks: f.landmarks.map((p) => p.map(r)),
    embedding: Array.from(f.embedding, (v) => Math.round(v * 1e5) / 1e5),
  };
}

/**
 * Images already present in a labels file (the resume point). A torn last line, left by an
 * interrupted write, is cut off so the file stays valid JSON lines; that image is labelled again.
 */
async function labelledImages(file: string): Promise<Set<string>> {
  const seen = new Set<string>();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return seen;
    throw error;
  }
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  if (complete.length < text.length) await truncate(file, Buffer.byteLength(complete));
  for (const line of complete.split('\n')) if (line.trim() !== '') seen.add((JSON.parse(line) as ImageLabel).image);
  return seen;
}
