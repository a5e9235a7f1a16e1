/** Status: what `jetface doctor` checks, the figures that matter, versions and the bundle. */
import { get } from '../api';
import { fill, h } from '../dom';

interface Status {
  device: string;
  versions: Record<string, string>;
  bundle: Record<string, string>;
  figures: Record<string, number | null>;
  checks: { name: string; status: string; message: string; fix?: string }[];
}

const table = (rows: [string, string | Node][]): HTMLTableElement => h('table', {}, h('tbody', {}, ...rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))));

export function statusPage(main: HTMLElement): () => void {
  const body = h('div', { class: 'grid' });
  main.append(h('h2', {}, 'Status'), body);
  const load = async (): Promise<void> => {
    const s = await get<Status>('/api/status');
    fill(
      body,
      h('section', { class: 'card' }, h('h3', {}, 'Checks'), h('table', {}, h('tbody', {}, ...s.checks.map((c) => h('tr', {}, h('td', {}, h('span', { class: `badge ${c.status}` }, c.status)), h('th', {}, c.name), h('td', {}, c.message, c.fix ? h('div', { class: 'muted' }, `fix: ${c.fix}`) : null)))))),
      h('section', { class: 'card' }, h('h3', {}, 'Figures'), table(Object.entries(s.figures).map(([k, v]) => [k, v === null ? '–' : String(v)]))),
      h('section', { class: 'card' }, h('h3', {}, 'Model bundle'), table(Object.entries(s.bundle))),
      h('section', { class: 'card' }, h('h3', {}, 'Versions'), table([['device', s.device], ...Object.entries(s.versions)])),
    );
  };
  void load();
  const timer = setInterval(() => void load().catch(() => undefined), 5000);
  return () => clearInterval(timer);
}
