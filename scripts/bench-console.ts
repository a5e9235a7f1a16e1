/**
 * `npm run -s bench:console`: what the device console costs and how fast it answers, in one process.
 *
 * One device (startDevice: hamilton_clip.mp4 through FFmpeg, no fps cap, the default bundle, the
 * console on 127.0.0.1) plays the clip several times; between passes the clients change:
 *
 * - live_view_fps_cost: 1 − (frames/s while a client watches the live view) / (frames/s without),
 *   medians over alternating passes. The client does what the Live page does (fetch the newest
 *   frame's JPEG, draw, wait 100 ms), from this process, so the browser's own drawing (on another
 *   machine in real use) is not counted against the device;
 * - event_to_page_ms: median time from the pipeline's `event` emission to the Events page (headless
 *   Chromium) having the row in its DOM (`data-received-at`, same clock), over the events emitted
 *   after the page opened its stream (the rows it loads on opening are older events, not pushes);
 * - page_load_ms: the slowest of the five pages, from navigation to its content drawn; requests that
 *   leave the device are counted (they must be 0);
 * - unauthenticated_routes: routes of the server's own table that answer without a session.
 *
 * Env: BENCH_BUNDLE (default: the default bundle), BENCH_PAIRS (2: passes with and without a client each).
 * Ends with one JSON line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cameraSourceSpec } from '../sdk/app/camera-source';
import { ReplaySource } from '../sdk/app/demo/replay-source';
import { startDevice } from '../sdk/app/start-device';
import { openFrameSource } from '../sdk/capture/open-frame-source';
import { defaultBundleDir, parseDeviceConfig } from '../sdk/config/load';
import { createLogger } from '../sdk/observability/logger';

const CLIP = resolve(__dirname, '..', '..', 'shared', 'data', 'video', 'hamilton_clip.mp4');
const CHROMIUM = process.env['JETFACE_CHROMIUM'] ?? '/usr/bin/chromium';
const PAIRS = Number(process.env['BENCH_PAIRS'] ?? 2);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;
const out = (line: string): void => void process.stdout.write(`${line}\n`);

type Phase = 'warmup' | 'plain' | 'watched' | 'events';

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'jetface-bench-console-'));
  const phases: Phase[] = ['warmup', ...Array.from({ length: PAIRS }, (_, i): Phase[] => (i % 2 ? ['watched', 'plain'] : ['plain', 'watched'])).flat(), 'events'];
  const config = parseDeviceConfig(
    {
      device: { id: 'bench' },
      cameras: [{ id: 'cam', source: { kind: 'file', path: CLIP } }],
      model: { bundle: process.env['BENCH_BUNDLE'] ?? defaultBundleDir(), providers: ['cpu'] },
      gallery: { path: join(work, 'gallery.db') },
      mqtt: { embedded: true, embeddedPort: 0 },
      outbox: { dir: work },
    },
    'bench',
  );
  // Each pass starts once its clients are ready (the pass gate); the pass's frames and wall time are noted.
  const passes: { phase: Phase; t0: number; frames0: number; fps?: number }[] = [];
  let ready: (pass: number) => Promise<void> = async () => undefined;
  const replay = new ReplaySource({
    cameraId: 'cam',
    passes: phases.length,
    passGate: (pass) => ready(pass),
    onPass: (pass) => passes.push({ phase: phases[pass - 1]!, t0: performance.now(), frames0: device.pipeline.stats()[0]!.frames }),
    input: { kind: 'frames', open: () => openFrameSource(cameraSourceSpec(config.cameras[0]!)) },
  });
  const device = await startDevice(config, { sources: { cam: replay }, log: createLogger({ level: 'error' }), console: { port: 0, passwordHash: null } });
  const server = device.console!;
  const base = server.url;
  const emitted = new Map<string, number>();
  /** Epoch ms when the Events page's stream was open; events emitted before it are not timed. */
  let streamOpenAt = Number.POSITIVE_INFINITY;
  device.pipeline.on('event', (e) => void (Date.now() >= streamOpenAt && emitted.set(e.id, Date.now())));
  const closePass = (): void => {
    const p = passes.at(-1);
    // The pass's last frame is the empty one that ends its tracks: not counted.
    if (p) p.fps = (device.pipeline.stats()[0]!.frames - p.frames0 - 1) / ((performance.now() - p.t0) / 1000);
  };

  // A live-view client as the page runs it.
  const loginCookie = async (): Promise<string> => {
    const res = await fetch(server.loginUrl(), { redirect: 'manual' });
    return res.headers.getSetCookie()[0]!.split(';')[0]!;
  };
  const cookie = await loginCookie();
  let watching = false;
  let fetched = 0;
  const watch = async (): Promise<void> => {
    while (watching) {
      const res = await fetch(`${base}/api/live/cam/frame`, { headers: { cookie } });
      if (res.status === 200) fetched++;
      await res.arrayBuffer();
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const puppeteer = await import('puppeteer-core').catch(() => null);
  const browser = puppeteer && (await import('node:fs')).existsSync(CHROMIUM) ? await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] }) : null;
  const page = browser ? await browser.newPage() : null;
  let external = 0;
  page?.on('request', (r) => void (r.url().startsWith(base) || r.url().startsWith('data:') || r.url().startsWith('blob:') || r.url() === 'about:blank' ? undefined : external++));
  if (page) {
    // Log the browser in, then leave: the app opens on the Live page, whose polling would make every pass a watched one.
    await page.goto(server.loginUrl());
    await page.goto('about:blank');
  }

  const done = new Promise<void>((resolveDone) => {
    ready = async (pass) => {
      closePass();
      watching = false;
      const phase = phases[pass - 1]!;
      await new Promise((r) => setTimeout(r, 300)); // let the previous client's last request finish
      if (phase === 'watched') {
        watching = true;
        void watch();
      }
      if (phase === 'events' && page) {
        await page.goto(`${base}/#/events`);
        await page.waitForSelector('main[data-page="events"] tbody');
        await page.waitForFunction(`document.querySelector('form.filters .muted')?.textContent === 'live'`, { timeout: 10_000 }); // the stream is open
        streamOpenAt = Date.now();
      }
    };
    void device.finished().then(() => {
      closePass();
      resolveDone();
    });
  });
  await done;
  watching = false;

  // Event → page: rows of the Events page, by event id.
  let eventToPage: number[] = [];
  if (page) {
    const rows = (await page.$$eval('tbody tr[data-id]', (trs) => trs.map((tr) => [tr.getAttribute('data-id'), Number(tr.getAttribute('data-received-at'))]))) as [string, number][];
    eventToPage = rows.flatMap(([id, at]) => (emitted.has(id) ? [at - emitted.get(id)!] : []));
  }

  // Page loads: each page from a blank tab to its content.
  const loads: Record<string, number> = {};
  if (page) {
    for (const [name, selector] of [['live', 'canvas[data-camera]'], ['events', 'tbody'], ['unknown', 'h2'], ['people', 'tbody tr'], ['status', 'table']] as const) {
      await page.goto('about:blank');
      const t0 = Date.now();
      await page.goto(`${base}/#/${name}`, { waitUntil: 'domcontentloaded' });
      await page.waitForSelector(`main[data-page="${name}"] ${selector}`, { timeout: 10_000 });
      loads[name] = Date.now() - t0;
    }
  }
  const unauthenticated = (await server.unauthenticatedRoutes()).length;
  const encodes = server.backend.live.encodes;
  await browser?.close();
  await device.stop();
  rmSync(work, { recursive: true, force: true });

  const fps = (phase: Phase): number => median(passes.filter((p) => p.phase === phase).map((p) => p.fps ?? NaN));
  out(`passes: ${passes.map((p) => `${p.phase} ${p.fps?.toFixed(1)} fps`).join(', ')}`);
  out(`live view: ${fetched} frames fetched by the client while watched; JPEG encodes: ${encodes}`);
  out(`events → page: ${eventToPage.length} events, median ${median(eventToPage)} ms, max ${Math.max(...eventToPage)} ms${page ? '' : ' (no Chromium: not measured)'}`);
  out(`page loads (ms): ${JSON.stringify(loads)}; requests leaving the device: ${external}`);
  out(JSON.stringify({ live_view_fps_cost: round(1 - fps('watched') / fps('plain')), event_to_page_ms: page ? round(median(eventToPage), 1) : null, page_load_ms: page ? Math.max(...Object.values(loads)) : null, unauthenticated_routes: unauthenticated }));
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:console: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
