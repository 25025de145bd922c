/**
 * Differential tests of LEA: 16/32/64-bit destinations with 64-bit and (0x67) 32-bit address
 * size, over every addressing form (base, base+disp8/disp32, SIB with scales 1/2/4/8 and any
 * base/index incl. RSP/RBP/R12/R13 bases and R12 index, no-base SIB, absolute disp32,
 * RIP-relative) with random register values, so the address arithmetic wraps and truncates; and
 * LEA with a register operand (#UD).
 */
import { beforeAll, describe, it } from 'vitest';
import { ensureNativeHarness } from '../helpers/native.js';
import { encode, opName, regName } from './lib/asm.js';
import { WIDE } from './lib/common.js';
import type { TestCase } from './lib/diff.js';
import { COMPARED } from './lib/flags.js';
import { placeMem, randomFlags, randomRegs } from './lib/forms.js';
import type { Rng, Size } from './lib/rng.js';
import { checkCases } from './lib/suite.js';

beforeAll(() => { ensureNativeHarness(); });

const ALL = [...Array(16).keys()];

function leaCase(rng: Rng, size: Size, asize: 4 | 8): TestCase {
  const regs = randomRegs(rng);
  // small register values make the sums land near interesting boundaries more often
  for (let r = 0; r < 16; r++) if (rng.chance(0.2)) regs[r] = BigInt.asUintN(64, BigInt(rng.range(-70000, 70000)));
  const dest = rng.pick(ALL);
  const placed = placeMem(rng, 0, rng.u32(), ALL, { free: true, asize });
  for (const [r, v] of placed.assign) regs[r] = v;
  const code = encode({ opsize: size, opcode: [0x8d], reg: { kind: 'reg', n: dest, size }, rm: placed.mem });
  return {
    form: `lea r${size * 8}, m (${asize * 8}-bit addressing)`,
    text: `lea ${regName(dest, size)}, ${opName(placed.mem)}`,
    code, regs, rflags: BigInt(randomFlags(rng)), flagsMask: COMPARED,
  };
}

describe('LEA', () => {
  for (const size of WIDE) {
    const name = `lea ${size * 8}-bit`;
    it(name, () => checkCases(name, (rng) => [
      ...Array.from({ length: 400 }, () => leaCase(rng, size, 8)),
      ...Array.from({ length: 250 }, () => leaCase(rng, size, 4)),
    ]));
  }
  it('lea with a register operand is #UD', () => checkCases('lea #UD', (rng) => Array.from({ length: 6 }, () => {
    const regs = randomRegs(rng);
    const size = rng.pick(WIDE);
    return {
      form: 'lea r, r (#UD)', text: 'lea r, r', regs, rflags: 2n, mayFault: true,
      code: encode({ opsize: size, opcode: [0x8d], reg: { kind: 'reg', n: rng.int(16), size }, rm: { kind: 'reg', n: rng.int(16), size } }),
    };
  })));
});
