import type { Vcpu } from '../cpu/vcpu.js';
import { Reg, Seg } from '../arch/registers.js';
import { isCanonical } from '../arch/u64.js';
import { checkSegmentLimit } from '../cpu/segmentation.js';

/**
 * Stack primitives: the stack pointer width follows the mode (RSP in 64-bit mode, else ESP or SP
 * by SS.B); the address is SS-relative; a non-canonical or out-of-limit stack address raises #SS(0).
 * A push or pop changes RSP only if its memory access succeeds.
 */

/** High half of the last 8-byte pop. */
export let poppedHi = 0;

/** Linear address of stack offset (lo, hi), or false after raising #SS. Result high half in stackLinearHi. */
export let stackLinearHi = 0;
export function stackLinear(cpu: Vcpu, lo: number, hi: number, size: number): number | false {
  if (cpu.stackBytes === 8) {
    if (!isCanonical(lo, hi, cpu.paging.ctx.format.vaBits || 48)) { cpu.raiseSs(0); return false; }
    stackLinearHi = hi;
    return lo;
  }
  if ((cpu.segCheck & (1 << Seg.SS)) !== 0 && !checkSegmentLimit(cpu, Seg.SS, lo, size)) return false;
  stackLinearHi = 0;
  return (lo + cpu.seg.baseLo[Seg.SS]) | 0;
}

/** Stack pointer after moving by `delta` bytes, in the stack width; high half in spHi. */
export let spHi = 0;
export function movedSp(cpu: Vcpu, delta: number): number {
  const lo = cpu.lo[Reg.RSP];
  switch (cpu.stackBytes) {
    case 8: {
      const s = (lo >>> 0) + delta;
      spHi = (cpu.hi[Reg.RSP] + (s > 0xffffffff ? 1 : s < 0 ? -1 : 0)) | 0;
      return s | 0;
    }
    case 4: spHi = 0; return (lo + delta) | 0;
    default: spHi = 0; return (lo + delta) & 0xffff;
  }
}

/** Writes the stack pointer in the stack width (a 16-bit stack keeps the upper bits of ESP). */
export function setSp(cpu: Vcpu, lo: number, hi: number): void {
  switch (cpu.stackBytes) {
    case 8: cpu.lo[Reg.RSP] = lo; cpu.hi[Reg.RSP] = hi; break;
    case 4: cpu.lo[Reg.RSP] = lo; cpu.hi[Reg.RSP] = 0; break;
    default: cpu.set16(Reg.RSP, lo); break;
  }
}

export function push(cpu: Vcpu, size: number, v: number, vhi: number): boolean {
  const lo = movedSp(cpu, -size);
  const hi = spHi;
  const la = stackLinear(cpu, lo, hi, size);
  if (la === false) return false;
  switch (size) {
    case 2: cpu.mem.write16(la, stackLinearHi, v); break;
    case 4: cpu.mem.write32(la, stackLinearHi, v); break;
    default: cpu.mem.write64(la, stackLinearHi, v, vhi); break;
  }
  if (cpu.exc >= 0) return false;
  setSp(cpu, lo, hi);
  return true;
}

/** Reads the value `offset` bytes above the stack pointer without popping it. */
export function peek(cpu: Vcpu, offset: number, size: number): number {
  const lo = movedSp(cpu, offset);
  const la = stackLinear(cpu, lo, spHi, size);
  if (la === false) return 0;
  switch (size) {
    case 2: return cpu.mem.read16(la, stackLinearHi);
    case 4: return cpu.mem.read32(la, stackLinearHi);
    default: { const v = cpu.mem.read64(la, stackLinearHi); poppedHi = cpu.mem.hi; return v; }
  }
}

/** Pops `size` bytes; on a fault returns 0 with RSP unchanged (check cpu.exc). */
export function pop(cpu: Vcpu, size: number): number {
  const v = peek(cpu, 0, size);
  if (cpu.exc >= 0) return 0;
  const lo = movedSp(cpu, size);
  setSp(cpu, lo, spHi);
  return v;
}
