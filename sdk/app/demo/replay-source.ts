/**
 * A frame source that plays an input several times (the demo's guest mode enrolls on the first
 * pass and recognizes on the second) and shows each still photo for a few frames (a tracker
 * confirms a face only after seeing it several times). Frames are re-stamped on one monotonic
 * clock with a gap between photos and passes, so tracks end between them as a person leaving would.
 */
import { JetfaceError, errorMessage } from '../../errors';
import { loadImageFrame } from '../../image/decode';
import { TypedEmitter } from '../../capture/typed-emitter';
import type { CaptureBackend, FrameSource, FrameSourceEvents, FrameSourceState, FrameSourceStats } from '../../capture/types';
import type { Frame } from '../../types';

/** What one pass plays: still photos (each shown `framesPerPhoto` times, then an empty frame) or frames from a source opened per pass. */
export type ReplayInput = { kind: 'photos'; files: readonly string[]; framesPerPhoto: number } | { kind: 'frames'; open: () => Promise<FrameSource> };

/** Options of {@link ReplaySource}. */
export interface ReplaySourceOptions {
  cameraId: string;
  input: ReplayInput;
  passes: number;
  /** Called when a pass begins (1-based) and with the file of each photo as it is first shown. */
  onPass?: (pass: number) => void;
  onPhoto?: (file: string, pass: number, frame: Frame) => void;
  /** The first frame waits for this (e.g. until enrollment is done and the subscriber listens). */
  startGate?: Promise<void>;
  /**
   * Each pass after the first waits for this (e.g. until someone enrolled a stranger in the console).
   * With it, a video pass ends with an empty frame after the gap, so its tracks end before the wait.
   */
  passGate?: (nextPass: number) => Promise<void>;
}

/** A small black frame: no face, cheap to detect on. */
function emptyFrame(): Frame {
  return { data: Buffer.alloc(160 * 120 * 3), width: 160, height: 120, format: 'rgb24', timestamp: 0, sequence: 0, cameraId: '' };
}

/** Time between two frames of one photo, and the gap after a photo or a pass (longer than the tracker's `maxLostMs`). */
export const REPLAY_FRAME_MS = 100;
export const REPLAY_GAP_MS = 5000;

/**
 * Plays photos or a video `passes` times as one stream.
 *
 * @example
 * ```ts
 * const source = new ReplaySource({ cameraId: 'photos', passes: 2, input: { kind: 'photos', files, framesPerPhoto: 4 } });
 * for await (const frame of source) console.log(frame.sequence, frame.timestamp);
 * ```
 */
export class ReplaySource extends TypedEmitter<FrameSourceEvents> implements FrameSource {
  readonly backend: CaptureBackend;
  private current: FrameSource | null = null;
  private stopped = false;
  /** Resolves on stop(): a source stopped before its gate opened must not wait for the gate. */
  private release: () => void = () => undefined;
  private readonly released = new Promise<void>((r) => (this.release = r));
  private st: FrameSourceState = 'idle';
  private counters = { framesRead: 0, errors: 0, width: 0, height: 0, lastFrameAt: null as number | null, lastError: null as { code: string; message: string } | null };

  constructor(private readonly o: ReplaySourceOptions) {
    super();
    this.backend = o.input.kind === 'photos' ? 'images' : 'ffmpeg';
  }

  get cameraId(): string {
    return this.o.cameraId;
  }

  get state(): FrameSourceState {
    return this.st;
  }

  async start(): Promise<void> {
    if (this.st === 'idle') this.st = 'connecting';
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.release();
    await this.current?.stop();
  }

  stats(): FrameSourceStats {
    const c = this.counters;
    return { state: this.st, framesRead: c.framesRead, framesDelivered: c.framesRead, framesDropped: 0, framesSkipped: 0, reconnects: 0, errors: c.errors, fps: 0, width: c.width, height: c.height, lastFrameAt: c.lastFrameAt, lastError: c.lastError };
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Frame> {
    await this.start();
    await Promise.race([this.o.startGate, this.released]);
    let clock = Date.now();
    let sequence = 0;
    let online = false;
    const emitFrame = (frame: Frame, timestamp: number): Frame => {
      const out: Frame = { ...frame, timestamp, sequence: sequence++, cameraId: this.o.cameraId };
      const c = this.counters;
      c.framesRead++;
      c.width = frame.width;
      c.height = frame.height;
      c.lastFrameAt = Date.now();
      if (!online) {
        online = true;
        this.st = 'online';
        this.emit('online', { cameraId: this.o.cameraId, width: frame.width, height: frame.height, session: 1 });
      }
      return out;
    };
    let failure: JetfaceError | null = null;
    try {
      for (let pass = 1; pass <= this.o.passes && !this.stopped; pass++) {
        if (pass > 1 && this.o.passGate) await Promise.race([this.o.passGate(pass), this.released]);
        if (this.stopped) break;
        this.o.onPass?.(pass);
        const input = this.o.input;
        if (input.kind === 'photos') {
          for (const file of input.files) {
            if (this.stopped) break;
            let frame: Frame;
            try {
              frame = await loadImageFrame(file);
            } catch (error) {
              this.counters.errors++;
              this.counters.lastError = { code: error instanceof JetfaceError ? error.code : 'E_IMAGE_DECODE', message: errorMessage(error) };
              if (error instanceof JetfaceError) this.emit('error', error);
              continue;
            }
            for (let i = 0; i < input.framesPerPhoto && !this.stopped; i++) {
              const out = emitFrame(frame, clock);
              if (i === 0) this.o.onPhoto?.(file, pass, out);
              clock += REPLAY_FRAME_MS;
              yield out;
            }
            // An empty frame after the gap: the tracker sees the faces leave, so the next photo starts new tracks.
            clock += REPLAY_GAP_MS;
            yield emitFrame(emptyFrame(), clock);
            clock += REPLAY_FRAME_MS;
          }
        } else {
          const source = await input.open();
          this.current = source;
          // A live camera's outages reach the pipeline as they would without the replay.
          const onOffline = (e: FrameSourceEvents['offline']): void => {
            online = false;
            this.emit('offline', { ...e, cameraId: this.o.cameraId });
          };
          const onReconnecting = (e: FrameSourceEvents['reconnecting']): void => this.emit('reconnecting', { ...e, cameraId: this.o.cameraId });
          const onError = (e: JetfaceError): void => this.emit('error', e);
          source.on('offline', onOffline).on('reconnecting', onReconnecting).on('error', onError);
          let first: number | null = null;
          let last = clock;
          try {
            for await (const frame of source) {
              if (this.stopped) break;
              first ??= frame.timestamp;
              last = clock + Math.max(0, frame.timestamp - first);
              yield emitFrame(frame, last);
            }
          } finally {
            source.off('offline', onOffline).off('reconnecting', onReconnecting).off('error', onError);
          }
          this.current = null;
          clock = last + REPLAY_GAP_MS;
          if (this.o.passGate && pass < this.o.passes && !this.stopped) {
            yield emitFrame(emptyFrame(), clock);
            clock += REPLAY_FRAME_MS;
          }
        }
      }
    } catch (error) {
      failure = error instanceof JetfaceError ? error : null;
      this.st = 'failed';
      throw error;
    } finally {
      await this.current?.stop();
      if (this.st !== 'failed') this.st = this.stopped ? 'stopped' : 'ended';
      this.emit('end', { cameraId: this.o.cameraId, reason: this.st === 'failed' ? 'failed' : this.stopped ? 'stopped' : 'eof', error: failure });
    }
  }
}
