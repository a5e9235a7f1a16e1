import { existsSync } from 'node:fs';
import type { Browser } from 'puppeteer-core';

/** Debian's Chromium (apt-get install -y chromium); the tests never download a browser. */
export const CHROMIUM = process.env['JETFACE_CHROMIUM'] ?? '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM);

/** describe() that runs only with Chromium installed, and says so when it is not. */
export const describeWithChromium: jest.Describe = HAS_CHROMIUM
  ? describe
  : (((name: string, fn: () => void) => describe.skip(`${name} (skipped: no Chromium at ${CHROMIUM}; apt-get install -y chromium)`, fn)) as unknown as jest.Describe);

/** Headless Chromium through puppeteer-core (no sandbox: CI runs as root). */
export async function launchChromium(): Promise<Browser> {
  const puppeteer = await import('puppeteer-core');
  return puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'], defaultViewport: { width: 1200, height: 800 } });
}
