import type * as ort from 'onnxruntime-node';
import type { JointManifest } from '../../sdk/bundle/manifest';
import { decodeJointOutputs } from '../../sdk/engine/joint-runner';
import { dot, matchFaces } from '../../sdk/eval/face-match';
import type { Face } from '../../sdk/types';
import type { ModelInput } from './model-input';

/** How far a candidate model's faces are from the reference's on the same inputs. */
export interface Agreement {
  /** 2·matched / (reference faces + candidate faces), faces matched at IoU ≥ 0.5. */
  detectionAgreement: number;
  /** Cosine between the embeddings of matched faces. */
  cosineMean: number;
  cosineP1: number;
  matched: number;
  referenceFaces: number;
  candidateFaces: number;
}

export function agreementOf(reference: readonly Face[][], candidate: readonly Face[][]): Agreement {
  const cosines: number[] = [];
  let refCount = 0;
  let candCount = 0;
  for (let i = 0; i < reference.length; i++) {
    const a = reference[i]!;
    const b = candidate[i]!;
    refCount += a.length;
    candCount += b.length;
    for (const [x, y] of matchFaces(a, b)) cosines.push(dot(a[x]!.embedding, b[y]!.embedding));
  }
  cosines.sort((x, y) => x - y);
  const total = refCount + candCount;
  return {
    detectionAgreement: total === 0 ? 1 : (2 * cosines.length) / total,
    cosineMean: cosines.length ? cosines.reduce((s, c) => s + c, 0) / cosines.length : 0,
    cosineP1: cosines.length ? cosines[Math.floor(cosines.length * 0.01)]! : 0,
    matched: cosines.length,
    referenceFaces: refCount,
    candidateFaces: candCount,
  };
}

/** Faces a raw session finds on prepared inputs, decoded exactly as the SDK's joint runner does. */
export async function facesOf(session: ort.InferenceSession, inputs: readonly ModelInput[], manifest: JointManifest, minScore: number): Promise<Face[][]> {
  const all: Face[][] = [];
  for (const input of inputs) {
    const out = await session.run(input.feeds);
    all.push(decodeJointOutputs(out, manifest, input.resized, input.frame, minScore, 'candidate'));
  }
  return all;
}
