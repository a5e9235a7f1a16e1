import sharp from 'sharp';
import type { TensorInputSpec } from '../bundle/manifest';
import type { Face, Frame, PixelFormat } from '../types';

/** Pixels resized for a model input, and how to map model coordinates back to the frame. */
export interface ResizedImage {
  /** Packed 3-channel pixels, `width x height`, in the frame's own channel order. */
  pixels: Uint8Array;
  width: number;
  height: number;
  /** frame coordinate = model coordinate / scale (per axis). */
  scaleX: number;
  scaleY: number;
}

/**
 * Resizes a frame to a model's input size once, with libvips (SIMD, off the JS heap).
 * `letterbox` keeps the aspect ratio and pads right and bottom with black, so a model
 * coordinate maps back by one division; `stretch` scales each axis on its own.
 */
export async function resizeForModel(frame: Frame, width: number, height: number, mode: 'letterbox' | 'stretch'): Promise<ResizedImage> {
  if (frame.width === width && frame.height === height) {
    return { pixels: frame.data, width, height, scaleX: 1, scaleY: 1 };
  }
  if (mode === 'stretch') {
    const raw = { width: frame.width, height: frame.height, channels: 3 as const };
    const pixels = await sharp(frame.data, { raw }).resize(width, height, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
    return { pixels: asUint8(pixels), width, height, scaleX: width / frame.width, scaleY: height / frame.height };
  }
  return placeScaled(frame, Math.min(width / frame.width, height / frame.height), width, height);
}

/**
 * The frame drawn at `scale` at the top left of a black `width x height` image (letterbox, or a
 * dynamic input's padding). At the frame's own size (the capture scaled it, as it should) it is only padded.
 */
export async function placeScaled(frame: Frame, scale: number, width: number, height: number): Promise<ResizedImage> {
  const innerW = Math.max(1, Math.min(width, Math.round(frame.width * scale)));
  const innerH = Math.max(1, Math.min(height, Math.round(frame.height * scale)));
  if (innerW === frame.width && innerH === frame.height) {
    return { pixels: padBottomRight(frame.data, frame.width, frame.height, width, height), width, height, scaleX: 1, scaleY: 1 };
  }
  const raw = { width: frame.width, height: frame.height, channels: 3 as const };
  const inner = asUint8(await sharp(frame.data, { raw }).resize(innerW, innerH, { fit: 'fill', kernel: 'linear' }).raw().toBuffer());
  // Padded here with row copies rather than by sharp's extend(): same bytes, 1.1-1.3x faster preprocessing (BENCHMARKS.md).
  const pixels = innerW === width && innerH === height ? inner : padBottomRight(inner, innerW, innerH, width, height);
  return { pixels, width, height, scaleX: innerW / frame.width, scaleY: innerH / frame.height };
}

/** Packed 3-channel pixels placed at the top left of a black `width x height` image. */
function padBottomRight(pixels: Uint8Array, w: number, h: number, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < h; y++) out.set(pixels.subarray(y * w * 3, (y + 1) * w * 3), y * width * 3);
  return out;
}

/**
 * Packs HWC 8-bit pixels into a model input tensor: channel order, layout, dtype and
 * `(value - mean) / std` as the spec says. Returns the data and the tensor shape.
 */
export function toInputTensor(
  pixels: Uint8Array,
  width: number,
  height: number,
  source: PixelFormat,
  spec: TensorInputSpec,
): { data: Float32Array | Uint8Array; dims: number[] } {
  const swap = (source === 'rgb24') !== (spec.colorOrder === 'rgb');
  const plane = width * height;
  if (spec.dtype === 'uint8') {
    if (spec.layout === 'nhwc' && !swap) return { data: pixels, dims: [1, height, width, 3] };
    const out = new Uint8Array(plane * 3);
    for (let i = 0; i < plane; i++) {
      const r = pixels[i * 3]!, g = pixels[i * 3 + 1]!, b = pixels[i * 3 + 2]!;
      const c0 = swap ? b : r, c2 = swap ? r : b;
      if (spec.layout === 'nhwc') {
        out[i * 3] = c0; out[i * 3 + 1] = g; out[i * 3 + 2] = c2;
      } else {
        out[i] = c0; out[plane + i] = g; out[2 * plane + i] = c2;
      }
    }
    return { data: out, dims: spec.layout === 'nhwc' ? [1, height, width, 3] : [1, 3, height, width] };
  }
  // One lookup table per output channel turns the per-pixel (v - mean) / std into a load.
  const src = swap ? [2, 1, 0] : [0, 1, 2];
  const luts = [0, 1, 2].map((c) => channelLut(spec.mean[c]!, spec.std[c]!));
  const out = new Float32Array(plane * 3);
  const nchw = spec.layout === 'nchw';
  for (let c = 0; c < 3; c++) {
    const lut = luts[c]!;
    const from = src[c]!;
    if (nchw) {
      const base = c * plane;
      for (let i = 0, j = from; i < plane; i++, j += 3) out[base + i] = lut[pixels[j]!]!;
    } else {
      for (let i = c, j = from; i < plane * 3; i += 3, j += 3) out[i] = lut[pixels[j]!]!;
    }
  }
  return { data: out, dims: nchw ? [1, 3, height, width] : [1, height, width, 3] };
}

function channelLut(mean: number, std: number): Float32Array {
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = (v - mean) / std;
  return lut;
}

function asUint8(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Maps a model-input candidate back to frame pixels and clips its box to the frame. */
export function toFrameCoordinates(c: Omit<Face, 'embedding'>, scaleX: number, scaleY: number, frame: Pick<Frame, 'width' | 'height'>): Omit<Face, 'embedding'> {
  const clipX = (v: number): number => Math.min(Math.max(v / scaleX, 0), frame.width);
  const clipY = (v: number): number => Math.min(Math.max(v / scaleY, 0), frame.height);
  return {
    box: [clipX(c.box[0]), clipY(c.box[1]), clipX(c.box[2]), clipY(c.box[3])],
    score: c.score,
    landmarks: c.landmarks.map(([x, y]) => [x / scaleX, y / scaleY]) as Face['landmarks'],
  };
}
