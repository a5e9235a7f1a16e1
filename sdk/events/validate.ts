/**
 * Validation of events against the shipped JSON Schema (`event.schema.json`), with ajv.
 * The schema file is the single source of truth: what the SDK accepts is what a backend in
 * any language validating with the same file accepts.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { EventValidationError, type EventIssue } from '../errors';
import schemaJson from './event.schema.json';
import type { JetfaceEvent } from './types';

/**
 * The event JSON Schema (draft-07) as an object, for backends that validate with their own tools.
 *
 * @example
 * ```ts
 * import { writeFileSync } from 'node:fs';
 * import { EVENT_JSON_SCHEMA } from 'jetface';
 * writeFileSync('jetface-event.schema.json', JSON.stringify(EVENT_JSON_SCHEMA, null, 2));
 * ```
 */
export const EVENT_JSON_SCHEMA: Readonly<Record<string, unknown>> = schemaJson;

/** The outcome of {@link validateEvent}: the typed event, or every issue found. */
export type EventValidation = { ok: true; event: JetfaceEvent } | { ok: false; issues: EventIssue[] };

let compiled: ValidateFunction<JetfaceEvent> | undefined;

// Compiled on first use: ajv code generation costs a few ms that importers who never validate should not pay.
function validator(): ValidateFunction<JetfaceEvent> {
  if (!compiled) {
    const ajv = new Ajv({ allErrors: true, discriminator: true, strict: true, strictRequired: false });
    addFormats(ajv, ['date-time']);
    compiled = ajv.compile<JetfaceEvent>(schemaJson);
  }
  return compiled;
}

/**
 * Checks a parsed JSON value against the event schema; never throws.
 *
 * @example
 * ```ts
 * const result = validateEvent(JSON.parse(payload.toString()));
 * if (result.ok) console.log(result.event.type); else console.warn(result.issues);
 * ```
 */
export function validateEvent(value: unknown): EventValidation {
  const validate = validator();
  if (validate(value)) return { ok: true, event: value };
  return { ok: false, issues: (validate.errors ?? []).map(toIssue) };
}

/**
 * Returns the value typed as an event, or throws {@link EventValidationError} listing every issue.
 *
 * @example
 * ```ts
 * const event = assertValidEvent(JSON.parse(text)); // EventValidationError (E_EVENT_INVALID) when it is not one
 * ```
 */
export function assertValidEvent(value: unknown): JetfaceEvent {
  const result = validateEvent(value);
  if (!result.ok) throw new EventValidationError(result.issues);
  return result.event;
}

function toIssue(error: ErrorObject): EventIssue {
  const extra =
    error.keyword === 'required' || error.keyword === 'const' || error.keyword === 'enum'
      ? ` (${JSON.stringify(error.params)})`
      : '';
  return { path: error.instancePath, message: `${error.message ?? error.keyword}${extra}` };
}
