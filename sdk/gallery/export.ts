import type Database from 'better-sqlite3';
import { GalleryModelMismatchError, InvalidArgumentError } from '../errors';
import { checkPersonInput, vectorBytes, vectorFromBytes, type PeopleTable } from './people-table';
import { unitVector } from './search';

/** The `format` and `version` of a gallery export document. */
export const GALLERY_EXPORT_FORMAT = 'jetface-gallery';
export const GALLERY_EXPORT_VERSION = 1;

/**
 * A gallery as JSON: one model's people and embeddings (float32 little-endian, base64). Face images
 * are never exported.
 *
 * @example
 * ```ts
 * writeFileSync('gallery.json', JSON.stringify(gallery.export()), { mode: 0o600 });
 * other.import(JSON.parse(readFileSync('gallery.json', 'utf8')), { mode: 'merge' });
 * ```
 */
export interface GalleryExport {
  format: typeof GALLERY_EXPORT_FORMAT;
  version: typeof GALLERY_EXPORT_VERSION;
  modelId: string;
  /** Embedding dimension; null when the gallery holds no embedding of the model. */
  dimension: number | null;
  exportedAt: string;
  people: {
    personId: string;
    name: string;
    metadata: Record<string, unknown>;
    threshold: number | null;
    createdAt: string;
    updatedAt: string;
    embeddings: { vector: string; source: string | null }[];
  }[];
}

/** `merge`: upsert the document's people, add their embeddings not yet stored. `replace`: the gallery becomes the document. */
export type ImportMode = 'merge' | 'replace';

/** What an import changed. */
export interface ImportSummary {
  people: number;
  embeddingsAdded: number;
  mode: ImportMode;
}

export function exportDocument(table: PeopleTable, modelId: string, dimension: number | null): GalleryExport {
  return {
    format: GALLERY_EXPORT_FORMAT,
    version: GALLERY_EXPORT_VERSION,
    modelId,
    dimension,
    exportedAt: new Date().toISOString(),
    people: table.list().map((p) => ({
      personId: p.personId,
      name: p.name,
      metadata: p.metadata,
      threshold: p.threshold,
      createdAt: p.createdAt,
      updatedAt: p.updatedAt,
      embeddings: table.vectorsOf(p.personId).map((e) => ({ vector: vectorBytes(e.vector).toString('base64'), source: e.source })),
    })),
  };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** Validates the whole document (typed errors name the field), then writes it in one transaction. */
export function importDocument(
  db: Database.Database,
  table: PeopleTable,
  doc: unknown,
  o: { modelId: string; dimension: number | null; mode: ImportMode },
): ImportSummary {
  if (o.mode !== 'merge' && o.mode !== 'replace') throw new InvalidArgumentError('options.mode', "'merge' or 'replace'", o.mode);
  const d = checkDocument(doc, o.modelId, o.mode === 'replace' ? null : o.dimension);
  let embeddingsAdded = 0;
  db.transaction(() => {
    if (o.mode === 'replace') db.prepare('DELETE FROM people').run();
    for (const p of d.people) {
      table.upsert({ personId: p.personId, name: p.name, metadata: p.metadata, threshold: p.threshold }, { createdAt: p.createdAt, updatedAt: p.updatedAt });
      const fresh = p.vectors.flatMap((v, k) => (table.hasVector(p.personId, v) ? [] : [k]));
      if (fresh.length > 0) {
        const inputs = fresh.map((k) => ({ embedding: p.vectors[k]!, ...(p.sources[k] ? { source: p.sources[k] } : {}) }));
        table.addEmbeddings(p.personId, inputs, fresh.map((k) => p.vectors[k]!), false, p.updatedAt);
      }
      embeddingsAdded += fresh.length;
    }
  })();
  return { people: d.people.length, embeddingsAdded, mode: o.mode };
}

interface CheckedPerson {
  personId: string;
  name: string;
  metadata: Record<string, unknown>;
  threshold: number | null;
  createdAt: string;
  updatedAt: string;
  vectors: Float32Array[];
  sources: (string | null)[];
}

function checkDocument(doc: unknown, modelId: string, galleryDim: number | null): { people: CheckedPerson[] } {
  const obj = (v: unknown, name: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidArgumentError(name, 'an object', v);
    return v as Record<string, unknown>;
  };
  const keys = (v: Record<string, unknown>, name: string, allowed: string[]) => {
    const extra = Object.keys(v).find((k) => !allowed.includes(k));
    if (extra !== undefined) throw new InvalidArgumentError(`${name}.${extra}`, `absent (known fields: ${allowed.join(', ')})`, v[extra]);
  };
  const d = obj(doc, 'document');
  keys(d, 'document', ['format', 'version', 'modelId', 'dimension', 'exportedAt', 'people']);
  if (d['format'] !== GALLERY_EXPORT_FORMAT) throw new InvalidArgumentError('document.format', `"${GALLERY_EXPORT_FORMAT}"`, d['format']);
  if (d['version'] !== GALLERY_EXPORT_VERSION) throw new InvalidArgumentError('document.version', `${GALLERY_EXPORT_VERSION} (the export version this jetface reads)`, d['version']);
  if (typeof d['modelId'] !== 'string') throw new InvalidArgumentError('document.modelId', 'a model id string', d['modelId']);
  if (d['modelId'] !== modelId) throw new GalleryModelMismatchError(modelId, d['modelId'], 'document.modelId');
  const dim = d['dimension'];
  if (!(dim === null || (Number.isInteger(dim) && (dim as number) >= 1 && (dim as number) <= 4096))) throw new InvalidArgumentError('document.dimension', 'an integer in 1..4096 or null', dim);
  if (galleryDim !== null && dim !== null && dim !== galleryDim) throw new InvalidArgumentError('document.dimension', `${galleryDim} (the gallery's dimension)`, dim);
  if (typeof d['exportedAt'] !== 'string') throw new InvalidArgumentError('document.exportedAt', 'an ISO 8601 time', d['exportedAt']);
  if (!Array.isArray(d['people'])) throw new InvalidArgumentError('document.people', 'an array', d['people']);
  const seen = new Set<string>();
  const people = (d['people'] as unknown[]).map((raw, i): CheckedPerson => {
    const at = `document.people[${i}]`;
    const p = obj(raw, at);
    keys(p, at, ['personId', 'name', 'metadata', 'threshold', 'createdAt', 'updatedAt', 'embeddings']);
    try {
      checkPersonInput(p as never);
    } catch (error) {
      const name = ((error as InvalidArgumentError).details['name'] as string).replace(/^person/, at);
      throw new InvalidArgumentError(name, (error as InvalidArgumentError).details['expected'] as string, p[name.slice(at.length + 1)]);
    }
    if (p['metadata'] === undefined) throw new InvalidArgumentError(`${at}.metadata`, 'a JSON object', undefined);
    if (p['threshold'] === undefined) throw new InvalidArgumentError(`${at}.threshold`, 'a cosine in -1..1 or null', undefined);
    for (const t of ['createdAt', 'updatedAt']) if (typeof p[t] !== 'string' || !ISO.test(p[t] as string)) throw new InvalidArgumentError(`${at}.${t}`, 'an ISO 8601 UTC time', p[t]);
    const personId = p['personId'] as string;
    if (seen.has(personId)) throw new InvalidArgumentError(`${at}.personId`, 'unique in the document', personId);
    seen.add(personId);
    if (!Array.isArray(p['embeddings'])) throw new InvalidArgumentError(`${at}.embeddings`, 'an array', p['embeddings']);
    const vectors: Float32Array[] = [];
    const sources: (string | null)[] = [];
    (p['embeddings'] as unknown[]).forEach((rawE, k) => {
      const eat = `${at}.embeddings[${k}]`;
      const e = obj(rawE, eat);
      keys(e, eat, ['vector', 'source']);
      const b64 = e['vector'];
      if (typeof b64 !== 'string' || !BASE64.test(b64) || b64.length % 4 !== 0) throw new InvalidArgumentError(`${eat}.vector`, 'base64 of float32 little-endian values', b64);
      const bytes = Buffer.from(b64, 'base64');
      if (dim === null || bytes.length !== (dim as number) * 4) throw new InvalidArgumentError(`${eat}.vector`, `base64 of ${String(dim)} float32 values (${Number(dim) * 4} bytes)`, `${bytes.length} bytes`);
      const v = vectorFromBytes(bytes);
      if (!v.every(Number.isFinite) || v.every((x) => x === 0)) throw new InvalidArgumentError(`${eat}.vector`, 'finite values, not all zero', b64.slice(0, 40));
      const source = e['source'] ?? null;
      if (source !== null && (typeof source !== 'string' || source.length > 1000)) throw new InvalidArgumentError(`${eat}.source`, 'a string or null', source);
      vectors.push(unitVector(v));
      sources.push(source as string | null);
    });
    return { ...(p as unknown as Omit<CheckedPerson, 'vectors' | 'sources'>), threshold: p['threshold'] as number | null, vectors, sources };
  });
  return { people };
}
