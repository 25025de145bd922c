import type { Vcpu } from '../cpu/vcpu.js';
import { family } from './registry.js';
import { ea, readMem, writeReg } from './operands.js';
import { Seg } from '../arch/registers.js';
import { loadDataSegment } from '../cpu/segmentation.js';

/** The far pointer last read by readFarPointer: its offset (low and high half) and selector. */
export let farOffLo = 0;
export let farOffHi = 0;
export let farSel = 0;

/**
 * Reads the far pointer m16:16/32/64 at record i's memory operand, the load LDS..LGS and JMP/CALL
 * FAR m16:xx share: an offset of `size` bytes (2, 4 or 8) and the 16-bit selector after it, into
 * farOffLo/farOffHi/farSel. Both parts are read before either is used; false if a read faulted.
 */
export function readFarPointer(cpu: Vcpu, i: number, size: number): boolean {
  const lo = ea(cpu, i);
  const hi = cpu.eaHi;
  farOffLo = readMem(cpu, lo, hi, size);
  farOffHi = size === 8 ? cpu.mem.hi : 0;
  farSel = cpu.mem.read16((lo + size) | 0, hi);
  return cpu.exc < 0;
}

/**
 * LDS, LES, LSS, LFS and LGS (the variant is the segment register): load a far pointer from memory,
 * its offset (2, 4 or 8 bytes, the operand size) into the register operand and the 16-bit selector
 * that follows it into the segment register. The segment is loaded first, with MOV Sreg's checks,
 * so a faulting selector leaves the register unchanged. A register source is #UD. Unlike MOV SS,
 * LSS opens no interrupt shadow.
 */
export const LOAD_FAR_POINTER = family('load-far-pointer', (form) => {
  const size = form.size;
  const seg = form.variant as Seg;
  if (!form.mem) return (cpu) => { cpu.raiseUd(); };
  return (cpu, i) => {
    if (!readFarPointer(cpu, i, size)) return;
    if (!loadDataSegment(cpu, seg, farSel)) return;
    writeReg(cpu, cpu.dec.reg[i], size, farOffLo, farOffHi);
  };
});
