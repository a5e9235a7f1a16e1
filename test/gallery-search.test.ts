/**
 * 1:N matching of the SQLite gallery: the GalleryMatcher contract, the known / unknown / ambiguous
 * rules (threshold, margin between people, per-person thresholds), and both search kernels (JS
 * and onnxruntime Gemm) against a brute-force float64 reference, before and after changes.
 */
import { join } from 'node:path';
import { ClosedError, InvalidArgumentError } from '../sdk/errors';
import { OrtMatMulKernel } from '../sdk/gallery/ort-kernel';
import { ORT_MIN_ROWS, SqliteGallery } from '../sdk/gallery/sqlite-gallery';
import type { SearchResult } from '../sdk/gallery/types';
import { tempDir } from './support/data';
import { galleryMatcherContract } from './support/gallery-matcher-contract';

const MODEL = 'jetface-s:test0001';

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomVector(dim: number, next: () => number): Float32Array {
  return Float32Array.from({ length: dim }, () => next() - 0.5);
}

function unit(v: number[]): Float32Array {
  const n = Math.hypot(...v);
  return Float32Array.from(v, (x) => x / n);
}

function open(options: Partial<Parameters<typeof SqliteGallery.open>[1]> = {}): SqliteGallery {
  return SqliteGallery.open(join(tempDir(), 'g.db'), { modelId: MODEL, ...options });
}

galleryMatcherContract('SqliteGallery', (people) => {
  const g = open({ threshold: 0.5 });
  for (const p of people) {
    g.upsertPerson({ personId: p.personId, name: p.name });
    g.addEmbeddings(
      p.personId,
      p.embeddings.map((embedding) => ({ embedding })),
    );
  }
  return g;
});

/** Brute force in float64: each person's best cosine, people sorted best first. */
function reference(people: Map<string, Float32Array[]>, probe: Float32Array): { personId: string; similarity: number }[] {
  const pn = Math.hypot(...probe);
  const out: { personId: string; similarity: number }[] = [];
  for (const [personId, vectors] of people) {
    let best = -Infinity;
    for (const v of vectors) {
      let dot = 0;
      for (let i = 0; i < v.length; i++) dot += v[i]! * probe[i]!;
      best = Math.max(best, dot / (Math.hypot(...v) * pn));
    }
    out.push({ personId, similarity: best });
  }
  return out.sort((a, b) => b.similarity - a.similarity);
}

function expectSameTopK(results: SearchResult[], people: Map<string, Float32Array[]>, probes: Float32Array[], topK: number): void {
  results.forEach((r, b) => {
    const ref = reference(people, probes[b]!).slice(0, topK);
    expect(r.candidates.map((c) => c.personId)).toEqual(ref.map((c) => c.personId));
    r.candidates.forEach((c, k) => expect(c.similarity).toBeCloseTo(ref[k]!.similarity, 5));
  });
}

describe('search matches a brute-force reference', () => {
  const next = rng(7);
  const dim = 64;
  const people = new Map<string, Float32Array[]>();
  for (let p = 0; p < 1500; p++) people.set(`id${p}`, Array.from({ length: 1 + (p % 4) }, () => randomVector(dim, next)));
  // Probes near enrolled vectors (strong matches) and unrelated ones.
  const probes = [...Array.from({ length: 8 }, (_, i) => people.get(`id${i * 97}`)![0]!.map((x) => x + (next() - 0.5) * 0.05)), ...Array.from({ length: 8 }, () => randomVector(dim, next))];
  let g: SqliteGallery;

  beforeAll(() => {
    g = open();
    for (const [personId, vectors] of people) {
      g.upsertPerson({ personId, name: personId.toUpperCase() });
      g.addEmbeddings(
        personId,
        vectors.map((embedding) => ({ embedding })),
      );
    }
  });
  afterAll(() => g.close());

  test('the JS kernel returns exactly the reference top-k, for a batch of probes', () => {
    expectSameTopK(g.search(probes, { topK: 10 }), people, probes, 10);
  });

  test('the onnxruntime kernel returns exactly the reference top-k', async () => {
    expectSameTopK(await g.searchAsync(probes, { topK: 10, kernel: 'onnxruntime' }), people, probes, 10);
    // Same statuses and people as the JS kernel; similarities equal to float32 rounding.
    const rounded = (rs: SearchResult[]) =>
      rs.map((r) => ({ ...r, match: r.match && { ...r.match, similarity: r.match.similarity.toFixed(5) }, candidates: r.candidates.map((c) => ({ ...c, similarity: c.similarity.toFixed(5) })) }));
    expect(rounded(await g.searchAsync(probes, { kernel: 'onnxruntime' }))).toEqual(rounded(g.search(probes)));
  });

  test('the matrix stays in step with removals, additions and a reopen', async () => {
    for (let p = 0; p < 1500; p += 7) {
      g.removePerson(`id${p}`);
      people.delete(`id${p}`);
    }
    const extra = [randomVector(dim, next), randomVector(dim, next)];
    g.addEmbeddings('id1', extra.map((embedding) => ({ embedding })));
    people.get('id1')!.push(...extra);
    const probes2 = [...probes, extra[1]!];
    expectSameTopK(g.search(probes2, { topK: 5 }), people, probes2, 5);
    expectSameTopK(await g.searchAsync(probes2, { topK: 5, kernel: 'onnxruntime' }), people, probes2, 5);
    const again = SqliteGallery.open(g.path, { modelId: MODEL });
    expectSameTopK(again.search(probes2, { topK: 5 }), people, probes2, 5);
    again.close();
  });

  test('a person removed while an asynchronous search is in flight is not in its answer', async () => {
    const victim = g.search([probes[0]!])[0]!.candidates[0]!.personId;
    const pending = g.searchAsync([probes[0]!], { kernel: 'onnxruntime' });
    g.removePerson(victim);
    people.delete(victim);
    const [r] = await pending;
    expect(r!.candidates.map((c) => c.personId)).not.toContain(victim);
    expectSameTopK([r!], people, [probes[0]!], 5);
  });
});

describe('known, unknown, ambiguous', () => {
  const ada = unit([1, 0, 0, 0]);
  const bob = unit([0, 1, 0, 0]);
  const ada2 = unit([0.8, 0.6, 0, 0]); // Ada's second template, close to Bob

  function twoPeople(options: Partial<Parameters<typeof SqliteGallery.open>[1]> = {}): SqliteGallery {
    const g = open({ threshold: 0.5, margin: 0.1, ...options });
    g.upsertPerson({ personId: 'ada', name: 'Ada' });
    g.addEmbeddings('ada', [{ embedding: ada }, { embedding: ada2 }]);
    g.upsertPerson({ personId: 'bob', name: 'Bob' });
    g.addEmbeddings('bob', [{ embedding: bob }]);
    return g;
  }

  test('known: best person over the threshold and clear of the runner-up; match() names only known', () => {
    const g = twoPeople();
    const [r] = g.search([unit([1, 0.1, 0, 0])]);
    expect(r!.status).toBe('known');
    expect(r!.match).toMatchObject({ personId: 'ada', name: 'Ada' });
    expect(r!.candidates.map((c) => c.personId)).toEqual(['ada', 'bob']);
    expect(g.match([unit([1, 0.1, 0, 0])])[0]).toMatchObject({ personId: 'ada' });
    g.close();
  });

  test('unknown: nobody reaches the threshold (candidates still listed)', () => {
    const g = twoPeople();
    const [r] = g.search([unit([0, 0, 1, 0.3])]);
    expect(r).toMatchObject({ status: 'unknown', match: null });
    expect(r!.candidates).toHaveLength(2);
    expect(g.match([unit([0, 0, 1, 0.3])])).toEqual([null]);
    g.close();
  });

  test("ambiguous: the runner-up PERSON is within the margin (a person's own templates never compete)", () => {
    const g = twoPeople();
    // Between ada2 (0.8, 0.6) and bob (0, 1): cos to ada2 ≈ 0.95, to bob ≈ 0.89 → gap < 0.1.
    const probe = unit([0.4, 0.9, 0, 0]);
    const [r] = g.search([probe]);
    expect(r!.status).toBe('ambiguous');
    expect(r!.match).toBeNull();
    expect(g.match([probe])).toEqual([null]);
    expect(g.search([probe], { margin: 0 })[0]!.status).toBe('known');
    // Ada alone: her two templates are close to each other, yet she is known.
    const solo = open({ threshold: 0.5, margin: 0.5 });
    solo.upsertPerson({ personId: 'ada', name: 'Ada' });
    solo.addEmbeddings('ada', [{ embedding: ada }, { embedding: unit([1, 0.01, 0, 0]) }]);
    expect(solo.search([ada])[0]!.status).toBe('known');
    solo.close();
    g.close();
  });

  test("per-person thresholds override the gallery's and the call's", () => {
    const g = twoPeople();
    const probe = unit([1, 0, 1, 0]); // cos to Ada ≈ 0.71
    expect(g.search([probe])[0]!.status).toBe('known');
    g.upsertPerson({ personId: 'ada', name: 'Ada', threshold: 0.9 });
    expect(g.search([probe])[0]!.status).toBe('unknown');
    expect(g.search([probe], { threshold: 0.1 })[0]!.status).toBe('unknown');
    g.upsertPerson({ personId: 'ada', name: 'Ada', threshold: 0.2 });
    expect(g.search([probe], { threshold: 0.95 })[0]!.status).toBe('known');
    g.upsertPerson({ personId: 'ada', name: 'Ada', threshold: null });
    expect(g.search([probe], { threshold: 0.8 })[0]!.status).toBe('unknown');
    g.close();
  });

  test('topK bounds the candidates; an empty gallery and an empty batch answer plainly', () => {
    const g = twoPeople();
    expect(g.search([ada], { topK: 1 })[0]!.candidates).toHaveLength(1);
    expect(g.search([])).toEqual([]);
    const empty = open();
    expect(empty.search([ada])).toEqual([{ status: 'unknown', match: null, candidates: [] }]);
    empty.close();
    g.close();
  });

  test('bad options are refused naming the option', () => {
    const g = twoPeople();
    expect(() => g.search([ada], { topK: 0 })).toThrow(/options\.topK/);
    expect(() => g.search([ada], { threshold: 1.5 })).toThrow(/options\.threshold/);
    expect(() => g.search([ada], { margin: -1 })).toThrow(/options\.margin/);
    expect(() => g.search([[1, 0, 0, 0] as never])).toThrow(InvalidArgumentError);
    g.close();
    expect(() => g.search([ada])).toThrow(/closed/);
  });
});

describe('the onnxruntime kernel lifecycle', () => {
  function enroll(g: SqliteGallery, people: number, perPerson: number, dim: number, seed: number): void {
    const next = rng(seed);
    for (let p = 0; p < people; p++) {
      g.upsertPerson({ personId: `id${p}`, name: `ID${p}` });
      g.addEmbeddings(`id${p}`, Array.from({ length: perPerson }, () => ({ embedding: randomVector(dim, next) })));
    }
  }
  const probesOf = (dim: number, seed: number) => Array.from({ length: 3 }, (_, i) => randomVector(dim, rng(seed + i)));

  afterEach(() => jest.restoreAllMocks());

  test('close() while a search runs on onnxruntime rejects it with ClosedError', async () => {
    const g = open();
    enroll(g, 50, 2, 32, 1);
    const probes = probesOf(32, 9);
    await g.searchAsync(probes, { kernel: 'onnxruntime' }); // the session is loaded
    const pending = g.searchAsync(probes, { kernel: 'onnxruntime' });
    g.close();
    await expect(pending).rejects.toBeInstanceOf(ClosedError);
    // Closed while the session was still loading: the same.
    const h = open();
    enroll(h, 5, 1, 32, 2);
    const loading = h.searchAsync(probes, { kernel: 'onnxruntime' });
    h.close();
    await expect(loading).rejects.toBeInstanceOf(ClosedError);
  });

  test('an import that changes the dimension gets a session of the new dimension', async () => {
    const rounded = (rs: SearchResult[]) => rs.map((r) => r.candidates.map((c) => [c.personId, c.similarity.toFixed(5)]));
    const g = open();
    enroll(g, 20, 2, 32, 3);
    expect(rounded(await g.searchAsync(probesOf(32, 1), { kernel: 'onnxruntime' }))).toEqual(rounded(g.search(probesOf(32, 1))));
    const other = open();
    enroll(other, 20, 2, 16, 4);
    g.import(other.export(), { mode: 'replace' });
    other.close();
    expect(g.dimension).toBe(16);
    const probes = probesOf(16, 5);
    expect(rounded(await g.searchAsync(probes, { kernel: 'onnxruntime' }))).toEqual(rounded(g.search(probes)));
    g.close();
  });

  test("an onnxruntime that fails to load: 'auto' falls back to JS, 'onnxruntime' rejects, and the next call tries again", async () => {
    const g = open();
    enroll(g, 64, ORT_MIN_ROWS / 64, 8, 6);
    expect(g.embeddingCount).toBe(ORT_MIN_ROWS);
    const probes = probesOf(8, 7);
    const create = jest.spyOn(OrtMatMulKernel, 'create');
    create.mockRejectedValueOnce(new Error('onnxruntime-node is not installed'));
    expect(await g.searchAsync(probes)).toEqual(g.search(probes));
    create.mockRejectedValueOnce(new Error('onnxruntime-node is not installed'));
    await expect(g.searchAsync(probes, { kernel: 'onnxruntime' })).rejects.toThrow('not installed');
    const rounded = (rs: SearchResult[]) => rs.map((r) => r.candidates.map((c) => [c.personId, c.similarity.toFixed(5)]));
    expect(rounded(await g.searchAsync(probes, { kernel: 'onnxruntime' }))).toEqual(rounded(g.search(probes)));
    expect(create).toHaveBeenCalledTimes(3);
    g.close();
  });
});
