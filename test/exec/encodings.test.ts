/**
 * Differential tests (host CPU vs emulator) of the opcode rows no other file reaches, found by
 * coverage.test.ts: alias encodings (SAL as /6, TEST as F6/F7 /1, redundant F2/66/F3 prefixes),
 * hint NOPs, prefetches, fences and cache flushes, the three UD opcodes, SSE moves and logic in
 * the encodings sse.test.ts does not use, and the x87 forms its x87 cases do not use.
 */
import { beforeAll, describe, it } from 'vitest';
import { ensureNativeHarness } from '../helpers/native.js';
import { DATA, DATA_SIZE } from '../helpers/snippet.js';
import { RAX, RDX } from './lib/asm.js';
import { SIZES, WIDE, immSizeFor, regRm, rmImm, rmOnly, type Common } from './lib/common.js';
import type { TestCase } from './lib/diff.js';
import { BSF_UNDEF, COMPARED, LOGIC_UNDEF, Sh, shiftUndef } from './lib/flags.js';
import { type Form, type Inputs, randomFlags, randomRegs } from './lib/forms.js';
import type { Rng, Size } from './lib/rng.js';
import { checkCases, checkForms } from './lib/suite.js';

beforeAll(() => { ensureNativeHarness(); });

const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
/** ModRM/SIB for [disp32] into DATA + off, with `reg` in ModRM.reg. */
const abs = (reg: number, off: number): number[] => [(reg << 3) | 4, 0x25, ...le32(DATA + off)];

/** A case of fixed code bytes over random registers, flags and DATA. */
function fixed(rng: Rng, text: string, code: readonly number[], extra: Partial<TestCase> = {}): TestCase {
  const data = new Uint8Array(DATA_SIZE);
  for (let k = 0; k < 0x100; k++) data[k] = rng.int(256);
  return { form: text, text, code: Uint8Array.from(code), regs: randomRegs(rng), data, rflags: BigInt(randomFlags(rng)), flagsMask: COMPARED, ...extra };
}

describe('alias encodings of rows that have cases', () => {
  for (const size of SIZES) {
    const width = size * 8;
    const w = size === 1 ? 0 : 1;
    const count = (inp: Inputs): number => Number(inp.vals[1]);
    const countGen = (rng: Rng): bigint => BigInt(rng.chance(0.5) ? rng.int(width + 2) : rng.int(256));
    it(`sal (group 2 /6, the SHL alias) ${width}-bit`, () => checkForms(`sal ${width}-bit`, [
      ...rmOnly('sal', size, [0xd0 + w], 6, { undef: shiftUndef(Sh.SHL, width, 1), count: 60, memCount: 30 }, ', 1'),
      ...rmOnly('sal', size, [0xd2 + w], 6, {
        undef: (inp) => shiftUndef(Sh.SHL, width, count(inp)), implicit: [{ t: 'reg', size: 1, fixed: 1, gen: countGen }], count: 80, memCount: 40,
      }, ', cl'),
      ...rmImm('sal', size, [0xc0 + w], 6, 1, { undef: (inp) => shiftUndef(Sh.SHL, width, count(inp)), gens: [undefined, countGen], count: 80, memCount: 40 }),
    ]));
    it(`test (group 3 /1, the /0 alias) ${width}-bit`, () => checkForms(`test /1 ${width}-bit`,
      rmImm('test', size, [size === 1 ? 0xf6 : 0xf7], 1, immSizeFor(size), { undef: LOGIC_UNDEF, count: 60, memCount: 30 })));
  }

  for (const size of WIDE) {
    for (const [mn, opc] of [['bsf', 0xbc], ['bsr', 0xbd]] as const) {
      const c: Common = { undef: BSF_UNDEF, prefixes: [0xf2], count: 60, memCount: 30, destUndef: (inp) => inp.vals[1] === 0n,
        gens: [undefined, (rng, s) => (rng.chance(0.2) ? 0n : rng.value(s))] };
      it(`F2 ${mn} (a REPNE prefix the instruction ignores) ${size * 8}-bit`, () => checkForms(`F2 ${mn} ${size * 8}-bit`, regRm(mn, size, [0x0f, opc], c)));
    }
  }

  it('F2 90 (NOP with a REPNE prefix); 66 and F3 CMPXCHG8B', () => checkCases('prefixed nop and cmpxchg8b', (rng) => {
    const cases: TestCase[] = [];
    for (let n = 0; n < 20; n++) cases.push(fixed(rng, 'repne nop', [0xf2, 0x90]));
    for (const prefix of [0x66, 0xf3]) {
      for (let n = 0; n < 40; n++) {
        const c = fixed(rng, `${prefix.toString(16)} cmpxchg8b [m]`, [prefix, 0x0f, 0xc7, ...abs(1, 0x40)]);
        const view = new DataView(c.data!.buffer);
        if (rng.chance(0.5)) {
          const regs = [...c.regs];
          regs[RAX] = BigInt(view.getUint32(0x40, true)) | (regs[RAX] & ~0xffffffffn);
          regs[RDX] = BigInt(view.getUint32(0x44, true)) | (regs[RDX] & ~0xffffffffn);
          cases.push({ ...c, regs });
        } else cases.push(c);
      }
    }
    return cases;
  }));
});

describe('hints, prefetches, fences and cache flushes: no effect, and no fault', () => {
  const mem = (f: Form[]): Form[] => f.filter((x) => x.name.endsWith('[mem]'));
  it('hint NOPs 0F 19-1E and endbr', () => checkForms('hint nops', [
    ...[0x19, 0x1a, 0x1b, 0x1c, 0x1d].flatMap((op) => rmOnly(`nop(0f ${op.toString(16)})`, 4, [0x0f, op], op & 7, { count: 10, memCount: 10 })),
    ...[[], [0x66], [0xf2]].flatMap((prefixes) => rmOnly(`nop(${prefixes.map((p) => p.toString(16)).join('')} 0f 1e)`, 4, [0x0f, 0x1e], 0, { prefixes, count: 10, memCount: 10 })),
  ]));
  it('endbr64 and endbr32 (F3 0F 1E FA/FB)', () => checkCases('endbr', (rng) =>
    [0xfa, 0xfb].flatMap((b) => Array.from({ length: 10 }, () => fixed(rng, `endbr ${b.toString(16)}`, [0xf3, 0x0f, 0x1e, b])))));
  it('prefetches', () => checkForms('prefetch', [
    ...[0, 1, 2, 3].flatMap((digit) => mem(rmOnly(`prefetch /${digit}`, 1, [0x0f, 0x18], digit, { memCount: 10 }))),
    ...mem(rmOnly('prefetchw', 1, [0x0f, 0x0d], 1, { memCount: 10 })),
  ]));
  it('fences', () => checkCases('fences', (rng) =>
    [['lfence', 0xe8], ['mfence', 0xf0], ['sfence', 0xf8]].flatMap(([text, b]) =>
      Array.from({ length: 10 }, () => fixed(rng, text as string, [0x0f, 0xae, b as number])))));
  it('cache flushes', () => checkForms('cache flushes', [
    ...mem(rmOnly('clflush', 1, [0x0f, 0xae], 7, { memCount: 10 })),
    ...mem(rmOnly('clflushopt', 1, [0x0f, 0xae], 7, { prefixes: [0x66], memCount: 10 })),
    ...mem(rmOnly('clwb', 1, [0x0f, 0xae], 6, { prefixes: [0x66], memCount: 10 })),
  ]));
});

describe('UD0, UD1, UD2 raise #UD', () => {
  it('ud0 ud1 ud2', () => checkCases('ud', (rng) =>
    [['ud2', [0x0f, 0x0b]], ['ud1 eax, ecx', [0x0f, 0xb9, 0xc1]], ['ud0 eax, ecx', [0x0f, 0xff, 0xc1]]].flatMap(([text, code]) =>
      Array.from({ length: 5 }, () => fixed(rng, text as string, code as number[], { mayFault: true })))));
});

describe('SSE encodings sse.test.ts does not use', () => {
  const LOAD = (xmm: number, off: number): number[] => [0xf3, 0x0f, 0x6f, ...abs(xmm, off)];
  const STORE = (xmm: number, off: number): number[] => [0xf3, 0x0f, 0x7f, ...abs(xmm, off)];
  /** xmm0 and xmm1 loaded from DATA, the instruction, both stored back: the memory comparison checks them. */
  it('moves and logic, register and memory forms', () => checkCases('sse encodings', (rng) => {
    const forms: Array<[string, number[]]> = [
      ['movups xmm0, xmm1', [0x0f, 0x10, 0xc1]], ['movupd xmm0, xmm1', [0x66, 0x0f, 0x10, 0xc1]],
      ['movupd xmm1, xmm0 (11)', [0x66, 0x0f, 0x11, 0xc1]], ['movss xmm1, xmm0 (11)', [0xf3, 0x0f, 0x11, 0xc1]],
      ['movapd xmm0, xmm1', [0x66, 0x0f, 0x28, 0xc1]], ['movaps xmm1, xmm0 (29)', [0x0f, 0x29, 0xc1]],
      ['andpd xmm0, xmm1', [0x66, 0x0f, 0x54, 0xc1]], ['andnps xmm0, xmm1', [0x0f, 0x55, 0xc1]],
      ['orpd xmm0, xmm1', [0x66, 0x0f, 0x56, 0xc1]], ['xorps xmm0, xmm1', [0x0f, 0x57, 0xc1]],
      ['movlpd xmm0, [m]', [0x66, 0x0f, 0x12, ...abs(0, 0x40)]], ['movlps [m], xmm0', [0x0f, 0x13, ...abs(0, 0x40)]],
      ['movlpd [m], xmm0', [0x66, 0x0f, 0x13, ...abs(0, 0x40)]], ['movhpd xmm0, [m]', [0x66, 0x0f, 0x16, ...abs(0, 0x40)]],
      ['movhps [m], xmm0', [0x0f, 0x17, ...abs(0, 0x40)]], ['movntps [m], xmm0', [0x0f, 0x2b, ...abs(0, 0x40)]],
      ['movntpd [m], xmm0', [0x66, 0x0f, 0x2b, ...abs(0, 0x40)]],
    ];
    return forms.flatMap(([text, bytes]) => Array.from({ length: 8 }, () =>
      fixed(rng, text, [...LOAD(0, 0), ...LOAD(1, 16), ...bytes, ...STORE(0, 32), ...STORE(1, 48)])));
  }));
});

describe('x87 encodings the x87 cases of sse.test.ts do not use', () => {
  // DATA: ST(0) and ST(1) as doubles at 0 and 8, an int32 at 0x20, an int16 at 0x24, a float at
  // 0x28, an int64 at 0x38; stores go to 0x30 and 0x40, the stack is emptied to 0x60 onwards.
  const FLD_M64 = (off: number): number[] => [0xdd, ...abs(0, off)];
  const FSTP_M64 = (off: number): number[] => [0xdd, ...abs(3, off)];
  const F64 = [0, -0, 1, -1, 0.5, 1.5, 2.5, -2.5, 3, 1 / 3, Infinity, -Infinity, 1e308, 5e-324, 2 ** 31, -(2 ** 63), NaN];
  const F32 = [0, -0, 1, -1, 0.5, 2.5, Infinity, 3.4e38, 1e-45, NaN, 16777217];

  /** FNINIT; FLDCW 0x27f (doubles, nearest); ST1, ST0 loaded; the instruction; `depth` pops; FNSTSW AX. */
  function x87(rng: Rng, text: string, bytes: readonly number[], depth: number): TestCase {
    const data = new Uint8Array(DATA_SIZE);
    const view = new DataView(data.buffer);
    for (const off of [0, 8]) view.setFloat64(off, rng.chance(0.4) ? F64[rng.int(F64.length)] : (rng.u32() - 2 ** 31) / (1 + rng.int(100)), true);
    view.setInt32(0x20, rng.chance(0.3) ? rng.int(9) - 4 : rng.u32() | 0, true);
    view.setInt16(0x24, rng.chance(0.3) ? rng.int(9) - 4 : rng.u32() & 0xffff, true);
    view.setFloat32(0x28, rng.chance(0.5) ? F32[rng.int(F32.length)] : (rng.u32() - 2 ** 31) / (1 + rng.int(100)), true);
    view.setUint32(0x38, rng.u32(), true);
    view.setUint32(0x3c, rng.chance(0.5) ? 0 : rng.u32(), true);
    view.setUint16(0x80, 0x27f, true);
    const pops: number[] = [];
    for (let k = 0; k < depth; k++) pops.push(...FSTP_M64(0x60 + 8 * k));
    const code = [0xdb, 0xe3, 0xd9, ...abs(5, 0x80), ...FLD_M64(8), ...FLD_M64(0), ...bytes, ...pops, 0xdf, 0xe0];
    // FNSTSW AX: C0, C2, C3 and TOP compared; C1 and the exception flags are not modeled.
    return { form: text, text, code: Uint8Array.from(code), regs: randomRegs(rng), data, rflags: BigInt(randomFlags(rng)), flagsMask: COMPARED, regMask: [0xffffffffffff7d00n] };
  }

  const ARITH = ['fadd', 'fmul', 'fcom', 'fcomp', 'fsub', 'fsubr', 'fdiv', 'fdivr'];
  /** Stack depth after the eight arithmetic operations from a depth of 2: the compare-and-pop pops one. */
  const after = (reg: number, popReg = 3): number => (reg === popReg ? 1 : 2);
  const forms: Array<[string, number[], number]> = [
    ...ARITH.map((n, r): [string, number[], number] => [`${n} m32`, [0xd8, ...abs(r, 0x28)], after(r)]),
    ...ARITH.map((n, r): [string, number[], number] => [`fi${n.slice(1)} m32int`, [0xda, ...abs(r, 0x20)], after(r)]),
    ...ARITH.map((n, r): [string, number[], number] => [`fi${n.slice(1)} m16int`, [0xde, ...abs(r, 0x24)], after(r)]),
    ...ARITH.map((n, r): [string, number[], number] => [`${n} m64`, [0xdc, ...abs(r, 8)], after(r)]),
    ...ARITH.map((n, r): [string, number[], number] => [`${n} st, st(1)`, [0xd8, 0xc1 | (r << 3)], after(r)]),
    ...['fadd', 'fmul', 'fcom2', 'fcomp3', 'fsubr', 'fsub', 'fdivr', 'fdiv'].map((n, r): [string, number[], number] => [`${n} st(1), st (dc)`, [0xdc, 0xc1 | (r << 3)], after(r)]),
    ['fcomp5 st(1) (de d0+i)', [0xde, 0xd1], 1],
    ['fld st(1)', [0xd9, 0xc1], 3], ['fnop', [0xd9, 0xd0], 2], ['fxam', [0xd9, 0xe5], 2],
    ['fldl2t', [0xd9, 0xe9], 3], ['fldl2e', [0xd9, 0xea], 3], ['fldlg2', [0xd9, 0xec], 3], ['fldln2', [0xd9, 0xed], 3],
    ['fdecstp; fincstp', [0xd9, 0xf6, 0xd9, 0xf7], 2], ['frndint', [0xd9, 0xfc], 2],
    ['fld m32', [0xd9, ...abs(0, 0x28)], 3], ['fst m32', [0xd9, ...abs(2, 0x30)], 2],
    ...[['fcmove', 0xda, 0xc9], ['fcmovbe', 0xda, 0xd1], ['fcmovu', 0xda, 0xd9], ['fcmovnb', 0xdb, 0xc1], ['fcmovne', 0xdb, 0xc9],
      ['fcmovnbe', 0xdb, 0xd1], ['fcmovnu', 0xdb, 0xd9]].map(([n, a, b]): [string, number[], number] =>
      [`fcomi; ${n} st, st(1)`, [0xdb, 0xf1, a as number, b as number], 2]),
    ['fneni', [0xdb, 0xe0], 2], ['fndisi', [0xdb, 0xe1], 2], ['fnclex', [0xdb, 0xe2], 2], ['fsetpm', [0xdb, 0xe4], 2],
    ['fisttp m32', [0xdb, ...abs(1, 0x30)], 1], ['fist m32', [0xdb, ...abs(2, 0x30)], 2],
    ['ffree st(1)', [0xdd, 0xc1], 1], ['fst st(1)', [0xdd, 0xd1], 2], ['fstp st(1)', [0xdd, 0xd9], 1],
    ['fucom st(1)', [0xdd, 0xe1], 2], ['fucomp st(1)', [0xdd, 0xe9], 1],
    ['fst m64', [0xdd, ...abs(2, 0x30)], 2], ['fnstsw m16', [0xdd, ...abs(7, 0x30)], 2],
    ['fucomip st, st(1)', [0xdf, 0xe9], 1],
    ['fild m16', [0xdf, ...abs(0, 0x24)], 3], ['fisttp m16', [0xdf, ...abs(1, 0x30)], 1], ['fist m16', [0xdf, ...abs(2, 0x30)], 2],
    ['fild m64', [0xdf, ...abs(5, 0x38)], 3],
    ['fwait', [0x9b], 2],
  ];
  it('arithmetic on every operand kind, constants, conditional moves, stores and control', () => checkCases('x87 encodings', (rng) =>
    forms.flatMap(([text, bytes, depth]) => Array.from({ length: 12 }, () => x87(rng, text, bytes, depth)))));
  it('FNSTENV and FLDENV: control, status and tag words', () => checkCases('x87 environment', (rng) =>
    Array.from({ length: 12 }, () => ({
      ...x87(rng, 'fnstenv m; fldenv m', [0xd9, ...abs(6, 0x40), 0xd9, ...abs(4, 0x40)], 2),
      // Bytes 12-27 of the 28-byte image (FIP, FCS, FOP, FDP, FDS) are not compared: the emulator
      // does not model the last x87 instruction and operand pointers (the host stores 0x200010 etc.).
      dataIgnore: [[0x40 + 12, 16]],
    }))));
});
