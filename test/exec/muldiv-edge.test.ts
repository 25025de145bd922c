/**
 * Edge cases of the 64-bit MUL/IMUL/DIV/IDIV arithmetic (emulator/exec/wide-arith.ts, 32-bit limbs
 * instead of BigInt):
 * - the limb functions against BigInt over a grid of carry-heavy values (all ones, limb borders,
 *   INT64_MIN) and random ones;
 * - the instructions against the host CPU with hand-picked registers: INT64_MIN / -1 and
 *   INT32_MIN / -1 (#DE), divisor 0 (#DE), a high half equal to or above the divisor (#DE), the
 *   largest quotients that still fit, and products whose high half is all carries.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureNativeHarness } from '../helpers/native.js';
import { W, divS128, divU128, mul64 } from '../../emulator/exec/wide-arith.js';
import { RAX, RCX, RDX, encode, reg } from './lib/asm.js';
import type { TestCase } from './lib/diff.js';
import { COMPARED, DIV_UNDEF, MUL_UNDEF } from './lib/flags.js';
import { randomRegs } from './lib/forms.js';
import { Rng, hex } from './lib/rng.js';
import { checkCases } from './lib/suite.js';

const M64 = (1n << 64n) - 1n;
const M32 = (1n << 32n) - 1n;

/** Values whose products and quotients carry across every limb border. */
const EDGES: readonly bigint[] = [
  0n, 1n, 2n, 3n, 0x7fffn, 0xffffn, 0x10000n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n,
  0x100000001n, 0x1fffffffffffffn, 0x20000000000000n, 0xffffffff00000001n, 0x00000001ffffffffn,
  0x7fffffffffffffffn, 0x8000000000000000n, 0x8000000000000001n, 0xfffffffffffffffen, M64,
  0xdeadbeefcafebaben, 0x0123456789abcdefn, 0xffff0000ffff0000n,
];

function lo32(v: bigint): number { return Number(BigInt.asIntN(32, v)); }
function hi32(v: bigint): number { return Number(BigInt.asIntN(32, v >> 32n)); }
function s64(v: bigint): bigint { return BigInt.asIntN(64, v); }
function w128(): bigint {
  return BigInt(W[0]! >>> 0) | (BigInt(W[1]! >>> 0) << 32n) | (BigInt(W[2]! >>> 0) << 64n) | (BigInt(W[3]! >>> 0) << 96n);
}
/** 128-bit value in hex (hex() stops at 64 bits). */
function h128(v: bigint): string { return '0x' + BigInt.asUintN(128, v).toString(16); }
function quotRem(): [bigint, bigint] {
  return [BigInt(W[0]! >>> 0) | (BigInt(W[1]! >>> 0) << 32n), BigInt(W[2]! >>> 0) | (BigInt(W[3]! >>> 0) << 32n)];
}

function values(): bigint[] {
  const rng = new Rng(0x5eed0d1f);
  const out = [...EDGES];
  for (let k = 0; k < 40; k++) out.push(rng.u64(), rng.u64() & M32, rng.u64() >> BigInt(rng.int(64)));
  return out;
}

describe('wide-arith against BigInt', () => {
  const vals = values();

  it('mul64: unsigned and signed 128-bit products', () => {
    const bad: string[] = [];
    for (const a of vals) {
      for (const b of vals) {
        mul64(lo32(a), hi32(a), lo32(b), hi32(b), false);
        if (w128() !== a * b) bad.push(`${hex(a, 8)} * ${hex(b, 8)} unsigned: got ${h128(w128())}`);
        mul64(lo32(a), hi32(a), lo32(b), hi32(b), true);
        const want = BigInt.asUintN(128, s64(a) * s64(b));
        if (w128() !== want) bad.push(`${hex(a, 8)} * ${hex(b, 8)} signed: got ${h128(w128())}`);
      }
    }
    expect(bad.slice(0, 5)).toEqual([]);
  });

  it('divU128 and divS128: quotient, remainder and the #DE conditions', () => {
    const bad: string[] = [];
    let faults = 0, fits = 0;
    for (const d of vals) {
      for (const hi of vals) {
        for (const lo of [0n, 1n, M64, 0x8000000000000000n, hi ^ d]) {
          const n = (hi << 64n) | lo;
          const ok = divU128(lo32(lo), hi32(lo), lo32(hi), hi32(hi), lo32(d), hi32(d));
          const fit = d !== 0n && n / d <= M64;
          if (ok !== fit) bad.push(`${h128(n)} / ${hex(d, 8)} unsigned: ok ${ok}`);
          else if (ok) {
            const [q, r] = quotRem();
            if (q !== n / d || r !== n % d) bad.push(`${h128(n)} / ${hex(d, 8)} unsigned: q ${hex(q, 8)} r ${hex(r, 8)}`);
          }
          const sn = BigInt.asIntN(128, n), sd = s64(d);
          for (const bits of [32, 64]) {
            // The 32-bit form's dividend is EDX:EAX sign-extended; its divisor a sign-extended int32.
            const nn = bits === 32 ? BigInt.asIntN(64, lo) : sn;
            const dd = bits === 32 ? BigInt.asIntN(32, d) : sd;
            const nw = BigInt.asUintN(128, nn), dw = BigInt.asUintN(64, dd);
            const okS = divS128(lo32(nw), hi32(nw), lo32(nw >> 64n), hi32(nw >> 64n), lo32(dw), hi32(dw), bits);
            const q = dd === 0n ? 0n : nn / dd; // BigInt division truncates toward zero, as IDIV does
            const lim = 1n << BigInt(bits - 1);
            const fitS = dd !== 0n && q >= -lim && q < lim;
            if (okS !== fitS) bad.push(`${h128(nw)} / ${hex(dw, 8)} signed ${bits}: ok ${okS}`);
            else if (okS) {
              const [gq, gr] = quotRem();
              if (gq !== BigInt.asUintN(64, q) || gr !== BigInt.asUintN(64, nn % dd)) {
                bad.push(`${h128(nw)} / ${hex(dw, 8)} signed ${bits}: q ${hex(gq, 8)} r ${hex(gr, 8)}`);
              }
            }
            if (fitS) fits++; else faults++;
          }
        }
      }
    }
    expect(bad.slice(0, 5)).toEqual([]);
    // The grid reaches both outcomes many times.
    expect(faults).toBeGreaterThan(1000);
    expect(fits).toBeGreaterThan(1000);
  });
});

beforeAll(() => { ensureNativeHarness(); });

const INT64_MIN = 0x8000000000000000n;

/** One F7 /digit instruction on RCX (64- or 32-bit) with RAX, RDX and RCX preset. */
function oneOp(rng: Rng, mn: string, digit: number, size: 4 | 8, rax: bigint, rdx: bigint, rcx: bigint): TestCase {
  const regs = randomRegs(rng);
  regs[RAX] = rax; regs[RDX] = rdx; regs[RCX] = rcx;
  const undef = digit >= 6 ? DIV_UNDEF : MUL_UNDEF;
  return {
    form: `${mn} r/m${size * 8} (edge)`, text: `${mn} ${size === 8 ? 'rcx' : 'ecx'}`,
    code: encode({ opsize: size, opcode: [0xf7], reg: digit, rm: reg(RCX, size) }),
    regs, rflags: BigInt(rng.u32() & 0xcd5) | 2n, flagsMask: COMPARED & ~undef, mayFault: digit >= 6,
    note: `rdx:rax = ${hex(rdx, 8)}:${hex(rax, 8)}, rcx = ${hex(rcx, 8)}`,
  };
}

/** IMUL r64, r/m64 (0F AF) with RCX = a, RDX = b. */
function imul2(rng: Rng, a: bigint, b: bigint): TestCase {
  const regs = randomRegs(rng);
  regs[RCX] = a; regs[RDX] = b;
  return {
    form: 'imul r64, r/m64 (edge)', text: 'imul rcx, rdx',
    code: encode({ opsize: 8, opcode: [0x0f, 0xaf], reg: reg(RCX, 8), rm: reg(RDX, 8) }),
    regs, rflags: 2n, flagsMask: COMPARED & ~MUL_UNDEF, note: `rcx = ${hex(a, 8)}, rdx = ${hex(b, 8)}`,
  };
}

describe('64-bit MUL/DIV edge cases against the host CPU', () => {
  it('#DE: INT_MIN / -1, divisor 0, high half not below the divisor; largest quotients that fit', () => checkCases('muldiv edges: divide', (rng) => {
    const cases: TestCase[] = [];
    const div = (rax: bigint, rdx: bigint, rcx: bigint): void => {
      cases.push(oneOp(rng, 'div', 6, 8, rax, rdx, rcx), oneOp(rng, 'idiv', 7, 8, rax, rdx, rcx));
    };
    div(INT64_MIN, M64, M64); // INT64_MIN / -1: #DE for IDIV; DIV quotient fits
    div(0n, INT64_MIN, M64);
    div(12345n, 0n, 0n); // divisor 0
    div(0n, 0n, 0n);
    div(5n, 7n, 7n); // high half equal to the divisor: quotient needs 65 bits
    div(M64, 0xffffffffn, 0xffffffffn);
    div(M64, 0xfffffffen, 0xffffffffn); // largest unsigned quotient below 2^64 with a 32-bit divisor
    div(M64, 0xfffffffffffffffen, M64); // 2^128 - 2^64 - 1 / (2^64 - 1)
    div(M64, 0x3fffffffffffffffn, INT64_MIN >> 1n); // quotient 2^63 - 1 (IDIV fits) ...
    div(0n, 0x4000000000000000n, 0x8000000000000000n); // ... and 2^63 (IDIV #DE, DIV fits)
    div(INT64_MIN, 0xffffffffffffffffn, 1n); // -2^63 / 1 fits
    div(0x7fffffffffffffffn, 0n, M64); // 2^63-1 / -1
    div(0x8000000000000001n, M64, 0x8000000000000000n);
    div(0xfedcba9876543210n, 0x12345n, 0x100000001n); // divisor just above 2^32
    div(0n, 0xffffffffn, 0x100000000n);
    // 32-bit forms: EDX:EAX / ECX, including INT32_MIN / -1 and EDX not below ECX.
    const div32 = (eax: bigint, edx: bigint, ecx: bigint): void => {
      cases.push(oneOp(rng, 'div', 6, 4, eax, edx, ecx), oneOp(rng, 'idiv', 7, 4, eax, edx, ecx));
    };
    div32(0x80000000n, 0xffffffffn, 0xffffffffn);
    div32(0xffffffffn, 0x7ffffffen, 0xffffffffn);
    div32(0n, 0x3fffffffn, 0x80000000n);
    div32(5n, 9n, 9n);
    div32(7n, 0n, 0n);
    div32(0xffffffffn, 0xfffffffen, 0xffffffffn);
    for (let k = 0; k < 60; k++) {
      // Random divisors with the high half just below them (quotients near 2^64).
      const d = rng.u64() | 1n;
      div(rng.u64(), (d - 1n - BigInt(rng.int(3))) & M64, d);
    }
    return cases;
  }));

  it('products with all-carry high halves (MUL, one- and two-operand IMUL)', () => checkCases('muldiv edges: multiply', (rng) => {
    const cases: TestCase[] = [];
    const pairs: [bigint, bigint][] = [
      [M64, M64], [M64, 2n], [INT64_MIN, INT64_MIN], [INT64_MIN, M64], [0x7fffffffffffffffn, 0x7fffffffffffffffn],
      [0xffffffffn, 0xffffffffn], [0x100000000n, 0x100000000n], [0xffffffff00000001n, 0xffffffffn],
      [0x8000000000000001n, 0x7fffffffffffffffn], [0xffffffffffff0000n, 0x10001n], [1n, M64], [0n, M64],
      [0x100000000n, 0x7fffffffn], [0xffffffff80000000n, 0x100000000n], [0x80000000n, 0x100000000n],
    ];
    for (const [a, b] of pairs) {
      cases.push(oneOp(rng, 'mul', 4, 8, a, 0n, b), oneOp(rng, 'imul', 5, 8, a, rng.u64(), b), imul2(rng, a, b));
    }
    return cases;
  }));
});
