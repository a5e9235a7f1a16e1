/** Events: recognitions and unknowns as they happen (Server-Sent Events), filtered by camera and person. */
import { get, isFleet } from '../api';
import { fill, h, time } from '../dom';

interface JetfaceEvent {
  id: string;
  type: string;
  time: string;
  device: string;
  camera: string;
  trackId?: string;
  identity?: { personId: string; name: string } | null;
  similarity?: number | null;
  reason?: string;
  error?: { code: string; message: string };
}

function row(e: JetfaceEvent): HTMLTableRowElement {
  const who = e.identity ? `${e.identity.name} (${e.identity.personId})` : 'identity' in e ? 'unknown' : '';
  const detail = e.reason ?? e.error?.message ?? e.trackId ?? '';
  const tr = h('tr', { 'data-id': e.id, 'data-received-at': String(Date.now()) }, h('td', {}, time(e.time)), h('td', {}, e.type), isFleet() ? h('td', {}, e.device) : null, h('td', {}, e.camera), h('td', {}, who), h('td', {}, e.similarity == null ? '' : e.similarity.toFixed(3)), h('td', { class: 'muted' }, detail));
  return tr;
}

export function eventsPage(main: HTMLElement): () => void {
  let source: EventSource | null = null;
  const camera = h('select', { name: 'camera' }, h('option', { value: '' }, 'all cameras'));
  const person = h('input', { name: 'person', placeholder: 'person (id or name)', type: 'search' });
  const body = h('tbody');
  const state = h('span', { class: 'muted' });
  const connect = async (): Promise<void> => {
    source?.close();
    const q = new URLSearchParams();
    if (camera.value) q.set('camera', camera.value);
    if (person.value.trim()) q.set('person', person.value.trim());
    const { events } = await get<{ events: JetfaceEvent[] }>(`/api/events?${q}`);
    fill(body, ...events.reverse().map(row));
    source = new EventSource(`/api/events/stream?${q}`);
    source.addEventListener('open', () => (state.textContent = 'live'));
    source.addEventListener('error', () => (state.textContent = 'reconnecting…'));
    source.addEventListener('jetface', (m) => {
      body.prepend(row(JSON.parse((m as MessageEvent<string>).data) as JetfaceEvent));
      while (body.rows.length > 200) body.deleteRow(-1);
    });
  };
  const form = h('form', { class: 'filters row', onsubmit: (e: Event) => (e.preventDefault(), void connect()) }, camera, person, h('button', { type: 'submit' }, 'Filter'), state);
  camera.addEventListener('change', () => void connect());
  main.append(h('h2', {}, 'Events'), form, h('table', {}, h('thead', {}, h('tr', {}, ...['time', 'type', ...(isFleet() ? ['device'] : []), 'camera', 'person', 'similarity', 'detail'].map((t) => h('th', {}, t)))), body));
  void get<{ cameras: { id: string }[] }>('/api/cameras').then(({ cameras }) => camera.append(...cameras.map((c) => h('option', { value: c.id }, c.id))));
  void connect();
  return () => source?.close();
}
