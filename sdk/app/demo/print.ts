import type { JetfaceEvent } from '../../events/types';

const COLORS = { green: 32, red: 31, yellow: 33, cyan: 36, grey: 90 } as const;

/**
 * One readable line per event, as the demo's subscriber prints them.
 *
 * @example
 * ```ts
 * formatEvent(event, false); // '12:00:01.234  photos  RECOGNIZED  Guest 1 (guest-1)  similarity 0.97  track photos-12'
 * ```
 */
export function formatEvent(e: JetfaceEvent, color: boolean, at: Date = new Date(e.time)): string {
  const paint = (c: keyof typeof COLORS, s: string): string => (color ? `\x1b[${COLORS[c]}m${s}\x1b[0m` : s);
  // Local wall-clock time: when the event was printed (the demo's photo clock runs ahead of it).
  const time = `${at.toTimeString().slice(0, 8)}.${String(at.getMilliseconds()).padStart(3, '0')}`;
  const head = `${time}  ${e.camera}`;
  const sim = (s: number | null): string => (s === null ? '' : `  similarity ${s.toFixed(2)}`);
  switch (e.type) {
    case 'recognition':
      return e.identity
        ? `${head}  ${paint('green', 'RECOGNIZED')}  ${e.identity.name} (${e.identity.personId})${sim(e.similarity)}  track ${e.trackId}`
        : `${head}  ${paint('red', 'unknown face')}${sim(e.similarity)}  track ${e.trackId}`;
    case 'recognition_update':
      return e.previousIdentity?.personId === e.identity?.personId
        ? `${head}  ${paint('green', 'confirmed')}  ${e.identity?.name ?? 'unknown'}${sim(e.similarity)}  track ${e.trackId}`
        : `${head}  ${paint('green', 'update')}  ${e.identity?.name ?? 'unknown'} (was ${e.previousIdentity?.name ?? 'unknown'})${sim(e.similarity)}  track ${e.trackId}`;
    case 'track_ended':
      return paint('grey', `${head}  track ended  ${e.identity?.name ?? 'unknown'}  ${e.frames} frames  track ${e.trackId}`);
    case 'camera_online':
      return paint('cyan', `${head}  camera online${e.source ? ` (${e.source})` : ''}`);
    case 'camera_offline':
      return paint('cyan', `${head}  camera offline: ${e.reason}`);
    case 'error':
      return paint('yellow', `${head}  error ${e.error.code}: ${e.error.message}`);
  }
}

/**
 * The demo's live console: prints each event received over MQTT, the note of a guest enrolled
 * under it, and counts what it saw. A guest's own enrollment track being named is not counted as
 * a recognition: they must come back.
 *
 * @example
 * ```ts
 * const console = new EventConsole((line) => process.stdout.write(`${line}\n`), true);
 * subscriber.on('event', (e) => console.onEvent(e));
 * ```
 */
export class EventConsole {
  readonly counts: Partial<Record<JetfaceEvent['type'], number>> = {};
  readonly recognized = new Set<string>();
  received = 0;
  /** performance.now() (ms since the process started) at the first recognition printed. */
  firstRecognitionMs: number | null = null;
  private readonly notes = new Map<string, string>();
  private readonly enrollTracks = new Set<string>();

  constructor(
    private readonly write: (line: string) => void,
    private readonly color: boolean,
  ) {}

  /** A line to print under the track's recognition; `enrolledHere`: this track's face became a guest. */
  note(trackId: string, text: string, enrolledHere: boolean): void {
    this.notes.set(trackId, text);
    if (enrolledHere) this.enrollTracks.add(trackId);
  }

  onEvent(e: JetfaceEvent): void {
    this.received++;
    this.counts[e.type] = (this.counts[e.type] ?? 0) + 1;
    let line = formatEvent(e, this.color, new Date());
    const named = (e.type === 'recognition' || e.type === 'recognition_update') && e.identity !== null;
    if (named && !(e.type === 'recognition_update' && this.enrollTracks.has(e.trackId))) {
      if (this.firstRecognitionMs === null) {
        this.firstRecognitionMs = performance.now();
        line += `   [first recognition, ${(this.firstRecognitionMs / 1000).toFixed(1)} s after start]`;
      }
      this.recognized.add(e.identity!.name);
    }
    this.write(line);
    const note = 'trackId' in e ? this.notes.get(e.trackId) : undefined;
    if (note && e.type === 'recognition') this.write(note);
  }
}
