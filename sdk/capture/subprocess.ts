import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import type { Readable } from 'node:stream';
import { CameraOpenError, CameraStreamError, CaptureBackendUnavailableError, type JetfaceError } from '../errors';
import type { CaptureSession, SessionEnd, SessionSink } from './backend';
import { FrameAssembler, type FrameGeometry } from './frame-assembler';

/** How to run one capture process. */
export interface SubprocessSpec {
  command: string;
  args: string[];
  /** Where frames come out: stdout, or fd 3 when the tool prints its own messages on stdout (gst-launch). */
  frameFd: 1 | 3;
  /**
   * Reads the geometry from one log line (ffmpeg's output stream, GStreamer's negotiated caps).
   * Always from the log, even when the caller fixed the size: the line also gives the frame rate.
   */
  parseGeometry: (line: string) => FrameGeometry | undefined;
  /** First signal on close: SIGINT lets `gst-launch-1.0 -e` shut nvarguscamerasrc down cleanly. */
  stopSignal: NodeJS.Signals;
  /** Time between the stop signal and SIGKILL. */
  killGraceMs: number;
  /** For error messages. */
  label: string;
}

const MAX_UNSIZED_BYTES = 64 * 1024 * 1024;
const LOG_TAIL = 40;

/**
 * Finds an executable on PATH (or checks an explicit path); throws a typed error naming the package to install.
 *
 * @example
 * ```ts
 * requireExecutable('ffmpeg', 'apt-get install -y ffmpeg');
 * ```
 */
export function requireExecutable(command: string, fix: string): string {
  const candidates = isAbsolute(command) || command.includes('/') ? [command] : (process.env['PATH'] ?? '').split(delimiter).filter(Boolean).map((d) => join(d, command));
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // try the next directory
    }
  }
  throw new CaptureBackendUnavailableError(command, `${command} is not an executable file${candidates.length > 1 ? ' on PATH' : ''}`, fix);
}

/**
 * Hides credentials in URLs (`rtsp://user:pass@cam` → `rtsp://***@cam`) before they reach logs, errors or events.
 *
 * @example
 * ```ts
 * redactUrls('rtsp://admin:secret@10.0.0.5/live'); // 'rtsp://***@10.0.0.5/live'
 * ```
 */
export function redactUrls(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@]+@/gi, '$1***@');
}

/** A capture process whose raw frames are cut out of a pipe; its log tail explains failures. */
export class SubprocessSession implements CaptureSession {
  readonly ended: Promise<SessionEnd>;
  private readonly child: ChildProcess;
  private readonly frames: Readable;
  private readonly log: string[] = [];
  private assembler: FrameAssembler | undefined;
  private unsized: Buffer[] = [];
  private unsizedBytes = 0;
  private frameCount = 0;
  private closing = false;
  private failure: JetfaceError | undefined;

  constructor(
    private readonly spec: SubprocessSpec,
    private readonly sink: SessionSink,
  ) {
    const stdio: ('ignore' | 'pipe')[] = ['ignore', 'pipe', 'pipe'];
    if (spec.frameFd === 3) stdio.push('pipe');
    this.child = spawn(spec.command, spec.args, { stdio });
    this.frames = this.child.stdio[spec.frameFd] as Readable;
    this.frames.on('data', (chunk: Buffer) => this.onData(chunk));
    this.readLines(this.child.stderr as Readable);
    if (spec.frameFd === 3) this.readLines(this.child.stdout as Readable);
    this.ended = new Promise<SessionEnd>((resolve) => {
      this.child.once('error', (error) => {
        this.failure ??= new CameraOpenError(`cannot run ${spec.command}: ${error.message}`, { command: spec.command }, error);
      });
      this.child.once('close', (code, signal) => resolve(this.outcome(code, signal)));
    });
  }

  pause(): void {
    this.frames.pause();
  }

  resume(): void {
    this.frames.resume();
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill(this.spec.stopSignal);
      const force = setTimeout(() => this.child.kill('SIGKILL'), this.spec.killGraceMs);
      await this.ended;
      clearTimeout(force);
    }
    await this.ended;
  }

  recentLog(): string[] {
    return this.errorLines();
  }

  private makeAssembler(geometry: FrameGeometry): FrameAssembler {
    return new FrameAssembler(geometry, (data) => {
      const index = this.frameCount++;
      this.sink.frame(data, geometry.width, geometry.height, geometry.format, geometry.fps ? (index * 1000) / geometry.fps : undefined);
    });
  }

  private onData(chunk: Buffer): void {
    if (this.failure) return;
    if (this.assembler) return this.assembler.push(chunk);
    // Frames can arrive before the log line that gives their size: hold them briefly.
    this.unsized.push(chunk);
    this.unsizedBytes += chunk.length;
    if (this.unsizedBytes > MAX_UNSIZED_BYTES) this.fail(new CameraStreamError(`${this.spec.label} wrote ${this.unsizedBytes} bytes but never reported the frame size`, { command: this.spec.command }));
  }

  private onLine(line: string): void {
    this.log.push(redactUrls(line));
    if (this.log.length > LOG_TAIL) this.log.shift();
    const geometry = this.spec.parseGeometry(line);
    if (!geometry) return;
    const known = this.assembler?.geometry;
    if (!known) {
      this.assembler = this.makeAssembler(geometry);
      for (const chunk of this.unsized) this.assembler.push(chunk);
      this.unsized = [];
      return;
    }
    if (known.width !== geometry.width || known.height !== geometry.height) {
      // Bytes already in the pipe have the old size; restart cleanly rather than misframe them.
      this.fail(new CameraStreamError(`${this.spec.label} changed its frame size from ${known.width}x${known.height} to ${geometry.width}x${geometry.height}`, { ...geometry }));
    }
  }

  private readLines(stream: Readable): void {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      const lines = (rest + text).split(/\r?\n|\r/);
      rest = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) this.onLine(line.trim());
    });
    stream.on('end', () => rest.trim() && this.onLine(rest.trim()));
  }

  private fail(error: JetfaceError): void {
    this.failure ??= error;
    this.child.kill('SIGKILL');
  }

  private outcome(code: number | null, signal: NodeJS.Signals | null): SessionEnd {
    if (this.failure) return { kind: 'error', error: this.failure };
    if (this.closing) return { kind: 'eof' };
    const details = { command: this.spec.command, exitCode: code, signal, frames: this.frameCount, log: this.errorLines() };
    const why = this.errorLines().join(' | ') || 'no message';
    if (code !== 0) {
      const status = code === null ? `was killed by ${signal ?? 'a signal'}` : `exited with code ${code}`;
      return this.frameCount > 0
        ? { kind: 'error', error: new CameraStreamError(`${this.spec.label} ${status} after ${this.frameCount} frames: ${why}`, details) }
        : { kind: 'error', error: new CameraOpenError(`${this.spec.label} ${status} before the first frame: ${why}`, details) };
    }
    const pending = (this.assembler?.pendingBytes ?? 0) + this.unsizedBytes;
    if (pending > 0) {
      return { kind: 'error', error: new CameraStreamError(`${this.spec.label} ended in the middle of a frame (${pending} bytes left over): ${why}`, { ...details, pendingBytes: pending }) };
    }
    return { kind: 'eof' };
  }

  /** The log lines that explain a failure: those that look like errors, else the last few. */
  private errorLines(): string[] {
    const errors = this.log.filter((l) => /error|fail|invalid|no such|refused|not found|unable|could not|cannot|denied|timed out|corrupt|no playable/i.test(l));
    return (errors.length > 0 ? errors : this.log).slice(-3);
  }
}
