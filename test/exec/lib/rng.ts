/**
 * Seeded deterministic random numbers and operand-value generators for the differential tests.
 *
 * Every test seeds its own generator from its name (and MMULAB_EXEC_SEED when set, to explore
 * other inputs), so a failure reproduces on its own, independent of which other tests ran.
 */

export type Size = 1 | 2 | 4 | 8;

export const MASK: Record<Size, bigint> = { 1: 0xffn, 2: 0xffffn, 4: 0xffffffffn, 8: 0xffffffffffffffffn };
export const SIGN: Record<Size, bigint> = { 1: 0x80n, 2: 0x8000n, 4: 0x80000000n, 8: 0x8000000000000000n };

/** FNV-1a of a string, for seeds. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The seed a test named `name` uses. */
export function seedFor(name: string): number {
  const extra = process.env.MMULAB_EXEC_SEED ?? '';
  return hashString(`${extra}/${name}`);
}

/** xoshiro128** */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // splitmix32 to spread the seed over the state
    const next = (): number => {
      seed = (seed + 0x9e3779b9) | 0;
      let z = seed;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next() | 1;
  }

  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }

  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }

  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.u32();
      b[i] = v;
      if (i + 1 < n) b[i + 1] = v >>> 8;
      if (i + 2 < n) b[i + 2] = v >>> 16;
      if (i + 3 < n) b[i + 3] = v >>> 24;
    }
    return b;
  }

  /** A value of `size` bytes: edge values, random values and values with few bits set. */
  value(size: Size): bigint {
    const r = this.int(100);
    const m = MASK[size];
    if (r < 30) return this.pick(edgeValues(size));
    if (r < 45) {
      // near a boundary
      const base = this.pick([0n, SIGN[size], m, SIGN[size] - 1n, 1n << BigInt(this.int(8 * size))]);
      return BigInt.asUintN(8 * size, base + BigInt(this.range(-3, 3)));
    }
    if (r < 55) {
      // few bits set
      let v = 0n;
      const n = this.range(1, 3);
      for (let k = 0; k < n; k++) v |= 1n << BigInt(this.int(8 * size));
      return this.chance(0.3) ? v ^ m : v;
    }
    if (r < 65) return BigInt(this.int(256)) & m; // small
    return this.u64() & m;
  }

  /** A random 64-bit register image whose low `size` bytes are `v` (upper bytes random). */
  withUpper(v: bigint, size: Size): bigint {
    if (size === 8) return BigInt.asUintN(64, v);
    return (this.u64() & ~MASK[size]) | (v & MASK[size]);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const edgeCache = new Map<Size, bigint[]>();

/** Edge values for an operand size: 0, 1, -1, sign boundaries, powers of two, maxima, patterns. */
export function edgeValues(size: Size): bigint[] {
  const known = edgeCache.get(size);
  if (known) return known;
  const m = MASK[size];
  const s = SIGN[size];
  const bits = 8 * size;
  const v = new Set<bigint>([0n, 1n, 2n, 3n, 7n, 0x7fn, 0x80n, 0xffn, m, m - 1n, s, s - 1n, s + 1n, s >> 1n, (s >> 1n) - 1n,
    (s | (s >> 1n)), m / 3n /* 0x55.. */, (m / 3n) * 2n /* 0xaa.. */, m / 0x11n /* 0x0f0f.. */]);
  for (let k = 0; k < bits; k += Math.max(1, bits / 16)) v.add(1n << BigInt(k));
  const out = [...v].map((x) => x & m);
  edgeCache.set(size, out);
  return out;
}

export function hex(v: bigint, size: Size = 8): string {
  return '0x' + (BigInt.asUintN(8 * size, v)).toString(16).padStart(2 * size, '0');
}

export function signed(v: bigint, size: Size): bigint {
  return BigInt.asIntN(8 * size, v);
}
