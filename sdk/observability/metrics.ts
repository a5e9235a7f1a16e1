/**
 * Prometheus metrics of a device: a registry of its own (never prom-client's global one, so two
 * devices or tests in one process do not collide), filled at scrape time from the `stats()` of the
 * parts it observes, plus event counts, an inference-time histogram and the process metrics.
 */
import { createServer, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FrameSource } from '../capture/types';
import { InvalidArgumentError, errorMessage } from '../errors';
import type { JetfaceEvent } from '../events/types';
import type { CommandStats } from '../mqtt/commands';
import type { PublisherStats } from '../mqtt/publisher';
import type { PipelineCameraStats } from '../pipeline/pipeline';
import type { Face, Frame } from '../types';

/** What {@link DeviceMetrics.observe} reads; each part is optional and read at every scrape. */
export interface ObservedParts {
  /** A {@link Pipeline}: per-camera counters, and every event it emits counted by type. */
  pipeline?: { stats(): PipelineCameraStats[]; on(event: 'event', listener: (e: JetfaceEvent) => void): unknown; off(event: 'event', listener: (e: JetfaceEvent) => void): unknown };
  /** An {@link EventPublisher}: connection, outbox depth, published, dropped, reconnects. */
  publisher?: { stats(): PublisherStats };
  /** A {@link CommandChannel}: received, executed, refused by reason. */
  commands?: { stats(): CommandStats };
  /** A gallery: enrolled people (`size`, or `listPeople().length`). */
  gallery?: { readonly size: number } | { listPeople(): readonly unknown[] };
  /** Sources read outside a pipeline (a pipeline's own sources are in its stats). */
  sources?: readonly FrameSource[];
}

/** Options of {@link DeviceMetrics.serve}. */
export interface MetricsServeOptions {
  /**
   * Default `127.0.0.1` (this machine only, as the configuration's `metrics.host`): the endpoint
   * has no authentication. `0.0.0.0` lets a Prometheus on another machine scrape it.
   */
  host?: string;
  /** Default 9464 (the Prometheus exporter convention); 0 picks a free port. */
  port?: number;
  /** Default `/metrics`. */
  path?: string;
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** e.g. `http://127.0.0.1:9464/metrics`. */
  url: string;
  close(): Promise<void>;
}

/**
 * The metric names, for dashboards and alerts (see docs/observability.md).
 *
 * @example
 * ```ts
 * const alert = `${METRIC_NAMES.cameraUp} == 0`; // 'jetface_camera_up == 0'
 * ```
 */
export const METRIC_NAMES = {
  cameraUp: 'jetface_camera_up',
  frames: 'jetface_camera_frames_total',
  fps: 'jetface_camera_fps',
  framesDropped: 'jetface_camera_frames_dropped_total',
  framesSkipped: 'jetface_camera_frames_skipped_total',
  cameraReconnects: 'jetface_camera_reconnects_total',
  cameraErrors: 'jetface_camera_errors_total',
  faces: 'jetface_faces_total',
  inferenceMedian: 'jetface_inference_ms_median',
  inference: 'jetface_inference_seconds',
  frameErrors: 'jetface_frame_errors_total',
  sinkErrors: 'jetface_sink_errors_total',
  sinkDrops: 'jetface_sink_drops_total',
  events: 'jetface_events_total',
  mqttConnected: 'jetface_mqtt_connected',
  outboxDepth: 'jetface_outbox_depth',
  outboxBytes: 'jetface_outbox_bytes',
  published: 'jetface_events_published_total',
  outboxDropped: 'jetface_outbox_dropped_total',
  mqttReconnects: 'jetface_mqtt_reconnects_total',
  commandsReceived: 'jetface_commands_received_total',
  commandsExecuted: 'jetface_commands_executed_total',
  commandsFailed: 'jetface_commands_failed_total',
  commandsRefused: 'jetface_commands_refused_total',
  galleryPeople: 'jetface_gallery_people',
} as const;

type CameraRow = { camera: string; source: PipelineCameraStats['source']; pipeline?: PipelineCameraStats };

/**
 * A device's metrics registry. Create one per device, `observe()` its parts, `serve()` it.
 *
 * @example
 * ```ts
 * const metrics = createMetrics();
 * metrics.observe({ pipeline, publisher, gallery });
 * const server = await metrics.serve({ port: 9464 }); // Prometheus scrapes server.url
 * // ...
 * await server.close();
 * metrics.close();
 * ```
 */
export interface DeviceMetrics {
  readonly registry: Registry;
  /** Reads these parts at every scrape; call again for more parts. Returns a function that stops observing them. */
  observe(parts: ObservedParts): () => void;
  /** An engine whose `detect` times each call into `jetface_inference_seconds{camera}`; give it to the pipeline instead of the engine. */
  timeEngine<E extends { detect(frame: Frame): Promise<Face[]> }>(engine: E): { detect(frame: Frame): Promise<Face[]> };
  /** The exposition text (what the endpoint serves). */
  text(): Promise<string>;
  /** Serves the registry over HTTP; rejects with `InvalidArgumentError` naming the port when it cannot listen. */
  serve(options?: MetricsServeOptions): Promise<MetricsServer>;
  /** Stops observing everything (servers are closed by their own `close`). */
  close(): void;
}

/**
 * Creates a device's metrics registry, with the process metrics (`process_*`, `nodejs_*`).
 *
 * @example
 * ```ts
 * const metrics = createMetrics({ labels: { device: 'jetson-1' } });
 * metrics.observe({ pipeline });
 * console.log(await metrics.text());
 * ```
 */
export function createMetrics(options: { labels?: Record<string, string>; processMetrics?: boolean } = {}): DeviceMetrics {
  const registry = new Registry();
  if (options.labels) registry.setDefaultLabels(options.labels);
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const observed = new Set<ObservedParts>();
  const detaches = new Set<() => void>();
  const all = <K extends keyof ObservedParts>(key: K): NonNullable<ObservedParts[K]>[] => [...observed].flatMap((p) => (p[key] === undefined ? [] : [p[key]!]));

  const cameras = (): CameraRow[] => [
    ...all('pipeline').flatMap((p) => p.stats().map((s) => ({ camera: s.camera, source: s.source, pipeline: s }))),
    ...all('sources').flatMap((list) => list.map((s) => ({ camera: s.cameraId, source: s.stats() }))),
  ];
  const r = [registry];
  const cam = ['camera'];
  // Counters read from stats are set, not incremented: reset() then inc(value) at each scrape.
  const fromStats = (name: string, help: string, value: (row: CameraRow) => number | undefined, labelNames = cam) =>
    new Counter({
      name, help, labelNames, registers: r,
      collect() {
        this.reset();
        for (const row of cameras()) {
          const v = value(row);
          if (v !== undefined) this.inc({ camera: row.camera }, v);
        }
      },
    });
  const gaugeFromCameras = (name: string, help: string, value: (row: CameraRow) => number | undefined) =>
    new Gauge({
      name, help, labelNames: cam, registers: r,
      collect() {
        this.reset();
        for (const row of cameras()) {
          const v = value(row);
          if (v !== undefined) this.set({ camera: row.camera }, v);
        }
      },
    });
  const total = <T>(name: string, help: string, parts: () => T[], value: (s: T) => number, kind: 'counter' | 'gauge') => {
    const collect = function (this: Counter | Gauge) {
      this.reset();
      const list = parts();
      if (list.length === 0) return;
      const sum = list.reduce((a, s) => a + value(s), 0);
      if (this instanceof Counter) this.inc(sum);
      else this.set(sum);
    };
    return kind === 'counter' ? new Counter({ name, help, registers: r, collect }) : new Gauge({ name, help, registers: r, collect });
  };

  const N = METRIC_NAMES;
  gaugeFromCameras(N.cameraUp, 'Whether the camera delivers frames (source state online)', (c) => (c.source ? (c.source.state === 'online' ? 1 : 0) : 0));
  fromStats(N.frames, 'Frames processed (pipeline) or read (a source observed alone)', (c) => c.pipeline?.frames ?? c.source?.framesRead);
  gaugeFromCameras(N.fps, 'Frames read per second over the last two seconds', (c) => c.source?.fps);
  fromStats(N.framesDropped, 'Frames replaced by newer ones because processing was slower than the camera', (c) => c.source?.framesDropped);
  fromStats(N.framesSkipped, 'Frames discarded by the maxFps cap', (c) => c.source?.framesSkipped);
  fromStats(N.cameraReconnects, 'Camera sessions started after a failure or an end of a live stream', (c) => c.source?.reconnects);
  fromStats(N.cameraErrors, 'Non-fatal camera errors (failed attempts, undecodable images)', (c) => c.source?.errors);
  fromStats(N.faces, 'Faces found by the engine', (c) => c.pipeline?.faces);
  gaugeFromCameras(N.inferenceMedian, 'Median engine.detect wall time over the last 512 frames, milliseconds', (c) => c.pipeline?.detectMsMedian ?? undefined);
  fromStats(N.frameErrors, 'Frames whose detection or tracking failed', (c) => c.pipeline?.frameErrors);
  fromStats(N.sinkErrors, 'Event deliveries a sink refused or failed', (c) => c.pipeline?.sinkErrors);
  fromStats(N.sinkDrops, 'Events dropped because a sink had too many pending', (c) => c.pipeline?.sinkDrops);
  const events = new Counter({ name: N.events, help: 'Events created by the pipeline, by camera and type', labelNames: ['camera', 'type'], registers: r });
  const inference = new Histogram({
    name: N.inference, help: 'engine.detect wall time per frame (engines wrapped with timeEngine)', labelNames: cam, registers: r,
    buckets: [0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5],
  });

  // Registered on first use: an unlabelled metric always shows a sample (0), which would claim,
  // say, an MQTT connection down on a device that has no publisher.
  const groups = {
    publisher: () => {
      const pubs = () => all('publisher').map((p) => p.stats());
      total(N.mqttConnected, 'Whether the event publisher is connected to the broker', pubs, (s) => (s.connected ? 1 : 0), 'gauge');
      total(N.outboxDepth, 'Events waiting in the durable outbox (unacknowledged ones included)', pubs, (s) => s.outboxDepth, 'gauge');
      total(N.outboxBytes, 'Bytes of the outbox journal', pubs, (s) => s.outboxBytes, 'gauge');
      total(N.published, 'Events acknowledged by the broker', pubs, (s) => s.published, 'counter');
      total(N.outboxDropped, 'Events dropped from the outbox because a bound was reached', pubs, (s) => s.dropped, 'counter');
      total(N.mqttReconnects, 'MQTT connections made after the first', pubs, (s) => s.reconnects, 'counter');
    },
    commands: () => {
      const cmds = () => all('commands').map((c) => c.stats());
      total(N.commandsReceived, 'Remote commands received', cmds, (s) => s.received, 'counter');
      total(N.commandsExecuted, 'Remote commands executed', cmds, (s) => s.executed, 'counter');
      total(N.commandsFailed, 'Remote commands whose handler failed', cmds, (s) => s.failed, 'counter');
      new Counter({
        name: N.commandsRefused, help: 'Remote commands refused, by reason', labelNames: ['reason'], registers: r,
        collect() {
          this.reset();
          for (const s of cmds()) for (const [reason, n] of Object.entries(s.refusedBy)) this.inc({ reason }, n);
        },
      });
    },
    gallery: () => total(N.galleryPeople, 'People enrolled in the gallery', () => all('gallery'), (g) => ('size' in g ? g.size : g.listPeople().length), 'gauge'),
  };
  const registered = new Set<keyof typeof groups>();

  const metrics: DeviceMetrics = {
    registry,
    observe(parts) {
      if (typeof parts !== 'object' || parts === null) throw new InvalidArgumentError('parts', 'an object of { pipeline?, publisher?, commands?, gallery?, sources? }', parts);
      const entry = { ...parts };
      observed.add(entry);
      for (const key of Object.keys(groups) as (keyof typeof groups)[]) {
        if (entry[key] === undefined || registered.has(key)) continue;
        registered.add(key);
        groups[key]();
      }
      const onEvent = (e: JetfaceEvent): void => void events.inc({ camera: e.camera, type: e.type });
      entry.pipeline?.on('event', onEvent);
      const detach = (): void => {
        observed.delete(entry);
        entry.pipeline?.off('event', onEvent);
        detaches.delete(detach);
      };
      detaches.add(detach);
      return detach;
    },
    timeEngine(engine) {
      return {
        async detect(frame: Frame): Promise<Face[]> {
          const t0 = performance.now();
          const faces = await engine.detect(frame);
          inference.observe({ camera: frame.cameraId ?? 'unknown' }, (performance.now() - t0) / 1000);
          return faces;
        },
      };
    },
    text: () => registry.metrics(),
    serve: (serveOptions = {}) => serveRegistry(registry, serveOptions),
    close() {
      for (const detach of [...detaches]) detach();
    },
  };
  return metrics;
}

async function serveRegistry(registry: Registry, o: MetricsServeOptions): Promise<MetricsServer> {
  const host = o.host ?? '127.0.0.1';
  const port = o.port ?? 9464;
  const path = o.path ?? '/metrics';
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new InvalidArgumentError('metrics.port', 'an integer in 0..65535', port);
  if (typeof path !== 'string' || !path.startsWith('/')) throw new InvalidArgumentError('metrics.path', "a path starting with '/'", path);
  const server: Server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || url !== path) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found; metrics are at ${path}\n`);
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${errorMessage(error)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new InvalidArgumentError('metrics.port', `a port free to listen on at ${host} (${error.code ?? errorMessage(error)}); pick another or 0`, port)),
    );
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${actual}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
