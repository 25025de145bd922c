/**
 * A small x86-64 instruction encoder for the differential tests: legacy prefixes, REX, ModRM,
 * SIB, displacements and immediates, enough to build any integer instruction form by hand with
 * full control over prefixes and addressing. Operands also print as Intel-syntax text for
 * failure messages.
 */
import type { Size } from './rng.js';
import { hex } from './rng.js';

export const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7;
export const R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15;

const NAMES64 = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
const NAMES32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'r8d', 'r9d', 'r10d', 'r11d', 'r12d', 'r13d', 'r14d', 'r15d'];
const NAMES16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di', 'r8w', 'r9w', 'r10w', 'r11w', 'r12w', 'r13w', 'r14w', 'r15w'];
const NAMES8 = ['al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil', 'r8b', 'r9b', 'r10b', 'r11b', 'r12b', 'r13b', 'r14b', 'r15b'];
const NAMES8H = ['ah', 'ch', 'dh', 'bh'];

export function regName(n: number, size: Size | 0): string {
  switch (size) {
    case 1: return NAMES8[n]!;
    case 2: return NAMES16[n]!;
    case 4: return NAMES32[n]!;
    default: return NAMES64[n]!;
  }
}

/** A general register operand. `high` selects AH CH DH BH (n = 0..3, byte size, no REX). */
export interface RegOp {
  readonly kind: 'reg';
  readonly n: number;
  readonly size: Size;
  readonly high?: boolean;
}

/** A memory operand. base 'rip' is RIP-relative; `ripTarget` (absolute) computes the disp32. */
export interface MemOp {
  readonly kind: 'mem';
  readonly size: Size | 0;
  readonly base?: number | 'rip';
  readonly index?: number;
  readonly scale?: 1 | 2 | 4 | 8;
  readonly disp?: number;
  /** Force the displacement width (0 only when allowed). */
  readonly dispSize?: 0 | 1 | 4;
  /** 4: 0x67 prefix (32-bit addressing). */
  readonly asize?: 4 | 8;
  readonly ripTarget?: number;
}

export type Operand = RegOp | MemOp;

export function reg(n: number, size: Size): RegOp {
  return { kind: 'reg', n, size };
}
export function hreg(n: number): RegOp {
  return { kind: 'reg', n, size: 1, high: true };
}

/** The RegOp's number as encoded in ModRM/opcode (AH..BH are 4..7). */
function regCode(r: RegOp): number {
  return r.high ? r.n + 4 : r.n;
}

export function opName(o: Operand): string {
  if (o.kind === 'reg') return o.high ? NAMES8H[o.n]! : regName(o.n, o.size);
  const ptr = ({ 0: '', 1: 'byte ptr ', 2: 'word ptr ', 4: 'dword ptr ', 8: 'qword ptr ' } as const)[o.size];
  const parts: string[] = [];
  const an = o.asize === 4 ? NAMES32 : NAMES64;
  if (o.base === 'rip') parts.push(o.asize === 4 ? 'eip' : 'rip');
  else if (o.base !== undefined) parts.push(an[o.base]!);
  if (o.index !== undefined) parts.push(`${an[o.index]!}*${o.scale ?? 1}`);
  let s = parts.join('+');
  if (o.base === 'rip' && o.ripTarget !== undefined) s += ` -> ${hex(BigInt(o.ripTarget), 4)}`;
  else {
    const d = o.disp ?? 0;
    if (d !== 0 || parts.length === 0) s += parts.length === 0 ? hex(BigInt(d >>> 0), 4) : d < 0 ? `-${hex(BigInt(-d), 4)}` : `+${hex(BigInt(d), 4)}`;
  }
  return `${ptr}[${s}]`;
}

export interface Enc {
  /** Legacy prefixes emitted first, in order (LOCK, REP, mandatory F3/F2 ...). */
  readonly prefixes?: readonly number[];
  /** 2 emits 0x66, 8 emits REX.W; 1 and 4 nothing. */
  readonly opsize?: Size;
  /** Emit 0x66 after the other prefixes even when opsize is not 2 (e.g. 66 F3 combinations). */
  readonly opcode: readonly number[];
  /** ModRM.reg: an opcode extension digit or a register. */
  readonly reg?: number | RegOp;
  /** ModRM.rm operand. */
  readonly rm?: Operand;
  /** Register added to the last opcode byte (50+r, B8+r, 0F C8+r). */
  readonly opreg?: RegOp;
  readonly imm?: bigint | number;
  readonly immSize?: 0 | 1 | 2 | 4 | 8;
  /** Emit a REX prefix even if no bit needs it (0x40). */
  readonly rex?: boolean;
  /** Address of the instruction (for RIP-relative targets). */
  readonly at?: number;
}

function needsRex(r: RegOp): boolean {
  return r.n >= 8 || (r.size === 1 && !r.high && r.n >= 4);
}

export function encode(e: Enc): Uint8Array {
  const out: number[] = [...(e.prefixes ?? [])];
  if (e.opsize === 2) out.push(0x66);
  const mem = e.rm?.kind === 'mem' ? e.rm : undefined;
  if (mem?.asize === 4) out.push(0x67);
  let rex = e.opsize === 8 ? 0x48 : 0;
  let forceRex = e.rex === true;
  let highUsed = false;
  const regs: RegOp[] = [];
  if (typeof e.reg === 'object') regs.push(e.reg);
  if (e.rm?.kind === 'reg') regs.push(e.rm);
  if (e.opreg) regs.push(e.opreg);
  for (const r of regs) {
    if (r.high) highUsed = true;
    if (needsRex(r)) forceRex = true;
  }
  if (typeof e.reg === 'object' && e.reg.n >= 8) rex |= 0x44;
  if (e.rm?.kind === 'reg' && e.rm.n >= 8) rex |= 0x41;
  if (e.opreg && e.opreg.n >= 8) rex |= 0x41;
  if (mem) {
    if (typeof mem.base === 'number' && mem.base >= 8) rex |= 0x41;
    if (mem.index !== undefined && mem.index >= 8) rex |= 0x42;
  }
  if (forceRex) rex |= 0x40;
  if (rex !== 0) {
    if (highUsed) throw new Error('AH/CH/DH/BH cannot be encoded with a REX prefix');
    out.push(rex);
  }
  const opc = [...e.opcode];
  if (e.opreg) opc[opc.length - 1]! += regCode(e.opreg) & 7;
  out.push(...opc);
  let ripFix = -1;
  if (e.rm !== undefined) {
    const regField = typeof e.reg === 'object' ? regCode(e.reg) & 7 : (e.reg ?? 0) & 7;
    if (e.rm.kind === 'reg') {
      out.push(0xc0 | (regField << 3) | (regCode(e.rm) & 7));
    } else {
      ripFix = encodeMem(out, regField, e.rm);
    }
  }
  const immSize = e.immSize ?? 0;
  if (immSize > 0) {
    let v = BigInt.asUintN(64, BigInt(e.imm ?? 0));
    for (let k = 0; k < immSize; k++) {
      out.push(Number(v & 0xffn));
      v >>= 8n;
    }
  }
  if (ripFix >= 0 && mem?.ripTarget !== undefined) {
    const end = (e.at ?? 0x200000) + out.length;
    const disp = mem.ripTarget - end;
    for (let k = 0; k < 4; k++) out[ripFix + k] = (disp >> (8 * k)) & 0xff;
  }
  return new Uint8Array(out);
}

/** Appends ModRM (+SIB, +disp); returns the offset of a RIP-relative disp32, else -1. */
function encodeMem(out: number[], regField: number, m: MemOp): number {
  const disp = m.disp ?? 0;
  const push32 = (d: number): void => {
    for (let k = 0; k < 4; k++) out.push((d >> (8 * k)) & 0xff);
  };
  if (m.base === 'rip') {
    if (m.index !== undefined) throw new Error('RIP-relative addressing has no index');
    out.push((regField << 3) | 5);
    const at = out.length;
    push32(disp);
    return at;
  }
  if (m.index === 4) throw new Error('RSP cannot be an index');
  const scaleBits = { 1: 0, 2: 1, 4: 2, 8: 3 }[m.scale ?? 1];
  if (m.base === undefined) {
    // SIB with no base: mod 00, base 101, disp32.
    out.push((regField << 3) | 4);
    out.push((scaleBits << 6) | (((m.index ?? 4) & 7) << 3) | 5);
    push32(disp);
    return -1;
  }
  const b = m.base & 7;
  let mod: number;
  if (m.dispSize !== undefined) {
    mod = m.dispSize === 0 ? 0 : m.dispSize === 1 ? 1 : 2;
    if (mod === 0 && b === 5) throw new Error('RBP/R13 base needs a displacement');
  } else if (disp === 0 && b !== 5) mod = 0;
  else if (disp >= -128 && disp <= 127) mod = 1;
  else mod = 2;
  const sib = m.index !== undefined || b === 4;
  out.push((mod << 6) | (regField << 3) | (sib ? 4 : b));
  if (sib) out.push((scaleBits << 6) | (((m.index ?? 4) & 7) << 3) | b);
  if (mod === 1) out.push(disp & 0xff);
  else if (mod === 2) push32(disp);
  return -1;
}

export function bytesHex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

export function concat(...parts: (Uint8Array | readonly number[])[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
