import { GraphIndex, rewireInput } from '../onnx/graph-index';
import { cloneModel, floatTensor, int64Tensor, intAttribute, makeNode, opsetVersion, type OnnxModel } from '../onnx/model-io';
import { ContractError } from '../../sdk/errors';
import type { EmbeddingTransform } from './embedding-whitening';

/**
 * Appends `normalize(W·(e − c))` (toolchain/export/embedding-whitening.ts) to a graph's
 * unit-embedding output, so every provider and every quantized variant made from the result
 * transforms the same way. The output keeps its name and shape ([1, K, D]); K may be 0.
 */
export function appendEmbeddingTransform(source: OnnxModel, transform: EmbeddingTransform, output = 'embeddings'): OnnxModel {
  const { centre, matrix } = transform;
  const model = cloneModel(source);
  const graph = model.graph!;
  const index = new GraphIndex(model);
  const producer = index.producer.get(output);
  if (!index.graphOutputs.has(output) || !producer) throw new ContractError(`the model has no computed output named ${output}`);
  if (opsetVersion(model) < 13) throw new ContractError(`opset ${opsetVersion(model)}: centring needs opset 13 or later (ReduceSum axes as an input)`);
  if (index.initializers.has('embedding_centre')) throw new ContractError('the model is already centred (it has an embedding_centre constant)');

  const raw = `${output}_uncentred`;
  producer.output = (producer.output ?? []).map((o) => (o === output ? raw : o));
  for (const node of index.consumersOf(output)) rewireInput(node, output, raw);
  graph.initializer!.push(
    floatTensor('embedding_centre', [centre.length], centre),
    int64Tensor('embedding_centre_axes', [1], [-1]),
    floatTensor('embedding_centre_eps', [], [1e-6]),
  );
  graph.node!.push(makeNode('Sub', [raw, 'embedding_centre'], ['embedding_centred'], 'EmbeddingCentre_Sub'));
  let x = 'embedding_centred';
  if (matrix) {
    const d = centre.length;
    // y = x·Wᵀ for row vectors x
    const transposed = Float32Array.from({ length: d * d }, (_, i) => matrix[(i % d) * d + Math.floor(i / d)]!);
    graph.initializer!.push(floatTensor('embedding_whitening', [d, d], transposed));
    graph.node!.push(makeNode('MatMul', [x, 'embedding_whitening'], ['embedding_whitened'], 'EmbeddingCentre_Whiten'));
    x = 'embedding_whitened';
  }
  graph.node!.push(
    makeNode('Mul', [x, x], ['embedding_centred_sq'], 'EmbeddingCentre_Square'),
    makeNode('ReduceSum', ['embedding_centred_sq', 'embedding_centre_axes'], ['embedding_centred_ss'], 'EmbeddingCentre_SumSquares', [intAttribute('keepdims', 1)]),
    makeNode('Sqrt', ['embedding_centred_ss'], ['embedding_centred_norm'], 'EmbeddingCentre_Norm'),
    makeNode('Max', ['embedding_centred_norm', 'embedding_centre_eps'], ['embedding_centred_norm_safe'], 'EmbeddingCentre_Clamp'),
    makeNode('Div', [x, 'embedding_centred_norm_safe'], [output], 'EmbeddingCentre_Normalize'),
  );
  return model;
}
