/** The console's single page: a hash router over the five pages. */
import { loadSession, send } from './api';
import { h } from './dom';
import { eventsPage } from './pages/events';
import { livePage } from './pages/live';
import { peoplePage } from './pages/people';
import { statusPage } from './pages/status';
import { unknownPage } from './pages/unknown';

/** A page draws into `main` and returns what stops its timers and streams. */
export type Page = (main: HTMLElement) => () => void;

const PAGES: Record<string, Page> = { live: livePage, events: eventsPage, unknown: unknownPage, people: peoplePage, status: statusPage };

let stop: () => void = () => undefined;

function route(): void {
  const name = location.hash.replace(/^#\//, '') || 'live';
  const page = PAGES[name] ?? livePage;
  stop();
  const main = document.getElementById('main')!;
  main.replaceChildren();
  main.dataset.page = name;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.getAttribute('href') === `#/${name}`);
  stop = page(main);
}

async function start(): Promise<void> {
  try {
    const s = await loadSession();
    document.getElementById('device')!.textContent = `jetface · ${s.device}`;
  } catch (error) {
    document.getElementById('main')!.append(h('p', { class: 'error' }, String(error)));
    return;
  }
  document.getElementById('logout')!.addEventListener('click', () => void send('POST', '/logout').finally(() => (location.href = '/login')));
  window.addEventListener('hashchange', route);
  route();
}

void start();
