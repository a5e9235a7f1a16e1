import { existsSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** `../shared/data` beside the checkout: read-only face data and reference models. */
export const DATA_DIR = resolve(__dirname, '../../../shared/data');
export const HAS_DATA = existsSync(join(DATA_DIR, 'models', 'yunet_s_640_640.onnx'));

/** describe() that runs only when the shared data is present, and says why when it is not. */
export const describeWithData: jest.Describe = HAS_DATA
  ? describe
  : (((name: string, fn: () => void) => describe.skip(`${name} (skipped: ../shared/data is absent)`, fn)) as unknown as jest.Describe);

export function dataPath(...parts: string[]): string {
  return join(DATA_DIR, ...parts);
}

/** A fresh temporary folder for a test's own fixtures. */
export function tempDir(prefix = 'jetface-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * The match threshold of the tests that follow the Hamilton clip's people through the pipeline.
 * The preliminary default model gives Lin-Manuel Miranda cosines of 0.35-0.54 in the clip, under
 * its bundle's threshold (0.73, FAR 1% on LFW): at the bundle's threshold nobody is named. These
 * tests exercise the pipeline's mechanics (votes, events, sinks), so they lower it on purpose.
 */
export const CLIP_MATCH_THRESHOLD = 0.4;
