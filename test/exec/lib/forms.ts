/**
 * Declarative instruction forms and the case generator behind most differential tests.
 *
 * A Form lists its operand slots (register, memory, immediate; explicit or implicit such as
 * CL or RDX:RAX), how to encode the instruction from concrete operands, and which flags (or
 * results) the SDM leaves undefined for given inputs. buildCases() turns a form into test cases:
 * it picks registers (all 16, the no-REX byte registers AH CH DH BH and the REX ones SPL BPL
 * SIL DIL), memory addressing forms that land in DATA (base, base+disp8/32, SIB with every
 * scale, no-base SIB, absolute disp32, RIP-relative, 32-bit addressing through 0x67 with
 * garbage in the upper register halves), operand values (seeded edge and random values), the
 * other registers (random, to catch clobbering and wrong zero/sign extension) and RFLAGS.
 */
import { CODE, DATA, DATA_SIZE, STACK, STACK_SIZE } from '../../helpers/snippet.js';
import { concat, encode, type MemOp, type Operand, type RegOp, RSP, hreg, opName, reg } from './asm.js';
import type { TestCase } from './diff.js';
import { COMPARED, DF, STATUS } from './flags.js';
import { MASK, Rng, type Size, hex } from './rng.js';

/** Generates an operand value of `size` bytes; `prev` holds the values of the earlier slots. */
export type Gen = (rng: Rng, size: Size, prev: readonly bigint[]) => bigint;

export interface RegSlot {
  readonly t: 'reg';
  readonly size: Size;
  readonly gen?: Gen;
  /** An implicit or fixed register (e.g. RCX for CL counts, RAX for the accumulator). */
  readonly fixed?: number;
  /** Not written in the instruction text (implicit operand). */
  readonly hidden?: boolean;
  /** Never RSP (e.g. a register that must hold an address). */
  readonly noRsp?: boolean;
}

export interface MemSlot {
  readonly t: 'mem';
  readonly size: Size;
  readonly gen?: Gen;
  /** Required alignment of the effective address (default: any). */
  readonly align?: number;
  /** Size printed in the operand (default: size). */
  readonly ptr?: Size | 0;
  /** Range of the operand's offset in DATA (default: anywhere, 0x40 from the ends). */
  readonly at?: readonly [number, number];
  /** Fill all of DATA with random bytes (default: 16 bytes either side of the operand). */
  readonly fillAll?: boolean;
}

export interface ImmSlot {
  readonly t: 'imm';
  /** Encoded immediate size. */
  readonly size: Size;
  readonly gen?: Gen;
}

export type Slot = RegSlot | MemSlot | ImmSlot;

export interface ImmOp {
  readonly kind: 'imm';
  readonly value: bigint;
  readonly size: Size;
}

export type Concrete = RegOp | MemOp | ImmOp;

/** What the undefined-behaviour callbacks see: the actual input value of every slot. */
export interface Inputs {
  readonly vals: readonly bigint[];
  readonly flags: number;
}

export interface Form {
  /** Form name, e.g. "add r/m32, imm8". */
  readonly name: string;
  readonly mnemonic: string;
  readonly slots: readonly Slot[];
  /**
   * Encodes the instruction at address `ctx.at` (pass it on to encode() for RIP-relative
   * operands); `ctx.memAddr` is the memory operand's effective address, if any.
   */
  readonly bytes: (ops: readonly Concrete[], ctx: { readonly memAddr: number; readonly at: number }) => Uint8Array;
  /** Flags the SDM leaves undefined (see flags.ts). */
  readonly undef?: number | ((inp: Inputs) => number);
  /** Whether the destination (slot 0) is architecturally undefined for these inputs. */
  readonly destUndef?: (inp: Inputs) => boolean;
  /** Bits of slot-0 register not compared even when defined (e.g. BSWAP r16). */
  readonly destMask?: bigint;
  /** The instruction can raise an exception (DIV, CMPXCHG16B on a misaligned operand). */
  readonly mayFault?: boolean;
  /** RSP is never an operand or address register. */
  readonly noRsp?: boolean;
  /** Probability that a register operand reuses an implicit (fixed) register. */
  readonly aliasFixed?: number;
  /** Probability that two explicit register operands are the same register. */
  readonly same?: number;
  /** Input RFLAGS generator (default: random status flags, DF sometimes). */
  readonly flagsIn?: (rng: Rng) => number;
  /** Extra bits of RFLAGS compared or not (default COMPARED & ~undef). */
  readonly flagsMask?: number;
  /** The encoding always has REX.W (or otherwise REX), so AH..BH cannot appear. */
  readonly rex?: boolean;
  /** Number of cases (default 200). */
  readonly count?: number;
}

export function imm(value: bigint, size: Size): ImmOp {
  return { kind: 'imm', value, size };
}

/** Default input flags: random status flags, DF in a quarter of the cases. */
export function randomFlags(rng: Rng): number {
  return (rng.u32() & STATUS) | (rng.chance(0.25) ? DF : 0) | 2;
}

/** Random registers; RSP in the middle of the stack page. */
export function randomRegs(rng: Rng): bigint[] {
  const regs: bigint[] = [];
  for (let r = 0; r < 16; r++) regs.push(rng.chance(0.2) ? BigInt(rng.u32()) : rng.u64());
  regs[RSP] = BigInt(STACK + 0x800);
  return regs;
}

export interface Placed {
  readonly mem: MemOp;
  /** Register values the addressing needs. */
  readonly assign: readonly (readonly [number, bigint])[];
}

/**
 * An addressing form whose effective address is `target`, using registers from `pool`.
 * `free` (for LEA): the effective address may be anything, so registers get random values.
 */
export function placeMem(rng: Rng, size: Size | 0, target: number, pool: readonly number[], opts: { free?: boolean; rip?: boolean; asize?: 4 | 8 } = {}): Placed {
  const asize: 4 | 8 = opts.asize ?? (rng.chance(0.2) ? 4 : 8);
  let kinds = ['base', 'base8', 'base32', 'sib', 'sib', 'index', 'abs', ...(opts.rip !== false ? ['rip'] : [])];
  const noRspPool = pool.filter((r) => r !== RSP);
  if (pool.length < 2 || noRspPool.length === 0) kinds = kinds.filter((k) => k !== 'sib');
  if (noRspPool.length === 0) kinds = kinds.filter((k) => k !== 'index');
  if (pool.length === 0) kinds = ['abs', ...(opts.rip !== false ? ['rip'] : [])];
  const kind = rng.pick(kinds);
  const w = asize === 4 ? 32 : 64;
  const wrap = (v: bigint): bigint => BigInt.asUintN(w, v);
  const regVal = (v: bigint): bigint => (asize === 4 ? (rng.u64() & ~MASK[4]) | wrap(v) : wrap(v));
  const t = BigInt(target);
  const pickReg = (avoid: number[] = []): number => {
    const p = pool.filter((r) => !avoid.includes(r));
    return rng.pick(p);
  };
  const disp8 = (): number => rng.range(-128, 127);
  const disp32 = (): number => (rng.chance(0.5) ? rng.range(-0x10000, 0x10000) : (rng.u32() | 0));
  switch (kind) {
    case 'abs':
      return { mem: { kind: 'mem', size, disp: target, asize }, assign: [] };
    case 'rip':
      if (opts.free) return { mem: { kind: 'mem', size, base: 'rip', disp: rng.u32() | 0, asize }, assign: [] };
      return { mem: { kind: 'mem', size, base: 'rip', ripTarget: target, asize }, assign: [] };
    case 'base': case 'base8': case 'base32': {
      const b = pickReg();
      const disp = kind === 'base' ? 0 : kind === 'base8' ? disp8() : disp32();
      const dispSize = kind === 'base' ? undefined : kind === 'base8' ? 1 : 4;
      const val = opts.free ? rng.u64() : regVal(t - BigInt(disp));
      return { mem: { kind: 'mem', size, base: b, disp, dispSize, asize }, assign: [[b, val]] };
    }
    case 'sib': {
      const i = pickReg([RSP]);
      const b = pickReg([i]);
      const scale = rng.pick([1, 2, 4, 8] as const);
      const disp = rng.pick([0, disp8(), disp32()]);
      const idx = opts.free ? rng.u64() : BigInt(rng.range(-300, 300));
      const val = opts.free ? rng.u64() : regVal(t - BigInt(disp) - idx * BigInt(scale));
      return { mem: { kind: 'mem', size, base: b, index: i, scale, disp, asize }, assign: [[b, val], [i, regVal(idx)]] };
    }
    default: { // index only: [index*scale + disp32]
      const i = pickReg([RSP]);
      const scale = rng.pick([1, 2, 4, 8] as const);
      if (opts.free) return { mem: { kind: 'mem', size, index: i, scale, disp: rng.u32() | 0, asize }, assign: [[i, rng.u64()]] };
      // choose the index so that the displacement lands near DATA
      const idx = BigInt(rng.range(0, 0x1000));
      const disp = Number(BigInt.asIntN(32, t - idx * BigInt(scale)));
      return { mem: { kind: 'mem', size, index: i, scale, disp, asize }, assign: [[i, regVal(idx)]] };
    }
  }
}

export function writeLE(buf: Uint8Array, off: number, v: bigint, size: number): void {
  for (let k = 0; k < size; k++) {
    buf[off + k] = Number(v & 0xffn);
    v >>= 8n;
  }
}

export function readLE(buf: Uint8Array, off: number, size: number): bigint {
  let v = 0n;
  for (let k = size - 1; k >= 0; k--) v = (v << 8n) | BigInt(buf[off + k]!);
  return v;
}

export function readReg(regs: readonly bigint[], r: RegOp): bigint {
  const v = regs[r.n]!;
  return r.high ? (v >> 8n) & 0xffn : v & MASK[r.size];
}

export function writeReg(regs: bigint[], r: RegOp, v: bigint): void {
  if (r.high) regs[r.n] = (regs[r.n]! & ~0xff00n) | ((v & 0xffn) << 8n);
  else regs[r.n] = (regs[r.n]! & ~MASK[r.size]) | (v & MASK[r.size]);
}

export function text(mnemonic: string, ops: readonly Concrete[], slots: readonly Slot[]): string {
  const shown = ops.filter((_, i) => !(slots[i]!.t === 'reg' && (slots[i] as RegSlot).hidden));
  const parts = shown.map((o) => (o.kind === 'imm' ? hex(o.value, o.size) : opName(o as Operand)));
  return parts.length ? `${mnemonic} ${parts.join(', ')}` : mnemonic;
}

/** Builds `count` cases of a form. */
export function buildCases(form: Form, rng: Rng, count = form.count ?? 200): TestCase[] {
  const out: TestCase[] = [];
  for (let k = 0; k < count; k++) out.push(buildCase(form, rng));
  return out;
}

function buildCase(form: Form, rng: Rng): TestCase {
  const slots = form.slots;
  const hasByte = slots.some((s) => s.t === 'reg' && s.size === 1 && s.fixed === undefined);
  const legacy = hasByte && !form.rex && rng.chance(0.45);
  const fixedRegs = slots.filter((s): s is RegSlot => s.t === 'reg' && s.fixed !== undefined).map((s) => s.fixed!);
  const noRsp = form.noRsp === true || form.mayFault === true;
  const all = legacy ? [0, 1, 2, 3, 4, 5, 6, 7] : [...Array(16).keys()];
  // underlying registers in use
  const used = new Set<number>(fixedRegs);
  const ops: Concrete[] = [];
  const regs = randomRegs(rng);
  const data = new Uint8Array(DATA_SIZE);
  let memOff = -1;
  let memSize = 0;
  const explicit: RegOp[] = [];

  for (const s of slots) {
    if (s.t === 'reg') {
      if (s.fixed !== undefined) {
        ops.push(reg(s.fixed, s.size));
        continue;
      }
      let r: RegOp | undefined;
      if (form.aliasFixed && fixedRegs.length && rng.chance(form.aliasFixed)) {
        const f = rng.pick(fixedRegs);
        r = s.size === 1 && legacy && f < 4 && rng.chance(0.5) ? hreg(f) : reg(f, s.size);
      } else if (form.same && explicit.length && rng.chance(form.same)) {
        const o = rng.pick(explicit);
        r = o.high ? (s.size === 1 ? o : reg(o.n, s.size)) : reg(o.n, s.size);
      } else {
        // byte registers in legacy mode: 4..7 are AH CH DH BH
        const cand: RegOp[] = [];
        for (const n of all) {
          if (s.size === 1 && legacy && n >= 4) {
            if (!fixedRegs.includes(n - 4) && !explicit.some((e) => e.high && e.n === n - 4)) cand.push(hreg(n - 4));
            continue;
          }
          if (used.has(n) || (n === RSP && (noRsp || s.noRsp))) continue;
          cand.push(reg(n, s.size));
        }
        r = rng.pick(cand);
      }
      used.add(r.n);
      explicit.push(r);
      ops.push(r);
    } else if (s.t === 'mem') {
      ops.push(undefined as unknown as Concrete); // placed after the registers
    } else {
      ops.push(imm(0n, s.size));
    }
  }
  // memory operands (at most one per form)
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]!;
    if (s.t !== 'mem') continue;
    const align = s.align ?? 1;
    memSize = s.size;
    const [lo, hi] = s.at ?? [0x40, DATA_SIZE - 0x40 - s.size];
    memOff = Math.floor(rng.range(lo, hi) / align) * align;
    if (align === 1 && rng.chance(0.3)) memOff = (memOff & ~7) + rng.pick([0, 0, 1, 3, 4, 6, 7]); // aligned and straddling
    // across the boundary between the two DATA pages
    if (align === 1 && s.size > 1 && s.at === undefined && rng.chance(0.06)) memOff = 0x1000 - rng.range(1, s.size - 1);
    const pool = all.filter((n) => !used.has(n) && (n !== RSP || !noRsp));
    const placed = placeMem(rng, s.ptr ?? s.size, DATA + memOff, pool);
    for (const [r, v] of placed.assign) {
      regs[r] = v;
      used.add(r);
    }
    ops[i] = placed.mem;
    // random bytes around the operand
    if (s.fillAll) data.set(rng.bytes(DATA_SIZE));
    else data.set(rng.bytes(s.size + 32), memOff - 16);
  }
  // values, in slot order
  const vals: bigint[] = [];
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]!;
    const g = s.gen ?? ((r: Rng, sz: Size) => r.value(sz));
    const v = g(rng, s.size, vals) & MASK[s.size];
    vals.push(v);
    const o = ops[i]!;
    if (o.kind === 'reg') writeReg(regs, o, v);
    else if (o.kind === 'mem') writeLE(data, memOff, v, s.size);
    else ops[i] = imm(v, s.size);
  }
  // the values that are really there (registers may alias)
  const actual = ops.map((o, i) => (o.kind === 'reg' ? readReg(regs, o) : o.kind === 'mem' ? readLE(data, memOff, slots[i]!.size) : o.value));
  const flags = (form.flagsIn ?? randomFlags)(rng);
  const inp: Inputs = { vals: actual, flags };
  const undef = typeof form.undef === 'function' ? form.undef(inp) : form.undef ?? 0;
  // Memory forms sometimes start with a 64-bit load from the stack into an unused register, so
  // the instruction under test does not always run on freshly reset internal state (a stale
  // upper half of a previous 64-bit access, say).
  let prefix: Uint8Array = new Uint8Array(0);
  let prefixText = '';
  let stack: Uint8Array | undefined;
  if (memOff >= 0 && regs[RSP] === BigInt(STACK + 0x800) && rng.chance(0.5)) {
    const free = [...Array(16).keys()].filter((n) => n !== RSP && !used.has(n));
    if (free.length > 0) {
      const p = rng.pick(free);
      const m: MemOp = { kind: 'mem', size: 8, base: RSP, disp: -8 * rng.range(1, 16) };
      prefix = encode({ opsize: 8, opcode: [0x8b], reg: reg(p, 8), rm: m });
      prefixText = `mov ${opName(reg(p, 8))}, ${opName(m)}; `;
      stack = new Uint8Array(STACK_SIZE);
      stack.set(rng.bytes(0x100), 0x700);
    }
  }
  const code = concat(prefix, form.bytes(ops, { memAddr: DATA + memOff, at: CODE + prefix.length }));
  const regMask: (bigint | undefined)[] = [];
  let dataIgnore: [number, number][] | undefined;
  const dest = ops[0];
  const destUndef = form.destUndef?.(inp) === true;
  if (dest && dest.kind === 'reg' && (destUndef || form.destMask !== undefined)) {
    let m = ~0n;
    if (destUndef) m = dest.high ? ~0xff00n : dest.size >= 4 ? 0n : ~MASK[dest.size];
    if (form.destMask !== undefined) m &= ~form.destMask;
    regMask[dest.n] = BigInt.asUintN(64, m);
  } else if (dest && dest.kind === 'mem' && destUndef) {
    dataIgnore = [[memOff, memSize]];
  }
  const memNote = memOff >= 0 ? `memory operand at ${hex(BigInt(DATA + memOff), 4)} = ${hex(readLE(data, memOff, memSize), memSize as Size)}` : undefined;
  return {
    form: form.name,
    text: prefixText + text(form.mnemonic, ops, slots),
    code,
    regs,
    rflags: BigInt(flags),
    data: memOff >= 0 ? data : undefined,
    stack,
    flagsMask: (form.flagsMask ?? COMPARED) & ~undef,
    regMask,
    dataIgnore,
    mayFault: form.mayFault,
    note: memNote,
  };
}
