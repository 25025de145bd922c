/**
 * The TDP MMU's one SPTE change path (setSpte -> removeTable, after KVM's tdp_mmu_set_spte ->
 * handle_changed_spte -> handle_removed_pt) keeps the books for every change, so the books must
 * balance: once every root is freed, each installed SPTE was zapped exactly once, the page-size
 * counters are back at zero, every table allocated was freed, and the charges match the counts.
 * The arena (which hands out the table pages) and the hardware walker are the oracles for what
 * was built; the counters are what the product reports, so an off-by-one anywhere shows here.
 */
import { describe, expect, test } from 'vitest';
import { TdpMmu } from '../../mmu/tdp/tdp-mmu.js';
import { FRAMES_2M, PAGE, addSlot, bench, cpuRole, hwWalk, leafOf, mapFault, tdpRole } from './mmu-context.js';

function setup(hostMaxLevel: number) {
  // 'vcpu-refcount': unloading drops the last reference, so the root and its tree are freed.
  // 'zap': a huge leaf under a smaller fault is zapped, not split (the path this test balances).
  const b = bench({ hostMaxLevel, knobs: { tdpRootLifetime: 'vcpu-refcount', tdpHugeWriteFault: 'zap' } });
  const slot = addSlot(b, 1, FRAMES_2M, 2 * FRAMES_2M);
  const mmu = new TdpMmu(b.ctx);
  mmu.init(cpuRole(), tdpRole(b));
  const root = mmu.load();
  const setLevel = (l: number): void => { (b.ctx as { hostMaxLevel: number }).hostMaxLevel = l; };
  return { b, slot, mmu, root, setLevel };
}

function installed(b: ReturnType<typeof bench>): number {
  return b.stats.sptes_installed_leaf + b.stats.sptes_installed_nonleaf + b.stats.sptes_installed_mmio;
}

describe('TDP MMU change path: the books balance', () => {
  test('4 KiB leaves, a 2 MiB leaf split into a table, an MMIO SPTE, then the root freed', () => {
    const { b, slot, mmu, root, setLevel } = setup(2);
    const huge = FRAMES_2M * PAGE + 0x7000;
    mapFault(b, mmu, huge); // a 2 MiB leaf
    expect(leafOf(b, root, huge).level).toBe(2);
    expect(b.stats.pages_2m).toBe(1);
    setLevel(1);
    mapFault(b, mmu, huge + 0x1000); // the 2 MiB leaf is zapped, a table of 4 KiB leaves linked
    for (let i = 0; i < 16; i++) mapFault(b, mmu, 2 * FRAMES_2M * PAGE + i * PAGE);
    mapFault(b, mmu, 8 * FRAMES_2M * PAGE); // no memslot: an MMIO SPTE
    expect(hwWalk(b, root, huge + 0x1000).r.hostPage).toBe((slot.hostHfn + 8) * PAGE);
    expect(b.stats.pages_2m).toBe(0);
    expect(b.stats.pages_4k).toBe(17);
    expect(b.stats.sptes_installed_mmio).toBe(1);
    expect(b.stats.sptes_zapped).toBe(1);
    expect(b.charged.get('spteWrite')).toBe(installed(b));

    mmu.unload();
    expect(b.stats.root_freed).toBe(1);
    expect(b.stats.pages_4k + b.stats.pages_2m + b.stats.pages_1g).toBe(0);
    expect(b.stats.sptes_zapped).toBe(installed(b));
    expect(b.charged.get('spteZap')).toBe(b.stats.sptes_zapped);
    expect(b.stats.mmu_pages_freed).toBe(b.stats.mmu_pages_allocated);
    // Every table page went back to the arena: the next root reuses the old root's page.
    expect(mmu.load()).toBe(root);
  });
});
