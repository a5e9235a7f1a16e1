import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { CameraOpenError, JetfaceError } from '../errors';
import { loadImageFrame } from '../image/decode';
import type { CaptureBackendImpl, CaptureSession, SessionEnd, SessionSink } from './backend';
import type { ImageFolderSourceSpec } from './types';

/** File extensions read from a folder (what sdk/image/decode.ts decodes). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.pgm'];

const naturalOrder = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/**
 * The image files of a folder in natural name order (`frame2.jpg` before `frame10.jpg`).
 *
 * @example
 * ```ts
 * const files = await listImages('captures/');
 * ```
 */
export async function listImages(dir: string): Promise<string[]> {
  let names: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
    names = await readdir(dir);
  } catch (error) {
    throw new CameraOpenError(`cannot read image folder ${dir}: ${(error as Error).message}`, { dir }, error);
  }
  return names.filter((n) => IMAGE_EXTENSIONS.includes(extname(n).toLowerCase())).sort(naturalOrder.compare).map((n) => join(dir, n));
}

/** Image-folder backend: decodes one file at a time, on demand. */
export class ImageFolderBackend implements CaptureBackendImpl {
  readonly backend = 'images';
  readonly live = false;
  readonly capsRate = true;
  readonly description: string;
  private files: string[] = [];

  constructor(private readonly spec: ImageFolderSourceSpec) {
    this.description = `images ${spec.dir}`;
  }

  async preflight(): Promise<void> {
    this.files = await listImages(this.spec.dir);
    if (this.files.length === 0) throw new CameraOpenError(`image folder ${this.spec.dir} holds no image (${IMAGE_EXTENSIONS.join(' ')})`, { dir: this.spec.dir });
  }

  open(sink: SessionSink): CaptureSession {
    return new FolderSession(this.files, this.spec, sink);
  }
}

class FolderSession implements CaptureSession {
  readonly ended: Promise<SessionEnd>;
  private closed = false;
  private gate: { promise: Promise<void>; open: () => void } | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly files: string[],
    private readonly spec: ImageFolderSourceSpec,
    private readonly sink: SessionSink,
  ) {
    this.ended = this.run();
  }

  pause(): void {
    if (this.gate) return;
    let open = (): void => {};
    const promise = new Promise<void>((resolve) => (open = resolve));
    this.gate = { promise, open };
  }

  resume(): void {
    const gate = this.gate;
    this.gate = undefined;
    gate?.open();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.resume();
    this.wake?.();
    await this.ended;
  }

  private async run(): Promise<SessionEnd> {
    const interval = this.spec.maxFps ? 1000 / this.spec.maxFps : 0;
    let next = Date.now();
    do {
      for (const file of this.files) {
        if (this.gate) await this.gate.promise;
        if (this.closed) return { kind: 'eof' };
        // Pace by the cap instead of decoding images only to drop them.
        if (interval > 0) {
          await this.sleep(next - Date.now());
          next = Math.max(next + interval, Date.now());
        }
        if (this.closed) return { kind: 'eof' };
        try {
          const frame = await loadImageFrame(file);
          this.sink.frame(frame.data, frame.width, frame.height, frame.format);
        } catch (error) {
          // One bad file must not end the folder: report it and go on.
          this.sink.warn(error instanceof JetfaceError ? error : new CameraOpenError(String(error), { file }));
        }
      }
    } while (this.spec.loop && !this.closed);
    return { kind: 'eof' };
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
