/** Capture pieces without processes: spec validation, URI resolution, framing, backoff, events, OpenCV loading. */
import { openFrameSource, resolveSourceUri, defaultCameraId } from '../sdk/capture/open-frame-source';
import { validateSourceSpec } from '../sdk/capture/validate-spec';
import { FrameAssembler, gstRgbStride } from '../sdk/capture/frame-assembler';
import { reconnectDelay, DEFAULT_RECONNECT } from '../sdk/capture/timing';
import { TypedEmitter } from '../sdk/capture/typed-emitter';
import { redactUrls } from '../sdk/capture/subprocess';
import { loadOpenCv } from '../sdk/capture/opencv';
import { CaptureBackendUnavailableError, InvalidArgumentError, WaitTimeoutError } from '../sdk/errors';

describe('source spec validation names the field', () => {
  const cases: [unknown, RegExp][] = [
    [null, /expected spec to be a source spec object/],
    [{ backend: 'vlc', input: 'x' }, /spec\.backend .*one of ffmpeg, gstreamer, images, opencv/],
    [{ backend: 'ffmpeg' }, /spec\.input/],
    [{ backend: 'ffmpeg', input: 'a.mp4', maxFps: 0 }, /spec\.maxFps to be a number in \(0, 1000\] but received 0/],
    [{ backend: 'ffmpeg', input: 'a.mp4', width: 640 }, /spec\.height/],
    [{ backend: 'ffmpeg', input: 'a.mp4', width: 640.5, height: 480 }, /spec\.width to be an integer/],
    [{ backend: 'ffmpeg', input: 'a.mp4', cameraId: 'front/door' }, /spec\.cameraId/],
    [{ backend: 'ffmpeg', input: 'a.mp4', queueSize: 0 }, /spec\.queueSize/],
    [{ backend: 'ffmpeg', input: 'a.mp4', backpressure: 'block' }, /spec\.backpressure/],
    [{ backend: 'ffmpeg', input: 'a.mp4', reconnect: { initialDelayMs: 100, maxDelayMs: 10 } }, /spec\.reconnect\.maxDelayMs/],
    [{ backend: 'ffmpeg', input: 'a.mp4', reconnect: { retries: 3 } }, /spec\.reconnect\.retries to be absent/],
    [{ backend: 'gstreamer', pipeline: 'videotestsrc', dir: 'x' }, /spec\.dir to be absent/],
    [{ backend: 'images', dir: 'x', width: 64, height: 64 }, /spec\.width to be absent/],
    [{ backend: 'opencv', input: -1 }, /spec\.input/],
  ];
  test.each(cases)('%j', (spec, message) => {
    expect(() => validateSourceSpec(spec)).toThrow(InvalidArgumentError);
    expect(() => validateSourceSpec(spec)).toThrow(message);
  });

  test('openFrameSource rejects a bad option of a URI the same way', async () => {
    await expect(openFrameSource('clip.mp4', { maxFps: -5 })).rejects.toThrow(/spec\.maxFps/);
  });
});

describe('URIs choose the backend', () => {
  test.each([
    ['/dev/video0', { backend: 'ffmpeg', input: '/dev/video0', cameraId: 'video0' }],
    ['v4l2:///dev/video1', { backend: 'ffmpeg', input: '/dev/video1', cameraId: 'video1' }],
    ['https://example.com/live.m3u8', { backend: 'ffmpeg', input: 'https://example.com/live.m3u8' }],
    ['file:///videos/a.mp4', { backend: 'ffmpeg', input: '/videos/a.mp4', cameraId: 'a.mp4' }],
    ['opencv:0', { backend: 'opencv', input: 0 }],
    ['opencv:/videos/a.mp4', { backend: 'opencv', input: '/videos/a.mp4' }],
    ['images:/data/frames', { backend: 'images', dir: '/data/frames' }],
    ['gst:videotestsrc', { backend: 'gstreamer', pipeline: 'videotestsrc' }],
  ])('%s', (uri, expected) => {
    expect(resolveSourceUri(uri, { decode: 'software' })).toMatchObject(expected);
  });

  test('RTSP goes to FFmpeg off a Jetson; camera ids never carry credentials', () => {
    const spec = resolveSourceUri('rtsp://admin:secret@10.0.0.5/live', { decode: 'software' });
    expect(spec.cameraId).toBe('10.0.0.5-live');
    expect(defaultCameraId('/videos/My Clip (1).mp4')).toBe('My-Clip-1-.mp4');
    expect(redactUrls('Connection to rtsp://admin:secret@10.0.0.5/live failed')).toBe('Connection to rtsp://***@10.0.0.5/live failed');
  });
});

describe('FrameAssembler', () => {
  test('cuts a chunked stream into frames and removes GStreamer row padding', () => {
    const width = 3;
    const height = 2;
    const stride = gstRgbStride(width); // 9 bytes of pixels, padded to 12
    expect(stride).toBe(12);
    const frames: number[][] = [];
    const assembler = new FrameAssembler({ width, height, stride, format: 'rgb24' }, (d) => frames.push(Array.from(d)));
    const row = (base: number): number[] => [...Array.from({ length: 9 }, (_, i) => base + i), 0, 0, 0];
    const stream = [...row(10), ...row(20), ...row(30), ...row(40), ...row(50)];
    for (let i = 0; i < stream.length; i += 5) assembler.push(Uint8Array.from(stream.slice(i, i + 5)));
    expect(frames).toEqual([
      [...row(10).slice(0, 9), ...row(20).slice(0, 9)],
      [...row(30).slice(0, 9), ...row(40).slice(0, 9)],
    ]);
    expect(assembler.pendingBytes).toBe(12);
  });
});

describe('backoff and events', () => {
  test('delays grow by the factor up to the cap, with bounded jitter', () => {
    const policy = { ...DEFAULT_RECONNECT, jitter: 0 };
    expect([1, 2, 3, 4, 8, 20].map((n) => reconnectDelay(n, policy))).toEqual([500, 1000, 2000, 4000, 30000, 30000]);
    const jittered = { ...DEFAULT_RECONNECT, jitter: 0.2 };
    expect(reconnectDelay(1, jittered, () => 0)).toBe(400);
    expect(reconnectDelay(1, jittered, () => 1)).toBe(600);
  });

  test('typed emitter: error events without listeners do not throw; waitFor resolves, times out, aborts', async () => {
    class E extends TypedEmitter<{ error: Error; tick: number }> {
      fire<K extends 'error' | 'tick'>(k: K, v: { error: Error; tick: number }[K]): void {
        this.emit(k, v);
      }
    }
    const e = new E();
    expect(() => e.fire('error', new Error('x'))).not.toThrow();
    const next = e.waitFor('tick');
    e.fire('tick', 7);
    await expect(next).resolves.toBe(7);
    await expect(e.waitFor('tick', { timeoutMs: 10 })).rejects.toBeInstanceOf(WaitTimeoutError);
    const controller = new AbortController();
    const aborted = e.waitFor('tick', { signal: controller.signal });
    controller.abort(new Error('gone'));
    await expect(aborted).rejects.toThrow('gone');
    expect(e.listenerCount('tick')).toBe(0);
  });
});

const HAS_OPENCV = ((): boolean => {
  try {
    require.resolve('@u4/opencv4nodejs');
    return true;
  } catch {
    return false;
  }
})();

describe('OpenCV backend (optional dependency)', () => {
  (HAS_OPENCV ? test.skip : test)('when @u4/opencv4nodejs is not installed: a typed error naming the fix, at open time', async () => {
    expect(() => loadOpenCv()).toThrow(CaptureBackendUnavailableError);
    const error = await openFrameSource('opencv:0').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CaptureBackendUnavailableError);
    expect((error as CaptureBackendUnavailableError).code).toBe('E_CAPTURE_BACKEND_UNAVAILABLE');
    expect((error as Error).message).toMatch(/@u4\/opencv4nodejs/);
    expect((error as Error).message).toMatch(/apt-get install -y libopencv-dev/);
    expect((error as Error).message).toMatch(/OPENCV4NODEJS_DISABLE_AUTOBUILD=1 npm install @u4\/opencv4nodejs/);
  });
});
