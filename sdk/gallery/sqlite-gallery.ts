import Database from 'better-sqlite3';
import { ClosedError, GalleryCorruptError, InvalidArgumentError, PersonNotFoundError } from '../errors';
import type { GalleryMatch } from '../tracking/types';
import { exportDocument, importDocument, type GalleryExport, type ImportMode, type ImportSummary } from './export';
import { OrtMatMulKernel } from './ort-kernel';
import { createGalleryFile, inspectGalleryFile, migrate } from './schema';
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
  private kernel: Promise<OrtMatMulKernel> | null = null;
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
   * application's database or a newer schema → {@link GalleryForeignError}; either way the file is
   * left byte-for-byte untouched.
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
        throw new InvalidArgumentError('path', `a place where a new gallery file can be created (${(error as Error).message})`, path);
      }
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(path, { readonly: options.readonly ?? false, fileMustExist: true });
      db.pragma('foreign_keys = ON');
      if (!options.readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('secure_delete = ON');
        migrate(db);
      } else if (state.version === 0) {
        throw new GalleryCorruptError(path, 'it has no schema yet; open it writable once');
      }
    } catch (error) {
      db?.close();
      if (error instanceof GalleryCorruptError) throw error;
      throw new GalleryCorruptError(path, `SQLite cannot open it (${(error as Error).message})`, error);
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
   * disk by secure_delete), then checkpoints the WAL so no old page copy lingers there.
   */
  removePerson(personId: string): boolean {
    this.writable();
    const removed = this.table.remove(personId);
    if (removed) {
      this.matrix?.removePerson(personId);
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    }
    return removed;
  }

  /** People with embeddings of other models: who must be re-enrolled for this one. */
  staleness(): StalePerson[] {
    this.open();
    return this.table.staleness();
  }

  /** Deletes every embedding (and image) of other models; returns how many were deleted. */
  removeStaleEmbeddings(): number {
    this.writable();
    return this.table.removeStale();
  }

  /** Rebuilds the file (VACUUM) and truncates the WAL: freed pages and old page copies are gone from disk. */
  vacuum(): void {
    this.writable();
    this.db.exec('VACUUM');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
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
   * instead of the JS kernel. A change made while it runs makes it fall back to {@link search}.
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
    const kernel = await (this.kernel ??= OrtMatMulKernel.create(matrix.dim));
    const flat = new Float32Array(units.length * (matrix.dim + 1));
    units.forEach((u, b) => flat.set(matrix.augment(u), b * (matrix.dim + 1)));
    const version = matrix.version;
    const want = Math.max(decision.topK, 2);
    const top = await kernel.topRows(matrix.data, matrix.capacity, flat, units.length, Math.min(matrix.rows, want * matrix.maxRowsPerPerson()));
    if (this.closed || matrix !== this.matrix || matrix.version !== version) return this.search(probes, options);
    return units.map((_, b) => verdict(matrix.rankFromTopRows(top.values, top.rows, top.k, b, want), matrix.slots, decision));
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
    return summary;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.readonly) this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
    const kernel = this.kernel;
    this.kernel = null;
    void kernel?.then((k) => k.close()).catch(() => undefined);
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
