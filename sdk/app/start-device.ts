/**
 * The device runtime behind `jetface run`: one validated {@link DeviceConfig} → the engine, the
 * gallery, the broker (configured or embedded), the event publisher with its outbox, the cameras'
 * pipeline, and the optional command channel, metrics endpoint, logs and Home Assistant sensors.
 * Every part opened is closed on `stop()`, and on a start that fails half way.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FrameSource } from '../capture/types';
import type { DeviceConfig } from '../config/schema';
import { FaceEngine } from '../engine/face-engine';
import type { ExecutionProviderName } from '../engine/providers';
import type { TensorRtChoice } from '../engine/tensorrt-options';
import { InvalidArgumentError, errorMessage } from '../errors';
import type { EventSink } from '../events/sink';
import { galleryCommandHandlers } from '../gallery/commands';
import type { Gallery } from '../gallery/types';
import { CommandChannel, type CommandStats } from '../mqtt/commands';
import { DeviceReporter } from '../mqtt/device-report';
import { startEmbeddedBroker } from '../mqtt/embedded-broker';
import { HomeAssistantDiscovery } from '../mqtt/home-assistant';
import { EventPublisher, type PublisherStats } from '../mqtt/publisher';
import { attachLogging } from '../observability/attach-logging';
import { createLogger, type Logger } from '../observability/logger';
import { createMetrics } from '../observability/metrics';
import { Pipeline, type PipelineCameraStats } from '../pipeline/pipeline';
import type { TrackerOptions } from '../tracking/types';
import type { Face, Frame } from '../types';
import { startDeviceConsole, type ConsoleOverrides } from '../console/start-console';
import type { ConsoleServer } from '../console/server';
import { version } from '../../package.json';
import { cameraSourceSpec } from './camera-source';
import { readCommandKeys } from './command-keys';
import { mqttConnectionOptions } from './mqtt-connection';
import { openGallery } from './open-gallery';

/** Options of {@link startDevice}. */
export interface StartDeviceOptions {
  /** Aborting it stops the device (as `stop()`). */
  signal?: AbortSignal;
  /** The logger to use; default: one made from `config.logging`, on stdout. */
  log?: Logger;
  /** Where the configuration came from, for error messages. Default `configuration`. */
  source?: string;
  /** Opened frame sources to use instead of the configured ones, by camera id (tests, demos, apps with their own capture). */
  sources?: Readonly<Record<string, FrameSource>>;
  /** Called with every frame's faces, after detection and before tracking (annotation, guest enrollment). Must not throw. */
  onFaces?: (frame: Frame, faces: readonly Face[]) => void;
  /** Start the device console even when `console.enabled` is false, with these settings over the configuration's (the demo). */
  console?: ConsoleOverrides;
}

/** Counters of a running device. */
export interface DeviceStats {
  cameras: PipelineCameraStats[];
  publisher: PublisherStats;
  commands: CommandStats | null;
  galleryPeople: number;
}

/** A running device. */
export interface DeviceHandle {
  readonly config: DeviceConfig;
  readonly engine: FaceEngine;
  readonly gallery: Gallery;
  readonly pipeline: Pipeline;
  readonly publisher: EventPublisher;
  /** The broker the device publishes to (the embedded one's `mqtt://127.0.0.1:<port>`), without credentials. */
  readonly brokerUrl: string;
  /** The metrics endpoint, when enabled. */
  readonly metricsUrl: string | null;
  /** The device console, when started (`console.enabled`, or `options.console`). */
  readonly console: ConsoleServer | null;
  readonly log: Logger;
  /** Resolves when every camera's loop has ended (files and folders at their end) and the sinks have every event. */
  finished(): Promise<void>;
  stats(): DeviceStats;
  /** Stops the cameras (open tracks end), flushes events to the broker (up to 5 s), closes every part. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts a device from its configuration.
 *
 * @example
 * ```ts
 * const config = await loadDeviceConfig('device.yaml');
 * const device = await startDevice(config);
 * process.once('SIGINT', () => void device.stop());
 * console.log(device.brokerUrl, device.stats().cameras);
 * ```
 */
export async function startDevice(config: DeviceConfig, options: StartDeviceOptions = {}): Promise<DeviceHandle> {
  const source = options.source ?? 'configuration';
  const device = config.device.id;
  for (const id of Object.keys(options.sources ?? {})) {
    if (!config.cameras.some((c) => c.id === id)) throw new InvalidArgumentError(`options.sources.${id}`, `a configured camera id (${config.cameras.map((c) => c.id).join(', ')})`, id);
  }
  const log = options.log ?? createLogger({ level: config.logging.level, format: config.logging.format, base: { device } });
  const closers: { name: string; close: () => Promise<void> | void }[] = [];
  const closeAll = async (): Promise<void> => {
    for (const { name, close } of closers.splice(0).reverse()) {
      try {
        await close();
      } catch (error) {
        log.warn({ component: 'app', part: name, err: errorMessage(error) }, 'closing a part failed');
      }
    }
  };

  try {
    const engine = await FaceEngine.create(config.model.bundle, {
      providers: config.model.providers as ExecutionProviderName[],
      threads: config.model.threads,
      inputSize: config.model.inputSize,
      ...(config.model.minScore !== undefined ? { minScore: config.model.minScore } : {}),
      // zod leaves absent optional keys absent, so these casts only drop `| undefined` from the types.
      ...(config.model.tensorrt ? { tensorrt: config.model.tensorrt as TensorRtChoice & { cacheRoot?: string } } : {}),
    });
    closers.push({ name: 'engine', close: () => engine.close() });
    log.info({ component: 'app', provider: engine.info.provider, model: engine.info.modelId }, 'engine ready');

    const gallery = await openGallery(config, engine.manifest);
    closers.push({ name: 'gallery', close: () => gallery.close() });

    let brokerUrl: string;
    if (config.mqtt.embedded) {
      const broker = await startEmbeddedBroker({ port: config.mqtt.embeddedPort, host: config.mqtt.embeddedHost });
      closers.push({ name: 'broker', close: () => broker.close() });
      brokerUrl = broker.url;
      log.info({ component: 'app', url: brokerUrl }, 'embedded MQTT broker listening');
    } else brokerUrl = config.mqtt.url!;
    const connection = await mqttConnectionOptions(config, brokerUrl, source);
    brokerUrl = withoutCredentials(brokerUrl);

    await mkdir(config.outbox.dir, { recursive: true });
    const publisher = await EventPublisher.create({
      ...connection,
      device,
      prefix: config.mqtt.topicPrefix,
      includeFaceImages: config.privacy.faceImages,
      outbox: { path: join(config.outbox.dir, `${device}.outbox.jsonl`), maxEvents: config.outbox.maxEvents, maxBytes: config.outbox.maxBytes },
    });
    // Detached after the publisher closes (closers run in reverse), so its final flush and disconnect are logged.
    let detachLogging: (() => void) | undefined;
    closers.push({ name: 'logging', close: () => detachLogging?.() });
    // Close after the pipeline's last events: flush (bounded), then disconnect.
    closers.push({
      name: 'publisher',
      close: async () => {
        // With the broker unreachable there is nothing to wait for: the outbox keeps the events for the next run.
        if (publisher.stats().connected) await publisher.flush(5000).catch(() => undefined);
        const left = publisher.stats().outboxDepth;
        if (left > 0) log.warn({ component: 'publisher', outboxDepth: left }, 'events left in the outbox for the next run');
        await publisher.close();
      },
    });
    const sinks: EventSink[] = [publisher];

    if (config.homeAssistant.enabled) {
      const ha = await HomeAssistantDiscovery.create({ ...connection, device, cameras: config.cameras.map((c) => c.id), prefix: config.mqtt.topicPrefix, discoveryPrefix: config.homeAssistant.discoveryPrefix });
      closers.push({ name: 'homeAssistant', close: () => ha.close() });
      sinks.push(ha);
    }

    let commands: CommandChannel | null = null;
    if (config.commands.enabled) {
      const keys = await readCommandKeys(config.commands, source);
      commands = await CommandChannel.create({
        ...connection,
        device,
        prefix: config.mqtt.topicPrefix,
        ...keys,
        maxSkewMs: config.commands.maxSkewMs,
        maxPayloadBytes: config.commands.maxPayloadBytes,
        // A device boots with its broker down (events wait in the outbox): the channel subscribes once it is up.
        waitForConnectionMs: config.mqtt.embedded ? 10_000 : 0,
        handlers: galleryCommandHandlers({ gallery, engine, maxImages: config.commands.maxImages }),
      });
      const channel = commands;
      closers.push({ name: 'commands', close: () => channel.close() });
    }

    const metrics = config.metrics.enabled ? createMetrics({ labels: { device } }) : null;
    let metricsUrl: string | null = null;
    if (metrics) {
      closers.push({ name: 'metrics', close: () => metrics.close() });
      const server = await metrics.serve({ host: config.metrics.host, port: config.metrics.port });
      closers.push({ name: 'metricsServer', close: () => server.close() });
      metricsUrl = server.url;
      log.info({ component: 'app', url: metricsUrl }, 'metrics endpoint listening');
    }

    const timed = metrics ? metrics.timeEngine(engine) : engine;
    const onFaces = options.onFaces;
    const detector = onFaces
      ? {
          detect: async (frame: Frame) => {
            const faces = await timed.detect(frame);
            onFaces(frame, faces);
            return faces;
          },
        }
      : timed;
    const pipeline = await Pipeline.create({
      engine: detector,
      gallery,
      sinks,
      device,
      trackerOptions: config.tracking as Omit<TrackerOptions, 'cameraId'>,
      cameras: config.cameras.map((camera) => ({ id: camera.id, source: options.sources?.[camera.id] ?? cameraSourceSpec(camera) })),
    });
    detachLogging = attachLogging(log, { pipeline, publisher, ...(commands ? { commands } : {}) });
    const unobserve = metrics?.observe({ pipeline, publisher, gallery, ...(commands ? { commands } : {}) });
    if (unobserve) closers.push({ name: 'metricsObserve', close: unobserve });
    if (config.mqtt.reportSeconds > 0) {
      const reporter = await DeviceReporter.create({
        ...connection,
        device,
        prefix: config.mqtt.topicPrefix,
        intervalSeconds: config.mqtt.reportSeconds,
        collect: () => ({
          versions: { jetface: version },
          model: { modelId: engine.info.modelId, kind: engine.info.kind, precision: engine.info.precision, provider: engine.info.provider },
          galleryPeople: gallery.size,
          commands: commands !== null,
          cameras: pipeline.stats().map((s) => ({ id: s.camera, state: s.state, fps: Math.round((s.source?.fps ?? 0) * 10) / 10, frames: s.frames, faces: s.faces })),
        }),
      });
      // Closed after the pipeline (closers run in reverse): its last report shows the cameras stopped.
      closers.push({ name: 'report', close: () => reporter.close() });
    }
    // Stopped first: its last events (track_ended, camera_offline) still reach the sinks and the logs.
    closers.push({ name: 'pipeline', close: () => pipeline.stop() });
    // Started before the pipeline, so that it sees the first frames and events; closed before it.
    let consoleServer: ConsoleServer | null = null;
    if (config.console.enabled || options.console) {
      const started = await startDeviceConsole({ config, engine, gallery, pipeline, publisher, commands }, log, options.console ?? {}, source);
      closers.push({ name: 'console', close: () => started.close() });
      consoleServer = started.server;
      log.info({ component: 'app', url: consoleServer.url }, 'console listening');
    }
    await pipeline.start();
    log.info({ component: 'app', cameras: pipeline.cameras, broker: brokerUrl }, 'device started');

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        options.signal?.removeEventListener('abort', onAbort);
        await closeAll();
        log.info({ component: 'app' }, 'device stopped');
      })();
      return stopping;
    };
    const onAbort = (): void => void stop();
    if (options.signal?.aborted) await stop();
    else options.signal?.addEventListener('abort', onAbort, { once: true });

    const channel = commands;
    return {
      config,
      engine,
      gallery,
      pipeline,
      publisher,
      brokerUrl,
      metricsUrl,
      console: consoleServer,
      log,
      finished: () => pipeline.finished(),
      stats: () => ({ cameras: pipeline.stats(), publisher: publisher.stats(), commands: channel?.stats() ?? null, galleryPeople: gallery.size }),
      stop,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

function withoutCredentials(url: string): string {
  const u = new URL(url);
  if (!u.username && !u.password) return url;
  u.username = '';
  u.password = '';
  return u.toString().replace(/\/$/, '');
}
