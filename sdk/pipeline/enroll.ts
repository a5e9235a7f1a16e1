import { InvalidArgumentError, JetfaceError } from '../errors';
import type { FaceEngine } from '../engine/face-engine';
import { loadImageFrame } from '../image/decode';
import type { InMemoryGallery } from '../tracking/memory-gallery';
import type { Face } from '../types';

/** One person to enroll: their id and name, and photos of them (one face per photo; the largest counts). */
export interface EnrollEntry {
  personId: string;
  name: string;
  files: string[];
}

/** What became of one photo: its largest face enrolled, or refused with a reason. */
export type EnrollOutcome =
  | { personId: string; file: string; status: 'enrolled'; faces: number; box: Face['box']; score: number }
  | { personId: string; file: string; status: 'refused'; reason: 'no_face' | 'no_embedding' | 'unreadable'; message: string; code?: string };

/**
 * Enrolls people from photos: each photo is decoded, run through the engine, and the embedding of
 * its largest face is added to the person's templates in the gallery. A photo that cannot be read
 * or shows no face is refused (reported, never thrown), so one bad photo does not stop the rest.
 *
 * @example
 * ```ts
 * const gallery = new InMemoryGallery({ threshold: engine.manifest.thresholds.match });
 * const outcomes = await enrollFromImages(engine, gallery, [
 *   { personId: 'lmm', name: 'Lin-Manuel Miranda', files: ['enroll/lin-manuel-miranda.png'] },
 * ]);
 * for (const o of outcomes) if (o.status === 'refused') console.warn(o.file, o.reason);
 * ```
 */
export async function enrollFromImages(
  engine: Pick<FaceEngine, 'detect'>,
  gallery: Pick<InMemoryGallery, 'enroll'>,
  entries: readonly EnrollEntry[],
): Promise<EnrollOutcome[]> {
  if (!Array.isArray(entries)) throw new InvalidArgumentError('entries', 'an array of { personId, name, files }', entries);
  entries.forEach((entry, i) => {
    if (typeof entry?.personId !== 'string' || entry.personId.length === 0) throw new InvalidArgumentError(`entries[${i}].personId`, 'a non-empty string', entry?.personId);
    if (typeof entry.name !== 'string') throw new InvalidArgumentError(`entries[${i}].name`, 'a string', entry.name);
    if (!Array.isArray(entry.files)) throw new InvalidArgumentError(`entries[${i}].files`, 'an array of file paths', entry.files);
  });
  const outcomes: EnrollOutcome[] = [];
  for (const { personId, name, files } of entries) {
    for (const file of files) {
      let faces: Face[];
      try {
        faces = await engine.detect(await loadImageFrame(file));
      } catch (error) {
        // A bad photo is refused; the engine being closed or broken is not the photo's fault.
        if (error instanceof JetfaceError && (error.code === 'E_ENGINE_CLOSED' || error.code === 'E_WORKER')) throw error;
        outcomes.push({ personId, file, status: 'refused', reason: 'unreadable', message: errorMessage(error), ...(error instanceof JetfaceError ? { code: error.code } : {}) });
        continue;
      }
      if (faces.length === 0) {
        outcomes.push({ personId, file, status: 'refused', reason: 'no_face', message: 'no face found' });
        continue;
      }
      const largest = faces.reduce((a, b) => (area(b.box) > area(a.box) ? b : a));
      if (largest.embedding.length === 0) {
        outcomes.push({ personId, file, status: 'refused', reason: 'no_embedding', message: 'the engine gave no embedding for the face' });
        continue;
      }
      gallery.enroll(personId, name, [largest.embedding]);
      outcomes.push({ personId, file, status: 'enrolled', faces: faces.length, box: largest.box, score: largest.score });
    }
  }
  return outcomes;
}

function area(box: readonly number[]): number {
  return Math.max(0, box[2]! - box[0]!) * Math.max(0, box[3]! - box[1]!);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
