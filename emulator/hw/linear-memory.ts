import { Flag } from '../arch/eflags.js';
import { Access } from '../paging/walker.js';
import { TLB_MASK, TlbPerm } from './tlb.js';
import type { PagingUnit } from './paging-unit.js';

/** What linear-memory access needs of its vCPU: privilege, RFLAGS.AC, and where faults go. */
export interface MemoryCpu {
  /** The vector of the exception the current instruction raised, or -1. */
  readonly exc: number;
  readonly cpl: number;
  readonly flags: number;
  raisePageFault(lo: number, hi: number, errorCode: number): void;
}

/**
 * Linear-memory access for instruction handlers: the hot path of every load and store.
 *
 * Fast path: the TLB fast tag for the page equals the linear page number and the access does not
 * cross the page, so the value is read from the arena directly. Everything else (TLB miss, a
 * permission the fast tag does not grant, MMIO, a page holding decoded code, a page-crossing access)
 * takes the slow path through the paging unit.
 *
 * Faults do not throw: the access records the exception on the vCPU (cpu.exc >= 0) and returns 0;
 * the handler checks cpu.exc before committing any state. 8-byte reads return the low half and
 * leave the high half in `hi`.
 */
export class LinearMemory {
  readonly view: DataView;
  readonly bytes: Uint8Array;
  /** High half of the last 8-byte read. */
  hi = 0;
  private readonly cpu: MemoryCpu;
  private readonly unit: PagingUnit;

  constructor(cpu: MemoryCpu, unit: PagingUnit) {
    this.cpu = cpu;
    this.unit = unit;
    this.view = unit.arena.view;
    this.bytes = unit.arena.bytes;
  }

  read8(lo: number, hi: number): number {
    const tlb = this.unit.tlb;
    const slot = (lo >>> 12) & TLB_MASK;
    if (tlb.read[slot] === (hi >>> 0) * 1048576 + (lo >>> 12)) return this.bytes[tlb.fastHost[slot] + (lo & 0xfff)];
    return this.readSlow(lo, hi, 1);
  }

  read16(lo: number, hi: number): number {
    const tlb = this.unit.tlb;
    const slot = (lo >>> 12) & TLB_MASK;
    const off = lo & 0xfff;
    if (tlb.read[slot] === (hi >>> 0) * 1048576 + (lo >>> 12) && off <= 0xffe) {
      return this.view.getUint16(tlb.fastHost[slot] + off, true);
    }
    return this.readSlow(lo, hi, 2);
  }

  read32(lo: number, hi: number): number {
    const tlb = this.unit.tlb;
    const slot = (lo >>> 12) & TLB_MASK;
    const off = lo & 0xfff;
    if (tlb.read[slot] === (hi >>> 0) * 1048576 + (lo >>> 12) && off <= 0xffc) {
      return this.view.getInt32(tlb.fastHost[slot] + off, true);
    }
    return this.readSlow(lo, hi, 4);
  }

  read64(lo: number, hi: number): number {
    const tlb = this.unit.tlb;
    const slot = (lo >>> 12) & TLB_MASK;
    const off = lo & 0xfff;
    if (tlb.read[slot] === (hi >>> 0) * 1048576 + (lo >>> 12) && off <= 0xff8) {
      const h = tlb.fastHost[slot] + off;
      this.hi = this.view.getInt32(h + 4, true);
      return this.view.getInt32(h, true);
    }
    const low = this.readSlow(lo, hi, 4);
    if (this.cpu.exc >= 0) return 0;
    const nextLo = (lo + 4) | 0;
    const high = this.readSlow(nextLo, (lo >>> 0) > 0xfffffffb ? (hi + 1) | 0 : hi, 4);
    this.hi = high;
    return low;
  }

  write8(lo: number, hi: number, v: number): void {
    const tlb = this.unit.tlb;
    const slot = (lo >>> 12) & TLB_MASK;
    if (tlb.write[slot] === (hi >>> 0) * 1048576 + (lo >>> 12)) {
      this.bytes[tlb.fastHost[slot] + (lo & 0xfff)] = v;
      return;
    }
    this.writeSlow(lo, hi, 1, v);
  }

  write16(lo: number, hi: number, v: number): void {
    const tlb = this.unit.tlb;
    const slot = (lo >>> 12) & TLB_MASK;
    const off = lo & 0xfff;
    if (tlb.write[slot] === (hi >>> 0) * 1048576 + (lo >>> 12) && off <= 0xffe) {
      this.view.setUint16(tlb.fastHost[slot] + off, v, true);
      return;
    }
    this.writeSlow(lo, hi, 2, v);
  }

  write32(lo: number, hi: number, v: number): void {
    const tlb = this.unit.tlb;
    const slot = (lo >>> 12) & TLB_MASK;
    const off = lo & 0xfff;
    if (tlb.write[slot] === (hi >>> 0) * 1048576 + (lo >>> 12) && off <= 0xffc) {
      this.view.setInt32(tlb.fastHost[slot] + off, v, true);
      return;
    }
    this.writeSlow(lo, hi, 4, v);
  }

  /** Writes (vlo, vhi) as 8 bytes. Both halves are checked for faults before either is written. */
  write64(lo: number, hi: number, vlo: number, vhi: number): void {
    const tlb = this.unit.tlb;
    const slot = (lo >>> 12) & TLB_MASK;
    const off = lo & 0xfff;
    if (tlb.write[slot] === (hi >>> 0) * 1048576 + (lo >>> 12) && off <= 0xff8) {
      const h = tlb.fastHost[slot] + off;
      this.view.setInt32(h, vlo, true);
      this.view.setInt32(h + 4, vhi, true);
      return;
    }
    if (!this.probeWrite(lo, hi, 8)) return;
    const nextLo = (lo + 4) | 0;
    this.writeSlow(lo, hi, 4, vlo);
    this.writeSlow(nextLo, (lo >>> 0) > 0xfffffffb ? (hi + 1) | 0 : hi, 4, vhi);
  }

  /**
   * Checks that `size` bytes at (lo, hi) are writable, raising the fault if not, without writing.
   * Used before multi-part writes so that no part is written when another part faults (a stack push
   * of a far return address, an XCHG with a page-crossing operand).
   */
  probeWrite(lo: number, hi: number, size: number): boolean {
    return this.probe(lo, hi, size, Access.WRITE);
  }

  /** Same as probeWrite for reads. */
  probeRead(lo: number, hi: number, size: number): boolean {
    return this.probe(lo, hi, size, Access.READ);
  }

  /**
   * Translates both pages of a possibly page-crossing access. The second page is translated at
   * its first byte: that is the address a fault there reports in CR2.
   */
  private probe(lo: number, hi: number, size: number, kind: number): boolean {
    const endLo = (lo + size - 1) | 0;
    const endHi = (lo >>> 0) + size - 1 > 0xffffffff ? (hi + 1) | 0 : hi;
    const second = (endLo >>> 12) !== (lo >>> 12) || endHi !== hi;
    if (!this.unit.translate(lo, hi, this.accessKind(kind), second ? 0x1000 - (lo & 0xfff) : size)) return false;
    if (second) {
      if (!this.unit.translate(endLo & ~0xfff, endHi, this.accessKind(kind), (endLo & 0xfff) + 1)) return false;
    }
    return true;
  }

  /** Access bits for an explicit data access at the current privilege level. */
  accessKind(base: number): number {
    const cpu = this.cpu;
    if (cpu.cpl === 3) return base | Access.USER;
    return (cpu.flags & Flag.AC) !== 0 ? base | Access.AC : base;
  }

  private readSlow(lo: number, hi: number, size: number): number {
    const off = lo & 0xfff;
    if (off + size > 0x1000) return this.readSplit(lo, hi, size);
    if (!this.unit.translate(lo, hi, this.accessKind(Access.READ), size)) return 0;
    return this.unit.readTranslated(lo, size);
  }

  private readSplit(lo: number, hi: number, size: number): number {
    if (!this.probeRead(lo, hi, size)) return 0;
    let value = 0;
    for (let k = 0; k < size; k++) {
      const blo = (lo + k) | 0;
      const bhi = (lo >>> 0) + k > 0xffffffff ? (hi + 1) | 0 : hi;
      this.unit.translate(blo, bhi, this.accessKind(Access.READ));
      value |= this.unit.readTranslated(blo, 1) << (8 * k);
    }
    return size === 2 ? value & 0xffff : value;
  }

  private writeSlow(lo: number, hi: number, size: number, v: number): void {
    const off = lo & 0xfff;
    if (off + size > 0x1000) {
      if (!this.probeWrite(lo, hi, size)) return;
      for (let k = 0; k < size; k++) {
        const blo = (lo + k) | 0;
        const bhi = (lo >>> 0) + k > 0xffffffff ? (hi + 1) | 0 : hi;
        this.unit.translate(blo, bhi, this.accessKind(Access.WRITE));
        this.unit.writeTranslated(blo, 1, (v >>> (8 * k)) & 0xff);
      }
      return;
    }
    if (!this.unit.translate(lo, hi, this.accessKind(Access.WRITE), size)) return;
    this.unit.writeTranslated(lo, size, v);
  }

  /**
   * Host arena offset of a data byte, translating for a read: -1 after a fault, -2 if not RAM.
   * For bulk string operations, which then work on the arena a page at a time.
   */
  hostForRead(lo: number, hi: number): number {
    if (!this.unit.translate(lo, hi, this.accessKind(Access.READ))) return -1;
    return this.unit.hostOf(lo, false);
  }

  /** The same for a write; decoded code on the page is invalidated first. */
  hostForWrite(lo: number, hi: number): number {
    if (!this.unit.translate(lo, hi, this.accessKind(Access.WRITE))) return -1;
    return this.unit.hostOf(lo, true);
  }

  /**
   * Supervisor-implicit accesses (descriptor tables, the TSS, IDT): never user, and SMAP ignores
   * EFLAGS.AC for them.
   *
   * Reads take the supervisor read tag whatever the CPL: setFastTags grants it only where a
   * supervisor data read needs no check on each access (never on a user page under SMAP, which
   * implicit reads may not read whatever EFLAGS.AC says, nor on a page whose key denies access),
   * and a context change clears both privileges' tags. Every exception, interrupt and IRET reads
   * the IDT and the GDT (and the TSS on a privilege change) this way.
   */
  readImplicit32(lo: number, hi: number): number {
    const tlb = this.unit.tlb;
    const slot = (lo >>> 12) & TLB_MASK;
    const off = lo & 0xfff;
    if (tlb.supRead[slot] === (hi >>> 0) * 1048576 + (lo >>> 12) && off <= 0xffc) {
      return this.view.getInt32(tlb.fastHost[slot] + off, true);
    }
    if (off > 0xffc) {
      let v = 0;
      for (let k = 0; k < 4; k++) v |= this.readImplicit8((lo + k) | 0, (lo >>> 0) + k > 0xffffffff ? hi + 1 : hi) << (8 * k);
      return v;
    }
    if (!this.unit.translate(lo, hi, Access.IMPLICIT, 4)) return 0;
    return this.unit.readTranslated(lo, 4);
  }

  private readImplicit8(lo: number, hi: number): number {
    if (!this.unit.translate(lo, hi, Access.IMPLICIT)) return 0;
    return this.unit.readTranslated(lo, 1);
  }

  writeImplicit32(lo: number, hi: number, v: number): void {
    if (!this.unit.translate(lo, hi, Access.IMPLICIT | Access.WRITE, 4)) return;
    this.unit.writeTranslated(lo, 4, v);
  }

  /**
   * Host arena offset of the instruction byte at a linear address, translating for execution.
   * Returns -1 if the fetch faulted (exception recorded), -2 if the byte is not in RAM.
   */
  fetchHost(lo: number, hi: number): number {
    const tlb = this.unit.tlb;
    const slot = (lo >>> 12) & TLB_MASK;
    if (tlb.fetch[slot] === (hi >>> 0) * 1048576 + (lo >>> 12)) return tlb.fastHost[slot] + (lo & 0xfff);
    const access = this.cpu.cpl === 3 ? Access.FETCH | Access.USER : Access.FETCH;
    if (!this.unit.translate(lo, hi, access)) return -1;
    if ((tlb.perm[slot] & TlbPerm.MMIO) !== 0) return -2;
    return tlb.host[slot] + (lo & 0xfff);
  }

  /** Raises #PF for (lo, hi) with the given error code; also used by the paging unit. */
  pageFault(lo: number, hi: number, errorCode: number): void {
    this.cpu.raisePageFault(lo, hi, errorCode & 0xffff);
  }
}

