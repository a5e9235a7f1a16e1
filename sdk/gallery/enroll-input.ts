/** Pixels for enrollment: decoding image bytes (remote enrollment), padding tight crops, face crops for the gallery. */
import sharp from 'sharp';
import { ImageDecodeError } from '../errors';
import type { Box, Frame } from '../types';

/**
 * Most pixels an image to enroll may decode to (40 MP: 120 MB of rgb24). A byte limit is not
 * enough: a small, highly compressible JPEG can declare 8000x8000 pixels.
 */
export const MAX_DECODED_PIXELS = 40_000_000;

/** Largest frame the no-face padding retry makes (16 MP: 48 MB); a bigger photo is no tight crop anyway. */
export const MAX_PADDED_PIXELS = 16_000_000;

/**
 * Decodes JPEG/PNG/WebP bytes into an `rgb24` frame the way `loadImageFrame` decodes files
 * (EXIF orientation honoured, alpha dropped). Throws `ImageDecodeError` for an image over
 * {@link MAX_DECODED_PIXELS}, read from its header before anything is decoded.
 *
 * @example
 * ```ts
 * const frame = await decodeImageBytes(Buffer.from(args.images[0], 'base64'), 'images[0]');
 * ```
 */
export async function decodeImageBytes(bytes: Uint8Array, source: string, cameraId = source): Promise<Frame> {
  try {
    const { width = 0, height = 0 } = await sharp(bytes, { failOn: 'error' }).metadata();
    if (width * height > MAX_DECODED_PIXELS) throw new Error(`the image is ${width}x${height} pixels, over the limit of ${MAX_DECODED_PIXELS / 1e6} megapixels`);
    // The limit again for libvips itself, in case the header and the decoder disagree.
    const { data, info } = await sharp(bytes, { failOn: 'error', limitInputPixels: MAX_DECODED_PIXELS }).rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, format: 'rgb24', timestamp: Date.now(), sequence: 0, cameraId };
  } catch (error) {
    throw new ImageDecodeError(source, error);
  }
}

/**
 * The frame with a border of `ratio` × its larger side on each side, filled by repeating the edge
 * pixels (a flat colour or a mirror make detectors see edges or second faces). Detectors trained
 * on scenes often miss a face that fills the whole image; with a border it looks like a face in a
 * photo again. Coordinates in the padded frame are shifted by the returned `offset`.
 *
 * @example
 * ```ts
 * const { frame: padded, offset } = await padFrame(frame, 0.5);
 * ```
 */
export async function padFrame(frame: Frame, ratio: number): Promise<{ frame: Frame; offset: number }> {
  const offset = padOffset(frame, ratio);
  const { data, info } = await sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } })
    .extend({ top: offset, bottom: offset, left: offset, right: offset, extendWith: 'copy' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { frame: { ...frame, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height }, offset };
}

/** Pixels of the frame {@link padFrame} would make, to skip a retry over {@link MAX_PADDED_PIXELS}. */
export function paddedPixels(frame: Pick<Frame, 'width' | 'height'>, ratio: number): number {
  const offset = padOffset(frame, ratio);
  return (frame.width + 2 * offset) * (frame.height + 2 * offset);
}

function padOffset(frame: Pick<Frame, 'width' | 'height'>, ratio: number): number {
  return Math.max(1, Math.round(Math.max(frame.width, frame.height) * ratio));
}

/**
 * A JPEG of the face (its box grown by 20%, clipped to the frame), for galleries that keep face images.
 *
 * @example
 * ```ts
 * const jpeg = await faceCropJpeg(frame, face.box);
 * ```
 */
export async function faceCropJpeg(frame: Frame, box: Box): Promise<Uint8Array> {
  const w = box[2] - box[0];
  const h = box[3] - box[1];
  const left = Math.max(0, Math.floor(box[0] - 0.1 * w));
  const top = Math.max(0, Math.floor(box[1] - 0.1 * h));
  const width = Math.max(1, Math.min(frame.width - left, Math.ceil(w * 1.2)));
  const height = Math.max(1, Math.min(frame.height - top, Math.ceil(h * 1.2)));
  const channels = 3;
  const rgb = frame.format === 'rgb24' ? frame.data : bgrToRgb(frame.data);
  const jpeg = await sharp(rgb, { raw: { width: frame.width, height: frame.height, channels } }).extract({ left, top, width, height }).jpeg({ quality: 90 }).toBuffer();
  return new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
}

function bgrToRgb(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i += 3) {
    out[i] = data[i + 2]!;
    out[i + 1] = data[i + 1]!;
    out[i + 2] = data[i]!;
  }
  return out;
}
