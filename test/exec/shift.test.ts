/**
 * Differential tests of the group-2 shifts and rotates (ROL ROR RCL RCR SHL SHR SAR) by 1, by CL
 * and by imm8, and of SHLD/SHRD by imm8 and CL, in every operand size, register and memory
 * destinations. Counts cover 0, 1, width-1, width, width+1, the 5/6-bit masking boundaries and
 * everything up to 255; CL comes with random garbage in the rest of RCX. Flags per lib/flags.ts.
 */
import { beforeAll, describe, it } from 'vitest';
import { ensureNativeHarness } from '../helpers/native.js';
import { encode, RCX, type MemOp, type RegOp } from './lib/asm.js';
import { SIZES, WIDE, rmImm, rmName, rName, rmOnly, type Common } from './lib/common.js';
import { shiftUndef, shldUndef } from './lib/flags.js';
import type { Form, Gen, ImmOp, Inputs } from './lib/forms.js';
import type { Size } from './lib/rng.js';
import { checkForms } from './lib/suite.js';

beforeAll(() => { ensureNativeHarness(); });

/** Shift counts for an operand width: the boundaries first, then anything up to 255. */
function countGen(width: number): Gen {
  const edges = [0, 1, 2, 3, width - 2, width - 1, width, width + 1, 2 * width - 1, 2 * width, 2 * width + 1,
    7, 8, 9, 15, 16, 17, 18, 31, 32, 33, 34, 63, 64, 65, 95, 96, 127, 128, 129, 0xe1, 0xff];
  return (rng) => BigInt(rng.chance(0.5) ? rng.pick(edges) & 0xff : rng.chance(0.5) ? rng.int(width + 2) : rng.int(256));
}

const GROUP2 = [
  { mn: 'rol', op: 0 }, { mn: 'ror', op: 1 }, { mn: 'rcl', op: 2 }, { mn: 'rcr', op: 3 },
  { mn: 'shl', op: 4 }, { mn: 'shr', op: 5 }, { mn: 'sar', op: 7 },
] as const;

function group2Forms(mn: string, op: number, size: Size): Form[] {
  const width = size * 8;
  const w = size === 1 ? 0 : 1;
  const byOne: Common = { undef: shiftUndef(op, width, 1), count: 100, memCount: 60 };
  const cl: Common = {
    undef: (inp: Inputs) => shiftUndef(op, width, Number(inp.vals[1])),
    implicit: [{ t: 'reg', size: 1, fixed: RCX, gen: countGen(width) }],
    aliasFixed: 0.04, count: 250, memCount: 100,
  };
  const byImm: Common = {
    undef: (inp: Inputs) => shiftUndef(op, width, Number(inp.vals[1])),
    gens: [undefined, countGen(width)], count: 250, memCount: 100,
  };
  return [
    ...rmOnly(mn, size, [0xd0 + w], op, byOne, ', 1'),
    ...rmOnly(mn, size, [0xd2 + w], op, cl, ', cl'),
    ...rmImm(mn, size, [0xc0 + w], op, 1, byImm),
  ];
}

describe('shifts and rotates', () => {
  for (const g of GROUP2) {
    for (const size of SIZES) {
      const name = `${g.mn} ${size * 8}-bit`;
      it(name, () => checkForms(name, group2Forms(g.mn, g.op, size)));
    }
  }
});

/** SHLD/SHRD r/m, r, imm8 | CL. */
function doubleForms(mn: string, opImm: number, size: Size): Form[] {
  const width = size * 8;
  const out: Form[] = [];
  for (const byCl of [false, true]) {
    for (const mem of [false, true]) {
      const countSlot = byCl
        ? { t: 'reg' as const, size: 1 as Size, fixed: RCX, gen: countGen(width) }
        : { t: 'imm' as const, size: 1 as Size, gen: countGen(width) };
      out.push({
        name: `${mn} ${rmName(size)}, ${rName(size)}, ${byCl ? 'cl' : 'imm8'} [${mem ? 'mem' : 'reg'}]`,
        mnemonic: mn,
        slots: [mem ? { t: 'mem', size } : { t: 'reg', size }, { t: 'reg', size }, countSlot],
        bytes: (o, ctx) => encode({
          at: ctx.at, opsize: size, opcode: [0x0f, opImm + (byCl ? 1 : 0)], rm: o[0] as RegOp | MemOp, reg: o[1] as RegOp,
          ...(byCl ? {} : { imm: (o[2] as ImmOp).value, immSize: 1 as const }),
        }),
        undef: (inp) => shldUndef(width, Number(inp.vals[2])).flags,
        destUndef: (inp) => shldUndef(width, Number(inp.vals[2])).dest,
        same: 0.05,
        aliasFixed: byCl ? 0.04 : 0,
        count: mem ? 120 : 250,
      });
    }
  }
  return out;
}

describe('SHLD SHRD', () => {
  for (const [mn, opc] of [['shld', 0xa4], ['shrd', 0xac]] as const) {
    for (const size of WIDE) {
      const name = `${mn} ${size * 8}-bit`;
      it(name, () => checkForms(name, doubleForms(mn, opc, size)));
    }
  }
});
