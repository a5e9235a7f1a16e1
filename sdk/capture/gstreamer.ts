import { existsSync, readFileSync } from 'node:fs';
import type { CaptureBackendImpl, CaptureSession, SessionSink } from './backend';
import { gstRgbStride, type FrameGeometry } from './frame-assembler';
import { redactUrls, requireExecutable, SubprocessSession } from './subprocess';
import type { GstreamerSourceSpec } from './types';

/** Decoder choice: `jetson` uses NVDEC (`nvv4l2decoder`) and the VIC (`nvvidconv`); `software` uses libav. */
export type GstDecode = 'jetson' | 'software';

/**
 * Whether this machine is an NVIDIA Jetson (L4T), where hardware decode and CSI cameras exist.
 *
 * @example
 * ```ts
 * const decode = isJetson() ? 'jetson' : 'software';
 * ```
 */
export function isJetson(): boolean {
  if (existsSync('/etc/nv_tegra_release')) return true;
  try {
    return /jetson|tegra/i.test(readFileSync('/proc/device-tree/model', 'utf8'));
  } catch {
    return false;
  }
}

/** Quotes a property value for gst-launch's parser. */
export function gstQuote(value: string): string {
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** Options for {@link gstCsiPipeline}. */
export interface GstCsiOptions {
  sensorId?: number;
  /** Sensor mode size and rate. Default 1920x1080 at 30. */
  captureWidth?: number;
  captureHeight?: number;
  fps?: number;
  /** Output size, scaled by the VIC in hardware. Default: the capture size. */
  width?: number;
  height?: number;
  /** nvvidconv flip-method (0 none, 2 rotate 180, ...). Default 0. */
  flipMethod?: number;
}

/**
 * Jetson CSI camera (Argus): NV12 in NVMM memory, scaled and converted by the VIC.
 *
 * @example
 * ```ts
 * const source = await openFrameSource({ backend: 'gstreamer', pipeline: gstCsiPipeline({ sensorId: 0, width: 1280, height: 720 }) });
 * ```
 */
export function gstCsiPipeline(o: GstCsiOptions = {}): string {
  const cw = o.captureWidth ?? 1920;
  const ch = o.captureHeight ?? 1080;
  const size = `width=${o.width ?? cw},height=${o.height ?? ch}`;
  return [
    `nvarguscamerasrc sensor-id=${o.sensorId ?? 0}`,
    `video/x-raw(memory:NVMM),width=${cw},height=${ch},framerate=${o.fps ?? 30}/1,format=NV12`,
    `nvvidconv flip-method=${o.flipMethod ?? 0}`,
    // nvvidconv cannot write packed 24-bit RGB; BGRx is the cheapest hand-over to videoconvert.
    `video/x-raw,${size},format=BGRx`,
  ].join(' ! ');
}

/** Options for {@link gstUsbPipeline}. */
export interface GstUsbOptions {
  device?: string;
  width?: number;
  height?: number;
  fps?: number;
  /** Ask the camera for MJPEG (most USB cameras give their full rate only in MJPEG). Default false. */
  mjpeg?: boolean;
  decode?: GstDecode;
}

/**
 * USB (UVC) camera through V4L2, raw or MJPEG.
 *
 * @example
 * ```ts
 * gstUsbPipeline({ device: '/dev/video0', width: 1280, height: 720, fps: 30, mjpeg: true });
 * ```
 */
export function gstUsbPipeline(o: GstUsbOptions = {}): string {
  const caps = [o.width && `width=${o.width}`, o.height && `height=${o.height}`, o.fps && `framerate=${o.fps}/1`].filter(Boolean).join(',');
  const src = `v4l2src device=${gstQuote(o.device ?? '/dev/video0')}`;
  if (!o.mjpeg) return [src, caps ? `video/x-raw,${caps}` : 'video/x-raw'].join(' ! ');
  const decoder = (o.decode ?? 'software') === 'jetson' ? 'nvv4l2decoder mjpeg=1 ! nvvidconv ! video/x-raw,format=BGRx' : 'jpegdec';
  return [src, caps ? `image/jpeg,${caps}` : 'image/jpeg', decoder].join(' ! ');
}

/** Options for {@link gstRtspPipeline}. */
export interface GstRtspOptions {
  url: string;
  codec?: 'h264' | 'h265';
  decode?: GstDecode;
  /** Jitter buffer in milliseconds. Default 200. */
  latency?: number;
  /** RTP over TCP (survives lossy Wi-Fi and NAT). Default true. */
  tcp?: boolean;
}

/**
 * RTSP camera with hardware decode on Jetson (`nvv4l2decoder`) or libav elsewhere (`avdec_h264`).
 *
 * @example
 * ```ts
 * gstRtspPipeline({ url: 'rtsp://cam.local/stream', decode: isJetson() ? 'jetson' : 'software' });
 * ```
 */
export function gstRtspPipeline(o: GstRtspOptions): string {
  const codec = o.codec ?? 'h264';
  const src = `rtspsrc location=${gstQuote(o.url)} latency=${o.latency ?? 200}${(o.tcp ?? true) ? ' protocols=tcp' : ''}`;
  return [src, `rtp${codec}depay`, `${codec}parse`, decoderFor(codec, o.decode ?? 'software')].join(' ! ');
}

/** Options for {@link gstFilePipeline}. */
export interface GstFileOptions {
  path: string;
  /** Jetson: demux and decode with NVDEC; software: let decodebin choose (libav). Default software. */
  decode?: GstDecode;
  codec?: 'h264' | 'h265';
}

/**
 * A video file. In software, decodebin picks demuxer and decoder; on a Jetson the MP4/MOV
 * demuxer and NVDEC are named (decodebin may prefer a software decoder).
 *
 * @example
 * ```ts
 * gstFilePipeline({ path: 'clip.mp4' }); // 'filesrc location="clip.mp4" ! decodebin'
 * ```
 */
export function gstFilePipeline(o: GstFileOptions): string {
  const src = `filesrc location=${gstQuote(o.path)}`;
  if ((o.decode ?? 'software') === 'software') return `${src} ! decodebin`;
  const codec = o.codec ?? 'h264';
  return [`${src} ! qtdemux name=demux demux.video_0`, 'queue', `${codec}parse`, decoderFor(codec, 'jetson')].join(' ! ');
}

function decoderFor(codec: 'h264' | 'h265', decode: GstDecode): string {
  return decode === 'jetson' ? 'nvv4l2decoder ! nvvidconv ! video/x-raw,format=BGRx' : `avdec_${codec}`;
}

/**
 * The full gst-launch description: the source part, then rate cap, RGB conversion, scaling and the sink.
 *
 * @example
 * ```ts
 * gstLaunchDescription({ backend: 'gstreamer', pipeline: gstCsiPipeline(), maxFps: 10 });
 * // 'nvarguscamerasrc ... ! videorate drop-only=true max-rate=10 ! videoconvert ! videoscale ! video/x-raw,format=RGB ! fdsink name=jetface_sink fd=3 sync=false'
 * ```
 */
export function gstLaunchDescription(spec: GstreamerSourceSpec): string {
  const parts = [spec.pipeline];
  if (spec.maxFps !== undefined) parts.push(`videorate drop-only=true max-rate=${Math.max(1, Math.round(spec.maxFps))}`);
  parts.push('videoconvert', 'videoscale');
  const size = spec.width !== undefined && spec.height !== undefined ? `,width=${spec.width},height=${spec.height}` : '';
  parts.push(`video/x-raw,format=RGB${size}`);
  parts.push(`fdsink name=${SINK_NAME} fd=3 sync=${spec.realtime ? 'true' : 'false'}`);
  return parts.join(' ! ');
}

const SINK_NAME = 'jetface_sink';

/**
 * Splits a pipeline description into gst-launch arguments: gst-launch escapes spaces inside each
 * argument, so a description passed as one argument would not parse. Quoted values stay whole.
 */
export function gstArgv(description: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < description.length; i++) {
    const c = description[i]!;
    if (c === '\\' && i + 1 < description.length) {
      current += c + description[++i]!;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === ' ' && !quoted) {
      if (current) tokens.push(current);
      current = '';
    } else current += c;
  }
  if (current) tokens.push(current);
  return tokens;
}

/** Reads the negotiated caps of the sink from `gst-launch-1.0 -v` output. */
export function parseGstSinkCaps(line: string): FrameGeometry | undefined {
  if (!line.includes(`${SINK_NAME}.GstPad:sink: caps =`)) return undefined;
  const width = /width=\(int\)(\d+)/.exec(line);
  const height = /height=\(int\)(\d+)/.exec(line);
  if (!width || !height || !/format=\(string\)RGB\b/.test(line)) return undefined;
  const w = Number(width[1]);
  const rate = /framerate=\(fraction\)(\d+)\/(\d+)/.exec(line);
  const fps = rate ? Number(rate[1]) / Number(rate[2]) : 0;
  return { width: w, height: Number(height[1]), stride: gstRgbStride(w), format: 'rgb24', ...(fps > 0 ? { fps } : {}) };
}

/** GStreamer subprocess backend: frames on fd 3, so gst-launch's own messages on stdout cannot corrupt them. */
export class GstreamerBackend implements CaptureBackendImpl {
  readonly backend = 'gstreamer';
  readonly live: boolean;
  readonly capsRate = true;
  readonly description: string;
  private readonly launch: string;
  private command: string;

  constructor(private readonly spec: GstreamerSourceSpec) {
    this.live = spec.live ?? true;
    this.launch = gstLaunchDescription(spec);
    this.command = spec.gstLaunchPath ?? 'gst-launch-1.0';
    this.description = `gstreamer ${redactUrls(spec.pipeline)}`;
  }

  async preflight(): Promise<void> {
    this.command = requireExecutable(
      this.command,
      'install GStreamer (apt-get install -y gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav; on Jetson JetPack ships the nv* plugins) or set gstLaunchPath',
    );
  }

  open(sink: SessionSink): CaptureSession {
    return new SubprocessSession(
      {
        command: this.command,
        // -e: end-of-stream on SIGINT, so that nvarguscamerasrc releases the camera (a hard kill can wedge nvargus-daemon).
        args: ['-e', '-v', ...gstArgv(this.launch)],
        frameFd: 3,
        parseGeometry: parseGstSinkCaps,
        stopSignal: 'SIGINT',
        killGraceMs: 3000,
        label: this.description,
      },
      sink,
    );
  }
}
