/** Publisher → broker → subscriber over the embedded aedes broker (real sockets, no mocks). */
import mqtt from 'mqtt';
import { join } from 'node:path';
import { BrokerAuthError, type JetfaceError } from '../sdk/errors';
import { createEvent } from '../sdk/events/create-event';
import type { JetfaceEvent, RecognitionEvent } from '../sdk/events/types';
import { startEmbeddedBroker, type EmbeddedBroker } from '../sdk/mqtt/embedded-broker';
import { EventPublisher } from '../sdk/mqtt/publisher';
import { JetfaceSubscriber, type DeviceStatus, type InvalidMessage } from '../sdk/mqtt/subscriber';
import { tempDir } from './support/data';
import { numberOf, numbered, oneOfEachType, until } from './support/events';
import { freePorts } from './support/mosquitto';

const fast = { backoff: { initialMs: 50, maxMs: 300 }, connectTimeoutMs: 2000 };

describe('MQTT events over the embedded aedes broker', () => {
  let broker: EmbeddedBroker;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    broker = await startEmbeddedBroker({ port: 0 });
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });
  afterAll(async () => {
    await broker.close();
  });

  async function publisher(outbox = join(tempDir(), 'outbox.jsonl'), extra: Partial<Parameters<typeof EventPublisher.create>[0]> = {}) {
    const p = await EventPublisher.create({ url: broker.url, device: 'jetson-1', outbox, ...fast, ...extra });
    closers.push(() => p.close());
    return p;
  }
  async function subscriber(extra: Parameters<typeof JetfaceSubscriber.create>[0] = {}) {
    const s = await JetfaceSubscriber.create({ url: broker.url, ...fast, ...extra });
    closers.push(() => s.close());
    return s;
  }

  it('delivers every event type, typed, to `for await` and to per-type listeners; status is retained online', async () => {
    const sub = await subscriber();
    const statuses: DeviceStatus[] = [];
    sub.on('status', (s) => statuses.push(s));
    const recognitions: RecognitionEvent[] = [];
    sub.on('recognition', (e) => recognitions.push(e));
    const deviceErrors: JetfaceEvent[] = [];
    sub.on('device_error', (e) => deviceErrors.push(e));
    // An iterator sees the events from its creation on: create it before publishing.
    const stream = sub[Symbol.asyncIterator]();
    const pub = await publisher();
    const sent: JetfaceEvent[] = [];
    for (const draft of oneOfEachType()) sent.push(await pub.publish(draft));
    const received: JetfaceEvent[] = [];
    for await (const event of stream) {
      received.push(event);
      if (received.length === sent.length) break;
    }
    expect(received).toEqual(sent);
    expect(recognitions.map((e) => e.id)).toEqual([sent[0]!.id]);
    expect(deviceErrors.map((e) => e.type)).toEqual(['error']);
    await pub.flush(5000);
    expect(pub.stats()).toMatchObject({ connected: true, outboxDepth: 0, published: 6, dropped: 0 });
    await until(() => statuses.length > 0, 2000, 'the status message');
    expect(statuses[0]).toEqual({ device: 'jetson-1', status: 'online' });
  });

  it('counts malformed payloads on event topics as invalid, drops duplicates, and keeps running', async () => {
    const sub = await subscriber();
    const invalid: InvalidMessage[] = [];
    sub.on('invalid', (m) => invalid.push(m));
    const events: JetfaceEvent[] = [];
    sub.on('event', (e) => events.push(e));
    const raw = await mqtt.connectAsync(broker.url);
    const valid = createEvent(numbered('door', 1), 'jetson-1');
    await raw.publishAsync('jetface/jetson-1/door/events/recognition', '{"not json', { qos: 1 });
    await raw.publishAsync('jetface/jetson-1/door/events/recognition', JSON.stringify({ ...valid, box: 'big' }), { qos: 1 });
    await raw.publishAsync('jetface/jetson-1/gate/events/recognition', JSON.stringify(valid), { qos: 1 }); // wrong camera level
    await raw.publishAsync('jetface/jetson-1/door/events/recognition', JSON.stringify(valid), { qos: 1 });
    await raw.publishAsync('jetface/jetson-1/door/events/recognition', JSON.stringify(valid), { qos: 1 }); // a redelivery
    await raw.endAsync();
    await until(() => events.length === 1 && invalid.length === 3 && sub.stats().duplicates === 1, 3000, 'all five messages');
    expect(invalid.map((m) => m.reason)).toEqual(['json', 'schema', 'topic']);
    expect(invalid[1]!.issues.map((i) => i.path)).toContain('/box');
    expect(events.map((e) => e.id)).toEqual([valid.id]);
    expect(sub.stats()).toMatchObject({ received: 5, delivered: 1, duplicates: 1, invalid: 3 });
  });

  it('a new publisher on the same outbox file sends what the previous one left, once, in order', async () => {
    const outbox = join(tempDir(), 'outbox.jsonl');
    const sub = await subscriber();
    const got: number[] = [];
    sub.on('event', (e) => got.push(numberOf(e)));
    // The first publisher journals events while its broker is unreachable, then goes away.
    const [deadPort] = await freePorts(1);
    const first = await EventPublisher.create({ url: `mqtt://127.0.0.1:${deadPort}`, device: 'jetson-1', outbox, ...fast });
    for (let n = 1; n <= 20; n += 1) await first.publish(numbered('door', n));
    expect(first.stats()).toMatchObject({ connected: false, outboxDepth: 20 });
    await first.close();
    const second = await publisher(outbox);
    expect(second.stats().outboxDepth).toBe(20);
    for (let n = 21; n <= 25; n += 1) await second.publish(numbered('door', n));
    await second.flush(5000);
    await until(() => got.length >= 25, 3000, '25 events');
    expect(got).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(sub.stats().duplicates).toBe(0);
  });

  it('while the broker is down, keeps the newest maxEvents and counts the drops; sends the rest when it is up', async () => {
    const [port] = await freePorts(1);
    const pub = await EventPublisher.create({ url: `mqtt://127.0.0.1:${port}`, device: 'jetson-1', outbox: { path: join(tempDir(), 'o.jsonl'), maxEvents: 4 }, ...fast });
    closers.push(() => pub.close());
    const dropped: number[] = [];
    pub.on('drop', (e) => dropped.push(numberOf(e)));
    for (let n = 1; n <= 10; n += 1) await pub.publish(numbered('door', n));
    expect(dropped).toEqual([1, 2, 3, 4, 5, 6]);
    expect(pub.stats()).toMatchObject({ outboxDepth: 4, dropped: 6, published: 0 });
    const late = await startEmbeddedBroker({ port: port! });
    closers.push(() => late.close());
    const sub = await JetfaceSubscriber.create({ url: late.url, ...fast });
    closers.push(() => sub.close());
    const got: number[] = [];
    sub.on('event', (e) => got.push(numberOf(e)));
    await pub.flush(10_000);
    await until(() => got.length === 4, 3000, 'the 4 kept events');
    expect(got).toEqual([7, 8, 9, 10]);
    expect(pub.stats()).toMatchObject({ outboxDepth: 0, dropped: 6, published: 4 });
  });

  it('removes face crops unless includeFaceImages is set', async () => {
    const face = { mime: 'image/jpeg' as const, data: Buffer.from('jpeg').toString('base64'), width: 2, height: 2 };
    const draft = { ...numbered('door', 1), face };
    const without = await publisher();
    expect('face' in (await without.publish(draft))).toBe(false);
    const withFaces = await publisher(join(tempDir(), 'faces.jsonl'), { device: 'jetson-2', includeFaceImages: true, clientId: 'faces' });
    expect(await withFaces.publish(draft)).toMatchObject({ face });
  });
});

describe('credentials refused by the embedded broker', () => {
  it('gives a typed error and keeps the process up', async () => {
    const broker = await startEmbeddedBroker({ port: 0, users: { backend: 'right' } });
    try {
      await expect(JetfaceSubscriber.create({ url: broker.url, username: 'backend', password: 'wrong', ...fast })).rejects.toBeInstanceOf(BrokerAuthError);
      const pub = await EventPublisher.create({ url: broker.url, username: 'backend', password: 'wrong', device: 'jetson-1', outbox: join(tempDir(), 'o.jsonl'), ...fast });
      const errors: JetfaceError[] = [];
      pub.on('error', (e) => errors.push(e));
      await expect(pub.waitForConnection(1500)).rejects.toMatchObject({ code: 'E_MQTT_AUTH' });
      expect(errors[0]).toBeInstanceOf(BrokerAuthError);
      await pub.publish(numbered('door', 1)); // still accepted: it waits in the outbox
      expect(pub.stats()).toMatchObject({ connected: false, outboxDepth: 1, lastError: { code: 'E_MQTT_AUTH' } });
      await pub.close();
      const ok = await JetfaceSubscriber.create({ url: broker.url, username: 'backend', password: 'right', ...fast });
      await ok.close();
    } finally {
      await broker.close();
    }
  });
});
