/**
 * Differential tests of MUL, IMUL (one-, two- and three-operand forms) and DIV/IDIV in every
 * operand size, register and memory operands, including the #DE cases (divide by zero and
 * quotient overflow, e.g. INT_MIN / -1). Flags per lib/flags.ts: after MUL/IMUL only CF and OF are
 * defined; after DIV/IDIV none.
 */
import { beforeAll, describe, it } from 'vitest';
import { ensureNativeHarness } from '../helpers/native.js';
import { RAX, RDX } from './lib/asm.js';
import { SIZES, WIDE, regRm, regRmImm, rmOnly, type Common } from './lib/common.js';
import { DIV_UNDEF, MUL_UNDEF } from './lib/flags.js';
import type { Gen, Slot } from './lib/forms.js';
import { MASK, SIGN, type Size } from './lib/rng.js';
import { checkForms } from './lib/suite.js';

beforeAll(() => { ensureNativeHarness(); });

/** RAX (AX for byte forms) and RDX as implicit operands. */
function implicit(size: Size, genLo?: Gen, genHi?: Gen): Slot[] {
  if (size === 1) return [{ t: 'reg', size: 2, fixed: RAX, hidden: true, gen: genLo }];
  return [{ t: 'reg', size, fixed: RAX, hidden: true, gen: genLo }, { t: 'reg', size, fixed: RDX, hidden: true, gen: genHi }];
}

describe('MUL and one-operand IMUL', () => {
  for (const [mn, digit] of [['mul', 4], ['imul', 5]] as const) {
    for (const size of SIZES) {
      const name = `${mn} ${size * 8}-bit (one operand)`;
      const c: Common = { undef: MUL_UNDEF, implicit: implicit(size), aliasFixed: 0.06, count: 250, memCount: 120 };
      it(name, () => checkForms(name, rmOnly(mn, size, [size === 1 ? 0xf6 : 0xf7], digit, c)));
    }
  }
});

describe('IMUL two and three operands', () => {
  for (const size of WIDE) {
    const name = `imul ${size * 8}-bit (two and three operands)`;
    const c: Common = { undef: MUL_UNDEF, same: 0.08, count: 200, memCount: 100 };
    it(name, () => checkForms(name, [
      ...regRm('imul', size, [0x0f, 0xaf], c),
      ...regRmImm('imul', size, [0x6b], 1, c),
      ...regRmImm('imul', size, [0x69], size === 8 ? 4 : size, c),
    ]));
  }
});

/** Divisor: the usual values, zero and -1 more often. */
const divisor: Gen = (rng, size) => (rng.chance(0.08) ? 0n : rng.chance(0.06) ? MASK[size] : rng.value(size));

/** Random value below d (unsigned); 0 when d is 0. */
function below(rng: { u64(): bigint }, d: bigint): bigint {
  return d === 0n ? 0n : rng.u64() % d;
}

function divGens(signed: boolean, size: Size): { lo: Gen; hi?: Gen } {
  const bits = BigInt(size * 8);
  if (size === 1) {
    // AX is the whole dividend.
    return {
      lo: (rng, _s, prev) => {
        const d = prev[0]!;
        const lo = rng.chance(0.08) ? 0x80n : rng.value(1);
        if (!signed) return rng.chance(0.7) ? (below(rng, d) << 8n) | lo : rng.value(2);
        if (rng.chance(0.6)) return BigInt.asUintN(16, BigInt.asIntN(8, lo)); // sign-extended: fits unless -128/-1
        return rng.value(2);
      },
    };
  }
  return {
    lo: (rng, s) => (rng.chance(0.08) ? SIGN[s] : rng.value(s)),
    hi: (rng, s, prev) => {
      const d = prev[0]!;
      const lo = prev[1]!;
      if (!signed) return rng.chance(0.7) ? below(rng, d) : rng.value(s);
      const r = rng.int(10);
      if (r < 6) return (lo & SIGN[size]) !== 0n ? MASK[size] : 0n;
      if (r < 8) {
        // |high half| a little below |divisor|: large quotients near the overflow boundary
        const sd = BigInt.asIntN(Number(bits), d);
        const mag = sd < 0n ? -sd : sd;
        const h = mag === 0n ? 0n : (rng.u64() % mag) >> 1n;
        return BigInt.asUintN(Number(bits), rng.chance(0.5) ? h : -h - 1n);
      }
      return rng.value(s);
    },
  };
}

describe('DIV and IDIV', () => {
  for (const [mn, digit] of [['div', 6], ['idiv', 7]] as const) {
    for (const size of SIZES) {
      const name = `${mn} ${size * 8}-bit`;
      const g = divGens(mn === 'idiv', size);
      const c: Common = {
        undef: DIV_UNDEF, mayFault: true, implicit: implicit(size, g.lo, g.hi), aliasFixed: 0.05,
        gens: [divisor], count: 400, memCount: 150,
      };
      it(name, () => checkForms(name, rmOnly(mn, size, [size === 1 ? 0xf6 : 0xf7], digit, c)));
    }
  }
});
