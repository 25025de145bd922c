import type { MmuContext } from '../mmu.js';
import { type Gfn, type Hpa, type Sptep, gfnRoundForLevel, hfnToHpa, hpaToHfn, levelPages, sptepAt, sptepIndex, sptepPage } from '../../emulator/arch/address.js';
import { roleDirect, roleHas4ByteGpte, roleHasGptes, roleLevel, roleQuadrant } from '../role.js';
import { Request } from '../kvm/requests.js';
import { u64 } from '../../emulator/arch/u64.js';

/**
 * KVM's shadow-page cache (mmu.c, kvm-mmu.md section 3), shared by the shadow MMU and the legacy
 * TDP MMU: shadow pages keyed by (gfn, role) in a hash table, each page a 512-entry table in the
 * host arena with its parent SPTEs, root count, MMU generation, unsync state and (for pages that
 * shadow a guest table) the gfn and access each SPTE was made for; rmaps from guest frames to the
 * leaf SPTEs that map them; write tracking of guest page-table frames; large-page disallow counts;
 * recycling under a page limit.
 */
export class ShadowPage {
  /** Host address of the page's table. */
  readonly hpa: Hpa;
  readonly gfn: Gfn;
  readonly role: number;
  /** Host addresses of the SPTEs that point to this page. */
  readonly parentPtes: Sptep[] = [];
  rootCount = 0;
  /** mmu_valid_gen when made: a different VM generation makes the page obsolete. */
  validGen: number;
  /** role.invalid: zapped; kept only while some vCPU still has it loaded as a root. */
  invalid = false;
  /** A leaf page whose guest table the guest may write without trapping (kvm_unsync_page). */
  unsync = false;
  /** Number of set bits in unsyncChildBitmap. */
  unsyncChildren = 0;
  /** Per SPTE: the child below it is unsync or has unsync children (upper-level pages only). */
  readonly unsyncChildBitmap: Uint8Array | null;
  /** Emulated writes since the page was last used by a fault (detect_write_flooding). */
  writeFlooding = 0;
  /** Pages that shadow a guest table: the gfn and ACC_* access each SPTE was made for. */
  readonly gfns: Float64Array | null;
  readonly access: Uint8Array | null;

  constructor(hpa: Hpa, gfn: Gfn, role: number, validGen: number) {
    this.hpa = hpa;
    this.gfn = gfn;
    this.role = role;
    this.validGen = validGen;
    const level = roleLevel(role);
    this.unsyncChildBitmap = level > 1 ? new Uint8Array(512) : null;
    const indirect = !roleDirect(role);
    this.gfns = indirect && level <= 3 ? new Float64Array(512) : null;
    this.access = indirect && level <= 3 ? new Uint8Array(512) : null;
  }

  get level(): number {
    return roleLevel(this.role);
  }

  get direct(): boolean {
    return roleDirect(this.role);
  }

  /** sp_has_gptes: the page shadows a guest table, so its gfn is write-protected. */
  get hasGptes(): boolean {
    return roleHasGptes(this.role);
  }
}

/** Hash buckets, like KVM_MMU_HASH_SHIFT = 12. */
const HASH_BUCKETS = 1 << 12;
/** KVM_MIN_FREE_MMU_PAGES and KVM_REFILL_PAGES: recycling keeps this many pages free. */
const MIN_FREE_PAGES = 5;
const REFILL_PAGES = 25;
/** KVM_PERMILLE_MMU_PAGES and KVM_MIN_ALLOC_MMU_PAGES: the default page limit. */
const PERMILLE_MMU_PAGES = 20;
const MIN_ALLOC_MMU_PAGES = 64;

/** Largest level of an rmap (KVM_MAX_HUGEPAGE_LEVEL: 1 GiB). */
const MAX_HUGEPAGE_LEVEL = 3;

export class ShadowPageCache {
  private readonly ctx: MmuContext;
  private readonly view: DataView;
  private readonly hash: ShadowPage[][] = Array.from({ length: HASH_BUCKETS }, () => []);
  /** Every allocated page by its host address, for following SPTEs to pages. */
  readonly byHpa = new Map<Hpa, ShadowPage>();
  /** active_mmu_pages: pages in creation order (newest last); invalid roots leave it. */
  readonly active: ShadowPage[] = [];
  /** Leaf SPTE addresses per (gfn, level): the rmaps. */
  private readonly rmaps = new Map<number, Sptep[]>();
  /** Guest frames write-tracked because an upper-level shadow page shadows them: count per gfn. */
  private readonly writeTracked = new Map<Gfn, number>();
  /** lpage_info disallow_lpage: per (level, huge-frame index), level-1 guest tables inside it. */
  private readonly lpageDisallowCounts = new Map<number, number>();
  /** kvm->arch.indirect_shadow_pages. */
  indirectShadowPages = 0;
  /** kvm->arch.mmu_valid_gen. */
  validGen = 0;
  /** n_max_mmu_pages; 0 until set from the memslots. */
  maxPages = 0;
  /**
   * Set by the shadow MMU: kvm_sync_page for an unsync page found by a lookup. Returns < 0 when
   * the page cannot be synced (it is then zapped), > 0 when a flush is needed, 0 otherwise.
   */
  syncPage: ((sp: ShadowPage) => number) | null = null;
  /** A zap or write-protect left SPTEs the hardware may have cached: flush before the next entry. */
  private flushPending = false;

  /** Times a root (legacy TDP) was allocated at each host address, for the hardware TLB checker. */
  readonly rootIncarnations = new Map<Hpa, number>();

  constructor(ctx: MmuContext) {
    this.ctx = ctx;
    this.view = ctx.arena.view;
  }

  isObsolete(sp: ShadowPage): boolean {
    return sp.invalid || sp.validGen !== this.validGen;
  }

  /** kvm_mmu_calculate_default_mmu_pages: 2% of the guest's pages, at least 64. */
  setDefaultLimit(guestPages: number): void {
    this.maxPages = Math.max(Math.floor((guestPages * PERMILLE_MMU_PAGES) / 1000), MIN_ALLOC_MMU_PAGES);
  }

  // ---- Lookup and creation ----

  /**
   * kvm_mmu_find_shadow_page: a live, valid page with this gfn and role word. An unsync page
   * found is synced first (and zapped, reporting a miss, if it cannot be). Looking up an
   * upper-level page zaps unsync pages of the same gfn: a frame used as an upper-level table
   * must be fully write-protected.
   */
  find(gfn: Gfn, role: number): ShadowPage | undefined {
    const bucket = this.hash[gfn % HASH_BUCKETS];
    this.ctx.charge('hashLookup');
    let collisions = 0;
    let found: ShadowPage | undefined;
    // By index, with no copy of the bucket: the one zap that lets the walk go on is of an unsync
    // page, a leaf with no unsync children, so it can take only that page out of the bucket (free);
    // the walk then stays at the same index, which holds the next page.
    for (let k = 0; k < bucket.length;) {
      const sp = bucket[k++];
      if (this.isObsolete(sp)) continue;
      if (sp.gfn !== gfn) { collisions++; continue; }
      if (sp.role !== role) {
        if (roleLevel(role) > 1 && sp.unsync) {
          this.zap(sp);
          if (bucket[k - 1] !== sp) k--;
        }
        continue;
      }
      if (!sp.direct && sp.unsync) {
        const r = this.syncPage === null ? -1 : this.syncPage(sp);
        if (r < 0) { this.zap(sp); break; }
        if (r > 0) this.remoteFlush();
      }
      if (!sp.direct) sp.writeFlooding = 0;
      found = sp;
      break;
    }
    const s = this.ctx.stats;
    if (collisions > s.max_mmu_page_hash_collisions) s.max_mmu_page_hash_collisions = collisions;
    return found;
  }

  /** kvm_mmu_get_shadow_page: find, or allocate on a miss (mmu_cache_miss). */
  get(gfn: Gfn, role: number): { sp: ShadowPage; created: boolean } {
    const found = this.find(gfn, role);
    if (found !== undefined) this.ctx.trace?.getPage(found, false);
    if (found !== undefined) return { sp: found, created: false };
    const { stats, codec } = this.ctx;
    stats.mmu_cache_miss++;
    const page = this.ctx.arena.allocPage();
    stats.mmu_pages_allocated++;
    this.ctx.charge('pageAlloc');
    const hpa = hfnToHpa(page);
    if (codec.nonpresentLo !== 0 || codec.nonpresentHi !== 0) {
      // The page cache's init value (SHADOW_NONPRESENT_VALUE): a fresh table, not an SPTE change.
      for (let k = 0; k < 512; k++) this.store(sptepAt(hpa, k), codec.nonpresentLo, codec.nonpresentHi);
    }
    const sp = new ShadowPage(hpa, gfn, role, this.validGen);
    this.hash[gfn % HASH_BUCKETS].push(sp);
    this.byHpa.set(hpa, sp);
    this.active.push(sp);
    if (sp.hasGptes) this.accountShadowed(sp);
    if (roleHas4ByteGpte(role)) {
      stats.sp_4byte_gpte++;
      if (roleQuadrant(role) !== 0) stats.sp_quadrant++;
    }
    this.ctx.trace?.getPage(sp, true);
    return { sp, created: true };
  }

  /** The shadow page holding the SPTE at host address `sptep` (sptep_to_sp). */
  pageOf(sptep: Sptep): ShadowPage {
    return this.byHpa.get(sptepPage(sptep))!;
  }

  /** The page a present non-leaf SPTE points to (spte_to_child_sp). */
  child(lo: number, hi: number): ShadowPage | undefined {
    return this.byHpa.get(hfnToHpa(this.ctx.codec.pfn(lo, hi)));
  }

  // ---- SPTE access ----

  readSpteLo(sptep: Sptep): number {
    return this.view.getInt32(sptep, true);
  }

  readSpteHi(sptep: Sptep): number {
    return this.view.getInt32(sptep + 4, true);
  }

  // ---- The one change path (mmu.c): every SPTE in a shadow page changes through these four ----
  // They write the SPTE and keep what KVM keeps with the write; the counters that differ between
  // call sites (sptes_installed_*, sptes_zapped, mmu_pde_zapped, dirty_log_wrprot, the charges)
  // stay with the callers, which is what keeps every reported figure where it was.

  /** __set_spte / __update_clear_spte_fast: the store itself, private to the four below. */
  private store(sptep: Sptep, lo: number, hi: number): void {
    this.view.setInt32(sptep, lo, true);
    this.view.setInt32(sptep + 4, hi, true);
  }

  /**
   * mmu_spte_set: a new SPTE (leaf, table link or MMIO) where none is present. KVM warns when the
   * old SPTE is shadow-present; here that is the invariant checker's business (audit.ts).
   */
  spteSet(sptep: Sptep, lo: number, hi: number): void {
    this.store(sptep, lo, hi);
  }

  /**
   * mmu_spte_update: rewrites an SPTE in place; the gfn and level stay, so the rmaps do too.
   * Returns whether the hardware TLB needs a flush: a present SPTE lost W (while MMU-writable),
   * A or D. On a non-present SPTE it is mmu_spte_set and needs none.
   */
  spteUpdate(sptep: Sptep, lo: number, hi: number): boolean {
    const codec = this.ctx.codec;
    const oldLo = this.readSpteLo(sptep);
    const oldHi = this.readSpteHi(sptep);
    this.store(sptep, lo, hi);
    if (!codec.isShadowPresent(oldLo, oldHi)) return false;
    if (codec.isMmuWritable(oldLo, oldHi) && !codec.isWritable(lo)) return true;
    if (codec.isAccessed(oldLo, oldHi) && !codec.isAccessed(lo, hi)) return true;
    return codec.isDirty(oldLo) && !codec.isDirty(lo);
  }

  /**
   * mmu_spte_clear_track_bits: clears a leaf SPTE and returns its old low half (high half in
   * u64.hi). KVM also passes the old A and D bits to the host page (kvm_set_pfn_accessed/dirty);
   * mmulab's host memory keeps no per-page A/D state, and the guest's dirty bitmap is not touched
   * here in KVM either: a writable SPTE marked its page when it was made (make_spte). The
   * page-size counters (kvm_update_page_stats) move with the rmap entry, in rmapRemove, which
   * drop_spte calls next.
   */
  spteClearTrackBits(sptep: Sptep): number {
    const lo = this.readSpteLo(sptep);
    const hi = this.readSpteHi(sptep);
    this.store(sptep, this.ctx.codec.nonpresentLo, this.ctx.codec.nonpresentHi);
    u64.hi = hi;
    return lo;
  }

  /** mmu_spte_clear_no_track: clears an SPTE no rmap holds: a table link or an MMIO SPTE. */
  spteClearNoTrack(sptep: Sptep): void {
    this.store(sptep, this.ctx.codec.nonpresentLo, this.ctx.codec.nonpresentHi);
  }

  // ---- Links and unsync propagation ----

  /**
   * __link_shadow_page: drop a large leaf already there, point the SPTE at `child`, record the
   * parent, and propagate the child's unsync state up (mark_unsync).
   */
  link(sptep: Sptep, child: ShadowPage): void {
    const { codec } = this.ctx;
    const lo0 = this.readSpteLo(sptep);
    const hi0 = this.readSpteHi(sptep);
    if (codec.isShadowPresent(lo0, hi0)) this.dropLargeSpte(sptep);
    const lo = codec.makeNonLeafSpte(hpaToHfn(child.hpa));
    this.spteSet(sptep, lo, u64.hi);
    child.parentPtes.push(sptep);
    this.ctx.stats.sptes_installed_nonleaf++;
    this.ctx.charge('spteWrite');
    if (child.unsync || child.unsyncChildren > 0) this.markUnsync(sptep);
  }

  /** drop_large_spte: a huge leaf where a table goes now; the hardware may have cached it. */
  private dropLargeSpte(sptep: Sptep): void {
    this.dropSpte(sptep);
    this.flushPending = true;
  }

  /** drop_parent_pte: unlink `child` from the SPTE at `sptep` and clear it. */
  dropParentPte(child: ShadowPage, sptep: Sptep): void {
    const at = child.parentPtes.indexOf(sptep);
    if (at >= 0) child.parentPtes.splice(at, 1);
    this.spteClearNoTrack(sptep);
  }

  /**
   * Clears a present non-leaf SPTE (mmu_page_zap_pte's table case): through drop_parent_pte when
   * the table it points to is a known shadow page, so the child's parent list stays true, else a
   * plain clear. The one place the three table-zap paths (zap, a huge page over a table, a guest
   * write to a shadowed table) clear such an entry; their statistics stay with them.
   */
  unlinkSpte(sptep: Sptep, lo: number, hi: number): void {
    const child = this.child(lo, hi);
    if (child !== undefined) this.dropParentPte(child, sptep);
    else this.spteClearNoTrack(sptep);
  }

  /** mark_unsync: set this SPTE's bit in its page's unsync-child bitmap, and up the parents. */
  markUnsync(sptep: Sptep): void {
    const sp = this.pageOf(sptep);
    const k = sptepIndex(sptep);
    const bitmap = sp.unsyncChildBitmap!;
    if (bitmap[k] !== 0) return;
    bitmap[k] = 1;
    if (sp.unsyncChildren++ !== 0) return;
    for (const parent of sp.parentPtes) this.markUnsync(parent);
  }

  /** clear_unsync_child_bit. */
  clearUnsyncChild(sp: ShadowPage, k: number): void {
    if (sp.unsyncChildBitmap![k] === 0) return;
    sp.unsyncChildBitmap![k] = 0;
    sp.unsyncChildren--;
  }

  /** kvm_unsync_page: the guest may now write this leaf table natively. */
  markPageUnsync(sp: ShadowPage): void {
    sp.unsync = true;
    this.ctx.stats.mmu_unsync++;
    this.ctx.stats.unsync_marked++;
    this.ctx.trace?.unsyncPage(sp);
    for (const parent of sp.parentPtes) this.markUnsync(parent);
  }

  /** kvm_unlink_unsync_page. */
  unlinkUnsync(sp: ShadowPage): void {
    sp.unsync = false;
    this.ctx.stats.mmu_unsync--;
  }

  // ---- Rmaps ----

  private rmapKey(gfn: Gfn, level: number): number {
    return gfn * 4 + (level - 1);
  }

  /** rmap_add, with the page statistics. */
  rmapAdd(gfn: Gfn, level: number, sptep: Sptep): void {
    const key = this.rmapKey(gfn, level);
    let list = this.rmaps.get(key);
    if (list === undefined) this.rmaps.set(key, (list = []));
    list.push(sptep);
    const s = this.ctx.stats;
    if (list.length > s.max_mmu_rmap_size) s.max_mmu_rmap_size = list.length;
    this.countLeaf(level, 1);
  }

  /** The page-size counters (pages_4k/2m/1g) move with the rmaps: by `delta` for a leaf at `level`. */
  private countLeaf(level: number, delta: number): void {
    const s = this.ctx.stats;
    if (level === 1) s.pages_4k += delta; else if (level === 2) s.pages_2m += delta; else s.pages_1g += delta;
  }

  /** pte_list_remove; a missing entry is the BUG KVM hits in lkml (e): reported, not thrown. */
  rmapRemove(gfn: Gfn, level: number, sptep: Sptep, problems?: string[]): void {
    const key = this.rmapKey(gfn, level);
    const list = this.rmaps.get(key);
    const k = list === undefined ? -1 : list.indexOf(sptep);
    if (k < 0) {
      problems?.push(`inv10: rmap of gfn 0x${gfn.toString(16)} level ${level} lacks SPTE at 0x${sptep.toString(16)}`);
      return;
    }
    list!.splice(k, 1);
    if (list!.length === 0) this.rmaps.delete(key);
    this.countLeaf(level, -1);
  }

  rmapHas(gfn: Gfn, level: number, sptep: Sptep): boolean {
    return this.rmaps.get(this.rmapKey(gfn, level))?.includes(sptep) ?? false;
  }

  /** The leaf SPTE addresses of the rmap for (gfn, level), gfn aligned to the level; undefined if empty. */
  rmapOf(gfn: Gfn, level: number): readonly Sptep[] | undefined {
    return this.rmaps.get(this.rmapKey(gfn, level));
  }

  /** Every rmap entry, for the checker. */
  *rmapEntries(): Generator<[Gfn, number, Sptep]> {
    for (const [key, list] of this.rmaps) for (const sptep of list) yield [Math.floor(key / 4) as Gfn, (key % 4) + 1, sptep];
  }

  /**
   * kvm_mmu_page_get_gfn: the gfn the SPTE at index k of `sp` maps. Direct pages map a linear
   * range from their gfn; pages that shadow a guest table record it per SPTE.
   */
  leafGfn(sp: ShadowPage, k: number): Gfn {
    if (sp.gfns !== null) return sp.gfns[k] as Gfn;
    return (sp.gfn + k * levelPages(sp.level)) as Gfn;
  }

  /** drop_spte: clear a present SPTE and remove it from its rmap. */
  dropSpte(sptep: Sptep, problems?: string[]): void {
    const { codec } = this.ctx;
    const lo = this.spteClearTrackBits(sptep);
    const hi = u64.hi;
    this.ctx.stats.sptes_zapped++;
    if (!codec.isShadowPresent(lo, hi)) return;
    const sp = this.pageOf(sptep);
    this.rmapRemove(this.leafGfn(sp, sptepIndex(sptep)), sp.level, sptep, problems);
  }

  // ---- Write protection of shadowed guest tables ----

  /** kvm_gfn_is_write_tracked. */
  isWriteTracked(gfn: Gfn): boolean {
    return this.writeTracked.has(gfn);
  }

  /**
   * kvm_mmu_slot_gfn_write_protect: clear W (and MMU-writable) in every leaf SPTE mapping `gfn`,
   * at every level. Returns whether any SPTE changed.
   */
  writeProtectGfn(gfn: Gfn): boolean {
    const { codec } = this.ctx;
    let changed = false;
    for (let level = 1; level <= MAX_HUGEPAGE_LEVEL; level++) {
      const list = this.rmaps.get(this.rmapKey(gfnRoundForLevel(gfn, level), level));
      if (list === undefined) continue;
      for (const sptep of list) {
        const lo = this.readSpteLo(sptep);
        const hi = this.readSpteHi(sptep);
        if (!codec.isWritable(lo) && !codec.isMmuWritable(lo, hi)) continue;
        const wasWritable = codec.isWritable(lo);
        // spte_write_protect: the flush is decided here, by whether W was on (not mmu_spte_update's rule).
        this.spteUpdate(sptep, lo & ~2 & ~codec.mmuWritableLo, hi & ~codec.mmuWritableHi);
        if (wasWritable) changed = true;
      }
    }
    if (changed) this.ctx.stats.write_protect_gfn++;
    return changed;
  }

  /** Whether `gfn` is shadowed at level 1 only by unsync pages, or not at all by valid indirect pages. */
  *indirectPages(gfn: Gfn): Generator<ShadowPage> {
    for (const sp of this.hash[gfn % HASH_BUCKETS]) {
      if (sp.gfn === gfn && sp.hasGptes && !this.isObsolete(sp)) yield sp;
    }
  }

  /**
   * account_shadowed: write-protect the guest table's frame, write-track it if it is an upper-level
   * table (those can never go unsync), and keep huge mappings from covering it.
   */
  private accountShadowed(sp: ShadowPage): void {
    this.indirectShadowPages++;
    if (sp.level > 1) this.writeTracked.set(sp.gfn, (this.writeTracked.get(sp.gfn) ?? 0) + 1);
    this.adjustLpageDisallow(sp.gfn, 1);
    if (this.writeProtectGfn(sp.gfn)) this.remoteFlush();
  }

  /** unaccount_shadowed. */
  private unaccountShadowed(sp: ShadowPage): void {
    this.indirectShadowPages--;
    if (sp.level > 1) {
      const n = (this.writeTracked.get(sp.gfn) ?? 1) - 1;
      if (n === 0) this.writeTracked.delete(sp.gfn); else this.writeTracked.set(sp.gfn, n);
    }
    this.adjustLpageDisallow(sp.gfn, -1);
  }

  /** kvm_mmu_gfn_disallow_lpage / allow_lpage for every huge level covering gfn. */
  private adjustLpageDisallow(gfn: Gfn, delta: number): void {
    for (let level = 2; level <= MAX_HUGEPAGE_LEVEL; level++) {
      const key = Math.floor(gfn / levelPages(level)) * 4 + level;
      const n = (this.lpageDisallowCounts.get(key) ?? 0) + delta;
      if (n === 0) this.lpageDisallowCounts.delete(key); else this.lpageDisallowCounts.set(key, n);
    }
  }

  /** Whether a huge mapping at `level` containing gfn is disallowed (a guest table lies inside). */
  lpageDisallowed(gfn: Gfn, level: number): boolean {
    return this.lpageDisallowCounts.has(Math.floor(gfn / levelPages(level)) * 4 + level);
  }

  // ---- Flushes ----

  /** kvm_flush_remote_tlbs: every vCPU flushes everything before it next enters the guest. */
  remoteFlush(): void {
    this.flushPending = false;
    this.ctx.flushRemoteTlbs();
  }

  /** kvm_mmu_commit_zap_page / kvm_mmu_remote_flush_or_zap: flush if anything needs it. */
  commit(flush = false): void {
    if (flush || this.flushPending) this.remoteFlush();
  }

  // ---- Zapping ----

  /**
   * __kvm_mmu_prepare_zap_page and kvm_mmu_commit_zap_page for one page: zap its unsync
   * children, drop its leaves from the rmaps and its children's parent lists, clear the SPTEs
   * that point to it, undo write protection, and free it, unless a vCPU still has it loaded as a
   * root: then it leaves the active list, becomes invalid, and is freed when unloaded. Returns
   * the number of pages zapped.
   */
  zap(sp: ShadowPage, problems?: string[]): number {
    const { stats, codec } = this.ctx;
    stats.mmu_shadow_zapped++;
    this.ctx.trace?.prepareZapPage(sp);
    let zapped = this.zapUnsyncChildren(sp, problems);
    for (let k = 0; k < 512; k++) {
      const sptep = sptepAt(sp.hpa, k);
      const lo = this.readSpteLo(sptep);
      const hi = this.readSpteHi(sptep);
      if (!codec.isShadowPresent(lo, hi)) {
        if (codec.isMmio(lo, hi)) { this.spteClearNoTrack(sptep); stats.sptes_zapped++; }
        continue;
      }
      if (codec.isLeaf(lo, hi, sp.level)) {
        this.dropSpte(sptep, problems);
      } else {
        this.unlinkSpte(sptep, lo, hi);
        stats.sptes_zapped++;
      }
      this.ctx.charge('spteZap');
    }
    for (const parent of sp.parentPtes) this.spteClearNoTrack(parent); // kvm_mmu_unlink_parents, uncounted
    sp.parentPtes.length = 0;
    if (!sp.invalid && sp.hasGptes) this.unaccountShadowed(sp);
    if (sp.unsync) this.unlinkUnsync(sp);
    this.flushPending = true;
    const wasObsolete = this.isObsolete(sp);
    const at = this.active.indexOf(sp);
    if (at >= 0) this.active.splice(at, 1);
    sp.invalid = true;
    if (sp.rootCount > 0) {
      if (!wasObsolete) this.ctx.requestAll(Request.FREE_OBSOLETE_ROOTS);
      return zapped;
    }
    this.free(sp);
    return zapped + 1;
  }

  /** mmu_zap_unsync_children: zap every unsync page below `sp`. */
  private zapUnsyncChildren(sp: ShadowPage, problems?: string[]): number {
    if (sp.unsyncChildBitmap === null || sp.unsyncChildren === 0) return 0;
    let zapped = 0;
    for (const child of this.collectUnsync(sp)) if (!child.invalid) zapped += this.zap(child, problems);
    return zapped;
  }

  /**
   * mmu_unsync_walk: the unsync leaf pages below `parent`, following the unsync-child bitmaps.
   * Bits whose SPTE no longer points to a table are cleared on the way.
   */
  collectUnsync(parent: ShadowPage): ShadowPage[] {
    const out: ShadowPage[] = [];
    const walk = (sp: ShadowPage): void => {
      const bitmap = sp.unsyncChildBitmap!;
      for (let k = 0; k < 512; k++) {
        if (bitmap[k] === 0) continue;
        const lo = this.readSpteLo(sptepAt(sp.hpa, k));
        const hi = this.readSpteHi(sptepAt(sp.hpa, k));
        const child = this.ctx.codec.isShadowPresent(lo, hi) && !this.ctx.codec.isLeaf(lo, hi, sp.level) ? this.child(lo, hi) : undefined;
        if (child === undefined) { this.clearUnsyncChild(sp, k); continue; }
        if (child.unsyncChildren > 0) walk(child);
        if (child.unsync) out.push(child);
        else if (child.unsyncChildren === 0) this.clearUnsyncChild(sp, k);
      }
    };
    walk(parent);
    return out;
  }

  /** Clears the unsync-child bits leading to `sp` once it has nothing unsync below it (mmu_pages_clear_parents). */
  clearParentsUnsync(sp: ShadowPage): void {
    if (sp.unsync || sp.unsyncChildren > 0) return;
    for (const parent of sp.parentPtes) {
      const psp = this.pageOf(parent);
      const k = sptepIndex(parent);
      if (psp.unsyncChildBitmap![k] === 0) continue;
      this.clearUnsyncChild(psp, k);
      this.clearParentsUnsync(psp);
    }
  }

  /** Removes a page with no users from every list and returns its memory. */
  free(sp: ShadowPage): void {
    const bucket = this.hash[sp.gfn % HASH_BUCKETS];
    const h = bucket.indexOf(sp);
    if (h >= 0) bucket.splice(h, 1);
    const at = this.active.indexOf(sp);
    if (at >= 0) this.active.splice(at, 1);
    this.byHpa.delete(sp.hpa);
    this.ctx.arena.freePage(hpaToHfn(sp.hpa));
    this.ctx.stats.mmu_pages_freed++;
  }

  /**
   * kvm_mmu_zap_mmio_sptes (3.10, before lkml (b)): walk every active shadow page and clear each
   * MMIO SPTE in it, under mmu_lock for write. The cost grows with the number of shadow pages,
   * whether or not they hold MMIO SPTEs. Returns the pages walked.
   */
  zapMmioSptes(): number {
    const { codec, stats } = this.ctx;
    let pages = 0;
    for (const sp of this.active) {
      pages++;
      for (let k = 0; k < 512; k++) {
        const sptep = sptepAt(sp.hpa, k);
        if (!codec.isMmio(this.readSpteLo(sptep), this.readSpteHi(sptep))) continue;
        this.spteClearNoTrack(sptep);
        stats.sptes_zapped++;
        stats.mmio_sptes_walk_zapped++;
      }
    }
    stats.mmio_zap_walk_pages += pages;
    this.ctx.charge('mmioZapWalkPage', pages);
    return pages;
  }

  /** kvm_zap_obsolete_pages: zap every obsolete page (roots still loaded become invalid). */
  zapObsolete(problems?: string[]): number {
    let zapped = 0;
    for (const sp of [...this.active]) {
      if (sp.validGen !== this.validGen && !sp.invalid) zapped += this.zap(sp, problems);
    }
    return zapped;
  }

  /**
   * make_mmu_pages_available: below KVM_MIN_FREE_MMU_PAGES free, zap the oldest pages that are not
   * roots until KVM_REFILL_PAGES are free (kvm_mmu_zap_oldest_mmu_pages; mmu_recycled).
   */
  makePagesAvailable(): void {
    if (this.maxPages === 0) return;
    const avail = Math.max(this.maxPages - this.byHpa.size, 0);
    if (avail >= MIN_FREE_PAGES) return;
    const toZap = REFILL_PAGES - avail;
    let zapped = 0;
    for (let k = 0; k < this.active.length && zapped < toZap;) {
      const sp = this.active[k];
      if (sp.rootCount > 0 || sp.invalid) { k++; continue; }
      zapped += this.zap(sp);
      k = 0; // zapping changes the list: restart from the oldest
    }
    this.ctx.stats.mmu_recycled += zapped;
    this.commit();
  }
}
