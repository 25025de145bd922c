import { Flag, ARITH_FLAGS } from '../arch/eflags.js';

/**
 * Lazy arithmetic flags. A flag-setting instruction records what it did (the operation, operand
 * size, operands and result) instead of computing six flags; a reader computes only the flags it
 * needs. Every serious interpreter does this (v86, Bochs, QEMU's cc_op): eager flags cost 10-25%.
 *
 * Operands are stored as int32 halves; for sizes below 8 only the low 8*size bits are meaningful,
 * and the flag functions shift left by 32 - 8*size so that the operand's sign bit lands in bit 31.
 */
export const enum LfOp {
  /** Flags are in cpu.arith. */
  EAGER = 0,
  ADD = 1,
  /** ADD with carry-in lfAux. */
  ADC = 2,
  SUB = 3,
  /** SUB with borrow-in lfAux. */
  SBB = 4,
  /** AND/OR/XOR/TEST: CF = OF = 0. */
  LOGIC = 5,
  /** INC: like ADD of 1, CF preserved in lfAux. */
  INC = 6,
  /** DEC: like SUB of 1, CF preserved in lfAux. */
  DEC = 7,
  /** Shifts: lfSrc is the (masked, nonzero) count. */
  SHL = 8,
  SHR = 9,
  SAR = 10,
  /** MUL/IMUL: CF = OF = lfAux; SF, ZF, PF from the low result (architecturally undefined). */
  MUL = 11,
}

/** Minimal structural view of the vCPU fields this module reads and writes. */
export interface LazyFlags {
  lfOp: LfOp;
  lfSize: number;
  lfDst: number;
  lfDstHi: number;
  lfSrc: number;
  lfSrcHi: number;
  lfRes: number;
  lfResHi: number;
  lfAux: number;
  arith: number;
}

const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let bits = 0;
  for (let b = i; b !== 0; b >>= 1) bits += b & 1;
  PARITY[i] = (bits & 1) === 0 ? 1 : 0;
}

/** Records a flag-setting operation on operands of 1, 2 or 4 bytes. */
export function setLazy(c: LazyFlags, op: LfOp, size: number, dst: number, src: number, res: number): void {
  c.lfOp = op;
  c.lfSize = size;
  c.lfDst = dst;
  c.lfSrc = src;
  c.lfRes = res;
}

/** Records a flag-setting operation on 8-byte operands. */
export function setLazy64(c: LazyFlags, op: LfOp, dst: number, dstHi: number, src: number, srcHi: number, res: number, resHi: number): void {
  c.lfOp = op;
  c.lfSize = 8;
  c.lfDst = dst;
  c.lfDstHi = dstHi;
  c.lfSrc = src;
  c.lfSrcHi = srcHi;
  c.lfRes = res;
  c.lfResHi = resHi;
}

/** Sign bit of the result (as 0/1). */
function signOf(c: LazyFlags, lo: number, hi: number): number {
  return c.lfSize === 8 ? hi >>> 31 : (lo << (32 - 8 * c.lfSize)) >>> 31;
}

/** Unsigned a < b on operands of the recorded size. */
function below(c: LazyFlags, alo: number, ahi: number, blo: number, bhi: number): boolean {
  if (c.lfSize === 8) {
    if (ahi !== bhi) return (ahi >>> 0) < (bhi >>> 0);
    return (alo >>> 0) < (blo >>> 0);
  }
  const sh = 32 - 8 * c.lfSize;
  return ((alo << sh) >>> 0) < ((blo << sh) >>> 0);
}

function equal(c: LazyFlags, alo: number, ahi: number, blo: number, bhi: number): boolean {
  if (c.lfSize === 8) return alo === blo && ahi === bhi;
  const sh = 32 - 8 * c.lfSize;
  return (alo << sh) === (blo << sh);
}

/** Bit `n` (0-63) of the 64-bit value (lo, hi). */
function bit64(lo: number, hi: number, n: number): number {
  return n < 32 ? (lo >>> n) & 1 : (hi >>> (n - 32)) & 1;
}

export function getCF(c: LazyFlags): number {
  switch (c.lfOp) {
    case LfOp.EAGER: return c.arith & Flag.CF;
    case LfOp.ADD: return below(c, c.lfRes, c.lfResHi, c.lfDst, c.lfDstHi) ? 1 : 0;
    case LfOp.ADC:
      return below(c, c.lfRes, c.lfResHi, c.lfDst, c.lfDstHi) ||
        (c.lfAux !== 0 && equal(c, c.lfRes, c.lfResHi, c.lfDst, c.lfDstHi)) ? 1 : 0;
    case LfOp.SUB: return below(c, c.lfDst, c.lfDstHi, c.lfSrc, c.lfSrcHi) ? 1 : 0;
    case LfOp.SBB:
      return below(c, c.lfDst, c.lfDstHi, c.lfSrc, c.lfSrcHi) ||
        (c.lfAux !== 0 && equal(c, c.lfDst, c.lfDstHi, c.lfSrc, c.lfSrcHi)) ? 1 : 0;
    case LfOp.LOGIC: return 0;
    case LfOp.INC: case LfOp.DEC: case LfOp.MUL: return c.lfAux & 1;
    case LfOp.SHL: {
      const bits = 8 * c.lfSize;
      const n = c.lfSrc;
      if (n > bits) return 0;
      return c.lfSize === 8 ? bit64(c.lfDst, c.lfDstHi, 64 - n) : (c.lfDst >>> (bits - n)) & 1;
    }
    case LfOp.SHR: {
      const n = c.lfSrc - 1;
      if (c.lfSize === 8) return bit64(c.lfDst, c.lfDstHi, n);
      if (n >= 8 * c.lfSize) return 0;
      return (c.lfDst >>> n) & 1;
    }
    case LfOp.SAR: {
      const n = c.lfSrc - 1;
      if (c.lfSize === 8) return bit64(c.lfDst, c.lfDstHi, n);
      const sh = 32 - 8 * c.lfSize;
      const v = (c.lfDst << sh) >> sh; // sign-extended operand
      return (v >> Math.min(n, 31)) & 1;
    }
  }
}

export function getZF(c: LazyFlags): number {
  if (c.lfOp === LfOp.EAGER) return (c.arith & Flag.ZF) !== 0 ? 1 : 0;
  if (c.lfSize === 8) return c.lfRes === 0 && c.lfResHi === 0 ? 1 : 0;
  return (c.lfRes << (32 - 8 * c.lfSize)) === 0 ? 1 : 0;
}

export function getSF(c: LazyFlags): number {
  if (c.lfOp === LfOp.EAGER) return (c.arith & Flag.SF) !== 0 ? 1 : 0;
  return signOf(c, c.lfRes, c.lfResHi);
}

export function getPF(c: LazyFlags): number {
  if (c.lfOp === LfOp.EAGER) return (c.arith & Flag.PF) !== 0 ? 1 : 0;
  return PARITY[c.lfRes & 0xff];
}

export function getAF(c: LazyFlags): number {
  switch (c.lfOp) {
    case LfOp.EAGER: return (c.arith & Flag.AF) !== 0 ? 1 : 0;
    case LfOp.ADD: case LfOp.ADC: case LfOp.SUB: case LfOp.SBB:
      return ((c.lfDst ^ c.lfSrc ^ c.lfRes) >>> 4) & 1;
    case LfOp.INC: case LfOp.DEC:
      return ((c.lfDst ^ 1 ^ c.lfRes) >>> 4) & 1;
    default:
      return 0;
  }
}

export function getOF(c: LazyFlags): number {
  switch (c.lfOp) {
    case LfOp.EAGER: return (c.arith & Flag.OF) !== 0 ? 1 : 0;
    case LfOp.ADD: case LfOp.ADC:
      return signOf(c, (c.lfDst ^ c.lfRes) & (c.lfSrc ^ c.lfRes), (c.lfDstHi ^ c.lfResHi) & (c.lfSrcHi ^ c.lfResHi));
    case LfOp.SUB: case LfOp.SBB:
      return signOf(c, (c.lfDst ^ c.lfSrc) & (c.lfDst ^ c.lfRes), (c.lfDstHi ^ c.lfSrcHi) & (c.lfDstHi ^ c.lfResHi));
    case LfOp.INC:
      // Overflow iff the result is the most negative value.
      return signOf(c, ~c.lfDst & c.lfRes, ~c.lfDstHi & c.lfResHi);
    case LfOp.DEC:
      return signOf(c, c.lfDst & ~c.lfRes, c.lfDstHi & ~c.lfResHi);
    case LfOp.LOGIC: return 0;
    case LfOp.MUL: return c.lfAux & 1;
    case LfOp.SHL:
      return signOf(c, c.lfRes, c.lfResHi) ^ getCF(c);
    case LfOp.SHR:
      return signOf(c, c.lfDst, c.lfDstHi);
    case LfOp.SAR:
      return 0;
  }
}

/** The six arithmetic flags as RFLAGS bits. */
export function materializeFlags(c: LazyFlags): number {
  if (c.lfOp === LfOp.EAGER) return c.arith;
  return getCF(c) | (getPF(c) << 2) | (getAF(c) << 4) | (getZF(c) << 6) | (getSF(c) << 7) | (getOF(c) << 11);
}

/** Replaces the arithmetic flags with the bits of `v`. */
export function loadArithFlags(c: LazyFlags, v: number): void {
  c.arith = v & ARITH_FLAGS;
  c.lfOp = LfOp.EAGER;
}

/**
 * FCOMI/FUCOMI and (U)COMISS/SD: ZF PF CF from an ordered comparison (all three when unordered),
 * OF SF AF cleared. Shared by the x87 and SSE handlers.
 */
export function compareToEflags(c: LazyFlags, a: number, b: number): void {
  let fl: number;
  if (a !== a || b !== b) fl = Flag.ZF | Flag.PF | Flag.CF;
  else if (a > b) fl = 0;
  else if (a < b) fl = Flag.CF;
  else fl = Flag.ZF;
  c.lfOp = LfOp.EAGER;
  c.arith = fl;
}

/** Rewrites some arithmetic flags, keeping the others: materializes first. */
export function updateFlags(c: LazyFlags, mask: number, bits: number): void {
  const cur = materializeFlags(c);
  c.arith = (cur & ~mask) | (bits & mask);
  c.lfOp = LfOp.EAGER;
}

/**
 * Evaluates condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc). After CMP and TEST on
 * operands up to 4 bytes, the common conditions are answered from the operands directly.
 */
export function cond(c: LazyFlags, cc: number): boolean {
  if (c.lfOp === LfOp.SUB && c.lfSize !== 8) {
    const sh = 32 - 8 * c.lfSize;
    const d = c.lfDst << sh;
    const s = c.lfSrc << sh;
    switch (cc) {
      case 2: return (d >>> 0) < (s >>> 0);
      case 3: return (d >>> 0) >= (s >>> 0);
      case 4: return d === s;
      case 5: return d !== s;
      case 6: return (d >>> 0) <= (s >>> 0);
      case 7: return (d >>> 0) > (s >>> 0);
      case 12: return d < s;
      case 13: return d >= s;
      case 14: return d <= s;
      case 15: return d > s;
      default: break;
    }
  } else if (c.lfOp === LfOp.SUB) {
    // 64-bit CMP/SUB: compare the high halves, then the low halves unsigned.
    const dh = c.lfDstHi;
    const sh = c.lfSrcHi;
    const dl = c.lfDst >>> 0;
    const sl = c.lfSrc >>> 0;
    switch (cc) {
      case 2: return (dh >>> 0) < (sh >>> 0) || (dh === sh && dl < sl);
      case 3: return (dh >>> 0) > (sh >>> 0) || (dh === sh && dl >= sl);
      case 4: return dh === sh && dl === sl;
      case 5: return dh !== sh || dl !== sl;
      case 6: return (dh >>> 0) < (sh >>> 0) || (dh === sh && dl <= sl);
      case 7: return (dh >>> 0) > (sh >>> 0) || (dh === sh && dl > sl);
      case 12: return dh < sh || (dh === sh && dl < sl);
      case 13: return dh > sh || (dh === sh && dl >= sl);
      case 14: return dh < sh || (dh === sh && dl <= sl);
      case 15: return dh > sh || (dh === sh && dl > sl);
      default: break;
    }
  } else if (c.lfOp === LfOp.LOGIC && c.lfSize !== 8) {
    const r = c.lfRes << (32 - 8 * c.lfSize);
    switch (cc) {
      case 4: return r === 0;
      case 5: return r !== 0;
      case 8: case 12: return r < 0;
      case 9: case 13: return r >= 0;
      case 14: return r <= 0;
      case 15: return r > 0;
      default: break;
    }
  }
  let v: number;
  switch (cc >> 1) {
    case 0: v = getOF(c); break;
    case 1: v = getCF(c); break;
    case 2: v = getZF(c); break;
    case 3: v = getCF(c) | getZF(c); break;
    case 4: v = getSF(c); break;
    case 5: v = getPF(c); break;
    case 6: v = getSF(c) ^ getOF(c); break;
    default: v = getZF(c) | (getSF(c) ^ getOF(c)); break;
  }
  return (v ^ (cc & 1)) !== 0;
}

/** Snapshot of the lazy-flag state, to undo the flag update of an instruction whose memory write faults. */
const snap = new Int32Array(10);
export function saveLazyFlags(c: LazyFlags): void {
  snap[0] = c.lfOp; snap[1] = c.lfSize; snap[2] = c.lfDst; snap[3] = c.lfDstHi; snap[4] = c.lfSrc;
  snap[5] = c.lfSrcHi; snap[6] = c.lfRes; snap[7] = c.lfResHi; snap[8] = c.lfAux; snap[9] = c.arith;
}
export function restoreLazyFlags(c: LazyFlags): void {
  c.lfOp = snap[0]; c.lfSize = snap[1]; c.lfDst = snap[2]; c.lfDstHi = snap[3]; c.lfSrc = snap[4];
  c.lfSrcHi = snap[5]; c.lfRes = snap[6]; c.lfResHi = snap[7]; c.lfAux = snap[8]; c.arith = snap[9];
}
