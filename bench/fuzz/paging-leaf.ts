/**
 * A software walk for the page-table fuzzer's comparison: which guest entry is the leaf that maps
 * an address, and which guest-physical address the access reaches. Only presence and the
 * page-size bits are followed (no permission or reserved-bit checks): the caller asks about
 * accesses that the hardware walk completed, and uses the answer to name the one entry whose
 * dirty bit KVM's shadow MMU may leave clear (paging-harness.ts, shadowMmioDirtyDeviation).
 */

export type Format = '4-level' | 'pae' | '32-bit';

export interface Leaf {
  /** Guest-physical address of the leaf entry. */
  readonly entry: number;
  /** Guest-physical address the access reaches, as a double (it may lie above 4 GiB). */
  readonly gpa: number;
}

/** Reads the 4- or 8-byte entry at a guest-physical address as [lo, hi], or undefined outside RAM. */
export type ReadEntry = (gpa: number, size: 4 | 8) => [number, number] | undefined;

const TWO32 = 2 ** 32;

/** Physical address bits 51:12 of a 64-bit entry, as a double. */
function frame64(lo: number, hi: number): number {
  return (hi & 0xfffff) * TWO32 + ((lo & ~0xfff) >>> 0);
}

/**
 * The leaf mapping linear address `va` (lo, hi) from the root table at `root`, or undefined when
 * a level is not present or a table lies outside RAM. `pse`: CR4.PSE (32-bit paging's 4 MiB pages).
 */
export function leafOf(format: Format, root: number, va: readonly [number, number], pse: boolean, read: ReadEntry): Leaf | undefined {
  const [lo, hi] = [va[0] >>> 0, va[1] >>> 0];
  if (format === '32-bit') {
    const pdeAt = root + 4 * (lo >>> 22);
    const pde = read(pdeAt, 4);
    if (pde === undefined || (pde[0] & 1) === 0) return undefined;
    if (pse && (pde[0] & 0x80) !== 0) {
      // 4 MiB page: bits 31:22 of the address, and PSE-36's bits 39:32 from entry bits 20:13.
      const base = ((pde[0] & 0xffc00000) >>> 0) + ((pde[0] >>> 13) & 0xff) * TWO32;
      return { entry: pdeAt, gpa: base + (lo & 0x3fffff) };
    }
    const pteAt = ((pde[0] & ~0xfff) >>> 0) + 4 * ((lo >>> 12) & 0x3ff);
    const pte = read(pteAt, 4);
    if (pte === undefined || (pte[0] & 1) === 0) return undefined;
    return { entry: pteAt, gpa: ((pte[0] & ~0xfff) >>> 0) + (lo & 0xfff) };
  }
  // Table indexes from the top: 4-level uses bits 47:39 first, PAE starts at bits 31:30.
  const indexes = format === '4-level'
    ? [(hi >>> 7) & 511, ((hi & 0x7f) << 2) | (lo >>> 30), (lo >>> 21) & 511, (lo >>> 12) & 511]
    : [lo >>> 30, (lo >>> 21) & 511, (lo >>> 12) & 511];
  // Offset within a page of each size: 1 GiB, 2 MiB, 4 KiB (by levels left after this one).
  const spans = [TWO32 / 4, 2 ** 21, 4096];
  let table = root;
  for (let level = 0; level < indexes.length; level++) {
    const at = table + 8 * indexes[level];
    const e = read(at, 8);
    if (e === undefined || (e[0] & 1) === 0) return undefined;
    const left = indexes.length - 1 - level;
    // PS ends the walk at a PDPTE (4-level only) or a PDE; a PTE is always a leaf.
    const large = (e[0] & 0x80) !== 0 && (left === 1 || (left === 2 && format === '4-level'));
    if (left === 0 || large) {
      const span = spans[spans.length - 1 - left];
      const offset = lo % span;
      return { entry: at, gpa: Math.floor(frame64(e[0], e[1]) / span) * span + offset };
    }
    table = frame64(e[0], e[1]);
  }
  return undefined;
}
