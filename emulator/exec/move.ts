import { type Form, type Handler, family, Operand } from './registry.js';
import { type Operation, V, Val, lockedRmw, toG } from './operand-flow.js';
import { cond, getCF, materializeFlags, updateFlags } from './flags.js';
import { addSegment, ea, offsetOf, readReg, signExtend, writeMem, writeReg } from './operands.js';
import { Flag } from '../arch/eflags.js';
import { Reg } from '../arch/registers.js';

/** Data movement: MOV, MOVZX/MOVSX/MOVSXD, LEA, XCHG, CMOVcc, SETcc, CBW..CQO, XLAT, flag moves. */

/** MOV E,G / G,E / E,I (the accumulator-moffs and register-immediate forms decode onto these). */
export const MOV = family('mov', (form) => {
  const size = form.size;
  const fromImm = form.ops.second === Operand.IMM;
  const intoG = form.ops.first === Operand.G;
  if (!form.mem) {
    if (size === 4 && !fromImm) {
      return intoG
        ? (cpu, i) => { const d = cpu.dec; const g = d.reg[i]; cpu.lo[g] = cpu.lo[d.rm[i]]; cpu.hi[g] = 0; }
        : (cpu, i) => { const d = cpu.dec; const r = d.rm[i]; cpu.lo[r] = cpu.lo[d.reg[i]]; cpu.hi[r] = 0; };
    }
    if (size === 8 && !fromImm) {
      return (cpu, i) => {
        const d = cpu.dec;
        const dst = intoG ? d.reg[i] : d.rm[i];
        const src = intoG ? d.rm[i] : d.reg[i];
        cpu.lo[dst] = cpu.lo[src];
        cpu.hi[dst] = cpu.hi[src];
      };
    }
    if (fromImm) return (cpu, i) => { const d = cpu.dec; writeReg(cpu, d.rm[i], size, d.imm[i], d.immHi[i]); };
    return (cpu, i) => {
      const d = cpu.dec;
      const dst = intoG ? d.reg[i] : d.rm[i];
      const src = intoG ? d.rm[i] : d.reg[i];
      writeReg(cpu, dst, size, readReg(cpu, src, size), size === 8 ? cpu.hi[src] : 0);
    };
  }
  if (intoG) {
    if (size === 4) {
      // mov r32, [mem]: the interpreter's commonest load, kept out of the shared flow's call.
      return (cpu, i) => {
        const v = cpu.mem.read32(ea(cpu, i), cpu.eaHi);
        if (cpu.exc >= 0) return;
        const g = cpu.dec.reg[i];
        cpu.lo[g] = v;
        cpu.hi[g] = 0;
      };
    }
    return toG(form, copySource);
  }
  if (fromImm) {
    switch (size) {
      case 1: return (cpu, i) => { cpu.mem.write8(ea(cpu, i), cpu.eaHi, cpu.dec.imm[i]); };
      case 4: return (cpu, i) => { cpu.mem.write32(ea(cpu, i), cpu.eaHi, cpu.dec.imm[i]); };
      default: return (cpu, i) => { const d = cpu.dec; writeMem(cpu, ea(cpu, i), cpu.eaHi, size, d.imm[i], d.immHi[i]); };
    }
  }
  if (size === 4) {
    return (cpu, i) => { cpu.mem.write32(ea(cpu, i), cpu.eaHi, cpu.lo[cpu.dec.reg[i]]); };
  }
  return (cpu, i) => {
    const g = cpu.dec.reg[i];
    writeMem(cpu, ea(cpu, i), cpu.eaHi, size, readReg(cpu, g, size), size === 8 ? cpu.hi[g] : 0);
  };
});

/** The operation of a load into G: the source unchanged. */
const copySource: Operation = () => {
  V[Val.R] = V[Val.B];
  V[Val.RHI] = V[Val.BHI];
  return true;
};

/** Source size of MOVZX/MOVSX/MOVSXD: the table's size of the second operand (Eb, Ew, Ed). */
function sourceSize(form: Form): number {
  return form.ops.lastSize === 0 ? 4 : form.ops.lastSize;
}

/** MOVZX and MOVSX/MOVSXD (variant 1 = sign-extend). */
export const MOVX = family('movx', (form) => {
  const size = form.size;
  const from = sourceSize(form);
  const signed = form.variant === 1;
  const extend = (v: number): number => (signed ? signExtend(v, from) : from === 1 ? v & 0xff : from === 2 ? v & 0xffff : v);
  if (!form.mem) {
    // Register forms, common in kernel code, skip the flow's operand array and call.
    return (cpu, i) => {
      const d = cpu.dec;
      const v = extend(readReg(cpu, d.rm[i], from));
      writeReg(cpu, d.reg[i], size, v, signed ? v >> 31 : 0);
    };
  }
  return toG(form, () => {
    const v = extend(V[Val.B]);
    V[Val.R] = v;
    V[Val.RHI] = signed ? v >> 31 : 0;
    return true;
  }, from);
});

/** LEA: the offset, truncated or zero-extended to the operand size. */
export const LEA = family('lea', (form) => {
  const size = form.size;
  return (cpu, i) => {
    const lo = offsetOf(cpu, i);
    const d = cpu.dec;
    writeReg(cpu, d.reg[i], size, lo, d.asize[i] === 8 ? cpu.eaHi : 0);
  };
});

/**
 * XCHG E,G (also the accumulator forms: E = the opcode register, G = rAX). With memory it is a
 * locked cycle (SDM XCHG: locked whatever the prefix), so it runs on lockedRmw as XADD does: the
 * write to E is probed first and G changes only once E's write has landed.
 */
const exchange: Operation = () => { V[Val.R] = V[Val.B]; V[Val.RHI] = V[Val.BHI]; return true; };

export const XCHG = family('xchg', (form) => {
  const size = form.size;
  return lockedRmw(form, exchange, (cpu, i) => { writeReg(cpu, cpu.dec.reg[i], size, V[Val.A], V[Val.AHI]); }, true);
});

/** CMOVcc G,E: the source is read (and may fault) whatever the condition; a 32-bit destination is always zero-extended. */
export const CMOV = family('cmov', (form) => {
  const size = form.size;
  const cc = form.variant;
  if (!form.mem) {
    // Register forms skip the flow's operand array and call, as MOVZX's do.
    return (cpu, i) => {
      const d = cpu.dec;
      const g = d.reg[i];
      const r = d.rm[i];
      if (cond(cpu, cc)) writeReg(cpu, g, size, readReg(cpu, r, size), size === 8 ? cpu.hi[r] : 0);
      else if (size === 4) cpu.hi[g] = 0;
    };
  }
  return toG(form, (cpu) => {
    if (cond(cpu, cc)) { V[Val.R] = V[Val.B]; V[Val.RHI] = V[Val.BHI]; return true; }
    // Not taken: a 32-bit destination is still written (its own value, zero-extended).
    V[Val.R] = V[Val.A]; V[Val.RHI] = 0;
    return size === 4;
  });
});

/** SETcc Eb. */
export const SETCC = family('setcc', (form) => {
  const cc = form.variant;
  if (form.mem) return (cpu, i) => { cpu.mem.write8(ea(cpu, i), cpu.eaHi, cond(cpu, cc) ? 1 : 0); };
  return (cpu, i) => { cpu.set8(cpu.dec.rm[i], cond(cpu, cc) ? 1 : 0); };
});

/** CBW/CWDE/CDQE: sign-extend the lower half of the accumulator into all of it. */
export const CBW = family('cbw', (form) => {
  const size = form.size;
  return (cpu) => {
    const a = cpu.lo[Reg.RAX];
    if (size === 2) cpu.set16(Reg.RAX, (a << 24) >> 24);
    else if (size === 4) cpu.set32(Reg.RAX, (a << 16) >> 16);
    else cpu.hi[Reg.RAX] = a >> 31;
  };
});

/** CWD/CDQ/CQO: fill rDX with the sign of rAX. */
export const CWD = family('cwd', (form) => {
  const size = form.size;
  return (cpu) => {
    if (size === 2) cpu.set16(Reg.RDX, (cpu.lo[Reg.RAX] << 16) >> 31);
    else if (size === 4) cpu.set32(Reg.RDX, cpu.lo[Reg.RAX] >> 31);
    else { const s = cpu.hi[Reg.RAX] >> 31; cpu.lo[Reg.RDX] = s; cpu.hi[Reg.RDX] = s; }
  };
});

/** XLAT: AL = [seg:rBX + AL]. */
export const XLAT = family('xlat', (form) => {
  const asize = form.asize;
  return (cpu, i) => {
    const d = cpu.dec;
    const al = cpu.lo[Reg.RAX] & 0xff;
    let lo: number, hi = 0;
    if (asize === 8) {
      const s = (cpu.lo[Reg.RBX] >>> 0) + al;
      lo = s | 0;
      hi = (cpu.hi[Reg.RBX] + (s > 0xffffffff ? 1 : 0)) | 0;
    } else if (asize === 4) {
      lo = (cpu.lo[Reg.RBX] + al) | 0;
    } else {
      lo = (cpu.lo[Reg.RBX] + al) & 0xffff;
    }
    const v = cpu.mem.read8(addSegment(cpu, d.seg[i], lo, hi, 1), cpu.eaHi);
    // Kept: XLAT's operand is at rBX + AL, not a ModRM operand the shared flow loads.
    if (cpu.exc >= 0) return;
    cpu.set8(Reg.RAX, v);
  };
});

const LAHF_FLAGS = Flag.SF | Flag.ZF | Flag.AF | Flag.PF | Flag.CF;

export const LAHF = family('lahf', () => (cpu) => {
  cpu.set8(16 /* AH */, (materializeFlags(cpu) & LAHF_FLAGS) | Flag.FIXED1);
});

export const SAHF = family('sahf', () => (cpu) => {
  updateFlags(cpu, LAHF_FLAGS, cpu.get8(16));
});

export const enum FlagOp { CLC = 0, STC = 1, CMC = 2, CLD = 3, STD = 4 }

export const FLAGOP = family('flagop', (form) => {
  switch (form.variant as FlagOp) {
    case FlagOp.CLC: return (cpu) => { updateFlags(cpu, Flag.CF, 0); };
    case FlagOp.STC: return (cpu) => { updateFlags(cpu, Flag.CF, Flag.CF); };
    case FlagOp.CMC: return (cpu) => { updateFlags(cpu, Flag.CF, getCF(cpu) ? 0 : Flag.CF); };
    case FlagOp.CLD: return (cpu) => { cpu.flags &= ~Flag.DF; };
    default: return (cpu) => { cpu.flags |= Flag.DF; };
  }
});

export const NOP = family('nop', () => () => {});

/**
 * PAUSE (F3 90): architecturally a NOP, but it takes time (CpuModel.pauseCycles, beyond the one
 * cycle every instruction counts), so a spin-wait measured with RDTSC ends after as many
 * iterations as on the modeled CPU.
 */
export const PAUSE = family('pause', () => (cpu) => { cpu.extraCycles += cpu.model.pauseCycles - 1; });

/** BSWAP: byte-reverse a 32- or 64-bit register (the 16-bit form is undefined; it clears the low word like Intel parts). */
export const BSWAP = family('bswap', (form) => {
  const size = form.size;
  const swap = (v: number): number => ((v << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) | 0;
  return (cpu, i) => {
    const r = cpu.dec.rm[i];
    if (size === 8) {
      const lo = cpu.lo[r];
      cpu.lo[r] = swap(cpu.hi[r]);
      cpu.hi[r] = swap(lo);
    } else if (size === 4) {
      cpu.set32(r, swap(cpu.lo[r]));
    } else {
      cpu.set16(r, 0);
    }
  };
});

/** MOVBE G,M and M,G: a load or store with the bytes reversed. */
export const MOVBE = family('movbe', (form): Handler => {
  const size = form.size;
  const swap32 = (v: number): number => ((v << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) | 0;
  if (form.ops.first === Operand.G) {
    return toG(form, () => {
      const v = V[Val.B];
      if (size === 2) { V[Val.R] = ((v & 0xff) << 8) | ((v >>> 8) & 0xff); V[Val.RHI] = 0; } else if (size === 4) {
        V[Val.R] = swap32(v); V[Val.RHI] = 0;
      } else { V[Val.R] = swap32(V[Val.BHI]); V[Val.RHI] = swap32(v); }
      return true;
    });
  }
  return (cpu, i) => {
    const lo = ea(cpu, i);
    const hi = cpu.eaHi;
    const v = cpu.lo[cpu.dec.reg[i]];
    const g = cpu.dec.reg[i];
    if (size === 2) cpu.mem.write16(lo, hi, ((v & 0xff) << 8) | ((v >>> 8) & 0xff));
    else if (size === 4) cpu.mem.write32(lo, hi, swap32(v));
    else cpu.mem.write64(lo, hi, swap32(cpu.hi[g]), swap32(v));
  };
});

