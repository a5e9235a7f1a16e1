/**
 * Unknown faces: tracks that ended without a name, with a few of their best face crops, grouped
 * into strangers by embedding similarity. Everything here lives in memory only and is bounded.
 */
import { randomBytes } from 'node:crypto';
import type { JetfaceEvent } from '../events/types';
import type { PipelineFrame } from '../pipeline/pipeline';
import type { Box, Frame } from '../types';
import { checkFaceQuality, type QualityVerdict } from '../gallery/quality';
import { cropFrame, frameJpeg, iou } from './frame-image';

/** One kept face: its crop (for the page), and what enrollment needs of it. */
export interface UnknownCrop {
  /** RGB frame around the face, the frame's other faces greyed out. */
  frame: Frame;
  /** The face's box in its camera frame, and its embedding there. */
  box: Box;
  embedding: Float32Array;
  /** Enrollment's quality gates, run on the camera frame. */
  verdict: QualityVerdict;
  /** Crops that pass enrollment's quality gates first, then fewer failed gates, then score × size: the best are kept. */
  quality: number;
  trackId: string;
  jpeg?: Promise<Buffer>;
}

/** A stranger: one or more unnamed tracks that look alike. */
export interface UnknownCluster {
  id: string;
  cameras: string[];
  trackIds: string[];
  firstSeen: number;
  lastSeen: number;
  crops: UnknownCrop[];
  /** L2-normalized mean embedding. */
  centroid: Float32Array;
  weight: number;
}

/** Options of {@link UnknownFaces}. */
export interface UnknownFacesOptions {
  /** Cosine from which a track joins an existing stranger. */
  clusterCosine: number;
  /** Strangers kept (the least recently seen go first). Default 50. */
  maxClusters?: number;
  /** Crops kept per track and per stranger. Default 4. */
  cropsPerCluster?: number;
  /** Face side (px) from which size no longer lowers a crop's quality. Default 80. */
  goodFaceSize?: number;
}

interface OpenTrack {
  camera: string;
  firstSeen: number;
  lastSeen: number;
  sum: Float32Array;
  crops: UnknownCrop[];
  count: number;
}

const MAX_OPEN_TRACKS = 256;

/** Collects unnamed tracks from pipeline frames and events. */
export class UnknownFaces {
  private readonly open = new Map<string, OpenTrack>();
  private readonly clusters = new Map<string, UnknownCluster>();
  private readonly maxClusters: number;
  private readonly perCluster: number;
  private readonly goodSize: number;

  constructor(private readonly o: UnknownFacesOptions) {
    this.maxClusters = o.maxClusters ?? 50;
    this.perCluster = o.cropsPerCluster ?? 4;
    this.goodSize = o.goodFaceSize ?? 80;
  }

  /** Keeps the best crops and the embedding sum of each track not yet named. */
  observe(f: PipelineFrame): void {
    for (const t of f.tracks) {
      if (t.lastSeen !== f.timestamp || t.identityStatus === 'known') continue;
      let best = -1;
      let bestIou = 0.5;
      f.faces.forEach((face, i) => {
        const o = iou(face.box, t.box);
        if (o > bestIou) [best, bestIou] = [i, o];
      });
      if (best < 0) continue;
      const face = f.faces[best]!;
      const trackId = `${f.camera}-${t.trackId}`;
      let track = this.open.get(trackId);
      if (!track) {
        if (this.open.size >= MAX_OPEN_TRACKS) this.open.delete(this.open.keys().next().value!);
        track = { camera: f.camera, firstSeen: f.timestamp, lastSeen: f.timestamp, sum: new Float32Array(face.embedding.length), crops: [], count: 0 };
        this.open.set(trackId, track);
      }
      track.lastSeen = f.timestamp;
      track.count++;
      for (let i = 0; i < track.sum.length; i++) track.sum[i]! += face.embedding[i] ?? 0;
      const size = Math.min(face.box[2] - face.box[0], face.box[3] - face.box[1]);
      // The same gates as enrollment (one face: the others are greyed out of the crop).
      const verdict = checkFaceQuality(f.frame, [face]);
      const failed = verdict.ok ? 0 : verdict.refusals.length;
      const quality = 10 - failed + face.score * Math.min(1, size / this.goodSize);
      const worst = track.crops.length < this.perCluster ? -Infinity : track.crops[track.crops.length - 1]!.quality;
      if (quality > worst) {
        // Copying the crop is the only cost, paid only when it beats a kept one.
        const others = f.faces.filter((_, i) => i !== best).map((o) => o.box);
        track.crops.push({ frame: cropFrame(f.frame, face.box, 0.35, others), box: [...face.box], embedding: Float32Array.from(face.embedding), verdict, quality, trackId });
        track.crops.sort((a, b) => b.quality - a.quality).splice(this.perCluster);
      }
    }
  }

  /** A track that ended unnamed becomes (or joins) a stranger; a named one is forgotten. */
  onEvent(e: JetfaceEvent): void {
    if (e.type === 'recognition_update' && e.identity) this.open.delete(e.trackId);
    if (e.type !== 'track_ended') return;
    const track = this.open.get(e.trackId);
    this.open.delete(e.trackId);
    if (!track || e.identity !== null || track.crops.length === 0) return;
    const centroid = normalize(track.sum);
    let target: UnknownCluster | null = null;
    let bestCos = this.o.clusterCosine;
    for (const c of this.clusters.values()) {
      const cos = dot(c.centroid, centroid);
      if (cos >= bestCos) [target, bestCos] = [c, cos];
    }
    if (!target) {
      if (this.clusters.size >= this.maxClusters) this.evictOldest();
      target = { id: randomBytes(6).toString('hex'), cameras: [], trackIds: [], firstSeen: track.firstSeen, lastSeen: track.lastSeen, crops: [], centroid, weight: 0 };
      this.clusters.set(target.id, target);
    } else {
      const mixed = new Float32Array(centroid.length);
      for (let i = 0; i < mixed.length; i++) mixed[i] = target.centroid[i]! * target.weight + centroid[i]! * track.count;
      target.centroid = normalize(mixed);
    }
    target.weight += track.count;
    if (!target.cameras.includes(track.camera)) target.cameras.push(track.camera);
    target.trackIds.push(e.trackId);
    target.firstSeen = Math.min(target.firstSeen, track.firstSeen);
    target.lastSeen = Math.max(target.lastSeen, track.lastSeen);
    target.crops = [...target.crops, ...track.crops].sort((a, b) => b.quality - a.quality).slice(0, this.perCluster);
  }

  /** Strangers, most recently seen first. */
  list(): UnknownCluster[] {
    return [...this.clusters.values()].sort((a, b) => b.lastSeen - a.lastSeen);
  }

  get(id: string): UnknownCluster | null {
    return this.clusters.get(id) ?? null;
  }

  /** Forgets a stranger (dismissed, or enrolled); false when unknown. */
  remove(id: string): boolean {
    return this.clusters.delete(id);
  }

  /** A crop's JPEG, encoded once. */
  cropJpeg(id: string, index: number): Promise<Buffer> | null {
    const crop = this.clusters.get(id)?.crops[index];
    if (!crop) return null;
    crop.jpeg ??= frameJpeg(crop.frame, 256, 85);
    return crop.jpeg;
  }

  private evictOldest(): void {
    const oldest = [...this.clusters.values()].sort((a, b) => a.lastSeen - b.lastSeen)[0];
    if (oldest) this.clusters.delete(oldest.id);
  }
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) s += a[i]! * b[i]!;
  return s;
}

function normalize(v: Float32Array): Float32Array {
  const n = Math.sqrt(dot(v, v)) || 1;
  return v.map((x) => x / n);
}
