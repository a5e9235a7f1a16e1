/**
 * An MQTT broker inside the device process (aedes), for the demo and for setups with no broker
 * of their own. Plain TCP or TLS, optional username/password. Messages live in memory only:
 * for durability across broker restarts run mosquitto (or any broker with persistence).
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { AuthenticateError } from 'aedes';
import { BrokerConnectionError, InvalidArgumentError, errorMessage } from '../errors';

/**
 * Options of {@link startEmbeddedBroker}.
 *
 * @example
 * ```ts
 * const options: EmbeddedBrokerOptions = { port: 8883, tls: { cert: readFileSync('server.pem'), key: readFileSync('server.key') }, users: { device: 'secret' } };
 * ```
 */
export interface EmbeddedBrokerOptions {
  /** TCP port (default 1883; 0 picks a free one). */
  port?: number;
  /** Interface to listen on (default 127.0.0.1: only this machine). */
  host?: string;
  /** Serve MQTT over TLS with this certificate and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Accepted usernames and their passwords; when set, anyone else is refused. */
  users?: Readonly<Record<string, string>>;
}

/** A running embedded broker. */
export interface EmbeddedBroker {
  /** `mqtt://host:port` or `mqtts://host:port`. */
  url: string;
  host: string;
  port: number;
  /** Disconnects every client and stops listening. */
  close(): Promise<void>;
}

/**
 * Starts an in-process MQTT 3.1.1 broker (aedes). aedes is an ES module; it is loaded here, on
 * first use, with a dynamic `import()`, which also works from CommonJS.
 *
 * @example
 * ```ts
 * const broker = await startEmbeddedBroker({ port: 0 });
 * const publisher = await EventPublisher.create({ url: broker.url, device: 'demo', outbox: 'outbox.jsonl' });
 * // ...
 * await broker.close();
 * ```
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const port = options.port ?? 1883;
  const host = options.host ?? '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new InvalidArgumentError('port', 'an integer in 0..65535', port);
  const users = options.users;
  const { Aedes } = await import('aedes');
  const aedes = await Aedes.createBroker(
    users
      ? {
          authenticate: (_client, username, password, done) => {
            const expected = username === undefined ? undefined : users[username];
            if (expected !== undefined && password !== undefined && sameSecret(password, expected)) return done(null, true);
            const error = Object.assign(new Error('bad user name or password'), { returnCode: 4 }) as AuthenticateError;
            done(error, false);
          },
        }
      : {},
  );
  const sockets = new Set<Socket>();
  const onConnection = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    aedes.handle(socket);
  };
  const server: Server = options.tls ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, onConnection) : createTcpServer(onConnection);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw new BrokerConnectionError(`${host}:${port}`, `the embedded broker cannot listen: ${errorMessage(error)}`, {}, error);
  }
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  let closing: Promise<void> | undefined;
  return {
    url: `${options.tls ? 'mqtts' : 'mqtt'}://${host}:${actualPort}`,
    host,
    port: actualPort,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await stopped;
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
      })();
      return closing;
    },
  };
}

// Hash both sides first so the comparison takes the same time whatever the lengths.
function sameSecret(given: Buffer, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
