/**
 * The demo's guest mode: the first good unknown faces become guest-1, guest-2, ..., through the
 * enrollment quality gates (sdk/gallery/quality.ts).
 */
import { boxIou } from '../../engine/nms';
import type { JetfaceEvent } from '../../events/types';
import { checkFaceQuality } from '../../gallery/quality';
import type { Gallery } from '../../gallery/types';
import type { Box, Face, Frame } from '../../types';

/** A guest just enrolled, or a face that could not be. */
export type GuestOutcome = { enrolled: true; personId: string; name: string; trackId: string } | { enrolled: false; trackId: string; reason: string };

/**
 * Watches a device's faces and events: when the tracker decides a face is unknown, its embedding
 * (if the face passes the quality gates) is enrolled as the next guest. The tracker then names the
 * same track (a `recognition_update`), and the person is recognized whenever they come back.
 *
 * @example
 * ```ts
 * const guests = new GuestEnroller(device.gallery, (o) => console.log(o));
 * // startDevice(config, { onFaces: (frame, faces) => guests.observe(frame, faces) }); device.pipeline.on('event', (e) => guests.onEvent(e));
 * ```
 */
export class GuestEnroller {
  private readonly latest = new Map<string, { frame: Frame; faces: readonly Face[] }>();
  private count = 0;
  /** The highest guest number in use: a removed guest leaves a gap, and the next number must be new. */
  private last = 0;

  constructor(
    private readonly gallery: Gallery,
    private readonly report: (outcome: GuestOutcome) => void,
    private readonly maxGuests = 50,
  ) {
    const numbers = gallery.listPeople().flatMap((p) => guestNumber(p.personId) ?? []);
    this.count = numbers.length;
    this.last = numbers.reduce((a, b) => Math.max(a, b), 0);
  }

  /** Guests enrolled so far (this run and earlier runs on the same gallery). */
  get guests(): number {
    return this.count;
  }

  observe(frame: Frame, faces: readonly Face[]): void {
    this.latest.set(frame.cameraId, { frame, faces });
  }

  onEvent(event: JetfaceEvent): void {
    if (event.type !== 'recognition' || event.identity !== null || this.count >= this.maxGuests) return;
    const seen = this.latest.get(event.camera);
    const face = seen ? bestOverlap(seen.faces, event.box) : null;
    if (!seen || !face) return this.report({ enrolled: false, trackId: event.trackId, reason: 'its face was not in the last frame' });
    const verdict = checkFaceQuality(seen.frame, [face]);
    if (!verdict.ok) return this.report({ enrolled: false, trackId: event.trackId, reason: verdict.refusals.map((r) => r.message).join('; ') });
    const [result] = this.gallery.search([face.embedding], { topK: 1 });
    if (result && result.status !== 'unknown') return this.report({ enrolled: false, trackId: event.trackId, reason: `already close to ${result.candidates[0]?.name ?? 'someone'} (${result.status})` });
    this.count++;
    const n = ++this.last;
    const person = { personId: `guest-${n}`, name: `Guest ${n}` };
    this.gallery.upsertPerson(person);
    this.gallery.addEmbeddings(person.personId, [{ embedding: face.embedding, source: `camera:${event.camera}` }]);
    this.report({ enrolled: true, ...person, trackId: event.trackId });
  }
}

function bestOverlap(faces: readonly Face[], box: Box): Face | null {
  let best: Face | null = null;
  let bestIou = 0.3;
  for (const f of faces) {
    const v = boxIou(f.box, box);
    if (v > bestIou) [best, bestIou] = [f, v];
  }
  return best;
}

/** N of a `guest-N` person id, else null. */
function guestNumber(personId: string): number | null {
  const m = /^guest-(\d+)$/.exec(personId);
  return m ? Number(m[1]) : null;
}
