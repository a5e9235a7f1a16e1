import { InvalidArgumentError } from '../errors';
import { newEventId } from './event-id';
import { EVENT_SCHEMA_VERSION, type EventDraft, type JetfaceEvent } from './types';

/**
 * Stamps a draft into a complete event: `schemaVersion`, and `id` (UUID v7), `time` (now) and
 * `device` where the draft has none. It does not validate; the publisher does, once, on entry.
 *
 * @example
 * ```ts
 * const event = createEvent({ type: 'camera_online', camera: 'door', source: 'rtsp' }, 'jetson-1');
 * ```
 */
export function createEvent(draft: EventDraft, device?: string): JetfaceEvent {
  const deviceId = draft.device ?? device;
  if (deviceId === undefined) throw new InvalidArgumentError('event.device', 'a device id (in the draft or as the second argument)', undefined);
  // The spread keeps the draft's own type-specific fields; the cast restores the union that spreads lose.
  return {
    ...draft,
    schemaVersion: EVENT_SCHEMA_VERSION,
    id: draft.id ?? newEventId(),
    time: draft.time ?? new Date().toISOString(),
    device: deviceId,
  } as JetfaceEvent;
}
