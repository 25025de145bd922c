import type { Vcpu } from '../cpu/vcpu.js';
import { CpuMode } from '../cpu/vcpu.js';
import { Base } from '../decode/store.js';
import { Seg } from '../arch/registers.js';
import { checkSegmentLimit } from '../cpu/segmentation.js';
import { isCanonical } from '../arch/u64.js';

/**
 * Operand access shared by every handler: the effective-address calculation (SDM Vol. 2 2.1.5,
 * Vol. 1 3.7.5), the segment base, and reads/writes of register or memory operands by size.
 *
 * `ea` returns the low half of the linear address and leaves the high half in cpu.eaHi.
 */

/** Linear address of record i's memory operand: its offset plus the segment base. */
export function ea(cpu: Vcpu, i: number): number {
  const lo = offsetOf(cpu, i);
  return addSegment(cpu, cpu.dec.seg[i], lo, cpu.eaHi, cpu.dec.size[i]);
}

/**
 * Effective address (the offset within the segment, as LEA computes it) of record i's memory
 * operand, wrapped to the address size; the high half is left in cpu.eaHi.
 */
export function offsetOf(cpu: Vcpu, i: number): number {
  const d = cpu.dec;
  const asize = d.asize[i];
  let lo = d.disp[i];
  let hi = 0;
  if (asize === 8) {
    hi = lo >> 31;
    const base = d.base[i];
    if (base >= 0) {
      if (base < 16) {
        const s = (lo >>> 0) + (cpu.lo[base] >>> 0);
        hi = (hi + cpu.hi[base] + (s > 0xffffffff ? 1 : 0)) | 0;
        lo = s | 0;
      } else if (base === Base.RIP) {
        const s = (lo >>> 0) + (cpu.ripLo >>> 0);
        hi = (hi + cpu.ripHi + (s > 0xffffffff ? 1 : 0)) | 0;
        lo = s | 0;
      } else {
        hi = d.imm2[i];
      }
    }
    const index = d.index[i];
    if (index >= 0) {
      const sc = d.scale[i];
      const ilo = cpu.lo[index];
      const ihi = sc === 0 ? cpu.hi[index] : (cpu.hi[index] << sc) | (ilo >>> (32 - sc));
      const s = (lo >>> 0) + ((ilo << sc) >>> 0);
      hi = (hi + ihi + (s > 0xffffffff ? 1 : 0)) | 0;
      lo = s | 0;
    }
  } else if (asize === 4) {
    const base = d.base[i];
    if (base >= 0) lo = (lo + (base === Base.RIP ? cpu.ripLo : cpu.lo[base])) | 0;
    const index = d.index[i];
    if (index >= 0) lo = (lo + (cpu.lo[index] << d.scale[i])) | 0;
  } else {
    const base = d.base[i];
    if (base >= 0) lo += cpu.lo[base];
    const index = d.index[i];
    if (index >= 0) lo += cpu.lo[index];
    lo &= 0xffff;
  }
  cpu.eaHi = hi;
  return lo;
}

/**
 * Adds the segment base to an offset. In 64-bit mode only FS and GS have a base and nothing is
 * limit-checked; elsewhere the base is added modulo 2^32 and non-flat segments are checked.
 * On a segment violation the exception is raised and a poison address is returned whose high half
 * can never match a TLB entry, so the access goes to the slow path, which sees the pending exception.
 */
export function addSegment(cpu: Vcpu, seg: number, lo: number, hi: number, size: number): number {
  if (cpu.mode === CpuMode.LONG64) {
    if (seg >= Seg.FS) {
      const s = (lo >>> 0) + (cpu.seg.baseLo[seg] >>> 0);
      hi = (hi + cpu.seg.baseHi[seg] + (s > 0xffffffff ? 1 : 0)) | 0;
      lo = s | 0;
    } else if (seg === Seg.SS && ((hi << 16) >> 16) !== hi && !isCanonical(lo, hi, cpu.paging.ctx.format.vaBits || 48)) {
      // A non-canonical stack-segment reference is #SS(0), not #GP(0) (SDM Vol. 3 6.15, #SS).
      // The access itself then faults too, but the first exception of an instruction wins.
      cpu.raiseSs(0);
    }
    cpu.eaHi = hi;
    return lo;
  }
  if ((cpu.segCheck & (1 << seg)) !== 0 && !checkSegmentLimit(cpu, seg, lo, size)) {
    cpu.eaHi = POISON_HI;
    return lo;
  }
  cpu.eaHi = 0;
  return (lo + cpu.seg.baseLo[seg]) | 0;
}

/** High half of an address no TLB entry can hold outside 64-bit mode. */
export const POISON_HI = 0x40000000;

/** Reads `size` bytes (1, 2, 4) at a linear address; 8 returns the low half (high in cpu.mem.hi). */
export function readMem(cpu: Vcpu, lo: number, hi: number, size: number): number {
  switch (size) {
    case 1: return cpu.mem.read8(lo, hi);
    case 2: return cpu.mem.read16(lo, hi);
    case 4: return cpu.mem.read32(lo, hi);
    default: return cpu.mem.read64(lo, hi);
  }
}

export function writeMem(cpu: Vcpu, lo: number, hi: number, size: number, v: number, vhi: number): void {
  switch (size) {
    case 1: cpu.mem.write8(lo, hi, v); break;
    case 2: cpu.mem.write16(lo, hi, v); break;
    case 4: cpu.mem.write32(lo, hi, v); break;
    default: cpu.mem.write64(lo, hi, v, vhi); break;
  }
}

/** Reads register `r` at `size`; the high half of an 8-byte register is cpu.hi[r]. */
export function readReg(cpu: Vcpu, r: number, size: number): number {
  switch (size) {
    case 1: return cpu.get8(r);
    case 2: return cpu.lo[r] & 0xffff;
    default: return cpu.lo[r];
  }
}

export function writeReg(cpu: Vcpu, r: number, size: number, v: number, vhi: number): void {
  switch (size) {
    case 1: cpu.set8(r, v); break;
    case 2: cpu.set16(r, v); break;
    case 4: cpu.lo[r] = v; cpu.hi[r] = 0; break;
    default: cpu.lo[r] = v; cpu.hi[r] = vhi; break;
  }
}

/** Masks a value to `size` bytes as a non-negative number for sizes 1 and 2 (4 and 8: unchanged int32). */
export function truncate(v: number, size: number): number {
  return size === 1 ? v & 0xff : size === 2 ? v & 0xffff : v;
}

/** Sign-extends the low `size` bytes of v to int32. */
export function signExtend(v: number, size: number): number {
  return size === 1 ? (v << 24) >> 24 : size === 2 ? (v << 16) >> 16 : v | 0;
}
