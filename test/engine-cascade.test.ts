import { cpSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FaceEngine } from '../sdk/engine/face-engine';
import { sha256File } from '../sdk/bundle/load-bundle';
import { ContractError, EngineClosedError, FrameError, ModelLoadError, ProviderUnavailableError, ChecksumError } from '../sdk/errors';
import { loadImageFrame } from '../sdk/image/decode';
import type { Face, Frame } from '../sdk/types';
import { makeCascadeBundle } from './support/cascade-bundle';
import { dataPath, describeWithData, tempDir } from './support/data';

function cosine(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function norm(v: Float32Array): number {
  return Math.sqrt(cosine(v, v));
}

function toBgr(frame: Frame): Frame {
  const data = new Uint8Array(frame.data.length);
  for (let i = 0; i < data.length; i += 3) {
    data[i] = frame.data[i + 2]!;
    data[i + 1] = frame.data[i + 1]!;
    data[i + 2] = frame.data[i]!;
  }
  return { ...frame, data, format: 'bgr24' };
}

describeWithData('FaceEngine with the reference cascade bundle', () => {
  let bundle: string;
  let engine: FaceEngine;

  beforeAll(async () => {
    bundle = await makeCascadeBundle({ flipAugment: true }); // the mirror path too
    engine = await FaceEngine.create(bundle, { providers: ['cuda', 'cpu'] });
  });
  afterAll(async () => {
    await engine?.close();
  });

  test('falls back from a provider that cannot load to the CPU and says why', () => {
    expect(engine.info.provider).toBe('cpu');
    expect(engine.info.providerAttempts[0]).toMatchObject({ provider: 'cuda', ok: false, reason: expect.any(String) });
    expect(engine.info.providerAttempts[0]!.reason!.length).toBeGreaterThan(5);
    expect(engine.info.providerAttempts.at(-1)).toEqual({ provider: 'cpu', ok: true });
  });

  test('finds the four people of bbt1.jpg, inside the frame, with unit embeddings', async () => {
    const frame = await loadImageFrame(dataPath('scenes', 'bbt1.jpg'));
    const faces = await engine.detect(frame);
    expect(faces).toHaveLength(4);
    for (const f of faces) {
      const [x1, y1, x2, y2] = f.box;
      expect(x1).toBeGreaterThanOrEqual(0);
      expect(y1).toBeGreaterThanOrEqual(0);
      expect(x2).toBeLessThanOrEqual(frame.width);
      expect(y2).toBeLessThanOrEqual(frame.height);
      expect(x2 - x1).toBeGreaterThan(40);
      expect(f.score).toBeGreaterThanOrEqual(engine.manifest.thresholds.detection);
      // Landmarks lie inside their face box: eyes above the mouth corners.
      for (const [x, y] of f.landmarks) {
        expect(x).toBeGreaterThan(x1);
        expect(x).toBeLessThan(x2);
        expect(y).toBeGreaterThan(y1);
        expect(y).toBeLessThan(y2);
      }
      expect(f.landmarks[0][1]).toBeLessThan(f.landmarks[3][1]);
      expect(f.embedding).toBeInstanceOf(Float32Array);
      expect(f.embedding).toHaveLength(128);
      expect(norm(f.embedding)).toBeCloseTo(1, 4);
    }
    const scores = faces.map((f) => f.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
  });

  test('finds faces in more scenes (2 and 5 people)', async () => {
    expect(await engine.detect(await loadImageFrame(dataPath('scenes', 'two_people.jpg')))).toHaveLength(2);
    expect(await engine.detect(await loadImageFrame(dataPath('scenes', 'group-4.jpg')))).toHaveLength(5);
  });

  test('a BGR frame gives the same faces as its RGB original', async () => {
    const rgb = await loadImageFrame(dataPath('scenes', 'two_people.jpg'));
    const [a, b] = [await engine.detect(rgb), await engine.detect(toBgr(rgb))];
    expect(b).toHaveLength(a.length);
    for (let i = 0; i < a.length; i++) {
      expect(b[i]!.box[0]).toBeCloseTo(a[i]!.box[0], 0);
      expect(cosine(a[i]!.embedding, b[i]!.embedding)).toBeGreaterThan(0.99);
    }
  });

  test('same-person pairs score above different-person pairs (people/bbt crops on a canvas)', async () => {
    const people = ['leonard', 'sheldon', 'penny', 'howard'];
    const embeddings = new Map<string, Float32Array[]>();
    for (const person of people) {
      const list: Float32Array[] = [];
      for (const i of [1, 2, 3]) {
        const face = await largest(engine, dataPath('people', 'bbt', person, `${person}${i}.png`));
        if (face) list.push(face.embedding);
      }
      expect(list.length).toBeGreaterThanOrEqual(2);
      embeddings.set(person, list);
    }
    const same: number[] = [];
    const diff: number[] = [];
    for (const [p, list] of embeddings) {
      for (let i = 0; i < list.length; i++) for (let j = i + 1; j < list.length; j++) same.push(cosine(list[i]!, list[j]!));
      for (const [q, other] of embeddings) if (q > p) for (const a of list) for (const b of other) diff.push(cosine(a, b));
    }
    const mean = (v: number[]): number => v.reduce((s, x) => s + x, 0) / v.length;
    expect(mean(same)).toBeGreaterThan(mean(diff) + 0.25);
    // Most same pairs beat the best different pair's median.
    const sortedDiff = [...diff].sort((a, b) => a - b);
    const median = sortedDiff[Math.floor(sortedDiff.length / 2)]!;
    expect(same.filter((s) => s > median).length / same.length).toBeGreaterThan(0.9);
  });

  test('keeps the event loop responsive while inference runs', async () => {
    const frame = await loadImageFrame(dataPath('scenes', 'ultraface-1.jpg'));
    let ticks = 0;
    let last = performance.now();
    let maxGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 5);
    const start = performance.now();
    const faces = await engine.detect(frame);
    const elapsed = performance.now() - start;
    clearInterval(timer);
    expect(faces.length).toBeGreaterThan(30);
    // Inference of ~50 faces takes hundreds of ms; the timer kept firing throughout.
    expect(elapsed).toBeGreaterThan(100);
    expect(ticks).toBeGreaterThan(elapsed / 5 / 4);
    expect(maxGap).toBeLessThan(Math.max(60, elapsed / 3));
  });

  test('refuses a broken frame with a FrameError naming the field', async () => {
    const bad = { data: new Uint8Array(10), width: 64, height: 64, format: 'rgb24' as const, timestamp: 0, sequence: 0, cameraId: 'x' };
    await expect(engine.detect(bad)).rejects.toBeInstanceOf(FrameError);
    await expect(engine.detect({ ...bad, data: new Uint8Array(64 * 64 * 3), format: 'yuv' as never })).rejects.toThrow(/frame\.format/);
    await expect(engine.detect({ ...bad, width: 0 })).rejects.toThrow(/frame\.width/);
    // The engine is still usable afterwards.
    expect(await engine.detect({ ...bad, data: new Uint8Array(64 * 64 * 3) })).toEqual([]);
  });

  test('answers concurrent requests each with its own frame', async () => {
    const frames = await Promise.all(['two_people.jpg', 'bbt1.jpg', 'group-4.jpg'].map((f) => loadImageFrame(dataPath('scenes', f))));
    const results = await Promise.all(frames.map((f) => engine.detect(f)));
    expect(results.map((r) => r.length)).toEqual([2, 4, 5]);
  });
});

describeWithData('FaceEngine load failures', () => {
  let bundle: string;
  beforeAll(async () => {
    bundle = await makeCascadeBundle();
  });

  function copyBundle(): string {
    const dir = tempDir();
    cpSync(bundle, dir, { recursive: true });
    return dir;
  }

  async function rewriteSha(dir: string, role: 'detector' | 'recognizer'): Promise<void> {
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    manifest[role].sha256 = await sha256File(join(dir, `${role}.onnx`));
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  }

  test('a truncated ONNX file fails its checksum', async () => {
    const dir = copyBundle();
    truncateSync(join(dir, 'recognizer.onnx'), 50_000);
    await expect(FaceEngine.create(dir, { providers: ['cpu'] })).rejects.toBeInstanceOf(ChecksumError);
  });

  test('a truncated ONNX file whose manifest was rewritten to match is a ModelLoadError from the worker, with the caller in the stack', async () => {
    const dir = copyBundle();
    truncateSync(join(dir, 'recognizer.onnx'), 50_000);
    await rewriteSha(dir, 'recognizer');
    const error = await FaceEngine.create(dir, { providers: ['cpu'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as ModelLoadError).code).toBe('E_MODEL_LOAD');
    expect((error as Error).message).toMatch(/recognizer\.onnx/);
    expect((error as Error).stack).toMatch(/engine-cascade\.test/);
  });

  test('a manifest naming an input the model lacks is a ContractError', async () => {
    const dir = copyBundle();
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    manifest.recognizer.input.name = 'pixels';
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    const error = await FaceEngine.create(dir, { providers: ['cpu'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ContractError);
    expect((error as Error).message).toMatch(/"pixels".*input0/);
  });

  test('a recognizer declared uint8 is refused by the manifest schema (the aligned face is written as floats)', async () => {
    const dir = copyBundle();
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    manifest.recognizer.input.dtype = 'uint8';
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    await expect(FaceEngine.create(dir, { providers: ['cpu'] })).rejects.toThrow(/recognizer\.input\.dtype/);
  });

  test('only unavailable providers: ProviderUnavailableError listing each reason', async () => {
    const error = await FaceEngine.create(bundle, { providers: ['tensorrt', 'cuda'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect((error as Error).message).toMatch(/tensorrt: .+\n.*cuda: .+/);
  });

  test('bad options are refused before any work, naming the option', async () => {
    await expect(FaceEngine.create(bundle, { providers: ['gpu' as never] })).rejects.toThrow(/options\.providers/);
    await expect(FaceEngine.create(bundle, { threads: -1 })).rejects.toThrow(/options\.threads.*-1/);
  });

  test('close() rejects later calls with EngineClosedError and is idempotent', async () => {
    const engine = await FaceEngine.create(bundle, { providers: ['cpu'], warmup: false });
    await engine.close();
    await engine.close();
    const frame = { data: new Uint8Array(12), width: 2, height: 2, format: 'rgb24' as const, timestamp: 0, sequence: 0, cameraId: 'x' };
    await expect(engine.detect(frame)).rejects.toBeInstanceOf(EngineClosedError);
  });
});

async function largest(engine: FaceEngine, file: string): Promise<Face | undefined> {
  const { placeOnCanvas } = await import('../sdk/eval/canvas');
  const crop = await loadImageFrame(file);
  const side = Math.max(crop.width, crop.height);
  const faces = await engine.detect(placeOnCanvas(crop, Math.round(side * 1.8), 'edge'));
  return faces.sort((a, b) => (b.box[2] - b.box[0]) * (b.box[3] - b.box[1]) - (a.box[2] - a.box[0]) * (a.box[3] - a.box[1]))[0];
}
