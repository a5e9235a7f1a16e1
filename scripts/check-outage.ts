/**
 * `npm run -s check:outage`: the outbox's promise, end to end, against a real mosquitto.
 *
 * A stream of events from two cameras goes from a publishing child process through mosquitto
 * (TLS + password, persistence on) to a JetfaceSubscriber with a persistent session. Mid-stream
 * the broker is stopped for --outage-seconds (default 12) and restarted, and during the outage
 * (or, with --kill-while online, while connected) the publishing process is SIGKILLed and
 * started again on the same outbox file. The subscriber must receive every produced event
 * exactly once, in order per camera. The last line printed is
 *
 *   produced=N delivered=N lost=0 duplicated=0
 *
 * and the exit code is non-zero on any loss, duplication or reordering.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEvent } from '../sdk/events/create-event';
import type { EventDraft, JetfaceEvent } from '../sdk/events/types';
import { JetfaceSubscriber } from '../sdk/mqtt/subscriber';
import { MOSQUITTO_MISSING, findMosquitto, startMosquitto } from '../test/support/mosquitto';
import type { FromPublisher, ToPublisher } from './outage-publisher';

const CAMERAS = ['cam-a', 'cam-b'] as const;
const DEVICE = 'outage-check';

interface Plan {
  outageSeconds: number;
  killWhile: 'outage' | 'online';
  /** Milliseconds between two events (the cameras alternate). */
  intervalMs: number;
}

function parseArgs(argv: readonly string[]): Plan {
  const plan: Plan = { outageSeconds: 12, killWhile: 'outage', intervalMs: 40 };
  for (let i = 0; i < argv.length; i += 1) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--outage-seconds' && value) plan.outageSeconds = Number(value);
    else if (flag === '--kill-while' && (value === 'outage' || value === 'online')) plan.killWhile = value;
    else if (flag === '--interval-ms' && value) plan.intervalMs = Number(value);
    else continue;
    i += 1;
  }
  if (!(plan.outageSeconds >= 10)) throw new Error('--outage-seconds must be at least 10');
  return plan;
}

const started = Date.now();
function say(message: string): void {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${message}`);
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The publishing child: restartable, with a store() that survives its death by resending. */
class PublisherProcess {
  private child: ChildProcess | undefined;
  private ready: Promise<void> = Promise.resolve();
  private waiting: { event: JetfaceEvent; resolve: () => void } | undefined;
  private statsWaiter: ((s: Extract<FromPublisher, { type: 'stats' }>) => void) | undefined;
  starts = 0;

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  start(): void {
    this.starts += 1;
    // fork() reuses this process's execArgv, so the child runs under tsx like this script.
    const child = fork(join(__dirname, 'outage-publisher.ts'), [], { env: this.env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child = child;
    this.ready = new Promise((resolve, reject) => {
      child.on('message', (message: FromPublisher) => {
        if (message.type === 'ready') {
          say(`publisher process ${child.pid} up (${message.replaying} events waiting in its outbox)`);
          resolve();
          if (this.waiting) this.send({ type: 'event', event: this.waiting.event }); // its fate before the kill is unknown: send again, same id
        } else if (message.type === 'stored' && this.waiting?.event.id === message.id) {
          const { resolve: stored } = this.waiting;
          this.waiting = undefined;
          stored();
        } else if (message.type === 'stats') this.statsWaiter?.(message);
        else if (message.type === 'failed') {
          say(`publisher process failed: ${message.message}`);
          reject(new Error(`publisher process failed: ${message.message}`));
        }
      });
    });
  }

  kill(): void {
    say(`SIGKILL publisher process ${this.child?.pid}`);
    this.child?.kill('SIGKILL');
    this.child = undefined;
  }

  /** Resolves once the event is in the (current) publisher's outbox on disk. */
  async store(event: JetfaceEvent): Promise<void> {
    const stored = new Promise<void>((resolve) => (this.waiting = { event, resolve }));
    if (this.child) this.send({ type: 'event', event });
    await stored;
  }

  async stats(): Promise<Extract<FromPublisher, { type: 'stats' }>> {
    await this.ready;
    const answer = new Promise<Extract<FromPublisher, { type: 'stats' }>>((resolve) => (this.statsWaiter = resolve));
    this.send({ type: 'stats' });
    return answer;
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    this.send({ type: 'close' });
    await exited;
  }

  private send(message: ToPublisher): void {
    this.child?.send(message);
  }
}

async function main(): Promise<number> {
  const plan = parseArgs(process.argv.slice(2));
  if (!findMosquitto()) {
    console.error(`check:outage needs a real broker: ${MOSQUITTO_MISSING}`);
    return 2;
  }
  const broker = await startMosquitto({ users: { device: 'device-pass', backend: 'backend-pass' } });
  say(`mosquitto on ${broker.tlsUrl} (TLS, password, persistence)`);
  const subscriber = await JetfaceSubscriber.create({
    url: broker.tlsUrl,
    username: 'backend',
    password: 'backend-pass',
    tls: { caFile: broker.caFile },
    prefix: 'jetface',
    device: DEVICE,
    clientId: 'check-outage-backend',
    persistentSession: true,
    dedupSize: 100_000,
    backoff: { initialMs: 200, maxMs: 1000 },
  });
  const delivered = new Map<string, JetfaceEvent>();
  const deliveredOrder: Record<string, string[]> = Object.fromEntries(CAMERAS.map((c) => [c, []]));
  let duplicated = 0;
  subscriber.on('event', (event) => {
    if (delivered.has(event.id)) duplicated += 1;
    delivered.set(event.id, event);
    deliveredOrder[event.camera]?.push(event.id);
  });
  subscriber.on('invalid', (m) => say(`invalid message on ${m.topic}: ${m.reason}`));

  const publisher = new PublisherProcess({
    ...process.env,
    JETFACE_MQTT_URL: broker.tlsUrl,
    JETFACE_MQTT_USERNAME: 'device',
    JETFACE_MQTT_PASSWORD: 'device-pass',
    JETFACE_MQTT_CA_FILE: broker.caFile,
    JETFACE_OUTBOX: join(mkdtempSync(join(tmpdir(), 'jetface-outage-')), 'outbox.jsonl'),
    JETFACE_DEVICE: DEVICE,
  });
  publisher.start();

  const produced: JetfaceEvent[] = [];
  const producedOrder: Record<string, string[]> = Object.fromEntries(CAMERAS.map((c) => [c, []]));
  let producing = true;
  const producer = (async () => {
    const tracks: Record<string, number> = {};
    for (let n = 0; producing; n += 1) {
      const camera = CAMERAS[n % CAMERAS.length] ?? 'cam-a';
      const track = (tracks[camera] = (tracks[camera] ?? 0) + 1);
      const draft: EventDraft = { type: 'recognition', camera, trackId: `${camera}-${track}`, identity: { personId: `p${track % 7}`, name: `Person ${track % 7}` }, similarity: 0.5, box: [10, 10, 90, 110] };
      const event = createEvent(draft, DEVICE);
      await publisher.store(event);
      produced.push(event);
      producedOrder[camera]?.push(event.id);
      await sleep(plan.intervalMs);
    }
  })();

  const killAndRestart = async () => {
    publisher.kill();
    await sleep(1000);
    publisher.start();
  };
  await sleep(3000);
  if (plan.killWhile === 'online') await killAndRestart();
  await sleep(1000);
  say(`stopping mosquitto for ${plan.outageSeconds} s (produced so far: ${produced.length})`);
  await broker.stop();
  const outageStart = Date.now();
  if (plan.killWhile === 'outage') {
    await sleep((plan.outageSeconds * 1000) / 2);
    await killAndRestart();
  }
  await sleep(Math.max(0, plan.outageSeconds * 1000 - (Date.now() - outageStart)));
  await broker.start();
  say(`mosquitto restarted after ${((Date.now() - outageStart) / 1000).toFixed(1)} s down (produced so far: ${produced.length})`);
  await sleep(4000);
  producing = false;
  await producer;
  say(`stream stopped: ${produced.length} events produced; waiting for delivery`);

  const deadline = Date.now() + 60_000;
  for (;;) {
    const stats = await publisher.stats();
    const all = produced.every((e) => delivered.has(e.id));
    if ((stats.outboxDepth === 0 && all) || Date.now() > deadline) {
      say(`publisher: outbox ${stats.outboxDepth}, acknowledged ${stats.published} since its restart, dropped ${stats.dropped}; ${publisher.starts} starts`);
      break;
    }
    await sleep(250);
  }
  await sleep(500); // a late duplicate would arrive here
  await publisher.close();
  const subStats = subscriber.stats();
  await subscriber.close();
  await broker.close();
  say(`subscriber: received ${subStats.received}, redeliveries dropped by dedup ${subStats.duplicates}, invalid ${subStats.invalid}, reconnects ${subStats.reconnects}`);

  const lost = produced.filter((e) => !delivered.has(e.id)).length;
  const producedIds = new Set(produced.map((e) => e.id));
  const unexpected = [...delivered.keys()].filter((id) => !producedIds.has(id)).length;
  let outOfOrder = 0;
  for (const camera of CAMERAS) {
    const want = (producedOrder[camera] ?? []).filter((id) => delivered.has(id));
    const got = (deliveredOrder[camera] ?? []).filter((id) => producedIds.has(id));
    want.forEach((id, i) => (outOfOrder += got[i] === id ? 0 : 1));
  }
  if (outOfOrder > 0) say(`ORDER VIOLATED: ${outOfOrder} events out of per-camera order`);
  if (unexpected > 0) say(`UNEXPECTED: ${unexpected} delivered events were never produced`);
  const deliveredCount = produced.length - lost;
  console.log(`produced=${produced.length} delivered=${deliveredCount} lost=${lost} duplicated=${duplicated}`);
  return lost === 0 && duplicated === 0 && outOfOrder === 0 && unexpected === 0 && produced.length > 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`check:outage failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
