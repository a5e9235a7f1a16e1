/**
 * The MQTT topic tree: `<prefix>/<device>/<camera>/events/<type>` for events and the retained
 * `<prefix>/<device>/status` (`online` / `offline`, the latter as the last will).
 */
import { InvalidArgumentError } from '../errors';
import { EVENT_TYPES, type EventType } from './types';

/** The topic prefix used when none is configured. */
export const DEFAULT_TOPIC_PREFIX = 'jetface';

const LEVEL = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/** Throws unless `prefix` is one or more topic levels without wildcards, `$` or empty levels. */
export function assertTopicPrefix(prefix: string): void {
  if (typeof prefix !== 'string' || prefix === '' || prefix.startsWith('$') || /[+#\0]/.test(prefix) || prefix.split('/').some((l) => l === '')) {
    throw new InvalidArgumentError('topic prefix', "topic levels without '+', '#', a leading '$' or empty levels (e.g. 'jetface')", prefix);
  }
}

/** Throws unless `value` can be one topic level (a device or camera id). */
export function assertTopicLevel(name: string, value: string): void {
  if (typeof value !== 'string' || !LEVEL.test(value)) {
    throw new InvalidArgumentError(name, 'an id of 1-64 characters from [A-Za-z0-9_.-], not starting with . or -', value);
  }
}

/**
 * The topic an event is published on.
 *
 * @example
 * ```ts
 * eventTopic('jetface', 'jetson-1', 'door', 'recognition'); // 'jetface/jetson-1/door/events/recognition'
 * ```
 */
export function eventTopic(prefix: string, device: string, camera: string, type: EventType): string {
  return `${prefix}/${device}/${camera}/events/${type}`;
}

/**
 * The retained status topic of a device.
 *
 * @example
 * ```ts
 * statusTopic('jetface', 'jetson-1'); // 'jetface/jetson-1/status'
 * ```
 */
export function statusTopic(prefix: string, device: string): string {
  return `${prefix}/${device}/status`;
}

/** Which events a subscription selects; every field defaults to all. */
export interface EventFilter {
  prefix?: string;
  device?: string;
  camera?: string;
  types?: readonly EventType[];
}

/**
 * MQTT topic filters selecting events, optionally inside a shared-subscription group.
 *
 * @example
 * ```ts
 * eventTopicFilters({ camera: 'door' }); // ['jetface/+/door/events/+']
 * eventTopicFilters({ types: ['recognition'] }, 'workers'); // ['$share/workers/jetface/+/+/events/recognition']
 * ```
 */
export function eventTopicFilters(filter: EventFilter = {}, shareGroup?: string): string[] {
  const prefix = filter.prefix ?? DEFAULT_TOPIC_PREFIX;
  assertTopicPrefix(prefix);
  if (filter.device !== undefined) assertTopicLevel('device', filter.device);
  if (filter.camera !== undefined) assertTopicLevel('camera', filter.camera);
  if (shareGroup !== undefined) assertTopicLevel('shared subscription group', shareGroup);
  const base = `${prefix}/${filter.device ?? '+'}/${filter.camera ?? '+'}/events/`;
  const types = filter.types && filter.types.length > 0 ? filter.types : undefined;
  const filters = types ? types.map((t) => base + t) : [`${base}+`];
  return shareGroup === undefined ? filters : filters.map((f) => `$share/${shareGroup}/${f}`);
}

/** Device, camera and type read back from an event topic. */
export interface EventTopicParts {
  device: string;
  camera: string;
  type: EventType;
}

/**
 * Splits an event topic under `prefix`; `null` when it is not one.
 *
 * @example
 * ```ts
 * parseEventTopic('jetface', 'jetface/jetson-1/door/events/recognition'); // { device: 'jetson-1', camera: 'door', type: 'recognition' }
 * ```
 */
export function parseEventTopic(prefix: string, topic: string): EventTopicParts | null {
  if (!topic.startsWith(`${prefix}/`)) return null;
  const [device, camera, events, type, ...rest] = topic.slice(prefix.length + 1).split('/');
  if (rest.length > 0 || events !== 'events' || !device || !camera || !isEventType(type)) return null;
  return { device, camera, type };
}

function isEventType(value: string | undefined): value is EventType {
  return (EVENT_TYPES as readonly string[]).includes(value ?? '');
}
