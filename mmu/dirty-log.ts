import type { Gfn } from '../emulator/arch/address.js';
import type { Memslot } from '../emulator/machine/memslots.js';
import type { Stats } from './stats.js';
import type { SpteCodec } from './spte.js';

/**
 * Dirty logging, the parts shared by KVM's MMUs: the slot-wide operations each MMU provides (the
 * TDP MMU by walking its roots, the legacy and shadow MMUs by walking rmaps), the dirty-bitmap
 * store, and fast_page_fault's decision. What userspace drives (KVM_MEM_LOG_DIRTY_PAGES,
 * KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG) is in kvm/dirty-log-ioctls.ts.
 *
 * Two ways to log, as in KVM: write protection (SVM, shadow paging, or VMX with pml=N), where the
 * first write after a collection takes a fault that fast_page_fault fixes; and PML (VMX with EPT
 * A/D bits), where KVM clears the D bit of 4 KiB SPTEs (kvm_mmu_slot_leaf_clear_dirty,
 * kvm_mmu_clear_dirty_pt_masked) and the CPU logs the first write into a 512-entry buffer without
 * an exit, write-protecting only huge SPTEs. The model's paging hardware does not set EPT D bits,
 * so a PML-armed 4 KiB SPTE is W and D both clear (MMU-writable kept): the hardware reports the
 * write, and KVM (kvm-vcpu.ts) resolves it as the CPU would, W and D set and the page logged,
 * charged as a PML entry with a PML-full exit every 512, no VM exit. A write-protected SPTE keeps
 * D set, so the two are told apart (fastPfVerdict / pmlVerdict).
 */
export interface DirtyLogMmu {
  /**
   * kvm_mmu_slot_remove_write_access: clears W in every writable leaf SPTE of the slot at
   * `minLevel` or above, keeping MMU-writable so fast_page_fault can give it back. Returns
   * whether a TLB flush is needed. With `pml`, 4 KiB SPTEs are armed for PML instead (W and D
   * clear, see above).
   */
  wrprotSlot(slot: Memslot, minLevel: number, pml: boolean): boolean;
  /**
   * kvm_arch_mmu_enable_log_dirty_pt_masked's write protection: clears W in the SPTEs mapping
   * `gfn` at `level` (1: kvm_mmu_write_protect_pt_masked; 2 and up: the huge pages holding the
   * first and last gfn with KVM_DIRTY_LOG_INITIALLY_SET). Returns whether a flush is needed.
   */
  wrprotGfn(slot: Memslot, gfn: Gfn, level: number, pml: boolean): boolean;
  /**
   * Eager page splitting of [startGfn, endGfn) down to 4 KiB (kvm_tdp_mmu_try_split_huge_pages);
   * a no-op for the MMUs that do not split eagerly.
   */
  splitHugePages(slot: Memslot, startGfn: Gfn, endGfn: Gfn): void;
  /**
   * Huge page recovery when logging stops (kvm_mmu_zap_collapsible_sptes, or in place from 6.13):
   * returns whether a TLB flush is needed.
   */
  recoverHugePages(slot: Memslot): boolean;
}

/** The TDP capable MMUs' fast_page_fault outcome (RET_PF_INVALID goes the slow way). */
export const enum FastPf { INVALID = 0, FIXED = 1, SPURIOUS = 2 }

/** PT_WRITABLE_MASK: W in both the x86 and the EPT format. */
export const SPTE_W = 2;

/**
 * The bits a slot walk clears in a writable leaf at `level`: W (write protection), or for a 4 KiB
 * leaf under PML W and D (armed).
 */
export function wrprotBits(codec: SpteCodec, level: number, pml: boolean): number {
  return level === 1 && pml ? SPTE_W | codec.dirtyLo : SPTE_W;
}

/**
 * The PML case of a write fault: a 4 KiB leaf that dirty logging armed (W and D clear,
 * MMU-writable). The CPU would set D (and, while its slot is logged, log the GPA) without
 * exiting; an armed SPTE left behind when logging stopped is writable to the CPU, as KVM leaves
 * it (W set, D clear).
 */
export function pmlVerdict(codec: SpteCodec, lo: number, hi: number, level: number): boolean {
  return level === 1 && codec.isShadowPresent(lo, hi) && !codec.isMmio(lo, hi) &&
    (lo & (SPTE_W | codec.dirtyLo)) === 0 && codec.dirtyLo !== 0 && codec.isMmuWritable(lo, hi);
}

/**
 * mark_page_dirty_in_slot: sets the page's bit when the slot is logged. Counts bits newly set
 * (a page written twice between two collections is logged once).
 */
export function markPageDirty(slot: Memslot | undefined, gfn: Gfn, stats: Stats): void {
  const bitmap = slot?.dirtyBitmap;
  if (bitmap === undefined) return;
  const k = gfn - slot!.baseGfn;
  if (bitmap[k] === 0) {
    bitmap[k] = 1;
    stats.dirty_pages_logged++;
    const ring = dirtySinks.get(stats);
    if (ring !== undefined) {
      ring.push(slot!.id, k);
      stats.dirty_ring_pushed++;
    }
  }
}

/**
 * A vCPU's dirty ring (kvm/dirty-ring.ts): with rings, mark_page_dirty_in_slot pushes the page to
 * the ring of the vCPU it was dirtied for. The bitmap then only remembers which pages were pushed
 * since their last reset (a page is pushed once per protection, as KVM's faults do), and
 * GET/CLEAR refuse it. The MMUs mark pages with the counters of the vCPU they work for, so the
 * rings are found by those counters.
 */
export interface DirtySink {
  push(slotId: number, offset: number): void;
}

const dirtySinks = new WeakMap<Stats, DirtySink>();

export function attachDirtySink(stats: Stats, sink: DirtySink): void {
  dirtySinks.set(stats, sink);
}

/**
 * fast_page_fault's test for the one case the model has (a write to a present SPTE without W):
 * FIXED when W may be given back without mmu_lock (the SPTE is MMU-writable, and a huge SPTE only
 * outside a logged slot: inside one it must be split by the slow path), SPURIOUS when the SPTE
 * already allows the write (another vCPU fixed it), INVALID otherwise. Not-present faults are
 * never fast: the model's SPTEs always have A/D bits (no access tracking).
 */
export function fastPfVerdict(codec: SpteCodec, lo: number, hi: number, level: number, slot: Memslot | undefined, pmlOnly: boolean): FastPf {
  if (pmlOnly) return pmlVerdict(codec, lo, hi, level) ? FastPf.FIXED : FastPf.INVALID;
  if (!codec.isShadowPresent(lo, hi) || !codec.isLeaf(lo, hi, level) || codec.isMmio(lo, hi)) return FastPf.INVALID;
  if (codec.isWritable(lo)) return FastPf.SPURIOUS;
  if (!codec.isMmuWritable(lo, hi)) return FastPf.INVALID;
  if (level > 1 && slot?.dirtyBitmap !== undefined) return FastPf.INVALID;
  return FastPf.FIXED;
}
