/** People: the gallery, with who needs re-enrollment; add from photos, rename, delete. */
import { errorText, get, isFleet, send } from '../api';
import { fill, h } from '../dom';
import { outcomeList, slug, type Enrollment } from '../outcomes';

interface Person {
  personId: string;
  name: string;
  embeddings: number;
  needsReEnrollment: boolean;
  staleEmbeddings: Record<string, number>;
  createdAt: string;
  devices?: string[];
}

export function peoplePage(main: HTMLElement): () => void {
  const body = h('tbody');
  const message = h('div');
  const load = async (): Promise<void> => {
    const { people } = await get<{ people: Person[] }>('/api/people');
    fill(body, ...(people.length ? people.map((p) => personRow(p, message, () => void load())) : [h('tr', {}, h('td', { colSpan: 5, class: 'muted' }, 'Nobody enrolled yet.'))]));
  };
  main.append(h('h2', {}, 'People'), addForm(message, () => void load()), message, h('table', {}, h('thead', {}, h('tr', {}, ...['name', 'id', ...(isFleet() ? ['devices'] : []), 'embeddings', '', ''].map((t) => h('th', {}, t)))), body));
  void load();
  return () => undefined;
}

function personRow(p: Person, message: HTMLElement, reload: () => void): HTMLTableRowElement {
  const name = h('input', { value: p.name, name: 'name', 'aria-label': `name of ${p.personId}` });
  const stale = Object.values(p.staleEmbeddings).reduce((a, b) => a + b, 0);
  let armed = false;
  const del = h('button', { class: 'danger delete', type: 'button' }, 'Delete');
  del.addEventListener('click', () => {
    if (!armed) {
      armed = true;
      del.textContent = 'Really delete?';
      return;
    }
    void send('DELETE', `/api/people/${encodeURIComponent(p.personId)}`)
      .then(() => (fill(message, h('p', {}, `Deleted ${p.name}.`)), reload()))
      .catch((e: unknown) => fill(message, h('p', { class: 'error' }, errorText(e))));
  });
  const rename = (): void =>
    void send('POST', `/api/people/${encodeURIComponent(p.personId)}/rename`, { name: name.value.trim() })
      .then(() => (fill(message, h('p', {}, `Renamed to ${name.value.trim()}.`)), reload()))
      .catch((e: unknown) => fill(message, h('p', { class: 'error' }, errorText(e))));
  return h(
    'tr',
    { 'data-person': p.personId },
    h('td', {}, h('div', { class: 'row' }, name, h('button', { class: 'secondary', type: 'button', onclick: rename }, 'Rename'))),
    h('td', { class: 'muted' }, p.personId),
    isFleet() ? h('td', { class: 'devices' }, (p.devices ?? []).join(', ')) : null,
    h('td', {}, String(p.embeddings), stale ? h('span', { class: 'muted' }, ` (+${stale} of other models)`) : null),
    h('td', {}, p.needsReEnrollment ? h('span', { class: 'badge warn' }, 'needs re-enrollment') : null),
    h('td', {}, del),
  );
}

function addForm(message: HTMLElement, reload: () => void): HTMLFormElement {
  const name = h('input', { name: 'name', placeholder: 'name', required: true });
  const files = h('input', { name: 'photo', type: 'file', accept: 'image/jpeg,image/png,image/webp', multiple: true, required: true });
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const form = new FormData();
    form.append('personId', slug(name.value));
    form.append('name', name.value.trim());
    for (const f of files.files ?? []) form.append('photo', f, f.name);
    fill(message, h('p', { class: 'muted' }, 'Checking the photos…'));
    try {
      fill(message, outcomeList(await send<Enrollment>('POST', '/api/people', form)));
      reload();
    } catch (error) {
      fill(message, h('p', { class: 'error' }, errorText(error)));
    }
  };
  return h('form', { class: 'card row', onsubmit: (e: Event) => void submit(e) }, h('strong', {}, 'Add a person'), name, files, h('button', { type: 'submit' }, 'Enroll'));
}
