import type { Face } from '../types';
import type { GalleryMatch, TrackIdentity, VoteOptions } from './types';

export const DEFAULT_VOTE: Required<VoteOptions> = {
  goodFaceSize: 80,
  decideShare: 0.6,
  minEvidence: 1.0,
  minMatchedFraction: 0.3,
  firmShare: 0.8,
  firmEvidence: 3.0,
  unknownWeight: 0.5,
  unknownEvidence: 1.5,
};

/**
 * How much one detection counts: its score times a size factor (small faces give weak
 * embeddings), in 0..1.
 *
 * @example
 * ```ts
 * faceQuality(face, 80); // 0.9 for a 100 px face of score 0.9; 0.45 at 40 px
 * ```
 */
export function faceQuality(face: Pick<Face, 'box' | 'score'>, goodFaceSize: number): number {
  const side = Math.min(face.box[2] - face.box[0], face.box[3] - face.box[1]);
  const size = Math.max(0, Math.min(1, side / goodFaceSize));
  return Math.max(0, Math.min(1, face.score)) * size;
}

interface Tally {
  name: string;
  weight: number;
  similaritySum: number;
  votes: number;
}

/** The outcome of a vote: who (if anyone), or unknown, or not enough evidence yet. */
export type VoteDecision = { kind: 'undecided' } | { kind: 'unknown' } | { kind: 'known'; identity: TrackIdentity };

/**
 * A track's identity vote: every frame adds `quality · similarity` for the person the gallery
 * matched, or `quality · unknownWeight` for nobody. Decisions are cumulative and sticky: a
 * person is replaced only by another person who wins a `decideShare` majority of all matched
 * votes, and never by unknown votes (a turned head does not disprove who was seen).
 *
 * @example
 * ```ts
 * const vote = new IdentityVote();
 * vote.add({ personId: 'p1', name: 'Ada', similarity: 0.7 }, 0.9);
 * vote.decide({ kind: 'undecided' });
 * ```
 */
export class IdentityVote {
  private readonly tallies = new Map<string, Tally>();
  private unknown = 0;
  private readonly o: Required<VoteOptions>;

  constructor(options: VoteOptions = {}) {
    this.o = { ...DEFAULT_VOTE, ...options };
  }

  add(match: GalleryMatch | null, quality: number): void {
    if (!(quality > 0)) return;
    if (!match) {
      this.unknown += quality * this.o.unknownWeight;
      return;
    }
    const t = this.tallies.get(match.personId) ?? { name: match.name, weight: 0, similaritySum: 0, votes: 0 };
    t.weight += quality * Math.max(0, match.similarity);
    t.similaritySum += match.similarity;
    t.votes++;
    t.name = match.name;
    this.tallies.set(match.personId, t);
  }

  /** The next decision given the current one (decisions only move with enough evidence). */
  decide(current: VoteDecision): VoteDecision {
    const o = this.o;
    let matched = 0;
    let leaderId: string | undefined;
    let leader: Tally | undefined;
    for (const [id, t] of this.tallies) {
      matched += t.weight;
      if (!leader || t.weight > leader.weight) [leaderId, leader] = [id, t];
    }
    const total = matched + this.unknown;
    const matchedFraction = total > 0 ? matched / total : 0;
    if (leader && leaderId !== undefined) {
      const share = leader.weight / matched;
      const identity: TrackIdentity = {
        personId: leaderId,
        name: leader.name,
        similarity: leader.similaritySum / leader.votes,
        confidence: share,
        evidence: leader.weight,
        firm: share >= o.firmShare && leader.weight >= o.firmEvidence,
      };
      const wins = share >= o.decideShare && leader.weight >= o.minEvidence;
      if (current.kind === 'known') {
        if (current.identity.personId === leaderId) return { kind: 'known', identity };
        return wins ? { kind: 'known', identity } : { kind: 'known', identity: this.describe(current.identity.personId) ?? current.identity };
      }
      if (wins && matchedFraction >= o.minMatchedFraction) return { kind: 'known', identity };
    }
    if (current.kind === 'undecided' && this.unknown >= o.unknownEvidence && matchedFraction < o.minMatchedFraction) return { kind: 'unknown' };
    return current;
  }

  /** Current figures for one person (the kept identity while a challenger lacks a majority). */
  private describe(personId: string): TrackIdentity | undefined {
    const t = this.tallies.get(personId);
    if (!t) return undefined;
    let matched = 0;
    for (const x of this.tallies.values()) matched += x.weight;
    const share = matched > 0 ? t.weight / matched : 0;
    return { personId, name: t.name, similarity: t.similaritySum / t.votes, confidence: share, evidence: t.weight, firm: share >= this.o.firmShare && t.weight >= this.o.firmEvidence };
  }
}
