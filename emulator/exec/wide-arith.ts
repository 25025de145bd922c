/**
 * 64x64 -> 128-bit multiply and 128 / 64-bit divide on 32-bit limbs, for the 64-bit forms of
 * MUL, IMUL, DIV and IDIV (and the 32-bit DIV/IDIV with a non-trivial EDX). BigInt would allocate
 * on every instruction (26 MB of the 71 MB sampled in a tiny-Linux boot), so everything here is
 * plain numbers: partial products stay below 2^53, where doubles are exact.
 *
 * Results go to the module's scratch words, read by the caller right after the call: `W` holds a
 * 128-bit product as four int32 limbs, least significant first; a division leaves the quotient in
 * W[0], W[1] and the remainder in W[2], W[3].
 */
export const W = new Int32Array(4);

const TWO32 = 4294967296;

/** High 32 bits of the unsigned product of two uint32 values (exact, as an int32). */
export function mulHighU32(a: number, b: number): number {
  a >>>= 0; b >>>= 0;
  const p1 = (a & 0xffff) * b;
  const p2 = (a >>> 16) * b;
  const q = p2 + Math.floor(p1 / 65536);
  return Math.floor(q / 65536) | 0;
}

/** High 32 bits of the signed product of two int32 values. */
export function mulHighS32(a: number, b: number): number {
  let h = mulHighU32(a, b);
  if (a < 0) h = (h - b) | 0;
  if (b < 0) h = (h - a) | 0;
  return h;
}

/**
 * W = a * b as a 128-bit product (a = aHi:aLo, b = bHi:bLo); `signed` reads both as int64.
 * The signed product is the unsigned one minus b << 64 when a < 0 and minus a << 64 when b < 0.
 */
export function mul64(aLo: number, aHi: number, bLo: number, bHi: number, signed: boolean): void {
  const a0 = aLo >>> 0, a1 = aHi >>> 0, b0 = bLo >>> 0, b1 = bHi >>> 0;
  // Column sums of the four 32x32 partial products: at most 3 * 2^32, exact.
  const t1 = (mulHighU32(a0, b0) >>> 0) + (Math.imul(a0, b1) >>> 0) + (Math.imul(a1, b0) >>> 0);
  const t2 = (mulHighU32(a0, b1) >>> 0) + (mulHighU32(a1, b0) >>> 0) + (Math.imul(a1, b1) >>> 0) + Math.floor(t1 / TWO32);
  let w2 = t2 >>> 0;
  let w3 = ((mulHighU32(a1, b1) >>> 0) + Math.floor(t2 / TWO32)) >>> 0;
  if (signed) {
    if ((aHi | 0) < 0) { const lo = w2 - b0; w2 = lo >>> 0; w3 = (w3 - b1 - (lo < 0 ? 1 : 0)) >>> 0; }
    if ((bHi | 0) < 0) { const lo = w2 - a0; w2 = lo >>> 0; w3 = (w3 - a1 - (lo < 0 ? 1 : 0)) >>> 0; }
  }
  W[0] = Math.imul(a0, b0);
  W[1] = t1;
  W[2] = w2;
  W[3] = w3;
}

/** Whether the 128-bit product in W is the sign extension of its low 64 bits (IMUL's CF = OF = 0). */
export function productFits64Signed(): boolean {
  const ext = W[1] >> 31;
  return W[2] === ext && W[3] === ext;
}

/**
 * Unsigned n3:n2:n1:n0 / dHi:dLo (each an int32 limb, read as unsigned). Returns false, leaving W
 * alone, when the divisor is 0 or the quotient needs more than 64 bits; otherwise true with the
 * quotient in W[0..1] and the remainder in W[2..3].
 */
export function divU128(n0: number, n1: number, n2: number, n3: number, dLo: number, dHi: number): boolean {
  const d0 = dLo >>> 0, d1 = dHi >>> 0;
  const h0 = n2 >>> 0, h1 = n3 >>> 0;
  // The quotient fits in 64 bits exactly when the dividend's high half is below the divisor.
  if (h1 > d1 || (h1 === d1 && h0 >= d0)) return false;
  if (d1 === 0) return divBy32(n0 >>> 0, n1 >>> 0, h0, d0);
  return divBy64(n0 >>> 0, n1 >>> 0, h0, h1, d0, d1);
}

/**
 * Divisor below 2^32: long division in 16-bit digits, starting from the remainder h0 < d.
 * Each partial dividend r * 2^16 + digit stays below 2^48, so the double division is exact.
 */
function divBy32(n0: number, n1: number, h0: number, d: number): boolean {
  let r = h0;
  let t = r * 65536 + (n1 >>> 16); const q3 = Math.floor(t / d); r = t - q3 * d;
  t = r * 65536 + (n1 & 0xffff); const q2 = Math.floor(t / d); r = t - q2 * d;
  t = r * 65536 + (n0 >>> 16); const q1 = Math.floor(t / d); r = t - q1 * d;
  t = r * 65536 + (n0 & 0xffff); const q0 = Math.floor(t / d); r = t - q0 * d;
  W[0] = q1 * 65536 + q0;
  W[1] = q3 * 65536 + q2;
  W[2] = r;
  W[3] = 0;
  return true;
}

/**
 * Divisor of 2^32 or more: restoring binary division of n1:n0 with the running remainder starting
 * at h1:h0 < d. The quotient has at most 64 bits; only the bit positions from the dividend's top
 * set bit down are visited.
 */
function divBy64(n0: number, n1: number, h0: number, h1: number, d0: number, d1: number): boolean {
  let rLo = h0, rHi = h1;
  let qLo = 0, qHi = 0;
  let i = 63;
  // While the remainder is 0, shifting in the dividend's leading zero bits yields zero quotient bits.
  if (rLo === 0 && rHi === 0) i = n1 !== 0 ? 63 - Math.clz32(n1) : 31 - Math.clz32(n0);
  for (; i >= 0; i--) {
    const bit = i >= 32 ? (n1 >>> (i - 32)) & 1 : (n0 >>> i) & 1;
    const carry = rHi >>> 31;
    rHi = ((rHi << 1) | (rLo >>> 31)) >>> 0;
    rLo = ((rLo << 1) | bit) >>> 0;
    if (carry !== 0 || rHi > d1 || (rHi === d1 && rLo >= d0)) {
      const lo = rLo - d0;
      rLo = lo >>> 0;
      rHi = (rHi - d1 - (lo < 0 ? 1 : 0)) >>> 0;
      if (i >= 32) qHi |= 1 << (i - 32);
      else qLo |= 1 << i;
    }
  }
  W[0] = qLo;
  W[1] = qHi;
  W[2] = rLo;
  W[3] = rHi;
  return true;
}

/**
 * Signed n3:n2:n1:n0 / dHi:dLo (two's complement) truncated toward zero, as IDIV does: the
 * remainder takes the dividend's sign. Returns false when the divisor is 0 or the quotient is
 * outside [-2^(bits-1), 2^(bits-1)) for a `bits`-wide result (32 or 64).
 */
export function divS128(n0: number, n1: number, n2: number, n3: number, dLo: number, dHi: number, bits: number): boolean {
  const nNeg = (n3 | 0) < 0, dNeg = (dHi | 0) < 0;
  if (nNeg) {
    // Two's complement negation of the 128-bit dividend: invert and add one, carrying up.
    n0 = (~n0 + 1) | 0;
    let c = n0 === 0 ? 1 : 0;
    n1 = (~n1 + c) | 0; c = c !== 0 && n1 === 0 ? 1 : 0;
    n2 = (~n2 + c) | 0; c = c !== 0 && n2 === 0 ? 1 : 0;
    n3 = (~n3 + c) | 0;
  }
  if (dNeg) {
    dLo = (~dLo + 1) | 0;
    dHi = (~dHi + (dLo === 0 ? 1 : 0)) | 0;
  }
  if (!divU128(n0, n1, n2, n3, dLo, dHi)) return false;
  const neg = nNeg !== dNeg;
  // Magnitude limit: 2^(bits-1) for a negative quotient, 2^(bits-1) - 1 for a positive one.
  const qLo = W[0] >>> 0, qHi = W[1] >>> 0;
  if (bits === 64) {
    if (qHi > 0x80000000 || (qHi === 0x80000000 && (qLo !== 0 || !neg))) return false;
  } else if (qHi !== 0 || qLo > 0x80000000 || (qLo === 0x80000000 && !neg)) {
    return false;
  }
  if (neg) {
    const lo = (~W[0] + 1) | 0;
    W[1] = (~W[1] + (lo === 0 ? 1 : 0)) | 0;
    W[0] = lo;
  }
  if (nNeg) {
    const lo = (~W[2] + 1) | 0;
    W[3] = (~W[3] + (lo === 0 ? 1 : 0)) | 0;
    W[2] = lo;
  }
  return true;
}
