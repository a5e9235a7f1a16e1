import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
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
 * The match threshold of the tests that follow the Hamilton clip's people through the pipeline:
 * the default bundle's own `thresholds.match`, as a device would use it (jetface-s v3 names both
 * people of the clip at it; v2 needed a lowered threshold here).
 */
export const CLIP_MATCH_THRESHOLD: number = (
  JSON.parse(readFileSync(resolve(__dirname, '../../models/jetface-s/manifest.json'), 'utf8')) as { thresholds: { match: number } }
).thresholds.match;
