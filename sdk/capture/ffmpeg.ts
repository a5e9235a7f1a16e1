import type { CaptureBackendImpl, CaptureSession, SessionSink } from './backend';
import type { FrameGeometry } from './frame-assembler';
import { redactUrls, requireExecutable, SubprocessSession } from './subprocess';
import type { FfmpegSourceSpec } from './types';

/** Whether an ffmpeg input is a live camera or stream rather than a file. */
export function isLiveInput(input: string): boolean {
  if (input.startsWith('/dev/')) return true;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(input) && !/^file:/i.test(input);
}

/**
 * The ffmpeg command line for a source: decode, optionally cap the rate and scale, write raw
 * rgb24 frames to stdout. The size is read from ffmpeg's own output-stream line, so an RTSP
 * camera is opened once (no separate ffprobe connection, which some cameras refuse).
 *
 * @example
 * ```ts
 * ffmpegArgs({ backend: 'ffmpeg', input: '/dev/video0', maxFps: 10, width: 640, height: 480 });
 * // ['-hide_banner', '-nostdin', '-nostats', '-f', 'v4l2', '-i', '/dev/video0', '-an', ..., 'pipe:1']
 * ```
 */
export function ffmpegArgs(spec: FfmpegSourceSpec): string[] {
  const live = spec.live ?? isLiveInput(spec.input);
  const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info'];
  // On a file the first corrupt packet ends the run with an error (a truncated file must say so);
  // a live stream rides over single bad packets and is restarted by the stall watchdog instead.
  if (!live) args.push('-xerror');
  if (spec.realtime) args.push('-re');
  const inputFormat = spec.inputFormat ?? (spec.input.startsWith('/dev/video') ? 'v4l2' : undefined);
  if (inputFormat) args.push('-f', inputFormat);
  if (/^rtsps?:/i.test(spec.input)) args.push('-rtsp_transport', 'tcp');
  if (live) args.push('-fflags', 'nobuffer', '-flags', 'low_delay');
  args.push(...(spec.inputOptions ?? []), '-i', spec.input.replace(/^file:\/\//i, ''));
  const filters: string[] = [];
  if (spec.maxFps !== undefined) filters.push(`fps=${spec.maxFps}`);
  if (spec.width !== undefined && spec.height !== undefined) filters.push(`scale=${spec.width}:${spec.height}`);
  args.push('-an', '-sn', '-dn', '-map', '0:v:0');
  if (filters.length > 0) args.push('-vf', filters.join(','));
  // passthrough: one output frame per decoded frame (the rawvideo muxer would otherwise duplicate to constant rate).
  // flush_packets: each frame leaves ffmpeg's output buffer whole, not with its tail held back until the next.
  args.push('-vsync', 'passthrough', '-pix_fmt', 'rgb24', '-flush_packets', '1', '-f', 'rawvideo', 'pipe:1');
  return args;
}

/**
 * A log-line reader that finds the frame size (and rate) in ffmpeg's description of its output
 * stream, e.g. `Stream #0:0: Video: rawvideo (RGB[24] / 0x18424752), rgb24(pc, gbr/bt709/bt709,
 * progressive), 640x360 [SAR 1:1 DAR 16:9], ..., 29.97 fps`. Lines before `Output #0` describe
 * the input (which may be rawvideo of another size) and are ignored.
 *
 * @example
 * ```ts
 * const parse = ffmpegOutputParser();
 * parse("Output #0, rawvideo, to 'pipe:1':");
 * parse('Stream #0:0: Video: rawvideo (RGB[24] / 0x18424752), rgb24(progressive), 320x180, 10 fps'); // { width: 320, height: 180, ... }
 * ```
 */
export function ffmpegOutputParser(): (line: string) => FrameGeometry | undefined {
  let output = false;
  return (line) => {
    if (/^Output #0\b/.test(line)) output = true;
    return output ? parseFfmpegOutputSize(line) : undefined;
  };
}

/** Frame size and rate from one output-stream line (see {@link ffmpegOutputParser}). */
export function parseFfmpegOutputSize(line: string): FrameGeometry | undefined {
  if (!/Stream #\d+:\d+.*Video: rawvideo/.test(line)) return undefined;
  const m = /, (\d{1,5})x(\d{1,5})(?=[ ,[]|$)/.exec(line);
  if (!m) return undefined;
  const width = Number(m[1]);
  const height = Number(m[2]);
  const fps = Number(/, ([\d.]+) fps\b/.exec(line)?.[1]);
  return { width, height, stride: width * 3, format: 'rgb24', ...(fps > 0 ? { fps } : {}) };
}

/** FFmpeg subprocess backend. */
export class FfmpegBackend implements CaptureBackendImpl {
  readonly backend = 'ffmpeg';
  readonly live: boolean;
  readonly capsRate = true;
  readonly description: string;
  private readonly args: string[];
  private command: string;

  constructor(private readonly spec: FfmpegSourceSpec) {
    this.live = spec.live ?? isLiveInput(spec.input);
    this.args = ffmpegArgs(spec);
    this.command = spec.ffmpegPath ?? 'ffmpeg';
    this.description = `ffmpeg ${redactUrls(spec.input)}`;
  }

  async preflight(): Promise<void> {
    this.command = requireExecutable(this.command, 'install FFmpeg (Debian/Ubuntu/JetPack: apt-get install -y ffmpeg) or set ffmpegPath');
  }

  open(sink: SessionSink): CaptureSession {
    return new SubprocessSession(
      {
        command: this.command,
        args: this.args,
        frameFd: 1,
        parseGeometry: ffmpegOutputParser(),
        stopSignal: 'SIGTERM',
        // ffmpeg only reads: nothing to shut down gracefully, and one blocked in a read ignores SIGTERM.
        killGraceMs: 1000,
        label: this.description,
      },
      sink,
    );
  }
}
