import type { Memslot, Memslots } from '../../emulator/machine/memslots.js';
import type { Gfn } from '../../emulator/arch/address.js';
import { type DirtyLogMmu, attachDirtySink } from '../dirty-log.js';
import { DirtyRing, ringSizeError } from './dirty-ring.js';
import type { Knobs } from '../knobs.js';
import type { CostItem } from '../cost.js';
import type { Stats } from '../stats.js';
import { LockMode } from './mmu-lock.js';

/** KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2's flags. */
export const enum ManualProtect { ENABLE = 1, INITIALLY_SET = 2 }

/** Pages per word of KVM's dirty bitmap (an unsigned long). */
const WORD = 64;

/** What the ioctls need of KVM: the vCPU they run for takes mmu_lock and pays. */
export interface DirtyLogHost {
  readonly memslots: Memslots;
  readonly knobs: Knobs;
  /** Whether the TDP MMU is on (its slot walks take mmu_lock for read, and it splits eagerly). */
  readonly tdpMmu: boolean;
  /** Whether the CPU logs writes (PML: VMX with EPT and the pml knob). */
  readonly pml: boolean;
  /** The MMU's slot operations (the TDP MMU's root walks, or the rmap walks). */
  readonly ops: DirtyLogMmu;
  lock(mode: LockMode): number;
  unlock(mode: LockMode, since: number): void;
  charge(item: CostItem, times?: number): void;
  readonly stats: Stats;
  /** kvm_flush_remote_tlbs_memslot. */
  flushRemoteTlbs(): void;
  /** kvm_arch_sync_dirty_log: every vCPU's PML buffer into the log before it is read. */
  syncDirtyLog(): void;
  /** Each vCPU's counters, by vCPU index (a dirty ring is found by them). */
  readonly vcpuStats: readonly Stats[];
}

/** What KVM_GET_DIRTY_LOG handed back: the bitmap copy and its number of set bits. */
export interface DirtyLogCopy {
  readonly bitmap: Uint8Array;
  readonly dirty: number;
}

/**
 * Dirty logging as userspace drives it (kvm_main.c and x86.c): KVM_SET_USER_MEMORY_REGION with
 * KVM_MEM_LOG_DIRTY_PAGES toggled (a flags-only change, kvm_mmu_slot_apply_flags),
 * KVM_GET_DIRTY_LOG (kvm_get_dirty_log_protect), KVM_CLEAR_DIRTY_LOG (kvm_clear_dirty_log_protect)
 * and KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2. The running vCPU stands for the VMM thread that issues
 * the ioctl: it takes mmu_lock (waiting out other vCPUs' holds) and its clock pays the work.
 * Lock modes as in kvm-concurrency.md 2.2 (5.13+, 24ae4cfaaaa2 for the TDP MMU's read mode).
 */
export class DirtyLogIoctls {
  /** kvm->manual_dirty_log_protect. */
  private manual = 0;
  /** Per-vCPU dirty rings (KVM_CAP_DIRTY_LOG_RING), or null: the bitmap. */
  private rings: DirtyRing[] | null = null;
  /**
   * What the VMM's vCPU thread does at KVM_EXIT_DIRTY_RING_FULL (harvest and reset, on that
   * vCPU's clock); null: nothing frees the ring, and the vCPU exits at every entry.
   */
  onRingFull: ((cpu: number) => void) | null = null;
  /** Test hook: GET and CLEAR skip kvm_arch_sync_dirty_log, so pages still in PML buffers are missed. */
  skipSync = false;

  constructor(private readonly host: DirtyLogHost) {}

  /** KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2): 0, ENABLE, or ENABLE | INITIALLY_SET. */
  enableManualProtect(flags: number): boolean {
    if ((flags & ~(ManualProtect.ENABLE | ManualProtect.INITIALLY_SET)) !== 0) return false;
    if (flags === ManualProtect.INITIALLY_SET) return false;
    this.manual = flags;
    return true;
  }

  /**
   * KVM_ENABLE_CAP(KVM_CAP_DIRTY_LOG_RING) with `entries` per vCPU: a ring for every vCPU, and
   * from then on marked pages go to the rings. Returns why not, as KVM's EINVAL, or undefined.
   */
  enableRing(entries: number): string | undefined {
    const why = ringSizeError(entries, this.host.pml);
    if (why !== undefined) return `ring size ${entries}: ${why}`;
    if (this.rings !== null) return 'the dirty ring is enabled once';
    this.rings = this.host.vcpuStats.map((stats) => {
      const ring = new DirtyRing(entries, this.host.pml);
      attachDirtySink(stats, ring);
      return ring;
    });
    return undefined;
  }

  get ringEnabled(): boolean {
    return this.rings !== null;
  }

  /** Whether vCPU `cpu`'s ring has reached its soft limit (KVM_REQ_DIRTY_RING_SOFT_FULL). */
  ringSoftFull(cpu: number): boolean {
    return this.rings !== null && this.rings[cpu].softFull();
  }

  /**
   * Userspace's harvest of every ring (after kvm_arch_sync_dirty_log, as QEMU kicks the vCPUs
   * first): each DIRTY entry's page handed to `take` and the entry flagged for reset.
   */
  harvestRings(take: (slotId: number, offset: number) => void): number {
    if (this.rings === null) return 0;
    if (!this.skipSync) this.host.syncDirtyLog();
    let n = 0;
    for (const ring of this.rings) n += ring.harvest(take);
    return n;
  }

  /**
   * KVM_RESET_DIRTY_RINGS (kvm_vm_ioctl_reset_dirty_pages): each ring's harvested entries freed,
   * their pages re-protected in masks of up to 64 (kvm_reset_dirty_gfn takes mmu_lock for write
   * per mask: kvm_arch_mmu_enable_log_dirty_pt_masked), then one remote flush if any was reset.
   * Returns the entries reset.
   */
  resetRings(): number {
    const h = this.host;
    if (this.rings === null) return 0;
    let n = 0;
    for (const ring of this.rings) {
      n += ring.reset((slotId, base, bits) => {
        const slot = h.memslots.byId(slotId);
        const bitmap = slot?.dirtyBitmap;
        if (slot === undefined || bitmap === undefined) return;
        const since = h.lock(LockMode.WRITE);
        h.charge('dirtyLogWord');
        for (const b of bits) {
          const k = base + b;
          if (k >= slot.npages || bitmap[k] === 0) continue;
          bitmap[k] = 0;
          h.ops.wrprotGfn(slot, (slot.baseGfn + k) as Gfn, 1, h.pml);
        }
        h.unlock(LockMode.WRITE, since);
      });
    }
    h.stats.dirty_ring_reset += n;
    if (n > 0) h.flushRemoteTlbs();
    return n;
  }

  private get initiallySet(): boolean {
    return this.manual === (ManualProtect.ENABLE | ManualProtect.INITIALLY_SET);
  }

  /** The slot write faults leave writable again take this mode for slot-wide walks. */
  private get walkMode(): LockMode {
    return this.host.tdpMmu ? LockMode.READ : LockMode.WRITE;
  }

  /**
   * KVM_SET_USER_MEMORY_REGION changing only KVM_MEM_LOG_DIRTY_PAGES; the memslot listener
   * (Kvm.memslotsChanged) then calls applyFlags. A read-only slot is refused here: KVM would take
   * the flag and apply nothing (kvm_mmu_slot_apply_flags acts on writable slots only), and nothing
   * can dirty such a slot anyway.
   */
  setLogging(slotId: number, on: boolean): boolean {
    const slot = this.host.memslots.byId(slotId);
    if (slot === undefined || slot.readOnly) return false;
    if ((slot.dirtyBitmap !== undefined) === on) return true; // no flags change: nothing to commit
    this.host.charge('memslotCommit');
    this.host.memslots.setLogDirty(slotId, on, on && this.initiallySet);
    return true;
  }

  /** kvm_mmu_slot_apply_flags for a flags-only change. */
  applyFlags(slot: Memslot, old: Memslot): void {
    const h = this.host;
    if (slot.dirtyBitmap !== undefined && old.dirtyBitmap === undefined) {
      // Initially-all-set: every page counts as dirty; protection (and splitting) waits for CLEAR.
      if (this.initiallySet) return;
      if (h.tdpMmu && h.knobs.eagerPageSplit) {
        const since = h.lock(LockMode.READ);
        h.ops.splitHugePages(slot, slot.baseGfn, (slot.baseGfn + slot.npages) as Gfn);
        h.unlock(LockMode.READ, since);
      }
      // With PML: kvm_mmu_slot_leaf_clear_dirty plus write protection from 2 MiB up; the model
      // does both in one walk (the same SPTEs, each once).
      const mode = this.walkMode;
      const since = h.lock(mode);
      h.ops.wrprotSlot(slot, 1, h.pml);
      h.unlock(mode, since);
      // Always flushed: W may have been cleared by others without a flush (MMU-writable scheme).
      h.flushRemoteTlbs();
    } else if (slot.dirtyBitmap === undefined && old.dirtyBitmap !== undefined) {
      const mode = this.walkMode;
      const since = h.lock(mode);
      const flush = h.ops.recoverHugePages(slot);
      h.unlock(mode, since);
      // One batched flush (6.13's 35ef80eb29ab, and the rmap walk); before, the TDP MMU flushed per zap.
      if (flush) {
        h.stats.huge_page_recovery_flushes++;
        h.flushRemoteTlbs();
      }
    }
  }

  /**
   * KVM_GET_DIRTY_LOG: a copy of the bitmap. Without manual protect, every set bit is cleared and
   * its page write-protected again, under mmu_lock for write, then one flush; with it, the copy
   * only. Undefined (ENOENT) when the slot is not logged.
   */
  getDirtyLog(slotId: number): DirtyLogCopy | undefined {
    const h = this.host;
    const slot = h.memslots.byId(slotId);
    const bitmap = slot?.dirtyBitmap;
    // With rings and no bitmap, GET and CLEAR fail (ENXIO, kvm_use_dirty_bitmap).
    if (slot === undefined || bitmap === undefined || this.rings !== null) return undefined;
    if (!this.skipSync) h.syncDirtyLog();
    const copy = bitmap.slice();
    let dirty = 0;
    for (let k = 0; k < copy.length; k++) dirty += copy[k];
    h.charge('dirtyLogWord', Math.ceil(slot.npages / WORD));
    h.stats.dirty_pages_reported += dirty;
    if (this.manual === 0 && dirty > 0) {
      const since = h.lock(LockMode.WRITE);
      this.reprotect(slot, 0, slot.npages);
      h.unlock(LockMode.WRITE, since);
      h.flushRemoteTlbs();
    }
    return { bitmap: copy, dirty };
  }

  /**
   * KVM_CLEAR_DIRTY_LOG for pages [first, first + count) of the slot: each set bit is cleared and
   * its page write-protected, under mmu_lock for write, then one flush if any was set. `first`
   * must be a multiple of 64 and `count` too unless the range ends at the slot's end. `mask`
   * (one byte per page of the slot, as GET's copy) limits it to the bits userspace passes, as
   * KVM's dirty_bitmap argument does; without it every set bit of the range is cleared (the test
   * device's command). Returns the number of bits cleared, or undefined (EINVAL / ENOENT / ENXIO).
   */
  clearDirtyLog(slotId: number, first: number, count: number, mask?: Uint8Array): number | undefined {
    const h = this.host;
    const slot = h.memslots.byId(slotId);
    if (slot === undefined || slot.dirtyBitmap === undefined || this.rings !== null) return undefined;
    if (first < 0 || count < 0 || first % WORD !== 0 || first + count > slot.npages || (count % WORD !== 0 && first + count !== slot.npages)) return undefined;
    if (count === 0) return 0;
    if (!this.skipSync) h.syncDirtyLog();
    const since = h.lock(LockMode.WRITE);
    const cleared = this.reprotect(slot, first, first + count, mask);
    h.unlock(LockMode.WRITE, since);
    if (cleared > 0) h.flushRemoteTlbs();
    return cleared;
  }

  /**
   * Per 64-page word (kvm_arch_mmu_enable_log_dirty_pt_masked): clear the set bits and
   * write-protect their 4 KiB SPTEs (with PML, clear their D bits: kvm_mmu_clear_dirty_pt_masked); with initially-all-set first split the word's range eagerly
   * (TDP MMU, cb00a70bd4b7) and write-protect the huge pages holding its first and last page.
   */
  private reprotect(slot: Memslot, from: number, to: number, mask?: Uint8Array): number {
    const h = this.host;
    const bitmap = slot.dirtyBitmap!;
    let cleared = 0;
    for (let w = from; w < to; w += WORD) {
      const end = Math.min(w + WORD, to);
      let lo = -1, hi = -1;
      for (let k = w; k < end; k++) if (bitmap[k] !== 0 && (mask === undefined || mask[k] !== 0)) { if (lo < 0) lo = k; hi = k; }
      h.charge('dirtyLogWord');
      if (lo < 0) continue;
      if (this.initiallySet) {
        if (h.tdpMmu && h.knobs.eagerPageSplit) h.ops.splitHugePages(slot, (slot.baseGfn + lo) as Gfn, (slot.baseGfn + hi + 1) as Gfn);
        h.ops.wrprotGfn(slot, (slot.baseGfn + lo) as Gfn, 2, h.pml);
        h.ops.wrprotGfn(slot, (slot.baseGfn + hi) as Gfn, 2, h.pml);
      }
      for (let k = lo; k <= hi; k++) {
        if (bitmap[k] === 0 || (mask !== undefined && mask[k] === 0)) continue;
        bitmap[k] = 0;
        cleared++;
        h.ops.wrprotGfn(slot, (slot.baseGfn + k) as Gfn, 1, h.pml);
      }
    }
    return cleared;
  }
}
