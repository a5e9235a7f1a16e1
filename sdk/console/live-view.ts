/**
 * The live view's side of the device: the latest frame of each camera with its tracked faces,
 * kept (and JPEG-encoded, on request) only while a page watches that camera.
 */
import type { PipelineFrame } from '../pipeline/pipeline';
import type { Box, Frame } from '../types';
import { frameJpeg } from './frame-image';

/** One face of a live frame, as the page draws it. */
export interface LiveFace {
  trackId: string;
  box: Box;
  /** The track's name, or null (unknown or not decided yet). */
  name: string | null;
  similarity: number | null;
  status: 'known' | 'unknown' | 'undecided';
}

/** What goes with a live frame's JPEG. */
export interface LiveFrameMeta {
  camera: string;
  sequence: number;
  /** Epoch ms of the frame. */
  time: number;
  width: number;
  height: number;
  faces: LiveFace[];
}

/** A page that asked for a camera's frame within this long still counts as watching it. */
export const WATCH_WINDOW_MS = 3000;

interface Latest {
  frame: Pick<Frame, 'data' | 'width' | 'height' | 'format'>;
  meta: LiveFrameMeta;
  jpeg: Promise<Buffer> | null;
}

/** Latest frames per camera, held only while watched. */
export class LiveView {
  private readonly latest = new Map<string, Latest>();
  private readonly watchedAt = new Map<string, number>();

  /** Counts of JPEG encodings (the bench checks none happen without a watcher). */
  encodes = 0;

  /** Takes a pipeline frame; cheap when nobody watches this camera. */
  observe(f: PipelineFrame, now = Date.now()): void {
    const watched = now - (this.watchedAt.get(f.camera) ?? Number.NEGATIVE_INFINITY) < WATCH_WINDOW_MS;
    if (!watched) {
      this.latest.delete(f.camera);
      return;
    }
    const faces: LiveFace[] = f.tracks
      .filter((t) => t.lastSeen === f.timestamp && t.state !== 'ended')
      .map((t) => ({
        trackId: `${f.camera}-${t.trackId}`,
        box: [round(t.box[0]), round(t.box[1]), round(t.box[2]), round(t.box[3])],
        name: t.identity?.name ?? null,
        similarity: t.identity ? Math.round(t.identity.similarity * 1000) / 1000 : null,
        status: t.identityStatus,
      }));
    // The capture may reuse its buffer for the next frame: keep a copy.
    const frame = { data: Buffer.from(f.frame.data), width: f.frame.width, height: f.frame.height, format: f.frame.format };
    this.latest.set(f.camera, { frame, meta: { camera: f.camera, sequence: f.frame.sequence, time: f.frame.timestamp, width: f.frame.width, height: f.frame.height, faces }, jpeg: null });
  }

  /** Marks the camera watched (a page asked for it). */
  touch(camera: string, now = Date.now()): void {
    this.watchedAt.set(camera, now);
  }

  /** Pages watching any camera now. */
  watching(now = Date.now()): string[] {
    return [...this.watchedAt].filter(([, at]) => now - at < WATCH_WINDOW_MS).map(([c]) => c);
  }

  /** The latest frame's JPEG and faces, encoded once per frame; null before the first watched frame. */
  async current(camera: string): Promise<{ jpeg: Buffer; meta: LiveFrameMeta } | null> {
    this.touch(camera);
    const l = this.latest.get(camera);
    if (!l) return null;
    if (!l.jpeg) {
      this.encodes++;
      l.jpeg = frameJpeg(l.frame);
    }
    return { jpeg: await l.jpeg, meta: l.meta };
  }
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
