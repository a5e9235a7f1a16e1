/**
 * Enrollment into a {@link Gallery}: photos (files or bytes) and folder trees, each face passed
 * through the quality gates, checked against the people already enrolled, then added. Every
 * photo gets an outcome (enrolled or refused, with the reason); one bad photo never stops a job.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { GalleryModelMismatchError, InputFileError, InvalidArgumentError, JetfaceError, errorMessage } from '../errors';
import type { FaceEngine } from '../engine/face-engine';
import { listImages } from '../capture/image-folder';
import { loadImageFrame } from '../image/decode';
import type { Box, Face, Frame } from '../types';
import { MAX_PADDED_PIXELS, decodeImageBytes, faceCropJpeg, padFrame, paddedPixels } from './enroll-input';
import { embeddingSpaceId } from './model-id';
import { checkPersonInput } from './people-table';
import { checkFaceQuality, resolveQualityLimits, type FaceQualityMeasures, type QualityLimits, type QualityRefusal, type QualityRefusalCode } from './quality';
import type { Gallery, PersonInput, PersonRecord } from './types';

/** What enrollment needs of an engine. */
export type EnrollmentEngine = Pick<FaceEngine, 'detect' | 'manifest'>;

/**
 * Why a photo was refused: a quality gate, an unreadable file, (with `refuseIfMatchesOther`) someone
 * else's face, or (folder jobs) a bad `person.json` of its person.
 */
export type EnrollmentRefusalCode = QualityRefusalCode | 'unreadable' | 'matches_other' | 'invalid_person';

/** The face looked like a person already enrolled under another id. */
export interface EnrollmentWarning {
  code: 'matches_other';
  personId: string;
  name: string;
  similarity: number;
  message: string;
}

/** What became of one photo. `padded`: the border ratio that made the face findable (tight crops). */
export type EnrollmentOutcome =
  | { personId: string; source: string; status: 'enrolled'; box: Box; score: number; measures: FaceQualityMeasures; padded: number | null; ignoredFaces: number; warnings: EnrollmentWarning[] }
  | {
      personId: string;
      source: string;
      status: 'refused';
      reason: EnrollmentRefusalCode;
      message: string;
      /** Every failed quality gate (the first is `reason`). */
      refusals: QualityRefusal[];
      padded: number | null;
      warnings: EnrollmentWarning[];
    };

/** Progress of a bulk job, after each photo. */
export interface EnrollmentProgress {
  done: number;
  total: number;
  outcome: EnrollmentOutcome;
}

/** Options of every enrollment function. */
export interface EnrollmentOptions {
  /** Quality limits (defaults: {@link DEFAULT_QUALITY_LIMITS}). */
  quality?: Partial<QualityLimits>;
  /** Border ratios tried in turn when no face is found (default [0.5, 1]); [] turns the retry off. */
  padRetries?: readonly number[];
  /** Cosine from which a face counts as matching someone else (default: the gallery's threshold). */
  otherMatchThreshold?: number;
  /** Refuse a face that matches someone else instead of warning (default false). */
  refuseIfMatchesOther?: boolean;
  /** Pass the face crop (JPEG) to the gallery, which keeps it only if opened with `keepFaceImages` (default false). */
  faceImages?: boolean;
  /** Called after each photo. */
  onProgress?: (progress: EnrollmentProgress) => void;
}

/** One person's photos, as files or as decoded/undecoded bytes. */
export interface EnrollmentImage {
  /** Where it came from, for the outcome and the gallery's audit (`file`, `images[2]`, `camera:door`). */
  source: string;
  /** A file path, encoded image bytes (JPEG/PNG/WebP), or a frame. */
  input: string | Uint8Array | Frame;
}

/** The result of enrolling one person. `person` is null when nothing was enrolled and the person did not exist before. */
export interface PersonEnrollment {
  person: PersonRecord | null;
  enrolled: number;
  refused: number;
  outcomes: EnrollmentOutcome[];
}

/**
 * Enrolls one person from photos: creates or updates the person once the first photo passes,
 * then adds one embedding per passing photo.
 * `progress` is the running count of a larger job (see {@link enrollFolder}); leave it out.
 *
 * @example
 * ```ts
 * const result = await enrollPerson(engine, gallery, { personId: 'amy', name: 'Amy' }, ['amy1.png', 'amy2.png']);
 * for (const o of result.outcomes) if (o.status === 'refused') console.warn(o.source, o.message);
 * ```
 */
export async function enrollPerson(
  engine: EnrollmentEngine,
  gallery: Gallery,
  person: PersonInput,
  images: readonly (string | EnrollmentImage)[],
  options: EnrollmentOptions = {},
  progress: { done: number; total: number } = { done: 0, total: images.length },
): Promise<PersonEnrollment> {
  checkPersonInput(person); // the gallery's own rules, before any detection
  if (!Array.isArray(images)) throw new InvalidArgumentError('images', 'an array of files or { source, input }', images);
  const settings = resolveOptions(engine, gallery, options);
  const outcomes: EnrollmentOutcome[] = [];
  let record: PersonRecord | null = gallery.getPerson(person.personId);
  let upserted = false;
  for (const item of images) {
    const image = typeof item === 'string' ? { source: item, input: item } : item;
    const prepared = await prepare(engine, image, person.personId, settings);
    const outcome = prepared.outcome;
    if (prepared.face && prepared.frame && outcome.status === 'enrolled') {
      if (!upserted) {
        record = gallery.upsertPerson(person);
        upserted = true;
      }
      const faceImage = settings.faceImages ? await faceCropJpeg(prepared.frame, prepared.face.box) : undefined;
      gallery.addEmbeddings(person.personId, [{ embedding: prepared.face.embedding, source: image.source, ...(faceImage ? { faceImage } : {}) }]);
    }
    outcomes.push(outcome);
    progress.done += 1;
    options.onProgress?.({ done: progress.done, total: progress.total, outcome });
  }
  if (upserted) record = gallery.getPerson(person.personId);
  const enrolled = outcomes.filter((o) => o.status === 'enrolled').length;
  return { person: record, enrolled, refused: outcomes.length - enrolled, outcomes };
}

/** A person found in a folder tree. */
export interface FolderPerson extends PersonInput {
  dir: string;
  files: string[];
}

/**
 * Reads a folder tree for {@link enrollFolder}: one sub-folder per person (its name is the
 * personId), optional `person.json` `{ name?, metadata?, threshold? }` (name defaults to the
 * folder name), the images in natural order. Throws `InputFileError` naming a bad `person.json`
 * (malformed, or a person the gallery would refuse, e.g. an empty name).
 *
 * @example
 * ```ts
 * const people = await readPeopleFolder('enroll/'); // [{ personId: 'amy', name: 'Amy', files: [...] }, ...]
 * ```
 */
export async function readPeopleFolder(root: string): Promise<FolderPerson[]> {
  const entries = await readPeopleEntries(root);
  const bad = entries.find((e) => e.error);
  if (bad?.error) throw bad.error;
  return entries.map((e) => e.person);
}

/** A folder person, with the error of its `person.json` (checked with the gallery's rules) if it is bad. */
interface FolderEntry {
  person: FolderPerson;
  error?: InputFileError;
}

async function readPeopleEntries(root: string): Promise<FolderEntry[]> {
  let names: string[];
  try {
    names = (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name);
  } catch (error) {
    throw new InputFileError(root, `cannot read the people folder: ${errorMessage(error)}`);
  }
  names.sort(new Intl.Collator('en', { numeric: true }).compare);
  const entries: FolderEntry[] = [];
  for (const name of names) {
    const dir = join(root, name);
    const files = await listImages(dir);
    try {
      entries.push({ person: await readFolderPerson(dir, name, files) });
    } catch (error) {
      if (!(error instanceof InputFileError)) throw error;
      entries.push({ person: { personId: name, name, dir, files }, error });
    }
  }
  return entries;
}

async function readFolderPerson(dir: string, name: string, files: string[]): Promise<FolderPerson> {
  const file = join(dir, 'person.json');
  const meta = await readPersonJson(file);
  const person: PersonInput = { personId: name, name: meta.name ?? name, metadata: meta.metadata ?? {}, ...(meta.threshold !== undefined ? { threshold: meta.threshold } : {}) };
  try {
    checkPersonInput(person);
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    throw new InputFileError(file, error.message, { field: error.details['name'] });
  }
  return { ...person, dir, files };
}

/** The result of a folder job. */
export interface FolderEnrollment {
  people: PersonEnrollment[];
  enrolled: number;
  refused: number;
  outcomes: EnrollmentOutcome[];
}

/**
 * Enrolls every person of a folder tree (see {@link readPeopleFolder}), with progress over all photos.
 * A person whose `person.json` is bad is not enrolled: each of their photos is refused with reason
 * `invalid_person` naming the file and field, and the job goes on with the others.
 *
 * @example
 * ```ts
 * const job = await enrollFolder(engine, gallery, '../shared/data/people/bbt', {
 *   onProgress: ({ done, total, outcome }) => console.log(`${done}/${total} ${outcome.source} ${outcome.status}`),
 * });
 * ```
 */
export async function enrollFolder(engine: EnrollmentEngine, gallery: Gallery, root: string, options: EnrollmentOptions = {}): Promise<FolderEnrollment> {
  const folder = await readPeopleEntries(root);
  const progress = { done: 0, total: folder.reduce((n, e) => n + e.person.files.length, 0) };
  const people: PersonEnrollment[] = [];
  for (const { person: { dir: _dir, files, ...person }, error } of folder) {
    people.push(error ? refusePerson(gallery, person.personId, files, error, options, progress) : await enrollPerson(engine, gallery, person, files, options, progress));
  }
  const outcomes = people.flatMap((p) => p.outcomes);
  const enrolled = outcomes.filter((o) => o.status === 'enrolled').length;
  return { people, enrolled, refused: outcomes.length - enrolled, outcomes };
}

/** A folder person whose `person.json` is bad: every photo refused with the reason, the job goes on. */
function refusePerson(gallery: Gallery, personId: string, files: readonly string[], error: InputFileError, options: EnrollmentOptions, progress: { done: number; total: number }): PersonEnrollment {
  const outcomes: EnrollmentOutcome[] = [];
  for (const source of files) {
    const outcome: EnrollmentOutcome = { personId, source, status: 'refused', reason: 'invalid_person', message: error.message, refusals: [], padded: null, warnings: [] };
    outcomes.push(outcome);
    progress.done += 1;
    options.onProgress?.({ done: progress.done, total: progress.total, outcome });
  }
  return { person: gallery.getPerson(personId), enrolled: 0, refused: outcomes.length, outcomes };
}

interface Settings {
  limits: QualityLimits;
  padRetries: readonly number[];
  otherThreshold: number;
  refuseOther: boolean;
  /** Crop faces for the gallery: asked for, and the gallery does not say it drops them. */
  faceImages: boolean;
  gallery: Gallery;
}

/** A checked face for one image: the outcome, and for a passing face the face and its frame. */
export interface PreparedImage {
  outcome: EnrollmentOutcome;
  face: Face | null;
  frame: Frame | null;
}

/** @internal Validates the options once per job; shared with camera and remote enrollment. */
export function resolveOptions(engine: EnrollmentEngine, gallery: Gallery, options: EnrollmentOptions): Settings {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options', 'an object', options);
  const space = embeddingSpaceId(engine.manifest as Parameters<typeof embeddingSpaceId>[0]);
  if (space !== gallery.modelId) throw new GalleryModelMismatchError(gallery.modelId, space, 'enrollment');
  const padRetries = options.padRetries ?? [0.5, 1];
  if (!Array.isArray(padRetries) || padRetries.some((r) => typeof r !== 'number' || !(r > 0 && r <= 4))) throw new InvalidArgumentError('options.padRetries', 'an array of border ratios in (0, 4]', padRetries);
  const otherThreshold = options.otherMatchThreshold ?? gallery.threshold;
  if (typeof otherThreshold !== 'number' || !(otherThreshold >= -1 && otherThreshold <= 1)) throw new InvalidArgumentError('options.otherMatchThreshold', 'a cosine in -1..1', otherThreshold);
  const faceImages = options.faceImages === true && (gallery as { keepFaceImages?: unknown }).keepFaceImages !== false;
  return { limits: resolveQualityLimits(options.quality, 'options.quality'), padRetries, otherThreshold, refuseOther: options.refuseIfMatchesOther === true, faceImages, gallery };
}

/** @internal Decodes, detects (with the padding retry), gates and checks one image against other people. */
export async function prepare(engine: EnrollmentEngine, image: EnrollmentImage, personId: string, s: Settings): Promise<PreparedImage> {
  let frame: Frame;
  let faces: Face[];
  try {
    frame = typeof image.input === 'string' ? await loadImageFrame(image.input) : image.input instanceof Uint8Array ? await decodeImageBytes(image.input, image.source) : image.input;
    faces = await engine.detect(frame);
  } catch (error) {
    // A bad photo is refused; the engine being closed or broken is not the photo's fault.
    if (error instanceof JetfaceError && (error.code === 'E_ENGINE_CLOSED' || error.code === 'E_WORKER')) throw error;
    const message = errorMessage(error);
    return { outcome: { personId, source: image.source, status: 'refused', reason: 'unreadable', message, refusals: [], padded: null, warnings: [] }, face: null, frame: null };
  }
  let padded: number | null = null;
  let offset = 0;
  const tried: number[] = [];
  const tooBig: number[] = [];
  for (const ratio of s.padRetries) {
    if (faces.length > 0) break;
    if (paddedPixels(frame, ratio) > MAX_PADDED_PIXELS) {
      tooBig.push(ratio); // a large photo is no tight crop; padding it would cost gigabytes
      continue;
    }
    tried.push(ratio);
    const p = await padFrame(frame, ratio);
    const found = await engine.detect(p.frame);
    if (found.length > 0) {
      ({ frame, offset } = p);
      faces = found;
      padded = ratio;
    }
  }
  const verdict = checkFaceQuality(frame, faces, s.limits);
  if (!verdict.ok) {
    const first = verdict.refusals[0]!;
    const note = first.code === 'no_face' ? retryNote(tried, tooBig) : '';
    return { outcome: { personId, source: image.source, status: 'refused', reason: first.code, message: verdict.refusals.map((r) => r.message).join('; ') + note, refusals: verdict.refusals, padded, warnings: [] }, face: null, frame: null };
  }
  const warnings = otherMatches(s.gallery, verdict.face.embedding, personId, s.otherThreshold);
  if (warnings.length > 0 && s.refuseOther) {
    return { outcome: { personId, source: image.source, status: 'refused', reason: 'matches_other', message: warnings.map((w) => w.message).join('; '), refusals: [], padded, warnings }, face: null, frame: null };
  }
  const b = verdict.face.box;
  const box: Box = [b[0] - offset, b[1] - offset, b[2] - offset, b[3] - offset];
  return {
    outcome: { personId, source: image.source, status: 'enrolled', box, score: verdict.face.score, measures: verdict.measures, padded, ignoredFaces: verdict.ignoredFaces, warnings },
    face: verdict.face,
    frame,
  };
}

/** What the padding retry did, for a no-face refusal's message. */
function retryNote(tried: readonly number[], tooBig: readonly number[]): string {
  const parts = [
    ...(tried.length > 0 ? [`also with a border of ${tried.join(', ')} × the image size`] : []),
    ...(tooBig.length > 0 ? [`not retried with a border of ${tooBig.join(', ')} × the image size: over ${MAX_PADDED_PIXELS / 1e6} megapixels`] : []),
  ];
  return parts.length > 0 ? ` (${parts.join('; ')})` : '';
}

/** People other than `personId` whose best embedding is at least `threshold` from the face. */
function otherMatches(gallery: Gallery, embedding: Float32Array, personId: string, threshold: number): EnrollmentWarning[] {
  const [result] = gallery.search([embedding], { topK: 5, threshold: -1, margin: 0 });
  return (result?.candidates ?? [])
    .filter((c) => c.personId !== personId && c.similarity >= threshold)
    .map((c) => ({ code: 'matches_other', personId: c.personId, name: c.name, similarity: c.similarity, message: `the face matches ${c.name} (${c.personId}) with cosine ${c.similarity.toFixed(3)} (threshold ${threshold})` }));
}

async function readPersonJson(file: string): Promise<{ name?: string; metadata?: Record<string, unknown>; threshold?: number | null }> {
  try {
    if (!(await stat(file)).isFile()) return {};
  } catch {
    return {};
  }
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new InputFileError(file, `person.json is not valid JSON: ${errorMessage(error)}`);
  }
  const bad = (field: string, expected: string, actual: unknown): never => {
    throw new InputFileError(file, `${basename(file)} field ${field} must be ${expected}, got ${JSON.stringify(actual)}`, { field });
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return bad('(root)', 'an object', value);
  const v = value as Record<string, unknown>;
  if (v['name'] !== undefined && typeof v['name'] !== 'string') bad('name', 'a string', v['name']);
  if (v['metadata'] !== undefined && (v['metadata'] === null || typeof v['metadata'] !== 'object' || Array.isArray(v['metadata']))) bad('metadata', 'an object', v['metadata']);
  if (v['threshold'] !== undefined && v['threshold'] !== null && !(typeof v['threshold'] === 'number' && v['threshold'] >= -1 && v['threshold'] <= 1)) bad('threshold', 'a cosine in -1..1 or null', v['threshold']);
  return v as { name?: string; metadata?: Record<string, unknown>; threshold?: number | null };
}
