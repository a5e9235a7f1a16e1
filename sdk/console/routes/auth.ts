/** Logging in and out: the only public routes (`GET /login`, `POST /login`). */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { verifyPassword } from '../password';
import type { ConsoleContext } from '../server';
import { CSP, SESSION_COOKIE, sendError } from '../security';

const STYLE = 'body{font:16px system-ui,sans-serif;background:#111827;color:#e5e7eb;display:grid;place-items:center;height:100vh;margin:0}main{background:#1f2937;padding:2rem 2.5rem;border-radius:8px;min-width:18rem}h1{font-size:1.3rem;margin:0 0 1rem}label{display:block;margin-bottom:.8rem}input{display:block;width:100%;box-sizing:border-box;margin-top:.3rem;padding:.5rem;border-radius:4px;border:1px solid #4b5563;background:#111827;color:inherit}button{padding:.5rem 1.2rem;border:0;border-radius:4px;background:#2563eb;color:#fff;font-size:1rem;cursor:pointer}.error{color:#fca5a5}';
// The login page is the one page without the app's stylesheet (that needs a session): its inline style is allowed by hash.
const LOGIN_CSP = CSP.replace("style-src 'self'", `style-src 'self' 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`);

function loginPage(message: string | null, passwordLogin: boolean): string {
  const form = passwordLogin
    ? '<form method="post" action="/login"><label>Password<input type="password" name="password" autocomplete="current-password" autofocus required></label><button type="submit">Log in</button></form>'
    : '<p>Open the login link the device printed (it works once).</p>';
  const error = message ? `<p class="error" role="alert">${message}</p>` : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>jetface console: log in</title><style>${STYLE}</style></head><body><main><h1>jetface console</h1>${error}${form}</main></body></html>`;
}

function sendLoginPage(reply: FastifyReply, status: number, message: string | null, passwordLogin: boolean): FastifyReply {
  return reply.code(status).header('content-security-policy', LOGIN_CSP).type('text/html; charset=utf-8').send(loginPage(message, passwordLogin));
}

export function registerAuthRoutes(app: FastifyInstance, ctx: ConsoleContext): void {
  const cookie = { path: '/', httpOnly: true, sameSite: 'strict' as const, secure: ctx.secure, maxAge: Math.floor(ctx.sessionTtlMs / 1000) };
  const open = (reply: FastifyReply, via: 'password' | 'token'): void => {
    const session = ctx.sessions.create(via);
    reply.setCookie(SESSION_COOKIE, session.id, cookie);
  };
  // HTML forms post url-encoded bodies; fastify parses only JSON by itself.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.get<{ Querystring: { token?: string } }>('/login', { config: { public: true }, schema: { querystring: { type: 'object', properties: { token: { type: 'string', maxLength: 128 } } } } }, async (request, reply) => {
    const { token } = request.query;
    if (token === undefined) return sendLoginPage(reply, 200, null, ctx.passwordHash !== null);
    if (!ctx.sessions.consumeToken(token)) return sendLoginPage(reply, 401, 'That login link was used already or has expired.', ctx.passwordHash !== null);
    open(reply, 'token');
    ctx.audit(request, 'login', { via: 'token' });
    return reply.redirect('/', 303);
  });

  app.post<{ Body: { password?: unknown } }>(
    '/login',
    { config: { public: true, rateLimit: { max: ctx.loginAttemptsPerMinute, timeWindow: 60_000 } } },
    async (request, reply) => {
      const json = (request.headers['content-type'] ?? '').startsWith('application/json');
      const password = request.body && typeof request.body === 'object' ? request.body.password : undefined;
      const ok = ctx.passwordHash !== null && typeof password === 'string' && (await verifyPassword(ctx.passwordHash, password));
      if (!ok) {
        ctx.audit(request, 'login_refused', {});
        const message = ctx.passwordHash === null ? 'this console takes login links only' : 'wrong password';
        return json ? sendError(reply, 401, 'E_LOGIN_REFUSED', message) : sendLoginPage(reply, 401, `Refused: ${message}.`, ctx.passwordHash !== null);
      }
      open(reply, 'password');
      ctx.audit(request, 'login', { via: 'password' });
      return json ? reply.send({ ok: true }) : reply.redirect('/', 303);
    },
  );

  app.post('/logout', async (request, reply) => {
    ctx.sessions.end(request.consoleSession?.id);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.send({ ok: true });
  });

  /** The page's first call: who is logged in, the CSRF token for its changes, the device. */
  app.get('/api/session', async (request, reply) => {
    const csrfToken = reply.generateCsrf({ userInfo: request.consoleSession!.id } as never);
    return { device: ctx.backend.device, fleet: ctx.backend.fleet === true, via: request.consoleSession!.via, expiresAt: new Date(request.consoleSession!.expiresAt).toISOString(), csrfToken };
  });
}
