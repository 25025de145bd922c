/**
 * 64-bit integer helpers on (lo, hi) pairs of 32-bit integers. Registers are kept this way because
 * V8 runs int32 arithmetic several times faster than BigInt (see reference/js-performance.md).
 * Functions that must return two halves return the low half and leave the high half in `u64.hi`,
 * a module-level scratch slot, so nothing is allocated.
 */
export const TWO32 = 4294967296;

/** Scratch for the high half of a result. Read it immediately after the call that set it. */
export const u64 = { hi: 0 };

/** Unsigned value of a pair as a double; exact below 2^53, used for addresses and counters. */
export function pairToNumber(lo: number, hi: number): number {
  return (hi >>> 0) * TWO32 + (lo >>> 0);
}

export function pairToBigInt(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Low half of a bigint, with the high half in u64.hi. */
export function bigIntToPair(v: bigint): number {
  u64.hi = Number(BigInt.asIntN(32, v >> 32n));
  return Number(BigInt.asIntN(32, v));
}

/** Low half of an unsigned double below 2^64 (exact below 2^53), high half in u64.hi. */
export function numberToPair(n: number): number {
  const hi = Math.floor(n / TWO32);
  u64.hi = hi | 0;
  return (n - hi * TWO32) | 0;
}

/** (alo,ahi) + (blo,bhi); low half returned, high half in u64.hi. */
export function add64(alo: number, ahi: number, blo: number, bhi: number): number {
  const lo = (alo >>> 0) + (blo >>> 0);
  u64.hi = (ahi + bhi + (lo >= TWO32 ? 1 : 0)) | 0;
  return lo | 0;
}

/** (alo,ahi) - (blo,bhi); low half returned, high half in u64.hi. */
export function sub64(alo: number, ahi: number, blo: number, bhi: number): number {
  const borrow = (alo >>> 0) < (blo >>> 0) ? 1 : 0;
  u64.hi = (ahi - bhi - borrow) | 0;
  return (alo - blo) | 0;
}

/** Unsigned comparison of two pairs: -1, 0 or 1. */
export function cmpU64(alo: number, ahi: number, blo: number, bhi: number): number {
  if (ahi !== bhi) return (ahi >>> 0) < (bhi >>> 0) ? -1 : 1;
  if (alo !== blo) return (alo >>> 0) < (blo >>> 0) ? -1 : 1;
  return 0;
}

/** Whether a 64-bit linear address is canonical for the given number of virtual-address bits (48 or 57). */
export function isCanonical(lo: number, hi: number, vaBits: number): boolean {
  // Bits 63..(vaBits-1) must all equal bit vaBits-1. vaBits - 1 >= 32, so only the high half matters.
  const shift = 64 - vaBits;
  return ((hi << shift) >> shift) === hi;
}
