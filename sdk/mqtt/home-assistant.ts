/**
 * Home Assistant MQTT discovery: one sensor per camera whose state is the last person recognized
 * there. The discovery configs are retained, so Home Assistant finds the sensors whenever it
 * starts; availability follows jetface's own retained status topic (`online` / `offline`, the
 * publisher's last will), so the sensors go unavailable when the device does.
 */
import type { MqttClient } from 'mqtt';
import { ClosedError, InvalidArgumentError, WaitTimeoutError } from '../errors';
import { createEvent } from '../events/create-event';
import type { EventSink } from '../events/sink';
import { DEFAULT_TOPIC_PREFIX, assertTopicLevel, assertTopicPrefix, statusTopic } from '../events/topics';
import type { EventDraft, JetfaceEvent } from '../events/types';
import { assertValidEvent } from '../events/validate';
import { version } from '../../package.json';
import { MqttConnection } from './connection';
import { resolveConnection, type MqttConnectionOptions } from './options';

/** Options of {@link HomeAssistantDiscovery.create}. */
export interface HomeAssistantOptions extends MqttConnectionOptions {
  /** This device's id (as for the {@link EventPublisher}). */
  device: string;
  /** The cameras to announce; a camera seen in an event later is announced then. */
  cameras: readonly string[];
  /** jetface's topic prefix (default `jetface`): the status and state topics live under it. */
  prefix?: string;
  /** Home Assistant's discovery prefix (default `homeassistant`). */
  discoveryPrefix?: string;
  /** The device's name in Home Assistant (default `jetface <device>`). */
  deviceName?: string;
  /** MQTT client id (default `jetface-<device>-ha`). */
  clientId?: string;
}

/** The discovery config of one sensor (the JSON retained on its config topic). */
export interface HomeAssistantSensorConfig {
  name: string;
  unique_id: string;
  /**
   * `sensor.<device>_<camera>_last_person`, lower case, `[a-z0-9_]` (an entity id). Home Assistant
   * 2025.10 replaced the discovery option `object_id` with it (`object_id` stops working in 2026.4).
   */
  default_entity_id: string;
  state_topic: string;
  value_template: string;
  json_attributes_topic: string;
  availability_topic: string;
  payload_available: string;
  payload_not_available: string;
  icon: string;
  device: { identifiers: string[]; name: string; manufacturer: string; model: string; sw_version: string };
}

/** The retained state of a camera's sensor (`value_template` shows `name`; the rest are attributes). */
export interface LastPersonState {
  name: string;
  personId: string;
  similarity: number | null;
  time: string;
  eventId: string;
}

/**
 * `<discoveryPrefix>/sensor/<device>_<camera>_last_person/config`; `.` in ids becomes `_` (Home Assistant's object ids allow `[a-zA-Z0-9_-]`).
 *
 * @example
 * ```ts
 * homeAssistantConfigTopic('homeassistant', 'jetson-1', 'door'); // 'homeassistant/sensor/jetson-1_door_last_person/config'
 * ```
 */
export function homeAssistantConfigTopic(discoveryPrefix: string, device: string, camera: string): string {
  return `${discoveryPrefix}/sensor/${objectId(device, camera)}/config`;
}

/**
 * `<prefix>/<device>/<camera>/last_person`: outside the `events` subtree, so event subscribers never see it.
 *
 * @example
 * ```ts
 * lastPersonTopic('jetface', 'jetson-1', 'door'); // 'jetface/jetson-1/door/last_person'
 * ```
 */
export function lastPersonTopic(prefix: string, device: string, camera: string): string {
  return `${prefix}/${device}/${camera}/last_person`;
}

function objectId(device: string, camera: string): string {
  return `${device}_${camera}_last_person`.replace(/\./g, '_');
}

/** The object id part of an entity id: Home Assistant's slugs are `[a-z0-9_]`. */
function entityObjectId(device: string, camera: string): string {
  return objectId(device, camera).toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

/**
 * An {@link EventSink} for Home Assistant: announces a "last person" sensor per camera and, on
 * each `recognition` (or `recognition_update`) that names an enrolled person, publishes that
 * person as the camera's retained state. Unknown faces leave the state as it was. Availability is
 * the status topic that the device's {@link EventPublisher} keeps (same `prefix`): use both.
 *
 * @example
 * ```ts
 * const ha = await HomeAssistantDiscovery.create({ url: 'mqtt://homeassistant.local:1883', device: 'jetson-1', cameras: ['door'] });
 * const pipeline = await Pipeline.create({ engine, gallery, device: 'jetson-1', sinks: [publisher, ha], cameras });
 * // Home Assistant shows sensor.jetson_1_door_last_person = "Ada Lovelace"
 * ```
 */
export class HomeAssistantDiscovery implements EventSink {
  private readonly announced = new Set<string>();
  private closed = false;
  private published = 0;

  private constructor(
    readonly device: string,
    readonly prefix: string,
    readonly discoveryPrefix: string,
    private readonly deviceName: string,
    private readonly cameras: Set<string>,
    private readonly connection: MqttConnection,
  ) {
    connection.on('connect', (client) => this.announce(client));
    connection.on('error', () => undefined); // kept as connection.lastError; a sink must not crash the process
  }

  /** Starts connecting; the configs are published (again) on every connect. Does not wait for the broker. */
  static async create(options: HomeAssistantOptions): Promise<HomeAssistantDiscovery> {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'an object', options);
    assertTopicLevel('device', options.device);
    const prefix = options.prefix ?? DEFAULT_TOPIC_PREFIX;
    assertTopicPrefix(prefix);
    const discoveryPrefix = options.discoveryPrefix ?? 'homeassistant';
    try {
      assertTopicPrefix(discoveryPrefix);
    } catch {
      throw new InvalidArgumentError('homeAssistant.discoveryPrefix', "topic levels without '+', '#' or a leading '$' (e.g. 'homeassistant')", discoveryPrefix);
    }
    if (!Array.isArray(options.cameras)) throw new InvalidArgumentError('homeAssistant.cameras', 'an array of camera ids', options.cameras);
    options.cameras.forEach((c, i) => assertTopicLevel(`homeAssistant.cameras[${i}]`, c));
    const settings = await resolveConnection(options);
    const connection = new MqttConnection(settings, { clientId: options.clientId ?? `jetface-${options.device}-ha`, clean: true });
    const sink = new HomeAssistantDiscovery(options.device, prefix, discoveryPrefix, options.deviceName ?? `jetface ${options.device}`, new Set(options.cameras), connection);
    connection.start();
    return sink;
  }

  /** The discovery config of a camera's sensor. */
  sensorConfig(camera: string): HomeAssistantSensorConfig {
    return {
      name: `${camera} last person`,
      unique_id: `jetface_${objectId(this.device, camera)}`,
      default_entity_id: `sensor.${entityObjectId(this.device, camera)}`,
      state_topic: lastPersonTopic(this.prefix, this.device, camera),
      value_template: '{{ value_json.name }}',
      json_attributes_topic: lastPersonTopic(this.prefix, this.device, camera),
      availability_topic: statusTopic(this.prefix, this.device),
      payload_available: 'online',
      payload_not_available: 'offline',
      icon: 'mdi:face-recognition',
      device: { identifiers: [`jetface_${this.device}`], name: this.deviceName, manufacturer: 'jetface', model: 'jetface edge device', sw_version: version },
    };
  }

  /** Resolves once connected (and the configs sent); rejects after `timeoutMs` with the last connection error. */
  async waitForConnection(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.connection.current || this.announced.size < this.cameras.size) {
      if (this.closed) throw new ClosedError('Home Assistant discovery');
      if (Date.now() > deadline) throw this.connection.lastError ?? new WaitTimeoutError('the Home Assistant discovery connection', timeoutMs);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** States published since create(). */
  stats(): { connected: boolean; cameras: number; statesPublished: number } {
    return { connected: this.connection.current !== undefined, cameras: this.cameras.size, statesPublished: this.published };
  }

  /**
   * Validates the event; for a named person, publishes the camera's state (retained, QoS 1) when
   * connected. Home Assistant needs only the latest state, so nothing is queued while offline.
   */
  async publish(draft: EventDraft): Promise<JetfaceEvent> {
    if (this.closed) throw new ClosedError('Home Assistant discovery');
    const event = assertValidEvent(createEvent(draft, this.device));
    const client = this.connection.current;
    if (!this.cameras.has(event.camera)) {
      this.cameras.add(event.camera);
      if (client) await this.publishConfig(client, event.camera);
    }
    if ((event.type === 'recognition' || event.type === 'recognition_update') && event.identity && client) {
      const state: LastPersonState = { name: event.identity.name || event.identity.personId, personId: event.identity.personId, similarity: event.similarity, time: event.time, eventId: event.id };
      await client.publishAsync(lastPersonTopic(this.prefix, this.device, event.camera), JSON.stringify(state), { qos: 1, retain: true });
      this.published++;
    }
    return event;
  }

  /**
   * Disconnects. With `{ removeSensors: true }` the retained configs are cleared first, which
   * removes the sensors from Home Assistant (for uninstalling; a restart should keep them).
   */
  async close(options: { removeSensors?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.connection.close(async (client) => {
      if (!options.removeSensors) return;
      for (const camera of this.cameras) await client.publishAsync(homeAssistantConfigTopic(this.discoveryPrefix, this.device, camera), '', { qos: 1, retain: true });
    });
  }

  private announce(client: MqttClient): void {
    for (const camera of this.cameras) void this.publishConfig(client, camera).catch(() => undefined);
  }

  private async publishConfig(client: MqttClient, camera: string): Promise<void> {
    await client.publishAsync(homeAssistantConfigTopic(this.discoveryPrefix, this.device, camera), JSON.stringify(this.sensorConfig(camera)), { qos: 1, retain: true });
    this.announced.add(camera);
  }
}
