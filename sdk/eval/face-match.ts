import { boxIou } from '../engine/nms';
import type { Face } from '../types';

/** The largest face of a frame (LFW crops hold one subject, sometimes with a bystander's partial face). */
export function largestFace<F extends Pick<Face, 'box'>>(faces: readonly F[]): F | undefined {
  let best: F | undefined;
  let bestArea = -1;
  for (const f of faces) {
    const area = (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]);
    if (area > bestArea) [best, bestArea] = [f, area];
  }
  return best;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Pairs of faces of two detectors on the same frame, greedily by IoU (highest first), each face used once. */
export function matchFaces(a: readonly Pick<Face, 'box'>[], b: readonly Pick<Face, 'box'>[], minIou = 0.5): [number, number][] {
  const candidates: [number, number, number][] = [];
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < b.length; j++) {
      const iou = boxIou(a[i]!.box, b[j]!.box);
      if (iou >= minIou) candidates.push([iou, i, j]);
    }
  }
  candidates.sort((x, y) => y[0] - x[0]);
  const usedA = new Set<number>();
  const usedB = new Set<number>();
  const pairs: [number, number][] = [];
  for (const [, i, j] of candidates) {
    if (usedA.has(i) || usedB.has(j)) continue;
    usedA.add(i);
    usedB.add(j);
    pairs.push([i, j]);
  }
  return pairs;
}
