import { Base } from '../decode/store.js';
import { Seg } from '../arch/registers.js';
import { TLB_MASK } from '../hw/tlb.js';
import type { InsnContext } from './context.js';

/**
 * Code for memory operands, specialised per instruction: the effective address with the
 * displacement, base, index and scale folded in (emulator/exec/operands.ts offsetOf and
 * addSegment, the same arithmetic), and the TLB hit test of emulator/hw/linear-memory.ts inlined.
 *
 * The generated code leaves the linear address in the locals `al` (low) and `ah` (high). A
 * condition the fast path needs (a flat segment outside 64-bit mode, a canonical stack address,
 * a TLB fast tag for the page, an access inside the page) goes into the `if` that guards the
 * instruction's inline body; when it fails, the interpreter's handler runs the instruction
 * instead, so faults, MMIO, code pages and page-crossing accesses behave exactly as interpreted.
 */

/** Statements computing the offset (LEA's value) into al/ah, as offsetOf does. */
export function emitOffset(c: InsnContext): string {
  const d = c.d;
  const i = c.i;
  const disp = d.disp[i];
  const asize = d.asize[i];
  const base = d.base[i];
  const index = d.index[i];
  const sc = d.scale[i];
  const regs = c.regs;
  const ripLo = `((r + ${c.next}) | 0)`;
  if (asize === 8) {
    let s: string;
    if (base === Base.ABS64) s = `al = ${disp}; ah = ${d.imm2[i]};`;
    else if (base >= 0) {
      const bl = base === Base.RIP ? ripLo : regs.lo(base);
      const bh = base === Base.RIP ? 'rh' : regs.hi(base);
      s = `s = ${disp >>> 0} + (${bl} >>> 0); al = s | 0; ah = (${disp >> 31} + ${bh} + (s > 4294967295 ? 1 : 0)) | 0;`;
    } else s = `al = ${disp}; ah = ${disp >> 31};`;
    if (index >= 0) {
      const il = regs.lo(index);
      const ih = regs.hi(index);
      const ihi = sc === 0 ? ih : `((${ih} << ${sc}) | (${il} >>> ${32 - sc}))`;
      s += ` s = (al >>> 0) + ((${il} << ${sc}) >>> 0); ah = (ah + ${ihi} + (s > 4294967295 ? 1 : 0)) | 0; al = s | 0;`;
    }
    return s;
  }
  const terms: string[] = [String(disp)];
  if (base >= 0) terms.push(base === Base.RIP ? ripLo : regs.lo(base));
  if (index >= 0) terms.push(asize === 4 ? `(${regs.lo(index)} << ${sc})` : regs.lo(index));
  return asize === 4 ? `al = (${terms.join(' + ')}) | 0; ah = 0;` : `al = (${terms.join(' + ')}) & 0xffff; ah = 0;`;
}

/**
 * Statements computing the linear address into al/ah, and the condition under which that equals
 * what addSegment computes without raising anything.
 */
export function emitLinear(c: InsnContext): { code: string; cond: string } {
  const i = c.i;
  const seg = c.d.seg[i];
  let code = emitOffset(c);
  if (c.bits === 64) {
    if (seg >= Seg.FS) {
      code += ` s = (al >>> 0) + (SBL[${seg}] >>> 0); ah = (ah + SBH[${seg}] + (s > 4294967295 ? 1 : 0)) | 0; al = s | 0;`;
      return { code, cond: 'true' };
    }
    // A stack-segment reference must be canonical (#SS otherwise): the handler decides when the
    // high half is not a sign extension of bit 47.
    if (seg === Seg.SS && c.d.asize[i] === 8) return { code, cond: '((ah << 16) >> 16) === ah' };
    return { code, cond: 'true' };
  }
  code += ` al = (al + SBL[${seg}]) | 0;`;
  return { code, cond: `(cpu.segCheck & ${1 << seg}) === 0` };
}

/** Last offset in a page at which an access of `size` bytes stays inside it. */
function lastOffset(size: number): number {
  return 4096 - size;
}

/** Condition: the page of al/ah has the fast tag in `tags` and the access fits in the page. */
export function tlbHit(tags: 'tR' | 'tW', size: number): string {
  const fit = size === 1 ? '' : ` && (al & 0xfff) <= ${lastOffset(size)}`;
  return `${tags}[(al >>> 12) & ${TLB_MASK}] === (ah >>> 0) * 1048576 + (al >>> 12)${fit}`;
}

/** Statement setting `hp` to the host address of al (valid after tlbHit). */
export const HOST = `hp = fh[(al >>> 12) & ${TLB_MASK}] + (al & 0xfff);`;

/** Expression reading `size` bytes at host address hp as the handlers' readMem returns it (low half for 8). */
export function loadAt(size: number): string {
  switch (size) {
    case 1: return 'bytes[hp]';
    case 2: return 'view.getUint16(hp, true)';
    default: return 'view.getInt32(hp, true)';
  }
}

/** Statement storing v (and vh for 8 bytes) at host address hp. */
export function storeAt(size: number, v: string, vh = '0'): string {
  switch (size) {
    case 1: return `bytes[hp] = ${v};`;
    case 2: return `view.setUint16(hp, ${v}, true);`;
    case 4: return `view.setInt32(hp, ${v}, true);`;
    default: return `view.setInt32(hp, ${v}, true); view.setInt32(hp + 4, ${vh}, true);`;
  }
}
