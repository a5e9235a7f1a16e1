/**
 * The SQLite gallery file: creation (mode 0600, application id, WAL), people and embeddings,
 * the model-change policy, refusal of corrupt and foreign files (left byte-for-byte untouched),
 * deletion that leaves nothing on disk, export and import.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ClosedError, GalleryBusyError, GalleryCorruptError, GalleryForeignError, GalleryModelMismatchError, InvalidArgumentError, PersonNotFoundError } from '../sdk/errors';
import { GALLERY_APPLICATION_ID, SCHEMA_VERSION, inspectGalleryFile, migrate } from '../sdk/gallery/schema';
import { SqliteGallery } from '../sdk/gallery/sqlite-gallery';
import { embeddingSpaceId } from '../sdk/gallery/model-id';
import { tempDir } from './support/data';

const MODEL = 'jetface-s:test0001';

function randomUnit(dim: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = s / 2 ** 32 - 0.5;
  }
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

/** What opening (and closing) the gallery at `path` threw, or undefined. */
function openError(path: string): unknown {
  try {
    SqliteGallery.open(path, { modelId: MODEL }).close();
    return undefined;
  } catch (error) {
    return error;
  }
}

function fingerprint(path: string): { sha256: string; mtimeMs: number; size: number } {
  const st = statSync(path);
  return { sha256: createHash('sha256').update(readFileSync(path)).digest('hex'), mtimeMs: st.mtimeMs, size: st.size };
}

function makeGallery(path: string, people = 3, perPerson = 2, dim = 16): SqliteGallery {
  const g = SqliteGallery.open(path, { modelId: MODEL });
  for (let p = 0; p < people; p++) {
    g.upsertPerson({ personId: `p${p}`, name: `Person ${p}`, metadata: { badge: p } });
    g.addEmbeddings(`p${p}`, Array.from({ length: perPerson }, (_, k) => ({ embedding: randomUnit(dim, p * 100 + k + 1), source: `p${p}-${k}.jpg` })));
  }
  return g;
}

describe('SqliteGallery file', () => {
  test('a new gallery file and its -wal are mode 0600, marked with the application id and schema version, in WAL mode', () => {
    const path = join(tempDir(), 'g.db');
    const g = makeGallery(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(existsSync(`${path}-wal`)).toBe(true);
    expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
    expect(statSync(`${path}-shm`).mode & 0o777).toBe(0o600);
    g.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('application_id', { simple: true })).toBe(GALLERY_APPLICATION_ID);
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  test('people, metadata, thresholds and embeddings survive a reopen; upsert keeps what it is not given', () => {
    const path = join(tempDir(), 'g.db');
    makeGallery(path).close();
    const g = SqliteGallery.open(path, { modelId: MODEL });
    expect(g.listPeople().map((p) => p.personId)).toEqual(['p0', 'p1', 'p2']);
    expect(g.getPerson('p1')).toMatchObject({ name: 'Person 1', metadata: { badge: 1 }, threshold: null, embeddings: 2 });
    expect(g.dimension).toBe(16);
    expect(g.embeddingCount).toBe(6);
    const before = g.getPerson('p1')!;
    const after = g.upsertPerson({ personId: 'p1', name: 'Renamed', threshold: 0.6 });
    expect(after).toMatchObject({ name: 'Renamed', metadata: { badge: 1 }, threshold: 0.6, embeddings: 2, createdAt: before.createdAt });
    // The search matrix follows the rename.
    expect(g.search([randomUnit(16, 101)])[0]!.candidates[0]).toMatchObject({ personId: 'p1', name: 'Renamed' });
    expect(g.getPerson('nobody')).toBeNull();
    g.close();
  });

  test('bad input is refused with a typed error naming the field, and nothing is written', () => {
    const g = makeGallery(join(tempDir(), 'g.db'));
    expect(() => g.upsertPerson({ personId: '', name: 'x' })).toThrow(expect.objectContaining({ code: 'E_INVALID_ARGUMENT', details: expect.objectContaining({ name: 'person.personId' }) }));
    expect(() => g.upsertPerson({ personId: 'x', name: 'x', threshold: 2 })).toThrow(/person\.threshold/);
    expect(() => g.upsertPerson({ personId: 'x', name: 'x', metadata: [] as never })).toThrow(/person\.metadata/);
    expect(() => g.addEmbeddings('nobody', [{ embedding: randomUnit(16, 9) }])).toThrow(PersonNotFoundError);
    expect(() => g.addEmbeddings('p0', [{ embedding: randomUnit(16, 9) }, { embedding: new Float32Array(16) }])).toThrow(/embeddings\[1\]\.embedding/);
    expect(() => g.addEmbeddings('p0', [{ embedding: randomUnit(16, 9) }, { embedding: randomUnit(16, 9).fill(NaN, 0, 1) }])).toThrow(InvalidArgumentError);
    expect(g.getPerson('p0')!.embeddings).toBe(2);
    expect(() => SqliteGallery.open(join(tempDir(), 'x.db'), { modelId: 'bad id!' })).toThrow(/options\.modelId/);
    expect(() => SqliteGallery.open(join(tempDir(), 'x.db'), { modelId: MODEL, threshold: 3 })).toThrow(/options\.threshold/);
    g.close();
  });

  test('face images are kept only when keepFaceImages is set', () => {
    const jpeg = new Uint8Array([0xff, 0xd8, 1, 2, 3, 0xff, 0xd9]);
    const off = SqliteGallery.open(join(tempDir(), 'a.db'), { modelId: MODEL });
    off.upsertPerson({ personId: 'a', name: 'A' });
    off.addEmbeddings('a', [{ embedding: randomUnit(8, 1), faceImage: jpeg }]);
    expect(off.faceImages('a')).toEqual([]);
    off.close();
    const on = SqliteGallery.open(join(tempDir(), 'b.db'), { modelId: MODEL, keepFaceImages: true });
    on.upsertPerson({ personId: 'a', name: 'A' });
    on.addEmbeddings('a', [{ embedding: randomUnit(8, 1), faceImage: jpeg }]);
    expect(on.faceImages('a')).toEqual([jpeg]);
    on.removePerson('a');
    expect(on.faceImages('a')).toEqual([]);
    on.close();
  });

  test('a readonly gallery refuses changes and writes nothing', () => {
    const path = join(tempDir(), 'g.db');
    makeGallery(path).close();
    const before = fingerprint(path);
    const g = SqliteGallery.open(path, { modelId: MODEL, readonly: true });
    expect(g.listPeople()).toHaveLength(3);
    expect(() => g.removePerson('p0')).toThrow(InvalidArgumentError);
    g.close();
    expect(fingerprint(path)).toEqual(before);
  });
});

describe('model change', () => {
  test("another model's embeddings are kept, never matched, and listed for re-enrollment", () => {
    const path = join(tempDir(), 'g.db');
    makeGallery(path).close();
    const probe = randomUnit(16, 1);
    const next = SqliteGallery.open(path, { modelId: 'jetface-s:test0002', threshold: 0.5 });
    expect(next.search([probe])[0]).toEqual({ status: 'unknown', match: null, candidates: [] });
    expect(next.getPerson('p0')!.embeddings).toBe(0);
    expect(next.staleness()).toEqual([
      { personId: 'p0', name: 'Person 0', current: 0, stale: { [MODEL]: 2 }, needsReEnrollment: true },
      { personId: 'p1', name: 'Person 1', current: 0, stale: { [MODEL]: 2 }, needsReEnrollment: true },
      { personId: 'p2', name: 'Person 2', current: 0, stale: { [MODEL]: 2 }, needsReEnrollment: true },
    ]);
    // Re-enrolling p0 under the new model (another dimension even) makes p0 matchable again.
    next.addEmbeddings('p0', [{ embedding: randomUnit(32, 5) }]);
    expect(next.match([randomUnit(32, 5)])[0]).toMatchObject({ personId: 'p0' });
    expect(next.staleness()[0]).toMatchObject({ personId: 'p0', current: 1, needsReEnrollment: false });
    expect(next.removeStaleEmbeddings()).toBe(6);
    expect(next.staleness()).toEqual([]);
    next.close();
    // The old model's view sees nothing left of its own.
    const old = SqliteGallery.open(path, { modelId: MODEL });
    expect(old.embeddingCount).toBe(0);
    old.close();
  });

  test('an embedding of another dimension is refused with GalleryModelMismatchError', () => {
    const g = makeGallery(join(tempDir(), 'g.db'));
    expect(() => g.addEmbeddings('p0', [{ embedding: randomUnit(32, 1) }])).toThrow(GalleryModelMismatchError);
    expect(() => g.search([randomUnit(32, 1)])).toThrow(/probes\[0\]\.length/);
    g.close();
  });

  test('embeddingSpaceId: a quantized bundle keeps its float source id, a pruned one (and its quantized copies) the space it reproduces', () => {
    expect(embeddingSpaceId({ modelId: 'a:1' })).toBe('a:1');
    expect(embeddingSpaceId({ modelId: 'a:2', quantization: { sourceModelId: 'a:1' } })).toBe('a:1');
    expect(embeddingSpaceId({ modelId: 'a:3', embeddingSpace: 'a:1' })).toBe('a:1');
    expect(embeddingSpaceId({ modelId: 'a:4', embeddingSpace: 'a:1', quantization: { sourceModelId: 'a:3' } })).toBe('a:1');
  });
});

describe('corrupt and foreign files are refused and left untouched', () => {
  const cases: [string, (path: string) => void, typeof GalleryCorruptError | typeof GalleryForeignError, RegExp][] = [
    ['random bytes', (p) => writeFileSync(p, randomBytes(8192)), GalleryCorruptError, /SQLite header/],
    ['an empty (0-byte) file', (p) => writeFileSync(p, ''), GalleryCorruptError, /empty/],
    ['a file of zeros', (p) => writeFileSync(p, Buffer.alloc(4096)), GalleryCorruptError, /SQLite header/],
    [
      'a truncated gallery',
      (p) => {
        makeGallery(p, 40, 4, 128).close();
        truncateSync(p, Math.floor(statSync(p).size / 2 / 4096) * 4096);
      },
      GalleryCorruptError,
      /truncated/,
    ],
    [
      'a truncated gallery, cut mid-page',
      (p) => {
        makeGallery(p, 40, 4, 128).close();
        truncateSync(p, statSync(p).size - 1000);
      },
      GalleryCorruptError,
      /truncated/,
    ],
    [
      'a SQLite database of another application',
      (p) => {
        const db = new Database(p);
        db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes (text) VALUES (\'hello\')');
        db.close();
      },
      GalleryForeignError,
      /application id/,
    ],
    [
      'a gallery of a newer schema version',
      (p) => {
        makeGallery(p).close();
        const db = new Database(p);
        db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
        db.pragma('journal_mode = DELETE');
        db.close();
      },
      GalleryForeignError,
      /newer/,
    ],
    [
      'a gallery whose pages were overwritten',
      (p) => {
        makeGallery(p, 40, 4, 128).close();
        const bytes = readFileSync(p);
        randomBytes(4096 * 2).copy(bytes, 4096 * 2);
        writeFileSync(p, bytes);
      },
      GalleryCorruptError,
      /integrity|cannot read/,
    ],
  ];

  test.each(cases)('%s', (_label, make, ErrorType, message) => {
    const path = join(tempDir(), 'g.db');
    make(path);
    const before = fingerprint(path);
    const error = openError(path);
    expect(error).toBeInstanceOf(ErrorType);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain(path);
    expect(fingerprint(path)).toEqual(before);
  });
});

describe('privacy', () => {
  /** The gallery file and its -wal (if any) as one buffer: what someone reading the disk would see. */
  function diskBytes(path: string): Buffer {
    return Buffer.concat([readFileSync(path), existsSync(`${path}-wal`) ? readFileSync(`${path}-wal`) : Buffer.alloc(0)]);
  }

  test("removePerson deletes every embedding and image: after VACUUM neither the name nor an embedding's bytes are on disk", () => {
    const path = join(tempDir(), 'g.db');
    const g = SqliteGallery.open(path, { modelId: MODEL, keepFaceImages: true });
    const secret = randomUnit(128, 4242);
    const jpeg = randomBytes(2000);
    g.upsertPerson({ personId: 'zelda', name: 'Zelda Quaxworth', metadata: { note: 'Zelda Quaxworth' } });
    g.addEmbeddings('zelda', [{ embedding: secret, faceImage: jpeg }, { embedding: randomUnit(128, 4243) }]);
    g.upsertPerson({ personId: 'other', name: 'Other Person' });
    g.addEmbeddings('other', [{ embedding: randomUnit(128, 7) }]);
    const needle = Buffer.from(secret.buffer);
    const imageNeedle = jpeg.subarray(0, 64);
    // Present before (in the file or the WAL), else the check after would prove nothing.
    expect(diskBytes(path).includes('Zelda Quaxworth')).toBe(true);
    expect(diskBytes(path).includes(needle)).toBe(true);
    expect(diskBytes(path).includes(imageNeedle)).toBe(true);

    expect(g.removePerson('zelda')).toBe(true);
    expect(g.removePerson('zelda')).toBe(false);
    g.vacuum();
    const after = diskBytes(path);
    expect(after.includes('Zelda Quaxworth')).toBe(false);
    expect(after.includes(needle)).toBe(false);
    expect(after.includes(imageNeedle)).toBe(false);
    expect(after.includes('Other Person')).toBe(true);
    expect(g.match([secret])).toEqual([null]);
    g.close();
    const closed = diskBytes(path);
    expect(closed.includes('Zelda Quaxworth')).toBe(false);
    expect(closed.includes(needle)).toBe(false);
  });
});

describe('export and import', () => {
  test('an export imported into a new gallery gives the same people and the same answers', () => {
    const a = makeGallery(join(tempDir(), 'a.db'));
    a.upsertPerson({ personId: 'p0', name: 'Person 0', threshold: 0.7 });
    const doc = JSON.parse(JSON.stringify(a.export())) as ReturnType<SqliteGallery['export']>;
    expect(doc).toMatchObject({ format: 'jetface-gallery', version: 1, modelId: MODEL, dimension: 16 });
    expect(doc.people[0]!.embeddings[0]!.vector).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const b = SqliteGallery.open(join(tempDir(), 'b.db'), { modelId: MODEL });
    expect(b.import(doc, { mode: 'merge' })).toEqual({ people: 3, embeddingsAdded: 6, mode: 'merge' });
    expect(b.listPeople()).toEqual(a.listPeople());
    const probes = [randomUnit(16, 1), randomUnit(16, 102), randomUnit(16, 999)];
    expect(b.search(probes)).toEqual(a.search(probes));
    // Merging the same document again adds nothing.
    expect(b.import(doc).embeddingsAdded).toBe(0);
    a.close();
    b.close();
  });

  test("replace makes the gallery exactly the document; merge keeps the gallery's other people", () => {
    const a = makeGallery(join(tempDir(), 'a.db'), 2);
    const doc = a.export();
    const b = SqliteGallery.open(join(tempDir(), 'b.db'), { modelId: MODEL });
    b.upsertPerson({ personId: 'solo', name: 'Solo' });
    b.addEmbeddings('solo', [{ embedding: randomUnit(16, 77) }]);
    b.import(doc, { mode: 'merge' });
    expect(b.listPeople().map((p) => p.personId)).toEqual(['p0', 'p1', 'solo']);
    b.import(doc, { mode: 'replace' });
    expect(b.listPeople().map((p) => p.personId)).toEqual(['p0', 'p1']);
    expect(b.search([randomUnit(16, 77)])[0]!.candidates.map((c) => c.personId)).not.toContain('solo');
    a.close();
    b.close();
  });

  test('a bad document is refused with a typed error naming the field, and nothing is changed', () => {
    const a = makeGallery(join(tempDir(), 'a.db'), 2);
    const good = a.export();
    const b = makeGallery(join(tempDir(), 'b.db'), 1);
    const before = b.listPeople();
    const bad = (edit: (d: Record<string, any>) => void) => {
      const d = JSON.parse(JSON.stringify(good)) as Record<string, any>;
      edit(d);
      return d;
    };
    const refusals: [Record<string, any>, string | RegExp][] = [
      [bad((d) => (d['version'] = 2)), 'document.version'],
      [bad((d) => (d['format'] = 'other')), 'document.format'],
      [bad((d) => (d['extra'] = 1)), 'document.extra'],
      [bad((d) => (d['people'][1]['embeddings'][1]['vector'] = 'not*base64')), 'document.people[1].embeddings[1].vector'],
      [bad((d) => (d['people'][1]['embeddings'][0]['vector'] = Buffer.alloc(12).toString('base64'))), 'document.people[1].embeddings[0].vector'],
      [bad((d) => (d['people'][0]['name'] = '')), 'document.people[0].name'],
      [bad((d) => (d['people'][0]['threshold'] = 5)), 'document.people[0].threshold'],
      [bad((d) => (d['people'][1]['personId'] = 'p0')), 'document.people[1].personId'],
      [bad((d) => (d['people'][0]['createdAt'] = 'yesterday')), 'document.people[0].createdAt'],
      [bad((d) => (d['dimension'] = 8)), 'document.people[0].embeddings[0].vector'],
    ];
    for (const [doc, field] of refusals) {
      let error: unknown;
      try {
        b.import(doc, { mode: 'replace' });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).details['name']).toBe(field);
    }
    expect(() => b.import(bad((d) => (d['modelId'] = 'other:1')))).toThrow(GalleryModelMismatchError);
    expect(() => b.import(good, { mode: 'upsert' as never })).toThrow(/options\.mode/);
    expect(b.listPeople()).toEqual(before);
    a.close();
    b.close();
  });
});

describe('open', () => {
  test('a gallery that cannot be created is a typed error naming the path', () => {
    expect(() => SqliteGallery.open(join(tempDir(), 'no', 'such', 'dir', 'g.db'), { modelId: MODEL })).toThrow(
      expect.objectContaining({ code: 'E_INVALID_ARGUMENT', details: expect.objectContaining({ name: 'path' }) }),
    );
    expect(() => SqliteGallery.open(join(tempDir(), 'absent.db'), { modelId: MODEL, readonly: true })).toThrow(/readonly: true creates nothing/);
  });
});

/** What a crash leaves on disk: the file, its -wal and -shm as they are while the gallery is still open. */
function crashCopy(path: string): string {
  const copy = join(tempDir(), 'crashed.db');
  for (const suffix of ['', '-wal', '-shm']) if (existsSync(`${path}${suffix}`)) copyFileSync(`${path}${suffix}`, `${copy}${suffix}`);
  return copy;
}

/** A connection of another process (here: of this one) that stays in a read transaction until released. */
function holdReader(path: string): () => void {
  const db = new Database(path);
  db.exec('BEGIN');
  db.prepare('SELECT count(*) FROM people').get();
  return () => {
    db.exec('COMMIT');
    db.close();
  };
}

describe('crash safety', () => {
  test('a new gallery never closed (the process died) reopens with its people', () => {
    const path = join(tempDir(), 'g.db');
    const g = SqliteGallery.open(path, { modelId: MODEL });
    g.upsertPerson({ personId: 'ada', name: 'Ada' });
    g.addEmbeddings('ada', [{ embedding: randomUnit(16, 1) }]);
    const copy = crashCopy(path);
    g.close();
    const again = SqliteGallery.open(copy, { modelId: MODEL });
    expect(again.listPeople().map((p) => p.personId)).toEqual(['ada']);
    again.close();
  });

  test('the application id and schema version are read through SQLite: marks still only in the -wal are seen', () => {
    const path = join(tempDir(), 'g.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    migrate(db);
    const copy = crashCopy(path);
    db.close();
    expect(readFileSync(copy).readUInt32BE(68)).toBe(0); // the raw header has not got it yet
    expect(inspectGalleryFile(copy)).toEqual({ missing: false, version: SCHEMA_VERSION });
    SqliteGallery.open(copy, { modelId: MODEL, readonly: true }).close();
  });

  test('open moves the schema marks into the main file (the WAL is truncated)', () => {
    const path = join(tempDir(), 'g.db');
    const g = SqliteGallery.open(path, { modelId: MODEL });
    const header = readFileSync(path).subarray(0, 100);
    expect(header.readUInt32BE(68)).toBe(GALLERY_APPLICATION_ID);
    expect(header.readUInt32BE(60)).toBe(SCHEMA_VERSION);
    expect(statSync(`${path}-wal`).size).toBe(0);
    g.close();
  });
});

describe('deletions leave no WAL copy behind, or say so', () => {
  test('import replace and removeStaleEmbeddings truncate the WAL', () => {
    const path = join(tempDir(), 'g.db');
    const g = makeGallery(path, 3);
    g.import(makeGallery(join(tempDir(), 'a.db'), 1).export(), { mode: 'replace' });
    expect(g.listPeople().map((p) => p.personId)).toEqual(['p0']);
    expect(statSync(`${path}-wal`).size).toBe(0);
    g.close();
    const next = SqliteGallery.open(path, { modelId: 'jetface-m:test0002' });
    next.upsertPerson({ personId: 'new', name: 'New' });
    next.addEmbeddings('new', [{ embedding: randomUnit(8, 1) }]);
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);
    expect(next.removeStaleEmbeddings()).toBe(2);
    expect(statSync(`${path}-wal`).size).toBe(0);
    next.close();
  });

  test('a deletion whose WAL another connection keeps is done, and throws GalleryBusyError naming the -wal', () => {
    const path = join(tempDir(), 'g.db');
    const g = makeGallery(path, 2);
    const release = holdReader(path);
    let error: unknown;
    try {
      g.removePerson('p0');
    } catch (e) {
      error = e;
    }
    release();
    expect(error).toBeInstanceOf(GalleryBusyError);
    expect(error).toMatchObject({ code: 'E_GALLERY_BUSY', details: { path } });
    expect((error as Error).message).toContain(`${path}-wal`);
    expect(g.getPerson('p0')).toBeNull();
    expect(g.search([randomUnit(16, 1)])[0]!.candidates.map((c) => c.personId)).toEqual(['p1']);
    g.vacuum();
    expect(statSync(`${path}-wal`).size).toBe(0);
    g.close();
  });
});

describe('busy', () => {
  test('a gallery locked by another process is GalleryBusyError, not corrupt, and is left untouched', () => {
    const path = join(tempDir(), 'g.db');
    makeGallery(path).close();
    const locker = new Database(path);
    locker.pragma('journal_mode = DELETE');
    locker.pragma('locking_mode = EXCLUSIVE');
    locker.exec('BEGIN EXCLUSIVE');
    const before = fingerprint(path);
    const error = openError(path);
    expect(fingerprint(path)).toEqual(before);
    locker.exec('ROLLBACK');
    locker.close();
    expect(error).toBeInstanceOf(GalleryBusyError);
    expect((error as Error).message).toMatch(/another process holds it/);
    expect((error as Error).message).toContain(path);
  });
});

describe('file modes', () => {
  test('an existing gallery opened writable is tightened to 0600 (file, -wal, -shm); readonly leaves it as it is', () => {
    const path = join(tempDir(), 'g.db');
    makeGallery(path).close();
    chmodSync(path, 0o644);
    SqliteGallery.open(path, { modelId: MODEL, readonly: true }).close();
    expect(statSync(path).mode & 0o777).toBe(0o644);
    const g = SqliteGallery.open(path, { modelId: MODEL });
    for (const file of [path, `${path}-wal`, `${path}-shm`]) expect(statSync(file).mode & 0o777).toBe(0o600);
    g.close();
  });

  test('a leftover 0644 -wal is tightened too', () => {
    const path = join(tempDir(), 'g.db');
    const g = makeGallery(path);
    const copy = crashCopy(path);
    g.close();
    for (const suffix of ['', '-wal', '-shm']) chmodSync(`${copy}${suffix}`, 0o644);
    const again = SqliteGallery.open(copy, { modelId: MODEL });
    for (const suffix of ['', '-wal', '-shm']) expect(statSync(`${copy}${suffix}`).mode & 0o777).toBe(0o600);
    again.close();
  });
});

describe('size', () => {
  test('counts enrolled people, with or without embeddings; ClosedError after close', () => {
    const g = makeGallery(join(tempDir(), 'g.db'), 3);
    expect(g.size).toBe(3);
    g.upsertPerson({ personId: 'bare', name: 'No embeddings yet' });
    expect(g.size).toBe(4);
    g.removePerson('p1');
    expect(g.size).toBe(3);
    g.close();
    expect(() => g.size).toThrow(ClosedError);
  });
});

describe('import keeps each embedding with its own source', () => {
  test('two equal vectors keep their own sources', () => {
    const a = SqliteGallery.open(join(tempDir(), 'a.db'), { modelId: MODEL });
    a.upsertPerson({ personId: 'ada', name: 'Ada' });
    a.addEmbeddings('ada', [{ embedding: randomUnit(16, 1), source: 'first.jpg' }]);
    const doc = a.export();
    const e = doc.people[0]!.embeddings[0]!;
    doc.people[0]!.embeddings = [e, { vector: e.vector, source: 'second.jpg' }];
    const b = SqliteGallery.open(join(tempDir(), 'b.db'), { modelId: MODEL });
    expect(b.import(doc).embeddingsAdded).toBe(2);
    expect(b.export().people[0]!.embeddings.map((x) => x.source)).toEqual(['first.jpg', 'second.jpg']);
    a.close();
    b.close();
  });
});
