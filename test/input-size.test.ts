import { resolve } from 'node:path';
import { loadBundle } from '../sdk/bundle/load-bundle';
import type { BundleManifest } from '../sdk/bundle/manifest';
import { FaceEngine } from '../sdk/engine/face-engine';
import { checkInputSizePolicy, placeFrame } from '../sdk/engine/input-size';
import { boxIou } from '../sdk/engine/nms';
import { InvalidArgumentError } from '../sdk/errors';
import { loadImageFrame } from '../sdk/image/decode';
import { makeCascadeBundle } from './support/cascade-bundle';
import { dataPath, describeWithData } from './support/data';

const DEFAULT_BUNDLE = resolve(__dirname, '../models/jetface-s');

describe('input size per frame (manifest dynamicInput)', () => {
  let manifest: BundleManifest;
  beforeAll(async () => {
    manifest = (await loadBundle(DEFAULT_BUNDLE)).manifest;
  });

  test('the default bundle takes any multiple of 32 up to 1920', () => {
    expect(manifest.kind === 'joint' && manifest.dynamicInput).toEqual({ maxSide: 1920, multiple: 32 });
  });

  test("'bundle' and small frames get the bundle's letterbox; larger frames their own size, padded to 32, capped", () => {
    expect(placeFrame({ width: 1920, height: 1080 }, manifest, 'bundle')).toEqual({ width: 640, height: 640 });
    expect(placeFrame({ width: 640, height: 360 }, manifest, 'frame')).toEqual({ width: 640, height: 640 });
    expect(placeFrame({ width: 1920, height: 1080 }, manifest, 'frame')).toEqual({ width: 1920, height: 1088, scale: 1 });
    expect(placeFrame({ width: 1920, height: 1080 }, manifest, 960)).toEqual({ width: 960, height: 544, scale: 0.5 });
    // Longer than the graph's limit: scaled down to it.
    expect(placeFrame({ width: 3840, height: 2160 }, manifest, 'frame')).toEqual({ width: 1920, height: 1088, scale: 0.5 });
    // Portrait, one side inside the bundle's size: still its own size.
    expect(placeFrame({ width: 600, height: 700 }, manifest, 'frame')).toEqual({ width: 608, height: 704, scale: 1 });
  });

  test('a size the bundle cannot take is an InvalidArgumentError naming the option and the limit', () => {
    expect(checkInputSizePolicy('frame', manifest)).toBe('frame');
    expect(checkInputSizePolicy(1280, manifest)).toBe(1280);
    for (const bad of [320, 4000, 1280.5, 'huge', null]) {
      expect(() => checkInputSizePolicy(bad, manifest)).toThrow(InvalidArgumentError);
    }
    expect(() => checkInputSizePolicy(4000, manifest)).toThrow(/options\.inputSize.*640\.\.1920 for jetface-s/);
    const fixed = { ...manifest, dynamicInput: undefined } as BundleManifest;
    expect(() => checkInputSizePolicy('frame', fixed)).toThrow(/jetface-s has a 640x640 input/);
  });
});

describeWithData('FaceEngine inputSize on a real photo', () => {
  test("'frame' runs a 1920x1440 photo at its own size: the same faces, in frame pixels, embedded closer to the teacher's", async () => {
    // The faces here are ~80 px wide, ~27 px once letterboxed into 640. The reference cascade embeds
    // each from the photo's own pixels: with those pixels the joint model's embeddings come closer to it.
    const frame = await loadImageFrame(dataPath('scenes', 'group-1.jpg'));
    const teacher = await FaceEngine.create(await makeCascadeBundle(), { providers: ['cpu'] });
    const [small, large] = [await FaceEngine.create(DEFAULT_BUNDLE, { providers: ['cpu'] }), await FaceEngine.create(DEFAULT_BUNDLE, { providers: ['cpu'], inputSize: 'frame' })];
    try {
      const reference = await teacher.detect(frame);
      const [atBundle, atFrame] = [await small.detect(frame), await large.detect(frame)];
      const meanCosine = (faces: typeof atBundle): { found: number; cosine: number } => {
        const cosines: number[] = [];
        for (const r of reference) {
          const f = faces.find((g) => boxIou(g.box, r.box) >= 0.5);
          if (f) cosines.push(f.embedding.reduce((acc, v, i) => acc + v * r.embedding[i]!, 0));
        }
        return { found: cosines.length, cosine: cosines.reduce((x, y) => x + y, 0) / cosines.length };
      };
      const [b, f] = [meanCosine(atBundle), meanCosine(atFrame)];
      expect(reference.length).toBeGreaterThanOrEqual(10);
      expect(f.found).toBeGreaterThanOrEqual(Math.ceil(reference.length * 0.9)); // in frame pixels, where the teacher put them
      expect(b.found).toBeGreaterThanOrEqual(Math.ceil(reference.length * 0.9));
      expect(f.cosine).toBeGreaterThan(b.cosine + 0.05);
      for (const face of atFrame) expect(face.box[3]).toBeLessThanOrEqual(frame.height);
    } finally {
      await Promise.all([small.close(), large.close(), teacher.close()]);
    }
  });

  test("asking a cascade bundle for 'frame' fails at create with InvalidArgumentError", async () => {
    await expect(FaceEngine.create(await makeCascadeBundle(), { providers: ['cpu'], inputSize: 'frame' })).rejects.toThrow(InvalidArgumentError);
  });
});
