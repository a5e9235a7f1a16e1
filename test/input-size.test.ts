import { resolve } from 'node:path';
import { loadBundle } from '../sdk/bundle/load-bundle';
import type { BundleManifest } from '../sdk/bundle/manifest';
import { FaceEngine } from '../sdk/engine/face-engine';
import { AUTO_MAX_UPSCALE, AUTO_WIDTH, autoSecondPass, checkInputSizePolicy, mergePasses, placeFrame } from '../sdk/engine/input-size';
import { boxIou } from '../sdk/engine/nms';
import { InvalidArgumentError } from '../sdk/errors';
import { loadImageFrame } from '../sdk/image/decode';
import { scaleFrame } from '../sdk/image/scale';
import type { Face } from '../sdk/types';
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

  const face = (x: number, width: number, score: number, tag: number): Face => ({
    box: [x, 100, x + width, 100 + width],
    score,
    landmarks: [[x, 100], [x, 100], [x, 100], [x, 100], [x, 100]],
    embedding: new Float32Array([tag]),
  });

  test("'auto' looks again only when faces are small at the bundle's size, at the size that brings them to the working width", () => {
    const joint = manifest.kind === 'joint' ? manifest : undefined;
    // 1920x1080 -> 640x360 letterbox: a frame face of w px is w/3 px at the bundle's size.
    const frame = { width: 1920, height: 1080 };
    expect(autoSecondPass(frame, joint!, [face(0, 300, 0.9, 1)])).toBeUndefined(); // 100 px at 640: enough
    expect(autoSecondPass(frame, joint!, [])).toBeUndefined();
    // A small frame is enlarged, at most AUTO_MAX_UPSCALE x: 30 px wants 640 * 72 / 30 = 1536, capped at 1280.
    expect(autoSecondPass({ width: 640, height: 480 }, joint!, [face(0, 30, 0.9, 1)])).toEqual({ width: 1280, height: 960, scale: AUTO_MAX_UPSCALE });
    // 320x240 is already drawn 2x at the bundle's size: no larger input to give.
    expect(autoSecondPass({ width: 320, height: 240 }, joint!, [face(0, 10, 0.9, 1)])).toBeUndefined();
    const second = autoSecondPass(frame, joint!, [face(0, 90, 0.9, 1), face(200, 96, 0.8, 2), face(400, 300, 0.9, 3)]);
    // Median small face 32 px at 640: 640 * 72 / 32 = 1440 px on the longer side.
    expect(second).toEqual({ width: 1440, height: 832, scale: 0.75 });
    expect(AUTO_WIDTH.target).toBeGreaterThan(AUTO_WIDTH.small);
  });

  test("'auto' keeps each face from the pass that saw it best, and loses none", () => {
    const joint = manifest.kind === 'joint' ? manifest : undefined;
    const frame = { width: 1920, height: 1080 };
    const coarse = [face(0, 300, 0.95, 1), face(600, 60, 0.7, 2), face(1200, 60, 0.6, 3)];
    const fine = [face(2, 300, 0.9, 11), face(602, 60, 0.8, 12), face(900, 40, 0.75, 14)];
    const merged = mergePasses(coarse, fine, frame, joint!);
    // The large face from the bundle-size pass; the small one seen by both from the larger pass; the
    // larger pass's new face; the small face only the first pass found.
    expect(merged.map((f) => f.embedding[0])).toEqual([1, 12, 14, 3]);
  });

  test('a size the bundle cannot take is an InvalidArgumentError naming the option and the limit', () => {
    expect(checkInputSizePolicy('frame', manifest)).toBe('frame');
    expect(checkInputSizePolicy(1280, manifest)).toBe(1280);
    expect(checkInputSizePolicy('auto', manifest)).toBe('auto');
    for (const bad of [320, 4000, 1280.5, 'huge', null]) {
      expect(() => checkInputSizePolicy(bad, manifest)).toThrow(InvalidArgumentError);
    }
    expect(() => checkInputSizePolicy(4000, manifest)).toThrow(/options\.inputSize.*640\.\.1920 for jetface-s/);
    const fixed = { ...manifest, dynamicInput: undefined } as BundleManifest;
    expect(() => checkInputSizePolicy('frame', fixed)).toThrow(/jetface-s has a 640x640 input/);
    // 'auto' does what a bundle allows: the device's default opens fixed-size bundles too.
    expect(checkInputSizePolicy('auto', fixed)).toBe('bundle');
  });
});

/**
 * Of the reference faces, how many `faces` found (IoU ≥ 0.5 once their boxes are divided by `scale`,
 * the frame's size against the reference's), and the mean cosine of their embeddings to the reference's.
 */
function cosineToReference(reference: readonly Face[], faces: readonly Face[], scale = 1): { found: number; cosine: number } {
  const cosines = reference.flatMap((r) => {
    const f = faces.find((g) => boxIou(g.box.map((v) => v / scale) as Face['box'], r.box) >= 0.5);
    return f ? [f.embedding.reduce((acc, v, i) => acc + v * r.embedding[i]!, 0)] : [];
  });
  return { found: cosines.length, cosine: cosines.reduce((x, y) => x + y, 0) / cosines.length };
}

describeWithData('FaceEngine inputSize on a real photo', () => {
  test("'frame' and 'auto' run a 1920x1440 photo larger: the same faces, in frame pixels, embedded closer to the teacher's", async () => {
    // The faces here are ~80 px wide, ~27 px once letterboxed into 640. The reference cascade embeds
    // each from the photo's own pixels: with those pixels the joint model's embeddings come closer to it.
    const frame = await loadImageFrame(dataPath('scenes', 'group-1.jpg'));
    const teacher = await FaceEngine.create(await makeCascadeBundle(), { providers: ['cpu'] });
    const open = (inputSize: 'bundle' | 'frame' | 'auto'): Promise<FaceEngine> => FaceEngine.create(DEFAULT_BUNDLE, { providers: ['cpu'], inputSize });
    const [small, large, auto] = [await open('bundle'), await open('frame'), await open('auto')];
    try {
      const reference = await teacher.detect(frame);
      const [atBundle, atFrame, atAuto] = [await small.detect(frame), await large.detect(frame), await auto.detectWithTimings(frame)];
      const [b, f, a] = [cosineToReference(reference, atBundle), cosineToReference(reference, atFrame), cosineToReference(reference, atAuto.faces)];
      expect(reference.length).toBeGreaterThanOrEqual(10);
      expect(f.found).toBeGreaterThanOrEqual(Math.ceil(reference.length * 0.9)); // in frame pixels, where the teacher put them
      expect(b.found).toBeGreaterThanOrEqual(Math.ceil(reference.length * 0.9));
      expect(f.cosine).toBeGreaterThan(b.cosine + 0.05);
      // 'auto' saw the faces were small and looked again, larger.
      expect(atAuto.timings['model_fine']).toBeDefined();
      expect(a.cosine).toBeGreaterThan(b.cosine + 0.05);

      // Large faces (a 2280x1588 photo of two): 'auto' needs no second pass and gives the bundle-size answer.
      const couple = await loadImageFrame(dataPath('scenes', 'couple.jpg'));
      const [plain, judged] = [await small.detect(couple), await auto.detectWithTimings(couple)];
      expect(judged.timings['model_fine']).toBeUndefined();
      expect(judged.faces.map((x) => x.box)).toEqual(plain.map((x) => x.box));
      for (const face of atFrame) expect(face.box[3]).toBeLessThanOrEqual(frame.height);
    } finally {
      await Promise.all([small.close(), large.close(), auto.close(), teacher.close()]);
    }
  });

  test("asking a cascade bundle for 'frame' fails at create with InvalidArgumentError; 'auto' opens it at its own size", async () => {
    await expect(FaceEngine.create(await makeCascadeBundle(), { providers: ['cpu'], inputSize: 'frame' })).rejects.toThrow(InvalidArgumentError);
    const cascade = await FaceEngine.create(await makeCascadeBundle(), { providers: ['cpu'], inputSize: 'auto', warmup: false });
    await cascade.close();
  });

  test("'auto' enlarges a small frame whose faces are small: ultraface-10.jpg shrunk to 640x447 (19 faces of ~30 px) embeds closer to the teacher's", async () => {
    // The reference: the cascade on the full 1024x715 photo, each face from its own pixels.
    const full = await loadImageFrame(dataPath('scenes', 'ultraface-10.jpg'));
    const small = await scaleFrame(full, 640 / full.width);
    const teacher = await FaceEngine.create(await makeCascadeBundle(), { providers: ['cpu'] });
    const open = (inputSize: 'bundle' | 'auto'): Promise<FaceEngine> => FaceEngine.create(DEFAULT_BUNDLE, { providers: ['cpu'], inputSize });
    const [plain, auto] = [await open('bundle'), await open('auto')];
    try {
      const reference = await teacher.detect(full);
      const k = small.width / full.width;
      const atAuto = await auto.detectWithTimings(small);
      const [b, a] = [cosineToReference(reference, await plain.detect(small), k), cosineToReference(reference, atAuto.faces, k)];
      expect(atAuto.timings['model_fine']).toBeDefined();
      expect(a.found).toBeGreaterThanOrEqual(b.found);
      expect(b.found).toBeGreaterThanOrEqual(Math.ceil(reference.length * 0.9));
      expect(a.cosine).toBeGreaterThan(b.cosine + 0.05);
    } finally {
      await Promise.all([plain.close(), auto.close(), teacher.close()]);
    }
  });
});
