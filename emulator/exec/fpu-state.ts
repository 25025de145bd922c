/**
 * The x87 FPU and SSE register state of a vCPU (SDM Vol. 1 chapters 8 and 10), kept apart from the
 * integer state so that the integer hot path never touches it.
 *
 * XMM registers are 16 x 16 bytes in one buffer with integer, float and double views over it (the
 * host is little-endian, as the guest): register r, lane k of a view of n-byte elements is at
 * index r * (16 / n) + k.
 *
 * x87 registers are held by physical number (ST(i) is physical (TOP + i) & 7) as doubles: x87
 * arithmetic is modeled in double precision, as if the control word's precision control were
 * always 53 bits, which is what the x86-64 ABI sets and Linux leaves. An 80-bit load keeps its
 * exact bits beside the double (`raw80`), so an FLD m80 / FSTP m80 or FXSAVE round trip is exact;
 * any operation that writes a register drops them. Tags are the FXSAVE abridged form (bit i set:
 * physical register i is valid). Unmasked x87 and SIMD exceptions are not raised (the status flags
 * are not modeled either); rounding is always to nearest.
 */
export const MXCSR_DEFAULT = 0x1f80;
/** MXCSR bits that exist (DAZ included): what FXSAVE reports as MXCSR_MASK. */
export const MXCSR_MASK = 0xffff;
export const FCW_DEFAULT = 0x037f;

export class FpuState {
  readonly xmmBytes = new Uint8Array(256);
  readonly xmm32 = new Int32Array(this.xmmBytes.buffer);
  readonly xmmF32 = new Float32Array(this.xmmBytes.buffer);
  readonly xmmF64 = new Float64Array(this.xmmBytes.buffer);
  readonly xmmView = new DataView(this.xmmBytes.buffer);
  mxcsr = MXCSR_DEFAULT;

  /** Physical x87 registers as doubles. */
  readonly st = new Float64Array(8);
  /** Exact 80-bit images of registers last loaded from an 80-bit operand: mantissa lo, hi, sign/exponent. */
  readonly raw80Lo = new Int32Array(8);
  readonly raw80Hi = new Int32Array(8);
  readonly raw80Exp = new Uint16Array(8);
  /** Bit i: raw80 of physical register i is valid. */
  raw80Valid = 0;
  fcw = FCW_DEFAULT;
  /** Status word without TOP (bits 13:11), which is kept in `top`. */
  fsw = 0;
  top = 0;
  /** Abridged tag word: bit i set when physical register i holds a value. */
  tags = 0;
  fop = 0;
  fipLo = 0;
  fipHi = 0;
  fdpLo = 0;
  fdpHi = 0;

  /** FNINIT: the state after reset of the x87 part (SSE untouched). */
  initX87(): void {
    this.fcw = FCW_DEFAULT;
    this.fsw = 0;
    this.top = 0;
    this.tags = 0;
    this.raw80Valid = 0;
    this.fop = 0;
    this.fipLo = 0; this.fipHi = 0;
    this.fdpLo = 0; this.fdpHi = 0;
  }

  /** The full status word with TOP. */
  statusWord(): number {
    return (this.fsw & ~0x3800) | (this.top << 11);
  }

  /** Physical register number of ST(i). */
  phys(i: number): number {
    return (this.top + i) & 7;
  }

  /** Pushes a value: TOP decrements and ST(0) becomes valid. (Stack overflow is not faulted.) */
  push(v: number): void {
    this.top = (this.top - 1) & 7;
    this.st[this.top] = v;
    this.tags |= 1 << this.top;
    this.raw80Valid &= ~(1 << this.top);
  }

  /** Pops ST(0): its tag becomes empty and TOP increments. */
  pop(): void {
    this.tags &= ~(1 << this.top);
    this.raw80Valid &= ~(1 << this.top);
    this.top = (this.top + 1) & 7;
  }

  get(i: number): number {
    return this.st[(this.top + i) & 7];
  }

  set(i: number, v: number): void {
    const p = (this.top + i) & 7;
    this.st[p] = v;
    this.tags |= 1 << p;
    this.raw80Valid &= ~(1 << p);
  }

  isEmpty(i: number): boolean {
    return (this.tags & (1 << ((this.top + i) & 7))) === 0;
  }
}

// 80-bit extended precision <-> double (SDM Vol. 1 4.2.2: sign, 15-bit exponent biased by 16383,
// 64-bit significand with an explicit integer bit).

const scratch = new DataView(new ArrayBuffer(8));

/** Converts an 80-bit value (significand lo, hi; sign and exponent) to the nearest double. */
export function f80ToDouble(lo: number, hi: number, se: number): number {
  const sign = (se & 0x8000) !== 0 ? -1 : 1;
  const exp = se & 0x7fff;
  if (exp === 0x7fff) {
    // Infinity if the fraction (below the integer bit) is zero, else a NaN (kept quiet).
    if ((hi & 0x7fffffff) === 0 && lo === 0) return sign * Infinity;
    scratch.setUint32(4, ((se & 0x8000) << 16) | 0x7ff80000 | ((hi >>> 11) & 0x7ffff), true);
    scratch.setUint32(0, ((hi << 21) | (lo >>> 11)) >>> 0, true);
    return scratch.getFloat64(0, true);
  }
  if ((hi | lo) === 0) return sign * 0;
  // value = significand * 2^(exp - 16383 - 63), rounded once to double by splitting into two
  // exactly representable halves whose sum rounds correctly (hi carries 32 bits, lo 32 bits).
  const e = (exp === 0 ? 1 : exp) - 16383 - 63;
  const big = (hi >>> 0) * 4294967296;
  return sign * roundSum(big, lo >>> 0, e);
}

/** (a + b) * 2^e as a double, for a < 2^64 a multiple of 2^32 and b < 2^32. */
function roundSum(a: number, b: number, e: number): number {
  // a and b are exact and one addition rounds once, to nearest-even at 53 bits: the correct
  // rounding of the 64-bit significand. Scaling by 2^e is exact unless the result is subnormal.
  const s = a + b;
  if (e > -1000 && e < 1000) return s * Math.pow(2, e);
  const half = Math.trunc(e / 2);
  return s * Math.pow(2, half) * Math.pow(2, e - half);
}

/** Result of doubleToF80: significand low and high halves, sign and exponent. */
export const f80Out = { lo: 0, hi: 0, se: 0 };

/** A double as 80 bits, exactly, into f80Out. */
export function doubleToF80(v: number): void {
  scratch.setFloat64(0, v, true);
  const dhi = scratch.getUint32(4, true);
  const dlo = scratch.getUint32(0, true);
  const sign = (dhi >>> 31) << 15;
  const dexp = (dhi >>> 20) & 0x7ff;
  let frHi = dhi & 0xfffff;
  let frLo = dlo;
  if (dexp === 0x7ff) {
    // Infinity or NaN: exponent all ones, integer bit set.
    f80Out.lo = (frLo << 11) | 0;
    f80Out.hi = (0x80000000 | (frHi << 11) | (frLo >>> 21)) | 0;
    f80Out.se = sign | 0x7fff;
    return;
  }
  if (dexp === 0 && frHi === 0 && frLo === 0) {
    f80Out.lo = 0; f80Out.hi = 0; f80Out.se = sign;
    return;
  }
  let exp: number;
  if (dexp === 0) {
    // Subnormal double: normalized, since the 80-bit format has the range for it.
    exp = 1 - 1023 + 16383;
    while ((frHi & 0x100000) === 0) {
      frHi = (frHi << 1) | (frLo >>> 31);
      frLo = (frLo << 1) >>> 0;
      exp--;
    }
  } else {
    exp = dexp - 1023 + 16383;
    frHi |= 0x100000;
  }
  // The 53-bit significand 1.fraction goes to the top of the 64-bit field.
  f80Out.hi = ((frHi << 11) | (frLo >>> 21)) | 0;
  f80Out.lo = (frLo << 11) | 0;
  f80Out.se = sign | exp;
}
