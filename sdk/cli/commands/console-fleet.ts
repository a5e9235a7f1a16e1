import type { Command } from 'commander';
import { readSecret } from '../../app/secrets';
import { readPasswordHash } from '../../console/password';
import { startFleetConsole } from '../../console/start-fleet';
import { InvalidArgumentError } from '../../errors';
import { createLogger } from '../../observability/logger';

interface FleetOptions {
  mqtt?: string;
  prefix: string;
  username?: string;
  passwordFile?: string;
  caFile?: string;
  clientId: string;
  keyFile?: string;
  keyEnv?: string;
  host: string;
  port: string;
  passwordHashFile?: string;
  passwordHashEnv?: string;
}

/**
 * `jetface console --mqtt URL --client-id ID --key-file FILE`: the console's pages for every device
 * on the broker (the fleet view). Without a password hash it prints a one-time login link.
 */
export function registerFleetConsole(command: Command): void {
  command
    .option('--mqtt <url>', 'the broker the devices publish to: serve the fleet view of every device on it')
    .option('--prefix <prefix>', 'topic prefix of the devices', 'jetface')
    .option('--username <name>', 'broker user (else JETFACE_MQTT_USERNAME)')
    .option('--password-file <file>', 'file holding the broker password (else JETFACE_MQTT_PASSWORD[_FILE])')
    .option('--ca-file <file>', 'CA certificate of an mqtts:// broker')
    .option('--client-id <id>', 'the id this console signs commands as (listed under the devices\' commands.clients)', 'console')
    .option('--key-file <file>', "file holding this console's own command key")
    .option('--key-env <name>', 'environment variable holding that key')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 = any free one)', '8088')
    .option('--password-hash-file <file>', 'the scrypt hash written by `jetface console passwd` (else a one-time login link is printed)')
    .option('--password-hash-env <name>', 'environment variable holding that hash')
    .action(async (o: FleetOptions) => {
      if (!o.mqtt) {
        command.help({ error: true });
        return;
      }
      if (Boolean(o.keyFile) === Boolean(o.keyEnv)) throw new InvalidArgumentError('--key-file / --key-env', "exactly one: this console's command key", o.keyFile ?? o.keyEnv ?? null);
      const key = await readSecret({ ...(o.keyFile ? { file: o.keyFile } : {}), ...(o.keyEnv ? { env: o.keyEnv } : {}) }, o.keyFile ? '--key-file' : '--key-env', 'the command line');
      const passwordHash = o.passwordHashFile || o.passwordHashEnv ? await readPasswordHash({ ...(o.passwordHashFile ? { file: o.passwordHashFile } : {}), ...(o.passwordHashEnv ? { env: o.passwordHashEnv } : {}) }, 'the command line') : null;
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new InvalidArgumentError('--port', 'a port 0..65535', o.port);
      const log = createLogger({ level: 'info', format: 'pretty', destination: process.stderr });
      const fleet = await startFleetConsole({
        url: o.mqtt,
        prefix: o.prefix,
        ...(o.username ? { username: o.username } : {}),
        ...(o.passwordFile ? { passwordFile: o.passwordFile } : {}),
        ...(o.caFile ? { tls: { caFile: o.caFile } } : {}),
        clientId: o.clientId,
        key,
        host: o.host,
        port,
        passwordHash,
        log,
      });
      process.stdout.write(`fleet console: ${passwordHash ? fleet.server.url : fleet.server.loginUrl()}\n`);
      await new Promise<void>((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
      await fleet.close();
    });
}
