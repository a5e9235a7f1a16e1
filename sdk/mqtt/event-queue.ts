/**
 * A buffer behind one `for await` loop. When it holds `capacity` items the producer waits
 * (`space()`), which stops reading from the broker: a slow consumer slows delivery instead of
 * losing events or growing memory without bound.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private readonly takers: ((result: IteratorResult<T>) => void)[] = [];
  private readonly spaceWaiters: (() => void)[] = [];
  private ended = false;

  constructor(
    private readonly capacity: number,
    private readonly onReturn: () => void = () => undefined,
  ) {}

  get full(): boolean {
    return this.items.length >= this.capacity;
  }

  push(item: T): void {
    if (this.ended) return;
    const taker = this.takers.shift();
    if (taker) taker({ value: item, done: false });
    else this.items.push(item);
  }

  /** Resolves when the queue has room (or has ended). */
  space(): Promise<void> {
    if (!this.full || this.ended) return Promise.resolve();
    return new Promise((resolve) => this.spaceWaiters.push(resolve));
  }

  /** Ends the iteration after the buffered items. */
  end(): void {
    this.ended = true;
    for (const taker of this.takers.splice(0)) taker({ value: undefined, done: true });
    for (const wake of this.spaceWaiters.splice(0)) wake();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) {
      const value = this.items.shift() as T;
      if (!this.full) for (const wake of this.spaceWaiters.splice(0)) wake();
      return Promise.resolve({ value, done: false });
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.takers.push(resolve));
  }

  /** `break` out of `for await`: stop buffering for this loop. */
  return(): Promise<IteratorResult<T>> {
    this.items.length = 0;
    this.end();
    this.onReturn();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
