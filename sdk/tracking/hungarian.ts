/**
 * Minimum-cost assignment (Hungarian / Kuhn-Munkres with potentials, O(n²·m)) on a rectangular
 * cost matrix. Pairs whose cost is `Infinity` are forbidden (gated out) and never returned.
 *
 * @example
 * ```ts
 * solveAssignment([[0.1, 0.9], [0.8, 0.2]]); // [[0, 0], [1, 1]]
 * solveAssignment([[Infinity]]);             // []
 * ```
 * @returns `[row, column]` pairs, at most one per row and per column.
 */
export function solveAssignment(costs: readonly (readonly number[])[]): [row: number, col: number][] {
  const rows = costs.length;
  const cols = rows > 0 ? costs[0]!.length : 0;
  if (rows === 0 || cols === 0) return [];
  // The algorithm needs rows ≤ columns; transpose otherwise.
  const transposed = rows > cols;
  const n = Math.min(rows, cols);
  const m = Math.max(rows, cols);
  // Forbidden pairs get a finite cost larger than any real assignment, then are dropped.
  let big = 1;
  for (const row of costs) for (const c of row) if (Number.isFinite(c)) big = Math.max(big, Math.abs(c));
  const forbidden = big * (n + 1) * 4;
  const cost = (i: number, j: number): number => {
    const c = transposed ? costs[j]![i]! : costs[i]![j]!;
    return Number.isFinite(c) ? c : forbidden;
  };

  // 1-based arrays as in the classic formulation; p[j] = row matched to column j.
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1);
  const way = new Int32Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(m + 1).fill(Number.POSITIVE_INFINITY);
    const used = new Uint8Array(m + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = Number.POSITIVE_INFINITY;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = cost(i0 - 1, j - 1) - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]!] = u[p[j]!]! + delta;
          v[j] = v[j]! - delta;
        } else minv[j] = minv[j]! - delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }

  const pairs: [number, number][] = [];
  for (let j = 1; j <= m; j++) {
    const i = p[j]!;
    if (i === 0 || cost(i - 1, j - 1) >= forbidden) continue;
    pairs.push(transposed ? [j - 1, i - 1] : [i - 1, j - 1]);
  }
  return pairs.sort((a, b) => a[0] - b[0]);
}
