import type { MmuContext } from '../mmu.js';
import type { Memslot } from '../../emulator/machine/memslots.js';
import { type Gfn, type Sptep, gfnRoundForLevel, levelPages } from '../../emulator/arch/address.js';
import { type DirtyLogMmu, SPTE_W, wrprotBits } from '../dirty-log.js';
import type { ShadowPageCache } from './page-cache.js';
import type { ShadowMapper } from './map.js';

/** KVM_MAX_HUGEPAGE_LEVEL: rmaps exist for 4 KiB, 2 MiB and 1 GiB leaves. */
const MAX_RMAP_LEVEL = 3;

/**
 * Dirty logging's slot operations for the MMUs with rmaps (the legacy TDP MMU and the shadow MMU,
 * which share the shadow-page cache): KVM walks a slot's rmaps (walk_slot_rmaps) under mmu_lock
 * for write. One object per VM: the rmaps are the VM's.
 *
 * Neither MMU splits huge pages eagerly: kvm_mmu_slot_try_split_huge_pages returns early without
 * the TDP MMU (the shadow-MMU splitting it then does is for nested MMUs), so a huge SPTE in a
 * logged slot is dropped by the next fault (drop_large_spte) and its 4 KiB pages fault one by one.
 */
export class RmapDirtyLog implements DirtyLogMmu {
  constructor(private readonly ctx: MmuContext, private readonly cache: ShadowPageCache, private readonly mapper: ShadowMapper) {}

  /**
   * spte_write_protect with pt_protect=false: W off, MMU-writable kept, so the legacy MMU's
   * fast_page_fault (and the slow path) can make it writable again; a 4 KiB SPTE under PML is
   * armed instead (spte_clear_dirty; dirty-log.ts). Returns whether W was on.
   */
  private wrprotList(list: readonly Sptep[] | undefined, level: number, pml: boolean): boolean {
    if (list === undefined) return false;
    const cache = this.cache;
    const bits = wrprotBits(this.ctx.codec, level, pml);
    let flush = false;
    for (const sptep of list) {
      const lo = cache.readSpteLo(sptep);
      if ((lo & SPTE_W) === 0) continue;
      cache.spteUpdate(sptep, lo & ~bits, cache.readSpteHi(sptep)); // flush decided here: W was on
      this.ctx.stats.dirty_log_wrprot++;
      this.ctx.charge('spteWrprot');
      flush = true;
    }
    return flush;
  }

  /** kvm_mmu_slot_remove_write_access: slot_rmap_write_protect over every level from minLevel. */
  wrprotSlot(slot: Memslot, minLevel: number, pml: boolean): boolean {
    let flush = false;
    for (let level = minLevel; level <= MAX_RMAP_LEVEL; level++) {
      const span = levelPages(level);
      const first = gfnRoundForLevel(slot.baseGfn, level);
      for (let gfn = first; gfn < slot.baseGfn + slot.npages; gfn = (gfn + span) as Gfn) {
        if (this.wrprotList(this.cache.rmapOf(gfn, level), level, pml)) flush = true;
      }
    }
    return flush;
  }

  /** kvm_mmu_write_protect_pt_masked (level 1) or kvm_mmu_slot_gfn_write_protect from `level` up. */
  wrprotGfn(_slot: Memslot, gfn: Gfn, level: number, pml: boolean): boolean {
    const top = level === 1 ? 1 : MAX_RMAP_LEVEL;
    let flush = false;
    for (let l = level; l <= top; l++) {
      if (this.wrprotList(this.cache.rmapOf(gfnRoundForLevel(gfn, l), l), l, pml)) flush = true;
    }
    return flush;
  }

  splitHugePages(): void {
    // Only the TDP MMU splits eagerly (see the class comment).
  }

  /**
   * kvm_mmu_zap_collapsible_sptes (kvm_mmu_zap_collapsible_spte on the 4 KiB rmaps): a leaf in a
   * direct page whose range the slot could now map at a larger level is zapped; the next fault
   * maps the huge page (replacing the table). Indirect pages follow the guest's own page size.
   */
  recoverHugePages(slot: Memslot): boolean {
    const cache = this.cache;
    let flush = false;
    const recovered = new Set<number>();
    for (let gfn = slot.baseGfn; gfn < slot.baseGfn + slot.npages; gfn++) {
      const list = cache.rmapOf(gfn, 1);
      if (list === undefined) continue;
      for (const sptep of [...list]) {
        const sp = cache.pageOf(sptep);
        if (!sp.direct || this.mapper.mappingLevel(slot, gfn, 3) <= sp.level) continue;
        cache.dropSpte(sptep);
        this.ctx.charge('spteZap');
        if (!recovered.has(sp.hpa)) {
          recovered.add(sp.hpa);
          this.ctx.stats.huge_pages_recovered++;
        }
        flush = true;
      }
    }
    return flush;
  }
}
