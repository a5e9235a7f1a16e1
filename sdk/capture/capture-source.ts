import { CameraError, CameraOpenError, CameraStreamError, JetfaceError, errorMessage } from '../errors';
import type { Frame, PixelFormat } from '../types';
import type { CaptureBackendImpl, CaptureSession, SessionEnd } from './backend';
import { reconnectDelay, cancellableDelay, RateMeter, type ReconnectPolicy } from './timing';
import { TypedEmitter } from './typed-emitter';
import type { BackpressureMode, CaptureBackend, FrameSource, FrameSourceEvents, FrameSourceState, FrameSourceStats } from './types';

/** Settings of a {@link CaptureSource}, already validated and defaulted by openFrameSource. */
export interface CaptureSettings {
  cameraId: string;
  maxFps: number | undefined;
  backpressure: BackpressureMode;
  queueSize: number;
  reconnect: ReconnectPolicy | false;
  openTimeoutMs: number;
  stallTimeoutMs: number;
}

type Waiter = (frame: Frame | null) => void;

/**
 * The one FrameSource implementation: a backend supplies sessions (a process, a folder walk);
 * this class adds the frame queue with backpressure, the rate cap where the backend has none,
 * the open/stall watchdog, reconnects with backoff, events and stats.
 *
 * @example
 * ```ts
 * const source = new CaptureSource(new FfmpegBackend({ backend: 'ffmpeg', input: 'clip.mp4' }), settings);
 * for await (const frame of source) console.log(frame.sequence);
 * ```
 */
export class CaptureSource extends TypedEmitter<FrameSourceEvents> implements FrameSource {
  readonly cameraId: string;
  readonly backend: CaptureBackend;
  private current: FrameSourceState = 'idle';
  private readonly queue: Frame[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly rate = new RateMeter();
  private readonly counts = { read: 0, delivered: 0, dropped: 0, skipped: 0, reconnects: 0, errors: 0 };
  private size = { width: 0, height: 0 };
  private lastFrameAt: number | null = null;
  private lastError: JetfaceError | null = null;
  private terminalError: JetfaceError | null = null;
  private thrown = false;
  private stopping = false;
  private starting: Promise<void> | undefined;
  private loop: Promise<void> | undefined;
  private session: CaptureSession | undefined;
  private sessionOnline = false;
  private sessionCount = 0;
  private paused = false;
  private offlineAnnounced = false;
  private watchdog: NodeJS.Timeout | undefined;
  private watchdogError: JetfaceError | undefined;
  private backoff: { cancel: () => void } | undefined;
  private nextDue = 0;
  /** Wall time of media time 0 in the current session (set by its first frame). */
  private mediaAnchor = 0;
  private sequence = 0;

  constructor(
    private readonly impl: CaptureBackendImpl,
    private readonly settings: CaptureSettings,
  ) {
    super();
    this.cameraId = settings.cameraId;
    this.backend = impl.backend;
  }

  get state(): FrameSourceState {
    return this.current;
  }

  start(): Promise<void> {
    this.starting ??= this.begin();
    return this.starting;
  }

  async stop(): Promise<void> {
    if (this.stopping) return this.loop;
    this.stopping = true;
    this.backoff?.cancel();
    this.queue.length = 0;
    await this.session?.close();
    await this.loop;
    this.finish('stopped', null);
  }

  stats(): FrameSourceStats {
    const c = this.counts;
    return {
      state: this.current,
      framesRead: c.read,
      framesDelivered: c.delivered,
      framesDropped: c.dropped,
      framesSkipped: c.skipped,
      reconnects: c.reconnects,
      errors: c.errors,
      fps: Math.round(this.rate.rate(Date.now()) * 100) / 100,
      width: this.size.width,
      height: this.size.height,
      lastFrameAt: this.lastFrameAt,
      lastError: this.lastError ? { code: this.lastError.code, message: this.lastError.message } : null,
    };
  }

  [Symbol.asyncIterator](): AsyncIterator<Frame> {
    return {
      next: () => this.next(),
      return: async () => {
        // Leaving a for-await loop releases the camera, as breaking out of a Node stream does.
        await this.stop();
        return { done: true, value: undefined };
      },
    };
  }

  private async begin(): Promise<void> {
    try {
      await this.impl.preflight();
    } catch (error) {
      const typed = error instanceof JetfaceError ? error : new CameraOpenError(errorMessage(error), {}, error);
      this.report(typed);
      this.terminalError = typed;
      this.finish('failed', typed);
      throw typed;
    }
    if (this.stopping) return;
    this.loop = this.run();
  }

  private async next(): Promise<IteratorResult<Frame>> {
    const queued = this.take();
    if (queued) return { done: false, value: queued };
    if (this.current === 'idle') await this.start();
    const frame = this.isFinished() ? null : await new Promise<Frame | null>((resolve) => this.waiters.push(resolve));
    if (frame) return { done: false, value: frame };
    if (this.terminalError && !this.thrown) {
      this.thrown = true;
      throw this.terminalError;
    }
    return { done: true, value: undefined };
  }

  private take(): Frame | undefined {
    const frame = this.queue.shift();
    if (!frame) return undefined;
    this.counts.delivered++;
    if (this.paused && this.queue.length < this.settings.queueSize) {
      this.paused = false;
      this.session?.resume();
      this.armWatchdog();
    }
    return frame;
  }

  private isFinished(): boolean {
    return this.current === 'ended' || this.current === 'failed' || this.current === 'stopped';
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      this.setState('connecting');
      if (++this.sessionCount > 1) this.counts.reconnects++;
      const end = await this.runSession();
      if (this.stopping) return;
      if (this.sessionOnline) failures = 0;
      if (end.kind === 'eof' && !this.impl.live) return this.finish('eof', null);
      const error = end.kind === 'error' ? end.error : null;
      if (error) this.report(error);
      this.setState('offline');
      if (!this.offlineAnnounced) {
        this.offlineAnnounced = true;
        this.emit('offline', { cameraId: this.cameraId, error: error instanceof CameraError ? error : null });
      }
      failures++;
      const policy = this.settings.reconnect;
      if (policy === false || failures > policy.maxAttempts) {
        this.terminalError = error ?? new CameraStreamError(`${this.impl.description} ended`, { cameraId: this.cameraId });
        return this.finish('failed', this.terminalError);
      }
      const delayMs = reconnectDelay(failures, policy);
      this.emit('reconnecting', { cameraId: this.cameraId, attempt: failures, delayMs, error });
      // A listener may have called stop() just now, before there was a delay to cancel.
      if (this.stopping) return;
      const delay = cancellableDelay(delayMs);
      this.backoff = delay;
      await delay.done;
      this.backoff = undefined;
    }
  }

  private async runSession(): Promise<SessionEnd> {
    this.sessionOnline = false;
    this.watchdogError = undefined;
    this.paused = false;
    let session: CaptureSession;
    try {
      session = this.impl.open({
        frame: (data, width, height, format, mediaMs) => this.onFrame(data, width, height, format, mediaMs),
        warn: (error) => this.report(error),
      });
    } catch (error) {
      return { kind: 'error', error: error instanceof JetfaceError ? error : new CameraOpenError(errorMessage(error), {}, error) };
    }
    this.session = session;
    this.armWatchdog();
    const end = await session.ended;
    clearTimeout(this.watchdog);
    this.session = undefined;
    return this.watchdogError ? { kind: 'error', error: this.watchdogError } : end;
  }

  /** Open timeout until the first frame, then stall timeout between frames; off while we paused the session ourselves. */
  private armWatchdog(): void {
    clearTimeout(this.watchdog);
    const online = this.sessionOnline;
    const ms = online ? this.settings.stallTimeoutMs : this.settings.openTimeoutMs;
    if (ms <= 0 || this.paused || !this.session) return;
    this.watchdog = setTimeout(() => {
      const what = this.impl.description;
      const log = this.session?.recentLog?.() ?? [];
      const said = log.length > 0 ? ` (last messages: ${log.join(' | ')})` : '';
      this.watchdogError = online
        ? new CameraStreamError(`${what} stalled: no frame for ${ms} ms${said}`, { cameraId: this.cameraId, stallTimeoutMs: ms, log })
        : new CameraOpenError(`${what} gave no frame within ${ms} ms${said}`, { cameraId: this.cameraId, openTimeoutMs: ms, log });
      void this.session?.close();
    }, ms);
    this.watchdog.unref();
  }

  private onFrame(data: Uint8Array, width: number, height: number, format: PixelFormat, mediaMs: number | undefined): void {
    if (this.stopping) return;
    const now = Date.now();
    this.counts.read++;
    this.rate.record(now);
    this.size = { width, height };
    this.lastFrameAt = now;
    if (!this.sessionOnline) {
      this.sessionOnline = true;
      this.mediaAnchor = now - (mediaMs ?? 0);
      this.offlineAnnounced = false;
      this.setState('online');
      this.emit('online', { cameraId: this.cameraId, width, height, session: this.sessionCount });
    }
    this.armWatchdog();
    const maxFps = this.settings.maxFps;
    if (maxFps !== undefined && !this.impl.capsRate) {
      if (now < this.nextDue) {
        this.counts.skipped++;
        return;
      }
      const interval = 1000 / maxFps;
      this.nextDue = Math.max(this.nextDue + interval, now + interval / 2);
    }
    // A file read faster or slower than real time keeps its own clock, so that tracking timeouts
    // mean the same on a laptop and on a Jetson; live frames carry the time they arrived.
    const timestamp = !this.impl.live && mediaMs !== undefined ? this.mediaAnchor + mediaMs : now;
    this.enqueue({ data, width, height, format, timestamp, sequence: this.sequence++, cameraId: this.cameraId });
  }

  private enqueue(frame: Frame): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.counts.delivered++;
      return waiter(frame);
    }
    this.queue.push(frame);
    if (this.settings.backpressure === 'latest') {
      while (this.queue.length > this.settings.queueSize) {
        this.queue.shift();
        this.counts.dropped++;
      }
    } else if (this.queue.length >= this.settings.queueSize && !this.paused) {
      this.paused = true;
      clearTimeout(this.watchdog);
      this.session?.pause();
    }
  }

  private report(error: JetfaceError): void {
    this.counts.errors++;
    this.lastError = error;
    this.emit('error', error);
  }

  private setState(state: FrameSourceState): void {
    if (!this.isFinished()) this.current = state;
  }

  private finish(reason: 'eof' | 'stopped' | 'failed', error: JetfaceError | null): void {
    if (this.isFinished()) return;
    this.current = reason === 'eof' ? 'ended' : reason;
    this.emit('end', { cameraId: this.cameraId, reason, error });
    for (const waiter of this.waiters.splice(0)) waiter(null);
  }
}
