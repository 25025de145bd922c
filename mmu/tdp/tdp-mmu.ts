import type { MmioWalk, MmuContext, TdpCapableMmu } from '../mmu.js';
import type { CpuRole } from '../role.js';
import { TdpOutcome } from '../../emulator/hw/tdp-hardware.js';
import type { PageFault } from '../page-fault-record.js';
import type { Memslot } from '../../emulator/machine/memslots.js';
import { u64 } from '../../emulator/arch/u64.js';
import { ACC_ALL } from '../spte.js';
import { Request } from '../kvm/requests.js';
import { TdpIter } from './iter.js';
import { type Gfn, type Hfn, type Hpa, PAGE_SIZE, PT_ENTRIES, FRAMES_PER_LO, PAGE_SHIFT, gfn as asGfn, gfnRoundForLevel, gfnToGpa, hfnToHpa, hpaToHfn, levelPages, sptepAt } from '../../emulator/arch/address.js';
import { SpteConflict, SpteRaces } from './spte-races.js';
import { slotEnd, slotPfn } from '../../emulator/machine/memslots.js';
import { type DirtyLogMmu, FastPf, SPTE_W, fastPfVerdict, markPageDirty, wrprotBits } from '../dirty-log.js';

/**
 * KVM's TDP MMU (tdp_mmu.c, tdp_mmu=1): a list of roots, each a paging structure built directly
 * in GPA order, with no hash table and no rmaps; SPTEs are found by walking.
 *
 * Root lifetime (kvm-mmu.md 4.5, lkml (c)): with 'persistent', a new root starts with two
 * references, one for the vCPU and one the MMU keeps until the root is invalidated, so unloading
 * the vCPU's roots (kvm_mmu_reset_context) leaves the root and its SPTEs in place and the next
 * load reuses it. With 'vcpu-refcount' (before 6.4) the vCPU's reference is the only one: the
 * root, and every SPTE under it, is zapped and freed when the vCPU unloads it.
 */
export interface TdpRoot {
  readonly hpa: Hpa;
  readonly role: number;
  refs: number;
  invalid: boolean;
}

/**
 * The VM's TDP MMU roots (kvm->arch.tdp_mmu_roots), shared by every vCPU's TdpMmu, with what
 * else the VM's vCPUs share: the record of recent SPTE changes that lets them race (spte-races.ts)
 * and the page tables removed from a live tree that wait for a TLB flush before they are freed.
 */
export class TdpRootList {
  readonly roots: TdpRoot[] = [];
  /** Times a root was allocated at each host address (root page frame number). */
  readonly incarnations = new Map<Hpa, number>();
  /**
   * Tables unlinked from a live tree (handle_removed_pt's call_rcu): other vCPUs' hardware may
   * still hold translations through them until a remote TLB flush, so they go back to the arena
   * only after one (flushed()).
   */
  readonly removed: Hpa[] = [];
  /** Returns a removed table's page to the arena (set by the first TdpMmu). */
  freePage: (hpa: Hpa) => void = () => {};

  constructor(readonly races = new SpteRaces(1)) {}

  /** A remote TLB flush completed (kvm_flush_remote_tlbs waits for every vCPU): removed tables may be freed. */
  flushed(): void {
    for (const hpa of this.removed) this.freePage(hpa);
    this.removed.length = 0;
  }

  /**
   * The RCU grace period ended (every vCPU has left its read-side section, i.e. re-entered the
   * guest): tables still waiting were never flushed, the use-after-free KVM's flush-before-free
   * prevents. Frees them and returns how many there were.
   */
  gracePeriod(): number {
    const n = this.removed.length;
    if (n > 0) this.flushed();
    return n;
  }
}

export class TdpMmu implements TdpCapableMmu, DirtyLogMmu {
  readonly name = 'tdp';
  private readonly ctx: MmuContext;
  private readonly roots: TdpRoot[];
  private current: TdpRoot | null = null;
  private rootRole = 0;
  private readonly incarnations: Map<Hpa, number>;
  private readonly iter: TdpIter;
  /** One iterator per level for removing tables (removeTable recurses one level down at a time). */
  private readonly zapIters: TdpIter[] = [];
  private readonly view: DataView;
  private readonly vm: TdpRootList;
  /** Removed tables are freed at once (a root nobody holds) rather than after a flush (a live tree). */
  private freeNow = false;

  /** One vCPU's TDP MMU over the VM's root list (a new list when none is given). */
  constructor(ctx: MmuContext, vm = new TdpRootList()) {
    this.ctx = ctx;
    this.vm = vm;
    this.roots = vm.roots;
    this.incarnations = vm.incarnations;
    vm.freePage = (hpa) => this.freeTable(hpa);
    this.view = ctx.arena.view;
    this.iter = new TdpIter(this.view, ctx.codec);
    for (let level = 0; level <= ctx.tdpLevel; level++) this.zapIters.push(new TdpIter(this.view, ctx.codec));
  }

  init(_cpuRole: CpuRole, rootRole: number): void {
    this.rootRole = rootRole;
  }

  currentRoot(): Hpa | -1 {
    return this.current === null ? -1 : this.current.hpa;
  }

  /** kvm_tdp_mmu_alloc_root: reuse a valid root of the same role, else allocate one. */
  load(): Hpa {
    const { stats } = this.ctx;
    for (const r of this.roots) {
      if (!r.invalid && r.role === this.rootRole) {
        r.refs++;
        stats.root_reuse++;
        this.current = r;
        return r.hpa;
      }
    }
    const hpa = this.allocTable();
    this.ctx.charge('rootAlloc');
    stats.root_alloc++;
    this.incarnations.set(hpa, (this.incarnations.get(hpa) ?? 0) + 1);
    const root: TdpRoot = { hpa, role: this.rootRole, refs: this.ctx.knobs.tdpRootLifetime === 'persistent' ? 2 : 1, invalid: false };
    this.roots.push(root);
    this.current = root;
    return hpa;
  }

  unload(): void {
    if (this.current === null) return;
    const r = this.current;
    this.current = null;
    this.put(r);
  }

  freeObsoleteRoots(): void {
    if (this.current !== null && this.current.invalid) this.unload();
  }

  /** kvm_tdp_mmu_put_root: the last reference zaps the whole tree and frees the root. */
  private put(root: TdpRoot): void {
    if (--root.refs > 0) return;
    // No vCPU holds the root, and each flushes when it loads another: its pages can go at once.
    this.freeNow = true;
    this.removeTable(root.hpa, this.ctx.tdpLevel);
    this.freeNow = false;
    this.roots.splice(this.roots.indexOf(root), 1);
    this.ctx.stats.root_freed++;
    if (this.ctx.knobs.tdpFreeFlush === 'flush-on-free') {
      // Before the Overhaul series: flush the hardware before the pages can be reused.
      this.ctx.flushRemoteTlbs();
    }
  }

  /**
   * kvm_tdp_mmu_invalidate_all_roots: every root becomes invalid and the MMU drops the reference
   * it held; loaded roots are freed by FREE_OBSOLETE_ROOTS before the next entry.
   */
  zapAllFast(): void {
    this.ctx.trace?.zapAllFast(0, 0);
    for (const r of [...this.roots]) {
      if (r.invalid) continue;
      r.invalid = true;
      this.ctx.stats.root_invalidated++;
      if (this.ctx.knobs.tdpRootLifetime === 'persistent') this.put(r);
    }
    this.ctx.requestAll(Request.FREE_OBSOLETE_ROOTS);
  }

  rootIncarnation(root: Hpa): number {
    return this.incarnations.get(root) ?? 0;
  }

  validRoots(): number {
    let n = 0;
    for (const r of this.roots) if (!r.invalid) n++;
    return n;
  }

  /**
   * The largest level a memslot can map `gfn` at: 2 MiB or 1 GiB when the slot and its backing
   * allow; 4 KiB while the slot is logged (kvm_mmu_hugepage_adjust).
   */
  private maxLevel(slot: Memslot, gfn: Gfn): number {
    if (slot.dirtyBitmap !== undefined) return 1;
    for (let level = 3; level >= 2; level--) {
      if (level > this.ctx.hostMaxLevel) continue;
      const span = levelPages(level);
      const base = gfnRoundForLevel(gfn, level);
      const inSlot = base >= slot.baseGfn && base + span <= slot.baseGfn + slot.npages;
      const hostAligned = (slot.hostHfn + (base - slot.baseGfn)) % span === 0;
      if (inSlot && hostAligned && level <= this.ctx.tdpLevel - 1) return level;
    }
    return 1;
  }

  /**
   * kvm_tdp_mmu_map: walk from the root to the target level, linking new tables where entries are
   * missing, and install the leaf: a mapping of the memslot's page, or an MMIO SPTE when no
   * memslot covers the frame (the access is then emulated). `fault` went through the faultin
   * step (faultin.ts), which sent writes to read-only memslots, and MMIO frames while MMIO caching
   * is off, to emulation before this. A race lost to another vCPU (its cmpxchg would have
   * failed, or the SPTE was frozen) ends the fault with RET_PF_RETRY and is left in fault.raced.
   */
  pageFault(fault: PageFault): TdpOutcome {
    const { ctx } = this;
    const { codec } = ctx;
    const { gfn, slot } = fault;
    const mmio = slot === undefined;
    fault.maxLevel = 3;
    const target = mmio ? 1 : this.maxLevel(slot, gfn);
    fault.reqLevel = fault.goalLevel = target;
    ctx.trace?.spteRequested(gfn, slot === undefined ? 0 : fault.pfn, target);
    const root = this.current!;
    const it = this.iter;
    const races = this.vm.races;
    fault.raced = SpteConflict.NONE;
    it.start(root.hpa, ctx.tdpLevel, gfn, asGfn(gfn + 1));
    while (it.valid) {
      // kvm_tdp_mmu_map under the read lock: an SPTE another vCPU froze, or changed after this
      // walk read it (the link, split or leaf cmpxchg fails), ends the fault with RET_PF_RETRY.
      if (races.active && (fault.raced = races.conflict(it.sptep)) !== SpteConflict.NONE) return TdpOutcome.RETRY;
      if (it.level === target) {
        this.mapTarget(it, fault, target);
        return mmio ? TdpOutcome.EMULATE_MMIO : TdpOutcome.RETRY;
      }
      if (!codec.isShadowPresent(it.lo, it.hi)) {
        this.link(it);
      } else if (codec.isLeaf(it.lo, it.hi, it.level)) {
        // A huge page where the target is smaller (dirty logging, or the backing changed): split
        // it in place (tdp_mmu_split_huge_page, c4b33d28ea51, 6.2): one cmpxchg replaces the huge
        // SPTE by a full table mapping the same frames, so no vCPU ever finds the range unmapped.
        // Before, tdp_mmu_zap_spte_atomic froze it (other vCPUs' faults on it retry), flushed,
        // cleared it, and an empty table was linked: every other 4 KiB page of it faults again.
        if (ctx.knobs.tdpHugeWriteFault === 'split' && !codec.isMmio(it.lo, it.hi)) {
          this.splitHuge(it);
        } else {
          this.zapEntry(it, true);
          ctx.stats.huge_pages_zapped_for_logging++;
          this.flush();
          this.link(it);
        }
      }
      it.next();
    }
    throw new Error(`TDP MMU map of gfn 0x${gfn.toString(16)} did not reach level ${target}`);
  }

  /** tdp_mmu_map_handle_target_level: the leaf for `fault` at `level` (make_spte with fault->map_writable). */
  private mapTarget(it: TdpIter, fault: PageFault, level: number): void {
    const { codec, stats } = this.ctx;
    const { slot, gfn } = fault;
    if (codec.isShadowPresent(it.lo, it.hi)) {
      if (!codec.isLeaf(it.lo, it.hi, level)) {
        // A table replaced by a huge page: tdp_mmu_map_handle_target_level installs the leaf in
        // one step and flushes (kvm_flush_remote_tlbs_gfn, bb95dfb9e2df) before the removed
        // tables can be freed; before 5.18 handle_removed_pt flushed each one itself.
        this.installOverTable(it, fault, level);
        return;
      }
      else if (fault.write && !codec.isWritable(it.lo) && slot !== undefined && fault.mapWritable) {
        // tdp_mmu_map_handle_target_level: make_spte gives a write-protected SPTE its W back
        // (fast_page_fault declined it, e.g. a huge page in a logged slot was just split).
        it.write(it.lo | SPTE_W | codec.dirtyLo, it.hi);
        this.ctx.charge('spteWrite');
        markPageDirty(slot, gfn, stats);
        stats.pf_fixed++;
        return;
      } else { stats.pf_spurious++; return; }
    }
    let lo: number;
    if (slot === undefined) {
      lo = codec.makeMmioSpte(gfn, ACC_ALL, this.ctx.mmioGeneration());
      stats.pf_mmio_spte_created++;
    } else {
      lo = codec.makeSpte(slotPfn(slot, gfnRoundForLevel(gfn, level)), level, ACC_ALL, fault.mapWritable, true, false);
      stats.pf_fixed++;
      // make_spte: a writable SPTE in a logged slot marks its page (level is 4 KiB there).
      if (codec.isWritable(lo)) markPageDirty(slot, gfn, stats);
    }
    this.setSpte(it, lo, u64.hi);
    this.ctx.trace?.installed(level, gfn, it.sptep, lo, u64.hi);
  }

  /**
   * tdp_mmu_split_huge_page: a new table whose 512 entries map the huge page's frames one level
   * down with its permissions (make_huge_page_split_spte; W stays off if it was off), linked in
   * place of the huge SPTE. The same frames stay mapped, so no flush is needed. The child entries
   * are written directly, as KVM's tdp_mmu_init_child_sp does, and counted in one step.
   */
  private splitHuge(it: TdpIter): void {
    const { codec, stats } = this.ctx;
    const level = it.level;
    const lo = it.lo, hi = it.hi;
    const child = this.allocTable();
    const childLevel = level - 1;
    const span = levelPages(childLevel);
    const pfn = codec.pfn(lo, hi);
    // Low-half attributes without PFN and (for 4 KiB children) without PS.
    const attrsLo = (lo & ~codec.pfnMaskLo) & (childLevel === 1 ? ~0x80 : ~0);
    const attrsHi = hi & ~codec.pfnMaskHi;
    for (let k = 0; k < PT_ENTRIES; k++) {
      const p = pfn + k * span;
      const sptep = sptepAt(child, k);
      this.view.setInt32(sptep, attrsLo | ((p % FRAMES_PER_LO) << PAGE_SHIFT), true);
      this.view.setInt32(sptep + 4, attrsHi | Math.floor(p / FRAMES_PER_LO), true);
    }
    this.countLeaf(childLevel, PT_ENTRIES);
    stats.sptes_installed_leaf += PT_ENTRIES; // so that every SPTE zapped later was installed once
    this.setSpte(it, codec.makeNonLeafSpte(hpaToHfn(child)), u64.hi);
    stats.huge_pages_split++;
    this.ctx.trace?.splitHugePage(it.gfn, lo, hi, level);
    this.ctx.charge('splitHugePage');
  }

  // Dirty logging (DirtyLogMmu): slot walks over every valid root.

  /**
   * fast_page_fault (6e8eb2060cc7, TDP MMU since 5.14/5.15): without mmu_lock, under RCU, give a
   * write-protected but MMU-writable SPTE its W back and log the page.
   */
  fastPageFault(fault: PageFault, pmlOnly = false): FastPf {
    if (!fault.write || this.current === null) return FastPf.INVALID;
    const { ctx } = this;
    const gfn = fault.gfn;
    const it = this.iter;
    it.start(this.current.hpa, ctx.tdpLevel, gfn, asGfn(gfn + 1));
    while (it.valid && ctx.codec.isShadowPresent(it.lo, it.hi) && !ctx.codec.isLeaf(it.lo, it.hi, it.level)) it.next();
    if (!it.valid) return FastPf.INVALID;
    const slot = ctx.memslots.find(gfn);
    const verdict = fastPfVerdict(ctx.codec, it.lo, it.hi, it.level, slot, pmlOnly);
    if (!pmlOnly) ctx.trace?.fastPageFault(fault.addrHi * 4294967296 + fault.addrLo, fault.access, it.sptep, it.lo, it.hi, verdict === FastPf.FIXED ? it.lo | SPTE_W | ctx.codec.dirtyLo : it.lo, it.hi, verdict === FastPf.FIXED, verdict === FastPf.SPURIOUS);
    if (verdict === FastPf.FIXED) {
      it.write(it.lo | SPTE_W | ctx.codec.dirtyLo, it.hi);
      // Under PML the CPU logs the GPA in its buffer; KVM marks it when the buffer is drained.
      if (!pmlOnly) markPageDirty(slot, gfn, ctx.stats);
    }
    return verdict;
  }

  /** kvm_tdp_mmu_wrprot_slot: W off in the slot's leaves at minLevel and above. */
  wrprotSlot(slot: Memslot, minLevel: number, pml: boolean): boolean {
    return this.wrprotRange(slot.baseGfn, slotEnd(slot), minLevel, 3, pml);
  }

  /** kvm_tdp_mmu_clear_dirty_pt_masked (4 KiB only) or the huge pages over a gfn (level 2 and up). */
  wrprotGfn(_slot: Memslot, gfn: Gfn, level: number, pml: boolean): boolean {
    const end = asGfn(gfn + 1);
    return level === 1 ? this.wrprotRange(gfn, end, 1, 1, pml) : this.wrprotRange(gfn, end, level, 3, pml);
  }

  private wrprotRange(start: Gfn, end: Gfn, minLevel: number, maxLevel: number, pml: boolean): boolean {
    const { codec, stats } = this.ctx;
    const it = this.iter;
    let flush = false;
    for (const root of this.roots) {
      if (root.invalid) continue;
      it.start(root.hpa, this.ctx.tdpLevel, start, end);
      while (it.valid) {
        const level = it.level;
        if (level >= minLevel && level <= maxLevel && codec.isShadowPresent(it.lo, it.hi) &&
          codec.isLeaf(it.lo, it.hi, level) && codec.isWritable(it.lo)) {
          it.write(it.lo & ~wrprotBits(codec, level, pml), it.hi);
          stats.dirty_log_wrprot++;
          this.ctx.charge('spteWrprot');
          flush = true;
        }
        it.next();
      }
    }
    return flush;
  }

  /** kvm_tdp_mmu_try_split_huge_pages: every huge leaf in the range, split down to 4 KiB. */
  splitHugePages(_slot: Memslot, startGfn: Gfn, endGfn: Gfn): void {
    const { codec } = this.ctx;
    const it = this.iter;
    for (const root of this.roots) {
      if (root.invalid) continue;
      it.start(root.hpa, this.ctx.tdpLevel, startGfn, endGfn);
      while (it.valid) {
        // After a split the iterator steps into the new table, so 1 GiB pages go down to 4 KiB.
        if (it.level > 1 && codec.isShadowPresent(it.lo, it.hi) && codec.isLeaf(it.lo, it.hi, it.level)) this.splitHuge(it);
        it.next();
      }
    }
  }

  /**
   * Huge page recovery (kvm_tdp_mmu_zap_collapsible_sptes to 6.12, kvm_tdp_mmu_recover_huge_pages
   * from 6.13): a table whose range the slot can now map with one SPTE is zapped, for the next
   * fault to map it huge, or replaced in place by the huge SPTE. The in-place SPTE is made
   * without W but MMU-writable (KVM derives it from a child that logging left write-protected), so
   * a write takes a fast page fault.
   */
  recoverHugePages(slot: Memslot): boolean {
    const { codec, stats } = this.ctx;
    const it = this.iter;
    let flush = false;
    for (const root of this.roots) {
      if (root.invalid) continue;
      it.start(root.hpa, this.ctx.tdpLevel, slot.baseGfn, slotEnd(slot));
      while (it.valid) {
        const level = it.level;
        if (level > 1 && level < this.ctx.tdpLevel && codec.isShadowPresent(it.lo, it.hi) && !codec.isLeaf(it.lo, it.hi, level) &&
          it.gfn >= slot.baseGfn && this.maxLevel(slot, it.gfn) >= level) {
          if (this.ctx.knobs.hugePageRecovery === 'in-place') {
            const lo = codec.makeSpte(slotPfn(slot, it.gfn), level, ACC_ALL, !slot.readOnly, true, false) & ~SPTE_W;
            this.setSpte(it, lo, u64.hi);
            flush = true;
          } else {
            // Before 35ef80eb29ab (6.13), tdp_mmu_zap_spte_atomic: frozen, a remote flush for
            // each zap (kvm_flush_remote_tlbs_gfn), then cleared; no batched flush at the end.
            this.zapEntry(it, true);
            stats.huge_page_recovery_flushes++;
            this.flush();
            if (this.vm.races.active) this.vm.races.touch(it.sptep); // cleared after its flush: thawed
          }
          stats.huge_pages_recovered++;
        }
        it.next();
      }
    }
    return flush;
  }

  /** The huge leaf that replaces a table (a fault after huge pages became possible again). */
  private installOverTable(it: TdpIter, fault: PageFault, level: number): void {
    const { codec, stats } = this.ctx;
    const slot = fault.slot!, gfn = fault.gfn;
    const lo = codec.makeSpte(slotPfn(slot, gfnRoundForLevel(gfn, level)), level, ACC_ALL, fault.mapWritable, true, false);
    stats.pf_fixed++;
    this.setSpte(it, lo, u64.hi);
    if (codec.isWritable(lo)) markPageDirty(slot, gfn, stats);
    if (this.ctx.knobs.tdpFreeFlush === 'defer-to-alloc') this.flush();
  }

  /** kvm_flush_remote_tlbs from the TDP MMU: every vCPU flushes, then removed tables may be freed. */
  private flush(): void {
    this.ctx.flushRemoteTlbs();
    this.vm.flushed();
  }

  /** tdp_mmu_link_sp: a new empty table under the current entry. */
  private link(it: TdpIter): void {
    const child = this.allocTable();
    this.setSpte(it, this.ctx.codec.makeNonLeafSpte(hpaToHfn(child)), u64.hi);
  }

  /**
   * Clears the current entry, freeing the table below it if it was one. `freeze`: the SPTE is
   * held frozen from this operation's read until its end (tdp_mmu_zap_spte_atomic).
   */
  private zapEntry(it: TdpIter, freeze = false): void {
    this.setSpte(it, this.ctx.codec.nonpresentLo, this.ctx.codec.nonpresentHi, freeze);
  }

  /**
   * The one SPTE change path (KVM's tdp_mmu_set_spte -> handle_changed_spte): replaces the SPTE
   * at the iterator's position (old value it.lo/it.hi, level it.level) with (lo, hi) and does
   * every side effect of the change here, so no caller keeps statistics of its own:
   * - the old value: a table below it is zapped and freed (handle_removed_pt), a leaf leaves the
   *   page-size counters;
   * - the new value: the installed-SPTE counters and the page-size counters, or sptes_zapped;
   * - the modeled charge: spteWrite for an install, spteZap for a clear.
   * The removed table is zapped before the entry is written, so charges accrue in the order the
   * zap path always had (children first).
   */
  private setSpte(it: TdpIter, lo: number, hi: number, freeze = false): void {
    const { codec, stats } = this.ctx;
    const level = it.level;
    const oldLo = it.lo, oldHi = it.hi;
    if (this.vm.races.active) this.vm.races.touch(it.sptep, freeze);
    if (codec.isShadowPresent(oldLo, oldHi)) {
      if (!codec.isLeaf(oldLo, oldHi, level)) this.removeTable(hfnToHpa(codec.pfn(oldLo, oldHi)), level - 1);
      else this.countLeaf(level, -1);
    }
    it.write(lo, hi);
    this.ctx.trace?.tdpSpteChanged(it.gfn, level, oldLo, oldHi, lo, hi);
    if (lo === codec.nonpresentLo && hi === codec.nonpresentHi) {
      stats.sptes_zapped++;
      this.ctx.charge('spteZap');
      return;
    }
    if (codec.isMmio(lo, hi)) stats.sptes_installed_mmio++;
    else if (codec.isLeaf(lo, hi, level)) { stats.sptes_installed_leaf++; this.countLeaf(level, 1); }
    else stats.sptes_installed_nonleaf++;
    this.ctx.charge('spteWrite');
  }

  /**
   * handle_removed_pt: clears every used entry of a table no longer linked (of `level`), through
   * the change path, so tables below it are removed in turn, then frees the table: at once when
   * no vCPU can reach it (a root nobody holds), else after the next remote TLB flush (call_rcu,
   * with the caller's flush first; before 5.18, tdpFreeFlush 'flush-on-free', this function
   * flushed for every table it removed). Each level has
   * its own iterator, restricted to the table's 512 entries, so the recursion allocates nothing
   * and leaves the fault path's iterator where it was.
   */
  private removeTable(table: Hpa, level: number): void {
    const { codec } = this.ctx;
    const it = this.zapIters[level];
    // Frames relative to the table: its entries are 0 .. 511 at `level`.
    it.start(table, level, asGfn(0), asGfn(PT_ENTRIES * levelPages(level)), level);
    while (it.valid) {
      if (it.lo !== codec.nonpresentLo || it.hi !== codec.nonpresentHi) this.setSpte(it, codec.nonpresentLo, codec.nonpresentHi);
      it.next();
    }
    if (this.freeNow) { this.freeTable(table); return; }
    this.vm.removed.push(table);
    if (this.ctx.knobs.tdpFreeFlush === 'flush-on-free') this.flush();
  }

  /** The page-size counters (pages_4k/2m/1g) move by `delta` for a leaf at `level`. */
  private countLeaf(level: number, delta: number): void {
    const { stats } = this.ctx;
    if (level === 1) stats.pages_4k += delta; else if (level === 2) stats.pages_2m += delta; else stats.pages_1g += delta;
  }

  private allocTable(): Hpa {
    const page = this.ctx.arena.allocPage();
    this.ctx.stats.mmu_pages_allocated++;
    this.ctx.charge('pageAlloc');
    const hpa = hfnToHpa(page);
    // A fresh table holds the non-present value, which is not necessarily zero (EPT, suppress-#VE).
    const { codec } = this.ctx;
    if (codec.nonpresentLo !== 0 || codec.nonpresentHi !== 0) {
      for (let k = 0; k < PT_ENTRIES; k++) {
        const sptep = sptepAt(hpa, k);
        this.view.setInt32(sptep, codec.nonpresentLo, true);
        this.view.setInt32(sptep + 4, codec.nonpresentHi, true);
      }
    }
    return hpa;
  }

  private freeTable(hpa: Hpa): void {
    this.ctx.arena.freePage(hpaToHfn(hpa));
    this.ctx.stats.mmu_pages_freed++;
  }

  mmioWalk(lo: number, hi: number): MmioWalk {
    if (this.current === null) return [];
    const { codec } = this.ctx;
    const gfn = asGfn((hi >>> 0) * FRAMES_PER_LO + (lo >>> PAGE_SHIFT));
    const it = this.iter;
    it.start(this.current.hpa, this.ctx.tdpLevel, gfn, asGfn(gfn + 1));
    const walk: [number, number, number][] = [];
    while (it.valid) {
      walk.push([it.lo, it.hi, it.level]);
      if (!codec.isShadowPresent(it.lo, it.hi) || codec.isLeaf(it.lo, it.hi, it.level)) break;
      it.next();
    }
    return walk;
  }

  /**
   * The checker over every root: per-SPTE invariants, leaves mapping what their memslot maps
   * (7), MMIO SPTEs of the current generation covering no memslot (15).
   */
  audit(out: string[]): void {
    const { codec, memslots } = this.ctx;
    const gen = this.ctx.mmioGeneration() % codec.genModulus;
    const it = this.iter;
    for (const root of this.roots) {
      it.start(root.hpa, this.ctx.tdpLevel, asGfn(0), asGfn(levelPages(this.ctx.tdpLevel + 1)));
      while (it.valid) {
        const { lo, hi, level } = it;
        if (lo !== codec.nonpresentLo || hi !== codec.nonpresentHi) {
          for (const v of codec.violations(lo, hi, level)) out.push(`${v} (root 0x${root.hpa.toString(16)}, gfn 0x${it.gfn.toString(16)}, level ${level})`);
          if (!root.invalid && codec.isShadowPresent(lo, hi) && codec.isLeaf(lo, hi, level)) {
            const host = memslots.gpaToHpa(gfnToGpa(it.gfn));
            if (host < 0 || host / PAGE_SIZE !== codec.pfn(lo, hi)) {
              out.push(`inv7: leaf for gfn 0x${it.gfn.toString(16)} maps pfn 0x${codec.pfn(lo, hi).toString(16)}, memslot says ${host < 0 ? 'no memory' : '0x' + (host / PAGE_SIZE).toString(16)}`);
            }
          }
          if (!root.invalid && codec.isMmio(lo, hi) && codec.mmioGeneration(lo, hi) === gen && memslots.find(it.gfn) !== undefined) {
            out.push(`inv15: MMIO SPTE of the current generation for gfn 0x${it.gfn.toString(16)}, which a memslot covers`);
          }
        }
        it.next();
      }
    }
  }
}
