/** Publisher → mosquitto → subscriber with passwords, TLS, client certificates, restarts and shared subscriptions. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BrokerAuthError, BrokerConnectionError, type JetfaceError } from '../sdk/errors';
import type { JetfaceEvent } from '../sdk/events/types';
import type { MqttConnectionOptions } from '../sdk/mqtt/options';
import { EventPublisher, type EventPublisherOptions } from '../sdk/mqtt/publisher';
import { JetfaceSubscriber, type JetfaceSubscriberOptions } from '../sdk/mqtt/subscriber';
import { tempDir } from './support/data';
import { numberOf, numbered, oneOfEachType, until } from './support/events';
import { describeWithMosquitto, startMosquitto, type MosquittoBroker } from './support/mosquitto';

const fast = { backoff: { initialMs: 50, maxMs: 500 }, connectTimeoutMs: 3000 };

describeWithMosquitto('MQTT events over mosquitto', () => {
  let broker: MosquittoBroker;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    broker = await startMosquitto({ users: { device: 'device-secret', backend: 'backend-secret' } });
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    if (!broker.running()) await broker.start();
  });
  afterAll(async () => {
    await broker?.close();
  });

  const tlsDevice = (): MqttConnectionOptions => ({ url: broker.tlsUrl, username: 'device', password: 'device-secret', tls: { caFile: broker.caFile }, ...fast });
  const tlsBackend = (): MqttConnectionOptions => ({ url: broker.tlsUrl, username: 'backend', password: 'backend-secret', tls: { caFile: broker.caFile }, ...fast });

  async function publisher(options: Partial<EventPublisherOptions> = {}) {
    const p = await EventPublisher.create({ ...tlsDevice(), device: 'jetson-1', outbox: join(tempDir(), 'outbox.jsonl'), ...options });
    closers.push(() => p.close());
    return p;
  }
  async function subscriber(options: JetfaceSubscriberOptions = {}) {
    const s = await JetfaceSubscriber.create({ ...tlsBackend(), ...options });
    closers.push(() => s.close());
    return s;
  }

  it('delivers events over TLS with a password', async () => {
    const sub = await subscriber();
    const got: JetfaceEvent[] = [];
    sub.on('event', (e) => got.push(e));
    const pub = await publisher();
    const sent = [];
    for (const draft of oneOfEachType('gate')) sent.push(await pub.publish(draft));
    await pub.flush(5000);
    await until(() => got.length === sent.length, 3000, 'all events');
    expect(got).toEqual(sent);
  });

  it('authenticates with a client certificate (mutual TLS), and with credentials from files and the environment', async () => {
    const sub = await subscriber();
    const got: number[] = [];
    sub.on('event', (e) => got.push(numberOf(e)));
    const mtls = await EventPublisher.create({
      url: broker.mtlsUrl,
      tls: { caFile: broker.caFile, certFile: broker.clientCertFile, keyFile: broker.clientKeyFile },
      device: 'jetson-1',
      outbox: join(tempDir(), 'mtls.jsonl'),
      ...fast,
    });
    closers.push(() => mtls.close());
    await mtls.publish(numbered('door', 1));
    await mtls.flush(5000);
    const passwordFile = join(tempDir(), 'password');
    writeFileSync(passwordFile, 'device-secret\n');
    const fromEnv = await EventPublisher.create({
      device: 'jetson-2',
      outbox: join(tempDir(), 'o.jsonl'),
      ...fast,
      env: { JETFACE_MQTT_URL: broker.tlsUrl, JETFACE_MQTT_USERNAME: 'device', JETFACE_MQTT_PASSWORD_FILE: passwordFile, JETFACE_MQTT_CA_FILE: broker.caFile },
    });
    closers.push(() => fromEnv.close());
    await fromEnv.publish(numbered('door', 2));
    await fromEnv.flush(5000);
    await until(() => got.length === 2, 3000, 'both events');
    expect(got).toEqual([1, 2]);
  });

  it('refused credentials and an unknown CA give typed errors and leave the process up', async () => {
    await expect(JetfaceSubscriber.create({ ...tlsBackend(), password: 'wrong' })).rejects.toBeInstanceOf(BrokerAuthError);
    const pub = await publisher({ password: 'wrong' });
    const errors: JetfaceError[] = [];
    pub.on('error', (e) => errors.push(e));
    await expect(pub.waitForConnection(3000)).rejects.toMatchObject({ code: 'E_MQTT_AUTH' });
    expect(errors[0]).toBeInstanceOf(BrokerAuthError);
    await expect(JetfaceSubscriber.create({ ...tlsBackend(), tls: {}, waitForConnectionMs: 1500 })).rejects.toBeInstanceOf(BrokerConnectionError);
  });

  it('loses nothing and duplicates nothing across a broker restart and a publisher restart', async () => {
    const sub = await subscriber({ clientId: 'backend-durable', persistentSession: true });
    const got: number[] = [];
    sub.on('event', (e) => got.push(numberOf(e)));
    const outbox = join(tempDir(), 'outbox.jsonl');
    const first = await publisher({ outbox });
    for (let n = 1; n <= 20; n += 1) await first.publish(numbered('door', n));
    await broker.stop();
    for (let n = 21; n <= 40; n += 1) await first.publish(numbered('door', n));
    expect(first.stats().connected).toBe(false);
    await first.close(); // unacknowledged events stay in the outbox file
    const second = await publisher({ outbox });
    expect(second.stats().outboxDepth).toBeGreaterThanOrEqual(20);
    for (let n = 41; n <= 50; n += 1) await second.publish(numbered('door', n));
    await broker.start();
    await second.flush(15_000);
    await until(() => got.length >= 50, 10_000, '50 events');
    await new Promise((resolve) => setTimeout(resolve, 300)); // a late duplicate would show up here
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(second.stats()).toMatchObject({ outboxDepth: 0, dropped: 0 });
  });

  it('splits events across a shared-subscription group', async () => {
    const members = [await subscriber({ shareGroup: 'backend' }), await subscriber({ shareGroup: 'backend' })];
    const got: number[][] = [[], []];
    members.forEach((m, i) => m.on('event', (e) => got[i]!.push(numberOf(e))));
    const pub = await publisher();
    for (let n = 1; n <= 40; n += 1) await pub.publish(numbered('door', n));
    await pub.flush(5000);
    await until(() => got[0]!.length + got[1]!.length === 40, 5000, 'all 40 events');
    expect(got[0]!.length).toBeGreaterThan(0);
    expect(got[1]!.length).toBeGreaterThan(0);
    expect([...got[0]!, ...got[1]!].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });
});
