import { type Entry, RowFlag as F, grp, mod, op, pfx, unimplemented } from './table.js';
import {
  Cvt, MOVD, MOVMSK, MOVNTI, MOV_X, MXCSR_OP, MovX, SSE_BINARY, SSE_CMP, SSE_COMI, SSE_CVT, SSE_SHIFT, SSE_SHUF, SseOp,
  mmxReady, sseReady,
} from '../exec/sse.js';
import { FXSAVE } from '../exec/x87.js';
import { EMMS, MMX_MOV, MmxMov } from '../exec/mmx.js';
import type { FeatureName } from '../cpu/cpu-model.js';

/**
 * The SSE and SSE2 rows of the 0F map (SDM Vol. 2 Table A-3), selected by mandatory prefix:
 * none (packed single, SSE), 66 (packed double and 128-bit integer, SSE2), F3 (scalar single),
 * F2 (scalar double). Operand letters: V an XMM register in ModRM.reg, W an XMM register or memory
 * in ModRM.r/m, U an XMM register in ModRM.r/m; sizes x (128 bits), ss, sd (scalar), q, d, y.
 * MMX forms (no prefix, integer: P an MMX register in ModRM.reg, Q an MMX register or memory, N an
 * MMX register in r/m) and SSE3+ rows are listed by name, without an implementation, so a guest
 * using them gets a report naming the instruction, after the checks (CR0.EM, CR0.TS, CR4.OSFXSR)
 * that would fault first on hardware.
 */

const none = undefined;

function sse(text: string, exec: Parameters<typeof op>[1], variant: number, feature: FeatureName = 'sse2', flags = 0): Entry {
  return op(text, exec, variant, flags, feature);
}

/** A named SSE row mmulab does not implement (SSE3 and later): SSE's #UD/#NM rules apply first. */
export function later(name: string): Entry {
  return unimplemented(name, sseReady, F.MODRM);
}

/**
 * A named MMX row (not implemented): #UD with CR0.EM, #NM with CR0.TS, then the report. Not gated
 * on CPUID's MMX bit, which the default model leaves clear because MMX is not implemented: every
 * x86-64 processor has MMX, so a guest using it is reported rather than shown a #UD it would not
 * get on hardware (as the SSE3 rows are).
 */
function mmx(text: string): Entry {
  return unimplemented(text, mmxReady, F.MODRM);
}

/** One 0F opcode with its four prefix forms: packed single, packed double, scalar single, scalar double. */
function arith(name: string, ps: SseOp, pd: SseOp, ss: SseOp, sd: SseOp): Entry {
  return pfx({
    none: sse(`${name}ps Vx,Wx`, SSE_BINARY, ps, 'sse'),
    p66: sse(`${name}pd Vx,Wx`, SSE_BINARY, pd),
    pF3: sse(`${name}ss Vx,Wss`, SSE_BINARY, ss, 'sse'),
    pF2: sse(`${name}sd Vx,Wsd`, SSE_BINARY, sd),
  });
}

/** A 66-prefixed 128-bit integer operation (the unprefixed MMX form is named, not implemented). */
function int(name: string, operation: SseOp): Entry {
  return pfx({ none: mmx(`${name} Pq,Qq`), p66: sse(`${name} Vx,Wx`, SSE_BINARY, operation) });
}

/** PS and PD forms of a logic operation, which act on the bits like the integer ones. */
function logic(name: string, operation: SseOp): Entry {
  return pfx({ none: sse(`${name}ps Vx,Wx`, SSE_BINARY, operation, 'sse'), p66: sse(`${name}pd Vx,Wx`, SSE_BINARY, operation) });
}

/** Shift by XMM count: variant = element size * 4 + kind (0 srl, 1 sra, 2 sll). */
function shift(name: string, size: number, kind: number): Entry {
  return pfx({ none: mmx(`${name} Pq,Qq`), p66: sse(`${name} Vx,Wx`, SSE_SHIFT, size * 4 + kind) });
}

/** Shift groups 12-14 (0F 71-73): register-only, by imm8. */
function shiftImm(entries: ReadonlyArray<readonly [number, string, number, number]>): Entry {
  const rows: (Entry | undefined)[] = new Array(8).fill(undefined);
  const mmxRows: (Entry | undefined)[] = new Array(8).fill(undefined);
  for (const [reg, name, size, kind] of entries) {
    rows[reg] = mod(none, sse(`${name} Ux,Ib`, SSE_SHIFT, size * 4 + kind));
    // PSRLDQ/PSLLDQ have no MMX form.
    if (size !== 16) mmxRows[reg] = mod(none, mmx(`${name} Nq,Ib`));
  }
  return pfx({ none: grp(mmxRows), p66: grp(rows) });
}

export const SSE_ROWS: Array<[number, Entry]> = [
  [0x10, pfx({
    none: sse('movups Vx,Wx', MOV_X, MovX.LOAD, 'sse'), p66: sse('movupd Vx,Wx', MOV_X, MovX.LOAD),
    pF3: sse('movss Vx,Wss', MOV_X, MovX.MOVSS_LOAD, 'sse'), pF2: sse('movsd Vx,Wsd', MOV_X, MovX.MOVSD_LOAD),
  })],
  [0x11, pfx({
    none: sse('movups Wx,Vx', MOV_X, MovX.STORE, 'sse'), p66: sse('movupd Wx,Vx', MOV_X, MovX.STORE),
    pF3: sse('movss Wss,Vx', MOV_X, MovX.MOVSS_STORE, 'sse'), pF2: sse('movsd Wsd,Vx', MOV_X, MovX.MOVSD_STORE),
  })],
  [0x12, pfx({
    none: mod(sse('movlps Vx,Mq', MOV_X, MovX.MOVLP_LOAD, 'sse'), sse('movhlps Vx,Ux', MOV_X, MovX.MOVHLPS, 'sse')),
    p66: mod(sse('movlpd Vx,Mq', MOV_X, MovX.MOVLP_LOAD), none),
    pF3: later('movsldup'), pF2: later('movddup'),
  })],
  [0x13, pfx({ none: mod(sse('movlps Mq,Vx', MOV_X, MovX.MOVLP_STORE, 'sse'), none), p66: mod(sse('movlpd Mq,Vx', MOV_X, MovX.MOVLP_STORE), none) })],
  [0x14, pfx({ none: sse('unpcklps Vx,Wx', SSE_BINARY, SseOp.UNPCKLPS, 'sse'), p66: sse('unpcklpd Vx,Wx', SSE_BINARY, SseOp.UNPCKLPD) })],
  [0x15, pfx({ none: sse('unpckhps Vx,Wx', SSE_BINARY, SseOp.UNPCKHPS, 'sse'), p66: sse('unpckhpd Vx,Wx', SSE_BINARY, SseOp.UNPCKHPD) })],
  [0x16, pfx({
    none: mod(sse('movhps Vx,Mq', MOV_X, MovX.MOVHP_LOAD, 'sse'), sse('movlhps Vx,Ux', MOV_X, MovX.MOVLHPS, 'sse')),
    p66: mod(sse('movhpd Vx,Mq', MOV_X, MovX.MOVHP_LOAD), none),
    pF3: later('movshdup'),
  })],
  [0x17, pfx({ none: mod(sse('movhps Mq,Vx', MOV_X, MovX.MOVHP_STORE, 'sse'), none), p66: mod(sse('movhpd Mq,Vx', MOV_X, MovX.MOVHP_STORE), none) })],
  [0x28, pfx({ none: sse('movaps Vx,Wx', MOV_X, MovX.LOAD_ALIGNED, 'sse'), p66: sse('movapd Vx,Wx', MOV_X, MovX.LOAD_ALIGNED) })],
  [0x29, pfx({ none: sse('movaps Wx,Vx', MOV_X, MovX.STORE_ALIGNED, 'sse'), p66: sse('movapd Wx,Vx', MOV_X, MovX.STORE_ALIGNED) })],
  [0x2a, pfx({
    none: later('cvtpi2ps Vx,Qq'), p66: later('cvtpi2pd Vx,Qq'),
    pF3: sse('cvtsi2ss Vx,Ey', SSE_CVT, Cvt.SI2SS, 'sse'), pF2: sse('cvtsi2sd Vx,Ey', SSE_CVT, Cvt.SI2SD),
  })],
  [0x2b, pfx({ none: mod(sse('movntps Mx,Vx', MOV_X, MovX.STORE_ALIGNED, 'sse'), none), p66: mod(sse('movntpd Mx,Vx', MOV_X, MovX.STORE_ALIGNED), none) })],
  [0x2c, pfx({
    none: later('cvttps2pi Pq,Wq'), p66: later('cvttpd2pi Pq,Wx'),
    pF3: sse('cvttss2si Gy,Wss', SSE_CVT, Cvt.TSS2SI, 'sse'), pF2: sse('cvttsd2si Gy,Wsd', SSE_CVT, Cvt.TSD2SI),
  })],
  [0x2d, pfx({
    none: later('cvtps2pi Pq,Wq'), p66: later('cvtpd2pi Pq,Wx'),
    pF3: sse('cvtss2si Gy,Wss', SSE_CVT, Cvt.SS2SI, 'sse'), pF2: sse('cvtsd2si Gy,Wsd', SSE_CVT, Cvt.SD2SI),
  })],
  [0x2e, pfx({ none: sse('ucomiss Vx,Wss', SSE_COMI, 0, 'sse'), p66: sse('ucomisd Vx,Wsd', SSE_COMI, 1) })],
  [0x2f, pfx({ none: sse('comiss Vx,Wss', SSE_COMI, 2, 'sse'), p66: sse('comisd Vx,Wsd', SSE_COMI, 3) })],
  [0x50, pfx({ none: mod(none, sse('movmskps Gd,Ux', MOVMSK, 1, 'sse')), p66: mod(none, sse('movmskpd Gd,Ux', MOVMSK, 2)) })],
  [0x51, arith('sqrt', SseOp.SQRTPS, SseOp.SQRTPD, SseOp.SQRTSS, SseOp.SQRTSD)],
  [0x52, later('rsqrtps/rsqrtss')],
  [0x53, later('rcpps/rcpss')],
  [0x54, logic('and', SseOp.PAND)],
  [0x55, logic('andn', SseOp.PANDN)],
  [0x56, logic('or', SseOp.POR)],
  [0x57, logic('xor', SseOp.PXOR)],
  [0x58, arith('add', SseOp.ADDPS, SseOp.ADDPD, SseOp.ADDSS, SseOp.ADDSD)],
  [0x59, arith('mul', SseOp.MULPS, SseOp.MULPD, SseOp.MULSS, SseOp.MULSD)],
  [0x5a, pfx({
    none: sse('cvtps2pd Vx,Wq', SSE_CVT, Cvt.PS2PD), p66: sse('cvtpd2ps Vx,Wx', SSE_CVT, Cvt.PD2PS),
    pF3: sse('cvtss2sd Vx,Wss', SSE_CVT, Cvt.SS2SD), pF2: sse('cvtsd2ss Vx,Wsd', SSE_CVT, Cvt.SD2SS),
  })],
  [0x5b, pfx({
    none: sse('cvtdq2ps Vx,Wx', SSE_CVT, Cvt.DQ2PS), p66: sse('cvtps2dq Vx,Wx', SSE_CVT, Cvt.PS2DQ),
    pF3: sse('cvttps2dq Vx,Wx', SSE_CVT, Cvt.TPS2DQ),
  })],
  [0x5c, arith('sub', SseOp.SUBPS, SseOp.SUBPD, SseOp.SUBSS, SseOp.SUBSD)],
  [0x5d, arith('min', SseOp.MINPS, SseOp.MINPD, SseOp.MINSS, SseOp.MINSD)],
  [0x5e, arith('div', SseOp.DIVPS, SseOp.DIVPD, SseOp.DIVSS, SseOp.DIVSD)],
  [0x5f, arith('max', SseOp.MAXPS, SseOp.MAXPD, SseOp.MAXSS, SseOp.MAXSD)],
  [0x60, int('punpcklbw', SseOp.PUNPCKLBW)],
  [0x61, int('punpcklwd', SseOp.PUNPCKLWD)],
  [0x62, int('punpckldq', SseOp.PUNPCKLDQ)],
  [0x63, int('packsswb', SseOp.PACKSSWB)],
  [0x64, int('pcmpgtb', SseOp.PCMPGTB)],
  [0x65, int('pcmpgtw', SseOp.PCMPGTW)],
  [0x66, int('pcmpgtd', SseOp.PCMPGTD)],
  [0x67, int('packuswb', SseOp.PACKUSWB)],
  [0x68, int('punpckhbw', SseOp.PUNPCKHBW)],
  [0x69, int('punpckhwd', SseOp.PUNPCKHWD)],
  [0x6a, int('punpckhdq', SseOp.PUNPCKHDQ)],
  [0x6b, int('packssdw', SseOp.PACKSSDW)],
  [0x6c, pfx({ p66: sse('punpcklqdq Vx,Wx', SSE_BINARY, SseOp.PUNPCKLQDQ) })],
  [0x6d, pfx({ p66: sse('punpckhqdq Vx,Wx', SSE_BINARY, SseOp.PUNPCKHQDQ) })],
  // MOVD/MOVQ with an MMX register: P carries no size, so the form's size is Ey's (4, or 8 with REX.W).
  [0x6e, pfx({ none: op('movd/movq P,Ey', MMX_MOV, MmxMov.FROM_E), p66: sse('movd/movq Vx,Ey', MOVD, 0) })],
  [0x6f, pfx({ none: op('movq Pq,Qq', MMX_MOV, MmxMov.LOAD), p66: sse('movdqa Vx,Wx', MOV_X, MovX.LOAD_ALIGNED), pF3: sse('movdqu Vx,Wx', MOV_X, MovX.LOAD) })],
  [0x70, pfx({
    none: mmx('pshufw Pq,Qq,Ib'), p66: sse('pshufd Vx,Wx,Ib', SSE_SHUF, 0),
    pF3: sse('pshufhw Vx,Wx,Ib', SSE_SHUF, 1), pF2: sse('pshuflw Vx,Wx,Ib', SSE_SHUF, 2),
  })],
  [0x71, shiftImm([[2, 'psrlw', 2, 0], [4, 'psraw', 2, 1], [6, 'psllw', 2, 2]])],
  [0x72, shiftImm([[2, 'psrld', 4, 0], [4, 'psrad', 4, 1], [6, 'pslld', 4, 2]])],
  [0x73, shiftImm([[2, 'psrlq', 8, 0], [3, 'psrldq', 16, 0], [6, 'psllq', 8, 2], [7, 'pslldq', 16, 2]])],
  [0x74, int('pcmpeqb', SseOp.PCMPEQB)],
  [0x75, int('pcmpeqw', SseOp.PCMPEQW)],
  [0x76, int('pcmpeqd', SseOp.PCMPEQD)],
  [0x77, op('emms', EMMS)],
  [0x78, op('vmread Ey,Gy')],
  [0x79, op('vmwrite Gy,Ey')],
  [0x7c, later('haddpd/haddps')],
  [0x7d, later('hsubpd/hsubps')],
  [0x7e, pfx({ none: op('movd/movq Ey,P', MMX_MOV, MmxMov.TO_E), p66: sse('movd/movq Ey,Vx', MOVD, 1), pF3: sse('movq Vx,Wq', MOV_X, MovX.MOVQ_LOAD) })],
  [0x7f, pfx({ none: op('movq Qq,Pq', MMX_MOV, MmxMov.STORE), p66: sse('movdqa Wx,Vx', MOV_X, MovX.STORE_ALIGNED), pF3: sse('movdqu Wx,Vx', MOV_X, MovX.STORE) })],
  [0xc2, pfx({
    none: sse('cmpps Vx,Wx,Ib', SSE_CMP, 0, 'sse'), p66: sse('cmppd Vx,Wx,Ib', SSE_CMP, 1),
    pF3: sse('cmpss Vx,Wss,Ib', SSE_CMP, 2, 'sse'), pF2: sse('cmpsd Vx,Wsd,Ib', SSE_CMP, 3),
  })],
  [0xc3, pfx({ none: mod(sse('movnti My,Gy', MOVNTI, 0), none) })],
  [0xc4, pfx({ none: mmx('pinsrw Pq,Ed,Ib'), p66: later('pinsrw Vx,Ed,Ib') })],
  [0xc5, pfx({ none: mod(none, mmx('pextrw Gd,Nq,Ib')), p66: mod(none, later('pextrw Gd,Ux,Ib')) })],
  [0xc6, pfx({ none: sse('shufps Vx,Wx,Ib', SSE_SHUF, 3, 'sse'), p66: sse('shufpd Vx,Wx,Ib', SSE_SHUF, 4) })],
  [0xd0, later('addsubpd/addsubps')],
  [0xd1, shift('psrlw', 2, 0)],
  [0xd2, shift('psrld', 4, 0)],
  [0xd3, shift('psrlq', 8, 0)],
  [0xd4, int('paddq', SseOp.PADDQ)],
  [0xd5, int('pmullw', SseOp.PMULLW)],
  [0xd6, pfx({
    p66: sse('movq Wq,Vx', MOV_X, MovX.MOVQ_STORE), pF3: mod(none, later('movq2dq Vx,Nq')), pF2: mod(none, later('movdq2q Pq,Ux')),
  })],
  [0xd7, pfx({ none: mod(none, mmx('pmovmskb Gd,Nq')), p66: mod(none, sse('pmovmskb Gd,Ux', MOVMSK, 0)) })],
  [0xd8, int('psubusb', SseOp.PSUBUSB)],
  [0xd9, int('psubusw', SseOp.PSUBUSW)],
  [0xda, int('pminub', SseOp.PMINUB)],
  [0xdb, int('pand', SseOp.PAND)],
  [0xdc, int('paddusb', SseOp.PADDUSB)],
  [0xdd, int('paddusw', SseOp.PADDUSW)],
  [0xde, int('pmaxub', SseOp.PMAXUB)],
  [0xdf, int('pandn', SseOp.PANDN)],
  [0xe0, int('pavgb', SseOp.PAVGB)],
  [0xe1, shift('psraw', 2, 1)],
  [0xe2, shift('psrad', 4, 1)],
  [0xe3, int('pavgw', SseOp.PAVGW)],
  [0xe4, int('pmulhuw', SseOp.PMULHUW)],
  [0xe5, int('pmulhw', SseOp.PMULHW)],
  [0xe6, pfx({
    p66: sse('cvttpd2dq Vx,Wx', SSE_CVT, Cvt.TPD2DQ), pF3: sse('cvtdq2pd Vx,Wq', SSE_CVT, Cvt.DQ2PD),
    pF2: sse('cvtpd2dq Vx,Wx', SSE_CVT, Cvt.PD2DQ),
  })],
  [0xe7, pfx({ none: mod(mmx('movntq Mq,Pq'), none), p66: mod(sse('movntdq Mx,Vx', MOV_X, MovX.STORE_ALIGNED), none) })],
  [0xe8, int('psubsb', SseOp.PSUBSB)],
  [0xe9, int('psubsw', SseOp.PSUBSW)],
  [0xea, int('pminsw', SseOp.PMINSW)],
  [0xeb, int('por', SseOp.POR)],
  [0xec, int('paddsb', SseOp.PADDSB)],
  [0xed, int('paddsw', SseOp.PADDSW)],
  [0xee, int('pmaxsw', SseOp.PMAXSW)],
  [0xef, int('pxor', SseOp.PXOR)],
  [0xf0, later('lddqu')],
  [0xf1, shift('psllw', 2, 2)],
  [0xf2, shift('pslld', 4, 2)],
  [0xf3, shift('psllq', 8, 2)],
  [0xf4, int('pmuludq', SseOp.PMULUDQ)],
  [0xf5, int('pmaddwd', SseOp.PMADDWD)],
  [0xf6, int('psadbw', SseOp.PSADBW)],
  [0xf7, pfx({ none: mod(none, mmx('maskmovq Pq,Nq')), p66: mod(none, later('maskmovdqu Vx,Ux')) })],
  [0xf8, int('psubb', SseOp.PSUBB)],
  [0xf9, int('psubw', SseOp.PSUBW)],
  [0xfa, int('psubd', SseOp.PSUBD)],
  [0xfb, int('psubq', SseOp.PSUBQ)],
  [0xfc, int('paddb', SseOp.PADDB)],
  [0xfd, int('paddw', SseOp.PADDW)],
  [0xfe, int('paddd', SseOp.PADDD)],
];

/**
 * The 0F 38 and 0F 3A rows with an MMX form (SSSE3's PSHUFB..PABSD, PALIGNR): unprefixed on MMX
 * registers, with 66 on XMM registers; named, not implemented.
 */
export function ssse3Pair(name: string, imm: boolean): Entry {
  const i = imm ? ',Ib' : '';
  return pfx({ none: mmx(`${name} Pq,Qq${i}`), p66: later(`${name} Vx,Wx${i}`) });
}

/** 0F AE /0-/3 with a memory operand: FXSAVE, FXRSTOR, LDMXCSR, STMXCSR. */
export const FXSAVE_ROW = op('fxsave M', FXSAVE, 0, F.SYS, 'fxsr');
export const FXRSTOR_ROW = op('fxrstor M', FXSAVE, 1, F.SYS, 'fxsr');
export const LDMXCSR_ROW = op('ldmxcsr Md', MXCSR_OP, 0, 0, 'sse');
export const STMXCSR_ROW = op('stmxcsr Md', MXCSR_OP, 1, 0, 'sse');
