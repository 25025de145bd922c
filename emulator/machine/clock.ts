/**
 * Modeled time. Guest time is never wall-clock time: the TSC counts modeled cycles (one per
 * retired instruction plus the modeled cost of exits and MMU work, DESIGN section 5), and every
 * timer device derives its time from that count. Runs are therefore deterministic.
 *
 * Devices schedule callbacks at a cycle count; the machine runs the CPU only up to the next
 * deadline, fires what is due, and, when the CPU halts, skips idle time to the next deadline.
 */

/** The modeled clock rate: one cycle is one nanosecond. */
export const CYCLES_PER_SECOND = 1_000_000_000;

export interface TimerEvent {
  readonly at: number;
  readonly fire: () => void;
  cancelled: boolean;
}

export class Clock {
  private readonly source: () => number;
  private events: TimerEvent[] = [];

  /** `source` returns the current cycle count (the vCPU's instructions plus extra cycles). */
  constructor(source: () => number) {
    this.source = source;
  }

  now(): number {
    return this.source();
  }

  /**
   * Called when an event is scheduled earlier than every pending one: the machine runs the CPU in
   * slices that end at the next deadline, so a running slice must end early.
   */
  onEarlierDeadline: () => void = () => {};

  /** Schedules `fire` at cycle `at` (immediately due if in the past). */
  at(at: number, fire: () => void): TimerEvent {
    const ev: TimerEvent = { at, fire, cancelled: false };
    let k = this.events.length;
    while (k > 0 && this.events[k - 1].at > at) k--;
    this.events.splice(k, 0, ev);
    if (k === 0) this.onEarlierDeadline();
    return ev;
  }

  cancel(ev: TimerEvent | undefined): void {
    if (ev === undefined || ev.cancelled) return;
    ev.cancelled = true;
    const k = this.events.indexOf(ev);
    if (k >= 0) this.events.splice(k, 1);
  }

  /** Cycle count of the next pending event, or Infinity. */
  nextDeadline(): number {
    return this.events.length > 0 ? this.events[0].at : Number.POSITIVE_INFINITY;
  }

  /** Fires every event due at the current time, in time order. */
  fireDue(): void {
    const now = this.now();
    while (this.events.length > 0 && this.events[0].at <= now) {
      const ev = this.events.shift()!;
      ev.cancelled = true;
      ev.fire();
    }
  }
}
