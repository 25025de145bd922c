import type { MmuContext } from '../mmu.js';
import type { ShadowPage, ShadowPageCache } from '../shadow-pages/page-cache.js';
import type { ShadowMapper } from '../shadow-pages/map.js';
import { ShadowWalk } from '../shadow-pages/shadow-walk.js';
import { u64 } from '../../emulator/arch/u64.js';
import { PAGE_SIZE, type Hpa, sptepAt } from '../../emulator/arch/address.js';
import { roleAccess, roleHas4ByteGpte, roleQuadrant, roleSyncMismatch } from '../role.js';
import { gpteAccess, gpteGfn, gpteInvalidForPrefetch, physHighMask } from './guest-walk.js';
import { Pte } from '../../emulator/paging/format.js';
import { ACC_WRITE_MASK } from '../spte.js';
import { NUM_PREV_ROOTS, ROOT_CURRENT, type RootCache, rootPrevious } from './roots.js';
import type { ShadowGuest } from './shadow-guest.js';


/** What the sync code needs to know about the MMU's current state. */
export interface SyncState {
  readonly roots: RootCache;
  /** mmu->root_role.word. */
  rootRole(): number;
  /** mmu->cpu_role.base.level: 0 (paging off), 2, 3, 4 or 5. */
  cpuLevel(): number;
}

/**
 * Bringing unsync shadow pages back in line with the guest's tables at its flush points
 * (kvm-mmu.md 3.7): FNAME(sync_spte), __kvm_sync_page, mmu_sync_children, kvm_mmu_sync_roots,
 * kvm_mmu_sync_prev_roots, and the per-address sync of INVLPG/INVPCID (kvm_mmu_invalidate_addr).
 */
export class ShadowSync {
  private readonly ctx: MmuContext;
  private readonly cache: ShadowPageCache;
  private readonly mapper: ShadowMapper;
  private readonly guest: ShadowGuest;
  private readonly state: SyncState;
  private readonly walk: ShadowWalk;

  constructor(ctx: MmuContext, cache: ShadowPageCache, mapper: ShadowMapper, guest: ShadowGuest, state: SyncState) {
    this.ctx = ctx;
    this.cache = cache;
    this.mapper = mapper;
    this.guest = guest;
    this.state = state;
    this.walk = new ShadowWalk(ctx.arena.view, ctx.codec);
  }

  /**
   * The guest-physical address of the guest entry that SPTE k of `sp` shadows. 4-byte guest
   * tables are shadowed by several pages: a page table by two (quadrant = which 2 MiB half), a
   * page directory by four (quadrant = which 1 GiB quarter, two SPTEs per guest entry).
   */
  static gpteGpa(sp: ShadowPage, k: number): number {
    const base = sp.gfn * PAGE_SIZE;
    if (!roleHas4ByteGpte(sp.role)) return base + 8 * k;
    const quadrant = roleQuadrant(sp.role);
    if (sp.level === 1) return base + 4 * (quadrant * 512 + k);
    return base + 4 * (quadrant * 256 + (k >>> 1));
  }

  /**
   * FNAME(sync_spte): re-read the guest entry behind SPTE k of an unsync page and bring the SPTE
   * in line: drop it if the entry is gone, unaccessed, invalid or maps another frame; otherwise
   * narrow or widen its rights (never beyond what write protection allows). Returns 1 if the
   * hardware TLB needs a flush, 0 if not.
   */
  syncSpte(sp: ShadowPage, k: number): number {
    const cache = this.cache;
    const { codec, stats } = this.ctx;
    const sptep = sptepAt(sp.hpa, k);
    const oldLo = cache.readSpteLo(sptep);
    const oldHi = cache.readSpteHi(sptep);
    if (oldLo === codec.nonpresentLo && oldHi === codec.nonpresentHi) return 0;
    stats.sync_spte++;
    this.ctx.charge('syncSpte');
    const paging = this.guest.paging;
    const wide = paging.format.wide;
    const gpa = ShadowSync.gpteGpa(sp, k);
    const gLo = this.guest.tables.readPhys32(gpa);
    const gHi = wide ? this.guest.tables.readPhys32(gpa + 4) : 0;
    if (gpteInvalidForPrefetch(paging, gLo, gHi)) {
      cache.dropSpte(sptep);
      return 1;
    }
    const gfn = gpteGfn(gLo, gHi, wide, physHighMask(paging));
    let access = roleAccess(sp.role) & gpteAccess(gLo, gHi, wide, paging.nxe);
    if ((gLo & Pte.D) === 0) access &= ~ACC_WRITE_MASK;
    if (codec.isMmio(oldLo, oldHi)) {
      // sync_mmio_spte: still this gfn: refresh access and generation; else drop.
      // Neither is counted as a zap or an install (KVM's sync_mmio_spte counts nothing).
      if (gfn !== codec.mmioGfn(oldLo, oldHi)) cache.spteClearNoTrack(sptep);
      else cache.spteSet(sptep, codec.makeMmioSpte(gfn, access, this.ctx.mmioGeneration()), u64.hi);
      return 0;
    }
    if (gfn !== cache.leafGfn(sp, k)) {
      cache.dropSpte(sptep);
      return 1;
    }
    if (sp.access![k] === access) return 0;
    sp.access![k] = access;
    const slot = this.ctx.memslots.find(gfn);
    if (slot === undefined) {
      cache.dropSpte(sptep);
      return 1;
    }
    const lo = this.mapper.makeLeaf(sp.level, access, gfn, slot, oldLo, null, true);
    // mmu_spte_update: same gfn and level, so the rmap entry stays (no rmap change, nothing counted).
    return cache.spteUpdate(sptep, lo, u64.hi) ? 1 : 0;
  }

  /**
   * __kvm_sync_page: sync every SPTE of a leaf page. Returns -1 when the page was built for an
   * MMU role that is not the current one (the caller zaps it), else 1 if a flush is needed.
   */
  syncPage(sp: ShadowPage): number {
    if (sp.direct || roleSyncMismatch(sp.role, this.state.rootRole())) return -1;
    this.ctx.stats.sync_page++;
    this.ctx.trace?.syncPage(sp);
    let flush = 0;
    for (let k = 0; k < 512; k++) flush |= this.syncSpte(sp, k);
    return flush;
  }

  /**
   * mmu_sync_children: write-protect the frames of every unsync page below `parent` again, then
   * sync each (zapping those that cannot be), and clear the unsync marks above them.
   */
  syncChildren(parent: ShadowPage): void {
    const cache = this.cache;
    const pages = cache.collectUnsync(parent);
    if (pages.length === 0) return;
    let protectedAny = false;
    for (const sp of pages) if (cache.writeProtectGfn(sp.gfn)) protectedAny = true;
    if (protectedAny) cache.remoteFlush();
    let flush = false;
    for (const sp of pages) {
      if (sp.invalid) continue;
      cache.unlinkUnsync(sp);
      this.ctx.stats.unsync_to_sync++;
      const r = this.syncPage(sp);
      if (r < 0) cache.zap(sp);
      else if (r > 0) flush = true;
      cache.clearParentsUnsync(sp);
    }
    cache.commit(flush);
  }

  /** is_unsync_root. */
  private isUnsyncRoot(hpa: Hpa | -1): boolean {
    if (hpa === -1) return false;
    const sp = this.state.roots.rootSp(hpa);
    return sp !== undefined && (sp.unsync || sp.unsyncChildren > 0);
  }

  /** kvm_mmu_sync_roots: sync what is unsync below the current root (or the four PAE roots). */
  syncRoots(): void {
    const roots = this.state.roots;
    const current = roots.current.hpa;
    if (current === -1) return;
    if (this.state.cpuLevel() >= 4) {
      if (!this.isUnsyncRoot(current)) return;
      this.syncChildren(roots.rootSp(current)!);
      return;
    }
    for (let i = 0; i < 4; i++) {
      const sp = roots.paeRootSp(i);
      if (sp !== undefined) this.syncChildren(sp);
    }
  }

  /** kvm_mmu_sync_prev_roots: previous roots with unsync pages are freed rather than synced. */
  syncPrevRoots(): void {
    const roots = this.state.roots;
    let mask = 0;
    for (let i = 0; i < NUM_PREV_ROOTS; i++) if (this.isUnsyncRoot(roots.prev[i].hpa)) mask |= rootPrevious(i);
    if (mask !== 0) roots.freeRoots(mask);
  }

  /**
   * kvm_mmu_invalidate_addr for the roots in `mask`: along the SPTEs covering the address, sync
   * the one entry of each unsync page, and stop where nothing below is unsync.
   */
  invalidateAddr(lo: number, hi: number, mask: number): void {
    const roots = this.state.roots;
    if ((mask & ROOT_CURRENT) !== 0) this.invalidateAddrInRoot(roots.current.hpa, lo, hi);
    for (let i = 0; i < NUM_PREV_ROOTS; i++) {
      if ((mask & rootPrevious(i)) !== 0) this.invalidateAddrInRoot(roots.prev[i].hpa, lo, hi);
    }
  }

  private invalidateAddrInRoot(root: Hpa | -1, lo: number, hi: number): void {
    if (root === -1) return;
    const cache = this.cache;
    const rootSp = this.state.roots.rootSp(root);
    const it = this.walk.init(root, rootSp === undefined ? 3 : rootSp.level, lo, hi);
    for (; it.okay(); it.next()) {
      const sp = cache.pageOf(it.sptep);
      if (sp.unsync) {
        const r = this.syncSpte(sp, it.index);
        if (r !== 0) cache.remoteFlush();
      }
      if (sp.unsyncChildren === 0) break;
    }
  }
}
