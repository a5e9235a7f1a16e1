import { InvalidArgumentError } from '../errors';

/**
 * Reconnect timing: the delay doubles after each failed attempt up to `maxMs`, with random
 * jitter so that many devices restarting together do not hit the broker in lockstep.
 *
 * @example
 * ```ts
 * const opts: BackoffOptions = { initialMs: 250, maxMs: 10_000 };
 * ```
 */
export interface BackoffOptions {
  /** Delay after the first failure (default 500 ms). */
  initialMs?: number;
  /** Longest delay (default 30 s). */
  maxMs?: number;
  /** Growth per failure (default 2). */
  factor?: number;
  /** Fraction of the delay randomized, 0..1 (default 0.2). */
  jitter?: number;
}

/** The delay before reconnect attempt number `failures` (0 = after the first failure). */
export function backoffDelay(failures: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialMs ?? 500;
  const max = options.maxMs ?? 30_000;
  const factor = options.factor ?? 2;
  const jitter = options.jitter ?? 0.2;
  const base = Math.min(max, initial * factor ** Math.min(failures, 64));
  return Math.round(base * (1 - jitter + 2 * jitter * random()));
}

/** Throws on options no backoff can honour. */
export function assertBackoff(options: BackoffOptions = {}): void {
  const check = (name: keyof BackoffOptions, ok: (v: number) => boolean, expected: string) => {
    const value = options[name];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || !ok(value))) {
      throw new InvalidArgumentError(`backoff.${name}`, expected, value);
    }
  };
  check('initialMs', (v) => v >= 1, 'a number of milliseconds >= 1');
  check('maxMs', (v) => v >= (options.initialMs ?? 1), 'a number of milliseconds >= backoff.initialMs');
  check('factor', (v) => v >= 1, 'a number >= 1');
  check('jitter', (v) => v >= 0 && v <= 1, 'a number in 0..1');
}
