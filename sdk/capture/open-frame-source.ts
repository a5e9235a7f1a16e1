import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { InvalidArgumentError } from '../errors';
import type { CaptureBackendImpl } from './backend';
import { CaptureSource } from './capture-source';
import { FfmpegBackend } from './ffmpeg';
import { gstCsiPipeline, gstFilePipeline, gstQuote, gstRtspPipeline, gstUsbPipeline, GstreamerBackend, isJetson, type GstDecode } from './gstreamer';
import { ImageFolderBackend } from './image-folder';
import { OpenCvBackend } from './opencv';
import { DEFAULT_RECONNECT } from './timing';
import type { CaptureBackend, CommonSourceOptions, FrameSource, FrameSourceSpec } from './types';
import { CAMERA_ID_PATTERN, validateSourceSpec } from './validate-spec';

/** Options for a URI given to {@link openFrameSource}; they fill the spec the URI resolves to. */
export interface UriSourceOptions extends CommonSourceOptions {
  /** Force a backend instead of the one the URI implies. */
  backend?: CaptureBackend;
  realtime?: boolean;
  live?: boolean;
  loop?: boolean;
  /** GStreamer decoding; default `jetson` on a Jetson, else `software`. */
  decode?: GstDecode;
  ffmpegPath?: string;
  gstLaunchPath?: string;
}

const STREAM_URL = /^(rtsps?|rtmps?|https?|udp|tcp|srt):\/\//i;

/**
 * Turns a URI into a source spec. `csi://0` → GStreamer nvarguscamerasrc; `/dev/video0` or
 * `v4l2:///dev/video0` → FFmpeg V4L2; `rtsp://…` → GStreamer with NVDEC on a Jetson, else FFmpeg;
 * other URLs and files → FFmpeg; a folder or `images:<dir>` → image folder; `gst:<pipeline>` →
 * GStreamer; `opencv:<index|path>` → OpenCV.
 *
 * @example
 * ```ts
 * resolveSourceUri('csi://0', { width: 1280, height: 720 }); // { backend: 'gstreamer', pipeline: 'nvarguscamerasrc sensor-id=0 ! ...', ... }
 * ```
 */
export function resolveSourceUri(uri: string, options: UriSourceOptions = {}): FrameSourceSpec {
  if (typeof uri !== 'string' || uri.length === 0) throw new InvalidArgumentError('uri', 'a non-empty string', uri);
  const { backend: forced, decode, loop, ...rest } = options;
  const common = { ...rest, cameraId: options.cameraId ?? defaultCameraId(uri) };
  const hw = decode ?? (isJetson() ? 'jetson' : 'software');
  const dims = { ...(options.width !== undefined ? { width: options.width } : {}), ...(options.height !== undefined ? { height: options.height } : {}) };
  const { ffmpegPath, gstLaunchPath, realtime, live, ...base } = common;
  const ffmpegExtras = { ...(ffmpegPath ? { ffmpegPath } : {}), ...(realtime !== undefined ? { realtime } : {}), ...(live !== undefined ? { live } : {}) };
  const gstExtras = { ...(gstLaunchPath ? { gstLaunchPath } : {}), ...(realtime !== undefined ? { realtime } : {}), ...(live !== undefined ? { live } : {}) };

  const csi = /^csi:\/\/(\d+)$/i.exec(uri);
  if (csi) return { ...base, ...gstExtras, backend: 'gstreamer', pipeline: gstCsiPipeline({ sensorId: Number(csi[1]), ...dims }) };
  if (/^gst:/i.test(uri)) return { ...base, ...gstExtras, backend: 'gstreamer', pipeline: uri.slice(4).trim() };
  if (/^opencv:/i.test(uri)) {
    const input = uri.slice(7);
    return { ...base, ...(live !== undefined ? { live } : {}), backend: 'opencv', input: /^\d+$/.test(input) ? Number(input) : input };
  }
  const path = uri.replace(/^(v4l2|file):\/\//i, '').replace(/^images:/i, '');
  if (/^images:/i.test(uri) || (forced === undefined && isDirectory(path)) || forced === 'images') {
    return { ...base, backend: 'images', dir: path, ...(loop !== undefined ? { loop } : {}) };
  }
  if (forced === 'opencv') return { ...base, ...(live !== undefined ? { live } : {}), backend: 'opencv', input: path };
  const isDevice = path.startsWith('/dev/video');
  const choice = forced ?? (/^rtsps?:\/\//i.test(uri) && isJetson() ? 'gstreamer' : 'ffmpeg');
  if (choice === 'gstreamer') {
    const pipeline = isDevice
      ? gstUsbPipeline({ device: path, decode: hw })
      : STREAM_URL.test(uri)
        ? /^rtsps?:/i.test(uri)
          ? gstRtspPipeline({ url: uri, decode: hw })
          : `urisourcebin uri=${gstQuote(uri)} ! decodebin`
        : gstFilePipeline({ path, decode: hw });
    const isLive = live ?? (isDevice || STREAM_URL.test(uri));
    return { ...base, ...gstExtras, live: isLive, backend: 'gstreamer', pipeline };
  }
  return { ...base, ...ffmpegExtras, backend: 'ffmpeg', input: isDevice || STREAM_URL.test(uri) ? uri.replace(/^v4l2:\/\//i, '') : path };
}

/**
 * Opens a frame source from a URI or a spec: validates it (errors name the field), chooses the
 * backend and checks that it can run (a missing ffmpeg, gst-launch-1.0 or OpenCV package is a
 * typed error naming the fix). The source is returned unstarted, so listeners can be attached
 * first; iterating it starts it.
 *
 * @example
 * ```ts
 * const source = await openFrameSource('/dev/video0', { maxFps: 15, width: 640, height: 480 });
 * source.on('online', (e) => console.log(`${e.cameraId} online ${e.width}x${e.height}`));
 * for await (const frame of source) handle(frame);
 * ```
 */
export async function openFrameSource(spec: string | FrameSourceSpec, options: UriSourceOptions = {}): Promise<FrameSource> {
  const resolved = validateSourceSpec(typeof spec === 'string' ? resolveSourceUri(spec, options) : spec);
  const impl = createBackend(resolved);
  const source = new CaptureSource(impl, {
    cameraId: resolved.cameraId ?? defaultCameraId(describeInput(resolved)),
    maxFps: resolved.maxFps,
    backpressure: resolved.backpressure ?? (impl.live ? 'latest' : 'wait'),
    queueSize: resolved.queueSize ?? 1,
    // Files and folders end at their end; only live sources retry unless a policy is given.
    reconnect: resolved.reconnect === false ? false : resolved.reconnect !== undefined || impl.live ? { ...DEFAULT_RECONNECT, ...(resolved.reconnect ?? {}) } : false,
    openTimeoutMs: resolved.openTimeoutMs ?? 15_000,
    stallTimeoutMs: resolved.stallTimeoutMs ?? 10_000,
  });
  await impl.preflight();
  return source;
}

function createBackend(spec: FrameSourceSpec): CaptureBackendImpl {
  switch (spec.backend) {
    case 'ffmpeg':
      return new FfmpegBackend(spec);
    case 'gstreamer':
      return new GstreamerBackend(spec);
    case 'images':
      return new ImageFolderBackend(spec);
    case 'opencv':
      return new OpenCvBackend(spec);
  }
}

function describeInput(spec: FrameSourceSpec): string {
  if (spec.backend === 'images') return spec.dir;
  if (spec.backend === 'gstreamer') return /sensor-id=(\d+)/.exec(spec.pipeline)?.[0] ?? 'gstreamer';
  return String(spec.input);
}

/** A topic-safe camera id from a URI: host and path without credentials, a device or file base name. */
export function defaultCameraId(uri: string): string {
  const csi = /^csi:\/\/(\d+)/i.exec(uri) ?? /^sensor-id=(\d+)/.exec(uri);
  if (csi) return `csi${csi[1]}`;
  let text = uri;
  try {
    const url = new URL(uri);
    if (url.host) text = `${url.hostname}${url.port ? `-${url.port}` : ''}${url.pathname}`;
    else text = basename(url.pathname);
  } catch {
    text = basename(uri.replace(/[/\\]+$/, ''));
  }
  const id = text.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);
  return CAMERA_ID_PATTERN.test(id) ? id : 'camera';
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
