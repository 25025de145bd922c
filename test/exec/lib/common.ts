/**
 * Form factories shared by the family tables: the usual ModRM shapes (r/m,reg; reg,r/m;
 * r/m,imm; r/m alone) in their register and memory variants.
 */
import { encode, RAX, type MemOp, type RegOp } from './asm.js';
import type { Concrete, Form, Gen, ImmOp, Inputs, Slot } from './forms.js';
import type { Size } from './rng.js';

export const SIZES: readonly Size[] = [1, 2, 4, 8];
export const WIDE: readonly Size[] = [2, 4, 8];

export function bits(size: Size): number {
  return size * 8;
}

/** "r/m32" style operand names. */
export function rmName(size: Size): string {
  return `r/m${size * 8}`;
}
export function rName(size: Size): string {
  return `r${size * 8}`;
}

/** Immediate size for an operand size (imm32 sign-extended for 64-bit operands). */
export function immSizeFor(size: Size): Size {
  return size === 8 ? 4 : size;
}

export interface Common {
  readonly undef?: Form['undef'];
  readonly destUndef?: (inp: Inputs) => boolean;
  readonly destMask?: bigint;
  readonly mayFault?: boolean;
  readonly noRsp?: boolean;
  readonly same?: number;
  readonly aliasFixed?: number;
  readonly flagsIn?: Form['flagsIn'];
  readonly flagsMask?: number;
  readonly count?: number;
  readonly memCount?: number;
  /** Prefixes before the opcode (LOCK, REP, mandatory prefixes). */
  readonly prefixes?: readonly number[];
  /** Implicit register operands appended after the explicit ones. */
  readonly implicit?: readonly Slot[];
  readonly rex?: boolean;
  readonly gens?: readonly (Gen | undefined)[];
}

function finish(c: Common, f: Omit<Form, 'undef' | 'destUndef' | 'mayFault' | 'noRsp' | 'same' | 'aliasFixed' | 'flagsIn' | 'flagsMask' | 'count'>, mem: boolean): Form {
  return {
    ...f,
    slots: [...f.slots, ...(c.implicit ?? [])],
    undef: c.undef,
    destUndef: c.destUndef,
    destMask: c.destMask,
    mayFault: c.mayFault,
    noRsp: c.noRsp,
    same: c.same,
    aliasFixed: c.aliasFixed,
    flagsIn: c.flagsIn,
    flagsMask: c.flagsMask,
    rex: c.rex,
    count: mem ? c.memCount ?? Math.max(40, Math.round((c.count ?? 200) / 2)) : c.count,
  };
}

/** `op r/m, reg` (ModRM.rm is the first operand), register and memory variants. */
export function rmReg(mn: string, size: Size, opcode: readonly number[], c: Common = {}, srcSize: Size = size): Form[] {
  return [false, true].map((mem) => finish(c, {
    name: `${mn} ${rmName(size)}, ${rName(srcSize)} [${mem ? 'mem' : 'reg'}]`,
    mnemonic: mn,
    slots: [mem ? { t: 'mem', size, gen: c.gens?.[0] } : { t: 'reg', size, gen: c.gens?.[0] }, { t: 'reg', size: srcSize, gen: c.gens?.[1] }],
    bytes: (o, ctx) => encode({ at: ctx.at, prefixes: c.prefixes, opsize: size, opcode, rm: o[0] as RegOp | MemOp, reg: o[1] as RegOp }),
  }, mem));
}

/** `op reg, r/m` (ModRM.reg is the first operand); `srcSize` is the r/m operand's size. */
export function regRm(mn: string, size: Size, opcode: readonly number[], c: Common = {}, srcSize: Size = size): Form[] {
  return [false, true].map((mem) => finish(c, {
    name: `${mn} ${rName(size)}, ${rmName(srcSize)} [${mem ? 'mem' : 'reg'}]`,
    mnemonic: mn,
    slots: [{ t: 'reg', size, gen: c.gens?.[0] }, mem ? { t: 'mem', size: srcSize, gen: c.gens?.[1] } : { t: 'reg', size: srcSize, gen: c.gens?.[1] }],
    bytes: (o, ctx) => encode({ at: ctx.at, prefixes: c.prefixes, opsize: size, opcode, reg: o[0] as RegOp, rm: o[1] as RegOp | MemOp }),
  }, mem));
}

/** `op reg, r/m, imm` (three-operand IMUL). */
export function regRmImm(mn: string, size: Size, opcode: readonly number[], immSize: Size, c: Common = {}): Form[] {
  return [false, true].map((mem) => finish(c, {
    name: `${mn} ${rName(size)}, ${rmName(size)}, imm${immSize * 8} [${mem ? 'mem' : 'reg'}]`,
    mnemonic: mn,
    slots: [{ t: 'reg', size, gen: c.gens?.[0] }, mem ? { t: 'mem', size, gen: c.gens?.[1] } : { t: 'reg', size, gen: c.gens?.[1] }, { t: 'imm', size: immSize, gen: c.gens?.[2] }],
    bytes: (o, ctx) => encode({ at: ctx.at, prefixes: c.prefixes, opsize: size, opcode, reg: o[0] as RegOp, rm: o[1] as RegOp | MemOp, imm: (o[2] as ImmOp).value, immSize }),
  }, mem));
}

/** `op r/m, imm` with a ModRM.reg opcode extension. */
export function rmImm(mn: string, size: Size, opcode: readonly number[], digit: number, immSize: Size, c: Common = {}): Form[] {
  return [false, true].map((mem) => finish(c, {
    name: `${mn} ${rmName(size)}, imm${immSize * 8} [${mem ? 'mem' : 'reg'}]`,
    mnemonic: mn,
    slots: [mem ? { t: 'mem', size, gen: c.gens?.[0] } : { t: 'reg', size, gen: c.gens?.[0] }, { t: 'imm', size: immSize, gen: c.gens?.[1] }],
    bytes: (o, ctx) => encode({ at: ctx.at, prefixes: c.prefixes, opsize: size, opcode, reg: digit, rm: o[0] as RegOp | MemOp, imm: (o[1] as ImmOp).value, immSize }),
  }, mem));
}

/** `op r/m` with a ModRM.reg opcode extension (and implicit operands in `c.implicit`). */
export function rmOnly(mn: string, size: Size, opcode: readonly number[], digit: number, c: Common = {}, suffix = ''): Form[] {
  return [false, true].map((mem) => finish(c, {
    name: `${mn} ${rmName(size)}${suffix} [${mem ? 'mem' : 'reg'}]`,
    mnemonic: mn,
    slots: [mem ? { t: 'mem', size, gen: c.gens?.[0] } : { t: 'reg', size, gen: c.gens?.[0] }],
    bytes: (o, ctx) => encode({ at: ctx.at, prefixes: c.prefixes, opsize: size, opcode, reg: digit, rm: o[0] as RegOp | MemOp }),
  }, mem));
}

/** `op AL/AX/EAX/RAX, imm` short forms. */
export function accImm(mn: string, size: Size, opcode: readonly number[], c: Common = {}): Form {
  const immSize = immSizeFor(size);
  return finish(c, {
    name: `${mn} ${['', 'al', 'ax', '', 'eax', '', '', '', 'rax'][size]}, imm${immSize * 8}`,
    mnemonic: mn,
    slots: [{ t: 'reg', size, fixed: RAX, gen: c.gens?.[0] }, { t: 'imm', size: immSize, gen: c.gens?.[1] }],
    bytes: (o, ctx) => encode({ at: ctx.at, prefixes: c.prefixes, opsize: size, opcode, imm: (o[1] as ImmOp).value, immSize }),
  }, false);
}

export type { Concrete };
