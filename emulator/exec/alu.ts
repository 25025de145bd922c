import type { Vcpu } from '../cpu/vcpu.js';
import { type Form, type Handler, family, Operand } from './registry.js';
import { LfOp, getCF, setLazy, setLazy64 } from './flags.js';
import { type Operation, V, Val, flow, toE } from './operand-flow.js';
import { ea } from './operands.js';

/**
 * The eight ALU operations of opcodes 00-3F and group 1 (ADD OR ADC SBB AND SUB XOR CMP), TEST,
 * INC, DEC, NOT and NEG (SDM Vol. 2). The operations are given to the shared load and write-back
 * (operand-flow.ts), which undoes their flags when a memory destination's write faults.
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

/**
 * The operation of ALU `op` on operands of `size` bytes, for the shared load and write-back
 * (operand-flow.ts): the result into V, the flags recorded, CMP writes nothing.
 */
function aluOperation(op: AluOp, size: number): Operation {
  const writes = op !== AluOp.CMP;
  if (size === 8) {
    return (cpu) => {
      const alo = V[Val.A], ahi = V[Val.AHI], blo = V[Val.B], bhi = V[Val.BHI];
      const cin = carryIn(cpu, op);
      const rlo = compute64(op, alo, ahi, blo, bhi, cin);
      const rhi = resultHi;
      V[Val.R] = rlo; V[Val.RHI] = rhi;
      cpu.lfAux = cin;
      setLazy64(cpu, LF[op], alo, ahi, blo, bhi, rlo, rhi);
      return writes;
    };
  }
  return (cpu) => {
    const a = V[Val.A], b = V[Val.B];
    const cin = carryIn(cpu, op);
    const res = compute(op, a, b, cin);
    V[Val.R] = res; V[Val.RHI] = 0;
    record(cpu, op, size, a, b, res, cin);
    return writes;
  };
}

/**
 * Builds a handler for `op dst, src` where dst is E or G and src is G, E or an immediate. The
 * 4- and 8-byte register forms, the interpreter's commonest instructions, have closures of
 * their own (no operand array, no call); every other form goes through the shared flow.
 */
function binary(form: Form, op: AluOp): Handler {
  const size = form.size;
  const srcImm = form.ops.second === Operand.IMM;
  const dstIsG = form.ops.first === Operand.G;
  const writes = op !== AluOp.CMP;
  if (form.mem && !writes && srcImm && size === 1) {
    // CMP byte [mem], imm8: the sieve's and every string loop's test, worth its own closure
    // (without it the interpreter ran the sieve about 10% slower, same run, load ~10).
    return (cpu, i) => {
      const a = cpu.mem.read8(ea(cpu, i), cpu.eaHi);
      if (cpu.exc >= 0) return;
      const b = cpu.dec.imm[i];
      setLazy(cpu, LfOp.SUB, 1, a, b, (a - b) | 0);
    };
  }
  if (form.mem || (size !== 4 && size !== 8)) return flow(form, aluOperation(op, size), writes);
  if (size === 8) {
    if (srcImm) return (cpu, i) => onReg64(cpu, op, cpu.dec.rm[i], cpu.dec.imm[i], cpu.dec.immHi[i], writes);
    if (dstIsG) return (cpu, i) => { const s = cpu.dec.rm[i]; onReg64(cpu, op, cpu.dec.reg[i], cpu.lo[s], cpu.hi[s], writes); };
    return (cpu, i) => { const s = cpu.dec.reg[i]; onReg64(cpu, op, cpu.dec.rm[i], cpu.lo[s], cpu.hi[s], writes); };
  }
  if (srcImm) return (cpu, i) => onReg32(cpu, op, cpu.dec.rm[i], cpu.dec.imm[i], writes);
  if (dstIsG) return (cpu, i) => onReg32(cpu, op, cpu.dec.reg[i], cpu.lo[cpu.dec.rm[i]], writes);
  return (cpu, i) => onReg32(cpu, op, cpu.dec.rm[i], cpu.lo[cpu.dec.reg[i]], writes);
}

/**
 * The 4-byte register forms' one body: `op` on register `dst` and the source value `b` (a
 * register or the immediate, which the handler picked), written back unless CMP.
 */
function onReg32(cpu: Vcpu, op: AluOp, dst: number, b: number, writes: boolean): void {
  const a = cpu.lo[dst];
  const cin = carryIn(cpu, op);
  const res = compute(op, a, b, cin);
  if (writes) { cpu.lo[dst] = res; cpu.hi[dst] = 0; }
  record(cpu, op, 4, a, b, res, cin);
}

/** The same for the 8-byte register forms, with the source's halves blo and bhi. */
function onReg64(cpu: Vcpu, op: AluOp, dst: number, blo: number, bhi: number, writes: boolean): void {
  const alo = cpu.lo[dst];
  const ahi = cpu.hi[dst];
  const cin = carryIn(cpu, op);
  const rlo = compute64(op, alo, ahi, blo, bhi, cin);
  const rhi = resultHi;
  if (writes) { cpu.lo[dst] = rlo; cpu.hi[dst] = rhi; }
  cpu.lfAux = cin;
  setLazy64(cpu, LF[op], alo, ahi, blo, bhi, rlo, rhi);
}

export const ALU = family('alu', (form) => binary(form, form.variant as AluOp));

/** TEST: AND without writing the result. */
export const TEST = family('test', (form) => {
  const size = form.size;
  return toE(form, (cpu) => {
    const a = V[Val.A], b = V[Val.B];
    if (size === 8) setLazy64(cpu, LfOp.LOGIC, a, V[Val.AHI], b, V[Val.BHI], a & b, V[Val.AHI] & V[Val.BHI]);
    else setLazy(cpu, LfOp.LOGIC, size, a, b, a & b);
    return false;
  }, false);
});

export const enum UnaryOp { INC = 0, DEC = 1, NOT = 2, NEG = 3 }

/** INC, DEC, NOT, NEG on the E operand (or an opcode register in 16/32-bit code). */
export const UNARY = family('unary', (form) => toE(form, unaryOperation(form.variant as UnaryOp, form.size)));

/** The operation of one UNARY variant, chosen when the form's handler is built. */
function unaryOperation(op: UnaryOp, size: number): Operation {
  switch (op) {
    case UnaryOp.INC: return (cpu) => {
      const a = V[Val.A], ahi = V[Val.AHI];
      const res = (a + 1) | 0;
      const rhi = size === 8 ? (res === 0 ? (ahi + 1) | 0 : ahi) : 0;
      incDecResult(cpu, LfOp.INC, size, a, ahi, res, rhi);
      return true;
    };
    case UnaryOp.DEC: return (cpu) => {
      const a = V[Val.A], ahi = V[Val.AHI];
      const res = (a - 1) | 0;
      const rhi = size === 8 ? (a === 0 ? (ahi - 1) | 0 : ahi) : 0;
      incDecResult(cpu, LfOp.DEC, size, a, ahi, res, rhi);
      return true;
    };
    case UnaryOp.NOT: return () => {
      V[Val.R] = ~V[Val.A]; V[Val.RHI] = ~V[Val.AHI];
      return true;
    };
    default: return (cpu) => { // NEG
      const a = V[Val.A], ahi = V[Val.AHI];
      const res = -a | 0;
      const rhi = size === 8 ? (a === 0 ? -ahi | 0 : ~ahi) : 0;
      V[Val.R] = res; V[Val.RHI] = rhi;
      if (size === 8) setLazy64(cpu, LfOp.SUB, 0, 0, a, ahi, res, rhi);
      else setLazy(cpu, LfOp.SUB, size, 0, a, res);
      return true;
    };
  }
}

/** INC and DEC: the result, and flags as ADD/SUB of 1 with CF kept (lfAux). */
function incDecResult(cpu: Vcpu, lf: LfOp, size: number, a: number, ahi: number, res: number, rhi: number): void {
  V[Val.R] = res; V[Val.RHI] = rhi;
  cpu.lfAux = getCF(cpu);
  if (size === 8) setLazy64(cpu, lf, a, ahi, 1, 0, res, rhi);
  else setLazy(cpu, lf, size, a, 1, res);
}
