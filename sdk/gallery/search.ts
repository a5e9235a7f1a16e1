import type { SearchCandidate, SearchResult } from './types';

/** A matched person's slot in the matrix: who it is and their own threshold. */
export interface PersonSlot {
  personId: string;
  name: string;
  threshold: number | null;
}

/** Bias of a spare column: its score is this for every probe, below any cosine, so it never ranks. */
const SPARE = -3;

/**
 * One model's embeddings as a contiguous matrix of unit vectors stored transposed: `(dim + 1) ×
 * capacity`, row `j` holding component `j` of every embedding, the last row a bias (0 for an
 * embedding, {@link SPARE} for a spare column). Scores of a probe `[q, 1]` are then one
 * vector-matrix product streamed row by row over contiguous memory, which onnxruntime's MatMul runs
 * at memory speed; spare columns score -3 and never rank. Columns are appended, swap-removed, and
 * capacity grows by a quarter.
 *
 * @example
 * ```ts
 * const m = new EmbeddingMatrix(128);
 * const slot = m.addPerson({ personId: 'ada', name: 'Ada', threshold: null });
 * m.addRow(slot, unit);
 * m.bestPerPerson([probe]); // Float32Array: probe 0's best cosine per slot
 * ```
 */
export class EmbeddingMatrix {
  data: Float32Array;
  owner: Int32Array;
  capacity: number;
  rows = 0;
  /** Bumped on every change; an asynchronous search started before a change is redone. */
  version = 0;
  readonly slots: (PersonSlot | null)[] = [];
  /** Rows per slot. */
  readonly counts: number[] = [];
  private readonly freeSlots: number[] = [];
  private readonly slotById = new Map<string, number>();

  constructor(
    readonly dim: number,
    capacity = 1024,
  ) {
    this.capacity = Math.max(1, capacity);
    this.data = new Float32Array((dim + 1) * this.capacity);
    this.data.fill(SPARE, dim * this.capacity);
    this.owner = new Int32Array(this.capacity);
  }

  slotOf(personId: string): number | undefined {
    return this.slotById.get(personId);
  }

  /** The person's slot, created if needed (name and threshold updated if it exists). */
  addPerson(person: PersonSlot): number {
    const known = this.slotById.get(person.personId);
    if (known !== undefined) {
      this.slots[known] = person;
      return known;
    }
    const slot = this.freeSlots.pop() ?? this.slots.length;
    this.slots[slot] = person;
    this.counts[slot] = 0;
    this.slotById.set(person.personId, slot);
    this.version++;
    return slot;
  }

  /** Appends one unit vector for the slot. */
  addRow(slot: number, unit: Float32Array): void {
    if (this.rows === this.capacity) this.grow(Math.ceil(this.capacity * 1.25) + 16);
    const { data, capacity: c, rows: r, dim } = this;
    for (let j = 0; j < dim; j++) data[j * c + r] = unit[j]!;
    data[dim * c + r] = 0;
    this.owner[r] = slot;
    this.counts[slot]!++;
    this.rows++;
    this.version++;
  }

  /** Drops the person and their rows (each replaced by the last row). */
  removePerson(personId: string): void {
    const slot = this.slotById.get(personId);
    if (slot === undefined) return;
    const { data, capacity: c, dim } = this;
    for (let r = this.rows - 1; r >= 0; r--) {
      if (this.owner[r] !== slot) continue;
      const last = this.rows - 1;
      for (let j = 0; j <= dim; j++) {
        data[j * c + r] = data[j * c + last]!;
        data[j * c + last] = j === dim ? SPARE : 0;
      }
      this.owner[r] = this.owner[last]!;
      this.rows--;
    }
    this.slots[slot] = null;
    this.counts[slot] = 0;
    this.slotById.delete(personId);
    this.freeSlots.push(slot);
    this.version++;
  }

  private grow(capacity: number): void {
    const data = new Float32Array((this.dim + 1) * capacity);
    for (let j = 0; j <= this.dim; j++) data.set(this.data.subarray(j * this.capacity, (j + 1) * this.capacity), j * capacity);
    data.fill(SPARE, this.dim * capacity + this.capacity);
    const owner = new Int32Array(capacity);
    owner.set(this.owner);
    this.data = data;
    this.owner = owner;
    this.capacity = capacity;
  }

  /** A unit probe with the bias input appended, as the matrix product takes it. */
  augment(unit: Float32Array): Float32Array {
    const out = new Float32Array(this.dim + 1);
    out.set(unit);
    out[this.dim] = 1;
    return out;
  }

  /**
   * Each probe's best cosine per slot (`probes.length × slots.length`, -Infinity where a slot has
   * no row). The probes must be unit vectors of `dim`. The plain JS kernel: axpy over the
   * contiguous rows of the components, four components per pass.
   */
  bestPerPerson(probes: readonly Float32Array[]): Float32Array {
    const s = this.slots.length;
    const best = new Float32Array(probes.length * s).fill(-Infinity);
    const { data, owner, rows, dim, capacity: c } = this;
    const scores = new Float32Array(rows);
    const blocked = dim - (dim % 4);
    for (let b = 0; b < probes.length; b++) {
      const q = probes[b]!;
      scores.fill(0);
      // Four components per pass over the scores: a quarter of the loads and stores of scores[].
      for (let j = 0; j < blocked; j += 4) {
        const a0 = q[j]!, a1 = q[j + 1]!, a2 = q[j + 2]!, a3 = q[j + 3]!; // prettier-ignore
        const o0 = j * c, o1 = o0 + c, o2 = o1 + c, o3 = o2 + c; // prettier-ignore
        for (let r = 0; r < rows; r++) scores[r] = scores[r]! + (a0 * data[o0 + r]! + a1 * data[o1 + r]!) + (a2 * data[o2 + r]! + a3 * data[o3 + r]!);
      }
      for (let j = blocked; j < dim; j++) {
        const a = q[j]!;
        const o = j * c;
        for (let r = 0; r < rows; r++) scores[r] = scores[r]! + a * data[o + r]!;
      }
      const base = b * s;
      for (let r = 0; r < rows; r++) {
        const p = base + owner[r]!;
        if (scores[r]! > best[p]!) best[p] = scores[r]!;
      }
    }
    return best;
  }

  /** The most rows any one person has. */
  maxRowsPerPerson(): number {
    let max = 0;
    for (const c of this.counts) if (c > max) max = c;
    return max;
  }

  /**
   * Probe `b`'s people, best first, from its best rows (sorted, `k` per probe): the first row of a
   * person is their best. Exact as long as `k ≥ want × maxRowsPerPerson()`: every row that beats the
   * `want`-th person's best belongs to one of the `want − 1` people ranked above them.
   */
  rankFromTopRows(values: Float32Array, rows: Int32Array, k: number, b: number, want: number): Ranked {
    const idx: number[] = [];
    const sims: number[] = [];
    const seen = new Set<number>();
    for (let i = b * k; i < (b + 1) * k && idx.length < want; i++) {
      const slot = this.owner[rows[i]!]!;
      if (seen.has(slot)) continue;
      seen.add(slot);
      idx.push(slot);
      sims.push(values[i]!);
    }
    return { idx, sims };
  }
}

/** People ranked for one probe: slots and their best cosine, best first. */
export interface Ranked {
  idx: number[];
  sims: number[];
}

/** How results are decided from the best cosine per person. */
export interface Decision {
  topK: number;
  threshold: number;
  margin: number;
}

/**
 * Turns probe `b`'s best cosine per slot into a result: the top-k people (a partial selection, no
 * full sort), then the status. The best person must reach their own threshold (else the given one)
 * to be named; if the runner-up person is within `margin` of the best, nobody is named (`ambiguous`).
 */
export function decide(best: Float32Array, b: number, slots: readonly (PersonSlot | null)[], d: Decision): SearchResult {
  return verdict(rankSlots(best, b, slots.length, Math.max(d.topK, 2)), slots, d);
}

/** The `want` best slots of probe `b` (a partial insertion selection, no full sort). */
function rankSlots(best: Float32Array, b: number, s: number, want: number): Ranked {
  const idx: number[] = [];
  const sims: number[] = [];
  for (let i = 0; i < s; i++) {
    const sim = best[b * s + i]!;
    if (sim === -Infinity) continue;
    if (idx.length === want && sim <= sims[want - 1]!) continue;
    let at: number;
    if (idx.length < want) {
      idx.push(i);
      sims.push(sim);
      at = idx.length - 1;
    } else {
      at = want - 1;
    }
    while (at > 0 && sims[at - 1]! < sim) {
      idx[at] = idx[at - 1]!;
      sims[at] = sims[at - 1]!;
      at--;
    }
    idx[at] = i;
    sims[at] = sim;
  }
  return { idx, sims };
}

/** The status of a probe from its ranked people (see {@link decide}). */
export function verdict({ idx, sims }: Ranked, slots: readonly (PersonSlot | null)[], d: Decision): SearchResult {
  const candidates: SearchCandidate[] = idx.slice(0, d.topK).map((slot, k) => {
    const p = slots[slot]!;
    return { personId: p.personId, name: p.name, similarity: sims[k]! };
  });
  if (idx.length === 0) return { status: 'unknown', match: null, candidates };
  const top = slots[idx[0]!]!;
  const similarity = sims[0]!;
  if (similarity < (top.threshold ?? d.threshold)) return { status: 'unknown', match: null, candidates };
  if (idx.length > 1 && similarity - sims[1]! < d.margin) return { status: 'ambiguous', match: null, candidates };
  return { status: 'known', match: { personId: top.personId, name: top.name, similarity }, candidates };
}

/** An L2-normalized copy (a zero vector stays zero: it matches nobody). */
export function unitVector(v: Float32Array): Float32Array {
  let n = 0;
  for (let i = 0; i < v.length; i++) n += v[i]! * v[i]!;
  const out = new Float32Array(v.length);
  if (n === 0) return out;
  const inv = 1 / Math.sqrt(n);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * inv;
  return out;
}
