import { InvalidArgumentError } from '../errors';
import type { FrameSourceSpec, ReconnectOptions } from './types';

const BACKENDS = ['ffmpeg', 'gstreamer', 'images', 'opencv'] as const;
const COMMON = ['backend', 'cameraId', 'maxFps', 'width', 'height', 'backpressure', 'queueSize', 'reconnect', 'openTimeoutMs', 'stallTimeoutMs'];
const KEYS: Record<(typeof BACKENDS)[number], string[]> = {
  ffmpeg: [...COMMON, 'input', 'inputFormat', 'inputOptions', 'realtime', 'live', 'ffmpegPath'],
  gstreamer: [...COMMON, 'pipeline', 'realtime', 'live', 'gstLaunchPath'],
  images: [...COMMON, 'dir', 'loop'],
  opencv: [...COMMON, 'input', 'live'],
};

/** Camera ids become MQTT topic levels and file names: no `/`, `+`, `#` or spaces. */
export const CAMERA_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

type Bag = Record<string, unknown>;

/**
 * Checks a source spec where it enters: unknown keys, types and ranges, each error naming the
 * field (`spec.maxFps`), what was expected and what was found.
 *
 * @example
 * ```ts
 * validateSourceSpec({ backend: 'ffmpeg', input: 'clip.mp4', maxFps: 0 });
 * // InvalidArgumentError: expected spec.maxFps to be a number in (0, 1000] but received 0
 * ```
 */
export function validateSourceSpec(spec: unknown): FrameSourceSpec {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw new InvalidArgumentError('spec', 'a source spec object or a URI string', spec);
  const s = spec as Bag;
  const backend = s['backend'];
  if (typeof backend !== 'string' || !(BACKENDS as readonly string[]).includes(backend)) throw new InvalidArgumentError('spec.backend', `one of ${BACKENDS.join(', ')}`, backend);
  const allowed = KEYS[backend as (typeof BACKENDS)[number]];
  for (const key of Object.keys(s)) if (!allowed.includes(key)) throw new InvalidArgumentError(`spec.${key}`, `absent (the ${backend} backend takes ${allowed.filter((k) => k !== 'backend').join(', ')})`, s[key]);

  optional(s, 'cameraId', (v) => typeof v === 'string' && CAMERA_ID_PATTERN.test(v), 'a string of 1..64 letters, digits, ".", "_" or "-"');
  optional(s, 'maxFps', (v) => typeof v === 'number' && v > 0 && v <= 1000, 'a number in (0, 1000]');
  for (const side of ['width', 'height']) optional(s, side, (v) => Number.isInteger(v) && (v as number) >= 16 && (v as number) <= 16384, 'an integer in 16..16384');
  if ((s['width'] === undefined) !== (s['height'] === undefined)) {
    const missing = s['width'] === undefined ? 'width' : 'height';
    throw new InvalidArgumentError(`spec.${missing}`, 'given together with the other side', undefined);
  }
  if (backend === 'images' && s['width'] !== undefined) throw new InvalidArgumentError('spec.width', 'absent (the images backend keeps each image its own size)', s['width']);
  optional(s, 'backpressure', (v) => v === 'latest' || v === 'wait', "'latest' or 'wait'");
  optional(s, 'queueSize', (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 64, 'an integer in 1..64');
  for (const key of ['openTimeoutMs', 'stallTimeoutMs']) optional(s, key, (v) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 3_600_000, 'an integer of milliseconds in 0..3600000 (0 turns it off)');
  for (const key of ['realtime', 'live', 'loop']) optional(s, key, (v) => typeof v === 'boolean', 'a boolean');
  for (const key of ['inputFormat', 'ffmpegPath', 'gstLaunchPath']) optional(s, key, nonEmptyString, 'a non-empty string');
  optional(s, 'inputOptions', (v) => Array.isArray(v) && v.every((o) => typeof o === 'string'), 'an array of strings');
  if (s['reconnect'] !== undefined && s['reconnect'] !== false) validateReconnect(s['reconnect']);

  if (backend === 'ffmpeg') required(s, 'input', nonEmptyString, 'a file path, URL or device');
  if (backend === 'gstreamer') required(s, 'pipeline', nonEmptyString, 'the source part of a gst-launch pipeline');
  if (backend === 'images') required(s, 'dir', nonEmptyString, 'a folder path');
  if (backend === 'opencv') required(s, 'input', (v) => nonEmptyString(v) || (Number.isInteger(v) && (v as number) >= 0), 'a device index, file or URL');
  return s as unknown as FrameSourceSpec;
}

function validateReconnect(value: unknown): asserts value is ReconnectOptions {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidArgumentError('spec.reconnect', 'false or an object', value);
  const r = value as Bag;
  const keys = ['initialDelayMs', 'maxDelayMs', 'factor', 'jitter', 'maxAttempts'];
  for (const key of Object.keys(r)) if (!keys.includes(key)) throw new InvalidArgumentError(`spec.reconnect.${key}`, `absent (known: ${keys.join(', ')})`, r[key]);
  optional(r, 'initialDelayMs', (v) => typeof v === 'number' && v >= 0 && v <= 3_600_000, 'milliseconds in 0..3600000', 'spec.reconnect.');
  optional(r, 'maxDelayMs', (v) => typeof v === 'number' && v >= ((r['initialDelayMs'] as number | undefined) ?? 0) && v <= 3_600_000, 'milliseconds ≥ initialDelayMs, ≤ 3600000', 'spec.reconnect.');
  optional(r, 'factor', (v) => typeof v === 'number' && v >= 1 && v <= 10, 'a number in 1..10', 'spec.reconnect.');
  optional(r, 'jitter', (v) => typeof v === 'number' && v >= 0 && v <= 1, 'a number in 0..1', 'spec.reconnect.');
  optional(r, 'maxAttempts', (v) => v === Number.POSITIVE_INFINITY || (Number.isInteger(v) && (v as number) >= 0), 'a non-negative integer or Infinity', 'spec.reconnect.');
}

function nonEmptyString(v: unknown): boolean {
  return typeof v === 'string' && v.length > 0;
}

function optional(bag: Bag, key: string, ok: (v: unknown) => boolean, expected: string, prefix = 'spec.'): void {
  if (bag[key] !== undefined && !ok(bag[key])) throw new InvalidArgumentError(`${prefix}${key}`, expected, bag[key]);
}

function required(bag: Bag, key: string, ok: (v: unknown) => boolean, expected: string): void {
  if (!ok(bag[key])) throw new InvalidArgumentError(`spec.${key}`, expected, bag[key]);
}
