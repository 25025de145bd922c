/**
 * Differential tests of data movement and exchange: MOV (all ModRM forms, immediates, imm64,
 * moffs64), MOVZX MOVSX MOVSXD, CBW CWDE CDQE CWD CDQ CQO, XCHG (ModRM forms, 90+r incl. the
 * 90 NOP and 41 90), XADD, CMPXCHG (equal and not equal), CMPXCHG8B/CMPXCHG16B (equal, not equal,
 * misaligned #GP, register operand #UD) and MOVBE.
 */
import { beforeAll, describe, it } from 'vitest';
import { ensureNativeHarness } from '../helpers/native.js';
import { DATA, DATA_SIZE } from '../helpers/snippet.js';
import { encode, opName, RAX, RBX, RCX, RDX, type RegOp } from './lib/asm.js';
import { SIZES, WIDE, immSizeFor, regRm, rmImm, rmReg, type Common } from './lib/common.js';
import type { TestCase } from './lib/diff.js';
import { COMPARED } from './lib/flags.js';
import { placeMem, randomFlags, randomRegs, readLE, type Form, type Gen, type ImmOp } from './lib/forms.js';
import { hex, type Rng, type Size } from './lib/rng.js';
import { checkCases, checkForms } from './lib/suite.js';

beforeAll(() => { ensureNativeHarness(); });

describe('MOV', () => {
  for (const size of SIZES) {
    const w = size === 1 ? 0 : 1;
    const name = `mov ${size * 8}-bit`;
    const c: Common = { same: 0.05, count: 100, memCount: 80 };
    const forms: Form[] = [
      ...rmReg('mov', size, [0x88 + w], c),
      ...regRm('mov', size, [0x8a + w], c),
      ...rmImm('mov', size, [0xc6 + w], 0, immSizeFor(size), c),
      {
        name: `mov r${size * 8}, imm${size * 8} (B0/B8+r)`, mnemonic: 'mov', count: 60,
        slots: [{ t: 'reg', size }, { t: 'imm', size }],
        bytes: (o) => encode({ opsize: size, opcode: [size === 1 ? 0xb0 : 0xb8], opreg: o[0] as RegOp, imm: (o[1] as ImmOp).value, immSize: size }),
      },
    ];
    // moffs: A0-A3 with a 64-bit absolute address (and 32-bit with 0x67)
    for (const a32 of [false, true]) {
      for (const store of [false, true]) {
        forms.push({
          name: `mov ${store ? `moffs, ${['', 'al', 'ax', '', 'eax', '', '', '', 'rax'][size]}` : 'acc, moffs'} (${store ? 'A2/A3' : 'A0/A1'}${a32 ? ', addr32' : ''})`,
          mnemonic: 'mov', count: 30,
          slots: [{ t: 'mem', size, at: [0x40, 0x1f00] }, { t: 'reg', size, fixed: RAX }],
          // the memory slot places the operand's value in DATA; moffs encodes only its address
          bytes: (_o, ctx) => encode({ prefixes: a32 ? [0x67] : [], opsize: size, opcode: [(store ? 0xa2 : 0xa0) + w], imm: ctx.memAddr, immSize: a32 ? 4 : 8 }),
        });
      }
    }
    it(name, () => checkForms(name, forms));
  }
});

describe('MOVZX MOVSX MOVSXD', () => {
  for (const [mn, op8, op16] of [['movzx', 0xb6, 0xb7], ['movsx', 0xbe, 0xbf]] as const) {
    it(mn, () => checkForms(mn, [
      ...WIDE.flatMap((size) => regRm(mn, size, [0x0f, op8], { count: 150, memCount: 80, rex: size === 8 }, 1)),
      ...WIDE.flatMap((size) => regRm(mn, size, [0x0f, op16], { count: 150, memCount: 80 }, 2)),
    ]));
  }
  it('movsxd', () => checkForms('movsxd', [
    ...regRm('movsxd', 8, [0x63], { count: 150, memCount: 60 }, 4),
    // without REX.W MOVSXD is a plain 32-bit (or, with 0x66, 16-bit) move
    ...regRm('movsxd', 4, [0x63], { count: 60, memCount: 30 }, 4),
    ...regRm('movsxd', 2, [0x63], { count: 60, memCount: 30 }, 2),
  ]));
});

describe('CBW CWDE CDQE CWD CDQ CQO', () => {
  const FORMS = [
    { mn: 'cbw', size: 2, src: 1, opc: 0x98 }, { mn: 'cwde', size: 4, src: 2, opc: 0x98 }, { mn: 'cdqe', size: 8, src: 4, opc: 0x98 },
    { mn: 'cwd', size: 2, src: 2, opc: 0x99 }, { mn: 'cdq', size: 4, src: 4, opc: 0x99 }, { mn: 'cqo', size: 8, src: 8, opc: 0x99 },
  ] as const;
  it('sign extensions of the accumulator', () => checkForms('cbw family', FORMS.map((f): Form => ({
    name: f.mn, mnemonic: f.mn, count: 80,
    slots: [{ t: 'reg', size: f.src, fixed: RAX, hidden: true }],
    bytes: () => encode({ opsize: f.size, opcode: [f.opc] }),
  }))));
});

describe('XCHG', () => {
  for (const size of SIZES) {
    const name = `xchg ${size * 8}-bit`;
    const forms: Form[] = [...rmReg('xchg', size, [size === 1 ? 0x86 : 0x87], { same: 0.1, count: 150, memCount: 100 })];
    if (size !== 1) {
      // 90+r: xchg rAX, r (90 itself is NOP, 41 90 is xchg eax, r8d)
      forms.push({
        name: `xchg ${['', '', 'ax', '', 'eax', '', '', '', 'rax'][size]}, r${size * 8} (90+r)`, mnemonic: 'xchg', count: 100,
        slots: [{ t: 'reg', size, fixed: RAX }, { t: 'reg', size }], aliasFixed: 0.15,
        bytes: (o) => encode({ opsize: size, opcode: [0x90], opreg: o[1] as RegOp }),
      });
    }
    it(name, () => checkForms(name, forms));
  }
});

describe('XADD', () => {
  for (const size of SIZES) {
    const name = `xadd ${size * 8}-bit`;
    const opc = [0x0f, size === 1 ? 0xc0 : 0xc1];
    it(name, () => checkForms(name, [
      ...rmReg('xadd', size, opc, { same: 0.08, count: 200, memCount: 100 }),
      ...rmReg('lock xadd', size, opc, { prefixes: [0xf0], memCount: 40 }).filter((f) => f.name.endsWith('[mem]')),
    ]));
  }
});

describe('CMPXCHG', () => {
  for (const size of SIZES) {
    const name = `cmpxchg ${size * 8}-bit`;
    const opc = [0x0f, size === 1 ? 0xb0 : 0xb1];
    // the accumulator equals the destination in half of the cases
    const acc: Gen = (rng, s, prev) => (rng.chance(0.5) ? prev[0]! : rng.value(s));
    const c: Common = { implicit: [{ t: 'reg', size, fixed: RAX, hidden: true, gen: acc }], aliasFixed: 0.05, same: 0.05, count: 250, memCount: 120 };
    it(name, () => checkForms(name, [
      ...rmReg('cmpxchg', size, opc, c),
      ...rmReg('lock cmpxchg', size, opc, { ...c, prefixes: [0xf0], memCount: 40 }).filter((f) => f.name.endsWith('[mem]')),
    ]));
  }
});

/** CMPXCHG8B m64 / CMPXCHG16B m128: memory vs EDX:EAX (RDX:RAX), store ECX:EBX (RCX:RBX). */
function cmpxchgNB(rng: Rng, wide: boolean, kind: 'ok' | 'misaligned' | 'register', lock: boolean): TestCase {
  const n = wide ? 16 : 8;
  const half: Size = wide ? 8 : 4;
  const regs = randomRegs(rng);
  const data = new Uint8Array(DATA_SIZE);
  let off = rng.range(0x40, DATA_SIZE - 0x60) & ~15;
  if (!wide && rng.chance(0.5)) off += rng.pick([1, 4, 7, 8]); // CMPXCHG8B needs no alignment
  if (!wide && kind === 'ok' && rng.chance(0.1)) off = 0x1000 - rng.range(1, 7); // across DATA's page boundary
  if (kind === 'misaligned') off += rng.pick([1, 4, 8, 12]);
  data.set(rng.bytes(n + 32), off - 16);
  const lo = readLE(data, off, half);
  const hi = readLE(data, off + half, half);
  const eq = rng.chance(0.5);
  const eqLo = eq || rng.chance(0.3);
  const eqHi = eq || (!eqLo && rng.chance(0.3));
  regs[RAX] = rng.withUpper(eqLo ? lo : rng.value(half), half);
  regs[RDX] = rng.withUpper(eqHi ? hi : rng.value(half), half);
  const pool = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15].filter((r) => ![RAX, RBX, RCX, RDX].includes(r));
  const placed = placeMem(rng, 0, DATA + off, pool);
  for (const [r, v] of placed.assign) regs[r] = v;
  const rm = kind === 'register' ? { kind: 'reg' as const, n: rng.pick(pool), size: 8 as Size } : placed.mem;
  const code = encode({ prefixes: lock ? [0xf0] : [], opsize: wide ? 8 : 4, opcode: [0x0f, 0xc7], reg: 1, rm });
  const mn = `${lock ? 'lock ' : ''}cmpxchg${wide ? '16b' : '8b'}`;
  return {
    form: `${mn}${kind === 'ok' ? '' : ` (${kind})`}`, text: `${mn} ${opName(rm)}`, code, regs, rflags: BigInt(randomFlags(rng)), data,
    flagsMask: COMPARED, mayFault: kind !== 'ok',
    note: `memory operand at ${hex(BigInt(DATA + off), 4)} = ${hex(hi, half)}:${hex(lo, half)}`,
  };
}

describe('CMPXCHG8B CMPXCHG16B', () => {
  for (const wide of [false, true]) {
    const name = wide ? 'cmpxchg16b' : 'cmpxchg8b';
    it(name, () => checkCases(name, (rng) => [
      ...Array.from({ length: 200 }, () => cmpxchgNB(rng, wide, 'ok', false)),
      ...Array.from({ length: 60 }, () => cmpxchgNB(rng, wide, 'ok', true)),
      ...(wide ? Array.from({ length: 20 }, () => cmpxchgNB(rng, wide, 'misaligned', rng.chance(0.5))) : []),
      ...Array.from({ length: 8 }, () => cmpxchgNB(rng, wide, 'register', false)),
    ]));
  }
});

describe('MOVBE', () => {
  for (const size of WIDE) {
    const name = `movbe ${size * 8}-bit`;
    it(name, () => checkForms(name, [
      ...regRm('movbe', size, [0x0f, 0x38, 0xf0], { memCount: 120 }).filter((f) => f.name.endsWith('[mem]')),
      ...rmReg('movbe', size, [0x0f, 0x38, 0xf1], { memCount: 120 }).filter((f) => f.name.endsWith('[mem]')),
    ]));
  }
});
