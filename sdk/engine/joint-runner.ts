import * as ort from 'onnxruntime-node';
import type { ModelBundle } from '../bundle/load-bundle';
import type { JointManifest } from '../bundle/manifest';
import { ContractError } from '../errors';
import type { Box, Face, Frame, Landmarks } from '../types';
import { l2Normalize } from './align';
import { checkModelContract } from './contract';
import { nonMaxSuppression } from './nms';
import { autoSecondPass, mergePasses, placeFrame, type InputPlacement, type InputSizePolicy } from './input-size';
import { placeScaled, resizeForModel, toFrameCoordinates, toInputTensor, type ResizedImage } from './preprocess';
import { blankFrame, elapsedMs, type DetectOutput, type FaceRunner } from './runner';
import { openSession, type SessionSettings } from './session';

/**
 * The single-pass model: one run yields the candidates with boxes, landmarks and embeddings
 * (a fixed top-K, or only the faces that survive the graph's own threshold and NMS); the host
 * applies the caller's score threshold and NMS.
 */
export async function createJointRunner(bundle: ModelBundle, settings: SessionSettings, inputSize: InputSizePolicy = 'bundle'): Promise<FaceRunner> {
  const manifest = bundle.manifest as JointManifest;
  const path = bundle.modelFiles[0]!.path;
  const opened = await openSession(path, settings);
  const { outputs, input } = manifest;
  try {
    checkModelContract(opened.session, path, input, [outputs.scores, outputs.boxes, outputs.landmarks, outputs.embeddings]);
  } catch (error) {
    await opened.session.release();
    throw error;
  }

  const runner: FaceRunner = {
    provider: opened.provider,
    attempts: opened.attempts,
    async warmup(): Promise<void> {
      await runner.detect(blankFrame(input.width, input.height), 1.01);
    },
    async detect(frame: Frame, minScore: number): Promise<DetectOutput> {
      const timings: DetectOutput['timings'] = {};
      const faces = await pass(frame, placeFrame(frame, manifest, inputSize), minScore, timings, '');
      const second = inputSize === 'auto' ? autoSecondPass(frame, manifest, faces) : undefined;
      if (!second) return { faces, timings };
      // Stages of the larger pass are timed under their own names, so per-stage figures stay comparable.
      const fine = await pass(frame, second, minScore, timings, '_fine');
      return { faces: mergePasses(faces, fine, frame, manifest), timings };
    },
    async close(): Promise<void> {
      await opened.session.release();
    },
  };
  /** One run of the graph on the frame placed as `place`; stage times go to `timings` with `suffix`. */
  async function pass(frame: Frame, place: InputPlacement, minScore: number, timings: DetectOutput['timings'], suffix: string): Promise<Face[]> {
    let t = process.hrtime.bigint();
    const resized =
      place.scale === undefined ? await resizeForModel(frame, input.width, input.height, input.resize) : await placeScaled(frame, place.scale, place.width, place.height);
    const tensor = toInputTensor(resized.pixels, resized.width, resized.height, frame.format, input);
    timings[`preprocess${suffix}`] = elapsedMs(t);

    t = process.hrtime.bigint();
    const out = await opened.session.run({ [input.name]: new ort.Tensor(input.dtype, tensor.data, tensor.dims) });
    timings[`model${suffix}`] = elapsedMs(t);

    t = process.hrtime.bigint();
    const faces = decodeJointOutputs(out, manifest, resized, frame, minScore, path);
    timings[`decode${suffix}`] = elapsedMs(t);
    return faces;
  }

  return runner;
}

/**
 * The joint graph's candidates -> faces in frame pixels: score threshold, NMS (idempotent when the
 * graph already ran it, and it applies a stricter `nmsIou`), landmarks and unit embeddings of the
 * survivors. Checks output types and sizes against the manifest.
 */
export function decodeJointOutputs(
  out: Record<string, ort.Tensor>,
  manifest: JointManifest,
  resized: ResizedImage,
  frame: Pick<Frame, 'width' | 'height'>,
  minScore: number,
  path: string,
): Face[] {
  const { outputs, topK, embeddingDim } = manifest;
  for (const name of Object.values(outputs)) {
    if (out[name]?.type !== 'float32') throw new ContractError(`${path}: output "${name}" is ${out[name]?.type ?? 'missing'}, the joint contract needs float32`);
  }
  const scores = out[outputs.scores]!.data as Float32Array;
  const boxes = out[outputs.boxes]!.data as Float32Array;
  const marks = out[outputs.landmarks]!.data as Float32Array;
  const embeddings = out[outputs.embeddings]!.data as Float32Array;
  // With in-graph NMS the graph emits K ≤ topK survivors; otherwise exactly topK candidates.
  const count = manifest.inGraphNms ? scores.length : topK;
  if (count > topK || scores.length !== count || boxes.length !== count * 4 || marks.length !== count * 10 || embeddings.length !== count * embeddingDim) {
    throw new ContractError(
      `${path}: outputs hold ${scores.length} scores / ${boxes.length / 4} boxes / ${marks.length / 10} landmark sets / ${embeddings.length} embedding values, the manifest promises ${manifest.inGraphNms ? 'at most' : 'exactly'} ${topK} candidates of dimension ${embeddingDim}`,
    );
  }
  const kept: number[] = [];
  for (let k = 0; k < count; k++) if (scores[k]! >= minScore) kept.push(k);
  const candidateBoxes = kept.map((k) => Array.from(boxes.subarray(k * 4, k * 4 + 4)) as Box);
  const keep = nonMaxSuppression(candidateBoxes, kept.map((k) => scores[k]!), manifest.thresholds.nmsIou, manifest.maxFaces);
  return keep.map((i) => {
    const k = kept[i]!;
    const landmarks = [0, 1, 2, 3, 4].map((p) => [marks[k * 10 + 2 * p]!, marks[k * 10 + 2 * p + 1]!]) as Landmarks;
    const face = toFrameCoordinates({ box: candidateBoxes[i]!, score: scores[k]!, landmarks }, resized.scaleX, resized.scaleY, frame);
    return { ...face, embedding: l2Normalize(embeddings.slice(k * embeddingDim, (k + 1) * embeddingDim)) };
  });
}
