import { InvalidArgumentError } from '../errors';
import type { Frame } from '../types';

/** How the border around a pasted crop is filled. */
export type CanvasFill = 'grey' | 'black' | 'edge';

export const CANVAS_FILLS: readonly CanvasFill[] = ['grey', 'black', 'edge'];

/**
 * Centres a tight face crop on a larger square canvas so a detector sees a whole face with
 * context around it (LFW here is stored as 90x90 tight crops, smaller than a detector expects a
 * face to fill). `edge` repeats the crop's border pixels outward, so the recognizer's aligned
 * window sees plausible texture instead of a flat grey frame where the crop ends.
 *
 * @example
 * ```ts
 * const frame = placeOnCanvas(await loadImageFrame('lfw/Al_Pacino_0001.jpg'), 160, 'edge');
 * ```
 */
export function placeOnCanvas(crop: Frame, size: number, fill: CanvasFill): Frame {
  if (!Number.isInteger(size) || size < Math.max(crop.width, crop.height)) {
    throw new InvalidArgumentError('canvas size', `an integer ≥ the crop's larger side (${Math.max(crop.width, crop.height)})`, size);
  }
  const { offsetX: ox, offsetY: oy } = canvasOffset(crop, size);
  const data = new Uint8Array(size * size * 3);
  if (fill === 'grey') data.fill(128);
  for (let y = 0; y < size; y++) {
    const inside = y >= oy && y < oy + crop.height;
    if (!inside && fill !== 'edge') continue;
    const sy = Math.min(Math.max(y - oy, 0), crop.height - 1);
    for (let x = 0; x < size; x++) {
      const insideX = x >= ox && x < ox + crop.width;
      if (!(inside && insideX) && fill !== 'edge') continue;
      const sx = Math.min(Math.max(x - ox, 0), crop.width - 1);
      const s = (sy * crop.width + sx) * 3;
      const d = (y * size + x) * 3;
      data[d] = crop.data[s]!;
      data[d + 1] = crop.data[s + 1]!;
      data[d + 2] = crop.data[s + 2]!;
    }
  }
  return { ...crop, data, width: size, height: size };
}

/** Where {@link placeOnCanvas} puts the crop's top-left corner (so labels can be mapped back). */
export function canvasOffset(crop: Pick<Frame, 'width' | 'height'>, size: number): { offsetX: number; offsetY: number } {
  return { offsetX: Math.floor((size - crop.width) / 2), offsetY: Math.floor((size - crop.height) / 2) };
}
