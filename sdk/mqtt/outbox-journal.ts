/**
 * The outbox's file: an append-only journal of JSON lines.
 *
 *   {"jetfaceOutbox":1}            header (format version)
 *   {"s":12,"e":{...event...}}     put: event with sequence number 12
 *   {"a":12}                       ack: 12 was delivered (or dropped)
 *
 * Puts are fdatasync'ed before their append resolves; acks are not (a lost ack only means a
 * redelivery, which subscribers deduplicate). Writes are grouped: everything queued while a
 * write is in flight goes out in one write and one sync. A crash can tear only the last line,
 * which the reader skips. Compaction rewrites the live puts to a temporary file and renames it
 * over the journal, so the file is always either the old or the new one.
 */
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { OutboxError, errorMessage } from '../errors';
import type { JetfaceEvent } from '../events/types';

export const JOURNAL_VERSION = 1;

/** A live (not yet acknowledged) event as the journal stores it. */
export interface JournalEntry {
  seq: number;
  event: JetfaceEvent;
  /** Bytes of its journal line: what the outbox's byte bound counts. */
  bytes: number;
}

/** What a journal file held: its live entries in order, and how many lines could not be read. */
export interface JournalContents {
  entries: JournalEntry[];
  unreadable: number;
}

export function putLine(seq: number, event: JetfaceEvent): string {
  return `${JSON.stringify({ s: seq, e: event })}\n`;
}

export function ackLine(seq: number): string {
  return `{"a":${seq}}\n`;
}

/** Reads a journal; a missing file is an empty one. Unreadable lines (a torn tail) are counted and skipped. */
export async function readJournal(file: string): Promise<JournalContents> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], unreadable: 0 };
    throw new OutboxError(file, `cannot read: ${errorMessage(error)}`, error);
  }
  const live = new Map<number, JournalEntry>();
  let unreadable = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const record = parseRecord(line);
    if (record === undefined) unreadable += 1;
    else if ('jetfaceOutbox' in record) {
      if (record.jetfaceOutbox !== JOURNAL_VERSION) throw new OutboxError(file, `journal format ${record.jetfaceOutbox} is not supported (expected ${JOURNAL_VERSION})`);
    } else if ('a' in record) live.delete(record.a);
    else live.set(record.s, { seq: record.s, event: record.e, bytes: Buffer.byteLength(line) + 1 });
  }
  return { entries: [...live.values()].sort((x, y) => x.seq - y.seq), unreadable };
}

type JournalRecord = { jetfaceOutbox: number } | { a: number } | { s: number; e: JetfaceEvent };

function parseRecord(line: string): JournalRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as Record<string, unknown>;
  if (typeof r['jetfaceOutbox'] === 'number') return { jetfaceOutbox: r['jetfaceOutbox'] };
  if (Number.isSafeInteger(r['a'])) return { a: r['a'] as number };
  // The event was validated before it was journaled; here only its shape as a record is checked.
  if (Number.isSafeInteger(r['s']) && typeof r['e'] === 'object' && r['e'] !== null) return { s: r['s'] as number, e: r['e'] as JetfaceEvent };
  return undefined;
}

type Job =
  | { kind: 'append'; data: string; sync: boolean; done: Settle }
  | { kind: 'rewrite'; data: string; done: Settle };

interface Settle {
  resolve(): void;
  reject(error: Error): void;
}

/** Serialized, grouped writes to one journal file. */
export class JournalWriter {
  private readonly jobs: Job[] = [];
  private running = false;

  private constructor(
    private readonly file: string,
    private handle: FileHandle | undefined,
  ) {}

  /** Opens the journal and replaces its contents with `entries` (a fresh, compact file). */
  static async create(file: string, entries: readonly JournalEntry[]): Promise<JournalWriter> {
    const writer = new JournalWriter(file, undefined);
    await writer.rewrite(entries);
    return writer;
  }

  /** Appends lines; resolves once written (and on disk when `sync`). */
  append(data: string, sync: boolean): Promise<void> {
    return new Promise((resolve, reject) => this.enqueue({ kind: 'append', data, sync, done: { resolve, reject } }));
  }

  /** Replaces the file with these entries. The snapshot is taken now, so later appends land after it. */
  rewrite(entries: readonly JournalEntry[]): Promise<void> {
    const data = `{"jetfaceOutbox":${JOURNAL_VERSION}}\n` + entries.map((e) => putLine(e.seq, e.event)).join('');
    return new Promise((resolve, reject) => this.enqueue({ kind: 'rewrite', data, done: { resolve, reject } }));
  }

  /** Waits for queued writes, then closes the file. */
  async close(): Promise<void> {
    await this.append('', false).catch(() => undefined);
    await this.handle?.close();
    this.handle = undefined;
  }

  private enqueue(job: Job): void {
    this.jobs.push(job);
    if (!this.running) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.jobs.length > 0) {
      const first = this.jobs[0];
      // Consecutive appends are grouped into one write and at most one sync; a rewrite runs alone.
      const batch: Job[] = first?.kind === 'rewrite' ? this.jobs.splice(0, 1) : this.takeAppends();
      try {
        if (batch[0]?.kind === 'rewrite') await this.replaceFile(batch[0].data);
        else await this.writeAppends(batch);
        for (const job of batch) job.done.resolve();
      } catch (error) {
        const failure = new OutboxError(this.file, `write failed: ${errorMessage(error)}`, error);
        for (const job of batch) job.done.reject(failure);
      }
    }
    this.running = false;
  }

  private takeAppends(): Job[] {
    const end = this.jobs.findIndex((j) => j.kind !== 'append');
    return this.jobs.splice(0, end === -1 ? this.jobs.length : end);
  }

  private async writeAppends(batch: readonly Job[]): Promise<void> {
    const data = batch.map((j) => j.data).join('');
    if (data === '') return;
    if (!this.handle) throw new Error('journal is closed');
    await writeAll(this.handle, Buffer.from(data));
    if (batch.some((j) => j.kind === 'append' && j.sync)) await this.handle.datasync();
  }

  private async replaceFile(data: string): Promise<void> {
    const temp = `${this.file}.tmp`;
    const out = await open(temp, 'w');
    try {
      await writeAll(out, Buffer.from(data));
      await out.sync();
    } finally {
      await out.close();
    }
    await rename(temp, this.file);
    syncDirectory(dirname(this.file)); // make the rename itself durable
    await this.handle?.close();
    this.handle = await open(this.file, 'a');
  }
}

async function writeAll(handle: FileHandle, buffer: Buffer): Promise<void> {
  let offset = 0;
  while (offset < buffer.length) {
    const { bytesWritten } = await handle.write(buffer, offset, buffer.length - offset);
    offset += bytesWritten;
  }
}

function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic there.
  }
}
