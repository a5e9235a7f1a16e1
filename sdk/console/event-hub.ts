/** The events page's feed: the last events in memory, and every new one pushed to the open streams. */
import type { JetfaceEvent } from '../events/types';

/** What a stream wants: one camera, one person (id or name, case-insensitive), or everything. */
export interface EventFilter {
  camera?: string;
  person?: string;
  device?: string;
}

type Listener = (e: JetfaceEvent) => void;

/** True when the event passes the filter. */
export function matchesFilter(e: JetfaceEvent, f: EventFilter): boolean {
  if (f.camera && e.camera !== f.camera) return false;
  if (f.device && e.device !== f.device) return false;
  if (f.person) {
    const identity = 'identity' in e ? e.identity : null;
    const want = f.person.toLowerCase();
    if (!identity || (identity.personId.toLowerCase() !== want && !identity.name.toLowerCase().includes(want))) return false;
  }
  return true;
}

/** A bounded backlog plus live listeners. */
export class EventHub {
  private readonly backlog: JetfaceEvent[] = [];
  private readonly listeners = new Set<Listener>();

  constructor(private readonly keep = 200) {}

  push(e: JetfaceEvent): void {
    this.backlog.push(e);
    if (this.backlog.length > this.keep) this.backlog.shift();
    for (const l of this.listeners) l(e);
  }

  /** The kept events that pass the filter, oldest first. */
  recent(filter: EventFilter = {}, limit = 100): JetfaceEvent[] {
    return this.backlog.filter((e) => matchesFilter(e, filter)).slice(-limit);
  }

  /** Calls `listener` with each new event; returns the unsubscribe function. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get streams(): number {
    return this.listeners.size;
  }
}
