/** `npm run build`'s last step: the device console's front end (sdk/console/web) → dist/console-web. */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { buildConsoleWeb } from '../sdk/console/assets';

const root = join(__dirname, '..');
const out = join(root, 'dist', 'console-web');
void (async () => {
  await rm(out, { recursive: true, force: true });
  await buildConsoleWeb(join(root, 'sdk', 'console', 'web'), out);
})().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
