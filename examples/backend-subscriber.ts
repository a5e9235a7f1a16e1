/**
 * A backend that follows every jetface device on a broker: recognitions as they happen, and which
 * devices are online (from their retained status topics and last wills).
 *
 *   npx tsx examples/backend-subscriber.ts mqtt://broker.local:1883 [SHARE_GROUP]
 *
 * Delivery is at least once (QoS 1 through each device's outbox): the subscriber drops duplicates
 * by event id, so each event below is handled once. With a SHARE_GROUP, several copies of this
 * process split the events between them (MQTT shared subscriptions), e.g. to scale a backend.
 */
import { JetfaceSubscriber, type DeviceStatus, type JetfaceEvent } from 'jetface';

/** Per device: online or not, since when, and what it saw last. */
interface DevicePresence {
  status: DeviceStatus['status'];
  since: string;
  lastEvent: string | null;
}

const presence = new Map<string, DevicePresence>();

function onStatus(s: DeviceStatus): void {
  const previous = presence.get(s.device);
  if (previous?.status === s.status) return;
  presence.set(s.device, { status: s.status, since: new Date().toISOString(), lastEvent: previous?.lastEvent ?? null });
  console.log(`${s.device} is ${s.status}`);
}

function handle(event: JetfaceEvent): void {
  const device = presence.get(event.device) ?? { status: 'online', since: event.time, lastEvent: null };
  presence.set(event.device, { ...device, lastEvent: event.time });
  const where = `${event.device}/${event.camera}`;
  switch (event.type) {
    case 'recognition':
      console.log(`${event.time} ${where}: ${event.identity ? `${event.identity.name} (${event.similarity?.toFixed(2)})` : 'unknown person'} [${event.trackId}]`);
      break;
    case 'recognition_update':
      console.log(`${event.time} ${where}: track ${event.trackId} is now ${event.identity?.name ?? 'unknown'} (was ${event.previousIdentity?.name ?? 'unknown'})`);
      break;
    case 'track_ended':
      console.log(`${event.time} ${where}: ${event.identity?.name ?? 'unknown'} left after ${event.frames} frames`);
      break;
    case 'camera_offline':
      console.warn(`${event.time} ${where}: camera offline (${event.reason})`);
      break;
    case 'error':
      console.warn(`${event.time} ${where}: ${event.error.code} ${event.error.message}`);
      break;
    default:
      break;
  }
}

async function main(url: string, shareGroup: string | undefined): Promise<void> {
  const subscriber = await JetfaceSubscriber.create({
    url,
    ...(shareGroup ? { shareGroup, clientId: `backend-${shareGroup}-${process.pid}` } : {}),
    types: ['recognition', 'recognition_update', 'track_ended', 'camera_offline', 'error'],
  });
  subscriber.on('status', onStatus);
  subscriber.on('invalid', (m) => console.warn(`ignored a bad message on ${m.topic}: ${m.reason}`));
  subscriber.on('error', (e) => console.warn(`subscriber: ${e.code} ${e.message}`));
  const report = setInterval(() => {
    const online = [...presence].filter(([, p]) => p.status === 'online').map(([d]) => d);
    const s = subscriber.stats();
    console.log(`devices online: ${online.join(', ') || 'none'}; events ${s.delivered}, duplicates dropped ${s.duplicates}, invalid ${s.invalid}`);
  }, 60_000);
  process.once('SIGINT', () => {
    clearInterval(report);
    void subscriber.close(); // ends the for-await loop below
  });
  for await (const event of subscriber) handle(event);
}

const [url = 'mqtt://localhost:1883', group] = process.argv.slice(2);
main(url, group).catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
