/**
 * Times `npm run demo` as a user runs it after `npm install`: from spawning npm to the first
 * recognition line printed (and to the first guest recognized coming back in pass 2), N runs.
 * `npx tsx scripts/time-demo.ts [runs]`; prints one JSON line per run, then the medians.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { resolve } from 'node:path';

interface Run {
  run: number;
  firstRecognitionS: number | null;
  firstPass2RecognitionS: number | null;
  totalS: number;
  exitCode: number | null;
}

async function once(run: number): Promise<Run> {
  const t0 = performance.now();
  const child = spawn('npm', ['run', 'demo'], { cwd: resolve(__dirname, '..'), stdio: ['ignore', 'pipe', 'ignore'] });
  let text = '';
  let first: number | null = null;
  let second: number | null = null;
  child.stdout.on('data', (d: Buffer) => {
    text += d.toString();
    const now = performance.now() - t0;
    if (first === null && /RECOGNIZED|\[first recognition/.test(text)) first = now;
    const pass2 = text.indexOf('--- pass 2');
    if (second === null && pass2 >= 0 && /RECOGNIZED/.test(text.slice(pass2))) second = now;
  });
  const exitCode = await new Promise<number | null>((ok) => child.on('exit', ok));
  const s = (ms: number | null): number | null => (ms === null ? null : Math.round(ms / 10) / 100);
  return { run, firstRecognitionS: s(first), firstPass2RecognitionS: s(second), totalS: s(performance.now() - t0)!, exitCode };
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

void (async () => {
  const runs = Number(process.argv[2] ?? 5);
  const results: Run[] = [];
  for (let i = 1; i <= runs; i++) {
    const r = await once(i);
    results.push(r);
    console.log(JSON.stringify(r));
  }
  const pick = (k: 'firstRecognitionS' | 'firstPass2RecognitionS' | 'totalS') => median(results.flatMap((r) => (r[k] === null ? [] : [r[k] as number])));
  console.log(JSON.stringify({ runs, medianFirstRecognitionS: pick('firstRecognitionS'), medianFirstPass2RecognitionS: pick('firstPass2RecognitionS'), medianTotalS: pick('totalS') }));
})();
