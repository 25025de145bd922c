import type { MmuContext } from '../mmu.js';
import type { ShadowPage, ShadowPageCache } from '../shadow-pages/page-cache.js';
import { type Hpa, hfnToHpa, sptepAt } from '../../emulator/arch/address.js';

/**
 * The shadow MMU's roots (kvm-mmu.md 4.1-4.3): the current root and three previous ones with the
 * guest CR3 (pgd) each was built for, kept in LRU order, and the pae_root page that stands in as
 * the root for 32-bit, PAE and paging-off guests (four entries pointing at level-2 shadow pages).
 * Freeing a root only drops its page's root count; the page stays in the hash.
 */
export interface RootInfo {
  /** Guest CR3 without the NOFLUSH bit (PCID included); 0 for direct roots. */
  pgd: number;
  /** Host address of the root table, or -1. */
  hpa: Hpa | -1;
}

/** KVM_MMU_ROOT_CURRENT and KVM_MMU_ROOT_PREVIOUS(i). */
export const ROOT_CURRENT = 1;
export const rootPrevious = (i: number): number => 2 << i;
export const ROOTS_ALL = 0xf;
/** KVM_MMU_NUM_PREV_ROOTS. */
export const NUM_PREV_ROOTS = 3;

export class RootCache {
  readonly current: RootInfo = { pgd: 0, hpa: -1 };
  readonly prev: RootInfo[] = Array.from({ length: NUM_PREV_ROOTS }, () => ({ pgd: 0, hpa: -1 }));
  /** Host address of mmu->pae_root. */
  readonly paeRoot: Hpa;
  private readonly ctx: MmuContext;
  private readonly cache: ShadowPageCache;
  private readonly view: DataView;

  constructor(ctx: MmuContext, cache: ShadowPageCache) {
    this.ctx = ctx;
    this.cache = cache;
    this.view = ctx.arena.view;
    this.paeRoot = hfnToHpa(ctx.arena.allocPage());
    for (let i = 0; i < 8; i++) this.view.setInt32(this.paeRoot + 4 * i, 0, true);
  }

  /** root_to_sp: the shadow page of a root, or undefined for the pae_root. */
  rootSp(hpa: Hpa): ShadowPage | undefined {
    return hpa === this.paeRoot ? undefined : this.cache.byHpa.get(hpa);
  }

  /** The level-2 page pae_root entry i points to, if valid (IS_VALID_PAE_ROOT). */
  paeRootSp(i: number): ShadowPage | undefined {
    const lo = this.view.getInt32(sptepAt(this.paeRoot, i), true);
    if ((lo & 1) === 0) return undefined;
    return this.cache.byHpa.get(((lo & 0xfffff000) >>> 0) as Hpa); // pae_root entries are 32-bit: the table is below 4 GiB
  }

  setPaeRoot(i: number, sp: ShadowPage | undefined): void {
    this.view.setInt32(sptepAt(this.paeRoot, i), sp === undefined ? 0 : sp.hpa | 1, true);
    this.view.setInt32(sptepAt(this.paeRoot, i) + 4, 0, true);
  }

  /** is_root_usable. */
  isUsable(root: RootInfo, pgd: number, role: number, direct: boolean): boolean {
    if (root.hpa === -1) return false;
    if (!direct && pgd !== root.pgd) return false;
    const sp = this.rootSp(root.hpa);
    return sp !== undefined && !sp.invalid && sp.role === role;
  }

  /**
   * cached_root_find_and_keep_current: swap the current root successively with prev[0..2] until
   * the current one is usable. A hit leaves the old current at prev[0]; a miss leaves the least
   * recently used root in the current slot, and frees it.
   */
  findAndKeepCurrent(pgd: number, role: number, direct: boolean): boolean {
    if (this.isUsable(this.current, pgd, role, direct)) return true;
    for (let i = 0; i < NUM_PREV_ROOTS; i++) {
      this.swap(this.current, this.prev[i]);
      if (this.isUsable(this.current, pgd, role, direct)) return true;
    }
    this.freeRoots(ROOT_CURRENT);
    return false;
  }

  /** cached_root_find_without_current: promote a usable prev root, shifting the rest up. */
  findWithoutCurrent(pgd: number, role: number, direct: boolean): boolean {
    let i = 0;
    for (; i < NUM_PREV_ROOTS; i++) if (this.isUsable(this.prev[i], pgd, role, direct)) break;
    if (i === NUM_PREV_ROOTS) return false;
    this.swap(this.current, this.prev[i]);
    for (; i < NUM_PREV_ROOTS - 1; i++) {
      this.prev[i].pgd = this.prev[i + 1].pgd;
      this.prev[i].hpa = this.prev[i + 1].hpa;
    }
    this.prev[i].hpa = -1;
    this.prev[i].pgd = 0;
    return true;
  }

  private swap(a: RootInfo, b: RootInfo): void {
    const pgd = a.pgd;
    const hpa = a.hpa;
    a.pgd = b.pgd;
    a.hpa = b.hpa;
    b.pgd = pgd;
    b.hpa = hpa;
  }

  /** kvm_mmu_free_roots: the roots selected by `mask` (ROOT_CURRENT, rootPrevious(i)). */
  freeRoots(mask: number): void {
    for (let i = 0; i < NUM_PREV_ROOTS; i++) {
      const hpa = this.prev[i].hpa;
      if ((mask & rootPrevious(i)) === 0 || hpa === -1) continue;
      this.freeRootPage(hpa);
      this.prev[i].hpa = -1;
      this.prev[i].pgd = 0;
    }
    const current = this.current.hpa;
    if ((mask & ROOT_CURRENT) !== 0 && current !== -1) {
      if (current === this.paeRoot) {
        for (let i = 0; i < 4; i++) {
          const sp = this.paeRootSp(i);
          if (sp !== undefined) this.freeRootPage(sp.hpa);
          this.setPaeRoot(i, undefined);
        }
      } else {
        this.freeRootPage(current);
      }
      this.current.hpa = -1;
      this.current.pgd = 0;
    }
    this.cache.commit();
  }

  /** mmu_free_root_page: drop a root reference; a zapped (invalid) root with none left goes. */
  private freeRootPage(hpa: Hpa): void {
    const sp = this.cache.byHpa.get(hpa);
    if (sp === undefined) return;
    if (--sp.rootCount === 0 && sp.invalid) {
      this.cache.zap(sp);
      this.ctx.stats.root_freed++;
    }
  }

  /** Every root page in use, current and previous, for the checker and the stale-root rules. */
  *livePages(): Generator<ShadowPage> {
    for (const r of [this.current, ...this.prev]) {
      const hpa = r.hpa;
      if (hpa === -1) continue;
      if (hpa === this.paeRoot) {
        for (let i = 0; i < 4; i++) { const sp = this.paeRootSp(i); if (sp !== undefined) yield sp; }
      } else {
        const sp = this.cache.byHpa.get(hpa);
        if (sp !== undefined) yield sp;
      }
    }
  }
}
