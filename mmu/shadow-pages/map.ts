import type { MmuContext } from '../mmu.js';
import type { Memslot } from '../../emulator/machine/memslots.js';
import { u64 } from '../../emulator/arch/u64.js';
import { type Gfn, type Hfn, type Hpa, type Sptep, gfnRoundForLevel, levelPages, sptepAt, sptepIndex } from '../../emulator/arch/address.js';
import { ACC_ALL, ACC_WRITE_MASK } from '../spte.js';
import { childRole, roleAccess } from '../role.js';
import type { ShadowPage, ShadowPageCache } from './page-cache.js';
import { ShadowWalk } from './shadow-walk.js';
import { markPageDirty } from '../dirty-log.js';
import { type PageFault, PfResult } from '../page-fault-record.js';

/** PTE_PREFETCH_NUM: neighbours filled in around a 4 KiB fault. */
export const PTE_PREFETCH_NUM = 8;

/**
 * Installing SPTEs in shadow pages, as both cache-based MMUs do it (mmu.c): make_spte with the
 * unsync decision (mmu_try_to_unsync_pages), mmu_set_spte with its rmap and flush rules, child
 * pages found or made per level (kvm_mmu_get_child_sp), direct_map and its prefetch, and the
 * huge-page level (kvm_mmu_hugepage_adjust).
 */
export class ShadowMapper {
  private readonly ctx: MmuContext;
  private readonly cache: ShadowPageCache;
  readonly walk: ShadowWalk;

  constructor(ctx: MmuContext, cache: ShadowPageCache) {
    this.ctx = ctx;
    this.cache = cache;
    this.walk = new ShadowWalk(ctx.arena.view, ctx.codec);
  }

  /** The host frame backing a guest frame of a memslot. */
  static pfn(slot: Memslot, gfn: Gfn): Hfn {
    return (slot.hostHfn + (gfn - slot.baseGfn)) as Hfn;
  }

  /**
   * mmu_try_to_unsync_pages: whether a leaf mapping `gfn` may be writable. A write-tracked frame
   * (an upper-level guest table) may not; a frame shadowed by level-1 pages may, once those pages
   * are marked unsync, unless this is a sync or a speculative (prefetch) fill.
   */
  tryUnsync(gfn: Gfn, synchronizing: boolean, prefetch: boolean): boolean {
    const cache = this.cache;
    if (cache.isWriteTracked(gfn)) return false;
    for (const sp of cache.indirectPages(gfn)) {
      if (synchronizing) return false;
      if (sp.unsync) continue;
      if (prefetch) return false;
      cache.markPageUnsync(sp);
    }
    return true;
  }

  /**
   * make_spte for a leaf at `level` replacing (oldLo, oldHi): W only if the frame may be
   * writable (not shadowed, or its level-1 shadow pages can go unsync). Returns the low half
   * (high half in u64.hi). `fault` is the fault being served, null for a prefetch or a sync (a
   * speculative fill); when W is withheld for a fault, fault.writeProtected says so.
   */
  makeLeaf(level: number, access: number, gfn: Gfn, slot: Memslot, oldLo: number, fault: PageFault | null,
    synchronizing: boolean): number {
    const { codec } = this.ctx;
    // fault->map_writable from the faultin step; a prefetch or sync reads the memslot itself.
    const hostWritable = fault !== null ? fault.mapWritable : !slot.readOnly;
    let mmuWritable = true;
    if ((access & ACC_WRITE_MASK) !== 0 && hostWritable && !codec.isWritable(oldLo)) {
      if (!this.tryUnsync(gfn, synchronizing, fault === null)) {
        if (fault !== null) fault.writeProtected = true;
        mmuWritable = false;
      }
    }
    const prefetch = fault === null;
    const lo = codec.makeSpte(ShadowMapper.pfn(slot, gfn), level, access, hostWritable, mmuWritable, prefetch && !synchronizing);
    // make_spte: a writable SPTE in a logged slot marks its page (mappingLevel keeps it 4 KiB).
    if (codec.isWritable(lo)) markPageDirty(slot, gfn, this.ctx.stats);
    return lo;
  }

  /**
   * mmu_set_spte: installs the leaf (or MMIO) SPTE for `gfn` at `sptep`, replacing what was
   * there, with its rmap and flush. `slot` undefined means no memslot: an MMIO SPTE, and the
   * access is emulated. `fault` is the fault being served (its write flag decides
   * WRITE_PROTECTED); null is a prefetch, as KVM passes a NULL fault.
   */
  setSpte(sptep: Sptep, access: number, gfn: Gfn, slot: Memslot | undefined, fault: PageFault | null): PfResult {
    const prefetch = fault === null;
    const { codec, stats } = this.ctx;
    const cache = this.cache;
    const sp = cache.pageOf(sptep);
    const k = sptepIndex(sptep);
    const level = sp.level;
    // No memslot: KVM_PFN_NOSLOT, which matches no present SPTE's pfn.
    const pfn = slot === undefined ? -1 : ShadowMapper.pfn(slot, gfn);
    const oldLo = cache.readSpteLo(sptep);
    const oldHi = cache.readSpteHi(sptep);
    let flush = false;
    let wasRmapped = false;
    if (codec.isShadowPresent(oldLo, oldHi)) {
      if (prefetch && codec.isLeaf(oldLo, oldHi, level) && pfn === codec.pfn(oldLo, oldHi)) return PfResult.SPURIOUS;
      if (level > 1 && !codec.isLarge(oldLo)) {
        // A huge page where a table was: unlink the table (mmu_page_zap_pte of the child).
        cache.unlinkSpte(sptep, oldLo, oldHi);
        stats.mmu_pde_zapped++;
        flush = true;
      } else if (pfn !== codec.pfn(oldLo, oldHi)) {
        cache.dropSpte(sptep);
        flush = true;
      } else {
        wasRmapped = true;
      }
    }
    if (slot === undefined) {
      // The MMIO SPTE goes in only after a present SPTE there was dropped (or its table unlinked)
      // above, as in KVM since "Drop/zap existing present SPTE even when creating an MMIO SPTE":
      // a guest PTE of an unsync page, rewritten natively to point outside every memslot, meets
      // the leaf made for its old frame, whose rmap entry must go with it.
      const lo = codec.makeMmioSpte(gfn, access, this.ctx.mmioGeneration());
      cache.spteSet(sptep, lo, u64.hi); // mark_mmio_spte
      this.ctx.trace?.installed(level, gfn, sptep, lo, u64.hi);
      stats.pf_mmio_spte_created++;
      stats.sptes_installed_mmio++;
      this.ctx.charge('spteWrite');
      if (flush) cache.remoteFlush();
      return PfResult.EMULATE;
    }
    // A fault's host page was faulted in by the faultin step (faultin.ts) before the map began.
    const curLo = cache.readSpteLo(sptep);
    const curHi = cache.readSpteHi(sptep);
    const lo = this.makeLeaf(level, access, gfn, slot, curLo, fault, false);
    const hi = u64.hi;
    let result: PfResult = PfResult.FIXED;
    if (curLo === lo && curHi === hi) {
      result = PfResult.SPURIOUS;
    } else {
      // mmu_spte_update: only a present SPTE kept in place (wasRmapped) can need the flush.
      if (cache.spteUpdate(sptep, lo, hi)) flush = true;
      this.ctx.trace?.installed(level, gfn, sptep, lo, hi);
      stats.sptes_installed_leaf++;
      this.ctx.charge('spteWrite');
    }
    if (fault !== null && fault.writeProtected && fault.write) result = PfResult.WRITE_PROTECTED;
    if (flush) cache.remoteFlush();
    if (!wasRmapped) cache.rmapAdd(gfn, level, sptep);
    if (sp.gfns !== null) {
      sp.gfns[k] = gfn;
      sp.access![k] = access;
    }
    return result;
  }

  /**
   * kvm_mmu_get_child_sp: null when the SPTE already points to a table (the walk continues into
   * it); otherwise the page one level down for (gfn, child role), found or created.
   */
  childSp(sptep: Sptep, gfn: Gfn, direct: boolean, access: number): ShadowPage | null {
    const { codec } = this.ctx;
    const cache = this.cache;
    const lo = cache.readSpteLo(sptep);
    const hi = cache.readSpteHi(sptep);
    const parent = cache.pageOf(sptep);
    if (codec.isShadowPresent(lo, hi) && !codec.isLarge(lo)) return null;
    return cache.get(gfn, childRole(parent.role, access, direct, sptepIndex(sptep) & 1)).sp;
  }

  /**
   * validate_direct_spte: a direct child made for other access rights (a guest large page whose
   * permissions or dirty bit changed) is unlinked so a new one is made.
   */
  validateDirect(sptep: Sptep, access: number): void {
    const { codec } = this.ctx;
    const cache = this.cache;
    const lo = cache.readSpteLo(sptep);
    const hi = cache.readSpteHi(sptep);
    if (!codec.isShadowPresent(lo, hi) || codec.isLarge(lo)) return;
    const child = cache.child(lo, hi);
    if (child === undefined || roleAccess(child.role) === access) return;
    cache.dropParentPte(child, sptep);
    cache.remoteFlush();
  }

  /**
   * kvm_mmu_max_mapping_level: the largest level (up to `maxLevel`) at which `gfn` can be mapped
   * by one SPTE: the memslot covers the aligned range with the same alignment in host memory,
   * the host backs it with pages at least that large, and no shadowed guest table lies inside.
   */
  mappingLevel(slot: Memslot, gfn: Gfn, maxLevel: number): number {
    if (slot.dirtyBitmap !== undefined) return 1; // kvm_mmu_hugepage_adjust: 4 KiB while logging
    for (let level = Math.min(maxLevel, 3); level > 1; level--) {
      if (level > this.ctx.hostMaxLevel || this.cache.lpageDisallowed(gfn, level)) continue;
      const span = levelPages(level);
      const base = gfnRoundForLevel(gfn, level);
      if (base >= slot.baseGfn && base + span <= slot.baseGfn + slot.npages &&
        (slot.hostHfn + (base - slot.baseGfn)) % span === 0) return level;
    }
    return 1;
  }

  /**
   * direct_map: from the root down to the goal level, linking a direct page per level (found in
   * the hash or made), then the leaf; 4 KiB leaves get their neighbours prefetched. `fault` has
   * been through the faultin step (its slot and pfn) and carries its maxLevel.
   */
  directMap(root: Hpa, rootLevel: number, fault: PageFault): PfResult {
    const { slot, gfn } = fault;
    const goal = slot === undefined ? 1 : this.mappingLevel(slot, gfn, fault.maxLevel);
    fault.reqLevel = fault.goalLevel = goal;
    this.ctx.trace?.spteRequested(gfn, slot === undefined ? 0 : fault.pfn, goal);
    const it = this.walk.init(root, rootLevel, fault.addrLo, fault.addrHi);
    let baseGfn = gfn;
    for (; it.okay(); it.next()) {
      baseGfn = gfnRoundForLevel(gfn, it.level);
      if (it.level === goal) break;
      const child = this.childSp(it.sptep, baseGfn, true, ACC_ALL);
      if (child !== null && slot?.dirtyBitmap !== undefined && this.ctx.codec.isShadowPresent(this.cache.readSpteLo(it.sptep), this.cache.readSpteHi(it.sptep))) {
        this.ctx.stats.huge_pages_zapped_for_logging++; // drop_large_spte in link: the 4 KiB pages fault one by one
      }
      if (child !== null) this.cache.link(it.sptep, child);
    }
    if (it.level !== goal) throw new Error(`direct map of gfn 0x${gfn.toString(16)} stopped at level ${it.level}, goal ${goal}`);
    const sptep = it.sptep;
    const r = this.setSpte(sptep, ACC_ALL, baseGfn, slot, fault);
    if (r === PfResult.SPURIOUS) return r;
    this.directPrefetch(sptep);
    return r;
  }

  /**
   * __direct_pte_prefetch: in the aligned group of 8 around a new 4 KiB leaf of a direct page,
   * each run of empty SPTEs is filled by prefetchRun as not-yet-accessed mappings; a run that
   * maps nothing ends the prefetch.
   */
  directPrefetch(sptep: Sptep): void {
    const cache = this.cache;
    const { codec } = this.ctx;
    const sp = cache.pageOf(sptep);
    if (sp.level > 1 || codec.adDisabled || !sp.direct) return;
    const access = roleAccess(sp.role);
    const first = sptepIndex(sptep) & ~(PTE_PREFETCH_NUM - 1);
    let run = -1;
    for (let k = first; k < first + PTE_PREFETCH_NUM; k++) {
      const p = sptepAt(sp.hpa, k);
      if (p === sptep || codec.isShadowPresent(cache.readSpteLo(p), cache.readSpteHi(p))) {
        if (run < 0) continue;
        if (!this.prefetchRun(sp, run, k, access)) return;
        run = -1;
      } else if (run < 0) {
        run = k;
      }
    }
    if (run >= 0) this.prefetchRun(sp, run, first + PTE_PREFETCH_NUM, access);
  }

  /**
   * direct_pte_prefetch_many for the SPTEs [from, to) of a direct page: the frames must lie in one
   * memslot that is not logged (gfn_to_memslot_dirty_bitmap, as the access is writable), and the
   * atomic host lookup (gfn_to_page_many_atomic; kvm_prefetch_pages since 6419bc52072b, 6.13)
   * pins only the leading frames whose host pages are already present. False when it got none.
   */
  private prefetchRun(sp: ShadowPage, from: number, to: number, access: number): boolean {
    const gfn = this.cache.leafGfn(sp, from);
    const slot = this.ctx.memslots.find(gfn);
    if (slot === undefined || (slot.dirtyBitmap !== undefined && (access & ACC_WRITE_MASK) !== 0)) return false;
    const n = to - from;
    // gfn_to_hva_many: a run past the end of the slot is refused whole.
    if (slot.baseGfn + slot.npages - gfn < n) return false;
    const got = this.hostPresentRun(slot, gfn, n);
    for (let i = 0; i < got; i++) {
      this.setSpte(sptepAt(sp.hpa, from + i), access, (gfn + i) as Gfn, slot, null);
      this.ctx.stats.sptes_prefetched++;
    }
    return got > 0;
  }

  /**
   * get_user_pages_fast_only (FOLL_WRITE) over `n` frames of `slot` from `gfn`: how many leading
   * ones are present on the host. KVM's atomic lookups never fault a page in: the shadow MMU's
   * FNAME(prefetch_gpte) uses the same rule for one frame (gfn_to_pfn_memslot_atomic, whose
   * hva_to_pfn gives up after hva_to_pfn_fast; gfn_to_page_many_atomic since 661fa987e4b5, 6.13).
   */
  hostPresentRun(slot: Memslot, gfn: Gfn, n: number): number {
    const pages = this.ctx.hostPages;
    return pages === undefined ? n : pages.presentRun(ShadowMapper.pfn(slot, gfn), n);
  }
}
