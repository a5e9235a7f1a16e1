import type { Box } from '../types';

/** Intersection over union of two x1,y1,x2,y2 boxes. */
export function boxIou(a: Readonly<Box>, b: Readonly<Box>): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy non-maximum suppression. Returns indices of the kept candidates, best score first,
 * at most `limit` of them.
 *
 * @example
 * ```ts
 * const keep = nonMaxSuppression(boxes, scores, 0.3, 200);
 * ```
 */
export function nonMaxSuppression(boxes: readonly Readonly<Box>[], scores: ArrayLike<number>, iouThreshold: number, limit: number): number[] {
  const order = boxes.map((_, i) => i).sort((i, j) => scores[j]! - scores[i]!);
  const keep: number[] = [];
  const suppressed = new Uint8Array(boxes.length);
  for (const i of order) {
    if (suppressed[i]) continue;
    keep.push(i);
    if (keep.length >= limit) break;
    for (const j of order) {
      if (!suppressed[j] && j !== i && boxIou(boxes[i]!, boxes[j]!) > iouThreshold) suppressed[j] = 1;
    }
  }
  return keep;
}
