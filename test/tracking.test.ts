/** Tracker on synthetic detections: association, lifecycle, identity vote, event policy; the in-memory gallery. */
import { FaceTracker } from '../sdk/tracking/tracker';
import { solveAssignment } from '../sdk/tracking/hungarian';
import { InMemoryGallery } from '../sdk/tracking/memory-gallery';
import type { GalleryMatch, GalleryMatcher, TrackerEvent } from '../sdk/tracking/types';
import { InvalidArgumentError } from '../sdk/errors';
import type { Box, Face } from '../sdk/types';
import { galleryMatcherContract } from './support/gallery-matcher-contract';

const DIM = 16;
const FRAME_MS = 33;

/** Deterministic pseudo-random numbers (tests must not flake). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

function unit(v: number[]): Float32Array {
  const n = Math.hypot(...v) || 1;
  return Float32Array.from(v, (x) => x / n);
}

/** Identity `k`'s embedding with noise: same-person cosine ≈ 0.95, different people ≈ 0. */
function embedding(k: number, random: () => number, noise = 0.15): Float32Array {
  return unit(Array.from({ length: DIM }, (_, i) => (i === k ? 1 : 0) + (random() - 0.5) * 2 * noise));
}

function face(box: Box, emb: Float32Array, score = 0.9): Face {
  const [x1, y1] = box;
  return { box, score, embedding: emb, landmarks: [[x1, y1], [x1, y1], [x1, y1], [x1, y1], [x1, y1]] };
}

function box(cx: number, cy: number, size = 80): Box {
  return [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2];
}

function galleryOf(...people: [id: string, name: string, k: number][]): InMemoryGallery {
  const g = new InMemoryGallery({ threshold: 0.5 });
  for (const [id, name, k] of people) g.enroll(id, name, [embedding(k, () => 0.5)]);
  return g;
}

/** A gallery that answers from a script, one answer per call (the track's face is alone in the frame). */
function scripted(answers: (GalleryMatch | null)[]): GalleryMatcher {
  let i = 0;
  return { match: (embeddings) => embeddings.map(() => answers[Math.min(i++, answers.length - 1)] ?? null) };
}

const A: GalleryMatch = { personId: 'a', name: 'Ada', similarity: 0.6 };
const B: GalleryMatch = { personId: 'b', name: 'Bob', similarity: 0.6 };

/** Compact event log: `recognition:Ada`, `recognition:unknown`, `recognition_update:firmed:Ada`, `track_ended`. */
function types(events: TrackerEvent[]): string[] {
  return events.map((e) =>
    e.type === 'recognition_update' ? `${e.type}:${e.reason}:${e.identity.name}` : e.type === 'recognition' ? `recognition:${e.identity?.name ?? 'unknown'}` : e.type,
  );
}

describe('solveAssignment (Hungarian)', () => {
  function brute(costs: number[][]): number {
    const rows = costs.length;
    const cols = costs[0]!.length;
    let best = Number.POSITIVE_INFINITY;
    let bestCount = -1;
    const walk = (r: number, used: Set<number>, sum: number, count: number): void => {
      if (r === rows) {
        if (count > bestCount || (count === bestCount && sum < best)) [best, bestCount] = [sum, count];
        return;
      }
      walk(r + 1, used, sum, count);
      for (let c = 0; c < cols; c++) {
        if (used.has(c) || !Number.isFinite(costs[r]![c]!)) continue;
        used.add(c);
        walk(r + 1, used, sum + costs[r]![c]!, count + 1);
        used.delete(c);
      }
    };
    walk(0, new Set(), 0, 0);
    return bestCount * 1000 - best;
  }

  test('matches brute force (most allowed pairs, then least cost) on random rectangular matrices with gated pairs', () => {
    const random = rng(7);
    for (let trial = 0; trial < 200; trial++) {
      const rows = 1 + Math.floor(random() * 5);
      const cols = 1 + Math.floor(random() * 5);
      const costs = Array.from({ length: rows }, () => Array.from({ length: cols }, () => (random() < 0.25 ? Number.POSITIVE_INFINITY : Math.round(random() * 100) / 100)));
      const pairs = solveAssignment(costs);
      expect(new Set(pairs.map((p) => p[0])).size).toBe(pairs.length);
      expect(new Set(pairs.map((p) => p[1])).size).toBe(pairs.length);
      const sum = pairs.reduce((s, [r, c]) => s + costs[r]![c]!, 0);
      expect(pairs.length * 1000 - sum).toBeCloseTo(brute(costs), 6);
    }
  });

  test('empty and fully gated matrices give no pairs', () => {
    expect(solveAssignment([])).toEqual([]);
    expect(solveAssignment([[Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY]])).toEqual([]);
  });
});

describe('FaceTracker association', () => {
  /** Two faces walking towards each other on one line, overlapping almost fully mid-way (IoU 0.88). */
  function crossing(withEmbeddings: boolean): { perFrame: { aTrack: number; bTrack: number }[]; events: TrackerEvent[] } {
    const random = rng(1);
    const tracker = new FaceTracker(galleryOf(['a', 'Ada', 0], ['b', 'Bob', 1]), { cameraId: 'hall' });
    const perFrame: { aTrack: number; bTrack: number }[] = [];
    const events: TrackerEvent[] = [];
    for (let i = 0; i <= 40; i++) {
      const t = 1000 + i * FRAME_MS;
      const aBox = box(100 + i * 10, 200);
      const bBox = box(505 - i * 10, 200);
      const none = new Float32Array(0);
      const faces = [face(bBox, withEmbeddings ? embedding(1, random) : none), face(aBox, withEmbeddings ? embedding(0, random) : none)];
      const out = tracker.update(faces, t);
      events.push(...out.events);
      const at = (b: Box): number => out.tracks.find((tr) => tr.lastSeen === t && tr.box.every((v, k) => v === b[k]))!.trackId;
      perFrame.push({ aTrack: at(aBox), bTrack: at(bBox) });
    }
    events.push(...tracker.flush(1000 + 41 * FRAME_MS));
    return { perFrame, events };
  }

  test('two faces crossing keep their track ids, and each is recognized once, by embedding and IoU', () => {
    const { perFrame, events } = crossing(true);
    const aIds = new Set(perFrame.map((p) => p.aTrack));
    const bIds = new Set(perFrame.map((p) => p.bTrack));
    expect(aIds.size).toBe(1);
    expect(bIds.size).toBe(1);
    expect([...aIds][0]).not.toBe([...bIds][0]);
    const recognized = events.filter((e) => e.type === 'recognition');
    expect(recognized.map((e) => [e.trackId, e.type === 'recognition' && e.identity?.name]).sort()).toEqual(
      [
        [[...aIds][0], 'Ada'],
        [[...bIds][0], 'Bob'],
      ].sort(),
    );
    expect(events.filter((e) => e.type === 'recognition_update' && e.reason === 'changed')).toEqual([]);
    expect(events.filter((e) => e.type === 'track_ended')).toHaveLength(2);
  });

  test('without embeddings, IoU with constant-velocity prediction still keeps crossing faces apart', () => {
    const { perFrame } = crossing(false);
    expect(new Set(perFrame.map((p) => p.aTrack)).size).toBe(1);
    expect(new Set(perFrame.map((p) => p.bTrack)).size).toBe(1);
  });

  test('embeddings that disagree are never associated, however the boxes overlap', () => {
    const random = rng(3);
    const tracker = new FaceTracker(galleryOf(), { confirmHits: 1 });
    tracker.update([face(box(100, 100), embedding(0, random))], 0);
    const { tracks } = tracker.update([face(box(102, 100), embedding(5, random))], FRAME_MS);
    expect(tracks.map((t) => [t.trackId, t.state])).toEqual([
      [1, 'lost'],
      [2, 'confirmed'],
    ]);
  });

  test('a confirmed track missed for a while is re-found by its embedding away from where it was lost', () => {
    const random = rng(4);
    const tracker = new FaceTracker(galleryOf(), { confirmHits: 2, maxLostMs: 2000 });
    for (let i = 0; i < 3; i++) tracker.update([face(box(100, 100), embedding(2, random))], i * FRAME_MS);
    for (let i = 3; i < 10; i++) tracker.update([], i * FRAME_MS);
    const { tracks } = tracker.update([face(box(400, 300), embedding(2, random))], 10 * FRAME_MS);
    expect(tracks.map((t) => [t.trackId, t.state])).toEqual([[1, 'confirmed']]);
  });
});

describe('FaceTracker lifecycle and event policy', () => {
  test('a face that leaves: lost, then track_ended after maxLostMs with its identity and duration', () => {
    const random = rng(5);
    const tracker = new FaceTracker(galleryOf(['a', 'Ada', 0]), { maxLostMs: 500, cameraId: 'door' });
    const events: TrackerEvent[] = [];
    for (let i = 0; i < 20; i++) events.push(...tracker.update([face(box(200 + i, 200), embedding(0, random))], i * FRAME_MS).events);
    const states: string[] = [];
    for (let i = 20; i < 40; i++) {
      const out = tracker.update([], i * FRAME_MS);
      events.push(...out.events);
      states.push(out.tracks[0]?.state ?? 'gone');
    }
    expect(states.slice(0, 3)).toEqual(['lost', 'lost', 'lost']);
    expect(states.at(-1)).toBe('gone');
    const ended = events.filter((e) => e.type === 'track_ended');
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({ cameraId: 'door', trackId: 1, identity: { personId: 'a', name: 'Ada' }, durationMs: 19 * FRAME_MS });
    expect(types(events)).toEqual(['recognition:Ada', 'recognition_update:firmed:Ada', 'track_ended']);
  });

  test('after a gap longer than maxLostMs, the track ends before the next face is associated: a new track, even at the same place', () => {
    const random = rng(9);
    const tracker = new FaceTracker(galleryOf(['a', 'Ada', 0]), { maxLostMs: 500 });
    for (let i = 0; i < 10; i++) tracker.update([face(box(200, 200), embedding(0, random))], i * FRAME_MS);
    const after = tracker.update([face(box(200, 200), embedding(0, random))], 10 * FRAME_MS + 600);
    expect(after.events.map((e) => [e.type, e.trackId])).toEqual([['track_ended', 1]]);
    expect(after.tracks.map((t) => [t.trackId, t.state])).toEqual([[2, 'tentative']]);
  });

  test('on a camera slower than maxLostMs per frame, tracks live from frame to frame and are recognized; a real gap still ends them', () => {
    const random = rng(10);
    const tracker = new FaceTracker(galleryOf(['a', 'Ada', 0]), { maxLostMs: 500, confirmHits: 3 });
    const events: TrackerEvent[] = [];
    for (let i = 0; i < 6; i++) events.push(...tracker.update([face(box(200, 200), embedding(0, random))], i * 2000).events);
    expect(types(events)).toContain('recognition:Ada');
    expect(tracker.activeTracks().map((t) => t.trackId)).toEqual([1]);
    // Two frame intervals without the face (the limit is 2 x 2000 ms): the track ends.
    const later = tracker.update([face(box(200, 200), embedding(0, random))], 5 * 2000 + 4001);
    expect(later.events.map((e) => [e.type, e.trackId])).toEqual([['track_ended', 1]]);
  });

  test('a detection seen once (tentative) ends quietly: no event at all', () => {
    const tracker = new FaceTracker(galleryOf(['a', 'Ada', 0]));
    const first = tracker.update([face(box(50, 50), embedding(0, rng(6)))], 0);
    expect(first.tracks[0]!.state).toBe('tentative');
    const events = [...tracker.update([], FRAME_MS).events, ...tracker.update([], 5000).events, ...tracker.flush(6000)];
    expect(events).toEqual([]);
  });

  test('one recognition per track over 300 frames (plus one firmed update)', () => {
    const random = rng(8);
    const tracker = new FaceTracker(galleryOf(['a', 'Ada', 0]));
    const events: TrackerEvent[] = [];
    for (let i = 0; i < 300; i++) events.push(...tracker.update([face(box(300, 200), embedding(0, random, 0.25))], i * FRAME_MS).events);
    expect(types(events)).toEqual(['recognition:Ada', 'recognition_update:firmed:Ada']);
  });

  test('the identity flips only with evidence: a few frames of another person do not move it, a majority does', () => {
    const answers = [...Array<GalleryMatch>(10).fill(A), ...Array<GalleryMatch>(4).fill(B), ...Array<GalleryMatch>(30).fill(B)];
    const tracker = new FaceTracker(scripted(answers));
    const log: string[][] = [];
    for (let i = 0; i < answers.length; i++) log.push(types(tracker.update([face(box(300, 200), new Float32Array([1, 0]))], i * FRAME_MS).events));
    const all = log.flat();
    expect(all[0]).toBe('recognition:Ada');
    // After 4 Bob frames Ada keeps her majority.
    expect(log.slice(10, 14).flat()).toEqual([]);
    expect(all.filter((t) => t.startsWith('recognition_update:changed'))).toEqual(['recognition_update:changed:Bob']);
    const flipAt = log.findIndex((l) => l.includes('recognition_update:changed:Bob'));
    // Bob needs a 60 % share of the weighted votes: more than 1.5× Ada's ten frames.
    expect(flipAt).toBe(10 + 15 - 1);
    expect(all.filter((t) => t.startsWith('recognition:'))).toHaveLength(1);
  });

  test('unknown faces: a recognition with no identity; a person later is an update; unknown votes never revoke a person', () => {
    const unknownThenAda = [...Array<null>(10).fill(null), ...Array<GalleryMatch>(30).fill(A), ...Array<null>(60).fill(null)];
    const tracker = new FaceTracker(scripted(unknownThenAda));
    const events: TrackerEvent[] = [];
    for (let i = 0; i < unknownThenAda.length; i++) events.push(...tracker.update([face(box(300, 200), new Float32Array([1, 0]))], i * FRAME_MS).events);
    events.push(...tracker.flush(10_000));
    expect(types(events)).toEqual(['recognition:unknown', 'recognition_update:changed:Ada', 'recognition_update:firmed:Ada', 'track_ended']);
    const ended = events.at(-1)!;
    expect(ended.type === 'track_ended' && ended.identity?.name).toBe('Ada');
  });

  test('small, low-score faces weigh less: the same frames decide later', () => {
    const framesToRecognize = (size: number, score: number): number => {
      const tracker = new FaceTracker(scripted([A]));
      for (let i = 0; i < 100; i++) {
        const { events } = tracker.update([face(box(300, 200, size), new Float32Array([1, 0]), score)], i * FRAME_MS);
        if (events.some((e) => e.type === 'recognition')) return i;
      }
      return Infinity;
    };
    expect(framesToRecognize(24, 0.5)).toBeGreaterThan(framesToRecognize(120, 0.95));
  });

  test('options are validated where they enter', () => {
    expect(() => new FaceTracker(galleryOf(), { iouWeight: 2 })).toThrow(InvalidArgumentError);
    expect(() => new FaceTracker(galleryOf(), { confirmHits: 0 })).toThrow(/options\.confirmHits/);
    expect(() => new FaceTracker(galleryOf()).update([], Number.NaN)).toThrow(/timestamp/);
  });
});

galleryMatcherContract('InMemoryGallery', (people) => {
  const gallery = new InMemoryGallery({ threshold: 0.5 });
  for (const p of people) gallery.enroll(p.personId, p.name, p.embeddings);
  return gallery;
});

describe('InMemoryGallery', () => {
  test('best template above the threshold, or null; one answer per embedding', () => {
    const g = new InMemoryGallery({ threshold: 0.5 });
    g.enroll('a', 'Ada', [unit([1, 0, 0]), unit([1, 1, 0])]);
    g.enroll('b', 'Bob', [unit([0, 0, 1])]);
    const [ada, nobody, bob] = g.match([unit([1, 0.2, 0]), unit([0, -1, 0.2]), new Float32Array([0, 0.1, 3])]);
    expect(ada).toMatchObject({ personId: 'a', name: 'Ada' });
    expect(ada!.similarity).toBeCloseTo(1 / Math.hypot(1, 0.2), 5);
    expect(nobody).toBeNull();
    expect(bob).toMatchObject({ personId: 'b' });
    expect(g.size).toBe(2);
    expect(g.remove('b')).toBe(true);
    expect(g.match([unit([0, 0, 1])])).toEqual([null]);
  });

  test('embeddings of another dimension are refused at enrollment and unmatched at query', () => {
    const g = new InMemoryGallery();
    g.enroll('a', 'Ada', [unit([1, 0, 0])]);
    expect(() => g.enroll('b', 'Bob', [unit([1, 0])])).toThrow(/embeddings\[0\]\.length/);
    expect(g.match([unit([1, 0])])).toEqual([null]);
    expect(() => new InMemoryGallery({ threshold: 3 })).toThrow(/options\.threshold/);
  });
});
