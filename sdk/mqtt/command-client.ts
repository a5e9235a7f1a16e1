/**
 * The sending side of the command channel: signs each command with this client's own key, asks
 * for the answer on `<prefix>/<device>/replies/<clientId>`, and resolves with the device's result
 * once the answer's HMAC checks out with the same key. Refusals and failures become
 * {@link RemoteCommandError}s; a device that does not answer, a {@link WaitTimeoutError}.
 */
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { BrokerConnectionError, ClosedError, RemoteCommandError, WaitTimeoutError, errorMessage } from '../errors';
import { DEFAULT_TOPIC_PREFIX, assertTopicLevel, assertTopicPrefix } from '../events/topics';
import { assertSecret, signCommand, verifyCommandHmac } from './command-auth';
import type { CommandResponse } from './commands';
import { MqttConnection, readyOrClose, waitForSubscribed } from './connection';
import { resolveConnection, type MqttConnectionOptions } from './options';

/** Options of {@link CommandClient.create}. */
export interface CommandClientOptions extends MqttConnectionOptions {
  /** The client id commands are signed as (a topic level: answers come back on `.../replies/<clientId>`). */
  clientId: string;
  /** This client's own key (or the shared secret of a device's `allowedClients`), at least 16 bytes. */
  key: Buffer | string;
  prefix?: string;
  /** How long {@link CommandClient.send} waits for an answer (default 15 s). */
  timeoutMs?: number;
  /** create() waits this long for the subscriptions (default 10 s); 0 returns at once. */
  waitForConnectionMs?: number;
}

interface Pending {
  device: string;
  verb: string;
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Sends signed commands to devices and waits for their verified answers.
 *
 * @example
 * ```ts
 * const client = await CommandClient.create({ url: 'mqtts://broker.local:8883', clientId: 'console', key: readFileSync('console.key') });
 * const { people } = await client.send<{ people: PersonRecord[] }>('jetson-1', 'list', {});
 * await client.close();
 * ```
 */
export class CommandClient {
  private readonly pending = new Map<string, Pending>();
  private readonly waiters = new Set<() => void>();
  private subscribed = false;
  private closed = false;

  private constructor(
    private readonly options: CommandClientOptions & { prefix: string; timeoutMs: number },
    private readonly connection: MqttConnection,
  ) {
    connection.on('client', (client) => client.on('message', (topic, payload) => this.onMessage(topic, payload)));
    connection.on('connect', (client) => void this.onConnect(client));
    connection.on('disconnect', () => (this.subscribed = false));
    connection.on('error', () => undefined); // kept as connection.lastError
  }

  static async create(options: CommandClientOptions): Promise<CommandClient> {
    const prefix = options.prefix ?? DEFAULT_TOPIC_PREFIX;
    assertTopicPrefix(prefix);
    assertTopicLevel('clientId', options.clientId);
    assertSecret(options.key);
    const settings = await resolveConnection(options);
    const connection = new MqttConnection(settings, { clientId: `jetface-cmdc-${options.clientId}-${randomBytes(4).toString('hex')}`, clean: true });
    const client = new CommandClient({ ...options, prefix, timeoutMs: options.timeoutMs ?? 15_000 }, connection);
    connection.start();
    return readyOrClose(client, options.waitForConnectionMs ?? 10_000, (ms) => client.ready(ms));
  }

  /** The id commands are signed as. */
  get clientId(): string {
    return this.options.clientId;
  }

  /** Resolves once the answer topics are subscribed. */
  ready(timeoutMs = 10_000): Promise<void> {
    if (this.subscribed) return Promise.resolve();
    return waitForSubscribed(this.connection, this.waiters, 'the command answer subscription', timeoutMs);
  }

  /** Signs and sends `verb` to `device`; resolves with the verified `result`, rejects with the device's refusal or failure. */
  async send<T = unknown>(device: string, verb: string, args: unknown, timeoutMs = this.options.timeoutMs): Promise<T> {
    if (this.closed) throw new ClosedError('command client');
    assertTopicLevel('device', device);
    assertTopicLevel('verb', verb);
    await this.ready(timeoutMs);
    const client = this.connection.current;
    if (!client) throw this.connection.lastError ?? new BrokerConnectionError(this.connection.settings.safeUrl, 'not connected');
    const command = signCommand({ verb, clientId: this.options.clientId, device, args, responseTopic: this.replyTopic(device) }, this.options.key);
    const answer = new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(command.id);
        reject(new WaitTimeoutError(`device ${device}'s answer to ${verb}`, timeoutMs));
      }, timeoutMs);
      this.pending.set(command.id, { device, verb, resolve: resolve as (r: unknown) => void, reject, timer });
    });
    try {
      await client.publishAsync(`${this.options.prefix}/${device}/commands/${verb}`, JSON.stringify(command), { qos: 1 });
    } catch (error) {
      const p = this.pending.get(command.id);
      if (p) {
        clearTimeout(p.timer);
        this.pending.delete(command.id);
      }
      throw new BrokerConnectionError(this.connection.settings.safeUrl, `cannot publish the command: ${errorMessage(error)}`, { device, verb }, error);
    }
    return answer;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ClosedError('command client'));
      this.pending.delete(id);
    }
    await this.connection.close();
  }

  private replyTopic(device: string): string {
    return `${this.options.prefix}/${device}/replies/${this.options.clientId}`;
  }

  private async onConnect(client: MqttClient): Promise<void> {
    // Refusals sent before the device verified the command go to the default response topic.
    const topics = [`${this.options.prefix}/+/replies/${this.options.clientId}`, `${this.options.prefix}/+/commands/+/response`];
    try {
      const granted = await client.subscribeAsync(topics, { qos: 1 });
      if (granted.some((g) => g.qos === 128)) throw new Error(`the broker refused a subscription to ${topics.join(' or ')}`);
    } catch {
      return; // kept for the next connect; send() times out meanwhile
    }
    this.subscribed = true;
    for (const done of [...this.waiters]) done();
  }

  private onMessage(_topic: string, payload: Buffer): void {
    let response: CommandResponse;
    try {
      response = JSON.parse(payload.toString('utf8')) as CommandResponse;
    } catch {
      return;
    }
    const p = typeof response?.id === 'string' ? this.pending.get(response.id) : undefined;
    if (!p) return; // another client's answer, or one that came too late
    this.pending.delete(response.id);
    clearTimeout(p.timer);
    const verified = typeof response.hmac === 'string' && verifyCommandHmac(response, this.options.key);
    if (response.ok === true && verified) return p.resolve(response.result);
    if (response.ok === true) return p.reject(new RemoteCommandError(p.device, p.verb, 'the answer is not signed with this client key', { remoteCode: 'E_UNVERIFIED_ANSWER', verified: false }));
    const error = response.error ?? { code: 'E_COMMAND_FAILED', message: 'no error given' };
    p.reject(new RemoteCommandError(p.device, p.verb, error.message, { remoteCode: error.code, ...(error.reason ? { reason: error.reason } : {}), verified }));
  }
}
