/**
 * Event ids: UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, so ids
 * sort by creation time. Within one millisecond a 12-bit counter (rand_a, RFC 9562 method 1)
 * keeps ids from this process strictly increasing.
 */
import { randomBytes } from 'node:crypto';

let lastMs = -1;
let counter = 0;

/**
 * A new UUID v7, lowercase.
 *
 * @example
 * ```ts
 * const id = newEventId(); // '0196a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b'
 * ```
 */
export function newEventId(now: number = Date.now()): string {
  let ms = now;
  if (ms <= lastMs) {
    // Same millisecond (or the clock stepped back): count up; borrow the next millisecond on overflow.
    counter += 1;
    ms = lastMs;
    if (counter > 0xfff) {
      ms = lastMs + 1;
      counter = 0;
    }
  } else {
    counter = randomBytes(2).readUInt16BE(0) & 0x3ff; // a random start with headroom to count up
  }
  lastMs = ms;
  const bytes = randomBytes(16);
  bytes.writeUIntBE(ms, 0, 6);
  bytes[6] = 0x70 | (counter >> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The creation time (Unix ms) encoded in a UUID v7.
 *
 * @example
 * ```ts
 * new Date(eventIdTime(event.id)).toISOString(); // when the event was created
 * ```
 */
export function eventIdTime(id: string): number {
  return Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16);
}
