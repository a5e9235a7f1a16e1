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
 * identity the tracker's vote has settled on.
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
    'unlock-similarity': { type: 'string', default: '0.5' },
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

async function main(): Promise<void> {
  const log = createLogger({ level: 'info', format: 'json', base: { device: args.device } });
  const engine = await FaceEngine.create(args.bundle!);
  log.info({ provider: engine.info.provider, model: engine.info.modelId }, 'engine ready');
  // The gallery holds embeddings per model: open it for this bundle's embedding space.
  const gallery = SqliteGallery.open(args.gallery!, { modelId: embeddingSpaceId(engine.manifest), threshold: engine.manifest.thresholds.match, margin: 0.05 });
  const publisher = await EventPublisher.create({ url: args.mqtt!, device: args.device!, outbox: args.outbox! });
  const pipeline = await Pipeline.create({
    engine,
    gallery,
    device: args.device!,
    sinks: [publisher],
    cameras: [{ id: 'door', source: args.camera!, sourceOptions: { maxFps: 10 } }],
  });

  const allowed = new Set(args.allow!.split(',').map((s) => s.trim()).filter(Boolean));
  const door = new DoorController(log.child({ component: 'door' }), allowed, Number(args['unlock-similarity']), Number(args['cooldown-ms']), args['unlock-command']);
  pipeline.on('event', (e) => door.onEvent(e));

  const metrics = createMetrics({ labels: { device: args.device! } });
  metrics.observe({ pipeline, publisher, gallery });
  const server = await metrics.serve({ port: Number(args['metrics-port']) });
  const detach = attachLogging(log, { pipeline, publisher });
  log.info({ metrics: server.url, people: gallery.listPeople().length, allowed: [...allowed] }, 'door access running');

  await pipeline.start();
  let stopping: Promise<void> | undefined;
  // Once, whether a signal or the end of the stream comes first.
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await pipeline.stop();
      detach();
      metrics.close();
      await server.close();
      await publisher.close();
      gallery.close();
      await engine.close();
    })());
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  await pipeline.finished();
  await stop();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
