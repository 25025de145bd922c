/**
 * The shadow-page MMUs' one SPTE change path (ShadowPageCache.spteSet / spteUpdate /
 * spteClearTrackBits / spteClearNoTrack, after KVM's mmu_spte_set, mmu_spte_update,
 * mmu_spte_clear_track_bits and mmu_spte_clear_no_track) must keep the books: the page-size
 * counters equal the leaves an independent scan of every shadow page's table finds in the arena
 * (and the rmap entries), and once every page is zapped each SPTE installed was zapped exactly
 * once, counted either as sptes_zapped or, for a table a huge page replaced, as mmu_pde_zapped.
 * Driven through the legacy TDP MMU, which shares the cache and mapper with the shadow MMU; the
 * hardware walker is the oracle for what the tables map.
 */
import { describe, expect, test } from 'vitest';
import { LegacyTdpMmu } from '../../mmu/legacy/legacy-tdp-mmu.js';
import type { ShadowPageCache } from '../../mmu/shadow-pages/page-cache.js';
import { FRAMES_2M, PAGE, addSlot, auditOf, bench, cpuRole, hwWalk, leafOf, mapFault, tdpRole } from './mmu-context.js';

type B = ReturnType<typeof bench>;

/** Present leaves per level (index 1..3) found by reading every shadow page's 512 SPTEs. */
function scanLeaves(b: B, cache: ShadowPageCache): number[] {
  const n = [0, 0, 0, 0];
  for (const sp of cache.byHpa.values()) {
    for (let k = 0; k < 512; k++) {
      const spte = b.arena.view.getBigUint64(sp.hpa + 8 * k, true);
      if (b.codec.big.isShadowPresent(spte) && b.codec.big.isLeaf(spte, sp.level)) n[sp.level]++;
    }
  }
  return n;
}

function installed(b: B): number {
  return b.stats.sptes_installed_leaf + b.stats.sptes_installed_nonleaf + b.stats.sptes_installed_mmio;
}

describe('shadow-page change path: the books balance', () => {
  test('a 2 MiB leaf replaced by a table, prefetched 4 KiB leaves, an MMIO SPTE, a table replaced by a huge page, then zap all', () => {
    const b = bench({ hostMaxLevel: 2 });
    const slot = addSlot(b, 1, FRAMES_2M, 3 * FRAMES_2M);
    const mmu = new LegacyTdpMmu(b.ctx);
    mmu.init(cpuRole(), tdpRole(b));
    const root = mmu.load();
    const setLevel = (l: number): void => { (b.ctx as { hostMaxLevel: number }).hostMaxLevel = l; };
    const books = (): void => {
      const scan = scanLeaves(b, mmu.cache);
      expect([b.stats.pages_4k, b.stats.pages_2m, b.stats.pages_1g]).toEqual([scan[1], scan[2], scan[3]]);
      expect([...mmu.cache.rmapEntries()].length).toBe(scan[1] + scan[2] + scan[3]);
      expect(auditOf(mmu)).toEqual([]);
    };

    const huge = FRAMES_2M * PAGE + 0x7000;
    mapFault(b, mmu, huge); // a 2 MiB leaf
    expect(leafOf(b, root, huge).level).toBe(2);
    books();
    setLevel(1);
    mapFault(b, mmu, huge + 0x1000); // drop_large_spte (mmu_spte_clear_track_bits), then a table
    expect(b.stats.pages_2m).toBe(0);
    // 16 faults, one per group of 8, each prefetching its 7 neighbours.
    for (let i = 0; i < 16; i++) mapFault(b, mmu, 2 * FRAMES_2M * PAGE + 8 * i * PAGE);
    mapFault(b, mmu, 8 * FRAMES_2M * PAGE); // no memslot: an MMIO SPTE
    expect(hwWalk(b, root, huge + 0x1000).r.hostPage).toBe((slot.hostHfn + 8) * PAGE);
    expect(hwWalk(b, root, 2 * FRAMES_2M * PAGE + 13 * PAGE).r.hostPage).toBe((slot.hostHfn + FRAMES_2M + 13) * PAGE);
    expect(b.stats.sptes_prefetched).toBe(16 * 7 + 7);
    expect(b.stats.sptes_installed_mmio).toBe(1);
    books();

    setLevel(2);
    mapFault(b, mmu, 2 * FRAMES_2M * PAGE + 0x100 * PAGE); // a huge page where the table of 128 leaves was
    expect(b.stats.mmu_pde_zapped).toBe(1);
    expect(leafOf(b, root, 2 * FRAMES_2M * PAGE).level).toBe(2);
    books(); // the unlinked table's leaves are still counted and rmapped until its page is zapped
    expect(b.charged.get('spteWrite')).toBe(installed(b));

    mmu.zapAllFast();
    mmu.unload();
    mmu.freeObsoleteRoots();
    expect(mmu.cache.byHpa.size).toBe(0);
    expect([...mmu.cache.rmapEntries()]).toEqual([]);
    expect(b.stats.pages_4k + b.stats.pages_2m + b.stats.pages_1g).toBe(0);
    expect(b.stats.mmu_pages_freed).toBe(b.stats.mmu_pages_allocated);
    // Every SPTE installed was zapped once: the table under the huge page counts as mmu_pde_zapped.
    expect(b.stats.sptes_zapped + b.stats.mmu_pde_zapped).toBe(installed(b));
    // zap() charges spteZap per present SPTE of a zapped page: not the MMIO SPTE, not the huge
    // leaf drop_large_spte removed, not the table link mmu_set_spte replaced.
    expect(b.charged.get('spteZap')).toBe(b.stats.sptes_zapped - 2);
  });
});
