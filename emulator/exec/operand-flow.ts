import type { Vcpu } from '../cpu/vcpu.js';
import { Reg } from '../arch/registers.js';
import { type Form, type Handler, Operand } from './registry.js';
import { restoreLazyFlags, saveLazyFlags } from './flags.js';
import { ea, readMem, readReg, writeMem, writeReg } from './operands.js';

/**
 * Operand load and write-back shared by the families that load operands, compute, and write one
 * result (ALU, shifts and rotates, moves): the shape QEMU's decoder gives every instruction
 * (gen_load of the operands, the operation, gen_writeback). The family supplies only the
 * operation; the flow here reads the operands the form names into V, calls it, and writes the
 * result back. A faulting load or store is checked here, once per flow, not in each handler:
 * after a faulting load the operation does not run; after a faulting store the flags the
 * operation recorded are restored, so the instruction has no effect.
 *
 * An Operation reads V[Val.A] (the first operand, the destination's old value), V[Val.B] (the
 * second) and V[Val.C] (a third: SHLD/SHRD's count), with the high halves of 8-byte operands in
 * V[Val.AHI]/V[Val.BHI], and leaves the result in V[Val.R]/V[Val.RHI]. It records its flags and
 * returns whether the result is written (false: CMP, TEST, a shift by zero in memory, a CMOV not
 * taken). Values go through the typed array, not arguments, so an operation the engine does not
 * inline still allocates nothing.
 */
export type Operation = (cpu: Vcpu, i: number) => boolean;

export const enum Val { A = 0, AHI = 1, B = 2, BHI = 3, C = 4, R = 5, RHI = 6 }
export const V = new Int32Array(7);

/** Loads the second operand (and the third, a count) of record i into V for a form of `size` bytes. */
function loadSources(cpu: Vcpu, i: number, second: Operand, third: Operand, size: number): void {
  const d = cpu.dec;
  switch (second) {
    case Operand.G: {
      const g = d.reg[i];
      V[Val.B] = readReg(cpu, g, size);
      V[Val.BHI] = size === 8 ? cpu.hi[g] : 0;
      break;
    }
    case Operand.IMM: V[Val.B] = d.imm[i]; V[Val.BHI] = d.immHi[i]; break;
    case Operand.ONE: V[Val.B] = 1; V[Val.BHI] = 0; break;
    case Operand.CL: V[Val.B] = cpu.lo[Reg.RCX]; V[Val.BHI] = 0; break;
    default: break;
  }
  if (third === Operand.CL) V[Val.C] = cpu.lo[Reg.RCX];
  else if (third === Operand.IMM) V[Val.C] = d.imm[i];
}

/**
 * A form whose first operand is E (a register or memory) and is the destination: `E = E op src`
 * (ADD Ev,Gv; SHL Ev,CL; NOT Ev; CMP Ev,Iz with no write). `size` is E's size when the table
 * fixes it apart from the operand size: the 16-bit selector or word of LLDT/LTR, MOV Sreg,
 * LMSW and LAR/LSL/VERR/VERW, read only (`mayWrite` false).
 */
export function toE(form: Form, op: Operation, mayWrite = true, size = form.size): Handler {
  const second = form.ops.second;
  const third = form.ops.third;
  if (!form.mem) {
    return (cpu, i) => {
      const r = cpu.dec.rm[i];
      V[Val.A] = readReg(cpu, r, size);
      V[Val.AHI] = size === 8 ? cpu.hi[r] : 0;
      loadSources(cpu, i, second, third, size);
      if (op(cpu, i)) writeReg(cpu, r, size, V[Val.R], V[Val.RHI]);
    };
  }
  if (!mayWrite) {
    // CMP and TEST: nothing to write, nothing to undo.
    return (cpu, i) => {
      const a = readMem(cpu, ea(cpu, i), cpu.eaHi, size);
      if (cpu.exc >= 0) return;
      V[Val.A] = a;
      V[Val.AHI] = size === 8 ? cpu.mem.hi : 0;
      loadSources(cpu, i, second, third, size);
      op(cpu, i);
    };
  }
  return (cpu, i) => {
    const lo = ea(cpu, i);
    const hi = cpu.eaHi;
    const a = readMem(cpu, lo, hi, size);
    if (cpu.exc >= 0) return;
    V[Val.A] = a;
    V[Val.AHI] = size === 8 ? cpu.mem.hi : 0;
    loadSources(cpu, i, second, third, size);
    saveLazyFlags(cpu);
    if (!op(cpu, i)) return;
    writeMem(cpu, lo, hi, size, V[Val.R], V[Val.RHI]);
    if (cpu.exc >= 0) restoreLazyFlags(cpu);
  };
}

/**
 * A form whose destination is the G register and whose source is E (a register or memory) of
 * `srcSize` bytes: `G = G op E` (ADD Gv,Ev; MOV Gv,Ev; MOVZX Gv,Eb; CMOVcc). V[Val.A] holds G's
 * old value, V[Val.B] the source.
 */
export function toG(form: Form, op: Operation, srcSize = form.size): Handler {
  const size = form.size;
  if (!form.mem) {
    return (cpu, i) => {
      const d = cpu.dec;
      const r = d.rm[i];
      V[Val.B] = readReg(cpu, r, srcSize);
      V[Val.BHI] = srcSize === 8 ? cpu.hi[r] : 0;
      const g = d.reg[i];
      V[Val.A] = readReg(cpu, g, size);
      V[Val.AHI] = size === 8 ? cpu.hi[g] : 0;
      if (op(cpu, i)) writeReg(cpu, g, size, V[Val.R], V[Val.RHI]);
    };
  }
  return (cpu, i) => {
    const b = readMem(cpu, ea(cpu, i), cpu.eaHi, srcSize);
    if (cpu.exc >= 0) return;
    V[Val.B] = b;
    V[Val.BHI] = srcSize === 8 ? cpu.mem.hi : 0;
    const g = cpu.dec.reg[i];
    V[Val.A] = readReg(cpu, g, size);
    V[Val.AHI] = size === 8 ? cpu.hi[g] : 0;
    if (op(cpu, i)) writeReg(cpu, g, size, V[Val.R], V[Val.RHI]);
  };
}

/**
 * A 16-bit E read on the shared flow, whatever the operand size (the selector of LLDT, LTR,
 * MOV Sreg and LAR/LSL/VERR/VERW, LMSW's word): a register's low word or a word of memory; a
 * faulting load ends the instruction there, else `use` gets the word. Nothing is written back.
 */
export function wordFromE(form: Form, use: (cpu: Vcpu, i: number, word: number) => void): Handler {
  return toE(form, (cpu, i) => { use(cpu, i, V[Val.A] & 0xffff); return false; }, false, 2);
}

/**
 * The flow for a form of a two-operand family: toG when the destination is G, else toE
 * (`mayWrite` false: the operation never writes, as CMP and TEST).
 */
export function flow(form: Form, op: Operation, mayWrite = true): Handler {
  return form.ops.first === Operand.G ? toG(form, op) : toE(form, op, mayWrite);
}

/**
 * A locked read-modify-write of E with G as the source (XADD, CMPXCHG): `op` computes E's new
 * value into V[Val.R] and records the flags, and `registers` writes the family's register results
 * (XADD's G, a failed CMPXCHG's accumulator). In memory the locked cycle always writes E back (a
 * failed CMPXCHG writes the old value), and the registers change only once that write has landed;
 * a faulting write restores the flags, so the instruction has no effect. With `probe` the write
 * is checked before the load, as CMPXCHG's locked read asks for write access first. For a
 * register E the register results come first, so that E's value wins when G names the same
 * register (xadd eax, eax); op's result tells whether E is written (a failed CMPXCHG leaves it).
 */
export function lockedRmw(form: Form, op: Operation, registers: (cpu: Vcpu, i: number) => void, probe: boolean): Handler {
  const size = form.size;
  if (!form.mem) {
    return (cpu, i) => {
      const d = cpu.dec;
      const r = d.rm[i];
      V[Val.A] = readReg(cpu, r, size);
      V[Val.AHI] = size === 8 ? cpu.hi[r] : 0;
      loadSources(cpu, i, Operand.G, Operand.NONE, size);
      const write = op(cpu, i);
      registers(cpu, i);
      if (write) writeReg(cpu, r, size, V[Val.R], V[Val.RHI]);
    };
  }
  return (cpu, i) => {
    const lo = ea(cpu, i);
    const hi = cpu.eaHi;
    if (probe && !cpu.mem.probeWrite(lo, hi, size)) return;
    const a = readMem(cpu, lo, hi, size);
    if (cpu.exc >= 0) return;
    V[Val.A] = a;
    V[Val.AHI] = size === 8 ? cpu.mem.hi : 0;
    loadSources(cpu, i, Operand.G, Operand.NONE, size);
    saveLazyFlags(cpu);
    op(cpu, i);
    writeMem(cpu, lo, hi, size, V[Val.R], V[Val.RHI]);
    if (cpu.exc >= 0) {
      restoreLazyFlags(cpu);
      return;
    }
    registers(cpu, i);
  };
}
