/**
 * Differential tests of the flag instructions LAHF SAHF CLC STC CMC CLD STD, of XLAT (64-bit,
 * REX.W and 0x67 32-bit addressing), and of the hint NOPs (90, F3 90 PAUSE, 0F 1F /0 with any
 * addressing form, which must not access memory).
 */
import { beforeAll, describe, it } from 'vitest';
import { ensureNativeHarness } from '../helpers/native.js';
import { DATA, DATA_SIZE } from '../helpers/snippet.js';
import { concat, encode, opName, reg, R8, R9, R10, R12, R13, RAX, RBP, RBX, RCX, RDI, RDX, RSI, type MemOp } from './lib/asm.js';
import type { TestCase } from './lib/diff.js';
import { AF, COMPARED } from './lib/flags.js';
import { placeMem, randomFlags, randomRegs, type Form } from './lib/forms.js';
import { hex, MASK, type Rng } from './lib/rng.js';
import { checkCases, checkForms } from './lib/suite.js';

beforeAll(() => { ensureNativeHarness(); });

describe('flag instructions', () => {
  it('lahf/sahf', () => checkForms('lahf/sahf', [
    { name: 'lahf', mnemonic: 'lahf', slots: [{ t: 'reg', size: 2, fixed: RAX, hidden: true }], bytes: () => new Uint8Array([0x9f]), count: 150 },
    { name: 'sahf', mnemonic: 'sahf', slots: [{ t: 'reg', size: 2, fixed: RAX, hidden: true }], bytes: () => new Uint8Array([0x9e]), count: 150 },
  ]));
  it('clc/stc/cmc/cld/std', () => checkForms('clc..std', ([['clc', 0xf8], ['stc', 0xf9], ['cmc', 0xf5], ['cld', 0xfc], ['std', 0xfd]] as const)
    .map(([mn, opc]): Form => ({ name: mn, mnemonic: mn, slots: [], bytes: () => new Uint8Array([opc]), count: 40 }))));
});

describe('XLAT', () => {
  it('xlat', () => checkCases('xlat', (rng) => Array.from({ length: 200 }, (): TestCase => {
    const kind = rng.int(3); // 0: xlat, 1: rex.w xlat, 2: addr32 xlat
    const regs = randomRegs(rng);
    const data = rng.bytes(DATA_SIZE);
    const table = DATA + rng.range(0x10, DATA_SIZE - 0x110);
    regs[RBX] = kind === 2 ? (rng.u64() & ~MASK[4]) | BigInt(table) : BigInt(table);
    const code = new Uint8Array(kind === 0 ? [0xd7] : kind === 1 ? [0x48, 0xd7] : [0x67, 0xd7]);
    return {
      form: ['xlat', 'xlat (rex.w)', 'xlat (addr32)'][kind]!, text: 'xlatb', code, regs, data,
      rflags: BigInt(randomFlags(rng)), flagsMask: COMPARED, note: `table at ${hex(BigInt(table), 4)}`,
    };
  })));
});

describe('NOP forms', () => {
  it('nop, pause, nop r/m', () => checkCases('nop', (rng) => Array.from({ length: 150 }, (): TestCase => {
    const regs = randomRegs(rng);
    const k = rng.int(4);
    let code: Uint8Array;
    let text: string;
    if (k === 0) { code = new Uint8Array([0x90]); text = 'nop'; }
    else if (k === 1) { code = new Uint8Array([0xf3, 0x90]); text = 'pause'; }
    else {
      const size = rng.pick([2, 4] as const);
      const placed = placeMem(rng, size, rng.u32(), [...Array(16).keys()], { free: true });
      for (const [r, v] of placed.assign) regs[r] = v;
      code = k === 2 ? encode({ opsize: size, opcode: [0x0f, 0x1f], reg: 0, rm: placed.mem })
        : encode({ opsize: size, opcode: [0x0f, 0x1f], reg: 0, rm: { kind: 'reg', n: rng.int(16), size } });
      text = `nop ${k === 2 ? opName(placed.mem) : 'r'}`;
    }
    return { form: text.split(' ')[0]! + (k >= 2 ? (k === 2 ? ' m' : ' r') : ''), text, code, regs, rflags: BigInt(randomFlags(rng)), flagsMask: COMPARED };
  })));
});

const ALU_NAMES = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];

/** An ALU instruction `op r/m, r` or `op r/m, imm32` with register operands, as bytes. */
function aluInsn(rng: Rng, size: 2 | 4 | 8, lowRegs: boolean): { code: Uint8Array; text: string } {
  const op = rng.int(8);
  const a = reg(lowRegs ? rng.int(8) : rng.int(16), size);
  if (rng.chance(0.5)) {
    const b = reg(lowRegs ? rng.int(8) : rng.int(16), size);
    return { code: encode({ opsize: size, opcode: [op * 8 + 1], rm: a, reg: b }), text: `${ALU_NAMES[op]} ${opName(a)}, ${opName(b)}` };
  }
  const v = rng.value(size === 2 ? 2 : 4);
  return { code: encode({ opsize: size, opcode: [0x81], reg: op, rm: a, imm: v, immSize: size === 2 ? 2 : 4 }), text: `${ALU_NAMES[op]} ${opName(a)}, ${hex(v, size === 2 ? 2 : 4)}` };
}

describe('prefixes', () => {
  it('ignored segment prefixes, REX placement, REX.W over 0x66, 15-byte limit', () => checkCases('prefixes', (rng) => Array.from({ length: 400 }, (): TestCase => {
    const regs = randomRegs(rng);
    const kind = rng.int(6);
    const seg = (): number => rng.pick([0x2e, 0x3e, 0x26, 0x36]);
    let code: Uint8Array;
    let text: string;
    let form: string;
    let mayFault = false;
    if (kind === 0) {
      // CS/DS/ES/SS overrides do nothing in 64-bit mode
      const i = aluInsn(rng, rng.pick([2, 4, 8] as const), false);
      const n = rng.range(1, 4);
      code = concat(Array.from({ length: n }, seg), i.code);
      text = `${n} segment prefix(es); ${i.text}`;
      form = 'segment prefixes';
    } else if (kind === 1) {
      // REX.W wins over 0x66: a 64-bit operation with an imm32
      const i = aluInsn(rng, 8, false);
      const at = i.code.findIndex((b) => (b & 0xf0) === 0x40);
      code = concat(i.code.subarray(0, at), [0x66], i.code.subarray(at));
      text = `66 + ${i.text}`;
      form = '66 with REX.W';
    } else if (kind === 2) {
      // a REX prefix followed by a legacy prefix is ignored
      const i = aluInsn(rng, 2, true);
      code = concat([0x40 | rng.int(16)], i.code);
      text = `stray REX before 66; ${i.text}`;
      form = 'REX before a legacy prefix (ignored)';
    } else if (kind === 3) {
      // two REX prefixes: only the last one counts
      const i = aluInsn(rng, rng.pick([4, 8] as const), false);
      let at = i.code.findIndex((b) => (b & 0xf0) === 0x40);
      if (at < 0) at = 0;
      code = concat(i.code.subarray(0, at), [0x40 | rng.int(16)], i.code.subarray(at));
      text = `extra REX; ${i.text}`;
      form = 'two REX prefixes';
    } else if (kind === 4) {
      // repeated operand-size prefix
      const i = aluInsn(rng, 2, false);
      code = concat([0x66, 0x66], i.code);
      text = `66 66 ${i.text}`;
      form = 'repeated 66';
    } else {
      // padded to exactly 15 bytes (valid) or 16 (#GP)
      const i = aluInsn(rng, rng.pick([2, 4, 8] as const), false);
      const len = rng.chance(0.5) ? 15 : 16;
      code = concat(Array.from({ length: len - i.code.length }, seg), i.code);
      text = `${len}-byte instruction: ${len - i.code.length} segment prefixes + ${i.text}`;
      form = `${len}-byte instruction`;
      mayFault = true;
    }
    return { form, text, code, regs, rflags: BigInt(randomFlags(rng)), flagsMask: COMPARED & ~AF, mayFault };
  })));
});

describe('non-canonical addresses', () => {
  it('#GP for a non-canonical data address, #SS with an RBP base', () => checkCases('non-canonical', (rng) => Array.from({ length: 60 }, (): TestCase => {
    const regs = randomRegs(rng);
    const ss = rng.chance(0.4);
    const base = ss ? RBP : rng.pick([RAX, RBX, RCX, RSI, RDI, R8, R12, R13]);
    const high = rng.pick([0x0000800000000000n, 0xffff7fffffff0000n, 0x8000000000000000n, 0x1234000000000000n]);
    regs[base] = high + BigInt(DATA + rng.int(0x1000));
    const size = rng.pick([1, 2, 4, 8] as const);
    const store = rng.chance(0.5);
    const m: MemOp = { kind: 'mem', size, base, disp: rng.range(-64, 64) };
    const r = reg(rng.pick([RDX, R9, R10]), size);
    const code = encode({ opsize: size, opcode: [(store ? 0x88 : 0x8a) + (size === 1 ? 0 : 1)], reg: r, rm: m });
    return {
      form: `mov ${store ? 'm, r' : 'r, m'} non-canonical (${ss ? 'RBP base' : 'other base'})`, text: `mov ${store ? `${opName(m)}, ${opName(r)}` : `${opName(r)}, ${opName(m)}`}`,
      code, regs, rflags: BigInt(randomFlags(rng)), flagsMask: COMPARED, mayFault: true,
    };
  })));
});
