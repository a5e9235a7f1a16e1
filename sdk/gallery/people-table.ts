import type Database from 'better-sqlite3';
import { GalleryModelMismatchError, InvalidArgumentError } from '../errors';
import type { PersonSlot } from './search';
import type { EmbeddingInput, PersonInput, PersonRecord } from './types';

/** A person holding embeddings of other models than the gallery's: re-enroll them with this one. */
export interface StalePerson {
  personId: string;
  name: string;
  /** Embeddings of the gallery's model (matched). */
  current: number;
  /** Embeddings per other model id (kept, never matched). */
  stale: Record<string, number>;
  /** True when the person has none of this model's embeddings: nobody can match them until re-enrolled. */
  needsReEnrollment: boolean;
}

interface PersonRow {
  id: number;
  person_id: string;
  name: string;
  metadata: string;
  threshold: number | null;
  created_at: string;
  updated_at: string;
  embeddings: number;
}

const PERSON_COLUMNS = `p.id, p.person_id, p.name, p.metadata, p.threshold, p.created_at, p.updated_at,
  (SELECT count(*) FROM embeddings e WHERE e.person = p.id AND e.model_id = @model) AS embeddings`;

/** The SQL side of the gallery: people, embeddings and face images of one database, for one model id. */
export class PeopleTable {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    readonly db: Database.Database,
    readonly modelId: string,
  ) {}

  /** A prepared statement, prepared once per connection (bulk enrollment runs each thousands of times). */
  private sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (!statement) this.statements.set(text, (statement = this.db.prepare(text)));
    return statement;
  }

  get(personId: string): PersonRecord | null {
    const row = this.sql(`SELECT ${PERSON_COLUMNS} FROM people p WHERE p.person_id = @personId`).get({ personId, model: this.modelId }) as PersonRow | undefined;
    return row ? toRecord(row) : null;
  }

  list(): PersonRecord[] {
    return (this.sql(`SELECT ${PERSON_COLUMNS} FROM people p ORDER BY p.person_id`).all({ model: this.modelId }) as PersonRow[]).map(toRecord);
  }

  upsert(person: PersonInput, times?: { createdAt: string; updatedAt: string }): PersonRecord {
    const now = new Date().toISOString();
    this
      .sql(
        `INSERT INTO people (person_id, name, metadata, threshold, created_at, updated_at)
         VALUES (@personId, @name, @metadata, @threshold, @createdAt, @updatedAt)
         ON CONFLICT(person_id) DO UPDATE SET name = excluded.name,
           metadata = CASE WHEN @keepMetadata THEN metadata ELSE excluded.metadata END,
           threshold = CASE WHEN @keepThreshold THEN threshold ELSE excluded.threshold END,
           updated_at = excluded.updated_at`,
      )
      .run({
        personId: person.personId,
        name: person.name,
        metadata: JSON.stringify(person.metadata ?? {}),
        threshold: person.threshold ?? null,
        keepMetadata: person.metadata === undefined ? 1 : 0,
        keepThreshold: person.threshold === undefined ? 1 : 0,
        createdAt: times?.createdAt ?? now,
        updatedAt: times?.updatedAt ?? now,
      });
    return this.get(person.personId)!;
  }

  /** Inserts unit vectors (and, if kept, face images) in one transaction. */
  addEmbeddings(personId: string, inputs: readonly EmbeddingInput[], units: readonly Float32Array[], keepFaceImages: boolean, updatedAt?: string): void {
    const now = new Date().toISOString();
    const insert = this.sql(
      `INSERT INTO embeddings (person, model_id, dim, vector, source, created_at)
       SELECT id, @model, @dim, @vector, @source, @now FROM people WHERE person_id = @personId`,
    );
    const image = this.sql('INSERT INTO face_images (embedding, jpeg) VALUES (?, ?)');
    this.db.transaction(() => {
      units.forEach((u, i) => {
        const info = insert.run({ model: this.modelId, dim: u.length, vector: vectorBytes(u), source: inputs[i]!.source ?? null, now, personId });
        const jpeg = inputs[i]!.faceImage;
        if (keepFaceImages && jpeg) image.run(info.lastInsertRowid, Buffer.from(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength));
      });
      this.sql('UPDATE people SET updated_at = ? WHERE person_id = ?').run(updatedAt ?? now, personId);
    })();
  }

  remove(personId: string): boolean {
    return this.sql('DELETE FROM people WHERE person_id = ?').run(personId).changes > 0;
  }

  faceImages(personId: string): Uint8Array[] {
    const rows = this
      .sql('SELECT f.jpeg FROM face_images f JOIN embeddings e ON e.id = f.embedding JOIN people p ON p.id = e.person WHERE p.person_id = ? ORDER BY e.id')
      .all(personId) as { jpeg: Buffer }[];
    return rows.map((r) => new Uint8Array(r.jpeg));
  }

  staleness(): StalePerson[] {
    const rows = this
      .sql(
        `SELECT p.person_id, p.name, e.model_id, count(*) AS n FROM embeddings e JOIN people p ON p.id = e.person
         WHERE p.id IN (SELECT person FROM embeddings WHERE model_id != @model) GROUP BY p.id, e.model_id ORDER BY p.person_id, e.model_id`,
      )
      .all({ model: this.modelId }) as { person_id: string; name: string; model_id: string; n: number }[];
    const byId = new Map<string, StalePerson>();
    for (const r of rows) {
      const p = byId.get(r.person_id) ?? { personId: r.person_id, name: r.name, current: 0, stale: {}, needsReEnrollment: true };
      if (r.model_id === this.modelId) p.current = r.n;
      else p.stale[r.model_id] = r.n;
      p.needsReEnrollment = p.current === 0;
      byId.set(r.person_id, p);
    }
    return [...byId.values()];
  }

  /** How many people are enrolled (with or without vectors of this model). */
  count(): number {
    return (this.sql('SELECT COUNT(*) AS n FROM people').get() as { n: number }).n;
  }

  removeStale(): number {
    return this.sql('DELETE FROM embeddings WHERE model_id != ?').run(this.modelId).changes;
  }

  /** How many vectors of this model the file holds. */
  countVectors(): number {
    return (this.sql('SELECT COUNT(*) AS n FROM embeddings WHERE model_id = ?').get(this.modelId) as { n: number }).n;
  }

  /** This model's vectors in enrollment order, one row at a time: a large gallery is never held twice while it loads. */
  *iterateVectors(): Generator<{ person: PersonSlot; vector: Float32Array }> {
    const rows = this
      .sql('SELECT p.person_id, p.name, p.threshold, e.vector FROM embeddings e JOIN people p ON p.id = e.person WHERE e.model_id = ? ORDER BY e.id')
      .iterate(this.modelId) as IterableIterator<{ person_id: string; name: string; threshold: number | null; vector: Buffer }>;
    for (const r of rows) yield { person: { personId: r.person_id, name: r.name, threshold: r.threshold }, vector: vectorFromBytes(r.vector) };
  }

  /** This model's vectors of one person (for export). */
  vectorsOf(personId: string): { vector: Float32Array; source: string | null }[] {
    const rows = this
      .sql('SELECT e.vector, e.source FROM embeddings e JOIN people p ON p.id = e.person WHERE p.person_id = ? AND e.model_id = ? ORDER BY e.id')
      .all(personId, this.modelId) as { vector: Buffer; source: string | null }[];
    return rows.map((r) => ({ vector: vectorFromBytes(r.vector), source: r.source }));
  }

  hasVector(personId: string, vector: Float32Array): boolean {
    return (
      this
        .sql('SELECT 1 FROM embeddings e JOIN people p ON p.id = e.person WHERE p.person_id = ? AND e.model_id = ? AND e.vector = ?')
        .get(personId, this.modelId, vectorBytes(vector)) !== undefined
    );
  }
}

/** float32 little-endian bytes of a vector (the stored form and the export's base64 payload). */
export function vectorBytes(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** A vector from stored bytes (copied: SQLite's buffers need not be 4-byte aligned). */
export function vectorFromBytes(bytes: Uint8Array): Float32Array {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float32Array(copy.buffer);
}

function toRecord(r: PersonRow): PersonRecord {
  return {
    personId: r.person_id,
    name: r.name,
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    threshold: r.threshold,
    embeddings: r.embeddings,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Validates a person's fields where they enter, naming the field. */
export function checkPersonInput(p: PersonInput): void {
  if (typeof p !== 'object' || p === null) throw new InvalidArgumentError('person', 'an object { personId, name }', p);
  if (typeof p.personId !== 'string' || p.personId.length === 0 || p.personId.length > 200) throw new InvalidArgumentError('person.personId', 'a string of 1 to 200 characters', p.personId);
  if (typeof p.name !== 'string' || p.name.length === 0 || p.name.length > 200) throw new InvalidArgumentError('person.name', 'a string of 1 to 200 characters', p.name);
  if (p.metadata !== undefined) {
    if (typeof p.metadata !== 'object' || p.metadata === null || Array.isArray(p.metadata)) throw new InvalidArgumentError('person.metadata', 'a JSON object', p.metadata);
    let json: string | undefined;
    try {
      json = JSON.stringify(p.metadata);
    } catch {
      json = undefined;
    }
    if (json === undefined || json.length > 65_536) throw new InvalidArgumentError('person.metadata', 'a JSON-serializable object under 64 KiB', p.metadata);
  }
  if (p.threshold !== undefined && p.threshold !== null && !(p.threshold >= -1 && p.threshold <= 1)) throw new InvalidArgumentError('person.threshold', 'a cosine in -1..1 or null', p.threshold);
}

/** Validates one embedding to enroll: a finite, non-zero Float32Array of the gallery's dimension. */
export function checkEmbedding(e: EmbeddingInput, i: number, dim: number, modelId: string): Float32Array {
  const v = (e as EmbeddingInput | null)?.embedding;
  if (!(v instanceof Float32Array) || v.length === 0) throw new InvalidArgumentError(`embeddings[${i}].embedding`, 'a non-empty Float32Array', v);
  if (v.length !== dim) {
    throw new GalleryModelMismatchError(`${modelId} (dimension ${dim})`, `an embedding of dimension ${v.length}`, `embeddings[${i}].embedding.length`);
  }
  let n = 0;
  for (let k = 0; k < v.length; k++) n += v[k]! * v[k]!;
  if (!Number.isFinite(n) || n === 0) throw new InvalidArgumentError(`embeddings[${i}].embedding`, 'finite values, not all zero', v);
  if (e.source !== undefined && (typeof e.source !== 'string' || e.source.length > 1000)) throw new InvalidArgumentError(`embeddings[${i}].source`, 'a string of up to 1000 characters', e.source);
  if (e.faceImage !== undefined && !(e.faceImage instanceof Uint8Array)) throw new InvalidArgumentError(`embeddings[${i}].faceImage`, 'a Uint8Array (JPEG bytes)', e.faceImage);
  return v;
}
