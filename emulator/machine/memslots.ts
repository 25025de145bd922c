import { type Gfn, type Gpa, type Hfn, type Hpa, gfnToGpa, gpaToGfn, hfnToHpa } from '../arch/address.js';

export interface MemslotChange {
  /** 'flags': KVM_MR_FLAGS_ONLY, a change of KVM_MEM_LOG_DIRTY_PAGES only (`old` is the slot before). */
  readonly kind: 'add' | 'remove' | 'move' | 'flags';
  readonly slot: Memslot;
  readonly old?: Memslot;
}

/** One memslot: a range of guest frames backed by contiguous arena pages (KVM's kvm_memory_slot). */
export interface Memslot {
  readonly id: number;
  readonly baseGfn: Gfn;
  readonly npages: number;
  readonly hostHfn: Hfn;
  readonly readOnly: boolean;
  /**
   * KVM_MEM_LOG_DIRTY_PAGES: present while dirty logging is on, one byte per page (1 = dirty).
   * KVM keeps a bitmap of longs; a byte per page keeps marking a single store, and GET/CLEAR
   * still charge per 64-page word (mmu/dirty-log.ts).
   */
  readonly dirtyBitmap?: Uint8Array;
}

/** The host frame backing guest frame `frame` of `slot` (KVM's __gfn_to_pfn_memslot, no fault-in). */
export const slotPfn = (slot: Memslot, frame: Gfn): Hfn => (slot.hostHfn + (frame - slot.baseGfn)) as Hfn;
/** The first guest frame after `slot`. */
export const slotEnd = (slot: Memslot): Gfn => (slot.baseGfn + slot.npages) as Gfn;

/**
 * The guest-physical memory map. Every change bumps the generation, which MMIO SPTEs are stamped
 * with (KVM's memslots generation); a GPA outside every slot is MMIO.
 */
export class Memslots {
  private slots: Memslot[] = [];
  /** find's last hit. */
  private lastHit: Memslot | undefined;
  /**
   * gpaToHpa's last hit as a guest-physical range [hitStart, hitEnd) and the host-minus-guest
   * offset of its slot: page walks read tables of one slot over and over (4-8 reads per walk, a
   * walk after every TLB miss), and this answers them with two compares and an add. Empty (hitEnd
   * = 0) after every change of the slot set, like lastHit.
   */
  private hitStart = 0;
  private hitEnd = 0;
  private hitDelta = 0;
  /**
   * KVM's memslots generation: each publication of new memslots (kvm_swap_active_memslots) adds
   * two, the number of x86 address spaces, so the low bit is free for the SMM address space; a
   * delete or move publishes twice (first the slot marked invalid, then the result), so it adds four.
   */
  generation = 0;
  private readonly listeners: Array<(change: MemslotChange) => void> = [];
  private readonly swapListeners: Array<(generation: number) => void> = [];

  get all(): readonly Memslot[] {
    return this.slots;
  }

  add(slot: Memslot): void {
    this.check(slot);
    this.slots.push(slot);
    this.slots.sort((a, b) => a.baseGfn - b.baseGfn);
    this.changed({ kind: 'add', slot });
  }

  private check(slot: Memslot): void {
    const end = slot.baseGfn + slot.npages;
    for (const s of this.slots) {
      if (slot.baseGfn < s.baseGfn + s.npages && s.baseGfn < end) {
        throw new Error(`memslot ${slot.id} overlaps memslot ${s.id}`);
      }
      if (s.id === slot.id) throw new Error(`memslot id ${slot.id} already in use`);
    }
  }

  remove(id: number): Memslot {
    const i = this.slots.findIndex((s) => s.id === id);
    if (i < 0) throw new Error(`no memslot ${id}`);
    const [slot] = this.slots.splice(i, 1);
    this.changed({ kind: 'remove', slot });
    return slot;
  }

  /** Moves a slot to a new base frame, keeping its backing (KVM_MR_MOVE). */
  move(id: number, newBase: Gfn): Memslot {
    const i = this.slots.findIndex((s) => s.id === id);
    if (i < 0) throw new Error(`no memslot ${id}`);
    const old = this.slots[i];
    const moved: Memslot = { ...old, baseGfn: newBase };
    this.slots.splice(i, 1);
    try {
      this.check(moved);
    } catch (e) {
      this.slots.splice(i, 0, old);
      throw e;
    }
    this.slots.push(moved);
    this.slots.sort((a, b) => a.baseGfn - b.baseGfn);
    this.changed({ kind: 'move', slot: moved });
    return moved;
  }

  /**
   * KVM_SET_USER_MEMORY_REGION with only KVM_MEM_LOG_DIRTY_PAGES changed (KVM_MR_FLAGS_ONLY): a
   * new slot object with a fresh bitmap (all set when `initiallySet`, KVM_DIRTY_LOG_INITIALLY_SET)
   * or none. Returns the new slot.
   */
  setLogDirty(id: number, on: boolean, initiallySet: boolean): Memslot {
    const i = this.slots.findIndex((s) => s.id === id);
    if (i < 0) throw new Error(`no memslot ${id}`);
    const old = this.slots[i];
    const slot: Memslot = { ...old, dirtyBitmap: on ? new Uint8Array(old.npages).fill(initiallySet ? 1 : 0) : undefined };
    this.slots[i] = slot;
    this.changed({ kind: 'flags', slot, old });
    return slot;
  }

  /** The slot with id `id`, or undefined. */
  byId(id: number): Memslot | undefined {
    return this.slots.find((s) => s.id === id);
  }

  /** Listeners see every change after it is published, with the new generation in place. */
  onChange(listener: (change: MemslotChange) => void): void {
    this.listeners.push(listener);
  }

  /**
   * kvm_arch_memslots_updated: called at each publication with the new generation, while the
   * published memslots still carry KVM_MEMSLOT_GEN_UPDATE_IN_PROGRESS (updateInProgress is true).
   * A delete or move calls it twice, so a generation that wraps at the first publication is seen.
   */
  onSwap(listener: (generation: number) => void): void {
    this.swapListeners.push(listener);
  }

  /**
   * kvm_set_memslot: KVM_MR_DELETE and KVM_MR_MOVE first publish the old slot marked invalid
   * (kvm_invalidate_memslot), then the result (kvm_delete_memslot, kvm_move_memslot); KVM_MR_CREATE
   * and KVM_MR_FLAGS_ONLY publish once. Listeners run after the last publication.
   */
  private changed(change: MemslotChange): void {
    this.forgetHits();
    const swaps = change.kind === 'remove' || change.kind === 'move' ? 2 : 1;
    for (let i = 0; i < swaps; i++) this.swap();
    for (const l of this.listeners) l(change);
  }

  /**
   * kvm_swap_active_memslots: the new memslots are published with the update-in-progress flag set,
   * which stays set (a vCPU reading the generation then trusts no MMIO SPTE) until the SRCU grace
   * period is over and the generation has moved on by two.
   */
  private swap(): void {
    this.updateInProgress = true;
    this.generation += 2;
    for (const l of this.swapListeners) l(this.generation);
    this.updateInProgress = false;
  }

  /** KVM_MEMSLOT_GEN_UPDATE_IN_PROGRESS: set during a publication; an MMIO SPTE is not trusted meanwhile. */
  updateInProgress = false;

  /** Drops the lookup caches: a slot they name may be gone, moved or replaced (setLogDirty). */
  private forgetHits(): void {
    this.lastHit = undefined;
    this.hitStart = 0;
    this.hitEnd = 0;
  }

  /** The slot holding a guest frame, or undefined (MMIO). */
  find(frame: Gfn): Memslot | undefined {
    const hit = this.lastHit;
    if (hit !== undefined && frame >= hit.baseGfn && frame < hit.baseGfn + hit.npages) return hit;
    for (const s of this.slots) {
      if (frame >= s.baseGfn && frame < s.baseGfn + s.npages) {
        this.lastHit = s;
        return s;
      }
    }
    return undefined;
  }

  /** Host address of a guest-physical address, or -1 if it is not RAM. */
  gpaToHpa(addr: Gpa): Hpa | -1 {
    if (addr >= this.hitStart && addr < this.hitEnd) return (addr + this.hitDelta) as Hpa;
    const s = this.find(gpaToGfn(addr));
    if (s === undefined) return -1;
    // (hostHfn + frame - baseGfn) * PAGE_SIZE + addr % PAGE_SIZE, for every address of the slot.
    this.hitStart = gfnToGpa(s.baseGfn);
    this.hitEnd = gfnToGpa(slotEnd(s));
    this.hitDelta = hfnToHpa(s.hostHfn) - this.hitStart;
    return (addr + this.hitDelta) as Hpa;
  }
}
