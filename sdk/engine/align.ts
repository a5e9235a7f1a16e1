import type { Frame, Landmarks, Point } from '../types';
import type { TensorInputSpec } from '../bundle/manifest';

/** The standard 112x112 ArcFace 5-point template (eyes, nose, mouth corners), used by InsightFace-family recognizers. */
export const ARCFACE_112_TEMPLATE: readonly Point[] = [
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
];

/** A 2D similarity transform: `u = a·x − b·y + tx`, `v = b·x + a·y + ty` (rotation, uniform scale, shift). */
export interface Similarity {
  a: number;
  b: number;
  tx: number;
  ty: number;
}

/**
 * Least-squares similarity that maps `src` points onto `dst` points (Umeyama's closed form in
 * 2D, no reflection).
 */
export function estimateSimilarity(src: readonly Point[], dst: readonly Point[]): Similarity {
  const n = src.length;
  let sx = 0, sy = 0, dx = 0, dy = 0;
  for (let i = 0; i < n; i++) {
    sx += src[i]![0]; sy += src[i]![1]; dx += dst[i]![0]; dy += dst[i]![1];
  }
  sx /= n; sy /= n; dx /= n; dy /= n;
  let num1 = 0, num2 = 0, den = 0;
  for (let i = 0; i < n; i++) {
    const x = src[i]![0] - sx, y = src[i]![1] - sy;
    const u = dst[i]![0] - dx, v = dst[i]![1] - dy;
    num1 += x * u + y * v;
    num2 += x * v - y * u;
    den += x * x + y * y;
  }
  const a = den > 0 ? num1 / den : 1;
  const b = den > 0 ? num2 / den : 0;
  return { a, b, tx: dx - (a * sx - b * sy), ty: dy - (b * sx + a * sy) };
}

/**
 * Warps the face given by `landmarks` onto the template and writes the recognizer's input tensor
 * directly (bilinear sampling, black outside the frame), skipping an intermediate image.
 * With `mirror`, the output is flipped left-right (for flip test-time augmentation).
 */
export function alignedFaceTensor(frame: Frame, landmarks: Landmarks, spec: Omit<TensorInputSpec, 'resize'>, mirror: boolean): Float32Array {
  const { width: ow, height: oh } = spec;
  const template = ARCFACE_112_TEMPLATE.map(([x, y]) => [(x * ow) / 112, (y * oh) / 112] as Point);
  const m = estimateSimilarity(landmarks, template);
  // Inverse map: output pixel -> frame pixel.
  const s2 = m.a * m.a + m.b * m.b;
  const ia = m.a / s2, ib = -m.b / s2;
  const itx = -(ia * m.tx - ib * m.ty);
  const ity = -(ib * m.tx + ia * m.ty);

  const plane = ow * oh;
  const out = new Float32Array(plane * 3);
  const swap = (frame.format === 'rgb24') !== (spec.colorOrder === 'rgb');
  const [m0, m1, m2] = spec.mean;
  const [s0, s1, s2c] = spec.std;
  const { data, width: fw, height: fh } = frame;
  const px = new Float64Array(3);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const xs = mirror ? ow - 1 - x : x;
      const u = ia * xs - ib * y + itx;
      const v = ib * xs + ia * y + ity;
      sampleBilinear(data, fw, fh, u, v, px);
      const i = y * ow + x;
      const c0 = swap ? px[2]! : px[0]!;
      const c2 = swap ? px[0]! : px[2]!;
      if (spec.layout === 'nchw') {
        out[i] = (c0 - m0) / s0; out[plane + i] = (px[1]! - m1) / s1; out[2 * plane + i] = (c2 - m2) / s2c;
      } else {
        out[i * 3] = (c0 - m0) / s0; out[i * 3 + 1] = (px[1]! - m1) / s1; out[i * 3 + 2] = (c2 - m2) / s2c;
      }
    }
  }
  return out;
}

function sampleBilinear(data: Uint8Array, w: number, h: number, u: number, v: number, out: Float64Array): void {
  const x0 = Math.floor(u), y0 = Math.floor(v);
  const fx = u - x0, fy = v - y0;
  for (let c = 0; c < 3; c++) {
    const p00 = pixel(data, w, h, x0, y0, c), p10 = pixel(data, w, h, x0 + 1, y0, c);
    const p01 = pixel(data, w, h, x0, y0 + 1, c), p11 = pixel(data, w, h, x0 + 1, y0 + 1, c);
    out[c] = (p00 * (1 - fx) + p10 * fx) * (1 - fy) + (p01 * (1 - fx) + p11 * fx) * fy;
  }
}

function pixel(data: Uint8Array, w: number, h: number, x: number, y: number, c: number): number {
  return x < 0 || y < 0 || x >= w || y >= h ? 0 : data[(y * w + x) * 3 + c]!;
}

/** Scales a vector to unit length in place (zero vectors stay zero). */
export function l2Normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  const inv = sum > 0 ? 1 / Math.sqrt(sum) : 0;
  for (let i = 0; i < v.length; i++) v[i] = v[i]! * inv;
  return v;
}
