/**
 * The committed default bundle and the README's main command inputs: these need neither
 * ../shared nor a GPU, as on a user's fresh clone.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadBundle } from '../sdk/bundle/load-bundle';
import { FaceEngine } from '../sdk/engine/face-engine';
import { loadImageFrame } from '../sdk/image/decode';

const ROOT = resolve(__dirname, '..');
const BUNDLE = join(ROOT, 'models', 'jetface-s');
const SAMPLE = join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample5.jpg');

describe('models/jetface-s', () => {
  test('is a valid joint bundle whose model file matches its checksum and whose card carries the data terms', async () => {
    const bundle = await loadBundle(BUNDLE);
    expect(bundle.manifest.kind).toBe('joint');
    expect(bundle.manifest.provenance.terms.join(' ')).toMatch(/non-commercial research/);
    expect(existsSync(join(BUNDLE, 'MODEL_CARD.md'))).toBe(true);
  });

  test('finds faces with unit embeddings in the README sample photo', async () => {
    const engine = await FaceEngine.create(BUNDLE, { providers: ['cpu'] });
    try {
      const frame = await loadImageFrame(SAMPLE);
      const faces = await engine.detect(frame);
      expect(faces.length).toBeGreaterThanOrEqual(1);
      for (const f of faces) {
        expect(f.box[2]).toBeGreaterThan(f.box[0]);
        expect(f.box[2]).toBeLessThanOrEqual(frame.width);
        expect(Math.hypot(...f.embedding)).toBeCloseTo(1, 4);
      }
      // No face: the graph's outputs have K = 0, through the in-graph NMS and the embedding transform.
      const blank = { ...frame, data: new Uint8Array(320 * 240 * 3).fill(128), width: 320, height: 240 };
      expect(await engine.detect(blank)).toEqual([]);
    } finally {
      await engine.close();
    }
  });
});
