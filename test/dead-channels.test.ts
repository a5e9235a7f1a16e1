import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadBundle } from '../sdk/bundle/load-bundle';
import { FaceEngine } from '../sdk/engine/face-engine';
import { resizeForModel, toInputTensor } from '../sdk/engine/preprocess';
import { ContractError, InputFileError, InvalidArgumentError } from '../sdk/errors';
import { enrollPerson } from '../sdk/gallery/enroll';
import { embeddingSpaceId } from '../sdk/gallery/model-id';
import { SqliteGallery } from '../sdk/gallery/sqlite-gallery';
import { loadImageFrame } from '../sdk/image/decode';
import { findChannelChains, removeDeadChannels } from '../toolchain/export/dead-channels';
import { compareOutputs, writePrunedBundle } from '../toolchain/export/pruned-bundle';
import { encodeModel, readModel, type OnnxModel } from '../toolchain/onnx/model-io';
import { makeCascadeBundle } from './support/cascade-bundle';
import { dataPath, describeWithData, tempDir } from './support/data';

const SOURCE = resolve(__dirname, '../models/jetface-s');

describeWithData('jetface bundle prune (dead channels of the default bundle)', () => {
  const work = tempDir('jetface-prune-');
  const root = dataPath();
  const list = join(work, 'train.txt');
  // 12 training crops and 4 CelebA photos: the last quarter (4) is held back for the writer's check.
  const lfw = readFileSync(dataPath('lfw', 'train_images.txt'), 'utf8').split('\n').filter(Boolean).slice(0, 12).map((l) => `lfw/images/${l}`);
  writeFileSync(list, `${[...lfw.slice(0, 10), 'celeba/images/000093.jpg', 'celeba/images/000114.jpg', ...lfw.slice(10), 'celeba/images/000131.jpg', 'celeba/images/000149.jpg'].join('\n')}\n`);
  const out = join(work, 'pruned');

  test('the chains found are Conv → ReLU-like (→ depthwise → ReLU-like) → 1x1 Conv runs of the recognition body', async () => {
    const chains = findChannelChains(await readModel(join(SOURCE, 'model.onnx')));
    expect(chains.length).toBeGreaterThanOrEqual(10);
    for (const c of chains) {
      expect(['Relu', 'Clip']).toContain(c.activation.opType);
      expect(c.consumer.opType).toBe('Conv');
      expect(c.probes[0]).toBe(c.producer.output![0]);
    }
    expect(chains.filter((c) => c.depthwise).length).toBeGreaterThanOrEqual(5);
  });

  test('removes channels that never fired, in blocks of 16, and the outputs stay the source\'s on a photo it never measured', async () => {
    const result = await writePrunedBundle({ from: SOURCE, out, list, root, metrics: { note: 'smoke' } });
    expect(result).toMatchObject({ measuredImages: 12, checkImages: 4 });
    expect(result.removed).toBeGreaterThan(0);
    expect(result.maxAbsDiff).toBeLessThan(1e-4);
    for (const l of result.layers) {
      expect(l.to).toBeLessThan(l.from);
      expect((l.from - l.to) % 16).toBe(0);
    }
    const source = (await loadBundle(SOURCE)).manifest;
    expect(result.manifest.modelId).not.toBe(source.modelId);
    expect(result.manifest.thresholds).toEqual(source.thresholds);
    expect(result.manifest.metrics).toMatchObject({ pruned_from: source.modelId, pruned_channels: result.removed, note: 'smoke', lfw_devtest_accuracy: source.metrics!['lfw_devtest_accuracy'] });
    // Timings of the source graph do not describe this one.
    expect(Object.keys(source.metrics!).some((k) => k.startsWith('speedup_'))).toBe(true);
    expect(Object.keys(result.manifest.metrics!).filter((k) => /^(speedup_|per_face_ms|int8_)/.test(k))).toEqual([]);
    expect(result.manifest.metrics!['params']).toBeLessThan(source.metrics!['params'] as number);
    // The removed work is recounted: less per face, the shared stem and detector untouched here.
    const layer = result.layers[0]!;
    expect(layer.macsRemoved).toBeGreaterThan(0);
    expect(result.manifest.metrics!['gflops_per_face']).toBeLessThan(source.metrics!['gflops_per_face'] as number);
    expect(result.manifest.metrics!['gflops']).toBeLessThanOrEqual(source.metrics!['gflops'] as number);
    expect(statSync(join(out, 'model.onnx')).size).toBeLessThan(statSync(join(SOURCE, 'model.onnx')).size);
    const card = readFileSync(join(out, 'MODEL_CARD.md'), 'utf8');
    expect(card).toMatch(/## Pruned channels[\s\S]*→[\s\S]*## Measured[\s\S]*pruned_from[\s\S]*## Training data/);

    // Independently of the writer's own check: a group photo, many faces, never measured.
    const frame = await loadImageFrame(dataPath('scenes', 'group-4.jpg'));
    expect(await compareOutputs(SOURCE, out, [frame])).toBeLessThan(1e-4);
  }, 300_000);

  test("a gallery enrolled with the source stays valid under the pruned bundle (its embedding space)", async () => {
    const source = (await loadBundle(SOURCE)).manifest;
    const pruned = (await loadBundle(out)).manifest;
    expect(pruned.kind === 'joint' && pruned.embeddingSpace).toBe(embeddingSpaceId(source));
    expect(embeddingSpaceId(pruned)).toBe(embeddingSpaceId(source));
    const photo = dataPath('video', 'enroll', 'lin-manuel-miranda.png');
    const file = join(work, 'gallery.db');
    const sourceEngine = await FaceEngine.create(SOURCE);
    try {
      const enrolling = SqliteGallery.open(file, { modelId: embeddingSpaceId(source) });
      const report = await enrollPerson(sourceEngine, enrolling, { personId: 'lmm', name: 'Lin-Manuel Miranda' }, [photo]);
      expect(report.enrolled).toBe(1);
      enrolling.close();
    } finally {
      await sourceEngine.close();
    }
    const prunedEngine = await FaceEngine.create(out);
    try {
      const [face] = await prunedEngine.detect(await loadImageFrame(photo));
      const gallery = SqliteGallery.open(file, { modelId: embeddingSpaceId(pruned) });
      expect(gallery.staleness()).toEqual([]);
      const [result] = gallery.search([face!.embedding]);
      expect(result).toMatchObject({ status: 'known', match: { personId: 'lmm' } });
      expect(result!.match!.similarity).toBeGreaterThan(0.999);
      gallery.close();
      // Keyed by its own model id instead, the same gallery would ask for re-enrollment.
      const own = SqliteGallery.open(file, { modelId: pruned.modelId, readonly: true });
      expect(own.staleness().map((p) => p.personId)).toEqual(['lmm']);
      own.close();
    } finally {
      await prunedEngine.close();
    }
  }, 120_000);

  test('the measurement matters: the same removal of channels that do fire changes the embeddings', async () => {
    const model = await readModel(join(SOURCE, 'model.onnx'));
    // Every channel claimed silent: only whole blocks go, and the chain keeps at least one.
    const silent = new Map(findChannelChains(model).flatMap((c) => c.probes.map((p) => [p, new Float32Array(c.channels).fill(-1)] as const)));
    const wrong = removeDeadChannels(model, silent, 16);
    expect(wrong.removed).toBe(0); // all channels dead would empty a layer: such a chain is left alone
    const half = new Map([...silent].map(([p, m]) => [p, m.map((_, c) => (c % 2 === 0 ? -1 : 1))] as const));
    const pruned = removeDeadChannels(model, half, 16);
    expect(pruned.removed).toBeGreaterThan(0);
    const [a, b] = [await embed(model), await embed(pruned.model)];
    expect(b.length).toBe(a.length);
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]!)))).toBeGreaterThan(1e-2);
  }, 120_000);

  test('refuses a cascade, a missing list, a list too short to check, writing over the source, a bad --block; the CLI names what was wrong', async () => {
    await expect(writePrunedBundle({ from: await makeCascadeBundle(), out: join(work, 'cascade'), list, root })).rejects.toThrow(InvalidArgumentError);
    await expect(writePrunedBundle({ from: SOURCE, out: join(work, 'x'), list: join(work, 'missing.txt'), root })).rejects.toThrow(InputFileError);
    const short = join(work, 'short.txt');
    writeFileSync(short, `${lfw.slice(0, 3).join('\n')}\n`);
    await expect(writePrunedBundle({ from: SOURCE, out: join(work, 'short'), list: short, root })).rejects.toThrow(InputFileError);
    await expect(writePrunedBundle({ from: SOURCE, out: join(work, 'b'), list, root, block: 0 })).rejects.toThrow(InvalidArgumentError);
    await expect(writePrunedBundle({ from: SOURCE, out: SOURCE, list, root })).rejects.toThrow(InvalidArgumentError);
    // A bundle pruned already has no block of silent channels left to remove.
    await expect(writePrunedBundle({ from: out, out: join(work, 'twice'), list, root })).rejects.toThrow(ContractError);
    const bad = spawnSync(process.execPath, ['--require', require.resolve('tsx/cjs'), 'sdk/cli/main.ts', 'bundle', 'prune', '--bundle', SOURCE, '--list', list, '--root', root, '--out', join(work, 'cli'), '--block', 'x'], {
      cwd: resolve(__dirname, '..'),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--block/);
  }, 300_000);
});

/** The embeddings a model gives for a group photo, through the SDK's preprocessing. */
async function embed(model: OnnxModel): Promise<number[]> {
  const manifest = (await loadBundle(SOURCE)).manifest;
  if (manifest.kind !== 'joint') throw new Error('joint bundle expected');
  const frame = await loadImageFrame(dataPath('scenes', 'group-4.jpg'));
  const spec = manifest.input;
  const resized = await resizeForModel(frame, spec.width, spec.height, spec.resize);
  const tensor = toInputTensor(resized.pixels, resized.width, resized.height, frame.format, spec);
  const session = await ort.InferenceSession.create(encodeModel(model));
  try {
    const result = await session.run({ [spec.name]: new ort.Tensor(spec.dtype, tensor.data, tensor.dims) });
    return Array.from(result[manifest.outputs.embeddings]!.data as Float32Array);
  } finally {
    await session.release();
  }
}
