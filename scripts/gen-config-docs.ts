/**
 * Writes docs/config.md from the configuration schema (`npm run -s docs:config`); with `--check`,
 * exits 1 when the committed file differs (test/config.test.ts checks the same).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { configReferenceMarkdown } from '../sdk/config/docs';

const file = resolve(__dirname, '..', 'docs', 'config.md');
const text = configReferenceMarkdown();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    // missing counts as out of date
  }
  if (current !== text) {
    process.stderr.write('docs/config.md is out of date: run npm run -s docs:config\n');
    process.exit(1);
  }
} else {
  writeFileSync(file, text);
  process.stdout.write(`wrote ${file}\n`);
}
