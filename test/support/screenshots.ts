/**
 * Screenshots of the console's pages for docs/console.md, made by the browser tests, with nothing
 * in them that comes from ../shared/data (whose terms forbid publishing what is derived from it):
 * every camera frame and face crop is replaced by a flat grey placeholder before the shot, and the
 * names the data gives (people, the clip's camera) are replaced by neutral ones. The page's own
 * drawing (boxes, labels, layout) is kept: the live view's canvas draws a placeholder where the
 * frame would be and its boxes over it.
 *
 * Masking happens inside the page (no CSS or script is injected through the page's CSP: puppeteer
 * evaluates through the DevTools protocol) and is undone after the shot, so the test goes on
 * against the real page.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import sharp from 'sharp';

/** The in-page function (plain browser JavaScript: the project's TypeScript has no DOM types). */
const MASK_IN_PAGE = readFileSync(join(__dirname, 'mask-page.js'), 'utf8').replace(/^[\s\S]*?(?=async function maskInPage)/, '');

/** What the masking did, for the test to check that nothing was left unmasked. */
export interface MaskReport {
  canvases: number;
  images: number;
  videos: number;
  textReplaced: number;
  /** Media elements still showing pixels that are not placeholders (must be 0). */
  unmasked: number;
}

/** Masks the page, screenshots its viewport to `dir/name.png` (palette PNG), and unmasks it. */
export async function maskedScreenshot(page: Page, dir: string, name: string, names: Record<string, string>): Promise<MaskReport> {
  const report = (await page.evaluate(`(${MASK_IN_PAGE})(${JSON.stringify(Object.entries(names))})`)) as MaskReport;
  try {
    const png = await page.screenshot({ type: 'png' });
    const small = await sharp(Buffer.from(png)).png({ palette: true, quality: 90, effort: 10, compressionLevel: 9 }).toBuffer();
    writeFileSync(join(dir, `${name}.png`), small);
  } finally {
    await page.evaluate('window.__jetfaceUnmask?.()');
  }
  return report;
}
