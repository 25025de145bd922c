import type { Vcpu } from '../cpu/vcpu.js';
import { family } from './registry.js';
import { LfOp, getCF, loadArithFlags, materializeFlags, setLazy, setLazy64 } from './flags.js';
import { V, Val, toE } from './operand-flow.js';
import { Flag } from '../arch/eflags.js';

/**
 * Group 2 shifts and rotates (ROL ROR RCL RCR SHL SHR SAL SAR) by 1, CL or an immediate, and
 * SHLD/SHRD (SDM Vol. 2 "SAL/SAR/SHL/SHR", "RCL/RCR/ROL/ROR", "SHLD", "SHRD").
 * A masked count of zero changes neither flags nor the destination value (a 32-bit register
 * destination is still zero-extended, as the write happens).
 */
export const enum ShiftOp { ROL = 0, ROR = 1, RCL = 2, RCR = 3, SHL = 4, SHR = 5, SAL = 6, SAR = 7 }

let outHi = 0;

/** 64-bit shifts of a (lo, hi) pair by 0 < n < 64; low half returned, high half in outHi. */
function shl64(lo: number, hi: number, n: number): number {
  if (n >= 32) { outHi = lo << (n - 32); return 0; }
  outHi = (hi << n) | (lo >>> (32 - n));
  return lo << n;
}
function shr64(lo: number, hi: number, n: number): number {
  if (n >= 32) { outHi = 0; return hi >>> (n - 32); }
  outHi = hi >>> n;
  return (lo >>> n) | (hi << (32 - n));
}
function sar64(lo: number, hi: number, n: number): number {
  if (n >= 32) { outHi = hi >> 31; return hi >> (n - 32); }
  outHi = hi >> n;
  return (lo >>> n) | (hi << (32 - n));
}

const PARITY_EVEN = (v: number): boolean => {
  let x = v & 0xff;
  x ^= x >> 4; x ^= x >> 2; x ^= x >> 1;
  return (x & 1) === 0;
};

/** SF, ZF and PF of a result of `size` bytes, as RFLAGS bits. */
function resultFlags(size: number, lo: number, hi: number): number {
  let f = PARITY_EVEN(lo) ? Flag.PF : 0;
  if (size === 8) {
    if (lo === 0 && hi === 0) f |= Flag.ZF;
    if (hi < 0) f |= Flag.SF;
  } else {
    const v = lo << (32 - 8 * size);
    if (v === 0) f |= Flag.ZF;
    if (v < 0) f |= Flag.SF;
  }
  return f;
}

function msb(size: number, lo: number, hi: number): number {
  return size === 8 ? hi >>> 31 : (lo >>> (8 * size - 1)) & 1;
}

/** Sets CF and OF, keeping the other arithmetic flags (rotates). */
function setCfOf(cpu: Vcpu, cf: number, of: number): void {
  const f = materializeFlags(cpu) & ~(Flag.CF | Flag.OF);
  loadArithFlags(cpu, f | (cf ? Flag.CF : 0) | (of ? Flag.OF : 0));
}

/** Rotates and shifts of sizes 1, 2, 4; returns the result, records flags. `count` is already masked and nonzero. */
function shiftSmall(cpu: Vcpu, op: ShiftOp, size: number, v: number, count: number): number {
  const bits = 8 * size;
  const mask = size === 4 ? -1 : (1 << bits) - 1;
  v &= mask;
  switch (op) {
    case ShiftOp.SHL: case ShiftOp.SAL: {
      const r = count >= 32 ? 0 : v << count;
      setLazy(cpu, LfOp.SHL, size, v, count, r);
      return r;
    }
    case ShiftOp.SHR: {
      const r = count >= 32 ? 0 : v >>> count;
      setLazy(cpu, LfOp.SHR, size, v, count, r);
      return r;
    }
    case ShiftOp.SAR: {
      const sv = (v << (32 - bits)) >> (32 - bits);
      const r = sv >> Math.min(count, 31);
      setLazy(cpu, LfOp.SAR, size, v, count, r);
      return r;
    }
    case ShiftOp.ROL: {
      const n = count % bits;
      const r = n === 0 ? v : ((v << n) | (v >>> (bits - n))) & mask;
      const cf = r & 1;
      setCfOf(cpu, cf, msb(size, r, 0) ^ cf);
      return r;
    }
    case ShiftOp.ROR: {
      const n = count % bits;
      const r = n === 0 ? v : ((v >>> n) | (v << (bits - n))) & mask;
      const top = msb(size, r, 0);
      setCfOf(cpu, top, top ^ ((r >>> (bits - 2)) & 1));
      return r;
    }
    case ShiftOp.RCL: {
      const n = size === 4 ? count : count % (bits + 1);
      if (n === 0) return v;
      let r = v;
      let cf = getCF(cpu);
      for (let k = 0; k < n; k++) {
        const out = msb(size, r, 0);
        r = ((r << 1) | cf) & mask;
        cf = out;
      }
      setCfOf(cpu, cf, msb(size, r, 0) ^ cf);
      return r;
    }
    default: { // RCR
      const n = size === 4 ? count : count % (bits + 1);
      if (n === 0) return v;
      let r = v;
      let cf = getCF(cpu);
      const of = msb(size, v, 0) ^ cf;
      for (let k = 0; k < n; k++) {
        const out = r & 1;
        r = ((r >>> 1) | (cf << (bits - 1))) & mask;
        cf = out;
      }
      setCfOf(cpu, cf, of);
      return r;
    }
  }
}

/** The same for 8-byte operands; the high half of the result goes to outHi. */
function shift64(cpu: Vcpu, op: ShiftOp, lo: number, hi: number, count: number): number {
  switch (op) {
    case ShiftOp.SHL: case ShiftOp.SAL: {
      const r = shl64(lo, hi, count);
      setLazy64(cpu, LfOp.SHL, lo, hi, count, 0, r, outHi);
      return r;
    }
    case ShiftOp.SHR: {
      const r = shr64(lo, hi, count);
      setLazy64(cpu, LfOp.SHR, lo, hi, count, 0, r, outHi);
      return r;
    }
    case ShiftOp.SAR: {
      const r = sar64(lo, hi, count);
      setLazy64(cpu, LfOp.SAR, lo, hi, count, 0, r, outHi);
      return r;
    }
    case ShiftOp.ROL: case ShiftOp.ROR: {
      const n = op === ShiftOp.ROL ? count : 64 - count;
      const a = shl64(lo, hi, n);
      const ah = outHi;
      const b = shr64(lo, hi, 64 - n);
      const r = a | b;
      outHi = ah | outHi;
      if (op === ShiftOp.ROL) { const cf = r & 1; setCfOf(cpu, cf, (outHi >>> 31) ^ cf); } else {
        const top = outHi >>> 31;
        setCfOf(cpu, top, top ^ ((outHi >>> 30) & 1));
      }
      return r;
    }
    default: { // RCL, RCR through a 65-bit value; rare, so BigInt is fine here
      const cfIn = BigInt(getCF(cpu));
      const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
      const n = BigInt(count);
      let full = (cfIn << 64n) | v; // 65 bits: CF above the value
      const M = (1n << 65n) - 1n;
      if (op === ShiftOp.RCL) full = ((full << n) | (full >> (65n - n))) & M;
      else full = ((full >> n) | (full << (65n - n))) & M;
      const r = full & ((1n << 64n) - 1n);
      const cf = Number(full >> 64n);
      const msbR = Number(r >> 63n);
      const of = op === ShiftOp.RCL ? msbR ^ cf : (hi >>> 31) ^ Number(cfIn);
      setCfOf(cpu, cf, of);
      outHi = Number(BigInt.asIntN(32, r >> 32n));
      return Number(BigInt.asIntN(32, r));
    }
  }
}

/** Group 2: operands "E,1", "E,CL", "E,I"; the count arrives in V[Val.B]. */
export const SHIFT = family('shift', (form) => {
  const size = form.size;
  const op = form.variant as ShiftOp;
  const countMask = size === 8 ? 0x3f : 0x1f;
  const mem = form.mem;
  return toE(form, (cpu) => {
    const count = V[Val.B] & countMask;
    const v = V[Val.A];
    // A zero count writes a register destination unchanged (zero-extending a 32-bit one) and
    // leaves memory alone.
    if (count === 0) { V[Val.R] = v; V[Val.RHI] = V[Val.AHI]; return !mem; }
    if (size === 8) { V[Val.R] = shift64(cpu, op, v, V[Val.AHI], count); V[Val.RHI] = outHi; } else {
      V[Val.R] = shiftSmall(cpu, op, size, v, count);
      V[Val.RHI] = 0;
    }
    return true;
  });
});

/**
 * SHLD/SHRD E,G,count (variant 0 = SHLD, 1 = SHRD). Flags: CF = last bit shifted out of the
 * destination, OF (count 1) = sign change, SF/ZF/PF from the result; AF undefined (cleared).
 */
export const SHXD = family('shxd', (form) => {
  const size = form.size;
  const right = form.variant === 1;
  const bits = 8 * size;
  const mem = form.mem;
  return toE(form, (cpu) => {
    const count = V[Val.C] & (size === 8 ? 0x3f : 0x1f);
    const v = V[Val.A], vh = V[Val.AHI];
    if (count === 0) { V[Val.R] = v; V[Val.RHI] = vh; return !mem; }
    const s = V[Val.B], sh = V[Val.BHI];
    let res: number, rh = 0, cf: number;
    if (size === 8) {
      if (!right) {
        const a = shl64(v, vh, count); const ah = outHi;
        const b = shr64(s, sh, 64 - count);
        res = a | b; rh = ah | outHi;
        cf = count <= 32 ? (vh >>> (32 - count)) & 1 : (v >>> (64 - count)) & 1;
      } else {
        const a = shr64(v, vh, count); const ah = outHi;
        const b = shl64(s, sh, 64 - count);
        res = a | b; rh = ah | outHi;
        cf = count <= 32 ? (v >>> (count - 1)) & 1 : (vh >>> (count - 33)) & 1;
      }
    } else {
      // Work on dst:src:dst; for counts up to the operand width this is exactly the SDM's
      // concatenation, and for the architecturally undefined 16-bit counts above 16 it gives
      // what Intel parts give.
      const mask = size === 4 ? 0xffffffff : (1 << bits) - 1;
      const B = BigInt(bits);
      const big = (BigInt((v & mask) >>> 0) << (2n * B)) | (BigInt((s & mask) >>> 0) << B) | BigInt((v & mask) >>> 0);
      const n = BigInt(count);
      if (!right) {
        const shifted = big << n;
        res = Number(BigInt.asIntN(32, (shifted >> (2n * B)) & BigInt(mask)));
        cf = Number((shifted >> (3n * B)) & 1n);
      } else {
        res = Number(BigInt.asIntN(32, (big >> n) & BigInt(mask)));
        cf = Number((big >> (n - 1n)) & 1n);
      }
    }
    const of = msb(size, res, rh) ^ msb(size, v, vh);
    V[Val.R] = res; V[Val.RHI] = rh;
    loadArithFlags(cpu, resultFlags(size, res, rh) | (cf ? Flag.CF : 0) | (of ? Flag.OF : 0));
    return true;
  });
});
