/**
 * RFLAGS bits and the table of flags (and results) the SDM leaves undefined, which the
 * differential tests mask out. Everything not listed here is compared exactly, and "not
 * affected" flags are compared too (they must keep their input value).
 *
 * Sources: Intel 64 and IA-32 Architectures SDM, Vol. 2A/2B (order no. 325383), the
 * "Flags Affected" section of each instruction page named below; Vol. 1 Appendix A
 * (EFLAGS cross-reference) agrees. Where a *result* is undefined it is masked as well, never
 * compared against what this AMD host happens to do.
 *
 *   Instruction page                       Undefined
 *   -------------------------------------  ----------------------------------------------------
 *   ADD ADC SUB SBB CMP NEG INC DEC        none (INC/DEC leave CF unchanged; compared)
 *   XADD CMPXCHG CMPS SCAS                 none (flags as ADD / CMP)
 *   AND OR XOR TEST                        AF
 *   NOT, MOV*, XCHG, BSWAP, LEA, CMOVcc,   no flags affected (all compared)
 *     SETcc, Jcc, PUSH/POP, CALL/RET ...
 *   MUL, IMUL (all forms)                  SF ZF AF PF
 *   DIV, IDIV                              CF OF SF ZF AF PF
 *   SAL/SAR/SHL/SHR  masked count 0        none (no flags affected)
 *                    masked count 1        AF
 *                    masked count > 1      AF OF
 *                    SHL/SHR, count >= operand width (8/16-bit only): CF also ("The CF flag
 *                    ... is undefined for SHL and SHR instructions where the count is greater
 *                    than or equal to the size (in bits) of the destination operand")
 *   ROL/ROR/RCL/RCR  masked count 0        none (no flags affected)
 *                    masked count 1        none
 *                    masked count > 1      OF ("OF is defined only for the 1-bit rotates")
 *                    RCL/RCR 8/16-bit: the rotate count is (count & 1FH) MOD 9 / MOD 17 per
 *                    the Operation section; a masked count that is a multiple of 9 (17) leaves
 *                    the value and CF unchanged, and OF is undefined as for any count > 1.
 *   SHLD/SHRD        masked count 0        none
 *                    1 <= count <= width   AF, and OF when count > 1
 *                    count > width (16-bit operands, counts 17..31): destination and
 *                    CF OF SF ZF AF PF are undefined (the destination is masked too)
 *   BT BTS BTR BTC                         OF SF AF PF (ZF unaffected, compared)
 *   BSF BSR                                CF OF SF AF PF; destination undefined when the
 *                                          source is 0 (Intel: "the content of the destination
 *                                          operand is undefined"; AMD documents it as
 *                                          unchanged). We follow Intel and mask the whole
 *                                          destination register or memory in that case.
 *   TZCNT LZCNT                            OF SF AF PF
 *   POPCNT                                 none (OF SF AF CF PF cleared, ZF = (src = 0))
 *   BSWAP r16                              the 16-bit result is undefined ("When the BSWAP
 *                                          instruction references a 16-bit register, the
 *                                          result is undefined"); bits 16-63 are compared
 *   CMPXCHG8B/16B                          none (only ZF written)
 *   SAHF / LAHF, CLC STC CMC CLD STD       none
 *   POPF                                   none among the compared bits; IF, IOPL, TF, RF
 *                                          are not compared anywhere (the host runs at CPL3
 *                                          with IF=1, the emulator at CPL0 with IF=0)
 */

export const CF = 0x1;
export const FIXED1 = 0x2;
export const PF = 0x4;
export const AF = 0x10;
export const ZF = 0x40;
export const SF = 0x80;
export const TF = 0x100;
export const IF = 0x200;
export const DF = 0x400;
export const OF = 0x800;
export const IOPL = 0x3000;
export const NT = 0x4000;
export const RF = 0x10000;
export const AC = 0x40000;
export const ID = 0x200000;

export const STATUS = CF | PF | AF | ZF | SF | OF;

/**
 * Bits compared on every case unless an instruction leaves some undefined: the status flags,
 * DF, NT, AC, ID and the fixed bits 1, 3, 5, 15 (which must read 1, 0, 0, 0).
 */
export const COMPARED = STATUS | DF | NT | AC | ID | FIXED1 | 0x8 | 0x20 | 0x8000;

const NAMES: [number, string][] = [
  [CF, 'CF'], [FIXED1, 'bit1'], [PF, 'PF'], [0x8, 'bit3'], [AF, 'AF'], [0x20, 'bit5'], [ZF, 'ZF'], [SF, 'SF'],
  [TF, 'TF'], [IF, 'IF'], [DF, 'DF'], [OF, 'OF'], [IOPL, 'IOPL'], [NT, 'NT'], [0x8000, 'bit15'], [RF, 'RF'],
  [AC, 'AC'], [ID, 'ID'],
];

export function flagNames(v: number): string {
  const s = NAMES.filter(([b]) => (v & b) !== 0).map(([, n]) => n);
  return s.length === 0 ? '-' : s.join(' ');
}

/** Undefined flags of the logic ops. */
export const LOGIC_UNDEF = AF;
export const MUL_UNDEF = SF | ZF | AF | PF;
export const DIV_UNDEF = STATUS;
export const BT_UNDEF = OF | SF | AF | PF;
export const BSF_UNDEF = CF | OF | SF | AF | PF;
export const CNT_UNDEF = OF | SF | AF | PF;

/** Shift/rotate operations in ModRM.reg order (group 2). */
export const Sh = { ROL: 0, ROR: 1, RCL: 2, RCR: 3, SHL: 4, SHR: 5, SAL: 6, SAR: 7 } as const;

/** Undefined flags of a group-2 shift/rotate of `width` bits by `count` (before masking). */
export function shiftUndef(op: number, width: number, count: number): number {
  const c = count & (width === 64 ? 63 : 31);
  if (c === 0) return 0;
  if (op <= 3) return c === 1 ? 0 : OF;
  let u = AF;
  if (c > 1) u |= OF;
  if ((op === 4 || op === 5 || op === 6) && c >= width) u |= CF;
  return u;
}

/** Undefined flags of SHLD/SHRD; `dest` is true when the destination is undefined too. */
export function shldUndef(width: number, count: number): { flags: number; dest: boolean } {
  const c = count & (width === 64 ? 63 : 31);
  if (c === 0) return { flags: 0, dest: false };
  if (c > width) return { flags: STATUS, dest: true };
  return { flags: c > 1 ? AF | OF : AF, dest: false };
}

/** The 16 condition codes, in encoding order. */
export const CC_NAMES = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'] as const;

/** Whether condition `cc` holds for `flags` (SDM Vol. 1 Appendix B). */
export function ccHolds(cc: number, flags: number): boolean {
  const cf = (flags & CF) !== 0, zf = (flags & ZF) !== 0, sf = (flags & SF) !== 0, of = (flags & OF) !== 0;
  const pf = (flags & PF) !== 0;
  let r: boolean;
  switch (cc >> 1) {
    case 0: r = of; break;
    case 1: r = cf; break;
    case 2: r = zf; break;
    case 3: r = cf || zf; break;
    case 4: r = sf; break;
    case 5: r = pf; break;
    case 6: r = sf !== of; break;
    default: r = zf || sf !== of; break;
  }
  return (cc & 1) === 0 ? r : !r;
}
