/**
 * One logical MQTT connection that keeps itself up: a fresh mqtt.js client per attempt (its
 * own reconnect is off), exponential backoff with jitter between attempts, and typed errors.
 * A fresh client per attempt means nothing is resent behind the caller's back: the publisher
 * replays from its outbox, in order, on every connect.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { IClientOptions, MqttClient } from 'mqtt';
import { BrokerAuthError, BrokerConnectionError, WaitTimeoutError, errorMessage, type JetfaceError } from '../errors';
import { backoffDelay } from './backoff';
import type { ResolvedConnection } from './options';

/** What identifies the client's session at the broker. */
export interface SessionOptions {
  clientId: string;
  /** false: the broker keeps subscriptions and queued QoS 1 messages while the client is away. */
  clean: boolean;
  will?: { topic: string; payload: string; qos: 1; retain: boolean };
}

/** Events of a {@link MqttConnection}. */
export interface ConnectionEvents {
  /** A client was created for an attempt, before any packet arrives: the place to install handlers. */
  client: [client: MqttClient];
  connect: [client: MqttClient];
  disconnect: [];
  error: [error: JetfaceError];
}

// CONNACK reason codes that mean "your credentials are wrong" (MQTT 3.1.1: 4, 5; MQTT 5: 134, 135, 138, 140).
const AUTH_CODES = new Set([4, 5, 134, 135, 138, 140]);

const CLOSE_GRACE_MS = 2000;

let mqttModule: Promise<typeof import('mqtt')> | undefined;
// mqtt.js and its transports load on the first connect, not when jetface is imported.
function loadMqtt(): Promise<typeof import('mqtt')> {
  mqttModule ??= import('mqtt');
  return mqttModule;
}

export class MqttConnection extends EventEmitter<ConnectionEvents> {
  private client: MqttClient | undefined;
  private connected = false;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private connects = 0;
  /** The last connection failure, kept even when nobody listens to 'error'. */
  lastError: JetfaceError | undefined;

  constructor(
    readonly settings: ResolvedConnection,
    private readonly session: SessionOptions,
  ) {
    super();
  }

  /** Connections made after the first one. */
  get reconnects(): number {
    return Math.max(0, this.connects - 1);
  }

  /** The connected client, or undefined while disconnected. */
  get current(): MqttClient | undefined {
    return this.connected ? this.client : undefined;
  }

  start(): void {
    void this.attempt();
  }

  /** Stops reconnecting; runs `beforeEnd` on a connected client, then disconnects (cleanly when it can). */
  async close(beforeEnd?: (client: MqttClient) => Promise<void>): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const client = this.client;
    if (!client) return;
    const graceful = this.connected;
    this.connected = false;
    this.client = undefined;
    // A clean goodbye waits for PUBACKs; a broker that went silent must not hang close().
    if (graceful) {
      const timer = new AbortController();
      const goodbye = (async () => {
        if (beforeEnd) await beforeEnd(client).catch(() => undefined);
        await client.endAsync(false).catch(() => undefined);
      })();
      await Promise.race([goodbye, delay(CLOSE_GRACE_MS, undefined, { signal: timer.signal }).catch(() => undefined)]);
      timer.abort();
    }
    client.end(true);
    client.stream?.destroy();
  }

  private async attempt(): Promise<void> {
    if (this.closed) return;
    const { connect } = await loadMqtt();
    if (this.closed) return;
    let client: MqttClient;
    try {
      client = connect(this.settings.url, this.clientOptions());
    } catch (error) {
      this.report(this.classify(error as Error));
      this.timer = setTimeout(() => void this.attempt(), backoffDelay(this.failures++, this.settings.backoff));
      return;
    }
    this.client = client;
    this.emit('client', client);
    let done = false;
    client.on('connect', () => {
      this.connected = true;
      this.failures = 0;
      this.connects += 1;
      this.emit('connect', client);
    });
    client.on('error', (error) => this.report(this.classify(error)));
    client.on('close', () => {
      if (done) return;
      done = true;
      const wasConnected = this.connected;
      this.connected = false;
      client.removeAllListeners();
      client.on('error', () => undefined); // a late socket error must not become an unhandled 'error'
      client.end(true);
      if (this.client === client) this.client = undefined;
      if (wasConnected) this.emit('disconnect');
      if (this.closed) return;
      this.timer = setTimeout(() => void this.attempt(), backoffDelay(this.failures, this.settings.backoff));
      this.failures += 1;
    });
  }

  private clientOptions(): IClientOptions {
    const s = this.settings;
    return {
      clientId: this.session.clientId,
      clean: this.session.clean,
      protocolVersion: s.protocolVersion,
      keepalive: s.keepaliveSeconds,
      connectTimeout: s.connectTimeoutMs,
      reconnectPeriod: 0,
      resubscribe: false,
      queueQoSZero: false,
      rejectUnauthorized: s.rejectUnauthorized,
      ...(s.username !== undefined ? { username: s.username } : {}),
      ...(s.password !== undefined ? { password: s.password } : {}),
      ...(s.ca !== undefined ? { ca: s.ca } : {}),
      ...(s.cert !== undefined ? { cert: s.cert } : {}),
      ...(s.key !== undefined ? { key: s.key } : {}),
      ...(s.servername !== undefined ? { servername: s.servername } : {}),
      ...(this.session.will ? { will: this.session.will } : {}),
    };
  }

  private classify(error: Error & { code?: unknown }): JetfaceError {
    const url = this.settings.safeUrl;
    if (typeof error.code === 'number' && AUTH_CODES.has(error.code)) return new BrokerAuthError(url, error.code, error.message);
    return new BrokerConnectionError(url, errorMessage(error), typeof error.code === 'string' || typeof error.code === 'number' ? { reason: error.code } : {}, error);
  }

  // Never thrown: with no 'error' listener the failure is only kept in lastError.
  private report(error: JetfaceError): void {
    this.lastError = error;
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}

/**
 * Resolves when one of `waiters` is called (the owner calls them all once subscribed); rejects at
 * once when the broker refuses the credentials (`E_MQTT_AUTH`), else after `timeoutMs` with the
 * connection's last error or a `WaitTimeoutError` naming `what`.
 */
export function waitForSubscribed(connection: MqttConnection, waiters: Set<() => void>, what: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const finish = (error?: JetfaceError) => {
      clearTimeout(timer);
      waiters.delete(done);
      connection.off('error', onError);
      if (error) reject(error);
      else resolve();
    };
    const done = () => finish();
    const onError = (error: JetfaceError) => {
      if (error.code === 'E_MQTT_AUTH') finish(error);
    };
    const timer = setTimeout(() => finish(connection.lastError ?? new WaitTimeoutError(what, timeoutMs)), timeoutMs);
    waiters.add(done);
    connection.on('error', onError);
  });
}

/**
 * The end of every `create()` that starts a connection: waits up to `waitMs` (0: not at all) with
 * `ready`, and closes `resource` when that fails, so a failed create leaves no connection behind.
 */
export async function readyOrClose<T extends { close(): Promise<void> }>(resource: T, waitMs: number, ready: (timeoutMs: number) => Promise<void>): Promise<T> {
  if (waitMs > 0) {
    try {
      await ready(waitMs);
    } catch (error) {
      await resource.close();
      throw error;
    }
  }
  return resource;
}
