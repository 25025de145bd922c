/**
 * The TDP MMU's huge page split and flush-before-free (issue 15 item 3), on an MMU of its own.
 * The oracle is the TDP hardware's walker (emulator/hw/tdp-walk.ts): what another vCPU's hardware
 * would make of the tables at each step.
 * - Split on fault (tdp_mmu_split_huge_page, c4b33d28ea51, 6.2): one SPTE change replaces the
 *   huge SPTE by a fully populated table mapping the same frames, so every 4 KiB page of the
 *   range stays mapped throughout and nothing is flushed. With the pre-6.2 knob the huge SPTE is
 *   zapped (with a flush) and an empty table linked: the other 511 pages are unmapped until each
 *   faults again. This test fails if split turns back into zap and relink.
 * - A table replaced by a huge leaf is flushed out of every vCPU's TLB before its page goes back
 *   to the arena (tdp_mmu_map_handle_target_level's kvm_flush_remote_tlbs_gfn before the RCU
 *   free; before 5.18 handle_removed_pt's own flush), and a table removed by a walk whose caller
 *   flushes later (huge page recovery) waits for that flush.
 */
import { describe, expect, test } from 'vitest';
import type { Memslot } from '../../emulator/machine/memslots.js';
import { TdpAccess } from '../../emulator/hw/tdp-walk.js';
import type { Knobs } from '../../mmu/knobs.js';
import { TdpMmu, TdpRootList } from '../../mmu/tdp/tdp-mmu.js';
import { FRAMES_2M, PAGE, addSlot, bench, cpuRole, hwWalk, leafOf, mapFault, tdpRole } from './mmu-context.js';

function setup(knobs: Partial<Knobs> = {}) {
  const b = bench({ hostMaxLevel: 2, knobs });
  const slot = addSlot(b, 1, FRAMES_2M, 2 * FRAMES_2M);
  const vm = new TdpRootList();
  const mmu = new TdpMmu(b.ctx, vm);
  mmu.init(cpuRole(), tdpRole(b));
  const root = mmu.load();
  // Dirty logging on or off for the slot (what KVM_MEM_LOG_DIRTY_PAGES does to the memslot).
  const logged = (on: boolean): void => {
    (slot as { dirtyBitmap?: Uint8Array }).dirtyBitmap = on ? new Uint8Array(slot.npages) : undefined;
  };
  return { b, slot, vm, mmu, root, logged };
}

/** How many of the 512 pages of the 2 MiB range at `base` the hardware translates, to the right frames. */
function mappedPages(b: ReturnType<typeof bench>, root: number, base: number, slot: Memslot): number {
  let n = 0;
  for (let k = 0; k < 512; k++) {
    const { ok, r } = hwWalk(b, root, base + k * PAGE);
    if (ok && r.hostPage === (slot.hostHfn + k) * PAGE) n++;
  }
  return n;
}

describe('a huge page under a 4 KiB write fault', () => {
  const base = FRAMES_2M * PAGE;

  test('is split in one step: all 512 pages stay mapped to the same frames, no flush, nothing zapped', () => {
    const { b, slot, mmu, root, logged } = setup();
    mapFault(b, mmu, base + 0x5000);
    expect(leafOf(b, root, base).level).toBe(2);
    logged(true);
    mapFault(b, mmu, base + 0x5000, TdpAccess.WRITE);
    expect(b.stats.huge_pages_split).toBe(1);
    expect(leafOf(b, root, base + 0x9000).level).toBe(1);
    // Another vCPU touching any page of the range right after the split needs no fault.
    expect(mappedPages(b, root, base, slot)).toBe(512);
    expect(b.stats.sptes_zapped).toBe(0);
    expect(b.stats.remote_tlb_flush).toBe(0);
    expect(b.stats.huge_pages_zapped_for_logging).toBe(0);
  });

  test('before 6.2 (tdpHugeWriteFault=zap) it was zapped with a flush: the other 511 pages fault again', () => {
    const { b, slot, mmu, root, logged } = setup({ tdpHugeWriteFault: 'zap' });
    mapFault(b, mmu, base + 0x5000);
    logged(true);
    mapFault(b, mmu, base + 0x5000, TdpAccess.WRITE);
    expect(b.stats.huge_pages_split).toBe(0);
    expect(b.stats.huge_pages_zapped_for_logging).toBe(1);
    expect(b.stats.remote_tlb_flush).toBe(1);
    expect(mappedPages(b, root, base, slot)).toBe(1);
  });
});

describe('a page table is flushed before it is freed', () => {
  const base = FRAMES_2M * PAGE;

  /** 4 KiB leaves under the 2 MiB range while logged, then logging off: the next fault maps it huge over the table. */
  function tableThenHuge(knobs: Partial<Knobs>) {
    const s = setup({ hugePageRecovery: 'zap', ...knobs });
    s.logged(true);
    for (let k = 0; k < 4; k++) mapFault(s.b, s.mmu, base + k * PAGE, TdpAccess.WRITE);
    expect(leafOf(s.b, s.root, base).level).toBe(1);
    s.logged(false);
    // What had been freed when each remote flush was asked for.
    const freedAtFlush: number[] = [];
    const flush = s.b.ctx.flushRemoteTlbs;
    (s.b.ctx as { flushRemoteTlbs: () => void }).flushRemoteTlbs = () => { freedAtFlush.push(s.b.stats.mmu_pages_freed); flush(); };
    mapFault(s.b, s.mmu, base + 0x9000, TdpAccess.WRITE);
    return { ...s, freedAtFlush };
  }

  test.each([['defer-to-alloc (5.18+: the fault flushes once)'], ['flush-on-free (before 5.18: handle_removed_pt flushes)']])('%s', (which) => {
    const knob = which.startsWith('defer') ? 'defer-to-alloc' : 'flush-on-free';
    const { b, vm, root, freedAtFlush, slot } = tableThenHuge({ tdpFreeFlush: knob });
    expect(leafOf(b, root, base).level).toBe(2);
    expect(mappedPages(b, root, base, slot)).toBe(512);
    // One flush, asked for while the table was still allocated; the table went back after it.
    expect(freedAtFlush).toEqual([0]);
    expect(b.stats.mmu_pages_freed).toBe(1);
    expect(vm.removed).toHaveLength(0);
  });

  test('huge page recovery in place leaves the removed tables to the caller\'s flush', () => {
    const { b, vm, mmu, slot, logged } = setup({ hugePageRecovery: 'in-place' });
    logged(true);
    for (let k = 0; k < 4; k++) mapFault(b, mmu, base + k * PAGE, TdpAccess.WRITE);
    logged(false);
    expect(mmu.recoverHugePages(slot)).toBe(true);
    expect(b.stats.huge_pages_recovered).toBe(1);
    // Unlinked, not yet freed: the caller (kvm_mmu_slot_apply_flags) flushes, then RCU frees.
    expect(vm.removed).toHaveLength(1);
    expect(b.stats.mmu_pages_freed).toBe(0);
    vm.flushed();
    expect(vm.removed).toHaveLength(0);
    expect(b.stats.mmu_pages_freed).toBe(1);
    // Nothing left for the grace period to find.
    expect(vm.gracePeriod()).toBe(0);
  });
});
