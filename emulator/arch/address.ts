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
/**
 * Host address of one SPTE (or of any 8-byte paging-structure entry) in the arena: KVM's sptep,
 * a `u64 *` into a page table. Kept apart from Hpa so a table's address is never used as one of
 * its entries' addresses without the index step (sptepAt).
 */
export type Sptep = Brand<number, 'Sptep'>;

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const PAGE_MASK = PAGE_SIZE - 1;
/** Entries in one 64-bit paging-structure table, the address bits each level consumes, and an entry's size. */
export const PT_ENTRIES = 512;
export const PT_INDEX_BITS = 9;
export const PTE_SIZE = 8;
/** Bytes a 2 MiB and a 1 GiB page map. */
export const PAGE_SIZE_2M = PAGE_SIZE * PT_ENTRIES;
export const PAGE_SIZE_1G = PAGE_SIZE_2M * PT_ENTRIES;
/** Frames per 2^20: the split of a frame number between an entry's low half (bits 31:12) and high half. */
export const FRAMES_PER_LO = 1048576;

/** Address bits below the index of a table at `level` (1 = page table: 12, 2: 21, 3: 30, 4: 39, 5: 48). */
export const levelShift = (level: number): number => PAGE_SHIFT + PT_INDEX_BITS * (level - 1);
/** 4 KiB frames one entry at `level` maps (KVM's KVM_PAGES_PER_HPAGE): 1, 512, 512^2 ... */
export const levelPages = (level: number): number => PT_ENTRIES ** (level - 1);
/** Bytes one entry at `level` maps. */
export const levelSize = (level: number): number => PAGE_SIZE * levelPages(level);

/**
 * SPTE_INDEX / PT64_INDEX: the index into the table at `level` of a 64-bit address given as its
 * two 32-bit halves (bits 31:0 and 63:32), with integer operations only (the walkers' hot path).
 */
export function pageIndex(level: number, lo: number, hi: number): number {
  const shift = levelShift(level);
  if (shift < 32) return ((lo >>> shift) | (shift > 23 ? hi << (32 - shift) : 0)) & (PT_ENTRIES - 1);
  return (hi >>> (shift - 32)) & (PT_ENTRIES - 1);
}
/** The index into the table at `level` of the entry mapping frame `frame`. */
export const gfnIndex = (level: number, frame: Gfn): number => Math.floor(frame / levelPages(level)) % PT_ENTRIES;
/** The first frame of the `level`-sized region holding `frame` (KVM's gfn_round_for_level). */
export const gfnRoundForLevel = (frame: Gfn, level: number): Gfn => (frame - (frame % levelPages(level))) as Gfn;
/** Host address of entry `index` of the table at `table`. */
export const sptepAt = (table: Hpa, index: number): Sptep => (table + index * PTE_SIZE) as Sptep;
/** The index of the SPTE at `s` in its table (SPTE_INDEX of sptep_to_sp's page). */
export const sptepIndex = (s: Sptep): number => (s % PAGE_SIZE) / PTE_SIZE;
/** Host address of the table holding the SPTE at `s`. */
export const sptepPage = (s: Sptep): Hpa => (s - (s % PAGE_SIZE)) as Hpa;

export const gpa = (n: number): Gpa => n as Gpa;
export const hpa = (n: number): Hpa => n as Hpa;
export const gfn = (n: number): Gfn => n as Gfn;
export const hfn = (n: number): Hfn => n as Hfn;
export const gva = (n: bigint): Gva => BigInt.asUintN(64, n) as Gva;
export const sptep = (n: number): Sptep => n as Sptep;

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
