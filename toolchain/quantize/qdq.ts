import { GraphIndex, inlineConstantIdentities, pruneUnused, rewireInput } from '../onnx/graph-index';
import {
  DataType,
  cloneModel,
  floatTensor,
  floatValues,
  int32Tensor,
  int8Tensor,
  intAttribute,
  makeNode,
  tensorDims,
  toNumber,
  uint8Tensor,
  type OnnxModel,
  type OnnxNode,
} from '../onnx/model-io';
import type { TensorRange } from './calibrate';

/**
 * Where Q/DQ pairs go:
 * - `tensorrt` (NVIDIA's explicit-quantization rules): int8 symmetric Q/DQ on the activation input
 *   of every quantized Conv, weights per-channel symmetric int8 (zero point 0, axis 0), bias in
 *   float, no Q on outputs; a residual Add's other input gets a Q/DQ so TensorRT can fuse the Add
 *   into the Conv that feeds it.
 * - `cpu` (what onnxruntime's CPU EP fuses into QLinearConv / QLinearAdd): uint8 asymmetric
 *   activations, int8 per-channel weights, int32 bias, and Q/DQ on Conv outputs (after their
 *   Relu) and on Adds of two quantized tensors.
 */
export type QuantTarget = 'tensorrt' | 'cpu';
export const QUANT_TARGETS: readonly QuantTarget[] = ['tensorrt', 'cpu'];

export interface QdqOptions {
  target: QuantTarget;
  ranges: Readonly<Record<string, TensorRange>>;
  /** Conv node names left in float (mixed precision). */
  keepFloat?: ReadonlySet<string>;
}

export interface QdqResult {
  model: OnnxModel;
  quantized: string[];
  float: string[];
}

interface ActivationQuant {
  scale: number;
  zeroPoint: number;
}

function activationQuant(range: TensorRange, target: QuantTarget): ActivationQuant {
  if (target === 'tensorrt') return { scale: Math.max(range.amax / 127, 1e-12), zeroPoint: 0 };
  const lo = Math.min(Math.max(range.min, -range.amax), 0);
  const hi = Math.max(Math.min(range.max, range.amax), 0);
  const scale = Math.max((hi - lo) / 255, 1e-12);
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-lo / scale))) };
}

/** Conv nodes with a constant weight: the layers int8 applies to, in graph order. */
/** Suffix of the tensor that reads the uint8 image as the normalized input (the `cpu` stem rewrite finds it by this). */
export const IMAGE_DQ_SUFFIX = '_as_normalized';

export function quantizableConvs(source: OnnxModel): OnnxNode[] {
  const model = cloneModel(source);
  inlineConstantIdentities(model);
  const index = new GraphIndex(model);
  return (model.graph!.node ?? []).filter((n) => n.opType === 'Conv' && index.initializers.has(n.input![1]!));
}

export function insertQdq(source: OnnxModel, options: QdqOptions): QdqResult {
  const model = cloneModel(source);
  inlineConstantIdentities(model);
  const graph = model.graph!;
  const index = new GraphIndex(model);
  const { target, ranges } = options;
  const keepFloat = options.keepFloat ?? new Set<string>();
  const after = new Map<string, OnnxNode[]>(); // nodes to emit right after a tensor's producer
  const leading: OnnxNode[] = []; // weight DQs and Q/DQ of graph inputs
  const dqOf = new Map<string, string>(); // activation -> its DequantizeLinear output
  const tensorOfDq = new Map<string, string>(); // and back
  const quantOf = new Map<string, ActivationQuant>();
  const addInit = (t: ReturnType<typeof floatTensor>) => graph.initializer!.push(t);

  const emit = (tensor: string, nodes: OnnxNode[]) => {
    if (!index.producer.has(tensor)) leading.push(...nodes);
    else after.set(tensor, [...(after.get(tensor) ?? []), ...nodes]);
  };

  /** The DequantizeLinear output standing for `tensor` (created once), or undefined without a range. */
  const qdq = (tensor: string, given?: ActivationQuant): string | undefined => {
    const done = dqOf.get(tensor);
    if (done) return done;
    const range = ranges[tensor];
    if (!range && !given) return undefined;
    const q = given ?? activationQuant(range!, target);
    const scale = `${tensor}_scale`;
    const zp = `${tensor}_zero_point`;
    addInit(floatTensor(scale, [], [q.scale]));
    addInit(target === 'tensorrt' ? int8Tensor(zp, [], Int8Array.of(0)) : uint8Tensor(zp, [], Uint8Array.of(q.zeroPoint)));
    const quantized = `${tensor}_quantized`;
    const dequantized = `${tensor}_dequantized`;
    emit(tensor, [
      makeNode('QuantizeLinear', [tensor, scale, zp], [quantized], `${tensor}_QuantizeLinear`),
      makeNode('DequantizeLinear', [quantized, scale, zp], [dequantized], `${tensor}_DequantizeLinear`),
    ]);
    dqOf.set(tensor, dequantized);
    tensorOfDq.set(dequantized, tensor);
    quantOf.set(tensor, q);
    return dequantized;
  };

  /** Every reader of `tensor` (but its own Q) reads the dequantized copy. */
  const quantizeForAll = (tensor: string): boolean => {
    const dq = qdq(tensor);
    if (!dq) return false;
    for (const c of index.consumersOf(tensor)) rewireInput(c, tensor, dq);
    return true;
  };

  const weightDq = new Map<string, { dq: string; scales: Float32Array }>(); // shared weights quantized once
  const image = target === 'cpu' ? normalizedImage(model, index) : undefined;
  const quantized: string[] = [];
  const float: string[] = [];
  const quantConvOutputs = new Set<string>();
  for (const node of graph.node ?? []) {
    if (node.opType === 'Conv' && index.initializers.has(node.input![1]!)) {
      const input = node.input![0]!;
      const x = tensorOfDq.get(input) ?? input; // already rewired when its producer was quantized
      if (keepFloat.has(node.name!) || !ranges[x]) {
        if (x !== input) rewireInput(node, input, x); // a float layer reads the float tensor
        float.push(node.name!);
        continue;
      }
      if (image && x === image.normalized) {
        // The uint8 image is already quantized: read it directly, scaled, instead of Cast → Sub → Div → Q.
        const dq = `${image.raw}${IMAGE_DQ_SUFFIX}`;
        if (!graph.initializer!.some((t) => t.name === `${dq}_scale`)) {
          addInit(floatTensor(`${dq}_scale`, [], [image.scale]));
          addInit(uint8Tensor(`${dq}_zero_point`, [], Uint8Array.of(image.zeroPoint)));
          emit(image.raw, [makeNode('DequantizeLinear', [image.raw, `${dq}_scale`, `${dq}_zero_point`], [dq], `${dq}_DequantizeLinear`)]);
        }
        rewireInput(node, input, dq);
        quantizeWeight(node, index, target, image.scale, addInit, leading, weightDq, image.shift);
      } else {
        rewireInput(node, input, qdq(x)!);
        quantizeWeight(node, index, target, quantOf.get(x)!.scale, addInit, leading, weightDq);
      }
      quantized.push(node.name!);
      quantConvOutputs.add(node.output![0]!);
      if (target === 'cpu') {
        // An output Q is what turns DQ→Conv→Q into one QLinearConv; after a lone Relu, the Relu folds in too.
        const y = node.output![0]!;
        const readers = index.consumersOf(y);
        const reluOnly = readers.length === 1 && readers[0]!.opType === 'Relu';
        if (!reluOnly) quantizeForAll(y);
      }
    } else if (node.opType === 'Relu' && target === 'cpu' && quantConvOutputs.has(node.input![0]!)) {
      quantizeForAll(node.output![0]!);
    } else if (target === 'cpu' && node.opType === 'Resize' && isNearest(node) && tensorOfDq.has(node.input![0]!)) {
      // Nearest resizing only copies values: with its input's scale on its output, onnxruntime runs it on
      // uint8 (DQ→Resize→Q drops both), and the Add of the FPN's top-down path becomes a QLinearAdd.
      const y = node.output![0]!;
      const dq = qdq(y, quantOf.get(tensorOfDq.get(node.input![0]!)!)!)!;
      for (const c of index.consumersOf(y)) rewireInput(c, y, dq);
    } else if (node.opType === 'Add' && node.input!.length === 2) {
      const [a, b] = node.input as [string, string];
      if (target === 'cpu') {
        // Both inputs already read quantized tensors: quantizing the sum lets it fuse into QLinearAdd.
        if (tensorOfDq.has(a) && tensorOfDq.has(b)) quantizeForAll(node.output![0]!);
      } else {
        // Residual rule: when one side comes straight from a quantized Conv, the other side gets Q/DQ.
        const fromConv = (t: string) => quantConvOutputs.has(t);
        const other = fromConv(a) && !index.isConstant(b) ? b : fromConv(b) && !index.isConstant(a) ? a : undefined;
        if (other) {
          const dq = qdq(other);
          if (dq) rewireInput(node, other, dq);
        }
      }
    }
  }

  const nodes: OnnxNode[] = [...leading];
  for (const node of graph.node ?? []) {
    nodes.push(node);
    for (const out of node.output ?? []) nodes.push(...(after.get(out) ?? []));
  }
  graph.node = nodes;
  pruneUnused(model); // e.g. the normalization the image DQ replaced
  return { model, quantized, float };
}

function isNearest(node: OnnxNode): boolean {
  const mode = node.attribute?.find((a) => a.name === 'mode')?.s;
  return !mode || new TextDecoder().decode(mode) === 'nearest';
}

/** Conv weight -> int8 per output channel (symmetric, zero point 0) + DequantizeLinear(axis 0); cpu: bias -> int32. */
function quantizeWeight(
  conv: OnnxNode,
  index: GraphIndex,
  target: QuantTarget,
  inputScale: number,
  addInit: (t: ReturnType<typeof floatTensor>) => void,
  leading: OnnxNode[],
  done: Map<string, { dq: string; scales: Float32Array }>,
  inputShift = 0,
): void {
  const wName = conv.input![1]!;
  if (!done.has(wName)) {
    const w = index.initializers.get(wName)!;
    const dims = tensorDims(w);
    const values = floatValues(w);
    const channels = dims[0]!;
    const per = values.length / channels;
    const scales = new Float32Array(channels);
    const q = new Int8Array(values.length);
    for (let c = 0; c < channels; c++) {
      let amax = 0;
      for (let i = c * per; i < (c + 1) * per; i++) amax = Math.max(amax, Math.abs(values[i]!));
      const s = amax > 0 ? amax / 127 : 1;
      scales[c] = s;
      for (let i = c * per; i < (c + 1) * per; i++) q[i] = Math.max(-127, Math.min(127, Math.round(values[i]! / s)));
    }
    const base = `${wName}_weight`;
    addInit(int8Tensor(`${base}_quantized`, dims, q));
    addInit(floatTensor(`${base}_scale`, [channels], scales));
    addInit(int8Tensor(`${base}_zero_point`, [channels], new Int8Array(channels)));
    leading.push(
      makeNode('DequantizeLinear', [`${base}_quantized`, `${base}_scale`, `${base}_zero_point`], [`${base}_dequantized`], `${base}_DequantizeLinear`, [intAttribute('axis', 0)]),
    );
    done.set(wName, { dq: `${base}_dequantized`, scales });
  }
  const { dq, scales } = done.get(wName)!;
  const channels = scales.length;
  conv.input![1] = dq;

  const bName = conv.input![2];
  if (target !== 'cpu' || (bName && !index.initializers.has(bName))) return;
  if (!bName && inputShift === 0) return;
  const bias = bName ? floatValues(index.initializers.get(bName)!) : new Float32Array(channels);
  if (inputShift !== 0) {
    // The input reads as x + shift: its constant part moves into the bias (exact away from the padded border).
    const w = floatValues(index.initializers.get(wName)!);
    const per = w.length / channels;
    for (let c = 0; c < channels; c++) for (let i = c * per; i < (c + 1) * per; i++) bias[c]! += inputShift * w[i]!;
  }
  const bScale = new Float32Array(channels);
  const bq = new Int32Array(channels);
  for (let c = 0; c < channels; c++) {
    bScale[c] = inputScale * scales[c]!;
    bq[c] = Math.round(bias[c]! / bScale[c]!);
  }
  const bBase = `${conv.name}_bias`;
  addInit(int32Tensor(`${bBase}_quantized`, [channels], bq));
  addInit(floatTensor(`${bBase}_scale`, [channels], bScale));
  addInit(int32Tensor(`${bBase}_zero_point`, [channels], new Int32Array(channels)));
  leading.push(
    makeNode('DequantizeLinear', [`${bBase}_quantized`, `${bBase}_scale`, `${bBase}_zero_point`], [`${bBase}_dequantized`], `${bBase}_DequantizeLinear`, [intAttribute('axis', 0)]),
  );
  conv.input![2] = `${bBase}_dequantized`;
}

/**
 * `(x - a) / d` applied to a uint8 image (the graph's built-in normalization) is the uint8 image
 * dequantized with scale 1/d and zero point round(a), plus a constant shift (round(a) - a) / d.
 */
function normalizedImage(model: OnnxModel, index: GraphIndex): { normalized: string; raw: string; scale: number; zeroPoint: number; shift: number } | undefined {
  for (const div of model.graph!.node ?? []) {
    if (div.opType !== 'Div') continue;
    const sub = index.producer.get(div.input![0]!);
    const cast = sub?.opType === 'Sub' ? index.producer.get(sub.input![0]!) : undefined;
    if (cast?.opType !== 'Cast' || toNumber(cast.attribute?.find((a) => a.name === 'to')?.i as number) !== DataType.FLOAT) continue;
    const raw = cast.input![0]!;
    const rawIsUint8 = isUint8Image(model, index, raw);
    const a = scalarConstant(index, sub!.input![1]!);
    const d = scalarConstant(index, div.input![1]!);
    if (!rawIsUint8 || a === undefined || d === undefined || !(d > 0)) continue;
    const zeroPoint = Math.min(255, Math.max(0, Math.round(a)));
    return { normalized: div.output![0]!, raw, scale: 1 / d, zeroPoint, shift: (zeroPoint - a) / d };
  }
  return undefined;
}

/** A graph input of type uint8, possibly through a Transpose (layout change only). */
function isUint8Image(model: OnnxModel, index: GraphIndex, tensor: string): boolean {
  const producer = index.producer.get(tensor);
  if (producer?.opType === 'Transpose') return isUint8Image(model, index, producer.input![0]!);
  if (producer) return false;
  const input = (model.graph!.input ?? []).find((i) => i.name === tensor);
  return input?.type?.tensorType?.elemType === DataType.UINT8;
}

function scalarConstant(index: GraphIndex, name: string): number | undefined {
  const t = index.initializers.get(name) ?? index.producer.get(name)?.attribute?.find((a) => a.name === 'value')?.t ?? undefined;
  if (!t || t.dataType !== DataType.FLOAT) return undefined;
  const v = floatValues(t);
  return v.length === 1 ? v[0] : undefined;
}
