import type { CameraError, JetfaceError } from '../errors';
import type { Frame } from '../types';
import type { WaitOptions } from './typed-emitter';

/** Capture backends. */
export type CaptureBackend = 'ffmpeg' | 'gstreamer' | 'images' | 'opencv';

/** Where a source is in its life. */
export type FrameSourceState = 'idle' | 'connecting' | 'online' | 'offline' | 'ended' | 'failed' | 'stopped';

/**
 * What to do when the reader is slower than the camera. `latest`: keep only the newest
 * `queueSize` frames and count the rest as dropped (live cameras: never process stale frames).
 * `wait`: stop reading until the consumer catches up (files and folders: every frame).
 */
export type BackpressureMode = 'latest' | 'wait';

/** Exponential backoff between reconnect attempts: `initialDelayMs · factor^n`, capped, with ± jitter. */
export interface ReconnectOptions {
  /** Delay before the first retry. Default 500 ms. */
  initialDelayMs?: number;
  /** Upper bound of the delay. Default 30 000 ms. */
  maxDelayMs?: number;
  /** Growth per failed attempt. Default 2. */
  factor?: number;
  /** Random spread as a fraction of the delay (0..1), so that many cameras do not retry in step. Default 0.2. */
  jitter?: number;
  /** Attempts after which the source gives up and fails. Default: unlimited. */
  maxAttempts?: number;
}

/** Counters of a source since `start()`. */
export interface FrameSourceStats {
  state: FrameSourceState;
  /** Frames read from the backend. */
  framesRead: number;
  /** Frames handed to the consumer. */
  framesDelivered: number;
  /** Frames replaced by newer ones because the consumer was slower (latest-frame backpressure). */
  framesDropped: number;
  /** Frames discarded by the `maxFps` cap (only for backends that cannot cap at the source). */
  framesSkipped: number;
  /** Sessions started after a failure or an end of a live stream. */
  reconnects: number;
  /** Non-fatal errors reported (decode errors of single images, failed attempts). */
  errors: number;
  /** Frames read per second over the last two seconds. */
  fps: number;
  /** Size of the last frame read, 0 before the first. */
  width: number;
  height: number;
  /** Epoch milliseconds of the last frame read, or null. */
  lastFrameAt: number | null;
  lastError: { code: string; message: string } | null;
}

/** Payload of `online`: frames flow (first frame of a session). */
export interface SourceOnlineEvent {
  cameraId: string;
  width: number;
  height: number;
  /** 1 for the first session, then one more per reconnect. */
  session: number;
}

/** Payload of `offline`: the source stopped delivering frames (never opened, broke, or a live stream ended). */
export interface SourceOfflineEvent {
  cameraId: string;
  error: CameraError | null;
}

/** Payload of `reconnecting`: a new attempt is scheduled after `delayMs`. */
export interface SourceReconnectingEvent {
  cameraId: string;
  attempt: number;
  delayMs: number;
  error: JetfaceError | null;
}

/** Payload of `end`: the source is done; iteration finishes (and throws `error` when it failed). */
export interface SourceEndEvent {
  cameraId: string;
  reason: 'eof' | 'stopped' | 'failed';
  error: JetfaceError | null;
}

/** The typed events of a {@link FrameSource}. */
export interface FrameSourceEvents {
  online: SourceOnlineEvent;
  offline: SourceOfflineEvent;
  reconnecting: SourceReconnectingEvent;
  /** Every error, fatal or not; never thrown at the emitter. */
  error: JetfaceError;
  end: SourceEndEvent;
}

/**
 * A stream of camera frames: iterate it with `for await`, watch its events, read its stats.
 * Iterating starts the source if needed; leaving the loop early (`break`) stops it.
 *
 * @example
 * ```ts
 * const source = await openFrameSource('rtsp://cam.local/stream', { maxFps: 10 });
 * source.on('offline', (e) => console.warn(e.cameraId, e.error?.message));
 * for await (const frame of source) {
 *   const faces = await engine.detect(frame);
 * }
 * console.log(source.stats());
 * ```
 */
export interface FrameSource extends AsyncIterable<Frame> {
  readonly cameraId: string;
  readonly backend: CaptureBackend;
  readonly state: FrameSourceState;
  /** Checks the backend and begins capturing; resolves once capture runs (not when the camera is online). */
  start(): Promise<void>;
  /** Stops capturing, kills any capture process, ends iteration. Safe to call twice. */
  stop(): Promise<void>;
  stats(): FrameSourceStats;
  on<K extends keyof FrameSourceEvents>(event: K, listener: (payload: FrameSourceEvents[K]) => void): this;
  off<K extends keyof FrameSourceEvents>(event: K, listener: (payload: FrameSourceEvents[K]) => void): this;
  once<K extends keyof FrameSourceEvents>(event: K, listener: (payload: FrameSourceEvents[K]) => void): this;
  /** Promise form: the payload of the next `event`. */
  waitFor<K extends keyof FrameSourceEvents>(event: K, options?: WaitOptions): Promise<FrameSourceEvents[K]>;
}

/** Options every source accepts. */
export interface CommonSourceOptions {
  /** Name carried by every frame and event. Default: derived from the input. */
  cameraId?: string;
  /** Frame-rate cap (frames per second). The backend drops frames at the source when it can. */
  maxFps?: number;
  /** Output size; the backend scales (on Jetson in hardware). Both or neither. */
  width?: number;
  height?: number;
  /** Default: `wait` for files and folders, `latest` for live sources. */
  backpressure?: BackpressureMode;
  /** Frames kept for a slow consumer, 1..64. Default 1 (the latest frame only). */
  queueSize?: number;
  /** Retry policy, or false to fail on the first error. Default: on for live sources, off for files and folders. */
  reconnect?: ReconnectOptions | false;
  /** A session that gives no frame within this time is an open failure. Default 15 000 ms. */
  openTimeoutMs?: number;
  /** An online session that gives no frame within this time is a stall (restarted). Default 10 000 ms; 0 turns it off. */
  stallTimeoutMs?: number;
}

/** FFmpeg subprocess: files, RTSP/HTTP streams, V4L2 devices; raw rgb24 on stdout. */
export interface FfmpegSourceSpec extends CommonSourceOptions {
  backend: 'ffmpeg';
  /** A file path or URL, or a device such as /dev/video0. */
  input: string;
  /** Forced input format (`-f`), e.g. `v4l2`; default: `v4l2` for /dev/video*, else ffmpeg's probe. */
  inputFormat?: string;
  /** Extra input options placed before `-i`, e.g. `['-input_format', 'mjpeg']`. */
  inputOptions?: string[];
  /** Read a file at its native frame rate (`-re`), like a camera. Default false. */
  realtime?: boolean;
  /** Treat the input as a live camera (reconnect, `latest`). Default: true for URLs and devices. */
  live?: boolean;
  /** ffmpeg binary. Default `ffmpeg` on PATH. */
  ffmpegPath?: string;
}

/** GStreamer subprocess (`gst-launch-1.0`); raw RGB through `fdsink` on a pipe of its own. */
export interface GstreamerSourceSpec extends CommonSourceOptions {
  backend: 'gstreamer';
  /**
   * The source part of a pipeline, up to raw video (see the `gst*Pipeline` builders); jetface
   * appends the rate cap, RGB conversion, scaling and the sink.
   */
  pipeline: string;
  /** Sync to the clock (play files at their native rate). Default false. */
  realtime?: boolean;
  /** Treat the pipeline as a live camera (reconnect, `latest`). Default true. */
  live?: boolean;
  /** gst-launch binary. Default `gst-launch-1.0` on PATH. */
  gstLaunchPath?: string;
}

/** A folder of images, decoded in name order (natural sort). */
export interface ImageFolderSourceSpec extends CommonSourceOptions {
  backend: 'images';
  dir: string;
  /** Start again at the first image after the last. Default false. */
  loop?: boolean;
}

/** OpenCV `VideoCapture` through the optional `@u4/opencv4nodejs` package (frames in bgr24). */
export interface OpenCvSourceSpec extends CommonSourceOptions {
  backend: 'opencv';
  /** A device index (0 = /dev/video0), a file or a URL. */
  input: string | number;
  /** Default: true for device indexes and URLs. */
  live?: boolean;
}

/** A validated description of a source; see {@link openFrameSource}. */
export type FrameSourceSpec = FfmpegSourceSpec | GstreamerSourceSpec | ImageFolderSourceSpec | OpenCvSourceSpec;
