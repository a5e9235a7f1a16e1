/**
 * CommandChannel: remote commands to a device over MQTT (enroll, delete, list, ...). A command
 * runs only when it is well formed, addressed to this device, from a client that is not revoked,
 * signed with that client's key (its own, or the shared secret of `allowedClients`; HMAC-SHA256,
 * see `command-auth.ts` and `command-keys.ts`), issued within the clock-skew window and not seen
 * before; anything else is refused: counted, reported as a typed `'refused'` event, answered with
 * `ok: false` when its id can be read, and never executed. Nothing here throws into the process.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import {
  BrokerConnectionError,
  CommandFailedError,
  CommandRefusedError,
  InvalidArgumentError,
  JetfaceError,
  errorMessage,
  type CommandRefusalReason,
} from '../errors';
import { DEFAULT_TOPIC_PREFIX, assertTopicLevel, assertTopicPrefix } from '../events/topics';
import { RecentIds } from './dedup';
import { MqttConnection, readyOrClose, waitForSubscribed } from './connection';
import { resolveConnection, type MqttConnectionOptions } from './options';
import { commandHmac, validateCommandShape, verifyCommandHmac, type SignedCommand } from './command-auth';
import { CommandKeyring, type CommandKeyOptions } from './command-keys';

/** What a handler gets besides the arguments. */
export interface CommandContext {
  id: string;
  verb: string;
  clientId: string;
  issuedAt: string;
}

/** Runs one verb; its resolved value (JSON) is the response's `result`; a throw becomes `ok: false`. */
export type CommandHandler = (args: unknown, context: CommandContext) => unknown;

/** Options of {@link CommandChannel.create}. */
export interface CommandChannelOptions extends MqttConnectionOptions, CommandKeyOptions {
  /** This device's id (a topic level). */
  device: string;
  /** Topic prefix (default `jetface`). */
  prefix?: string;
  /** The verbs this device understands. */
  handlers: Readonly<Record<string, CommandHandler>>;
  /** How far `issuedAt` may be from the device's clock, either way (default 30 s). */
  maxSkewMs?: number;
  /** Command ids remembered against replay (default 10,000). */
  replayCacheSize?: number;
  /** Largest payload accepted (default 256 KiB). */
  maxPayloadBytes?: number;
  /** Milliseconds since the epoch (default `Date.now`); for tests. */
  clock?: () => number;
  /** MQTT client id (default `jetface-cmd-<device>-<random>`). */
  clientId?: string;
  /** create() waits this long for the subscription (default 10 s); 0 returns at once. */
  waitForConnectionMs?: number;
}

/**
 * The answer to a command, on its response topic. `hmac` signs the rest with the claimed client's
 * own key, else the shared secret; it is `''` when the device holds neither (an unknown client
 * on a device without a shared secret): such an answer proves nothing.
 */
export type CommandResponse = CommandResponseBody & { hmac: string };

/** A response without its `hmac`. */
export type CommandResponseBody =
  | { id: string; ok: true; result: unknown }
  | { id: string; ok: false; error: { code: string; message: string; reason?: CommandRefusalReason } };

/** Counters of a command channel. */
export interface CommandStats {
  connected: boolean;
  received: number;
  executed: number;
  succeeded: number;
  failed: number;
  refused: number;
  refusedBy: Record<CommandRefusalReason, number>;
  responses: number;
  /** Responses that could not be published (disconnected, broker error). */
  responseErrors: number;
  lastError: { code: string; message: string } | null;
}

/** Events of a command channel; `error` (connection problems) is emitted only while someone listens. */
export interface CommandChannelEvents {
  refused: [error: CommandRefusedError];
  executed: [context: CommandContext, response: CommandResponse];
  connect: [];
  disconnect: [];
  error: [error: JetfaceError];
}

const REASONS: readonly CommandRefusalReason[] = ['too_large', 'json', 'shape', 'hmac', 'client', 'revoked', 'stale', 'replay', 'verb', 'response_topic'];

/**
 * Receives signed commands on `<prefix>/<device>/commands/+` (QoS 1) and answers them.
 *
 * @example
 * ```ts
 * const channel = await CommandChannel.create({
 *   url: 'mqtts://broker.local:8883', tls: { caFile: 'ca.pem' }, device: 'jetson-1',
 *   clientKeys: { 'backend-1': readFileSync('/run/secrets/backend-1.key'), console: readFileSync('/run/secrets/console.key') },
 *   revokedClients: ['old-laptop'],
 *   handlers: { list: async () => gallery.list(), delete: async (args) => gallery.remove((args as { personId: string }).personId) },
 * });
 * channel.on('refused', (e) => console.warn(e.code, e.reason, e.message));
 * ```
 */
export class CommandChannel extends EventEmitter<CommandChannelEvents> {
  private readonly recent: RecentIds;
  private readonly counts = { received: 0, executed: 0, succeeded: 0, failed: 0, refused: 0, responses: 0, responseErrors: 0 };
  private readonly refusedBy = Object.fromEntries(REASONS.map((r) => [r, 0])) as Record<CommandRefusalReason, number>;
  private readonly keys: CommandKeyring;
  private readonly base: string;
  private subscribed = false;
  private closed = false;
  private readonly waiters = new Set<() => void>();

  private constructor(
    private readonly options: CommandChannelOptions & { maxSkewMs: number; maxPayloadBytes: number; clock: () => number },
    private readonly connection: MqttConnection,
    replayCacheSize: number,
    keys: CommandKeyring,
  ) {
    super();
    this.recent = new RecentIds(replayCacheSize);
    this.keys = keys;
    this.base = `${options.prefix ?? DEFAULT_TOPIC_PREFIX}/${options.device}`;
    connection.on('client', (client) => client.on('message', (topic, payload) => void this.onMessage(topic, payload).catch(() => undefined)));
    connection.on('connect', (client) => void this.onConnect(client));
    connection.on('disconnect', () => {
      this.subscribed = false;
      this.emit('disconnect');
    });
    connection.on('error', (error) => this.report(error));
  }

  /** Connects and subscribes; rejects with `BrokerAuthError` or `WaitTimeoutError` (see `waitForConnectionMs`). */
  static async create(options: CommandChannelOptions): Promise<CommandChannel> {
    const prefix = options.prefix ?? DEFAULT_TOPIC_PREFIX;
    assertTopicPrefix(prefix);
    assertTopicLevel('device', options.device);
    const keys = new CommandKeyring(options);
    for (const verb of Object.keys(options.handlers ?? {})) assertTopicLevel('handler verb', verb);
    const maxSkewMs = integer('maxSkewMs', options.maxSkewMs ?? 30_000, 1);
    const maxPayloadBytes = integer('maxPayloadBytes', options.maxPayloadBytes ?? 256 * 1024, 1);
    const replayCacheSize = integer('replayCacheSize', options.replayCacheSize ?? 10_000, 1);
    const waitMs = integer('waitForConnectionMs', options.waitForConnectionMs ?? 10_000, 0);
    const settings = await resolveConnection(options);
    const connection = new MqttConnection(settings, { clientId: options.clientId ?? `jetface-cmd-${options.device}-${randomBytes(4).toString('hex')}`, clean: true });
    const channel = new CommandChannel({ ...options, maxSkewMs, maxPayloadBytes, clock: options.clock ?? Date.now }, connection, replayCacheSize, keys);
    connection.start();
    return readyOrClose(channel, waitMs, (ms) => channel.waitForSubscription(ms));
  }

  /** Resolves once subscribed; rejects at once on `E_MQTT_AUTH`, else after `timeoutMs`. */
  waitForSubscription(timeoutMs = 10_000): Promise<void> {
    if (this.subscribed) return Promise.resolve();
    return waitForSubscribed(this.connection, this.waiters, 'the command subscription', timeoutMs);
  }

  stats(): CommandStats {
    const lastError = this.connection.lastError;
    return {
      connected: this.connection.current !== undefined,
      ...this.counts,
      refusedBy: { ...this.refusedBy },
      lastError: lastError ? { code: lastError.code, message: lastError.message } : null,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.connection.close();
  }

  private async onConnect(client: MqttClient): Promise<void> {
    this.emit('connect');
    const topic = `${this.base}/commands/+`;
    try {
      const granted = await client.subscribeAsync(topic, { qos: 1 });
      if (granted.some((g) => g.qos === 128)) throw new Error(`the broker refused the subscription to ${topic}`);
    } catch (error) {
      this.report(new BrokerConnectionError(this.connection.settings.safeUrl, errorMessage(error), { topic }));
      return;
    }
    this.subscribed = true;
    for (const done of [...this.waiters]) done();
  }

  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    if (this.closed || !topic.startsWith(`${this.base}/commands/`)) return;
    this.counts.received += 1;
    const topicVerb = topic.slice(this.base.length + '/commands/'.length);
    const defaultTopic = `${this.base}/commands/${topicVerb}/response`;
    if (payload.length > this.options.maxPayloadBytes) return this.refuse('too_large', `payload of ${payload.length} bytes exceeds ${this.options.maxPayloadBytes}`, { topic }, undefined, defaultTopic);
    let value: unknown;
    try {
      value = JSON.parse(payload.toString('utf8'));
    } catch (error) {
      return this.refuse('json', `payload is not JSON: ${errorMessage(error)}`, { topic }, undefined, defaultTopic);
    }
    const shape = validateCommandShape(value);
    if (!shape.ok) return this.refuse('shape', shape.issues.join('; '), { topic, issues: shape.issues }, readableId(value), defaultTopic);
    const command = shape.command;
    const about = { topic, id: command.id, verb: command.verb, clientId: command.clientId };
    if (command.verb !== topicVerb) return this.refuse('shape', `verb ${command.verb} does not match the topic's ${topicVerb}`, about, command.id, defaultTopic, command.clientId);
    if (command.device !== this.options.device) return this.refuse('shape', `device ${command.device} does not match this device ${this.options.device}`, about, command.id, defaultTopic, command.clientId);
    // The claimed client picks the key: one client's key cannot sign as another.
    const standing = this.keys.standing(command.clientId);
    if (standing.kind === 'revoked') return this.refuse('revoked', `client ${command.clientId} is revoked`, about, command.id, defaultTopic, command.clientId);
    if (standing.kind === 'unknown') return this.refuse('client', `client ${command.clientId} is not allowed (this device holds no key for it)`, about, command.id, defaultTopic, command.clientId);
    if (!verifyCommandHmac(command, standing.key)) {
      const whose = standing.shared ? 'the shared secret' : `the key of client ${command.clientId}`;
      return this.refuse('hmac', `the HMAC does not match the payload signed with ${whose}`, about, command.id, defaultTopic, command.clientId);
    }
    // From here on the payload is authentic: its responseTopic may be used, if it stays in this device's tree.
    const responseTopic = command.responseTopic ?? defaultTopic;
    if (!this.ownResponseTopic(responseTopic)) return this.refuse('response_topic', `responseTopic ${responseTopic} is outside ${this.base}/ or is a command topic`, about, command.id, defaultTopic, command.clientId);
    const skew = Date.parse(command.issuedAt) - this.options.clock();
    if (!(Math.abs(skew) <= this.options.maxSkewMs)) return this.refuse('stale', `issuedAt ${command.issuedAt} is ${Math.round(skew)} ms from the device clock (limit ${this.options.maxSkewMs})`, about, command.id, responseTopic, command.clientId);
    if (this.recent.seen(command.id)) return this.refuse('replay', `command id ${command.id} was already received`, about, command.id, responseTopic, command.clientId);
    const handler = Object.hasOwn(this.options.handlers, command.verb) ? this.options.handlers[command.verb] : undefined;
    if (!handler) return this.refuse('verb', `unknown verb ${command.verb}`, about, command.id, responseTopic, command.clientId);
    await this.execute(command, handler, responseTopic);
  }

  private async execute(command: SignedCommand, handler: CommandHandler, responseTopic: string): Promise<void> {
    const context: CommandContext = { id: command.id, verb: command.verb, clientId: command.clientId, issuedAt: command.issuedAt };
    this.counts.executed += 1;
    let body: CommandResponseBody;
    try {
      const result: unknown = await handler(command.args, context);
      JSON.stringify(result ?? null); // not serializable (a cycle, a BigInt) fails here, as the handler's failure
      body = { id: command.id, ok: true, result: result ?? null };
      this.counts.succeeded += 1;
    } catch (error) {
      const failure = error instanceof JetfaceError ? error : new CommandFailedError(command.verb, errorMessage(error), error);
      body = { id: command.id, ok: false, error: { code: failure.code, message: failure.message } };
      this.counts.failed += 1;
    }
    const response = await this.respond(responseTopic, body, command.clientId);
    this.emit('executed', context, response);
  }

  private refuse(reason: CommandRefusalReason, message: string, details: Record<string, unknown>, id: string | undefined, responseTopic: string, clientId?: string): Promise<void> {
    this.counts.refused += 1;
    this.refusedBy[reason] += 1;
    const error = new CommandRefusedError(reason, message, details);
    try {
      this.emit('refused', error);
    } catch {
      // a throwing listener must not take the message handler down
    }
    if (id === undefined) return Promise.resolve();
    return this.respond(responseTopic, { id, ok: false, error: { code: error.code, message: error.message, reason } }, clientId).then(() => undefined);
  }

  private async respond(topic: string, body: CommandResponseBody, clientId: string | undefined): Promise<CommandResponse> {
    const key = this.keys.responseKey(clientId);
    const response = { ...body, hmac: key === undefined ? '' : commandHmac(body, key) } as CommandResponse;
    const client = this.connection.current;
    try {
      if (!client) throw new Error('not connected');
      await client.publishAsync(topic, JSON.stringify(response), { qos: 1 });
      this.counts.responses += 1;
    } catch (error) {
      this.counts.responseErrors += 1;
      this.report(new BrokerConnectionError(this.connection.settings.safeUrl, `cannot publish the command response: ${errorMessage(error)}`, { topic, id: body.id }, error));
    }
    return response;
  }

  /** Inside `<prefix>/<device>/`, no wildcards or empty levels, and not a command topic (it would loop back). */
  private ownResponseTopic(topic: string): boolean {
    if (!topic.startsWith(`${this.base}/`) || /[+#\0]/.test(topic)) return false;
    const rest = topic.slice(this.base.length + 1).split('/');
    if (rest.some((level) => level === '')) return false;
    return !(rest.length === 2 && rest[0] === 'commands');
  }

  private report(error: JetfaceError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}

function readableId(value: unknown): string | undefined {
  const id = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)['id'] : undefined;
  return typeof id === 'string' && id.length > 0 && id.length <= 128 ? id : undefined;
}

function integer(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) throw new InvalidArgumentError(name, `an integer >= ${min}`, value);
  return value;
}
