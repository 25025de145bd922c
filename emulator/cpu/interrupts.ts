import type { Vcpu } from './vcpu.js';
import { CpuMode } from './vcpu.js';
import { Descriptor, loadCodeSegment, setCpl, updateSegCheck, updateMode } from './segmentation.js';
import { SegAttr } from './segment-state.js';
import { Reg, Seg } from '../arch/registers.js';
import { Flag } from '../arch/eflags.js';
import { Vector } from '../arch/vectors.js';
import { isCanonical } from '../arch/u64.js';

/**
 * Event delivery through the IVT (real mode) or the IDT (protected mode and IA-32e mode), SDM
 * Vol. 3 6.12 and 6.14: gate checks, privilege change with a stack switch from the TSS (and IST in
 * IA-32e mode), the pushed frame and error code, and the flags an interrupt gate clears.
 *
 * The return address is whatever cpu.ripLo/ripHi hold when `deliverEvent` is called: the faulting
 * instruction for faults, the next instruction for traps and INT n.
 */

const gate = new Descriptor();
const target = new Descriptor();
const stackSegment = new Descriptor();

/** Error code for a fault on IDT entry `vector`: index, IDT bit, EXT bit. */
function idtError(vector: number, ext: boolean): number {
  return (vector << 3) | 2 | (ext ? 1 : 0);
}

/** Frame writes at an explicit stack pointer; the caller commits RSP only when all succeed. */
class FrameWriter {
  cpu!: Vcpu;
  lo = 0;
  hi = 0;
  /** 8: 64-bit RSP, 4: ESP, 2: SP. */
  width = 8;
  /** Segment base added outside IA-32e mode. */
  base = 0;
  /**
   * The privilege level the pushes are made at: the handler's (new) CPL. Delivery from user mode
   * to a CPL0 handler writes the kernel stack with supervisor accesses, not user ones.
   */
  cpl = 0;

  push(size: number, v: number, vhi: number): boolean {
    const cpu = this.cpu;
    const saved = cpu.cpl;
    cpu.cpl = this.cpl;
    const ok = this.write(size, v, vhi);
    cpu.cpl = saved;
    return ok;
  }

  private write(size: number, v: number, vhi: number): boolean {
    const cpu = this.cpu;
    if (this.width === 8) {
      const s = (this.lo >>> 0) - size;
      this.hi = (this.hi + (s < 0 ? -1 : 0)) | 0;
      this.lo = s | 0;
      if (!isCanonical(this.lo, this.hi, cpu.paging.ctx.format.vaBits || 48)) { cpu.raiseSs(0); return false; }
      if (size === 8) cpu.mem.write64(this.lo, this.hi, v, vhi);
      else cpu.mem.write32(this.lo, this.hi, v);
    } else {
      this.lo = this.width === 4 ? (this.lo - size) | 0 : (this.lo & ~0xffff) | ((this.lo - size) & 0xffff);
      const off = this.width === 4 ? this.lo : this.lo & 0xffff;
      const la = (off + this.base) | 0;
      if (size === 4) cpu.mem.write32(la, 0, v); else cpu.mem.write16(la, 0, v);
    }
    return cpu.exc < 0;
  }
}
const frame = new FrameWriter();

/**
 * Delivers an exception or interrupt. `errorCode` < 0 means none is pushed. `soft` marks INT n,
 * INT3 and INTO (gate DPL checked against CPL); `ext` marks events not caused by the instruction
 * stream (EXT bit of error codes). Returns false if delivery raised another exception (in cpu.exc).
 */
export function deliverEvent(cpu: Vcpu, vector: number, errorCode: number, soft: boolean, ext: boolean): boolean {
  if (cpu.mode === CpuMode.REAL) return deliverReal(cpu, vector);
  if ((cpu.flags & Flag.VM) !== 0) { cpu.unsupported('interrupt delivery in virtual-8086 mode'); return false; }
  return cpu.longMode ? deliverLong(cpu, vector, errorCode, soft, ext) : deliverProtected(cpu, vector, errorCode, soft, ext);
}

function deliverReal(cpu: Vcpu, vector: number): boolean {
  const entry = vector * 4;
  if (entry + 3 > cpu.idtr.limit) { cpu.raiseGp(0); return false; }
  const v = cpu.mem.readImplicit32((cpu.idtr.baseLo + entry) | 0, 0);
  if (cpu.exc >= 0) return false;
  frame.cpu = cpu;
  frame.cpl = 0;
  frame.lo = cpu.lo[Reg.RSP];
  frame.hi = 0;
  frame.width = 2;
  frame.base = cpu.seg.baseLo[Seg.SS];
  if (!frame.push(2, cpu.getFlags(), 0) || !frame.push(2, cpu.seg.selector[Seg.CS], 0) || !frame.push(2, cpu.ripLo, 0)) return false;
  cpu.set16(Reg.RSP, frame.lo);
  cpu.flags &= ~(Flag.IF | Flag.TF | Flag.AC | Flag.RF);
  cpu.seg.loadReal(Seg.CS, v >>> 16);
  cpu.ripLo = v & 0xffff;
  cpu.ripHi = 0;
  return true;
}

/** Reads and checks the gate; leaves it in `gate`. */
function readGate(cpu: Vcpu, vector: number, soft: boolean, ext: boolean, entryBytes: number): boolean {
  const offset = vector * entryBytes;
  if (offset + entryBytes - 1 > cpu.idtr.limit) { cpu.raiseGp(idtError(vector, ext)); return false; }
  const base = cpu.idtr.baseLo;
  const baseHi = cpu.idtr.baseHi;
  gate.lo = cpu.mem.readImplicit32((base + offset) | 0, baseHi);
  gate.hi = cpu.mem.readImplicit32((base + offset + 4) | 0, baseHi);
  gate.upper = entryBytes === 16 ? cpu.mem.readImplicit32((base + offset + 8) | 0, baseHi) : 0;
  return cpu.exc < 0;
}

/** Reads and checks the target code segment of a gate; leaves it in `target`. */
function readTarget(cpu: Vcpu, sel: number, ext: boolean): boolean {
  if ((sel & 0xfffc) === 0) { cpu.raiseGp(ext ? 1 : 0); return false; }
  const table = (sel & 4) !== 0 ? cpu.ldtr : cpu.gdtr;
  if ((sel & 0xfff8) + 7 > table.limit) { cpu.raiseGp((sel & 0xfffc) | (ext ? 1 : 0)); return false; }
  target.lo = cpu.mem.readImplicit32((table.baseLo + (sel & 0xfff8)) | 0, table.baseHi);
  target.hi = cpu.mem.readImplicit32((table.baseLo + (sel & 0xfff8) + 4) | 0, table.baseHi);
  if (cpu.exc >= 0) return false;
  if (!target.isCodeOrData || (target.type & 8) === 0 || target.dpl > cpu.cpl) {
    cpu.raiseGp((sel & 0xfffc) | (ext ? 1 : 0));
    return false;
  }
  if (!target.present) { cpu.raise(Vector.NP, (sel & 0xfffc) | (ext ? 1 : 0)); return false; }
  return true;
}

/** Reads a 32-bit value from the current TSS at `offset`, checking the TSS limit (#TS otherwise). */
function readTss32(cpu: Vcpu, offset: number): number {
  if (offset + 3 > cpu.tr.limit) { cpu.raise(Vector.TS, cpu.tr.selector & 0xfffc); return 0; }
  return cpu.mem.readImplicit32((cpu.tr.baseLo + offset) | 0, cpu.tr.baseHi);
}

function clearFlagsOnEntry(cpu: Vcpu, interruptGate: boolean): void {
  cpu.flags &= ~(Flag.TF | Flag.NT | Flag.RF | Flag.VM);
  if (interruptGate) cpu.flags &= ~Flag.IF;
}

function deliverLong(cpu: Vcpu, vector: number, errorCode: number, soft: boolean, ext: boolean): boolean {
  if (!readGate(cpu, vector, soft, ext, 16)) return false;
  const type = gate.type;
  if (type !== 0xe && type !== 0xf) { cpu.raiseGp(idtError(vector, ext)); return false; }
  if (soft && gate.dpl < cpu.cpl) { cpu.raiseGp(idtError(vector, false)); return false; }
  if (!gate.present) { cpu.raise(Vector.NP, idtError(vector, ext)); return false; }
  const sel = gate.lo >>> 16;
  if (!readTarget(cpu, sel, ext)) return false;
  if ((target.attr & SegAttr.L) === 0 || (target.attr & SegAttr.DB) !== 0) {
    cpu.raiseGp((sel & 0xfffc) | (ext ? 1 : 0));
    return false;
  }
  const conforming = (target.type & 4) !== 0;
  const newCpl = conforming ? cpu.cpl : target.dpl;
  const ist = gate.hi & 7;
  frame.cpu = cpu;
  frame.cpl = newCpl;
  frame.width = 8;
  frame.base = 0;
  frame.lo = cpu.lo[Reg.RSP];
  frame.hi = cpu.hi[Reg.RSP];
  if (ist !== 0 || newCpl < cpu.cpl) {
    const off = ist !== 0 ? 0x24 + 8 * (ist - 1) : 4 + 8 * newCpl;
    if (off + 7 > cpu.tr.limit) { cpu.raise(Vector.TS, cpu.tr.selector & 0xfffc); return false; }
    frame.lo = readTss32(cpu, off);
    frame.hi = readTss32(cpu, off + 4);
    if (cpu.exc >= 0) return false;
  }
  frame.lo &= ~15; // the CPU aligns RSP to 16 bytes before pushing in IA-32e mode
  const oldSs = cpu.seg.selector[Seg.SS];
  if (!frame.push(8, oldSs, 0) || !frame.push(8, cpu.lo[Reg.RSP], cpu.hi[Reg.RSP]) ||
    !frame.push(8, cpu.getFlags(), 0) || !frame.push(8, cpu.seg.selector[Seg.CS], 0) ||
    !frame.push(8, cpu.ripLo, cpu.ripHi) || (errorCode >= 0 && !frame.push(8, errorCode, 0))) {
    return false;
  }
  if (newCpl < cpu.cpl) {
    // A privilege change in IA-32e mode loads SS with a null selector whose RPL is the new CPL.
    cpu.seg.set(Seg.SS, newCpl, 0, 0, 0, SegAttr.P | SegAttr.S | SegAttr.RW | (newCpl << SegAttr.DPL_SHIFT));
  }
  cpu.lo[Reg.RSP] = frame.lo;
  cpu.hi[Reg.RSP] = frame.hi;
  loadCodeSegment(cpu, sel, target, newCpl);
  cpu.ripLo = (gate.lo & 0xffff) | (gate.hi & 0xffff0000);
  cpu.ripHi = gate.upper;
  clearFlagsOnEntry(cpu, type === 0xe);
  return true;
}

function deliverProtected(cpu: Vcpu, vector: number, errorCode: number, soft: boolean, ext: boolean): boolean {
  if (!readGate(cpu, vector, soft, ext, 8)) return false;
  const type = gate.type;
  if (type === 5) { cpu.unsupported(`interrupt ${vector} through a task gate`); return false; }
  if (type !== 6 && type !== 7 && type !== 0xe && type !== 0xf) { cpu.raiseGp(idtError(vector, ext)); return false; }
  if (soft && gate.dpl < cpu.cpl) { cpu.raiseGp(idtError(vector, false)); return false; }
  if (!gate.present) { cpu.raise(Vector.NP, idtError(vector, ext)); return false; }
  const gate32 = type >= 0xe;
  const size = gate32 ? 4 : 2;
  const sel = gate.lo >>> 16;
  if (!readTarget(cpu, sel, ext)) return false;
  const conforming = (target.type & 4) !== 0;
  const newCpl = conforming ? cpu.cpl : target.dpl;
  frame.cpu = cpu;
  frame.cpl = newCpl;
  const outer = newCpl < cpu.cpl;
  let newSs = cpu.seg.selector[Seg.SS];
  const ssDesc = stackSegment;
  if (outer) {
    const espOff = 4 + 8 * newCpl;
    const esp = readTss32(cpu, espOff);
    newSs = readTss32(cpu, espOff + 4) & 0xffff;
    if (cpu.exc >= 0) return false;
    const table = (newSs & 4) !== 0 ? cpu.ldtr : cpu.gdtr;
    if ((newSs & 0xfffc) === 0 || (newSs & 0xfff8) + 7 > table.limit) { cpu.raise(Vector.TS, (newSs & 0xfffc) | (ext ? 1 : 0)); return false; }
    ssDesc.lo = cpu.mem.readImplicit32((table.baseLo + (newSs & 0xfff8)) | 0, 0);
    ssDesc.hi = cpu.mem.readImplicit32((table.baseLo + (newSs & 0xfff8) + 4) | 0, 0);
    if (cpu.exc >= 0) return false;
    if ((newSs & 3) !== newCpl || ssDesc.dpl !== newCpl || !ssDesc.isCodeOrData || (ssDesc.type & 8) !== 0 || (ssDesc.type & 2) === 0) {
      cpu.raise(Vector.TS, (newSs & 0xfffc) | (ext ? 1 : 0));
      return false;
    }
    if (!ssDesc.present) { cpu.raise(Vector.SS, (newSs & 0xfffc) | (ext ? 1 : 0)); return false; }
    frame.lo = esp;
    frame.hi = 0;
    frame.width = (ssDesc.attr & SegAttr.DB) !== 0 ? 4 : 2;
    frame.base = ssDesc.baseLo;
    if (!frame.push(size, cpu.seg.selector[Seg.SS], 0) || !frame.push(size, cpu.lo[Reg.RSP], 0)) return false;
  } else {
    frame.lo = cpu.lo[Reg.RSP];
    frame.hi = 0;
    frame.width = cpu.stackBytes === 4 ? 4 : 2;
    frame.base = cpu.seg.baseLo[Seg.SS];
  }
  if (!frame.push(size, cpu.getFlags(), 0) || !frame.push(size, cpu.seg.selector[Seg.CS], 0) ||
    !frame.push(size, cpu.ripLo, 0) || (errorCode >= 0 && !frame.push(size, errorCode, 0))) {
    return false;
  }
  if (outer) {
    cpu.seg.set(Seg.SS, newSs, ssDesc.baseLo, 0, ssDesc.limit, ssDesc.attr);
  }
  if (frame.width === 4) cpu.lo[Reg.RSP] = frame.lo; else cpu.set16(Reg.RSP, frame.lo);
  setCpl(cpu, newCpl);
  loadCodeSegment(cpu, sel, target, newCpl);
  cpu.ripLo = gate32 ? (gate.lo & 0xffff) | (gate.hi & 0xffff0000) : gate.lo & 0xffff;
  cpu.ripHi = 0;
  clearFlagsOnEntry(cpu, type === 0xe || type === 6);
  updateSegCheck(cpu);
  updateMode(cpu);
  return true;
}
