import type { MmioWalk, MmuContext, TdpCapableMmu } from '../mmu.js';
import { TdpOutcome } from '../../emulator/hw/tdp-hardware.js';
import { type PageFault, PfResult } from '../page-fault-record.js';
import { type Hpa, type Sptep, gfn as asGfn } from '../../emulator/arch/address.js';
import { type CpuRole, roleLevel } from '../role.js';
import { Request } from '../kvm/requests.js';
import { type ShadowPage, ShadowPageCache } from '../shadow-pages/page-cache.js';
import { ShadowMapper } from '../shadow-pages/map.js';
import { auditShadow } from '../shadow/audit.js';
import { FastPf, SPTE_W, fastPfVerdict, markPageDirty } from '../dirty-log.js';

/**
 * KVM's legacy TDP MMU (tdp_mmu=0): direct shadow pages in the shadow-page cache. A root is the
 * page for (gfn 0, root role) with a root count; unloading a root only drops that count, so the
 * page stays in the hash with all its SPTEs and the next load finds it again (root_reuse). That is
 * why a role change was cheap here and expensive in the TDP MMU before lkml (c).
 */
export class LegacyTdpMmu implements TdpCapableMmu {
  readonly name = 'legacy-tdp';
  private readonly ctx: MmuContext;
  readonly cache: ShadowPageCache;
  private readonly mapper: ShadowMapper;
  private root: ShadowPage | null = null;
  private rootRole = 0;

  /** One vCPU's legacy TDP MMU over the VM's shadow-page cache (a new one when none is given). */
  constructor(ctx: MmuContext, cache = new ShadowPageCache(ctx)) {
    this.ctx = ctx;
    this.cache = cache;
    this.mapper = new ShadowMapper(ctx, this.cache);
  }

  init(_cpuRole: CpuRole, rootRole: number): void {
    this.rootRole = rootRole;
  }

  currentRoot(): Hpa | -1 {
    return this.root === null ? -1 : this.root.hpa;
  }

  /** mmu_alloc_root: kvm_mmu_get_shadow_page(0, root role) with root_count++. */
  load(): Hpa {
    this.cache.makePagesAvailable();
    const { sp, created } = this.cache.get(asGfn(0), this.rootRole);
    sp.rootCount++;
    if (created) {
      this.ctx.stats.root_alloc++;
      this.ctx.charge('rootAlloc');
      this.cache.rootIncarnations.set(sp.hpa, (this.cache.rootIncarnations.get(sp.hpa) ?? 0) + 1);
    } else {
      this.ctx.stats.root_reuse++;
    }
    this.root = sp;
    return sp.hpa;
  }

  /** kvm_mmu_free_roots: root_count--, and a zapped (invalid) root with no users goes. */
  unload(): void {
    const sp = this.root;
    if (sp === null) return;
    this.root = null;
    if (--sp.rootCount === 0 && sp.invalid) {
      this.cache.zap(sp);
      this.ctx.stats.root_freed++;
    }
    this.cache.commit();
  }

  freeObsoleteRoots(): void {
    if (this.root !== null && this.cache.isObsolete(this.root)) this.unload();
  }

  /** kvm_mmu_zap_all_fast: a new MMU generation makes every page obsolete; zap them. */
  zapAllFast(): void {
    this.cache.validGen++;
    this.ctx.trace?.zapAllFast(this.cache.validGen, this.cache.active.length);
    this.ctx.stats.root_invalidated += this.root !== null ? 1 : 0;
    this.cache.zapObsolete();
    this.cache.remoteFlush();
    this.ctx.requestAll(Request.FREE_OBSOLETE_ROOTS);
  }

  rootIncarnation(root: Hpa): number {
    return this.cache.rootIncarnations.get(root) ?? 0;
  }

  validRoots(): number {
    let n = 0;
    for (const sp of this.cache.active) if (sp.rootCount > 0 && !this.cache.isObsolete(sp)) n++;
    return n;
  }

  /**
   * direct_page_fault after the faultin step (faultin.ts), which already sent a write to a
   * read-only memslot, or a frame with no memslot while MMIO caching is off, to emulation: a
   * frame with no memslot gets an MMIO SPTE; otherwise direct_map from the root, 1 GiB at most.
   */
  pageFault(fault: PageFault): TdpOutcome {
    this.cache.makePagesAvailable();
    const root = this.root!;
    fault.maxLevel = 3;
    const r = this.mapper.directMap(root.hpa, roleLevel(this.rootRole), fault);
    if (r === PfResult.FIXED) this.ctx.stats.pf_fixed++;
    else if (r === PfResult.SPURIOUS) this.ctx.stats.pf_spurious++;
    return r === PfResult.EMULATE ? TdpOutcome.EMULATE_MMIO : TdpOutcome.RETRY;
  }

  /**
   * fast_page_fault under walk_shadow_page_lockless_begin (no mmu_lock): W back on a
   * write-protected, MMU-writable leaf, and the page logged.
   */
  fastPageFault(fault: PageFault, pmlOnly = false): FastPf {
    if (!fault.write || this.root === null) return FastPf.INVALID;
    const cache = this.cache;
    let sptep: Sptep | -1 = -1;
    let level = 0;
    for (const it = this.mapper.walk.init(this.root.hpa, roleLevel(this.rootRole), fault.addrLo, fault.addrHi); it.okay(); it.next()) {
      sptep = it.sptep;
      level = it.level;
    }
    if (sptep === -1) return FastPf.INVALID;
    const lo = cache.readSpteLo(sptep);
    const hi = cache.readSpteHi(sptep);
    const gfn = fault.gfn;
    const slot = this.ctx.memslots.find(gfn);
    const verdict = fastPfVerdict(this.ctx.codec, lo, hi, level, slot, pmlOnly);
    if (verdict === FastPf.FIXED) {
      // fast_pf_fix_direct_spte's cmpxchg (one vCPU at a time here, so it cannot lose): only
      // bits are gained, so mmu_spte_update asks for no flush.
      cache.spteUpdate(sptep, lo | SPTE_W | this.ctx.codec.dirtyLo, hi);
      // Under PML the CPU logs the GPA in its buffer; KVM marks it when the buffer is drained.
      if (!pmlOnly) markPageDirty(slot, gfn, this.ctx.stats);
    }
    return verdict;
  }

  mmioWalk(lo: number, hi: number): MmioWalk {
    if (this.root === null) return [];
    const walk: [number, number, number][] = [];
    for (const it = this.mapper.walk.init(this.root.hpa, roleLevel(this.rootRole), lo, hi); it.okay(); it.next()) {
      walk.push([this.cache.readSpteLo(it.sptep), this.cache.readSpteHi(it.sptep), it.level]);
    }
    return walk;
  }

  audit(out: string[]): void {
    auditShadow(this.ctx, this.cache, undefined, out);
  }
}
