import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadBundle } from '../sdk/bundle/load-bundle';
import { FaceEngine } from '../sdk/engine/face-engine';
import { ContractError, InputFileError, InvalidArgumentError } from '../sdk/errors';
import { placeOnCanvas } from '../sdk/eval/canvas';
import { loadImageFrame } from '../sdk/image/decode';
import { writeCentredBundle } from '../toolchain/export/centred-bundle';
import { fitEmbeddingTransform } from '../toolchain/export/embedding-whitening';
import { makeCascadeBundle } from './support/cascade-bundle';
import { dataPath, describeWithData, tempDir } from './support/data';

// An un-centred joint bundle with a real network (the default bundle is centred already).
const SOURCE = resolve(__dirname, '../models/jetface-s-v2');

describe('fitEmbeddingTransform', () => {
  // Two people in 4-D whose photos vary along one axis 10x more than along the others.
  const spread = [10, 1, 1, 1];
  const embeddings: Float32Array[] = [];
  const identities: string[] = [];
  let seed = 7;
  const noise = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * Math.sqrt(12);
  for (const [who, mean] of [['a', [1, 0, 2, 0]], ['b', [0, 3, 0, 1]]] as const) {
    for (let i = 0; i < 400; i++) {
      embeddings.push(Float32Array.from(mean, (v, k) => v + spread[k]! * noise()));
      identities.push(who);
    }
  }

  test('centres on the mean; damps the axis along which each person varies 10x more by 1/10 at α = 1, by 1/√10 at α = ½', () => {
    const t = fitEmbeddingTransform(embeddings, identities, { alpha: 1, reg: 1e-6 });
    [0.5, 1.5, 1, 0.5].forEach((v, k) => expect(Math.abs(t.centre[k]! - v)).toBeLessThan(4 * (spread[k]! / Math.sqrt(800)))); // the mean, ± 4 standard errors
    const m = t.matrix!;
    const w = (r: number, c: number): number => m[r * 4 + c]!;
    expect(w(0, 1)).toBeCloseTo(w(1, 0), 6); // symmetric
    // The noisy axis is damped about tenfold relative to the others.
    expect(w(0, 0) / w(1, 1)).toBeGreaterThan(0.07);
    expect(w(0, 0) / w(1, 1)).toBeLessThan(0.14);
    const half = fitEmbeddingTransform(embeddings, identities, { alpha: 0.5, reg: 1e-6 }).matrix!;
    expect(half[0]! / half[5]!).toBeGreaterThan(0.25); // about √(1/10)
    expect(half[0]! / half[5]!).toBeLessThan(0.4);
    expect(fitEmbeddingTransform(embeddings, identities).matrix).toBeUndefined();
  });
});

describeWithData('jetface bundle centre', () => {
  const work = tempDir('jetface-centre-');
  const list = join(work, 'train.txt');
  const out = join(work, 'centred');
  const root = dataPath('lfw', 'images');
  writeFileSync(list, `${readFileSync(dataPath('lfw', 'train_images.txt'), 'utf8').split('\n').slice(0, 8).join('\n')}\n`);

  test('writes a bundle whose graph subtracts the mean training embedding: same faces, centred unit embeddings', async () => {
    const notes = '## Match threshold\n\nRe-tuned after centring.\n\n## Caveats\n\nA smoke test.\n';
    const { manifest, transform, maxAbsDiff } = await writeCentredBundle({ from: SOURCE, out, list, root, matchThreshold: 0.3, metrics: { note: 'smoke' }, notes });
    const centre = { ...transform, images: 8 };
    expect(transform.matrix).toBeUndefined();
    const source = (await loadBundle(SOURCE)).manifest;
    expect(centre.faces).toBeGreaterThanOrEqual(4);
    expect(centre.norm).toBeGreaterThan(0.05); // faces share a direction: the mean of unit vectors is far from 0
    expect(maxAbsDiff).toBeLessThan(1e-4);
    expect(manifest.modelId).not.toBe(source.modelId);
    expect(manifest.thresholds).toEqual({ ...source.thresholds, match: 0.3 });
    expect(manifest.metrics).toMatchObject({ centred_from: source.modelId, centre_faces: centre.faces, note: 'smoke', params: source.metrics!['params'] });
    expect(manifest.metrics).not.toHaveProperty('lfw_devtest_accuracy'); // measured on the source, not on this model
    const card = readFileSync(join(out, 'MODEL_CARD.md'), 'utf8');
    expect(card).toMatch(/## Centred embeddings[\s\S]*## Caveats\n\nA smoke test\.[\s\S]*## Measured[\s\S]*centred_from[\s\S]*## Training data/);
    // A section the source's card has is replaced, not repeated; the old numbers are gone.
    expect(card.match(/## Match threshold/g)).toHaveLength(1);
    expect(card).toMatch(/## Match threshold\n\nRe-tuned after centring\.\n\n## /);
    expect(card).not.toMatch(/lfw_devtest_accuracy/);

    // Independently of the writer's own check: a frame it never saw.
    const frame = await loadImageFrame(dataPath('scenes', 'two_people.jpg'));
    const [plain, centred] = [await FaceEngine.create(SOURCE, { providers: ['cpu'] }), await FaceEngine.create(out, { providers: ['cpu'] })];
    try {
      const [a, b] = [await plain.detect(frame), await centred.detect(frame)];
      expect(a.length).toBeGreaterThan(0);
      expect(b.map((f) => f.box)).toEqual(a.map((f) => f.box));
      a.forEach((f, i) => {
        const d = Array.from(f.embedding, (v, k) => v - centre.centre[k]!);
        const n = Math.hypot(...d);
        d.forEach((v, k) => expect(b[i]!.embedding[k]).toBeCloseTo(v / n, 4));
        expect(Math.hypot(...b[i]!.embedding)).toBeCloseTo(1, 5);
      });
      // The measured crops' mean moves toward 0 once centred.
      const mean = async (engine: FaceEngine): Promise<number> => {
        const sum = new Float64Array(128);
        for (const file of readFileSync(list, 'utf8').split('\n').filter(Boolean)) {
          const faces = await engine.detect(placeOnCanvas(await loadImageFrame(join(root, file)), 160, 'grey'));
          faces.slice(0, 1).forEach((f) => f.embedding.forEach((v, k) => (sum[k] = sum[k]! + v)));
        }
        return Math.hypot(...sum);
      };
      expect(await mean(centred)).toBeLessThan(0.5 * (await mean(plain)));
    } finally {
      await Promise.all([plain.close(), centred.close()]);
    }
  }, 120_000);

  test('--whiten: the graph applies Sw^(-α/2) to the centred embedding, Sw from the people of the list', async () => {
    // People with several training images, so that the within-person covariance can be estimated.
    const lines = readFileSync(dataPath('lfw', 'train_images.txt'), 'utf8').split('\n').filter(Boolean);
    const counts = new Map<string, number>();
    for (const l of lines) counts.set(l.split('/')[0]!, (counts.get(l.split('/')[0]!) ?? 0) + 1);
    const many = join(work, 'many.txt');
    writeFileSync(many, `${lines.filter((l) => counts.get(l.split('/')[0]!)! >= 8).slice(0, 240).join('\n')}\n`);
    const whitened = join(work, 'whitened');
    const { transform, maxAbsDiff, manifest } = await writeCentredBundle({ from: SOURCE, out: whitened, list: many, root, whiten: { alpha: 0.5, reg: 0.5 } });
    expect(maxAbsDiff).toBeLessThan(1e-4);
    expect(transform.whitening).toMatchObject({ alpha: 0.5, reg: 0.5 });
    expect(transform.whitening!.identities).toBeGreaterThanOrEqual(5);
    expect(manifest.metrics).toMatchObject({ whitening_alpha: 0.5, whitening_people: transform.whitening!.identities });
    const m = transform.matrix!;
    const d = transform.centre.length;
    const frame = await loadImageFrame(dataPath('scenes', 'two_people.jpg'));
    const [plain, white] = [await FaceEngine.create(SOURCE, { providers: ['cpu'] }), await FaceEngine.create(whitened, { providers: ['cpu'] })];
    try {
      const [a, b] = [await plain.detect(frame), await white.detect(frame)];
      expect(b.map((f) => f.box)).toEqual(a.map((f) => f.box));
      a.forEach((f, i) => {
        const x = Array.from(f.embedding, (v, k) => v - transform.centre[k]!);
        const y = Array.from({ length: d }, (_, r) => x.reduce((s, v, k) => s + m[r * d + k]! * v, 0));
        const n = Math.hypot(...y);
        y.forEach((v, k) => expect(b[i]!.embedding[k]).toBeCloseTo(v / n, 4));
      });
    } finally {
      await Promise.all([plain.close(), white.close()]);
    }
    await expect(writeCentredBundle({ from: SOURCE, out: join(work, 'few'), list, root, whiten: { alpha: 0.5 } })).rejects.toThrow(InputFileError);
    await expect(writeCentredBundle({ from: SOURCE, out: join(work, 'alpha'), list: many, root, whiten: { alpha: 2 } })).rejects.toThrow(InvalidArgumentError);
  }, 120_000);

  test('the CLI writes the bundle and prints its model id; a bad --whiten exits non-zero and names the option', async () => {
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ['--require', require.resolve('tsx/cjs'), 'sdk/cli/main.ts', 'bundle', 'centre', '--bundle', SOURCE, '--list', list, '--root', root, ...args], {
        cwd: resolve(__dirname, '..'),
        encoding: 'utf8',
        timeout: 100_000,
      });
    const ok = cli('--out', join(work, 'cli'), '--count', '5', '--match-threshold', '0.33');
    expect({ status: ok.status, stderr: ok.stderr }).toEqual({ status: 0, stderr: '' });
    const printed = JSON.parse(ok.stdout.trim().split('\n').at(-1)!) as { modelId: string; faces: number };
    const written = (await loadBundle(join(work, 'cli'))).manifest;
    expect(printed.modelId).toBe(written.modelId);
    expect(written.thresholds.match).toBe(0.33);
    expect(printed.faces).toBeLessThanOrEqual(5);
    const bad = cli('--out', join(work, 'cli-bad'), '--whiten', '1.5');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--whiten/);
  }, 120_000);

  test('refuses a centred bundle, a cascade, an unreadable list and writing over the source', async () => {
    await expect(writeCentredBundle({ from: out, out: join(work, 'twice'), list, root })).rejects.toThrow(ContractError);
    await expect(writeCentredBundle({ from: await makeCascadeBundle(), out: join(work, 'cascade'), list, root })).rejects.toThrow(InvalidArgumentError);
    await expect(writeCentredBundle({ from: SOURCE, out: join(work, 'x'), list: join(work, 'missing.txt'), root })).rejects.toThrow(InputFileError);
    await expect(writeCentredBundle({ from: SOURCE, out: SOURCE, list, root })).rejects.toThrow(InvalidArgumentError);
  }, 120_000);
});
