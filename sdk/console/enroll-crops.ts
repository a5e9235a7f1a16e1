/**
 * "Enroll as…" for an unknown face: each kept face goes through enrollment's quality gates as it was
 * seen in its camera frame (no second detection on a small crop), and its embedding is the one the
 * tracker used. Answers as {@link enrollPerson} does: one outcome per face, refusals with reasons.
 */
import type { EnrollmentOutcome, EnrollmentWarning, PersonEnrollment } from '../gallery/enroll';
import type { Gallery, PersonInput } from '../gallery/types';
import type { UnknownCrop } from './unknown-faces';

/** Adds the crops that passed the gates to the person (created with the first one). */
export function enrollCrops(gallery: Gallery, person: PersonInput, crops: readonly UnknownCrop[], source: string, faceImage?: (crop: UnknownCrop) => Uint8Array | undefined): PersonEnrollment {
  const outcomes: EnrollmentOutcome[] = [];
  let upserted = false;
  crops.forEach((crop, i) => {
    const from = `${source}/${i} (${crop.trackId})`;
    const v = crop.verdict;
    if (!v.ok) {
      const first = v.refusals[0];
      outcomes.push({ personId: person.personId, source: from, status: 'refused', reason: first?.code ?? 'no_face', message: v.refusals.map((r) => r.message).join('; ') || 'no face', refusals: v.refusals, padded: null, warnings: [] });
      return;
    }
    const warnings: EnrollmentWarning[] = [];
    const [match] = gallery.search([crop.embedding], { topK: 1 });
    const best = match?.candidates[0];
    if (best && best.personId !== person.personId && best.similarity >= gallery.threshold) {
      warnings.push({ code: 'matches_other', personId: best.personId, name: best.name, similarity: best.similarity, message: `looks like ${best.name} (${best.personId}), similarity ${best.similarity.toFixed(3)}` });
    }
    if (!upserted) {
      gallery.upsertPerson(person);
      upserted = true;
    }
    const image = faceImage?.(crop);
    gallery.addEmbeddings(person.personId, [{ embedding: crop.embedding, source: `console:${from}`, ...(image ? { faceImage: image } : {}) }]);
    outcomes.push({ personId: person.personId, source: from, status: 'enrolled', box: crop.box, score: v.measures.score, measures: v.measures, padded: null, ignoredFaces: v.ignoredFaces, warnings });
  });
  const enrolled = outcomes.filter((o) => o.status === 'enrolled').length;
  return { person: gallery.getPerson(person.personId), enrolled, refused: outcomes.length - enrolled, outcomes };
}
