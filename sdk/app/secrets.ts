import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors';

/**
 * A secret named by a configuration: the content of a file (trailing newline trimmed) or of an
 * environment variable. A missing file or unset variable is a {@link ConfigError} naming the key.
 *
 * @example
 * ```ts
 * const secret = await readSecret({ file: '/run/secrets/jetface-commands' }, 'commands.secretFile', 'device.yaml');
 * ```
 */
export async function readSecret(from: { file?: string; env?: string }, key: string, source: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (from.file !== undefined) {
    try {
      return (await readFile(from.file, 'utf8')).replace(/\r?\n$/, '');
    } catch (error) {
      throw new ConfigError(source, [{ path: key, expected: 'a readable file', message: `cannot read ${from.file}: ${(error as Error).message}` }]);
    }
  }
  if (from.env !== undefined) {
    const value = env[from.env];
    if (value === undefined || value === '') throw new ConfigError(source, [{ path: key, expected: `the environment variable ${from.env} set`, message: `${from.env} is not set` }]);
    return value;
  }
  throw new ConfigError(source, [{ path: key, expected: 'a file or an environment variable', message: 'no secret given' }]);
}
