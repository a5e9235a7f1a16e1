/**
 * The Prometheus endpoint on a real run: hamilton_clip.mp4 through FFmpeg (capped at 8 fps), the
 * default bundle, two people enrolled, events to the embedded broker; the real HTTP endpoint is
 * scraped while the pipeline runs and after, and the exposition text parsed.
 */
import { Server, createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { readdirSync } from 'node:fs';
import { FaceEngine } from '../sdk/engine/face-engine';
import { InvalidArgumentError } from '../sdk/errors';
import { startEmbeddedBroker, type EmbeddedBroker } from '../sdk/mqtt/embedded-broker';
import { EventPublisher } from '../sdk/mqtt/publisher';
import { METRIC_NAMES, createMetrics } from '../sdk/observability/metrics';
import { enrollFromImages } from '../sdk/pipeline/enroll';
import { Pipeline } from '../sdk/pipeline/pipeline';
import { InMemoryGallery } from '../sdk/tracking/memory-gallery';
import { CLIP, FFMPEG, describeWith } from './support/capture';
import { dataPath, tempDir, CLIP_MATCH_THRESHOLD } from './support/data';
import { until } from './support/events';

const BUNDLE = resolve(__dirname, '..', 'models', 'jetface-s');

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (format 0.0.4) into samples; throws on a line it cannot read. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unreadable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

async function scrape(url: string): Promise<{ status: number; type: string | null; samples: Sample[] }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type'), samples: parseExposition(await res.text()) };
}

describeWith(FFMPEG)('metrics: the /metrics endpoint during a real pipeline run', () => {
  let engine: FaceEngine;
  let broker: EmbeddedBroker;

  beforeAll(async () => {
    engine = await FaceEngine.create(BUNDLE, { providers: ['cpu'] });
    broker = await startEmbeddedBroker({ port: 0 });
  });
  afterAll(async () => {
    await engine?.close();
    await broker?.close();
  });

  test('frames, fps, inference time, faces, events, outbox and gallery are exposed with real values', async () => {
    const dir = dataPath('video', 'enroll');
    const gallery = new InMemoryGallery({ threshold: CLIP_MATCH_THRESHOLD });
    await enrollFromImages(engine, gallery, readdirSync(dir).sort().map((f) => ({ personId: f.replace(/\.\w+$/, ''), name: f, files: [join(dir, f)] })));
    const publisher = await EventPublisher.create({ url: broker.url, device: 'jetson-m', outbox: join(tempDir(), 'outbox.jsonl'), backoff: { initialMs: 50, maxMs: 300 } });
    const metrics = createMetrics({ labels: { device: 'jetson-m' } });
    const pipeline = await Pipeline.create({
      engine: metrics.timeEngine(engine),
      gallery,
      device: 'jetson-m',
      sinks: [publisher],
      cameras: [{ id: 'hamilton', source: CLIP, sourceOptions: { maxFps: 8, realtime: true } }],
    });
    const detach = metrics.observe({ pipeline, publisher, gallery });
    const server = await metrics.serve({ host: '127.0.0.1', port: 0 });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      await pipeline.start();
      await until(() => (pipeline.stats()[0]?.frames ?? 0) >= 20, 60_000, '20 frames through the pipeline');

      const during = await scrape(server.url);
      expect(during.status).toBe(200);
      expect(during.type).toMatch(/^text\/plain; version=0\.0\.4/);
      const s = during.samples;
      const cam = { camera: 'hamilton', device: 'jetson-m' };
      expect(value(s, METRIC_NAMES.cameraUp, cam)).toBe(1);
      expect(value(s, METRIC_NAMES.frames, cam)).toBeGreaterThanOrEqual(20);
      expect(value(s, METRIC_NAMES.fps, cam)).toBeGreaterThan(0);
      expect(value(s, METRIC_NAMES.inferenceMedian, cam)).toBeGreaterThan(0);
      expect(value(s, `${METRIC_NAMES.inference}_count`, cam)).toBeGreaterThanOrEqual(19);
      expect(value(s, `${METRIC_NAMES.inference}_sum`, cam)).toBeGreaterThan(0);
      expect(value(s, METRIC_NAMES.events, { ...cam, type: 'camera_online' })).toBe(1);
      expect(value(s, METRIC_NAMES.galleryPeople)).toBe(2);
      expect(value(s, METRIC_NAMES.framesDropped, cam)).toBeGreaterThanOrEqual(0);
      // The process metrics of prom-client, in this registry.
      expect(value(s, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
      expect(value(s, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);

      await pipeline.stop();
      await publisher.flush(10_000);
      const after = (await scrape(server.url)).samples;
      const [stats] = pipeline.stats();
      expect(value(after, METRIC_NAMES.cameraUp, cam)).toBe(0);
      expect(value(after, METRIC_NAMES.frames, cam)).toBe(stats!.frames);
      expect(value(after, METRIC_NAMES.faces, cam)).toBe(stats!.faces);
      expect(stats!.faces).toBeGreaterThan(0);
      const eventsByType = after.filter((x) => x.name === METRIC_NAMES.events);
      expect(eventsByType.reduce((a, x) => a + x.value, 0)).toBe(stats!.events);
      expect(value(after, METRIC_NAMES.events, { ...cam, type: 'camera_offline' })).toBe(1);
      expect(value(after, METRIC_NAMES.mqttConnected)).toBe(1);
      expect(value(after, METRIC_NAMES.published)).toBe(stats!.events);
      expect(value(after, METRIC_NAMES.outboxDepth)).toBe(0);
      expect(value(after, METRIC_NAMES.mqttReconnects)).toBe(0);

      // Another path is not the endpoint.
      expect((await fetch(server.url.replace('/metrics', '/other'))).status).toBe(404);

      // Detached parts leave the exposition.
      detach();
      expect(value((await scrape(server.url)).samples, METRIC_NAMES.frames, cam)).toBeUndefined();
    } finally {
      await pipeline.stop();
      await server.close();
      metrics.close();
      await publisher.close();
    }
  });
});

describe('metrics: bad serve options and busy ports', () => {
  test('serve() without a host listens on 127.0.0.1 only, as the configuration does (the endpoint has no authentication)', async () => {
    const listen = jest.spyOn(Server.prototype, 'listen');
    const metrics = createMetrics({ processMetrics: false });
    try {
      const server = await metrics.serve({ port: 0 });
      await server.close();
      expect(listen).toHaveBeenCalledWith(expect.any(Number), '127.0.0.1', expect.any(Function));
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    } finally {
      listen.mockRestore();
      metrics.close();
    }
  });

  test('a port in use and out-of-range values are refused, naming metrics.port / metrics.path', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    const port = (busy.address() as { port: number }).port;
    const metrics = createMetrics({ processMetrics: false });
    try {
      const inUse = await metrics.serve({ host: '127.0.0.1', port }).catch((e: unknown) => e);
      expect(inUse).toBeInstanceOf(InvalidArgumentError);
      expect((inUse as Error).message).toMatch(/metrics\.port.*EADDRINUSE/);
      await expect(metrics.serve({ port: 70_000 })).rejects.toThrow(/metrics\.port/);
      await expect(metrics.serve({ port: 0, path: 'metrics' })).rejects.toThrow(/metrics\.path/);
      expect(() => metrics.observe(null as never)).toThrow(InvalidArgumentError);
      // Without observed parts the camera metrics carry no samples, and the publisher ones are absent (not a false 0).
      const text = await metrics.text();
      expect(text).toContain(`# TYPE ${METRIC_NAMES.frames} counter`);
      expect(parseExposition(text).filter((x) => x.name.startsWith('jetface_'))).toEqual([]);
      expect(text).not.toContain(METRIC_NAMES.mqttConnected);
    } finally {
      busy.close();
    }
  });
});
