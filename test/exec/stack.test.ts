/**
 * Differential tests of the stack instructions: PUSH/POP of registers (incl. PUSH RSP, POP RSP,
 * 16-bit forms, FF/8F register encodings), memory (incl. POP [RSP+d], whose address is computed
 * after the increment) and immediates (imm8, imm16, imm32), PUSHF/POPF (64- and 16-bit),
 * ENTER (levels 0, 1, 2, 5, and 33 = 1 mod 32; 64- and 16-bit) / LEAVE, and near
 * CALL/RET/JMP (rel32, register, memory; RET imm16) run as self-contained snippets.
 */
import { beforeAll, describe, it } from 'vitest';
import { ensureNativeHarness } from '../helpers/native.js';
import { CODE, DATA, DATA_SIZE, STACK, STACK_SIZE } from '../helpers/snippet.js';
import { concat, encode, opName, regName, RSP, type MemOp, type RegOp } from './lib/asm.js';
import type { TestCase } from './lib/diff.js';
import { AC, COMPARED, CF, DF, ID, IF, NT, OF, PF, SF, ZF, AF } from './lib/flags.js';
import { placeMem, randomFlags, randomRegs, writeLE } from './lib/forms.js';
import { hex, type Rng } from './lib/rng.js';
import { checkCases } from './lib/suite.js';

beforeAll(() => { ensureNativeHarness(); });

const NOT_RSP = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

interface Ctx {
  readonly rng: Rng;
  readonly regs: bigint[];
  readonly stack: Uint8Array;
  readonly data: Uint8Array;
  /** Stack offset RSP points at. */
  readonly sp: number;
}

interface Built {
  readonly form: string;
  readonly text: string;
  readonly code: Uint8Array;
  readonly flagsMask?: number;
  readonly stackIgnore?: TestCase['stackIgnore'];
  readonly rflags?: number;
}

/** A case with random registers, a random stack page and RSP inside it. */
function stackCase(rng: Rng, build: (c: Ctx) => Built, spRange: [number, number] = [0x200, 0xe00], align = 8): TestCase {
  const regs = randomRegs(rng);
  const stack = rng.bytes(STACK_SIZE);
  const data = rng.bytes(DATA_SIZE);
  let sp = rng.range(spRange[0], spRange[1]);
  sp = rng.chance(0.85) ? sp & ~(align - 1) : sp & ~1;
  regs[RSP] = BigInt(STACK + sp);
  const b = build({ rng, regs, stack, data, sp });
  return {
    form: b.form, text: b.text, code: b.code, regs, rflags: BigInt(b.rflags ?? randomFlags(rng)), stack, data,
    flagsMask: b.flagsMask ?? COMPARED, stackIgnore: b.stackIgnore,
    note: `rsp=${hex(regs[RSP]!)} rbp=${hex(regs[5]!)}`,
  };
}

const times = (n: number, f: () => TestCase): TestCase[] => Array.from({ length: n }, f);

describe('PUSH POP', () => {
  it('push/pop register', () => checkCases('push/pop register', (rng) => [
    ...times(120, () => stackCase(rng, ({ rng: r }) => {
      const n = r.int(16);
      const size = r.pick([8, 2] as const);
      const form = r.int(3);
      const op: RegOp = { kind: 'reg', n, size };
      const code = form === 2 ? encode({ opsize: size === 2 ? 2 : undefined, opcode: [0xff], reg: 6, rm: op })
        : encode({ opsize: size === 2 ? 2 : undefined, opcode: [0x50], opreg: op });
      return { form: `push r${size * 8}${form === 2 ? ' (FF /6)' : ''}`, text: `push ${regName(n, size)}`, code };
    })),
    ...times(120, () => stackCase(rng, ({ rng: r }) => {
      const n = r.int(16);
      const size = r.pick([8, 2] as const);
      const form = r.int(3);
      const op: RegOp = { kind: 'reg', n, size };
      const code = form === 2 ? encode({ opsize: size === 2 ? 2 : undefined, opcode: [0x8f], reg: 0, rm: op })
        : encode({ opsize: size === 2 ? 2 : undefined, opcode: [0x58], opreg: op });
      return { form: `pop r${size * 8}${form === 2 ? ' (8F /0)' : ''}`, text: `pop ${regName(n, size)}`, code };
    })),
  ]));

  it('push immediate', () => checkCases('push immediate', (rng) => times(120, () => stackCase(rng, ({ rng: r }) => {
    const k = r.int(4);
    const v = r.value(k === 1 || k === 3 ? 1 : k === 2 ? 2 : 4);
    const [form, code] = k === 0 ? ['push imm32', encode({ opcode: [0x68], imm: v, immSize: 4 })]
      : k === 1 ? ['push imm8', encode({ opcode: [0x6a], imm: v, immSize: 1 })]
        : k === 2 ? ['push imm16 (66 68)', encode({ opsize: 2, opcode: [0x68], imm: v, immSize: 2 })]
          : ['push imm8 (66 6A)', encode({ opsize: 2, opcode: [0x6a], imm: v, immSize: 1 })];
    return { form, text: `${form.split(' (')[0]!.replace(/imm\d+/, '')}${hex(v, 4)}`, code };
  }))));

  it('push/pop memory', () => checkCases('push/pop memory', (rng) => times(240, () => stackCase(rng, ({ rng: r, regs }) => {
    const pop = r.chance(0.5);
    const size = r.pick([8, 8, 2] as const);
    let mem: MemOp;
    let desc: string;
    if (r.chance(0.3)) {
      // [rsp+d]: PUSH uses RSP before the push, POP computes the address after the pop
      const d = r.range(-0x40, 0x40) & ~(r.chance(0.7) ? 1 : 0);
      mem = { kind: 'mem', size, base: RSP, disp: d };
      desc = 'stack';
    } else {
      const off = r.range(0x40, DATA_SIZE - 0x40);
      const placed = placeMem(r, size, DATA + off, NOT_RSP);
      for (const [reg, v] of placed.assign) regs[reg] = v;
      mem = placed.mem;
      desc = 'data';
    }
    const code = encode({ opsize: size === 2 ? 2 : undefined, opcode: [pop ? 0x8f : 0xff], reg: pop ? 0 : 6, rm: mem });
    return { form: `${pop ? 'pop' : 'push'} m${size * 8} (${desc})`, text: `${pop ? 'pop' : 'push'} ${opName(mem)}`, code };
  }))));
});

describe('PUSHF POPF', () => {
  it('pushf', () => checkCases('pushf', (rng) => times(80, () => stackCase(rng, ({ rng: r, sp }) => {
    const wide = r.chance(0.6);
    const n = wide ? 8 : 2;
    // with AC=1 a misaligned push raises #AC at the host's CPL3 but not at the emulator's CPL0
    const ac = (sp & (n - 1)) === 0 ? AC : 0;
    // IF differs by design (host CPL3 IF=1, emulator IF=0): not compared in the pushed image
    return {
      form: wide ? 'pushfq' : 'pushf (16-bit)', text: wide ? 'pushfq' : 'pushfw', code: new Uint8Array(wide ? [0x9c] : [0x66, 0x9c]),
      stackIgnore: [{ off: sp - n + 1, bits: IF >> 8 }],
      rflags: (r.u32() & (CF | PF | AF | ZF | SF | OF | DF | NT | ac | ID)) | 2,
    };
  }))));

  it('popf', () => checkCases('popf', (rng) => times(150, () => stackCase(rng, ({ rng: r, stack, sp }) => {
    const wide = r.chance(0.6);
    // flags POPF may change at CPL3 and CPL0 alike, plus reserved bits (must be ignored);
    // never TF/IF/IOPL/RF
    const settable = CF | PF | AF | ZF | SF | OF | DF | NT | AC | ID;
    const reserved = 0x8 | 0x20 | 0x8000 | 0x180000 /* VIF VIP */ | 0x20000 /* VM */ | (0xffc00000 | 0);
    let v = BigInt((r.u32() & settable) | (r.chance(0.3) ? r.u32() & reserved : 0)) & 0xffffffffn;
    if (wide && r.chance(0.3)) v |= r.u64() & 0xffffffff00000000n;
    writeLE(stack, sp, v, wide ? 8 : 2);
    return {
      form: wide ? 'popfq' : 'popf (16-bit)', text: `${wide ? 'popfq' : 'popfw'} (popping ${hex(v, wide ? 8 : 2)})`,
      code: new Uint8Array(wide ? [0x9d] : [0x66, 0x9d]),
      flagsMask: COMPARED | 0x1a0000 | (0xffc00000 | 0),
    };
  }))));
});

describe('ENTER LEAVE', () => {
  it('enter', () => checkCases('enter', (rng) => times(300, () => stackCase(rng, ({ rng: r, regs }) => {
    const level = r.pick([0, 1, 2, 5, 33]);
    // ENTER may check that a write at the final RSP would not fault (SDM), so the whole frame
    // stays inside the stack page: the emulator maps the pages below it, the host does not.
    const alloc = r.pick([0, 8, 0x10, r.int(0x100), r.int(0x200)]);
    const wide = r.chance(0.75);
    // RBP points into the stack page above RSP; the nested levels copy frame pointers from below it
    regs[5] = BigInt(STACK + (r.range(0xa00, 0xf00) & ~(r.chance(0.8) ? 7 : 1)));
    return {
      form: `enter imm16, ${level}${wide ? '' : ' (16-bit)'}`, text: `enter${wide ? '' : 'w'} ${hex(BigInt(alloc), 2)}, ${level}`,
      code: new Uint8Array([...(wide ? [] : [0x66]), 0xc8, alloc & 0xff, alloc >> 8, level]),
    };
  }, [0x300, 0x900]))));

  it('leave', () => checkCases('leave', (rng) => times(120, () => stackCase(rng, ({ rng: r, regs }) => {
    const wide = r.chance(0.7);
    regs[5] = BigInt(STACK + (r.range(0x100, 0xf00) & ~(r.chance(0.8) ? 7 : 1)));
    return { form: `leave${wide ? '' : ' (16-bit)'}`, text: wide ? 'leave' : 'leavew', code: new Uint8Array(wide ? [0xc9] : [0x66, 0xc9]) };
  }))));
});

/** `mov rbx, [rsp]` — records the return address a CALL pushed. */
const MOV_RBX_TOS = [0x48, 0x8b, 0x1c, 0x24];

describe('CALL RET JMP', () => {
  it('call rel32 / ret / ret imm16', () => checkCases('call rel32', (rng) => times(100, () => stackCase(rng, ({ rng: r }) => {
    const n = r.chance(0.5) ? -1 : r.pick([0, 8, 16, 2, r.int(0x200)]);
    const ret = n < 0 ? [0xc3] : [0xc2, n & 0xff, n >> 8];
    const body = [...MOV_RBX_TOS, ...ret];
    // call F; jmp END; F: mov rbx,[rsp]; ret [n]; END:
    const code = concat([0xe8, 2, 0, 0, 0], [0xeb, body.length], body);
    return { form: `call rel32; ret${n < 0 ? '' : ' imm16'}`, text: `call F; jmp END; F: mov rbx,[rsp]; ret ${n < 0 ? '' : n}`, code };
  }))));

  it('call/jmp register and memory', () => checkCases('call indirect', (rng) => times(200, () => stackCase(rng, ({ rng: r, regs, data }) => {
    const isJmp = r.chance(0.3);
    const mem = r.chance(0.5);
    let rm: RegOp | MemOp;
    if (mem) {
      const off = r.range(0x40, DATA_SIZE - 0x40);
      const placed = placeMem(r, 8, DATA + off, NOT_RSP);
      for (const [reg, v] of placed.assign) regs[reg] = v;
      rm = placed.mem;
      // the target address is written below, once the instruction length is known
      const insn = encode({ opcode: [0xff], reg: isJmp ? 4 : 2, rm });
      const target = CODE + insn.length + 2;
      writeLE(data, off, BigInt(target), 8);
    } else {
      rm = { kind: 'reg', n: r.pick(NOT_RSP), size: 8 };
    }
    const insn = encode({ opcode: [0xff], reg: isJmp ? 4 : 2, rm });
    const target = CODE + insn.length + 2;
    if (!mem) regs[(rm as RegOp).n] = BigInt(target);
    // call/jmp F; jmp END; F: mov rbx,[rsp]; ret (for call) ; END:
    const body = isJmp ? [...MOV_RBX_TOS] : [...MOV_RBX_TOS, 0xc3];
    const code = concat(insn, [0xeb, body.length], body);
    return { form: `${isJmp ? 'jmp' : 'call'} ${mem ? 'm64' : 'r64'}`, text: `${isJmp ? 'jmp' : 'call'} ${opName(rm)} (-> F)`, code };
  }))));

  it('ret / ret imm16 to an address on the stack', () => checkCases('ret', (rng) => times(100, () => stackCase(rng, ({ rng: r, stack, sp }) => {
    const n = r.chance(0.5) ? -1 : r.pick([0, 8, 24, 3, r.int(0x100)]);
    const ret = n < 0 ? [0xc3] : [0xc2, n & 0xff, n >> 8];
    // ret; lea rcx,[rcx+1]; L:   with [rsp] = L
    const code = concat(ret, [0x48, 0x8d, 0x49, 0x01]);
    writeLE(stack, sp, BigInt(CODE + code.length), 8);
    return { form: `ret${n < 0 ? '' : ' imm16'}`, text: `ret ${n < 0 ? '' : n}; lea rcx,[rcx+1]; L:  ([rsp] = L)`, code };
  }))));

  it('jmp rel8 / rel32', () => checkCases('jmp rel', (rng) => times(40, () => stackCase(rng, ({ rng: r }) => {
    const short = r.chance(0.5);
    const code = short ? new Uint8Array([0xeb, 4, 0x48, 0x8d, 0x49, 0x01]) : new Uint8Array([0xe9, 4, 0, 0, 0, 0x48, 0x8d, 0x49, 0x01]);
    return { form: short ? 'jmp rel8' : 'jmp rel32', text: `jmp L; lea rcx,[rcx+1]; L:`, code };
  }))));
});
