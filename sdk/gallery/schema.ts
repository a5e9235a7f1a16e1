import { chmodSync, closeSync, openSync, readSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { GalleryBusyError, GalleryCorruptError, GalleryForeignError, errorMessage } from '../errors';

/** `PRAGMA application_id` of every jetface gallery: "JFGa" in ASCII, so `file(1)` and we can tell it from other SQLite files. */
export const GALLERY_APPLICATION_ID = 0x4a464761;

/** One schema step: `up` runs in one transaction with the `user_version` bump. */
export interface Migration {
  version: number;
  up: string;
}

/**
 * The ordered schema history. Never edit a released step; append a new one.
 * Embeddings are unit vectors (float32, little-endian) tagged with their model id and dimension;
 * face images hang off their embedding, so deleting a person cascades to both.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    up: `
      CREATE TABLE people (
        id INTEGER PRIMARY KEY,
        person_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}',
        threshold REAL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE embeddings (
        id INTEGER PRIMARY KEY,
        person INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        model_id TEXT NOT NULL,
        dim INTEGER NOT NULL,
        vector BLOB NOT NULL,
        source TEXT,
        created_at TEXT NOT NULL
      );
      CREATE INDEX embeddings_person ON embeddings(person);
      CREATE INDEX embeddings_model ON embeddings(model_id);
      CREATE TABLE face_images (
        embedding INTEGER PRIMARY KEY REFERENCES embeddings(id) ON DELETE CASCADE,
        jpeg BLOB NOT NULL
      );
    `,
  },
];

/** The schema version this jetface writes (and the newest it reads). */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/** The file's state as found by {@link inspectGalleryFile}. */
export interface GalleryFileState {
  /** The file did not exist. */
  missing: boolean;
  /** Its `user_version` (0 when missing). */
  version: number;
}

/**
 * Checks an existing file without writing to it: SQLite header (magic, page size, length), then over
 * a read-only connection (which sees a crashed writer's -wal) application id, schema version and
 * `PRAGMA quick_check`. Throws {@link GalleryCorruptError}, {@link GalleryForeignError} or, when
 * another process locks it, {@link GalleryBusyError}; the file's bytes and mtime are never changed
 * (nothing has switched it to WAL or migrated it yet).
 */
export function inspectGalleryFile(path: string): GalleryFileState {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { missing: true, version: 0 };
    throw new GalleryCorruptError(path, `cannot stat the file (${errorMessage(error)})`, error);
  }
  if (size === 0) throw new GalleryCorruptError(path, 'the file is empty (0 bytes); delete it to start a new gallery');
  const header = Buffer.alloc(100);
  const fd = openSync(path, 'r');
  let got: number;
  try {
    got = readSync(fd, header, 0, 100, 0);
  } finally {
    closeSync(fd);
  }
  if (got < 16 || !header.subarray(0, 16).equals(SQLITE_MAGIC)) throw new GalleryCorruptError(path, 'it does not start with the SQLite header (random bytes, encrypted or overwritten)');
  if (got < 100) throw new GalleryCorruptError(path, `the SQLite header is truncated (${size} bytes)`);
  const rawPageSize = header.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) throw new GalleryCorruptError(path, `invalid page size ${rawPageSize} in the SQLite header`);
  if (size % pageSize !== 0) throw new GalleryCorruptError(path, `its size (${size} bytes) is not a whole number of ${pageSize}-byte pages: the file was truncated`);
  const pages = header.readUInt32BE(28);
  if (pages > 0 && pages * pageSize > size && header.readUInt32BE(24) === header.readUInt32BE(92)) {
    throw new GalleryCorruptError(path, `the header counts ${pages} pages but the file holds ${size / pageSize}: the file was truncated`);
  }
  let db: Database.Database | undefined;
  try {
    // application_id and user_version are read through SQLite, not from the raw header: after a
    // crash the newest ones may sit only in the -wal file, which a connection applies.
    db = new Database(path, { readonly: true, fileMustExist: true });
    const version = db.pragma('user_version', { simple: true }) as number;
    checkIdentity(path, db.pragma('application_id', { simple: true }) as number, version);
    checkIntegrity(path, db, version);
    return { missing: false, version };
  } catch (error) {
    if (error instanceof GalleryCorruptError || error instanceof GalleryForeignError) throw error;
    throw sqliteFailure(path, 'SQLite cannot read it', error);
  } finally {
    db?.close();
  }
}

function checkIdentity(path: string, applicationId: number, version: number): void {
  if (applicationId !== GALLERY_APPLICATION_ID) {
    throw new GalleryForeignError(path, `its SQLite application id is 0x${(applicationId >>> 0).toString(16).padStart(8, '0')}, not jetface's 0x${GALLERY_APPLICATION_ID.toString(16)} (a database of another application)`);
  }
  if (version > SCHEMA_VERSION) throw new GalleryForeignError(path, `its schema version ${version} is newer than this jetface reads (${SCHEMA_VERSION}); upgrade jetface`);
}

function checkIntegrity(path: string, db: Database.Database, version: number): void {
  const rows = db.pragma('quick_check', { simple: false }) as { quick_check: string }[];
  const problems = rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
  if (problems.length > 0) throw new GalleryCorruptError(path, `SQLite integrity check failed: ${problems.slice(0, 3).join('; ')}`);
  if (version > 0) {
    const tables = new Set((db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name));
    const lacking = ['people', 'embeddings', 'face_images'].filter((t) => !tables.has(t));
    if (lacking.length > 0) throw new GalleryCorruptError(path, `tables missing: ${lacking.join(', ')}`);
  }
}

/**
 * The typed error for a SQLite failure on a gallery file: locked by another connection
 * (SQLITE_BUSY, SQLITE_LOCKED) is {@link GalleryBusyError}, anything else {@link GalleryCorruptError}.
 */
export function sqliteFailure(path: string, what: string, error: unknown): GalleryBusyError | GalleryCorruptError {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code)) {
    return new GalleryBusyError(path, `${errorMessage(error)}; another process holds it (close it there, or wait), then retry`, error);
  }
  return new GalleryCorruptError(path, `${what} (${errorMessage(error)})`, error);
}

/** Creates a new, empty file readable and writable by its owner only (mode 0600); SQLite gives its -wal/-shm the same mode. */
export function createGalleryFile(path: string): void {
  closeSync(openSync(path, 'wx', 0o600));
}

/** Brings a writable connection's schema up to {@link SCHEMA_VERSION}, one transaction per step; returns the steps run. */
export function migrate(db: Database.Database): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  const steps = MIGRATIONS.filter((step) => step.version > current);
  for (const step of steps) {
    db.transaction(() => {
      db.exec(step.up);
      db.pragma(`user_version = ${step.version}`);
      db.pragma(`application_id = ${GALLERY_APPLICATION_ID}`);
    })();
  }
  return steps.length;
}

/**
 * Makes the gallery file and its -wal/-shm readable and writable by their owner only: an existing
 * file may have been created 0644 (by hand, a copy, an older jetface), and SQLite gives the -wal/-shm
 * the main file's mode.
 */
export function restrictFileMode(path: string): void {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      chmodSync(file, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}
