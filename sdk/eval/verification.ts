/**
 * LFW-style face verification metrics: the pair-list parser and the standard 10-fold protocol
 * (accuracy ± std), plus the true-accept rate at a false-accept rate of 1e-3.
 *
 * Pure and dependency-free: callers compute one similarity score per pair (higher = more alike)
 * and hand the scores in; nothing here touches images or models.
 */
import { join } from 'node:path';
import { InputFileError, InvalidArgumentError } from '../errors';

/**
 * One side of a pair: a person's folder name and the 1-based image number inside it.
 *
 * @example
 * ```ts
 * const ref: PairRef = { name: 'Al_Pacino', index: 2 };
 * ```
 */
export interface PairRef {
  name: string;
  index: number;
}

/**
 * Two images and whether they show the same person.
 *
 * @example
 * ```ts
 * const pair: Pair = { a: { name: 'Al_Pacino', index: 1 }, b: { name: 'Al_Pacino', index: 2 }, same: true };
 * ```
 */
export interface Pair {
  a: PairRef;
  b: PairRef;
  same: boolean;
}

const INTEGER = /^\d+$/;

/**
 * Parses an LFW pair list (`pairs.txt`, `pairsDevTest.txt`, ...).
 *
 * Lines are `name i j` (same person) or `name1 i name2 j` (different people), separated by tabs
 * or spaces. The first non-blank line may be a header of one or two integers (`1000`, `10\t300`);
 * it is recognised because it holds only integers, and skipped. Blank lines are ignored.
 *
 * @param text - the file's contents.
 * @param file - the file's name, used in error messages only.
 * @returns the pairs in file order (the 10-fold protocol depends on that order).
 * @throws InputFileError naming the line number for any malformed line, or when there are no pairs.
 *
 * @example
 * ```ts
 * const pairs = parsePairs('2\nAl_Pacino\t1\t2\nAl_Pacino\t1\tZico\t3\n', 'pairs.txt');
 * // pairs[0].same === true, pairs[1].b -> { name: 'Zico', index: 3 }
 * ```
 */
export function parsePairs(text: string, file: string): Pair[] {
  const pairs: Pair[] = [];
  let sawContent = false;
  text.split(/\r?\n/).forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/).filter((f) => f !== '');
    if (fields.length === 0) return;
    const first = !sawContent;
    sawContent = true;
    // Only the first line may be a header; an all-integer line later on is an error.
    if (first && isHeader(fields)) return;
    pairs.push(parsePairLine(fields, i + 1, file));
  });
  if (pairs.length === 0) throw new InputFileError(file, 'no pairs found', { pairs: 0 });
  return pairs;
}

function isHeader(fields: readonly string[]): boolean {
  return fields.length <= 2 && fields.every((f) => INTEGER.test(f));
}

function parsePairLine(fields: readonly string[], line: number, file: string): Pair {
  const [f0 = '', f1 = '', f2 = '', f3 = ''] = fields;
  if (fields.length === 3) {
    const name = parseName(f0, line, file);
    return { a: { name, index: parseIndex(f1, line, file) }, b: { name, index: parseIndex(f2, line, file) }, same: true };
  }
  if (fields.length === 4) {
    return {
      a: { name: parseName(f0, line, file), index: parseIndex(f1, line, file) },
      b: { name: parseName(f2, line, file), index: parseIndex(f3, line, file) },
      same: false,
    };
  }
  throw new InputFileError(
    file,
    `line ${line}: expected 'name i j' or 'name1 i name2 j' but found ${fields.length} field(s)`,
    { line },
  );
}

function parseName(field: string, line: number, file: string): string {
  // A number where a name belongs means the columns are shifted (e.g. a header line in the middle).
  if (INTEGER.test(field)) throw new InputFileError(file, `line ${line}: expected a person's name but found '${field}'`, { line });
  return field;
}

function parseIndex(field: string, line: number, file: string): number {
  const index = INTEGER.test(field) ? Number(field) : NaN;
  // LFW numbers images from 1 (Name_0001.jpg).
  if (!Number.isSafeInteger(index) || index < 1) {
    throw new InputFileError(file, `line ${line}: expected an image number >= 1 but found '${field}'`, { line });
  }
  return index;
}

/**
 * The image file of a pair side in the LFW folder layout: `<root>/<name>/<name>_<NNNN>.jpg`.
 *
 * @example
 * ```ts
 * lfwImagePath('data/lfw/images', { name: 'Al_Pacino', index: 2 }); // 'data/lfw/images/Al_Pacino/Al_Pacino_0002.jpg'
 * ```
 */
export function lfwImagePath(root: string, ref: PairRef): string {
  return join(root, ref.name, `${ref.name}_${String(ref.index).padStart(4, '0')}.jpg`);
}

/**
 * Result of {@link evaluateVerification}. A pair is accepted as "same person" when its score is
 * strictly greater than the threshold.
 *
 * @example
 * ```ts
 * const r: VerificationResult = evaluateVerification(scores, same, failed);
 * console.log(`${(r.accuracy * 100).toFixed(2)}% ± ${(r.accuracyStd * 100).toFixed(2)}`);
 * ```
 */
export interface VerificationResult {
  /** Number of pairs evaluated. */
  pairs: number;
  /** Pairs where no face was found in one or both images; each counts as an error. */
  failedPairs: number;
  /** Mean of the held-out fold accuracies. */
  accuracy: number;
  /** Population standard deviation of the fold accuracies. */
  accuracyStd: number;
  /** Mean of the thresholds chosen on each fold's training part. */
  threshold: number;
  /** True-accept rate among all same-person pairs at {@link farThreshold}. */
  tarAtFar1e3: number;
  /** Smallest threshold whose false-accept rate is at most 1e-3 (`-Infinity` when any threshold qualifies). */
  farThreshold: number;
  /** Accuracy on each held-out fold, in fold order. */
  folds: number[];
}

/**
 * Runs the LFW verification protocol on precomputed pair scores.
 *
 * - Same-person and different-person pairs are each split into `folds` contiguous runs in the
 *   given order, and fold k joins the k-th run of both (LFW View 2's official folds; balanced
 *   folds for View 1 files, which list all same pairs first).
 * - For each fold, the threshold maximising accuracy on the other folds is chosen among the
 *   midpoints between consecutive distinct scores plus one value below the lowest and one above
 *   the highest score (ties: the lowest such threshold); accuracy is then measured on the fold.
 * - A pair with `failed[i]` (no face found) is always an error, in threshold selection and in
 *   testing, whatever its score: skipping it would flatter the result.
 * - TAR@FAR=1e-3: `farThreshold` is the smallest threshold at which at most
 *   `floor(1e-3 * different)` different-person pairs score strictly above it, over all pairs.
 *   A failed pair is never accepted, so failed same-person pairs lower the TAR and failed
 *   different-person pairs count as correctly rejected. With no same-person pairs TAR is 0.
 *
 * @param scores - similarity per pair, higher = more alike; ignored (may be NaN) for failed pairs.
 * @param same - ground truth per pair.
 * @param failed - whether face detection failed for the pair.
 * @param folds - number of folds (LFW: 10).
 * @throws InvalidArgumentError when lengths differ, there are fewer pairs than folds, `folds` is
 *   not an integer >= 2, or a non-failed pair has a non-finite score.
 *
 * @example
 * ```ts
 * const r = evaluateVerification(scores, pairs.map((p) => p.same), failed);
 * console.log(r.accuracy, r.tarAtFar1e3);
 * ```
 */
export function evaluateVerification(
  scores: readonly number[],
  same: readonly boolean[],
  failed: readonly boolean[],
  folds = 10,
): VerificationResult {
  validate(scores, same, failed, folds);
  const n = scores.length;
  const foldAccuracies: number[] = [];
  const thresholds: number[] = [];
  const foldOf = assignFolds(same, folds);
  for (let k = 0; k < folds; k++) {
    const train: number[] = [];
    const test: number[] = [];
    for (let i = 0; i < n; i++) (foldOf[i] === k ? test : train).push(i);
    const threshold = bestThreshold(train, scores, same, failed);
    thresholds.push(threshold);
    foldAccuracies.push(accuracyAt(threshold, test, scores, same, failed));
  }
  const { threshold: farThreshold, tar } = tarAtFar(1e-3, scores, same, failed);
  return {
    pairs: n,
    failedPairs: failed.filter(Boolean).length,
    accuracy: mean(foldAccuracies),
    accuracyStd: std(foldAccuracies),
    threshold: mean(thresholds),
    tarAtFar1e3: tar,
    farThreshold,
    folds: foldAccuracies,
  };
}

function validate(scores: readonly number[], same: readonly boolean[], failed: readonly boolean[], folds: number): void {
  if (!Number.isInteger(folds) || folds < 2) throw new InvalidArgumentError('folds', 'an integer >= 2', folds);
  if (same.length !== scores.length) throw new InvalidArgumentError('same.length', `${scores.length} (scores.length)`, same.length);
  if (failed.length !== scores.length) throw new InvalidArgumentError('failed.length', `${scores.length} (scores.length)`, failed.length);
  if (scores.length < folds) throw new InvalidArgumentError('scores.length', `at least ${folds} (one pair per fold)`, scores.length);
  scores.forEach((s, i) => {
    if (!failed[i] && !Number.isFinite(s)) throw new InvalidArgumentError(`scores[${i}]`, 'a finite number', s);
  });
}

/**
 * Threshold maximising accuracy over `indices`. Sweeps the sorted scores once: starting below
 * every score (all accepted: same pairs correct), each step past a group of equal scores turns
 * its different pairs correct and its same pairs wrong. Failed pairs are wrong at any threshold,
 * so they only enlarge the (constant) denominator and need no part in the sweep.
 */
function bestThreshold(
  indices: readonly number[],
  scores: readonly number[],
  same: readonly boolean[],
  failed: readonly boolean[],
): number {
  const scored = indices.filter((i) => !failed[i]).map((i) => ({ score: scores[i] ?? 0, same: same[i] === true }));
  if (scored.length === 0) return 0; // nothing to learn from: every pair is an error anyway
  scored.sort((x, y) => x.score - y.score);
  const lowest = scored[0]?.score ?? 0;
  let correct = scored.filter((p) => p.same).length;
  let best = correct;
  let bestThreshold = lowest - 1;
  for (let i = 0; i < scored.length; ) {
    const score = scored[i]?.score ?? 0;
    for (; i < scored.length && scored[i]?.score === score; i++) correct += scored[i]?.same ? -1 : 1;
    const next = scored[i]?.score;
    const threshold = next === undefined ? score + 1 : (score + next) / 2;
    if (correct > best) {
      best = correct;
      bestThreshold = threshold;
    }
  }
  return bestThreshold;
}

function accuracyAt(threshold: number, indices: readonly number[], scores: readonly number[], same: readonly boolean[], failed: readonly boolean[]): number {
  let correct = 0;
  for (const i of indices) {
    if (!failed[i] && ((scores[i] ?? 0) > threshold) === same[i]) correct++;
  }
  return indices.length === 0 ? 0 : correct / indices.length;
}

/**
 * Fold of each pair: same-person pairs and different-person pairs are each cut into `folds`
 * contiguous runs in file order, and fold k joins the k-th run of both. For LFW's View 2
 * `pairs.txt` (ten sets of 300 same + 300 different) these are exactly the official folds; for
 * View 1 files (`pairsDevTest.txt`: all same pairs, then all different ones) it keeps every fold
 * balanced instead of testing a threshold on a fold of one class only.
 */
function assignFolds(same: readonly boolean[], folds: number): number[] {
  const foldOf = new Array<number>(same.length).fill(0);
  for (const cls of [true, false]) {
    const members = same.flatMap((s, i) => (s === cls ? [i] : []));
    members.forEach((i, rank) => {
      foldOf[i] = Math.floor((rank * folds) / members.length);
    });
  }
  return foldOf;
}

function tarAtFar(
  far: number,
  scores: readonly number[],
  same: readonly boolean[],
  failed: readonly boolean[],
): { threshold: number; tar: number } {
  const diffAll = same.filter((s) => !s).length;
  const sameAll = same.length - diffAll;
  const diffScores = scores.filter((_, i) => !same[i] && !failed[i]).sort((x, y) => y - x);
  const allowed = Math.floor(far * diffAll);
  // Descending d0 >= d1 >= ...: "at most `allowed` above t" holds exactly when t >= d[allowed].
  const threshold = diffScores[allowed] ?? -Infinity;
  const accepted = scores.filter((s, i) => same[i] && !failed[i] && s > threshold).length;
  return { threshold, tar: sameAll === 0 ? 0 : accepted / sameAll };
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function std(values: readonly number[]): number {
  const m = mean(values);
  return Math.sqrt(mean(values.map((v) => (v - m) ** 2)));
}
