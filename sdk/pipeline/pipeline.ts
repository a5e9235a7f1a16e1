/**
 * The run-time path of a device: per camera, frames from a {@link FrameSource} → the engine →
 * a {@link FaceTracker} (with the gallery) → versioned jetface events → every sink. Several
 * cameras share one engine; each runs its own loop, and one failing camera or sink never stops
 * the others.
 */
import { performance } from 'node:perf_hooks';
import { InvalidArgumentError, JetfaceError, type JetfaceErrorCode } from '../errors';
import { openFrameSource, type UriSourceOptions } from '../capture/open-frame-source';
import { TypedEmitter } from '../capture/typed-emitter';
import type { FrameSource, FrameSourceSpec, FrameSourceStats, SourceEndEvent, SourceOfflineEvent, SourceOnlineEvent } from '../capture/types';
import type { FaceEngine } from '../engine/face-engine';
import { createEvent } from '../events/create-event';
import type { EventSink } from '../events/sink';
import type { EventDraft, FaceObservation, Identity, JetfaceEvent } from '../events/types';
import { FaceTracker } from '../tracking/tracker';
import type { GalleryMatcher, TrackIdentity, TrackSnapshot, TrackerEvent, TrackerOptions } from '../tracking/types';
import type { Face, Frame } from '../types';

/** The `error.code` of an event for a failure that is not a {@link JetfaceError} (a bug, a sink throwing a plain Error). */
export const PIPELINE_ERROR_CODE: JetfaceErrorCode = 'E_PIPELINE';

/** One camera of a pipeline: its id (the `camera` of its events, an MQTT topic level) and where its frames come from. */
export interface PipelineCamera {
  id: string;
  /** An opened source (used as is; its own `cameraId` is ignored), a URI, or a spec for {@link openFrameSource}. */
  source: FrameSource | string | FrameSourceSpec;
  /** Options for `openFrameSource` when `source` is a URI (`maxFps`, `width`, `reconnect`, ...); a spec carries its own. */
  sourceOptions?: UriSourceOptions;
}

/** Options of {@link Pipeline.create}. */
export interface PipelineOptions {
  /** Shared by every camera; the pipeline does not close it. */
  engine: Pick<FaceEngine, 'detect'>;
  gallery: GalleryMatcher;
  /** Every event goes to each sink; the pipeline does not close them. */
  sinks: readonly EventSink[];
  /** This device's id: every event's `device`. */
  device: string;
  cameras: readonly PipelineCamera[];
  /** Per-camera tracker options (`cameraId` is set by the pipeline). */
  trackerOptions?: Omit<TrackerOptions, 'cameraId'>;
  /** Events waiting for one slow sink, per camera, before newer ones are dropped (counted in `sinkDrops`). Default 10 000. */
  maxPendingPerSink?: number;
  /**
   * Least time between two `error` events for failed frames of one camera; the failures in
   * between are counted (`frameErrors`) and the next event says how many were not reported.
   * Default 10 000 ms; 0 reports every one.
   */
  frameErrorIntervalMs?: number;
}

/** Where a camera's loop is. */
export type PipelineCameraState = 'idle' | 'running' | 'ended' | 'failed' | 'stopped';

/** Counters of one camera. */
export interface PipelineCameraStats {
  camera: string;
  state: PipelineCameraState;
  /** Frames taken from the source (those whose detection failed included). */
  frames: number;
  /** Faces the engine found. */
  faces: number;
  /** Events created for this camera (each goes to every sink). */
  events: number;
  /** Frames whose detection or tracking failed (each an `error` event). */
  frameErrors: number;
  /** Sink publishes that failed, over all sinks. */
  sinkErrors: number;
  /** Events dropped because a sink had `maxPendingPerSink` waiting. */
  sinkDrops: number;
  /** Median of `engine.detect` wall time over the last 512 frames, ms; null before the first. */
  detectMsMedian: number | null;
  /** The source's own counters; null when it could not be opened. */
  source: FrameSourceStats | null;
}

/** A sink refused or failed an event. */
export interface PipelineSinkError {
  camera: string;
  /** Index of the sink in `options.sinks`. */
  sink: number;
  event: JetfaceEvent;
  error: unknown;
}

/** The typed events of a {@link Pipeline}. */
export interface PipelineEvents {
  /** Every event the pipeline created, stamped (the same `id` goes to every sink), before the sinks see it. */
  event: JetfaceEvent;
  sink_error: PipelineSinkError;
  /** A camera's loop ended. */
  camera_end: { camera: string; state: PipelineCameraState; error: JetfaceError | null };
  /** A frame after detection and tracking (emitted only while someone listens: the device console's live view and unknown faces). */
  frame: PipelineFrame;
}

/** One tracked frame, as the `frame` event gives it. `timestamp` is the tracker's (each track's `lastSeen` equals it when the track was detected in this frame). */
export interface PipelineFrame {
  camera: string;
  frame: Frame;
  faces: readonly Face[];
  tracks: readonly TrackSnapshot[];
  timestamp: number;
}

const DEVICE_OR_CAMERA = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const DETECT_SAMPLES = 512;

interface SinkLane {
  chain: Promise<void>;
  pending: number;
}

interface CameraRun {
  id: string;
  source: FrameSource | null;
  openError: JetfaceError | null;
  tracker: FaceTracker;
  state: PipelineCameraState;
  online: boolean;
  lastTimestamp: number | null;
  lastFrameSize: { width: number; height: number } | null;
  reported: WeakSet<object>;
  /** A source error was published since the camera was last online (retries of one outage are not repeated). */
  outageErrorSent: boolean;
  lastFrameErrorAt: number;
  suppressedFrameErrors: number;
  lanes: SinkLane[];
  detectMs: number[];
  counters: { frames: number; faces: number; events: number; frameErrors: number; sinkErrors: number; sinkDrops: number };
  loop: Promise<void> | null;
}

/**
 * Cameras → engine → tracker → events → sinks, in one process.
 *
 * @example
 * ```ts
 * const engine = await FaceEngine.create('models/jetface-s');
 * const gallery = new InMemoryGallery({ threshold: engine.manifest.thresholds.match });
 * await enrollFromImages(engine, gallery, [{ personId: 'lmm', name: 'Lin-Manuel Miranda', files: ['lmm.png'] }]);
 * const publisher = await EventPublisher.create({ url: 'mqtt://localhost:1883', device: 'jetson-1', outbox: 'outbox.jsonl' });
 * const pipeline = await Pipeline.create({
 *   engine, gallery, sinks: [publisher], device: 'jetson-1',
 *   cameras: [{ id: 'door', source: 'rtsp://cam.local/stream', sourceOptions: { maxFps: 10 } }],
 * });
 * pipeline.on('event', (e) => console.log(e.type, e.camera));
 * await pipeline.start();
 * // ...
 * await pipeline.stop(); // every open track gets its track_ended
 * console.log(pipeline.stats());
 * ```
 */
export class Pipeline extends TypedEmitter<PipelineEvents> {
  private readonly runs: CameraRun[];
  private started = false;
  private stopping = false;
  private finishedPromise: Promise<void> | null = null;

  private constructor(private readonly o: Required<Omit<PipelineOptions, 'trackerOptions' | 'cameras'>>, runs: CameraRun[]) {
    super();
    this.runs = runs;
  }

  /**
   * Checks the options and opens the sources given as URIs or specs (unstarted). A source that
   * cannot be opened (say, its backend is not installed) does not fail the pipeline: that camera
   * reports an `error` and a `camera_offline` event when the pipeline starts. Invalid options throw
   * `InvalidArgumentError`.
   */
  static async create(options: PipelineOptions): Promise<Pipeline> {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'an object', options);
    const { engine, gallery, sinks, device, cameras } = options;
    if (typeof engine?.detect !== 'function') throw new InvalidArgumentError('options.engine', 'a FaceEngine (with detect)', engine);
    if (typeof gallery?.match !== 'function') throw new InvalidArgumentError('options.gallery', 'a GalleryMatcher (with match)', gallery);
    if (!Array.isArray(sinks)) throw new InvalidArgumentError('options.sinks', 'an array of EventSink', sinks);
    sinks.forEach((s: EventSink, i) => {
      if (typeof s?.publish !== 'function') throw new InvalidArgumentError(`options.sinks[${i}]`, 'an EventSink (with publish)', s);
    });
    if (typeof device !== 'string' || !DEVICE_OR_CAMERA.test(device)) throw new InvalidArgumentError('options.device', 'an id of 1-64 characters from [A-Za-z0-9_.-]', device);
    if (!Array.isArray(cameras) || cameras.length === 0) throw new InvalidArgumentError('options.cameras', 'a non-empty array of { id, source }', cameras);
    const maxPendingPerSink = options.maxPendingPerSink ?? 10_000;
    if (!Number.isInteger(maxPendingPerSink) || maxPendingPerSink < 1) throw new InvalidArgumentError('options.maxPendingPerSink', 'an integer ≥ 1', maxPendingPerSink);
    const frameErrorIntervalMs = options.frameErrorIntervalMs ?? 10_000;
    if (!(frameErrorIntervalMs >= 0)) throw new InvalidArgumentError('options.frameErrorIntervalMs', 'milliseconds ≥ 0', frameErrorIntervalMs);
    const ids = new Set<string>();
    cameras.forEach((c: PipelineCamera, i) => {
      if (typeof c?.id !== 'string' || !DEVICE_OR_CAMERA.test(c.id)) throw new InvalidArgumentError(`options.cameras[${i}].id`, 'an id of 1-64 characters from [A-Za-z0-9_.-]', c?.id);
      if (ids.has(c.id)) throw new InvalidArgumentError(`options.cameras[${i}].id`, 'a camera id used once', c.id);
      ids.add(c.id);
      if (c.source === undefined || c.source === null) throw new InvalidArgumentError(`options.cameras[${i}].source`, 'a FrameSource, URI or spec', c.source);
    });
    // Fail on bad tracker options now, not in every camera's loop.
    new FaceTracker(gallery, options.trackerOptions ?? {});

    const runs: CameraRun[] = [];
    for (const camera of cameras) {
      let source: FrameSource | null = null;
      let openError: JetfaceError | null = null;
      if (isFrameSource(camera.source)) source = camera.source;
      else {
        try {
          source =
            typeof camera.source === 'string'
              ? await openFrameSource(camera.source, { ...camera.sourceOptions, cameraId: camera.id })
              : await openFrameSource({ ...camera.source, cameraId: camera.id });
        } catch (error) {
          if (error instanceof InvalidArgumentError || !(error instanceof JetfaceError)) throw error;
          openError = error;
        }
      }
      runs.push({
        id: camera.id,
        source,
        openError,
        tracker: new FaceTracker(gallery, { ...options.trackerOptions, cameraId: camera.id }),
        state: 'idle',
        online: false,
        lastTimestamp: null,
        lastFrameSize: null,
        reported: new WeakSet(),
        outageErrorSent: false,
        lastFrameErrorAt: Number.NEGATIVE_INFINITY,
        suppressedFrameErrors: 0,
        lanes: sinks.map(() => ({ chain: Promise.resolve(), pending: 0 })),
        detectMs: [],
        counters: { frames: 0, faces: 0, events: 0, frameErrors: 0, sinkErrors: 0, sinkDrops: 0 },
        loop: null,
      });
    }
    return new Pipeline({ engine, gallery, sinks: [...sinks], device, maxPendingPerSink, frameErrorIntervalMs }, runs);
  }

  /** Camera ids, in the order given. */
  get cameras(): string[] {
    return this.runs.map((r) => r.id);
  }

  /** Starts every camera's loop; resolves once they run (not when frames arrive). Call once. */
  async start(): Promise<void> {
    if (this.started) throw new InvalidArgumentError('pipeline', 'a pipeline that has not been started', 'started');
    this.started = true;
    for (const run of this.runs) {
      run.loop = this.runCamera(run).catch((error: unknown) => {
        // Not expected (the loop catches its own failures); never let one camera reject the others' promise.
        run.state = 'failed';
        this.emit('camera_end', { camera: run.id, state: 'failed', error: error instanceof JetfaceError ? error : null });
      });
    }
    this.finishedPromise = Promise.all(this.runs.map((r) => r.loop)).then(() => this.drain());
  }

  /**
   * Resolves when every camera's loop has ended (files at their end, sources that gave up, or
   * `stop()`) and every sink has been handed every event.
   */
  async finished(): Promise<void> {
    if (!this.finishedPromise) throw new InvalidArgumentError('pipeline', 'a started pipeline', 'not started');
    await this.finishedPromise;
  }

  /**
   * Stops every source, ends every open track (`track_ended` for each) and waits for the sinks to
   * take the last events, at most `drainTimeoutMs` (default 10 000): a sink that hangs does not
   * hang the caller. Safe to call twice; the sinks and the engine stay open.
   */
  async stop(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    this.stopping = true;
    if (!this.started) return;
    await Promise.all(this.runs.map((r) => r.source?.stop().catch(() => undefined)));
    await Promise.all(this.runs.map((r) => r.loop));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, options.drainTimeoutMs ?? 10_000);
    });
    await Promise.race([this.finishedPromise, timeout]);
    clearTimeout(timer);
  }

  /** Counters per camera. */
  stats(): PipelineCameraStats[] {
    return this.runs.map((r) => ({
      camera: r.id,
      state: r.state,
      ...r.counters,
      detectMsMedian: median(r.detectMs),
      source: r.source?.stats() ?? null,
    }));
  }

  private async runCamera(run: CameraRun): Promise<void> {
    run.state = 'running';
    if (!run.source || this.stopping) {
      if (run.openError) {
        this.publish(run, { type: 'error', camera: run.id, error: errorPayload(run.openError) });
        this.publish(run, { type: 'camera_offline', camera: run.id, reason: truncate(`cannot open the source: ${run.openError.message}`, 1024) });
        run.state = 'failed';
      } else run.state = 'stopped';
      this.emit('camera_end', { camera: run.id, state: run.state, error: run.openError });
      return;
    }
    const source = run.source;
    const onOnline = (e: SourceOnlineEvent): void => {
      run.online = true;
      run.outageErrorSent = false;
      run.lastFrameSize = { width: e.width, height: e.height };
      this.publish(run, { type: 'camera_online', camera: run.id, source: source.backend });
    };
    const onOffline = (e: SourceOfflineEvent): void => {
      // Faces cannot be tracked through an outage: end the tracks first, then say the camera is gone.
      this.flushTracks(run);
      run.online = false;
      this.publish(run, { type: 'camera_offline', camera: run.id, reason: truncate(e.error ? e.error.message : 'stream ended', 1024) });
    };
    const onError = (error: JetfaceError): void => {
      run.reported.add(error);
      // Online, every error is news (an undecodable image); offline, a camera retrying with backoff
      // fails each attempt alike: report the first of the outage, the source's stats count the rest.
      if (!run.online) {
        if (run.outageErrorSent) return;
        run.outageErrorSent = true;
      }
      this.publish(run, { type: 'error', camera: run.id, error: errorPayload(error) });
    };
    let end: SourceEndEvent | null = null;
    const onEnd = (e: SourceEndEvent): void => {
      end = e;
    };
    source.on('online', onOnline).on('offline', onOffline).on('error', onError).on('end', onEnd);
    let failure: JetfaceError | null = null;
    try {
      for await (const frame of source) {
        if (this.stopping) break;
        const fatal = await this.processFrame(run, frame);
        if (fatal) {
          failure = fatal;
          break;
        }
      }
    } catch (error) {
      failure = error instanceof JetfaceError ? error : null;
      // The source reports its failure as an `error` event too; say it once.
      if (!(typeof error === 'object' && error !== null && run.reported.has(error))) this.publish(run, { type: 'error', camera: run.id, error: errorPayload(error) });
    } finally {
      source.off('online', onOnline).off('offline', onOffline).off('error', onError).off('end', onEnd);
      this.flushTracks(run);
      const reason: string | undefined = (end as SourceEndEvent | null)?.reason;
      if (run.online) {
        run.online = false;
        this.publish(run, { type: 'camera_offline', camera: run.id, reason: this.stopping || reason === 'stopped' ? 'stopped' : failure ? truncate(failure.message, 1024) : 'end of stream' });
      }
      run.state = failure || reason === 'failed' ? 'failed' : this.stopping || reason === 'stopped' ? 'stopped' : 'ended';
      this.emit('camera_end', { camera: run.id, state: run.state, error: failure });
    }
  }

  /** Detects and tracks one frame; returns an error only when the camera cannot go on (the engine is closed). */
  private async processFrame(run: CameraRun, frame: Frame): Promise<JetfaceError | null> {
    run.counters.frames++;
    run.lastFrameSize = { width: frame.width, height: frame.height };
    let faces: Face[];
    const t0 = performance.now();
    try {
      faces = await this.o.engine.detect(frame);
    } catch (error) {
      this.frameError(run, frame, error);
      return error instanceof JetfaceError && error.code === 'E_ENGINE_CLOSED' ? error : null;
    }
    run.detectMs.push(performance.now() - t0);
    if (run.detectMs.length > DETECT_SAMPLES) run.detectMs.shift();
    run.counters.faces += faces.length;
    try {
      const timestamp = Math.max(frame.timestamp, run.lastTimestamp ?? Number.NEGATIVE_INFINITY);
      run.lastTimestamp = timestamp;
      const { events, tracks } = run.tracker.update(faces, timestamp);
      for (const e of events) this.publish(run, this.toDraft(run, e));
      if (this.listenerCount('frame') > 0) this.emit('frame', { camera: run.id, frame, faces, tracks, timestamp });
    } catch (error) {
      this.frameError(run, frame, error);
    }
    return null;
  }

  /** Counts a failed frame; reports it unless another was reported within `frameErrorIntervalMs`. */
  private frameError(run: CameraRun, frame: Frame, error: unknown): void {
    run.counters.frameErrors++;
    const now = Date.now();
    if (now - run.lastFrameErrorAt < this.o.frameErrorIntervalMs) {
      run.suppressedFrameErrors++;
      return;
    }
    const suppressed = run.suppressedFrameErrors ? ` (${run.suppressedFrameErrors} failed frames before this one were not reported)` : '';
    run.lastFrameErrorAt = now;
    run.suppressedFrameErrors = 0;
    this.publish(run, { type: 'error', camera: run.id, error: errorPayload(error, `frame ${frame.sequence}${suppressed}: `) });
  }

  private flushTracks(run: CameraRun): void {
    const at = run.lastTimestamp ?? Date.now();
    for (const e of run.tracker.flush(at)) this.publish(run, this.toDraft(run, e));
  }

  private toDraft(run: CameraRun, e: TrackerEvent): EventDraft {
    const t = e.track;
    const trackId = `${run.id}-${e.trackId}`;
    const time = iso(e.timestamp);
    if (e.type === 'track_ended') {
      return {
        type: 'track_ended',
        camera: run.id,
        time,
        trackId,
        identity: identityOf(e.identity),
        similarity: similarityOf(e.identity),
        firstSeen: iso(t.firstSeen),
        lastSeen: iso(Math.max(t.lastSeen, t.firstSeen)),
        frames: Math.max(1, t.hits),
      };
    }
    const observation: FaceObservation = {
      trackId,
      identity: identityOf(e.identity),
      similarity: similarityOf(e.identity),
      box: [t.box[0], t.box[1], t.box[2], t.box[3]],
      ...(run.lastFrameSize ? { frame: run.lastFrameSize } : {}),
      quality: { detectionScore: clamp(t.score, 0, 1), faceSize: Math.max(0, Math.min(t.box[2] - t.box[0], t.box[3] - t.box[1])) },
    };
    if (e.type === 'recognition') return { type: 'recognition', camera: run.id, time, ...observation };
    return { type: 'recognition_update', camera: run.id, time, ...observation, previousIdentity: identityOf(e.previous) };
  }

  /**
   * Stamps the draft (one id for every sink) and queues it on each sink's lane for this camera:
   * a camera's events reach each sink in order, and a slow or failing sink holds up only itself.
   */
  private publish(run: CameraRun, draft: EventDraft): void {
    let event: JetfaceEvent;
    try {
      event = createEvent(draft, this.o.device);
    } catch {
      run.counters.sinkErrors++;
      return;
    }
    run.counters.events++;
    this.emit('event', event);
    this.o.sinks.forEach((sink, i) => {
      const lane = run.lanes[i]!;
      if (lane.pending >= this.o.maxPendingPerSink) {
        run.counters.sinkDrops++;
        this.emit('sink_error', { camera: run.id, sink: i, event, error: new InvalidArgumentError(`sinks[${i}]`, `at most ${this.o.maxPendingPerSink} pending events`, lane.pending) });
        return;
      }
      lane.pending++;
      lane.chain = lane.chain.then(async () => {
        try {
          await sink.publish(event);
        } catch (error) {
          run.counters.sinkErrors++;
          this.emit('sink_error', { camera: run.id, sink: i, event, error });
        } finally {
          lane.pending--;
        }
      });
    });
  }

  private async drain(): Promise<void> {
    // Lanes may grow while earlier links run; wait until none has anything pending.
    for (;;) {
      await Promise.all(this.runs.flatMap((r) => r.lanes.map((l) => l.chain)));
      if (this.runs.every((r) => r.lanes.every((l) => l.pending === 0))) return;
    }
  }
}

function isFrameSource(x: unknown): x is FrameSource {
  return typeof x === 'object' && x !== null && typeof (x as FrameSource).stats === 'function' && typeof (x as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

function identityOf(identity: TrackIdentity | null): Identity | null {
  return identity ? { personId: identity.personId, name: identity.name } : null;
}

function similarityOf(identity: TrackIdentity | null): number | null {
  return identity && Number.isFinite(identity.similarity) ? clamp(identity.similarity, -1, 1) : null;
}

function errorPayload(error: unknown, prefix = ''): { code: string; message: string } {
  const code = error instanceof JetfaceError ? error.code : PIPELINE_ERROR_CODE;
  const message = error instanceof Error ? error.message : String(error);
  return { code, message: truncate(prefix + message, 4096) };
}

function iso(ms: number): string {
  return new Date(Number.isFinite(ms) ? ms : Date.now()).toISOString();
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
