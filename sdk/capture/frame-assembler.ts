import type { PixelFormat } from '../types';

/** Size and layout of the raw frames a process writes. `stride` ≥ `width·3` (GStreamer pads RGB rows to 4 bytes). */
export interface FrameGeometry {
  width: number;
  height: number;
  stride: number;
  format: PixelFormat;
  /** Frame rate the process announced, when it did (gives files their media timestamps). */
  fps?: number;
}

/** Row stride GStreamer uses for packed 24-bit RGB: rows rounded up to a multiple of 4 bytes. */
export function gstRgbStride(width: number): number {
  return Math.ceil((width * 3) / 4) * 4;
}

/**
 * Cuts a byte stream into frames of a fixed geometry, removing row padding. Each emitted frame
 * is a fresh buffer: frames outlive the pipe's 64 KiB chunks.
 *
 * @example
 * ```ts
 * const assembler = new FrameAssembler({ width: 640, height: 360, stride: 1920, format: 'rgb24' }, (data) => queue.push(data));
 * child.stdout.on('data', (chunk) => assembler.push(chunk));
 * ```
 */
export class FrameAssembler {
  private current: Buffer;
  private filled = 0;

  constructor(
    readonly geometry: FrameGeometry,
    private readonly onFrame: (data: Uint8Array) => void,
  ) {
    this.current = Buffer.allocUnsafe(geometry.stride * geometry.height);
  }

  /** Bytes of an incomplete frame held back (non-zero at the end of a truncated stream). */
  get pendingBytes(): number {
    return this.filled;
  }

  push(chunk: Uint8Array): void {
    const size = this.current.length;
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(size - this.filled, chunk.length - offset);
      this.current.set(chunk.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === size) this.emit();
    }
  }

  private emit(): void {
    const { width, height, stride } = this.geometry;
    const row = width * 3;
    const frame = this.current;
    // Rows move towards the start, so copying in order never overwrites unread bytes.
    if (stride !== row) for (let y = 1; y < height; y++) frame.copyWithin(y * row, y * stride, y * stride + row);
    this.current = Buffer.allocUnsafe(stride * height);
    this.filled = 0;
    this.onFrame(stride === row ? frame : frame.subarray(0, row * height));
  }
}
