/**
 * One writer per outbox file: a `<file>.lock` holding the owner's pid (and, on Linux, its start
 * time). A lock left by a process that died (SIGKILL, power loss) is stale and taken over; a
 * live owner's is refused. The start time tells a reused pid (after a reboot or in a container,
 * where the same small pids come back) from the real owner.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { OutboxError, OutboxLockedError, errorMessage } from '../errors';

const heldHere = new Set<string>();

/** Takes the lock of `file`; returns the function that releases it. */
export function lockOutbox(file: string): () => void {
  const lock = `${file}.lock`;
  if (heldHere.has(lock)) throw new OutboxLockedError(file, process.pid);
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, `${process.pid} ${startTime(process.pid) ?? ''}`.trim());
      closeSync(fd);
      heldHere.add(lock);
      return () => {
        heldHere.delete(lock);
        try {
          unlinkSync(lock);
        } catch {
          // already gone: nothing to release
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new OutboxError(file, `cannot create lock file ${lock}: ${errorMessage(error)}`, error);
      const owner = readOwner(lock);
      // Our own pid in a lock we do not hold is a previous life's (container restarts reuse pids).
      if (owner && owner.pid !== process.pid && isAlive(owner)) throw new OutboxLockedError(file, owner.pid);
      try {
        unlinkSync(lock); // stale: its owner is gone
      } catch {
        // another process removed it first; the next attempt decides
      }
    }
  }
  throw new OutboxError(file, `cannot take the lock file ${lock}`);
}

function readOwner(lock: string): { pid: number; started: string | undefined } | undefined {
  try {
    const [pid, started] = readFileSync(lock, 'utf8').trim().split(' ');
    const n = Number.parseInt(pid ?? '', 10);
    return Number.isInteger(n) && n > 0 ? { pid: n, started } : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(owner: { pid: number; started: string | undefined }): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false; // EPERM: alive, another user's
  }
  const now = startTime(owner.pid);
  return owner.started === undefined || now === undefined || now === owner.started;
}

// Field 22 of /proc/<pid>/stat: the process's start time in clock ticks since boot (Linux only).
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
