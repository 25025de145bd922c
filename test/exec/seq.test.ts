/**
 * Differential tests of short random instruction sequences (2 to 8 instructions) mixing ALU,
 * INC/DEC/NEG/NOT, shifts and rotates, MUL/IMUL, BT, POPCNT/TZCNT/LZCNT, SETcc, CMOVcc, Jcc,
 * LAHF/SAHF, CLC/STC/CMC, XADD/CMPXCHG, moves and memory operands of every size.
 *
 * Single-instruction cases start from flags loaded into RFLAGS; sequences also exercise how
 * one instruction's (lazily computed) flags feed the next: INC keeping the CF of an ADD, ADC
 * after a shift, SETcc after SAHF, and so on. The generator tracks which flags are undefined
 * at each point (lib/flags.ts) and never lets an instruction read one, so every compared bit
 * is architecturally defined; flags still undefined at the end are masked.
 */
import { beforeAll, describe, it } from 'vitest';
import { ensureNativeHarness } from '../helpers/native.js';
import { DATA, DATA_SIZE } from '../helpers/snippet.js';
import { concat, encode, hreg, opName, R15, reg, type MemOp, type RegOp } from './lib/asm.js';
import type { TestCase } from './lib/diff.js';
import { AF, BT_UNDEF, CC_NAMES, CF, CNT_UNDEF, COMPARED, LOGIC_UNDEF, MUL_UNDEF, OF, PF, SF, STATUS, ZF, shiftUndef } from './lib/flags.js';
import { randomFlags, randomRegs } from './lib/forms.js';
import { hex, type Rng, type Size } from './lib/rng.js';
import { checkCases } from './lib/suite.js';

beforeAll(() => { ensureNativeHarness(); });

interface Insn {
  readonly code: Uint8Array;
  readonly text: string;
  /** Flags the instruction reads. */
  readonly reads: number;
  /** Flags it sets to defined values. */
  readonly writes: number;
  /** Flags it leaves undefined. */
  readonly undef: number;
}

/** Flags each condition code reads. */
const CC_READS = [OF, OF, CF, CF, ZF, ZF, CF | ZF, CF | ZF, SF, SF, PF, PF, SF | OF, SF | OF, ZF | SF | OF, ZF | SF | OF];

/** Registers sequences use: everything but RSP and R15 (the memory base). */
const POOL = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];

const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];

class Gen {
  constructor(private readonly rng: Rng) {}

  size(): Size {
    return this.rng.pick([1, 2, 4, 8] as const);
  }

  /** Two register operands of `size` (byte registers with or without REX). */
  regs2(size: Size): [RegOp, RegOp] {
    const r = this.rng;
    if (size === 1 && r.chance(0.4)) {
      // no REX: AL..BL and AH..BH
      const pick = (): RegOp => { const n = r.int(8); return n >= 4 ? hreg(n - 4) : reg(n, 1); };
      return [pick(), pick()];
    }
    return [reg(r.pick(POOL), size), reg(r.pick(POOL), size)];
  }

  /** [R15 + disp8] (R15 points into DATA). */
  mem(size: Size): MemOp {
    return { kind: 'mem', size, base: R15, disp: this.rng.range(-100, 100) };
  }

  insn(): Insn {
    const r = this.rng;
    const k = r.int(21);
    const size = this.size();
    const w = size === 1 ? 0 : 1;
    const opc1 = (o: number): number => o + w;
    switch (k) {
      case 0: case 1: case 2: { // ALU reg/mem
        const op = r.int(8);
        const [a, b] = this.regs2(size);
        const logic = op === 1 || op === 4 || op === 6;
        const base = { reads: op === 2 || op === 3 ? CF : 0, writes: logic ? STATUS & ~LOGIC_UNDEF : STATUS, undef: logic ? LOGIC_UNDEF : 0 };
        const form = r.int(4);
        if (form === 0) return { ...base, code: encode({ opsize: size, opcode: [opc1(op * 8)], rm: a, reg: b }), text: `${ALU[op]} ${opName(a)}, ${opName(b)}` };
        if (form === 1) {
          const v = r.value(1);
          const code = size === 1 ? encode({ opcode: [0x80], reg: op, rm: a, imm: v, immSize: 1 }) : encode({ opsize: size, opcode: [0x83], reg: op, rm: a, imm: v, immSize: 1 });
          return { ...base, code, text: `${ALU[op]} ${opName(a)}, ${hex(v, 1)}` };
        }
        const m = this.mem(size);
        const rr = reg(r.pick(POOL), size);
        if (form === 2) return { ...base, code: encode({ opsize: size, opcode: [opc1(op * 8)], rm: m, reg: rr }), text: `${ALU[op]} ${opName(m)}, ${opName(rr)}` };
        return { ...base, code: encode({ opsize: size, opcode: [opc1(op * 8 + 2)], rm: m, reg: rr }), text: `${ALU[op]} ${opName(rr)}, ${opName(m)}` };
      }
      case 3: { // INC DEC NEG NOT
        const u = r.int(4);
        const [a] = this.regs2(size);
        const rm = r.chance(0.3) ? this.mem(size) : a;
        const mn = ['inc', 'dec', 'not', 'neg'][u]!;
        const code = encode({ opsize: size, opcode: [u < 2 ? opc1(0xfe) : opc1(0xf6)], reg: u, rm });
        return { code, text: `${mn} ${opName(rm)}`, reads: 0, writes: u < 2 ? STATUS & ~CF : u === 2 ? 0 : STATUS, undef: 0 };
      }
      case 4: case 5: { // shifts and rotates by 1 or imm8
        const op = r.pick([0, 1, 2, 3, 4, 5, 7]);
        const width = size * 8;
        const count = r.chance(0.3) ? 1 : r.pick([0, 1, 2, width - 1, width, width + 1, r.int(70)]);
        const [a] = this.regs2(size);
        const rm = r.chance(0.25) ? this.mem(size) : a;
        const code = count === 1 && r.chance(0.5) ? encode({ opsize: size, opcode: [opc1(0xd0)], reg: op, rm })
          : encode({ opsize: size, opcode: [opc1(0xc0)], reg: op, rm, imm: count, immSize: 1 });
        const c = count & (width === 64 ? 63 : 31);
        const undef = shiftUndef(op, width, count);
        const affected = c === 0 ? 0 : op <= 3 ? CF | OF : STATUS;
        const mn = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'][op]!;
        return { code, text: `${mn} ${opName(rm)}, ${count}`, reads: (op === 2 || op === 3) && c !== 0 ? CF : 0, writes: affected & ~undef, undef };
      }
      case 6: { // SETcc
        const cc = r.int(16);
        const [a] = this.regs2(1);
        const rm = r.chance(0.2) ? this.mem(1) : a;
        return { code: encode({ opcode: [0x0f, 0x90 + cc], reg: 0, rm }), text: `set${CC_NAMES[cc]} ${opName(rm)}`, reads: CC_READS[cc]!, writes: 0, undef: 0 };
      }
      case 7: { // CMOVcc
        const cc = r.int(16);
        const s = r.pick([2, 4, 8] as const);
        const [a, b] = this.regs2(s);
        const src = r.chance(0.3) ? this.mem(s) : b;
        return { code: encode({ opsize: s, opcode: [0x0f, 0x40 + cc], reg: a, rm: src }), text: `cmov${CC_NAMES[cc]} ${opName(a)}, ${opName(src)}`, reads: CC_READS[cc]!, writes: 0, undef: 0 };
      }
      case 8: { // MUL/IMUL
        const s = r.pick([1, 2, 4, 8] as const);
        if (s !== 1 && r.chance(0.5)) {
          const [a, b] = this.regs2(s);
          return { code: encode({ opsize: s, opcode: [0x0f, 0xaf], reg: a, rm: b }), text: `imul ${opName(a)}, ${opName(b)}`, reads: 0, writes: CF | OF, undef: MUL_UNDEF };
        }
        const [a] = this.regs2(s);
        const signed = r.chance(0.5);
        return { code: encode({ opsize: s, opcode: [s === 1 ? 0xf6 : 0xf7], reg: signed ? 5 : 4, rm: a }), text: `${signed ? 'imul' : 'mul'} ${opName(a)}`, reads: 0, writes: CF | OF, undef: MUL_UNDEF };
      }
      case 9: { // BT family
        const s = r.pick([2, 4, 8] as const);
        const [a, b] = this.regs2(s);
        const op = r.int(4);
        const code = r.chance(0.5) ? encode({ opsize: s, opcode: [0x0f, 0xa3 + op * 8], rm: a, reg: b })
          : encode({ opsize: s, opcode: [0x0f, 0xba], reg: 4 + op, rm: a, imm: r.int(256), immSize: 1 });
        return { code, text: `${['bt', 'bts', 'btr', 'btc'][op]} ${opName(a)}, ...`, reads: 0, writes: CF, undef: BT_UNDEF };
      }
      case 10: { // POPCNT TZCNT LZCNT
        const s = r.pick([2, 4, 8] as const);
        const [a, b] = this.regs2(s);
        const op = r.int(3);
        const code = encode({ prefixes: [0xf3], opsize: s, opcode: [0x0f, [0xb8, 0xbc, 0xbd][op]!], reg: a, rm: b });
        return { code, text: `${['popcnt', 'tzcnt', 'lzcnt'][op]} ${opName(a)}, ${opName(b)}`, reads: 0, writes: op === 0 ? STATUS : CF | ZF, undef: op === 0 ? 0 : CNT_UNDEF };
      }
      case 11: { // LAHF SAHF CLC STC CMC
        const op = r.int(5);
        return [
          { code: new Uint8Array([0x9f]), text: 'lahf', reads: SF | ZF | AF | PF | CF, writes: 0, undef: 0 },
          { code: new Uint8Array([0x9e]), text: 'sahf', reads: 0, writes: SF | ZF | AF | PF | CF, undef: 0 },
          { code: new Uint8Array([0xf8]), text: 'clc', reads: 0, writes: CF, undef: 0 },
          { code: new Uint8Array([0xf9]), text: 'stc', reads: 0, writes: CF, undef: 0 },
          { code: new Uint8Array([0xf5]), text: 'cmc', reads: CF, writes: CF, undef: 0 },
        ][op]!;
      }
      case 12: { // XADD CMPXCHG
        const mem = r.chance(0.4);
        const [a, b0] = this.regs2(size);
        const b = mem ? reg(r.pick(POOL), size) : b0; // no AH..BH next to R15
        const rm = mem ? this.mem(size) : a;
        const x = r.chance(0.5);
        return { code: encode({ opsize: size, opcode: [0x0f, (x ? 0xc0 : 0xb0) + w], rm, reg: b }), text: `${x ? 'xadd' : 'cmpxchg'} ${opName(rm)}, ${opName(b)}`, reads: 0, writes: STATUS, undef: 0 };
      }
      case 13: { // loads and stores of every size, moves
        const [a0, b] = this.regs2(size);
        const m = this.mem(size);
        const f = r.int(4);
        const a = f <= 1 ? reg(r.pick(POOL), size) : a0; // no AH..BH next to R15
        if (f === 0) return { code: encode({ opsize: size, opcode: [opc1(0x8a)], reg: a, rm: m }), text: `mov ${opName(a)}, ${opName(m)}`, reads: 0, writes: 0, undef: 0 };
        if (f === 1) return { code: encode({ opsize: size, opcode: [opc1(0x88)], reg: a, rm: m }), text: `mov ${opName(m)}, ${opName(a)}`, reads: 0, writes: 0, undef: 0 };
        if (f === 2) return { code: encode({ opsize: size, opcode: [opc1(0x86)], reg: a, rm: b }), text: `xchg ${opName(b)}, ${opName(a)}`, reads: 0, writes: 0, undef: 0 };
        const s = r.pick([2, 4, 8] as const);
        const d = reg(r.pick(POOL), s);
        return { code: encode({ opsize: s, opcode: [0x0f, r.pick([0xb6, 0xbe])], reg: d, rm: m.size === 1 ? m : { ...m, size: 1 } }), text: `movzx/movsx ${opName(d)}, byte ptr [r15...]`, reads: 0, writes: 0, undef: 0 };
      }
      case 14: { // shift by CL with a fresh count: mov cl, imm8 first (no flags)
        const op = r.pick([0, 1, 2, 3, 4, 5, 7]);
        const width = size * 8;
        const count = r.pick([0, 1, 2, width - 1, width, width + 1, r.int(256)]) & 0xff;
        const target = reg(r.pick(POOL.filter((n) => n !== 1)), size);
        const code = new Uint8Array([0xb1, count, ...encode({ opsize: size, opcode: [opc1(0xd2)], reg: op, rm: target })]);
        const c = count & (width === 64 ? 63 : 31);
        const undef = shiftUndef(op, width, count);
        const affected = c === 0 ? 0 : op <= 3 ? CF | OF : STATUS;
        const mn = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'][op]!;
        return { code, text: `mov cl, ${count}; ${mn} ${opName(target)}, cl`, reads: (op === 2 || op === 3) && c !== 0 ? CF : 0, writes: affected & ~undef, undef };
      }
      case 15: { // PUSHF/POPF through a register: every flag read, or all written at once
        const t = reg(r.pick(POOL), 4);
        if (r.chance(0.5)) {
          // pushfq; pop r; and r32, 0xcd5 (status flags and DF; IF differs by design)
          const code = concat([0x9c], encode({ opcode: [0x58], opreg: reg(t.n, 8) }), encode({ opcode: [0x81], reg: 4, rm: t, imm: 0xcd5, immSize: 4 }));
          return { code, text: `pushfq; pop ${opName(reg(t.n, 8))}; and ${opName(t)}, 0xcd5`, reads: STATUS, writes: STATUS & ~AF, undef: AF };
        }
        const v = (r.u32() & STATUS) | 2;
        return { code: new Uint8Array([0x68, v & 0xff, (v >> 8) & 0xff, 0, 0, 0x9d]), text: `push ${hex(BigInt(v), 2)}; popfq`, reads: 0, writes: STATUS, undef: 0 };
      }
      default: { // more plain ALU register ops: they dominate real code
        const op = r.int(8);
        const [a, b] = this.regs2(size);
        const logic = op === 1 || op === 4 || op === 6;
        return {
          code: encode({ opsize: size, opcode: [opc1(op * 8)], rm: a, reg: b }), text: `${ALU[op]} ${opName(a)}, ${opName(b)}`,
          reads: op === 2 || op === 3 ? CF : 0, writes: logic ? STATUS & ~LOGIC_UNDEF : STATUS, undef: logic ? LOGIC_UNDEF : 0,
        };
      }
    }
  }
}

/** Applies an instruction's effect to the set of undefined flags. */
function after(u: number, i: Insn): number {
  return (u & ~(i.writes | i.undef)) | i.undef;
}

function seqCase(rng: Rng): TestCase {
  const g = new Gen(rng);
  const n = rng.range(2, 8);
  let undef = 0;
  const parts: Uint8Array[] = [];
  const texts: string[] = [];
  while (parts.length < n) {
    const i = g.insn();
    if ((i.reads & undef) !== 0) continue;
    if (rng.chance(0.12)) {
      // jcc over the instruction: either path may run
      const cc = rng.int(16);
      if ((CC_READS[cc]! & undef) !== 0 || i.code.length > 127) continue;
      parts.push(new Uint8Array([0x70 + cc, i.code.length]), i.code);
      texts.push(`j${CC_NAMES[cc]} +${i.code.length}`, `  ${i.text}`);
      undef = undef | after(undef, i);
      continue;
    }
    parts.push(i.code);
    texts.push(i.text);
    undef = after(undef, i);
  }
  const code = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { code.set(p, o); o += p.length; }
  const regs = randomRegs(rng);
  for (const r of POOL) if (rng.chance(0.3)) regs[r] = rng.withUpper(rng.value(rng.pick([1, 2, 4, 8] as const)), 8);
  const base = rng.range(0x200, DATA_SIZE - 0x200);
  regs[R15] = BigInt(DATA + base);
  const data = new Uint8Array(DATA_SIZE);
  data.set(rng.bytes(256), base - 128);
  return {
    form: `sequence of ${n}`, text: texts.join('; '), code, regs, data, rflags: BigInt(randomFlags(rng)),
    flagsMask: COMPARED & ~undef,
    // PUSHFQ images differ in IF by design (host CPL3 IF=1, emulator IF=0)
    stackIgnore: [{ off: 0x7f9, bits: 0x02 }],
  };
}

describe('instruction sequences', () => {
  for (let k = 0; k < 6; k++) {
    const name = `random sequences #${k}`;
    it(name, () => checkCases(name, (rng) => Array.from({ length: 600 }, () => seqCase(rng))));
  }
});
