/**
 * Home Assistant MQTT discovery over the embedded aedes broker: the retained sensor configs, the
 * availability that follows jetface's status topic, and the last person per camera from a real
 * pipeline run (hamilton_clip.mp4, the default bundle, the two people of video/enroll/).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FaceEngine } from '../sdk/engine/face-engine';
import { InvalidArgumentError } from '../sdk/errors';
import { startEmbeddedBroker, type EmbeddedBroker } from '../sdk/mqtt/embedded-broker';
import { HomeAssistantDiscovery, homeAssistantConfigTopic, lastPersonTopic, type HomeAssistantSensorConfig, type LastPersonState } from '../sdk/mqtt/home-assistant';
import { EventPublisher } from '../sdk/mqtt/publisher';
import { enrollFromImages } from '../sdk/pipeline/enroll';
import { Pipeline } from '../sdk/pipeline/pipeline';
import { InMemoryGallery } from '../sdk/tracking/memory-gallery';
import { CLIP, FFMPEG, describeWith } from './support/capture';
import { dataPath, tempDir, CLIP_MATCH_THRESHOLD } from './support/data';
import { oneOfEachType, until } from './support/events';
import { freePorts } from './support/mosquitto';

const fast = { backoff: { initialMs: 50, maxMs: 300 }, connectTimeoutMs: 2000 };
const DEVICE = 'jetson-ha';

/** A plain MQTT client (as Home Assistant is) that records the last payload per topic, retained ones included. */
async function watcher(url: string, filters: string[]): Promise<{ client: MqttClient; last: Map<string, string>; all: { topic: string; payload: string; retain: boolean }[] }> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  const last = new Map<string, string>();
  const all: { topic: string; payload: string; retain: boolean }[] = [];
  client.on('message', (topic, payload, packet) => {
    last.set(topic, payload.toString());
    all.push({ topic, payload: payload.toString(), retain: packet.retain });
  });
  await client.subscribeAsync(filters, { qos: 1 });
  return { client, last, all };
}

describe('Home Assistant discovery over the embedded broker', () => {
  let broker: EmbeddedBroker;
  const closers: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    broker = await startEmbeddedBroker({ port: 0 });
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });
  afterAll(async () => {
    await broker.close();
  });

  test('retained configs per camera with unique_id, device block, state and availability topics; only named people change the state', async () => {
    const publisher = await EventPublisher.create({ url: broker.url, device: DEVICE, outbox: join(tempDir(), 'outbox.jsonl'), ...fast });
    closers.push(() => publisher.close());
    const ha = await HomeAssistantDiscovery.create({ url: broker.url, device: DEVICE, cameras: ['door', 'yard'], ...fast });
    closers.push(() => ha.close());
    await ha.waitForConnection(5000);
    await publisher.waitForConnection(5000);

    // Subscribing after the fact, as Home Assistant does when it starts: everything needed is retained.
    const w = await watcher(broker.url, ['homeassistant/sensor/+/config', `jetface/${DEVICE}/status`, `jetface/${DEVICE}/+/last_person`]);
    closers.push(() => w.client.endAsync());
    await until(() => w.last.size >= 3, 5000, 'two retained configs and the status');
    expect(w.last.get(`jetface/${DEVICE}/status`)).toBe('online');
    const door = JSON.parse(w.last.get(homeAssistantConfigTopic('homeassistant', DEVICE, 'door'))!) as HomeAssistantSensorConfig;
    expect(door).toMatchObject({
      unique_id: 'jetface_jetson-ha_door_last_person',
      // Home Assistant 2025.10+ names the entity from default_entity_id; object_id is deprecated there (gone in 2026.4).
      default_entity_id: 'sensor.jetson_ha_door_last_person',
      state_topic: `jetface/${DEVICE}/door/last_person`,
      availability_topic: `jetface/${DEVICE}/status`,
      payload_available: 'online',
      payload_not_available: 'offline',
      value_template: '{{ value_json.name }}',
      device: { identifiers: ['jetface_jetson-ha'], name: 'jetface jetson-ha', manufacturer: 'jetface' },
    });
    expect(door).not.toHaveProperty('object_id');
    expect(w.last.has(homeAssistantConfigTopic('homeassistant', DEVICE, 'yard'))).toBe(true);
    expect(w.all.every((m) => m.retain)).toBe(true);

    // A named recognition sets the state; an unknown face, an update to nobody and other events leave it.
    for (const draft of oneOfEachType('door')) await ha.publish(draft);
    await ha.publish({ type: 'recognition', camera: 'door', trackId: 'door-9', identity: null, similarity: null, box: [0, 0, 10, 10] });
    await until(() => w.last.has(lastPersonTopic('jetface', DEVICE, 'door')), 5000, 'the door state');
    await new Promise((r) => setTimeout(r, 200));
    const state = JSON.parse(w.last.get(lastPersonTopic('jetface', DEVICE, 'door'))!) as LastPersonState;
    expect(state).toMatchObject({ name: 'Ada', personId: 'p-ada', similarity: 0.72 });
    expect(w.all.filter((m) => m.topic.endsWith('/last_person'))).toHaveLength(1);
    expect(ha.stats()).toEqual({ connected: true, cameras: 2, statesPublished: 1 });

    // A camera not announced at start is announced on its first event.
    await ha.publish({ type: 'camera_online', camera: 'garage', source: 'v4l2' });
    await until(() => w.last.has(homeAssistantConfigTopic('homeassistant', DEVICE, 'garage')), 5000, 'the garage config');

    // The device going away makes the sensors unavailable (the retained status Home Assistant watches).
    await publisher.close();
    await until(() => w.last.get(`jetface/${DEVICE}/status`) === 'offline', 5000, 'the offline status');

    // Uninstall: empty retained configs remove the sensors.
    await ha.close({ removeSensors: true });
    await until(() => w.last.get(homeAssistantConfigTopic('homeassistant', DEVICE, 'door')) === '', 5000, 'the door config to be cleared');
    await expect(ha.publish(oneOfEachType('door')[0]!)).rejects.toMatchObject({ code: 'E_CLOSED' });
  });

  test('bad options are refused, naming the field', async () => {
    await expect(HomeAssistantDiscovery.create({ url: broker.url, device: DEVICE, cameras: ['door'], discoveryPrefix: 'home/#' })).rejects.toThrow(/homeAssistant\.discoveryPrefix/);
    await expect(HomeAssistantDiscovery.create({ url: broker.url, device: DEVICE, cameras: ['front door'] })).rejects.toThrow(/homeAssistant\.cameras\[0\]/);
    await expect(HomeAssistantDiscovery.create({ url: broker.url, device: 'a/b', cameras: [] })).rejects.toThrow(InvalidArgumentError);
    await expect(HomeAssistantDiscovery.create({ url: broker.url, device: DEVICE, cameras: 'door' as never })).rejects.toThrow(/homeAssistant\.cameras/);

    // No broker: waiting fails with the connection error; events are still accepted (nothing queued for Home Assistant).
    const [port] = await freePorts(1);
    const offline = await HomeAssistantDiscovery.create({ url: `mqtt://127.0.0.1:${port}`, device: DEVICE, cameras: ['door'], ...fast });
    closers.push(() => offline.close());
    await expect(offline.waitForConnection(1500)).rejects.toMatchObject({ code: 'E_MQTT_CONNECT' });
    await expect(offline.publish(oneOfEachType('door')[0]!)).resolves.toMatchObject({ type: 'recognition', device: DEVICE });
    expect(offline.stats()).toEqual({ connected: false, cameras: 1, statesPublished: 0 });
  });

  describeWith(FFMPEG)('on a real run', () => {
    test('the sensor of the camera names the person the pipeline recognized', async () => {
      const engine = await FaceEngine.create(resolve(__dirname, '..', 'models', 'jetface-s'), { providers: ['cpu'] });
      closers.push(() => engine.close());
      const gallery = new InMemoryGallery({ threshold: CLIP_MATCH_THRESHOLD });
      const dir = dataPath('video', 'enroll');
      await enrollFromImages(engine, gallery, readdirSync(dir).sort().map((f) => ({ personId: f.replace(/\.\w+$/, ''), name: f.replace(/\.\w+$/, ''), files: [join(dir, f)] })));
      const ha = await HomeAssistantDiscovery.create({ url: broker.url, device: 'jetson-run', cameras: ['hamilton'], discoveryPrefix: 'ha', ...fast });
      closers.push(() => ha.close());
      await ha.waitForConnection(5000);
      const w = await watcher(broker.url, ['ha/sensor/+/config', 'jetface/jetson-run/+/last_person']);
      closers.push(() => w.client.endAsync());
      const pipeline = await Pipeline.create({ engine, gallery, device: 'jetson-run', sinks: [ha], cameras: [{ id: 'hamilton', source: CLIP, sourceOptions: { maxFps: 10 } }] });
      const named = new Set<string>();
      pipeline.on('event', (e) => {
        if ((e.type === 'recognition' || e.type === 'recognition_update') && e.identity) named.add(e.identity.name);
      });
      await pipeline.start();
      await pipeline.finished();
      expect(w.last.has('ha/sensor/jetson-run_hamilton_last_person/config')).toBe(true);
      // The preliminary model recognizes Lin-Manuel Miranda in this clip at 10 fps (test/pipeline.test.ts).
      expect(named).toContain('lin-manuel-miranda');
      await until(() => w.last.has('jetface/jetson-run/hamilton/last_person'), 5000, 'the hamilton state');
      const state = JSON.parse(w.last.get('jetface/jetson-run/hamilton/last_person')!) as LastPersonState;
      expect(named).toContain(state.name);
      expect(ha.stats().statesPublished).toBeGreaterThan(0);
    });
  });
});
