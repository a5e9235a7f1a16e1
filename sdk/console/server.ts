/**
 * The device console's HTTP server (fastify): the login, the pages' assets and the JSON/SSE API
 * behind them, every route but the login behind a session (see security.ts).
 */
import { randomBytes } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyMultipart from '@fastify/multipart';
import fastifyRateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance } from 'fastify';
import { ConsoleError, errorMessage } from '../errors';
import type { Logger } from '../observability/logger';
import type { ConsoleBackend } from './backend';
import type { PasswordHash } from './password';
import { registerAuthRoutes } from './routes/auth';
import { registerEventRoutes } from './routes/events';
import { registerLiveRoutes } from './routes/live';
import { registerPageRoutes } from './routes/pages';
import { registerPeopleRoutes } from './routes/people';
import { registerStatusRoutes } from './routes/status';
import { registerUnknownRoutes } from './routes/unknown';
import { installSecurity } from './security';
import { SessionStore } from './sessions';

/** Options of {@link ConsoleServer.create}. */
export interface ConsoleServerOptions {
  backend: ConsoleBackend;
  /** Default 127.0.0.1 (this machine only). */
  host?: string;
  /** Default 8088; 0 picks a free port. */
  port?: number;
  /** PEM certificate and key: serve HTTPS (cookies get `Secure`). */
  tls?: { cert: Buffer | string; key: Buffer | string };
  /** The password's hash; null allows only one-time login tokens ({@link ConsoleServer.loginUrl}). */
  passwordHash: PasswordHash | null;
  /** The built front end (index.html, app.js, app.css). */
  assetsDir: string;
  log: Logger;
  sessionTtlMs?: number;
  loginAttemptsPerMinute?: number;
  maxUploadBytes?: number;
  maxUploadFiles?: number;
}

/** One route of the server's own table. */
export interface ConsoleRoute {
  method: string;
  url: string;
  /** Reachable without a session. */
  public: boolean;
}

/** Settings the routes read. */
export interface ConsoleContext {
  backend: ConsoleBackend;
  sessions: SessionStore;
  passwordHash: PasswordHash | null;
  assetsDir: string;
  secure: boolean;
  sessionTtlMs: number;
  loginAttemptsPerMinute: number;
  maxUploadBytes: number;
  maxUploadFiles: number;
  audit: (request: { consoleSession: { tag: string } | null; ip: string }, action: string, fields: Record<string, unknown>) => void;
}

/**
 * A running console.
 *
 * @example
 * ```ts
 * const server = await ConsoleServer.create({ backend, passwordHash: null, assetsDir, log, port: 0 });
 * console.log(`open ${server.loginUrl()}`); // a one-time login link
 * await server.close();
 * ```
 */
export class ConsoleServer {
  private constructor(
    private readonly app: FastifyInstance,
    private readonly sessions: SessionStore,
    private readonly table: ConsoleRoute[],
    /** The server's base URL, e.g. `http://127.0.0.1:8088`. */
    readonly url: string,
    /** What the pages show and change. */
    readonly backend: ConsoleBackend,
  ) {}

  static async create(o: ConsoleServerOptions): Promise<ConsoleServer> {
    const sessionTtlMs = o.sessionTtlMs ?? 12 * 3600_000;
    const sessions = new SessionStore(sessionTtlMs);
    const log = o.log.child({ component: 'console' });
    // fastify logs every request at info: keep its own lines to warnings and errors (audit lines use `log`).
    const serverLog = log.child({}, { level: log.levelVal > 40 ? log.level : 'warn' });
    const app = Fastify({
      loggerInstance: serverLog,
      bodyLimit: 64 * 1024,
      forceCloseConnections: true,
      // Unknown keys are refused (fastify's default would drop them silently), as the configuration refuses them.
      ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
      ...(o.tls ? { https: { cert: o.tls.cert, key: o.tls.key } } : {}),
    }) as unknown as FastifyInstance;
    const table: ConsoleRoute[] = [];
    app.addHook('onRoute', (r) => {
      for (const method of [r.method].flat()) table.push({ method, url: r.url, public: r.config?.public === true });
    });
    const ctx: ConsoleContext = {
      backend: o.backend,
      sessions,
      passwordHash: o.passwordHash,
      assetsDir: o.assetsDir,
      secure: o.tls !== undefined,
      sessionTtlMs,
      loginAttemptsPerMinute: o.loginAttemptsPerMinute ?? 5,
      maxUploadBytes: o.maxUploadBytes ?? 8 * 1024 * 1024,
      maxUploadFiles: o.maxUploadFiles ?? 10,
      audit: (request, action, fields) => log.info({ audit: action, session: request.consoleSession?.tag ?? null, ip: request.ip, ...fields }, `console: ${action}`),
    };
    try {
      await app.register(fastifyCookie, { secret: randomBytes(32).toString('hex') });
      await app.register(fastifyCsrf, {
        sessionPlugin: '@fastify/cookie',
        cookieOpts: { path: '/', sameSite: 'strict', httpOnly: true, secure: ctx.secure, signed: true },
        csrfOpts: { hmacKey: randomBytes(32).toString('hex') },
        getUserInfo: (request) => request.consoleSession?.id ?? '',
      });
      await app.register(fastifyRateLimit, { global: false });
      await app.register(fastifyMultipart, { limits: { fileSize: ctx.maxUploadBytes, files: ctx.maxUploadFiles, fields: 8, fieldSize: 1024, parts: ctx.maxUploadFiles + 8 } });
      installSecurity(app, sessions);
      registerAuthRoutes(app, ctx);
      await registerPageRoutes(app, ctx);
      registerLiveRoutes(app, ctx);
      registerEventRoutes(app, ctx);
      registerUnknownRoutes(app, ctx);
      registerPeopleRoutes(app, ctx);
      registerStatusRoutes(app, ctx);
      const host = o.host ?? '127.0.0.1';
      const address = await app.listen({ host, port: o.port ?? 8088 });
      const { port } = new URL(address);
      const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
      return new ConsoleServer(app, sessions, table, `${o.tls ? 'https' : 'http'}://${shown}:${port}`, o.backend);
    } catch (error) {
      await app.close().catch(() => undefined);
      throw new ConsoleError(`the console cannot start on ${o.host ?? '127.0.0.1'}:${o.port ?? 8088}: ${errorMessage(error)}`, { host: o.host, port: o.port }, error);
    }
  }

  /** A URL that logs its first visitor in once (within `ttlMs`, default 10 minutes). */
  loginUrl(ttlMs?: number): string {
    return `${this.url}/login?token=${this.sessions.issueToken(ttlMs)}`;
  }

  /** The server's own route table. */
  routes(): ConsoleRoute[] {
    return this.table.map((r) => ({ ...r }));
  }

  /** Routes reachable without a session: each non-public route asked without a cookie must be refused (401 or a redirect to /login). */
  async unauthenticatedRoutes(): Promise<ConsoleRoute[]> {
    const open: ConsoleRoute[] = [];
    for (const r of this.table) {
      if (r.public) continue;
      const url = r.url.replace(/:[A-Za-z]+/g, 'x').replace('*', 'app.js');
      const res = await this.app.inject({ method: r.method as 'GET', url, headers: { accept: 'text/html' } });
      const refused = res.statusCode === 401 || (res.statusCode === 303 && res.headers.location === '/login');
      if (!refused) open.push(r);
    }
    return open;
  }

  /** Open sessions. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Stops listening and ends the event streams. */
  async close(): Promise<void> {
    await this.app.close();
  }
}
