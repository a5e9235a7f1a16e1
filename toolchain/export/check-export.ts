import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ContractError } from '../../sdk/errors';

/** Largest absolute difference between onnxruntime-node and PyTorch, per output. */
export interface ExportCheck {
  maxAbsDiff: Record<string, number>;
  /** Candidates compared (the confident ones, whose order cannot flip on rounding). */
  compared: number;
  tolerance: Record<string, number>;
  passed: boolean;
}

/** Tolerances: scores and unit embeddings in absolute units, boxes and landmarks in input pixels. */
export const EXPORT_TOLERANCE: Record<string, number> = { scores: 1e-4, boxes: 1e-2, landmarks: 1e-2, embeddings: 1e-3 };

interface ReferenceMeta {
  input: { name: string; shape: number[] };
  outputs: Record<string, number[]>;
}

/**
 * Runs the exported ONNX file in onnxruntime-node on the reference image the trainer saved and
 * compares every output with PyTorch's. Candidates are compared index by index among those
 * whose score stands clear of its neighbours, since top-K order may legitimately flip between
 * near-equal scores.
 */
export async function checkExport(onnxFile: string, referenceDir: string): Promise<ExportCheck> {
  const meta = JSON.parse(await readFile(join(referenceDir, 'reference.json'), 'utf8')) as ReferenceMeta;
  const image = new Uint8Array(await readFile(join(referenceDir, 'image.u8')));
  const session = await ort.InferenceSession.create(onnxFile, { executionProviders: ['cpu'] });
  try {
    const out = await session.run({ [meta.input.name]: new ort.Tensor('uint8', image, meta.input.shape) });
    const ref: Record<string, Float32Array> = {};
    for (const name of Object.keys(meta.outputs)) {
      const buf = await readFile(join(referenceDir, `${name}.f32`));
      ref[name] = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
      if (!out[name] || out[name]!.data.length !== ref[name]!.length) {
        throw new ContractError(`${onnxFile}: output "${name}" is missing or has the wrong size against the PyTorch reference`);
      }
    }
    const scores = ref['scores']!;
    const k = scores.length;
    const clear: number[] = [];
    for (let i = 0; i < k; i++) {
      const gapPrev = i === 0 ? Infinity : scores[i - 1]! - scores[i]!;
      const gapNext = i === k - 1 ? Infinity : scores[i]! - scores[i + 1]!;
      if (Math.min(gapPrev, gapNext) > 1e-4) clear.push(i); // a swap of two near-equal scores moves only those two
    }
    const maxAbsDiff: Record<string, number> = {};
    for (const name of Object.keys(meta.outputs)) {
      const per = ref[name]!.length / k;
      const got = out[name]!.data as Float32Array;
      let max = 0;
      for (const i of clear) for (let j = 0; j < per; j++) max = Math.max(max, Math.abs(got[i * per + j]! - ref[name]![i * per + j]!));
      maxAbsDiff[name] = max;
    }
    const passed = clear.length > 0 && Object.entries(maxAbsDiff).every(([n, d]) => d <= (EXPORT_TOLERANCE[n] ?? 1e-3));
    return { maxAbsDiff, compared: clear.length, tolerance: EXPORT_TOLERANCE, passed };
  } finally {
    await session.release();
  }
}
