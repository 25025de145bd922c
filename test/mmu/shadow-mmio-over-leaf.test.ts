/**
 * mmu_set_spte for a guest frame outside every memslot, where the SPTE still holds a leaf made for
 * the entry's old frame: the leaf must be dropped (cleared and removed from its rmap, with a remote
 * flush) before the MMIO SPTE goes in, as KVM does since "KVM: x86/mmu: Drop/zap existing present
 * SPTE even when creating an MMIO SPTE". The shadow MMU reaches this when the guest rewrites a PTE
 * of an unsync page natively and then faults on the old, still mapped, address (the page-table
 * fuzzer's seed 1207 cases 270763, 367940 and 494673, test/fuzz/paging-regressions.test.ts);
 * before, the MMIO SPTE overwrote the leaf and left its rmap entry behind (the checker's inv10).
 * Built here on the shared cache and mapper with an indirect level-1 page, the checker and the
 * page-size counters as oracles.
 */
import { describe, expect, test } from 'vitest';
import { ShadowPageCache } from '../../mmu/shadow-pages/page-cache.js';
import { ShadowMapper } from '../../mmu/shadow-pages/map.js';
import { PfResult } from '../../mmu/page-fault-record.js';
import { auditShadow } from '../../mmu/shadow/audit.js';
import { ACC_ALL } from '../../mmu/spte.js';
import { packRole } from '../../mmu/role.js';
import { addSlot, bench, faultRecord } from './mmu-context.js';
import { type Gfn, type Sptep, sptepAt } from '../../emulator/arch/address.js';

function setup() {
  const b = bench({ format: 'x86' });
  const slot = addSlot(b, 1, 0, 64);
  const cache = new ShadowPageCache(b.ctx);
  const mapper = new ShadowMapper(b.ctx, cache);
  // The shadow of the guest page table at gfn 0x30: level 1, not direct.
  const sp = cache.get(0x30 as Gfn, packRole({ level: 1, access: ACC_ALL })).sp;
  const audit = (): string[] => { const out: string[] = []; auditShadow(b.ctx, cache, undefined, out); return out; };
  return { b, slot, cache, mapper, sptep: sptepAt(sp.hpa, 5), audit };
}

/** A guest frame no memslot covers. */
const NOSLOT_GFN = 0x100000;

describe('an MMIO SPTE where a leaf was', () => {
  test('the leaf is dropped from its rmap and flushed before the MMIO SPTE goes in', () => {
    const { b, slot, cache, mapper, sptep, audit } = setup();
    expect(mapper.setSpte(sptep, ACC_ALL, 0x10 as Gfn, slot, faultRecord(false))).toBe(PfResult.FIXED);
    expect(cache.rmapHas(0x10 as Gfn, 1, sptep)).toBe(true);
    expect(b.stats.pages_4k).toBe(1);
    expect(audit()).toEqual([]);
    const flushes = b.stats.remote_tlb_flush;

    expect(mapper.setSpte(sptep, ACC_ALL, NOSLOT_GFN as Gfn, undefined, faultRecord(true))).toBe(PfResult.EMULATE);
    const lo = cache.readSpteLo(sptep);
    const hi = cache.readSpteHi(sptep);
    expect(b.codec.isMmio(lo, hi)).toBe(true);
    expect(b.codec.mmioGfn(lo, hi)).toBe(NOSLOT_GFN);
    expect(cache.rmapOf(0x10 as Gfn, 1)).toBeUndefined();
    expect([...cache.rmapEntries()]).toEqual([]);
    expect(b.stats.pages_4k).toBe(0);
    expect(b.stats.sptes_zapped).toBe(1);
    expect(b.stats.sptes_installed_mmio).toBe(1);
    expect(b.stats.pf_mmio_spte_created).toBe(1);
    // The old leaf may be cached in a TLB: KVM flushes (kvm_flush_remote_tlbs_gfn).
    expect(b.stats.remote_tlb_flush).toBe(flushes + 1);
    expect(audit()).toEqual([]);
  });

  test('over an empty or MMIO SPTE nothing is dropped and nothing flushed', () => {
    const { b, cache, mapper, sptep, audit } = setup();
    const flushes = b.stats.remote_tlb_flush;
    expect(mapper.setSpte(sptep, ACC_ALL, NOSLOT_GFN as Gfn, undefined, faultRecord(false))).toBe(PfResult.EMULATE);
    expect(mapper.setSpte(sptep, ACC_ALL, (NOSLOT_GFN + 1) as Gfn, undefined, faultRecord(false))).toBe(PfResult.EMULATE);
    expect(b.codec.mmioGfn(cache.readSpteLo(sptep), cache.readSpteHi(sptep))).toBe(NOSLOT_GFN + 1);
    expect(b.stats.sptes_zapped).toBe(0);
    expect(b.stats.remote_tlb_flush).toBe(flushes);
    expect(audit()).toEqual([]);
  });
});
