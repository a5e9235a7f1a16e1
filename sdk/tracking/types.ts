import type { Box } from '../types';

/** One gallery answer: the best enrolled person for an embedding. */
export interface GalleryMatch {
  personId: string;
  name: string;
  /** Cosine similarity of the embedding to the person (higher is closer). */
  similarity: number;
}

/**
 * What the tracker needs from a gallery: one best match (or null: nobody above the threshold)
 * per embedding, in order. Any gallery (in-memory, SQLite) can stand behind it.
 *
 * @example
 * ```ts
 * const gallery: GalleryMatcher = { match: (embeddings) => embeddings.map(() => null) }; // knows nobody
 * ```
 */
export interface GalleryMatcher {
  match(embeddings: Float32Array[]): (GalleryMatch | null)[];
}

/** A track's life: `tentative` until seen `confirmHits` times, `lost` while missing, `ended` after `maxLostMs`. */
export type TrackState = 'tentative' | 'confirmed' | 'lost' | 'ended';

/** The identity a track has settled on, from its vote. */
export interface TrackIdentity {
  personId: string;
  name: string;
  /** Mean gallery similarity of the frames that voted for this person. */
  similarity: number;
  /** This person's share of the weighted votes that matched anyone (0..1). */
  confidence: number;
  /** Weighted votes for this person (quality · similarity summed over frames). */
  evidence: number;
  /** Confidence and evidence are past the firm thresholds. */
  firm: boolean;
}

/** A track as callers see it. */
export interface TrackSnapshot {
  trackId: number;
  cameraId: string;
  state: TrackState;
  /** Last box seen, in frame pixels. */
  box: Box;
  score: number;
  /** Epoch ms of the first and last detection. */
  firstSeen: number;
  lastSeen: number;
  /** Frames in which the track was detected. */
  hits: number;
  /** The identity decided so far; null while unknown or undecided. */
  identity: TrackIdentity | null;
  /** `unknown` once enough frames matched nobody, `undecided` before that. */
  identityStatus: 'undecided' | 'unknown' | 'known';
}

interface EventBase {
  cameraId: string;
  trackId: number;
  /** Epoch ms of the frame that caused the event. */
  timestamp: number;
  track: TrackSnapshot;
}

/**
 * The track's first identity decision: a person, or `null` for a face that enough frames matched
 * to nobody. At most one per track.
 */
export interface TrackerRecognitionEvent extends EventBase {
  type: 'recognition';
  identity: TrackIdentity | null;
}

/**
 * After the recognition: the identity firmed up (`firmed`), or moved to another person
 * (`changed`, including from unknown to a person). Never from a person back to unknown.
 */
export interface TrackerRecognitionUpdateEvent extends EventBase {
  type: 'recognition_update';
  reason: 'firmed' | 'changed';
  identity: TrackIdentity;
  previous: TrackIdentity | null;
}

/** A confirmed track was lost for longer than `maxLostMs`, or the tracker was flushed. */
export interface TrackerTrackEndedEvent extends EventBase {
  type: 'track_ended';
  identity: TrackIdentity | null;
  durationMs: number;
}

/**
 * What {@link FaceTracker.update} and {@link FaceTracker.flush} report. The types mirror the MQTT
 * events (`recognition`, `recognition_update`, `track_ended`) so a pipeline maps them one to one.
 */
export type TrackerEvent = TrackerRecognitionEvent | TrackerRecognitionUpdateEvent | TrackerTrackEndedEvent;

/** Identity vote thresholds; see docs/capture.md for the policy. */
export interface VoteOptions {
  /** Face side (px, the box's smaller side) at which size stops lowering a vote's weight. Default 80. */
  goodFaceSize?: number;
  /** Share of the matched votes a person needs to be decided, or to take over from another. Default 0.6. */
  decideShare?: number;
  /** Weighted votes a person needs before being decided. Default 1.0 (about two good frames). */
  minEvidence?: number;
  /** Fraction of all votes that must match someone before a person is decided. Default 0.3. */
  minMatchedFraction?: number;
  /** Share and evidence at which an identity is firm (one `recognition_update` with reason `firmed`). Defaults 0.8 and 3.0. */
  firmShare?: number;
  firmEvidence?: number;
  /** Weight of a frame that matched nobody, relative to its quality. Default 0.5. */
  unknownWeight?: number;
  /** Weighted unknown votes (with matches below `minMatchedFraction`) that make a track's recognition `null` (unknown). Default 1.5. */
  unknownEvidence?: number;
}

/** Options for {@link FaceTracker}. */
export interface TrackerOptions {
  cameraId?: string;
  /** Weight of IoU against embedding cosine in the association cost, 0..1. Default 0.5. */
  iouWeight?: number;
  /** Least IoU (with the motion-predicted box) for a spatial match. Default 0.1. */
  minIou?: number;
  /** Pairs whose embeddings are less similar than this never match, however they overlap (crossing faces). Default 0.2. */
  minCosine?: number;
  /** Cosine at which a detection may join a track without overlap (re-found after a miss or a fast move). Default 0.6. */
  reidCosine?: number;
  /** Detections before a track is confirmed and may raise events. Default 3. */
  confirmHits?: number;
  /**
   * Time a track may stay undetected before it ends. Default 1500 ms. Never less than two of the
   * stream's usual frame intervals, so that on a slow camera (fps 0.5) tracks live from frame to frame.
   */
  maxLostMs?: number;
  /** Weight of the newest embedding in a track's running embedding. Default 0.3. */
  embeddingUpdate?: number;
  vote?: VoteOptions;
}
