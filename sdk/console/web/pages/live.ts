/** Live: each camera's latest frame with boxes, names and similarities; online/offline and fps. */
import { get, isFleet } from '../api';
import { fill, h } from '../dom';

interface Camera {
  id: string;
  online: boolean;
  state: string;
  fps: number;
  device?: string;
  lastEvent?: { type: string; time: string; name: string | null } | null;
}
interface LiveFace {
  trackId: string;
  box: [number, number, number, number];
  name: string | null;
  similarity: number | null;
  status: 'known' | 'unknown' | 'undecided';
}
interface Meta {
  sequence: number;
  width: number;
  height: number;
  faces: LiveFace[];
}

const COLORS = { known: '#22c55e', unknown: '#f59e0b', undecided: '#9ca3af' };

function draw(canvas: HTMLCanvasElement, image: ImageBitmap, meta: Meta): void {
  canvas.width = meta.width;
  canvas.height = meta.height;
  const g = canvas.getContext('2d')!;
  g.drawImage(image, 0, 0, meta.width, meta.height);
  const scale = Math.max(1, meta.width / 640);
  g.lineWidth = 2 * scale;
  g.font = `${Math.round(14 * scale)}px system-ui, sans-serif`;
  for (const f of meta.faces) {
    const [x1, y1, x2, y2] = f.box;
    g.strokeStyle = g.fillStyle = COLORS[f.status];
    g.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const label = f.name ? `${f.name} ${f.similarity?.toFixed(2) ?? ''}` : f.status === 'unknown' ? 'unknown' : '…';
    const w = g.measureText(label).width + 8 * scale;
    const top = Math.max(0, y1 - 20 * scale);
    g.fillRect(x1, top, w, 20 * scale);
    g.fillStyle = '#000';
    g.fillText(label, x1 + 4 * scale, top + 15 * scale);
  }
  // For tests and tools: what the canvas shows.
  canvas.dataset.sequence = String(meta.sequence);
  canvas.dataset.faces = JSON.stringify(meta.faces.map((f) => ({ name: f.name, status: f.status, similarity: f.similarity })));
}

/** The fleet has no frames (they never leave a device): each camera's state, fps and latest event. */
function fleetLivePage(main: HTMLElement): () => void {
  const grid = h('div', { class: 'grid' });
  main.append(h('h2', {}, 'Live'), h('p', { class: 'muted' }, "Frames stay on each device: open a device's own console to watch its cameras. Here: each camera's state, frame rate and latest event."), grid);
  const refresh = async (): Promise<void> => {
    const { cameras } = await get<{ cameras: Camera[] }>('/api/cameras');
    const last = (c: Camera): string => (c.lastEvent ? `${c.lastEvent.type}${c.lastEvent.name ? ` · ${c.lastEvent.name}` : ''} · ${new Date(c.lastEvent.time).toLocaleTimeString()}` : 'no event yet');
    fill(
      grid,
      ...(cameras.length
        ? cameras.map((c) =>
            h('article', { class: 'card camera', 'data-device': c.device ?? '', 'data-camera': c.id }, h('div', { class: 'row' }, h('strong', {}, `${c.device ?? ''} / ${c.id}`), h('span', { class: `badge ${c.online ? 'ok' : 'bad'}` }, c.online ? 'online' : 'offline'), h('span', { class: 'muted' }, `${c.fps.toFixed(1)} fps · ${c.state}`)), h('div', { class: 'muted last-event' }, last(c))),
          )
        : [h('p', { class: 'muted' }, 'No device seen on the broker yet.')]),
    );
  };
  void refresh();
  const timer = setInterval(() => void refresh().catch(() => undefined), 2000);
  return () => clearInterval(timer);
}

export function livePage(main: HTMLElement): () => void {
  if (isFleet()) return fleetLivePage(main);
  let stopped = false;
  const grid = h('div', { class: 'grid' });
  main.append(h('h2', {}, 'Live'), grid);
  const views = new Map<string, { canvas: HTMLCanvasElement; caption: HTMLElement }>();

  const loop = async (camera: string, canvas: HTMLCanvasElement): Promise<void> => {
    while (!stopped) {
      let wait = 100;
      try {
        const res = await fetch(`/api/live/${encodeURIComponent(camera)}/frame`, { credentials: 'same-origin' });
        if (res.status === 401) location.href = '/login';
        if (res.status === 200) {
          const meta = JSON.parse(atob((res.headers.get('x-frame-meta') ?? '').replace(/-/g, '+').replace(/_/g, '/'))) as Meta;
          const image = await createImageBitmap(await res.blob());
          if (!stopped) draw(canvas, image, meta);
          image.close();
        } else wait = 300;
      } catch {
        wait = 1000;
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  };

  const refresh = async (): Promise<void> => {
    const { cameras } = await get<{ cameras: Camera[] }>('/api/cameras');
    for (const c of cameras) {
      let view = views.get(c.id);
      if (!view) {
        const canvas = h('canvas', { 'data-camera': c.id, width: 640, height: 360 });
        const caption = h('div', { class: 'row' });
        grid.append(h('figure', { class: 'card camera' }, canvas, caption));
        view = { canvas, caption };
        views.set(c.id, view);
        void loop(c.id, canvas);
      }
      fill(view.caption, h('strong', {}, c.id), h('span', { class: `badge ${c.online ? 'ok' : 'bad'}` }, c.online ? 'online' : 'offline'), h('span', { class: 'muted' }, `${c.fps.toFixed(1)} fps · ${c.state}`));
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh().catch(() => undefined), 2000);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
