import { cpSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { inlineConstantIdentities } from '../toolchain/onnx/graph-index';
import { DataType, cloneModel, decodeModel, encodeModel, floatTensor, intAttribute, intsAttribute, makeNode, tensorDims, toNumber, valueInfo, type OnnxModel, type OnnxNode, type OnnxTensor } from '../toolchain/onnx/model-io';
import { calibrateBundle, type Calibration } from '../toolchain/quantize/calibrate';
import { padDepthwiseChannels, resizeToExpand, stemToChannelsLast } from '../toolchain/quantize/cpu-kernels';
import { cpuSession, prepareInput } from '../toolchain/quantize/model-input';
import { insertQdq } from '../toolchain/quantize/qdq';
import { dataPath, describeWithData, tempDir } from './support/data';

/**
 * jetface-s v2 (models/jetface-s-v2, the previous default bundle): the graph these rewrites were designed on (a normalizing stem
 * from the uint8 NHWC image, depthwise convs of 24/48/... channels, an FPN with nearest 2x
 * Resize). The default bundle v3 (YuNet's graph) has none of these patterns, so on it the
 * rewrites leave the graph unchanged (tested last).
 */
const V2_BUNDLE = resolve(__dirname, '../models/jetface-s-v2');
const DEFAULT_BUNDLE = resolve(__dirname, '../models/jetface-s');

async function run(model: OnnxModel, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const session = await cpuSession(encodeModel(model));
  try {
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: Record<string, Float32Array>, b: Record<string, Float32Array>): number {
  let max = 0;
  for (const [k, x] of Object.entries(a)) for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]! - b[k]![i]!));
  return max;
}

const depthwiseChannels = (source: OnnxModel): number[] => {
  const model = decodeModel(encodeModel(source));
  inlineConstantIdentities(model); // shared head weights reach their Conv through Identity nodes
  const init = new Map((model.graph!.initializer ?? []).map((t) => [t.name!, t]));
  return (model.graph!.node ?? [])
    .filter((n) => n.opType === 'Conv' && toNumber((n.attribute!.find((a) => a.name === 'group')?.i ?? 1) as number) > 1)
    .map((n) => tensorDims(init.get(n.input![1]!)!)[0]!);
};

describeWithData('exact rewrites for the CPU EP int8 kernels (jetface-s v2 graph)', () => {
  let model: OnnxModel;
  let calibration: Calibration;
  let feeds: Record<string, ort.Tensor>;

  beforeAll(async () => {
    const source = join(tempDir(), 'fp32');
    cpSync(V2_BUNDLE, source, { recursive: true });
    model = decodeModel(readFileSync(join(source, 'model.onnx')));
    calibration = await calibrateBundle(source, { images: [dataPath('scenes')], count: 2, method: 'minmax' });
    const manifest = JSON.parse(readFileSync(join(source, 'manifest.json'), 'utf8'));
    feeds = (await prepareInput(calibration.images[0]!, manifest.input)).feeds;
  });

  test('depthwise convs are padded to multiples of 16 channels with zeros: float and int8 outputs unchanged', async () => {
    const padded = decodeModel(encodeModel(model));
    const done = padDepthwiseChannels(padded);
    expect(depthwiseChannels(model).some((c) => c % 16 !== 0)).toBe(true);
    expect(done.length).toBeGreaterThan(0);
    expect(done.every((d) => /\d+->\d+$/.test(d))).toBe(true);
    expect(depthwiseChannels(padded).every((c) => c % 16 === 0)).toBe(true);
    expect(maxAbsDiff(await run(model, feeds), await run(padded, feeds))).toBeLessThan(1e-3);
    // In int8 the extra channels add exact zeros to exact integer sums: bit-identical.
    const q = (m: OnnxModel) => insertQdq(m, { target: 'cpu', ranges: calibration.tensors }).model;
    expect(maxAbsDiff(await run(q(model), feeds), await run(q(padded), feeds))).toBe(0);
    expect(padDepthwiseChannels(padded)).toEqual([]); // nothing left to pad
  });

  test('the int8 stem becomes one channels-last QLinearConv over 4-pixel groups (12 channels): bit-identical outputs', async () => {
    const placed = insertQdq(model, { target: 'cpu', ranges: calibration.tensors }).model;
    const rewritten = decodeModel(encodeModel(placed));
    expect(stemToChannelsLast(rewritten)).toBe(true);
    const conv = rewritten.graph!.node!.find((n) => n.opType === 'QLinearConv')!;
    expect(conv.domain).toBe('com.microsoft');
    expect(toNumber(conv.attribute!.find((a) => a.name === 'channels_last')!.i as number)).toBe(1);
    const weight = rewritten.graph!.initializer!.find((t) => t.name === conv.input![3])!;
    expect(tensorDims(weight)).toEqual([32, 12, 3, 2]);
    expect(rewritten.graph!.node!.filter((n) => n.opType === 'Conv')).toHaveLength(placed.graph!.node!.filter((n) => n.opType === 'Conv').length - 1);
    expect(maxAbsDiff(await run(placed, feeds), await run(rewritten, feeds))).toBe(0);
    // Not that shape any more (and the float model never is): left untouched.
    expect(stemToChannelsLast(rewritten)).toBe(false);
    // A stem whose stride or padding is ONNX's default (1, 0) or SAME_UPPER is another conv: left alone.
    for (const change of ['no strides', 'no pads', 'auto_pad'] as const) {
      const other = cloneModel(placed);
      const stem = other.graph!.node!.find((n) => n.opType === 'Conv')!;
      if (change === 'auto_pad') stem.attribute = [...stem.attribute!.filter((a) => a.name !== 'pads'), { name: 'auto_pad', type: 3, s: new TextEncoder().encode('SAME_UPPER') }];
      else stem.attribute = stem.attribute!.filter((a) => a.name !== (change === 'no strides' ? 'strides' : 'pads'));
      expect(stemToChannelsLast(other)).toBe(false);
    }
    const float = decodeModel(encodeModel(model));
    expect(stemToChannelsLast(float)).toBe(false);
    expect(encodeModel(float)).toEqual(encodeModel(model));
  });

  test('uint8 nearest 2x Resize becomes Unsqueeze → Expand → Reshape in NHWC: bit-identical outputs', async () => {
    const placed = insertQdq(model, { target: 'cpu', ranges: calibration.tensors }).model;
    const rewritten = decodeModel(encodeModel(placed));
    const resizes = placed.graph!.node!.filter((n) => n.opType === 'Resize').length;
    expect(resizeToExpand(rewritten)).toBe(resizes);
    expect(rewritten.graph!.node!.filter((n) => n.opType === 'Resize')).toHaveLength(0);
    expect(rewritten.graph!.node!.filter((n) => n.opType === 'Expand').length).toBeGreaterThanOrEqual(resizes);
    expect(maxAbsDiff(await run(placed, feeds), await run(rewritten, feeds))).toBe(0);
    expect(resizeToExpand(rewritten)).toBe(0);
  });

  test('cpu placement: nearest Resize keeps its input quantization, so the top-down Adds read two quantized tensors', () => {
    const { model: q } = insertQdq(model, { target: 'cpu', ranges: calibration.tensors });
    const nodes = q.graph!.node!;
    const byOutput = new Map(nodes.flatMap((n) => n.output!.map((o) => [o, n] as const)));
    const resizes = nodes.filter((n) => n.opType === 'Resize');
    expect(resizes.length).toBeGreaterThan(0);
    for (const resize of resizes) {
      const dqIn = byOutput.get(resize.input![0]!)!;
      expect(dqIn.opType).toBe('DequantizeLinear');
      const qOut = nodes.find((n) => n.opType === 'QuantizeLinear' && n.input![0] === resize.output![0])!;
      // Same scale and zero point: a pure uint8 copy.
      const values = (names: string[]) => names.map((n) => Array.from(q.graph!.initializer!.find((t) => t.name === n)!.rawData!));
      expect(values(qOut.input!.slice(1))).toEqual(values(dqIn.input!.slice(1)));
      const dqOut = nodes.find((n) => n.opType === 'DequantizeLinear' && n.input![0] === qOut.output![0])!;
      for (const add of nodes.filter((n) => n.input!.includes(dqOut.output![0]!))) {
        expect(add.opType).toBe('Add');
        expect(add.input!.every((i) => byOutput.get(i)?.opType === 'DequantizeLinear')).toBe(true);
      }
    }
    const trt = insertQdq(model, { target: 'tensorrt', ranges: calibration.tensors }).model;
    expect(resizeToExpand(decodeModel(encodeModel(trt)))).toBe(0); // float Resize (no Q after it): left alone
    for (const resize of trt.graph!.node!.filter((n) => n.opType === 'Resize')) {
      expect(trt.graph!.node!.some((n) => n.opType === 'QuantizeLinear' && n.input![0] === resize.output![0])).toBe(false);
    }
  });
});

/** A float chain of 1x1 and depthwise 3x3 convs with Relus, channels as given (deterministic weights). */
function convChain(channels: readonly number[], kinds: readonly ('pw' | 'dw')[]): OnnxModel {
  const nodes: OnnxNode[] = [];
  const initializer: OnnxTensor[] = [];
  let input = 'x';
  let c = channels[0]!;
  let seed = 1;
  const values = (n: number) => Float32Array.from({ length: n }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.6);
  kinds.forEach((kind, i) => {
    const out = kind === 'dw' ? c : channels[i + 1]!;
    const w = kind === 'dw' ? floatTensor(`w${i}`, [c, 1, 3, 3], values(c * 9)) : floatTensor(`w${i}`, [out, c, 1, 1], values(out * c));
    initializer.push(w, floatTensor(`b${i}`, [out], values(out)));
    const attrs = kind === 'dw' ? [intAttribute('group', c), intsAttribute('kernel_shape', [3, 3]), intsAttribute('pads', [1, 1, 1, 1])] : [intsAttribute('kernel_shape', [1, 1])];
    nodes.push(makeNode('Conv', [input, `w${i}`, `b${i}`], [`conv${i}`], `conv${i}`, attrs));
    const last = i === kinds.length - 1;
    if (!last) nodes.push(makeNode('Relu', [`conv${i}`], [`relu${i}`], `relu${i}`));
    input = last ? `conv${i}` : `relu${i}`;
    c = out;
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'chain', node: nodes, initializer, input: [valueInfo('x', DataType.FLOAT)], output: [valueInfo(input, DataType.FLOAT)] },
  });
  return decodeModel(encodeModel(model));
}

describe('exact rewrites on small synthetic graphs', () => {
  test('a 1x1 conv that is one block\'s projection and the next block\'s expand is padded on both axes', async () => {
    // pw 8->24, dw 24, pw 24->40 (projection of block 1, expand of block 2), dw 40, pw 40->8
    const model = convChain([8, 24, 24, 40, 40, 8], ['pw', 'dw', 'pw', 'dw', 'pw']);
    const padded = cloneModel(model);
    expect(padDepthwiseChannels(padded)).toEqual(['conv1 24->32', 'conv3 40->48']);
    const dims = new Map(padded.graph!.initializer!.map((t) => [t.name!, tensorDims(t)]));
    expect(dims.get('w2')).toEqual([48, 32, 1, 1]);
    const data = Float32Array.from({ length: 8 * 6 * 6 }, (_, i) => Math.sin(i));
    const feeds = { x: new ort.Tensor('float32', data, [1, 8, 6, 6]) };
    expect(maxAbsDiff(await run(model, feeds), await run(padded, feeds))).toBeLessThan(1e-5);
  });
});

describeWithData('CPU EP int8 rewrites on the default bundle (v3)', () => {
  test('find nothing to rewrite in YuNet-derived graphs and leave them byte-identical', async () => {
    const model = decodeModel(readFileSync(join(DEFAULT_BUNDLE, 'model.onnx')));
    const before = encodeModel(model);
    const copy = decodeModel(before);
    expect(padDepthwiseChannels(copy)).toEqual([]);
    expect(stemToChannelsLast(copy)).toBe(false);
    expect(resizeToExpand(copy)).toBe(0); // float Resize (no int8 around it): left alone
    expect(encodeModel(copy)).toEqual(before);
  });
});
