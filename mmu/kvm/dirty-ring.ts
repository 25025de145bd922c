import type { DirtySink } from '../dirty-log.js';
import { PAGE_SIZE } from '../../emulator/arch/address.js';

/** KVM_DIRTY_RING_RSVD_ENTRIES: entries kept free beyond the soft limit for writes already under way. */
export const RING_RESERVED = 64;
/** KVM_DIRTY_RING_MAX_ENTRIES. */
export const RING_MAX_ENTRIES = 65536;
/** sizeof(struct kvm_dirty_gfn): flags, slot, offset. */
const ENTRY_BYTES = 16;

/** struct kvm_dirty_gfn's flags. */
const enum Gfn { INVALID = 0, DIRTY = 1, RESET = 2 }

/**
 * The ring size KVM_CAP_DIRTY_LOG_RING accepts, in entries, or why not (kvm_vm_ioctl_enable_dirty_log_ring):
 * a power of two of at least a page of entries and of the reserved entries (64, plus the PML
 * buffer's 512 when the CPU logs), at most 65,536.
 */
export function ringSizeError(entries: number, pml: boolean): string | undefined {
  const bytes = entries * ENTRY_BYTES;
  if (!Number.isInteger(entries) || entries <= 0 || (entries & (entries - 1)) !== 0) return 'a power of two';
  const reserved = RING_RESERVED + (pml ? 512 : 0);
  if (bytes < PAGE_SIZE || entries < reserved) return `at least ${Math.max(PAGE_SIZE / ENTRY_BYTES, reserved)} entries${pml ? ' with PML' : ''}`;
  if (entries > RING_MAX_ENTRIES) return `at most ${RING_MAX_ENTRIES}`;
  return undefined;
}

/**
 * One vCPU's dirty ring (KVM_CAP_DIRTY_LOG_RING, virt/kvm/dirty_ring.c): an array shared with
 * userspace of {slot, offset} entries. KVM pushes the page the vCPU dirtied (mark_page_dirty_in_slot)
 * at dirty_index and flags it DIRTY; userspace harvests entries in order from its fetch index
 * and flags them RESET; KVM_RESET_DIRTY_RINGS walks from reset_index over harvested entries,
 * re-protects their pages (merged into masks of up to 64 pages of one slot, each mask under
 * mmu_lock) and frees them. Once the used entries reach the soft limit (size minus the reserved
 * entries) the vCPU exits to userspace with KVM_EXIT_DIRTY_RING_FULL before entering the guest
 * again (KVM_REQ_DIRTY_RING_SOFT_FULL), until a reset frees room.
 */
export class DirtyRing implements DirtySink {
  private readonly slot: Int32Array;
  private readonly offset: Float64Array;
  private readonly flags: Uint8Array;
  private dirtyIndex = 0;
  private resetIndex = 0;
  /** Userspace's fetch index (QEMU's fetch_index). */
  private fetchIndex = 0;
  readonly softLimit: number;

  constructor(readonly size: number, pml: boolean) {
    this.slot = new Int32Array(size);
    this.offset = new Float64Array(size);
    this.flags = new Uint8Array(size);
    this.softLimit = size - RING_RESERVED - (pml ? 512 : 0);
  }

  get used(): number {
    return this.dirtyIndex - this.resetIndex;
  }

  softFull(): boolean {
    return this.used >= this.softLimit;
  }

  /** kvm_dirty_ring_push. The reserved entries keep it from overflowing (KVM warns if it would). */
  push(slotId: number, offset: number): void {
    if (this.used >= this.size) throw new Error('dirty ring overflow: pushed past the reserved entries');
    const k = this.dirtyIndex & (this.size - 1);
    this.slot[k] = slotId;
    this.offset[k] = offset;
    this.flags[k] = Gfn.DIRTY;
    this.dirtyIndex++;
  }

  /** Userspace's harvest: every DIRTY entry from its fetch index, in order, flagged RESET. */
  harvest(take: (slotId: number, offset: number) => void): number {
    let n = 0;
    for (;;) {
      const k = this.fetchIndex & (this.size - 1);
      if (this.flags[k] !== Gfn.DIRTY) return n;
      take(this.slot[k], this.offset[k]);
      this.flags[k] = Gfn.RESET;
      this.fetchIndex++;
      n++;
    }
  }

  /**
   * kvm_dirty_ring_reset: frees the harvested entries from reset_index on, handing `reprotect`
   * (slot, first offset, offsets relative to it) once per run of entries that fit one 64-page
   * mask, merged as KVM merges them: an entry of the same slot within 64 pages above the mask's
   * base joins it, one below joins if the mask still fits after moving its base down. Returns
   * the entries freed.
   */
  reset(reprotect: (slotId: number, base: number, bits: readonly number[]) => void): number {
    let n = 0;
    let curSlot = -1, base = 0;
    const bits: number[] = [];
    for (;;) {
      const k = this.resetIndex & (this.size - 1);
      if (this.flags[k] !== Gfn.RESET) break;
      const s = this.slot[k], off = this.offset[k];
      this.flags[k] = Gfn.INVALID;
      this.resetIndex++;
      n++;
      if (bits.length > 0 && s === curSlot) {
        const delta = off - base;
        if (delta >= 0 && delta < 64) {
          if (!bits.includes(delta)) bits.push(delta);
          continue;
        }
        const top = Math.max(...bits);
        if (delta < 0 && top - delta < 64) {
          for (let b = 0; b < bits.length; b++) bits[b] -= delta;
          bits.push(0);
          base = off;
          continue;
        }
      }
      if (bits.length > 0) reprotect(curSlot, base, bits);
      curSlot = s;
      base = off;
      bits.length = 0;
      bits.push(0);
    }
    if (bits.length > 0) reprotect(curSlot, base, bits);
    return n;
  }
}
