/** Unknown faces: strangers (unnamed tracks grouped by similarity) to enroll as a person, or dismiss. */
import { errorText, get, isFleet, send } from '../api';
import { fill, h, time } from '../dom';
import { outcomeList, slug, type Enrollment } from '../outcomes';

interface Stranger {
  id: string;
  cameras: string[];
  tracks: number;
  firstSeen: string;
  lastSeen: string;
  crops: number;
}

function card(s: Stranger, people: { personId: string; name: string }[], reload: () => void): HTMLElement {
  const result = h('div');
  const target = h('select', { name: 'target' }, h('option', { value: '' }, 'a new person…'), ...people.map((p) => h('option', { value: p.personId }, `${p.name} (${p.personId})`)));
  const name = h('input', { name: 'name', placeholder: 'name', required: true });
  target.addEventListener('change', () => (name.hidden = target.value !== ''));
  const enroll = async (e: Event): Promise<void> => {
    e.preventDefault();
    const existing = people.find((p) => p.personId === target.value);
    const body = existing ? { personId: existing.personId, name: existing.name } : { personId: slug(name.value), name: name.value.trim() };
    try {
      const r = await send<Enrollment>('POST', `/api/unknown/${s.id}/enroll`, body);
      fill(result, outcomeList(r));
      if (r.enrolled > 0) setTimeout(reload, 1500);
    } catch (error) {
      fill(result, h('p', { class: 'error' }, errorText(error)));
    }
  };
  const dismiss = async (): Promise<void> => {
    try {
      await send('POST', `/api/unknown/${s.id}/dismiss`);
      reload();
    } catch (error) {
      fill(result, h('p', { class: 'error' }, errorText(error)));
    }
  };
  return h(
    'article',
    { class: 'card stranger', 'data-id': s.id },
    h('div', { class: 'crops' }, ...Array.from({ length: s.crops }, (_, i) => h('img', { src: `/api/unknown/${s.id}/crops/${i}`, alt: `face ${i + 1}` }))),
    h('div', { class: 'muted' }, `${s.tracks} track(s) on ${s.cameras.join(', ')}, last seen ${time(s.lastSeen)}`),
    h('form', { class: 'row', onsubmit: (e: Event) => void enroll(e) }, h('span', {}, 'Enroll as'), target, name, h('button', { type: 'submit', class: 'enroll' }, 'Enroll'), h('button', { type: 'button', class: 'secondary dismiss', onclick: () => void dismiss() }, 'Dismiss')),
    result,
  );
}

export function unknownPage(main: HTMLElement): () => void {
  if (isFleet()) {
    main.append(h('h2', {}, 'Unknown faces'), h('p', { class: 'muted' }, "Unknown faces are reviewed on each device's own console: their crops never leave the device."));
    return () => undefined;
  }
  const list = h('div', { class: 'grid' });
  let shown = '';
  main.append(h('h2', {}, 'Unknown faces'), h('p', { class: 'muted' }, 'Tracks that ended without a name, grouped when they look like one person. Their crops stay in memory only.'), list);
  const load = async (force = false): Promise<void> => {
    const [{ unknown }, { people }] = await Promise.all([get<{ unknown: Stranger[] }>('/api/unknown'), get<{ people: { personId: string; name: string }[] }>('/api/people')]);
    const ids = unknown.map((u) => `${u.id}:${u.tracks}`).join(',');
    // Redraw only when the strangers changed, not under a form being filled in.
    if (!force && ids === shown) return;
    if (!force && list.contains(document.activeElement) && document.activeElement !== document.body) return;
    shown = ids;
    fill(list, ...(unknown.length ? unknown.map((s) => card(s, people, () => void load(true))) : [h('p', { class: 'muted' }, 'No unknown faces yet.')]));
  };
  void load(true);
  const timer = setInterval(() => void load().catch(() => undefined), 3000);
  return () => clearInterval(timer);
}
