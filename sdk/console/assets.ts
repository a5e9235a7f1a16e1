/**
 * Where the console's built front end is: `console-web/` beside the built SDK (dist/), or, running
 * from the sources (tsx, jest), built once from sdk/console/web with esbuild (a dev dependency).
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConsoleError, errorMessage } from '../errors';

let building: Promise<string> | null = null;

/** The folder holding index.html, app.js and app.css. */
export async function consoleAssetsDir(): Promise<string> {
  const sources = join(__dirname, 'web');
  if (existsSync(join(sources, 'app.ts'))) return (building ??= buildConsoleWeb(sources, join(tmpdir(), `jetface-console-web-${process.pid}`)));
  for (let dir = __dirname, i = 0; i < 4; i++, dir = dirname(dir)) {
    for (const candidate of [join(dir, 'console-web'), join(dir, 'dist', 'console-web')]) if (existsSync(join(candidate, 'index.html'))) return candidate;
  }
  throw new ConsoleError(`the console's web assets are missing (looked for console-web/ beside ${__dirname}); run \`npm run build\``);
}

/** Bundles sdk/console/web into `out` (app.js, app.css, index.html); what `npm run build` runs. */
export async function buildConsoleWeb(sources: string, out: string): Promise<string> {
  try {
    // A variable specifier: bundlers leave this dev-only import alone.
    const name = 'esbuild';
    const esbuild = (await import(name)) as typeof import('esbuild');
    await mkdir(out, { recursive: true });
    await esbuild.build({ entryPoints: [join(sources, 'app.ts')], bundle: true, format: 'iife', target: 'es2022', minify: true, outfile: join(out, 'app.js'), logLevel: 'silent', legalComments: 'none' });
    await copyFile(join(sources, 'app.css'), join(out, 'app.css'));
    await copyFile(join(sources, 'index.html'), join(out, 'index.html'));
    await writeFile(join(out, 'BUILT'), `${new Date().toISOString()}\n`);
    return out;
  } catch (error) {
    throw new ConsoleError(`cannot build the console's web assets from ${sources}: ${errorMessage(error)}`, { sources }, error);
  }
}
