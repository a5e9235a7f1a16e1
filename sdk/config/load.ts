/**
 * Reading a device configuration: YAML (or JSON, a subset) → the strict schema → a
 * {@link DeviceConfig} with defaults filled in and relative paths resolved against the file's
 * folder. Every problem is a {@link ConfigError} issue naming the dotted path, what was expected
 * and what was found.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors';
import { deviceConfigSchema, type DeviceConfig } from './schema';

/**
 * Validates a configuration object (already parsed from YAML or JSON) and fills in defaults.
 * Paths are left as given.
 *
 * @example
 * ```ts
 * const config = parseDeviceConfig({ device: { id: 'door-1' }, cameras: [{ id: 'door', source: { kind: 'v4l2' } }] }, 'inline');
 * config.mqtt.embedded; // true: no broker given
 * ```
 */
export function parseDeviceConfig(value: unknown, sourceName = 'configuration'): DeviceConfig {
  const result = deviceConfigSchema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  throw new ConfigError(sourceName, result.error.issues.flatMap(toIssues));
}

/**
 * Reads, parses and validates a YAML configuration file. Relative paths in it (bundle, gallery,
 * outbox, files, secrets) are resolved against the file's folder; the default bundle is the one
 * shipped with jetface.
 *
 * @example
 * ```ts
 * try {
 *   const config = await loadDeviceConfig('/etc/jetface/device.yaml');
 * } catch (e) {
 *   if (e instanceof ConfigError) for (const i of e.issues) console.error(i.path, i.expected, i.message);
 * }
 * ```
 */
export async function loadDeviceConfig(file: string): Promise<DeviceConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [{ path: '', expected: 'a readable YAML file', message: `cannot read the file: ${(error as Error).message}` }]);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const at = e.linePos?.[0];
        const where = at ? `line ${at.line}, column ${at.col}` : 'unknown position';
        // prettyErrors appends " at line L, column C:" and a code frame; keep the first sentence.
        const what = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        return { path: '', expected: 'valid YAML', message: `YAML syntax error at ${where}: ${what}` };
      }),
    );
  }
  const raw: unknown = doc.toJS();
  const config = parseDeviceConfig(raw, file);
  const bundleGiven = typeof raw === 'object' && raw !== null && typeof (raw as { model?: { bundle?: unknown } }).model?.bundle === 'string';
  return resolvePaths(config, dirname(resolve(file)), bundleGiven);
}

/** Resolves a validated configuration's relative paths against `baseDir` (the config file's folder). */
export function resolvePaths(config: DeviceConfig, baseDir: string, bundleGiven = true): DeviceConfig {
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const opt = (p: string | undefined): string | undefined => (p === undefined ? undefined : at(p));
  const c = structuredClone(config);
  c.model.bundle = bundleGiven ? at(c.model.bundle) : defaultBundleDir();
  if (c.model.tensorrt?.cacheRoot) c.model.tensorrt.cacheRoot = at(c.model.tensorrt.cacheRoot);
  c.gallery.path = at(c.gallery.path);
  c.outbox.dir = at(c.outbox.dir);
  if (c.mqtt.passwordFile) c.mqtt.passwordFile = at(c.mqtt.passwordFile);
  if (c.mqtt.tls) {
    const tls = c.mqtt.tls;
    if (tls.caFile) tls.caFile = at(tls.caFile);
    if (tls.certFile) tls.certFile = at(tls.certFile);
    if (tls.keyFile) tls.keyFile = at(tls.keyFile);
  }
  if (c.commands.secretFile) c.commands.secretFile = opt(c.commands.secretFile)!;
  for (const key of Object.values(c.commands.clients)) if (key.secretFile) key.secretFile = at(key.secretFile);
  if (c.console.passwordHashFile) c.console.passwordHashFile = at(c.console.passwordHashFile);
  if (c.console.tls) {
    c.console.tls.certFile = at(c.console.tls.certFile);
    c.console.tls.keyFile = at(c.console.tls.keyFile);
  }
  for (const cam of c.cameras) {
    if (cam.source.kind === 'file') cam.source.path = at(cam.source.path);
    if (cam.source.kind === 'images') cam.source.dir = at(cam.source.dir);
    if (cam.source.kind === 'opencv' && typeof cam.source.input === 'string' && isRelativeFile(cam.source.input)) cam.source.input = at(cam.source.input);
  }
  return c;
}

/** An opencv input naming a file relative to here: not a device index, a URL (`rtsp://`) or a GStreamer pipeline (`... ! appsink`). */
function isRelativeFile(input: string): boolean {
  return !isAbsolute(input) && !/^\d+$/.test(input) && !/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(input) && !input.includes('!');
}

/** The bundle shipped with jetface (`models/jetface-s` at the package root), found from this module's folder. */
export function defaultBundleDir(): string {
  for (let dir = __dirname, i = 0; i < 6; i++, dir = dirname(dir)) {
    const candidate = join(dir, 'models', 'jetface-s');
    if (existsSync(join(candidate, 'manifest.json'))) return candidate;
  }
  return resolve('models', 'jetface-s');
}

/** `cameras[1].source.url` from zod's `['cameras', 1, 'source', 'url']`. */
export function dottedPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? String(part) : `.${String(part)}`;
  return out;
}

function toIssues(issue: z.core.$ZodIssue): ConfigIssue[] {
  const path = dottedPath(issue.path);
  const found = 'input' in issue ? describe(issue.input) : 'nothing';
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({ path: path ? `${path}.${key}` : key, expected: 'no such key', message: `unknown key ${JSON.stringify(key)} (check the spelling; see docs/config.md)` }));
    case 'invalid_type': {
      const expected = issue.expected;
      return [{ path, expected, message: `expected ${expected}, found ${issue.input === undefined ? 'nothing (required)' : found}` }];
    }
    case 'too_small':
    case 'too_big': {
      const bound = 'minimum' in issue ? issue.minimum : (issue as { maximum: number | bigint }).maximum;
      const inclusive = issue.inclusive ?? true;
      const rel = issue.code === 'too_small' ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<';
      const what = issue.origin === 'array' ? 'items' : issue.origin === 'string' ? 'characters' : '';
      const expected = `${what ? `${what} ` : ''}${rel} ${String(bound)}`;
      return [{ path, expected, message: `expected ${expected}, found ${found}` }];
    }
    case 'invalid_value': {
      const expected = `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
      return [{ path, expected, message: `expected ${expected}, found ${found}` }];
    }
    case 'invalid_union': {
      if ('note' in issue && issue.note === 'No matching discriminator') {
        const expected = `one of ${KINDS.join(', ')}`;
        const at = issue.path.at(-1) === 'kind' ? path : dottedPath([...issue.path, 'kind']);
        return [{ path: at, expected, message: `expected ${expected}, found ${describe((issue.input as Record<string, unknown> | undefined)?.['kind'])}` }];
      }
      // The value matched none of the forms (`reconnect: true`): name every form, not just the first.
      if (issue.errors.every((branch) => branch.every(isTypeMismatch))) {
        const expected = unionForms(issue);
        return [{ path, expected, message: `expected ${expected}, found ${found}` }];
      }
      // A plain union: report the branch that got furthest (the fewest issues).
      const best = [...issue.errors].sort((a, b) => a.length - b.length)[0] ?? [];
      return best.flatMap((i) => toIssues({ ...i, path: [...issue.path, ...i.path] } as z.core.$ZodIssue));
    }
    case 'invalid_format':
      return [{ path, expected: issue.message, message: `expected ${issue.message}, found ${found}` }];
    default:
      // Cross-field rules (refinements): the message says what is expected.
      return [{ path, expected: issue.message, message: issue.message }];
  }
}

/** A branch's issue at the value itself saying it is of another type or value (not out of bounds, not a key inside). */
function isTypeMismatch(issue: z.core.$ZodIssue): boolean {
  return issue.path.length === 0 && (issue.code === 'invalid_type' || issue.code === 'invalid_value');
}

/** The union's own message when the schema gives one (it can list an object's keys), else each branch's type or values. */
function unionForms(issue: z.core.$ZodIssueInvalidUnion): string {
  if (!issue.message.startsWith('Invalid input')) return issue.message;
  const forms = issue.errors.flatMap((branch) => branch.map((i) => (i.code === 'invalid_value' ? i.values.map((v) => JSON.stringify(v)).join(' or ') : i.code === 'invalid_type' ? i.expected : '')));
  return `one of ${[...new Set(forms)].filter(Boolean).join(', ')}`;
}

/** The source kinds, from the schema's discriminated union (so a new kind is named in errors without an edit here). */
const KINDS: readonly string[] = sourceKinds();

function sourceKinds(): string[] {
  return deviceConfigSchema.shape.cameras.element.shape.source.options.map((o) => o.shape.kind.value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}
