import type { Vcpu } from './vcpu.js';
import { CpuMode, Stop, UNSUPPORTED } from './vcpu.js';
import { HANDLERS } from '../exec/registry.js';
import { CROSSES_PAGE, type CodeCache } from '../decode/code-cache.js';
import { REGION_POSITION, REGION_SHIFT } from '../decode/block-compiler.js';
import type { DecodeContext } from '../decode/decoder.js';
import { deliverEvent } from './interrupts.js';
import { applyInit, applyStartup } from './init-reset.js';
import { Flag } from '../arch/eflags.js';
import { Seg } from '../arch/registers.js';
import { FaultClass, Vector, faultClass } from '../arch/vectors.js';
import type { Tracer } from './tracer.js';
import { afterInstruction, beforeInstruction, debugArmed } from './debug-exceptions.js';
import { nothingToService } from './service-check.js';
import { JIT_STATS, noteCompiled, noteEntry } from '../jit/stats.js';
import { regionExit } from '../jit/region.js';

/**
 * The run loop: fetch the block at RIP from the code cache (decoding it on a miss), run its
 * instructions, and between blocks deliver exceptions and interrupts. One instruction retires per
 * handler call unless it faults; a fault restores RIP to the faulting instruction before delivery.
 */

export const enum SliceEnd {
  /** The instruction budget ran out. */
  BUDGET = 0,
  /** HLT with nothing to wake the CPU now; the machine may advance time and resume. */
  HALTED = 1,
  /** The machine must stop: debug exit, triple fault or an unsupported operation. */
  STOPPED = 2,
}

export const enum StopReason { NONE = 0, TRIPLE_FAULT = 1, UNSUPPORTED = 2, REQUESTED = 3 }

/** Per-vCPU run-loop state the machine inspects when a slice ends. */
export class RunState {
  stopReason = StopReason.NONE;
  /** Description of an unsupported operation, with the instruction that asked for it. */
  detail = '';
  /** RIP (lo, hi) and host address of the instruction that stopped the machine, for reports. */
  stopRipLo = 0;
  stopRipHi = 0;
  tripleFaultVectors: number[] = [];
  /**
   * Events (exceptions, interrupts, NMIs) delivered with no instruction retired since the one
   * before: a handler that faults at once (a #UD handler that is UD2) loops without retiring
   * anything, so each such delivery counts as one toward the instruction limit (the scheduler
   * resets this at the start of a run).
   */
  uncountedEvents = 0;
  /** cpu.instructions at the last event delivered. */
  lastEventAt = -1;
}

/** Decode context of the running vCPU; `bits` follows the code segment. */
const decodeCtx: { bits: number; model: DecodeContext['model'] } = { bits: 64, model: undefined as unknown as DecodeContext['model'] };
const crossBytes = new Uint8Array(16);

export function runSlice(cpu: Vcpu, code: CodeCache, state: RunState, budget: number, tracer: Tracer | null): SliceEnd {
  const H = HANDLERS;
  const d = cpu.dec;
  // The record arrays never change (decode/store.ts): locals, not a property load per instruction.
  const dStart = d.start;
  const dLen = d.len;
  const dHandler = d.handler;
  const bf = code.blockFirst;
  const bc = code.blockCount;
  decodeCtx.model = cpu.model;
  code.fetchView = cpu;
  let left = budget;
  while (left > 0) {
    if (cpu.stop !== 0) {
      const uncounted = state.uncountedEvents;
      const r = serviceEvents(cpu, state);
      if (r !== SERVICE_CONTINUE) return r;
      left -= state.uncountedEvents - uncounted;
      if (left <= 0) break;
    }
    // The linear address of RIP: CS.base + EIP outside 64-bit mode, with the CS limit check.
    let lo = cpu.ripLo;
    let hi = cpu.ripHi;
    if (cpu.mode !== CpuMode.LONG64) {
      if ((cpu.segCheck & (1 << Seg.CS)) !== 0 && (lo >>> 0) > cpu.seg.limit[Seg.CS]) { cpu.raiseGp(0); continue; }
      lo = (lo + cpu.seg.baseLo[Seg.CS]) | 0;
      hi = 0;
    }
    const host = cpu.mem.fetchHost(lo, hi);
    if (host < 0) {
      if (host === -2) left -= runUncached(cpu, code, lo, hi, tracer);
      continue; // a fetch fault is serviced at the top of the loop
    }
    let b = code.lookup(host, cpu.codeBits);
    if (b === 0) {
      const x = code.crossingAt(host, cpu.codeBits);
      if (x >= 0 && tracer === null) {
        left -= runKeptCrossing(cpu, code, x, lo, hi);
        continue;
      }
      decodeCtx.bits = cpu.codeBits;
      b = code.decodeBlock(host, decodeCtx);
      if (b === CROSSES_PAGE) {
        left -= runUncached(cpu, code, lo, hi, tracer);
        continue;
      }
    }
    let first = bf[b];
    // Debug registers, TF or RF in use: one instruction at a time with the #DB checks around it.
    const debugging = debugArmed(cpu);
    if (debugging && beforeInstruction(cpu, lo, hi)) continue;
    const stepping = cpu.interruptShadow || debugging;
    // Never run past the budget: --max-insns stops at exactly that count.
    const length = stepping ? 1 : Math.min(bc[b], left);
    let end = first + length;
    if (stepping) cpu.interruptShadow = false;
    const startLo = cpu.ripLo;
    let base = (startLo >>> 0) - d.start[first];
    const ripHi = cpu.ripHi;
    cpu.blockFirst = first;
    const compiled = code.blockFn[b];
    const useCompiled = compiled !== undefined && length === bc[b] && !stepping && tracer === null && base < 0xffffe000;
    let moved = false;
    // A block that branches back to its own start runs again without a fetch or lookup while
    // nothing has set cpu.stop: the mapping of its code cannot have changed in between.
    do {
      let i: number;
      if (useCompiled) {
        // A translated loop may run whole extra iterations inside the call; it counts them in
        // cpu.instructions and never runs past the budget (jit/translate.ts).
        const before = cpu.instructions;
        const k = compiled(cpu, left);
        left -= cpu.instructions - before;
        if (k > REGION_POSITION) {
          // It went on into another block of its region and stopped there (jit/translate.ts): that
          // block is accounted for here; cpu.blockFirst names it, the high bits give its length,
          // and its first byte lies regionExit.delta bytes from the entry block's (jit/region.ts).
          base += regionExit.delta + d.start[first] - d.start[cpu.blockFirst];
          first = cpu.blockFirst;
          end = first + (k >>> REGION_SHIFT);
          moved = true;
        }
        i = first + (k & REGION_POSITION);
        if (JIT_STATS) noteCompiled(d, i, end, cpu.instructions - before + (i - first));
      } else {
        code.countRun(b);
        for (i = first; i < end; i++) {
          if (tracer !== null) tracer.record(cpu, i, base, host - (d.start[first] & 0xfff));
          const next = base + dStart[i] + dLen[i];
          cpu.ripLo = next | 0;
          if (next > 0xffffffff) cpu.ripHi = cpu.mode === CpuMode.LONG64 ? ripHi + 1 : 0;
          H[dHandler[i]](cpu, i);
          if (cpu.stop !== 0) break;
        }
      }
      let retired: number;
      if (i < end) {
        if (cpu.exc >= 0 && (!cpu.excTrap || cpu.exc === UNSUPPORTED)) {
          // A fault: the instruction did not retire and RIP points at it again.
          cpu.ripLo = (base + d.start[i]) | 0;
          cpu.ripHi = ripHi;
          retired = i - first;
        } else {
          // Stopped after instruction i retired. Unless it ended the block (and may have branched),
          // RIP is the next instruction; compiled blocks do not store it for every instruction.
          if (i < end - 1) cpu.ripLo = (base + d.start[i] + d.len[i]) | 0;
          // A trap (INT n): if its delivery faults, that fault belongs to the INT instruction.
          if (cpu.exc >= 0) { cpu.trapInsnLo = (base + d.start[i]) | 0; cpu.trapInsnHi = ripHi; }
          retired = i - first + 1;
        }
      } else {
        retired = end - first;
      }
      cpu.instructions += retired;
      if (JIT_STATS) noteEntry(code, b, useCompiled ? 0 : retired);
      cpu.inBlock = 0;
      left -= retired;
    } while (!moved && cpu.stop === 0 && left >= length && !stepping && cpu.ripLo === startLo && cpu.ripHi === ripHi);
    if (debugging) afterInstruction(cpu);
    if (stepping) cpu.stop |= Stop.EVENT; // the shadow is over: look for interrupts now
  }
  return SliceEnd.BUDGET;
}

/**
 * An instruction that is not run from the decoded-block cache: one whose bytes continue on the
 * next page, or one fetched from MMIO (the bus supplies the bytes; unassigned space reads as all
 * ones, which decodes to an undefined opcode and #UD, as on a PC). Its bytes are gathered page by
 * page, so the next page is only fetched (and may only page-fault, with CR2 on that page) when
 * the instruction really continues there. Decoded into the scratch record and run once.
 */
function runUncached(cpu: Vcpu, code: CodeCache, lo: number, hi: number, tracer: Tracer | null): number {
  const debugging = debugArmed(cpu);
  if (debugging && beforeInstruction(cpu, lo, hi)) return 0;
  const n = runUncachedInsn(cpu, code, lo, hi, tracer);
  if (debugging) afterInstruction(cpu);
  return n;
}

function runUncachedInsn(cpu: Vcpu, code: CodeCache, lo: number, hi: number, tracer: Tracer | null): number {
  const inFirst = Math.min(15, 4096 - (lo & 0xfff));
  const host = fetchBytes(cpu, lo, hi, inFirst, 0);
  if (host === -1) return 0;
  decodeCtx.bits = cpu.codeBits;
  let len = code.decodeScratch(crossBytes, inFirst, lo & 0xfff, decodeCtx);
  if (len < 0) {
    const nextLo = (lo + inFirst) | 0;
    const nextHi = (lo >>> 0) + inFirst > 0xffffffff ? (cpu.mode === CpuMode.LONG64 ? hi + 1 : 0) : hi;
    const nextHost = fetchBytes(cpu, nextLo, nextHi, 15 - inFirst, inFirst);
    if (nextHost === -1) return 0;
    len = code.decodeScratch(crossBytes, 15, lo & 0xfff, decodeCtx);
    // Both parts in RAM: decoded once more into a record of its own for the next runs.
    if (host >= 0 && nextHost >= 0 && tracer === null) code.keepCrossing(host, nextHost, crossBytes, lo & 0xfff, decodeCtx);
  }
  if (tracer !== null) tracer.recordBytes(cpu, crossBytes, cpu.dec.len[0]);
  const n = runRecord(cpu, 0);
  cpu.stop |= Stop.CONTEXT; // the scratch record is reused: never continue from it
  return n;
}

/**
 * A kept page-crossing instruction (CodeCache.keepCrossing) whose first page is unchanged: the
 * next page is fetched as the uncached path would (it may fault, with CR2 there), and if it now
 * maps other or changed bytes the instruction is gathered and decoded anew.
 */
function runKeptCrossing(cpu: Vcpu, code: CodeCache, x: number, lo: number, hi: number): number {
  const debugging = debugArmed(cpu);
  if (debugging && beforeInstruction(cpu, lo, hi)) return 0;
  const inFirst = 4096 - (lo & 0xfff);
  const nextHost = cpu.mem.fetchHost((lo + inFirst) | 0, (lo >>> 0) + inFirst > 0xffffffff ? (cpu.mode === CpuMode.LONG64 ? hi + 1 : 0) : hi);
  if (nextHost === -1) return 0; // the first page's bytes say the instruction continues there
  const r = nextHost >= 0 ? code.crossingRecord(x, nextHost) : -1;
  const n = r >= 0 ? runRecord(cpu, r) : runUncachedInsn(cpu, code, lo, hi, null);
  if (debugging) afterInstruction(cpu);
  return n;
}

/** Runs decoded record r as the instruction at RIP on its own; returns the instructions retired (0 after a fault). */
function runRecord(cpu: Vcpu, r: number): number {
  const d = cpu.dec;
  const base = (cpu.ripLo >>> 0) - d.start[r];
  const ripLo = cpu.ripLo;
  const ripHi = cpu.ripHi;
  const next = base + d.start[r] + d.len[r];
  cpu.ripLo = next | 0;
  if (next > 0xffffffff) cpu.ripHi = cpu.mode === CpuMode.LONG64 ? ripHi + 1 : 0;
  cpu.blockFirst = r;
  if (cpu.interruptShadow) { cpu.interruptShadow = false; cpu.stop |= Stop.EVENT; }
  HANDLERS[d.handler[r]](cpu, r);
  cpu.inBlock = 0;
  if (cpu.exc >= 0 && (!cpu.excTrap || cpu.exc === UNSUPPORTED)) {
    cpu.ripLo = ripLo;
    cpu.ripHi = ripHi;
    return 0;
  }
  if (cpu.exc >= 0) { cpu.trapInsnLo = ripLo; cpu.trapInsnHi = ripHi; }
  cpu.instructions++;
  return 1;
}

/**
 * Copies `count` instruction bytes of one page into crossBytes[at..]. Returns the page's host
 * address, -2 if the bytes came from MMIO, -1 after a fetch fault.
 */
function fetchBytes(cpu: Vcpu, lo: number, hi: number, count: number, at: number): number {
  const host = cpu.mem.fetchHost(lo, hi);
  if (host === -1) return -1;
  if (host >= 0) {
    // At most 15 bytes: a loop, not a subarray view allocated per page-crossing instruction.
    const bytes = cpu.mem.bytes;
    for (let k = 0; k < count; k++) crossBytes[at + k] = bytes[host + k];
    return host;
  }
  for (let k = 0; k < count; k++) crossBytes[at + k] = cpu.paging.readTranslated((lo + k) | 0, 1);
  return -2;
}

const SERVICE_CONTINUE = -1 as SliceEnd;

/** Between blocks: deliver a pending exception, take an interrupt, or report a halt or stop. */
function serviceEvents(cpu: Vcpu, state: RunState): SliceEnd {
  if (state.stopReason === StopReason.NONE && nothingToService(cpu)) {
    cpu.stop = 0;
    return SERVICE_CONTINUE;
  }
  const deadline = (cpu.stop & Stop.DEADLINE) !== 0;
  cpu.stop = 0;
  if (cpu.insnEmulated) {
    // The instruction the hypervisor emulated is over (or faulted): the VM entry after it.
    cpu.insnEmulated = false;
    cpu.paging.endInstructionEmulation();
  }
  // INIT and STARTUP from the APIC, taken at this instruction boundary. A CPU in wait-for-SIPI
  // runs nothing and takes no other event until a STARTUP arrives.
  if (cpu.initPending) {
    cpu.initPending = false;
    applyInit(cpu);
  }
  if (cpu.waitForSipi) {
    if (cpu.sipiVector < 0) return SliceEnd.HALTED;
    applyStartup(cpu, cpu.sipiVector);
  }
  if (cpu.forcedExitPending) {
    cpu.forcedExitPending = false;
    cpu.platform.forcedExit(cpu);
  }
  if (cpu.exc === Vector.UD && cpu.platform.interceptUd !== undefined && cpu.platform.interceptUd(cpu)) {
    // KVM took the #UD and emulates the next instruction within that exit: nothing comes first.
    cpu.exc = -1;
    return SERVICE_CONTINUE;
  }
  if (cpu.exc >= 0) {
    if (cpu.exc === UNSUPPORTED) {
      state.stopReason = StopReason.UNSUPPORTED;
      state.detail = cpu.unsupportedReason ?? 'unsupported operation';
      state.stopRipLo = cpu.ripLo;
      state.stopRipHi = cpu.ripHi;
      cpu.exc = -1;
      return SliceEnd.STOPPED;
    }
    if (!deliverException(cpu, state)) return SliceEnd.STOPPED;
    noteEvent(cpu, state);
  }
  if (state.stopReason !== StopReason.NONE) return SliceEnd.STOPPED;
  // NMI: not masked by IF, blocked from its delivery until the next IRET (SDM Vol. 3 6.7.1).
  if (cpu.nmiPending && !cpu.nmiBlocked && !cpu.interruptShadow) {
    cpu.nmiPending = false;
    cpu.nmiBlocked = true;
    cpu.halted = false;
    if (!deliverEvent(cpu, Vector.NMI, -1, false, true)) {
      cpu.excTrap = false;
      if (!deliverException(cpu, state)) return SliceEnd.STOPPED;
    }
    noteEvent(cpu, state);
  }
  if (!cpu.interruptShadow && (cpu.flags & Flag.IF) !== 0) {
    const vector = cpu.platform.pendingInterrupt(cpu, true);
    if (vector >= 0) {
      cpu.halted = false;
      if (!deliverEvent(cpu, vector, -1, false, true)) {
        cpu.excTrap = false;
        if (!deliverException(cpu, state)) return SliceEnd.STOPPED;
      }
      noteEvent(cpu, state);
    }
  }
  if (cpu.halted) return SliceEnd.HALTED;
  // A device scheduled an event before this slice's end: return so the machine fires it on time.
  if (deadline) return SliceEnd.BUDGET;
  return SERVICE_CONTINUE;
}

/** Counts a delivery that follows the previous one with no instruction retired (RunState.uncountedEvents). */
function noteEvent(cpu: Vcpu, state: RunState): void {
  if (cpu.instructions === state.lastEventAt) state.uncountedEvents++;
  state.lastEventAt = cpu.instructions;
}

/**
 * Delivers cpu.exc, escalating per SDM Vol. 3 Table 6-5 when delivery itself faults: two
 * contributory exceptions, or a page fault followed by a page fault or contributory exception,
 * make a double fault; a fault while delivering #DF is a triple fault (shutdown). Returns false on
 * a triple fault or an unsupported operation.
 */
function deliverException(cpu: Vcpu, state: RunState): boolean {
  let vector = cpu.exc;
  let code = cpu.excHasCode ? cpu.excCode : -1;
  let soft = cpu.excSoft;
  let ext = false;
  const trap = cpu.excTrap;
  let chain: number[] | undefined;
  cpu.exc = -1;
  // A fault pushes RF=1 so that IRET does not retrigger an instruction breakpoint on the faulting
  // instruction (SDM Vol. 3 18.3.1.1); #DB faults (instruction breakpoints, general detect) do not.
  if (!trap && vector !== Vector.DB) cpu.flags |= Flag.RF;
  for (;;) {
    if (deliverEvent(cpu, vector, code, soft, ext)) {
      cpu.halted = false;
      return true;
    }
    const second = cpu.exc;
    cpu.exc = -1;
    if (second === UNSUPPORTED) {
      state.stopReason = StopReason.UNSUPPORTED;
      state.detail = cpu.unsupportedReason ?? 'unsupported operation';
      return false;
    }
    // A fault while delivering INT n, INT3 or INTO is a fault of that instruction (SDM Vol. 3
    // 6.5): the saved RIP goes back to it. A debug trap (single-step, data breakpoint, ICEBP)
    // belongs to the instruction boundary after it: RIP stays.
    if (trap && soft && chain === undefined) {
      cpu.ripLo = cpu.trapInsnLo;
      cpu.ripHi = cpu.trapInsnHi;
    }
    // The chain lists each exception whose delivery was attempted, then the one that ended it.
    chain ??= [vector];
    if (vector === Vector.DF) {
      chain.push(second);
      state.stopReason = StopReason.TRIPLE_FAULT;
      state.tripleFaultVectors = chain;
      state.stopRipLo = cpu.ripLo;
      state.stopRipHi = cpu.ripHi;
      return false;
    }
    const first = faultClass(vector);
    const next = faultClass(second);
    if ((first === FaultClass.CONTRIBUTORY && next === FaultClass.CONTRIBUTORY) ||
      (first === FaultClass.PAGE_FAULT && next !== FaultClass.BENIGN)) {
      vector = Vector.DF;
      code = 0;
    } else {
      vector = second;
      code = cpu.excHasCode ? cpu.excCode : -1;
    }
    chain.push(vector);
    soft = false;
    ext = true;
  }
}
