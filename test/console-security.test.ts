/**
 * The device console's guards, over HTTP against a real device: no route without a session (from
 * the server's own route table), wrong passwords and too many attempts refused, no change without
 * the CSRF token, oversized uploads and path traversal refused, bad requests answered with the
 * field and changing nothing, one-time login links, security headers and audit lines.
 */
import { request as httpRequest } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import sharp from 'sharp';
import { startDevice, type DeviceHandle } from '../sdk/app/start-device';
import { parseDeviceConfig } from '../sdk/config/load';
import { hashPassword } from '../sdk/console/password';
import { createLogger } from '../sdk/observability/logger';
import { makeCascadeBundle } from './support/cascade-bundle';
import { dataPath, describeWithData, tempDir } from './support/data';

const PASSWORD = 'a long enough password';

/** GET with the path sent exactly as written (fetch would resolve `..`). */
function rawGet(base: string, path: string, cookie = ''): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path, method: 'GET', headers: cookie ? { cookie } : {} }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describeWithData('device console security (HTTP)', () => {
  let device: DeviceHandle;
  let base: string;
  /** Two sessions, logged in once: the login's rate limit counts every attempt of this address. */
  let A: { cookie: string; csrf: string };
  let B: { cookie: string; csrf: string };
  const logLines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    const work = tempDir('jetface-console-sec-');
    const hashFile = join(work, 'console.hash');
    writeFileSync(hashFile, `${await hashPassword(PASSWORD)}\n`, { mode: 0o600 });
    const images = join(work, 'images');
    mkdirSync(images); // a camera with nothing to show: these tests are about the HTTP side
    const config = parseDeviceConfig(
      {
        device: { id: 'sec-test' },
        cameras: [{ id: 'door', source: { kind: 'images', dir: images } }],
        model: { bundle: await makeCascadeBundle(), providers: ['cpu'] },
        gallery: { path: join(work, 'gallery.db') },
        mqtt: { embedded: true, embeddedPort: 0 },
        outbox: { dir: work },
        console: { enabled: true, port: 0, passwordHashFile: hashFile, loginAttemptsPerMinute: 4, maxUploadBytes: 256 * 1024, maxUploadFiles: 3 },
      },
      'test',
    );
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    device = await startDevice(config, { log: createLogger({ level: 'info', destination: sink }) });
    base = device.console!.url;
    A = await login();
    B = await login();
  });

  afterAll(async () => {
    await device?.stop();
  });

  /** Logs in; returns the cookie header (session + CSRF secret) and the CSRF token. */
  async function login(): Promise<{ cookie: string; csrf: string }> {
    const res = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) });
    expect(res.status).toBe(200);
    const session = res.headers.getSetCookie().find((c) => c.startsWith('jetface_session='))!;
    expect(session).toMatch(/HttpOnly/);
    expect(session).toMatch(/SameSite=Strict/);
    let cookie = session.split(';')[0]!;
    const s = await fetch(`${base}/api/session`, { headers: { cookie } });
    expect(s.status).toBe(200);
    const csrfCookie = s.headers.getSetCookie().find((c) => c.startsWith('_csrf='));
    if (csrfCookie) cookie += `; ${csrfCookie.split(';')[0]}`;
    return { cookie, csrf: ((await s.json()) as { csrfToken: string }).csrfToken };
  }

  test('no route answers without a session: every route of the server table but the login is refused', async () => {
    const routes = device.console!.routes();
    expect(routes.filter((r) => r.public).map((r) => `${r.method} ${r.url}`).sort()).toEqual(['GET /login', 'HEAD /login', 'POST /login']);
    expect(routes.length).toBeGreaterThan(12);
    expect(await device.console!.unauthenticatedRoutes()).toEqual([]);
    const api = await fetch(`${base}/api/people`);
    expect(api.status).toBe(401);
    expect(await api.json()).toEqual({ error: { code: 'E_UNAUTHENTICATED', message: 'log in first' } });
    const page = await fetch(`${base}/`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect([page.status, page.headers.get('location')]).toEqual([303, '/login']);
    expect((await fetch(`${base}/assets/app.js`)).status).toBe(401);
    expect((await fetch(`${base}/api/events/stream`)).status).toBe(401);
    const forged = await fetch(`${base}/api/people`, { headers: { cookie: 'jetface_session=forged' } });
    expect(forged.status).toBe(401);
  });

  test('the login page has a CSP without inline script; answers carry the security headers', async () => {
    const res = await fetch(`${base}/login`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const { cookie } = A;
    const app = await fetch(`${base}/`, { headers: { cookie } });
    expect(app.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect(await app.text()).not.toMatch(/https?:\/\//); // nothing loaded from outside the device
  });

  test('a one-time login link opens one session, once', async () => {
    const link = device.console!.loginUrl();
    const first = await fetch(link, { redirect: 'manual' });
    expect([first.status, first.headers.get('location')]).toEqual([303, '/']);
    expect(first.headers.getSetCookie().some((c) => c.startsWith('jetface_session='))).toBe(true);
    const again = await fetch(link, { redirect: 'manual' });
    expect(again.status).toBe(401);
  });

  test('changes without the CSRF token (or with a wrong one) are refused and change nothing', async () => {
    const { cookie, csrf } = A;
    device.gallery.upsertPerson({ personId: 'keep-me', name: 'Keep Me' });
    const del = (headers: Record<string, string>) => fetch(`${base}/api/people/keep-me`, { method: 'DELETE', headers: { cookie, ...headers } });
    expect((await del({})).status).toBe(403);
    expect((await del({ 'x-csrf-token': 'forged' })).status).toBe(403);
    expect((await del({ 'x-csrf-token': B.csrf })).status).toBe(403); // another session's token does not work here
    expect(device.gallery.getPerson('keep-me')).not.toBeNull();
    const ok = await del({ 'x-csrf-token': csrf });
    expect(ok.status).toBe(200);
    expect(device.gallery.getPerson('keep-me')).toBeNull();
    expect(logLines.some((l) => l['audit'] === 'delete' && l['personId'] === 'keep-me')).toBe(true);
  });

  test('uploads: per-photo quality feedback; an oversized photo or too many files are refused and enroll nobody', async () => {
    const { cookie, csrf } = A;
    const before = device.gallery.size;
    const form = (files: [string, Uint8Array][]) => {
      const f = new FormData();
      f.append('personId', 'lmm');
      f.append('name', 'Lin-Manuel Miranda');
      for (const [name, bytes] of files) f.append('photo', new Blob([bytes]), name);
      return f;
    };
    const post = (body: FormData) => fetch(`${base}/api/people`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf }, body });
    const big = new Uint8Array(300 * 1024);
    const tooBig = await post(form([['big.png', big]]));
    expect(tooBig.status).toBe(413);
    expect(device.gallery.size).toBe(before);
    const tooMany = await post(form([1, 2, 3, 4].map((i) => [`p${i}.png`, new Uint8Array(10)])));
    expect(tooMany.status).toBe(413);
    expect(device.gallery.size).toBe(before);

    const photo = await sharp(dataPath('video', 'enroll', 'lin-manuel-miranda.png')).resize({ width: 400 }).jpeg().toBuffer();
    const res = await post(form([['lmm.jpg', photo], ['broken.png', new TextEncoder().encode('not an image')]]));
    expect(res.status).toBe(200);
    const result = (await res.json()) as { enrolled: number; outcomes: { source: string; status: string; reason?: string }[] };
    expect(result.outcomes.map((o) => [o.source, o.status, o.reason ?? null])).toEqual([
      ['upload:lmm.jpg', 'enrolled', null],
      ['upload:broken.png', 'refused', 'unreadable'],
    ]);
    expect(device.gallery.getPerson('lmm')?.embeddings).toBe(1);
    expect(logLines.some((l) => l['audit'] === 'enroll' && l['personId'] === 'lmm' && l['enrolled'] === 1)).toBe(true);
  });

  test('bad requests get a clear error naming the field and change nothing', async () => {
    const { cookie, csrf } = B;
    device.gallery.upsertPerson({ personId: 'ann', name: 'Ann' });
    const rename = (body: unknown) => fetch(`${base}/api/people/ann/rename`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const empty = await rename({ name: '' });
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { error: { message: string } }).error.message).toMatch(/name/);
    expect((await rename({ name: 'Ann', extra: 1 })).status).toBe(400);
    expect(device.gallery.getPerson('ann')?.name).toBe('Ann');
    const noPhoto = await fetch(`${base}/api/people`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: '{}' });
    expect(noPhoto.status).toBe(415);
    const unknown = await fetch(`${base}/api/unknown/000000000000/enroll`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: JSON.stringify({ personId: 'x', name: 'X' }) });
    expect(unknown.status).toBe(404);
    expect(device.gallery.getPerson('x')).toBeNull();
    expect((await rename({ name: 'Ann Bee' })).status).toBe(200);
    expect(device.gallery.getPerson('ann')?.name).toBe('Ann Bee');
  });

  test('path traversal is refused: assets stay inside their folder, person ids are only ids', async () => {
    const { cookie, csrf } = A;
    for (const path of ['/assets/../../../../etc/passwd', '/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/assets/..%2f..%2f..%2fpackage.json', '/assets/%2e%2e%2fapp.js', '/assets/.BUILT']) {
      const res = await rawGet(base, path, cookie);
      expect({ path, status: res.status >= 400 && res.status < 500 }).toEqual({ path, status: true });
      expect(res.body).not.toMatch(/root:|"name": "jetface"/);
    }
    expect((await rawGet(base, '/assets/app.js', cookie)).status).toBe(200);
    device.gallery.upsertPerson({ personId: 'bob', name: 'Bob' });
    const res = await fetch(`${base}/api/people/..%2F..%2Fbob`, { method: 'DELETE', headers: { cookie, 'x-csrf-token': csrf } });
    expect(res.status).toBe(404);
    expect(device.gallery.getPerson('bob')).not.toBeNull();
  });

  // Last: it uses up the login attempts of this minute.
  test('wrong passwords are refused without a session, and the attempts are rate limited', async () => {
    const attempt = (password: string) => fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', }, body: new URLSearchParams({ password }).toString(), redirect: 'manual' });
    const wrong = await attempt('not the password');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.getSetCookie().some((c) => c.startsWith('jetface_session='))).toBe(false);
    expect(await wrong.text()).toContain('wrong password');
    // 4 attempts a minute from one address (two logins in beforeAll, this wrong one): the next ones are refused, the right password too.
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await attempt(i === 2 ? PASSWORD : 'guess')).status);
    expect(statuses).toEqual([401, 429, 429]);
  });
});
