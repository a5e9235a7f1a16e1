/**
 * The console's password, kept only as a scrypt hash (`scrypt$N$r$p$salt$hash`, base64): written by
 * `jetface console passwd`, read from a file or an environment variable like the MQTT password.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { ConsoleError } from '../errors';
import { readSecret } from '../app/secrets';

const scrypt = (password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> =>
  new Promise((resolve, reject) => scryptCb(password, salt, keylen, options, (error, key) => (error ? reject(error) : resolve(key))));

/** scrypt cost: N = 2^15 takes ~0.1 s and 32 MiB here, enough to make guessing slow. */
const DEFAULT = { N: 32768, r: 8, p: 1 };
const KEY_LENGTH = 32;
const FORMAT = /^scrypt\$(\d{1,8})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9+/=]{16,})\$([A-Za-z0-9+/=]{40,})$/;

/**
 * Hashes a password for the console's configuration.
 *
 * @example
 * ```ts
 * await writeFile('console.hash', `${await hashPassword('correct horse battery staple')}\n`, { mode: 0o600 });
 * ```
 */
export async function hashPassword(password: string): Promise<string> {
  if (typeof password !== 'string' || password.length < 8 || password.length > 1024) throw new ConsoleError('a console password has 8 to 1024 characters', { field: 'password' });
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEY_LENGTH, { ...DEFAULT, maxmem: 128 * DEFAULT.N * DEFAULT.r * 2 });
  return `scrypt$${DEFAULT.N}$${DEFAULT.r}$${DEFAULT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** A parsed hash, checked once where it enters. */
export interface PasswordHash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

/** Parses a `scrypt$...` line; a malformed one is a {@link ConsoleError} naming where it came from. */
export function parsePasswordHash(text: string, from: string): PasswordHash {
  const m = FORMAT.exec(text.trim());
  const N = Number(m?.[1]);
  if (!m || N < 1024 || (N & (N - 1)) !== 0) throw new ConsoleError(`${from}: expected a hash written by \`jetface console passwd\` (scrypt$N$r$p$salt$hash), found ${JSON.stringify(text.slice(0, 12))}…`, { from });
  return { N, r: Number(m[2]), p: Number(m[3]), salt: Buffer.from(m[4]!, 'base64'), key: Buffer.from(m[5]!, 'base64') };
}

/** True when `password` is the one hashed; constant-time on the key. */
export async function verifyPassword(hash: PasswordHash, password: string): Promise<boolean> {
  if (typeof password !== 'string' || password.length === 0 || password.length > 1024) return false;
  const key = await scrypt(password, hash.salt, hash.key.length, { N: hash.N, r: hash.r, p: hash.p, maxmem: 256 * hash.N * hash.r + 1024 * 1024 });
  return key.length === hash.key.length && timingSafeEqual(key, hash.key);
}

/** The hash named by the configuration's `console.passwordHashFile` or `console.passwordHashEnv`. */
export async function readPasswordHash(from: { file?: string; env?: string }, source: string, env: NodeJS.ProcessEnv = process.env): Promise<PasswordHash> {
  const key = from.file !== undefined ? 'console.passwordHashFile' : 'console.passwordHashEnv';
  return parsePasswordHash(await readSecret(from, key, source, env), key);
}
