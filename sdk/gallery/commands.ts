/**
 * Remote enrollment: handlers for the {@link CommandChannel} verbs `enroll`, `delete`, `rename` and `list`.
 * The channel authorizes (HMAC, allowed clients, replay window) before any handler runs; the
 * handlers validate the arguments (a bad one is answered `ok: false` naming the field) and run
 * the same quality gates as local enrollment.
 */
import { InvalidArgumentError, PersonNotFoundError } from '../errors';
import type { CommandHandler } from '../mqtt/commands';
import { enrollPerson, type EnrollmentEngine, type EnrollmentOptions, type PersonEnrollment } from './enroll';
import { checkPersonInput } from './people-table';
import type { Gallery, PersonInput, PersonRecord } from './types';

/** Options of {@link galleryCommandHandlers}. */
export interface GalleryCommandOptions extends Omit<EnrollmentOptions, 'onProgress'> {
  gallery: Gallery;
  engine: EnrollmentEngine;
  /** Most images per enroll command (default 10). */
  maxImages?: number;
  /** Largest decoded image, bytes (default 1 MiB). The channel's `maxPayloadBytes` (default 256 KiB) bounds the whole command too: raise it for several photos. */
  maxImageBytes?: number;
}

/** Arguments of `enroll`: images are base64 JPEG or PNG. */
export interface EnrollCommandArgs {
  personId: string;
  name: string;
  metadata?: Record<string, unknown>;
  threshold?: number | null;
  images: string[];
}

/** The result of `enroll` (the response's `result`). */
export type EnrollCommandResult = PersonEnrollment;

/**
 * The gallery's command handlers, to pass (maybe with others) as `handlers` of {@link CommandChannel.create}.
 *
 * @example
 * ```ts
 * const channel = await CommandChannel.create({
 *   url: broker.url, device: 'jetson-1', secret, allowedClients: ['backend-1'], maxPayloadBytes: 4 * 1024 * 1024,
 *   handlers: galleryCommandHandlers({ gallery, engine, refuseIfMatchesOther: true }),
 * });
 * // backend: signCommand({ verb: 'enroll', clientId: 'backend-1', device: 'jetson-1', args: { personId: 'amy', name: 'Amy', images: [jpeg.toString('base64')] } }, secret)
 * ```
 */
export function galleryCommandHandlers(options: GalleryCommandOptions): { enroll: CommandHandler; delete: CommandHandler; rename: CommandHandler; list: CommandHandler } {
  const { gallery, engine, maxImages = 10, maxImageBytes = 1024 * 1024, ...enrollment } = options ?? ({} as GalleryCommandOptions);
  if (!gallery || typeof gallery.search !== 'function') throw new InvalidArgumentError('options.gallery', 'a Gallery', gallery);
  if (!engine || typeof engine.detect !== 'function') throw new InvalidArgumentError('options.engine', 'a FaceEngine', engine);
  if (!Number.isSafeInteger(maxImages) || maxImages < 1) throw new InvalidArgumentError('options.maxImages', 'an integer >= 1', maxImages);
  if (!Number.isSafeInteger(maxImageBytes) || maxImageBytes < 1) throw new InvalidArgumentError('options.maxImageBytes', 'an integer >= 1', maxImageBytes);
  // Enrollment commands run one at a time: two for the same person must not interleave.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(job: () => Promise<T>): Promise<T> => {
    const run = queue.then(job, job);
    queue = run.catch(() => undefined);
    return run;
  };
  return {
    enroll: (args) => {
      const a = parseEnrollArgs(args, maxImages, maxImageBytes);
      return serial(() => enrollPerson(engine, gallery, a.person, a.images, enrollment));
    },
    delete: (args) => {
      const personId = personIdOf(args);
      return serial(async () => ({ personId, deleted: gallery.removePerson(personId) }));
    },
    // A new name only: metadata, threshold and embeddings stay.
    rename: (args) => {
      const { personId, name } = record(args);
      checkRemotePerson({ personId: personId as string, name: name as string });
      return serial(async (): Promise<{ person: PersonRecord }> => {
        const p = gallery.getPerson(personId as string);
        if (!p) throw new PersonNotFoundError(personId as string);
        return { person: gallery.upsertPerson({ personId: p.personId, name: name as string, metadata: p.metadata, threshold: p.threshold }) };
      });
    },
    list: (args) => {
      if (args !== undefined && args !== null && (typeof args !== 'object' || Array.isArray(args))) throw new InvalidArgumentError('args', 'an object or nothing', args);
      return serial(async (): Promise<{ people: PersonRecord[] }> => ({ people: gallery.listPeople() }));
    },
  };
}

function record(args: unknown): Record<string, unknown> {
  if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new InvalidArgumentError('args', 'an object', args);
  return args as Record<string, unknown>;
}

function personIdOf(args: unknown): string {
  const personId = record(args)['personId'];
  checkRemotePerson({ personId: personId as string, name: 'x' }); // the name is not delete's: a valid stand-in
  return personId as string;
}

/** The gallery's own person rules ({@link checkPersonInput}), naming the command's `args.*` field. */
function checkRemotePerson(person: PersonInput): void {
  // checkPersonInput compares the threshold without a type check ('0.5' >= -1): JSON may carry a string.
  const threshold: unknown = person.threshold;
  if (threshold !== undefined && threshold !== null && typeof threshold !== 'number') throw new InvalidArgumentError('args.threshold', 'a cosine in -1..1 or null', threshold);
  try {
    checkPersonInput(person);
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    const field = String(error.details['name']).replace(/^person\.?/, '');
    const value = field === '' ? person : (person as unknown as Record<string, unknown>)[field];
    throw new InvalidArgumentError(field === '' ? 'args' : `args.${field}`, String(error.details['expected']), value);
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function parseEnrollArgs(args: unknown, maxImages: number, maxImageBytes: number): { person: PersonInput; images: { source: string; input: Uint8Array }[] } {
  const a = record(args);
  const { personId, name, metadata, threshold } = a;
  const person = { personId, name, ...(metadata !== undefined ? { metadata } : {}), ...(threshold !== undefined ? { threshold } : {}) } as PersonInput;
  checkRemotePerson(person); // before the images are decoded, let alone run through detection
  const list = a['images'];
  if (!Array.isArray(list) || list.length === 0 || list.length > maxImages) throw new InvalidArgumentError('args.images', `an array of 1..${maxImages} base64 JPEG/PNG images`, Array.isArray(list) ? `${list.length} images` : list);
  const images = list.map((text: unknown, i) => {
    const field = `args.images[${i}]`;
    if (typeof text !== 'string' || text.length % 4 !== 0 || !BASE64.test(text)) throw new InvalidArgumentError(field, 'a base64 string', typeof text === 'string' ? `${text.slice(0, 16)}… (${text.length} characters)` : text);
    if ((text.length / 4) * 3 > maxImageBytes + 2) throw new InvalidArgumentError(field, `an image of at most ${maxImageBytes} bytes`, `about ${Math.round((text.length / 4) * 3)} bytes`);
    const bytes = Buffer.from(text, 'base64');
    const jpeg = bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
    const png = bytes.length > 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    if (!jpeg && !png) throw new InvalidArgumentError(field, 'a JPEG or PNG image', `${bytes.length} bytes starting ${bytes.subarray(0, 4).toString('hex')}`);
    return { source: `images[${i}]`, input: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) };
  });
  return { person, images };
}
