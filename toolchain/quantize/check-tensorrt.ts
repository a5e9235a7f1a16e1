import { GraphIndex } from '../onnx/graph-index';
import { DataType, opsetVersion, tensorDims, toNumber, type OnnxModel, type OnnxTensor } from '../onnx/model-io';

/** ONNX operators TensorRT 8.6/10 parses (onnx-tensorrt's operator list), limited to what face models use. */
const TENSORRT_OPS = new Set(
  `Abs Add And ArgMax ArgMin AveragePool BatchNormalization Cast Ceil Clip Concat Constant ConstantOfShape Conv ConvTranspose
   DepthToSpace DequantizeLinear Div Elu Equal Erf Exp Expand Flatten Floor Gather GatherElements GatherND Gemm GlobalAveragePool
   GlobalMaxPool Greater GreaterOrEqual GridSample HardSigmoid HardSwish Identity InstanceNormalization LeakyRelu Less LessOrEqual
   Log MatMul Max MaxPool Min Mul Neg NonMaxSuppression Not Pad Pow PRelu QuantizeLinear Range Reciprocal ReduceL2 ReduceMax
   ReduceMean ReduceMin ReduceSum Relu Reshape Resize ScatterElements Shape Sigmoid Sign Sin Slice Softmax Softplus SpaceToDepth
   Split Sqrt Squeeze Sub Sum Tanh Tile TopK Transpose Unsqueeze Upsample Where`.split(/\s+/),
);

/** onnxruntime's QOperator format: TensorRT wants Q/DQ pairs instead. */
const QOPERATOR_OPS = new Set(['QLinearConv', 'QLinearMatMul', 'QLinearAdd', 'QLinearMul', 'QLinearSigmoid', 'QLinearConcat', 'QLinearAveragePool', 'QLinearGlobalAveragePool', 'ConvInteger', 'MatMulInteger', 'DynamicQuantizeLinear']);

export interface TensorRtCheck {
  ok: boolean;
  problems: string[];
  opset: number;
  quantizeNodes: number;
  dequantizeNodes: number;
  /** Conv nodes whose weight arrives through a per-channel DequantizeLinear. */
  int8Convs: number;
  floatConvs: number;
}

/**
 * A static check that a Q/DQ model is what TensorRT's explicit quantization accepts: opset ≥ 13,
 * int8 Q/DQ with zero point 0, per-channel (axis 0) weight scales of the right length, no
 * QOperator ops, and only operators TensorRT parses. It reads the graph; it builds nothing.
 */
export function checkTensorRt(model: OnnxModel): TensorRtCheck {
  const problems: string[] = [];
  const index = new GraphIndex(model);
  const opset = opsetVersion(model);
  if (opset < 13) problems.push(`opset ${opset}: per-channel Q/DQ needs opset 13 or later`);
  const constants = new Map<string, OnnxTensor>(index.initializers);
  for (const n of model.graph!.node ?? []) {
    if (n.opType === 'Constant') {
      const value = n.attribute?.find((a) => a.name === 'value')?.t;
      if (value) constants.set(n.output![0]!, value);
    }
  }
  let q = 0;
  let dq = 0;
  for (const n of model.graph!.node ?? []) {
    const op = n.opType!;
    const where = `${op} "${n.name}"`;
    if (n.domain && n.domain !== 'ai.onnx') problems.push(`${where}: custom domain "${n.domain}"`);
    if (QOPERATOR_OPS.has(op)) problems.push(`${where}: QOperator op; TensorRT takes Q/DQ pairs`);
    else if (!TENSORRT_OPS.has(op)) problems.push(`${where}: operator not supported by TensorRT's ONNX parser`);
    if (op !== 'QuantizeLinear' && op !== 'DequantizeLinear') continue;
    op === 'QuantizeLinear' ? q++ : dq++;
    const scale = constants.get(n.input![1] ?? '');
    const zp = constants.get(n.input![2] ?? '');
    if (!scale) problems.push(`${where}: scale is not a constant`);
    else if (scale.dataType !== DataType.FLOAT) problems.push(`${where}: scale is data type ${scale.dataType}, not float32`);
    if (!zp) problems.push(`${where}: no constant zero point (the default is uint8; TensorRT needs int8 zero point 0)`);
    else {
      if (zp.dataType !== DataType.INT8) problems.push(`${where}: zero point is data type ${zp.dataType}, TensorRT needs int8`);
      else if (!allZero(zp)) problems.push(`${where}: zero point is not 0 (TensorRT quantizes symmetrically)`);
    }
    const axis = toNumber(n.attribute?.find((a) => a.name === 'axis')?.i as number | undefined);
    const scaleCount = scale ? tensorDims(scale).reduce((a, b) => a * b, 1) : 1;
    if (op === 'DequantizeLinear' && index.initializers.has(n.input![0]!)) {
      const weight = index.initializers.get(n.input![0]!)!;
      const channels = tensorDims(weight)[0] ?? 1;
      if (weight.dataType !== DataType.INT8) problems.push(`${where}: weight is data type ${weight.dataType}, not int8`);
      if (scaleCount !== 1 && (axis !== 0 || scaleCount !== channels)) {
        problems.push(`${where}: per-channel weight scales must run along axis 0 with one per output channel (${channels}), got axis ${axis} with ${scaleCount}`);
      }
    } else if (scaleCount !== 1) {
      problems.push(`${where}: activation scales must be per-tensor, got ${scaleCount}`);
    }
  }
  let int8Convs = 0;
  let floatConvs = 0;
  for (const n of model.graph!.node ?? []) {
    if (n.opType !== 'Conv') continue;
    const w = index.producer.get(n.input![1]!);
    if (w?.opType === 'DequantizeLinear' && index.initializers.has(w.input![0]!)) int8Convs++;
    else floatConvs++;
  }
  return { ok: problems.length === 0, problems, opset, quantizeNodes: q, dequantizeNodes: dq, int8Convs, floatConvs };
}

function allZero(t: OnnxTensor): boolean {
  if (t.rawData && t.rawData.length) return t.rawData.every((b) => b === 0);
  return (t.int32Data ?? []).every((v) => v === 0);
}
