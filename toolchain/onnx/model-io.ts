import { readFile, writeFile } from 'node:fs/promises';
import * as onnxProto from 'onnx-proto';
import { ModelLoadError, errorMessage } from '../../sdk/errors';

/**
 * ONNX models read and written with onnx-proto (protobufjs code generated from onnx.proto).
 * A decode → encode round trip keeps every field the schema knows; the byte layout may differ
 * (packed repeated fields), the model does not (tested against onnxruntime's outputs).
 */
export type OnnxModel = onnxProto.onnx.ModelProto;
export type OnnxNode = onnxProto.onnx.INodeProto;
export type OnnxTensor = onnxProto.onnx.ITensorProto;

// onnx-proto is CommonJS, and Node's ESM loader cannot see its `onnx` export (dist/toolchain.mjs):
// read it from the module object, which every loader provides (as `default` where it wraps one).
const { onnx } = ('default' in onnxProto ? onnxProto.default : onnxProto) as typeof onnxProto;

export const DataType = onnx.TensorProto.DataType;

export function decodeModel(bytes: Uint8Array, source = 'model'): OnnxModel {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new ModelLoadError(`${source} is not an ONNX model: ${errorMessage(error)}`, { file: source }, error);
  }
}

export function encodeModel(model: OnnxModel): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

export async function readModel(path: string): Promise<OnnxModel> {
  return decodeModel(await readFile(path), path);
}

export async function writeModel(path: string, model: OnnxModel): Promise<void> {
  await writeFile(path, encodeModel(model));
}

/** int64 fields decode as Long objects (protobufjs) or numbers; every value we read fits a double. */
export function toNumber(value: number | { toNumber(): number } | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

export function tensorDims(t: OnnxTensor): number[] {
  return (t.dims ?? []).map((d) => toNumber(d as number));
}

/** The values of a float tensor, from raw_data (little-endian) or float_data. */
export function floatValues(t: OnnxTensor): Float32Array {
  if (t.dataType !== DataType.FLOAT) throw new ModelLoadError(`tensor ${t.name} is data type ${t.dataType}, expected FLOAT`, { file: String(t.name) });
  if (t.rawData && t.rawData.length > 0) {
    const raw = t.rawData;
    const copy = new Uint8Array(raw.length);
    copy.set(raw);
    return new Float32Array(copy.buffer);
  }
  return Float32Array.from(t.floatData ?? []);
}

function rawTensor(name: string, dims: readonly number[], dataType: number, bytes: ArrayBufferView): OnnxTensor {
  return onnx.TensorProto.create({ name, dims: [...dims], dataType, rawData: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) });
}

export function floatTensor(name: string, dims: readonly number[], values: Float32Array | readonly number[]): OnnxTensor {
  return rawTensor(name, dims, DataType.FLOAT, values instanceof Float32Array ? values : Float32Array.from(values));
}

export function int8Tensor(name: string, dims: readonly number[], values: Int8Array): OnnxTensor {
  return rawTensor(name, dims, DataType.INT8, values);
}

export function uint8Tensor(name: string, dims: readonly number[], values: Uint8Array): OnnxTensor {
  return rawTensor(name, dims, DataType.UINT8, values);
}

export function int32Tensor(name: string, dims: readonly number[], values: Int32Array): OnnxTensor {
  return rawTensor(name, dims, DataType.INT32, values);
}

export function int64Tensor(name: string, dims: readonly number[], values: readonly number[]): OnnxTensor {
  return rawTensor(name, dims, DataType.INT64, BigInt64Array.from(values.map((v) => BigInt(v))));
}

export function float16Tensor(name: string, dims: readonly number[], bits: Uint16Array): OnnxTensor {
  return rawTensor(name, dims, DataType.FLOAT16, bits);
}

/** The default-domain opset the model imports. */
export function opsetVersion(model: OnnxModel): number {
  const entry = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  return toNumber(entry?.version as number | undefined);
}

export function makeNode(opType: string, inputs: string[], outputs: string[], name: string, attributes: onnxProto.onnx.IAttributeProto[] = []): OnnxNode {
  return onnx.NodeProto.create({ opType, input: inputs, output: outputs, name, attribute: attributes });
}

export function intAttribute(name: string, value: number): onnxProto.onnx.IAttributeProto {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i: value });
}

export function intsAttribute(name: string, values: readonly number[]): onnxProto.onnx.IAttributeProto {
  return onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: [...values] });
}

export function valueInfo(name: string, elemType: number): onnxProto.onnx.IValueInfoProto {
  return onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType } } });
}

/** A deep copy, so that variants of one model never share mutable nodes. */
export function cloneModel(model: OnnxModel): OnnxModel {
  return onnx.ModelProto.decode(encodeModel(model));
}
