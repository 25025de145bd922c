/**
 * Branded address types. They share the representation of a plain number (every one of them fits in
 * 53 bits: guest-physical and host-physical addresses are at most 52 bits wide), but the compiler
 * keeps them apart so a guest-physical address is never passed where a host-physical one is meant.
 *
 * Guest-virtual (linear) addresses are 64 bits wide and do not fit a double exactly; on hot paths
 * they travel as a (lo, hi) pair of 32-bit integers. `Gva` is used where a linear address is known to
 * be canonical and is handled as a bigint off the hot path (reports, traces, tests).
 */
declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Guest-physical address (bytes). */
export type Gpa = Brand<number, 'Gpa'>;
/** Guest frame number: a Gpa shifted right by 12. */
export type Gfn = Brand<number, 'Gfn'>;
/** Host-physical address: a byte offset into the host arena. */
export type Hpa = Brand<number, 'Hpa'>;
/** Host frame number: an Hpa shifted right by 12. */
export type Hfn = Brand<number, 'Hfn'>;
/** Guest-virtual (linear) address, as an unsigned 64-bit bigint. Off the hot path only. */
export type Gva = Brand<bigint, 'Gva'>;

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const PAGE_MASK = PAGE_SIZE - 1;

export const gpa = (n: number): Gpa => n as Gpa;
export const hpa = (n: number): Hpa => n as Hpa;
export const gfn = (n: number): Gfn => n as Gfn;
export const hfn = (n: number): Hfn => n as Hfn;
export const gva = (n: bigint): Gva => BigInt.asUintN(64, n) as Gva;

export const gpaToGfn = (a: Gpa): Gfn => Math.floor(a / PAGE_SIZE) as Gfn;
export const gfnToGpa = (f: Gfn): Gpa => (f * PAGE_SIZE) as Gpa;
export const hpaToHfn = (a: Hpa): Hfn => Math.floor(a / PAGE_SIZE) as Hfn;
export const hfnToHpa = (f: Hfn): Hpa => (f * PAGE_SIZE) as Hpa;

/** A linear address given as its two 32-bit halves, turned into a Gva for reports. */
export function gvaFromPair(lo: number, hi: number): Gva {
  return ((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)) as Gva;
}

export function hex(n: number | bigint, width = 0): string {
  const s = (typeof n === 'bigint' ? BigInt.asUintN(64, n) : n).toString(16);
  return '0x' + s.padStart(width, '0');
}
