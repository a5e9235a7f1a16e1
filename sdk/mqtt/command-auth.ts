/**
 * The signed command format of {@link CommandChannel}: its shape (JSON Schema, checked with
 * ajv), the canonical JSON the HMAC covers, signing for backends and verification for devices.
 *
 * Canonical JSON: `JSON.stringify` of the value with every object's keys sorted by UTF-16 code
 * unit order (JavaScript's default sort), recursively, arrays kept in order, no whitespace,
 * properties whose value is `undefined` left out. The HMAC is HMAC-SHA256 with the sender's key
 * (its own, or the shared secret) over the UTF-8 bytes of the canonical JSON of the whole command
 * without its `hmac` field, written as 64 lowercase hex digits.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { InvalidArgumentError } from '../errors';

/** A command as a backend sends it, on `<prefix>/<device>/commands/<verb>`. */
export interface SignedCommand {
  /** Unique per command (a UUID is best): the device refuses an id it has seen, and answers with it. */
  id: string;
  /** What to do; equals the topic's last level. */
  verb: string;
  /** The sender; picks the key the device verifies with (its own key, or the shared secret of `allowedClients`). */
  clientId: string;
  /**
   * The device it is addressed to (the topic's `<device>` level). Signed, so that with a secret
   * shared by several devices a command captured for one cannot be replayed to another.
   */
  device: string;
  /** When it was issued (ISO 8601); outside the device's `maxSkewMs` window it is refused. */
  issuedAt: string;
  /** The verb's arguments (any JSON). */
  args?: unknown;
  /** Where to answer, inside `<prefix>/<device>/` (default `<prefix>/<device>/commands/<verb>/response`). */
  responseTopic?: string;
  /** Hex HMAC-SHA256 over the canonical JSON of everything else. */
  hmac: string;
}

/** A command before signing; `id` and `issuedAt` are filled in by {@link signCommand} when missing. */
export type UnsignedCommand = Omit<SignedCommand, 'hmac' | 'id' | 'issuedAt'> & { id?: string; issuedAt?: string };

/** The JSON Schema (draft-07) of a command payload; unknown properties are allowed (and covered by the HMAC). */
export const COMMAND_JSON_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  required: ['id', 'verb', 'clientId', 'device', 'issuedAt', 'hmac'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 128 },
    verb: { type: 'string', pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$' },
    clientId: { type: 'string', minLength: 1, maxLength: 128 },
    device: { type: 'string', minLength: 1, maxLength: 128 },
    issuedAt: { type: 'string', format: 'date-time' },
    args: {},
    responseTopic: { type: 'string', minLength: 1, maxLength: 512 },
    hmac: { type: 'string', pattern: '^[0-9a-f]{64}$' },
  },
} as const;

let compiled: ValidateFunction<SignedCommand> | undefined;

/** Checks a parsed payload against {@link COMMAND_JSON_SCHEMA}; `issues` are `path: message` strings. */
export function validateCommandShape(value: unknown): { ok: true; command: SignedCommand } | { ok: false; issues: string[] } {
  if (!compiled) {
    const ajv = new Ajv({ allErrors: true, strict: true });
    addFormats(ajv, ['date-time']);
    compiled = ajv.compile<SignedCommand>(COMMAND_JSON_SCHEMA);
  }
  if (compiled(value)) return { ok: true, command: value };
  return { ok: false, issues: (compiled.errors ?? []).map((e) => `${e.instancePath || '(root)'}: ${e.message ?? e.keyword}`) };
}

/**
 * JSON with object keys sorted recursively (see the module comment).
 *
 * @example
 * ```ts
 * canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: null } }); // '{"a":{"c":null,"d":[2,{"e":0,"f":1}]},"b":1}'
 * ```
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    if (text === undefined) throw new InvalidArgumentError('value', 'JSON data', value);
    return text;
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
}

/** Hex HMAC-SHA256 of the canonical JSON of `value` without its `hmac` property. */
export function commandHmac(value: object, secret: Buffer | string): string {
  const { hmac: _ignored, ...rest } = value as Record<string, unknown>;
  return createHmac('sha256', secret).update(canonicalJson(rest), 'utf8').digest('hex');
}

/**
 * Signs a command for a device's {@link CommandChannel}: fills `id` (random UUID) and `issuedAt`
 * (now) when missing and adds `hmac`. Publish `JSON.stringify(result)` on
 * `<prefix>/<device>/commands/<verb>` with QoS 1, `<device>` being the command's `device`
 * (a device refuses a command addressed to another one).
 *
 * @example
 * ```ts
 * const command = signCommand({ verb: 'list', clientId: 'backend-1', device: 'jetson-1', args: {} }, process.env.JETFACE_COMMAND_SECRET!);
 * await client.publishAsync(`jetface/jetson-1/commands/${command.verb}`, JSON.stringify(command), { qos: 1 });
 * ```
 */
export function signCommand(command: UnsignedCommand, secret: Buffer | string): SignedCommand {
  assertSecret(secret);
  // Caught here too (not only by the device) so that a JavaScript caller without types learns it at once.
  if (typeof command?.device !== 'string' || command.device === '') throw new InvalidArgumentError('command.device', 'the id of the device the command is for', command?.device);
  const unsigned = { ...command, id: command.id ?? randomUUID(), issuedAt: command.issuedAt ?? new Date().toISOString() };
  return { ...unsigned, hmac: commandHmac(unsigned, secret) };
}

/** Constant-time check of the `hmac` of a command (schema-checked) or of a device's response to one. */
export function verifyCommandHmac(command: { hmac: string }, secret: Buffer | string): boolean {
  const expected = createHmac('sha256', secret).update(canonicalJson({ ...command, hmac: undefined }), 'utf8').digest();
  const given = Buffer.from(command.hmac, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Throws unless the secret has at least 16 bytes. */
export function assertSecret(secret: Buffer | string): void {
  const length = typeof secret === 'string' ? Buffer.byteLength(secret) : Buffer.isBuffer(secret) ? secret.length : -1;
  if (length < 16) throw new InvalidArgumentError('secret', 'a Buffer or string of at least 16 bytes', Buffer.isBuffer(secret) ? secret : typeof secret === 'string' ? `(${length} bytes)` : secret);
}
