/**
 * Enrollment into a real SQLite gallery with the default bundle: photos, tight crops (found only
 * with a border), folder trees with person.json, the "already matches someone else" warning and
 * refusal, camera enrollment from an image-folder FrameSource, and `jetface enroll`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { openFrameSource } from '../sdk/capture/open-frame-source';
import { main } from '../sdk/cli/main';
import { FaceEngine } from '../sdk/engine/face-engine';
import { GalleryModelMismatchError, ImageDecodeError, InputFileError, InvalidArgumentError } from '../sdk/errors';
import { enrollFolder, enrollPerson, readPeopleFolder, type EnrollmentProgress } from '../sdk/gallery/enroll';
import { enrollFromCamera } from '../sdk/gallery/enroll-camera';
import { decodeImageBytes } from '../sdk/gallery/enroll-input';
import { embeddingSpaceId } from '../sdk/gallery/model-id';
import { SqliteGallery } from '../sdk/gallery/sqlite-gallery';
import type { Frame } from '../sdk/types';
import { hasCommand } from './support/capture';
import { dataPath, describeWithData, tempDir } from './support/data';

const BUNDLE = resolve(__dirname, '..', 'models', 'jetface-s');
const LMM = () => dataPath('video', 'enroll', 'lin-manuel-miranda.png');
const ALEX = () => dataPath('video', 'enroll', 'alex-lacamoire.png');

/** The gallery file holds exactly one face image: a JPEG of the face, not the whole 704-pixel photo. */
async function expectOneFaceCrop(file: string): Promise<void> {
  const db = new Database(file, { readonly: true });
  const rows = db.prepare('SELECT jpeg FROM face_images').all() as { jpeg: Buffer }[];
  db.close();
  expect(rows).toHaveLength(1);
  expect([...rows[0]!.jpeg.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
  expect((await sharp(rows[0]!.jpeg).metadata()).width).toBeLessThan(704);
}

describeWithData('enrollment into a SQLite gallery (default bundle)', () => {
  let engine: FaceEngine;
  let dir: string;
  const open = (name: string) => SqliteGallery.open(join(dir, name), { modelId: embeddingSpaceId(engine.manifest) });
  beforeAll(async () => {
    engine = await FaceEngine.create(BUNDLE);
    dir = tempDir('jetface-enroll-');
  });
  afterAll(async () => engine?.close());

  it('enrolls passing photos and refuses the rest with the reason; nothing is created for a person with no passing photo', async () => {
    const gallery = open('photos.db');
    const broken = join(dir, 'broken.jpg');
    writeFileSync(broken, 'not an image');
    const progress: EnrollmentProgress[] = [];
    const result = await enrollPerson(engine, gallery, { personId: 'lmm', name: 'Lin-Manuel Miranda', metadata: { team: 'cast' } }, [LMM(), dataPath('scenes', 'couple.jpg'), broken], { onProgress: (p) => progress.push(p) });
    expect(result.outcomes.map((o) => o.status === 'refused' ? o.reason : o.status)).toEqual(['enrolled', 'multiple_faces', 'unreadable']);
    expect(result).toMatchObject({ enrolled: 1, refused: 2, person: { personId: 'lmm', name: 'Lin-Manuel Miranda', metadata: { team: 'cast' }, embeddings: 1 } });
    expect(progress.map((p) => `${p.done}/${p.total}`)).toEqual(['1/3', '2/3', '3/3']);
    const none = await enrollPerson(engine, gallery, { personId: 'ghost', name: 'Ghost' }, [broken]);
    expect(none.person).toBeNull();
    expect(gallery.getPerson('ghost')).toBeNull();
    await expect(enrollPerson(engine, gallery, { personId: '', name: 'x' }, [])).rejects.toThrow(/person\.personId/);
    gallery.close();
  });

  it('finds the face of a tight crop by retrying with a border, and says so in the outcome', async () => {
    const gallery = open('crops.db');
    // A crop cut at the face's edge, where the default bundle finds no face without a border.
    const crop = dataPath('people', 'bbt', 'howard', 'howard1.png');
    const without = await enrollPerson(engine, gallery, { personId: 'howard', name: 'Howard' }, [crop], { padRetries: [] });
    expect(without.outcomes[0]).toMatchObject({ status: 'refused', reason: 'no_face', padded: null });
    const withBorder = await enrollPerson(engine, gallery, { personId: 'howard', name: 'Howard' }, [crop]);
    const outcome = withBorder.outcomes[0]!;
    expect(outcome).toMatchObject({ status: 'enrolled', padded: 0.5 });
    if (outcome.status !== 'enrolled') return;
    // The box is reported in the crop's own coordinates (150 x 150), not the padded frame's.
    expect(outcome.box[0]).toBeGreaterThan(-20);
    expect(outcome.box[2]).toBeLessThan(170);
    expect(gallery.getPerson('howard')?.embeddings).toBe(1);
    await expect(enrollPerson(engine, gallery, { personId: 'howard', name: 'Howard' }, [crop], { padRetries: [0] })).rejects.toThrow(InvalidArgumentError);
    gallery.close();
  });

  it('warns when the face already matches someone else, and refuses it when asked', async () => {
    const gallery = open('dupes.db');
    await enrollPerson(engine, gallery, { personId: 'lmm', name: 'Lin-Manuel Miranda' }, [LMM()]);
    const mirrored = join(dir, 'mirrored.png');
    await sharp(LMM()).flop().toFile(mirrored);
    const warned = await enrollPerson(engine, gallery, { personId: 'impostor', name: 'Impostor' }, [mirrored]);
    expect(warned.outcomes[0]).toMatchObject({ status: 'enrolled', warnings: [{ code: 'matches_other', personId: 'lmm' }] });
    gallery.removePerson('impostor');
    const refused = await enrollPerson(engine, gallery, { personId: 'impostor', name: 'Impostor' }, [mirrored], { refuseIfMatchesOther: true });
    expect(refused.outcomes[0]).toMatchObject({ status: 'refused', reason: 'matches_other', message: expect.stringMatching(/matches Lin-Manuel Miranda \(lmm\)/) });
    expect(gallery.getPerson('impostor')).toBeNull();
    // The person's own earlier photos never count as "someone else".
    const again = await enrollPerson(engine, gallery, { personId: 'lmm', name: 'Lin-Manuel Miranda' }, [mirrored]);
    expect(again.outcomes[0]).toMatchObject({ status: 'enrolled', warnings: [] });
    gallery.close();
  });

  it('enrolls a folder tree (folder name = id, person.json for name and metadata) with progress over all photos', async () => {
    const root = join(dir, 'people');
    mkdirSync(join(root, 'lmm'), { recursive: true });
    mkdirSync(join(root, 'alex'), { recursive: true });
    await sharp(LMM()).jpeg().toFile(join(root, 'lmm', 'a.jpg'));
    writeFileSync(join(root, 'lmm', 'person.json'), JSON.stringify({ name: 'Lin-Manuel Miranda', metadata: { badge: 7 } }));
    await sharp(ALEX()).png().toFile(join(root, 'alex', 'a.png'));
    writeFileSync(join(root, 'alex', 'b.png'), 'broken');
    const gallery = open('folder.db');
    const seen: number[] = [];
    const job = await enrollFolder(engine, gallery, root, { onProgress: (p) => seen.push(p.total) });
    expect(seen).toEqual([3, 3, 3]);
    expect(job).toMatchObject({ enrolled: 2, refused: 1 });
    expect(gallery.listPeople().map((p) => [p.personId, p.name, p.metadata])).toEqual(
      expect.arrayContaining([['lmm', 'Lin-Manuel Miranda', { badge: 7 }], ['alex', 'alex', {}]]),
    );
    writeFileSync(join(root, 'alex', 'person.json'), JSON.stringify({ name: 3 }));
    await expect(readPeopleFolder(root)).rejects.toThrow(InputFileError);
    await expect(readPeopleFolder(root)).rejects.toThrow(/field name must be a string/);
    gallery.close();
  });

  it('refuses the photos of a person whose person.json is bad (even only by the gallery\'s rules) and goes on with the others', async () => {
    const root = join(dir, 'people-bad');
    for (const id of ['alex', 'bad-empty', 'bad-type', 'lmm']) mkdirSync(join(root, id), { recursive: true });
    await sharp(ALEX()).png().toFile(join(root, 'alex', 'a.png'));
    await sharp(LMM()).png().toFile(join(root, 'bad-empty', 'a.png'));
    writeFileSync(join(root, 'bad-empty', 'person.json'), JSON.stringify({ name: '' }));
    await sharp(LMM()).png().toFile(join(root, 'bad-type', 'a.png'));
    writeFileSync(join(root, 'bad-type', 'person.json'), JSON.stringify({ name: 3 }));
    await sharp(LMM()).png().toFile(join(root, 'lmm', 'a.png'));
    await expect(readPeopleFolder(root)).rejects.toThrow(/bad-empty.person\.json: expected person\.name to be a string of 1 to 200 characters/);
    const gallery = open('folder-bad.db');
    const seen: string[] = [];
    const job = await enrollFolder(engine, gallery, root, { onProgress: (p) => seen.push(`${p.done}/${p.total}`) });
    expect(job.outcomes.map((o) => [o.personId, o.status === 'refused' ? o.reason : o.status])).toEqual([
      ['alex', 'enrolled'],
      ['bad-empty', 'invalid_person'],
      ['bad-type', 'invalid_person'],
      ['lmm', 'enrolled'],
    ]);
    expect(job.outcomes[1]).toMatchObject({ message: expect.stringMatching(/person\.json: expected person\.name to be/) });
    expect(job.outcomes[2]).toMatchObject({ message: expect.stringMatching(/field name must be a string/) });
    expect(seen).toEqual(['1/4', '2/4', '3/4', '4/4']);
    expect(gallery.listPeople().map((p) => p.personId).sort()).toEqual(['alex', 'lmm']);
    gallery.close();
  });

  it('checks the person with the gallery\'s rules before any photo or frame is looked at', async () => {
    const gallery = open('person-rules.db');
    const broken = join(dir, 'broken-2.jpg');
    writeFileSync(broken, 'not an image'); // nothing would pass: the gallery itself would never see the person
    await expect(enrollPerson(engine, gallery, { personId: 'x', name: '' }, [broken])).rejects.toThrow(/expected person\.name to be a string of 1 to 200 characters/);
    await expect(enrollPerson(engine, gallery, { personId: 'x'.repeat(201), name: 'X' }, [broken])).rejects.toThrow(/person\.personId/);
    const stalled: AsyncIterable<Frame> = { [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<Frame>>(() => undefined) }) };
    await expect(enrollFromCamera(engine, gallery, { personId: 'x', name: 'n'.repeat(201) }, stalled, { timeoutMs: 200 })).rejects.toThrow(/person\.name/);
    await expect(enrollFromCamera(engine, gallery, { personId: 'x', name: 'X', metadata: [] as never }, stalled, { timeoutMs: 200 })).rejects.toThrow(/person\.metadata/);
    expect(gallery.listPeople()).toEqual([]);
    gallery.close();
  });

  it('refuses an image that decodes to more than 40 MP, and does not pad a large photo to find a face', async () => {
    // A few hundred KB of flat JPEG that declares 7000x7000 pixels (147 MB decoded).
    const bomb = await sharp({ create: { width: 7000, height: 7000, channels: 3, background: '#808080' } }).jpeg({ quality: 50 }).toBuffer();
    await expect(decodeImageBytes(bomb, 'images[0]')).rejects.toThrow(ImageDecodeError);
    await expect(decodeImageBytes(bomb, 'images[0]')).rejects.toThrow(/7000x7000 pixels, over the limit of 40 megapixels/);
    const gallery = open('large.db');
    const result = await enrollPerson(engine, gallery, { personId: 'big', name: 'Big' }, [{ source: 'images[0]', input: bomb }]);
    expect(result.outcomes[0]).toMatchObject({ status: 'refused', reason: 'unreadable', message: expect.stringMatching(/over the limit of 40 megapixels/) });
    // 2400x2400 with no face: a border of 0.5 would make 23 MP, of 1 52 MP; neither is tried.
    const blank: Frame = { data: new Uint8Array(2400 * 2400 * 3).fill(128), width: 2400, height: 2400, format: 'rgb24', timestamp: 0, sequence: 0, cameraId: 'blank' };
    const empty = await enrollPerson(engine, gallery, { personId: 'blank', name: 'Blank' }, [{ source: 'blank', input: blank }]);
    expect(empty.outcomes[0]).toMatchObject({ status: 'refused', reason: 'no_face', padded: null, message: expect.stringMatching(/not retried with a border of 0\.5, 1 × the image size: over 16 megapixels/) });
    expect(JSON.stringify(empty.outcomes[0])).not.toMatch(/also with a border/);
    gallery.close();
  });

  it('hands the face crop (JPEG) to a gallery that keeps face images, and none to one that does not', async () => {
    const file = join(dir, 'images.db');
    const keeping = SqliteGallery.open(file, { modelId: embeddingSpaceId(engine.manifest), keepFaceImages: true });
    await enrollPerson(engine, keeping, { personId: 'lmm', name: 'L' }, [LMM()], { faceImages: true });
    await enrollPerson(engine, keeping, { personId: 'alex', name: 'A' }, [ALEX()]); // faceImages off: no crop offered
    keeping.close();
    await expectOneFaceCrop(file);
  });

  it('hands camera enrollment\'s face crops to a gallery that keeps face images', async () => {
    const frames = join(dir, 'camera-crops');
    mkdirSync(frames);
    await sharp(LMM()).png().toFile(join(frames, '1.png'));
    const file = join(dir, 'camera-images.db');
    const keeping = SqliteGallery.open(file, { modelId: embeddingSpaceId(engine.manifest), keepFaceImages: true });
    const source = await openFrameSource({ backend: 'images', dir: frames, cameraId: 'door' });
    const result = await enrollFromCamera(engine, keeping, { personId: 'lmm', name: 'L' }, source, { frames: 1, timeoutMs: 30_000, faceImages: true });
    expect(result.enrolled).toBe(1);
    keeping.close();
    await expectOneFaceCrop(file);
  });

  it('refuses a gallery of another model (re-enroll rather than mix embedding spaces)', async () => {
    const gallery = SqliteGallery.open(join(dir, 'other.db'), { modelId: 'another-model:123' });
    await expect(enrollPerson(engine, gallery, { personId: 'lmm', name: 'L' }, [LMM()])).rejects.toThrow(GalleryModelMismatchError);
    gallery.close();
  });

  it('enrolls from a camera (image-folder FrameSource): gate-passing, different frames only', async () => {
    const frames = join(dir, 'camera');
    mkdirSync(frames);
    await sharp(dataPath('scenes', 'couple.jpg')).toFile(join(frames, '1.png'));
    await sharp(LMM()).png().toFile(join(frames, '2.png'));
    await sharp(LMM()).png().toFile(join(frames, '3.png')); // the same frame again: adds nothing
    await sharp(LMM()).blur(10).png().toFile(join(frames, '4.png'));
    await sharp(LMM()).flop().png().toFile(join(frames, '5.png'));
    const gallery = open('camera.db');
    const source = await openFrameSource({ backend: 'images', dir: frames, cameraId: 'door' });
    const result = await enrollFromCamera(engine, gallery, { personId: 'lmm', name: 'Lin-Manuel Miranda' }, source, { frames: 2, timeoutMs: 30_000 });
    expect(result).toMatchObject({ enrolled: 2, timedOut: false, framesSeen: 5 });
    expect(result.skipped).toMatchObject({ multiple_faces: 1, similar: 1 });
    expect(result.outcomes.map((o) => o.source)).toEqual(['camera:door#1', 'camera:door#4']);
    expect(gallery.getPerson('lmm')?.embeddings).toBe(2);
    gallery.close();
  });

  it('gives up a camera enrollment after the timeout and enrolls nothing when no frame came', async () => {
    const gallery = open('stalled.db');
    // A camera that never delivers a frame (what a stalled capture looks like from the consumer).
    const stalled: AsyncIterable<Frame> = { [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<Frame>>(() => undefined) }) };
    const result = await enrollFromCamera(engine, gallery, { personId: 'x', name: 'X' }, stalled, { timeoutMs: 200 });
    expect(result).toMatchObject({ enrolled: 0, framesSeen: 0, timedOut: true, person: null });
    await expect(enrollFromCamera(engine, gallery, { personId: 'x', name: 'X' }, stalled, { frames: 0 })).rejects.toThrow(/options\.frames/);
    gallery.close();
  });

  it('jetface enroll: exit 0 with refused files listed; 1 (E_NOTHING_ENROLLED) when nothing passed', async () => {
    const db = join(dir, 'cli.db');
    const lines: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line));
    const errors: string[] = [];
    const err = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (errors.push(String(s)), true));
    try {
      expect(await main(['node', 'jetface', 'enroll', '--db', db, '--bundle', BUNDLE, '--json', '--person', 'lmm', '--name', 'Lin-Manuel Miranda', LMM(), dataPath('scenes', 'couple.jpg')])).toBe(0);
      const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(records.slice(0, 2).map((r) => r['status'])).toEqual(['enrolled', 'refused']);
      expect(records[1]).toMatchObject({ reason: 'multiple_faces' });
      expect(records[2]).toEqual({ summary: { enrolled: 1, refused: 1, people: 1 } });
      expect(await main(['node', 'jetface', 'enroll', '--db', db, '--bundle', BUNDLE, '--person', 'c', '--name', 'C', dataPath('scenes', 'couple.jpg')])).toBe(1);
      expect(errors.join('')).toMatch(/E_NOTHING_ENROLLED.*multiple_faces/);
      expect(await main(['node', 'jetface', 'enroll', '--db', db, '--bundle', BUNDLE, '--name', 'C', LMM()])).toBe(1);
      expect(errors.join('')).toMatch(/--person/);
      expect(await main(['node', 'jetface', 'enroll', '--db', db, '--bundle', BUNDLE, '--folder', dir, '--person', 'x', LMM()])).toBe(1);
      expect(errors.join('')).toMatch(/expected --folder to be used without --person/);
      const tree = join(dir, 'cli-tree');
      mkdirSync(join(tree, 'alex'), { recursive: true });
      await sharp(ALEX()).png().toFile(join(tree, 'alex', 'a.png'));
      lines.length = 0;
      expect(await main(['node', 'jetface', 'enroll', '--db', db, '--bundle', BUNDLE, '--folder', tree])).toBe(0);
      expect(lines[0]).toMatch(/^\[1\/1\] alex .*a\.png: enrolled, score \d\.\d\d/);
      expect(lines[1]).toBe('enrolled 1, refused 0; the gallery now holds 2 people');
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
    const gallery = open('cli.db');
    expect(gallery.listPeople().map((p) => [p.personId, p.embeddings]).sort()).toEqual([['alex', 1], ['lmm', 1]]);
    gallery.close();
  });

  (hasCommand('ffmpeg') ? it : it.skip)('jetface enroll --camera: a video source (a still of one face, 2 s) enrolls its gate-passing frames', async () => {
    const video = join(dir, 'one-face.mp4');
    execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-loop', '1', '-i', LMM(), '-t', '2', '-r', '10', '-vf', 'scale=trunc(iw/2)*2:trunc(ih/2)*2', '-pix_fmt', 'yuv420p', video]);
    const db = join(dir, 'camera-cli.db');
    const lines: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line));
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const quiet = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(await main(['node', 'jetface', 'enroll', '--db', db, '--bundle', BUNDLE, '--person', 'lmm', '--name', 'Lin-Manuel Miranda', '--camera', video, '--frames', '1', '--timeout', '20'])).toBe(0);
      expect(lines.at(-1)).toBe('enrolled 1, refused 0; the gallery now holds 1 people');
      expect(await main(['node', 'jetface', 'enroll', '--db', db, '--bundle', BUNDLE, '--person', 'x', '--name', 'X', '--camera', video, LMM()])).toBe(1);
    } finally {
      log.mockRestore();
      err.mockRestore();
      quiet.mockRestore();
    }
    const gallery = open('camera-cli.db');
    expect(gallery.getPerson('lmm')).toMatchObject({ embeddings: 1 });
    gallery.close();
  });
});
