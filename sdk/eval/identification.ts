/**
 * 1:N identification on a user's own photos: a gallery folder and a probe folder, each holding one
 * sub-folder per person. The gallery is enrolled through the quality gates into a temporary SQLite
 * gallery, then the largest face of every probe photo is searched at the bundle's match threshold,
 * as a device would name it. What is counted:
 * - `rank1_rate`: probes of enrolled people named as themselves, over all their probes (a probe with
 *   no face found counts as a miss, as in `eval verify`);
 * - `strangers_named_rate`: probes of people not enrolled (a probe sub-folder not in the gallery)
 *   that got any name, over those probes where a face was found;
 * - `wrong_names`: probes of enrolled people given another enrolled person's name.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listImages } from '../capture/image-folder';
import { InputFileError, JetfaceError, NothingEnrolledError, errorMessage } from '../errors';
import { enrollFolder, type EnrollmentEngine, type EnrollmentRefusalCode } from '../gallery/enroll';
import { MAX_PADDED_PIXELS, padFrame, paddedPixels } from '../gallery/enroll-input';
import { embeddingSpaceId } from '../gallery/model-id';
import { SqliteGallery } from '../gallery/sqlite-gallery';
import type { SearchResult } from '../gallery/types';
import { loadImageFrame } from '../image/decode';
import type { Face } from '../types';
import { largestFace } from './face-match';

/** Options of {@link evaluateIdentification}. */
export interface IdentificationOptions {
  /** Match threshold (cosine; default: the bundle's `thresholds.match`). A person's own threshold from `person.json` still wins. */
  threshold?: number;
  /** Least gap to the runner-up, else not named (default 0.05, a device's default). */
  margin?: number;
  /** Border ratios tried when no face is found, for enrollment and probes alike (default: enrollment's, [0.5, 1]). */
  padRetries?: readonly number[];
  /** Called after each enrolled photo and each probe. */
  onProgress?: (progress: { stage: 'enroll' | 'probe'; done: number; total: number; source: string }) => void;
}

/** What became of one probe photo. */
export type ProbeOutcome = 'identified' | 'wrong_name' | 'not_named' | 'stranger_named' | 'stranger_not_named' | 'no_face' | 'unreadable';

/** One probe photo's answer. */
export interface ProbeResult {
  person_id: string;
  source: string;
  enrolled: boolean;
  outcome: ProbeOutcome;
  /** The person named (`known` answers only), else null. */
  named: string | null;
  /** The gallery's answer (null when no face was searched). */
  status: SearchResult['status'] | null;
  /** The best candidate whatever the threshold (to see how far a miss was). */
  top: { person_id: string; similarity: number } | null;
  /** The border ratio that made the face findable, or null. */
  padded: number | null;
}

/** Per-person counts: gallery photos enrolled and refused, and the person's probes by outcome. */
export interface PersonIdentification {
  person_id: string;
  enrolled: boolean;
  enrolled_photos: number;
  refused_photos: number;
  probes: number;
  identified: number;
  wrong_names: number;
  not_named: number;
  strangers_named: number;
  no_face: number;
}

/**
 * The result of {@link evaluateIdentification}; its field names are those of `jetface eval identify --json`.
 *
 * @example
 * ```ts
 * const r: IdentificationResult = await evaluateIdentification(engine, 'gallery/', 'probes/');
 * console.log(r.rank1_rate, r.strangers_named_rate, r.wrong_names);
 * ```
 */
export interface IdentificationResult {
  threshold: number;
  threshold_from: 'option' | 'manifest.thresholds.match';
  margin: number;
  gallery: { people: number; photos: number; enrolled_photos: number };
  probes: number;
  enrolled_probes: number;
  stranger_probes: number;
  /** Probes of enrolled people named correctly / all their probes; null without such probes. */
  rank1_rate: number | null;
  identified: number;
  /** Probes of people not enrolled that got a name / those of them with a face; null without such probes. */
  strangers_named_rate: number | null;
  strangers_named: number;
  wrong_names: number;
  /** Probes of enrolled people that nobody was named for (unknown or ambiguous). */
  not_named: number;
  no_face: number;
  unreadable: number;
  enroll_refused: { person_id: string; source: string; reason: EnrollmentRefusalCode; message: string }[];
  people: PersonIdentification[];
  probe_results: ProbeResult[];
}

/**
 * Enrolls `galleryDir` (one sub-folder per person, see `enrollFolder`) into a temporary gallery,
 * then identifies the largest face of every photo under `probesDir` (same layout; a sub-folder whose
 * name is not an enrolled person's id holds strangers). The engine is left open.
 *
 * @throws InputFileError naming the folder when a folder cannot be read or holds no person
 *   sub-folder with images; NothingEnrolledError when every gallery photo was refused.
 *
 * @example
 * ```ts
 * const engine = await FaceEngine.create('build/bundles/cascade');
 * const r = await evaluateIdentification(engine, 'people/gallery', 'people/probes', { threshold: 0.45 });
 * console.log(`${r.identified} identified, ${r.wrong_names} wrong names, ${r.strangers_named} strangers named`);
 * await engine.close();
 * ```
 */
export async function evaluateIdentification(engine: EnrollmentEngine, galleryDir: string, probesDir: string, options: IdentificationOptions = {}): Promise<IdentificationResult> {
  // Both folders are checked before any detection: a wrong path fails in milliseconds.
  const galleryPeople = await readPersonFolders(galleryDir, 'gallery');
  const probePeople = await readPersonFolders(probesDir, 'probes');
  const threshold = options.threshold ?? engine.manifest.thresholds.match;
  const padRetries = options.padRetries ?? [0.5, 1];
  const dir = await mkdtemp(join(tmpdir(), 'jetface-identify-'));
  const gallery = SqliteGallery.open(join(dir, 'gallery.db'), { modelId: embeddingSpaceId(engine.manifest), threshold, ...(options.margin !== undefined ? { margin: options.margin } : {}) });
  try {
    const job = await enrollFolder(engine, gallery, galleryDir, {
      padRetries,
      ...(options.onProgress ? { onProgress: ({ done, total, outcome }) => options.onProgress!({ stage: 'enroll', done, total, source: outcome.source }) } : {}),
    });
    if (job.enrolled === 0) throw new NothingEnrolledError(job.outcomes.map((o) => ({ source: o.source, reason: o.status === 'refused' ? o.reason : 'enrolled' })));
    const enrolled = new Set(gallery.listPeople().filter((p) => p.embeddings > 0).map((p) => p.personId));
    const total = probePeople.reduce((n, p) => n + p.files.length, 0);
    const probeResults: ProbeResult[] = [];
    for (const person of probePeople) {
      for (const source of person.files) {
        probeResults.push(await identifyProbe(engine, gallery, person.personId, source, enrolled.has(person.personId), padRetries));
        options.onProgress?.({ stage: 'probe', done: probeResults.length, total, source });
      }
    }
    const refused = job.outcomes.flatMap((o) => (o.status === 'refused' ? [{ person_id: o.personId, source: o.source, reason: o.reason, message: o.message }] : []));
    return summarize(probeResults, refused, job.outcomes, galleryPeople, enrolled, {
      threshold,
      threshold_from: options.threshold !== undefined ? 'option' : 'manifest.thresholds.match',
      margin: gallery.margin,
    });
  } finally {
    gallery.close();
    await rm(dir, { recursive: true, force: true });
  }
}

interface PersonFolder {
  personId: string;
  files: string[];
}

/** The person sub-folders of a folder that hold at least one image. */
async function readPersonFolders(root: string, role: 'gallery' | 'probes'): Promise<PersonFolder[]> {
  let names: string[];
  try {
    names = (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name);
  } catch (error) {
    throw new InputFileError(root, `cannot read the ${role} folder: ${errorMessage(error)}`, { role });
  }
  names.sort(new Intl.Collator('en', { numeric: true }).compare);
  const people: PersonFolder[] = [];
  for (const name of names) {
    const files = await listImages(join(root, name));
    if (files.length > 0) people.push({ personId: name, files });
  }
  if (people.length === 0) throw new InputFileError(root, `the ${role} folder holds no person sub-folder with images (expected ${root}/<person>/<photo>.jpg)`, { role });
  return people;
}

/** Detects (retrying with a border, as enrollment does), takes the largest face and searches the gallery. */
async function identifyProbe(engine: EnrollmentEngine, gallery: SqliteGallery, personId: string, source: string, isEnrolled: boolean, padRetries: readonly number[]): Promise<ProbeResult> {
  const base = { person_id: personId, source, enrolled: isEnrolled, named: null, status: null, top: null, padded: null };
  let face: Face | undefined;
  let padded: number | null = null;
  try {
    const frame = await loadImageFrame(source);
    face = largestFace(await engine.detect(frame));
    for (const ratio of padRetries) {
      if (face || paddedPixels(frame, ratio) > MAX_PADDED_PIXELS) break;
      face = largestFace(await engine.detect((await padFrame(frame, ratio)).frame));
      if (face) padded = ratio;
    }
  } catch (error) {
    if (error instanceof JetfaceError && (error.code === 'E_ENGINE_CLOSED' || error.code === 'E_WORKER')) throw error;
    return { ...base, outcome: 'unreadable' };
  }
  if (!face) return { ...base, outcome: 'no_face' };
  const [answer] = gallery.search([face.embedding], { topK: 2 });
  const named = answer?.status === 'known' ? answer.match!.personId : null;
  const best = answer?.candidates[0];
  const outcome: ProbeOutcome = isEnrolled
    ? named === personId ? 'identified' : named !== null ? 'wrong_name' : 'not_named'
    : named !== null ? 'stranger_named' : 'stranger_not_named';
  return { ...base, outcome, named, status: answer?.status ?? null, top: best ? { person_id: best.personId, similarity: round(best.similarity) } : null, padded };
}

function summarize(
  probes: ProbeResult[],
  refused: IdentificationResult['enroll_refused'],
  enrollment: readonly { personId: string; status: string }[],
  galleryPeople: readonly PersonFolder[],
  enrolled: ReadonlySet<string>,
  head: Pick<IdentificationResult, 'threshold' | 'threshold_from' | 'margin'>,
): IdentificationResult {
  const count = (list: readonly ProbeResult[], ...outcomes: ProbeOutcome[]): number => list.filter((p) => outcomes.includes(p.outcome)).length;
  const ofEnrolled = probes.filter((p) => p.enrolled);
  const strangers = probes.filter((p) => !p.enrolled);
  const strangersSeen = strangers.filter((p) => p.outcome === 'stranger_named' || p.outcome === 'stranger_not_named').length;
  const ids = [...new Set([...galleryPeople.map((p) => p.personId), ...probes.map((p) => p.person_id)])];
  const people = ids.map((id): PersonIdentification => {
    const own = probes.filter((p) => p.person_id === id);
    const photos = enrollment.filter((o) => o.personId === id);
    return {
      person_id: id,
      enrolled: enrolled.has(id),
      enrolled_photos: photos.filter((o) => o.status === 'enrolled').length,
      refused_photos: photos.filter((o) => o.status === 'refused').length,
      probes: own.length,
      identified: count(own, 'identified'),
      wrong_names: count(own, 'wrong_name'),
      not_named: count(own, 'not_named', 'stranger_not_named'),
      strangers_named: count(own, 'stranger_named'),
      no_face: count(own, 'no_face', 'unreadable'),
    };
  });
  const identified = count(ofEnrolled, 'identified');
  const strangersNamed = count(strangers, 'stranger_named');
  return {
    ...head,
    gallery: { people: enrolled.size, photos: enrollment.length, enrolled_photos: enrollment.filter((o) => o.status === 'enrolled').length },
    probes: probes.length,
    enrolled_probes: ofEnrolled.length,
    stranger_probes: strangers.length,
    rank1_rate: ofEnrolled.length > 0 ? round(identified / ofEnrolled.length) : null,
    identified,
    strangers_named_rate: strangersSeen > 0 ? round(strangersNamed / strangersSeen) : null,
    strangers_named: strangersNamed,
    wrong_names: count(ofEnrolled, 'wrong_name'),
    not_named: count(ofEnrolled, 'not_named'),
    no_face: count(probes, 'no_face'),
    unreadable: count(probes, 'unreadable'),
    enroll_refused: refused,
    people,
    probe_results: probes,
  };
}

function round(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}
