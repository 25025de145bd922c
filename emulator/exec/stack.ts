import type { Vcpu } from '../cpu/vcpu.js';
import { checkedFamily, family, type Handler, Operand } from './registry.js';
import { Check } from './checks.js';
import { V, Val, toE } from './operand-flow.js';
import { ea, readMem, readReg, writeMem, writeReg } from './operands.js';
import { movedSp, peek, pop, poppedHi, push, setSp, spHi, stackLinear, stackLinearHi } from './stack-ops.js';
import { Reg, Seg } from '../arch/registers.js';
import { Flag } from '../arch/eflags.js';
import { CpuMode } from '../cpu/vcpu.js';
import { loadDataSegment } from '../cpu/segmentation.js';

/** PUSH, POP, PUSHF, POPF, ENTER, LEAVE, PUSHA, POPA and segment pushes/pops (SDM Vol. 2). */

/** What a pop does with the value it took from the stack; false if that faulted. */
type PopApply = (cpu: Vcpu, i: number, v: number, vh: number) => boolean;

/**
 * The pop flow shared by POP to memory, POP to a segment register and POPF: reads the top of the
 * stack (a fault there ends the instruction), hands the value to the family's `apply`, and moves
 * rSP only if apply succeeded, so a faulting pop leaves rSP as it was. With `spFirst` rSP moves
 * before apply runs (POP to memory computes its address with the new rSP, SDM POP) and moves back
 * if apply faults. POP to a register keeps its own closure (pop()): it is the hot one.
 */
function popInto(size: number, apply: PopApply, spFirst: boolean): Handler {
  if (!spFirst) {
    return (cpu, i) => {
      const v = peek(cpu, 0, size);
      if (cpu.exc >= 0) return;
      if (apply(cpu, i, v, poppedHi)) setSp(cpu, movedSp(cpu, size), spHi);
    };
  }
  return (cpu, i) => {
    const v = peek(cpu, 0, size);
    if (cpu.exc >= 0) return;
    const vh = poppedHi;
    const oldLo = cpu.lo[Reg.RSP];
    const oldHi = cpu.hi[Reg.RSP];
    setSp(cpu, movedSp(cpu, size), spHi);
    if (!apply(cpu, i, v, vh)) { cpu.lo[Reg.RSP] = oldLo; cpu.hi[Reg.RSP] = oldHi; }
  };
}

/** PUSH E/Z/I ("Ev", "Zv", "Iz", "Ib"). */
export const PUSH = family('push', (form) => {
  const size = form.size;
  if (form.ops.first === Operand.IMM) return (cpu, i) => { const d = cpu.dec; push(cpu, size, d.imm[i], d.immHi[i]); };
  // PUSH m loads E on the shared flow (its address uses rSP before the push, SDM PUSH; a faulting
  // load ends the instruction there) and writes nothing back to E.
  if (form.mem) return toE(form, (cpu) => { push(cpu, size, V[Val.A], V[Val.AHI]); return false; }, false);
  if (size === 8) return (cpu, i) => { const r = cpu.dec.rm[i]; push(cpu, 8, cpu.lo[r], cpu.hi[r]); };
  return (cpu, i) => { const r = cpu.dec.rm[i]; push(cpu, size, readReg(cpu, r, size), 0); };
});

/** POP E/Z. A memory destination addressed through RSP sees RSP after the pop. */
export const POP = family('pop', (form) => {
  const size = form.size;
  if (!form.mem) {
    return (cpu, i) => {
      const v = pop(cpu, size);
      // Kept: POP r is hot (every function epilogue); popInto's apply call would cost it.
      if (cpu.exc >= 0) return;
      writeReg(cpu, cpu.dec.rm[i], size, v, poppedHi);
    };
  }
  return popInto(size, (cpu, i, v, vh) => {
    writeMem(cpu, ea(cpu, i), cpu.eaHi, size, v, vh);
    return cpu.exc < 0;
  }, true);
});

/** PUSH of a segment register (variant = Seg). */
export const PUSH_SEG = family('push-seg', (form) => {
  const size = form.size;
  const seg = form.variant;
  return (cpu) => { push(cpu, size, cpu.seg.selector[seg], 0); };
});

/** POP to a segment register (variant = Seg); POP SS inhibits interrupts for one instruction. */
export const POP_SEG = family('pop-seg', (form) => {
  const size = form.size;
  const seg = form.variant as Seg;
  return popInto(size, (cpu, _i, v) => {
    if (!loadDataSegment(cpu, seg, v & 0xffff)) return false;
    if (seg === Seg.SS) { cpu.interruptShadow = true; cpu.debugBlocked = true; }
    return true;
  }, false);
});

/** RFLAGS image pushed by PUSHF: VM and RF read as 0. */
export const PUSHF = checkedFamily('pushf', Check.VM86_IOPL, (form) => {
  const size = form.size;
  return (cpu) => {
    push(cpu, size, cpu.getFlags() & ~(Flag.VM | Flag.RF), 0);
  };
});

/**
 * POPF: at CPL 0 every writable flag may change; above it IOPL is kept, and IF only changes when
 * CPL <= IOPL. VM, VIP and VIF are never loaded by POPF; a 16-bit POPF keeps the upper bits.
 */
export const POPF = checkedFamily('popf', Check.VM86_IOPL, (form) => {
  const size = form.size;
  return popInto(size, (cpu, _i, v) => {
    const old = cpu.getFlags();
    let mask = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.TF | Flag.DF | Flag.OF | Flag.NT;
    if (size >= 4) mask |= Flag.AC | Flag.ID;
    const iopl = (old & Flag.IOPL) >>> 12;
    if (cpu.mode === CpuMode.REAL || cpu.cpl === 0) mask |= Flag.IOPL | Flag.IF;
    else if (cpu.cpl <= iopl) mask |= Flag.IF;
    cpu.setFlags((old & ~mask) | (v & mask));
    return true;
  }, false);
});

/**
 * ENTER imm16, imm8: push rBP, copy `level - 1` outer frame pointers, push the new frame pointer,
 * allocate imm16 bytes. Everything is undone if any access faults.
 */
export const ENTER = family('enter', (form) => {
  const size = form.size;
  return (cpu, i) => {
    const d = cpu.dec;
    const alloc = d.imm[i] & 0xffff;
    const level = d.imm2[i] & 31;
    // rBP changes only at the end; a fault in between puts rSP back (nothing else was written).
    const spLo = cpu.lo[Reg.RSP];
    const spHi0 = cpu.hi[Reg.RSP];
    if (!push(cpu, size, readReg(cpu, Reg.RBP, size), cpu.hi[Reg.RBP])) return;
    const frameLo = cpu.lo[Reg.RSP];
    const frameHi = cpu.hi[Reg.RSP];
    if (level > 0) {
      let bpLo = cpu.lo[Reg.RBP];
      let bpHi = cpu.hi[Reg.RBP];
      for (let k = 1; k < level; k++) {
        // rBP steps down by one operand in the stack-pointer width.
        if (cpu.stackBytes === 8) {
          const s = (bpLo >>> 0) - size;
          bpHi = (bpHi + (s < 0 ? -1 : 0)) | 0;
          bpLo = s | 0;
        } else if (cpu.stackBytes === 4) bpLo = (bpLo - size) | 0;
        else bpLo = (bpLo & ~0xffff) | ((bpLo - size) & 0xffff);
        const la = stackLinear(cpu, cpu.stackBytes === 2 ? bpLo & 0xffff : bpLo, bpHi, size);
        if (la === false) { cpu.lo[Reg.RSP] = spLo; cpu.hi[Reg.RSP] = spHi0; return; }
        const v = readMem(cpu, la, stackLinearHi, size);
        const vh = cpu.mem.hi;
        // Kept: each outer frame pointer is read, then pushed; any fault undoes the earlier pushes.
        if (cpu.exc >= 0 || !push(cpu, size, v, vh)) { cpu.lo[Reg.RSP] = spLo; cpu.hi[Reg.RSP] = spHi0; return; }
      }
      if (!push(cpu, size, frameLo, frameHi)) { cpu.lo[Reg.RSP] = spLo; cpu.hi[Reg.RSP] = spHi0; return; }
    }
    // rBP takes the frame pointer in the stack width (SDM ENTER: StackSize decides, not OperandSize).
    if (cpu.stackBytes === 8) { cpu.lo[Reg.RBP] = frameLo; cpu.hi[Reg.RBP] = frameHi; } else if (cpu.stackBytes === 4) {
      cpu.lo[Reg.RBP] = frameLo;
    } else cpu.set16(Reg.RBP, frameLo);
    setSp(cpu, movedSp(cpu, -alloc), spHi);
  };
});

/** LEAVE: rSP = rBP, then pop rBP. */
export const LEAVE = family('leave', (form) => {
  const size = form.size;
  return (cpu) => {
    const oldLo = cpu.lo[Reg.RSP];
    const oldHi = cpu.hi[Reg.RSP];
    if (cpu.stackBytes === 8) { cpu.lo[Reg.RSP] = cpu.lo[Reg.RBP]; cpu.hi[Reg.RSP] = cpu.hi[Reg.RBP]; } else if (cpu.stackBytes === 4) {
      cpu.lo[Reg.RSP] = cpu.lo[Reg.RBP];
    } else cpu.set16(Reg.RSP, cpu.lo[Reg.RBP]);
    const v = pop(cpu, size);
    // Kept: rSP was already set from rBP for the pop, so a faulting pop must put it back.
    if (cpu.exc >= 0) { cpu.lo[Reg.RSP] = oldLo; cpu.hi[Reg.RSP] = oldHi; return; }
    writeReg(cpu, Reg.RBP, size, v, poppedHi);
  };
});

/** PUSHA/PUSHAD (not in 64-bit mode): AX CX DX BX original-SP BP SI DI. */
export const PUSHA = family('pusha', (form) => {
  const size = form.size;
  return (cpu) => {
    const sp = readReg(cpu, Reg.RSP, size);
    const oldSp = cpu.lo[Reg.RSP];
    const lo = movedSp(cpu, -8 * size);
    const la = stackLinear(cpu, lo, 0, 8 * size);
    if (la === false) return;
    for (let r = 0; r < 8; r++) {
      const v = r === Reg.RSP ? sp : readReg(cpu, r, size);
      if (!push(cpu, size, v, 0)) { cpu.lo[Reg.RSP] = oldSp; return; }
    }
  };
});

/** The eight values POPA read, before it writes any register. */
const popaValues = new Int32Array(8);

/** POPA/POPAD: the stored SP is skipped. */
export const POPA = family('popa', (form) => {
  const size = form.size;
  return (cpu) => {
    for (let k = 0; k < 8; k++) {
      popaValues[k] = peek(cpu, k * size, size);
      // Kept: all eight reads must succeed before any register is written.
      if (cpu.exc >= 0) return;
    }
    for (let k = 0; k < 8; k++) {
      const r = 7 - k;
      if (r !== Reg.RSP) writeReg(cpu, r, size, popaValues[k], 0);
    }
    setSp(cpu, movedSp(cpu, 8 * size), spHi);
  };
});

