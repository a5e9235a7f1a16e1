/**
 * A door-access device app: one camera at the door, the enrolled people of a SQLite gallery, and
 * an unlock action for people on an allow-list, with a cooldown. Events still go to MQTT (through
 * the durable outbox) for the backend, and the device exposes metrics and JSON logs.
 *
 *   npx tsx examples/door-access.ts --camera /dev/video0 --gallery /var/lib/jetface/gallery.db \
 *     --allow ada,grace --unlock-command "gpioset gpiochip0 17=1"
 *
 * Enroll people first (`jetface enroll`, or the SDK's SqliteGallery). The gallery names a person
 * only when the best match clears the threshold **and** leads the runner-up by the gallery's
 * margin; on top of that the door opens only above a stricter similarity, for a track whose
 * identity the tracker's vote has settled on. That unlock similarity defaults to
 * max(0.8, the bundle's match threshold + 0.05): at or below the gallery's own threshold (0.73 for
 * jetface-s) the stricter check would let through everyone the gallery names.
 */
import { execFile } from 'node:child_process';
import { parseArgs } from 'node:util';
import {
  EventPublisher,
  FaceEngine,
  Pipeline,
  SqliteGallery,
  attachLogging,
  createLogger,
  createMetrics,
  embeddingSpaceId,
  errorMessage,
  type JetfaceEvent,
  type Logger,
} from 'jetface';

const { values: args } = parseArgs({
  options: {
    bundle: { type: 'string', default: 'models/jetface-s' },
    camera: { type: 'string', default: '/dev/video0' },
    gallery: { type: 'string', default: 'gallery.db' },
    device: { type: 'string', default: 'door-1' },
    mqtt: { type: 'string', default: 'mqtt://localhost:1883' },
    outbox: { type: 'string', default: 'door-1.outbox.jsonl' },
    allow: { type: 'string', default: '' }, // person ids; empty: every enrolled person
    'unlock-similarity': { type: 'string' }, // default: above the bundle's match threshold (see unlockSimilarity)
    'cooldown-ms': { type: 'string', default: '10000' },
    'unlock-command': { type: 'string' }, // e.g. a GPIO relay; without it the unlock is only logged
    'metrics-port': { type: 'string', default: '9464' },
  },
});

/** Opens the door at most once per cooldown, for allowed people recognized firmly enough. */
class DoorController {
  private lastUnlock = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly log: Logger,
    private readonly allowed: ReadonlySet<string>,
    private readonly minSimilarity: number,
    private readonly cooldownMs: number,
    private readonly command: string | undefined,
  ) {}

  /** Called for every pipeline event; only recognitions (and identity updates) of named people count. */
  onEvent(event: JetfaceEvent): void {
    if (event.type !== 'recognition' && event.type !== 'recognition_update') return;
    const who = event.identity;
    if (!who) return; // unknown or ambiguous (within the gallery's margin of someone else)
    if (this.allowed.size > 0 && !this.allowed.has(who.personId)) {
      this.log.warn({ camera: event.camera, personId: who.personId }, 'recognized, not on the allow-list');
      return;
    }
    if ((event.similarity ?? -1) < this.minSimilarity) {
      this.log.info({ camera: event.camera, personId: who.personId, similarity: event.similarity }, 'recognized below the unlock similarity');
      return;
    }
    const now = Date.now();
    if (now - this.lastUnlock < this.cooldownMs) return; // the door is already open for this visit
    this.lastUnlock = now;
    this.unlock(who.personId, event.camera);
  }

  private unlock(personId: string, camera: string): void {
    this.log.info({ camera, personId }, 'door unlocked');
    if (!this.command) return;
    const [file, ...argv] = this.command.split(' ').filter(Boolean);
    execFile(file!, argv, { timeout: 5000 }, (error) => {
      if (error) this.log.error({ camera, personId, err: { message: error.message } }, 'unlock command failed');
    });
  }
}

/** The stricter similarity for the door: given, else a margin above the gallery's match threshold (never below 0.8). */
function unlockSimilarity(matchThreshold: number): number {
  const given = args['unlock-similarity'];
  return given !== undefined ? Number(given) : Math.max(0.8, matchThreshold + 0.05);
}

/** What was opened, closed in reverse order: on stop, and on a start that fails half way (port in use, ...). */
class Parts {
  private readonly closers: (() => Promise<void> | void)[] = [];

  add(close: () => Promise<void> | void): void {
    this.closers.push(close);
  }

  async closeAll(log: Logger): Promise<void> {
    for (const close of this.closers.splice(0).reverse()) {
      try {
        await close();
      } catch (error) {
        log.warn({ err: { message: errorMessage(error) } }, 'closing a part failed');
      }
    }
  }
}

async function main(): Promise<void> {
  const log = createLogger({ level: 'info', format: 'json', base: { device: args.device } });
  const parts = new Parts();
  let pipeline: Pipeline;
  try {
    pipeline = await start(log, parts);
  } catch (error) {
    // Left open, the engine's worker and the publisher's reconnect timers would keep the process alive.
    await parts.closeAll(log);
    throw error;
  }
  let stopping: Promise<void> | undefined;
  // Once, whether a signal or the end of the stream comes first.
  const stop = (): Promise<void> => (stopping ??= parts.closeAll(log));
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  await pipeline.finished();
  await stop();
}

/** Opens every part, registering each in `parts` as soon as it is open, and starts the camera. */
async function start(log: Logger, parts: Parts): Promise<Pipeline> {
  const engine = await FaceEngine.create(args.bundle!);
  parts.add(() => engine.close());
  log.info({ provider: engine.info.provider, model: engine.info.modelId }, 'engine ready');
  // The gallery holds embeddings per model: open it for this bundle's embedding space.
  const threshold = engine.manifest.thresholds.match;
  const gallery = SqliteGallery.open(args.gallery!, { modelId: embeddingSpaceId(engine.manifest), threshold, margin: 0.05 });
  parts.add(() => gallery.close());
  const publisher = await EventPublisher.create({ url: args.mqtt!, device: args.device!, outbox: args.outbox! });
  // Logging is detached after the publisher closes (closers run in reverse): its last connection errors are logged.
  parts.add(attachLogging(log, { publisher }));
  parts.add(() => publisher.close());
  const pipeline = await Pipeline.create({
    engine,
    gallery,
    device: args.device!,
    sinks: [publisher],
    cameras: [{ id: 'door', source: args.camera!, sourceOptions: { maxFps: 10 } }],
  });

  const allowed = new Set(args.allow!.split(',').map((s) => s.trim()).filter(Boolean));
  const minSimilarity = unlockSimilarity(threshold);
  const door = new DoorController(log.child({ component: 'door' }), allowed, minSimilarity, Number(args['cooldown-ms']), args['unlock-command']);
  pipeline.on('event', (e) => door.onEvent(e));

  const metrics = createMetrics({ labels: { device: args.device! } });
  parts.add(() => metrics.close());
  metrics.observe({ pipeline, publisher, gallery });
  const server = await metrics.serve({ port: Number(args['metrics-port']) });
  parts.add(() => server.close());
  // Detached after the pipeline stops (closers run in reverse), so its last events are logged.
  parts.add(attachLogging(log, { pipeline }));
  log.info({ metrics: server.url, people: gallery.size, allowed: [...allowed], unlockSimilarity: minSimilarity, matchThreshold: threshold }, 'door access running');

  parts.add(() => pipeline.stop());
  await pipeline.start();
  return pipeline;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
