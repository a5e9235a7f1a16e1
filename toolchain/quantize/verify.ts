import { readFile } from 'node:fs/promises';
import { FaceEngine } from '../../sdk/engine/face-engine';
import type { StageTimings } from '../../sdk/engine/runner';
import { InputFileError } from '../../sdk/errors';
import { placeOnCanvas, type CanvasFill } from '../../sdk/eval/canvas';
import { dot, largestFace } from '../../sdk/eval/face-match';
import { evaluateVerification, lfwImagePath, parsePairs } from '../../sdk/eval/verification';
import { loadImageFrame } from '../../sdk/image/decode';
import type { Face } from '../../sdk/types';
import { agreementOf } from './compare';

export interface VerifyOptions {
  reference: string;
  candidate: string;
  pairs: string;
  root: string;
  canvas?: number;
  fill?: CanvasFill;
  onProgress?: (done: number, total: number) => void;
}

interface ModelResult {
  bundle: string;
  precision: string;
  accuracy: number;
  accuracyStd: number;
  tarAtFar1e3: number;
  failedPairs: number;
  /** Median time of the model run itself (onnxruntime's `run` in the engine's worker). */
  modelMs: number;
  /** Median time of the whole `detect()` call: letterbox, worker hop, model, decode. */
  detectMs: number;
}

export interface VerifyReport {
  pairs: number;
  images: number;
  reference: ModelResult;
  candidate: ModelResult;
  /**
   * Reference ms / candidate ms of the model run (median per image, one CPU thread, both timed in
   * this run): what quantization changes. The letterbox and the decode are the same code for both.
   */
  latency_ratio: number;
  /** The same ratio over whole `detect()` calls, host work included. */
  detect_latency_ratio: number;
  /** Verification accuracy lost, in percentage points (negative: the candidate is better). */
  accuracy_drop_points: number;
  embedding_cosine_mean: number;
  embedding_cosine_p1: number;
  detection_agreement: number;
}

/**
 * Compares a candidate bundle (quantized) with its reference (float) on one pair list, image by
 * image in one process: detection agreement and embedding cosine of matched faces, verification
 * accuracy of each, and CPU latency of each with the two engines alternating.
 */
export async function verifyBundles(options: VerifyOptions): Promise<VerifyReport> {
  const text = await readFile(options.pairs, 'utf8').catch((error: unknown) => {
    throw new InputFileError(options.pairs, `cannot read: ${(error as Error).message}`);
  });
  const pairs = parsePairs(text, options.pairs);
  const paths = [...new Set(pairs.flatMap((p) => [lfwImagePath(options.root, p.a), lfwImagePath(options.root, p.b)]))];
  const engines = await Promise.all([options.reference, options.candidate].map((dir) => FaceEngine.create(dir, { providers: ['cpu'], threads: 1 })));
  try {
    const faces: Face[][][] = [[], []];
    const modelTimes: number[][] = [[], []];
    const detectTimes: number[][] = [[], []];
    const embedding: Map<string, Float32Array | null>[] = [new Map(), new Map()];
    for (const [i, path] of paths.entries()) {
      const frame = placeOnCanvas(await loadImageFrame(path), options.canvas ?? 160, options.fill ?? 'grey');
      // Alternate which engine runs first, so neither always meets a warm or a cold cache.
      const order = i % 2 === 0 ? [0, 1] : [1, 0];
      for (const m of order) {
        const start = performance.now();
        const { faces: found, timings } = await engines[m]!.detectWithTimings(frame);
        detectTimes[m]!.push(performance.now() - start);
        modelTimes[m]!.push(modelStagesMs(timings));
        faces[m]!.push(found);
        embedding[m]!.set(path, largestFace(found)?.embedding ?? null);
      }
      options.onProgress?.(i + 1, paths.length);
    }
    const results = [0, 1].map((m): ModelResult => {
      const scores: number[] = [];
      const failed: boolean[] = [];
      for (const p of pairs) {
        const a = embedding[m]!.get(lfwImagePath(options.root, p.a));
        const b = embedding[m]!.get(lfwImagePath(options.root, p.b));
        failed.push(!a || !b);
        scores.push(a && b ? dot(a, b) : Number.NaN);
      }
      const v = evaluateVerification(scores, pairs.map((p) => p.same), failed);
      return {
        bundle: engines[m]!.info.name,
        precision: engines[m]!.info.precision,
        accuracy: v.accuracy,
        accuracyStd: v.accuracyStd,
        tarAtFar1e3: v.tarAtFar1e3,
        failedPairs: v.failedPairs,
        modelMs: median(modelTimes[m]!),
        detectMs: median(detectTimes[m]!),
      };
    });
    const agreement = agreementOf(faces[0]!, faces[1]!);
    const [reference, candidate] = results as [ModelResult, ModelResult];
    return {
      pairs: pairs.length,
      images: paths.length,
      reference,
      candidate,
      latency_ratio: reference.modelMs / candidate.modelMs,
      detect_latency_ratio: reference.detectMs / candidate.detectMs,
      accuracy_drop_points: (reference.accuracy - candidate.accuracy) * 100,
      embedding_cosine_mean: agreement.cosineMean,
      embedding_cosine_p1: agreement.cosineP1,
      detection_agreement: agreement.detectionAgreement,
    };
  } finally {
    await Promise.all(engines.map((e) => e.close()));
  }
}

/** The joint runner's model run; for a cascade, its detector run plus the recognizer stage (crop alignment included). */
function modelStagesMs(timings: StageTimings): number {
  return timings['model'] ?? (timings['detector'] ?? 0) + (timings['recognizer'] ?? 0);
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : Number.NaN;
}
