import { WaitTimeoutError } from '../errors';

/** Options for {@link TypedEmitter.waitFor}. */
export interface WaitOptions {
  /** Reject with `WaitTimeoutError` after this many milliseconds. */
  timeoutMs?: number;
  /** Reject with the signal's reason when it aborts. */
  signal?: AbortSignal;
}

type Listener<T> = (payload: T) => void;

/**
 * A small event emitter typed by an event map, with a Promise form of each event. Unlike Node's
 * EventEmitter, an `error` event without listeners is not thrown: a camera failing must not take
 * the process down.
 *
 * @example
 * ```ts
 * const events = new TypedEmitter<{ online: { cameraId: string } }>();
 * events.on('online', (e) => console.log(e.cameraId));
 * const next = await events.waitFor('online', { timeoutMs: 5000 });
 * ```
 */
export class TypedEmitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return this;
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    this.listeners.get(event)?.delete(listener as Listener<never>);
    return this;
  }

  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const wrapper: Listener<Events[K]> = (payload) => {
      this.off(event, wrapper);
      listener(payload);
    };
    return this.on(event, wrapper);
  }

  /** Resolves with the payload of the next `event`. */
  waitFor<K extends keyof Events>(event: K, options: WaitOptions = {}): Promise<Events[K]> {
    return new Promise<Events[K]>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const cleanup = (): void => {
        this.off(event, onEvent);
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      const onEvent = (payload: Events[K]): void => {
        cleanup();
        resolve(payload);
      };
      const onAbort = (): void => {
        cleanup();
        reject(options.signal?.reason);
      };
      if (options.signal?.aborted) return reject(options.signal.reason);
      this.on(event, onEvent);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          cleanup();
          reject(new WaitTimeoutError(`event '${String(event)}'`, options.timeoutMs ?? 0));
        }, options.timeoutMs);
      }
    });
  }

  listenerCount(event: keyof Events): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  protected emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (error) {
        // A throwing listener must not break capture; surface it like Node does for uncaught errors.
        process.nextTick(() => {
          throw error;
        });
      }
    }
  }
}
