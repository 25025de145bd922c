import type { MmuContext } from '../mmu.js';
import { u64 } from '../../emulator/arch/u64.js';
import { roleLevel } from '../role.js';

/**
 * KVM's shadow-page cache (mmu.c, kvm-mmu.md section 3): shadow pages keyed by (gfn, role) in a
 * hash table, each page a 512-entry table in the host arena, with its parent SPTEs, a root count,
 * and the MMU generation it was made in; rmaps from guest frames to the leaf SPTEs that map them.
 * Used by the legacy TDP MMU (direct pages) and, later, the shadow MMU.
 */
export class ShadowPage {
  /** Host address of the page's table. */
  readonly hpa: number;
  readonly gfn: number;
  readonly role: number;
  /** Host addresses of the SPTEs that point to this page. */
  readonly parentPtes: number[] = [];
  rootCount = 0;
  /** mmu_valid_gen when made: a different VM generation makes the page obsolete. */
  validGen: number;
  /** role.invalid: zapped while in use as a root. */
  invalid = false;

  constructor(hpa: number, gfn: number, role: number, validGen: number) {
    this.hpa = hpa;
    this.gfn = gfn;
    this.role = role;
    this.validGen = validGen;
  }

  get level(): number {
    return roleLevel(this.role);
  }
}

/** Hash buckets, like KVM_MMU_HASH_SHIFT = 12. */
const HASH_BUCKETS = 4096;

export class ShadowPageCache {
  private readonly ctx: MmuContext;
  private readonly view: DataView;
  private readonly hash: ShadowPage[][] = Array.from({ length: HASH_BUCKETS }, () => []);
  /** Every live page by its host address, for following SPTEs to pages. */
  readonly byHpa = new Map<number, ShadowPage>();
  /** Pages in creation order (active_mmu_pages, newest last). */
  readonly active: ShadowPage[] = [];
  /** Leaf SPTE addresses per (gfn, level): the rmaps. */
  private readonly rmaps = new Map<number, number[]>();
  /** kvm->arch.mmu_valid_gen. */
  validGen = 0;

  constructor(ctx: MmuContext) {
    this.ctx = ctx;
    this.view = ctx.arena.view;
  }

  isObsolete(sp: ShadowPage): boolean {
    return sp.invalid || sp.validGen !== this.validGen;
  }

  /** kvm_mmu_find_shadow_page: a live, non-obsolete page with this gfn and role word. */
  find(gfn: number, role: number): ShadowPage | undefined {
    const bucket = this.hash[gfn % HASH_BUCKETS];
    this.ctx.charge('hashLookup');
    let walked = 0;
    for (const sp of bucket) {
      walked++;
      if (sp.gfn === gfn && sp.role === role && !this.isObsolete(sp)) {
        this.noteCollisions(walked);
        return sp;
      }
    }
    this.noteCollisions(walked);
    return undefined;
  }

  private noteCollisions(n: number): void {
    const s = this.ctx.stats;
    if (n > s.max_mmu_page_hash_collisions) s.max_mmu_page_hash_collisions = n;
  }

  /** kvm_mmu_get_shadow_page: find, or allocate on a miss (mmu_cache_miss). */
  get(gfn: number, role: number): { sp: ShadowPage; created: boolean } {
    const found = this.find(gfn, role);
    if (found !== undefined) return { sp: found, created: false };
    const { stats, codec } = this.ctx;
    stats.mmu_cache_miss++;
    const page = this.ctx.arena.allocPage();
    stats.mmu_pages_allocated++;
    this.ctx.charge('pageAlloc');
    const hpa = page * 4096;
    if (codec.nonpresentLo !== 0 || codec.nonpresentHi !== 0) {
      for (let k = 0; k < 512; k++) this.writeSpte(hpa + 8 * k, codec.nonpresentLo, codec.nonpresentHi);
    }
    const sp = new ShadowPage(hpa, gfn, role, this.validGen);
    this.hash[gfn % HASH_BUCKETS].push(sp);
    this.byHpa.set(hpa, sp);
    this.active.push(sp);
    return { sp, created: true };
  }

  readSpteLo(sptep: number): number {
    return this.view.getInt32(sptep, true);
  }

  readSpteHi(sptep: number): number {
    return this.view.getInt32(sptep + 4, true);
  }

  writeSpte(sptep: number, lo: number, hi: number): void {
    this.view.setInt32(sptep, lo, true);
    this.view.setInt32(sptep + 4, hi, true);
  }

  /** __link_shadow_page: point the SPTE at `sptep` to `child` and record the parent. */
  link(sptep: number, child: ShadowPage): void {
    const lo = this.ctx.codec.makeNonLeafSpte(child.hpa / 4096);
    this.writeSpte(sptep, lo, u64.hi);
    child.parentPtes.push(sptep);
    this.ctx.stats.sptes_installed_nonleaf++;
    this.ctx.charge('spteWrite');
  }

  private rmapKey(gfn: number, level: number): number {
    return gfn * 4 + (level - 1);
  }

  /** rmap_add. */
  rmapAdd(gfn: number, level: number, sptep: number): void {
    const key = this.rmapKey(gfn, level);
    let list = this.rmaps.get(key);
    if (list === undefined) this.rmaps.set(key, (list = []));
    list.push(sptep);
    const s = this.ctx.stats;
    if (list.length > s.max_mmu_rmap_size) s.max_mmu_rmap_size = list.length;
  }

  /** pte_list_remove; a missing entry is the BUG KVM hits in lkml (e): reported, not thrown. */
  rmapRemove(gfn: number, level: number, sptep: number, problems?: string[]): void {
    const key = this.rmapKey(gfn, level);
    const list = this.rmaps.get(key);
    const k = list === undefined ? -1 : list.indexOf(sptep);
    if (k < 0) {
      problems?.push(`inv10: rmap of gfn 0x${gfn.toString(16)} level ${level} lacks SPTE at 0x${sptep.toString(16)}`);
      return;
    }
    list!.splice(k, 1);
    if (list!.length === 0) this.rmaps.delete(key);
  }

  rmapHas(gfn: number, level: number, sptep: number): boolean {
    return this.rmaps.get(this.rmapKey(gfn, level))?.includes(sptep) ?? false;
  }

  /** Every rmap entry, for the checker. */
  *rmapEntries(): Generator<[number, number, number]> {
    for (const [key, list] of this.rmaps) for (const sptep of list) yield [Math.floor(key / 4), (key % 4) + 1, sptep];
  }

  /**
   * The gfn a leaf SPTE at index k of page `sp` maps. Direct pages map a linear range from their
   * gfn; indirect (shadow) pages will record it per SPTE.
   */
  leafGfn(sp: ShadowPage, k: number): number {
    return sp.gfn + k * 512 ** (sp.level - 1);
  }

  /**
   * __kvm_mmu_prepare_zap_page and kvm_mmu_commit_zap_page for one page: drop its leaves from the
   * rmaps and its children's parent lists, clear the SPTEs that point to it, and free it, unless a
   * vCPU still has it loaded as a root: then it is marked invalid and freed when unloaded.
   * Returns whether the page was freed.
   */
  zap(sp: ShadowPage, problems?: string[]): boolean {
    const { stats, codec } = this.ctx;
    stats.mmu_shadow_zapped++;
    for (let k = 0; k < 512; k++) {
      const sptep = sp.hpa + 8 * k;
      const lo = this.readSpteLo(sptep);
      const hi = this.readSpteHi(sptep);
      if (!codec.isShadowPresent(lo, hi)) {
        if (codec.isMmio(lo, hi)) { this.writeSpte(sptep, codec.nonpresentLo, codec.nonpresentHi); stats.sptes_zapped++; }
        continue;
      }
      if (codec.isLeaf(lo, hi, sp.level)) {
        this.rmapRemove(this.leafGfn(sp, k), sp.level, sptep, problems);
        if (sp.level === 1) stats.pages_4k--; else if (sp.level === 2) stats.pages_2m--; else stats.pages_1g--;
      } else {
        const child = this.byHpa.get(codec.pfn(lo, hi) * 4096);
        if (child !== undefined) {
          const at = child.parentPtes.indexOf(sptep);
          if (at >= 0) child.parentPtes.splice(at, 1);
        }
      }
      this.writeSpte(sptep, codec.nonpresentLo, codec.nonpresentHi);
      stats.sptes_zapped++;
      this.ctx.charge('spteZap');
    }
    for (const parent of sp.parentPtes) this.writeSpte(parent, codec.nonpresentLo, codec.nonpresentHi);
    sp.parentPtes.length = 0;
    if (sp.rootCount > 0) {
      sp.invalid = true;
      return false;
    }
    this.free(sp);
    return true;
  }

  /** Removes a page with no users from every list and returns its memory. */
  free(sp: ShadowPage): void {
    const bucket = this.hash[sp.gfn % HASH_BUCKETS];
    bucket.splice(bucket.indexOf(sp), 1);
    this.active.splice(this.active.indexOf(sp), 1);
    this.byHpa.delete(sp.hpa);
    this.ctx.arena.freePage((sp.hpa / 4096) as Parameters<MmuContext['arena']['freePage']>[0]);
    this.ctx.stats.mmu_pages_freed++;
  }

  /** kvm_zap_obsolete_pages: zap every obsolete page (roots still loaded become invalid). */
  zapObsolete(problems?: string[]): number {
    let zapped = 0;
    for (const sp of [...this.active]) {
      if (sp.validGen !== this.validGen && !sp.invalid) {
        this.zap(sp, problems);
        zapped++;
      }
    }
    return zapped;
  }
}
