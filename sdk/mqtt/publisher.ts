/**
 * EventPublisher: events to MQTT with QoS 1 through a durable outbox. An event is on disk before
 * it is sent and leaves the outbox on its PUBACK; on every (re)connect the outbox is replayed
 * oldest first, so per-camera order holds across broker outages and process restarts. Delivery
 * is at least once: subscribers deduplicate on the event id.
 */
import { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';
import { ClosedError, InvalidArgumentError, WaitTimeoutError, type JetfaceError } from '../errors';
import { createEvent } from '../events/create-event';
import type { EventSink } from '../events/sink';
import { DEFAULT_TOPIC_PREFIX, assertTopicLevel, assertTopicPrefix, eventTopic, statusTopic } from '../events/topics';
import type { EventDraft, JetfaceEvent } from '../events/types';
import { assertValidEvent } from '../events/validate';
import { MqttConnection } from './connection';
import { resolveConnection, type MqttConnectionOptions } from './options';
import { EventOutbox, type OutboxEntry, type OutboxOptions } from './outbox';

/**
 * Options of {@link EventPublisher.create}: the broker connection, the device, and the outbox.
 *
 * @example
 * ```ts
 * const options: EventPublisherOptions = {
 *   url: 'mqtts://broker.local:8883', username: 'jetson-1', passwordFile: '/run/secrets/mqtt',
 *   tls: { caFile: '/etc/jetface/ca.pem' },
 *   device: 'jetson-1',
 *   outbox: { path: '/var/lib/jetface/outbox.jsonl', maxEvents: 20_000 },
 * };
 * ```
 */
export interface EventPublisherOptions extends MqttConnectionOptions {
  /** This device's id: a topic level, and every event's `device`. */
  device: string;
  /** The durable outbox, or just its file path. */
  outbox: OutboxOptions | string;
  /** Topic prefix (default `jetface`). */
  prefix?: string;
  /** MQTT client id (default `jetface-<device>`). */
  clientId?: string;
  /** Keep `face` crops in events (default false: they are removed before the event is stored). */
  includeFaceImages?: boolean;
  /** Events sent but not yet acknowledged, at most (default 32). */
  maxInflight?: number;
}

/** Counters of a publisher. */
export interface PublisherStats {
  connected: boolean;
  /** Events waiting in the outbox (sent but unacknowledged ones included). */
  outboxDepth: number;
  outboxBytes: number;
  /** Events acknowledged by the broker since create(). */
  published: number;
  /** Events dropped from the outbox (oldest first) because a bound was reached. */
  dropped: number;
  /** Successful connections after the first. */
  reconnects: number;
  inflight: number;
  /** Unreadable journal lines found at open (a line torn by a crash). */
  unreadableJournalLines: number;
  lastError: { code: string; message: string } | null;
}

/** Events a publisher emits. `error` is emitted only while someone listens: it never crashes the process. */
export interface PublisherEvents {
  connect: [];
  disconnect: [];
  error: [error: JetfaceError];
  /** An event left the outbox unsent because a bound was reached. */
  drop: [event: JetfaceEvent];
  /** The broker acknowledged an event. */
  published: [event: JetfaceEvent];
}

const STATUS_ONLINE = 'online';
const STATUS_OFFLINE = 'offline';

/**
 * Publishes recognition events over MQTT (QoS 1) through a durable outbox.
 *
 * @example
 * ```ts
 * const publisher = await EventPublisher.create({ url: 'mqtt://localhost:1883', device: 'jetson-1', outbox: 'outbox.jsonl' });
 * await publisher.publish({ type: 'camera_online', camera: 'door', source: 'v4l2' }); // on disk now, sent when connected
 * await publisher.flush(10_000);                                                      // everything acknowledged
 * await publisher.close();
 * ```
 */
export class EventPublisher extends EventEmitter<PublisherEvents> implements EventSink {
  private sendQueue: OutboxEntry[] = [];
  private head = 0;
  private inflight = 0;
  /** Bumped on every connect: callbacks of an older connection's publishes are ignored. */
  private generation = 0;
  private client: MqttClient | undefined;
  private published = 0;
  private closed = false;
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly device: string,
    readonly prefix: string,
    private readonly includeFaceImages: boolean,
    private readonly maxInflight: number,
    private readonly outbox: EventOutbox,
    private readonly connection: MqttConnection,
  ) {
    super();
    outbox.onDurable = (entry) => {
      if (this.client) {
        this.sendQueue.push(entry);
        this.pump();
      }
    };
    outbox.onDrop = (entry) => {
      this.emit('drop', entry.event);
      this.notify();
    };
    connection.on('connect', (client) => this.onConnect(client));
    connection.on('disconnect', () => this.onDisconnect());
    connection.on('error', (error) => {
      if (this.listenerCount('error') > 0) this.emit('error', error);
    });
  }

  /** Opens the outbox (replaying what a previous run left) and starts connecting; does not wait for the broker. */
  static async create(options: EventPublisherOptions): Promise<EventPublisher> {
    assertTopicLevel('device', options.device);
    const prefix = options.prefix ?? DEFAULT_TOPIC_PREFIX;
    assertTopicPrefix(prefix);
    const maxInflight = options.maxInflight ?? 32;
    if (!Number.isSafeInteger(maxInflight) || maxInflight < 1 || maxInflight > 65_535) throw new InvalidArgumentError('maxInflight', 'an integer in 1..65535', maxInflight);
    const settings = await resolveConnection(options);
    const outboxOptions = typeof options.outbox === 'string' ? { path: options.outbox } : options.outbox;
    const outbox = await EventOutbox.open(outboxOptions);
    const connection = new MqttConnection(settings, {
      clientId: options.clientId ?? `jetface-${options.device}`,
      clean: true, // the outbox, not the broker session, holds what is not yet delivered
      will: { topic: statusTopic(prefix, options.device), payload: STATUS_OFFLINE, qos: 1, retain: true },
    });
    const publisher = new EventPublisher(options.device, prefix, options.includeFaceImages ?? false, maxInflight, outbox, connection);
    connection.start();
    return publisher;
  }

  /**
   * Stamps, validates and journals an event; resolves once it is on disk (it is sent as soon as
   * the broker is reachable). Rejects with `EventValidationError` for an invalid event.
   */
  async publish(draft: EventDraft): Promise<JetfaceEvent> {
    if (this.closed) throw new ClosedError('event publisher');
    if (draft.device !== undefined && draft.device !== this.device) throw new InvalidArgumentError('event.device', `this publisher's device ${JSON.stringify(this.device)}`, draft.device);
    const stamped = createEvent(draft, this.device);
    if (!this.includeFaceImages && 'face' in stamped) delete stamped.face;
    const event = assertValidEvent(stamped);
    await this.outbox.append(event);
    return event;
  }

  /** Resolves when every event in the outbox has been acknowledged; rejects with `WaitTimeoutError` after `timeoutMs`. */
  flush(timeoutMs = 30_000): Promise<void> {
    return this.waitFor(() => this.outbox.stats().depth === 0, timeoutMs, 'the outbox to drain');
  }

  /**
   * Resolves once connected; rejects at once with `BrokerAuthError` when the broker refuses the
   * credentials, and after `timeoutMs` with the last connection error or `WaitTimeoutError`.
   * Publishing does not need it: events wait in the outbox.
   */
  async waitForConnection(timeoutMs = 10_000): Promise<void> {
    try {
      await this.waitFor(() => this.client !== undefined, timeoutMs, 'the MQTT connection', true);
    } catch (error) {
      throw (error as JetfaceError).code === 'E_MQTT_AUTH' ? error : (this.connection.lastError ?? error);
    }
  }

  stats(): PublisherStats {
    const outbox = this.outbox.stats();
    const lastError = this.connection.lastError;
    return {
      connected: this.client !== undefined,
      outboxDepth: outbox.depth,
      outboxBytes: outbox.bytes,
      published: this.published,
      dropped: outbox.dropped,
      reconnects: this.connection.reconnects,
      inflight: this.inflight,
      unreadableJournalLines: outbox.unreadable,
      lastError: lastError ? { code: lastError.code, message: lastError.message } : null,
    };
  }

  /** Publishes the retained `offline` status, disconnects and closes the outbox. Unacknowledged events stay in it for the next run. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client = undefined;
    await this.connection.close((client) => client.publishAsync(statusTopic(this.prefix, this.device), STATUS_OFFLINE, { qos: 1, retain: true }).then(() => undefined));
    await this.outbox.close();
    this.notify();
  }

  private onConnect(client: MqttClient): void {
    if (this.closed) return;
    this.generation += 1;
    this.client = client;
    this.inflight = 0;
    this.sendQueue = this.outbox.entries(); // replay everything unacknowledged, oldest first
    this.head = 0;
    client.publish(statusTopic(this.prefix, this.device), STATUS_ONLINE, { qos: 1, retain: true });
    this.emit('connect');
    this.pump();
    this.notify();
  }

  private onDisconnect(): void {
    this.generation += 1;
    this.client = undefined;
    this.inflight = 0;
    this.sendQueue = [];
    this.head = 0;
    this.emit('disconnect');
  }

  private pump(): void {
    const client = this.client;
    while (client && this.inflight < this.maxInflight && this.head < this.sendQueue.length) {
      const entry = this.sendQueue[this.head++];
      if (!entry || !this.outbox.has(entry.seq)) continue; // dropped meanwhile
      const generation = this.generation;
      const { event } = entry;
      this.inflight += 1;
      client.publish(eventTopic(this.prefix, event.device, event.camera, event.type), JSON.stringify(event), { qos: 1 }, (error) => {
        if (generation !== this.generation) return; // that connection is gone; the next one replays the entry
        this.inflight -= 1;
        if (!error) {
          this.outbox.ack(entry.seq);
          this.published += 1;
          this.emit('published', event);
          this.notify();
        }
        this.pump();
      });
    }
    if (this.head > 1024 && this.head * 2 > this.sendQueue.length) {
      this.sendQueue = this.sendQueue.slice(this.head);
      this.head = 0;
    }
  }

  private waitFor(condition: () => boolean, timeoutMs: number, what: string, failOnAuthError = false): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const finish = (error?: Error) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        this.connection.off('error', onError);
        if (error) reject(error);
        else resolve();
      };
      const check = () => {
        if (condition()) finish();
        else if (this.closed) finish(new WaitTimeoutError(`${what} (the publisher was closed)`, timeoutMs));
      };
      const onError = (error: JetfaceError) => {
        if (failOnAuthError && error.code === 'E_MQTT_AUTH') finish(error);
      };
      const timer = setTimeout(() => finish(new WaitTimeoutError(what, timeoutMs)), timeoutMs);
      this.waiters.add(check);
      this.connection.on('error', onError);
    });
  }

  private notify(): void {
    for (const check of [...this.waiters]) check();
  }
}
