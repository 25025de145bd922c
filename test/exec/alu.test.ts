/**
 * Differential tests (host CPU vs emulator) of the integer ALU: ADD OR ADC SBB AND SUB XOR CMP in
 * every encoding (r/m,r  r,r/m  acc,imm  r/m,imm  r/m,imm8 sign-extended; register and memory;
 * LOCK on memory), TEST, INC DEC NEG NOT, and the #UD cases (opcode 82 in 64-bit mode, LOCK on a
 * register destination or on CMP). Flags per lib/flags.ts.
 */
import { beforeAll, describe, it } from 'vitest';
import { ensureNativeHarness } from '../helpers/native.js';
import { encode } from './lib/asm.js';
import { accImm, immSizeFor, rmImm, rmOnly, rmReg, regRm, SIZES, type Common } from './lib/common.js';
import { LOGIC_UNDEF } from './lib/flags.js';
import type { Form } from './lib/forms.js';
import { checkForms } from './lib/suite.js';

beforeAll(() => { ensureNativeHarness(); });

const LOCK = 0xf0;

/** The eight classic ALU operations: opcode row n*8, group-1 extension /n. */
const ALU = [
  { mn: 'add', n: 0, undef: 0 },
  { mn: 'or', n: 1, undef: LOGIC_UNDEF },
  { mn: 'adc', n: 2, undef: 0 },
  { mn: 'sbb', n: 3, undef: 0 },
  { mn: 'and', n: 4, undef: LOGIC_UNDEF },
  { mn: 'sub', n: 5, undef: 0 },
  { mn: 'xor', n: 6, undef: LOGIC_UNDEF },
  { mn: 'cmp', n: 7, undef: 0 },
] as const;

function aluForms(op: (typeof ALU)[number], size: 1 | 2 | 4 | 8): Form[] {
  const w = size === 1 ? 0 : 1;
  const base = op.n * 8;
  const c: Common = { undef: op.undef, same: 0.08, count: 200, memCount: 120 };
  const forms = [
    ...rmReg(op.mn, size, [base + w], c),
    ...regRm(op.mn, size, [base + 2 + w], { ...c, count: 100 }),
    accImm(op.mn, size, [base + 4 + w], { ...c, count: 100 }),
    ...rmImm(op.mn, size, [size === 1 ? 0x80 : 0x81], op.n, immSizeFor(size), { ...c, count: 150, memCount: 100 }),
  ];
  if (size !== 1) forms.push(...rmImm(op.mn, size, [0x83], op.n, 1, { ...c, count: 150, memCount: 100 }));
  if (op.mn !== 'cmp') {
    const lock: Common = { ...c, prefixes: [LOCK], memCount: 60 };
    forms.push(...rmReg(`lock ${op.mn}`, size, [base + w], lock).filter((f) => f.name.endsWith('[mem]')));
    forms.push(...rmImm(`lock ${op.mn}`, size, [size === 1 ? 0x80 : 0x83], op.n, 1, lock).filter((f) => f.name.endsWith('[mem]')));
  }
  return forms;
}

describe('ALU binary operations', () => {
  for (const op of ALU) {
    for (const size of SIZES) {
      const name = `${op.mn} ${size * 8}-bit`;
      it(name, () => checkForms(name, aluForms(op, size)));
    }
  }
});

describe('TEST', () => {
  for (const size of SIZES) {
    const w = size === 1 ? 0 : 1;
    const name = `test ${size * 8}-bit`;
    const c: Common = { undef: LOGIC_UNDEF, same: 0.1, count: 200, memCount: 120 };
    it(name, () => checkForms(name, [
      ...rmReg('test', size, [0x84 + w], c),
      accImm('test', size, [0xa8 + w], { ...c, count: 100 }),
      ...rmImm('test', size, [0xf6 + w], 0, size === 8 ? 4 : size, { ...c, count: 100 }),
    ]));
  }
});

describe('INC DEC NEG NOT', () => {
  const UNARY = [
    { mn: 'inc', digit: 0, op8: 0xfe, op: 0xff },
    { mn: 'dec', digit: 1, op8: 0xfe, op: 0xff },
    { mn: 'not', digit: 2, op8: 0xf6, op: 0xf7 },
    { mn: 'neg', digit: 3, op8: 0xf6, op: 0xf7 },
  ];
  for (const u of UNARY) {
    for (const size of SIZES) {
      const name = `${u.mn} ${size * 8}-bit`;
      const opc = [size === 1 ? u.op8 : u.op];
      const c: Common = { count: 250, memCount: 120 };
      it(name, () => checkForms(name, [
        ...rmOnly(u.mn, size, opc, u.digit, c),
        ...rmOnly(`lock ${u.mn}`, size, opc, u.digit, { ...c, prefixes: [LOCK], memCount: 60 }).filter((f) => f.name.endsWith('[mem]')),
      ]));
    }
  }
});

describe('invalid encodings raise #UD', () => {
  it('opcode 82, LOCK with a register destination, LOCK CMP', () => {
    const ud: Common = { mayFault: true, count: 16, memCount: 16 };
    checkForms('ALU #UD', [
      // 82 /n ib is an alias of 80 /n in legacy modes and #UD in 64-bit mode.
      ...rmImm('(82) add', 1, [0x82], 0, 1, ud),
      ...rmImm('(82) cmp', 1, [0x82], 7, 1, ud),
      ...rmReg('lock add', 4, [0x01], { ...ud, prefixes: [LOCK] }).filter((f) => f.name.endsWith('[reg]')),
      ...rmReg('lock cmp', 4, [0x39], { ...ud, prefixes: [LOCK] }),
      ...rmOnly('lock not', 8, [0xf7], 2, { ...ud, prefixes: [LOCK] }).filter((f) => f.name.endsWith('[reg]')),
      {
        name: 'lock nop (f0 90)', mnemonic: 'lock nop', slots: [], count: 4, mayFault: true,
        bytes: () => encode({ prefixes: [LOCK], opcode: [0x90] }),
      },
    ]);
  });
});
