import { createRequire } from 'node:module';
import { join } from 'node:path';
import { CameraOpenError, CameraStreamError, CaptureBackendUnavailableError, errorMessage } from '../errors';
import type { CaptureBackendImpl, CaptureSession, SessionEnd, SessionSink } from './backend';
import type { OpenCvSourceSpec } from './types';

/** The few parts of `@u4/opencv4nodejs` this backend uses. */
interface CvMat {
  readonly rows: number;
  readonly cols: number;
  readonly channels: number;
  readonly empty: boolean;
  getData(): Buffer;
  resize(rows: number, cols: number): CvMat;
}
interface CvVideoCapture {
  readAsync(): Promise<CvMat>;
  release(): void;
}
interface CvModule {
  VideoCapture: new (source: string | number) => CvVideoCapture;
}

/** The optional package; kept in a variable so that bundlers leave it alone. */
export const OPENCV_PACKAGE = '@u4/opencv4nodejs';

export const OPENCV_FIX =
  'apt-get install -y libopencv-dev, then OPENCV4NODEJS_DISABLE_AUTOBUILD=1 npm install @u4/opencv4nodejs (a native build of several minutes); or use the ffmpeg or gstreamer backend';

let cached: CvModule | undefined;

/**
 * Loads `@u4/opencv4nodejs` on first use, from jetface's own location and then the application's
 * folder; every failure is reported together with the fix.
 *
 * @example
 * ```ts
 * try { loadOpenCv(); } catch (e) { console.error((e as Error).message); } // names the install command
 * ```
 */
export function loadOpenCv(): CvModule {
  if (cached) return cached;
  const failures: string[] = [];
  for (const from of [__filename, join(process.cwd(), 'package.json')]) {
    try {
      const loaded = quietly(() => createRequire(from)(OPENCV_PACKAGE)) as Partial<CvModule> & { default?: Partial<CvModule> };
      const cv = loaded.VideoCapture ? loaded : loaded.default;
      if (!cv?.VideoCapture) throw new Error('the module has no VideoCapture export');
      cached = cv as CvModule;
      return cached;
    } catch (error) {
      failures.push(`from ${from}: ${errorMessage(error).split('\n')[0]}`);
    }
  }
  throw new CaptureBackendUnavailableError('opencv', `cannot load ${OPENCV_PACKAGE} (${failures.join('; ')})`, OPENCV_FIX);
}

/**
 * Runs `load` with console.log/info/debug silenced: the package logs its build configuration to
 * stdout when it is first required, which would corrupt a caller's stdout (`jetface doctor --json`, pipes).
 */
function quietly<T>(load: () => T): T {
  const saved = { log: console.log, info: console.info, debug: console.debug };
  console.log = console.info = console.debug = () => undefined;
  try {
    return load();
  } finally {
    Object.assign(console, saved);
  }
}

/** OpenCV VideoCapture backend (optional dependency, loaded lazily). Frames are bgr24, OpenCV's own order. */
export class OpenCvBackend implements CaptureBackendImpl {
  readonly backend = 'opencv';
  readonly live: boolean;
  readonly capsRate = false;
  readonly description: string;

  constructor(private readonly spec: OpenCvSourceSpec) {
    this.live = spec.live ?? (typeof spec.input === 'number' || /^[a-z]+:\/\//i.test(spec.input));
    this.description = `opencv ${String(spec.input)}`;
  }

  async preflight(): Promise<void> {
    loadOpenCv();
  }

  open(sink: SessionSink): CaptureSession {
    return new OpenCvSession(loadOpenCv(), this.spec, this.live, this.description, sink);
  }
}

class OpenCvSession implements CaptureSession {
  readonly ended: Promise<SessionEnd>;
  private closed = false;
  private paused: (() => void) | undefined;
  private pausedAt: Promise<void> | undefined;

  constructor(
    private readonly cv: CvModule,
    private readonly spec: OpenCvSourceSpec,
    private readonly live: boolean,
    private readonly label: string,
    private readonly sink: SessionSink,
  ) {
    this.ended = this.run();
  }

  pause(): void {
    this.pausedAt ??= new Promise((resolve) => (this.paused = resolve));
  }

  resume(): void {
    this.paused?.();
    this.paused = undefined;
    this.pausedAt = undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.resume();
    await this.ended;
  }

  private async run(): Promise<SessionEnd> {
    let capture: CvVideoCapture;
    try {
      capture = new this.cv.VideoCapture(this.spec.input);
    } catch (error) {
      return { kind: 'error', error: new CameraOpenError(`${this.label}: ${errorMessage(error)}`, { input: this.spec.input }, error) };
    }
    let frames = 0;
    try {
      while (!this.closed) {
        if (this.pausedAt) await this.pausedAt;
        // readAsync runs in libuv's pool, so a blocking camera read never stalls the event loop.
        let mat = await capture.readAsync();
        if (this.closed) break;
        if (mat.empty) {
          if (frames === 0) return { kind: 'error', error: new CameraOpenError(`${this.label} gave no frame (cannot open, or empty)`, { input: this.spec.input }) };
          return this.live ? { kind: 'error', error: new CameraStreamError(`${this.label} stopped giving frames`, {}) } : { kind: 'eof' };
        }
        if (this.spec.width !== undefined && this.spec.height !== undefined) mat = mat.resize(this.spec.height, this.spec.width);
        if (mat.channels !== 3) return { kind: 'error', error: new CameraStreamError(`${this.label} gave ${mat.channels}-channel frames, expected 3`, {}) };
        frames++;
        const data = mat.getData();
        this.sink.frame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), mat.cols, mat.rows, 'bgr24');
      }
      return { kind: 'eof' };
    } catch (error) {
      const Err = frames === 0 ? CameraOpenError : CameraStreamError;
      return { kind: 'error', error: new Err(`${this.label}: ${errorMessage(error)}`, { input: this.spec.input }, error) };
    } finally {
      capture.release();
    }
  }
}
