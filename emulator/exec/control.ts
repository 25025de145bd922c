import type { Vcpu } from '../cpu/vcpu.js';
import { CpuMode } from '../cpu/vcpu.js';
import { checkedFamily, family, Operand } from './registry.js';
import { Check } from './checks.js';
import { V, Val, toE } from './operand-flow.js';
import { cond, getZF } from './flags.js';
import { farOffHi, farOffLo, farSel, readFarPointer } from './far-pointer.js';
import { movedSp, peek, poppedHi, push, setSp, spHi } from './stack-ops.js';
import { Reg, Seg } from '../arch/registers.js';
import { isCanonical } from '../arch/u64.js';
import { Vector } from '../arch/vectors.js';
import { Flag } from '../arch/eflags.js';
import { farJump, farCall, farReturn, interruptReturn } from '../cpu/far-transfer.js';

/**
 * Control transfer: JMP, Jcc, CALL, RET, LOOP/LOOPcc/JrCXZ, far JMP/CALL/RET, IRET, INT n, INT3,
 * INTO, INT1 (SDM Vol. 2). A near target is truncated to the operand size; in 64-bit mode a
 * non-canonical target raises #GP(0) at the branch (Intel behaviour), elsewhere a target beyond the
 * CS limit does. The run loop ends a decoded block at every control transfer.
 */

/** Linear-address width for canonical checks. */
export function vaBits(cpu: Vcpu): number {
  return cpu.paging.ctx.format.vaBits || 48;
}

/** Sets RIP to a near target of operand size `size`, with the checks above. */
export function branchTo(cpu: Vcpu, lo: number, hi: number, size: number): boolean {
  if (size === 8) {
    if (!isCanonical(lo, hi, vaBits(cpu))) { cpu.raiseGp(0); return false; }
  } else {
    hi = 0;
    if (size === 2) lo &= 0xffff;
    if ((cpu.segCheck & (1 << Seg.CS)) !== 0 && (lo >>> 0) > cpu.seg.limit[Seg.CS]) { cpu.raiseGp(0); return false; }
  }
  cpu.ripLo = lo;
  cpu.ripHi = hi;
  return true;
}

/** Next RIP plus a signed displacement; high half in relHi. */
let relHi = 0;
function relative(cpu: Vcpu, disp: number): number {
  const s = (cpu.ripLo >>> 0) + disp;
  relHi = (cpu.ripHi + (s > 0xffffffff ? 1 : s < 0 ? -1 : 0)) | 0;
  return s | 0;
}

/** JMP rel8/rel32. */
export const JMP_REL = family('jmp-rel', (form) => {
  const size = form.size;
  if (size === 8) {
    return (cpu, i) => {
      const lo = relative(cpu, cpu.dec.imm[i]);
      if (relHi === cpu.ripHi) cpu.ripLo = lo; else branchTo(cpu, lo, relHi, 8);
    };
  }
  return (cpu, i) => { branchTo(cpu, (cpu.ripLo + cpu.dec.imm[i]) | 0, 0, size); };
});

/** Jcc rel8/rel32 (variant = condition code). */
export const JCC = family('jcc', (form) => {
  const size = form.size;
  const cc = form.variant;
  if (size === 8) {
    return (cpu, i) => {
      if (!cond(cpu, cc)) return;
      const lo = relative(cpu, cpu.dec.imm[i]);
      if (relHi === cpu.ripHi) cpu.ripLo = lo; else branchTo(cpu, lo, relHi, 8);
    };
  }
  return (cpu, i) => {
    if (cond(cpu, cc)) branchTo(cpu, (cpu.ripLo + cpu.dec.imm[i]) | 0, 0, size);
  };
});

/**
 * JMP E (near indirect). E is loaded on the shared flow (operand-flow.ts toE, as CMP's: a faulting
 * load ends the instruction there, nothing is written back), the target is V[Val.A]/V[Val.AHI].
 */
export const JMP_IND = family('jmp-ind', (form) => {
  const size = form.size;
  return toE(form, (cpu) => { branchTo(cpu, V[Val.A], V[Val.AHI], size); return false; }, false);
});

/** CALL rel32: push the return address, then jump. */
export const CALL_REL = family('call-rel', (form) => {
  const size = form.size;
  return (cpu, i) => {
    const retLo = cpu.ripLo;
    const retHi = cpu.ripHi;
    let lo: number, hi: number;
    if (size === 8) { lo = relative(cpu, cpu.dec.imm[i]); hi = relHi; } else { lo = (retLo + cpu.dec.imm[i]) | 0; hi = 0; }
    if (size === 8 && hi !== retHi && !isCanonical(lo, hi, vaBits(cpu))) { cpu.raiseGp(0); return; }
    if (!push(cpu, size, retLo, retHi)) return;
    if (!branchTo(cpu, lo, hi, size)) setSp(cpu, movedSp(cpu, size), spHi);
  };
});

/** CALL E (near indirect), E loaded on the shared flow as for JMP E. */
export const CALL_IND = family('call-ind', (form) => {
  const size = form.size;
  return toE(form, (cpu) => {
    const lo = V[Val.A];
    const hi = V[Val.AHI];
    if (size === 8 && !isCanonical(lo, hi, vaBits(cpu))) { cpu.raiseGp(0); return false; }
    if (!push(cpu, size, cpu.ripLo, cpu.ripHi)) return false;
    if (!branchTo(cpu, lo, hi, size)) setSp(cpu, movedSp(cpu, size), spHi);
    return false;
  }, false);
});

/** RET and RET imm16 (near). */
export const RET = family('ret', (form) => {
  const size = form.size;
  const withImm = form.ops.first === Operand.IMM;
  return (cpu, i) => {
    const lo = peek(cpu, 0, size);
    // Kept: RET is hot (every return), and rSP moves only once the branch succeeded.
    if (cpu.exc >= 0) return;
    const hi = size === 8 ? poppedHi : 0;
    if (!branchTo(cpu, lo, hi, size)) return;
    setSp(cpu, movedSp(cpu, size + (withImm ? cpu.dec.imm[i] & 0xffff : 0)), spHi);
  };
});

export const enum LoopOp { LOOPNE = 0, LOOPE = 1, LOOP = 2, JRCXZ = 3 }

/** LOOP/LOOPE/LOOPNE decrement the count register of the address size; JrCXZ tests it. */
export const LOOP = family('loop', (form) => {
  const size = form.size;
  const asize = form.asize;
  const op = form.variant as LoopOp;
  return (cpu, i) => {
    let zero: boolean;
    if (op === LoopOp.JRCXZ) {
      zero = asize === 8 ? cpu.lo[Reg.RCX] === 0 && cpu.hi[Reg.RCX] === 0
        : asize === 4 ? cpu.lo[Reg.RCX] === 0 : (cpu.lo[Reg.RCX] & 0xffff) === 0;
      if (!zero) return;
    } else {
      if (asize === 8) {
        const lo = (cpu.lo[Reg.RCX] - 1) | 0;
        if (lo === -1) cpu.hi[Reg.RCX] = (cpu.hi[Reg.RCX] - 1) | 0;
        cpu.lo[Reg.RCX] = lo;
        zero = lo === 0 && cpu.hi[Reg.RCX] === 0;
      } else if (asize === 4) {
        cpu.set32(Reg.RCX, (cpu.lo[Reg.RCX] - 1) | 0);
        zero = cpu.lo[Reg.RCX] === 0;
      } else {
        cpu.set16(Reg.RCX, cpu.lo[Reg.RCX] - 1);
        zero = (cpu.lo[Reg.RCX] & 0xffff) === 0;
      }
      if (zero) return;
      if (op === LoopOp.LOOPE && getZF(cpu) === 0) return;
      if (op === LoopOp.LOOPNE && getZF(cpu) !== 0) return;
    }
    const lo = relative(cpu, cpu.dec.imm[i]);
    branchTo(cpu, size === 8 ? lo : (cpu.ripLo + cpu.dec.imm[i]) | 0, size === 8 ? relHi : 0, size);
  };
});

/** A far pointer operand, read by farTarget: offset (lo, hi) and selector. */
let targetOffLo = 0;
let targetOffHi = 0;
let targetSel = 0;

/**
 * Reads the far pointer of JMP/CALL FAR: ptr16:16/32 from the instruction ("Ap") or m16:16/32/64
 * from memory ("Mp"). Returns false if reading it faulted.
 */
function farTarget(cpu: Vcpu, i: number, size: number, fromMem: boolean): boolean {
  const d = cpu.dec;
  targetOffHi = 0;
  if (fromMem) {
    if (!readFarPointer(cpu, i, size)) return false;
    targetOffLo = farOffLo;
    targetOffHi = farOffHi;
    targetSel = farSel;
  } else {
    targetOffLo = d.imm[i];
    targetSel = d.imm2[i] & 0xffff;
  }
  if (size === 2) targetOffLo &= 0xffff;
  return true;
}

/** JMP FAR ptr16:16/32 ("Ap") and JMP FAR m16:16/32/64 ("Mp"). */
export const JMP_FAR = family('jmp-far', (form) => {
  const size = form.size;
  const fromMem = form.ops.first === Operand.E;
  return (cpu, i) => {
    if (farTarget(cpu, i, size, fromMem)) farJump(cpu, targetSel, targetOffLo, targetOffHi, size);
  };
});

/** CALL FAR ptr16:16/32 and m16:16/32/64. */
export const CALL_FAR = family('call-far', (form) => {
  const size = form.size;
  const fromMem = form.ops.first === Operand.E;
  return (cpu, i) => {
    if (farTarget(cpu, i, size, fromMem)) farCall(cpu, targetSel, targetOffLo, targetOffHi, size);
  };
});

/** RETF and RETF imm16. */
export const RET_FAR = family('ret-far', (form) => {
  const size = form.size;
  const withImm = form.ops.first === Operand.IMM;
  return (cpu, i) => { farReturn(cpu, size, withImm ? cpu.dec.imm[i] & 0xffff : 0); };
});

/** IRET/IRETD/IRETQ. */
export const IRET = checkedFamily('iret', Check.VM86_IOPL, (form) => {
  const size = form.size;
  return (cpu) => { interruptReturn(cpu, size); };
});

export const enum IntOp { INT3 = 0, INTN = 1, INTO = 2, INT1 = 3 }

/** Software interrupts: delivered by the run loop with the next instruction as the return address. */
export const INT = family('int', (form) => {
  // One closure per kind, chosen when the form's handler is built.
  switch (form.variant as IntOp) {
    case IntOp.INT3: return (cpu) => { cpu.raiseTrap(Vector.BP, true); };
    case IntOp.INTN: return (cpu, i) => { cpu.raiseTrap(cpu.dec.imm[i] & 0xff, true); };
    case IntOp.INTO: return (cpu) => { if ((cpu.getFlags() & Flag.OF) !== 0) cpu.raiseTrap(Vector.OF, true); };
    default: return (cpu) => { cpu.raiseTrap(Vector.DB, false); }; // INT1/ICEBP: a trap like a hardware #DB
  }
});

export { CpuMode };
