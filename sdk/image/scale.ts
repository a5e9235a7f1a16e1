import sharp from 'sharp';
import { InvalidArgumentError } from '../errors';
import type { Frame } from '../types';

/**
 * A frame drawn `factor` times its size (sharp's Lanczos, as a camera's own scaler would): how a
 * face looks from further away, or through a lower-resolution stream.
 *
 * @throws InvalidArgumentError for a factor outside (0, 1] or one that leaves no pixel.
 * @example
 * ```ts
 * const distant = await scaleFrame(await loadImageFrame('lfw/Al_Pacino_0001.jpg'), 0.33); // 90x90 -> 30x30
 * ```
 */
export async function scaleFrame(frame: Frame, factor: number): Promise<Frame> {
  const [width, height] = [Math.round(frame.width * factor), Math.round(frame.height * factor)];
  if (!(factor > 0 && factor <= 1) || width < 1 || height < 1) {
    throw new InvalidArgumentError('scale factor', `a number in (0, 1] that leaves at least one pixel of a ${frame.width}x${frame.height} frame`, factor);
  }
  if (factor === 1) return frame;
  const raw = { width: frame.width, height: frame.height, channels: 3 as const };
  const data = await sharp(frame.data, { raw }).resize(width, height, { fit: 'fill' }).raw().toBuffer();
  return { ...frame, data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height };
}
