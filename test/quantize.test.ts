import { cpSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadBundle } from '../sdk/bundle/load-bundle';
import { FaceEngine } from '../sdk/engine/face-engine';
import { ManifestError, JetfaceError } from '../sdk/errors';
import { decodeModel, encodeModel, tensorDims, toNumber, type OnnxModel } from '../toolchain/onnx/model-io';
import { DEFAULT_CALIBRATION_METHOD, calibrateBundle, calibrationTargets, writeCalibration, type Calibration } from '../toolchain/quantize/calibrate';
import { checkTensorRt } from '../toolchain/quantize/check-tensorrt';
import { insertQdq } from '../toolchain/quantize/qdq';
import { quantizeBundle, readCalibration } from '../toolchain/quantize/quantize-bundle';
import { verifyBundles } from '../toolchain/quantize/verify';
import { makeCascadeBundle } from './support/cascade-bundle';
import { dataPath, describeWithData, tempDir } from './support/data';

const DEFAULT_BUNDLE = resolve(__dirname, '../models/jetface-s');
const CALIBRATION_IMAGES = [dataPath('scenes')];

function modelOf(dir: string): OnnxModel {
  return decodeModel(readFileSync(join(dir, 'model.onnx')));
}

describeWithData('model quantization toolchain on the default bundle', () => {
  let source: string;
  let calibration: Calibration;
  let model: OnnxModel;

  beforeAll(async () => {
    source = join(tempDir(), 'fp32');
    cpSync(DEFAULT_BUNDLE, source, { recursive: true });
    // No method given: the documented default (minmax) must be what runs.
    calibration = await calibrateBundle(source, { images: CALIBRATION_IMAGES, count: 4 });
    await writeCalibration(source, calibration);
    model = modelOf(source);
  });

  test('calibration covers every Conv input with its observed range; percentile and entropy clip inside it', async () => {
    expect(calibration.images).toHaveLength(4);
    expect(calibration.method).toBe(DEFAULT_CALIBRATION_METHOD);
    expect(DEFAULT_CALIBRATION_METHOD).toBe('minmax');
    const convInputs = (model.graph!.node ?? []).filter((n) => n.opType === 'Conv').map((n) => n.input![0]!);
    for (const name of convInputs) {
      const r = calibration.tensors[name]!;
      expect(r).toBeDefined();
      expect(r.amax).toBeCloseTo(Math.max(Math.abs(r.min), Math.abs(r.max)), 5);
    }
    const clipped = await calibrateBundle(source, { images: CALIBRATION_IMAGES, count: 2, method: 'percentile', percentile: 99.9 });
    const some = convInputs.slice(0, 10).map((n) => clipped.tensors[n]!);
    for (const r of some) expect(r.amax).toBeLessThanOrEqual(Math.max(Math.abs(r.min), Math.abs(r.max)) + 1e-6);
    expect(some.some((r) => r.amax < Math.max(Math.abs(r.min), Math.abs(r.max)))).toBe(true);
    expect(calibrationTargets(model).length).toBeGreaterThan(convInputs.length);
  });

  test('tensorrt placement: int8 Q/DQ on Conv inputs, per-channel int8 weights, float bias, no output Q; passes check-tensorrt', () => {
    const { model: q, quantized, float } = insertQdq(model, { target: 'tensorrt', ranges: calibration.tensors });
    expect(float).toEqual([]);
    const check = checkTensorRt(q);
    expect(check.problems).toEqual([]);
    expect(check.ok).toBe(true);
    expect(check.int8Convs).toBe(quantized.length);
    const byOutput = new Map((q.graph!.node ?? []).flatMap((n) => n.output!.map((o) => [o, n] as const)));
    const init = new Map((q.graph!.initializer ?? []).map((t) => [t.name!, t]));
    for (const conv of (q.graph!.node ?? []).filter((n) => n.opType === 'Conv')) {
      expect(byOutput.get(conv.input![0]!)?.opType).toBe('DequantizeLinear');
      const wdq = byOutput.get(conv.input![1]!)!;
      expect(wdq.opType).toBe('DequantizeLinear');
      expect(toNumber(wdq.attribute!.find((a) => a.name === 'axis')!.i as number)).toBe(0);
      expect(tensorDims(init.get(wdq.input![1]!)!)).toEqual([tensorDims(init.get(wdq.input![0]!)!)[0]]);
      if (conv.input![2]) expect(init.get(conv.input![2])?.dataType).toBe(1); // float bias, read directly
      // No output Q: nothing quantizes a Conv output unless another Conv or a residual Add reads it through Q/DQ.
      for (const reader of (q.graph!.node ?? []).filter((n) => n.input!.includes(conv.output![0]!))) {
        if (reader.opType === 'QuantizeLinear') {
          const dq = (q.graph!.node ?? []).find((n) => n.input![0] === reader.output![0]);
          const readers = (q.graph!.node ?? []).filter((n) => n.input!.includes(dq!.output![0]!));
          expect(readers.every((r) => r.opType === 'Conv' || r.opType === 'Add')).toBe(true);
        }
      }
    }
  });

  test('cpu placement reads the uint8 image directly: no Cast/Sub/Div before the first Conv, its bias absorbs the half-step shift', async () => {
    // On jetface-s v2's graph (models/jetface-s-v2), whose stem normalizes the uint8 image with Sub/Div; v3's (YuNet's) takes 0-255 BGR as is.
    const v2 = join(tempDir(), 'v2');
    cpSync(resolve(__dirname, '../models/jetface-s-v2'), v2, { recursive: true });
    const v2Calibration = await calibrateBundle(v2, { images: CALIBRATION_IMAGES, count: 2 });
    const model = modelOf(v2);
    const { model: q } = insertQdq(model, { target: 'cpu', ranges: v2Calibration.tensors });
    const nodes = q.graph!.node ?? [];
    const byOutput = new Map(nodes.flatMap((n) => n.output!.map((o) => [o, n] as const)));
    const stem = nodes.find((n) => n.opType === 'Conv')!;
    const dq = byOutput.get(stem.input![0]!)!;
    expect(dq.opType).toBe('DequantizeLinear');
    expect(byOutput.get(dq.input![0]!)?.opType).toBe('Transpose');
    expect(byOutput.get(dq.input![0]!)?.input).toEqual(['image']);
    const original = (model.graph!.node ?? []).filter((n) => n.opType === 'Div' || n.opType === 'Sub').length;
    expect(nodes.filter((n) => n.opType === 'Div' || n.opType === 'Sub').length).toBe(original - 1 - 1);
    expect(byOutput.get(stem.input![2]!)?.opType).toBe('DequantizeLinear'); // int32 bias
  });

  test('check-tensorrt refuses what TensorRT would: uint8 zero points, QOperator ops, an old opset', () => {
    const cpu = insertQdq(model, { target: 'cpu', ranges: calibration.tensors }).model;
    const cpuCheck = checkTensorRt(cpu);
    expect(cpuCheck.ok).toBe(false);
    expect(cpuCheck.problems.join('\n')).toMatch(/zero point is data type 2, TensorRT needs int8/);
    const trt = insertQdq(model, { target: 'tensorrt', ranges: calibration.tensors }).model;
    const bad = decodeModel(encodeModel(trt));
    bad.opsetImport = [{ domain: '', version: 12 }];
    bad.graph!.node!.push({ opType: 'QLinearConv', name: 'legacy', input: [], output: [] });
    const problems = checkTensorRt(bad).problems.join('\n');
    expect(problems).toMatch(/opset 12/);
    expect(problems).toMatch(/QLinearConv "legacy": QOperator op/);
  });

  test('quantize --target cpu writes a loadable bundle recording precision, calibration and agreement; it finds the same faces', async () => {
    const out = join(tempDir(), 'int8-cpu');
    const { manifest, report } = await quantizeBundle({ bundle: source, out, target: 'cpu', searchImages: 2, budget: { minCosine: 0, minDetectionAgreement: 0 } });
    expect(manifest.precision).toBe('int8-qdq-cpu');
    expect(manifest.kind === 'joint' && manifest.quantization).toMatchObject({ target: 'cpu', method: 'minmax', calibrationImages: 4, calibrationFile: 'calibration.json' });
    expect(report.floatLayers).toEqual([]);
    expect(report.agreement.cosineMean).toBeGreaterThan(0.85); // 4 calibration images; 64 give 0.986 on v3 (BENCHMARKS.md)
    expect(manifest.metrics['quant_embedding_cosine_mean']).toBeCloseTo(report.agreement.cosineMean, 3);
    const ops = new Set(modelOf(out).graph!.node!.map((n) => n.opType));
    expect(ops.has('QuantizeLinear') && ops.has('DequantizeLinear')).toBe(true);

    const verify = await verifyBundles({ reference: source, candidate: out, pairs: pairsFile(), root: dataPath('lfw', 'images'), canvas: 320 });
    expect(verify.pairs).toBe(10);
    expect(verify.detection_agreement).toBeGreaterThan(0.8);
    expect(verify.embedding_cosine_mean).toBeGreaterThan(0.9);
    expect(verify.latency_ratio).toBeGreaterThan(0);
    expect(verify.detect_latency_ratio).toBeGreaterThan(0);
    // The model run is one stage of each detect() call, timed inside it.
    for (const m of [verify.reference, verify.candidate]) expect(m.detectMs).toBeGreaterThan(m.modelMs);
    expect(verify.candidate.precision).toBe('int8-qdq-cpu');
    expect(verify.accuracy_drop_points).toBeCloseTo((verify.reference.accuracy - verify.candidate.accuracy) * 100, 6);
  });

  test('a budget the full int8 model misses puts the most sensitive layers back in float, up to the limit', async () => {
    const out = join(tempDir(), 'int8-trt');
    const { manifest, report } = await quantizeBundle({ bundle: source, out, target: 'tensorrt', searchImages: 1, budget: { minCosine: 0.99999, maxFloatLayers: 2 } });
    expect(report.sensitivity.length).toBeGreaterThan(0);
    expect(report.sensitivity[0]!.cosineLoss).toBeGreaterThanOrEqual(report.sensitivity.at(-1)!.cosineLoss);
    expect([...report.floatLayers].sort()).toEqual(report.sensitivity.slice(0, 2).map((s) => s.layer).sort());
    expect(report.withinBudget).toBe(false);
    expect(manifest.metrics['quant_within_budget']).toBe(false);
    const check = checkTensorRt(modelOf(out));
    expect(check.ok).toBe(true);
    expect(check.floatConvs).toBe(2);
    const engine = await FaceEngine.create(out, { providers: ['cpu'] });
    try {
      const { loadImageFrame } = await import('../sdk/image/decode');
      expect((await engine.detect(await loadImageFrame(dataPath('scenes', 'two_people.jpg')))).length).toBeGreaterThanOrEqual(1);
    } finally {
      await engine.close();
    }
  });

  test('--float keeps the named layers (the stem and detector, /net/) in float from the start; a prefix that names none is refused', async () => {
    const out = join(tempDir(), 'int8-body');
    const { manifest, report } = await quantizeBundle({ bundle: source, out, target: 'cpu', floatPrefixes: ['/net/'], searchImages: 1, budget: { minCosine: 0, minDetectionAgreement: 0 } });
    const convs = model.graph!.node!.filter((n) => n.opType === 'Conv').map((n) => n.name!);
    const detection = convs.filter((n) => n.startsWith('/net/'));
    expect(detection.length).toBeGreaterThan(10);
    expect([...report.floatLayers].sort()).toEqual([...detection].sort());
    expect(report.quantizedLayers).toBe(convs.length - detection.length);
    expect(manifest.kind === 'joint' && manifest.quantization!.floatLayers).toHaveLength(detection.length);
    // The recognition body runs int8: QLinearConv only outside /net/.
    const nodes = modelOf(out).graph!.node!;
    const producer = new Map(nodes.flatMap((n) => n.output!.map((o) => [o, n.opType] as const)));
    const int8 = nodes.filter((n) => n.opType === 'QLinearConv' || (n.opType === 'Conv' && producer.get(n.input![0]!) === 'DequantizeLinear'));
    expect(int8.length).toBe(report.quantizedLayers);
    expect(int8.filter((n) => n.name!.startsWith('/net/'))).toEqual([]);
    await expect(quantizeBundle({ bundle: source, out: join(tempDir(), 'z'), target: 'cpu', floatPrefixes: ['/nothing/'] })).rejects.toThrow(/--float.*\/nothing\//);
  });

  test('fp16 halves the model file and stays close to float', async () => {
    const out = join(tempDir(), 'fp16');
    const { manifest, report } = await quantizeBundle({ bundle: source, out, target: 'fp16', searchImages: 2 });
    expect(manifest.precision).toBe('fp16');
    expect(statSync(join(out, 'model.onnx')).size).toBeLessThan(statSync(join(source, 'model.onnx')).size * 0.6);
    expect(report.agreement.cosineMean).toBeGreaterThan(0.999);
    expect(report.agreement.detectionAgreement).toBe(1);
    await expect(loadBundle(out)).resolves.toBeDefined();
  });

  test('a calibration measured on another model, and a cascade bundle, are refused with typed errors', async () => {
    const path = join(tempDir(), 'calibration.json');
    writeFileSync(path, JSON.stringify({ ...calibration, modelSha256: 'f'.repeat(64) }));
    await expect(readCalibration(path, calibration.modelSha256)).rejects.toThrow(/measured on another model/);
    await expect(quantizeBundle({ bundle: source, out: join(tempDir(), 'x'), target: 'cpu', calibration: path })).rejects.toBeInstanceOf(ManifestError);
    await expect(calibrateBundle(await makeCascadeBundle(), { images: CALIBRATION_IMAGES, count: 1 })).rejects.toThrow(/quantization works on joint bundles/);
    await expect(quantizeBundle({ bundle: source, out: join(tempDir(), 'y'), target: 'int4' as never })).rejects.toBeInstanceOf(JetfaceError);
  });
});

/** Ten LFW DevTest pairs (5 same, 5 different: one per fold), enough to exercise the verify report. */
function pairsFile(): string {
  const lines = readFileSync(dataPath('lfw', 'pairsDevTest.txt'), 'utf8').trim().split('\n');
  const same = lines.filter((l) => l.trim().split(/\s+/).length === 3).slice(0, 5);
  const diff = lines.filter((l) => l.trim().split(/\s+/).length === 4).slice(0, 5);
  const file = join(tempDir(), 'pairs.txt');
  writeFileSync(file, [...same, ...diff].join('\n') + '\n');
  return file;
}
