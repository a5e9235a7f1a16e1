/**
 * The publishing process of `check:outage` (a child of scripts/check-outage.ts): an
 * EventPublisher whose broker connection comes from JETFACE_MQTT_* variables and whose outbox
 * is JETFACE_OUTBOX. It journals each event the parent sends over IPC and answers `stored` once
 * the event is on disk; the parent may SIGKILL it at any moment and start another.
 */
import { EventPublisher } from '../sdk/mqtt/publisher';
import type { JetfaceEvent } from '../sdk/events/types';

export type ToPublisher = { type: 'event'; event: JetfaceEvent } | { type: 'stats' } | { type: 'close' };
export type FromPublisher =
  | { type: 'ready'; replaying: number }
  | { type: 'stored'; id: string }
  | { type: 'stats'; outboxDepth: number; published: number; dropped: number; connected: boolean }
  | { type: 'failed'; message: string };

function send(message: FromPublisher): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const outbox = process.env['JETFACE_OUTBOX'];
  const device = process.env['JETFACE_DEVICE'] ?? 'outage-check';
  if (!outbox || !process.send) throw new Error('run by scripts/check-outage.ts (needs JETFACE_OUTBOX and an IPC channel)');
  const publisher = await EventPublisher.create({ device, outbox, backoff: { initialMs: 200, maxMs: 1000 }, connectTimeoutMs: 3000 });
  process.on('message', (message: ToPublisher) => {
    if (message.type === 'event') {
      publisher.publish(message.event).then(
        () => send({ type: 'stored', id: message.event.id }),
        (error: unknown) => send({ type: 'failed', message: String(error) }),
      );
    } else if (message.type === 'stats') {
      const s = publisher.stats();
      send({ type: 'stats', outboxDepth: s.outboxDepth, published: s.published, dropped: s.dropped, connected: s.connected });
    } else {
      void publisher.close().then(() => process.exit(0));
    }
  });
  send({ type: 'ready', replaying: publisher.stats().outboxDepth });
}

main().catch((error: unknown) => {
  send({ type: 'failed', message: String(error) });
  process.exit(1);
});
