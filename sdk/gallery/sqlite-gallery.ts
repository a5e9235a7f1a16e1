import Database from 'better-sqlite3';
import { ClosedError, GalleryBusyError, GalleryCorruptError, InvalidArgumentError, JetfaceError, PersonNotFoundError, errorMessage } from '../errors';
import type { GalleryMatch } from '../tracking/types';
import { exportDocument, importDocument, type GalleryExport, type ImportMode, type ImportSummary } from './export';
import { OrtMatMulKernel } from './ort-kernel';
import { createGalleryFile, inspectGalleryFile, migrate, restrictFileMode, sqliteFailure } from './schema';
import { EmbeddingMatrix, decide, unitVector, verdict } from './search';
import { PeopleTable, checkEmbedding, checkPersonInput, type StalePerson } from './people-table';
import type { EmbeddingInput, Gallery, PersonInput, PersonRecord, SearchOptions, SearchResult } from './types';

/** Options of {@link SqliteGallery.open}. */
export interface SqliteGalleryOptions {
  /** The embedding space enrolled and matched: {@link embeddingSpaceId} of the bundle. */
  modelId: string;
  /** Cosine under which a probe is `unknown` (default 0.4; a person's own threshold wins). */
  threshold?: number;
  /** Least gap between the best and the second-best person, else `ambiguous` (default 0.05). */
  margin?: number;
  /** Keep the face crops given at enrollment (default false: only embeddings are stored). */
  keepFaceImages?: boolean;
  /** Open without writing anything (no WAL switch, no migration); changes throw. */
  readonly?: boolean;
}

/** Which kernel {@link SqliteGallery.searchAsync} uses: `auto` picks onnxruntime from {@link ORT_MIN_ROWS} rows. */
export type SearchKernel = 'auto' | 'js' | 'onnxruntime';

/** From this many rows on, `searchAsync` calls onnxruntime (a call costs ~0.1 ms; the JS kernel ~0.15 ms per 1,000 rows of 128-D). */
export const ORT_MIN_ROWS = 4096;

/** One onnxruntime session for one matrix dimension; released once retired and no search runs on it. */
interface KernelSlot {
  dim: number;
  kernel: Promise<OrtMatMulKernel>;
  runs: number;
  retired: boolean;
}

/**
 * The persistent gallery: a SQLite file (WAL, foreign keys, secure delete) holding people and
 * their embeddings tagged with a model id, plus this model's embeddings as one in-memory matrix
 * for fast 1:N search. Embeddings of other models stay in the file but are never matched
 * ({@link SqliteGallery.staleness} lists who needs re-enrollment). A corrupt or foreign file is
 * refused before anything is written to it.
 *
 * @example
 * ```ts
 * const gallery = SqliteGallery.open('gallery.db', { modelId: embeddingSpaceId(engine.manifest), threshold: 0.4 });
 * gallery.upsertPerson({ personId: 'ada', name: 'Ada Lovelace' });
 * gallery.addEmbeddings('ada', faces.map((f) => ({ embedding: f.embedding, source: 'ada.jpg' })));
 * const [result] = gallery.search([probe.embedding], { topK: 3 }); // result.status: 'known' | 'unknown' | 'ambiguous'
 * gallery.close();
 * ```
 */
export class SqliteGallery implements Gallery {
  readonly threshold: number;
  readonly margin: number;
  readonly keepFaceImages: boolean;
  readonly readonly: boolean;
  private matrix: EmbeddingMatrix | null = null;
  private kernel: KernelSlot | null = null;
  private closed = false;

  private constructor(
    readonly path: string,
    readonly modelId: string,
    private readonly db: Database.Database,
    private readonly table: PeopleTable,
    options: SqliteGalleryOptions,
  ) {
    this.threshold = options.threshold ?? 0.4;
    this.margin = options.margin ?? 0.05;
    this.keepFaceImages = options.keepFaceImages ?? false;
    this.readonly = options.readonly ?? false;
    this.reload();
  }

  /**
   * Opens (or creates, mode 0600) a gallery file. An existing file is inspected read-only first:
   * not SQLite, truncated or failing its integrity check → {@link GalleryCorruptError}; another
   * application's database or a newer schema → {@link GalleryForeignError}; locked by another
   * process → {@link GalleryBusyError}; either way the file is left byte-for-byte untouched. Opened
   * writable, an existing file and its -wal/-shm are set to mode 0600.
   */
  static open(path: string, options: SqliteGalleryOptions): SqliteGallery {
    if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError('path', 'a file path', path);
    checkOptions(options);
    const state = inspectGalleryFile(path);
    if (state.missing) {
      if (options.readonly) throw new InvalidArgumentError('path', 'an existing gallery file (readonly: true creates nothing)', path);
      try {
        createGalleryFile(path);
      } catch (error) {
        throw new InvalidArgumentError('path', `a place where a new gallery file can be created (${errorMessage(error)})`, path);
      }
    } else if (!options.readonly) {
      // Before SQLite opens it, so that the -wal/-shm it creates inherit 0600 too.
      try {
        restrictFileMode(path);
      } catch (error) {
        throw new InvalidArgumentError('path', `a gallery file this user can make private (chmod 0600: ${errorMessage(error)})`, path);
      }
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: true });
      db.pragma('foreign_keys = ON');
      if (!options.readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('secure_delete = ON');
        // A migration's marks (application id, version) go to the main file: a crash must not leave them only in the -wal.
        if (migrate(db) > 0) truncateWal(db, path, 'creating its schema');
      } else if (state.version === 0) {
        throw new GalleryCorruptError(path, 'it has no schema yet; open it writable once');
      }
    } catch (error) {
      db?.close();
      if (error instanceof JetfaceError) throw error;
      throw sqliteFailure(path, 'SQLite cannot open it', error);
    }
    try {
      return new SqliteGallery(path, options.modelId, db, new PeopleTable(db, options.modelId), options);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** The embedding dimension of this model's vectors (null until the first one is enrolled). */
  get dimension(): number | null {
    return this.matrix?.dim ?? null;
  }
  /** Rows in the search matrix: this model's embeddings. */
  get embeddingCount(): number {
    return this.matrix?.rows ?? 0;
  }
  /** Enrolled people (with or without embeddings of this model): one `count(*)`, cheap enough for a metrics scrape. Throws {@link ClosedError} after close(). */
  get size(): number {
    this.open();
    return this.table.count();
  }

  upsertPerson(person: PersonInput): PersonRecord {
    this.writable();
    checkPersonInput(person);
    const record = this.table.upsert(person);
    this.matrix?.addPerson({ personId: record.personId, name: record.name, threshold: record.threshold });
    return record;
  }

  /** Adds embeddings (L2-normalized) in one transaction; returns how many were added. */
  addEmbeddings(personId: string, embeddings: readonly EmbeddingInput[]): number {
    this.writable();
    if (!Array.isArray(embeddings)) throw new InvalidArgumentError('embeddings', 'an array of { embedding, source?, faceImage? }', embeddings);
    const dim = this.matrix?.dim ?? (embeddings[0]?.embedding instanceof Float32Array ? embeddings[0].embedding.length : 0);
    const units = embeddings.map((e, i) => unitVector(checkEmbedding(e, i, dim, this.modelId)));
    const person = this.table.get(personId);
    if (!person) throw new PersonNotFoundError(personId);
    this.table.addEmbeddings(personId, embeddings, units, this.keepFaceImages);
    if (units.length === 0) return 0;
    const matrix = (this.matrix ??= new EmbeddingMatrix(dim));
    const slot = matrix.addPerson({ personId, name: person.name, threshold: person.threshold });
    for (const u of units) matrix.addRow(slot, u);
    return units.length;
  }

  getPerson(personId: string): PersonRecord | null {
    this.open();
    return this.table.get(personId);
  }

  listPeople(): PersonRecord[] {
    this.open();
    return this.table.list();
  }

  /** The face crops kept for a person (empty unless the gallery keeps face images). */
  faceImages(personId: string): Uint8Array[] {
    this.open();
    return this.table.faceImages(personId);
  }

  /**
   * Deletes the person, every embedding and face image of theirs (one cascading DELETE, zeroed on
   * disk by secure_delete), then checkpoints and truncates the WAL so no old page copy lingers there.
   * If another connection prevents that, the deletion stays done but {@link GalleryBusyError} is
   * thrown: copies may remain in the -wal until a later {@link vacuum} succeeds.
   */
  removePerson(personId: string): boolean {
    this.writable();
    const removed = this.table.remove(personId);
    if (removed) {
      this.matrix?.removePerson(personId);
      truncateWal(this.db, this.path, `deleting ${personId}`);
    }
    return removed;
  }

  /** People with embeddings of other models: who must be re-enrolled for this one. */
  staleness(): StalePerson[] {
    this.open();
    return this.table.staleness();
  }

  /** Deletes every embedding (and image) of other models, then truncates the WAL as {@link removePerson} does; returns how many were deleted. */
  removeStaleEmbeddings(): number {
    this.writable();
    const removed = this.table.removeStale();
    if (removed > 0) truncateWal(this.db, this.path, 'deleting stale embeddings');
    return removed;
  }

  /** Rebuilds the file (VACUUM) and truncates the WAL: freed pages and old page copies are gone from disk ({@link GalleryBusyError} if another connection prevents it). */
  vacuum(): void {
    this.writable();
    this.db.exec('VACUUM');
    truncateWal(this.db, this.path, 'VACUUM');
  }

  search(probes: readonly Float32Array[], options: SearchOptions = {}): SearchResult[] {
    this.open();
    const decision = this.decision(options);
    const units = this.probeUnits(probes);
    const matrix = this.matrix;
    if (!matrix || units.length === 0) return units.map(() => ({ status: 'unknown', match: null, candidates: [] }));
    const best = matrix.bestPerPerson(units);
    return units.map((_, b) => decide(best, b, matrix.slots, decision));
  }

  /**
   * {@link search}, with large galleries scored by onnxruntime's MatMul (vectorized, multi-threaded)
   * instead of the JS kernel. A change made while it runs makes it fall back to {@link search}; under
   * `kernel: 'auto'` so does an onnxruntime that fails to load. close() while it runs makes it reject
   * with {@link ClosedError}.
   */
  async searchAsync(probes: readonly Float32Array[], options: SearchOptions & { kernel?: SearchKernel } = {}): Promise<SearchResult[]> {
    this.open();
    const kernelChoice = options.kernel ?? 'auto';
    if (!['auto', 'js', 'onnxruntime'].includes(kernelChoice)) throw new InvalidArgumentError('options.kernel', "'auto', 'js' or 'onnxruntime'", kernelChoice);
    const decision = this.decision(options);
    const units = this.probeUnits(probes);
    const matrix = this.matrix;
    const useOrt = kernelChoice === 'onnxruntime' || (kernelChoice === 'auto' && (matrix?.rows ?? 0) >= ORT_MIN_ROWS);
    if (!matrix || units.length === 0 || matrix.rows === 0 || !useOrt) return this.search(probes, options);
    const slot = this.acquireKernel(matrix.dim);
    try {
      let kernel: OrtMatMulKernel;
      try {
        kernel = await slot.kernel;
      } catch (error) {
        if (kernelChoice !== 'auto') throw error;
        return this.search(probes, options);
      }
      this.open();
      const flat = new Float32Array(units.length * (matrix.dim + 1));
      units.forEach((u, b) => flat.set(matrix.augment(u), b * (matrix.dim + 1)));
      const version = matrix.version;
      const want = Math.max(decision.topK, 2);
      const top = await kernel.topRows(matrix.data, matrix.capacity, flat, units.length, Math.min(matrix.rows, want * matrix.maxRowsPerPerson()));
      this.open();
      if (matrix !== this.matrix || matrix.version !== version) return this.search(probes, options);
      return units.map((_, b) => verdict(matrix.rankFromTopRows(top.values, top.rows, top.k, b, want), matrix.slots, decision));
    } finally {
      this.releaseKernel(slot);
    }
  }

  /** The {@link GalleryMatcher} view: the person for `known` results, null otherwise. */
  match(embeddings: Float32Array[]): (GalleryMatch | null)[] {
    return this.search(embeddings).map((r) => (r.status === 'known' ? r.match : null));
  }

  /** This model's people and embeddings as a versioned JSON document (vectors in base64; no face images). */
  export(): GalleryExport {
    this.open();
    return exportDocument(this.table, this.modelId, this.matrix?.dim ?? null);
  }

  /**
   * Imports a document from {@link export}, validated strictly first (typed errors name the field),
   * in one transaction: `merge` upserts people and adds their new embeddings, `replace` makes the
   * gallery exactly the document.
   */
  import(doc: unknown, options: { mode?: ImportMode } = {}): ImportSummary {
    this.writable();
    const summary = importDocument(this.db, this.table, doc, { modelId: this.modelId, dimension: this.matrix?.dim ?? null, mode: options.mode ?? 'merge' });
    this.reload();
    // replace deleted the people not in the document: truncate the WAL as removePerson does.
    if (summary.mode === 'replace') truncateWal(this.db, this.path, 'replacing the gallery');
    return summary;
  }

  /** Checkpoints the WAL (best effort: SQLite checkpoints again as the last connection closes) and closes the file; searches in flight reject with {@link ClosedError}. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.retireKernel();
    try {
      if (!this.readonly) this.db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      this.db.close();
    }
  }

  /** The session for this dimension, counted as in use until {@link releaseKernel}. */
  private acquireKernel(dim: number): KernelSlot {
    // An import with mode 'replace' may change the dimension: the old session's graph no longer fits.
    if (this.kernel && this.kernel.dim !== dim) this.retireKernel();
    if (!this.kernel) {
      const slot: KernelSlot = { dim, kernel: OrtMatMulKernel.create(dim), runs: 0, retired: false };
      // A failed load is forgotten so that the next search tries again instead of failing forever.
      slot.kernel.catch(() => {
        if (this.kernel === slot) this.kernel = null;
      });
      this.kernel = slot;
    }
    this.kernel.runs++;
    return this.kernel;
  }

  private releaseKernel(slot: KernelSlot): void {
    slot.runs--;
    if (slot.retired && slot.runs === 0) closeKernel(slot);
  }

  /** Stops handing out the current session; it is released now, or after the last search running on it. */
  private retireKernel(): void {
    const slot = this.kernel;
    this.kernel = null;
    if (!slot) return;
    slot.retired = true;
    if (slot.runs === 0) closeKernel(slot);
  }

  /** Loads this model's embeddings from the file into the search matrix. */
  private reload(): void {
    const count = this.table.countVectors();
    let matrix: EmbeddingMatrix | null = null;
    if (count > 0) {
      for (const r of this.table.iterateVectors()) {
        matrix ??= new EmbeddingMatrix(r.vector.length, Math.max(1024, count));
        if (r.vector.length !== matrix.dim) throw new GalleryCorruptError(this.path, `embeddings of model ${this.modelId} have mixed dimensions (${matrix.dim} and ${r.vector.length})`);
        matrix.addRow(matrix.addPerson(r.person), r.vector);
      }
    }
    this.matrix = matrix;
  }

  private decision(options: SearchOptions) {
    const topK = options.topK ?? 5;
    if (!Number.isInteger(topK) || topK < 1 || topK > 1000) throw new InvalidArgumentError('options.topK', 'an integer in 1..1000', options.topK);
    const threshold = options.threshold ?? this.threshold;
    if (!(threshold >= -1 && threshold <= 1)) throw new InvalidArgumentError('options.threshold', 'a cosine in -1..1', options.threshold);
    const margin = options.margin ?? this.margin;
    if (!(margin >= 0 && margin <= 2)) throw new InvalidArgumentError('options.margin', 'a number in 0..2', options.margin);
    return { topK, threshold, margin };
  }

  private probeUnits(probes: readonly Float32Array[]): Float32Array[] {
    if (!Array.isArray(probes)) throw new InvalidArgumentError('probes', 'an array of Float32Array', probes);
    const dim = this.matrix?.dim;
    return probes.map((p, i) => {
      if (!(p instanceof Float32Array)) throw new InvalidArgumentError(`probes[${i}]`, 'a Float32Array', p);
      if (dim !== undefined && p.length !== dim) throw new InvalidArgumentError(`probes[${i}].length`, `${dim} (the dimension of model ${this.modelId})`, p.length);
      return unitVector(p);
    });
  }

  private open(): void {
    if (this.closed) throw new ClosedError('gallery');
  }

  private writable(): void {
    this.open();
    if (this.readonly) throw new InvalidArgumentError('gallery', 'opened writable to be changed (readonly: false)', 'readonly');
  }
}

function checkOptions(o: SqliteGalleryOptions): void {
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('options', 'an object with modelId', o);
  if (typeof o.modelId !== 'string' || !/^[A-Za-z0-9._:-]{1,100}$/.test(o.modelId)) throw new InvalidArgumentError('options.modelId', "a bundle's model id (letters, digits and . _ : -)", o.modelId);
  if (o.threshold !== undefined && !(o.threshold >= -1 && o.threshold <= 1)) throw new InvalidArgumentError('options.threshold', 'a cosine in -1..1', o.threshold);
  if (o.margin !== undefined && !(o.margin >= 0 && o.margin <= 2)) throw new InvalidArgumentError('options.margin', 'a number in 0..2', o.margin);
}

function closeKernel(slot: KernelSlot): void {
  void slot.kernel.then((k) => k.close()).catch(() => undefined);
}

/**
 * Checkpoints the WAL into the main file and truncates it to zero bytes, so that no copy of a
 * deleted page lingers there. SQLite reports rather than throws when another connection (a reader
 * on an older snapshot, a writer) prevents it: that becomes {@link GalleryBusyError}.
 */
function truncateWal(db: Database.Database, path: string, after: string): void {
  const [r] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number; checkpointed: number }[];
  if (r && (r.busy !== 0 || r.checkpointed !== r.log)) {
    throw new GalleryBusyError(
      path,
      `${after} is committed, but the WAL could not be truncated (${r.checkpointed} of ${r.log} frames checkpointed); old page copies may remain in ${path}-wal until vacuum() succeeds once the other connection is done`,
    );
  }
}
