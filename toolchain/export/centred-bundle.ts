import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadBundle } from '../../sdk/bundle/load-bundle';
import type { BundleManifest, BundleManifestInput } from '../../sdk/bundle/manifest';
import { FaceEngine } from '../../sdk/engine/face-engine';
import type { Frame } from '../../sdk/types';
import { ContractError, InvalidArgumentError } from '../../sdk/errors';
import { addModelFile, writeBundleFiles } from '../bundle/write-bundle';
import { encodeModel, readModel } from '../onnx/model-io';
import { appendEmbeddingTransform } from './embedding-transform-graph';
import { measureEmbeddings, type MeasureOptions, type MeasuredEmbeddings } from './measure-embeddings';
import { applyEmbeddingTransform, checkWhitening, fitEmbeddingTransform, type EmbeddingTransform, type WhiteningOptions } from './embedding-whitening';
import { derivedModelCard } from './model-card';

export interface CentredBundleOptions extends MeasureOptions {
  /** An un-centred joint bundle. */
  from: string;
  out: string;
  /** Also whiten within-person variation (WCCN); needs several images per person in the list. */
  whiten?: WhiteningOptions;
  /** The new bundle's match threshold (re-tune it: centring spreads the cosines). Default: the source's. */
  matchThreshold?: number;
  /** Numbers measured on the centred bundle, recorded in its manifest and card. */
  metrics?: Record<string, number | string | boolean>;
  /** Markdown for the model card: a `## Section` the source's card has replaces it (e.g. the match threshold); others are added. */
  notes?: string;
}

/** Metrics that describe the weights and the graph, not the embeddings: still true after centring. */
const CARRIED_METRICS = ['input_size', 'gflops', 'gflops_per_face', 'params', 'export_max_abs_diff_scores', 'export_max_abs_diff_embeddings', 'train_recipe', 'train_minutes'];
/** Against normalize(W·(e − c)) of the source on the measured frames. */
const CHECK_TOLERANCE = 1e-4;

/**
 * Measures a joint bundle's embeddings of training crops and writes a bundle whose graph centres
 * them (and, with `whiten`, damps within-person variation): same weights, same faces, embeddings
 * that spread people apart. The result is checked against the source before it is kept.
 */
export async function writeCentredBundle(options: CentredBundleOptions): Promise<{ manifest: BundleManifest; transform: EmbeddingTransform; maxAbsDiff: number }> {
  const from = resolve(options.from);
  const out = resolve(options.out);
  if (from === out) throw new InvalidArgumentError('--out', 'a folder other than the source bundle', options.out);
  if (options.whiten) checkWhitening(options.whiten);
  const source = (await loadBundle(from)).manifest;
  if (source.kind !== 'joint') throw new InvalidArgumentError('--bundle', 'a joint bundle', source.kind);
  const measured = await measureEmbeddings(from, options);
  const transform = fitEmbeddingTransform(measured.embeddings, measured.identities, options.whiten);

  const scratch = await mkdtemp(join(tmpdir(), 'jetface-centre-'));
  try {
    const file = join(scratch, 'model.onnx');
    await writeFile(file, encodeModel(appendEmbeddingTransform(await readModel(join(from, source.model.file)), transform, source.outputs.embeddings)));
    const sha = await addModelFile(out, file, 'model.onnx');
    const carried = Object.fromEntries(Object.entries(source.metrics ?? {}).filter(([k]) => CARRIED_METRICS.includes(k)));
    const w = transform.whitening;
    const metrics = {
      ...carried,
      centred_from: source.modelId,
      centre_faces: transform.faces,
      centre_norm: round(transform.norm),
      ...(w ? { whitening_alpha: w.alpha, whitening_reg: w.reg, whitening_people: w.identities, whitening_faces: w.facesInClasses } : {}),
      ...options.metrics,
    };
    // A new embedding space: not the one a pruned source reproduced.
    const { embeddingSpace: _space, ...kept } = source;
    const manifest: BundleManifestInput = {
      ...kept,
      modelId: `${source.name}:${sha.slice(0, 12)}`,
      model: { file: 'model.onnx', sha256: sha },
      thresholds: { ...source.thresholds, ...(options.matchThreshold !== undefined ? { match: options.matchThreshold } : {}) },
      metrics,
    };
    const written = await writeBundleFiles(out, manifest, await centredCard(from, source, measured, transform, metrics, options.notes));
    const maxAbsDiff = await checkCentred(from, out, measured.checkFrames, transform);
    if (!(maxAbsDiff <= CHECK_TOLERANCE)) {
      await rm(out, { recursive: true, force: true });
      throw new ContractError(`the transformed graph does not reproduce normalize(W·(e - c)) of ${source.modelId}: max |Δ| ${maxAbsDiff} over ${measured.checkFrames.length} frames (tolerance ${CHECK_TOLERANCE})`);
    }
    return { manifest: written, transform, maxAbsDiff };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Largest difference between the centred bundle's embeddings and the source's, centred on the host; boxes must not move at all. */
async function checkCentred(from: string, out: string, frames: readonly Frame[], transform: EmbeddingTransform): Promise<number> {
  const [plain, centred] = [await FaceEngine.create(from, { providers: ['cpu'] }), await FaceEngine.create(out, { providers: ['cpu'] })];
  try {
    let worst = 0;
    for (const frame of frames) {
      const [a, b] = [await plain.detect(frame), await centred.detect(frame)];
      if (a.length !== b.length || a.some((f, i) => f.box.some((v, k) => v !== b[i]!.box[k]))) return Number.POSITIVE_INFINITY;
      a.forEach((f, i) => applyEmbeddingTransform(transform, f.embedding).forEach((v, k) => (worst = Math.max(worst, Math.abs(v - b[i]!.embedding[k]!)))));
    }
    return worst;
  } finally {
    await Promise.all([plain.close(), centred.close()]);
  }
}

/** The source's card with a section on centring, the new numbers in place of the old ones. */
async function centredCard(from: string, source: BundleManifest, measured: MeasuredEmbeddings, transform: EmbeddingTransform, metrics: Record<string, unknown>, notes?: string): Promise<string> {
  const w = transform.whitening;
  const card = await readFile(join(from, 'MODEL_CARD.md'), 'utf8').catch(() => `# ${source.name}\n`);
  const section = `## Centred embeddings

Made by \`jetface bundle centre\` from \`${source.modelId}\`: its mean unit embedding over ${transform.faces} training faces
(${measured.images} images on the ${measured.canvas} px ${measured.fill} canvas; norm ${round(transform.norm)}) is subtracted inside the graph
before the final normalization. A direction every face shares carries no identity; taking it out
spreads different people apart.${w ? ` Then within-class covariance normalization (WCCN): the centred embedding is multiplied by
Sw^(−${w.alpha}/2), Sw being the covariance of each face around its own person's mean over ${w.facesInClasses} faces of
${w.identities} people, each eigenvalue raised by ${w.reg}x their mean. Directions in which one person's photos vary are damped.` : ''}
Weights, boxes and landmarks are the source's. Embeddings are not comparable with the source's: re-enroll.
`;
  return derivedModelCard(card, section, metrics, notes);
}

function round(v: number): number {
  return Math.round(v * 10000) / 10000;
}
