import type { Vcpu } from '../cpu/vcpu.js';
import { Stop } from '../cpu/vcpu.js';
import { type RunState, SliceEnd, runSlice } from '../cpu/run.js';
import type { CodeCache } from '../decode/code-cache.js';
import type { Tracer } from '../cpu/tracer.js';
import type { Clock } from './clock.js';
import { Flag } from '../arch/eflags.js';
import { TscSync } from '../cpu/tsc-sync.js';

/**
 * The deterministic scheduler: the vCPUs take turns in a fixed order, each running until its own
 * modeled time (its TSC: instructions plus modeled costs) reaches the end of the current round,
 * `quantum` cycles after the last. Every vCPU's clock therefore stays within one quantum of the
 * others, and the interleaving depends only on the guest and the options, never on the host: the
 * same run gives the same output and statistics every time.
 *
 * Devices share one clock, which reads the running vCPU's time; a vCPU's turn also ends at the
 * next device deadline, so timers fire on time. A vCPU halted (HLT) or waiting for a STARTUP IPI
 * runs nothing: its clock idles to the end of the round or the next deadline. When every vCPU is
 * idle, time skips to the next deadline; with none that could wake anyone (no deadline, or every
 * halted vCPU has interrupts disabled), the machine has halted for good.
 *
 * With one vCPU there are no rounds: it runs in slices up to the next deadline, as a lone CPU.
 *
 * A halted machine can idle without end: a periodic timer whose interrupt is masked at the PIC or
 * the APIC keeps setting deadlines, none of which wakes a vCPU. Retired instructions alone would
 * then never reach the limit, so each idle step that follows no retired instruction (time moved
 * on and nothing ran) counts as one toward `maxInsns`. A guest its timer really wakes runs an
 * instruction between idle steps and is not charged; the count is reported with the limit. So
 * does an exception loop (a handler that faults before retiring anything): each event delivered
 * with no instruction since the one before counts too (RunState.uncountedEvents).
 *
 * Clocks a quantum apart would let one vCPU read a TSC behind a value another already read; the
 * vCPUs share one TSC high-water mark (cpu/tsc-sync.ts), and a vCPU that reads its TSC behind it
 * catches its clock up first, so the TSC never goes backwards across vCPUs.
 */

/** debugSlice's result when the debugger paused the machine. */
const PAUSED = -1 as SliceEnd;

/** Instructions per turn at most, so the machine checks its own limits now and then. */
const MAX_TURN = 1 << 20;

export type SchedulerEnd =
  | { readonly kind: 'stopped'; readonly cpu: number }
  | { readonly kind: 'insn-limit' }
  | { readonly kind: 'halted'; readonly detail: string }
  /** A debugger paused the machine after an instruction or slice of `cpu` (breakpoint, step, interrupt). */
  | { readonly kind: 'paused'; readonly cpu: number };

/**
 * A debugger attached to the machine (the gdb stub, emulator/debug/). Absent, the scheduler pays
 * one null check per turn; present, it is asked after every slice whether to pause, and with
 * `oneAtATime` after every instruction of it (debugSlice), so breakpoints, watchpoints and steps
 * stop exactly.
 */
export interface SchedulerDebug {
  readonly oneAtATime: boolean;
  pauseAfter(cpu: Vcpu): boolean;
}

export class Scheduler {
  private readonly vcpus: readonly Vcpu[];
  private readonly states: readonly RunState[];
  private readonly code: CodeCache;
  private readonly clock: Clock;
  private readonly tracer: Tracer | null;
  private readonly quantum: number;
  /** The vCPU whose turn it is (the clock reads its time). */
  running: Vcpu;
  /** Turns taken, for reports. */
  turns = 0;
  /** The attached debugger, or null (no cost beyond this check). */
  debug: SchedulerDebug | null = null;
  /**
   * Where the debugger paused the last run: its round, the vCPU whose turn it was, the idle count
   * of the round so far, and what was left of the slice it interrupted.
   */
  private pausedAt: { roundEnd: number; cpu: number; idle: number; slice: number } | null = null;

  constructor(vcpus: readonly Vcpu[], states: readonly RunState[], code: CodeCache, clock: Clock, tracer: Tracer | null, quantum: number) {
    this.vcpus = vcpus;
    this.states = states;
    this.code = code;
    this.clock = clock;
    this.tracer = tracer;
    this.quantum = vcpus.length === 1 ? Number.POSITIVE_INFINITY : quantum;
    this.running = vcpus[0];
    const sync = new TscSync();
    for (const c of vcpus) c.tscSync = sync;
  }

  /** Instructions retired by every vCPU. */
  instructions(): number {
    let n = 0;
    for (const c of this.vcpus) n += c.instructions;
    return n;
  }

  /** Idle steps of the current run that followed no retired instruction (see the class comment). */
  idleStepsCharged = 0;

  /** What the current run counted toward its limit besides instructions: idle steps and events. */
  charged(): number {
    let n = this.idleStepsCharged;
    for (const s of this.states) n += s.uncountedEvents;
    return n;
  }
  /** Instructions retired when the machine last idled, or -1 before the first idle step of a run. */
  private idleMark = -1;

  /** Runs until a vCPU stops the machine, every vCPU halts for good, or `maxInsns` retire in all. */
  run(maxInsns: number): SchedulerEnd {
    this.idleStepsCharged = 0;
    this.idleMark = -1;
    for (const s of this.states) s.uncountedEvents = 0;
    const vcpus = this.vcpus;
    const clock = this.clock;
    let roundEnd = this.roundStart() + this.quantum;
    // After a debugger's pause, go on in the same round at the same vCPU, so the interleaving
    // (and everything the guest sees) is the one an uninterrupted run has.
    const paused = this.pausedAt;
    this.pausedAt = null;
    let first = paused === null ? 0 : paused.cpu;
    let idleBefore = paused === null ? 0 : paused.idle;
    let sliceLeft = paused === null ? 0 : paused.slice;
    if (paused !== null) roundEnd = paused.roundEnd;
    for (;;) {
      let idle = idleBefore;
      idleBefore = 0;
      for (let k = first; k < vcpus.length; k++) {
        const cpu = vcpus[k];
        this.running = cpu;
        for (;;) {
          let budget = sliceLeft;
          sliceLeft = 0;
          if (budget === 0) {
            clock.fireDue();
            const left = maxInsns - this.instructions() - this.charged();
            if (left <= 0) return { kind: 'insn-limit' };
            const now = cpu.cycles();
            if (now >= roundEnd) break;
            const untilEvent = Math.max(1, Math.ceil(clock.nextDeadline() - now));
            const untilRound = Math.max(1, Math.ceil(roundEnd - now));
            this.turns++;
            budget = Math.min(MAX_TURN, left, untilEvent, untilRound);
            if (vcpus.length > 1) cpu.turnEnd = Math.min(roundEnd, now + untilEvent);
          }
          let end: SliceEnd;
          if (this.debug === null) end = runSlice(cpu, this.code, this.states[k], budget, this.tracer);
          else {
            end = this.debugSlice(cpu, k, budget);
            if (end === PAUSED) {
              this.pausedAt = { roundEnd, cpu: k, idle, slice: this.debugSliceLeft };
              return { kind: 'paused', cpu: k };
            }
          }
          if (end === SliceEnd.STOPPED) return { kind: 'stopped', cpu: k };
          if (end === SliceEnd.HALTED) {
            // Idle to the end of the round or the next deadline; the next turn looks for a wake-up.
            const until = Math.min(roundEnd, clock.nextDeadline());
            if (until === Number.POSITIVE_INFINITY) { idle++; break; }
            if (vcpus.length === 1 && (cpu.flags & Flag.IF) === 0) { idle++; break; }
            this.idle(cpu, until);
            if (until >= roundEnd) { idle++; break; }
          }
        }
      }
      first = 0;
      if (idle === vcpus.length) {
        // Every vCPU is idle and time could not move them on: skip to the next deadline if some
        // halted vCPU could take an interrupt then, else nothing can ever wake the machine.
        const deadline = clock.nextDeadline();
        if (deadline === Number.POSITIVE_INFINITY || !vcpus.some((c) => !c.waitForSipi && (c.flags & Flag.IF) !== 0)) {
          return { kind: 'halted', detail: this.haltDetail() };
        }
        for (const c of vcpus) this.idle(c, deadline);
        if (vcpus.length > 1) roundEnd = deadline;
      }
      roundEnd += this.quantum;
    }
  }

  /** Instructions of the slice a debugger pause interrupted that are still to run. */
  private debugSliceLeft = 0;

  /**
   * A slice of `budget` instructions under a debugger: the same slice runSlice would run, but, when
   * the debugger asks for it, one instruction at a time with a look after each (the machine sees
   * no difference: events are serviced at the top of the next piece, as between blocks). Returns
   * PAUSED, with debugSliceLeft set, when the debugger pauses inside or at the end of it.
   */
  private debugSlice(cpu: Vcpu, k: number, budget: number): SliceEnd {
    const debug = this.debug!;
    const target = cpu.instructions + budget;
    for (;;) {
      const before = cpu.instructions;
      const end = runSlice(cpu, this.code, this.states[k], debug.oneAtATime ? 1 : target - before, this.tracer);
      const done = end !== SliceEnd.BUDGET || cpu.instructions >= target || cpu.instructions === before;
      // Nothing retired with a budget left: a device deadline ended the slice early, as it ends runSlice's.
      if (end === SliceEnd.BUDGET && debug.pauseAfter(cpu)) {
        this.debugSliceLeft = done ? 0 : target - cpu.instructions;
        return PAUSED;
      }
      if (done) return end;
    }
  }

  /** Where the first round starts: the earliest vCPU clock. */
  private roundStart(): number {
    let t = Number.POSITIVE_INFINITY;
    for (const c of this.vcpus) t = Math.min(t, c.cycles());
    return t;
  }

  /** Advances a halted or waiting vCPU's clock to `until` without running it. */
  private idle(cpu: Vcpu, until: number): void {
    const retired = this.instructions();
    if (retired === this.idleMark) this.idleStepsCharged++;
    this.idleMark = retired;
    const cycles = Math.max(0, until - cpu.cycles());
    cpu.extraCycles += cycles;
    cpu.haltedCycles += cycles;
    // Still halted: the next turn must look for an interrupt before running anything.
    cpu.stop |= Stop.EVENT;
  }

  private haltDetail(): string {
    const cpu = this.vcpus[0];
    if (this.vcpus.length === 1) {
      return (cpu.flags & Flag.IF) !== 0 ? 'HLT with interrupts enabled but no interrupt source' : 'HLT with interrupts disabled';
    }
    return `every CPU is halted or waiting for a STARTUP IPI, and nothing can wake one (${this.vcpus.map((c) =>
      `CPU ${c.index}: ${c.waitForSipi ? 'wait-for-SIPI' : (c.flags & Flag.IF) !== 0 ? 'HLT' : 'HLT, IF=0'}`).join('; ')})`;
  }
}
