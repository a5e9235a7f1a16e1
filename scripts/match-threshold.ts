/**
 * How a bundle's embeddings separate people on an LFW pair list, for choosing `thresholds.match`:
 * the cosine of the two faces of each pair (largest face, on a canvas as `jetface eval verify`
 * does), quantiles of the different-person cosines, the threshold that a given share of them reach
 * (the false-accept rate), and the shares accepted at given thresholds.
 *
 *   npm run -s eval:threshold -- [--bundle models/jetface-s] [--pairs pairsDevTrain.txt] [--far 0.01] [--at 0.4,0.73] [--canvas PX --fill grey]
 *
 * Canvas, fill and minimum face score default to the bundle's own (manifest `evaluation`), as for `eval verify`.
 *
 * Choose on pairsDevTrain, check on pairsDevTest. The last line is JSON.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FaceEngine, loadImageFrame } from '../sdk';
import { placeOnCanvas } from '../sdk/eval/canvas';
import { describeSettings, readEvaluationSettings } from '../sdk/eval/evaluation-settings';
import { dot, largestFace } from '../sdk/eval/face-match';
import { lfwImagePath, parsePairs, type PairRef } from '../sdk/eval/verification';

const { values } = parseArgs({
  options: {
    bundle: { type: 'string', default: 'models/jetface-s' },
    lfw: { type: 'string', default: resolve(__dirname, '../../shared/data/lfw') },
    pairs: { type: 'string', default: 'pairsDevTrain.txt' },
    far: { type: 'string', default: '0.01' },
    at: { type: 'string', default: '' },
    /** Default: the bundle's evaluation canvas and fill, as `jetface eval verify`. */
    canvas: { type: 'string' },
    fill: { type: 'string' },
  },
});

/** The value below which `q` of the sorted values lie (nearest rank). */
function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const share = (xs: readonly number[], t: number): number => xs.filter((x) => x >= t).length / xs.length;
const round = (x: number): number => Math.round(x * 1000) / 1000;

async function main(): Promise<void> {
  const file = join(values.lfw!, values.pairs!);
  const pairs = parsePairs(await readFile(file, 'utf8'), file);
  const settings = await readEvaluationSettings(values.bundle!, {
    ...(values.canvas !== undefined ? { canvas: Number(values.canvas) } : {}),
    ...(values.fill !== undefined ? { fill: values.fill } : {}),
  });
  console.log(describeSettings(settings));
  const engine = await FaceEngine.create(values.bundle!, { providers: ['cpu'], minScore: settings.minScore.value });
  const embeddings = new Map<string, Float32Array | null>();
  const embed = async (ref: PairRef): Promise<Float32Array | null> => {
    const path = lfwImagePath(join(values.lfw!, 'images'), ref);
    if (!embeddings.has(path)) {
      const frame = placeOnCanvas(await loadImageFrame(path), settings.canvas.value, settings.fill.value);
      embeddings.set(path, largestFace(await engine.detect(frame))?.embedding ?? null);
    }
    return embeddings.get(path)!;
  };
  const different: number[] = [];
  const same: number[] = [];
  let failed = 0;
  try {
    for (const pair of pairs) {
      const [a, b] = [await embed(pair.a), await embed(pair.b)];
      if (!a || !b) failed++;
      else (pair.same ? same : different).push(dot(a, b));
    }
  } finally {
    await engine.close();
  }
  different.sort((x, y) => x - y);
  const far = Number(values.far);
  // The smallest threshold that at most `far` of different-person pairs reach.
  const threshold = quantile(different, 1 - far);
  const at = [threshold, ...values.at!.split(',').filter(Boolean).map(Number)];
  const report = {
    bundle: engine.info.name,
    pairs: values.pairs,
    different: different.length,
    same: same.length,
    failed_pairs: failed,
    different_median: round(quantile(different, 0.5)),
    different_p90: round(quantile(different, 0.9)),
    different_p99: round(quantile(different, 0.99)),
    different_max: round(different.at(-1) ?? Number.NaN),
    far_target: far,
    threshold_at_far: round(threshold),
    accepted: at.map((t) => ({ threshold: round(t), different: round(share(different, t)), same: round(share(same, t)) })),
  };
  for (const a of report.accepted) console.log(`threshold ${a.threshold}: different-person pairs accepted ${(a.different * 100).toFixed(1)}%, same-person ${(a.same * 100).toFixed(1)}%`);
  console.log(JSON.stringify(report));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
