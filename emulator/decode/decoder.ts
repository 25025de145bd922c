import type { CpuModel } from '../cpu/cpu-model.js';
import { type Exec, type Form, HANDLERS, handlerId, registerHandler } from '../exec/registry.js';
import { Seg } from '../arch/registers.js';
import { Vector } from '../arch/vectors.js';
import { Base, DecodedStore, Prefix } from './store.js';
import { type Entry, type OpRow, RowFlag, ROWS, op, outcome } from './table.js';
import { OpKind, type OperandSpec, SizeCode, Slot, needsModrm, parseOperands, slotPattern } from './operand-spec.js';
import { ONE_BYTE, XCHG_RAX_ROW } from './one-byte.js';
import { THREE_BYTE_38, THREE_BYTE_3A, TWO_BYTE } from './two-byte.js';

/**
 * The x86 decoder: prefixes, REX, the opcode maps, ModRM/SIB/displacement, immediates
 * (SDM Vol. 2 chapter 2). It writes one record of the DecodedStore and picks the handler for the
 * instruction's form. Decoding never raises an exception itself: an invalid encoding decodes to a
 * record whose handler raises #UD (or #GP for an over-long instruction) when, and only if, it runs.
 */

export interface DecodeContext {
  /** Default operand/address size of the code segment: 16, 32 or 64. */
  readonly bits: number;
  readonly model: CpuModel;
}

/** Per-row data derived from the table text once. */
interface RowInfo {
  specs: OperandSpec[];
  pattern: string;
  modrm: boolean;
  /** Index in specs of the first immediate or relative operand, or -1 (a later IMM is the second immediate). */
  firstImm: number;
  /** Handler ids by (size index, address-size index, mem), filled on first use. */
  ids: Int32Array;
}

const rowInfo: RowInfo[] = [];
function infoOf(row: OpRow): RowInfo {
  let info = rowInfo[row.id];
  if (info === undefined) {
    const specs = parseOperands(row.operands);
    info = {
      specs,
      pattern: slotPattern(row.operands, specs),
      modrm: needsModrm(specs) || (row.flags & RowFlag.MODRM) !== 0,
      firstImm: firstImm(specs),
      ids: new Int32Array(4 * 3 * 2).fill(-1),
    };
    rowInfo[row.id] = info;
  }
  return info;
}

/** Rows for the decode outcomes that are not table entries. */
export const UNDEFINED_ROW = outcome('(undefined opcode)');
export const TOO_LONG_ROW = outcome('(instruction longer than 15 bytes)');
export const VEX_ROW = outcome('(VEX-encoded instruction)', RowFlag.MODRM);
export const EVEX_ROW = outcome('(EVEX-encoded instruction)', RowFlag.MODRM);

const UD_HANDLER = registerHandler('decode:#UD', (cpu) => { cpu.raiseUd(); });
const TOO_LONG_HANDLER = registerHandler('decode:too-long', (cpu) => { cpu.raiseGp(0); });

/**
 * The handler of a valid instruction mmulab does not implement: stop the run and name it, after
 * the row's own fault checks (an MMX instruction with CR0.EM set is #UD, not a report).
 */
function unimplementedHandler(row: OpRow): number {
  const what = `instruction "${row.mnemonic}${row.operands ? ' ' + row.operands : ''}" is not implemented`;
  const guard = row.guard;
  return registerHandler(`unimplemented:${row.id}`, guard === undefined
    ? (cpu) => { cpu.unsupported(what); }
    : (cpu) => { if (guard(cpu)) cpu.unsupported(what); });
}

export { HANDLERS };

/** Index of an operand size (1, 2, 4, 8) and of an address size (2, 4, 8) in RowInfo.ids. */
const SIZE_INDEX = Int8Array.of(-1, 0, 1, -1, 2, -1, -1, -1, 3);
const ASIZE_INDEX = Int8Array.of(-1, -1, 0, -1, 1, -1, -1, -1, 2);

/** Scratch state of the instruction being decoded. */
let rex = 0;
let opsizeOverride = false;
let asizeOverride = false;
let repPrefix = 0; // 0, 0xf2 or 0xf3: the last of them
let lock = false;
let segOverride = -1;

/**
 * Decodes the instruction at bytes[0..avail) into record `n`. Returns its length, or -1 when it
 * would need bytes beyond `avail` (the caller supplies more, e.g. from the next page), never more
 * than 15 being needed.
 */
export function decode(store: DecodedStore, n: number, bytes: Uint8Array, avail: number, ctx: DecodeContext): number {
  const len = decodeBytes(store, n, bytes, avail, ctx);
  // Needing more than 15 bytes is not a page-crossing question: the instruction is too long (#GP).
  return len < 0 && avail >= 15 ? tooLong(store, n) : len;
}

function decodeBytes(store: DecodedStore, n: number, bytes: Uint8Array, avail: number, ctx: DecodeContext): number {
  const bits = ctx.bits;
  const long = bits === 64;
  rex = 0;
  opsizeOverride = false;
  asizeOverride = false;
  repPrefix = 0;
  lock = false;
  segOverride = -1;
  let p = 0;
  // Prefixes.
  for (;;) {
    if (p >= avail) return avail >= 15 ? tooLong(store, n) : -1;
    if (p >= 15) return tooLong(store, n);
    const b = bytes[p];
    if (b === 0x66) opsizeOverride = true;
    else if (b === 0x67) asizeOverride = true;
    else if (b === 0xf2 || b === 0xf3) repPrefix = b;
    else if (b === 0xf0) lock = true;
    else if (b === 0x26) segOverride = Seg.ES;
    else if (b === 0x2e) segOverride = Seg.CS;
    else if (b === 0x36) segOverride = Seg.SS;
    else if (b === 0x3e) segOverride = Seg.DS;
    else if (b === 0x64) segOverride = Seg.FS;
    else if (b === 0x65) segOverride = Seg.GS;
    else if (long && (b & 0xf0) === 0x40) {
      rex = b;
      p++;
      // REX only counts when the opcode follows it directly.
      if (p < avail && isLegacyPrefix(bytes[p])) rex = 0;
      continue;
    } else break;
    rex = 0;
    p++;
  }
  // Opcode and map.
  let entry: Entry | undefined;
  let opcode = bytes[p++];
  let map = 1;
  if (opcode === 0x0f) {
    if (p >= avail) return -1;
    opcode = bytes[p++];
    if (opcode === 0x38 || opcode === 0x3a) {
      if (p >= avail) return -1;
      map = opcode === 0x38 ? 3 : 4;
      opcode = bytes[p++];
      entry = map === 3 ? THREE_BYTE_38[opcode] : THREE_BYTE_3A[opcode];
    } else {
      map = 2;
      entry = TWO_BYTE[opcode];
    }
  } else if ((opcode === 0xc4 || opcode === 0xc5) && (long || (p < avail && (bytes[p] & 0xc0) === 0xc0))) {
    return decodeVex(store, n, bytes, avail, p - 1, ctx);
  } else if (opcode === 0x62 && long) {
    return decodeEvex(store, n, bytes, avail, p - 1, ctx);
  } else {
    entry = ONE_BYTE[opcode];
    if (opcode === 0x90 && (rex & 1) !== 0) entry = XCHG_RAX_ROW;
  }
  if (p > 15) return tooLong(store, n);

  // Resolve selectors (mandatory prefixes, ModRM.reg/mod/rm) down to a row.
  let modrm = -1;
  while (entry !== undefined && entry.kind !== 'row') {
    if (entry.kind === 'prefix') {
      if (repPrefix === 0xf3 && entry.pF3 !== undefined) { entry = entry.pF3; repPrefix = -0xf3; }
      else if (repPrefix === 0xf2 && entry.pF2 !== undefined) { entry = entry.pF2; repPrefix = -0xf2; }
      else if (opsizeOverride && entry.p66 !== undefined) entry = entry.p66;
      else entry = entry.none;
      continue;
    }
    if (modrm < 0) {
      if (p >= avail) return -1;
      modrm = bytes[p];
    }
    if (entry.kind === 'group') entry = entry.entries[(modrm >> 3) & 7];
    else if (entry.kind === 'mod') entry = (modrm & 0xc0) === 0xc0 ? entry.reg : entry.mem;
    else entry = (modrm & 0xc0) === 0xc0 ? entry.entries[modrm & 7] : undefined;
  }
  let row: OpRow = entry === undefined ? UNDEFINED_ROW : entry;
  // A feature the CPU model lacks: TZCNT/LZCNT fall back to BSF/BSR (the F3 prefix is then
  // ignored, as on hardware without BMI1/LZCNT); anything else is undefined.
  if (row.feature !== undefined && !ctx.model.has(row.feature)) {
    if (row.mnemonic === 'tzcnt' || row.mnemonic === 'lzcnt') {
      const sel = TWO_BYTE[opcode];
      row = sel !== undefined && sel.kind === 'prefix' && sel.none !== undefined && sel.none.kind === 'row' ? sel.none : UNDEFINED_ROW;
    } else {
      row = UNDEFINED_ROW;
    }
  }
  const info = infoOf(row);
  const flags = row.flags;
  let invalid = row === UNDEFINED_ROW || (long && (flags & RowFlag.I64) !== 0) || (!long && (flags & RowFlag.O64) !== 0);
  if (!long && row.mnemonic === 'movsxd') invalid = false; // 63 outside 64-bit mode is ARPL (named below)

  // Sizes.
  let opsize: number;
  if (long) {
    if ((flags & RowFlag.F64) !== 0) opsize = 8;
    else if ((rex & 8) !== 0) opsize = 8;
    else if (opsizeOverride) opsize = 2;
    else opsize = (flags & RowFlag.D64) !== 0 ? 8 : 4;
  } else {
    opsize = (bits === 16) !== opsizeOverride ? 2 : 4;
  }
  const asize = long ? (asizeOverride ? 4 : 8) : (bits === 16) !== asizeOverride ? 2 : 4;

  // ModRM, SIB, displacement.
  store.rm[n] = -1;
  store.reg[n] = 0;
  store.base[n] = Base.NONE;
  store.index[n] = -1;
  store.scale[n] = 0;
  store.disp[n] = 0;
  store.imm[n] = 0;
  store.immHi[n] = 0;
  store.imm2[n] = 0;
  let mem = false;
  let defaultSeg = Seg.DS;
  const byteRegs = (rex === 0);
  // A ModRM byte a selector read (0F 01's register forms, groups) belongs to the instruction even
  // when the row has no ModRM operand (SWAPGS, STAC, VMCALL, RDTSCP).
  if (info.modrm || modrm >= 0) {
    if (modrm < 0) {
      if (p >= avail) return -1;
      modrm = bytes[p];
    }
    p++;
    const md = modrm >> 6;
    const regf = (modrm >> 3) & 7;
    const rmf = modrm & 7;
    store.reg[n] = regf | ((rex & 4) << 1);
    if (md === 3) {
      store.rm[n] = rmf | ((rex & 1) << 3);
    } else {
      mem = true;
      if (asize === 2) {
        const r = decodeModrm16(store, n, md, rmf, bytes, p, avail);
        if (r < 0) return -1;
        defaultSeg = r >> 8;
        p = r & 0xff;
      } else {
        let base = -1;
        if (rmf === 4) {
          if (p >= avail) return -1;
          const sib = bytes[p++];
          const idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
          store.scale[n] = sib >> 6;
          store.index[n] = idx === 4 ? -1 : idx;
          const bf = sib & 7;
          if (bf === 5 && md === 0) {
            base = -1;
            if (p + 4 > avail) return -1;
            store.disp[n] = readI32(bytes, p);
            p += 4;
          } else {
            base = bf | ((rex & 1) << 3);
          }
        } else if (rmf === 5 && md === 0) {
          base = long ? Base.RIP : -1;
          if (p + 4 > avail) return -1;
          store.disp[n] = readI32(bytes, p);
          p += 4;
        } else {
          base = rmf | ((rex & 1) << 3);
        }
        store.base[n] = base;
        if (md === 1) {
          if (p >= avail) return -1;
          store.disp[n] = (bytes[p++] << 24) >> 24;
        } else if (md === 2) {
          if (p + 4 > avail) return -1;
          store.disp[n] = readI32(bytes, p);
          p += 4;
        }
        if (base === 4 || base === 5) defaultSeg = Seg.SS;
      }
    }
  }

  // Operands that are not ModRM.
  let formSize = 0;
  const specs = info.specs;
  for (let k = 0; k < specs.length; k++) {
    const spec = specs[k];
    const sz = resolveSize(spec.size, opsize);
    if (formSize === 0 && sz !== 0 && spec.kind !== OpKind.IMM && spec.kind !== OpKind.REL && spec.kind !== OpKind.FAR_PTR) {
      formSize = sz;
    }
    switch (spec.kind) {
      case OpKind.MODRM_RM:
        if (!mem && spec.size === SizeCode.B && byteRegs && store.rm[n] >= 4 && store.rm[n] < 8) store.rm[n] += 12;
        break;
      case OpKind.MODRM_RM_MEM_ONLY:
        if (!mem) invalid = true;
        break;
      case OpKind.MODRM_RM_REG_ONLY:
        // MOV to/from control and debug registers ignore ModRM.mod (always a register).
        if (mem) { mem = false; store.rm[n] = (modrm & 7) | ((rex & 1) << 3); }
        break;
      case OpKind.MODRM_REG:
        if (spec.size === SizeCode.B && byteRegs && store.reg[n] >= 4 && store.reg[n] < 8) store.reg[n] += 12;
        break;
      case OpKind.OPCODE_REG: {
        let r = (opcode & 7) | ((rex & 1) << 3);
        if (spec.size === SizeCode.B && byteRegs && r >= 4 && r < 8) r += 12;
        store.rm[n] = r;
        break;
      }
      case OpKind.FIXED_REG:
        if (spec.slot === Slot.E && store.rm[n] < 0 && !mem) store.rm[n] = spec.reg;
        else if (spec.slot === Slot.G) store.reg[n] = spec.reg;
        break;
      case OpKind.IMM: case OpKind.REL: {
        const width = immWidth(spec.size, opsize);
        if (p + width > avail) return -1;
        const v = readImm(bytes, p, width);
        p += width;
        if (spec.kind === OpKind.IMM && k !== info.firstImm) {
          store.imm2[n] = v; // second immediate (ENTER's nesting level)
        } else {
          store.imm[n] = v;
          store.immHi[n] = width === 8 ? immHigh : v >> 31;
        }
        break;
      }
      case OpKind.MOFFS: {
        mem = true;
        store.base[n] = asize === 8 ? Base.ABS64 : Base.NONE;
        if (p + asize > avail) return -1;
        if (asize === 8) {
          store.disp[n] = readI32(bytes, p);
          store.imm2[n] = readI32(bytes, p + 4);
        } else {
          store.disp[n] = asize === 4 ? readI32(bytes, p) : bytes[p] | (bytes[p + 1] << 8);
        }
        p += asize;
        break;
      }
      case OpKind.FAR_PTR: {
        const width = opsize === 2 ? 2 : 4;
        if (p + width + 2 > avail) return -1;
        store.imm[n] = readImm(bytes, p, width);
        if (width === 2) store.imm[n] &= 0xffff;
        store.imm2[n] = bytes[p + width] | (bytes[p + width + 1] << 8);
        p += width + 2;
        break;
      }
      default:
        break;
    }
  }
  if (p > 15) return tooLong(store, n);
  if (p > avail) return -1;
  if (formSize === 0) formSize = opsize;
  if (formSize > 8) formSize = opsize;

  // LOCK is only valid on lockable instructions with a memory destination.
  if (lock && ((flags & RowFlag.LOCK) === 0 || !mem)) invalid = true;
  // MOV to/from Sreg: Sreg numbers above GS are undefined (checked at run time too).

  store.len[n] = p;
  store.size[n] = formSize;
  store.asize[n] = asize;
  store.seg[n] = segOverride >= 0 ? segOverride : defaultSeg;
  store.variant[n] = row.variant;
  let prefixBits = (rex !== 0 ? Prefix.REX : 0) | (lock ? Prefix.LOCK : 0) | (segOverride >= 0 ? Prefix.SEG_OVERRIDE : 0);
  if ((flags & RowFlag.REP) !== 0) {
    if (repPrefix === 0xf3) prefixBits |= Prefix.REP;
    else if (repPrefix === 0xf2) prefixBits |= Prefix.REPNE;
  }
  store.prefix[n] = prefixBits;
  store.row[n] = row.id;
  if (invalid) {
    store.handler[n] = UD_HANDLER;
    if (!long && row.mnemonic === 'movsxd') {
      store.handler[n] = unimplementedHandler(ARPL_ROW);
      store.row[n] = ARPL_ROW.id;
    }
    return p;
  }
  store.handler[n] = handlerFor(row, info, formSize, asize, mem);
  return p;
}

const ARPL_ROW = op('arpl Ew,Gw');

function handlerFor(row: OpRow, info: RowInfo, size: number, asize: number, mem: boolean): number {
  const k = (SIZE_INDEX[size] * 3 + ASIZE_INDEX[asize]) * 2 + (mem ? 1 : 0);
  const cached = info.ids[k];
  if (cached >= 0) return cached;
  const exec: Exec | undefined = row.exec;
  let id: number;
  if (exec === undefined) id = unimplementedHandler(row);
  else {
    const form: Form = { mnemonic: row.mnemonic, operands: row.operands, pattern: info.pattern, size, asize, mem, variant: row.variant };
    id = handlerId(exec, form);
  }
  info.ids[k] = id;
  return id;
}

/** Whether a decoded record ends its block (control transfer or decode-relevant state change). */
export function endsBlock(store: DecodedStore, n: number): boolean {
  const row = ROWS[store.row[n]];
  return (row.flags & (RowFlag.END | RowFlag.SYS)) !== 0 || store.handler[n] === UD_HANDLER ||
    store.handler[n] === TOO_LONG_HANDLER || row.exec === undefined;
}

function firstImm(specs: readonly OperandSpec[]): number {
  return specs.findIndex((s) => s.kind === OpKind.IMM || s.kind === OpKind.REL);
}

function isLegacyPrefix(b: number): boolean {
  return b === 0x66 || b === 0x67 || b === 0xf0 || b === 0xf2 || b === 0xf3 || b === 0x26 || b === 0x2e ||
    b === 0x36 || b === 0x3e || b === 0x64 || b === 0x65;
}

function resolveSize(size: SizeCode, opsize: number): number {
  switch (size) {
    case SizeCode.B: return 1;
    case SizeCode.W: return 2;
    case SizeCode.D: return 4;
    case SizeCode.Q: return 8;
    case SizeCode.V: case SizeCode.P: return opsize;
    case SizeCode.Z: return opsize === 2 ? 2 : 4;
    case SizeCode.Y: return opsize === 8 ? 8 : 4;
    default: return 0;
  }
}

/** Bytes of an immediate or relative offset: Iz/Jz are 2 or 4, Iv is the full operand size. */
function immWidth(size: SizeCode, opsize: number): number {
  switch (size) {
    case SizeCode.B: return 1;
    case SizeCode.W: return 2;
    case SizeCode.D: return 4;
    case SizeCode.Z: return opsize === 2 ? 2 : 4;
    case SizeCode.V: return opsize;
    default: return opsize === 2 ? 2 : 4;
  }
}

let immHigh = 0;
function readImm(bytes: Uint8Array, p: number, width: number): number {
  switch (width) {
    case 1: return (bytes[p] << 24) >> 24;
    case 2: return ((bytes[p] | (bytes[p + 1] << 8)) << 16) >> 16;
    case 4: return readI32(bytes, p);
    default:
      immHigh = readI32(bytes, p + 4);
      return readI32(bytes, p);
  }
}

function readI32(bytes: Uint8Array, p: number): number {
  return bytes[p] | (bytes[p + 1] << 8) | (bytes[p + 2] << 16) | (bytes[p + 3] << 24);
}

/** 16-bit ModRM addressing; returns (defaultSeg << 8) | newPosition, or -1 if more bytes are needed. */
function decodeModrm16(store: DecodedStore, n: number, md: number, rmf: number, bytes: Uint8Array, p: number, avail: number): number {
  const BX = 3, BP = 5, SI = 6, DI = 7;
  const bases = [BX, BX, BP, BP, -1, -1, BP, BX];
  const indexes = [SI, DI, SI, DI, SI, DI, -1, -1];
  let seg = rmf === 2 || rmf === 3 ? Seg.SS : Seg.DS;
  if (md === 0 && rmf === 6) {
    if (p + 2 > avail) return -1;
    store.disp[n] = bytes[p] | (bytes[p + 1] << 8);
    return (Seg.DS << 8) | (p + 2);
  }
  store.base[n] = rmf === 4 ? SI : rmf === 5 ? DI : bases[rmf];
  store.index[n] = rmf >= 4 ? -1 : indexes[rmf];
  if (rmf === 6) seg = Seg.SS;
  if (md === 1) {
    if (p >= avail) return -1;
    store.disp[n] = (bytes[p++] << 24) >> 24;
  } else if (md === 2) {
    if (p + 2 > avail) return -1;
    store.disp[n] = ((bytes[p] | (bytes[p + 1] << 8)) << 16) >> 16;
    p += 2;
  }
  return (seg << 8) | p;
}

function tooLong(store: DecodedStore, n: number): number {
  store.len[n] = 15;
  store.handler[n] = TOO_LONG_HANDLER;
  store.row[n] = TOO_LONG_ROW.id;
  store.prefix[n] = 0;
  return 15;
}

/**
 * VEX (C4/C5) and EVEX (62) instructions: decoded for their length and reported as not
 * implemented when executed. VEX.mmmmm selects the 0F, 0F38 or 0F3A map (the last has an imm8).
 */
function decodeVex(store: DecodedStore, n: number, bytes: Uint8Array, avail: number, start: number, ctx: DecodeContext): number {
  const three = bytes[start] === 0xc4;
  let p = start + (three ? 3 : 2);
  if (p + 1 > avail) return -1;
  const mapSel = three ? bytes[start + 1] & 0x1f : 1;
  return finishWideEncoding(store, n, bytes, avail, p, mapSel === 3, VEX_ROW, ctx);
}

function decodeEvex(store: DecodedStore, n: number, bytes: Uint8Array, avail: number, start: number, ctx: DecodeContext): number {
  if (start + 5 > avail) return -1;
  const mapSel = bytes[start + 1] & 0x7;
  return finishWideEncoding(store, n, bytes, avail, start + 4, mapSel === 3, EVEX_ROW, ctx);
}

/** Opcode, ModRM/SIB/displacement and optional imm8 after a VEX/EVEX prefix. */
function finishWideEncoding(store: DecodedStore, n: number, bytes: Uint8Array, avail: number, p: number, imm8: boolean, row: OpRow, ctx: DecodeContext): number {
  p++; // opcode
  if (p >= avail) return -1;
  const modrm = bytes[p++];
  const md = modrm >> 6;
  if (md !== 3) {
    if ((modrm & 7) === 4) {
      if (p >= avail) return -1;
      const sib = bytes[p++];
      if ((sib & 7) === 5 && md === 0) p += 4;
    } else if ((modrm & 7) === 5 && md === 0) p += 4;
    if (md === 1) p += 1;
    else if (md === 2) p += 4;
  }
  if (imm8) p++;
  if (p > avail) return -1;
  if (p > 15) return tooLong(store, n);
  store.len[n] = p;
  store.row[n] = row.id;
  store.prefix[n] = 0;
  store.handler[n] = unimplementedHandler(row);
  return p;
}

export { Vector };
