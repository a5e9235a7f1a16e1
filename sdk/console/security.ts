/**
 * The console's guards, as fastify hooks: a session on every route not marked public, a CSRF token
 * on every change, security headers with a Content-Security-Policy on every answer, and one JSON
 * shape for every error (`{ error: { code, message } }`).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidArgumentError, JetfaceError, PersonNotFoundError } from '../errors';
import type { Session, SessionStore } from './sessions';

/** The session cookie's name. */
export const SESSION_COOKIE = 'jetface_session';

/** Nothing from anywhere but this origin; no inline script at all. */
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

declare module 'fastify' {
  interface FastifyRequest {
    consoleSession: Session | null;
  }
  interface FastifyContextConfig {
    /** Reachable without a session (the login routes only). */
    public?: boolean;
  }
}

/** An answer with a status code and a stable error code. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Sends `{ error: { code, message } }`. */
export function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send({ error: { code, message } });
}

/** Installs the guards; `sessions` decides who is logged in. */
export function installSecurity(app: FastifyInstance, sessions: SessionStore): void {
  app.decorateRequest('consoleSession', null);
  app.addHook('onRequest', async (request, reply) => {
    const session = sessions.get(request.cookies[SESSION_COOKIE]);
    request.consoleSession = session;
    if (session || request.routeOptions.config?.public === true) return;
    const wantsPage = request.method === 'GET' && !request.url.startsWith('/api/') && (request.headers.accept ?? '').includes('text/html');
    if (wantsPage) return reply.redirect('/login', 303);
    return sendError(reply, 401, 'E_UNAUTHENTICATED', 'log in first');
  });
  // Every change needs the session's CSRF token (header x-csrf-token); the login form has no session yet.
  app.addHook('onRequest', (request, reply, done) => {
    const safe = request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS';
    if (safe || request.routeOptions.config?.public === true || reply.sent) return done();
    app.csrfProtection(request, reply, done);
  });
  app.addHook('onSend', async (request, reply) => {
    if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('cross-origin-opener-policy', 'same-origin');
    reply.header('cross-origin-resource-policy', 'same-origin');
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, 404, 'E_NOT_FOUND', `no such page: ${request.method} ${request.url.split('?')[0]}`));
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (error instanceof HttpError) return sendError(reply, error.statusCode, error.code, error.message);
    if (error instanceof PersonNotFoundError) return sendError(reply, 404, error.code, error.message);
    if (error instanceof InvalidArgumentError) return sendError(reply, 400, error.code, error.message);
    if (error instanceof JetfaceError) return sendError(reply, 422, error.code, error.message);
    if (error.validation) return sendError(reply, 400, 'E_INVALID_ARGUMENT', error.message);
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) request.log.error({ err: error }, 'console request failed');
    return sendError(reply, status, status === 500 ? 'E_INTERNAL' : (error.code ?? 'E_BAD_REQUEST'), status === 500 ? 'the request failed; see the device log' : error.message);
  });
}
