import { family } from './registry.js';
import { ea, readMem, writeReg } from './operands.js';
import { Seg } from '../arch/registers.js';
import { loadDataSegment } from '../cpu/segmentation.js';

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
  return (cpu, i) => {
    if (!form.mem) { cpu.raiseUd(); return; }
    const lo = ea(cpu, i);
    const hi = cpu.eaHi;
    const offset = readMem(cpu, lo, hi, size);
    const offsetHi = size === 8 ? cpu.mem.hi : 0;
    const selector = cpu.mem.read16((lo + size) | 0, hi);
    if (cpu.exc >= 0) return;
    if (!loadDataSegment(cpu, seg, selector)) return;
    writeReg(cpu, cpu.dec.reg[i], size, offset, offsetHi);
  };
});
