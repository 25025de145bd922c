import type { MmuContext } from '../mmu.js';
import type { ShadowPageCache } from '../shadow-pages/page-cache.js';
import { PTE_PREFETCH_NUM, type ShadowMapper } from '../shadow-pages/map.js';
import { ShadowWalk } from '../shadow-pages/shadow-walk.js';
import { ACC_EXEC_MASK, ACC_USER_MASK, ACC_WRITE_MASK } from '../spte.js';
import { roleAccess } from '../role.js';
import { type Gfn, type Hpa, type Sptep, PAGE_SHIFT, gfn as asGfn, gfnRoundForLevel, sptepAt, sptepIndex } from '../../emulator/arch/address.js';
import { type PageFault, PfResult } from '../page-fault-record.js';
import { faultinPfn } from '../faultin.js';
import { PagingMode, Pte } from '../../emulator/paging/format.js';
import { GuestWalk, gpteAccess, gpteGfn, gpteInvalidForPrefetch, physHighMask } from './guest-walk.js';
import type { ShadowGuest } from './shadow-guest.js';
import type { ShadowSync } from './sync.js';

/** The MMU state the fault handler reads. */
export interface FaultState {
  /** Root to walk (-1: none loaded) and its level (3: the pae_root). */
  rootHpa(): Hpa | -1;
  rootLevel(): number;
  /** The guest pages with paging off: KVM maps guest-physical addresses directly. */
  nonpaging(): boolean;
  /** mmu->cpu_role: CR0.WP and CR4.SMEP. */
  cr0Wp(): boolean;
  smep(): boolean;
}

/**
 * The shadow MMU's #PF handler (paging_tmpl.h FNAME(page_fault) and FNAME(fetch); nonpaging_page_fault
 * for paging off): walk the guest's tables in software; a guest-level failure is the guest's own
 * #PF; otherwise build the shadow path for the address, a shadow page per guest table (with
 * the access of the path above it in its role), and install the leaf with the guest's rights
 * adjusted for dirty-bit tracking and CR0.WP=0, then prefetch neighbouring guest PTEs.
 */
export class ShadowPageFault {
  private readonly ctx: MmuContext;
  private readonly cache: ShadowPageCache;
  private readonly mapper: ShadowMapper;
  private readonly sync: ShadowSync;
  private readonly guest: ShadowGuest;
  private readonly state: FaultState;
  readonly gw = new GuestWalk();
  private readonly walk: ShadowWalk;

  constructor(ctx: MmuContext, cache: ShadowPageCache, mapper: ShadowMapper, sync: ShadowSync, guest: ShadowGuest, state: FaultState) {
    this.ctx = ctx;
    this.cache = cache;
    this.mapper = mapper;
    this.sync = sync;
    this.guest = guest;
    this.state = state;
    this.walk = new ShadowWalk(ctx.arena.view, ctx.codec);
  }

  /**
   * Handles a hardware #PF recorded in `fault` (fromShadowFault: its error code without RSVD,
   * the Access bits of the attempt). Returns RET_PF_*; fault.gfn is the guest frame the access
   * goes to (for EMULATE and WRITE_PROTECTED), fault.injectCode >= 0 means inject #PF, and
   * fault.hostFaults the host pages the faultin step brought in.
   */
  handle(fault: PageFault): PfResult {
    const lo = fault.addrLo, hi = fault.addrHi;
    if (this.state.nonpaging()) {
      // nonpaging_page_fault: the guest-physical address is the linear address; PAE tables, so 2 MiB at most.
      fault.gfn = asGfn(lo >>> PAGE_SHIFT);
      if (this.pageTracked(fault)) return PfResult.WRITE_PROTECTED;
      if (faultinPfn(fault, this.ctx) !== PfResult.CONTINUE) return PfResult.EMULATE;
      this.cache.makePagesAvailable();
      fault.maxLevel = 2;
      return this.mapper.directMap(this.loadedRoot(), this.state.rootLevel(), fault);
    }
    const gw = this.gw;
    const walked = gw.run(this.guest.paging, this.guest.tables, lo, hi, fault.access);
    this.ctx.trace?.guestWalk(lo, hi, fault.errorCode, this.guest.paging.format.mode === PagingMode.PAE ? 3 : gw.top, gw.result.level, gw.result.pteLo, gw.result.pteHi, walked ? -1 : gw.errorCode);
    if (!walked) {
      fault.injectCode = gw.errorCode;
      this.ctx.stats.pf_guest++;
      return PfResult.RETRY;
    }
    fault.gfn = gw.gfn;
    if (this.pageTracked(fault)) {
      this.clearFlooding(lo, hi);
      return PfResult.WRITE_PROTECTED;
    }
    this.cache.makePagesAvailable();
    if (faultinPfn(fault, this.ctx) !== PfResult.CONTINUE) return PfResult.EMULATE;
    let pteAccess = gw.pteAccess;
    // CR0.WP=0: a supervisor write to a read-only page maps it writable but supervisor-only, and
    // not executable under SMEP (it would otherwise be a supervisor-executable user page).
    if (fault.write && (pteAccess & ACC_WRITE_MASK) === 0 && !this.state.cr0Wp() && !fault.user && fault.slot !== undefined) {
      pteAccess = (pteAccess | ACC_WRITE_MASK) & ~ACC_USER_MASK;
      if (this.state.smep()) pteAccess &= ~ACC_EXEC_MASK;
    }
    fault.maxLevel = gw.level;
    return this.fetch(fault, pteAccess);
  }

  /** The root a fault walks: the vCPU entered the guest with one loaded, so there is one. */
  private loadedRoot(): Hpa {
    const root = this.state.rootHpa();
    if (root === -1) throw new Error('shadow page fault with no root loaded');
    return root;
  }

  /** page_fault_handle_page_track: a write to a write-tracked frame can only be emulated. */
  private pageTracked(fault: PageFault): boolean {
    return fault.present && fault.write && this.cache.isWriteTracked(fault.gfn);
  }

  /** shadow_page_table_clear_flood: the pages on the path to the address are in use, not flooded. */
  private clearFlooding(lo: number, hi: number): void {
    const root = this.state.rootHpa();
    if (root === -1) return;
    for (const it = this.walk.init(root, this.state.rootLevel(), lo, hi); it.okay(); it.next()) {
      this.cache.pageOf(it.sptep).writeFlooding = 0;
    }
  }

  /**
   * FNAME(fetch): down the shadow levels that shadow guest tables, find or make each page (its
   * role carrying the access of the guest path above it) and link it, syncing what is unsync
   * below a page before linking it; then, for a guest large page, direct pages down to the level
   * the host allows; then the leaf, and prefetch.
   */
  private fetch(fault: PageFault, pteAccess: number): PfResult {
    const gw = this.gw;
    const cache = this.cache;
    const mapper = this.mapper;
    const { slot, gfn } = fault;
    const it = this.walk.init(this.loadedRoot(), this.state.rootLevel(), fault.addrLo, fault.addrHi);
    for (; it.okay(); it.next()) {
      cache.pageOf(it.sptep).writeFlooding = 0;
      if (it.level === gw.level) break;
      const childLevel = it.level - 1;
      const sp = mapper.childSp(it.sptep, gw.tableGfn[childLevel] as Gfn, false, gw.ptAccess[childLevel]);
      if (sp === null) continue;
      if (sp.unsyncChildren > 0) this.sync.syncChildren(sp);
      cache.link(it.sptep, sp);
    }
    const goal = slot === undefined ? 1 : mapper.mappingLevel(slot, gfn, fault.maxLevel);
    fault.reqLevel = fault.goalLevel = goal;
    this.ctx.trace?.spteRequested(gfn, slot === undefined ? 0 : fault.pfn, goal);
    let baseGfn = gfn;
    for (; it.okay(); it.next()) {
      baseGfn = gfnRoundForLevel(gfn, it.level);
      if (it.level === goal) break;
      mapper.validateDirect(it.sptep, pteAccess);
      const sp = mapper.childSp(it.sptep, baseGfn, true, pteAccess);
      if (sp !== null) cache.link(it.sptep, sp);
    }
    if (it.level !== goal) throw new Error(`shadow fetch of gfn 0x${gfn.toString(16)} stopped at level ${it.level}, goal ${goal}`);
    const sptep = it.sptep;
    const r = mapper.setSpte(sptep, pteAccess, baseGfn, slot, fault);
    if (r === PfResult.SPURIOUS) return r;
    this.prefetch(sptep);
    return r;
  }

  /**
   * FNAME(pte_prefetch): around a new 4 KiB leaf, map the other guest PTEs of its aligned group of
   * 8 that are present and accessed, stopping at the first that is not; direct pages prefetch
   * consecutive frames instead.
   */
  private prefetch(sptep: Sptep): void {
    const cache = this.cache;
    const sp = cache.pageOf(sptep);
    if (sp.level > 1) return;
    if (sp.direct) {
      this.mapper.directPrefetch(sptep);
      return;
    }
    const { codec, stats } = this.ctx;
    const paging = this.guest.paging;
    const wide = paging.format.wide;
    const size = wide ? 8 : 4;
    const leafGpa = this.gw.pteGpa[1];
    const windowGpa = leafGpa - (leafGpa % (PTE_PREFETCH_NUM * size));
    const first = sptepIndex(sptep) & ~(PTE_PREFETCH_NUM - 1);
    const spAccess = roleAccess(sp.role);
    const physHigh = physHighMask(paging);
    for (let j = 0; j < PTE_PREFETCH_NUM; j++) {
      const p = sptepAt(sp.hpa, first + j);
      if (p === sptep || codec.isShadowPresent(cache.readSpteLo(p), cache.readSpteHi(p))) continue;
      const gLo = this.guest.tables.readPhys32(windowGpa + j * size);
      const gHi = wide ? this.guest.tables.readPhys32(windowGpa + j * size + 4) : 0;
      if (gpteInvalidForPrefetch(paging, gLo, gHi)) {
        cache.dropSpte(p);
        break;
      }
      const gfn = gpteGfn(gLo, gHi, wide, physHigh);
      let access = spAccess & gpteAccess(gLo, gHi, wide, paging.nxe);
      if ((gLo & Pte.D) === 0) access &= ~ACC_WRITE_MASK;
      const slot = this.ctx.memslots.find(gfn);
      // gfn_to_memslot_dirty_bitmap: no writable prefetch into a logged slot (it would be logged unwritten).
      if (slot === undefined || (slot.dirtyBitmap !== undefined && (access & ACC_WRITE_MASK) !== 0)) break;
      // The atomic host lookup finds only a page already faulted in on the host (map.ts hostPresentRun).
      if (this.mapper.hostPresentRun(slot, gfn, 1) === 0) break;
      this.mapper.setSpte(p, access, gfn, slot, null);
      stats.sptes_prefetched++;
    }
  }
}

