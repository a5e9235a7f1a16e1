import { basename } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../../errors';
import { loadImageFrame } from '../../image/decode';
import { addEngineOptions, jsonOption, openEngine, parseNumber, round, type EngineCliOptions } from '../shared-options';

interface BenchOptions extends EngineCliOptions {
  runs: string;
  json?: boolean;
}

/** `jetface bench engine`: per-image detect() latency, median and p90 over N runs after warm-up. */
export function registerBench(program: Command): void {
  const bench = program.command('bench').description('measure speed');
  addEngineOptions(bench.command('engine'))
    .description('median and p90 milliseconds of detect() per image, the split between stages, and each median relative to the first image\'s')
    .option('--runs <n>', 'timed runs per image (after 2 warm-up runs)', '20')
    .addOption(jsonOption())
    .argument('<images...>', 'image files')
    .action(async (images: string[], o: BenchOptions) => {
      const runs = parseNumber('--runs', o.runs);
      if (!Number.isInteger(runs) || runs < 1) throw new InvalidArgumentError('--runs', 'an integer ≥ 1', o.runs);
      const engine = await openEngine(o);
      try {
        let baselineMs: number | undefined; // the first image's median: later images report their cost relative to it
        if (!o.json) console.log(`bundle ${engine.info.name} (${engine.info.kind}, ${engine.info.precision}) on ${engine.info.provider}, ${runs} runs per image`);
        for (const image of images) {
          const frame = await loadImageFrame(image);
          for (let i = 0; i < 2; i++) await engine.detect(frame);
          const totals: number[] = [];
          const stages = new Map<string, number[]>();
          let faces = 0;
          for (let i = 0; i < runs; i++) {
            const t = process.hrtime.bigint();
            const r = await engine.detectWithTimings(frame);
            totals.push(Number(process.hrtime.bigint() - t) / 1e6);
            faces = r.faces.length;
            for (const [k, v] of Object.entries(r.timings)) stages.set(k, [...(stages.get(k) ?? []), v]);
          }
          const stageMedians = Object.fromEntries([...stages].map(([k, v]) => [k, round(percentile(v, 50))]));
          const report = {
            image: basename(image),
            width: frame.width,
            height: frame.height,
            faces,
            runs,
            median_ms: round(percentile(totals, 50)),
            p90_ms: round(percentile(totals, 90)),
            ratio_vs_first: round(percentile(totals, 50) / (baselineMs ??= percentile(totals, 50)), 3),
            stages_median_ms: stageMedians,
            ...(engine.info.kind === 'cascade' && faces > 0 ? { recognizer_ms_per_face: round((stageMedians['recognizer'] ?? 0) / faces) } : {}),
            provider: engine.info.provider,
          };
          if (o.json) console.log(JSON.stringify(report));
          else {
            const split = Object.entries(stageMedians).map(([k, v]) => `${k} ${v}`).join(', ');
            console.log(`${report.image} ${frame.width}x${frame.height}: ${faces} faces, median ${report.median_ms} ms (${report.ratio_vs_first}x the first image), p90 ${report.p90_ms} ms (${split})`);
          }
        }
      } finally {
        await engine.close();
      }
    });
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}
