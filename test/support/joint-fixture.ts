import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onnx } from 'onnx-proto';
import { writeBundleFiles } from '../../toolchain/bundle/write-bundle';
import { sha256File } from '../../sdk/bundle/load-bundle';
import { tempDir } from './data';

/** Fixed candidates the fake joint model emits, in model-input pixels. */
export interface FakeCandidate {
  score: number;
  box: [number, number, number, number];
  landmarks: number[]; // 10 values
  embedding: number[]; // D values (not normalized: the SDK must normalize)
}

function tensor(name: string, dims: number[], values: number[]): onnx.ITensorProto {
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, floatData: values };
}

function valueInfo(name: string, elemType: number, dims: number[]): onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } };
}

/**
 * A real ONNX file with the joint-model contract whose outputs are constants: it checks the SDK's
 * joint path (contract check, thresholds, NMS, mapping back to frame pixels, normalization)
 * in onnxruntime without a trained network.
 */
export function writeFakeJointModel(file: string, size: number, candidates: FakeCandidate[], dim: number): void {
  const k = candidates.length;
  const graph: onnx.IGraphProto = {
    name: 'fake-joint',
    input: [valueInfo('image', onnx.TensorProto.DataType.UINT8, [1, size, size, 3])],
    output: [
      valueInfo('scores', onnx.TensorProto.DataType.FLOAT, [1, k]),
      valueInfo('boxes', onnx.TensorProto.DataType.FLOAT, [1, k, 4]),
      valueInfo('landmarks', onnx.TensorProto.DataType.FLOAT, [1, k, 10]),
      valueInfo('embeddings', onnx.TensorProto.DataType.FLOAT, [1, k, dim]),
    ],
    initializer: [
      tensor('c_scores', [1, k], candidates.map((c) => c.score)),
      tensor('c_boxes', [1, k, 4], candidates.flatMap((c) => c.box)),
      tensor('c_landmarks', [1, k, 10], candidates.flatMap((c) => c.landmarks)),
      tensor('c_embeddings', [1, k, dim], candidates.flatMap((c) => c.embedding)),
    ],
    node: ['scores', 'boxes', 'landmarks', 'embeddings'].map((o) => ({ opType: 'Identity', input: [`c_${o}`], output: [o], name: `id_${o}` })),
  };
  const model = onnx.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 13 }], producerName: 'jetface-test', graph });
  writeFileSync(file, onnx.ModelProto.encode(model).finish());
}

/** A joint bundle around the fake model, written with the toolchain's own bundle writer. */
export async function makeFakeJointBundle(size: number, candidates: FakeCandidate[], dim: number, overrides: { topK?: number; scoresOutput?: string } = {}): Promise<string> {
  const dir = tempDir('jetface-joint-');
  writeFakeJointModel(join(dir, 'model.onnx'), size, candidates, dim);
  await writeBundleFiles(
    dir,
    {
      format: 'jetface-bundle',
      formatVersion: 1,
      name: 'fake-joint',
      kind: 'joint',
      modelId: 'fake-joint:1',
      precision: 'fp32',
      embeddingDim: dim,
      thresholds: { detection: 0.5, nmsIou: 0.4, match: 0.4 },
      model: { file: 'model.onnx', sha256: await sha256File(join(dir, 'model.onnx')) },
      input: { name: 'image', width: size, height: size, layout: 'nhwc', dtype: 'uint8', colorOrder: 'rgb' },
      outputs: { scores: overrides.scoresOutput ?? 'scores', boxes: 'boxes', landmarks: 'landmarks', embeddings: 'embeddings' },
      topK: overrides.topK ?? candidates.length,
    },
    '# fake joint model for tests\n',
  );
  return dir;
}
