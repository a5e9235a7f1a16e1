import fs from 'node:fs';
import path from 'node:path';
import { InputFileError, InvalidArgumentError } from '../sdk/errors';
import { evaluateVerification, lfwImagePath, parsePairs } from '../sdk/eval/verification';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to throw');
}

describe('parsePairs', () => {
  test('reads same and different pairs, tabs or spaces, and skips a one-integer header', () => {
    const pairs = parsePairs('2\nAl_Pacino\t1\t2\nAl_Pacino  1   Zico 3\n', 'pairs.txt');
    expect(pairs).toEqual([
      { a: { name: 'Al_Pacino', index: 1 }, b: { name: 'Al_Pacino', index: 2 }, same: true },
      { a: { name: 'Al_Pacino', index: 1 }, b: { name: 'Zico', index: 3 }, same: false },
    ]);
  });

  test('skips a two-integer header (folds, pairs per fold), blank lines and CRLF', () => {
    const pairs = parsePairs('10\t300\r\n\r\nA\t1\t2\r\n\r\nB\t4\tC\t5\r\n', 'pairs.txt');
    expect(pairs).toHaveLength(2);
    expect(pairs.map((p) => p.same)).toEqual([true, false]);
  });

  test('without a header the first line is a pair', () => {
    expect(parsePairs('A 1 2\n', 'p.txt')).toEqual([{ a: { name: 'A', index: 1 }, b: { name: 'A', index: 2 }, same: true }]);
  });

  test('a header-like line after the first line is an error, not a header', () => {
    const e = thrown(() => parsePairs('A 1 2\n10 300\n', 'p.txt'));
    expect(e).toBeInstanceOf(InputFileError);
    expect((e as Error).message).toContain('line 2');
  });

  test.each([
    ['A 1\n', 'line 1', '2 field(s)'],
    ['A 1 2\n\nB 1 C 2 D\n', 'line 3', '5 field(s)'],
    ['A 1 x\n', 'line 1', "'x'"],
    ['A 0 1\n', 'line 1', 'image number >= 1'],
    ['A 1 2\nB 1.5 C 2\n', 'line 2', "'1.5'"],
    ['A 1 2\nB 1 7 2\n', 'line 2', "name but found '7'"],
  ])('malformed input %j names %s', (text, line, what) => {
    const e = thrown(() => parsePairs(text, 'pairs.txt'));
    expect(e).toBeInstanceOf(InputFileError);
    expect((e as InputFileError).code).toBe('E_INPUT_FILE');
    expect((e as Error).message).toContain('pairs.txt');
    expect((e as Error).message).toContain(`${line}:`);
    expect((e as Error).message).toContain(what);
  });

  test.each([[''], ['\n\n'], ['1000\n']])('no pairs in %j is an error', (text) => {
    const e = thrown(() => parsePairs(text, 'empty.txt'));
    expect(e).toBeInstanceOf(InputFileError);
    expect((e as Error).message).toContain('no pairs');
  });

  const devTest = path.resolve(__dirname, '../../shared/data/lfw/pairsDevTest.txt');
  const haveDevTest = fs.existsSync(devTest);
  if (!haveDevTest) console.warn(`skipping the pairsDevTest.txt test: ${devTest} is absent`);
  (haveDevTest ? test : test.skip)('the real LFW pairsDevTest.txt parses to 1000 pairs, 500 same', () => {
    const pairs = parsePairs(fs.readFileSync(devTest, 'utf8'), devTest);
    expect(pairs).toHaveLength(1000);
    expect(pairs.filter((p) => p.same)).toHaveLength(500);
    expect(pairs[0]).toEqual({ a: { name: 'Abdullah_Gul', index: 13 }, b: { name: 'Abdullah_Gul', index: 14 }, same: true });
  });
});

describe('lfwImagePath', () => {
  test('zero-pads the index to four digits under the person folder', () => {
    expect(lfwImagePath('/data/lfw', { name: 'Al_Pacino', index: 2 })).toBe('/data/lfw/Al_Pacino/Al_Pacino_0002.jpg');
    expect(lfwImagePath('root/', { name: 'George_W_Bush', index: 530 })).toBe('root/George_W_Bush/George_W_Bush_0530.jpg');
  });
});

/** n pairs alternating same/different; same pairs score 0.9, different 0.1 (perfectly separable). */
function separable(n: number): { scores: number[]; same: boolean[]; failed: boolean[] } {
  const same = Array.from({ length: n }, (_, i) => i % 2 === 0);
  return { scores: same.map((s) => (s ? 0.9 : 0.1)), same, failed: same.map(() => false) };
}

describe('evaluateVerification', () => {
  test('perfectly separable scores give accuracy 1, std 0 and a threshold between the classes', () => {
    const { scores, same, failed } = separable(20);
    const r = evaluateVerification(scores, same, failed);
    expect(r.pairs).toBe(20);
    expect(r.failedPairs).toBe(0);
    expect(r.accuracy).toBe(1);
    expect(r.accuracyStd).toBe(0);
    expect(r.folds).toEqual(new Array(10).fill(1));
    expect(r.threshold).toBeCloseTo(0.5, 12);
    expect(r.tarAtFar1e3).toBe(1);
    expect(r.farThreshold).toBe(0.1);
  });

  test('a failed pair is an error even with a correct score: its fold loses exactly 1/foldsize', () => {
    const { scores, same, failed } = separable(20);
    failed[0] = true; // fold 0 holds pairs 0 and 1
    const r = evaluateVerification(scores, same, failed);
    expect(r.failedPairs).toBe(1);
    expect(r.folds).toEqual([0.5, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(r.accuracy).toBeCloseTo(0.95, 12);
    expect(r.accuracyStd).toBeCloseTo(0.15, 12);
    expect(r.tarAtFar1e3).toBeCloseTo(9 / 10, 12); // the failed same pair is never accepted
  });

  test('a failed pair may carry any score, NaN included', () => {
    const { scores, same, failed } = separable(20);
    scores[3] = NaN;
    failed[3] = true;
    expect(evaluateVerification(scores, same, failed).folds[1]).toBe(0.5);
  });

  test('folds are balanced per class: a View 1 file (all same pairs, then all different) still gets mixed folds', () => {
    // 20 same then 20 different: fold k holds same pairs 2k, 2k+1 and different pairs 20+2k, 21+2k.
    const same = [...new Array(20).fill(true), ...new Array(20).fill(false)] as boolean[];
    const scores = same.map((s) => (s ? 0.9 : 0.1));
    const failed = same.map(() => false);
    failed[21] = true; // a different pair of fold 0
    const r = evaluateVerification(scores, same, failed);
    expect(r.folds[0]).toBeCloseTo(3 / 4, 12);
    expect(r.folds.slice(1)).toEqual(new Array(9).fill(1));
    // A contiguous split would have tested fold 0 on same pairs only and learned nothing of them.
    expect(r.threshold).toBeCloseTo(0.5, 12);
  });

  test('uneven class sizes floor-split within each class', () => {
    // 25 alternating pairs: 13 same, 12 different. Same pair of rank 1 (pair 2) is in fold floor(1*10/13) = 0.
    const { scores, same, failed } = separable(25);
    failed[2] = true;
    const r = evaluateVerification(scores, same, failed);
    // fold 0 holds same ranks 0,1 (pairs 0, 2; floor(10/13) = 0) and different ranks 0,1
    // (pairs 1, 3; floor(10/12) = 0): one of four fails.
    expect(r.folds[0]).toBeCloseTo(3 / 4, 12);
    expect(r.folds.slice(1)).toEqual(new Array(9).fill(1));
  });

  test('hand-computed 2-fold case: threshold chosen on the other fold, lowest on ties', () => {
    // fold 0: (0.9 same, 0.1 diff); fold 1: (0.6 diff, 0.4 same).
    // Train on fold 1: accept-all (t = 0.4 - 1) and reject-all both get 1 of 2 -> lowest, -0.6;
    //   fold 0 at t = -0.6: 0.9 same accepted (right), 0.1 diff accepted (wrong) -> 0.5.
    // Train on fold 0: t = 0.5 gets 2 of 2; fold 1 at 0.5: both wrong -> 0.
    const r = evaluateVerification([0.9, 0.1, 0.6, 0.4], [true, false, false, true], [false, false, false, false], 2);
    expect(r.folds).toEqual([0.5, 0]);
    expect(r.accuracy).toBe(0.25);
    expect(r.accuracyStd).toBe(0.25);
    expect(r.threshold).toBeCloseTo((-0.6 + 0.5) / 2, 12);
  });

  test('matches a brute-force reference on random data with ties and failures', () => {
    const rand = lcg(7);
    for (let trial = 0; trial < 20; trial++) {
      const n = 30 + Math.floor(rand() * 40);
      const same = Array.from({ length: n }, () => rand() < 0.5);
      // Rounded scores create ties; same pairs skew higher so thresholds matter.
      const scores = same.map((s) => Math.round((rand() + (s ? 0.4 : 0)) * 10) / 10);
      const failed = same.map(() => rand() < 0.1);
      const r = evaluateVerification(scores, same, failed, 5);
      const expected = referenceFolds(scores, same, failed, 5);
      expect(r.folds.length).toBe(5);
      r.folds.forEach((acc, k) => expect(acc).toBeCloseTo(expected.folds[k] ?? NaN, 12));
      expect(r.threshold).toBeCloseTo(expected.threshold, 12);
    }
  });

  test('TAR@FAR=1e-3 uses floor(1e-3 * different) false accepts, strict ">" acceptance', () => {
    // 2000 different pairs -> at most 2 may score above the threshold: 0.9 and 0.8, so t = 0.6.
    const diff = [0.9, 0.8, 0.6, ...new Array<number>(1997).fill(0)];
    const sameScores = [0.95, 0.85, 0.65, 0.6, 0.3, 0.99];
    const scores = [...sameScores, ...diff];
    const same = [...sameScores.map(() => true), ...diff.map(() => false)];
    const failed = scores.map((_, i) => i === 5); // the 0.99 same pair found no face
    const r = evaluateVerification(scores, same, failed);
    expect(r.farThreshold).toBe(0.6);
    // 0.95, 0.85, 0.65 accepted; 0.6 is not > 0.6; the failed pair never is: 3 of 6.
    expect(r.tarAtFar1e3).toBe(0.5);
  });

  test('failed different pairs count in the FAR denominator as rejections', () => {
    // 999 scored + 1 failed different pair = 1000 -> one false accept allowed -> t = second highest.
    const diff = [0.7, 0.5, ...new Array<number>(998).fill(0)];
    const scores = [0.6, 0.4, ...diff];
    const same = [true, true, ...diff.map(() => false)];
    const failed = scores.map((_, i) => i === scores.length - 1);
    const r = evaluateVerification(scores, same, failed);
    expect(r.farThreshold).toBe(0.5);
    expect(r.tarAtFar1e3).toBe(0.5);
  });

  test('with every different pair failed, any threshold meets the FAR', () => {
    const { scores, same } = separable(20);
    const failed = same.map((s) => !s);
    const r = evaluateVerification(scores, same, failed);
    expect(r.farThreshold).toBe(-Infinity);
    expect(r.tarAtFar1e3).toBe(1);
  });

  test('handles LFW-size input quickly', () => {
    const rand = lcg(1);
    const n = 6000;
    const same = Array.from({ length: n }, (_, i) => i % 2 === 0);
    const scores = same.map((s) => rand() + (s ? 0.5 : 0));
    const started = Date.now();
    const r = evaluateVerification(scores, same, same.map(() => false));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(r.accuracy).toBeGreaterThan(0.7);
    expect(r.accuracy).toBeLessThan(0.8); // two overlapping uniforms: 0.75 at best
  });

  test.each([
    ['same.length', () => evaluateVerification([0.1, 0.2], [true], [false, false], 2)],
    ['failed.length', () => evaluateVerification([0.1, 0.2], [true, false], [false], 2)],
    ['scores.length', () => evaluateVerification([0.1, 0.2], [true, false], [false, false], 3)],
    ['folds', () => evaluateVerification([0.1, 0.2], [true, false], [false, false], 1)],
    ['folds', () => evaluateVerification([0.1, 0.2], [true, false], [false, false], 1.5)],
    ['scores[1]', () => evaluateVerification([0.1, NaN], [true, false], [false, false], 2)],
  ])('rejects bad input: %s', (name, call) => {
    const e = thrown(call);
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).details['name']).toBe(name);
  });
});

/** Deterministic uniform [0, 1) generator so failures reproduce. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** O(n^2) reference: try every candidate threshold on the training folds, keep the first best. */
function referenceFolds(
  scores: number[],
  same: boolean[],
  failed: boolean[],
  k: number,
): { folds: number[]; threshold: number } {
  const n = scores.length;
  const folds: number[] = [];
  const thresholds: number[] = [];
  const acc = (t: number, idx: number[]): number =>
    idx.filter((i) => !failed[i] && ((scores[i] ?? 0) > t) === same[i]).length / idx.length;
  // Fold of each pair, by its rank within its own class (same / different).
  const foldOf = new Array<number>(n).fill(0);
  for (const cls of [true, false]) {
    const members = same.map((s, i) => (s === cls ? i : -1)).filter((i) => i >= 0);
    members.forEach((i, rank) => (foldOf[i] = Math.floor((rank * k) / members.length)));
  }
  for (let f = 0; f < k; f++) {
    const all = Array.from({ length: n }, (_, i) => i);
    const train = all.filter((i) => foldOf[i] !== f);
    const test = all.filter((i) => foldOf[i] === f);
    const u = [...new Set(train.filter((i) => !failed[i]).map((i) => scores[i] ?? 0))].sort((a, b) => a - b);
    const candidates = u.length === 0 ? [0] : [(u[0] ?? 0) - 1, ...u.slice(1).map((s, i) => ((u[i] ?? 0) + s) / 2), (u[u.length - 1] ?? 0) + 1];
    let best = candidates[0] ?? 0;
    for (const t of candidates) if (acc(t, train) > acc(best, train)) best = t;
    thresholds.push(best);
    folds.push(acc(best, test));
  }
  return { folds, threshold: thresholds.reduce((a, b) => a + b, 0) / k };
}
