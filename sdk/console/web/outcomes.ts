/** An enrollment's result, photo by photo: enrolled, or refused with the quality gate's reason. */
import { h } from './dom';

export interface Outcome {
  source: string;
  status: 'enrolled' | 'refused';
  reason?: string;
  message?: string;
  warnings?: { message: string }[];
}
export interface Enrollment {
  person: { personId: string; name: string } | null;
  enrolled: number;
  refused: number;
  outcomes: Outcome[];
}

export function outcomeList(r: Enrollment): HTMLElement {
  const head = r.enrolled > 0 ? `Enrolled ${r.person?.name ?? ''}: ${r.enrolled} photo(s)` : 'Nothing enrolled';
  return h(
    'div',
    { class: 'result', 'data-enrolled': String(r.enrolled) },
    h('strong', {}, `${head}${r.refused ? `, ${r.refused} refused` : ''}`),
    h('ul', { class: 'outcomes' }, ...r.outcomes.map((o) => h('li', { class: o.status }, `${o.source}: ${o.status === 'enrolled' ? 'enrolled' : `refused (${o.reason}): ${o.message}`}${o.warnings?.length ? ` — ${o.warnings.map((w) => w.message).join('; ')}` : ''}`))),
  );
}

/** A person id from a name: `Alex Lacamoire` → `alex-lacamoire`. */
export function slug(name: string): string {
  return (
    name
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 64) || `person-${Date.now()}`
  );
}
