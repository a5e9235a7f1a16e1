/**
 * JetfaceSubscriber: the backend side. Typed events, validated against the event JSON Schema,
 * deduplicated by id, as an async iterator and as an event emitter; optionally in an MQTT
 * shared-subscription group so several backend processes split the stream.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { BrokerConnectionError, InvalidArgumentError, errorMessage, type EventIssue, type JetfaceError } from '../errors';
import { DEFAULT_TOPIC_PREFIX, assertTopicPrefix, eventTopicFilters, parseEventTopic, type EventFilter } from '../events/topics';
import { EVENT_TYPES, type EventOfType, type EventType, type JetfaceEvent } from '../events/types';
import { validateEvent } from '../events/validate';
import { MqttConnection, readyOrClose, waitForSubscribed } from './connection';
import { RecentIds } from './dedup';
import { EventQueue } from './event-queue';
import { resolveConnection, type MqttConnectionOptions } from './options';

/**
 * Options of {@link JetfaceSubscriber.create}.
 *
 * @example
 * ```ts
 * const options: JetfaceSubscriberOptions = {
 *   url: 'mqtts://broker.local:8883', username: 'backend', passwordFile: '/run/secrets/mqtt', tls: { caFile: 'ca.pem' },
 *   types: ['recognition', 'recognition_update'],
 *   shareGroup: 'recognizers',            // each event goes to one process of the group
 *   clientId: 'backend-1', persistentSession: true,
 * };
 * ```
 */
export interface JetfaceSubscriberOptions extends MqttConnectionOptions, EventFilter {
  /** Join this MQTT shared-subscription group (`$share/<group>/...`): the broker hands each event to one member. */
  shareGroup?: string;
  /** MQTT client id (default: random). Give a stable one with `persistentSession`. */
  clientId?: string;
  /** Keep the session at the broker while disconnected (clean session off), so QoS 1 events wait for this client. Needs `clientId`. */
  persistentSession?: boolean;
  /** Event ids remembered for deduplication (default 10,000). */
  dedupSize?: number;
  /** Events buffered per `for await` loop before reading from the broker pauses (default 1,000). */
  bufferSize?: number;
  /** Also report devices' retained `online`/`offline` status as 'status' events (default true). */
  status?: boolean;
  /** create() waits this long for the first subscription (default 10 s); 0 returns at once. */
  waitForConnectionMs?: number;
}

/** A message on an event topic that is not a valid event; counted and reported, never thrown. */
export interface InvalidMessage {
  topic: string;
  /** The payload as UTF-8, cut at 1 KiB. */
  payload: string;
  reason: 'json' | 'schema' | 'topic';
  issues: EventIssue[];
}

/** A device's retained status changed. */
export interface DeviceStatus {
  device: string;
  status: 'online' | 'offline';
}

/** Counters of a subscriber. */
export interface SubscriberStats {
  connected: boolean;
  /** Messages received on event topics. */
  received: number;
  /** Valid events handed to the application (after deduplication). */
  delivered: number;
  duplicates: number;
  invalid: number;
  reconnects: number;
  lastError: { code: string; message: string } | null;
}

/**
 * The emitter name of each event type: the type itself, except `error` events, which arrive as
 * `device_error` because Node's EventEmitter reserves `error` (here: the subscriber's own failures).
 */
export type EventListenerName<T extends EventType = EventType> = T extends 'error' ? 'device_error' : T;

/** Everything a subscriber emits: one event per event type (see {@link EventListenerName}), plus `event` for all of them. */
export type SubscriberEvents = { [T in EventType as EventListenerName<T>]: [event: EventOfType<T>] } & {
  event: [event: JetfaceEvent];
  invalid: [message: InvalidMessage];
  status: [status: DeviceStatus];
  connect: [];
  disconnect: [];
  /** The subscriber's own failures (connection, subscription, a listener that threw); emitted only while someone listens. */
  error: [error: JetfaceError];
  newListener: [name: string | symbol, listener: (...args: never[]) => void];
};

/**
 * The emitter name under which events of `type` arrive.
 *
 * @example
 * ```ts
 * eventListenerName('recognition'); // 'recognition'
 * eventListenerName('error');       // 'device_error'
 * ```
 */
export function eventListenerName<T extends EventType>(type: T): EventListenerName<T> {
  return (type === 'error' ? 'device_error' : type) as EventListenerName<T>;
}

const CONSUMER_EVENTS = new Set<string | symbol>(['event', ...EVENT_TYPES.map(eventListenerName)]);

/**
 * Receives jetface events from an MQTT broker.
 *
 * @example
 * ```ts
 * const subscriber = await JetfaceSubscriber.create({ url: 'mqtt://localhost:1883', shareGroup: 'backend' });
 * subscriber.on('invalid', (m) => console.warn('bad payload on', m.topic));
 * for await (const event of subscriber) {
 *   if (event.type === 'recognition') console.log(event.camera, event.identity?.name ?? 'unknown');
 * }
 * ```
 */
export class JetfaceSubscriber extends EventEmitter<SubscriberEvents> implements AsyncIterable<JetfaceEvent> {
  private readonly queues = new Set<EventQueue<JetfaceEvent>>();
  private readonly recent: RecentIds;
  private readonly counts = { received: 0, delivered: 0, duplicates: 0, invalid: 0 };
  private consumerAttached: Promise<void>;
  private attachConsumer: () => void = () => undefined;
  private subscribed = false;
  private closed = false;
  private readonly subscribedWaiters = new Set<() => void>();

  private constructor(
    readonly prefix: string,
    private readonly filters: string[],
    private readonly statusFilter: string | undefined,
    private readonly bufferSize: number,
    dedupSize: number,
    private readonly connection: MqttConnection,
  ) {
    super();
    this.recent = new RecentIds(dedupSize);
    this.consumerAttached = new Promise((resolve) => (this.attachConsumer = resolve));
    this.on('newListener', (name) => {
      if (CONSUMER_EVENTS.has(name)) this.attachConsumer();
    });
    connection.on('client', (client) => {
      // Held until the handler resolves: the PUBACK is sent, and the next message read, only after this event was handed over.
      client.handleMessage = (packet, done) => {
        this.onMessage(packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload)).then(
          () => done(),
          () => done(),
        );
      };
    });
    connection.on('connect', (client) => void this.onConnect(client));
    connection.on('disconnect', () => {
      this.subscribed = false;
      this.emit('disconnect');
    });
    connection.on('error', (error) => this.report(error));
  }

  /**
   * Connects and subscribes. Waits for the first subscription (see `waitForConnectionMs`) and
   * rejects with `BrokerAuthError` when the broker refuses the credentials, or `WaitTimeoutError`.
   */
  static async create(options: JetfaceSubscriberOptions = {}): Promise<JetfaceSubscriber> {
    const prefix = options.prefix ?? DEFAULT_TOPIC_PREFIX;
    assertTopicPrefix(prefix);
    const filters = eventTopicFilters({ ...options, prefix }, options.shareGroup);
    const dedupSize = integer('dedupSize', options.dedupSize ?? 10_000, 1);
    const bufferSize = integer('bufferSize', options.bufferSize ?? 1_000, 1);
    const waitMs = integer('waitForConnectionMs', options.waitForConnectionMs ?? 10_000, 0);
    if (options.persistentSession && options.clientId === undefined) throw new InvalidArgumentError('clientId', 'a stable client id when persistentSession is true', undefined);
    const settings = await resolveConnection(options);
    const connection = new MqttConnection(settings, {
      clientId: options.clientId ?? `jetface-sub-${randomBytes(6).toString('hex')}`,
      clean: !options.persistentSession,
    });
    const statusFilter = options.status === false ? undefined : `${prefix}/${options.device ?? '+'}/status`;
    const subscriber = new JetfaceSubscriber(prefix, filters, statusFilter, bufferSize, dedupSize, connection);
    connection.start();
    return readyOrClose(subscriber, waitMs, (ms) => subscriber.waitForSubscription(ms));
  }

  /**
   * Resolves once subscribed; rejects at once with `BrokerAuthError` when the broker refuses the
   * credentials, and after `timeoutMs` with the last connection error or `WaitTimeoutError`.
   */
  waitForSubscription(timeoutMs = 10_000): Promise<void> {
    if (this.subscribed) return Promise.resolve();
    return waitForSubscribed(this.connection, this.subscribedWaiters, 'the MQTT subscription', timeoutMs);
  }

  /** Each loop gets every event from the moment it starts; `break` ends it. */
  [Symbol.asyncIterator](): AsyncIterableIterator<JetfaceEvent> {
    const queue: EventQueue<JetfaceEvent> = new EventQueue(this.bufferSize, () => this.queues.delete(queue));
    if (this.closed) queue.end();
    else this.queues.add(queue);
    this.attachConsumer();
    return queue;
  }

  stats(): SubscriberStats {
    const lastError = this.connection.lastError;
    return {
      connected: this.connection.current !== undefined,
      ...this.counts,
      reconnects: this.connection.reconnects,
      lastError: lastError ? { code: lastError.code, message: lastError.message } : null,
    };
  }

  /** Disconnects and ends every `for await` loop (after the events they already hold). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.attachConsumer(); // release a message handler waiting for a consumer
    await this.connection.close();
    for (const queue of this.queues) queue.end();
    this.queues.clear();
  }

  private async onConnect(client: MqttClient): Promise<void> {
    this.emit('connect');
    const topics = [...this.filters, ...(this.statusFilter ? [this.statusFilter] : [])];
    try {
      const granted = await client.subscribeAsync(Object.fromEntries(topics.map((topic) => [topic, { qos: 1 as const }])));
      const refused = granted.filter((g) => g.qos === 128);
      if (refused.length > 0) throw new Error(`the broker refused the subscription to ${refused.map((g) => g.topic).join(', ')}`);
    } catch (error) {
      this.report(new BrokerConnectionError(this.connection.settings.safeUrl, errorMessage(error), { topics }));
      return;
    }
    this.subscribed = true;
    for (const done of [...this.subscribedWaiters]) done();
  }

  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    if (this.closed) return;
    if (this.statusFilter && topic.endsWith('/status')) return this.onStatus(topic, payload);
    this.counts.received += 1;
    const parts = parseEventTopic(this.prefix, topic);
    if (!parts) return this.invalid(topic, payload, 'topic', [{ path: '', message: 'not an event topic' }]);
    let value: unknown;
    try {
      value = JSON.parse(payload.toString('utf8'));
    } catch (error) {
      return this.invalid(topic, payload, 'json', [{ path: '', message: errorMessage(error) }]);
    }
    const result = validateEvent(value);
    if (!result.ok) return this.invalid(topic, payload, 'schema', result.issues);
    const event = result.event;
    if (event.type !== parts.type || event.device !== parts.device || event.camera !== parts.camera) {
      return this.invalid(topic, payload, 'topic', [{ path: '', message: `event ${event.type} of ${event.device}/${event.camera} does not belong on this topic` }]);
    }
    if (this.recent.seen(event.id)) {
      this.counts.duplicates += 1;
      return;
    }
    if (this.listenerCount('event') === 0 && this.listenerCount(eventListenerName(event.type)) === 0 && this.queues.size === 0) await this.consumerAttached;
    if (this.closed) return;
    this.counts.delivered += 1;
    this.deliver(event);
    for (const queue of this.queues) if (queue.full) await queue.space();
  }

  private deliver(event: JetfaceEvent): void {
    for (const queue of this.queues) queue.push(event);
    try {
      this.emit('event', event);
      // The emitter's typing cannot pair a union event with its own type's listener; the type field guarantees it.
      (this.emit as (name: EventListenerName, e: JetfaceEvent) => boolean)(eventListenerName(event.type), event);
    } catch (error) {
      this.report(new BrokerConnectionError(this.connection.settings.safeUrl, `an event listener threw: ${errorMessage(error)}`, { eventId: event.id }, error));
    }
  }

  private onStatus(topic: string, payload: Buffer): void {
    const device = topic.slice(this.prefix.length + 1, -'/status'.length);
    const status = payload.toString('utf8');
    if (status === 'online' || status === 'offline') this.emit('status', { device, status });
  }

  private invalid(topic: string, payload: Buffer, reason: InvalidMessage['reason'], issues: EventIssue[]): void {
    this.counts.invalid += 1;
    this.emit('invalid', { topic, payload: payload.subarray(0, 1024).toString('utf8'), reason, issues });
  }

  private report(error: JetfaceError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}

function integer(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) throw new InvalidArgumentError(name, `an integer >= ${min}`, value);
  return value;
}
