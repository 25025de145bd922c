import { CpuMode, type Vcpu } from '../cpu/vcpu.js';
import { Seg } from '../arch/registers.js';
import { Access } from '../paging/walker.js';
import { TLB_MASK } from '../hw/tlb.js';
import type { SchedulerDebug } from '../machine/scheduler.js';
import type { DebugMemory } from './gdb-memory.js';

/**
 * What the debugger asked the machine to watch for, and why it last stopped. The scheduler asks
 * `pauseAfter` after every slice while a debugger is attached; with a breakpoint, watchpoint or
 * step active it runs its slices an instruction at a time and asks after each (`oneAtATime`), so
 * a stop is exact:
 *
 * - breakpoints (Z0 software, Z1 hardware) compare the linear address of RIP before the next
 *   instruction with each one. Nothing is written into guest memory (no INT3), so the guest reads
 *   its own bytes and decoded code stays valid; Z0 and Z1 differ only in the stop reason reported;
 * - write watchpoints (Z2) compare the watched bytes after each instruction with their last value,
 *   so a write of the same value is not seen (gdb's software watchpoints have the same rule);
 * - read and access watchpoints (Z3, Z4) take the paging unit's accessWatch hook: before each
 *   instruction the fast TLB tags of the watched pages are cleared (the translations stay, so
 *   nothing is walked or counted again), every access to those pages then reaches translate, and
 *   one with any byte in a watched range stops the machine after the instruction, as a data
 *   breakpoint traps (an access crossing a page is told per page, each with its bytes there);
 * - a step stops once the stepping vCPU has retired an instruction (or, when one faults, at the
 *   first instruction of the handler, after delivery).
 *
 * Without any of them (`continue`), a turn is as long as without a debugger, and the machine
 * pauses only every `yieldMs` of wall time so the server can read gdb's Ctrl-C.
 */

export type StopKind = 'attach' | 'interrupt' | 'step' | 'sw-break' | 'hw-break' | 'watch' | 'rwatch' | 'awatch';

export interface StopInfo {
  readonly kind: StopKind;
  readonly cpu: number;
  /** For the watchpoints: the watched address that was written, read or accessed. */
  readonly address?: bigint;
}

interface Breakpoint { readonly lo: number; readonly hi: number; readonly hardware: boolean }
interface Watchpoint { readonly addr: bigint; readonly length: number; last: Uint8Array }
/** A read (Z3) or access (Z4) watchpoint: [lo, lo + length) with the high half `hi`. */
interface AccessWatchpoint { readonly addr: bigint; readonly lo: number; readonly hi: number; readonly length: number; readonly reads: boolean }

const YIELD_CHECK_TURNS = 64;

export class DebugTarget implements SchedulerDebug {
  private readonly memory: DebugMemory;
  private readonly vcpus: readonly Vcpu[];
  private readonly breakpoints: Breakpoint[] = [];
  private readonly watchpoints: Watchpoint[] = [];
  private readonly accessWatchpoints: AccessWatchpoint[] = [];
  /** The access watchpoint an access hit during the current instruction, and by which vCPU. */
  private accessHit: AccessWatchpoint | undefined;
  /** The vCPU being stepped, or -1, and its retired-instruction count when the step began. */
  private stepCpu = -1;
  private stepFrom = 0;
  private stepRipLo = 0;
  private stepRipHi = 0;
  /** Pause at the next turn's end (the server wants to look at gdb's input). */
  private yieldAt = Number.POSITIVE_INFINITY;
  private turnsToCheck = YIELD_CHECK_TURNS;
  /** The reason of the last pause, or undefined for a pause only to yield. */
  stop: StopInfo | undefined;
  /** The last Vm.run ended because this target paused it (with or without a `stop`). */
  paused = false;
  oneAtATime = false;

  constructor(vcpus: readonly Vcpu[], memory: DebugMemory) {
    this.vcpus = vcpus;
    this.memory = memory;
  }

  /** gdb resumes the machine: step vCPU `stepCpu`, or -1 to continue. */
  resume(stepCpu: number): void {
    this.stepCpu = stepCpu;
    if (stepCpu >= 0) {
      const c = this.vcpus[stepCpu];
      this.stepFrom = c.instructions;
      this.stepRipLo = c.ripLo;
      this.stepRipHi = c.ripHi;
    }
    this.update();
  }

  /** Before each Vm.run: no stop yet, and a pause to yield after `yieldMs` of wall time. */
  beginRun(yieldMs: number): void {
    this.stop = undefined;
    this.paused = false;
    this.yieldAt = performance.now() + yieldMs;
    this.turnsToCheck = YIELD_CHECK_TURNS;
  }

  addBreakpoint(addr: bigint, hardware: boolean): void {
    const { lo, hi } = halves(addr);
    if (!this.breakpoints.some((b) => b.lo === lo && b.hi === hi && b.hardware === hardware)) this.breakpoints.push({ lo, hi, hardware });
    this.update();
  }

  removeBreakpoint(addr: bigint, hardware: boolean): void {
    const { lo, hi } = halves(addr);
    const i = this.breakpoints.findIndex((b) => b.lo === lo && b.hi === hi && b.hardware === hardware);
    if (i >= 0) this.breakpoints.splice(i, 1);
    this.update();
  }

  /** A write watchpoint on `length` bytes of the current vCPU's linear address space. */
  addWatchpoint(cpu: Vcpu, addr: bigint, length: number): void {
    if (!this.watchpoints.some((w) => w.addr === addr && w.length === length)) {
      this.watchpoints.push({ addr, length, last: this.memory.read(cpu, addr, length) });
    }
    this.update();
  }

  removeWatchpoint(addr: bigint, length: number): void {
    const i = this.watchpoints.findIndex((w) => w.addr === addr && w.length === length);
    if (i >= 0) this.watchpoints.splice(i, 1);
    this.update();
  }

  /** A read (`reads`, Z3) or access (Z4) watchpoint on `length` bytes at a linear address. */
  addAccessWatchpoint(addr: bigint, length: number, reads: boolean): void {
    const { lo, hi } = halves(addr);
    if (!this.accessWatchpoints.some((w) => w.addr === addr && w.length === length && w.reads === reads)) {
      this.accessWatchpoints.push({ addr, lo, hi, length, reads });
    }
    this.update();
  }

  removeAccessWatchpoint(addr: bigint, length: number, reads: boolean): void {
    const i = this.accessWatchpoints.findIndex((w) => w.addr === addr && w.length === length && w.reads === reads);
    if (i >= 0) this.accessWatchpoints.splice(i, 1);
    this.update();
  }

  /** gdb detached: nothing is watched any more. */
  clear(): void {
    this.breakpoints.length = 0;
    this.watchpoints.length = 0;
    this.accessWatchpoints.length = 0;
    this.stepCpu = -1;
    this.update();
  }

  private update(): void {
    const watching = this.accessWatchpoints.length > 0;
    this.oneAtATime = this.stepCpu >= 0 || this.breakpoints.length > 0 || this.watchpoints.length > 0 || watching;
    for (const c of this.vcpus) c.paging.accessWatch = watching ? this.onAccess : null;
    this.clearWatchedTags();
  }

  /**
   * The paging unit's hook: notes an access of `size` bytes at (lo, hi) that overlaps a read/access
   * watchpoint: it starts inside the range, or the range starts inside it.
   */
  private readonly onAccess = (lo: number, hi: number, access: number, size: number): void => {
    if ((access & Access.FETCH) !== 0 || this.accessHit !== undefined) return;
    const write = (access & Access.WRITE) !== 0;
    for (const w of this.accessWatchpoints) {
      const overlaps = ((lo - w.lo) >>> 0) < w.length || ((w.lo - lo) >>> 0) < size;
      if (w.hi === hi && overlaps && !(write && w.reads)) { this.accessHit = w; return; }
    }
  };

  /** Makes the next access to every watched page take the slow path, through translate. */
  private clearWatchedTags(): void {
    for (const w of this.accessWatchpoints) {
      const first = (w.lo >>> 12) & TLB_MASK;
      const last = (((w.lo + w.length - 1) | 0) >>> 12) & TLB_MASK;
      for (const c of this.vcpus) { c.paging.tlb.clearFast(first); c.paging.tlb.clearFast(last); }
    }
  }

  pauseAfter(cpu: Vcpu): boolean {
    if (this.oneAtATime) {
      if (cpu.index === this.stepCpu && (cpu.instructions !== this.stepFrom || cpu.ripLo !== this.stepRipLo || cpu.ripHi !== this.stepRipHi)) {
        return this.pause({ kind: 'step', cpu: cpu.index });
      }
      if (this.breakpoints.length > 0) {
        let lo = cpu.ripLo;
        let hi = cpu.ripHi;
        if (cpu.mode !== CpuMode.LONG64) { lo = (lo + cpu.seg.baseLo[Seg.CS]) | 0; hi = 0; }
        for (const b of this.breakpoints) {
          if (b.lo === lo && b.hi === hi) return this.pause({ kind: b.hardware ? 'hw-break' : 'sw-break', cpu: cpu.index });
        }
      }
      const hit = this.accessHit;
      if (hit !== undefined) {
        this.accessHit = undefined;
        return this.pause({ kind: hit.reads ? 'rwatch' : 'awatch', cpu: cpu.index, address: hit.addr });
      }
      if (this.accessWatchpoints.length > 0) this.clearWatchedTags();
      for (const w of this.watchpoints) {
        const now = this.memory.read(cpu, w.addr, w.length);
        if (!sameBytes(now, w.last)) {
          w.last = now;
          return this.pause({ kind: 'watch', cpu: cpu.index, address: w.addr });
        }
      }
    }
    // Wall time is read every few calls only when a call follows one instruction (after a whole
    // slice, which may run up to a million, every time).
    if (this.oneAtATime && --this.turnsToCheck > 0) return false;
    this.turnsToCheck = YIELD_CHECK_TURNS;
    this.paused = performance.now() >= this.yieldAt;
    return this.paused;
  }

  private pause(stop: StopInfo): boolean {
    this.paused = true;
    this.stop = stop;
    this.stepCpu = -1;
    this.update();
    return true;
  }
}

function halves(addr: bigint): { lo: number; hi: number } {
  return { lo: Number(addr & 0xffffffffn) | 0, hi: Number((addr >> 32n) & 0xffffffffn) | 0 };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
