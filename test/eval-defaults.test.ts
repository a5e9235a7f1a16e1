/**
 * Evaluation defaults from the bundle (issue 14 item 6): `eval verify`, `eval detect` and
 * `bench engine` run at the manifest's `evaluation` canvas, fill and minimum score when no flag is
 * given, a flag wins, and each report says which value ran and where it came from.
 */
import { readFileSync, writeFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../sdk/cli/main';
import { InvalidArgumentError } from '../sdk/errors';
import { resolveEvaluationSettings } from '../sdk/eval/evaluation-settings';
import { makeCascadeBundle } from './support/cascade-bundle';
import { dataPath, describeWithData, tempDir } from './support/data';

/** two_people.jpg's faces score 0.929 and 0.922 with the cascade: 0.925 keeps one of them. */
const EVALUATION = { canvas: 250, fill: 'edge', minScore: 0.925 };

async function jetfaceJson(...args: string[]): Promise<Record<string, unknown>[]> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((s: string) => void stdout.push(String(s)));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (stderr.push(String(s)), true));
  try {
    const status = await main(['node', 'jetface', ...args]);
    if (status !== 0) throw new Error(`jetface ${args.join(' ')} exited with ${status}: ${stderr.join('')}`);
    return stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

describe('resolveEvaluationSettings', () => {
  const thresholds = { detection: 0.6, nmsIou: 0.3, match: 0.4 };

  it('flag > manifest.evaluation > built-in; the score falls back to thresholds.detection', () => {
    expect(resolveEvaluationSettings({ thresholds })).toEqual({
      canvas: { value: 160, from: 'built-in' },
      fill: { value: 'grey', from: 'built-in' },
      minScore: { value: 0.6, from: 'manifest.thresholds.detection' },
    });
    const manifest = { thresholds, evaluation: { canvas: 320, minScore: 0.7 } };
    expect(resolveEvaluationSettings(manifest)).toEqual({
      canvas: { value: 320, from: 'manifest.evaluation' },
      fill: { value: 'grey', from: 'built-in' },
      minScore: { value: 0.7, from: 'manifest.evaluation' },
    });
    expect(resolveEvaluationSettings(manifest, { canvas: 200, fill: 'edge', minScore: 0.5 })).toEqual({
      canvas: { value: 200, from: 'flag' },
      fill: { value: 'edge', from: 'flag' },
      minScore: { value: 0.5, from: 'flag' },
    });
  });

  it.each([
    [{ canvas: 10.5 }, '--canvas'],
    [{ fill: 'pink' }, '--fill'],
    [{ minScore: 1.5 }, '--min-score'],
  ])('refuses %j naming the flag', (flags, flag) => {
    expect(() => resolveEvaluationSettings({ thresholds }, flags)).toThrow(InvalidArgumentError);
    expect(() => resolveEvaluationSettings({ thresholds }, flags)).toThrow(flag);
  });
});

describeWithData('evaluation commands read the bundle\'s evaluation block', () => {
  let bundle: string;
  let work: string;
  const scene = (): string => dataPath('scenes', 'two_people.jpg');

  beforeAll(async () => {
    work = tempDir('jetface-eval-defaults-');
    bundle = join(work, 'bundle');
    cpSync(await makeCascadeBundle(), bundle, { recursive: true });
    const file = join(bundle, 'manifest.json');
    writeFileSync(file, JSON.stringify({ ...(JSON.parse(readFileSync(file, 'utf8')) as object), evaluation: EVALUATION }));
  });

  it('eval verify: the manifest\'s canvas, fill and min score without flags; flags override', async () => {
    // 5 same and 5 different pairs of DevTrain: the 10 folds need 10 pairs.
    const rows = readFileSync(dataPath('lfw', 'pairsDevTrain.txt'), 'utf8').split(/\r?\n/).map((l) => l.trim());
    const same = rows.filter((l) => l.split(/\s+/).length === 3).slice(0, 5);
    const different = rows.filter((l) => l.split(/\s+/).length === 4).slice(0, 5);
    const pairs = join(work, 'pairs.txt');
    writeFileSync(pairs, [...same, ...different].join('\n') + '\n');
    const args = ['eval', 'verify', '--bundle', bundle, '--pairs', pairs, '--root', dataPath('lfw', 'images'), '--json'];

    const [byBundle] = await jetfaceJson(...args);
    expect(byBundle).toMatchObject({
      pairs: 10,
      canvas: { size: 250, fill: 'edge' },
      settings: { canvas: { value: 250, from: 'manifest.evaluation' }, fill: { value: 'edge', from: 'manifest.evaluation' }, minScore: { value: 0.925, from: 'manifest.evaluation' } },
    });
    const [byFlag] = await jetfaceJson(...args, '--canvas', '200', '--fill', 'grey', '--min-score', '0.5');
    expect(byFlag).toMatchObject({
      canvas: { size: 200, fill: 'grey' },
      settings: { canvas: { value: 200, from: 'flag' }, fill: { value: 'grey', from: 'flag' }, minScore: { value: 0.5, from: 'flag' } },
    });
    // A lower score floor can only find more faces.
    expect(byFlag!['imagesWithoutFace']).toBeLessThanOrEqual(byBundle!['imagesWithoutFace'] as number);

    // --face-scale shrinks each crop before the canvas (distant faces); the report says so. Out of (0, 1]: refused by name.
    const [distant] = await jetfaceJson(...args, '--face-scale', '0.4');
    expect(distant).toMatchObject({ pairs: 10, faceScale: 0.4, canvas: { size: 250, fill: 'edge' } });
    expect(byBundle).toMatchObject({ faceScale: 1 });
    await expect(jetfaceJson(...args, '--face-scale', '1.5')).rejects.toThrow(/--face-scale.*\(0, 1\]/);
  });

  it('bench engine and eval detect: the manifest\'s min score keeps one of two faces; --min-score overrides it', async () => {
    const [bench] = await jetfaceJson('bench', 'engine', '--bundle', bundle, '--runs', '1', '--json', scene());
    expect(bench).toMatchObject({ faces: 1, settings: { minScore: { value: 0.925, from: 'manifest.evaluation' } } });
    const [benchFlag] = await jetfaceJson('bench', 'engine', '--bundle', bundle, '--runs', '1', '--min-score', '0.6', '--json', scene());
    expect(benchFlag).toMatchObject({ faces: 2, settings: { minScore: { value: 0.6, from: 'flag' } } });

    // Ground truth: both faces, as `detect` (the bundle's thresholds.detection, 0.6) finds them.
    const gt = join(work, 'gt.txt');
    const lines: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((s: string) => void lines.push(String(s)));
    try {
      expect(await main(['node', 'jetface', 'detect', '--bundle', bundle, '--wider', dataPath('scenes'), scene()])).toBe(0);
    } finally {
      log.mockRestore();
    }
    writeFileSync(gt, lines.join('\n') + '\n');
    expect(lines[1]).toBe('2');
    const args = ['eval', 'detect', '--bundle', bundle, '--gt', gt, '--root', dataPath('scenes'), '--json'];
    const [detect] = await jetfaceJson(...args);
    expect(detect).toMatchObject({ groundTruth: 2, detections: 1, recall: 0.5, settings: { minScore: { value: 0.925, from: 'manifest.evaluation' } } });
    const [detectFlag] = await jetfaceJson(...args, '--min-score', '0.6');
    expect(detectFlag).toMatchObject({ groundTruth: 2, detections: 2, recall: 1, settings: { minScore: { value: 0.6, from: 'flag' } } });
  });
});
