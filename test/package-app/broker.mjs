// The SDK's embedded MQTT broker for the examples: prints its URL, runs until SIGTERM. A device
// "probe" announces itself (retained status), so a subscriber that prints it is known to be subscribed.
import { join } from 'node:path';
import { EventPublisher, startEmbeddedBroker } from 'jetface';

const broker = await startEmbeddedBroker({ port: 0 });
const probe = await EventPublisher.create({ url: broker.url, device: 'probe', outbox: join(process.argv[2], 'probe-outbox.jsonl') });
console.log(`broker ${broker.url}`);
process.once('SIGTERM', () => void probe.close().then(() => broker.close()));
