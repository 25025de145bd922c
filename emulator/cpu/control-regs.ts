import type { Vcpu } from './vcpu.js';
import type { CpuModel } from './cpu-model.js';
import { CpuMode, Stop } from './vcpu.js';
import { Cr0, Cr4, Efer } from '../arch/control.js';
import { Seg } from '../arch/registers.js';
import { SegAttr } from './segment-state.js';
import { updateMode } from './segmentation.js';
import { PagingMode } from '../paging/format.js';
import { CR3_NOFLUSH, ControlReg } from './platform.js';

/**
 * MOV to CR0/CR3/CR4/CR8 and WRMSR to EFER: the #GP conditions of the SDM (Vol. 2 "MOV—Move
 * to/from Control Registers", Vol. 3 2.5 and 4.1.1), the mode transitions they cause (IA-32e
 * activation), PDPTE loading in PAE mode, and the TLB invalidations of SDM Vol. 3 4.10.4.1.
 * CR0, CR3 and CR4's writers return a CrWrite; CR8's and EFER's return false after raising #GP.
 * On success the new state is in effect.
 */

/**
 * How a CR0/CR3/CR4 write ended: FAULTED after raising #GP (0, so `if (writeCr0(...))` still
 * means "completed"); NATIVE when the hardware completed it; EXITED when a hypervisor intercepted
 * it (Platform.controlRegisterWritten returned true), so it never ran natively and its cost is the
 * exit's, not the instruction's (serializing-cost.ts).
 */
export const enum CrWrite { FAULTED = 0, NATIVE = 1, EXITED = 2 }

const CR0_RESERVED_HI = -1; // bits 63:32 of CR0 are reserved
const CR0_WRITABLE = Cr0.PE | Cr0.MP | Cr0.EM | Cr0.TS | Cr0.ET | Cr0.NE | Cr0.WP | Cr0.AM | Cr0.NW | Cr0.CD | Cr0.PG;

/** cr4Supported's last model and answer: a CpuModel never changes, and every MOV to CR4 asks. */
let cr4Model: CpuModel | undefined;
let cr4Bits = 0;

/** CR4 bits this CPU model can set, given its features. */
export function cr4Supported(cpu: Vcpu): number {
  const m = cpu.model;
  if (m === cr4Model) return cr4Bits;
  // VME/PVI, MCE, OSFXSR and OSXMMEXCPT only with the features CPUID reports for them.
  let bits = Cr4.TSD | Cr4.DE | Cr4.PSE | Cr4.PAE | Cr4.PGE | Cr4.PCE;
  if (m.has('vme')) bits |= Cr4.VME | Cr4.PVI;
  if (m.has('mce')) bits |= Cr4.MCE;
  if (m.has('fxsr')) bits |= Cr4.OSFXSR;
  if (m.has('sse')) bits |= Cr4.OSXMMEXCPT;
  if (m.has('la57')) bits |= Cr4.LA57;
  if (m.has('fsgsbase')) bits |= Cr4.FSGSBASE;
  if (m.has('pcid')) bits |= Cr4.PCIDE;
  if (m.has('smep')) bits |= Cr4.SMEP;
  if (m.has('smap')) bits |= Cr4.SMAP;
  if (m.has('pku')) bits |= Cr4.PKE;
  if (m.has('pks')) bits |= Cr4.PKS;
  if (m.has('umip')) bits |= Cr4.UMIP;
  if (m.has('xsave')) bits |= Cr4.OSXSAVE;
  cr4Model = m;
  cr4Bits = bits;
  return bits;
}

/** Refreshes the paging unit after a change to CR0, CR3, CR4 or EFER. */
export function pagingChanged(cpu: Vcpu): void {
  cpu.paging.updateContext(cpu.model.maxPhyAddr, cpu.model.has('pdpe1gb'));
  cpu.stop |= Stop.CONTEXT;
}

/** Refreshes the paging unit after a change of access rights only (CR0.WP): nothing to stop for. */
function permissionsChanged(cpu: Vcpu): void {
  cpu.paging.updateContext(cpu.model.maxPhyAddr, cpu.model.has('pdpe1gb'));
}

/** PAE paging outside IA-32e mode: the PDPTEs are loaded (and checked) at this point. */
function loadPdptesIfPae(cpu: Vcpu): boolean {
  if (cpu.paging.ctx.format.mode !== PagingMode.PAE) return true;
  return cpu.paging.loadPdptes();
}

export function writeCr0(cpu: Vcpu, lo: number, hi: number): CrWrite {
  if ((hi & CR0_RESERVED_HI) !== 0) { cpu.raiseGp(0); return CrWrite.FAULTED; }
  const value = ((lo & CR0_WRITABLE) | Cr0.ET) | 0;
  const old = cpu.cr0;
  if ((value & Cr0.PG) !== 0 && (value & Cr0.PE) === 0) { cpu.raiseGp(0); return CrWrite.FAULTED; }
  if ((value & Cr0.NW) !== 0 && (value & Cr0.CD) === 0) { cpu.raiseGp(0); return CrWrite.FAULTED; }
  const enablingPaging = (value & Cr0.PG) !== 0 && (old & Cr0.PG) === 0;
  const disablingPaging = (value & Cr0.PG) === 0 && (old & Cr0.PG) !== 0;
  if (enablingPaging && (cpu.efer & Efer.LME) !== 0) {
    if ((cpu.cr4 & Cr4.PAE) === 0) { cpu.raiseGp(0); return CrWrite.FAULTED; }
    if ((cpu.seg.attr[Seg.CS] & SegAttr.L) !== 0) { cpu.raiseGp(0); return CrWrite.FAULTED; }
  }
  if (disablingPaging && cpu.mode === CpuMode.LONG64) { cpu.raiseGp(0); return CrWrite.FAULTED; }
  if (disablingPaging && (cpu.cr4 & Cr4.PCIDE) !== 0) { cpu.raiseGp(0); return CrWrite.FAULTED; }
  cpu.cr0 = value;
  if (enablingPaging && (cpu.efer & Efer.LME) !== 0) cpu.efer |= Efer.LMA;
  if (disablingPaging) cpu.efer &= ~Efer.LMA;
  // A CR0.WP toggle changes what supervisor writes may do, nothing about decoding or where code
  // is (SDM Vol. 3 4.10.4.1 lists no TLB invalidation for it): the running block need not stop.
  if (((old ^ value) & ~Cr0.WP) === 0) permissionsChanged(cpu);
  else pagingChanged(cpu);
  if ((value & Cr0.PG) !== 0 && (enablingPaging || ((old ^ value) & (Cr0.CD | Cr0.NW)) !== 0) && !loadPdptesIfPae(cpu)) {
    cpu.cr0 = old;
    cpu.efer = enablingPaging ? cpu.efer & ~Efer.LMA : cpu.efer;
    pagingChanged(cpu);
    cpu.raiseGp(0);
    return CrWrite.FAULTED;
  }
  if (((old ^ value) & Cr0.PG) !== 0) cpu.paging.archFlushAll();
  updateMode(cpu);
  return cpu.platform.controlRegisterWritten(cpu, ControlReg.CR0, old, value) ? CrWrite.EXITED : CrWrite.NATIVE;
}

export function writeCr3(cpu: Vcpu, lo: number, hi: number): CrWrite {
  const pcide = (cpu.cr4 & Cr4.PCIDE) !== 0;
  const noFlush = pcide && (hi & (1 << 31)) !== 0;
  let valueHi = hi;
  if (cpu.longMode) {
    if (noFlush) valueHi &= 0x7fffffff;
    // Bits 63:MAXPHYADDR are reserved (bit 63 is the NOFLUSH request when CR4.PCIDE=1).
    const allowedHi = (1 << (cpu.model.maxPhyAddr - 32)) - 1;
    if ((valueHi & ~allowedHi) !== 0) { cpu.raiseGp(0); return CrWrite.FAULTED; }
  } else {
    valueHi = 0;
  }
  const oldLo = cpu.cr3Lo;
  const oldHi = cpu.cr3Hi;
  cpu.cr3Lo = lo;
  cpu.cr3Hi = valueHi;
  pagingChanged(cpu);
  if ((cpu.cr0 & Cr0.PG) !== 0 && !loadPdptesIfPae(cpu)) {
    cpu.cr3Lo = oldLo;
    cpu.cr3Hi = oldHi;
    pagingChanged(cpu);
    cpu.raiseGp(0);
    return CrWrite.FAULTED;
  }
  if (!noFlush) cpu.paging.archFlushNonGlobal(pcide ? lo & 0xfff : -1);
  return cpu.platform.controlRegisterWritten(cpu, ControlReg.CR3, oldLo, lo, noFlush ? CR3_NOFLUSH : 0) ? CrWrite.EXITED : CrWrite.NATIVE;
}

export function writeCr4(cpu: Vcpu, lo: number, hi: number): CrWrite {
  const old = cpu.cr4;
  if (hi !== 0 || (lo & ~cr4Supported(cpu)) !== 0) { cpu.raiseGp(0); return CrWrite.FAULTED; }
  const changed = old ^ lo;
  if (cpu.longMode) {
    if ((lo & Cr4.PAE) === 0) { cpu.raiseGp(0); return CrWrite.FAULTED; }
    if ((changed & Cr4.LA57) !== 0) { cpu.raiseGp(0); return CrWrite.FAULTED; }
  }
  if ((lo & Cr4.PCIDE) !== 0 && (old & Cr4.PCIDE) === 0 && (!cpu.longMode || (cpu.cr3Lo & 0xfff) !== 0)) {
    cpu.raiseGp(0);
    return CrWrite.FAULTED;
  }
  cpu.cr4 = lo;
  pagingChanged(cpu);
  // SDM 4.4.1: the PDPTEs are reloaded when PAE, PGE, PSE or SMEP change (not SMAP).
  if ((cpu.cr0 & Cr0.PG) !== 0 && (changed & (Cr4.PAE | Cr4.PSE | Cr4.PGE | Cr4.SMEP)) !== 0 && !loadPdptesIfPae(cpu)) {
    cpu.cr4 = old;
    pagingChanged(cpu);
    cpu.raiseGp(0);
    return CrWrite.FAULTED;
  }
  if ((changed & Cr4.PGE) !== 0 || ((old & Cr4.PCIDE) !== 0 && (lo & Cr4.PCIDE) === 0)) cpu.paging.archFlushAll();
  else if ((changed & Cr4.PAE) !== 0 || ((lo & Cr4.SMEP) !== 0 && (old & Cr4.SMEP) === 0)) cpu.paging.archFlushNonGlobal();
  return cpu.platform.controlRegisterWritten(cpu, ControlReg.CR4, old, lo) ? CrWrite.EXITED : CrWrite.NATIVE;
}

export function writeCr8(cpu: Vcpu, lo: number, hi: number): boolean {
  if (hi !== 0 || (lo & ~0xf) !== 0) { cpu.raiseGp(0); return false; }
  cpu.cr8 = lo;
  cpu.platform.setTpr(cpu, lo);
  cpu.stop |= Stop.EVENT;
  return true;
}

/** EFER bits this CPU model accepts. */
function eferWritable(cpu: Vcpu): number {
  let bits = Efer.LME | Efer.LMA;
  if (cpu.model.has('syscall')) bits |= Efer.SCE;
  if (cpu.model.has('nx')) bits |= Efer.NXE;
  return bits;
}

export function writeEfer(cpu: Vcpu, lo: number, hi: number): boolean {
  if (hi !== 0 || (lo & ~eferWritable(cpu)) !== 0) { cpu.raiseGp(0); return false; }
  const old = cpu.efer;
  // LME cannot change while paging is enabled; LMA is read-only (writes of a different value #GP on Intel).
  if ((cpu.cr0 & Cr0.PG) !== 0 && ((old ^ lo) & Efer.LME) !== 0) { cpu.raiseGp(0); return false; }
  const value = (lo & ~Efer.LMA) | (old & Efer.LMA);
  cpu.efer = value;
  if (((old ^ value) & Efer.NXE) !== 0) pagingChanged(cpu);
  cpu.platform.controlRegisterWritten(cpu, ControlReg.EFER, old, value);
  return true;
}
