import type { Vcpu } from './vcpu.js';
import { CpuMode, Stop } from './vcpu.js';
import { Descriptor, loadCodeSegment, loadDataSegment, readDescriptor, setCpl, updateMode, updateSegCheck } from './segmentation.js';
import { SegAttr } from './segment-state.js';
import { Reg, Seg } from '../arch/registers.js';
import { Flag } from '../arch/eflags.js';
import { Vector } from '../arch/vectors.js';
import { isCanonical } from '../arch/u64.js';
import { movedSp, peek, poppedHi, push, setSp, spHi } from '../exec/stack-ops.js';

/**
 * Far JMP, far CALL, far RET and IRET in real, protected and IA-32e mode (SDM Vol. 2 and Vol. 3
 * 5.8, 6.14). Call gates, task gates, task switches and virtual-8086 mode are not modelled: they
 * stop the run with a report naming what the guest asked for.
 */

const desc = new Descriptor();

/** Checks a code-segment descriptor as the target of a far JMP/CALL. Returns false after raising. */
function checkCodeTarget(cpu: Vcpu, sel: number, d: Descriptor): boolean {
  if (!d.isCodeOrData) {
    cpu.unsupported(`far transfer through a system descriptor (type ${d.type}, selector 0x${sel.toString(16)}): call gates, task gates and TSS switches`);
    return false;
  }
  if ((d.type & 8) === 0) { cpu.raiseGp(sel & 0xfffc); return false; }
  const conforming = (d.type & 4) !== 0;
  const rpl = sel & 3;
  if (conforming ? d.dpl > cpu.cpl : rpl > cpu.cpl || d.dpl !== cpu.cpl) { cpu.raiseGp(sel & 0xfffc); return false; }
  if (!d.present) { cpu.raise(Vector.NP, sel & 0xfffc); return false; }
  if (cpu.longMode && (d.attr & SegAttr.L) !== 0 && (d.attr & SegAttr.DB) !== 0) { cpu.raiseGp(sel & 0xfffc); return false; }
  return true;
}

/** Whether the offset is valid in the target code segment (canonical for 64-bit code, within the limit otherwise). */
function offsetValid(cpu: Vcpu, d: Descriptor, lo: number, hi: number): boolean {
  if (cpu.longMode && (d.attr & SegAttr.L) !== 0) return isCanonical(lo, hi, cpu.paging.ctx.format.vaBits || 48);
  return hi === 0 && (lo >>> 0) <= d.limit;
}

function isRealLike(cpu: Vcpu): boolean {
  return cpu.mode === CpuMode.REAL || (cpu.flags & Flag.VM) !== 0;
}

function realJump(cpu: Vcpu, sel: number, lo: number): void {
  cpu.seg.loadReal(Seg.CS, sel);
  updateSegCheck(cpu);
  cpu.ripLo = lo;
  cpu.ripHi = 0;
}

export function farJump(cpu: Vcpu, sel: number, lo: number, hi: number, size: number): void {
  if (isRealLike(cpu)) { realJump(cpu, sel, lo); return; }
  if ((sel & 0xfffc) === 0) { cpu.raiseGp(0); return; }
  if (!readDescriptor(cpu, sel, desc) || !checkCodeTarget(cpu, sel, desc)) return;
  if (size !== 8) hi = 0;
  if (!offsetValid(cpu, desc, lo, hi)) { cpu.raiseGp(0); return; }
  loadCodeSegment(cpu, sel, desc, cpu.cpl);
  cpu.ripLo = lo;
  cpu.ripHi = hi;
}

export function farCall(cpu: Vcpu, sel: number, lo: number, hi: number, size: number): void {
  const retLo = cpu.ripLo;
  const retHi = cpu.ripHi;
  const oldSel = cpu.seg.selector[Seg.CS];
  const spLo = cpu.lo[Reg.RSP];
  const spHiOld = cpu.hi[Reg.RSP];
  const undo = (): void => { cpu.lo[Reg.RSP] = spLo; cpu.hi[Reg.RSP] = spHiOld; };
  if (isRealLike(cpu)) {
    if (!push(cpu, size, oldSel, 0) || !push(cpu, size, retLo, retHi)) { undo(); return; }
    realJump(cpu, sel, lo);
    return;
  }
  if ((sel & 0xfffc) === 0) { cpu.raiseGp(0); return; }
  if (!readDescriptor(cpu, sel, desc) || !checkCodeTarget(cpu, sel, desc)) return;
  if (size !== 8) hi = 0;
  if (!offsetValid(cpu, desc, lo, hi)) { cpu.raiseGp(0); return; }
  if (!push(cpu, size, oldSel, 0) || !push(cpu, size, retLo, retHi)) { undo(); return; }
  loadCodeSegment(cpu, sel, desc, cpu.cpl);
  cpu.ripLo = lo;
  cpu.ripHi = hi;
}

/**
 * Returning to an outer privilege level leaves no data segment usable that the new CPL may not
 * see: DS, ES, FS, GS holding a non-conforming or data segment with DPL < CPL become null.
 */
const DATA_SEGMENTS = [Seg.ES, Seg.DS, Seg.FS, Seg.GS] as const;

function nullInaccessibleSegments(cpu: Vcpu): void {
  for (const s of DATA_SEGMENTS) {
    const attr = cpu.seg.attr[s];
    const dpl = (attr & SegAttr.DPL) >>> SegAttr.DPL_SHIFT;
    const conformingCode = (attr & SegAttr.CODE) !== 0 && (attr & SegAttr.DC) !== 0;
    if ((cpu.seg.selector[s] & 0xfffc) !== 0 && !conformingCode && dpl < cpu.cpl) {
      // Only the selector (and the segment's usability) goes: the hidden base stays, so in
      // 64-bit mode GS-based addressing keeps working after a return from user mode
      // (kvm-unit-tests' per-CPU data: upstream debug runs user-mode cases, then apic_write).
      cpu.seg.set(s, 0, cpu.seg.baseLo[s], cpu.seg.baseHi[s], 0, 0);
    }
  }
  updateSegCheck(cpu);
}

/** Checks the code descriptor a RET/IRET returns to; returns false after raising. */
function checkReturnTarget(cpu: Vcpu, sel: number, d: Descriptor): boolean {
  const rpl = sel & 3;
  if ((sel & 0xfffc) === 0) { cpu.raiseGp(0); return false; }
  if (!readDescriptor(cpu, sel, d)) return false;
  if (!d.isCodeOrData || (d.type & 8) === 0 || rpl < cpu.cpl) { cpu.raiseGp(sel & 0xfffc); return false; }
  const conforming = (d.type & 4) !== 0;
  if (conforming ? d.dpl > rpl : d.dpl !== rpl) { cpu.raiseGp(sel & 0xfffc); return false; }
  if (!d.present) { cpu.raise(Vector.NP, sel & 0xfffc); return false; }
  if (cpu.longMode && (d.attr & SegAttr.L) !== 0 && (d.attr & SegAttr.DB) !== 0) { cpu.raiseGp(sel & 0xfffc); return false; }
  return true;
}

export function farReturn(cpu: Vcpu, size: number, imm: number): void {
  const lo = peek(cpu, 0, size);
  const hi = size === 8 ? poppedHi : 0;
  const sel = peek(cpu, size, size) & 0xffff;
  if (cpu.exc >= 0) return;
  if (isRealLike(cpu)) {
    setSp(cpu, movedSp(cpu, 2 * size + imm), spHi);
    realJump(cpu, sel, size === 2 ? lo & 0xffff : lo);
    return;
  }
  if (!checkReturnTarget(cpu, sel, desc)) return;
  if (!offsetValid(cpu, desc, lo, hi)) { cpu.raiseGp(0); return; }
  const rpl = sel & 3;
  if (rpl === cpu.cpl) {
    setSp(cpu, movedSp(cpu, 2 * size + imm), spHi);
    loadCodeSegment(cpu, sel, desc, rpl);
    cpu.ripLo = lo;
    cpu.ripHi = hi;
    return;
  }
  // Outer privilege: the caller's SS:rSP follow the return address and the imm16 parameters.
  const spLo = peek(cpu, 2 * size + imm, size);
  const spHiNew = size === 8 ? poppedHi : 0;
  const ssSel = peek(cpu, 3 * size + imm, size) & 0xffff;
  if (cpu.exc >= 0) return;
  const oldCpl = cpu.cpl;
  setCpl(cpu, rpl);
  if (!loadDataSegment(cpu, Seg.SS, ssSel)) { setCpl(cpu, oldCpl); return; }
  loadCodeSegment(cpu, sel, desc, rpl);
  setSp(cpu, spLo, spHiNew);
  setSp(cpu, movedSp(cpu, imm), spHi);
  cpu.ripLo = lo;
  cpu.ripHi = hi;
  nullInaccessibleSegments(cpu);
}

/** RFLAGS bits an IRET may load, given the CPL before the return. */
function iretFlagMask(cpu: Vcpu, size: number, oldFlags: number): number {
  let mask = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.TF | Flag.DF | Flag.OF | Flag.NT;
  if (size >= 4) mask |= Flag.RF | Flag.AC | Flag.ID;
  const iopl = (oldFlags & Flag.IOPL) >>> 12;
  if (cpu.cpl === 0) mask |= Flag.IOPL | Flag.IF | (size >= 4 ? Flag.VIF | Flag.VIP : 0);
  else if (cpu.cpl <= iopl) mask |= Flag.IF;
  return mask;
}

export function interruptReturn(cpu: Vcpu, size: number): void {
  const oldFlags = cpu.getFlags();
  const lo = peek(cpu, 0, size);
  const hi = size === 8 ? poppedHi : 0;
  const sel = peek(cpu, size, size) & 0xffff;
  const fl = peek(cpu, 2 * size, size);
  if (cpu.exc >= 0) return;
  // IRET ends NMI blocking (SDM Vol. 3 6.7.1): an NMI that arrived meanwhile is taken before the
  // next instruction, so the run loop must look at events now, not at the next port access.
  if (cpu.nmiBlocked && cpu.nmiPending) cpu.stop |= Stop.EVENT;
  cpu.nmiBlocked = false;
  if (isRealLike(cpu)) {
    if ((cpu.flags & Flag.VM) !== 0) { cpu.unsupported('IRET in virtual-8086 mode'); return; }
    setSp(cpu, movedSp(cpu, 3 * size), spHi);
    realJump(cpu, sel, size === 2 ? lo & 0xffff : lo);
    // Bits 3, 5 and 15 are reserved (0) whatever the popped image holds; only IRETD reaches RF, AC and ID.
    const mask = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.TF | Flag.IF | Flag.DF | Flag.OF | Flag.IOPL |
      Flag.NT | (size === 2 ? 0 : Flag.RF | Flag.AC | Flag.ID);
    cpu.setFlags((oldFlags & ~mask) | (fl & mask));
    return;
  }
  if ((oldFlags & Flag.NT) !== 0 && !cpu.longMode) { cpu.unsupported('IRET with EFLAGS.NT=1 (task return)'); return; }
  if (!cpu.longMode && (fl & Flag.VM) !== 0 && cpu.cpl === 0) { cpu.unsupported('IRET to virtual-8086 mode'); return; }
  if (!checkReturnTarget(cpu, sel, desc)) return;
  const rpl = sel & 3;
  const targetHi = cpu.longMode && (desc.attr & SegAttr.L) !== 0 ? hi : 0;
  if (!offsetValid(cpu, desc, size === 2 ? lo & 0xffff : lo, targetHi)) { cpu.raiseGp(0); return; }
  const mask = iretFlagMask(cpu, size, oldFlags);
  const newFlags = (oldFlags & ~mask) | (fl & mask);
  // In 64-bit mode IRET always pops SS:RSP; elsewhere only on a return to an outer level.
  const popStack = cpu.mode === CpuMode.LONG64 || rpl !== cpu.cpl;
  if (!popStack) {
    setSp(cpu, movedSp(cpu, 3 * size), spHi);
    loadCodeSegment(cpu, sel, desc, rpl);
    cpu.ripLo = size === 2 ? lo & 0xffff : lo;
    cpu.ripHi = targetHi;
    cpu.setFlags(newFlags);
    return;
  }
  const spLo = peek(cpu, 3 * size, size);
  const spHiNew = size === 8 ? poppedHi : 0;
  const ssSel = peek(cpu, 4 * size, size) & 0xffff;
  if (cpu.exc >= 0) return;
  // `desc` survives the SS load below: loadDataSegment reads into a descriptor of its own.
  const target = desc;
  const oldCpl = cpu.cpl;
  setCpl(cpu, rpl);
  // A null SS is allowed when returning to 64-bit code at CPL < 3 (SDM IRET: RPL must equal CPL).
  const targetLong = cpu.longMode && (target.attr & SegAttr.L) !== 0;
  if ((ssSel & 0xfffc) === 0 && targetLong && rpl !== 3) {
    if ((ssSel & 3) !== rpl) { setCpl(cpu, oldCpl); cpu.raiseGp(0); return; }
    cpu.seg.set(Seg.SS, ssSel, 0, 0, 0, SegAttr.P | SegAttr.S | SegAttr.RW | (rpl << SegAttr.DPL_SHIFT));
  } else {
    // loadDataSegment checks SS against the new CPL; it runs with the old mode for the descriptor read.
    if (!loadDataSegment(cpu, Seg.SS, ssSel)) { setCpl(cpu, oldCpl); return; }
  }
  loadCodeSegment(cpu, sel, target, rpl);
  const stackWidth = cpu.stackBytes;
  if (stackWidth === 8) { cpu.lo[Reg.RSP] = spLo; cpu.hi[Reg.RSP] = spHiNew; } else if (stackWidth === 4 || cpu.longMode) {
    cpu.lo[Reg.RSP] = spLo; cpu.hi[Reg.RSP] = 0;
  } else cpu.set16(Reg.RSP, spLo);
  cpu.ripLo = size === 2 ? lo & 0xffff : lo;
  cpu.ripHi = targetHi;
  cpu.setFlags(newFlags);
  if (rpl > oldCpl) nullInaccessibleSegments(cpu);
  updateMode(cpu);
}
