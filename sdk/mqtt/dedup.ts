/**
 * The ids seen most recently, at most `capacity` of them (least recently seen forgotten first):
 * enough to drop the redeliveries at-least-once delivery produces after an outage or a restart.
 */
export class RecentIds {
  private readonly ids = new Map<string, true>();

  constructor(readonly capacity: number) {}

  /** True when `id` was seen before (and refreshes it); otherwise records it and returns false. */
  seen(id: string): boolean {
    if (this.ids.has(id)) {
      this.ids.delete(id);
      this.ids.set(id, true);
      return true;
    }
    this.ids.set(id, true);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.keys().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
    return false;
  }

  get size(): number {
    return this.ids.size;
  }
}
