import { InvalidArgumentError } from '../errors';
import type { GalleryMatch, GalleryMatcher } from './types';

interface Person {
  name: string;
  templates: Float32Array[];
}

/**
 * A gallery held in memory: people enrolled from embeddings, matched by cosine similarity (the
 * best of each person's templates) against a threshold. For tests, demos and small devices; the
 * persistent gallery stands behind the same {@link GalleryMatcher} interface.
 *
 * @example
 * ```ts
 * const gallery = new InMemoryGallery({ threshold: engine.manifest.thresholds.match });
 * gallery.enroll('lmm', 'Lin-Manuel Miranda', [face.embedding]);
 * gallery.match([other.embedding]); // [{ personId: 'lmm', name: 'Lin-Manuel Miranda', similarity: 0.71 }] or [null]
 * ```
 */
export class InMemoryGallery implements GalleryMatcher {
  readonly threshold: number;
  private readonly people = new Map<string, Person>();
  private dim = 0;

  constructor(options: { threshold?: number } = {}) {
    const threshold = options.threshold ?? 0.4;
    if (!(threshold >= -1 && threshold <= 1)) throw new InvalidArgumentError('options.threshold', 'a cosine in -1..1', options.threshold);
    this.threshold = threshold;
  }

  /** People enrolled. */
  get size(): number {
    return this.people.size;
  }

  /** Adds templates to a person (creating the person); embeddings are L2-normalized copies. */
  enroll(personId: string, name: string, embeddings: readonly Float32Array[]): void {
    if (typeof personId !== 'string' || personId.length === 0) throw new InvalidArgumentError('personId', 'a non-empty string', personId);
    if (embeddings.length === 0) throw new InvalidArgumentError('embeddings', 'at least one embedding', embeddings);
    const templates = embeddings.map((e, i) => {
      if (!(e instanceof Float32Array) || e.length === 0) throw new InvalidArgumentError(`embeddings[${i}]`, 'a non-empty Float32Array', e);
      if (this.dim !== 0 && e.length !== this.dim) throw new InvalidArgumentError(`embeddings[${i}].length`, `${this.dim} (the gallery's dimension)`, e.length);
      return normalized(e);
    });
    this.dim ||= templates[0]!.length;
    const person = this.people.get(personId) ?? { name, templates: [] };
    person.name = name;
    person.templates.push(...templates);
    this.people.set(personId, person);
  }

  remove(personId: string): boolean {
    return this.people.delete(personId);
  }

  match(embeddings: Float32Array[]): (GalleryMatch | null)[] {
    return embeddings.map((e) => {
      if (e.length !== this.dim) return null;
      let best: GalleryMatch | null = null;
      for (const [personId, person] of this.people) {
        for (const t of person.templates) {
          const similarity = cosine(t, e);
          if (similarity >= this.threshold && (!best || similarity > best.similarity)) best = { personId, name: person.name, similarity };
        }
      }
      return best;
    });
  }
}

function normalized(e: Float32Array): Float32Array {
  let n = 0;
  for (const v of e) n += v * v;
  n = Math.sqrt(n) || 1;
  return e.map((v) => v / n);
}

/** Cosine with a normalized template: the query may come unnormalized. */
function cosine(template: Float32Array, query: Float32Array): number {
  let dot = 0;
  let n = 0;
  for (let i = 0; i < query.length; i++) {
    dot += template[i]! * query[i]!;
    n += query[i]! * query[i]!;
  }
  return n > 0 ? dot / Math.sqrt(n) : 0;
}
