import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { ImageDecodeError } from '../errors';
import type { Frame } from '../types';

/** Options for {@link loadImageFrame}. */
export interface LoadImageOptions {
  cameraId?: string;
  sequence?: number;
}

/**
 * Decodes an image file (JPEG, PNG, WebP, GIF, TIFF through sharp/libvips; binary PGM by hand,
 * which libvips' prebuilt binary lacks) into an `rgb24` frame, honouring EXIF orientation.
 *
 * @example
 * ```ts
 * const frame = await loadImageFrame('photo.jpg');
 * const faces = await engine.detect(frame);
 * ```
 */
export async function loadImageFrame(file: string, options: LoadImageOptions = {}): Promise<Frame> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new ImageDecodeError(file, error);
  }
  const { data, width, height } = isPgm(bytes) ? decodePgm(bytes, file) : await decodeWithSharp(bytes, file);
  return { data, width, height, format: 'rgb24', timestamp: Date.now(), sequence: options.sequence ?? 0, cameraId: options.cameraId ?? file };
}

async function decodeWithSharp(bytes: Buffer, file: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  try {
    const { data, info } = await sharp(bytes, { failOn: 'error' })
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (error) {
    throw new ImageDecodeError(file, error);
  }
}

function isPgm(bytes: Buffer): boolean {
  return bytes.length > 2 && bytes[0] === 0x50 && bytes[1] === 0x35; // "P5"
}

/** Binary greyscale PGM (P5, maxval ≤ 255), expanded to RGB. */
function decodePgm(bytes: Buffer, file: string): { data: Uint8Array; width: number; height: number } {
  const fields: number[] = [];
  let pos = 2;
  while (fields.length < 3) {
    while (pos < bytes.length && isSpace(bytes[pos]!)) pos++;
    if (bytes[pos] === 0x23) {
      while (pos < bytes.length && bytes[pos] !== 0x0a) pos++; // comment line
      continue;
    }
    const start = pos;
    while (pos < bytes.length && bytes[pos]! >= 0x30 && bytes[pos]! <= 0x39) pos++;
    if (start === pos) throw new ImageDecodeError(file, new Error('malformed PGM header'));
    fields.push(Number(bytes.subarray(start, pos).toString('ascii')));
  }
  pos++; // the single whitespace byte after maxval
  const [width, height, maxval] = fields as [number, number, number];
  if (maxval > 255 || maxval < 1) throw new ImageDecodeError(file, new Error(`PGM maxval ${maxval} is not supported (1..255)`));
  const pixels = width * height;
  if (width < 1 || height < 1 || bytes.length - pos < pixels) {
    throw new ImageDecodeError(file, new Error(`PGM body holds ${bytes.length - pos} bytes, ${width}x${height} needs ${pixels}`));
  }
  const data = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    const v = Math.round((bytes[pos + i]! * 255) / maxval);
    data[i * 3] = v;
    data[i * 3 + 1] = v;
    data[i * 3 + 2] = v;
  }
  return { data, width, height };
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}
