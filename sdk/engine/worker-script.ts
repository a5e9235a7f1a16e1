import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where the inference worker's code is. In a built package it is `engine-worker.cjs` beside the
 * bundle (rollup emits it); in a source checkout (tests, `npm run jetface`) it is the
 * TypeScript entry, loaded through tsx's require hook.
 */
export function workerScript(): { file: string; execArgv: string[] } {
  const built = join(__dirname, 'engine-worker.cjs');
  if (existsSync(built)) return { file: built, execArgv: [] };
  return { file: join(__dirname, 'worker-entry.ts'), execArgv: ['--require', require.resolve('tsx/cjs')] };
}
