import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FaceEngine } from '../sdk/engine/face-engine';
import { parsePairs, lfwImagePath } from '../sdk/eval/verification';
import { labelImages, type ImageLabel } from '../toolchain/label/label-images';
import { listTrainingImages } from '../toolchain/label/sources';
import { makeCascadeBundle } from './support/cascade-bundle';
import { DATA_DIR, dataPath, describeWithData, tempDir } from './support/data';

function readLabels(file: string): ImageLabel[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as ImageLabel);
}

describeWithData('teacher labelling', () => {
  test('never lists an LFW image that an evaluation pair list names', async () => {
    const items = await listTrainingImages(DATA_DIR, ['lfw-train']);
    expect(items.length).toBe(4177);
    const listed = new Set(items.map((i) => join(DATA_DIR, i.image)));
    for (const list of ['pairsDevTest.txt', 'pairsDevTrain.txt']) {
      const pairs = parsePairs(readFileSync(dataPath('lfw', list), 'utf8'), list);
      for (const p of pairs) {
        expect(listed.has(lfwImagePath(dataPath('lfw', 'images'), p.a))).toBe(false);
        expect(listed.has(lfwImagePath(dataPath('lfw', 'images'), p.b))).toBe(false);
      }
    }
  });

  test('labels images with boxes, landmarks and unit embeddings, and resumes without relabelling', async () => {
    const engine = await FaceEngine.create(await makeCascadeBundle(), { providers: ['cpu'] });
    try {
      const all = await listTrainingImages(DATA_DIR, ['lfw-train', 'celeba', 'scenes']);
      const items = [...all.filter((i) => i.source === 'lfw-train').slice(0, 3), ...all.filter((i) => i.source === 'celeba').slice(0, 2), all.find((i) => i.image === 'scenes/bbt1.jpg')!];
      const out = join(tempDir(), 'labels.jsonl');
      const first = await labelImages(engine, DATA_DIR, items.slice(0, 4), out);
      expect(first).toMatchObject({ total: 4, skipped: 0, errors: 0 });
      // A torn last line (an interrupted write) is tolerated: that image is labelled again.
      appendFileSync(out, '{"source":"celeba","image":"celeba/images/x');
      const second = await labelImages(engine, DATA_DIR, items, out);
      expect(second).toMatchObject({ total: 6, skipped: 4, errors: 0 });

      const labels = readLabels(out);
      expect(labels.map((l) => l.image)).toEqual(items.map((i) => i.image));
      const lfw = labels[0]!;
      expect(lfw.canvas).toEqual({ size: 160, fill: 'edge', offsetX: 35, offsetY: 35 });
      expect(lfw.identity).toMatch(/^lfw:/);
      expect(lfw.faces.length).toBeGreaterThanOrEqual(1);
      expect(labels[3]!.identity).toMatch(/^celeba:\d+$/);
      const bbt = labels[5]!;
      expect(bbt.faces).toHaveLength(4);
      for (const face of bbt.faces) {
        expect(face.box).toHaveLength(4);
        expect(face.landmarks).toHaveLength(5);
        expect(face.embedding).toHaveLength(128);
        expect(Math.hypot(...face.embedding)).toBeCloseTo(1, 3);
      }
    } finally {
      await engine.close();
    }
  });
});
