import type { Clock, TimerEvent } from '../clock.js';

/**
 * The local APIC timer (SDM 11.5.4) in modeled time. The counter runs at a 1 GHz bus clock (one
 * tick per modeled cycle, KVM's and QEMU's convention) divided by the divide configuration, in
 * one-shot or periodic mode, or compares the TSC against IA32_TSC_DEADLINE in TSC-deadline mode.
 *
 * The count is never stored as it runs: it was `countBase` at cycle `countStart` and drops by one
 * every `divisor` cycles, so the current-count register is computed on demand. A clock event is
 * scheduled only while an expiry could raise an interrupt (LVT unmasked, APIC enabled): a masked
 * timer still counts and reloads, and an idle HLT is not woken by expiries that deliver nothing.
 * A one-shot/periodic switch takes effect at the next expiry (the count carries on); switching to
 * or from TSC-deadline mode disarms the timer (SDM 11.5.4.1). An armed TSC deadline is converted
 * to a modeled cycle when it is written: a later write to the TSC does not move it.
 */

/** LVT timer fields the timer reads (SDM Figure 11-8). */
export const LVT_TIMER_MASKED = 1 << 16;
export const LVT_TIMER_PERIODIC = 1 << 17;
export const LVT_TIMER_TSC_DEADLINE = 2 << 17;
export const LVT_TIMER_MODE = 3 << 17;

/** What the timer needs from its local APIC. */
export interface ApicTimerHost {
  readonly clock: Clock;
  /** The LVT timer register. */
  lvt(): number;
  /** Whether the APIC could deliver the timer's interrupt at all (hardware-enabled, present). */
  enabled(): boolean;
  /** Whether CPUID advertises TSC-deadline mode. */
  readonly hasTscDeadline: boolean;
  /** The guest TSC minus modeled cycles (the vCPU's TSC offset). */
  tscOffset(): number;
  /** The counter reached 0 (or the deadline passed): raise the LVT timer interrupt. */
  expired(): void;
}

export class ApicTimer {
  private readonly host: ApicTimerHost;
  private initialCount = 0;
  private tdcr = 0;
  private divisor = 2;
  private running = false;
  private countStart = 0;
  private countBase = 0;
  private event: TimerEvent | undefined;
  /** IA32_TSC_DEADLINE as written (0: disarmed). */
  private deadlineLo = 0;
  private deadlineHi = 0;

  constructor(host: ApicTimerHost) {
    this.host = host;
  }

  private get mode(): number {
    return this.host.lvt() & LVT_TIMER_MODE;
  }

  get tscDeadlineMode(): boolean {
    return this.mode === LVT_TIMER_TSC_DEADLINE && this.host.hasTscDeadline;
  }

  private get periodic(): boolean {
    return this.mode === LVT_TIMER_PERIODIC && this.initialCount > 0;
  }

  // Registers.

  get initial(): number {
    return this.initialCount;
  }

  get divideConfiguration(): number {
    return this.tdcr;
  }

  /** The current-count register: 0 when stopped, expired (one-shot) or in TSC-deadline mode. */
  currentCount(): number {
    if (!this.running || this.tscDeadlineMode) return 0;
    const ticks = Math.floor((this.host.clock.now() - this.countStart) / this.divisor);
    if (ticks < this.countBase) return this.countBase - ticks;
    if (!this.periodic) return 0;
    return this.initialCount - ((ticks - this.countBase) % this.initialCount);
  }

  /** Initial-count write: (re)starts the count; 0 stops it; ignored in TSC-deadline mode. */
  writeInitialCount(value: number): void {
    if (this.tscDeadlineMode) return;
    this.initialCount = value >>> 0;
    this.running = this.initialCount > 0;
    this.countStart = this.host.clock.now();
    this.countBase = this.initialCount;
    this.rearm();
  }

  /** Divide configuration (bits 0, 1, 3): a running count continues from where it is. */
  writeDivideConfiguration(value: number): void {
    this.reanchor();
    this.tdcr = value & 0xb;
    const code = (this.tdcr & 3) | ((this.tdcr >> 1) & 4);
    this.divisor = 1 << ((code + 1) & 7);
    this.rearm();
  }

  /** Call after the LVT timer register changed (`before` is its old value). */
  lvtChanged(before: number): void {
    const wasDeadline = (before & LVT_TIMER_MODE) === LVT_TIMER_TSC_DEADLINE && this.host.hasTscDeadline;
    if (wasDeadline !== this.tscDeadlineMode) {
      this.cancel();
      this.running = false;
      this.initialCount = 0;
      this.deadlineLo = 0;
      this.deadlineHi = 0;
      return;
    }
    if (!this.tscDeadlineMode) this.rearm();
  }

  /** Call before the LVT timer register changes, so a mode switch applies from now on. */
  lvtChanging(): void {
    this.reanchor();
  }

  /** IA32_TSC_DEADLINE as read: the armed deadline, 0 once it fired or in the other modes. */
  readDeadline(): [number, number] {
    return this.tscDeadlineMode ? [this.deadlineLo, this.deadlineHi] : [0, 0];
  }

  /** IA32_TSC_DEADLINE write: arms (a past deadline fires at once), 0 disarms, ignored in other modes. */
  writeDeadline(lo: number, hi: number): void {
    if (!this.tscDeadlineMode) return;
    this.cancel();
    this.deadlineLo = lo;
    this.deadlineHi = hi;
    if (lo === 0 && hi === 0) return;
    const at = (hi >>> 0) * 4294967296 + (lo >>> 0) - this.host.tscOffset();
    if (at <= this.host.clock.now()) this.deadlinePassed();
    else this.event = this.host.clock.at(at, () => this.deadlinePassed());
  }

  /** INIT (SDM 11.4.7.3): initial count, divide configuration and TSC deadline back to 0, stopped. */
  reset(): void {
    this.cancel();
    this.running = false;
    this.initialCount = 0;
    this.countBase = 0;
    this.tdcr = 0;
    this.divisor = 2;
    this.deadlineLo = 0;
    this.deadlineHi = 0;
  }

  /** Schedules (or drops) the next one-shot/periodic expiry after anything that affects it. */
  rearm(): void {
    if (this.tscDeadlineMode) return;
    this.cancel();
    if (!this.running || (this.host.lvt() & LVT_TIMER_MASKED) !== 0 || !this.host.enabled()) return;
    const at = this.nextExpiry(this.host.clock.now());
    if (at < 0) {
      this.running = false;
      return;
    }
    this.event = this.host.clock.at(at, () => this.expire(at));
  }

  // Internals.

  private cancel(): void {
    this.host.clock.cancel(this.event);
    this.event = undefined;
  }

  /** The first expiry at or after cycle `from`, or -1 if a one-shot count has run out. */
  private nextExpiry(from: number): number {
    const first = this.countStart + this.countBase * this.divisor;
    if (first >= from) return first;
    if (!this.periodic) return -1;
    const period = this.initialCount * this.divisor;
    return first + Math.ceil((from - first) / period) * period;
  }

  private expire(at: number): void {
    this.event = undefined;
    this.host.expired();
    if (this.periodic) {
      // Reload, keeping the phase; periods that went by while the event waited coalesce into
      // the interrupt just raised (IRR holds one bit per vector).
      this.countStart = at;
      this.countBase = this.initialCount;
      const next = this.nextExpiry(this.host.clock.now() + 1);
      this.event = this.host.clock.at(next, () => this.expire(next));
    } else {
      this.running = false;
    }
  }

  /** Re-anchors a running count at now, so a new divisor or mode applies from here on. */
  private reanchor(): void {
    if (!this.running) return;
    const count = this.currentCount();
    this.countStart = this.host.clock.now();
    this.countBase = count;
    this.running = count > 0;
  }

  private deadlinePassed(): void {
    this.event = undefined;
    this.deadlineLo = 0;
    this.deadlineHi = 0;
    this.host.expired();
  }
}
