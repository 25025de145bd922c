import type { CpuModel } from '../cpu/cpu-model.js';
import { type Exec, type Form, type FormOperands, HANDLERS, handlerId, registerHandler } from '../exec/registry.js';
import { Check } from '../exec/checks.js';
import { Seg } from '../arch/registers.js';
import { Vector } from '../arch/vectors.js';
import { Base, DecodedStore, Prefix } from './store.js';
import type { FeatureName } from '../cpu/cpu-model.js';
import { type OpRow, RowFlag, ROWS, op, outcome } from './table.js';
import { CHILD, MAP_NODES, NO_ENTRY, SEL, SEL_MASK, SEL_WIDTH, SelKind } from './opcode-nodes.js';
import { OpKind, type OperandSpec, SizeCode, Slot, formOperands, needsModrm, parseOperands, slotPattern } from './operand-spec.js';
import { XCHG_RAX_ROW } from './one-byte.js';
import { TWO_BYTE } from './two-byte.js';

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

/** Per-row data derived from the table once, so the stages read one object shape. */
interface RowInfo {
  /** The operands as (kind, size code, slot, fixed register) quadruples, parsed from the row's text. */
  ops: Int32Array;
  pattern: string;
  /** The operands typed for the families (Form.ops). */
  operands: FormOperands;
  /** The checks the row's flags add to its family's (Form.checks). */
  checks: number;
  modrm: boolean;
  /** Index in specs of the first immediate or relative operand, or -1 (a later IMM is the second immediate). */
  firstImm: number;
  flags: number;
  variant: number;
  feature: FeatureName | undefined;
  /** 63 (MOVSXD), which is ARPL outside 64-bit mode. */
  movsxd: boolean;
  /** Handler ids by (size index, address-size index, mem), filled on first use. */
  ids: Int32Array;
}

const rowInfo: Array<RowInfo | undefined> = [];
function infoOf(id: number): RowInfo {
  const info = rowInfo[id];
  return info !== undefined ? info : makeInfo(id);
}

function makeInfo(id: number): RowInfo {
  const row = ROWS[id];
  const specs = parseOperands(row.operands);
  const ops = new Int32Array(4 * specs.length);
  specs.forEach((sp, k) => { ops[4 * k] = sp.kind; ops[4 * k + 1] = sp.size; ops[4 * k + 2] = sp.slot; ops[4 * k + 3] = sp.reg; });
  const info: RowInfo = {
    ops,
    pattern: slotPattern(row.operands, specs),
    operands: formOperands(row.operands, specs),
    checks: ((row.flags & RowFlag.IO) !== 0 ? Check.IO : 0) | ((row.flags & RowFlag.VM86_IOPL) !== 0 ? Check.VM86_IOPL : 0),
    modrm: needsModrm(specs) || (row.flags & RowFlag.MODRM) !== 0,
    firstImm: firstImm(specs),
    flags: row.flags,
    variant: row.variant,
    feature: row.feature,
    movsxd: row.mnemonic === 'movsxd',
    ids: new Int32Array(4 * 3 * 2).fill(-1),
  };
  rowInfo[id] = info;
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

/**
 * The decode state of the instruction being decoded, shared by the stages below. Positions are
 * absolute indexes into `bytes`: the instruction starts at `start` and the available bytes end
 * at `end`, so a block decodes straight from guest memory without a copy.
 */
const S = {
  bytes: new Uint8Array(0) as Uint8Array,
  start: 0,
  end: 0,
  long: false,
  rex: 0,
  opsizeOverride: false,
  asizeOverride: false,
  /** 0, 0xf2 or 0xf3 (the last of them); negated once a prefix selector used it as mandatory. */
  repPrefix: 0,
  lock: false,
  segOverride: -1,
  opcode: 0,
  /** The ModRM byte once read (a selector may read it before the ModRM stage), else -1. */
  modrm: -1,
  opsize: 0,
  asize: 0,
  mem: false,
  defaultSeg: Seg.DS,
  invalid: false,
};

/** A stage's result when it needs bytes beyond `end`. */
const NEED_MORE = -1;
/** The prefix stage's result for more than 15 bytes of prefixes. */
const TOO_LONG = -2;

/**
 * Decodes the instruction at bytes[0..avail) into record `n`. Returns its length, or -1 when it
 * would need bytes beyond `avail` (the caller supplies more, e.g. from the next page), never more
 * than 15 being needed.
 */
export function decode(store: DecodedStore, n: number, bytes: Uint8Array, avail: number, ctx: DecodeContext): number {
  return decodeAt(store, n, bytes, 0, avail, ctx);
}

/** decode() for the instruction at bytes[start..start+avail). */
export function decodeAt(store: DecodedStore, n: number, bytes: Uint8Array, start: number, avail: number, ctx: DecodeContext): number {
  const len = decodeBytes(store, n, bytes, start, avail, ctx);
  // Needing more than 15 bytes is not a page-crossing question: the instruction is too long (#GP).
  return len < 0 && avail >= 15 ? tooLong(store, n) : len;
}

/**
 * The stages in order: prefixes, opcode and map, selectors down to a row, sizes, ModRM/SIB/
 * displacement, the other operands, the record. Rare paths (VEX/EVEX, a feature the model lacks,
 * 16-bit addressing, moffs and far pointers, invalid encodings, over-long instructions) are
 * separate functions, so the first one met does not throw away the optimised code of this one.
 */
function decodeBytes(store: DecodedStore, n: number, bytes: Uint8Array, start: number, avail: number, ctx: DecodeContext): number {
  S.bytes = bytes;
  S.start = start;
  S.end = start + avail;
  S.long = ctx.bits === 64;
  let p = prefixStage(start);
  if (p < 0) return p === TOO_LONG ? tooLong(store, n) : NEED_MORE;
  // Opcode and map.
  let opcode = bytes[p++];
  let map = 1;
  if (opcode === 0x0f) {
    if (p >= S.end) return NEED_MORE;
    opcode = bytes[p++];
    if (opcode === 0x38 || opcode === 0x3a) {
      if (p >= S.end) return NEED_MORE;
      map = opcode === 0x38 ? 3 : 4;
      opcode = bytes[p++];
    } else {
      map = 2;
    }
  } else if ((opcode === 0xc4 || opcode === 0xc5 || opcode === 0x62) && isWideEncoding(opcode, p)) {
    return decodeWide(store, n, p - 1, ctx);
  }
  if (p - start > 15) return tooLong(store, n);
  S.opcode = opcode;
  S.modrm = -1;
  let id = map === 1 && opcode === 0x90 && (S.rex & 1) !== 0 ? (XCHG_RAX_ROW as OpRow).id : selectRow(MAP_NODES[map * 256 + opcode], p);
  if (id === NEED_MORE) return NEED_MORE;
  let info = infoOf(id);
  // A feature the CPU model lacks.
  if (info.feature !== undefined && !ctx.model.has(info.feature)) {
    id = withoutFeature(id, opcode);
    info = infoOf(id);
  }
  sizeStage(info.flags, ctx.bits);
  S.invalid = id === UNDEFINED_ROW.id || (S.invalid && !(info.movsxd && !S.long));

  store.rm[n] = -1;
  store.reg[n] = 0;
  store.base[n] = Base.NONE;
  store.index[n] = -1;
  store.scale[n] = 0;
  store.disp[n] = 0;
  store.imm[n] = 0;
  store.immHi[n] = 0;
  store.imm2[n] = 0;
  S.mem = false;
  S.defaultSeg = Seg.DS;
  // A ModRM byte a selector read (0F 01's register forms, groups) belongs to the instruction even
  // when the row has no ModRM operand (SWAPGS, STAC, VMCALL, RDTSCP).
  if (info.modrm || S.modrm >= 0) {
    p = modrmStage(store, n, p);
    if (p < 0) return NEED_MORE;
  }
  const formSize = operandStage(store, n, info, p);
  if (formSize < 0) return NEED_MORE;
  p = operandEnd;
  if (p - start > 15) return tooLong(store, n);
  if (p > S.end) return NEED_MORE;
  return finishStage(store, n, id, info, formSize, p - start);
}

/** Legacy prefixes and REX; returns the opcode's position, NEED_MORE or TOO_LONG. */
function prefixStage(p: number): number {
  const bytes = S.bytes, start = S.start, end = S.end, long = S.long;
  let rex = 0, opsizeOverride = false, asizeOverride = false, repPrefix = 0, lock = false, segOverride = -1;
  for (;;) {
    if (p >= end) return end - start >= 15 ? TOO_LONG : NEED_MORE;
    if (p - start >= 15) return TOO_LONG;
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
      if (p < end && isLegacyPrefix(bytes[p])) rex = 0;
      continue;
    } else break;
    rex = 0;
    p++;
  }
  S.rex = rex; S.opsizeOverride = opsizeOverride; S.asizeOverride = asizeOverride;
  S.repPrefix = repPrefix; S.lock = lock; S.segOverride = segOverride;
  return p;
}

/**
 * Walks the selectors (mandatory prefix, ModRM.reg/mod/rm) from a map node down to a row id;
 * NEED_MORE when the ModRM byte is beyond the available bytes. Reads the ModRM byte into S.modrm
 * without consuming it.
 */
function selectRow(node: number, p: number): number {
  while (node < NO_ENTRY) {
    const at = (-2 - node) * SEL_WIDTH;
    const kind = SEL[at];
    if (kind === SelKind.PREFIX) {
      const rep = S.repPrefix;
      const cls = (rep === 0xf3 ? 2 : rep === 0xf2 ? 4 : 0) + (S.opsizeOverride ? 1 : 0);
      node = SEL[at + 1 + cls];
      if (((SEL[at + SEL_MASK] >> cls) & 1) !== 0) S.repPrefix = -rep;
      continue;
    }
    if (S.modrm < 0) {
      if (p >= S.end) return NEED_MORE;
      S.modrm = S.bytes[p];
    }
    node = SEL[at + 1 + CHILD[kind * 256 + S.modrm]];
  }
  return node === NO_ENTRY ? UNDEFINED_ROW.id : node;
}

/**
 * Operand and address sizes from the mode, the prefixes and the row's flags; also marks encodings
 * the mode forbids (S.invalid).
 */
function sizeStage(flags: number, bits: number): void {
  const long = S.long;
  if (long) {
    if ((flags & RowFlag.F64) !== 0) S.opsize = 8;
    else if ((S.rex & 8) !== 0) S.opsize = 8;
    else if (S.opsizeOverride) S.opsize = 2;
    else S.opsize = (flags & RowFlag.D64) !== 0 ? 8 : 4;
    S.asize = S.asizeOverride ? 4 : 8;
    S.invalid = (flags & RowFlag.I64) !== 0;
  } else {
    S.opsize = (bits === 16) !== S.opsizeOverride ? 2 : 4;
    S.asize = (bits === 16) !== S.asizeOverride ? 2 : 4;
    S.invalid = (flags & RowFlag.O64) !== 0;
  }
}

/** ModRM, SIB and displacement; returns the position after them, or NEED_MORE. */
function modrmStage(store: DecodedStore, n: number, p: number): number {
  const bytes = S.bytes, end = S.end, rex = S.rex;
  if (S.modrm < 0) {
    if (p >= end) return NEED_MORE;
    S.modrm = bytes[p];
  }
  const modrm = S.modrm;
  p++;
  const md = modrm >> 6;
  const rmf = modrm & 7;
  store.reg[n] = ((modrm >> 3) & 7) | ((rex & 4) << 1);
  if (md === 3) {
    store.rm[n] = rmf | ((rex & 1) << 3);
    return p;
  }
  S.mem = true;
  if (S.asize === 2) return modrm16(store, n, md, rmf, p);
  let base: number;
  if (rmf === 4) {
    if (p >= end) return NEED_MORE;
    const sib = bytes[p++];
    const idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
    store.scale[n] = sib >> 6;
    store.index[n] = idx === 4 ? -1 : idx;
    const bf = sib & 7;
    if (bf === 5 && md === 0) {
      base = -1;
      if (p + 4 > end) return NEED_MORE;
      store.disp[n] = readI32(bytes, p);
      p += 4;
    } else {
      base = bf | ((rex & 1) << 3);
    }
  } else if (rmf === 5 && md === 0) {
    base = S.long ? Base.RIP : -1;
    if (p + 4 > end) return NEED_MORE;
    store.disp[n] = readI32(bytes, p);
    p += 4;
  } else {
    base = rmf | ((rex & 1) << 3);
  }
  store.base[n] = base;
  if (md === 1) {
    if (p >= end) return NEED_MORE;
    store.disp[n] = (bytes[p++] << 24) >> 24;
  } else if (md === 2) {
    if (p + 4 > end) return NEED_MORE;
    store.disp[n] = readI32(bytes, p);
    p += 4;
  }
  if (base === 4 || base === 5) S.defaultSeg = Seg.SS;
  return p;
}

/** Where the operand stage stopped (its return value is the form's operand size). */
let operandEnd = 0;

/**
 * The operands that are not ModRM: register fix-ups, immediates and relative offsets (moffs and
 * far pointers in rareOperand). Returns the form's operand size, or NEED_MORE.
 */
function operandStage(store: DecodedStore, n: number, info: RowInfo, p: number): number {
  const opsize = S.opsize;
  const byteRegs = S.rex === 0;
  const ops = info.ops;
  let formSize = 0;
  for (let k = 0, q = 0; q < ops.length; k++, q += 4) {
    const kind = ops[q];
    const size = ops[q + 1];
    const sz = resolveSize(size, opsize);
    if (formSize === 0 && sz !== 0 && kind !== OpKind.IMM && kind !== OpKind.REL && kind !== OpKind.FAR_PTR) formSize = sz;
    if (kind === OpKind.MODRM_RM) {
      if (!S.mem && size === SizeCode.B && byteRegs && store.rm[n] >= 4 && store.rm[n] < 8) store.rm[n] += 12;
    } else if (kind === OpKind.MODRM_REG) {
      if (size === SizeCode.B && byteRegs && store.reg[n] >= 4 && store.reg[n] < 8) store.reg[n] += 12;
    } else if (kind === OpKind.IMM || kind === OpKind.REL) {
      const width = immWidth(size, opsize);
      if (p + width > S.end) return NEED_MORE;
      const v = readImm(S.bytes, p, width);
      p += width;
      if (kind === OpKind.IMM && k !== info.firstImm) {
        store.imm2[n] = v; // second immediate (ENTER's nesting level)
      } else {
        store.imm[n] = v;
        store.immHi[n] = width === 8 ? immHigh : v >> 31;
      }
    } else if (kind === OpKind.OPCODE_REG) {
      let r = (S.opcode & 7) | ((S.rex & 1) << 3);
      if (size === SizeCode.B && byteRegs && r >= 4 && r < 8) r += 12;
      store.rm[n] = r;
    } else if (kind !== OpKind.IMPLICIT) {
      p = rareOperand(store, n, kind, ops[q + 2], ops[q + 3], p);
      if (p < 0) return NEED_MORE;
    }
  }
  operandEnd = p;
  if (formSize === 0 || formSize > 8) formSize = opsize;
  return formSize;
}

/** Operand kinds few instructions have: fixed registers, memory-only or register-only r/m, moffs, far pointers. */
function rareOperand(store: DecodedStore, n: number, kind: number, slot: number, reg: number, p: number): number {
  const bytes = S.bytes;
  switch (kind) {
    case OpKind.MODRM_RM_MEM_ONLY:
      if (!S.mem) S.invalid = true;
      return p;
    case OpKind.MODRM_RM_REG_ONLY:
      // MOV to/from control and debug registers ignore ModRM.mod (always a register).
      if (S.mem) { S.mem = false; store.rm[n] = (S.modrm & 7) | ((S.rex & 1) << 3); }
      return p;
    case OpKind.FIXED_REG:
      if (slot === Slot.E && store.rm[n] < 0 && !S.mem) store.rm[n] = reg;
      else if (slot === Slot.G) store.reg[n] = reg;
      return p;
    case OpKind.MOFFS: {
      const asize = S.asize;
      S.mem = true;
      store.base[n] = asize === 8 ? Base.ABS64 : Base.NONE;
      if (p + asize > S.end) return NEED_MORE;
      if (asize === 8) {
        store.disp[n] = readI32(bytes, p);
        store.imm2[n] = readI32(bytes, p + 4);
      } else {
        store.disp[n] = asize === 4 ? readI32(bytes, p) : bytes[p] | (bytes[p + 1] << 8);
      }
      return p + asize;
    }
    case OpKind.FAR_PTR: {
      const width = S.opsize === 2 ? 2 : 4;
      if (p + width + 2 > S.end) return NEED_MORE;
      store.imm[n] = readImm(bytes, p, width);
      if (width === 2) store.imm[n] &= 0xffff;
      store.imm2[n] = bytes[p + width] | (bytes[p + width + 1] << 8);
      return p + width + 2;
    }
    default:
      return p;
  }
}

/** Writes the record's remaining fields and its handler; returns the length. */
function finishStage(store: DecodedStore, n: number, id: number, info: RowInfo, formSize: number, len: number): number {
  const flags = info.flags;
  const mem = S.mem;
  const lock = S.lock;
  const segOverride = S.segOverride;
  // LOCK is only valid on lockable instructions with a memory destination.
  if (lock && ((flags & RowFlag.LOCK) === 0 || !mem)) S.invalid = true;
  store.len[n] = len;
  store.size[n] = formSize;
  store.asize[n] = S.asize;
  store.seg[n] = segOverride >= 0 ? segOverride : S.defaultSeg;
  store.variant[n] = info.variant;
  let prefixBits = (S.rex !== 0 ? Prefix.REX : 0) | (lock ? Prefix.LOCK : 0) | (segOverride >= 0 ? Prefix.SEG_OVERRIDE : 0);
  if ((flags & RowFlag.REP) !== 0) {
    if (S.repPrefix === 0xf3) prefixBits |= Prefix.REP;
    else if (S.repPrefix === 0xf2) prefixBits |= Prefix.REPNE;
  }
  store.prefix[n] = prefixBits;
  store.row[n] = id;
  if (S.invalid) return invalidRecord(store, n, info, len);
  const k = (SIZE_INDEX[formSize] * 3 + ASIZE_INDEX[S.asize]) * 2 + (mem ? 1 : 0);
  const cached = info.ids[k];
  store.handler[n] = cached >= 0 ? cached : handlerFor(ROWS[id], info, formSize, S.asize, mem, k);
  return len;
}

/** An encoding that is #UD (or, for 63 outside 64-bit mode, ARPL, which mmulab does not implement). */
function invalidRecord(store: DecodedStore, n: number, info: RowInfo, len: number): number {
  store.handler[n] = UD_HANDLER;
  if (!S.long && info.movsxd) {
    store.handler[n] = unimplementedHandler(ARPL_ROW);
    store.row[n] = ARPL_ROW.id;
  }
  return len;
}

/**
 * A row whose feature the CPU model lacks: TZCNT/LZCNT fall back to BSF/BSR (the F3 prefix is then
 * ignored, as on hardware without BMI1/LZCNT); anything else is undefined.
 */
function withoutFeature(id: number, opcode: number): number {
  const row = ROWS[id];
  if (row.mnemonic === 'tzcnt' || row.mnemonic === 'lzcnt') {
    const sel = TWO_BYTE[opcode];
    return sel !== undefined && sel.kind === 'prefix' && sel.none !== undefined && sel.none.kind === 'row' ? sel.none.id : UNDEFINED_ROW.id;
  }
  return UNDEFINED_ROW.id;
}

const ARPL_ROW = op('arpl Ew,Gw');

function handlerFor(row: OpRow, info: RowInfo, size: number, asize: number, mem: boolean, k: number): number {
  const exec: Exec | undefined = row.exec;
  let id: number;
  if (exec === undefined) id = unimplementedHandler(row);
  else {
    const form: Form = {
      mnemonic: row.mnemonic, operands: row.operands, pattern: info.pattern, size, asize, mem, variant: row.variant,
      ops: info.operands, checks: info.checks,
    };
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

/** 16-bit ModRM addressing (S.defaultSeg follows BP); returns the position after it, or NEED_MORE. */
function modrm16(store: DecodedStore, n: number, md: number, rmf: number, p: number): number {
  const bytes = S.bytes, end = S.end;
  if (md === 0 && rmf === 6) {
    if (p + 2 > end) return NEED_MORE;
    store.disp[n] = bytes[p] | (bytes[p + 1] << 8);
    return p + 2;
  }
  store.base[n] = BASE16[rmf];
  store.index[n] = INDEX16[rmf];
  if (rmf === 2 || rmf === 3 || rmf === 6) S.defaultSeg = Seg.SS;
  if (md === 1) {
    if (p >= end) return NEED_MORE;
    store.disp[n] = (bytes[p++] << 24) >> 24;
  } else if (md === 2) {
    if (p + 2 > end) return NEED_MORE;
    store.disp[n] = ((bytes[p] | (bytes[p + 1] << 8)) << 16) >> 16;
    p += 2;
  }
  return p;
}

/** 16-bit addressing by ModRM.rm: BX+SI, BX+DI, BP+SI, BP+DI, SI, DI, BP, BX. */
const BASE16 = Int8Array.of(3, 3, 5, 5, 6, 7, 5, 3);
const INDEX16 = Int8Array.of(6, 7, 6, 7, -1, -1, -1, -1);

function tooLong(store: DecodedStore, n: number): number {
  store.len[n] = 15;
  store.handler[n] = TOO_LONG_HANDLER;
  store.row[n] = TOO_LONG_ROW.id;
  store.prefix[n] = 0;
  return 15;
}

/** Whether C4/C5 (LES/LDS outside 64-bit mode unless a register ModRM follows) or 62 (BOUND) start a VEX/EVEX prefix. */
function isWideEncoding(opcode: number, p: number): boolean {
  if (S.long) return true;
  return opcode !== 0x62 && p < S.end && (S.bytes[p] & 0xc0) === 0xc0;
}

/**
 * VEX (C4/C5) and EVEX (62) instructions: decoded for their length and reported as not
 * implemented when executed. VEX.mmmmm selects the 0F, 0F38 or 0F3A map (the last has an imm8).
 */
function decodeWide(store: DecodedStore, n: number, at: number, ctx: DecodeContext): number {
  const bytes = S.bytes;
  if (bytes[at] === 0x62) {
    if (at + 5 > S.end) return NEED_MORE;
    return finishWideEncoding(store, n, at + 4, (bytes[at + 1] & 0x7) === 3, EVEX_ROW, ctx);
  }
  const three = bytes[at] === 0xc4;
  const p = at + (three ? 3 : 2);
  if (p + 1 > S.end) return NEED_MORE;
  const mapSel = three ? bytes[at + 1] & 0x1f : 1;
  return finishWideEncoding(store, n, p, mapSel === 3, VEX_ROW, ctx);
}

/** Opcode, ModRM/SIB/displacement and optional imm8 after a VEX/EVEX prefix. */
function finishWideEncoding(store: DecodedStore, n: number, p: number, imm8: boolean, row: OpRow, _ctx: DecodeContext): number {
  const bytes = S.bytes, end = S.end;
  p++; // opcode
  if (p >= end) return NEED_MORE;
  const modrm = bytes[p++];
  const md = modrm >> 6;
  if (md !== 3) {
    if ((modrm & 7) === 4) {
      if (p >= end) return NEED_MORE;
      const sib = bytes[p++];
      if ((sib & 7) === 5 && md === 0) p += 4;
    } else if ((modrm & 7) === 5 && md === 0) p += 4;
    if (md === 1) p += 1;
    else if (md === 2) p += 4;
  }
  if (imm8) p++;
  if (p > end) return NEED_MORE;
  const len = p - S.start;
  if (len > 15) return tooLong(store, n);
  store.len[n] = len;
  store.row[n] = row.id;
  store.prefix[n] = 0;
  store.handler[n] = unimplementedHandler(row);
  return len;
}

export { Vector };
