import { type Entry, RowFlag as F, grp, mod, op, rm, unimplemented } from './table.js';
import { ArithKind, X87, X87_OP, x87Ready } from '../exec/x87.js';

/**
 * The x87 escape opcodes D8-DF (SDM Vol. 2 Tables ): with a memory operand ModRM.reg
 * selects the operation; with a register operand ModRM.reg selects a row and ModRM.rm is ST(i)
 * (or, in D9, DA, DB, DE and DF, a single instruction). Rows without an implementation (the
 * transcendentals, FSAVE/FRSTOR, FBLD/FBSTP) are named so a guest using them gets a report.
 */

const none = undefined;

/** A row: the text's first word is the mnemonic; the operand words are for the reader only. */
function x(text: string, variant: number): Entry {
  return op(text.split(' ')[0], X87_OP, variant, F.MODRM, 'fpu');
}

/** A named row mmulab does not implement: the x87's #NM (CR0.EM or CR0.TS) comes first. */
function later(text: string): Entry {
  return unimplemented(text.split(' ')[0], x87Ready, F.MODRM);
}

const ARITH_NAMES = ['fadd', 'fmul', 'fcom', 'fcomp', 'fsub', 'fsubr', 'fdiv', 'fdivr'];

/** The eight arithmetic operations on one operand kind (memory forms, or register rows). */
function arithGroup(kind: ArithKind, operand: string, names = ARITH_NAMES): Entry[] {
  return names.map((n, reg) => x(`${n} ${operand}`, X87.ARITH + kind * 8 + reg));
}

/** A register row whose eight ModRM.rm values are all the same instruction on ST(i). */
function sti(text: string, variant: number): Entry {
  return x(text, variant);
}

const D9_REG: (Entry | undefined)[] = [
  sti('fld ST(i)', X87.FLD_ST),
  sti('fxch ST(i)', X87.FXCH),
  rm([x('fnop', X87.FNOP), none, none, none, none, none, none, none]),
  none,
  rm([x('fchs', X87.FCHS), x('fabs', X87.FABS), none, none, x('ftst', X87.FTST), x('fxam', X87.FXAM), none, none]),
  rm([x('fld1', X87.FLD1), x('fldl2t', X87.FLDL2T), x('fldl2e', X87.FLDL2E), x('fldpi', X87.FLDPI),
    x('fldlg2', X87.FLDLG2), x('fldln2', X87.FLDLN2), x('fldz', X87.FLDZ), none]),
  rm([later('f2xm1'), later('fyl2x'), later('fptan'), later('fpatan'), later('fxtract'), later('fprem1'),
    x('fdecstp', X87.FDECSTP), x('fincstp', X87.FINCSTP)]),
  rm([later('fprem'), later('fyl2xp1'), x('fsqrt', X87.FSQRT), later('fsincos'), x('frndint', X87.FRNDINT),
    later('fscale'), later('fsin'), later('fcos')]),
];

const D9_MEM: (Entry | undefined)[] = [
  x('fld m32', X87.FLD_M32), none, x('fst m32', X87.FST_M32), x('fstp m32', X87.FSTP_M32),
  x('fldenv m', X87.FLDENV), x('fldcw m16', X87.FLDCW), x('fnstenv m', X87.FNSTENV), x('fnstcw m16', X87.FNSTCW),
];

const DA_REG: (Entry | undefined)[] = [
  sti('fcmovb ST(i)', X87.FCMOV), sti('fcmove ST(i)', X87.FCMOV), sti('fcmovbe ST(i)', X87.FCMOV), sti('fcmovu ST(i)', X87.FCMOV),
  none, rm([none, x('fucompp', X87.FUCOMPP), none, none, none, none, none, none]), none, none,
];

const DB_REG: (Entry | undefined)[] = [
  sti('fcmovnb ST(i)', X87.FCMOVN), sti('fcmovne ST(i)', X87.FCMOVN), sti('fcmovnbe ST(i)', X87.FCMOVN), sti('fcmovnu ST(i)', X87.FCMOVN),
  rm([x('fneni (nop)', X87.FNOP), x('fndisi (nop)', X87.FNOP), x('fnclex', X87.FNCLEX), x('fninit', X87.FNINIT),
    x('fsetpm (nop)', X87.FNOP), none, none, none]),
  sti('fucomi ST(i)', X87.FUCOMI), sti('fcomi ST(i)', X87.FCOMI), none,
];

const DB_MEM: (Entry | undefined)[] = [
  x('fild m32', X87.FILD_M32), x('fisttp m32', X87.FISTTP_M32), x('fist m32', X87.FIST_M32), x('fistp m32', X87.FISTP_M32),
  none, x('fld m80', X87.FLD_M80), none, x('fstp m80', X87.FSTP_M80),
];

const DD_REG: (Entry | undefined)[] = [
  sti('ffree ST(i)', X87.FFREE), none, sti('fst ST(i)', X87.FST_ST), sti('fstp ST(i)', X87.FSTP_ST),
  sti('fucom ST(i)', X87.FUCOM), sti('fucomp ST(i)', X87.FUCOMP), none, none,
];

const DD_MEM: (Entry | undefined)[] = [
  x('fld m64', X87.FLD_M64), x('fisttp m64', X87.FISTTP_M64), x('fst m64', X87.FST_M64), x('fstp m64', X87.FSTP_M64),
  later('frstor m'), none, later('fnsave m'), x('fnstsw m16', X87.FNSTSW),
];

const DE_REG: (Entry | undefined)[] = arithGroup(ArithKind.STI_ST0_POP, 'ST(i),ST',
  ['faddp', 'fmulp', 'fcomp5', 'fcompp', 'fsubrp', 'fsubp', 'fdivrp', 'fdivp']).map((e, reg) =>
  (reg === 3 ? rm([none, x('fcompp', X87.FCOMPP), none, none, none, none, none, none]) : e));

const DF_REG: (Entry | undefined)[] = [
  later('ffreep ST(i)'), none, none, none,
  rm([x('fnstsw AX', X87.FNSTSW_AX), none, none, none, none, none, none, none]),
  sti('fucomip ST(i)', X87.FUCOMIP), sti('fcomip ST(i)', X87.FCOMIP), none,
];

const DF_MEM: (Entry | undefined)[] = [
  x('fild m16', X87.FILD_M16), x('fisttp m16', X87.FISTTP_M16), x('fist m16', X87.FIST_M16), x('fistp m16', X87.FISTP_M16),
  later('fbld m80'), x('fild m64', X87.FILD_M64), later('fbstp m80'), x('fistp m64', X87.FISTP_M64),
];

/** Entries for opcodes D8 to DF, in order. */
export const X87_ESCAPES: Entry[] = [
  mod(grp(arithGroup(ArithKind.M32, 'm32')), grp(arithGroup(ArithKind.ST0_STI, 'ST,ST(i)'))),
  mod(grp(D9_MEM), grp(D9_REG)),
  mod(grp(arithGroup(ArithKind.M32INT, 'm32int', ARITH_NAMES.map((n) => n.replace('f', 'fi')))), grp(DA_REG)),
  mod(grp(DB_MEM), grp(DB_REG)),
  mod(grp(arithGroup(ArithKind.M64, 'm64')), grp(arithGroup(ArithKind.STI_ST0, 'ST(i),ST',
    ['fadd', 'fmul', 'fcom2', 'fcomp3', 'fsubr', 'fsub', 'fdivr', 'fdiv']))),
  mod(grp(DD_MEM), grp(DD_REG)),
  mod(grp(arithGroup(ArithKind.M16INT, 'm16int', ARITH_NAMES.map((n) => n.replace('f', 'fi')))), grp(DE_REG)),
  mod(grp(DF_MEM), grp(DF_REG)),
];
