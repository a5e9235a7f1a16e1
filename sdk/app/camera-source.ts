import { gstCsiPipeline, gstFilePipeline, gstRtspPipeline, gstUsbPipeline, isJetson } from '../capture/gstreamer';
import type { CommonSourceOptions, FrameSourceSpec, ReconnectOptions } from '../capture/types';
import type { CameraConfig } from '../config/schema';

/**
 * The {@link FrameSourceSpec} of a configured camera: its `source.kind` picks the backend
 * (FFmpeg for files, RTSP and V4L2; GStreamer for CSI and USB, or for files and RTSP when asked).
 *
 * @example
 * ```ts
 * cameraSourceSpec({ id: 'door', source: { kind: 'v4l2', device: '/dev/video0' }, fps: 10, queueSize: 1, openTimeoutMs: 15000, stallTimeoutMs: 10000 });
 * // { backend: 'ffmpeg', input: '/dev/video0', inputFormat: 'v4l2', cameraId: 'door', maxFps: 10, ... }
 * ```
 */
export function cameraSourceSpec(camera: CameraConfig): FrameSourceSpec {
  const common: CommonSourceOptions = {
    cameraId: camera.id,
    queueSize: camera.queueSize,
    openTimeoutMs: camera.openTimeoutMs,
    stallTimeoutMs: camera.stallTimeoutMs,
    ...(camera.fps !== undefined ? { maxFps: camera.fps } : {}),
    ...(camera.width !== undefined && camera.height !== undefined ? { width: camera.width, height: camera.height } : {}),
    ...(camera.backpressure ? { backpressure: camera.backpressure } : {}),
    // zod leaves absent keys absent: the cast only drops `| undefined` from the type.
    ...(camera.reconnect !== undefined ? { reconnect: camera.reconnect as ReconnectOptions | false } : {}),
  };
  const decode = isJetson() ? 'jetson' : 'software';
  const s = camera.source;
  switch (s.kind) {
    case 'file':
      return s.backend === 'gstreamer'
        ? { ...common, backend: 'gstreamer', pipeline: gstFilePipeline({ path: s.path, decode }), realtime: s.realtime, live: false }
        : { ...common, backend: 'ffmpeg', input: s.path, realtime: s.realtime, live: false };
    case 'rtsp':
      return s.backend === 'gstreamer'
        ? { ...common, backend: 'gstreamer', pipeline: gstRtspPipeline({ url: s.url, codec: s.codec, decode, latency: s.latencyMs, tcp: s.tcp }), live: true }
        : { ...common, backend: 'ffmpeg', input: s.url, live: true, ...(s.tcp ? { inputOptions: ['-rtsp_transport', 'tcp'] } : {}) };
    case 'v4l2':
      return { ...common, backend: 'ffmpeg', input: s.device, inputFormat: 'v4l2', live: true, ...(s.inputFormat ? { inputOptions: ['-input_format', s.inputFormat] } : {}) };
    case 'csi': {
      // The VIC scales in hardware: the camera's output size goes into the pipeline, not after it.
      const { width, height, ...rest } = common;
      const pipeline = gstCsiPipeline({ sensorId: s.sensorId, captureWidth: s.captureWidth, captureHeight: s.captureHeight, fps: s.captureFps, flipMethod: s.flipMethod, ...(width ? { width, height } : {}) });
      return { ...rest, backend: 'gstreamer', pipeline, live: true };
    }
    case 'usb':
      return { ...common, backend: 'gstreamer', pipeline: gstUsbPipeline({ device: s.device, mjpeg: s.mjpeg, decode, ...(s.captureFps ? { fps: s.captureFps } : {}) }), live: true };
    case 'images': {
      const { width: _w, height: _h, ...rest } = common;
      return { ...rest, backend: 'images', dir: s.dir, loop: s.loop };
    }
    case 'opencv':
      return { ...common, backend: 'opencv', input: s.input };
  }
}
