/** The command channel's keys as a device configuration names them: read from their files or environment variables. */
import type { DeviceConfig } from '../config/schema';
import type { CommandKeyOptions } from '../mqtt/command-keys';
import { readSecret } from './secrets';

/**
 * Reads the shared secret (when given) and every client's own key; a missing file or unset
 * variable is a `ConfigError` naming its key (`commands.clients.console.secretFile`).
 *
 * @example
 * ```ts
 * const keys = await readCommandKeys(config.commands, 'device.yaml');
 * const channel = await CommandChannel.create({ ...connection, device, handlers, ...keys });
 * ```
 */
export async function readCommandKeys(commands: DeviceConfig['commands'], source: string): Promise<CommandKeyOptions> {
  const keyOf = (from: { secretFile?: string | undefined; secretEnv?: string | undefined }, at: string): Promise<string> =>
    readSecret({ ...(from.secretFile ? { file: from.secretFile } : {}), ...(from.secretEnv ? { env: from.secretEnv } : {}) }, `${at}.${from.secretFile ? 'secretFile' : 'secretEnv'}`, source);
  const secret = commands.secretFile || commands.secretEnv ? await keyOf(commands, 'commands') : undefined;
  const clientKeys: Record<string, string> = {};
  for (const [id, key] of Object.entries(commands.clients)) clientKeys[id] = await keyOf(key, `commands.clients.${id}`);
  return { ...(secret !== undefined ? { secret } : {}), allowedClients: commands.allowedClients, clientKeys, revokedClients: commands.revoked };
}
