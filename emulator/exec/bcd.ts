import type { Vcpu } from '../cpu/vcpu.js';
import { family } from './registry.js';
import { materializeFlags, updateFlags } from './flags.js';
import { Flag } from '../arch/eflags.js';
import { Reg } from '../arch/registers.js';
import { Vector } from '../arch/vectors.js';

/**
 * The decimal-arithmetic adjustments of 16- and 32-bit code (all #UD in 64-bit mode, which the
 * decoder's I64 rows take care of): DAA, DAS, AAA, AAS, AAM, AAD, and the undocumented SALC.
 * The rules are the SDM's pseudocode. Flags the SDM leaves undefined keep their old values
 * (DAA/DAS: OF; AAA/AAS: OF, SF, ZF, PF), as QEMU's TCG leaves them, except after AAM/AAD,
 * where OF, AF and CF read 0 as under TCG (the result is treated as a logical one).
 */
export const enum BcdOp { DAA, DAS, AAA, AAS, AAM, AAD, SALC }

const AH = 16; // set8/get8 index of AH

const PARITY_EVEN = new Uint8Array(256).map((_, v) => {
  let bits = 0;
  for (let b = v; b !== 0; b >>= 1) bits += b & 1;
  return (bits & 1) === 0 ? 1 : 0;
});

/** SF, ZF and PF of an 8-bit result. */
function szp(al: number): number {
  return (al & 0x80) | (al === 0 ? Flag.ZF : 0) | (PARITY_EVEN[al] === 1 ? Flag.PF : 0);
}

const SZP = Flag.SF | Flag.ZF | Flag.PF;
const CF_AF = Flag.CF | Flag.AF;

/** DAA (add) and DAS (subtract): correct AL after a packed-BCD addition or subtraction. */
function decimalAdjust(cpu: Vcpu, subtract: boolean): void {
  const flags = materializeFlags(cpu);
  const oldAl = cpu.lo[Reg.RAX] & 0xff;
  const oldCf = (flags & Flag.CF) !== 0;
  let al = oldAl;
  let out = 0;
  if ((al & 0xf) > 9 || (flags & Flag.AF) !== 0) {
    // CF := old_CF or the carry/borrow of this step. A DAS borrow (AL < 6 with AF) survives the
    // high step; a DAA carry needs AL >= 0xFA, where the high step sets CF anyway.
    const wide = subtract ? al - 6 : al + 6;
    if (oldCf || wide < 0 || wide > 0xff) out |= Flag.CF;
    al = wide & 0xff;
    out |= Flag.AF;
  }
  if (oldAl > 0x99 || oldCf) {
    al = (subtract ? al - 0x60 : al + 0x60) & 0xff;
    out |= Flag.CF;
  }
  cpu.set8(Reg.RAX, al);
  updateFlags(cpu, CF_AF | SZP, out | szp(al));
}

/** AAA (add) and AAS (subtract): correct AL to an unpacked BCD digit, carrying into AH. */
function asciiAdjust(cpu: Vcpu, subtract: boolean): void {
  const flags = materializeFlags(cpu);
  const ax = cpu.lo[Reg.RAX] & 0xffff;
  if ((ax & 0xf) > 9 || (flags & Flag.AF) !== 0) {
    // AX +/- 6 carries from AL into AH, then AH moves by one more (the SDM's AX := AX + 106H).
    const adjusted = subtract ? ax - 6 - 0x100 : ax + 0x106;
    cpu.set16(Reg.RAX, (adjusted & 0xff00) | (adjusted & 0xf));
    updateFlags(cpu, CF_AF, CF_AF);
  } else {
    cpu.set16(Reg.RAX, ax & 0xff0f);
    updateFlags(cpu, CF_AF, 0);
  }
}

const ALL_ARITH = Flag.OF | CF_AF | SZP;

export const BCD = family('bcd', (form) => {
  switch (form.variant as BcdOp) {
    case BcdOp.DAA: return (cpu) => decimalAdjust(cpu, false);
    case BcdOp.DAS: return (cpu) => decimalAdjust(cpu, true);
    case BcdOp.AAA: return (cpu) => asciiAdjust(cpu, false);
    case BcdOp.AAS: return (cpu) => asciiAdjust(cpu, true);
    case BcdOp.AAM:
      // AH = AL / base, AL = AL mod base (the immediate is the base; 10 in the plain encoding).
      return (cpu, i) => {
        const base = cpu.dec.imm[i] & 0xff;
        if (base === 0) { cpu.raise(Vector.DE); return; }
        const al = cpu.lo[Reg.RAX] & 0xff;
        const rem = al % base;
        cpu.set16(Reg.RAX, (((al - rem) / base) << 8) | rem);
        updateFlags(cpu, ALL_ARITH, szp(rem));
      };
    case BcdOp.AAD:
      // AL = AL + AH * base, AH = 0.
      return (cpu, i) => {
        const base = cpu.dec.imm[i] & 0xff;
        const al = ((cpu.lo[Reg.RAX] & 0xff) + cpu.get8(AH) * base) & 0xff;
        cpu.set16(Reg.RAX, al);
        updateFlags(cpu, ALL_ARITH, szp(al));
      };
    case BcdOp.SALC:
      // AL = CF ? 0xFF : 0; no flag changes.
      return (cpu) => { cpu.set8(Reg.RAX, (materializeFlags(cpu) & Flag.CF) !== 0 ? 0xff : 0); };
  }
});
