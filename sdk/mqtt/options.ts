/**
 * Where the broker is and how to authenticate: from options first, then the environment
 * (`JETFACE_MQTT_*`), with secrets readable from files (Docker/Kubernetes secrets, systemd
 * credentials) so they need not sit in a config file or a process listing.
 */
import { readFile } from 'node:fs/promises';
import { InputFileError, InvalidArgumentError, errorMessage } from '../errors';
import { assertBackoff, type BackoffOptions } from './backoff';

/** TLS material: PEM text or buffers, or the files holding them. */
export interface MqttTlsOptions {
  /** CA certificate(s) the broker's certificate must chain to (env `JETFACE_MQTT_CA_FILE`). */
  ca?: string | Buffer;
  caFile?: string;
  /** Client certificate for brokers that require one (env `JETFACE_MQTT_CERT_FILE`). */
  cert?: string | Buffer;
  certFile?: string;
  /** The client certificate's private key (env `JETFACE_MQTT_KEY_FILE`). */
  key?: string | Buffer;
  keyFile?: string;
  /** Verify the broker's certificate (default true; turn off only for a throwaway test broker). */
  rejectUnauthorized?: boolean;
  /** Host name to verify the certificate against, when it differs from the URL's. */
  servername?: string;
}

/**
 * How to reach the MQTT broker.
 *
 * @example
 * ```ts
 * const connection: MqttConnectionOptions = {
 *   url: 'mqtts://broker.local:8883',
 *   username: 'jetson-1',
 *   passwordFile: '/run/secrets/mqtt-password',
 *   tls: { caFile: '/etc/jetface/ca.pem' },
 * };
 * ```
 */
export interface MqttConnectionOptions {
  /** `mqtt://`, `mqtts://`, `ws://` or `wss://` URL (env `JETFACE_MQTT_URL`; default `mqtt://localhost:1883`). */
  url?: string;
  /** env `JETFACE_MQTT_USERNAME`. */
  username?: string;
  /** env `JETFACE_MQTT_PASSWORD`. */
  password?: string;
  /** A file whose content (trailing newline trimmed) is the password (env `JETFACE_MQTT_PASSWORD_FILE`). */
  passwordFile?: string;
  tls?: MqttTlsOptions;
  /** MQTT protocol version: 4 (3.1.1, default; the embedded aedes broker speaks only this) or 5. */
  protocolVersion?: 4 | 5;
  /** Keep-alive interval (default 30 s). */
  keepaliveSeconds?: number;
  /** How long to wait for the broker's CONNACK (default 10 s). */
  connectTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** Environment to read `JETFACE_MQTT_*` from (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Connection settings with files read and defaults applied. */
export interface ResolvedConnection {
  url: string;
  /** The URL without credentials, for messages and logs. */
  safeUrl: string;
  username?: string;
  password?: string;
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  rejectUnauthorized: boolean;
  servername?: string;
  protocolVersion: 4 | 5;
  keepaliveSeconds: number;
  connectTimeoutMs: number;
  backoff: BackoffOptions;
}

export const DEFAULT_MQTT_URL = 'mqtt://localhost:1883';

/** Merges options with the environment and reads the secret files. */
export async function resolveConnection(options: MqttConnectionOptions = {}): Promise<ResolvedConnection> {
  const env = options.env ?? process.env;
  const url = options.url ?? env['JETFACE_MQTT_URL'] ?? DEFAULT_MQTT_URL;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidArgumentError('url', 'an mqtt://, mqtts://, ws:// or wss:// URL', url);
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:', 'ssl:', 'tls:'].includes(parsed.protocol)) {
    throw new InvalidArgumentError('url', 'an mqtt://, mqtts://, ws:// or wss:// URL', url);
  }
  const protocolVersion = options.protocolVersion ?? 4;
  if (protocolVersion !== 4 && protocolVersion !== 5) throw new InvalidArgumentError('protocolVersion', '4 or 5', protocolVersion);
  const keepaliveSeconds = positive('keepaliveSeconds', options.keepaliveSeconds ?? 30);
  const connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs ?? 10_000);
  assertBackoff(options.backoff);

  const tls = options.tls ?? {};
  const passwordFile = options.passwordFile ?? env['JETFACE_MQTT_PASSWORD_FILE'];
  const password = options.password ?? (passwordFile ? (await readSecret(passwordFile, 'passwordFile')).toString('utf8').trimEnd() : env['JETFACE_MQTT_PASSWORD']);
  const username = options.username ?? env['JETFACE_MQTT_USERNAME'];
  const ca = tls.ca ?? (await optionalFile(tls.caFile ?? env['JETFACE_MQTT_CA_FILE'], 'tls.caFile'));
  const cert = tls.cert ?? (await optionalFile(tls.certFile ?? env['JETFACE_MQTT_CERT_FILE'], 'tls.certFile'));
  const key = tls.key ?? (await optionalFile(tls.keyFile ?? env['JETFACE_MQTT_KEY_FILE'], 'tls.keyFile'));
  if ((cert === undefined) !== (key === undefined)) throw new InvalidArgumentError('tls', 'a client certificate and its key together', cert ? 'a certificate without a key' : 'a key without a certificate');

  if ((ca !== undefined || cert !== undefined) && !['mqtts:', 'wss:', 'ssl:', 'tls:'].includes(parsed.protocol)) {
    throw new InvalidArgumentError('url', 'an mqtts:// or wss:// URL when TLS options (CA, client certificate) are given', url);
  }
  const safe = new URL(url);
  safe.username = '';
  safe.password = '';
  return {
    url,
    safeUrl: safe.toString().replace(/\/$/, ''),
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(ca !== undefined ? { ca } : {}),
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
    protocolVersion,
    keepaliveSeconds,
    connectTimeoutMs,
    backoff: options.backoff ?? {},
  };
}

function positive(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new InvalidArgumentError(name, 'a positive number', value);
  return value;
}

async function optionalFile(file: string | undefined, option: string): Promise<Buffer | undefined> {
  return file === undefined || file === '' ? undefined : readSecret(file, option);
}

async function readSecret(file: string, option: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new InputFileError(file, `cannot read ${option}: ${errorMessage(error)}`, { option });
  }
}
