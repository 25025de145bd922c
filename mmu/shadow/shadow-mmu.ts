import type { MmioWalk, Mmu, MmuContext } from '../mmu.js';
import { type ShadowPage, ShadowPageCache } from '../shadow-pages/page-cache.js';
import { ShadowMapper } from '../shadow-pages/map.js';
import type { PageFault, PfResult } from '../page-fault-record.js';
import { ShadowWalk } from '../shadow-pages/shadow-walk.js';
import { type CpuRole, PT32E_ROOT_LEVEL, PT32_ROOT_LEVEL, extCr4Smep, roleCr0Wp, roleDirect, roleLevel, roleWithLevel, roleWithQuadrant } from '../role.js';
import { Request } from '../kvm/requests.js';
import { FRAMES_PER_LO, PAGE_SHIFT, PAGE_SIZE, type Gfn, type Gpa, type Hpa, gfn as asGfn } from '../../emulator/arch/address.js';
import { NUM_PREV_ROOTS, ROOT_CURRENT, ROOTS_ALL, RootCache, rootPrevious } from './roots.js';
import { ShadowSync } from './sync.js';
import { ShadowPageFault } from './page-fault.js';
import { trackWrite } from './write-track.js';
import { type ShadowGuest, pcidOf } from './shadow-guest.js';
import { auditShadow } from './audit.js';

/**
 * KVM's shadow MMU (ept=0/npt=0; kvm-mmu.md sections 1, 3, 4, 5): shadow pages for the guest's
 * own page tables, write-protected or unsync; roots per guest CR3 with three previous roots and
 * the fast PGD switch; pae_root for 32-bit, PAE and paging-off guests; sync at the guest's flush
 * points; emulated writes to shadowed tables.
 */
export class ShadowMmu implements Mmu {
  readonly name = 'shadow';
  readonly cache: ShadowPageCache;
  readonly roots: RootCache;
  readonly sync: ShadowSync;
  readonly fault: ShadowPageFault;
  private readonly ctx: MmuContext;
  private readonly guest: ShadowGuest;
  private readonly mapper: ShadowMapper;
  private readonly walk: ShadowWalk;
  private cpuRole: CpuRole = { base: 0, ext: 0 };
  private rootRole = 0;

  /**
   * One vCPU's shadow MMU over the VM's shadow-page cache (a new one when none is given). The
   * cache asks the running vCPU's MMU to sync a page (`cache.syncPage`): KVM syncs with the
   * vCPU at hand.
   */
  constructor(ctx: MmuContext, guest: ShadowGuest, cache?: ShadowPageCache) {
    this.ctx = ctx;
    this.guest = guest;
    this.cache = cache ?? new ShadowPageCache(ctx);
    this.mapper = new ShadowMapper(ctx, this.cache);
    this.roots = new RootCache(ctx, this.cache);
    this.walk = new ShadowWalk(ctx.arena.view, ctx.codec);
    const mmu = this;
    this.sync = new ShadowSync(ctx, this.cache, this.mapper, guest, {
      roots: this.roots,
      rootRole: () => mmu.rootRole,
      cpuLevel: () => roleLevel(mmu.cpuRole.base),
    });
    this.cache.syncPage = (sp) => this.sync.syncPage(sp);
    this.fault = new ShadowPageFault(ctx, this.cache, this.mapper, this.sync, guest, {
      rootHpa: () => mmu.roots.current.hpa,
      rootLevel: () => roleLevel(mmu.rootRole),
      nonpaging: () => roleDirect(mmu.cpuRole.base),
      cr0Wp: () => roleCr0Wp(mmu.cpuRole.base),
      smep: () => extCr4Smep(mmu.cpuRole.ext),
    });
  }

  init(cpuRole: CpuRole, rootRole: number): void {
    this.cpuRole = cpuRole;
    this.rootRole = rootRole;
  }

  currentRoot(): Hpa | -1 {
    return this.roots.current.hpa;
  }

  private get cpuLevel(): number {
    return roleLevel(this.cpuRole.base);
  }

  /**
   * kvm_mmu_load: allocate the roots for the current CR3 (mmu_alloc_shadow_roots) or, with paging
   * off, the direct roots (mmu_alloc_direct_roots), then sync them. Returns the hardware's CR3.
   */
  load(): Hpa | -1 {
    this.cache.makePagesAvailable();
    if (roleDirect(this.rootRole)) this.allocDirectRoots();
    else this.allocShadowRoots();
    this.sync.syncRoots();
    return this.roots.current.hpa;
  }

  /** mmu_alloc_root: the page for (gfn, root role at `level` and `quadrant`), with a root reference. */
  private allocRoot(gfn: Gfn, quadrant: number, level: number): ShadowPage {
    const role = roleWithQuadrant(roleWithLevel(this.rootRole, level), quadrant);
    const { sp, created } = this.cache.get(gfn, role);
    sp.rootCount++;
    if (created) {
      this.ctx.stats.root_alloc++;
      this.ctx.charge('rootAlloc');
    } else {
      this.ctx.stats.root_reuse++;
    }
    return sp;
  }

  private allocShadowRoots(): void {
    const roots = this.roots;
    const pgd = this.guest.cr3();
    const paging = this.guest.paging;
    if (this.cpuLevel >= 4) {
      const rootGfn = asGfn(Math.floor(pgd / PAGE_SIZE) % 2 ** 40);
      roots.current.hpa = this.allocRoot(rootGfn, 0, roleLevel(this.rootRole)).hpa;
      roots.current.pgd = pgd;
      return;
    }
    // A 32-bit or PAE guest: four level-2 roots behind pae_root. For PAE they shadow the page
    // directories the PDPTRs name; for 32-bit paging each shadows a quarter of the one directory.
    for (let i = 0; i < 4; i++) {
      let gfn = asGfn(Math.floor((pgd % 2 ** 32) / PAGE_SIZE));
      if (this.cpuLevel === PT32E_ROOT_LEVEL) {
        const lo = paging.pdpteLo[i];
        const hi = paging.pdpteHi[i];
        gfn = asGfn((hi & 0xfffff) * FRAMES_PER_LO + (lo >>> PAGE_SHIFT));
        if ((lo & 1) === 0 || this.ctx.memslots.find(gfn) === undefined) {
          roots.setPaeRoot(i, undefined);
          continue;
        }
      }
      const quadrant = this.cpuLevel === PT32_ROOT_LEVEL ? i : 0;
      roots.setPaeRoot(i, this.allocRoot(gfn, quadrant, PT32_ROOT_LEVEL));
    }
    roots.current.hpa = roots.paeRoot;
    roots.current.pgd = pgd;
  }

  /** With paging off: four direct level-2 roots mapping guest-physical 0-4 GiB through pae_root. */
  private allocDirectRoots(): void {
    const roots = this.roots;
    for (let i = 0; i < 4; i++) roots.setPaeRoot(i, this.allocRoot(asGfn(i << 18), 0, PT32_ROOT_LEVEL));
    roots.current.hpa = roots.paeRoot;
    roots.current.pgd = 0;
  }

  /** kvm_mmu_unload: free the current and previous roots. */
  unload(): void {
    this.roots.freeRoots(ROOTS_ALL);
  }

  freeRoots(mask: number): void {
    this.roots.freeRoots(mask);
  }

  /**
   * kvm_mmu_free_obsolete_roots: free current and previous roots whose page is invalid or from an
   * earlier MMU generation; the pae_root counts as obsolete (it has no page to tell).
   */
  freeObsoleteRoots(): void {
    const roots = this.roots;
    let mask = 0;
    if (this.isObsoleteRoot(roots.current.hpa)) mask |= ROOT_CURRENT;
    for (let i = 0; i < NUM_PREV_ROOTS; i++) if (this.isObsoleteRoot(roots.prev[i].hpa)) mask |= rootPrevious(i);
    if (mask !== 0) roots.freeRoots(mask);
  }

  private isObsoleteRoot(hpa: Hpa | -1): boolean {
    if (hpa === -1) return false;
    const sp = this.roots.rootSp(hpa);
    return sp === undefined || this.cache.isObsolete(sp);
  }

  /**
   * kvm_mmu_new_pgd with fast_pgd_switch: on a CR3 change, look for a usable root among the
   * current and previous ones (LRU); a hit is loaded at the next entry, a miss leaves no root and
   * the next entry allocates one. A PAE root is never cached: it is freed first.
   */
  newPgd(pgd: number): void {
    const roots = this.roots;
    const stats = this.ctx.stats;
    const direct = roleDirect(this.rootRole);
    const current = roots.current.hpa;
    if (current !== -1 && roots.rootSp(current) === undefined) roots.freeRoots(ROOT_CURRENT);
    const hit = roots.current.hpa >= 0
      ? roots.findAndKeepCurrent(pgd, this.rootRole, direct)
      : roots.findWithoutCurrent(pgd, this.rootRole, direct);
    if (!hit) {
      stats.fast_pgd_switch_miss++;
      return;
    }
    stats.fast_pgd_switch_hit++;
    this.ctx.request(Request.LOAD_MMU_PGD);
    if (!direct) roots.rootSp(roots.current.hpa as Hpa)!.writeFlooding = 0; // a hit loaded a root
  }

  /**
   * kvm_invalidate_pcid (shadow paging): flushing the active PCID syncs the current root and
   * flushes the hardware TLB; under PCIDE, previous roots with that PCID are freed.
   */
  invalidatePcid(pcid: number): void {
    const guest = this.guest;
    if (pcidOf(guest, guest.cr3()) === pcid) this.ctx.request(Request.MMU_SYNC | Request.TLB_FLUSH_CURRENT);
    if (!guest.pcide()) return;
    let mask = 0;
    for (let i = 0; i < NUM_PREV_ROOTS; i++) {
      if (this.roots.prev[i].hpa >= 0 && pcidOf(guest, this.roots.prev[i].pgd) === pcid) mask |= rootPrevious(i);
    }
    if (mask !== 0) this.roots.freeRoots(mask);
  }

  /** kvm_mmu_invlpg: sync the address in every root (global mappings may be anywhere). */
  invlpg(lo: number, hi: number): void {
    this.sync.invalidateAddr(lo, hi, ROOTS_ALL);
    this.ctx.stats.invlpg++;
  }

  /** kvm_mmu_invpcid_gva: the address in the roots whose PCID matches. Returns whether any did. */
  invpcidGva(lo: number, hi: number, pcid: number): boolean {
    const guest = this.guest;
    let mask = 0;
    if (pcid === pcidOf(guest, guest.cr3())) mask |= ROOT_CURRENT;
    for (let i = 0; i < NUM_PREV_ROOTS; i++) {
      if (this.roots.prev[i].hpa >= 0 && pcid === pcidOf(guest, this.roots.prev[i].pgd)) mask |= rootPrevious(i);
    }
    if (mask !== 0) this.sync.invalidateAddr(lo, hi, mask);
    this.ctx.stats.invlpg++;
    return mask !== 0;
  }

  /** KVM_REQ_MMU_SYNC. */
  syncRoots(): void {
    this.sync.syncRoots();
  }

  /** The shadow part of a guest TLB flush (kvm_vcpu_flush_tlb_guest): sync current, free unsync previous roots. */
  flushGuest(): void {
    this.sync.syncRoots();
    this.sync.syncPrevRoots();
  }

  /** #PF intercept, for a record filled by fromShadowFault. See ShadowPageFault.handle. */
  pageFault(fault: PageFault): PfResult {
    return this.fault.handle(fault);
  }

  /** kvm_mmu_unprotect_gfn: zap every shadow page of a guest frame. Returns whether any was. */
  unprotectGfn(gfn: Gfn): boolean {
    let zapped = false;
    for (const sp of [...this.cache.indirectPages(gfn)]) {
      if (sp.invalid) continue;
      this.cache.zap(sp);
      zapped = true;
    }
    this.cache.commit();
    return zapped;
  }

  /** kvm_mmu_track_write after an emulated write to guest RAM. */
  trackWrite(gpa: Gpa, bytes: number): void {
    trackWrite(this.ctx, this.cache, gpa, bytes);
  }

  /** get_walk for get_mmio_spte: the SPTEs on the path to a linear address under the current root. */
  mmioWalk(lo: number, hi: number): MmioWalk {
    const root = this.roots.current.hpa;
    if (root === -1) return [];
    const walk: [number, number, number][] = [];
    for (const it = this.walk.init(root, roleLevel(this.rootRole), lo, hi); it.okay(); it.next()) {
      walk.push([this.cache.readSpteLo(it.sptep), this.cache.readSpteHi(it.sptep), it.level]);
    }
    return walk;
  }

  /** kvm_mmu_zap_all_fast: a new MMU generation makes every page obsolete; zap them. */
  zapAllFast(): void {
    this.cache.validGen++;
    this.ctx.trace?.zapAllFast(this.cache.validGen, this.cache.active.length);
    this.ctx.stats.root_invalidated += this.roots.current.hpa >= 0 ? 1 : 0;
    this.cache.zapObsolete();
    this.cache.remoteFlush();
    this.ctx.requestAll(Request.FREE_OBSOLETE_ROOTS);
  }

  /** The shadow MMU's hardware TLB entries are not tagged by root (VPID/ASID and PCID only). */
  rootIncarnation(_root: Hpa): number {
    return 0;
  }

  /** Roots in use that are not obsolete; a pae_root counts when its level-2 roots are all valid. */
  validRoots(): number {
    // Every VM entry asks (roots_max): the current root and the previous ones, without an array.
    let n = this.validRoot(this.roots.current.hpa) ? 1 : 0;
    for (const r of this.roots.prev) if (this.validRoot(r.hpa)) n++;
    return n;
  }

  private validRoot(hpa: Hpa | -1): boolean {
    if (hpa === -1) return false;
    if (hpa !== this.roots.paeRoot) return !this.isObsoleteRoot(hpa);
    for (let i = 0; i < 4; i++) {
      const sp = this.roots.paeRootSp(i);
      if (sp !== undefined && this.cache.isObsolete(sp)) return false;
    }
    return true;
  }

  audit(out: string[]): void {
    auditShadow(this.ctx, this.cache, this.guest, out);
  }
}
