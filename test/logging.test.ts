/**
 * Structured logs from a real run: hamilton_clip.mp4 through FFmpeg and the default bundle, the
 * source and the pipeline logged, events through an EventPublisher to an embedded broker that is
 * then shut down. Every line captured is one JSON object with level, time, msg and component.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { openFrameSource } from '../sdk/capture/open-frame-source';
import { FaceEngine } from '../sdk/engine/face-engine';
import { InvalidArgumentError } from '../sdk/errors';
import { startEmbeddedBroker } from '../sdk/mqtt/embedded-broker';
import { EventPublisher } from '../sdk/mqtt/publisher';
import { attachLogging } from '../sdk/observability/attach-logging';
import { createLogger, formatPretty } from '../sdk/observability/logger';
import { Pipeline } from '../sdk/pipeline/pipeline';
import { InMemoryGallery } from '../sdk/tracking/memory-gallery';
import { CLIP, FFMPEG, describeWith } from './support/capture';
import { tempDir } from './support/data';
import { until } from './support/events';

const BUNDLE = resolve(__dirname, '..', 'models', 'jetface-s');

interface Line {
  level: string;
  time: string;
  msg: string;
  component?: string;
  camera?: string;
  device?: string;
  err?: { code: string; message: string };
  [key: string]: unknown;
}

function capture(): { stream: PassThrough; lines: () => Line[]; raw: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { stream, raw: () => text, lines: () => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line) };
}

describeWith(FFMPEG)('logging: JSON lines from a real pipeline run', () => {
  test('camera, pipeline and publisher lines carry component, camera and device; a broker outage is logged', async () => {
    const engine = await FaceEngine.create(BUNDLE, { providers: ['cpu'] });
    const broker = await startEmbeddedBroker({ port: 0 });
    const out = capture();
    const logger = createLogger({ level: 'info', format: 'json', destination: out.stream, base: { device: 'jetson-l' } });
    const source = await openFrameSource(CLIP, { maxFps: 8, cameraId: 'hamilton' });
    const publisher = await EventPublisher.create({ url: broker.url, device: 'jetson-l', outbox: join(tempDir(), 'outbox.jsonl'), backoff: { initialMs: 50, maxMs: 200 }, connectTimeoutMs: 1000 });
    const pipeline = await Pipeline.create({ engine, gallery: new InMemoryGallery(), device: 'jetson-l', sinks: [publisher], cameras: [{ id: 'hamilton', source }] });
    const detach = attachLogging(logger, { pipeline, publisher, sources: [source] });
    let brokerClosed = false;
    try {
      await pipeline.start();
      await until(() => out.lines().some((l) => l.msg === 'connected to the broker'), 10_000, 'the publisher to connect');
      await until(() => (pipeline.stats()[0]?.frames ?? 0) >= 10, 60_000, '10 frames');
      await broker.close();
      brokerClosed = true;
      await until(() => out.lines().some((l) => l.msg === 'broker connection failed'), 10_000, 'a failed reconnect to be logged');
      await pipeline.stop();
    } finally {
      detach();
      await pipeline.stop();
      await publisher.close();
      if (!brokerClosed) await broker.close();
      await engine.close();
    }
    const lines = out.lines();
    for (const l of lines) {
      expect(typeof l.msg).toBe('string');
      expect(['info', 'warn', 'error']).toContain(l.level);
      expect(new Date(l.time).toISOString()).toBe(l.time);
      expect(l.device).toBe('jetson-l');
      expect(['camera', 'pipeline', 'publisher']).toContain(l.component);
    }
    expect(lines.find((l) => l.component === 'camera' && l.msg === 'frames flowing')).toMatchObject({ level: 'info', camera: 'hamilton', backend: 'ffmpeg', session: 1 });
    expect(lines.find((l) => l.component === 'pipeline' && l.msg === 'camera online')).toMatchObject({ level: 'info', camera: 'hamilton', source: 'ffmpeg' });
    expect(lines.find((l) => l.component === 'publisher' && l.msg.startsWith('disconnected'))).toMatchObject({ level: 'warn' });
    // One warning per outage (retries go to debug), with the error's code and no serializer noise.
    const failures = lines.filter((l) => l.msg === 'broker connection failed');
    expect(failures).toHaveLength(1);
    expect(failures[0]!.err).toEqual({ code: expect.stringMatching(/^E_MQTT/), message: expect.any(String) });
    expect(lines.find((l) => l.component === 'pipeline' && l.msg === 'camera offline')).toMatchObject({ level: 'warn', camera: 'hamilton', reason: 'stopped' });
    expect(lines.find((l) => l.component === 'pipeline' && l.msg === 'camera loop ended')).toMatchObject({ state: 'stopped' });
    expect(lines.find((l) => l.component === 'camera' && l.msg === 'source ended')).toMatchObject({ reason: 'stopped' });
    // Detached: no listener of ours is left on the publisher.
    expect(['connect', 'disconnect', 'error', 'drop'].map((e) => publisher.listenerCount(e as 'connect'))).toEqual([0, 0, 0, 0]);
  });
});

describe('logging: formats, files and bad settings', () => {
  test('pretty lines are readable and keep the fields; a file destination gets JSON lines', async () => {
    const out = capture();
    const pretty = createLogger({ format: 'pretty', destination: out.stream, level: 'debug' });
    pretty.child({ component: 'camera', camera: 'door' }).warn({ attempt: 2, err: { code: 'E_CAMERA_OPEN' } }, 'reconnecting');
    pretty.debug('details');
    pretty.trace('not shown');
    await until(() => out.raw().split('\n').length >= 3, 2000, 'two pretty lines');
    const [first, second, third] = out.raw().split('\n');
    expect(first).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN  \[camera door\] reconnecting attempt=2 err=\{"code":"E_CAMERA_OPEN"\}$/);
    expect(second).toMatch(/^\d\d:\d\d:\d\d\.\d{3} DEBUG details$/);
    expect(third).toBe('');
    expect(formatPretty('not json')).toBe('not json');

    const file = join(tempDir(), 'device.log');
    const logger = createLogger({ destination: file });
    logger.info({ component: 'app', camera: 'door' }, 'door unlocked');
    logger.error({ err: new InvalidArgumentError('x', 'a number', 'y') }, 'an Error object');
    logger.debug('below the level');
    await new Promise((r) => setTimeout(r, 100));
    const records = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
    expect(records).toHaveLength(2);
    expect(records[0]).toMatchObject({ level: 'info', component: 'app', camera: 'door', msg: 'door unlocked' });
    expect(records[1]!.err).toEqual({ type: 'InvalidArgumentError', code: 'E_INVALID_ARGUMENT', message: expect.stringContaining('x') });
  });

  test('an unknown level or format is refused, naming logging.level / logging.format', () => {
    expect(() => createLogger({ level: 'verbose' as never })).toThrow(InvalidArgumentError);
    expect(() => createLogger({ level: 'verbose' as never })).toThrow(/logging\.level/);
    expect(() => createLogger({ format: 'xml' as never })).toThrow(/logging\.format/);
  });
});
