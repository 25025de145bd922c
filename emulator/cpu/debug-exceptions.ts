import type { Vcpu } from './vcpu.js';
import { Flag } from '../arch/eflags.js';
import { Cr4 } from '../arch/control.js';
import { Vector } from '../arch/vectors.js';
import { Access } from '../paging/walker.js';
import { TLB_MASK } from '../hw/tlb.js';

/**
 * Debug exceptions (SDM Vol. 3 ch. 18): DR0-DR3 breakpoints enabled in DR7, single-step (TF) and
 * RF. While none is active (TF=0, RF=0, no L/G enable bit in DR7) nothing here runs: the run loop
 * tests `debugArmed` once per block. While one is, it runs one instruction at a time and calls
 * `beforeInstruction` and `afterInstruction` around it:
 *
 * - instruction breakpoints (R/W=00) are faults taken before the instruction when RF=0;
 * - data breakpoints (R/W=01 write, 11 read/write) use the paging unit's accessWatch hook: the
 *   fast TLB tags of the watched pages are cleared before each instruction, so every access to
 *   them reaches translate; an access whose first byte lies in a watched range is a hit, and the
 *   #DB is a trap after the instruction;
 * - single-step is a trap after an instruction that began with TF=1 and retired without raising
 *   an exception of its own (INT n, INT3 and ICEBP deliver theirs instead); SYSCALL and SYSRET look
 *   at TF after themselves (their handlers raise it);
 * - MOV SS and POP SS hold the traps of their instruction until after the next one (`debugBlocked`),
 *   or until the boundary after a software interrupt that next instruction raises; on Intel they
 *   also inhibit an instruction breakpoint on that next instruction;
 * - RF is cleared once an instruction retires (IRET may set it for the next one);
 * - DR6.B0-B3 report the breakpoints that matched (and are rewritten on each such #DB); BS and BD
 *   are set and never cleared by the CPU.
 * - I/O breakpoints (R/W=10, only with CR4.DE) are traps after an IN, OUT, INS or OUTS whose port
 *   range overlaps the breakpoint's (io.ts reports each access through ioAccessed).
 */

export const enum Dr6 { BD = 1 << 13, BS = 1 << 14 }
export const enum Dr7 { GD = 1 << 13 }

/** Marks Vcpu.dbPending as due before the next instruction rather than after it (not a DR6 bit). */
const DUE_AT_BOUNDARY = 1 << 30;
/** Marks Vcpu.dbPending: the previous instruction was MOV SS/POP SS (not a DR6 bit). */
const AFTER_MOV_SS = 1 << 29;
/** The DR6 bits a held trap can carry. */
const DR6_BITS = 0xffff;

/** TF or RF set, or an enabled breakpoint: the run loop must step with the hooks below. */
export function debugArmed(cpu: Vcpu): boolean {
  return (cpu.flags & (Flag.TF | Flag.RF)) !== 0 || (cpu.drLo[7] & 0xff) !== 0;
}

/** The instruction being stepped: TF and RF at its start, and the vCPU the access hook charges. */
let tfBefore = false;
let rfBefore = false;
let current: Vcpu | null = null;
/** B0-B3 of the data and I/O breakpoints the current instruction hit. */
let dataHits = 0;

const enum Rw { EXECUTE = 0, WRITE = 1, IO = 2, ACCESS = 3 }
const LENGTHS = [1, 2, 8, 4];

const enabled = (dr7: number, n: number): boolean => ((dr7 >>> (2 * n)) & 3) !== 0;
const rwOf = (dr7: number, n: number): Rw => (dr7 >>> (16 + 4 * n)) & 3;
const lengthOf = (dr7: number, n: number): number => LENGTHS[(dr7 >>> (18 + 4 * n)) & 3];

/** The paging unit's access hook while a data breakpoint is armed. */
const onAccess = (lo: number, hi: number, access: number): void => {
  const cpu = current;
  if (cpu === null || (access & Access.FETCH) !== 0) return;
  const dr7 = cpu.drLo[7];
  for (let n = 0; n < 4; n++) {
    if (!enabled(dr7, n)) continue;
    const rw = rwOf(dr7, n);
    if (rw !== Rw.ACCESS && !(rw === Rw.WRITE && (access & Access.WRITE) !== 0)) continue;
    const len = lengthOf(dr7, n);
    const base = cpu.drLo[n] & ~(len - 1);
    if (hi === cpu.drHi[n] && ((lo - base) >>> 0) < len) dataHits |= 1 << n;
  }
};

/** The stepped instruction accessed ports port..port+size-1: note the I/O breakpoints it hits. */
export function ioAccessed(cpu: Vcpu, port: number, size: number): void {
  if (current !== cpu || (cpu.cr4 & Cr4.DE) === 0) return;
  const dr7 = cpu.drLo[7];
  for (let n = 0; n < 4; n++) {
    if (!enabled(dr7, n) || rwOf(dr7, n) !== Rw.IO) continue;
    const len = lengthOf(dr7, n);
    const base = cpu.drLo[n] & 0xffff & ~(len - 1);
    if (port < base + len && base < port + size) dataHits |= 1 << n;
  }
}

/**
 * Before the instruction at linear (lo, hi): takes an instruction breakpoint (returns true after
 * raising the #DB fault: the instruction does not run) or arms the data breakpoints.
 */
export function beforeInstruction(cpu: Vcpu, lo: number, hi: number): boolean {
  tfBefore = (cpu.flags & Flag.TF) !== 0;
  rfBefore = (cpu.flags & Flag.RF) !== 0;
  dataHits = 0;
  // Held state belongs to the instruction right after the one that held it, and MOV SS sets
  // debugBlocked even while nothing is armed: drop what is stale.
  cpu.debugBlocked = false;
  if (cpu.dbPending !== 0 && cpu.dbHeldAt !== cpu.instructions) cpu.dbPending = 0;
  if ((cpu.dbPending & DUE_AT_BOUNDARY) !== 0) {
    // Traps held by MOV SS across a software interrupt: a #DB at this boundary.
    raiseDebugTrap(cpu, cpu.dbPending & DR6_BITS);
    cpu.dbPending = 0;
    return true;
  }
  current = cpu;
  const dr7 = cpu.drLo[7];
  if ((dr7 & 0xff) === 0) return false;
  let hits = 0;
  let watching = false;
  // Intel inhibits instruction breakpoints on the instruction after MOV SS/POP SS; AMD does not.
  const inhibited = (cpu.dbPending & AFTER_MOV_SS) !== 0 && cpu.model.vendor === 'GenuineIntel';
  for (let n = 0; n < 4; n++) {
    if (!enabled(dr7, n)) continue;
    const rw = rwOf(dr7, n);
    if (rw === Rw.EXECUTE) {
      if (!rfBefore && !inhibited && cpu.drLo[n] === lo && cpu.drHi[n] === hi) hits |= 1 << n;
    } else if (rw !== Rw.IO) {
      watching = true;
      const first = cpu.drLo[n];
      cpu.paging.tlb.clearFast((first >>> 12) & TLB_MASK);
      cpu.paging.tlb.clearFast((((first + lengthOf(dr7, n) - 1) | 0) >>> 12) & TLB_MASK);
    }
  }
  // A debugger's watchpoints (emulator/debug/gdb-target.ts) keep the hook while attached.
  if (watching && cpu.paging.accessWatch === null) cpu.paging.accessWatch = onAccess;
  else if (!watching && cpu.paging.accessWatch === onAccess) cpu.paging.accessWatch = null;
  if (hits !== 0) {
    cpu.drLo[6] = (cpu.drLo[6] & ~0xf) | hits;
    cpu.raise(Vector.DB);
    current = null;
    return true;
  }
  return false;
}

/** After the stepped instruction: RF, then the trap-class #DB of its data hits and single-step. */
export function afterInstruction(cpu: Vcpu): void {
  current = null;
  const tfAtEnd = cpu.tfAtEnd;
  cpu.tfAtEnd = false;
  if (cpu.exc >= 0) {
    cpu.debugBlocked = false;
    // INT n, INT3 or INTO right after MOV SS: the held traps are taken at the next boundary,
    // before the handler's first instruction (beforeInstruction), so the handler runs twice.
    if (cpu.excTrap && cpu.excSoft) {
      cpu.dbPending &= DR6_BITS;
      if (cpu.dbPending !== 0) { cpu.dbPending |= DUE_AT_BOUNDARY; cpu.dbHeldAt = cpu.instructions; }
      return;
    }
    // A fault (the instruction did not retire) or a #DB of the instruction's own (ICEBP, or
    // SYSCALL/SYSRET's single-step), which takes the held traps with it.
    cpu.dbPending = 0;
    return;
  }
  if (rfBefore) cpu.flags &= ~Flag.RF;
  let bits = dataHits | (cpu.dbPending & DR6_BITS);
  dataHits = 0;
  if (tfBefore && !tfAtEnd) bits |= Dr6.BS;
  if (cpu.debugBlocked) {
    cpu.debugBlocked = false;
    cpu.dbPending = bits | AFTER_MOV_SS;
    cpu.dbHeldAt = cpu.instructions;
    return;
  }
  cpu.dbPending = 0;
  if (bits !== 0) raiseDebugTrap(cpu, bits);
}

/** A trap-class #DB reporting `bits` in DR6 (B0-B3 rewritten when any is set; BS added). */
function raiseDebugTrap(cpu: Vcpu, bits: number): void {
  cpu.drLo[6] = (bits & 0xf) !== 0 ? (cpu.drLo[6] & ~0xf) | bits : cpu.drLo[6] | bits;
  cpu.raiseTrap(Vector.DB, false);
  // If delivery faults, the saved RIP stays where it is (no rewind as for INT n).
  cpu.trapInsnLo = cpu.ripLo;
  cpu.trapInsnHi = cpu.ripHi;
}

/** SYSCALL/SYSRET: single-step looks at TF after the instruction (KVM's and hardware's rule). */
export function trapIfTfAfter(cpu: Vcpu): void {
  cpu.tfAtEnd = true;
  if ((cpu.flags & Flag.TF) === 0) return;
  cpu.drLo[6] |= Dr6.BS;
  cpu.raiseTrap(Vector.DB, false);
}

/** MOV to/from a debug register with DR7.GD=1: a #DB fault with DR6.BD; GD clears for the handler. */
export function generalDetect(cpu: Vcpu): boolean {
  if ((cpu.drLo[7] & Dr7.GD) === 0) return false;
  cpu.drLo[6] |= Dr6.BD;
  cpu.drLo[7] &= ~Dr7.GD;
  cpu.raise(Vector.DB);
  return true;
}
