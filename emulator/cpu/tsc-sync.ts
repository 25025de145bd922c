/**
 * One TSC for every vCPU of a machine, as a guest sees it.
 *
 * Each vCPU keeps its own modeled clock (its instructions plus modeled costs), and the scheduler
 * runs the vCPUs a quantum at a time, so at any moment their clocks differ by up to a quantum.
 * Read naively, one CPU's TSC could then fall behind a value another CPU read before it, which
 * real hardware with synchronized TSCs never shows and which Linux's TSC synchronization check at
 * AP bring-up (check_tsc_warp) measures as warp, turning the TSC clocksource off.
 *
 * The machine therefore keeps one high-water mark: the latest modeled time at which any vCPU read
 * its TSC. A vCPU whose clock is behind it when it reads its TSC first catches its clock up to the
 * mark (the cycles count as time the vCPU spent, like a stall), so every TSC read, in the order
 * the machine runs them, sees a time no earlier than every read before it. Because the vCPU's
 * whole clock moves, not only the value it reads, its timers stay consistent with what it read:
 * the run loop ends the slice after the read, and the scheduler fires whatever fell due (a
 * TSC-deadline or APIC timer expiry at or before the value read) before the vCPU's next
 * instruction. With one vCPU the mark never leads its clock and nothing changes.
 *
 * TSC offsets written by the guest (IA32_TSC, IA32_TSC_ADJUST) stay per vCPU on top of this, as on
 * hardware: a guest that writes different TSCs gets different TSCs.
 */
export class TscSync {
  /** The latest modeled time (cycles, before any TSC offset) at which a vCPU read its TSC. */
  mark = 0;
}
