/**
 * The joint-model toolchain end to end on a smoke configuration: teacher labels from the
 * cascade, a short PyTorch run whose loss falls, ONNX export checked against PyTorch in
 * onnxruntime-node, and the bundle loading in FaceEngine. Needs Debian's python3-torch and
 * python3-onnx (installed by .ci/run); skipped, saying so, where they are absent.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FaceEngine } from '../sdk/engine/face-engine';
import { loadImageFrame } from '../sdk/image/decode';
import { writeJointBundle } from '../toolchain/export/joint-bundle';
import { labelImages } from '../toolchain/label/label-images';
import { listTrainingImages } from '../toolchain/label/sources';
import { makeCascadeBundle } from './support/cascade-bundle';
import { DATA_DIR, HAS_DATA, dataPath, tempDir } from './support/data';

const PYTHON = '/usr/bin/python3';
const HAS_TORCH = spawnSync(PYTHON, ['-c', 'import torch, onnx'], { encoding: 'utf8' }).status === 0;
const run = HAS_DATA && HAS_TORCH ? describe : describe.skip;
const why = !HAS_DATA ? ' (skipped: ../shared/data is absent)' : !HAS_TORCH ? ' (skipped: python3-torch / python3-onnx are not installed)' : '';

interface StepLog {
  event: string;
  step?: number;
  loss?: number;
  det?: number;
}

run(`joint model toolchain, smoke configuration${why}`, () => {
  const work = tempDir('jetface-train-');
  let logLines: StepLog[] = [];

  beforeAll(async () => {
    const teacher = await FaceEngine.create(await makeCascadeBundle(), { providers: ['cpu'] });
    try {
      const all = await listTrainingImages(DATA_DIR, ['lfw-train', 'celeba']);
      const items = [...all.filter((i) => i.source === 'lfw-train').slice(0, 16), ...all.filter((i) => i.source === 'celeba').slice(0, 16)];
      await labelImages(teacher, DATA_DIR, items, join(work, 'labels.jsonl'));
    } finally {
      await teacher.close();
    }
    const r = spawnSync(
      PYTHON,
      [resolve(__dirname, '../toolchain/train/train.py'), '--labels', join(work, 'labels.jsonl'), '--data', DATA_DIR, '--out', join(work, 'run'), '--config', 'smoke'],
      { encoding: 'utf8', timeout: 600_000 },
    );
    if (r.status !== 0) throw new Error(`train.py exited with ${r.status}:\n${r.stderr.slice(-3000)}`);
    logLines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as StepLog);
  }, 900_000);

  test('the detection loss falls', () => {
    const steps = logLines.filter((l) => l.event === 'step');
    expect(steps.length).toBeGreaterThanOrEqual(4);
    const first = steps[0]!.det!;
    const last = steps.at(-1)!.det!;
    expect(last).toBeLessThan(first * 0.9);
    expect(logLines.at(-1)!.event).toBe('exported');
  });

  test('the export matches PyTorch in onnxruntime-node and loads as a joint bundle', async () => {
    const out = join(work, 'bundle');
    const { manifest, check } = await writeJointBundle({ from: join(work, 'run'), out });
    expect(check.passed).toBe(true);
    expect(check.compared).toBeGreaterThan(0);
    expect(check.maxAbsDiff['embeddings']).toBeLessThan(1e-3);
    expect(manifest.kind).toBe('joint');
    expect(readFileSync(join(out, 'MODEL_CARD.md'), 'utf8')).toMatch(/non-commercial research/);
    const engine = await FaceEngine.create(out, { providers: ['cpu'], minScore: 0 });
    try {
      const faces = await engine.detect(await loadImageFrame(dataPath('scenes', 'two_people.jpg')));
      expect(faces.length).toBeGreaterThan(0);
      for (const f of faces) expect(Math.hypot(...f.embedding)).toBeCloseTo(1, 4);
    } finally {
      await engine.close();
    }
  });

  test('a tampered export is refused, not packaged', async () => {
    const { writeFileSync, cpSync } = await import('node:fs');
    const copy = join(work, 'tampered');
    cpSync(join(work, 'run'), copy, { recursive: true });
    const scores = join(copy, 'reference', 'scores.f32');
    const buf = readFileSync(scores);
    buf.writeFloatLE(buf.readFloatLE(0) + 0.5, 0);
    writeFileSync(scores, buf);
    await expect(writeJointBundle({ from: copy, out: join(work, 'never') })).rejects.toThrow(/does not match PyTorch/);
  });
});
