/**
 * Differential tests of the SSE/SSE2 and x87 instructions against the host CPU. Each snippet loads
 * its XMM (or x87) operands from DATA, runs one instruction, and stores the result back to DATA,
 * so the harness's memory comparison checks the 128-bit result; GPR results (PMOVMSKB, CVTSD2SI,
 * MOVD, ...) and flags (UCOMISD, FCOMI) are compared as registers and RFLAGS.
 *
 * Operands mix random bits with the values where floating point differs: signed zeros,
 * infinities, quiet and signaling NaNs with payloads, subnormals, the limits of the integer
 * conversions, and halfway cases of rounding.
 */
import { beforeAll, describe, it } from 'vitest';
import { ensureNativeHarness } from '../helpers/native.js';
import { DATA, DATA_SIZE } from '../helpers/snippet.js';
import type { TestCase } from './lib/diff.js';
import { COMPARED, STATUS } from './lib/flags.js';
import { randomFlags, randomRegs } from './lib/forms.js';
import type { Rng } from './lib/rng.js';
import { checkCases } from './lib/suite.js';

beforeAll(() => { ensureNativeHarness(); });

const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
/** ModRM/SIB for [disp32] (no base, no index), with `reg` in ModRM.reg. */
const abs = (reg: number, off: number): number[] => [(reg << 3) | 4, 0x25, ...le32(DATA + off)];

const MOVDQU_LOAD = (xmm: number, off: number): number[] => [0xf3, 0x0f, 0x6f, ...abs(xmm, off)];
const MOVDQU_STORE = (xmm: number, off: number): number[] => [0xf3, 0x0f, 0x7f, ...abs(xmm, off)];

const F64_SPECIAL = [0, -0, 1, -1, 0.5, 1.5, 2.5, -2.5, 3, 1 / 3, Infinity, -Infinity, 1e308, -1e-308, 5e-324, 2 ** 31, -(2 ** 31), 2 ** 63, -(2 ** 63), 2 ** 31 - 0.5, 4294967295.5];
const F64_NAN_BITS: Array<[number, number]> = [[0, 0x7ff80000], [1, 0x7ff00000], [0x1234, 0xfff81234], [7, 0x7ff40000]];
const F32_SPECIAL = [0, -0, 1, -1, 0.5, 2.5, -1.5, Infinity, -Infinity, 3.4e38, 1e-45, 2 ** 31, -(2 ** 31), 16777217];
const F32_NAN_BITS = [0x7fc00000, 0x7f800001, 0xffc01234 | 0, 0x7fa00000];

/** 16 bytes of operand: random bits, or lanes of special doubles or floats. */
function operand(rng: Rng, out: Uint8Array, at: number): void {
  const view = new DataView(out.buffer, out.byteOffset);
  switch (rng.int(4)) {
    case 0:
      for (let k = 0; k < 16; k++) out[at + k] = rng.int(256);
      break;
    case 1:
      for (let k = 0; k < 2; k++) {
        if (rng.int(5) === 0) {
          const [lo, hi] = F64_NAN_BITS[rng.int(F64_NAN_BITS.length)];
          view.setUint32(at + 8 * k, lo >>> 0, true);
          view.setUint32(at + 8 * k + 4, hi >>> 0, true);
        } else {
          const v = rng.int(2) === 0 ? F64_SPECIAL[rng.int(F64_SPECIAL.length)] : (rng.u32() - 2 ** 31) / (1 + rng.int(1000));
          view.setFloat64(at + 8 * k, v, true);
        }
      }
      break;
    case 2:
      for (let k = 0; k < 4; k++) {
        if (rng.int(5) === 0) view.setUint32(at + 4 * k, F32_NAN_BITS[rng.int(F32_NAN_BITS.length)] >>> 0, true);
        else view.setFloat32(at + 4 * k, rng.int(2) === 0 ? F32_SPECIAL[rng.int(F32_SPECIAL.length)] : (rng.u32() - 2 ** 31) / (1 + rng.int(1000)), true);
      }
      break;
    default: // small integers in every lane size, for the saturating and compare operations
      for (let k = 0; k < 16; k++) out[at + k] = [0, 1, 0x7f, 0x80, 0xff, 0xfe, rng.int(256)][rng.int(7)];
      break;
  }
}

/** `op xmm0, xmm1` snippets: load both from DATA, operate, store xmm0 (and optionally a GPR result). */
function xmmCases(rng: Rng, forms: ReadonlyArray<readonly [string, number[]]>, perForm: number): TestCase[] {
  const cases: TestCase[] = [];
  for (const [text, bytes] of forms) {
    for (let n = 0; n < perForm; n++) {
      const data = new Uint8Array(DATA_SIZE);
      operand(rng, data, 0);
      operand(rng, data, 16);
      const code = Uint8Array.from([...MOVDQU_LOAD(0, 0), ...MOVDQU_LOAD(1, 16), ...bytes, ...MOVDQU_STORE(0, 32), ...MOVDQU_STORE(1, 48)]);
      cases.push({ form: text, text, code, regs: randomRegs(rng), data, rflags: BigInt(randomFlags(rng)), flagsMask: COMPARED });
    }
  }
  return cases;
}

const p66 = (op: number): number[] => [0x66, 0x0f, op, 0xc1];
const np = (op: number): number[] => [0x0f, op, 0xc1];
const pF3 = (op: number): number[] => [0xf3, 0x0f, op, 0xc1];
const pF2 = (op: number): number[] => [0xf2, 0x0f, op, 0xc1];

const INTEGER: Array<[string, number]> = [
  ['paddb', 0xfc], ['paddw', 0xfd], ['paddd', 0xfe], ['paddq', 0xd4], ['psubb', 0xf8], ['psubw', 0xf9], ['psubd', 0xfa], ['psubq', 0xfb],
  ['paddusb', 0xdc], ['paddusw', 0xdd], ['psubusb', 0xd8], ['psubusw', 0xd9], ['paddsb', 0xec], ['paddsw', 0xed], ['psubsb', 0xe8], ['psubsw', 0xe9],
  ['pcmpeqb', 0x74], ['pcmpeqw', 0x75], ['pcmpeqd', 0x76], ['pcmpgtb', 0x64], ['pcmpgtw', 0x65], ['pcmpgtd', 0x66],
  ['pminub', 0xda], ['pmaxub', 0xde], ['pminsw', 0xea], ['pmaxsw', 0xee], ['pavgb', 0xe0], ['pavgw', 0xe3],
  ['pmullw', 0xd5], ['pmulhw', 0xe5], ['pmulhuw', 0xe4], ['pmuludq', 0xf4], ['pmaddwd', 0xf5], ['psadbw', 0xf6],
  ['pand', 0xdb], ['pandn', 0xdf], ['por', 0xeb], ['pxor', 0xef],
  ['punpcklbw', 0x60], ['punpcklwd', 0x61], ['punpckldq', 0x62], ['punpcklqdq', 0x6c], ['punpckhbw', 0x68], ['punpckhwd', 0x69],
  ['punpckhdq', 0x6a], ['punpckhqdq', 0x6d], ['packsswb', 0x63], ['packuswb', 0x67], ['packssdw', 0x6b],
  ['psrlw', 0xd1], ['psrld', 0xd2], ['psrlq', 0xd3], ['psraw', 0xe1], ['psrad', 0xe2], ['psllw', 0xf1], ['pslld', 0xf2], ['psllq', 0xf3],
];

const FLOAT_OPS: Array<[string, number]> = [['add', 0x58], ['mul', 0x59], ['sub', 0x5c], ['min', 0x5d], ['div', 0x5e], ['max', 0x5f], ['sqrt', 0x51]];

describe('SSE2 integer operations', () => {
  it('xmm0 op= xmm1', () => checkCases('sse-int', (rng) => {
    const forms = INTEGER.map(([n, op]): [string, number[]] => [`${n} xmm0, xmm1`, p66(op)]);
    // Shift counts: the register forms take the low quadword of xmm1; keep some in range.
    return xmmCases(rng, forms, 24).map((c) => {
      if (!/^ps[rl]/.test(c.text) || rng.int(3) === 0) return c;
      const data = c.data!.slice();
      data.fill(0, 16, 24);
      data[16] = rng.int(70);
      return { ...c, data };
    });
  }));
  it('shifts by immediate (groups 12-14)', () => checkCases('sse-shift-imm', (rng) => {
    const forms: Array<[string, number[]]> = [];
    for (const [name, op, reg] of [['psrlw', 0x71, 2], ['psraw', 0x71, 4], ['psllw', 0x71, 6], ['psrld', 0x72, 2], ['psrad', 0x72, 4],
      ['pslld', 0x72, 6], ['psrlq', 0x73, 2], ['psrldq', 0x73, 3], ['psllq', 0x73, 6], ['pslldq', 0x73, 7]] as const) {
      for (const imm of [0, 1, 7, 8, 15, 16, 31, 33, 63, 64, 200]) forms.push([`${name} xmm0, ${imm}`, [0x66, 0x0f, op, 0xc0 | (reg << 3), imm]]);
    }
    return xmmCases(rng, forms, 2);
  }));
  it('shuffles, moves and masks', () => checkCases('sse-shuffle', (rng) => {
    const forms: Array<[string, number[]]> = [];
    for (const imm of [0x00, 0x1b, 0xe4, 0x4e, rng.int(256), rng.int(256)]) {
      forms.push([`pshufd xmm0, xmm1, ${imm}`, [...p66(0x70), imm]], [`pshufhw xmm0, xmm1, ${imm}`, [...pF3(0x70), imm]],
        [`pshuflw xmm0, xmm1, ${imm}`, [...pF2(0x70), imm]], [`shufps xmm0, xmm1, ${imm}`, [...np(0xc6), imm]],
        [`shufpd xmm0, xmm1, ${imm & 3}`, [...p66(0xc6), imm & 3]]);
    }
    forms.push(['pmovmskb eax, xmm0', [0x66, 0x0f, 0xd7, 0xc0]], ['movmskps eax, xmm1', [0x0f, 0x50, 0xc1]],
      ['movmskpd eax, xmm1', [0x66, 0x0f, 0x50, 0xc1]], ['movss xmm0, xmm1', pF3(0x10)], ['movsd xmm0, xmm1', pF2(0x10)],
      ['movhlps xmm0, xmm1', np(0x12)], ['movlhps xmm0, xmm1', np(0x16)], ['movq xmm0, xmm1', pF3(0x7e)], ['movq xmm1, xmm0', [0x66, 0x0f, 0xd6, 0xc1]],
      ['movd eax, xmm1', [0x66, 0x0f, 0x7e, 0xc8]], ['movq rax, xmm1', [0x66, 0x48, 0x0f, 0x7e, 0xc8]],
      ['movd xmm0, ecx', [0x66, 0x0f, 0x6e, 0xc1]], ['movq xmm0, rcx', [0x66, 0x48, 0x0f, 0x6e, 0xc1]],
      ['unpcklps xmm0, xmm1', np(0x14)], ['unpckhps xmm0, xmm1', np(0x15)], ['unpcklpd xmm0, xmm1', p66(0x14)], ['unpckhpd xmm0, xmm1', p66(0x15)],
      ['andps', np(0x54)], ['andnpd', p66(0x55)], ['orps', np(0x56)], ['xorpd', p66(0x57)],
      ['movaps xmm0, xmm1', np(0x28)], ['movapd xmm1, xmm0', [0x66, 0x0f, 0x29, 0xc1]]);
    return xmmCases(rng, forms, 6);
  }));
  it('memory forms: loads, stores, alignment faults', () => checkCases('sse-mem', (rng) => {
    const cases: TestCase[] = [];
    const forms: Array<[string, (off: number) => number[]]> = [
      ['movdqa xmm2, [m]', (o) => [0x66, 0x0f, 0x6f, ...abs(2, o)]], ['movdqa [m], xmm2', (o) => [0x66, 0x0f, 0x7f, ...abs(2, o)]],
      ['movaps xmm2, [m]', (o) => [0x0f, 0x28, ...abs(2, o)]], ['movups [m], xmm2', (o) => [0x0f, 0x11, ...abs(2, o)]],
      ['movss xmm2, [m]', (o) => [0xf3, 0x0f, 0x10, ...abs(2, o)]], ['movsd [m], xmm2', (o) => [0xf2, 0x0f, 0x11, ...abs(2, o)]],
      ['movlps xmm2, [m]', (o) => [0x0f, 0x12, ...abs(2, o)]], ['movhps xmm2, [m]', (o) => [0x0f, 0x16, ...abs(2, o)]],
      ['movhpd [m], xmm2', (o) => [0x66, 0x0f, 0x17, ...abs(2, o)]], ['movq xmm2, [m]', (o) => [0xf3, 0x0f, 0x7e, ...abs(2, o)]],
      ['movq [m], xmm2', (o) => [0x66, 0x0f, 0xd6, ...abs(2, o)]], ['movd xmm2, [m]', (o) => [0x66, 0x0f, 0x6e, ...abs(2, o)]],
      ['pcmpeqb xmm2, [m]', (o) => [0x66, 0x0f, 0x74, ...abs(2, o)]], ['addsd xmm2, [m]', (o) => [0xf2, 0x0f, 0x58, ...abs(2, o)]],
      ['movntdq [m], xmm2', (o) => [0x66, 0x0f, 0xe7, ...abs(2, o)]], ['movnti [m], rax', (o) => [0x48, 0x0f, 0xc3, ...abs(0, o)]],
      ['movd [m], xmm2', (o) => [0x66, 0x0f, 0x7e, ...abs(2, o)]], ['movq [m], xmm2 (REX.W 7E)', (o) => [0x66, 0x48, 0x0f, 0x7e, ...abs(2, o)]],
      ['cmpps xmm2, [m], 1', (o) => [0x0f, 0xc2, ...abs(2, o), 1]], ['cmppd xmm2, [m], 4', (o) => [0x66, 0x0f, 0xc2, ...abs(2, o), 4]],
      ['cmpss xmm2, [m], 3', (o) => [0xf3, 0x0f, 0xc2, ...abs(2, o), 3]], ['cmpsd xmm2, [m], 0', (o) => [0xf2, 0x0f, 0xc2, ...abs(2, o), 0]],
    ];
    for (const [text, make] of forms) {
      for (let n = 0; n < 12; n++) {
        const data = new Uint8Array(DATA_SIZE);
        for (let k = 0; k < 256; k++) data[k] = rng.int(256);
        const off = 0x40 + (rng.int(2) === 0 ? 16 * rng.int(8) : rng.int(128));
        const code = Uint8Array.from([...MOVDQU_LOAD(2, 0), ...make(off), ...MOVDQU_STORE(2, 16)]);
        cases.push({ form: text, text, code, regs: randomRegs(rng), data, rflags: BigInt(randomFlags(rng)), flagsMask: COMPARED, mayFault: true });
      }
    }
    return cases;
  }));
});

describe('SSE/SSE2 floating point', () => {
  it('packed and scalar arithmetic', () => checkCases('sse-fp', (rng) => {
    const forms: Array<[string, number[]]> = [];
    for (const [name, op] of FLOAT_OPS) {
      forms.push([`${name}ps xmm0, xmm1`, np(op)], [`${name}pd xmm0, xmm1`, p66(op)], [`${name}ss xmm0, xmm1`, pF3(op)], [`${name}sd xmm0, xmm1`, pF2(op)]);
    }
    return xmmCases(rng, forms, 30);
  }));
  it('compares', () => checkCases('sse-cmp', (rng) => {
    const forms: Array<[string, number[]]> = [];
    for (let p = 0; p < 8; p++) {
      forms.push([`cmpps xmm0, xmm1, ${p}`, [...np(0xc2), p]], [`cmppd xmm0, xmm1, ${p}`, [...p66(0xc2), p]],
        [`cmpss xmm0, xmm1, ${p}`, [...pF3(0xc2), p]], [`cmpsd xmm0, xmm1, ${p}`, [...pF2(0xc2), p]]);
    }
    forms.push(['ucomiss xmm0, xmm1', np(0x2e)], ['ucomisd xmm0, xmm1', p66(0x2e)], ['comiss xmm0, xmm1', np(0x2f)], ['comisd xmm0, xmm1', p66(0x2f)]);
    return xmmCases(rng, forms, 16).map((c) => ({ ...c, flagsMask: c.text.includes('comi') ? COMPARED : COMPARED & ~STATUS }));
  }));
  it('conversions', () => checkCases('sse-cvt', (rng) => {
    const forms: Array<[string, number[]]> = [
      ['cvtps2pd xmm0, xmm1', np(0x5a)], ['cvtpd2ps xmm0, xmm1', p66(0x5a)], ['cvtss2sd xmm0, xmm1', pF3(0x5a)], ['cvtsd2ss xmm0, xmm1', pF2(0x5a)],
      ['cvtdq2ps xmm0, xmm1', np(0x5b)], ['cvtps2dq xmm0, xmm1', p66(0x5b)], ['cvttps2dq xmm0, xmm1', pF3(0x5b)],
      ['cvtdq2pd xmm0, xmm1', pF3(0xe6)], ['cvttpd2dq xmm0, xmm1', p66(0xe6)], ['cvtpd2dq xmm0, xmm1', pF2(0xe6)],
      ['cvtsi2sd xmm0, ecx', [0xf2, 0x0f, 0x2a, 0xc1]], ['cvtsi2sd xmm0, rcx', [0xf2, 0x48, 0x0f, 0x2a, 0xc1]],
      ['cvtsi2ss xmm0, ecx', [0xf3, 0x0f, 0x2a, 0xc1]],
      ['cvttsd2si eax, xmm1', [0xf2, 0x0f, 0x2c, 0xc1]], ['cvttsd2si rax, xmm1', [0xf2, 0x48, 0x0f, 0x2c, 0xc1]],
      ['cvtsd2si eax, xmm1', [0xf2, 0x0f, 0x2d, 0xc1]], ['cvtsd2si rax, xmm1', [0xf2, 0x48, 0x0f, 0x2d, 0xc1]],
      ['cvttss2si eax, xmm1', [0xf3, 0x0f, 0x2c, 0xc1]], ['cvtss2si rax, xmm1', [0xf3, 0x48, 0x0f, 0x2d, 0xc1]],
    ];
    return xmmCases(rng, forms, 30);
  }));
  it('stmxcsr and ldmxcsr', () => checkCases('sse-mxcsr', (rng) => Array.from({ length: 20 }, (): TestCase => {
    const data = new Uint8Array(DATA_SIZE);
    data.set(le32(0x1f80 | (rng.int(2) << 6)), 0); // DAZ on or off
    const code = Uint8Array.from([0x0f, 0xae, ...abs(2, 0), 0x0f, 0xae, ...abs(3, 8)]);
    return { form: 'ldmxcsr/stmxcsr', text: 'ldmxcsr [m]; stmxcsr [m+8]', code, regs: randomRegs(rng), data, rflags: 2n, flagsMask: COMPARED };
  })));
});

describe('x87', () => {
  /** Snippet prologue: double precision, round to nearest (the x86-64 ABI's control word is 0x37f; 0x27f keeps doubles exact). */
  const FLDCW = [0xd9, ...abs(5, 0x80)];
  const FLD_M64 = (off: number): number[] => [0xdd, ...abs(0, off)];
  const FSTP_M64 = (off: number): number[] => [0xdd, ...abs(3, off)];
  const FNSTSW_AX = [0xdf, 0xe0];

  function x87Cases(rng: Rng, forms: ReadonlyArray<readonly [string, number[]]>, perForm: number): TestCase[] {
    const cases: TestCase[] = [];
    for (const [text, bytes] of forms) {
      for (let n = 0; n < perForm; n++) {
        const data = new Uint8Array(DATA_SIZE);
        const view = new DataView(data.buffer);
        for (const off of [0, 8]) {
          const v = rng.int(3) === 0 ? F64_SPECIAL[rng.int(F64_SPECIAL.length)] : (rng.u32() - 2 ** 31) / (1 + rng.int(100));
          view.setFloat64(off, v, true);
        }
        view.setUint16(0x80, 0x27f, true);
        // FNINIT first: the host process keeps its x87 state (sticky flags, condition codes) between cases.
        const code = Uint8Array.from([0xdb, 0xe3, ...FLDCW, ...FLD_M64(8), ...FLD_M64(0), ...bytes, ...FNSTSW_AX]);
        // FNSTSW: C0, C2, C3 and TOP are compared; C1 and the exception flags are not modeled.
        const regs = randomRegs(rng);
        cases.push({ form: text, text, code, regs, data, rflags: BigInt(randomFlags(rng)), flagsMask: COMPARED, regMask: [0xffffffffffff7d00n] });
      }
    }
    return cases;
  }

  it('arithmetic, compares, loads and stores', () => checkCases('x87', (rng) => x87Cases(rng, [
    ['faddp; fstp', [0xde, 0xc1, ...FSTP_M64(16)]], ['fsubp; fstp', [0xde, 0xe9, ...FSTP_M64(16)]], ['fsubrp; fstp', [0xde, 0xe1, ...FSTP_M64(16)]],
    ['fmulp; fstp', [0xde, 0xc9, ...FSTP_M64(16)]], ['fdivp; fstp', [0xde, 0xf9, ...FSTP_M64(16)]], ['fdivrp; fstp', [0xde, 0xf1, ...FSTP_M64(16)]],
    ['fadd st, st(1); fstp; fstp', [0xd8, 0xc1, ...FSTP_M64(16), ...FSTP_M64(24)]], ['fsub st(1), st; fstp; fstp', [0xdc, 0xe9, ...FSTP_M64(16), ...FSTP_M64(24)]],
    ['fadd m64; fstp', [0xdc, ...abs(0, 8), ...FSTP_M64(16), ...FSTP_M64(24)]], ['fdiv m64', [0xdc, ...abs(6, 8), ...FSTP_M64(16), ...FSTP_M64(24)]],
    ['fchs', [0xd9, 0xe0, ...FSTP_M64(16), ...FSTP_M64(24)]], ['fabs', [0xd9, 0xe1, ...FSTP_M64(16), ...FSTP_M64(24)]],
    ['fsqrt', [0xd9, 0xfa, ...FSTP_M64(16), ...FSTP_M64(24)]], ['fxch', [0xd9, 0xc9, ...FSTP_M64(16), ...FSTP_M64(24)]],
    ['fcompp', [0xde, 0xd9]], ['fucompp', [0xda, 0xe9]], ['fcom st(1); fstp; fstp', [0xd8, 0xd1, ...FSTP_M64(16), ...FSTP_M64(24)]],
    ['fcomip; fstp', [0xdf, 0xf1, ...FSTP_M64(16)]], ['fucomi; fstp; fstp', [0xdb, 0xe9, ...FSTP_M64(16), ...FSTP_M64(24)]],
    ['ftst; fstp; fstp', [0xd9, 0xe4, ...FSTP_M64(16), ...FSTP_M64(24)]],
    ['fstp m32; fstp', [0xd9, ...abs(3, 16), ...FSTP_M64(24)]], ['fistp m32; fstp', [0xdb, ...abs(3, 16), ...FSTP_M64(24)]],
    ['fistp m64; fstp', [0xdf, ...abs(7, 16), ...FSTP_M64(24)]], ['fisttp m64; fstp', [0xdd, ...abs(1, 16), ...FSTP_M64(24)]],
    ['fistp m16; fstp', [0xdf, ...abs(3, 16), ...FSTP_M64(24)]], ['fild m32; faddp; fstp; fstp', [0xdb, ...abs(0, 0), 0xde, 0xc1, ...FSTP_M64(16), ...FSTP_M64(24)]],
    ['fstp m80; fld m80; fstp m64; fstp', [0xdb, ...abs(7, 16), 0xdb, ...abs(5, 16), ...FSTP_M64(32), ...FSTP_M64(40)]],
    ['fld1; fldz; fldpi', [0xd9, 0xe8, 0xd9, 0xee, 0xd9, 0xeb, ...FSTP_M64(16), ...FSTP_M64(24), ...FSTP_M64(32), ...FSTP_M64(40), ...FSTP_M64(48)]],
    ['fcmovb; fstp; fstp', [0xdb, 0xf1, 0xda, 0xc1, ...FSTP_M64(16), ...FSTP_M64(24)]],
    ['fnstcw; fninit; fnstcw', [0xd9, ...abs(7, 0x60), 0xdb, 0xe3, 0xd9, ...abs(7, 0x62)]],
  ], 30)));
});
