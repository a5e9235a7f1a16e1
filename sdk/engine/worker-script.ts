import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { WorkerError } from '../errors';

/** The file a worker thread runs, and the Node flags it needs. */
export interface WorkerScript {
  file: string;
  execArgv: string[];
}

// `true` in the rollup build (rollup.config.ts defines it), so the built package drops the tsx
// branch below and never resolves a dev dependency; undefined when running from sources.
declare const __JETFACE_BUILT__: boolean | undefined;

/**
 * Where a worker's code is. Built: `builtName` (rollup emits the workers at the top of dist/),
 * searched from the calling module's folder up to the package root, because the bundler may put
 * the caller in dist/ or in dist/chunks/. From sources (tests, `npm run jetface`): the TypeScript
 * entry `sourceFile`, loaded through tsx's require hook.
 *
 * @example
 * ```ts
 * const script = locateWorker('engine-worker.cjs', join(__dirname, 'worker-entry.ts'), __dirname);
 * new Worker(script.file, { execArgv: script.execArgv });
 * ```
 */
export function locateWorker(builtName: string, sourceFile: string, callerDir: string): WorkerScript {
  if (typeof __JETFACE_BUILT__ === 'undefined') return { file: sourceFile, execArgv: ['--require', require.resolve('tsx/cjs')] };
  const searched: string[] = [];
  for (let dir = callerDir; ; dir = dirname(dir)) {
    const file = join(dir, builtName);
    searched.push(file);
    if (existsSync(file)) return { file, execArgv: [] };
    // The package root ends the search: above it are the app's files, not ours.
    if (existsSync(join(dir, 'package.json')) || dirname(dir) === dir) break;
  }
  throw new WorkerError(`worker script ${builtName} not found (looked for ${searched.join(', ')}): keep jetface external when bundling an app (it must stay in node_modules), and reinstall it if its dist/ is incomplete`, { script: builtName, searched });
}

/** The inference worker's code (sdk/engine/worker-entry.ts, built as dist/engine-worker.cjs). */
export function workerScript(): WorkerScript {
  return locateWorker('engine-worker.cjs', join(__dirname, 'worker-entry.ts'), __dirname);
}
