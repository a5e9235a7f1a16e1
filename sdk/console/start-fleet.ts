/** Starts the fleet console: the device console's pages and guards over every device on a broker. */
import type { Logger } from '../observability/logger';
import { consoleAssetsDir } from './assets';
import { FleetConsoleBackend, type FleetBackendOptions } from './fleet-backend';
import type { PasswordHash } from './password';
import { ConsoleServer } from './server';

/** Options of {@link startFleetConsole}. */
export interface FleetConsoleOptions extends FleetBackendOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8088; 0 picks a free port. */
  port?: number;
  /** null: one-time login links only ({@link ConsoleServer.loginUrl}). */
  passwordHash: PasswordHash | null;
  /** PEM certificate and key: serve HTTPS (`tls` is the broker's). */
  serverTls?: { cert: Buffer | string; key: Buffer | string };
  log: Logger;
}

/** A running fleet console. */
export interface FleetConsole {
  readonly server: ConsoleServer;
  readonly backend: FleetConsoleBackend;
  close(): Promise<void>;
}

/**
 * Connects to the broker and serves the console's pages for every device on it, with the same
 * password, session, CSRF and rate-limit guards as a device's own console.
 *
 * @example
 * ```ts
 * const fleet = await startFleetConsole({ url: 'mqtt://broker:1883', clientId: 'console', key, passwordHash, log });
 * log.info({ url: fleet.server.url }, 'fleet console listening');
 * ```
 */
export async function startFleetConsole(o: FleetConsoleOptions): Promise<FleetConsole> {
  const { host, port, passwordHash, serverTls, log, ...backendOptions } = o;
  const backend = await FleetConsoleBackend.create(backendOptions);
  try {
    const server = await ConsoleServer.create({ backend, host: host ?? '127.0.0.1', port: port ?? 8088, passwordHash, assetsDir: await consoleAssetsDir(), log, ...(serverTls ? { tls: serverTls } : {}) });
    return {
      server,
      backend,
      close: async () => {
        await server.close();
        await backend.close();
      },
    };
  } catch (error) {
    await backend.close();
    throw error;
  }
}
