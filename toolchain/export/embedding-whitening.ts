import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { InputFileError, InvalidArgumentError } from '../../sdk/errors';

/**
 * What `jetface bundle centre` puts after a joint model's embedding: `normalize(W·(e − c))`.
 *
 * - `c`, the mean unit embedding over training faces. The student's embeddings share a direction
 *   (norm 0.36 on LFW's training crops for jetface-s v3) that carries no identity.
 * - `W`, optional within-class covariance normalization (WCCN): `Sw^(−α/2)` with `Sw` the
 *   covariance of each face around its own person's mean, regularized by `reg · mean eigenvalue`.
 *   Directions in which one person's photos vary (pose, light) are damped; those that tell people
 *   apart keep their weight. α = 1 whitens fully; smaller α goes part of the way.
 */
export interface EmbeddingTransform {
  centre: Float32Array;
  /** Row-major D×D, symmetric; absent: centring only. */
  matrix?: Float32Array;
  /** Norm of the mean before it is subtracted. */
  norm: number;
  faces: number;
  whitening?: { alpha: number; reg: number; identities: number; facesInClasses: number };
}

export interface WhiteningOptions {
  alpha: number;
  /** Added to every eigenvalue, as a multiple of their mean (default 1). */
  reg?: number;
}

export function fitEmbeddingTransform(embeddings: readonly Float32Array[], identities: readonly string[], whiten?: WhiteningOptions): EmbeddingTransform {
  const dim = embeddings[0]?.length ?? 0;
  const centre = new Float32Array(dim);
  const sum = new Float64Array(dim);
  for (const e of embeddings) e.forEach((v, k) => (sum[k] = sum[k]! + v));
  sum.forEach((v, k) => (centre[k] = v / embeddings.length));
  const norm = Math.hypot(...centre);
  if (!whiten) return { centre, norm, faces: embeddings.length };

  const { alpha, reg = 1 } = checkWhitening(whiten);
  const { scatter, identities: classes, faces } = withinClassScatter(embeddings, identities, dim);
  if (faces - classes < dim) {
    throw new InputFileError('--list', `${faces} faces of ${classes} people with two or more: too few to estimate a ${dim}x${dim} within-person covariance (want at least ${dim} more faces than people)`);
  }
  const evd = new EigenvalueDecomposition(scatter, { assumeSymmetric: true });
  const values = evd.realEigenvalues;
  const floor = (reg * values.reduce((a, b) => a + b, 0)) / values.length;
  const vectors = evd.eigenvectorMatrix;
  const scaled = vectors.clone();
  values.forEach((v, j) => scaled.mulColumn(j, (Math.max(v, 0) + floor) ** (-alpha / 2)));
  const w = scaled.mmul(vectors.transpose());
  return { centre, norm, faces: embeddings.length, matrix: Float32Array.from(w.to1DArray()), whitening: { alpha, reg, identities: classes, facesInClasses: faces } };
}

/** Refuses α outside (0, 1] and a ridge that is not positive, before anything is measured. */
export function checkWhitening(whiten: WhiteningOptions): WhiteningOptions {
  if (!(whiten.alpha > 0 && whiten.alpha <= 1)) throw new InvalidArgumentError('--whiten', 'a number in (0, 1]', whiten.alpha);
  if (whiten.reg !== undefined && !(whiten.reg > 0)) throw new InvalidArgumentError('--whiten-reg', 'a positive number', whiten.reg);
  return whiten;
}

/** Σ over people with two or more faces of (x − person's mean)(x − person's mean)ᵀ, divided by Σ (n − 1). */
function withinClassScatter(embeddings: readonly Float32Array[], identities: readonly string[], dim: number): { scatter: Matrix; identities: number; faces: number } {
  const groups = new Map<string, Float32Array[]>();
  embeddings.forEach((e, i) => {
    const group = groups.get(identities[i]!);
    if (group) group.push(e);
    else groups.set(identities[i]!, [e]);
  });
  const scatter = Matrix.zeros(dim, dim);
  let classes = 0;
  let faces = 0;
  let dof = 0;
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    const mean = new Float64Array(dim);
    for (const e of group) e.forEach((v, k) => (mean[k] = mean[k]! + v / group.length));
    const deviations = new Matrix(group.map((e) => Array.from(e, (v, k) => v - mean[k]!)));
    scatter.add(deviations.transpose().mmul(deviations));
    classes++;
    faces += group.length;
    dof += group.length - 1;
  }
  return { scatter: dof > 0 ? scatter.div(dof) : scatter, identities: classes, faces };
}

/** The transform applied on the host, as the graph applies it. */
export function applyEmbeddingTransform(t: EmbeddingTransform, e: ArrayLike<number>): number[] {
  const d = Array.from(e, (v, k) => v - t.centre[k]!);
  const m = t.matrix;
  const y = m ? d.map((_, r) => d.reduce((s, v, k) => s + m[r * d.length + k]! * v, 0)) : d;
  const n = Math.max(Math.hypot(...y), 1e-6);
  return y.map((v) => v / n);
}
