import type { Mmu, MmuContext } from '../mmu.js';
import { type TdpExit, TdpOutcome } from '../../emulator/hw/tdp-hardware.js';
import { TdpAccess } from '../../emulator/hw/tdp-walk.js';
import type { Memslot } from '../../emulator/machine/memslots.js';
import { u64 } from '../../emulator/arch/u64.js';
import { ACC_ALL } from '../spte.js';
import { RoleBit } from '../role.js';
import { Request } from '../kvm/requests.js';
import { type ShadowPage, ShadowPageCache } from './page-cache.js';

/**
 * KVM's legacy TDP MMU (tdp_mmu=0): direct shadow pages in the shadow-page cache. A root is the
 * page for (gfn 0, root role) with a root count; unloading a root only drops that count, so the
 * page stays in the hash with all its SPTEs and the next load finds it again (root_reuse). That is
 * why a role change was cheap here and expensive in the TDP MMU before lkml (c).
 */
export class LegacyTdpMmu implements Mmu {
  readonly name = 'legacy-tdp';
  private readonly ctx: MmuContext;
  readonly cache: ShadowPageCache;
  private root: ShadowPage | null = null;
  private rootRole = 0;
  private readonly incarnations = new Map<number, number>();

  constructor(ctx: MmuContext) {
    this.ctx = ctx;
    this.cache = new ShadowPageCache(ctx);
  }

  init(_cpuRole: number, rootRole: number): void {
    this.rootRole = rootRole;
  }

  currentRoot(): number {
    return this.root === null ? -1 : this.root.hpa;
  }

  /** mmu_alloc_root: kvm_mmu_get_shadow_page(0, root role) with root_count++. */
  load(): number {
    const { sp, created } = this.cache.get(0, this.rootRole);
    sp.rootCount++;
    if (created) {
      this.ctx.stats.root_alloc++;
      this.ctx.charge('rootAlloc');
      this.incarnations.set(sp.hpa, (this.incarnations.get(sp.hpa) ?? 0) + 1);
    } else {
      this.ctx.stats.root_reuse++;
    }
    this.root = sp;
    return sp.hpa;
  }

  /** kvm_mmu_free_roots: root_count--, and a root that is invalid or obsolete with no users goes. */
  unload(): void {
    const sp = this.root;
    if (sp === null) return;
    this.root = null;
    if (--sp.rootCount === 0 && this.cache.isObsolete(sp)) {
      if (sp.invalid) this.cache.free(sp);
      else this.cache.zap(sp);
      this.ctx.stats.root_freed++;
    }
  }

  freeObsoleteRoots(): void {
    if (this.root !== null && this.cache.isObsolete(this.root)) this.unload();
  }

  /** kvm_mmu_zap_all_fast: a new MMU generation makes every page obsolete; zap them. */
  zapAllFast(): void {
    this.cache.validGen++;
    this.ctx.stats.root_invalidated += this.root !== null ? 1 : 0;
    this.cache.zapObsolete();
    this.ctx.stats.remote_tlb_flush++;
    this.ctx.requests.make(Request.TLB_FLUSH | Request.FREE_OBSOLETE_ROOTS);
  }

  rootIncarnation(root: number): number {
    return this.incarnations.get(root) ?? 0;
  }

  validRoots(): number {
    let n = 0;
    for (const sp of this.cache.active) if (sp.rootCount > 0 && !this.cache.isObsolete(sp)) n++;
    return n;
  }

  private maxLevel(slot: Memslot, gfn: number): number {
    for (const level of [3, 2]) {
      if (level > this.ctx.hostMaxLevel) continue;
      const span = 512 ** (level - 1);
      const base = gfn - (gfn % span);
      if (base >= slot.baseGfn && base + span <= slot.baseGfn + slot.npages &&
        (slot.hostHfn + (base - slot.baseGfn)) % span === 0) return level;
    }
    return 1;
  }

  /**
   * direct_page_fault/direct_map: from the root down, find or create the direct shadow page for
   * each level (a hash lookup per level), link it, and install the leaf with its rmap entry.
   */
  pageFault(exit: TdpExit): TdpOutcome {
    const { codec, stats } = this.ctx;
    const cache = this.cache;
    const gfn = Math.floor(exit.gpa / 4096);
    const slot = this.ctx.memslots.find(gfn);
    if (slot !== undefined && slot.readOnly && (exit.access & TdpAccess.WRITE) !== 0) return TdpOutcome.EMULATE_MMIO;
    if (slot === undefined && !codec.mmioCachingEnabled) return TdpOutcome.EMULATE_MMIO;
    const target = slot === undefined ? 1 : this.maxLevel(slot, gfn);
    let sp = this.root!;
    for (;;) {
      const level = sp.level;
      const span = 512 ** (level - 1);
      const k = Math.floor(gfn / span) % 512;
      const sptep = sp.hpa + 8 * k;
      const lo = cache.readSpteLo(sptep);
      const hi = cache.readSpteHi(sptep);
      if (level === target) {
        if (codec.isShadowPresent(lo, hi)) {
          if (codec.isLeaf(lo, hi, level)) { stats.pf_spurious++; return TdpOutcome.RETRY; }
          this.dropChild(sptep, lo, hi); // a table where a huge page now fits
        }
        if (slot === undefined) {
          const mlo = codec.makeMmioSpte(gfn, ACC_ALL, this.ctx.mmioGeneration());
          cache.writeSpte(sptep, mlo, u64.hi);
          stats.pf_mmio_spte_created++;
          stats.sptes_installed_mmio++;
          this.ctx.charge('spteWrite');
          return TdpOutcome.EMULATE_MMIO;
        }
        const base = gfn - (gfn % span);
        const leafLo = codec.makeSpte(slot.hostHfn + (base - slot.baseGfn), level, ACC_ALL, !slot.readOnly, true, false);
        cache.writeSpte(sptep, leafLo, u64.hi);
        cache.rmapAdd(base, level, sptep);
        stats.sptes_installed_leaf++;
        stats.pf_fixed++;
        if (level === 1) stats.pages_4k++; else if (level === 2) stats.pages_2m++; else stats.pages_1g++;
        this.ctx.charge('spteWrite');
        return TdpOutcome.RETRY;
      }
      if (codec.isShadowPresent(lo, hi) && !codec.isLeaf(lo, hi, level)) {
        const child = cache.byHpa.get(codec.pfn(lo, hi) * 4096);
        if (child === undefined) throw new Error(`legacy TDP MMU: SPTE at 0x${sptep.toString(16)} points to no shadow page`);
        sp = child;
        continue;
      }
      if (codec.isShadowPresent(lo, hi)) {
        // A huge leaf above the target: zap it (drop_large_spte) and build a table below.
        cache.rmapRemove(gfn - (gfn % span), level, sptep);
        if (level === 2) stats.pages_2m--; else stats.pages_1g--;
        cache.writeSpte(sptep, codec.nonpresentLo, codec.nonpresentHi);
        stats.sptes_zapped++;
      }
      // kvm_mmu_child_role: one level down, direct, full access.
      const childRole = (this.rootRole & ~0xf) | (level - 1);
      const childGfn = gfn - (gfn % span);
      const { sp: child } = cache.get(childGfn, childRole | (1 << RoleBit.DIRECT));
      cache.link(sptep, child);
      sp = child;
    }
  }

  /** Unlinks the page a non-leaf SPTE points to (mmu_page_zap_pte for a child). */
  private dropChild(sptep: number, lo: number, hi: number): void {
    const { codec } = this.ctx;
    const child = this.cache.byHpa.get(codec.pfn(lo, hi) * 4096);
    if (child !== undefined) {
      const at = child.parentPtes.indexOf(sptep);
      if (at >= 0) child.parentPtes.splice(at, 1);
      this.ctx.stats.mmu_pde_zapped++;
    }
    this.cache.writeSpte(sptep, codec.nonpresentLo, codec.nonpresentHi);
  }

  mmioSpte(gpa: number): [number, number] | undefined {
    const { codec } = this.ctx;
    const gfn = Math.floor(gpa / 4096);
    let sp = this.root;
    while (sp !== null) {
      const k = Math.floor(gfn / 512 ** (sp.level - 1)) % 512;
      const sptep = sp.hpa + 8 * k;
      const lo = this.cache.readSpteLo(sptep);
      const hi = this.cache.readSpteHi(sptep);
      if (!codec.isShadowPresent(lo, hi) || codec.isLeaf(lo, hi, sp.level)) return [lo, hi];
      sp = this.cache.byHpa.get(codec.pfn(lo, hi) * 4096) ?? null;
    }
    return undefined;
  }

  /**
   * The checker: per-SPTE invariants; rmap consistency both ways (10); parent lists and levels
   * (11); a unique (gfn, role) per live page (12); leaves mapping what their memslot maps (7).
   */
  audit(out: string[]): void {
    const { codec, memslots } = this.ctx;
    const cache = this.cache;
    const seen = new Set<string>();
    for (const sp of cache.active) {
      const key = `${sp.gfn}:${sp.role}`;
      if (!cache.isObsolete(sp)) {
        if (seen.has(key)) out.push(`inv12: two live shadow pages for gfn 0x${sp.gfn.toString(16)} role 0x${sp.role.toString(16)}`);
        seen.add(key);
      }
      for (let k = 0; k < 512; k++) {
        const sptep = sp.hpa + 8 * k;
        const lo = cache.readSpteLo(sptep);
        const hi = cache.readSpteHi(sptep);
        if (lo === codec.nonpresentLo && hi === codec.nonpresentHi) continue;
        for (const v of codec.violations(lo, hi, sp.level)) out.push(`${v} (shadow page gfn 0x${sp.gfn.toString(16)}, index ${k})`);
        if (!codec.isShadowPresent(lo, hi)) continue;
        if (codec.isLeaf(lo, hi, sp.level)) {
          const gfn = cache.leafGfn(sp, k);
          if (!cache.rmapHas(gfn, sp.level, sptep)) out.push(`inv10: leaf SPTE at 0x${sptep.toString(16)} for gfn 0x${gfn.toString(16)} missing from its rmap`);
          const host = memslots.gpaToHpa(gfn * 4096);
          if (!cache.isObsolete(sp) && (host < 0 || host / 4096 !== codec.pfn(lo, hi))) {
            out.push(`inv7: leaf for gfn 0x${gfn.toString(16)} maps pfn 0x${codec.pfn(lo, hi).toString(16)}`);
          }
        } else {
          const child = cache.byHpa.get(codec.pfn(lo, hi) * 4096);
          if (child === undefined) out.push(`inv11: SPTE at 0x${sptep.toString(16)} points to no shadow page`);
          else {
            if (!child.parentPtes.includes(sptep)) out.push(`inv11: child page gfn 0x${child.gfn.toString(16)} lacks parent SPTE 0x${sptep.toString(16)}`);
            if (child.level !== sp.level - 1) out.push(`inv11: child level ${child.level} under level ${sp.level}`);
          }
        }
      }
    }
    for (const [gfn, level, sptep] of cache.rmapEntries()) {
      const lo = cache.readSpteLo(sptep);
      const hi = cache.readSpteHi(sptep);
      if (!codec.isShadowPresent(lo, hi) || !codec.isLeaf(lo, hi, level)) {
        out.push(`inv10: rmap of gfn 0x${gfn.toString(16)} points to a non-present or non-leaf SPTE`);
      }
    }
  }
}
