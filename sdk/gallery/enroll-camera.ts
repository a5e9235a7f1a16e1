/** Enrollment from a camera: collect N gate-passing, different-looking frames of one face within a timeout. */
import { InvalidArgumentError } from '../errors';
import type { Frame } from '../types';
import { faceCropJpeg } from './enroll-input';
import { checkPersonInput } from './people-table';
import { prepare, resolveOptions, type EnrollmentEngine, type EnrollmentOptions, type EnrollmentOutcome, type EnrollmentRefusalCode, type PersonEnrollment } from './enroll';
import type { Gallery, PersonInput } from './types';

/** Options of {@link enrollFromCamera}. */
export interface CameraEnrollmentOptions extends EnrollmentOptions {
  /** Frames to collect (default 5). */
  frames?: number;
  /** Give up after this long, keeping what was collected (default 20 000 ms). */
  timeoutMs?: number;
  /**
   * A frame whose embedding has a cosine above this to one already collected adds nothing new and
   * is skipped (default 0.97): the templates then cover more poses and expressions.
   */
  maxSimilarity?: number;
}

/** The result of a camera enrollment: the person, the collected frames' outcomes, and why the other frames were not used. */
export interface CameraEnrollment extends PersonEnrollment {
  /** Frames looked at. */
  framesSeen: number;
  /** Frames refused, by reason (`similar`: passed the gates but too like a collected one). */
  skipped: Partial<Record<EnrollmentRefusalCode | 'similar', number>>;
  /** The timeout ended the collection before `frames` were collected. */
  timedOut: boolean;
}

/**
 * Watches a frame source (any `AsyncIterable<Frame>`, e.g. `openFrameSource('/dev/video0')`) until
 * `frames` frames of a single face pass the quality gates, preferring frames unlike those already
 * collected, or until `timeoutMs`; then enrolls what it collected in one `addEmbeddings` call. Camera
 * frames are not tight crops, so the padding retry is off unless `padRetries` is given. The loop
 * leaves the source with `break` (a capture source stops); nothing is enrolled when nothing passed.
 *
 * @example
 * ```ts
 * const source = await openFrameSource('/dev/video0', { maxFps: 10 });
 * const result = await enrollFromCamera(engine, gallery, { personId: 'amy', name: 'Amy' }, source, { frames: 5, timeoutMs: 15_000 });
 * console.log(result.enrolled, result.skipped); // 5 { multiple_faces: 3, blurry: 12, similar: 40 }
 * ```
 */
export async function enrollFromCamera(
  engine: EnrollmentEngine,
  gallery: Gallery,
  person: PersonInput,
  source: AsyncIterable<Frame>,
  options: CameraEnrollmentOptions = {},
): Promise<CameraEnrollment> {
  checkPersonInput(person); // the gallery's own rules, before any frame is looked at
  const want = options.frames ?? 5;
  if (!Number.isSafeInteger(want) || want < 1 || want > 100) throw new InvalidArgumentError('options.frames', 'an integer in 1..100', options.frames);
  const timeoutMs = options.timeoutMs ?? 20_000;
  if (!(typeof timeoutMs === 'number' && timeoutMs > 0 && Number.isFinite(timeoutMs))) throw new InvalidArgumentError('options.timeoutMs', 'a positive number of milliseconds', options.timeoutMs);
  const maxSimilarity = options.maxSimilarity ?? 0.97;
  if (!(typeof maxSimilarity === 'number' && maxSimilarity >= -1 && maxSimilarity <= 1)) throw new InvalidArgumentError('options.maxSimilarity', 'a cosine in -1..1', options.maxSimilarity);
  if (!source || typeof (source as AsyncIterable<Frame>)[Symbol.asyncIterator] !== 'function') throw new InvalidArgumentError('source', 'an AsyncIterable<Frame> (a FrameSource)', source);
  const settings = resolveOptions(engine, gallery, { ...options, padRetries: options.padRetries ?? [] });

  const collected: { outcome: EnrollmentOutcome; embedding: Float32Array; faceImage?: Uint8Array }[] = [];
  const skipped: CameraEnrollment['skipped'] = {};
  let framesSeen = 0;
  let timedOut = false;
  const deadline = Date.now() + timeoutMs;
  const iterator = source[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  try {
    while (collected.length < want) {
      const left = deadline - Date.now();
      if (left <= 0) {
        timedOut = true;
        break;
      }
      const next = await Promise.race([iterator.next(), new Promise<'timeout'>((done) => (timer = setTimeout(() => done('timeout'), left)))]);
      clearTimeout(timer);
      if (next === 'timeout') {
        timedOut = true;
        break;
      }
      if (next.done) break;
      framesSeen++;
      const frame = next.value;
      const { outcome, face, frame: faceFrame } = await prepare(engine, { source: `camera:${frame.cameraId}#${frame.sequence}`, input: frame }, person.personId, settings);
      if (outcome.status === 'refused' || !face) {
        const reason = outcome.status === 'refused' ? outcome.reason : 'no_embedding';
        skipped[reason] = (skipped[reason] ?? 0) + 1;
        continue;
      }
      if (collected.some((c) => dot(c.embedding, face.embedding) > maxSimilarity)) {
        skipped.similar = (skipped.similar ?? 0) + 1;
        continue;
      }
      // Cropped now: the frame is not kept until the end of the collection.
      const faceImage = settings.faceImages && faceFrame ? await faceCropJpeg(faceFrame, face.box) : undefined;
      collected.push({ outcome, embedding: face.embedding, ...(faceImage ? { faceImage } : {}) });
      options.onProgress?.({ done: collected.length, total: want, outcome });
    }
  } finally {
    clearTimeout(timer);
    // After a timeout a next() may still be pending; a source's return() can queue behind it, so do not wait for it then.
    const closing = Promise.resolve(iterator.return?.()).catch(() => undefined);
    if (!timedOut) await closing;
  }
  let record = gallery.getPerson(person.personId);
  if (collected.length > 0) {
    gallery.upsertPerson(person);
    gallery.addEmbeddings(person.personId, collected.map((c) => ({ embedding: c.embedding, source: c.outcome.source, ...(c.faceImage ? { faceImage: c.faceImage } : {}) })));
    record = gallery.getPerson(person.personId);
  }
  const outcomes = collected.map((c) => c.outcome);
  return { person: record, enrolled: outcomes.length, refused: framesSeen - outcomes.length, outcomes, framesSeen, skipped, timedOut };
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length && i < b.length; i++) s += a[i]! * b[i]!;
  return s;
}
