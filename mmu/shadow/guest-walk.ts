import { Access, type TableMemory, type WalkContext, WalkResult, walk } from '../../emulator/paging/walker.js';
import { PagingMode, Pte, PTE_HI_XD } from '../../emulator/paging/format.js';
import { ACC_EXEC_MASK, ACC_USER_MASK, ACC_WRITE_MASK, ACC_ALL } from '../spte.js';
import { FRAMES_PER_LO, PAGE_SHIFT, PAGE_SIZE, type Gfn, gpa, gpaToGfn } from '../../emulator/arch/address.js';

/**
 * KVM's software walk of the guest's page tables (paging_tmpl.h, FNAME(walk_addr_generic)), on
 * the same walker the hardware uses, plus what the shadow MMU needs from it: per level the
 * guest table's frame, the entry, and the access accumulated above it (pt_access), so that
 * FNAME(fetch) can build a shadow page per guest table with the right role.
 *
 * Levels are numbered as in the guest's format: 1 is the page table. A 32-bit guest's walk
 * has levels 2 and 1; a PAE guest's also 2 and 1 (its PDPTEs are registers, not a table).
 */
export class GuestWalk {
  /** The walk succeeded; otherwise `errorCode` is what the guest gets with its #PF. */
  ok = false;
  errorCode = 0;
  /** Level of the leaf entry (1 for a 4 KiB page, 2 or 3 for large pages). */
  level = 0;
  /** The 4 KiB guest frame the address maps to. */
  gfn = 0 as Gfn;
  /** ACC_* rights of the whole path (pte_access), after protect_clean_gpte for non-writes. */
  pteAccess = 0;
  /** Guest-physical address of the entry read at each level. */
  readonly pteGpa = new Float64Array(6);
  /** Frame of the guest table holding the entry of each level (table_gfn). */
  readonly tableGfn = new Float64Array(6);
  /** ACC_* rights accumulated from the levels above each level (pt_access). */
  readonly ptAccess = new Uint8Array(6);
  readonly gpteLo = new Int32Array(6);
  readonly gpteHi = new Int32Array(6);
  /** Top level of the walk (4 or 5 for 64-bit paging, 2 otherwise). */
  top = 0;
  /** The walker's result: the entries read, top level down to result.level, also after a fault (tracing reads them). */
  readonly result = new WalkResult();

  /**
   * Walks `ctx`'s tables for (lo, hi) with `access` (Access bits). A/D bits are set as the
   * walk succeeds, as KVM's walker does.
   */
  run(ctx: WalkContext, mem: TableMemory, lo: number, hi: number, access: number): boolean {
    const out = this.result;
    this.ok = walk(ctx, mem, lo, hi, access, out);
    const format = ctx.format;
    this.top = format.levels;
    if (!this.ok) {
      this.errorCode = out.errorCode;
      return false;
    }
    this.level = out.level;
    this.gfn = gpaToGfn(gpa(out.gpa));
    const wide = format.wide;
    let acc = ACC_ALL;
    for (let level = this.top; level >= this.level; level--) {
      const addr = out.pteAddr[level];
      this.pteGpa[level] = addr;
      this.tableGfn[level] = Math.floor(addr / PAGE_SIZE);
      this.ptAccess[level] = acc;
      const gLo = out.pteLo[level];
      const gHi = out.pteHi[level];
      this.gpteLo[level] = gLo;
      this.gpteHi[level] = gHi;
      acc &= gpteAccess(gLo, gHi, wide, ctx.nxe);
    }
    // FNAME(protect_clean_gpte): a clean leaf is mapped read-only so the first write is seen.
    if ((access & Access.WRITE) === 0 && (this.gpteLo[this.level] & Pte.D) === 0) acc &= ~ACC_WRITE_MASK;
    this.pteAccess = acc;
    return true;
  }
}

/** FNAME(gpte_access): the rights one entry grants, as ACC_* bits. */
export function gpteAccess(lo: number, hi: number, wide: boolean, nxe: boolean): number {
  let acc = ACC_EXEC_MASK;
  if ((lo & Pte.RW) !== 0) acc |= ACC_WRITE_MASK;
  if ((lo & Pte.US) !== 0) acc |= ACC_USER_MASK;
  if (wide && nxe && (hi & PTE_HI_XD) !== 0) acc &= ~ACC_EXEC_MASK;
  return acc;
}

/** gpte_to_gfn for a 4 KiB page-table entry. */
export function gpteGfn(lo: number, hi: number, wide: boolean, physHigh: number): Gfn {
  return (wide ? (hi & physHigh) * FRAMES_PER_LO + (lo >>> PAGE_SHIFT) : lo >>> PAGE_SHIFT) as Gfn;
}

/** Physical-address bits of an entry's high half below MAXPHYADDR (bits 51:32 that are not reserved). */
export function physHighMask(ctx: WalkContext): number {
  return ~ctx.reservedHigh & ~PTE_HI_XD & 0x000fffff;
}

/**
 * FNAME(prefetch_invalid_gpte): a guest PTE the shadow MMU must not map speculatively or keep
 * on sync: not present, not accessed (the guest would not see A set), or with reserved bits.
 */
export function gpteInvalidForPrefetch(ctx: WalkContext, lo: number, hi: number): boolean {
  if ((lo & Pte.P) === 0 || (lo & Pte.A) === 0) return true;
  return ctx.format.wide && (hi & ctx.reservedHigh) !== 0;
}

/** Whether the guest walks 4-byte entries (32-bit paging). */
export function hasFourByteGptes(ctx: WalkContext): boolean {
  return ctx.format.mode === PagingMode.BITS32;
}
