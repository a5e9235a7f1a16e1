import type { InferenceSession, Tensor } from 'onnxruntime-node';

/**
 * Scores probes against the gallery matrix with onnxruntime's MatMul (MLAS: vectorized and split
 * over threads), fed the transposed matrix without a copy, and keeps the best columns with TopK so
 * that only a few hundred numbers come back to JS. One tiny in-memory ONNX graph:
 * `scores[b, n] = probes[b, d+1] · galleryT[d+1, n]`, `values, rows = TopK(scores, k)`.
 *
 * @example
 * ```ts
 * const kernel = await OrtMatMulKernel.create(128);
 * const { values, rows: best } = await kernel.topRows(matrix.data, matrix.capacity, matrix.augment(probe), 1, 20);
 * ```
 */
export class OrtMatMulKernel {
  private constructor(
    private readonly ort: typeof import('onnxruntime-node'),
    private readonly session: InferenceSession,
    readonly dim: number,
  ) {}

  /** Loads onnxruntime-node lazily (it is only needed for large galleries) and builds the session. */
  static async create(dim: number, threads = 0): Promise<OrtMatMulKernel> {
    const ort = interop(await import('onnxruntime-node'));
    const session = await ort.InferenceSession.create(await scoresModel(dim), {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      // Busy-waiting worker threads steal the cores that the capture and the event loop need.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    return new OrtMatMulKernel(ort, session, dim);
  }

  /**
   * The `k` best columns of each probe against the transposed matrix `galleryT` (`(dim + 1) ×
   * capacity`, see {@link EmbeddingMatrix}); `probes` are `count` augmented unit vectors
   * (`count × (dim + 1)` flat). `values` and `rows` are `count × k`, probe-major, best first.
   * `k` must not exceed the live rows (spare columns score -3 and come last).
   */
  async topRows(galleryT: Float32Array, capacity: number, probes: Float32Array, count: number, k: number): Promise<{ values: Float32Array; rows: Int32Array; k: number }> {
    const kk = Math.max(1, Math.min(k, capacity));
    const feeds: Record<string, Tensor> = {
      probes: new this.ort.Tensor('float32', probes, [count, this.dim + 1]),
      galleryT: new this.ort.Tensor('float32', galleryT.subarray(0, (this.dim + 1) * capacity), [this.dim + 1, capacity]),
      k: new this.ort.Tensor('int64', BigInt64Array.of(BigInt(kk)), [1]),
    };
    const out = await this.session.run(feeds);
    const indices = out['rows']!.data as BigInt64Array;
    return { values: out['values']!.data as Float32Array, rows: Int32Array.from(indices, Number), k: kk };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

async function scoresModel(dim: number): Promise<Uint8Array> {
  const { onnx } = interop(await import('onnx-proto'));
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const INT = onnx.AttributeProto.AttributeType.INT;
  const info = (name: string, dims: (number | string)[], elemType: number = FLOAT) =>
    onnx.ValueInfoProto.create({
      name,
      type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
    });
  const graph = onnx.GraphProto.create({
    name: 'jetface-gallery-scores',
    node: [
      onnx.NodeProto.create({ opType: 'MatMul', input: ['probes', 'galleryT'], output: ['scores'] }),
      onnx.NodeProto.create({ opType: 'TopK', input: ['scores', 'k'], output: ['values', 'rows'], attribute: [{ name: 'axis', type: INT, i: -1 }, { name: 'largest', type: INT, i: 1 }, { name: 'sorted', type: INT, i: 1 }] }),
    ],
    input: [info('probes', ['b', dim + 1]), info('galleryT', [dim + 1, 'n']), info('k', [1], onnx.TensorProto.DataType.INT64)],
    output: [info('values', ['b', 'k']), info('rows', ['b', 'k'], onnx.TensorProto.DataType.INT64)],
  });
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph })).finish();
}

/** A CommonJS package imported from ESM may arrive under `default`. */
function interop<T extends object>(mod: T): T {
  return 'default' in mod && typeof mod.default === 'object' && mod.default !== null ? (mod.default as T) : mod;
}
