/** Frames to pictures for the console: a JPEG of a whole frame, an RGB crop around a face. */
import sharp from 'sharp';
import type { Box, Frame } from '../types';

/** BGR → RGB as a colour matrix (sharp reads raw pixels as RGB). */
const SWAP: [[number, number, number], [number, number, number], [number, number, number]] = [
  [0, 0, 1],
  [0, 1, 0],
  [1, 0, 0],
];

/** JPEG of a frame, scaled down to at most `maxWidth` pixels wide. */
export async function frameJpeg(frame: Pick<Frame, 'data' | 'width' | 'height' | 'format'>, maxWidth = 960, quality = 75): Promise<Buffer> {
  let image = sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } });
  if (frame.format === 'bgr24') image = image.recomb(SWAP);
  if (frame.width > maxWidth) image = image.resize({ width: maxWidth });
  return image.jpeg({ quality }).toBuffer();
}

/**
 * An RGB frame of the face's box grown by `margin` of its size on each side (clipped to the frame),
 * big enough for the detector to find the face again when it is enrolled. The `others` boxes (the
 * frame's other faces) are greyed out, so enrollment sees this face alone.
 */
export function cropFrame(frame: Frame, box: Box, margin = 0.35, others: readonly Box[] = []): Frame {
  const w = box[2] - box[0];
  const h = box[3] - box[1];
  const x0 = Math.max(0, Math.floor(box[0] - w * margin));
  const y0 = Math.max(0, Math.floor(box[1] - h * margin));
  const x1 = Math.min(frame.width, Math.ceil(box[2] + w * margin));
  const y1 = Math.min(frame.height, Math.ceil(box[3] + h * margin));
  const cw = Math.max(1, x1 - x0);
  const ch = Math.max(1, y1 - y0);
  const out = Buffer.alloc(cw * ch * 3);
  const bgr = frame.format === 'bgr24';
  for (let y = 0; y < ch; y++) {
    const src = ((y0 + y) * frame.width + x0) * 3;
    const dst = y * cw * 3;
    if (!bgr) {
      out.set(frame.data.subarray(src, src + cw * 3), dst);
      continue;
    }
    for (let x = 0; x < cw * 3; x += 3) {
      out[dst + x] = frame.data[src + x + 2]!;
      out[dst + x + 1] = frame.data[src + x + 1]!;
      out[dst + x + 2] = frame.data[src + x]!;
    }
  }
  for (const o of others) {
    const ox0 = Math.max(0, Math.floor(o[0]) - x0);
    const ox1 = Math.min(cw, Math.ceil(o[2]) - x0);
    for (let y = Math.max(0, Math.floor(o[1]) - y0); y < Math.min(ch, Math.ceil(o[3]) - y0); y++) if (ox1 > ox0) out.fill(128, (y * cw + ox0) * 3, (y * cw + ox1) * 3);
  }
  return { data: out, width: cw, height: ch, format: 'rgb24', timestamp: frame.timestamp, sequence: frame.sequence, cameraId: frame.cameraId };
}

/** Intersection over union of two boxes. */
export function iou(a: Box, b: Box): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}
