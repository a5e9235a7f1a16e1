import { basename } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../../errors';
import type { FaceEngine } from '../../engine/face-engine';
import { loadImageFrame } from '../../image/decode';
import { describeSettings, readEvaluationSettings } from '../../eval/evaluation-settings';
import type { Frame } from '../../types';
import { addEngineOptions, jsonOption, parseNumber, round, type EngineCliOptions } from '../shared-options';
import { evaluationFlags, openEvaluationEngine } from './eval';

interface BenchOptions extends EngineCliOptions {
  runs: string;
  json?: boolean;
  baseline?: string;
}

interface Timing {
  totals: number[];
  stages: Map<string, number[]>;
  faces: number;
}

/** Two warm-up calls, then `runs` timed calls of detect() on one frame. */
/**
 * Times each engine on the frame. With two (a bundle and its baseline) the runs alternate, and which
 * goes first alternates too: timed in two blocks, the second block ran 5-10% faster here whichever
 * bundle it was, which skewed every speed-up.
 */
async function timeDetect(engines: readonly FaceEngine[], frame: Frame, runs: number): Promise<Timing[]> {
  for (const engine of engines) for (let i = 0; i < 2; i++) await engine.detect(frame);
  const timings: Timing[] = engines.map(() => ({ totals: [], stages: new Map(), faces: 0 }));
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? engines.map((_, k) => k) : engines.map((_, k) => engines.length - 1 - k);
    for (const k of order) {
      const timing = timings[k]!;
      const t = process.hrtime.bigint();
      const r = await engines[k]!.detectWithTimings(frame);
      timing.totals.push(Number(process.hrtime.bigint() - t) / 1e6);
      timing.faces = r.faces.length;
      for (const [key, v] of Object.entries(r.timings)) {
        const list = timing.stages.get(key) ?? [];
        list.push(v);
        timing.stages.set(key, list);
      }
    }
  }
  return timings;
}

/** `jetface bench engine`: per-image detect() latency, median and p90 over N runs after warm-up. */
export function registerBench(program: Command): void {
  const bench = program.command('bench').description('measure speed');
  addEngineOptions(bench.command('engine'))
    .description('median and p90 milliseconds of detect() per image, the split between stages, and each median relative to the first image\'s')
    .option('--runs <n>', 'timed runs per image (after 2 warm-up runs)', '20')
    .option('--baseline <dir>', 'also time this bundle on each image in the same process and report the speed-up against it')
    .addOption(jsonOption())
    .argument('<images...>', 'image files')
    .action(async (images: string[], o: BenchOptions) => {
      const runs = parseNumber('--runs', o.runs);
      if (!Number.isInteger(runs) || runs < 1) throw new InvalidArgumentError('--runs', 'an integer ≥ 1', o.runs);
      // Each bundle at its own minimum score (manifest.evaluation, else thresholds.detection); --min-score sets the bundle's only.
      const { minScore } = await readEvaluationSettings(o.bundle, evaluationFlags(o));
      const baseMinScore = o.baseline ? (await readEvaluationSettings(o.baseline)).minScore : undefined;
      const engine = await openEvaluationEngine(o, { minScore });
      const baseline = o.baseline && baseMinScore ? await openEvaluationEngine({ bundle: o.baseline, ...(o.providers ? { providers: o.providers } : {}), ...(o.threads ? { threads: o.threads } : {}) }, { minScore: baseMinScore }).catch(async (e: unknown) => {
        await engine.close();
        throw e;
      }) : undefined;
      try {
        let baselineMs: number | undefined; // the first image's median: later images report their cost relative to it
        if (!o.json) {
          console.log(`bundle ${engine.info.name} (${engine.info.kind}, ${engine.info.precision}) on ${engine.info.provider}, ${runs} runs per image, ${describeSettings({ minScore })}`);
          if (baseline && baseMinScore) console.log(`baseline ${baseline.info.name}: ${describeSettings({ minScore: baseMinScore })}`);
        }
        for (const image of images) {
          const frame = await loadImageFrame(image);
          const [{ totals, stages, faces }, base] = (await timeDetect(baseline ? [engine, baseline] : [engine], frame, runs)) as [Timing, Timing | undefined];
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
            settings: { minScore },
            ...(base && baseline && baseMinScore
              ? { baseline: { bundle: baseline.info.name, faces: base.faces, median_ms: round(percentile(base.totals, 50)), settings: { minScore: baseMinScore } }, speedup_vs_baseline: round(percentile(base.totals, 50) / percentile(totals, 50), 3) }
              : {}),
          };
          if (o.json) console.log(JSON.stringify(report));
          else {
            const split = Object.entries(stageMedians).map(([k, v]) => `${k} ${v}`).join(', ');
            console.log(`${report.image} ${frame.width}x${frame.height}: ${faces} faces, median ${report.median_ms} ms (${report.ratio_vs_first}x the first image), p90 ${report.p90_ms} ms (${split})`);
            if (report.baseline) console.log(`  baseline ${report.baseline.bundle}: ${report.baseline.faces} faces, median ${report.baseline.median_ms} ms; speed-up ${report.speedup_vs_baseline}x`);
          }
        }
      } finally {
        await Promise.all([engine.close(), baseline?.close()]);
      }
    });
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}
