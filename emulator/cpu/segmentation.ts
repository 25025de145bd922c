import type { Vcpu } from './vcpu.js';
import { CpuMode, Stop } from './vcpu.js';
import { Seg } from '../arch/registers.js';
import { Cr0, Efer } from '../arch/control.js';
import { Vector } from '../arch/vectors.js';
import { SegAttr } from './segment-state.js';

/**
 * Segmentation (SDM Vol. 3 chapters 3 and 5): descriptor reads, segment-register loads with their
 * protection checks, limit checks, and the operating mode that CR0.PE, EFER.LMA and CS decide.
 */

/** A descriptor read from a table, unpacked. `hi` holds the upper 8 bytes of a 16-byte system descriptor. */
export class Descriptor {
  lo = 0;
  hi = 0;
  upper = 0;
  get baseLo(): number {
    return ((this.lo >>> 16) | ((this.hi & 0xff) << 16) | (this.hi & 0xff000000)) | 0;
  }
  get limit(): number {
    const raw = (this.lo & 0xffff) | (this.hi & 0x000f0000);
    return (this.hi & (1 << 23)) !== 0 ? ((raw << 12) | 0xfff) >>> 0 : raw;
  }
  /** Access byte in bits 7:0, flags (AVL, L, D/B, G) in bits 15:12. */
  get attr(): number {
    return ((this.hi >>> 8) & 0xff) | ((this.hi >>> 8) & 0xf000);
  }
  get dpl(): number {
    return (this.hi >>> 13) & 3;
  }
  get present(): boolean {
    return (this.hi & (1 << 15)) !== 0;
  }
  /** S=1: code or data. */
  get isCodeOrData(): boolean {
    return (this.hi & (1 << 12)) !== 0;
  }
  get type(): number {
    return (this.hi >>> 8) & 0xf;
  }
}

/**
 * Reads the 8-byte descriptor for `selector` from the GDT or LDT into `out`. Returns false (after
 * raising #GP(selector)) if the selector is outside the table. Reads are implicit supervisor accesses.
 */
export function readDescriptor(cpu: Vcpu, selector: number, out: Descriptor, exceptionVector = Vector.GP): boolean {
  const table = (selector & 4) !== 0 ? cpu.ldtr : cpu.gdtr;
  const offset = selector & 0xfff8;
  if (offset + 7 > table.limit || ((selector & 4) !== 0 && (cpu.ldtr.selector & 0xfffc) === 0)) {
    cpu.raise(exceptionVector, selector & 0xfffc);
    return false;
  }
  const lo = (table.baseLo + offset) | 0;
  const hiAddr = (table.baseLo >>> 0) + offset > 0xffffffff ? table.baseHi + 1 : table.baseHi;
  out.lo = cpu.mem.readImplicit32(lo, hiAddr);
  out.hi = cpu.mem.readImplicit32((lo + 4) | 0, hiAddr);
  return cpu.exc < 0;
}

/** Reads the upper half of a 16-byte system descriptor (64-bit mode LDT/TSS/gates). */
export function readDescriptorUpper(cpu: Vcpu, selector: number, out: Descriptor): boolean {
  const table = (selector & 4) !== 0 ? cpu.ldtr : cpu.gdtr;
  const offset = (selector & 0xfff8) + 8;
  if (offset + 7 > table.limit) {
    cpu.raiseGp(selector & 0xfffc);
    return false;
  }
  out.upper = cpu.mem.readImplicit32((table.baseLo + offset) | 0, table.baseHi);
  return cpu.exc < 0;
}

/** Sets the accessed bit of a code/data descriptor in memory, as the CPU does on a load. */
function markAccessed(cpu: Vcpu, selector: number, d: Descriptor): void {
  if ((d.hi & (1 << 8)) !== 0) return;
  d.hi |= 1 << 8;
  const table = (selector & 4) !== 0 ? cpu.ldtr : cpu.gdtr;
  cpu.mem.writeImplicit32((table.baseLo + (selector & 0xfff8) + 4) | 0, table.baseHi, d.hi);
}

const scratch = new Descriptor();

/**
 * MOV/POP to DS, ES, FS, GS or SS (and the data-segment part of far transfers). Real mode: base =
 * selector * 16. Protected mode: the checks of SDM Vol. 3 5.10 / the MOV instruction page.
 * Returns false if an exception was raised.
 */
export function loadDataSegment(cpu: Vcpu, seg: Seg, selector: number): boolean {
  selector &= 0xffff;
  if (cpu.mode === CpuMode.REAL || (cpu.flags & (1 << 17)) !== 0) {
    cpu.seg.loadReal(seg, selector);
    updateSegCheck(cpu);
    if (seg === Seg.SS) updateStackSize(cpu);
    return true;
  }
  const rpl = selector & 3;
  if ((selector & 0xfffc) === 0) {
    if (seg === Seg.SS && !(cpu.mode === CpuMode.LONG64 && cpu.cpl !== 3 && rpl === cpu.cpl)) {
      cpu.raiseGp(0);
      return false;
    }
    // A null selector makes the segment unusable (any access outside 64-bit mode faults) but
    // loading it is legal. Intel CPUs also clear the base, FS and GS included.
    cpu.seg.set(seg, selector, 0, 0, 0, 0);
    updateSegCheck(cpu);
    if (seg === Seg.SS) updateStackSize(cpu);
    return true;
  }
  const d = scratch;
  if (!readDescriptor(cpu, selector, d)) return false;
  const type = d.type;
  const code = (type & 8) !== 0;
  if (seg === Seg.SS) {
    if (rpl !== cpu.cpl || !d.isCodeOrData || code || (type & 2) === 0 || d.dpl !== cpu.cpl) {
      cpu.raiseGp(selector & 0xfffc);
      return false;
    }
    if (!d.present) {
      cpu.raise(Vector.SS, selector & 0xfffc);
      return false;
    }
  } else {
    const readable = !code || (type & 2) !== 0;
    const conforming = code && (type & 4) !== 0;
    if (!d.isCodeOrData || !readable || (!conforming && (d.dpl < cpu.cpl || d.dpl < rpl))) {
      cpu.raiseGp(selector & 0xfffc);
      return false;
    }
    if (!d.present) {
      cpu.raise(Vector.NP, selector & 0xfffc);
      return false;
    }
  }
  markAccessed(cpu, selector, d);
  if (cpu.exc >= 0) return false;
  cpu.seg.set(seg, selector, d.baseLo, 0, d.limit, d.attr);
  updateSegCheck(cpu);
  if (seg === Seg.SS) updateStackSize(cpu);
  return true;
}

/**
 * Loads CS from a code descriptor already checked by the caller (far JMP/CALL/RET, IRET, interrupt
 * delivery), sets CPL and recomputes the operating mode.
 */
export function loadCodeSegment(cpu: Vcpu, selector: number, d: Descriptor, cpl: number): void {
  cpu.seg.set(Seg.CS, (selector & 0xfffc) | cpl, d.baseLo, 0, d.limit, d.attr);
  setCpl(cpu, cpl);
  updateMode(cpu);
}

/** Sets CPL and selects the TLB fast tags of that privilege. */
export function setCpl(cpu: Vcpu, cpl: number): void {
  if (cpu.cpl === cpl) return;
  cpu.cpl = cpl;
  cpu.paging.tlb.selectPrivilege(cpl === 3);
  cpu.stop |= Stop.CONTEXT;
}

/** Recomputes mode, code size and stack size from CR0.PE, EFER.LMA and the CS/SS descriptors. */
export function updateMode(cpu: Vcpu): void {
  const attr = cpu.seg.attr[Seg.CS];
  let mode: CpuMode;
  if ((cpu.cr0 & Cr0.PE) === 0) mode = CpuMode.REAL;
  else if ((cpu.efer & Efer.LMA) !== 0) mode = (attr & SegAttr.L) !== 0 ? CpuMode.LONG64 : CpuMode.COMPAT;
  else mode = CpuMode.PROTECTED;
  const bits = mode === CpuMode.LONG64 ? 64 : mode === CpuMode.REAL ? (attr & SegAttr.DB) !== 0 ? 32 : 16 : (attr & SegAttr.DB) !== 0 ? 32 : 16;
  if (mode !== cpu.mode || bits !== cpu.codeBits) cpu.stop |= Stop.CONTEXT;
  cpu.mode = mode;
  cpu.codeBits = bits;
  updateStackSize(cpu);
  updateSegCheck(cpu);
}

function updateStackSize(cpu: Vcpu): void {
  cpu.stackBytes = cpu.mode === CpuMode.LONG64 ? 8 : (cpu.seg.attr[Seg.SS] & SegAttr.DB) !== 0 ? 4 : 2;
}

/** A segment needs per-access checks unless it is a present expand-up segment with a 4 GiB limit. */
export function updateSegCheck(cpu: Vcpu): void {
  let mask = 0;
  if (cpu.mode !== CpuMode.LONG64) {
    for (let s = 0; s < 6; s++) {
      const attr = cpu.seg.attr[s];
      const flat = cpu.seg.limit[s] === 0xffffffff && (attr & SegAttr.P) !== 0 &&
        ((attr & SegAttr.CODE) !== 0 || (attr & SegAttr.DC) === 0);
      if (!flat) mask |= 1 << s;
    }
  }
  cpu.segCheck = mask;
}

/**
 * Checks an access of `size` bytes at `offset` against a segment's limit (expand-up or expand-down)
 * and usability. Raises #SS(0) for SS, #GP(0) otherwise. Type checks (writes to read-only segments)
 * are made when the segment is loaded for SS, and here for others where the access kind is known.
 */
export function checkSegmentLimit(cpu: Vcpu, seg: number, offset: number, size: number): boolean {
  const attr = cpu.seg.attr[seg];
  const limit = cpu.seg.limit[seg];
  const first = offset >>> 0;
  const last = first + (size === 0 ? 1 : size) - 1;
  let ok: boolean;
  if (cpu.mode !== CpuMode.REAL && (attr & SegAttr.P) === 0) {
    ok = false;
  } else if ((attr & SegAttr.CODE) === 0 && (attr & SegAttr.DC) !== 0) {
    const upper = (attr & SegAttr.DB) !== 0 ? 0xffffffff : 0xffff;
    ok = first > limit && last <= upper;
  } else {
    ok = last <= limit;
  }
  if (!ok) {
    if (seg === Seg.SS) cpu.raiseSs(0);
    else cpu.raiseGp(0);
  }
  return ok;
}
