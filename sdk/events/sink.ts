import { assertValidEvent } from './validate';
import { createEvent } from './create-event';
import type { EventDraft, JetfaceEvent } from './types';

/**
 * Where the pipeline's events go: the MQTT {@link EventPublisher} or a callback. Every sink
 * stamps (`createEvent`) and validates the draft before accepting it.
 *
 * @example
 * ```ts
 * const sink: EventSink = await EventPublisher.create({ device: 'jetson-1', outbox: 'outbox.jsonl' });
 * await sink.publish({ type: 'camera_online', camera: 'door' });
 * ```
 */
export interface EventSink {
  /** Accepts an event; resolves with the stamped event once the sink holds it (for MQTT: on disk in the outbox). */
  publish(draft: EventDraft): Promise<JetfaceEvent>;
  close(): Promise<void>;
}

/**
 * A sink that hands each validated event to a function (tests, in-process consumers, logging).
 *
 * @example
 * ```ts
 * const sink = callbackSink('jetson-1', (event) => console.log(JSON.stringify(event)));
 * ```
 */
export function callbackSink(device: string, onEvent: (event: JetfaceEvent) => void | Promise<void>): EventSink {
  return {
    async publish(draft) {
      const event = assertValidEvent(createEvent(draft, device));
      await onEvent(event);
      return event;
    },
    async close() {},
  };
}
