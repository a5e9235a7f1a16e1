/**
 * Which key verifies a command from which client. Each client may have its own key, so holding
 * one client's key does not let you claim another client's id; the older shared secret still
 * signs for the clients listed in `allowedClients`. A revoked client is refused whatever it
 * signs with, and revoking it re-keys nobody else.
 */
import { InvalidArgumentError } from '../errors';
import { assertSecret } from './command-auth';

/** A key: at least 16 bytes. */
export type CommandKey = Buffer | string;

/** The key settings of {@link CommandChannel.create} (all optional, at least one client in all). */
export interface CommandKeyOptions {
  /** The shared secret of the clients in `allowedClients` (the format before per-client keys). */
  secret?: CommandKey;
  /** Client ids that sign with the shared `secret`. */
  allowedClients?: readonly string[];
  /** Clients with their own key, by client id: a command claiming one of these ids verifies only with that key. */
  clientKeys?: Readonly<Record<string, CommandKey>>;
  /** Client ids refused whatever they sign with (a key kept in `clientKeys` stays unused). */
  revokedClients?: readonly string[];
}

/** How a client id stands with this device. */
export type ClientStanding = { kind: 'revoked' } | { kind: 'unknown' } | { kind: 'key'; key: CommandKey; shared: boolean };

/** The device's keys; built once from validated options. */
export class CommandKeyring {
  private readonly own: ReadonlyMap<string, CommandKey>;
  private readonly sharedClients: ReadonlySet<string>;
  private readonly revoked: ReadonlySet<string>;
  private readonly secret: CommandKey | undefined;

  /** Throws `InvalidArgumentError` naming the option that is wrong. */
  constructor(options: CommandKeyOptions) {
    const allowed = clientIds('allowedClients', options.allowedClients ?? []);
    const revoked = clientIds('revokedClients', options.revokedClients ?? []);
    const keys = options.clientKeys ?? {};
    if (keys === null || typeof keys !== 'object' || Array.isArray(keys)) throw new InvalidArgumentError('clientKeys', 'an object of client id → key', keys);
    for (const [id, key] of Object.entries(keys)) {
      clientIds('clientKeys', [id]);
      try {
        assertSecret(key);
      } catch {
        throw new InvalidArgumentError(`clientKeys.${id}`, 'a Buffer or string of at least 16 bytes', typeof key === 'string' ? `(${Buffer.byteLength(key)} bytes)` : key);
      }
      if (allowed.includes(id)) throw new InvalidArgumentError('allowedClients', `client ids without a key of their own in clientKeys (${id} has one: the shared secret must not sign for it)`, allowed);
    }
    if (options.secret !== undefined) assertSecret(options.secret);
    if (allowed.length > 0 && options.secret === undefined) throw new InvalidArgumentError('secret', 'the shared secret the allowedClients sign with', undefined);
    if (allowed.length === 0 && Object.keys(keys).length === 0) throw new InvalidArgumentError('allowedClients', 'at least one client: allowedClients (with secret) or clientKeys', allowed);
    this.own = new Map(Object.entries(keys));
    this.sharedClients = new Set(allowed);
    this.revoked = new Set(revoked);
    this.secret = options.secret;
  }

  /** Whether the client is revoked, unknown, or which key verifies its commands. */
  standing(clientId: string): ClientStanding {
    if (this.revoked.has(clientId)) return { kind: 'revoked' };
    const own = this.own.get(clientId);
    if (own !== undefined) return { kind: 'key', key: own, shared: false };
    if (this.secret !== undefined && this.sharedClients.has(clientId)) return { kind: 'key', key: this.secret, shared: true };
    return { kind: 'unknown' };
  }

  /**
   * The key a response to `clientId` is signed with, so that the client can check it came from
   * this device: its own key (even when revoked: an HMAC reveals nothing of it), else the shared
   * secret; undefined when the device holds neither.
   */
  responseKey(clientId: string | undefined): CommandKey | undefined {
    return (clientId === undefined ? undefined : this.own.get(clientId)) ?? this.secret;
  }
}

function clientIds(name: string, ids: readonly string[]): string[] {
  if (!Array.isArray(ids) || ids.some((c) => typeof c !== 'string' || c === '' || c.length > 128)) throw new InvalidArgumentError(name, 'client ids of 1 to 128 characters', ids);
  return [...ids];
}
