import type { Vcpu } from '../cpu/vcpu.js';
import { type Form, type Handler, family } from './registry.js';
import { LfOp, getCF, setLazy, setLazy64 } from './flags.js';
import { ea, readMem, readReg, writeMem, writeReg } from './operands.js';

/**
 * The eight ALU operations of opcodes 00-3F and group 1 (ADD OR ADC SBB AND SUB XOR CMP), TEST,
 * INC, DEC, NOT and NEG (SDM Vol. 2). Memory destinations are written before flags are recorded,
 * so a faulting write leaves RFLAGS untouched.
 */
export const enum AluOp { ADD = 0, OR = 1, ADC = 2, SBB = 3, AND = 4, SUB = 5, XOR = 6, CMP = 7 }

/** High half of the last 64-bit result. */
let resultHi = 0;

function compute(op: AluOp, a: number, b: number, cin: number): number {
  switch (op) {
    case AluOp.ADD: return (a + b) | 0;
    case AluOp.OR: return a | b;
    case AluOp.ADC: return (a + b + cin) | 0;
    case AluOp.SBB: return (a - b - cin) | 0;
    case AluOp.AND: return a & b;
    case AluOp.XOR: return a ^ b;
    default: return (a - b) | 0;
  }
}

function compute64(op: AluOp, alo: number, ahi: number, blo: number, bhi: number, cin: number): number {
  switch (op) {
    case AluOp.ADD: case AluOp.ADC: {
      const s = (alo >>> 0) + (blo >>> 0) + cin;
      resultHi = (ahi + bhi + (s > 0xffffffff ? 1 : 0)) | 0;
      return s | 0;
    }
    case AluOp.OR: resultHi = ahi | bhi; return alo | blo;
    case AluOp.AND: resultHi = ahi & bhi; return alo & blo;
    case AluOp.XOR: resultHi = ahi ^ bhi; return alo ^ blo;
    default: { // SUB, SBB, CMP
      const s = (alo >>> 0) - (blo >>> 0) - cin;
      resultHi = (ahi - bhi - (s < 0 ? 1 : 0)) | 0;
      return s | 0;
    }
  }
}

const LF: readonly LfOp[] = [LfOp.ADD, LfOp.LOGIC, LfOp.ADC, LfOp.SBB, LfOp.LOGIC, LfOp.SUB, LfOp.LOGIC, LfOp.SUB];

function carryIn(cpu: Vcpu, op: AluOp): number {
  return op === AluOp.ADC || op === AluOp.SBB ? getCF(cpu) : 0;
}

function record(cpu: Vcpu, op: AluOp, size: number, a: number, b: number, r: number, cin: number): void {
  cpu.lfAux = cin;
  setLazy(cpu, LF[op], size, a, b, r);
}

/** Builds a handler for `op dst, src` where dst is E or G and src is G, E or an immediate. */
function binary(form: Form, op: AluOp): Handler {
  const size = form.size;
  const pattern = form.pattern;
  const srcImm = pattern.endsWith(',I');
  const dstIsG = pattern.startsWith('G');
  const writes = op !== AluOp.CMP;
  if (size === 8) return form.mem ? binary64Mem(op, srcImm, dstIsG, writes) : binary64Reg(op, srcImm, dstIsG, writes);
  if (!form.mem) {
    if (size === 4) {
      if (srcImm) {
        return (cpu, i) => {
          const d = cpu.dec;
          const r = d.rm[i];
          const a = cpu.lo[r];
          const b = d.imm[i];
          const cin = carryIn(cpu, op);
          const res = compute(op, a, b, cin);
          if (writes) { cpu.lo[r] = res; cpu.hi[r] = 0; }
          record(cpu, op, 4, a, b, res, cin);
        };
      }
      if (dstIsG) {
        return (cpu, i) => {
          const d = cpu.dec;
          const dst = d.reg[i];
          const a = cpu.lo[dst];
          const b = cpu.lo[d.rm[i]];
          const cin = carryIn(cpu, op);
          const res = compute(op, a, b, cin);
          if (writes) { cpu.lo[dst] = res; cpu.hi[dst] = 0; }
          record(cpu, op, 4, a, b, res, cin);
        };
      }
      return (cpu, i) => {
        const d = cpu.dec;
        const dst = d.rm[i];
        const a = cpu.lo[dst];
        const b = cpu.lo[d.reg[i]];
        const cin = carryIn(cpu, op);
        const res = compute(op, a, b, cin);
        if (writes) { cpu.lo[dst] = res; cpu.hi[dst] = 0; }
        record(cpu, op, 4, a, b, res, cin);
      };
    }
    return (cpu, i) => {
      const d = cpu.dec;
      const dst = dstIsG ? d.reg[i] : d.rm[i];
      const a = readReg(cpu, dst, size);
      const b = srcImm ? d.imm[i] : readReg(cpu, dstIsG ? d.rm[i] : d.reg[i], size);
      const cin = carryIn(cpu, op);
      const res = compute(op, a, b, cin);
      if (writes) writeReg(cpu, dst, size, res, 0);
      record(cpu, op, size, a, b, res, cin);
    };
  }
  if (dstIsG) {
    return (cpu, i) => {
      const d = cpu.dec;
      const b = readMem(cpu, ea(cpu, i), cpu.eaHi, size);
      if (cpu.exc >= 0) return;
      const dst = d.reg[i];
      const a = readReg(cpu, dst, size);
      const cin = carryIn(cpu, op);
      const res = compute(op, a, b, cin);
      if (writes) writeReg(cpu, dst, size, res, 0);
      record(cpu, op, size, a, b, res, cin);
    };
  }
  if (!writes && srcImm && size === 1) {
    // CMP byte [mem], imm8: the sieve's and every string loop's test.
    return (cpu, i) => {
      const a = cpu.mem.read8(ea(cpu, i), cpu.eaHi);
      if (cpu.exc >= 0) return;
      const b = cpu.dec.imm[i];
      setLazy(cpu, LfOp.SUB, 1, a, b, (a - b) | 0);
    };
  }
  return (cpu, i) => {
    const d = cpu.dec;
    const lo = ea(cpu, i);
    const hi = cpu.eaHi;
    const a = readMem(cpu, lo, hi, size);
    if (cpu.exc >= 0) return;
    const b = srcImm ? d.imm[i] : readReg(cpu, d.reg[i], size);
    const cin = carryIn(cpu, op);
    const res = compute(op, a, b, cin);
    if (writes) {
      writeMem(cpu, lo, hi, size, res, 0);
      if (cpu.exc >= 0) return;
    }
    record(cpu, op, size, a, b, res, cin);
  };
}

function binary64Reg(op: AluOp, srcImm: boolean, dstIsG: boolean, writes: boolean): Handler {
  if (srcImm) {
    return (cpu, i) => {
      const d = cpu.dec;
      const dst = d.rm[i];
      const alo = cpu.lo[dst];
      const ahi = cpu.hi[dst];
      const blo = d.imm[i];
      const bhi = d.immHi[i];
      const cin = carryIn(cpu, op);
      const rlo = compute64(op, alo, ahi, blo, bhi, cin);
      const rhi = resultHi;
      if (writes) { cpu.lo[dst] = rlo; cpu.hi[dst] = rhi; }
      cpu.lfAux = cin;
      setLazy64(cpu, LF[op], alo, ahi, blo, bhi, rlo, rhi);
    };
  }
  return (cpu, i) => {
    const d = cpu.dec;
    const dst = dstIsG ? d.reg[i] : d.rm[i];
    const src = dstIsG ? d.rm[i] : d.reg[i];
    const alo = cpu.lo[dst];
    const ahi = cpu.hi[dst];
    const blo = cpu.lo[src];
    const bhi = cpu.hi[src];
    const cin = carryIn(cpu, op);
    const rlo = compute64(op, alo, ahi, blo, bhi, cin);
    const rhi = resultHi;
    if (writes) { cpu.lo[dst] = rlo; cpu.hi[dst] = rhi; }
    cpu.lfAux = cin;
    setLazy64(cpu, LF[op], alo, ahi, blo, bhi, rlo, rhi);
  };
}

function binary64Mem(op: AluOp, srcImm: boolean, dstIsG: boolean, writes: boolean): Handler {
  return (cpu, i) => {
    const d = cpu.dec;
    const lo = ea(cpu, i);
    const hi = cpu.eaHi;
    const mlo = cpu.mem.read64(lo, hi);
    if (cpu.exc >= 0) return;
    const mhi = cpu.mem.hi;
    let alo: number, ahi: number, blo: number, bhi: number;
    if (dstIsG) {
      const g = d.reg[i];
      alo = cpu.lo[g]; ahi = cpu.hi[g]; blo = mlo; bhi = mhi;
    } else {
      alo = mlo; ahi = mhi;
      if (srcImm) { blo = d.imm[i]; bhi = d.immHi[i]; } else { const g = d.reg[i]; blo = cpu.lo[g]; bhi = cpu.hi[g]; }
    }
    const cin = carryIn(cpu, op);
    const rlo = compute64(op, alo, ahi, blo, bhi, cin);
    const rhi = resultHi;
    if (writes) {
      if (dstIsG) { cpu.lo[d.reg[i]] = rlo; cpu.hi[d.reg[i]] = rhi; } else {
        cpu.mem.write64(lo, hi, rlo, rhi);
        if (cpu.exc >= 0) return;
      }
    }
    cpu.lfAux = cin;
    setLazy64(cpu, LF[op], alo, ahi, blo, bhi, rlo, rhi);
  };
}

export const ALU = family('alu', (form) => binary(form, form.variant as AluOp));

/** TEST: AND without writing the result. */
export const TEST = family('test', (form) => {
  const size = form.size;
  const srcImm = form.operands.includes(',I');
  return (cpu, i) => {
    const d = cpu.dec;
    let a: number, ahi = 0;
    if (form.mem) {
      a = readMem(cpu, ea(cpu, i), cpu.eaHi, size);
      if (cpu.exc >= 0) return;
      if (size === 8) ahi = cpu.mem.hi;
    } else {
      const r = d.rm[i];
      a = readReg(cpu, r, size);
      if (size === 8) ahi = cpu.hi[r];
    }
    let b: number, bhi = 0;
    if (srcImm) { b = d.imm[i]; bhi = d.immHi[i]; } else {
      b = readReg(cpu, d.reg[i], size);
      if (size === 8) bhi = cpu.hi[d.reg[i]];
    }
    if (size === 8) setLazy64(cpu, LfOp.LOGIC, a, ahi, b, bhi, a & b, ahi & bhi);
    else setLazy(cpu, LfOp.LOGIC, size, a, b, a & b);
  };
});

export const enum UnaryOp { INC = 0, DEC = 1, NOT = 2, NEG = 3 }

/** INC, DEC, NOT, NEG on the E operand (or an opcode register in 16/32-bit code). */
export const UNARY = family('unary', (form) => {
  const size = form.size;
  const op = form.variant as UnaryOp;
  return (cpu, i) => {
    const d = cpu.dec;
    let lo = 0, hi = 0, a: number, ahi = 0;
    const r = d.rm[i];
    if (form.mem) {
      lo = ea(cpu, i); hi = cpu.eaHi;
      a = readMem(cpu, lo, hi, size);
      if (cpu.exc >= 0) return;
      if (size === 8) ahi = cpu.mem.hi;
    } else {
      a = readReg(cpu, r, size);
      if (size === 8) ahi = cpu.hi[r];
    }
    let res: number, rhi = 0;
    switch (op) {
      case UnaryOp.INC:
        res = (a + 1) | 0;
        if (size === 8) rhi = res === 0 ? (ahi + 1) | 0 : ahi;
        break;
      case UnaryOp.DEC:
        res = (a - 1) | 0;
        if (size === 8) rhi = a === 0 ? (ahi - 1) | 0 : ahi;
        break;
      case UnaryOp.NOT:
        res = ~a; rhi = ~ahi;
        break;
      default:
        res = -a | 0;
        if (size === 8) rhi = a === 0 ? -ahi | 0 : ~ahi;
        break;
    }
    if (form.mem) {
      writeMem(cpu, lo, hi, size, res, rhi);
      if (cpu.exc >= 0) return;
    } else {
      writeReg(cpu, r, size, res, rhi);
    }
    if (op === UnaryOp.NOT) return;
    if (op === UnaryOp.NEG) {
      if (size === 8) setLazy64(cpu, LfOp.SUB, 0, 0, a, ahi, res, rhi);
      else setLazy(cpu, LfOp.SUB, size, 0, a, res);
      return;
    }
    cpu.lfAux = getCF(cpu);
    const lf = op === UnaryOp.INC ? LfOp.INC : LfOp.DEC;
    if (size === 8) setLazy64(cpu, lf, a, ahi, 1, 0, res, rhi);
    else setLazy(cpu, lf, size, a, 1, res);
  };
});
