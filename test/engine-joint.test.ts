import { FaceEngine } from '../sdk/engine/face-engine';
import { ContractError } from '../sdk/errors';
import type { Frame } from '../sdk/types';
import { makeFakeJointBundle, type FakeCandidate } from './support/joint-fixture';

const lm = (x: number, y: number): number[] => [x, y, x + 4, y, x + 2, y + 2, x, y + 4, x + 4, y + 4];
const CANDIDATES: FakeCandidate[] = [
  { score: 0.9, box: [10, 5, 20, 15], landmarks: lm(12, 7), embedding: [3, 4, 0, 0, 0, 0, 0, 0] },
  { score: 0.8, box: [11, 5, 21, 15], landmarks: lm(13, 7), embedding: [0, 1, 0, 0, 0, 0, 0, 0] }, // overlaps the first: suppressed
  { score: 0.7, box: [40, 10, 50, 20], landmarks: lm(42, 12), embedding: [0, 0, 0, 2, 0, 0, 0, 0] },
  { score: 0.1, box: [0, 40, 10, 50], landmarks: lm(2, 42), embedding: [1, 1, 1, 1, 1, 1, 1, 1] }, // below the threshold
];

function frame(width: number, height: number): Frame {
  return { data: new Uint8Array(width * height * 3), width, height, format: 'rgb24', timestamp: 0, sequence: 0, cameraId: 't' };
}

describe('FaceEngine with a joint bundle (constant-output ONNX model)', () => {
  test('thresholds, suppresses overlaps, maps letterboxed coordinates back to the frame and normalizes embeddings', async () => {
    const engine = await FaceEngine.create(await makeFakeJointBundle(64, CANDIDATES, 8), { providers: ['cpu'] });
    try {
      expect(engine.info.kind).toBe('joint');
      // 128x64 frame letterboxed into 64x64: scale 0.5, so frame = model / 0.5.
      const faces = await engine.detect(frame(128, 64));
      expect(faces.map((f) => f.score)).toEqual([expect.closeTo(0.9, 6), expect.closeTo(0.7, 6)]);
      expect(faces[0]!.box).toEqual([20, 10, 40, 30]);
      expect(faces[1]!.box).toEqual([80, 20, 100, 40]);
      expect(faces[0]!.landmarks[1]).toEqual([32, 14]);
      expect(Array.from(faces[0]!.embedding)).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.8, 6), 0, 0, 0, 0, 0, 0]);
      expect(Array.from(faces[1]!.embedding)).toEqual([0, 0, 0, 1, 0, 0, 0, 0]);
    } finally {
      await engine.close();
    }
  });

  test('a lower minScore lets the weak candidate through', async () => {
    const engine = await FaceEngine.create(await makeFakeJointBundle(64, CANDIDATES, 8), { providers: ['cpu'], minScore: 0.05 });
    try {
      expect(await engine.detect(frame(64, 64))).toHaveLength(3);
    } finally {
      await engine.close();
    }
  });

  test('a manifest naming an output the model lacks fails at load with ContractError', async () => {
    const bundle = await makeFakeJointBundle(64, CANDIDATES, 8, { scoresOutput: 'confidence' });
    const error = await FaceEngine.create(bundle, { providers: ['cpu'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ContractError);
    expect((error as Error).message).toMatch(/confidence/);
  });

  test('outputs that disagree with the manifest topK are a ContractError on detect, and the engine survives', async () => {
    const engine = await FaceEngine.create(await makeFakeJointBundle(64, CANDIDATES, 8, { topK: 8 }), { providers: ['cpu'], warmup: false });
    try {
      await expect(engine.detect(frame(64, 64))).rejects.toThrow(/exactly 8 candidates/);
      await expect(engine.detect(frame(64, 64))).rejects.toBeInstanceOf(ContractError);
    } finally {
      await engine.close();
    }
  });
});
