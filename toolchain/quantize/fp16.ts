import { GraphIndex, inlineConstantIdentities } from '../onnx/graph-index';
import { DataType, cloneModel, float16Tensor, floatValues, intAttribute, makeNode, tensorDims, type OnnxModel, type OnnxNode } from '../onnx/model-io';

/** float32 -> IEEE half bits, round to nearest even; overflow to ±inf, tiny values to subnormals/zero. */
export function toHalfBits(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (rest > mid || (rest === mid && (half & 1)) ? half + 1 : half);
  }
  const half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  return sign | (rest > 0x1000 || (rest === 0x1000 && (half & 1)) ? half + 1 : half);
}

/**
 * The FP16 variant: Conv weights and biases stored as float16 (half the file), each followed by
 * a Cast back to float32, so the graph runs unchanged on every provider; TensorRT builds it with
 * fp16 kernels (trt_fp16_enable), where the weights then lose nothing more.
 */
export function toFp16Weights(source: OnnxModel): { model: OnnxModel; converted: number } {
  const model = cloneModel(source);
  inlineConstantIdentities(model);
  const graph = model.graph!;
  const index = new GraphIndex(model);
  const casts: OnnxNode[] = [];
  let converted = 0;
  const weightNames = new Set<string>();
  for (const n of graph.node ?? []) if (n.opType === 'Conv') for (const name of n.input!.slice(1)) if (name && index.initializers.has(name)) weightNames.add(name);
  graph.initializer = (graph.initializer ?? []).map((t) => {
    if (!weightNames.has(t.name!) || t.dataType !== DataType.FLOAT) return t;
    const values = floatValues(t);
    const bits = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) bits[i] = toHalfBits(values[i]!);
    converted++;
    casts.push(makeNode('Cast', [`${t.name}_fp16`], [t.name!], `${t.name}_Cast`, [intAttribute('to', DataType.FLOAT)]));
    return float16Tensor(`${t.name}_fp16`, tensorDims(t), bits);
  });
  graph.node = [...casts, ...(graph.node ?? [])];
  return { model, converted };
}
