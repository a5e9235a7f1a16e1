import type { GalleryMatch, GalleryMatcher } from '../tracking/types';

/** An enrolled person as the gallery lists them. */
export interface PersonRecord {
  personId: string;
  name: string;
  /** Free JSON metadata given at enrollment (badge number, group, ...). */
  metadata: Record<string, unknown>;
  /** This person's own match threshold, or null for the gallery's. */
  threshold: number | null;
  /** Embeddings enrolled for the gallery's model. */
  embeddings: number;
  /** ISO 8601 times. */
  createdAt: string;
  updatedAt: string;
}

/** One embedding to enroll, with where it came from. */
export interface EmbeddingInput {
  embedding: Float32Array;
  /** Where it came from (a file name, `camera:<id>`), kept for audit. */
  source?: string;
  /** The face crop (JPEG), kept only when the gallery was opened with `keepFaceImages`. */
  faceImage?: Uint8Array;
}

/** Options of a person's enrollment. */
export interface PersonInput {
  personId: string;
  name: string;
  metadata?: Record<string, unknown>;
  /** A per-person match threshold (cosine), overriding the gallery's. */
  threshold?: number | null;
}

/** How a probe is matched: the top-k people, the threshold under which it is `unknown`, the margin to the runner-up. */
export interface SearchOptions {
  /** People returned per probe, best first (default 5). */
  topK?: number;
  /** Cosine below which the answer is `unknown` (default: the gallery's threshold; a person's own threshold wins). */
  threshold?: number;
  /** Least gap between the best and the second-best person; closer is `ambiguous` (default: the gallery's margin). */
  margin?: number;
}

/** One candidate person for a probe. */
export interface SearchCandidate {
  personId: string;
  name: string;
  /** Best cosine over the person's embeddings. */
  similarity: number;
}

/**
 * The answer for one probe. `known`: `match` is the person. `unknown`: nobody passed the threshold.
 * `ambiguous`: the best passed, but the runner-up was within the margin, so nobody is named
 * (a wrong name is worse than "unknown").
 */
export interface SearchResult {
  status: 'known' | 'unknown' | 'ambiguous';
  match: GalleryMatch | null;
  candidates: SearchCandidate[];
}

/**
 * The enrolled gallery: people, several embeddings each, tagged with the model that made them.
 * `match()` (from {@link GalleryMatcher}) names a person only for `known` results.
 */
export interface Gallery extends GalleryMatcher {
  /** The model id whose embeddings this gallery holds (a bundle's `modelId`, or its quantization's `sourceModelId`). */
  readonly modelId: string;
  readonly threshold: number;
  readonly margin: number;
  /** Enrolled people (a cheap count, e.g. for metrics). */
  readonly size: number;
  upsertPerson(person: PersonInput): PersonRecord;
  addEmbeddings(personId: string, embeddings: readonly EmbeddingInput[]): number;
  getPerson(personId: string): PersonRecord | null;
  listPeople(): PersonRecord[];
  /** Deletes the person, every embedding and image of theirs; returns false if unknown. */
  removePerson(personId: string): boolean;
  search(probes: readonly Float32Array[], options?: SearchOptions): SearchResult[];
  match(embeddings: Float32Array[]): (GalleryMatch | null)[];
  close(): void;
}
