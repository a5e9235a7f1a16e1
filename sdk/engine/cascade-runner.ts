import * as ort from 'onnxruntime-node';
import type { ModelBundle } from '../bundle/load-bundle';
import type { CascadeManifest } from '../bundle/manifest';
import { ContractError } from '../errors';
import type { Face, Frame } from '../types';
import { ARCFACE_112_TEMPLATE, alignedFaceTensor, l2Normalize } from './align';
import { checkModelContract } from './contract';
import { nonMaxSuppression } from './nms';
import { resizeForModel, toFrameCoordinates, toInputTensor } from './preprocess';
import { blankFrame, elapsedMs, type DetectOutput, type FaceRunner } from './runner';
import { openSession, type SessionSettings } from './session';
import { decodeYunet, type YunetStrideOutputs } from './yunet';

/**
 * The reference two-stage pipeline: YuNet finds faces and landmarks on the resized frame, then
 * each face is warped from the full-resolution frame onto the ArcFace template and embedded by
 * the recognizer, one run per face (which is why its cost grows with the number of faces).
 */
export async function createCascadeRunner(bundle: ModelBundle, settings: SessionSettings): Promise<FaceRunner> {
  const manifest = bundle.manifest as CascadeManifest;
  const detectorPath = bundle.modelFiles.find((f) => f.role === 'detector')!.path;
  const recognizerPath = bundle.modelFiles.find((f) => f.role === 'recognizer')!.path;
  const detector = await openSession(detectorPath, settings);
  const strideOutputs = manifest.detector.strides.flatMap((s) => [`cls_${s}`, `obj_${s}`, `bbox_${s}`, `kps_${s}`]);
  try {
    checkModelContract(detector.session, detectorPath, manifest.detector.input, strideOutputs);
  } catch (error) {
    await detector.session.release();
    throw error;
  }
  const recognizer = await openSession(recognizerPath, { ...settings, providers: [detector.provider, ...settings.providers.filter((p) => p !== detector.provider)] });
  try {
    checkModelContract(recognizer.session, recognizerPath, manifest.recognizer.input, [manifest.recognizer.output]);
  } catch (error) {
    await Promise.all([detector.session.release(), recognizer.session.release()]);
    throw error;
  }

  const detIn = manifest.detector.input;
  const recIn = manifest.recognizer.input;
  const recDims = recIn.layout === 'nchw' ? [1, 3, recIn.height, recIn.width] : [1, recIn.height, recIn.width, 3];

  async function embed(frame: Frame, landmarks: Face['landmarks']): Promise<Float32Array> {
    const views = manifest.recognizer.flipAugment ? [false, true] : [false];
    const sum = new Float32Array(manifest.embeddingDim);
    for (const mirror of views) {
      const tensor = new ort.Tensor('float32', alignedFaceTensor(frame, landmarks, recIn, mirror), recDims);
      const result = await recognizer.session.run({ [recIn.name]: tensor });
      const out = result[manifest.recognizer.output]!.data as Float32Array;
      if (out.length !== manifest.embeddingDim) {
        throw new ContractError(`${recognizerPath}: output "${manifest.recognizer.output}" holds ${out.length} values, the manifest says embeddingDim ${manifest.embeddingDim}`);
      }
      // Normalize each view before summing so both views weigh the same.
      const unit = l2Normalize(Float32Array.from(out));
      for (let i = 0; i < sum.length; i++) sum[i] = sum[i]! + unit[i]!;
    }
    return l2Normalize(sum);
  }

  const runner: FaceRunner = {
    provider: detector.provider,
    attempts: detector.attempts,
    async warmup(): Promise<void> {
      const frame = blankFrame(detIn.width, detIn.height);
      await runner.detect(frame, 1.01);
      const s = detIn.width / 112;
      await embed(frame, ARCFACE_112_TEMPLATE.map(([x, y]) => [x * s, y * s]) as Face['landmarks']);
    },
    async detect(frame: Frame, minScore: number): Promise<DetectOutput> {
      let t = process.hrtime.bigint();
      const resized = await resizeForModel(frame, detIn.width, detIn.height, detIn.resize);
      const input = toInputTensor(resized.pixels, resized.width, resized.height, frame.format, detIn);
      const timings: DetectOutput['timings'] = { preprocess: elapsedMs(t) };

      t = process.hrtime.bigint();
      const out = await detector.session.run({ [detIn.name]: new ort.Tensor(detIn.dtype, input.data, input.dims) });
      timings['detector'] = elapsedMs(t);

      t = process.hrtime.bigint();
      const strides: YunetStrideOutputs[] = manifest.detector.strides.map((stride) => ({
        stride,
        cls: out[`cls_${stride}`]!.data as Float32Array,
        obj: out[`obj_${stride}`]!.data as Float32Array,
        bbox: out[`bbox_${stride}`]!.data as Float32Array,
        kps: out[`kps_${stride}`]!.data as Float32Array,
      }));
      const candidates = decodeYunet(strides, detIn.width, detIn.height, minScore);
      const keep = nonMaxSuppression(candidates.map((c) => c.box), candidates.map((c) => c.score), manifest.thresholds.nmsIou, manifest.maxFaces);
      const found = keep.map((i) => toFrameCoordinates(candidates[i]!, resized.scaleX, resized.scaleY, frame));
      timings['decode'] = elapsedMs(t);

      t = process.hrtime.bigint();
      const faces: Face[] = [];
      for (const f of found) faces.push({ ...f, embedding: await embed(frame, f.landmarks) });
      timings['recognizer'] = elapsedMs(t);
      return { faces, timings };
    },
    async close(): Promise<void> {
      await Promise.all([detector.session.release(), recognizer.session.release()]);
    },
  };
  return runner;
}
