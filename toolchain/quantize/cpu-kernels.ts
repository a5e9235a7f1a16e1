import { GraphIndex, inlineConstantIdentities, pruneUnused } from '../onnx/graph-index';
import { IMAGE_DQ_SUFFIX } from './qdq';
import {
  DataType,
  floatTensor,
  floatValues,
  int32Tensor,
  int64Tensor,
  int8Tensor,
  intAttribute,
  intsAttribute,
  makeNode,
  opsetVersion,
  tensorDims,
  toNumber,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
} from '../onnx/model-io';

/**
 * Exact rewrites that let onnxruntime's CPU EP (MLAS) run every int8 convolution of the `cpu`
 * placement on its fast symmetric u8s8 kernels (indirect convolution, requantization fused). MLAS
 * takes that path only when a depthwise conv has a multiple of 16 channels and a regular conv a
 * multiple of 4 input channels; otherwise it falls back to im2col + GEMM + a separate requantize
 * pass, which here made the 3-channel stem and the 72/120-channel depthwise convs slower in int8
 * than in float. Neither rewrite changes a single output value.
 */

const attr = (node: OnnxNode, name: string) => node.attribute?.find((a) => a.name === name);
const ints = (node: OnnxNode, name: string): number[] | undefined => attr(node, name)?.ints?.map((v) => toNumber(v as number));
const int = (node: OnnxNode, name: string, fallback: number): number => {
  const a = attr(node, name);
  return a?.i === undefined || a.i === null ? fallback : toNumber(a.i as number);
};

function replaceInitializer(model: OnnxModel, tensor: OnnxTensor): void {
  const list = model.graph!.initializer!;
  list[list.findIndex((t) => t.name === tensor.name)] = tensor;
}

/**
 * Float model: each depthwise conv whose channel count is not a multiple of `align` (expand 1x1 →
 * Relu → depthwise → Relu → project 1x1, as in inverted residual blocks) gets zero channels up to
 * the next multiple: zero rows in the expand and depthwise weights and biases, zero columns in the
 * projection. The added channels are exactly 0 everywhere, so the outputs are unchanged.
 * Returns "name C->P" for each conv padded.
 *
 * @example
 * padDepthwiseChannels(model); // ['/net/c3/c3.1/block/block.1/block.1.0/Conv 120->128', ...]
 */
export function padDepthwiseChannels(model: OnnxModel, align = 16): string[] {
  inlineConstantIdentities(model);
  // Rebuilt after each padded block: a 1x1 conv may be one block's projection and the next one's
  // expand, and its second padding must start from the first one's weights.
  let index = new GraphIndex(model);
  const readers = (t: string) => index.consumersOf(t);
  const sole = (t: string, op: string): OnnxNode | undefined => {
    const r = readers(t);
    return r.length === 1 && r[0]!.opType === op && !index.graphOutputs.has(t) ? r[0] : undefined;
  };
  const ownWeight = (conv: OnnxNode | undefined) => !!conv && conv.input!.slice(1).every((w) => !w || (index.initializers.has(w) && readers(w).length === 1));
  const padded: string[] = [];
  for (const dw of model.graph!.node ?? []) {
    const w = dw.opType === 'Conv' ? index.initializers.get(dw.input![1]!) : undefined;
    if (!w) continue;
    const [channels, perGroup] = tensorDims(w) as [number, number];
    if (perGroup !== 1 || int(dw, 'group', 1) !== channels || channels % align === 0) continue;
    const reluIn = index.producer.get(dw.input![0]!);
    const expand = reluIn?.opType === 'Relu' ? index.producer.get(reluIn.input![0]!) : undefined;
    const reluOut = sole(dw.output![0]!, 'Relu');
    const project = reluOut && sole(reluOut.output![0]!, 'Conv');
    const chain = expand?.opType === 'Conv' && int(expand, 'group', 1) === 1 && sole(expand.output![0]!, 'Relu') === reluIn && sole(reluIn!.output![0]!, 'Conv') === dw;
    if (!chain || !project || int(project, 'group', 1) !== 1 || !ownWeight(expand) || !ownWeight(dw) || !ownWeight(project)) continue;

    const to = Math.ceil(channels / align) * align;
    for (const conv of [expand!, dw]) {
      const weight = index.initializers.get(conv.input![1]!)!;
      const dims = tensorDims(weight);
      const values = new Float32Array(to * (floatValues(weight).length / channels));
      values.set(floatValues(weight));
      replaceInitializer(model, floatTensor(weight.name!, [to, ...dims.slice(1)], values));
      const bias = conv.input![2] ? index.initializers.get(conv.input![2])! : undefined;
      if (bias) {
        const b = new Float32Array(to);
        b.set(floatValues(bias));
        replaceInitializer(model, floatTensor(bias.name!, [to], b));
      }
    }
    attr(dw, 'group')!.i = to;
    const pw = index.initializers.get(project.input![1]!)!;
    const [outChannels, , kh, kw] = tensorDims(pw) as [number, number, number, number];
    const per = kh * kw * channels;
    const old = floatValues(pw);
    const values = new Float32Array(outChannels * kh * kw * to);
    for (let o = 0; o < outChannels; o++) values.set(old.subarray(o * per, (o + 1) * per), o * kh * kw * to);
    replaceInitializer(model, floatTensor(pw.name!, [outChannels, to, kh, kw], values));
    padded.push(`${dw.name} ${channels}->${to}`);
    index = new GraphIndex(model);
  }
  return padded;
}

/**
 * QDQ model of the `cpu` placement: the stem (a 3x3 stride-2 conv reading the uint8 NHWC image
 * through Transpose → DequantizeLinear) becomes one channels-last QLinearConv over the image
 * viewed as [1, H, W/4, 12] (four neighbouring pixels as 12 channels: a free Reshape), with kernel
 * 3x2 and twice the output channels (the stem's outputs at even and odd columns); a free Reshape
 * gives back [1, H/2, W/2, C], and a Transpose to NCHW that onnxruntime cancels against the next
 * conv's. Same integer products, summed in the same int32: the output is bit-identical. Returns
 * false (model untouched) when the graph does not have that shape.
 *
 * @example
 * const { model } = insertQdq(float, { target: 'cpu', ranges });
 * stemToChannelsLast(model); // true for the jetface-s stem
 */
export function stemToChannelsLast(model: OnnxModel): boolean {
  const graph = model.graph!;
  const index = new GraphIndex(model);
  const imageDq = (graph.node ?? []).find((n) => n.opType === 'DequantizeLinear' && n.output![0]!.endsWith(IMAGE_DQ_SUFFIX));
  const toNchw = imageDq && index.producer.get(imageDq.input![0]!);
  const input = toNchw?.opType === 'Transpose' && (graph.input ?? []).find((i) => i.name === toNchw.input![0]);
  const convs = imageDq ? index.consumersOf(imageDq.output![0]!) : [];
  const conv = convs.length === 1 && convs[0]!.opType === 'Conv' ? convs[0]! : undefined;
  const relu = conv && index.consumersOf(conv.output![0]!)[0];
  const q = relu && index.consumersOf(relu.output![0]!)[0];
  if (!imageDq || !input || !conv || relu?.opType !== 'Relu' || q?.opType !== 'QuantizeLinear') return false;
  if (index.consumersOf(conv.output![0]!).length !== 1 || index.consumersOf(relu.output![0]!).length !== 1) return false;
  if ([conv.output![0]!, relu.output![0]!].some((t) => index.graphOutputs.has(t))) return false;
  const shape = input.type?.tensorType?.shape?.dim?.map((d) => toNumber(d.dimValue as number)) ?? [];
  const [n, height, width, c] = shape as [number, number, number, number];
  // Absent attributes take ONNX's defaults (stride 1, no padding), which this rewrite is not.
  const is = (a: number[] | undefined, fallback: number[], v: number[]) => (a ?? fallback).length === v.length && (a ?? fallback).every((x, i) => x === v[i]);
  const autoPad = attr(conv, 'auto_pad')?.s;
  if (shape.length !== 4 || !shape.every((d) => d > 0) || n !== 1 || c !== 3 || width % 4 !== 0 || height % 2 !== 0 || !is(ints(toNchw, 'perm'), [], [0, 3, 1, 2])) return false;
  if (autoPad?.length && new TextDecoder().decode(autoPad) !== 'NOTSET') return false;
  if (!is(ints(conv, 'strides'), [1, 1], [2, 2]) || !is(ints(conv, 'pads'), [0, 0, 0, 0], [1, 1, 1, 1]) || !is(ints(conv, 'dilations'), [1, 1], [1, 1]) || int(conv, 'group', 1) !== 1) return false;
  const wDq = index.producer.get(conv.input![1]!);
  const bDq = conv.input![2] ? index.producer.get(conv.input![2]) : undefined;
  const wq = wDq && index.initializers.get(wDq.input![0]!);
  const bq = bDq && index.initializers.get(bDq.input![0]!);
  if (!wDq || wq?.dataType !== DataType.INT8 || (bDq && bq?.dataType !== DataType.INT32)) return false;
  const [, wIn, kh, kw] = tensorDims(wq);
  if (wIn !== 3 || kh !== 3 || kw !== 3) return false;
  // The Relu folds into the output's zero point only when that is 0 (uint8 clamps at it).
  const outZero = index.initializers.get(q.input![2]!);
  if (outZero?.dataType !== DataType.UINT8 || outZero.rawData?.[0] !== 0) return false;

  const [outC, inC] = tensorDims(wq) as [number, number];
  const w = new Int8Array(Uint8Array.from(wq.rawData!).buffer);
  const scales = floatValues(index.initializers.get(wDq.input![1]!)!);
  const bias = bq ? new Int32Array(Uint8Array.from(bq.rawData!).buffer) : new Int32Array(outC);
  // Output column 2X+s reads image columns 4X+2s-1 .. 4X+2s+1: pixel groups X-1 (its last pixel) and X.
  const group = 4;
  const channels = group * inC;
  const weights = new Int8Array(2 * outC * channels * 3 * 2);
  for (let s = 0; s < 2; s++) {
    for (let o = 0; o < outC; o++) {
      for (let ky = 0; ky < 3; ky++) {
        for (let kx = 0; kx < 3; kx++) {
          const col = 2 * s - 1 + kx;
          const [j, sub] = col < 0 ? [0, col + group] : [1, col];
          for (let ch = 0; ch < inC; ch++) weights[(((s * outC + o) * channels + sub * inC + ch) * 3 + ky) * 2 + j] = w[((o * inC + ch) * 3 + ky) * 3 + kx]!;
        }
      }
    }
  }
  const name = conv.name!;
  const init = graph.initializer!;
  init.push(
    int64Tensor(`${name}_grouped_shape`, [4], [1, height, width / group, channels]),
    int64Tensor(`${name}_ungrouped_shape`, [4], [1, height / 2, width / 2, outC]),
    int8Tensor(`${name}_grouped_weight`, [2 * outC, channels, 3, 2], weights),
    floatTensor(`${name}_grouped_weight_scale`, [2 * outC], [...scales, ...scales]),
    int8Tensor(`${name}_grouped_weight_zero_point`, [2 * outC], new Int8Array(2 * outC)),
    int32Tensor(`${name}_grouped_bias`, [2 * outC], Int32Array.from([...bias, ...bias])),
  );
  const qconv = makeNode(
    'QLinearConv',
    [`${name}_grouped_input`, imageDq.input![1]!, imageDq.input![2]!, `${name}_grouped_weight`, `${name}_grouped_weight_scale`, `${name}_grouped_weight_zero_point`, q.input![1]!, q.input![2]!, `${name}_grouped_bias`],
    [`${name}_grouped_output`],
    `${name}_channels_last`,
    [intAttribute('channels_last', 1), intAttribute('group', 1), intsAttribute('kernel_shape', [3, 2]), intsAttribute('strides', [2, 1]), intsAttribute('pads', [1, 1, 1, 0])],
  );
  qconv.domain = 'com.microsoft';
  const rewritten = [
    makeNode('Reshape', [toNchw.input![0]!, `${name}_grouped_shape`], [`${name}_grouped_input`], `${name}_group_pixels`),
    qconv,
    makeNode('Reshape', [`${name}_grouped_output`, `${name}_ungrouped_shape`], [`${name}_nhwc`], `${name}_ungroup_pixels`),
    makeNode('Transpose', [`${name}_nhwc`], [q.output![0]!], `${name}_to_nchw`, [intsAttribute('perm', [0, 3, 1, 2])]),
  ];
  const dropped = new Set([imageDq, conv, relu, q]);
  graph.node = [...rewritten, ...(graph.node ?? []).filter((node) => !dropped.has(node))];
  if (!model.opsetImport.some((o) => o.domain === 'com.microsoft')) model.opsetImport.push({ domain: 'com.microsoft', version: 1 });
  pruneUnused(model);
  return true;
}

/**
 * QDQ model of the `cpu` placement: each nearest 2x Resize that runs on uint8 (DQ → Resize → Q with
 * one scale and zero point, see qdq.ts) and feeds an Add becomes, in NHWC, Unsqueeze → Expand →
 * Reshape: each pixel repeated 2x2. onnxruntime's generic Resize took 0.6 ms for the two FPN
 * upsamplings; the Transposes around the NHWC ops cancel against the layout transformer's. Same
 * bytes out. The output is shaped from the Resize's own input (twice its height and width), so a
 * Resize that was not exactly 2x fails loudly at the Add instead of computing something else.
 * Returns how many Resize nodes were rewritten.
 *
 * @example
 * resizeToExpand(model); // 2 for jetface-s
 */
export function resizeToExpand(model: OnnxModel): number {
  const graph = model.graph!;
  if (opsetVersion(model) < 13) return 0; // Unsqueeze takes its axes as an input from opset 13
  let count = 0;
  for (const resize of (graph.node ?? []).filter((n) => n.opType === 'Resize')) {
    const index = new GraphIndex(model);
    const dq = index.producer.get(resize.input![0]!);
    const qs = index.consumersOf(resize.output![0]!);
    const q = qs.length === 1 && qs[0]!.opType === 'QuantizeLinear' ? qs[0]! : undefined;
    const dqOut = q && index.consumersOf(q.output![0]!);
    const add = dqOut?.length === 1 && dqOut[0]!.opType === 'DequantizeLinear' ? index.consumersOf(dqOut[0]!.output![0]!) : [];
    if (dq?.opType !== 'DequantizeLinear' || !q || add.length !== 1 || add[0]!.opType !== 'Add' || !repeatsPixels(resize)) continue;
    if ([resize.output![0]!, q.output![0]!].some((t) => index.graphOutputs.has(t))) continue;
    if (q.input![1] !== dq.input![1] && !sameScalar(index, q.input![1]!, dq.input![1]!)) continue;
    if (q.input![2] !== dq.input![2] && !sameScalar(index, q.input![2]!, dq.input![2]!)) continue;
    // Named after the Resize's output, which is unique (node names are optional in ONNX).
    const p = `${resize.output![0]!}_2x`;
    graph.initializer!.push(int64Tensor(`${p}_axes`, [2], [2, 4]), int64Tensor(`${p}_repeat`, [6], [1, 1, 2, 1, 2, 1]), int64Tensor(`${p}_scale`, [4], [1, 2, 2, 1]));
    const nodes = [
      makeNode('Transpose', [dq.input![0]!], [`${p}_nhwc`], `${p}_to_nhwc`, [intsAttribute('perm', [0, 2, 3, 1])]),
      makeNode('Unsqueeze', [`${p}_nhwc`, `${p}_axes`], [`${p}_spread`], `${p}_spread`),
      makeNode('Expand', [`${p}_spread`, `${p}_repeat`], [`${p}_repeated`], `${p}_repeat_pixels`),
      makeNode('Shape', [`${p}_nhwc`], [`${p}_shape`], `${p}_shape`),
      makeNode('Mul', [`${p}_shape`, `${p}_scale`], [`${p}_target`], `${p}_target`),
      makeNode('Reshape', [`${p}_repeated`, `${p}_target`], [`${p}_upsampled`], `${p}_merge`),
      makeNode('Transpose', [`${p}_upsampled`], [q.output![0]!], `${p}_to_nchw`, [intsAttribute('perm', [0, 3, 1, 2])]),
    ];
    const at = graph.node!.indexOf(resize);
    graph.node!.splice(at, 1, ...nodes);
    graph.node = graph.node!.filter((n) => n !== q);
    count++;
  }
  if (count > 0) {
    sortTopologically(model);
    pruneUnused(model);
  }
  return count;
}

/** Nearest Resize whose output pixel (y, x) reads input (floor(y/2), floor(x/2)) at scale 2. */
function repeatsPixels(resize: OnnxNode): boolean {
  const text = (name: string, fallback: string) => {
    const s = attr(resize, name)?.s;
    return s && s.length ? new TextDecoder().decode(s) : fallback;
  };
  const mode = text('mode', 'nearest');
  const transform = text('coordinate_transformation_mode', 'half_pixel');
  const rounding = text('nearest_mode', 'round_prefer_floor');
  if (mode !== 'nearest') return false;
  // 2x: asymmetric+floor reads floor(x/2); half_pixel+round_prefer_floor reads round(x/2 - 1/4), the same.
  return (transform === 'asymmetric' && rounding === 'floor') || ((transform === 'half_pixel' || transform === 'pytorch_half_pixel') && rounding === 'round_prefer_floor');
}

function sameScalar(index: GraphIndex, a: string, b: string): boolean {
  const x = index.initializers.get(a)?.rawData;
  const y = index.initializers.get(b)?.rawData;
  return !!x && !!y && x.length === y.length && x.every((v, i) => v === y[i]);
}

/** Producers before readers (the rewrites above insert nodes where the replaced one was). */
function sortTopologically(model: OnnxModel): void {
  const graph = model.graph!;
  const ready = new Set<string>(['', ...(graph.input ?? []).map((i) => i.name!), ...(graph.initializer ?? []).map((t) => t.name!)]);
  const pending = [...(graph.node ?? [])];
  const ordered: OnnxNode[] = [];
  while (pending.length > 0) {
    const next = pending.findIndex((n) => (n.input ?? []).every((i) => ready.has(i)));
    if (next < 0) throw new Error('graph has a cycle');
    const [node] = pending.splice(next, 1);
    ordered.push(node!);
    for (const o of node!.output ?? []) ready.add(o);
  }
  graph.node = ordered;
}
