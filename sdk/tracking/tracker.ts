import { boxIou } from '../engine/nms';
import { InvalidArgumentError } from '../errors';
import type { Box, Face } from '../types';
import { solveAssignment } from './hungarian';
import { DEFAULT_VOTE, faceQuality, IdentityVote, type VoteDecision } from './identity-vote';
import type { GalleryMatcher, TrackerEvent, TrackerOptions, TrackIdentity, TrackSnapshot, TrackState, VoteOptions } from './types';

type Settings = Required<Omit<TrackerOptions, 'vote'>> & { vote: Required<VoteOptions> };

const DEFAULTS: Omit<Settings, 'vote'> = {
  cameraId: 'camera',
  iouWeight: 0.5,
  minIou: 0.1,
  minCosine: 0.2,
  reidCosine: 0.6,
  confirmHits: 3,
  maxLostMs: 1500,
  embeddingUpdate: 0.3,
};

/** Prediction horizon: beyond this, a lost face's motion says nothing. */
const MAX_PREDICT_MS = 500;

interface Track {
  id: number;
  state: TrackState;
  box: Box;
  score: number;
  velocity: [number, number, number, number];
  embedding: Float32Array;
  firstSeen: number;
  lastSeen: number;
  hits: number;
  vote: IdentityVote;
  decision: VoteDecision;
  /** Event-policy memory: what this track has already announced. */
  announced: { recognition: boolean; firmed: boolean; identity: TrackIdentity | null };
}

/**
 * Follows faces across the frames of one camera and decides who each track is. Association is
 * a Hungarian assignment on `1 − (w·IoU + (1−w)·cosine)` with gates (overlap with the
 * motion-predicted box, or a strong embedding match; never a pair whose embeddings disagree).
 * Events follow a policy: one `recognition` per track (a person, or null for a face nobody
 * matches), a `recognition_update` when the identity firms up or moves to another person, and
 * `track_ended`.
 *
 * @example
 * ```ts
 * const tracker = new FaceTracker(gallery, { cameraId: 'door' });
 * for await (const frame of source) {
 *   const { events } = tracker.update(await engine.detect(frame), frame.timestamp);
 *   for (const e of events) if (e.type === 'recognition') console.log(e.identity?.name ?? 'unknown');
 * }
 * tracker.flush(Date.now()); // track_ended for every open track
 * ```
 */
export class FaceTracker {
  private readonly o: Settings;
  private tracks: Track[] = [];
  private nextId = 1;
  private lastTimestamp = Number.NEGATIVE_INFINITY;
  /** The latest intervals between frames, for the stream's usual frame interval. */
  private readonly intervals: number[] = [];

  constructor(
    private readonly gallery: GalleryMatcher,
    options: TrackerOptions = {},
  ) {
    this.o = { ...DEFAULTS, ...stripVote(options), vote: { ...DEFAULT_VOTE, ...(options.vote ?? {}) } };
    for (const key of ['iouWeight', 'minIou'] as const) checkRange(`options.${key}`, this.o[key], 0, 1);
    for (const key of ['minCosine', 'reidCosine'] as const) checkRange(`options.${key}`, this.o[key], -1, 1);
    checkRange('options.embeddingUpdate', this.o.embeddingUpdate, 0, 1);
    if (!Number.isInteger(this.o.confirmHits) || this.o.confirmHits < 1) throw new InvalidArgumentError('options.confirmHits', 'an integer ≥ 1', this.o.confirmHits);
    if (!(this.o.maxLostMs >= 0)) throw new InvalidArgumentError('options.maxLostMs', 'milliseconds ≥ 0', this.o.maxLostMs);
  }

  /** Tracks that are not ended. */
  activeTracks(): TrackSnapshot[] {
    return this.tracks.map((t) => this.snapshot(t));
  }

  /** Associates one frame's faces with the tracks; returns the tracks and the events this frame caused. */
  update(faces: readonly Face[], timestamp: number): { tracks: TrackSnapshot[]; events: TrackerEvent[] } {
    if (!Number.isFinite(timestamp)) throw new InvalidArgumentError('timestamp', 'epoch milliseconds', timestamp);
    // Frames must not go back in time: motion and lost timers would go wrong.
    const now = Math.max(timestamp, this.lastTimestamp);
    this.noteInterval(now - this.lastTimestamp);
    this.lastTimestamp = now;
    const events: TrackerEvent[] = [];
    // Tracks unseen for longer than the lost limit end before association: after a gap in the
    // stream (a camera outage, the next photo of a folder) a face must start a track of its own.
    const limit = this.lostLimitMs();
    for (const track of this.tracks) if (now - track.lastSeen > limit) this.end(track, now, events);
    this.tracks = this.tracks.filter((t) => t.state !== 'ended');
    const pairs = this.associate(faces, now);
    const matchedTracks = new Set<Track>();
    const seen: { track: Track; face: Face }[] = [];
    const taken = new Set<number>();
    for (const [ti, fi] of pairs) {
      const track = this.tracks[ti]!;
      const face = faces[fi]!;
      this.refresh(track, face, now);
      matchedTracks.add(track);
      taken.add(fi);
      seen.push({ track, face });
    }
    for (const track of this.tracks) if (!matchedTracks.has(track)) this.miss(track);
    faces.forEach((face, i) => {
      if (taken.has(i)) return;
      const track = this.create(face, now);
      seen.push({ track, face });
    });
    this.tracks = this.tracks.filter((t) => t.state !== 'ended');

    const usable = seen.filter((s) => s.face.embedding.length > 0);
    const matches = usable.length > 0 ? this.gallery.match(usable.map((s) => s.face.embedding)) : [];
    usable.forEach(({ track, face }, i) => track.vote.add(matches[i] ?? null, faceQuality(face, this.o.vote.goodFaceSize)));
    for (const { track } of seen) if (track.state === 'confirmed') this.applyPolicy(track, now, events);
    return { tracks: this.tracks.map((t) => this.snapshot(t)), events };
  }

  /** Ends every track (end of the stream, camera offline): `track_ended` for each confirmed one. */
  flush(timestamp: number): TrackerEvent[] {
    const events: TrackerEvent[] = [];
    for (const track of this.tracks) this.end(track, timestamp, events);
    this.tracks = [];
    return events;
  }

  private associate(faces: readonly Face[], now: number): [number, number][] {
    if (this.tracks.length === 0 || faces.length === 0) return [];
    const costs = this.tracks.map((track) => {
      const predicted = predict(track, now);
      return faces.map((face) => this.cost(track, predicted, face));
    });
    return solveAssignment(costs);
  }

  private cost(track: Track, predicted: Box, face: Face): number {
    const iou = boxIou(predicted, face.box);
    const hasAppearance = track.embedding.length > 0 && track.embedding.length === face.embedding.length;
    if (!hasAppearance) return iou >= this.o.minIou ? 1 - iou : Number.POSITIVE_INFINITY;
    const cos = dot(track.embedding, face.embedding);
    if (cos < this.o.minCosine) return Number.POSITIVE_INFINITY;
    if (iou < this.o.minIou && cos < this.o.reidCosine) return Number.POSITIVE_INFINITY;
    const w = this.o.iouWeight;
    return 1 - (w * iou + (1 - w) * Math.max(0, cos));
  }

  private refresh(track: Track, face: Face, now: number): void {
    const dt = now - track.lastSeen;
    if (dt > 0) {
      for (let k = 0; k < 4; k++) track.velocity[k] = 0.5 * track.velocity[k]! + (0.5 * (face.box[k]! - track.box[k]!)) / dt;
    }
    track.box = [...face.box];
    track.score = face.score;
    track.lastSeen = now;
    track.hits++;
    if (face.embedding.length === track.embedding.length && face.embedding.length > 0) {
      track.embedding = blend(track.embedding, face.embedding, this.o.embeddingUpdate);
    }
    if (track.state === 'lost' || (track.state === 'tentative' && track.hits >= this.o.confirmHits)) track.state = 'confirmed';
  }

  private miss(track: Track): void {
    if (track.state === 'tentative') {
      // An unconfirmed track that misses a frame was most likely a false detection: drop it quietly.
      track.state = 'ended';
      return;
    }
    if (track.state === 'confirmed') track.state = 'lost';
  }

  /**
   * `maxLostMs`, but never less than two of the stream's usual frame intervals (the median of the
   * latest 15): on a camera slower than `maxLostMs` per frame a track must outlive the wait for
   * the next frame, or every track would end before it could be confirmed.
   */
  private lostLimitMs(): number {
    if (this.intervals.length === 0) return this.o.maxLostMs;
    const sorted = [...this.intervals].sort((a, b) => a - b);
    return Math.max(this.o.maxLostMs, 2 * sorted[sorted.length >> 1]!);
  }

  private noteInterval(ms: number): void {
    if (!(ms > 0) || !Number.isFinite(ms)) return;
    this.intervals.push(ms);
    if (this.intervals.length > 15) this.intervals.shift();
  }

  private create(face: Face, now: number): Track {
    const track: Track = {
      id: this.nextId++,
      state: this.o.confirmHits <= 1 ? 'confirmed' : 'tentative',
      box: [...face.box],
      score: face.score,
      velocity: [0, 0, 0, 0],
      embedding: Float32Array.from(face.embedding),
      firstSeen: now,
      lastSeen: now,
      hits: 1,
      vote: new IdentityVote(this.o.vote),
      decision: { kind: 'undecided' },
      announced: { recognition: false, firmed: false, identity: null },
    };
    this.tracks.push(track);
    return track;
  }

  private end(track: Track, now: number, events: TrackerEvent[]): void {
    const wasConfirmed = track.state === 'confirmed' || track.state === 'lost';
    track.state = 'ended';
    if (!wasConfirmed) return;
    const identity = track.decision.kind === 'known' ? track.decision.identity : null;
    events.push({ type: 'track_ended', ...this.base(track, now), identity, durationMs: track.lastSeen - track.firstSeen });
  }

  /** One recognition per track (a person or unknown); then updates only when the identity firms up or changes. */
  private applyPolicy(track: Track, now: number, events: TrackerEvent[]): void {
    track.decision = track.vote.decide(track.decision);
    const a = track.announced;
    const d = track.decision;
    if (d.kind === 'undecided') return;
    if (!a.recognition) {
      a.recognition = true;
      a.identity = d.kind === 'known' ? d.identity : null;
      a.firmed = d.kind === 'known' && d.identity.firm;
      events.push({ type: 'recognition', ...this.base(track, now), identity: a.identity });
      return;
    }
    if (d.kind !== 'known') return;
    const previous = a.identity;
    a.identity = d.identity;
    if (previous?.personId !== d.identity.personId) {
      a.firmed = d.identity.firm;
      events.push({ type: 'recognition_update', ...this.base(track, now), reason: 'changed', identity: d.identity, previous });
    } else if (d.identity.firm && !a.firmed) {
      a.firmed = true;
      events.push({ type: 'recognition_update', ...this.base(track, now), reason: 'firmed', identity: d.identity, previous });
    }
  }

  private base(track: Track, now: number): { cameraId: string; trackId: number; timestamp: number; track: TrackSnapshot } {
    return { cameraId: this.o.cameraId, trackId: track.id, timestamp: now, track: this.snapshot(track) };
  }

  private snapshot(t: Track): TrackSnapshot {
    const d = t.decision;
    return {
      trackId: t.id,
      cameraId: this.o.cameraId,
      state: t.state,
      box: [...t.box],
      score: t.score,
      firstSeen: t.firstSeen,
      lastSeen: t.lastSeen,
      hits: t.hits,
      identity: d.kind === 'known' ? d.identity : null,
      identityStatus: d.kind === 'known' ? 'known' : d.kind,
    };
  }
}

function predict(track: Track, now: number): Box {
  const dt = Math.min(now - track.lastSeen, MAX_PREDICT_MS);
  const v = track.velocity;
  return [track.box[0] + v[0] * dt, track.box[1] + v[1] * dt, track.box[2] + v[2] * dt, track.box[3] + v[3] * dt];
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Running embedding: a normalized blend, so a track's appearance follows slow pose changes. */
function blend(current: Float32Array, next: Float32Array, weight: number): Float32Array {
  const out = new Float32Array(current.length);
  let norm = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = (1 - weight) * current[i]! + weight * next[i]!;
    norm += out[i]! * out[i]!;
  }
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / norm;
  return out;
}

function stripVote(options: TrackerOptions): Omit<TrackerOptions, 'vote'> {
  const { vote: _vote, ...rest } = options;
  return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
}

function checkRange(name: string, value: number, min: number, max: number): void {
  if (!(value >= min && value <= max)) throw new InvalidArgumentError(name, `a number in ${min}..${max}`, value);
}
