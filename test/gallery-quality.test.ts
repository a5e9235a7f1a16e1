/**
 * Enrollment quality gates on real images: a good portrait passes; a group photo, a blurred copy
 * (sharp, at test time), a shrunken copy and a rolled copy are refused with the gate's code, the
 * measured value and the limit. Pose from landmarks is also checked on exact synthetic points.
 */
import { resolve } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { FaceEngine } from '../sdk/engine/face-engine';
import { InvalidArgumentError } from '../sdk/errors';
import { decodeImageBytes } from '../sdk/gallery/enroll-input';
import { DEFAULT_QUALITY_LIMITS, checkFaceQuality, estimatePose, faceSharpness, resolveQualityLimits } from '../sdk/gallery/quality';
import { loadImageFrame } from '../sdk/image/decode';
import type { Face, Frame, Landmarks } from '../sdk/types';
import { makeCascadeBundle } from './support/cascade-bundle';
import { dataPath, describeWithData } from './support/data';

const BUNDLE = resolve(__dirname, '..', 'models', 'jetface-s');
const PORTRAIT = () => dataPath('video', 'enroll', 'lin-manuel-miranda.png');

function rotate(points: Landmarks, degrees: number): Landmarks {
  const a = (degrees * Math.PI) / 180;
  return points.map(([x, y]) => [x * Math.cos(a) - y * Math.sin(a), x * Math.sin(a) + y * Math.cos(a)]) as Landmarks;
}

describe('quality limits and pose (pure)', () => {
  it('checks limits where they enter and names the field', () => {
    expect(resolveQualityLimits({ minFaceSize: 80 })).toEqual({ ...DEFAULT_QUALITY_LIMITS, minFaceSize: 80 });
    expect(() => resolveQualityLimits({ minScore: 2 })).toThrow(InvalidArgumentError);
    expect(() => resolveQualityLimits({ minScore: 2 })).toThrow(/quality\.minScore/);
    expect(() => resolveQualityLimits({ maxYaw: Number.NaN })).toThrow(/quality\.maxYaw/);
    expect(() => resolveQualityLimits({ blurLimit: 3 } as never)).toThrow(/quality\.blurLimit/);
  });

  it('estimates roll from the eye line, yaw from the nose offset, pitch from the nose height', () => {
    // A frontal face (eyes 40 px apart, nose 0.58 of the way to the mouth).
    const frontal: Landmarks = [[-20, 0], [20, 0], [0, 23.2], [-15, 40], [15, 40]];
    const p0 = estimatePose(frontal);
    expect(Math.abs(p0.yaw)).toBeLessThan(1);
    expect(Math.abs(p0.pitch)).toBeLessThan(1);
    expect(Math.abs(p0.roll)).toBeLessThan(1);
    expect(estimatePose(rotate(frontal, 30)).roll).toBeCloseTo(30, 3);
    expect(estimatePose(rotate(frontal, 30)).yaw).toBeCloseTo(p0.yaw, 3); // roll does not leak into yaw
    const turned: Landmarks = [[-20, 0], [20, 0], [14, 23.2], [-5, 40], [20, 40]];
    expect(estimatePose(turned).yaw).toBeGreaterThan(30);
    const chinDown: Landmarks = [[-20, 0], [20, 0], [0, 34], [-15, 40], [15, 40]];
    expect(estimatePose(chinDown).pitch).toBeGreaterThan(30);
  });

  it('reports no_face for an image without faces', () => {
    const frame: Frame = { data: new Uint8Array(30 * 30 * 3), width: 30, height: 30, format: 'rgb24', timestamp: 0, sequence: 0, cameraId: 't' };
    const verdict = checkFaceQuality(frame, []);
    expect(verdict).toMatchObject({ ok: false, refusals: [{ code: 'no_face' }] });
  });
});

describeWithData('quality gates on real photos (default bundle jetface-s)', () => {
  let engine: FaceEngine;
  beforeAll(async () => {
    engine = await FaceEngine.create(BUNDLE);
  });
  afterAll(async () => engine?.close());

  const verdictOf = async (frame: Frame) => checkFaceQuality(frame, await engine.detect(frame));
  const edited = async (pipeline: Sharp) => decodeImageBytes(await pipeline.png().toBuffer(), 'edited');

  it('passes a good enrollment portrait with its measures', async () => {
    const verdict = await verdictOf(await loadImageFrame(PORTRAIT()));
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(verdict.measures.size).toBeGreaterThan(DEFAULT_QUALITY_LIMITS.minFaceSize);
    expect(verdict.measures.sharpness).toBeGreaterThan(DEFAULT_QUALITY_LIMITS.minSharpness);
  });

  it('refuses a photo of two people (multiple_faces) and ignores tiny far-away faces', async () => {
    const frame = await loadImageFrame(dataPath('scenes', 'couple.jpg'));
    const faces = await engine.detect(frame);
    const verdict = checkFaceQuality(frame, faces);
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    expect(verdict.refusals[0]).toMatchObject({ code: 'multiple_faces', measured: 2, limit: 1 });
    expect(verdict.refusals[0]!.message).toMatch(/2 faces/);
    // The same faces with the second one shrunk under the ratio: it is ignored, not a rival.
    const [big, other] = [...faces].sort((a, b) => b.box[2] - b.box[0] - (a.box[2] - a.box[0]));
    const tiny: Face = { ...other!, box: [other!.box[0], other!.box[1], other!.box[0] + 10, other!.box[1] + 10] };
    const alone = checkFaceQuality(frame, [big!, tiny]);
    expect(alone.ok ? [] : alone.refusals.map((r) => r.code)).not.toContain('multiple_faces');
    expect(alone.ignoredFaces).toBe(1);
  });

  it('refuses a blurred copy (blurry, with the measured sharpness and the limit)', async () => {
    const sharpFrame = await loadImageFrame(PORTRAIT());
    const blurred = await edited(sharp(PORTRAIT()).blur(8));
    const faces = await engine.detect(sharpFrame);
    expect(faceSharpness(blurred, faces[0]!.box)).toBeLessThan(faceSharpness(sharpFrame, faces[0]!.box) / 4);
    const verdict = await verdictOf(blurred);
    expect(verdict.ok).toBe(false);
    const blurry = !verdict.ok ? verdict.refusals.find((r) => r.code === 'blurry') : undefined;
    expect(blurry).toBeDefined();
    expect(blurry!.limit).toBe(DEFAULT_QUALITY_LIMITS.minSharpness);
    expect(blurry!.message).toContain(`below ${DEFAULT_QUALITY_LIMITS.minSharpness}`);
  });

  it('refuses a face under the minimum size (face_too_small)', async () => {
    const small = await edited(sharp(PORTRAIT()).resize(140).extend({ top: 60, bottom: 60, left: 60, right: 60, extendWith: 'copy' }));
    const verdict = await verdictOf(small);
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    const refusal = verdict.refusals.find((r) => r.code === 'face_too_small')!;
    expect(refusal.measured).toBeLessThan(DEFAULT_QUALITY_LIMITS.minFaceSize);
    expect(refusal.message).toMatch(/at least 64 px/);
  });

  it('refuses a low detection score against a strict limit (low_score)', async () => {
    const verdict = checkFaceQuality(await loadImageFrame(PORTRAIT()), await engine.detect(await loadImageFrame(PORTRAIT())), { minScore: 0.99 });
    expect(!verdict.ok && verdict.refusals.map((r) => r.code)).toEqual(['low_score']);
  });
});

describeWithData('pose gates with the reference cascade (YuNet landmarks follow the head)', () => {
  let engine: FaceEngine;
  beforeAll(async () => {
    engine = await FaceEngine.create(await makeCascadeBundle());
  });
  afterAll(async () => engine?.close());

  it('passes the upright portrait and refuses it rolled by 30° (pose_roll)', async () => {
    const upright = await loadImageFrame(PORTRAIT());
    const up = checkFaceQuality(upright, await engine.detect(upright));
    expect(up.ok).toBe(true);
    const rolled = await decodeImageBytes(await sharp(PORTRAIT()).rotate(30, { background: '#808080' }).png().toBuffer(), 'rolled');
    const verdict = checkFaceQuality(rolled, await engine.detect(rolled));
    expect(verdict.ok).toBe(false);
    if (verdict.ok) return;
    const roll = verdict.refusals.find((r) => r.code === 'pose_roll')!;
    expect(Math.abs(roll.measured)).toBeGreaterThan(DEFAULT_QUALITY_LIMITS.maxRoll);
    expect(roll.message).toMatch(/rolled .*at most ±25°/);
  });
});
