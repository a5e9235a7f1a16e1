import { FrameError } from '../errors';
import type { Frame } from '../types';

/** Largest side accepted for a frame; larger buffers are almost always a mistaken width/height. */
export const MAX_FRAME_SIDE = 16384;

/**
 * Checks a frame where it enters the SDK, so a broken frame fails here with the field named,
 * not deep inside the native runtime.
 *
 * @example
 * ```ts
 * assertValidFrame({ data, width: 640, height: 480, format: 'rgb24', timestamp: 0, sequence: 0, cameraId: 'cam' });
 * ```
 */
export function assertValidFrame(frame: Frame): void {
  if (frame === null || typeof frame !== 'object') throw new FrameError(`expected a frame object but received ${String(frame)}`);
  for (const key of ['width', 'height'] as const) {
    const v = frame[key];
    if (!Number.isInteger(v) || v < 1 || v > MAX_FRAME_SIDE) {
      throw new FrameError(`frame.${key} must be an integer in 1..${MAX_FRAME_SIDE}, got ${String(v)}`, { field: key, actual: v });
    }
  }
  if (frame.format !== 'rgb24' && frame.format !== 'bgr24') {
    throw new FrameError(`frame.format must be 'rgb24' or 'bgr24', got ${JSON.stringify(frame.format)}`, { field: 'format', actual: frame.format });
  }
  if (!(frame.data instanceof Uint8Array)) {
    throw new FrameError(`frame.data must be a Uint8Array (or Buffer), got ${describeType(frame.data)}`, { field: 'data' });
  }
  const expected = frame.width * frame.height * 3;
  if (frame.data.length !== expected) {
    throw new FrameError(`frame.data holds ${frame.data.length} bytes; ${frame.width}x${frame.height} ${frame.format} needs ${expected}`, {
      field: 'data',
      expected,
      actual: frame.data.length,
    });
  }
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}
