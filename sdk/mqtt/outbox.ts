/**
 * The durable outbox: every event is on disk before it is published and leaves only when the
 * broker acknowledges it (PUBACK), so a broker outage or a process restart loses nothing.
 * Bounded by count and bytes; over a bound the oldest events are dropped and counted.
 */
import { ClosedError, InvalidArgumentError } from '../errors';
import type { JetfaceEvent } from '../events/types';
import { JournalWriter, ackLine, putLine, readJournal, type JournalEntry } from './outbox-journal';
import { lockOutbox } from './outbox-lock';

export type { JournalEntry as OutboxEntry } from './outbox-journal';

/** Where the outbox lives and how much it may hold. */
export interface OutboxOptions {
  /** The journal file; created with its folder's permissions if missing. One publisher per file. */
  path: string;
  /** Most events kept (default 10,000); the oldest are dropped beyond it. */
  maxEvents?: number;
  /** Most bytes kept, counting each event's journal line (default 64 MiB). */
  maxBytes?: number;
}

/** The outbox's counters. */
export interface OutboxStats {
  /** Events waiting for a PUBACK. */
  depth: number;
  bytes: number;
  /** Events dropped (oldest first) because a bound was reached, since this process opened the outbox. */
  dropped: number;
  /** Journal lines that could not be read at open (a line torn by a crash). */
  unreadable: number;
}

export const DEFAULT_OUTBOX_MAX_EVENTS = 10_000;
export const DEFAULT_OUTBOX_MAX_BYTES = 64 * 1024 * 1024;

/**
 * An append-only journal of events not yet acknowledged by the broker.
 *
 * @example
 * ```ts
 * const outbox = await EventOutbox.open({ path: '/var/lib/jetface/outbox.jsonl', maxEvents: 5000 });
 * const entry = await outbox.append(event); // on disk now
 * outbox.ack(entry.seq);                    // after the broker's PUBACK
 * ```
 */
export class EventOutbox {
  private readonly live = new Map<number, JournalEntry>();
  private nextSeq = 1;
  private liveBytes = 0;
  private dropped = 0;
  private deadLines = 0;
  private closed = false;
  /** Highest sequence number known to be on disk: appends complete in order, so all below it are too. */
  private durableSeq = 0;
  /** Called, in sequence order, as each appended event reaches the disk. */
  onDurable: (entry: JournalEntry) => void = () => undefined;
  /** Called for each event dropped because a bound was reached. */
  onDrop: (entry: JournalEntry) => void = () => undefined;

  private constructor(
    readonly path: string,
    readonly maxEvents: number,
    readonly maxBytes: number,
    private readonly writer: JournalWriter,
    private readonly unlock: () => void,
    private readonly unreadable: number,
    entries: readonly JournalEntry[],
  ) {
    for (const entry of entries) this.keep(entry);
    this.durableSeq = entries.at(-1)?.seq ?? 0;
    this.nextSeq = this.durableSeq + 1;
  }

  /** Opens (or creates) the outbox, takes its lock, and loads the events a previous run left. */
  static async open(options: OutboxOptions): Promise<EventOutbox> {
    const maxEvents = options.maxEvents ?? DEFAULT_OUTBOX_MAX_EVENTS;
    const maxBytes = options.maxBytes ?? DEFAULT_OUTBOX_MAX_BYTES;
    if (typeof options.path !== 'string' || options.path === '') throw new InvalidArgumentError('outbox.path', 'a file path', options.path);
    if (!Number.isSafeInteger(maxEvents) || maxEvents < 1) throw new InvalidArgumentError('outbox.maxEvents', 'an integer >= 1', maxEvents);
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1024) throw new InvalidArgumentError('outbox.maxBytes', 'an integer >= 1024', maxBytes);
    const unlock = lockOutbox(options.path);
    try {
      const { entries, unreadable } = await readJournal(options.path);
      // Bounds may have shrunk since the last run: keep the newest that fit.
      const kept = fitNewest(entries, maxEvents, maxBytes);
      const writer = await JournalWriter.create(options.path, kept);
      const outbox = new EventOutbox(options.path, maxEvents, maxBytes, writer, unlock, unreadable, kept);
      outbox.dropped = entries.length - kept.length;
      return outbox;
    } catch (error) {
      unlock();
      throw error;
    }
  }

  /** Journals an event; resolves when it is on disk. Drops the oldest events when a bound is passed. */
  async append(event: JetfaceEvent): Promise<JournalEntry> {
    if (this.closed) throw new ClosedError('event outbox');
    const seq = this.nextSeq++;
    const line = putLine(seq, event);
    const entry: JournalEntry = { seq, event, bytes: Buffer.byteLength(line) };
    if (entry.bytes > this.maxBytes) throw new InvalidArgumentError('event size', `at most outbox.maxBytes (${this.maxBytes}) bytes`, `${entry.bytes} bytes`);
    this.keep(entry);
    const written = this.writer.append(line, true);
    this.enforceBounds();
    try {
      await written;
    } catch (error) {
      this.forget(seq); // not on disk: the caller is told, and it must not be published behind its back
      throw error;
    }
    this.durableSeq = seq;
    if (this.live.has(seq)) this.onDurable(entry);
    return entry;
  }

  /** Removes an event the broker acknowledged. Unknown (already dropped) sequence numbers are ignored. */
  ack(seq: number): void {
    if (this.forget(seq)) this.retire(seq);
  }

  has(seq: number): boolean {
    return this.live.has(seq);
  }

  /** Live events already on disk, oldest first: what may be published. */
  entries(): JournalEntry[] {
    return [...this.live.values()].filter((e) => e.seq <= this.durableSeq);
  }

  stats(): OutboxStats {
    return { depth: this.live.size, bytes: this.liveBytes, dropped: this.dropped, unreadable: this.unreadable };
  }

  /** Writes what is queued and releases the file; the events still in it are replayed by the next open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.writer.close();
    } finally {
      this.unlock();
    }
  }

  private keep(entry: JournalEntry): void {
    this.live.set(entry.seq, entry);
    this.liveBytes += entry.bytes;
  }

  private forget(seq: number): boolean {
    const entry = this.live.get(seq);
    if (!entry) return false;
    this.live.delete(seq);
    this.liveBytes -= entry.bytes;
    return true;
  }

  private enforceBounds(): void {
    while (this.live.size > this.maxEvents || (this.liveBytes > this.maxBytes && this.live.size > 1)) {
      const oldest = this.live.values().next().value;
      if (!oldest) break;
      this.forget(oldest.seq);
      this.dropped += 1;
      this.retire(oldest.seq);
      this.onDrop(oldest);
    }
  }

  // Journals the removal; compacts once dead lines outnumber the live ones (and there are enough to bother).
  private retire(seq: number): void {
    this.writer.append(ackLine(seq), false).catch(() => undefined);
    this.deadLines += 2;
    if (this.deadLines >= Math.max(2048, this.live.size)) {
      this.deadLines = 0;
      this.writer.rewrite([...this.live.values()]).catch(() => undefined);
    }
  }
}

function fitNewest(entries: readonly JournalEntry[], maxEvents: number, maxBytes: number): JournalEntry[] {
  const kept: JournalEntry[] = [];
  let bytes = 0;
  for (let i = entries.length - 1; i >= 0 && kept.length < maxEvents; i -= 1) {
    const entry = entries[i];
    if (!entry || bytes + entry.bytes > maxBytes) break;
    bytes += entry.bytes;
    kept.push(entry);
  }
  return kept.reverse();
}
