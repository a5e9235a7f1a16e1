import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OutboxLockedError } from '../sdk/errors';
import { createEvent } from '../sdk/events/create-event';
import { EventOutbox } from '../sdk/mqtt/outbox';
import { tempDir } from './support/data';
import { numberOf, numbered } from './support/events';

const event = (n: number) => createEvent(numbered('door', n), 'jetson-1');

describe('EventOutbox (durable journal)', () => {
  it('has each event in the file when append resolves, and replays the unacknowledged ones in order after a reopen', async () => {
    const path = join(tempDir(), 'outbox.jsonl');
    const outbox = await EventOutbox.open({ path });
    const entries = [];
    for (let n = 1; n <= 5; n += 1) {
      const entry = await outbox.append(event(n));
      expect(readFileSync(path, 'utf8')).toContain(entry.event.id);
      entries.push(entry);
    }
    outbox.ack(entries[0]!.seq);
    outbox.ack(entries[2]!.seq);
    await outbox.close();
    const again = await EventOutbox.open({ path });
    expect(again.entries().map((e) => numberOf(e.event))).toEqual([2, 4, 5]);
    expect(again.stats()).toMatchObject({ depth: 3, dropped: 0, unreadable: 0 });
    // Sequence numbers keep growing, so new events sort after the replayed ones.
    const next = await again.append(event(6));
    expect(next.seq).toBeGreaterThan(entries[4]!.seq);
    expect(again.entries().map((e) => numberOf(e.event))).toEqual([2, 4, 5, 6]);
    await again.close();
  });

  it('drops the oldest events beyond maxEvents and counts them', async () => {
    const path = join(tempDir(), 'outbox.jsonl');
    const outbox = await EventOutbox.open({ path, maxEvents: 5 });
    const dropped: number[] = [];
    outbox.onDrop = (e) => dropped.push(numberOf(e.event));
    for (let n = 1; n <= 8; n += 1) await outbox.append(event(n));
    expect(dropped).toEqual([1, 2, 3]);
    expect(outbox.stats()).toMatchObject({ depth: 5, dropped: 3 });
    await outbox.close();
    const again = await EventOutbox.open({ path, maxEvents: 5 });
    expect(again.entries().map((e) => numberOf(e.event))).toEqual([4, 5, 6, 7, 8]);
    await again.close();
  });

  it('drops the oldest events beyond maxBytes, also when reopened with a smaller bound', async () => {
    const path = join(tempDir(), 'outbox.jsonl');
    const outbox = await EventOutbox.open({ path });
    for (let n = 1; n <= 10; n += 1) await outbox.append(event(n));
    const lineBytes = outbox.entries()[0]!.bytes;
    await outbox.close();
    const small = await EventOutbox.open({ path, maxBytes: lineBytes * 6 + 10 });
    expect(small.entries().map((e) => numberOf(e.event))).toEqual([5, 6, 7, 8, 9, 10]);
    expect(small.stats()).toMatchObject({ depth: 6, dropped: 4 });
    await small.append(event(11));
    expect(small.entries().map((e) => numberOf(e.event))).toEqual([6, 7, 8, 9, 10, 11]);
    expect(small.stats().bytes).toBeLessThanOrEqual(lineBytes * 6 + 10);
    await small.close();
  });

  it('skips a line torn by a crash and counts it', async () => {
    const path = join(tempDir(), 'outbox.jsonl');
    const outbox = await EventOutbox.open({ path });
    for (let n = 1; n <= 3; n += 1) await outbox.append(event(n));
    await outbox.close();
    appendFileSync(path, '{"s":99,"e":{"schemaVersion":1,"id":"01');
    const again = await EventOutbox.open({ path });
    expect(again.entries().map((e) => numberOf(e.event))).toEqual([1, 2, 3]);
    expect(again.stats().unreadable).toBe(1);
    // The file was rewritten clean: the torn tail does not glue onto the next line.
    await again.append(event(4));
    await again.close();
    const third = await EventOutbox.open({ path });
    expect(third.entries().map((e) => numberOf(e.event))).toEqual([1, 2, 3, 4]);
    expect(third.stats().unreadable).toBe(0);
    await third.close();
  });

  it('compacts: a long run of acknowledged events leaves a small file', async () => {
    const path = join(tempDir(), 'outbox.jsonl');
    const outbox = await EventOutbox.open({ path });
    for (let n = 1; n <= 3000; n += 1) outbox.ack((await outbox.append(event(n))).seq);
    const last = await outbox.append(event(3001));
    await outbox.close();
    expect(statSync(path).size).toBeLessThan(3000 * last.bytes * 0.5);
    const again = await EventOutbox.open({ path });
    expect(again.entries().map((e) => numberOf(e.event))).toEqual([3001]);
    await again.close();
  });

  it('refuses a second writer while the first lives, and takes over the lock of a dead one', async () => {
    const path = join(tempDir(), 'outbox.jsonl');
    const outbox = await EventOutbox.open({ path });
    await expect(EventOutbox.open({ path })).rejects.toBeInstanceOf(OutboxLockedError);
    await outbox.close();
    expect(existsSync(`${path}.lock`)).toBe(false);
    // A lock left by a process that is gone (as after SIGKILL).
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    writeFileSync(`${path}.lock`, dead);
    const next = await EventOutbox.open({ path });
    expect(next.stats().depth).toBe(0);
    await next.close();
  });

  (existsSync('/proc/self/stat') ? it : it.skip)('tells a live owner from a reused pid by its start time (Linux /proc)', async () => {
    const path = join(tempDir(), 'outbox.jsonl');
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)']);
    try {
      const stat = readFileSync(`/proc/${other.pid}/stat`, 'utf8');
      const started = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
      writeFileSync(`${path}.lock`, `${other.pid} ${started}`);
      await expect(EventOutbox.open({ path })).rejects.toMatchObject({ code: 'E_OUTBOX_LOCKED' });
      writeFileSync(`${path}.lock`, `${other.pid} 1`); // same pid, another process's start time
      await (await EventOutbox.open({ path })).close();
      writeFileSync(`${path}.lock`, String(process.pid)); // our own pid, from a previous life
      await (await EventOutbox.open({ path })).close();
    } finally {
      other.kill();
    }
  });
});
