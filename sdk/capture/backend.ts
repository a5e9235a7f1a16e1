import type { JetfaceError } from '../errors';
import type { PixelFormat } from '../types';
import type { CaptureBackend } from './types';

/** Receives what a capture session produces. */
export interface SessionSink {
  /**
   * One complete frame; `data` belongs to the receiver (tightly packed, `width·height·3` bytes).
   * `mediaMs`: the frame's time in the input's own clock from the session's start, when known.
   */
  frame(data: Uint8Array, width: number, height: number, format: PixelFormat, mediaMs?: number): void;
  /** A problem that does not end the session (one undecodable image). */
  warn(error: JetfaceError): void;
}

/** How a session ended: the input ran out, or it failed. */
export type SessionEnd = { kind: 'eof' } | { kind: 'error'; error: JetfaceError };

/** One connection to a camera or one pass over a file: a process, a folder walk, a VideoCapture. */
export interface CaptureSession {
  readonly ended: Promise<SessionEnd>;
  /** Stop producing until resume() (backpressure `wait`). */
  pause(): void;
  resume(): void;
  /** The backend's last messages, to explain a timeout. */
  recentLog?(): string[];
  /** Ends the session (kills its process); resolves once it has ended. */
  close(): Promise<void>;
}

/** What a backend implements; {@link CaptureSource} adds queueing, reconnects, events and stats. */
export interface CaptureBackendImpl {
  readonly backend: CaptureBackend;
  /** A live camera (reconnect on end) rather than a file or folder (end of input is the end). */
  readonly live: boolean;
  /** Whether the backend applies `maxFps` itself (otherwise the source drops frames by arrival time). */
  readonly capsRate: boolean;
  /** For logs and error messages: the command line, the folder. */
  readonly description: string;
  /** Fails fast with a typed error when the backend cannot run at all (binary or module missing, no folder). */
  preflight(): Promise<void>;
  open(sink: SessionSink): CaptureSession;
}
