/**
 * Structured logs: pino, one JSON object per line (`level`, `time`, `msg`, `component`, `camera`,
 * ...), for journald, Loki or any log shipper; or `pretty`, one readable line each, for a terminal.
 */
import { createWriteStream } from 'node:fs';
import { Writable } from 'node:stream';
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { InvalidArgumentError } from '../errors';

export type { Logger } from 'pino';

/** Log levels, most verbose first. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = 'json' | 'pretty';

/** Options of {@link createLogger}. */
export interface LoggerSettings {
  /** Default `info`. */
  level?: LogLevel;
  /** Default `json`. */
  format?: LogFormat;
  /** Where lines go: a stream (a test's capture, `process.stderr`), a file path (appended), or default stdout. */
  destination?: NodeJS.WritableStream | DestinationStream | string;
  /** Fields on every line, e.g. `{ device: 'jetson-1' }`. */
  base?: Record<string, unknown>;
}

/**
 * Creates the device's logger.
 *
 * @example
 * ```ts
 * const logger = createLogger({ level: 'info', format: 'json', base: { device: 'jetson-1' } });
 * logger.child({ component: 'app' }).info({ camera: 'door' }, 'door unlocked');
 * // {"level":"info","time":"2025-05-01T12:00:00.000Z","device":"jetson-1","component":"app","camera":"door","msg":"door unlocked"}
 * ```
 */
export function createLogger(settings: LoggerSettings = {}): Logger {
  const level = settings.level ?? 'info';
  if (!LOG_LEVELS.includes(level)) throw new InvalidArgumentError('logging.level', LOG_LEVELS.join(' | '), level);
  const format = settings.format ?? 'json';
  if (format !== 'json' && format !== 'pretty') throw new InvalidArgumentError('logging.format', "'json' | 'pretty'", format);
  const options: LoggerOptions = {
    level,
    base: settings.base ?? null,
    // Level names and ISO times read better in journald and are what log shippers parse.
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
    // pino's default `err` serializer turns plain `{ code, message }` objects into `{ type: 'Object', ... }`;
    // keep those as given, and reduce real errors to name, code and message (stacks only at debug).
    serializers: { err: (value: unknown) => (value instanceof Error ? errorFields(value, level === 'debug' || level === 'trace') : value) },
  };
  const target = resolveDestination(settings.destination);
  return pino(options, format === 'pretty' ? prettyStream(target) : target);
}

function errorFields(error: Error, stack: boolean): Record<string, unknown> {
  const code = (error as { code?: unknown }).code;
  return { type: error.name, ...(typeof code === 'string' ? { code } : {}), message: error.message, ...(stack && error.stack ? { stack: error.stack } : {}) };
}

function resolveDestination(d: LoggerSettings['destination']): DestinationStream {
  if (d === undefined) return pino.destination({ dest: 1, sync: true });
  if (typeof d === 'string') return createWriteStream(d, { flags: 'a' });
  return d as DestinationStream;
}

const CORE = new Set(['level', 'time', 'msg', 'component', 'camera', 'device']);

/**
 * A line per record: `12:00:00.000 INFO  [publisher] connected key=value`. A few lines of our own
 * rather than pino-pretty, which is not a dependency.
 */
function prettyStream(target: DestinationStream): DestinationStream {
  let pending = '';
  return new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      pending += chunk.toString();
      let nl: number;
      let out = '';
      while ((nl = pending.indexOf('\n')) >= 0) {
        out += formatPretty(pending.slice(0, nl)) + '\n';
        pending = pending.slice(nl + 1);
      }
      if (out) target.write(out);
      callback();
    },
  });
}

/**
 * One JSON log line as a readable line (non-JSON text is returned as is).
 *
 * @example
 * ```ts
 * formatPretty('{"level":"warn","time":"2025-05-01T12:00:00.000Z","component":"camera","camera":"door","msg":"offline"}');
 * // '12:00:00.000 WARN  [camera door] offline'
 * ```
 */
export function formatPretty(line: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof record['time'] === 'string' ? record['time'].slice(11, 23) : '';
  const level = String(record['level'] ?? '').toUpperCase().padEnd(5);
  const where = [record['component'], record['camera']].filter((x) => x !== undefined).join(' ');
  const rest = Object.entries(record)
    .filter(([k]) => !CORE.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return [time, level, where ? `[${where}]` : '', String(record['msg'] ?? ''), rest].filter((s) => s !== '').join(' ');
}
