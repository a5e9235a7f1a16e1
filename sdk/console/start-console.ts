/** Starts the device console for a running device, from its configuration's `console:` section. */
import { readFile } from 'node:fs/promises';
import { ConsoleError, errorMessage } from '../errors';
import type { Logger } from '../observability/logger';
import { consoleAssetsDir } from './assets';
import { LocalConsoleBackend, type LocalDeviceParts } from './local-backend';
import { readPasswordHash, type PasswordHash } from './password';
import { ConsoleServer } from './server';

/** What a caller may set over the configuration (the demo: any free port, login links only). */
export interface ConsoleOverrides {
  host?: string;
  port?: number;
  /** null: no password, one-time login links only ({@link ConsoleServer.loginUrl}). */
  passwordHash?: PasswordHash | null;
}

/** A device's console: its server and the backend listening to the pipeline. */
export interface DeviceConsole {
  readonly server: ConsoleServer;
  readonly backend: LocalConsoleBackend;
  close(): Promise<void>;
}

/**
 * Starts the console of a device (call before `pipeline.start()` so it sees the first frames).
 *
 * @example
 * ```ts
 * const console = await startDeviceConsole({ config, engine, gallery, pipeline, publisher }, log);
 * log.info({ url: console.server.url }, 'console listening');
 * ```
 */
export async function startDeviceConsole(parts: LocalDeviceParts, log: Logger, overrides: ConsoleOverrides = {}, source = 'configuration'): Promise<DeviceConsole> {
  const c = parts.config.console;
  const passwordHash =
    overrides.passwordHash !== undefined ? overrides.passwordHash : await readPasswordHash({ ...(c.passwordHashFile ? { file: c.passwordHashFile } : {}), ...(c.passwordHashEnv ? { env: c.passwordHashEnv } : {}) }, source);
  let tls: { cert: Buffer; key: Buffer } | undefined;
  if (c.tls) {
    try {
      tls = { cert: await readFile(c.tls.certFile), key: await readFile(c.tls.keyFile) };
    } catch (error) {
      throw new ConsoleError(`console.tls: cannot read the certificate or key: ${errorMessage(error)}`, { certFile: c.tls.certFile, keyFile: c.tls.keyFile }, error);
    }
  }
  const backend = new LocalConsoleBackend(parts);
  try {
    const server = await ConsoleServer.create({
      backend,
      host: overrides.host ?? c.host,
      port: overrides.port ?? c.port,
      ...(tls ? { tls } : {}),
      passwordHash,
      assetsDir: await consoleAssetsDir(),
      log,
      sessionTtlMs: c.sessionTtlMinutes * 60_000,
      loginAttemptsPerMinute: c.loginAttemptsPerMinute,
      maxUploadBytes: c.maxUploadBytes,
      maxUploadFiles: c.maxUploadFiles,
    });
    return {
      server,
      backend,
      close: async () => {
        backend.detach();
        await server.close();
      },
    };
  } catch (error) {
    backend.detach();
    throw error;
  }
}
