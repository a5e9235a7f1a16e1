/** Cameras that never open, hang, stall or go away: typed errors, offline/online events, backoff, stop(). */
import { execFileSync } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { openFrameSource } from '../sdk/capture/open-frame-source';
import type { FrameSource, FrameSourceEvents, SourceReconnectingEvent } from '../sdk/capture/types';
import { CameraOpenError, CameraStreamError, type JetfaceError } from '../sdk/errors';
import { CLIP, FFMPEG, childProcesses, closedPort, collect, describeWith, drain, silentServer } from './support/capture';
import { tempDir } from './support/data';

const FAST = { initialDelayMs: 50, maxDelayMs: 400, factor: 2, jitter: 0 };

/** Records every event of a source in order. */
function record(source: FrameSource): { log: string[]; reconnecting: SourceReconnectingEvent[]; errors: JetfaceError[] } {
  const out = { log: [] as string[], reconnecting: [] as SourceReconnectingEvent[], errors: [] as JetfaceError[] };
  const names: (keyof FrameSourceEvents)[] = ['online', 'offline', 'reconnecting', 'error', 'end'];
  for (const name of names) source.on(name, () => out.log.push(name));
  source.on('reconnecting', (e) => out.reconnecting.push(e));
  source.on('error', (e) => out.errors.push(e));
  return out;
}

describeWith(FFMPEG)('reconnect and failure handling (FFmpeg backend)', () => {
  test('an RTSP camera that refuses connections: retries with exponential backoff, one offline event, stop() ends it', async () => {
    const port = await closedPort();
    const source = await openFrameSource(`rtsp://127.0.0.1:${port}/cam`, { reconnect: FAST, cameraId: 'door' });
    const events = record(source);
    const iteration = drain(source);
    while (events.reconnecting.length < 5) await source.waitFor('reconnecting', { timeoutMs: 10_000 });
    expect(events.reconnecting.map((e) => e.delayMs)).toEqual([50, 100, 200, 400, 400]);
    expect(events.reconnecting.map((e) => e.attempt)).toEqual([1, 2, 3, 4, 5]);
    expect(events.log.filter((n) => n === 'offline')).toHaveLength(1);
    expect(events.log).not.toContain('online');
    expect(events.errors[0]).toBeInstanceOf(CameraOpenError);
    expect(events.errors[0]!.message).toMatch(/refused|failed/i);
    expect(source.stats().reconnects).toBeGreaterThanOrEqual(4);
    await source.stop();
    expect(await iteration).toEqual({ frames: 0, error: undefined });
    expect(source.state).toBe('stopped');
    expect(childProcesses('ffmpeg')).toEqual([]);
  });

  test('stop() from a listener returns at once, even with a long backoff pending', async () => {
    const port = await closedPort();
    const source = await openFrameSource(`rtsp://127.0.0.1:${port}/cam`, { reconnect: { initialDelayMs: 30_000 } });
    const stopped = new Promise<number>((resolve) =>
      source.once('reconnecting', () => {
        const t0 = Date.now();
        void source.stop().then(() => resolve(Date.now() - t0));
      }),
    );
    await source.start();
    expect(await stopped).toBeLessThan(1000);
    expect(source.state).toBe('stopped');
  });

  test('a V4L2 device that does not exist: typed open error, offline, then retries', async () => {
    const source = await openFrameSource('/dev/video63', { reconnect: FAST });
    const events = record(source);
    await source.start();
    const offline = await source.waitFor('offline', { timeoutMs: 10_000 });
    expect(offline.error).toBeInstanceOf(CameraOpenError);
    expect(offline.error!.message).toMatch(/No such file|Cannot open|not found/i);
    await source.waitFor('reconnecting', { timeoutMs: 5000 });
    await source.stop();
    expect(events.log.at(-1)).toBe('end');
  });

  test('a camera that accepts the connection and never answers: the open timeout kills and retries it', async () => {
    const server = await silentServer();
    try {
      const source = await openFrameSource(`rtsp://127.0.0.1:${server.port}/hang`, { reconnect: FAST, openTimeoutMs: 400 });
      const events = record(source);
      await source.start();
      const offline = await source.waitFor('offline', { timeoutMs: 10_000 });
      expect(offline.error).toBeInstanceOf(CameraOpenError);
      expect(offline.error!.message).toMatch(/no frame within 400 ms/);
      await source.waitFor('reconnecting', { timeoutMs: 5000 });
      await source.stop();
      expect(events.log).not.toContain('online');
      expect(childProcesses('ffmpeg')).toEqual([]);
    } finally {
      await server.close();
    }
  });

  test('maxAttempts: the source gives up, iteration throws the typed error, end says failed', async () => {
    const port = await closedPort();
    const source = await openFrameSource(`rtsp://127.0.0.1:${port}/cam`, { reconnect: { ...FAST, maxAttempts: 2 } });
    const ends: FrameSourceEvents['end'][] = [];
    source.on('end', (e) => ends.push(e));
    const { frames, error } = await drain(source);
    expect(frames).toBe(0);
    expect(error).toBeInstanceOf(CameraOpenError);
    expect(ends).toEqual([{ cameraId: source.cameraId, reason: 'failed', error }]);
    expect(source.stats().reconnects).toBe(2);
    expect(source.state).toBe('failed');
  });

  test('a live stream that ends comes back: online, offline, reconnecting, online again', async () => {
    const source = await openFrameSource(CLIP, { live: true, reconnect: FAST, width: 64, height: 36, maxFps: 30, cameraId: 'loop' });
    const events = record(source);
    const seen = collect(source, { limit: 100_000 });
    while (events.log.filter((n) => n === 'online').length < 2) await source.waitFor('online', { timeoutMs: 15_000 });
    await source.stop();
    const frames = await seen;
    expect(events.log.slice(0, 4)).toEqual(['online', 'offline', 'reconnecting', 'online']);
    expect(source.stats().reconnects).toBeGreaterThanOrEqual(1);
    // Sequence numbers run on across sessions.
    expect(frames.every((f, i) => i === 0 || f.sequence > frames[i - 1]!.sequence)).toBe(true);
  });

  test('a stream that stalls after a few frames: the stall watchdog restarts it', async () => {
    const dir = tempDir();
    const fifo = join(dir, 'camera.rgb');
    execFileSync('mkfifo', [fifo]);
    // Keep a writer open so ffmpeg never sees end-of-file: the stream just stops.
    const writer = openSync(fifo, 'r+');
    try {
      const source = await openFrameSource({
        backend: 'ffmpeg',
        input: fifo,
        inputFormat: 'rawvideo',
        inputOptions: ['-pixel_format', 'rgb24', '-video_size', '16x16', '-framerate', '25'],
        live: true,
        reconnect: FAST,
        stallTimeoutMs: 300,
      });
      const events = record(source);
      await source.start();
      // 50 frames (ffmpeg's input probe wants more than a handful), then nothing.
      execFileSync('sh', ['-c', `head -c ${16 * 16 * 3 * 50} /dev/urandom > ${fifo}`]);
      await source.waitFor('online', { timeoutMs: 10_000 });
      const offline = await source.waitFor('offline', { timeoutMs: 10_000 });
      expect(offline.error).toBeInstanceOf(CameraStreamError);
      expect(offline.error!.message).toMatch(/stalled: no frame for 300 ms/);
      await source.stop();
      expect(events.log.slice(0, 2)).toEqual(['online', 'error']);
    } finally {
      closeSync(writer);
    }
  });

  test('a consumer slower than the stall timeout does not count as a stall (backpressure wait pauses the watchdog)', async () => {
    const source = await openFrameSource(CLIP, { backpressure: 'wait', stallTimeoutMs: 100, width: 64, height: 36 });
    const events = record(source);
    const frames = await collect(source, { limit: 4, delayMs: 200 });
    expect(frames.map((f) => f.sequence)).toEqual([0, 1, 2, 3]);
    expect(events.errors).toEqual([]);
  });

  afterAll(() => expect(childProcesses('ffmpeg')).toEqual([]));
});
