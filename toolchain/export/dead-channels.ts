import { GraphIndex } from '../onnx/graph-index';
import { cloneModel, floatTensor, floatValues, tensorDims, toNumber, type OnnxModel, type OnnxNode } from '../onnx/model-io';

/**
 * A run of layers whose inner channels can go when they never fire:
 * `Conv → ReLU-like [→ depthwise Conv [→ ReLU-like]] → 1x1 Conv`. Each channel of the first
 * Conv's output is one channel of every layer up to the last Conv's input, and nothing else
 * reads it (residual sums sit outside: a chain ends at a linear 1x1 projection).
 */
export interface ChannelChain {
  producer: OnnxNode;
  activation: OnnxNode;
  depthwise: OnnxNode | undefined;
  depthwiseActivation: OnnxNode | undefined;
  consumer: OnnxNode;
  channels: number;
  /** Pre-activation tensors to measure: the producer's output, then the depthwise Conv's when an activation follows it. */
  probes: string[];
}

export interface PrunedLayer {
  conv: string;
  from: number;
  to: number;
  /** The chain's first pre-activation tensor (a probe). */
  probe: string;
  /** Multiply-adds removed per batch item, given the probe's height x width (absent without it). */
  macsRemoved?: number;
}

/** Height x width of each probed tensor, per batch item (the first two dims are N, C). */
export type SpatialSizes = ReadonlyMap<string, readonly [number, number]>;

/** Convs only in the forms this file rewrites: weights and bias as initializers, no dilation. */
function plainConv(index: GraphIndex, node: OnnxNode | undefined): node is OnnxNode {
  if (!node || node.opType !== 'Conv') return false;
  const [, w, b] = node.input ?? [];
  // Weights shared with another layer would change under it.
  const own = (t: string | undefined): boolean => !!t && index.initializers.has(t) && index.consumersOf(t).length === 1;
  if (!own(w) || !own(b)) return false;
  const dilations = ints(node, 'dilations');
  return dilations.every((d) => d === 1);
}

function ints(node: OnnxNode, name: string): number[] {
  return (node.attribute?.find((a) => a.name === name)?.ints ?? []).map((v) => toNumber(v as number));
}

function group(node: OnnxNode): number {
  const a = node.attribute?.find((x) => x.name === 'group');
  return a ? toNumber(a.i as number) : 1;
}

function onlyConsumer(index: GraphIndex, tensor: string): OnnxNode | undefined {
  const list = index.consumersOf(tensor);
  return list.length === 1 && !index.graphOutputs.has(tensor) ? list[0] : undefined;
}

/** A constant scalar input (Constant node or initializer), if it is one. */
function scalar(model: OnnxModel, index: GraphIndex, tensor: string | undefined): number | undefined {
  if (!tensor) return undefined;
  const init = index.initializers.get(tensor);
  const producer = index.producer.get(tensor);
  const t = init ?? (producer?.opType === 'Constant' ? producer.attribute?.find((a) => a.name === 'value')?.t : undefined);
  if (!t || tensorDims(t).reduce((a, b) => a * b, 1) !== 1) return undefined;
  return floatValues(t)[0];
}

/** ReLU, or Clip with a lower bound of 0 (ReLU6): zero whenever its input is ≤ 0. */
function isZeroingActivation(model: OnnxModel, index: GraphIndex, node: OnnxNode | undefined): node is OnnxNode {
  if (!node) return false;
  if (node.opType === 'Relu') return true;
  return node.opType === 'Clip' && scalar(model, index, node.input?.[1]) === 0 && (!node.input?.[2] || scalar(model, index, node.input[2]) !== undefined);
}

function applyActivation(model: OnnxModel, index: GraphIndex, node: OnnxNode | undefined, x: number): number {
  if (!node) return x;
  if (node.opType === 'Relu') return Math.max(0, x);
  const high = scalar(model, index, node.input?.[2]) ?? Number.POSITIVE_INFINITY;
  return Math.min(high, Math.max(0, x));
}

/** Every chain of the graph whose inner channels could be removed. */
export function findChannelChains(model: OnnxModel): ChannelChain[] {
  const index = new GraphIndex(model);
  const chains: ChannelChain[] = [];
  for (const producer of model.graph?.node ?? []) {
    if (!plainConv(index, producer) || group(producer) !== 1) continue;
    const out = producer.output![0]!;
    const activation = onlyConsumer(index, out);
    if (!isZeroingActivation(model, index, activation)) continue;
    const channels = tensorDims(index.initializers.get(producer.input![1]!)!)[0]!;
    let next = onlyConsumer(index, activation.output![0]!);
    if (!plainConv(index, next)) continue;
    let depthwise: OnnxNode | undefined;
    let depthwiseActivation: OnnxNode | undefined;
    const nextWeight = tensorDims(index.initializers.get(next.input![1]!)!);
    if (group(next) === channels && nextWeight[0] === channels && nextWeight[1] === 1) {
      depthwise = next;
      const after = onlyConsumer(index, depthwise.output![0]!);
      if (isZeroingActivation(model, index, after)) depthwiseActivation = after;
      next = onlyConsumer(index, (depthwiseActivation ?? depthwise).output![0]!);
      if (!plainConv(index, next)) continue;
    }
    const consumer = next;
    const k = tensorDims(index.initializers.get(consumer.input![1]!)!);
    // The last Conv must be a plain 1x1: a constant channel then adds a constant (its bias).
    if (group(consumer) !== 1 || k[1] !== channels || k[2] !== 1 || k[3] !== 1 || ints(consumer, 'pads').some((p) => p !== 0)) continue;
    chains.push({ producer, activation, depthwise, depthwiseActivation, consumer, channels, probes: [out, ...(depthwise && depthwiseActivation ? [depthwise.output![0]!] : [])] });
  }
  return chains;
}

/**
 * Removes, in a copy of `model`, the channels of each chain that never fired on the measured
 * frames: `maxima` holds each probe's largest value per channel. A channel is dead when its
 * pre-activation never exceeded 0 (the activation is then always 0), or when the depthwise
 * layer's is; a channel dead only before the depthwise layer leaves that layer's bias, which is
 * folded into the last Conv's bias. Per chain the count removed is a multiple of `block`, so the
 * kept channels stay a multiple of the CPU kernels' block (onnxruntime's NCHWc layout runs
 * narrower layers slower than wider aligned ones).
 */
export function removeDeadChannels(
  model: OnnxModel,
  maxima: ReadonlyMap<string, Float32Array>,
  block: number,
  spatial: SpatialSizes = new Map(),
): { model: OnnxModel; layers: PrunedLayer[]; removed: number; total: number } {
  const copy = cloneModel(model);
  const index = new GraphIndex(copy);
  const layers: PrunedLayer[] = [];
  let removed = 0;
  let total = 0;
  for (const chain of findChannelChains(copy)) {
    const [first, second] = chain.probes.map((p) => maxima.get(p));
    if (!first || (chain.depthwiseActivation && !second)) continue;
    total += chain.channels;
    const deadAfter = (m: Float32Array | undefined, c: number): boolean => m !== undefined && m[c]! <= 0;
    const dead = Array.from({ length: chain.channels }, (_, c) => c).filter((c) => deadAfter(first, c) || deadAfter(second, c));
    const drop = new Set(dead.slice(0, dead.length - (dead.length % block)));
    if (drop.size === 0 || drop.size === chain.channels) continue;
    const keep = Array.from({ length: chain.channels }, (_, c) => c).filter((c) => !drop.has(c));

    const weight = (node: OnnxNode): { name: string; dims: number[]; values: Float32Array } => {
      const t = index.initializers.get(node.input![1]!)!;
      return { name: t.name!, dims: tensorDims(t), values: floatValues(t) };
    };
    const bias = (node: OnnxNode): Float32Array => floatValues(index.initializers.get(node.input![2]!)!);
    const replace = (name: string, dims: number[], values: Float32Array): void => {
      const at = copy.graph!.initializer!.findIndex((t) => t.name === name);
      copy.graph!.initializer![at] = floatTensor(name, dims, values);
      index.initializers.set(name, copy.graph!.initializer![at]!);
    };

    // The last Conv: fold the constant of channels silenced only before the depthwise layer, drop their input columns.
    const macs = macsPerChannel(chain, spatial.get(chain.probes[0]!), (node) => tensorDims(index.initializers.get(node.input![1]!)!));
    const q = weight(chain.consumer);
    const qBias = Float32Array.from(bias(chain.consumer));
    const outChannels = q.dims[0]!;
    if (chain.depthwise) {
      const dBias = bias(chain.depthwise);
      for (const c of drop) {
        if (deadAfter(second, c)) continue;
        const constant = applyActivation(copy, index, chain.depthwiseActivation, dBias[c]!);
        for (let o = 0; o < outChannels; o++) qBias[o]! += q.values[o * chain.channels + c]! * constant;
      }
    }
    replace(q.name, [outChannels, keep.length, 1, 1], Float32Array.from({ length: outChannels * keep.length }, (_, i) => q.values[Math.floor(i / keep.length) * chain.channels + keep[i % keep.length]!]!));
    replace(chain.consumer.input![2]!, [outChannels], qBias);

    // The depthwise Conv and the first Conv: drop whole output channels (filters and biases).
    for (const node of [chain.producer, ...(chain.depthwise ? [chain.depthwise] : [])]) {
      const w = weight(node);
      const per = w.values.length / w.dims[0]!;
      const values = new Float32Array(keep.length * per);
      keep.forEach((c, i) => values.set(w.values.subarray(c * per, (c + 1) * per), i * per));
      replace(w.name, [keep.length, ...w.dims.slice(1)], values);
      const b = bias(node);
      replace(node.input![2]!, [keep.length], Float32Array.from(keep, (c) => b[c]!));
    }
    const g = chain.depthwise?.attribute?.find((a) => a.name === 'group');
    if (g) g.i = keep.length;
    const conv = chain.producer.name ?? chain.producer.output![0]!;
    layers.push({ conv, from: chain.channels, to: keep.length, probe: chain.probes[0]!, ...(macs === undefined ? {} : { macsRemoved: macs * drop.size }) });
    removed += drop.size;
  }
  // Shapes recorded by the exporter may name the old channel counts.
  copy.graph!.valueInfo = [];
  return { model: copy, layers, removed, total };
}

/** Spatial output size of a Conv with explicit pads (auto_pad unset), or undefined. */
function convOutput(node: OnnxNode, [h, w]: readonly [number, number], kernel: readonly number[]): [number, number] | undefined {
  const autoPad = node.attribute?.find((a) => a.name === 'auto_pad')?.s;
  if (autoPad && autoPad.length > 0 && new TextDecoder().decode(autoPad) !== 'NOTSET') return undefined;
  const strides = ints(node, 'strides');
  const pads = ints(node, 'pads');
  const out = (size: number, k: number, i: number): number => Math.floor((size + (pads[i] ?? 0) + (pads[i + 2] ?? 0) - k) / (strides[i] ?? 1)) + 1;
  return [out(h, kernel[2]!, 0), out(w, kernel[3]!, 1)];
}

/** Multiply-adds one channel of a chain costs per batch item: its filter in the first Conv, the depthwise one, its column in the last. */
function macsPerChannel(chain: ChannelChain, size: readonly [number, number] | undefined, dims: (node: OnnxNode) => number[]): number | undefined {
  if (!size) return undefined;
  const p = dims(chain.producer);
  let macs = p[1]! * p[2]! * p[3]! * size[0] * size[1];
  let inner: readonly [number, number] | undefined = size;
  if (chain.depthwise) {
    const d = dims(chain.depthwise);
    inner = convOutput(chain.depthwise, size, d);
    if (!inner) return undefined;
    macs += d[2]! * d[3]! * inner[0] * inner[1];
  }
  const q = dims(chain.consumer);
  const out = convOutput(chain.consumer, inner, q);
  return out ? macs + q[0]! * out[0] * out[1] : undefined;
}
