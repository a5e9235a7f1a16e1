import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadBundle } from '../sdk/bundle/load-bundle';
import { FaceEngine } from '../sdk/engine/face-engine';
import { ContractError, InputFileError, InvalidArgumentError } from '../sdk/errors';
import { placeOnCanvas } from '../sdk/eval/canvas';
import { loadImageFrame } from '../sdk/image/decode';
import { writeCentredBundle } from '../toolchain/export/centred-bundle';
import { makeCascadeBundle } from './support/cascade-bundle';
import { dataPath, describeWithData, tempDir } from './support/data';

// An un-centred joint bundle with a real network (the default bundle is centred already).
const SOURCE = resolve(__dirname, '../models/jetface-s-v2');

describeWithData('jetface bundle centre', () => {
  const work = tempDir('jetface-centre-');
  const list = join(work, 'train.txt');
  const out = join(work, 'centred');
  const root = dataPath('lfw', 'images');
  writeFileSync(list, `${readFileSync(dataPath('lfw', 'train_images.txt'), 'utf8').split('\n').slice(0, 8).join('\n')}\n`);

  test('writes a bundle whose graph subtracts the mean training embedding: same faces, centred unit embeddings', async () => {
    const notes = '## Match threshold\n\nRe-tuned after centring.\n\n## Caveats\n\nA smoke test.\n';
    const { manifest, centre, maxAbsDiff } = await writeCentredBundle({ from: SOURCE, out, list, root, matchThreshold: 0.3, metrics: { note: 'smoke' }, notes });
    const source = (await loadBundle(SOURCE)).manifest;
    expect(centre.images).toBe(8);
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

  test('refuses a centred bundle, a cascade, an unreadable list and writing over the source', async () => {
    await expect(writeCentredBundle({ from: out, out: join(work, 'twice'), list, root })).rejects.toThrow(ContractError);
    await expect(writeCentredBundle({ from: await makeCascadeBundle(), out: join(work, 'cascade'), list, root })).rejects.toThrow(InvalidArgumentError);
    await expect(writeCentredBundle({ from: SOURCE, out: join(work, 'x'), list: join(work, 'missing.txt'), root })).rejects.toThrow(InputFileError);
    await expect(writeCentredBundle({ from: SOURCE, out: SOURCE, list, root })).rejects.toThrow(InvalidArgumentError);
  }, 120_000);
});
