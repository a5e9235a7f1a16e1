import type { Box, Landmarks } from '../types';

/** A detection candidate in model-input pixels. */
export interface Candidate {
  box: Box;
  score: number;
  landmarks: Landmarks;
}

/** The raw YuNet outputs of one stride, flattened (`[1, N, C]` tensors). */
export interface YunetStrideOutputs {
  stride: number;
  cls: Float32Array;
  obj: Float32Array;
  bbox: Float32Array;
  kps: Float32Array;
}

/**
 * Decodes YuNet (2023mar) head outputs. Each stride's cells are anchor-free points at the cell
 * corner: score = sqrt(cls * obj) (both already sigmoid), box centre offsets and log-sizes in
 * stride units, landmark offsets in stride units from the cell. Only candidates at or above
 * `minScore` are decoded, so cost follows the number of faces, not the grid.
 */
export function decodeYunet(outputs: readonly YunetStrideOutputs[], inputWidth: number, inputHeight: number, minScore: number): Candidate[] {
  const found: Candidate[] = [];
  for (const { stride, cls, obj, bbox, kps } of outputs) {
    const cols = Math.ceil(inputWidth / stride);
    const rows = Math.ceil(inputHeight / stride);
    const cells = Math.min(cols * rows, cls.length);
    for (let idx = 0; idx < cells; idx++) {
      const score = Math.sqrt(clamp01(cls[idx]!) * clamp01(obj[idx]!));
      if (score < minScore) continue;
      const c = idx % cols;
      const r = (idx - c) / cols;
      const cx = (c + bbox[idx * 4]!) * stride;
      const cy = (r + bbox[idx * 4 + 1]!) * stride;
      const w = Math.exp(bbox[idx * 4 + 2]!) * stride;
      const h = Math.exp(bbox[idx * 4 + 3]!) * stride;
      const landmarks = [0, 1, 2, 3, 4].map((k) => [(kps[idx * 10 + 2 * k]! + c) * stride, (kps[idx * 10 + 2 * k + 1]! + r) * stride]) as Landmarks;
      found.push({ box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], score, landmarks });
    }
  }
  return found;
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
