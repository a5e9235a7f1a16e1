import Ajv from 'ajv';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventValidationError, InvalidArgumentError } from '../sdk/errors';
import { createEvent } from '../sdk/events/create-event';
import { eventIdTime, newEventId } from '../sdk/events/event-id';
import { callbackSink } from '../sdk/events/sink';
import { eventTopic, eventTopicFilters, parseEventTopic, statusTopic } from '../sdk/events/topics';
import { EVENT_TYPES, type JetfaceEvent } from '../sdk/events/types';
import { EVENT_JSON_SCHEMA, assertValidEvent, validateEvent } from '../sdk/events/validate';
import { oneOfEachType } from './support/events';

const SCHEMA_FILE = join(__dirname, '../sdk/events/event.schema.json');

function recognition(): JetfaceEvent {
  const draft = oneOfEachType()[0];
  if (!draft) throw new Error('no draft');
  return createEvent(draft, 'jetson-1');
}

describe('event JSON Schema', () => {
  it('is a valid draft-07 schema, and the exported object is the shipped file', () => {
    const file = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Record<string, unknown>;
    expect(EVENT_JSON_SCHEMA).toEqual(file);
    const ajv = new Ajv({ strict: false });
    expect(ajv.validateSchema(file)).toBe(true);
  });

  it('validates one real event of every type', () => {
    const events = oneOfEachType().map((d) => createEvent(d, 'jetson-1'));
    expect(events.map((e) => e.type)).toEqual([...EVENT_TYPES]);
    for (const event of events) expect(validateEvent(JSON.parse(JSON.stringify(event)))).toEqual({ ok: true, event });
  });

  it.each<[string, (e: Record<string, unknown>) => void, string]>([
    ['a missing id', (e) => delete e['id'], "must have required property 'id'"],
    ['an id that is not a UUID v7', (e) => (e['id'] = '3b241101-e2bb-4255-8caf-4136c566a962'), 'must match pattern'],
    ['another schema version', (e) => (e['schemaVersion'] = 2), 'must be equal to constant'],
    ['an unknown type', (e) => (e['type'] = 'face'), 'value of tag "type" must be in oneOf'],
    ['a box of three numbers', (e) => (e['box'] = [1, 2, 3]), 'must NOT have fewer than 4 items'],
    ['a similarity above 1', (e) => (e['similarity'] = 1.5), 'must be <= 1'],
    ['an identity without personId', (e) => (e['identity'] = { name: 'Ada' }), "must have required property 'personId'"],
    ['a camera id with a topic wildcard', (e) => (e['camera'] = 'door/+'), 'must match pattern'],
    ['a time that is not a date-time', (e) => (e['time'] = 'yesterday'), 'must match format "date-time"'],
  ])('rejects %s', (_name, spoil, message) => {
    const event = JSON.parse(JSON.stringify(recognition())) as Record<string, unknown>;
    spoil(event);
    const result = validateEvent(event);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues.map((i) => i.message).join('\n')).toContain(message);
  });

  it('rejects non-objects and names every issue in the typed error', () => {
    expect(validateEvent(null).ok).toBe(false);
    expect(validateEvent('{"type":"recognition"}').ok).toBe(false);
    const bad = { ...recognition(), similarity: 7, box: [] };
    let error: unknown;
    try {
      assertValidEvent(bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EventValidationError);
    expect(error).toMatchObject({ code: 'E_EVENT_INVALID' });
    expect((error as EventValidationError).issues.map((i) => i.path)).toEqual(expect.arrayContaining(['/similarity', '/box']));
  });

  it('accepts unknown extra properties (newer minor versions add optional fields)', () => {
    expect(validateEvent({ ...recognition(), futureField: { a: 1 } }).ok).toBe(true);
  });
});

describe('event ids (UUID v7)', () => {
  it('are v7 UUIDs carrying their creation time', () => {
    const now = Date.now();
    const id = newEventId(now);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(eventIdTime(id)).toBe(now);
  });

  it('sort in creation order, also within one millisecond and when the clock steps back', () => {
    const t = Date.now() + 10_000;
    const ids = [...Array.from({ length: 5000 }, () => newEventId(t)), newEventId(t - 5000), newEventId(t + 1)];
    const sorted = [...ids].sort();
    expect(sorted).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('topics', () => {
  it('builds and parses event and status topics', () => {
    expect(eventTopic('jetface', 'jetson-1', 'door', 'track_ended')).toBe('jetface/jetson-1/door/events/track_ended');
    expect(statusTopic('site/a', 'jetson-1')).toBe('site/a/jetson-1/status');
    expect(parseEventTopic('site/a', 'site/a/jetson-1/door/events/recognition')).toEqual({ device: 'jetson-1', camera: 'door', type: 'recognition' });
    expect(parseEventTopic('jetface', 'jetface/jetson-1/door/events/nope')).toBeNull();
    expect(parseEventTopic('jetface', 'jetface/jetson-1/status')).toBeNull();
  });

  it('makes filters, shared ones included, and refuses wildcards in ids', () => {
    expect(eventTopicFilters()).toEqual(['jetface/+/+/events/+']);
    expect(eventTopicFilters({ camera: 'door', types: ['recognition', 'track_ended'] }, 'backend')).toEqual([
      '$share/backend/jetface/+/door/events/recognition',
      '$share/backend/jetface/+/door/events/track_ended',
    ]);
    expect(() => eventTopicFilters({ device: '#' })).toThrow(InvalidArgumentError);
    expect(() => eventTopicFilters({ prefix: 'a//b' })).toThrow(/topic prefix/);
  });
});

describe('callbackSink', () => {
  it('stamps and validates before calling back', async () => {
    const seen: JetfaceEvent[] = [];
    const sink = callbackSink('jetson-1', (e) => void seen.push(e));
    const event = await sink.publish({ type: 'camera_online', camera: 'door' });
    expect(seen).toEqual([event]);
    expect(event).toMatchObject({ schemaVersion: 1, device: 'jetson-1', type: 'camera_online' });
    await expect(sink.publish({ type: 'camera_offline', camera: 'bad camera', reason: 'x' })).rejects.toBeInstanceOf(EventValidationError);
  });
});
