/**
 * The device console in a real browser (Debian's headless Chromium through puppeteer-core): log in,
 * watch the Hamilton clip's frames with boxes, find a stranger under unknown faces after the first
 * pass, enroll him with a click, see him named on the second pass (live view and events), delete
 * him, and check that the SQLite file no longer holds him. The recognition runs on the reference
 * cascade built from ../shared/data (the default bundle names almost nobody in the clip).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'puppeteer-core';
import { cameraSourceSpec } from '../sdk/app/camera-source';
import { ReplaySource } from '../sdk/app/demo/replay-source';
import { startDevice, type DeviceHandle } from '../sdk/app/start-device';
import { openFrameSource } from '../sdk/capture/open-frame-source';
import { parseDeviceConfig } from '../sdk/config/load';
import type { LocalConsoleBackend } from '../sdk/console/local-backend';
import { hashPassword } from '../sdk/console/password';
import { enrollPerson } from '../sdk/gallery/enroll';
import { createLogger } from '../sdk/observability/logger';
import { describeWithChromium, launchChromium } from './support/browser';
import { CLIP, FFMPEG, describeWith } from './support/capture';
import { makeCascadeBundle } from './support/cascade-bundle';
import { dataPath, tempDir } from './support/data';
import { maskedScreenshot } from './support/screenshots';

const PASSWORD = 'correct horse battery staple';
const HASH_ENV = 'JETFACE_CONSOLE_TEST_HASH';
/**
 * Screenshots of each page, 1280x800, go to this folder when it is set
 * (`JETFACE_SCREENSHOTS=docs/images npx jest test/console-browser` makes docs/console.md's), else to a
 * temporary one. Camera frames and face crops are masked and the data's names replaced first
 * (support/screenshots.ts): the data's terms forbid publishing anything derived from it.
 */
const SHOTS = process.env['JETFACE_SCREENSHOTS'] ? resolve(__dirname, '..', process.env['JETFACE_SCREENSHOTS']) : tempDir('jetface-shots-');
/** The names the data gives, and what the screenshots show instead. */
const NEUTRAL = { 'Lin-Manuel Miranda': 'Person A', 'lin-manuel-miranda': 'person-a', hamilton: 'entrance' };

const describeBoth = (name: string, fn: () => void): void => describeWith(FFMPEG)(name, () => describeWithChromium('in Chromium', fn));

function diskBytes(path: string): Buffer {
  return Buffer.concat([readFileSync(path), existsSync(`${path}-wal`) ? readFileSync(`${path}-wal`) : Buffer.alloc(0)]);
}

describeBoth('device console: hamilton_clip.mp4 → cascade bundle → console pages', () => {
  let device: DeviceHandle;
  let browser: Browser;
  let page: Page;
  let galleryPath: string;
  let openStart!: () => void;
  let openPass2!: () => void;
  let atPass2Gate = false;

  beforeAll(async () => {
    const work = tempDir('jetface-console-');
    galleryPath = join(work, 'gallery.db');
    process.env[HASH_ENV] = await hashPassword(PASSWORD);
    const config = parseDeviceConfig(
      {
        device: { id: 'console-test' },
        cameras: [{ id: 'hamilton', source: { kind: 'file', path: CLIP }, fps: 10 }],
        model: { bundle: await makeCascadeBundle(), providers: ['cpu'] },
        gallery: { path: galleryPath },
        mqtt: { embedded: true, embeddedPort: 0 },
        outbox: { dir: work },
        console: { enabled: true, port: 0, passwordHashEnv: HASH_ENV },
      },
      'test',
    );
    const start = new Promise<void>((r) => (openStart = r));
    const pass2 = new Promise<void>((r) => (openPass2 = r));
    const replay = new ReplaySource({
      cameraId: 'hamilton',
      passes: 2,
      startGate: start,
      passGate: () => ((atPass2Gate = true), pass2),
      input: { kind: 'frames', open: () => openFrameSource(cameraSourceSpec(config.cameras[0]!)) },
    });
    device = await startDevice(config, { sources: { hamilton: replay }, log: createLogger({ level: 'silent' }) });
    // Lin-Manuel Miranda is known from his photo; whoever else the clip shows is a stranger.
    const lmm = await enrollPerson(device.engine, device.gallery, { personId: 'lin-manuel-miranda', name: 'Lin-Manuel Miranda' }, [dataPath('video', 'enroll', 'lin-manuel-miranda.png')]);
    expect(lmm.enrolled).toBe(1);
    browser = await launchChromium();
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    mkdirSync(SHOTS, { recursive: true });
  });

  afterAll(async () => {
    openStart?.();
    openPass2?.();
    await browser?.close();
    await device?.stop();
    delete process.env[HASH_ENV];
  });

  const waitForCanvasFaces = (predicate: string) =>
    page.waitForFunction(
      `(() => { const c = document.querySelector('canvas[data-camera="hamilton"]'); if (!c || !c.dataset.faces) return false; const faces = JSON.parse(c.dataset.faces); return ${predicate}; })()`,
      { timeout: 60_000, polling: 50 },
    );

  /** A masked screenshot of the page as it is; every camera frame and crop was masked. */
  const shoot = async (name: string): Promise<void> => {
    const masked = await maskedScreenshot(page, SHOTS, name, NEUTRAL);
    expect(masked.unmasked).toBe(0);
  };

  test('the whole loop: log in, live boxes, a stranger enrolled with a click, named on the next pass, deleted from the SQLite file', async () => {
    const url = device.console!.url;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    await page.goto(`${url}/#/live`);
    expect(new URL(page.url()).pathname).toBe('/login'); // no session: the login page
    await shoot('login');
    await page.type('input[name=password]', PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    expect(new URL(page.url()).pathname).toBe('/');
    await page.goto(`${url}/#/live`);

    await page.waitForSelector('canvas[data-camera="hamilton"]');
    openStart();
    await waitForCanvasFaces('faces.length > 0');

    // Pass 1 over: its tracks ended; the strangers are listed with crops that passed the gates.
    for (let i = 0; i < 600 && !atPass2Gate; i++) await new Promise((r) => setTimeout(r, 100));
    expect(atPass2Gate).toBe(true);
    const backend = device.console!.backend as LocalConsoleBackend;
    const stranger = backend.unknown.list().find((c) => c.crops.some((crop) => crop.verdict.ok));
    expect(stranger).toBeDefined();
    await page.goto(`${url}/#/unknown`);
    const card = `article.stranger[data-id="${stranger!.id}"]`;
    await page.waitForSelector(`${card} img`);
    await page.type(`${card} input[name=name]`, 'Stranger One');
    await shoot('unknown');
    await page.click(`${card} button.enroll`);
    await page.waitForSelector(`${card} .result`);
    const enrolled = await page.$eval(`${card} .result`, (el) => Number(el.getAttribute('data-enrolled')));
    expect(enrolled).toBeGreaterThan(0);
    expect(device.gallery.getPerson('stranger-one')?.name).toBe('Stranger One');

    // Pass 2: he is named in the live view and in the events.
    await page.goto(`${url}/#/live`);
    await page.waitForSelector('canvas[data-camera="hamilton"]');
    openPass2();
    await waitForCanvasFaces("faces.some((f) => f.name === 'Stranger One')");
    await shoot('live');
    await page.goto(`${url}/#/events`);
    await page.waitForFunction("[...document.querySelectorAll('tbody tr')].some((tr) => tr.textContent.includes('Stranger One (stranger-one)'))", { timeout: 30_000 });
    await shoot('events');

    // Delete him (a two-step click), then the file holds neither his name nor his embeddings.
    const source = `unknown/${stranger!.id}`; // each of his embeddings' source column
    expect(diskBytes(galleryPath).includes('Stranger One')).toBe(true);
    expect(diskBytes(galleryPath).includes(source)).toBe(true);
    await page.goto(`${url}/#/people`);
    await page.waitForSelector('tr[data-person="stranger-one"] button.delete');
    await shoot('people');
    await page.click('tr[data-person="stranger-one"] button.delete');
    await page.click('tr[data-person="stranger-one"] button.delete');
    await page.waitForFunction(`!document.querySelector('tr[data-person="stranger-one"]')`, { timeout: 10_000 });
    expect(device.gallery.getPerson('stranger-one')).toBeNull();
    const db = new Database(galleryPath, { readonly: true, fileMustExist: true });
    try {
      expect(db.prepare("SELECT COUNT(*) AS n FROM people WHERE person_id = 'stranger-one'").get()).toEqual({ n: 0 });
      expect(db.prepare('SELECT COUNT(*) AS n FROM embeddings WHERE person NOT IN (SELECT id FROM people)').get()).toEqual({ n: 0 });
      expect(db.prepare('SELECT COUNT(*) AS n FROM embeddings WHERE source LIKE ?').get(`%${source}%`)).toEqual({ n: 0 });
    } finally {
      db.close();
    }
    const bytes = diskBytes(galleryPath);
    expect(bytes.includes('Stranger One')).toBe(false);
    expect(bytes.includes(source)).toBe(false);
    expect(bytes.includes('Lin-Manuel Miranda')).toBe(true);

    await page.goto(`${url}/#/status`);
    await page.waitForSelector('main[data-page="status"] table');
    await shoot('status');
  });
});
