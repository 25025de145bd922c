/**
 * Differential tests of the bit instructions: BT BTS BTR BTC (register and imm8 offsets; register
 * destinations, where the offset is taken modulo the width, and memory destinations, where a
 * register offset is a signed bit index reaching far outside the operand, both ways, within
 * DATA; LOCK forms), BSF BSR TZCNT LZCNT POPCNT (zero inputs included) and BSWAP.
 * Flags and undefined results per lib/flags.ts.
 */
import { beforeAll, describe, it } from 'vitest';
import { ensureNativeHarness } from '../helpers/native.js';
import { encode, type MemOp, type RegOp } from './lib/asm.js';
import { WIDE, regRm, rmImm, rmReg, type Common } from './lib/common.js';
import { BSF_UNDEF, BT_UNDEF, CNT_UNDEF } from './lib/flags.js';
import type { Form, Gen } from './lib/forms.js';
import type { Size } from './lib/rng.js';
import { checkForms } from './lib/suite.js';

beforeAll(() => { ensureNativeHarness(); });

const LOCK = 0xf0;

/** Bit offsets for a register offset operand: inside the operand, nearby, and far (either sign). */
const bitOffset: Gen = (rng, size) => {
  const w = size * 8;
  const r = rng.int(10);
  if (r < 4) return BigInt(rng.int(w));
  if (r < 7) return BigInt.asUintN(w, BigInt(rng.range(-512, 512)));
  return BigInt.asUintN(w, BigInt(rng.range(-0xf00 * 8, 0xf00 * 8)));
};
const anyOffset: Gen = (rng, size) => (rng.chance(0.5) ? BigInt(rng.int(256)) : rng.value(size));
const imm8: Gen = (rng) => BigInt(rng.chance(0.6) ? rng.int(64) : rng.int(256));

const BT = [
  { mn: 'bt', opc: 0xa3, digit: 4 },
  { mn: 'bts', opc: 0xab, digit: 5 },
  { mn: 'btr', opc: 0xb3, digit: 6 },
  { mn: 'btc', opc: 0xbb, digit: 7 },
] as const;

function btForms(b: (typeof BT)[number], size: Size): Form[] {
  const c: Common = { undef: BT_UNDEF, count: 200 };
  // memory destination: operand near the middle of DATA, all of DATA random
  const memSlot = { t: 'mem' as const, size, at: [0xf80, 0x1080] as const, fillAll: true };
  const memReg = (prefixes: number[], mn: string): Form => ({
    name: `${mn} m${size * 8}, r${size * 8} [mem, far bit offsets]`,
    mnemonic: mn,
    slots: [memSlot, { t: 'reg', size, gen: bitOffset }],
    bytes: (o, ctx) => encode({ at: ctx.at, prefixes, opsize: size, opcode: [0x0f, b.opc], rm: o[0] as MemOp, reg: o[1] as RegOp }),
    undef: BT_UNDEF,
    count: 200,
  });
  const forms: Form[] = [
    ...rmReg(b.mn, size, [0x0f, b.opc], { ...c, gens: [undefined, anyOffset], same: 0.05 }).filter((f) => f.name.endsWith('[reg]')),
    memReg([], b.mn),
    ...rmImm(b.mn, size, [0x0f, 0xba], b.digit, 1, { ...c, gens: [undefined, imm8], memCount: 120 }),
  ];
  if (b.mn !== 'bt') {
    forms.push({ ...memReg([LOCK], `lock ${b.mn}`), count: 50 });
    forms.push(...rmImm(`lock ${b.mn}`, size, [0x0f, 0xba], b.digit, 1, { ...c, gens: [undefined, imm8], prefixes: [LOCK], memCount: 40 })
      .filter((f) => f.name.endsWith('[mem]')));
  }
  return forms;
}

describe('BT BTS BTR BTC', () => {
  for (const b of BT) {
    for (const size of WIDE) {
      const name = `${b.mn} ${size * 8}-bit`;
      it(name, () => checkForms(name, btForms(b, size)));
    }
  }
});

/** Scan/count sources: zero often, single bits, runs of bits at either end, random. */
const scanSource: Gen = (rng, size) => {
  const w = size * 8;
  const r = rng.int(10);
  if (r < 2) return 0n;
  if (r < 4) return 1n << BigInt(rng.int(w));
  if (r < 5) return ((1n << BigInt(rng.int(w))) - 1n) << BigInt(rng.int(4)); // low run
  if (r < 6) return (BigInt.asUintN(w, -1n) << BigInt(rng.int(w))) & BigInt.asUintN(w, -1n); // high run
  return rng.value(size);
};

const SCANS = [
  { mn: 'bsf', prefixes: [], opc: 0xbc, undef: BSF_UNDEF, zeroDest: true },
  { mn: 'bsr', prefixes: [], opc: 0xbd, undef: BSF_UNDEF, zeroDest: true },
  { mn: 'tzcnt', prefixes: [0xf3], opc: 0xbc, undef: CNT_UNDEF, zeroDest: false },
  { mn: 'lzcnt', prefixes: [0xf3], opc: 0xbd, undef: CNT_UNDEF, zeroDest: false },
  { mn: 'popcnt', prefixes: [0xf3], opc: 0xb8, undef: 0, zeroDest: false },
] as const;

describe('BSF BSR TZCNT LZCNT POPCNT', () => {
  for (const s of SCANS) {
    for (const size of WIDE) {
      const name = `${s.mn} ${size * 8}-bit`;
      const c: Common = {
        undef: s.undef, prefixes: s.prefixes, gens: [undefined, scanSource], same: 0.05, count: 250, memCount: 120,
        // BSF/BSR with a zero source: destination undefined (Intel SDM), masked.
        destUndef: s.zeroDest ? (inp) => inp.vals[1] === 0n : undefined,
      };
      it(name, () => checkForms(name, regRm(s.mn, size, [0x0f, s.opc], c)));
    }
  }
});

describe('BSWAP', () => {
  for (const size of WIDE) {
    const name = `bswap ${size * 8}-bit`;
    it(name, () => checkForms(name, [{
      name: `bswap r${size * 8}`,
      mnemonic: 'bswap',
      slots: [{ t: 'reg', size }],
      bytes: (o) => encode({ opsize: size, opcode: [0x0f, 0xc8], opreg: o[0] as RegOp }),
      // BSWAP r16: "the result is undefined"; the upper 48 bits must still be preserved.
      destMask: size === 2 ? 0xffffn : undefined,
      count: 150,
    }]));
  }
});
