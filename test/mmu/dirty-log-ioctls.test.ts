/**
 * The dirty-log ioctls (mmu/kvm/dirty-log-ioctls.ts) against KVM's documented semantics
 * (kvm_main.c, x86.c; kvm-concurrency.md 2.2 and 6): which MMU operations each one asks for, under
 * which mmu_lock mode, with which flush, and what it refuses. The MMU is a recorder, so what is
 * checked is the ioctl layer's own decisions; the guest-level tests (dirty-log.test.ts) check
 * the MMUs underneath.
 */
import { describe, expect, test } from 'vitest';
import { Memslots } from '../../emulator/machine/memslots.js';
import { gfn, hfn } from '../../emulator/arch/address.js';
import { CURRENT, type Knobs } from '../../mmu/knobs.js';
import { Stats } from '../../mmu/stats.js';
import { LockMode } from '../../mmu/kvm/mmu-lock.js';
import { DirtyLogIoctls, ManualProtect } from '../../mmu/kvm/dirty-log-ioctls.js';
import { type DirtyLogMmu, markPageDirty } from '../../mmu/dirty-log.js';

const SLOT = 3;
const BASE = 0x100;
const PAGES = 1024;

function setup(opts: { tdp: boolean; pml?: boolean; knobs?: Partial<Knobs>; readOnly?: boolean }) {
  const memslots = new Memslots();
  memslots.add({ id: SLOT, baseGfn: gfn(BASE), npages: PAGES, hostHfn: hfn(0x4000), readOnly: opts.readOnly ?? false });
  const calls: string[] = [];
  let held: LockMode | null = null;
  const mode = (): string => (held === LockMode.READ ? 'R' : held === LockMode.WRITE ? 'W' : '-');
  const ops: DirtyLogMmu = {
    wrprotSlot: (_s, minLevel, pml) => { calls.push(`wrprotSlot ${minLevel} pml=${pml} ${mode()}`); return true; },
    wrprotGfn: (_s, g, level, pml) => { calls.push(`wrprotGfn ${g - BASE} L${level} pml=${pml} ${mode()}`); return true; },
    splitHugePages: (_s, start, end) => { calls.push(`split ${start - BASE}-${end - BASE} ${mode()}`); },
    recoverHugePages: () => { calls.push(`recover ${mode()}`); return true; },
  };
  const stats = new Stats();
  const log = new DirtyLogIoctls({
    memslots,
    knobs: { ...CURRENT, ...opts.knobs },
    tdpMmu: opts.tdp,
    pml: opts.pml ?? false,
    ops,
    lock: (m) => { held = m; calls.push(`lock ${m === LockMode.READ ? 'R' : 'W'}`); return 0; },
    unlock: () => { held = null; },
    charge: () => {},
    stats,
    flushRemoteTlbs: () => { calls.push('flush'); },
    syncDirtyLog: () => { calls.push('sync'); },
    vcpuStats: [stats],
  });
  // What Kvm.memslotsChanged does for a flags-only change.
  memslots.onChange((c) => { if (c.kind === 'flags') log.applyFlags(c.slot, c.old!); });
  const dirty = (...pages: number[]): void => { for (const p of pages) memslots.byId(SLOT)!.dirtyBitmap![p] = 1; };
  return { memslots, calls, log, stats, dirty };
}

describe('KVM_MEM_LOG_DIRTY_PAGES', () => {
  test('TDP MMU: eager split, then write protection, both under the read lock, then a flush; the generation moves, no zap', () => {
    const { memslots, calls, log } = setup({ tdp: true });
    const gen = memslots.generation;
    expect(log.setLogging(SLOT, true)).toBe(true);
    expect(memslots.generation).toBe(gen + 2);
    expect(calls).toEqual(['lock R', `split 0-${PAGES} R`, 'lock R', 'wrprotSlot 1 pml=false R', 'flush']);
    expect(memslots.byId(SLOT)!.dirtyBitmap!.every((b) => b === 0)).toBe(true);
  });

  test('rmap MMUs: no eager split, write protection under the write lock; PML arms 4 KiB SPTEs instead', () => {
    const { calls, log } = setup({ tdp: false, pml: true });
    log.setLogging(SLOT, true);
    expect(calls).toEqual(['lock W', 'wrprotSlot 1 pml=true W', 'flush']);
  });

  test('eagerPageSplit=false (before 5.18): no split at enable', () => {
    const { calls, log } = setup({ tdp: true, knobs: { eagerPageSplit: false } });
    log.setLogging(SLOT, true);
    expect(calls).toEqual(['lock R', 'wrprotSlot 1 pml=false R', 'flush']);
  });

  test('initially-all-set: every bit set and nothing protected or split at enable', () => {
    const { memslots, calls, log } = setup({ tdp: true });
    expect(log.enableManualProtect(ManualProtect.ENABLE | ManualProtect.INITIALLY_SET)).toBe(true);
    log.setLogging(SLOT, true);
    expect(calls).toEqual([]);
    expect(memslots.byId(SLOT)!.dirtyBitmap!.every((b) => b === 1)).toBe(true);
  });

  test('disabling recovers huge pages (TDP MMU under read, rmaps under write) and drops the bitmap; a repeated flag is a no-op', () => {
    for (const tdp of [true, false]) {
      const { memslots, calls, log } = setup({ tdp, knobs: { eagerPageSplit: false } });
      log.setLogging(SLOT, true);
      calls.length = 0;
      const gen = memslots.generation;
      expect(log.setLogging(SLOT, true)).toBe(true);
      expect(memslots.generation).toBe(gen);
      log.setLogging(SLOT, false);
      expect(calls).toEqual([tdp ? 'lock R' : 'lock W', `recover ${tdp ? 'R' : 'W'}`, 'flush']);
      expect(memslots.byId(SLOT)!.dirtyBitmap).toBeUndefined();
    }
  });

  test('refused: an unknown slot, a read-only slot, a bad manual-protect flag', () => {
    expect(setup({ tdp: true }).log.setLogging(SLOT + 1, true)).toBe(false);
    expect(setup({ tdp: true, readOnly: true }).log.setLogging(SLOT, true)).toBe(false);
    expect(setup({ tdp: true }).log.enableManualProtect(ManualProtect.INITIALLY_SET)).toBe(false);
    expect(setup({ tdp: true }).log.enableManualProtect(4)).toBe(false);
  });
});

describe('KVM_GET_DIRTY_LOG and KVM_CLEAR_DIRTY_LOG', () => {
  test('without manual protect GET drains the PML buffers, returns the bits, clears them and re-protects each page under the write lock, one flush', () => {
    const { calls, log, stats, dirty } = setup({ tdp: true, knobs: { eagerPageSplit: false } });
    log.setLogging(SLOT, true);
    dirty(5, 64, 1023);
    calls.length = 0;
    const copy = log.getDirtyLog(SLOT)!;
    expect(copy.dirty).toBe(3);
    expect([copy.bitmap[5], copy.bitmap[64], copy.bitmap[1023], copy.bitmap[6]]).toEqual([1, 1, 1, 0]);
    expect(calls).toEqual(['sync', 'lock W', 'wrprotGfn 5 L1 pml=false W', 'wrprotGfn 64 L1 pml=false W', 'wrprotGfn 1023 L1 pml=false W', 'flush']);
    expect(log.getDirtyLog(SLOT)!.dirty).toBe(0);
    expect(stats.dirty_pages_reported).toBe(3);
  });

  test('with manual protect GET only copies; CLEAR clears the range\'s set bits and re-protects them', () => {
    const { calls, log, dirty } = setup({ tdp: false });
    log.enableManualProtect(ManualProtect.ENABLE);
    log.setLogging(SLOT, true);
    dirty(3, 70, 200);
    calls.length = 0;
    expect(log.getDirtyLog(SLOT)!.dirty).toBe(3);
    expect(calls).toEqual(['sync']);
    calls.length = 0;
    expect(log.clearDirtyLog(SLOT, 64, 64)).toBe(1);
    expect(calls).toEqual(['sync', 'lock W', 'wrprotGfn 70 L1 pml=false W', 'flush']);
    expect(log.getDirtyLog(SLOT)!.dirty).toBe(2);
    calls.length = 0;
    expect(log.clearDirtyLog(SLOT, 128, 64)).toBe(0);
    expect(calls).toEqual(['sync', 'lock W']); // nothing was set: no flush
  });

  test('CLEAR with userspace\'s bitmap clears only the bits it passes (a page dirtied after GET stays set)', () => {
    const { calls, log, dirty } = setup({ tdp: true });
    log.enableManualProtect(ManualProtect.ENABLE);
    log.setLogging(SLOT, true);
    dirty(3, 70);
    const copy = log.getDirtyLog(SLOT)!;
    dirty(4);
    calls.length = 0;
    expect(log.clearDirtyLog(SLOT, 0, PAGES, copy.bitmap)).toBe(2);
    expect(calls).toEqual(['sync', 'lock W', 'wrprotGfn 3 L1 pml=false W', 'wrprotGfn 70 L1 pml=false W', 'flush']);
    expect(log.getDirtyLog(SLOT)!.dirty).toBe(1);
  });

  test('CLEAR with initially-all-set splits each word\'s range eagerly and protects its huge pages first (TDP MMU)', () => {
    const { calls, log } = setup({ tdp: true, pml: true });
    log.enableManualProtect(ManualProtect.ENABLE | ManualProtect.INITIALLY_SET);
    log.setLogging(SLOT, true);
    expect(log.clearDirtyLog(SLOT, 0, 64)).toBe(64);
    expect(calls.slice(0, 6)).toEqual(['sync', 'lock W', 'split 0-64 W', 'wrprotGfn 0 L2 pml=true W', 'wrprotGfn 63 L2 pml=true W', 'wrprotGfn 0 L1 pml=true W']);
    expect(calls.filter((c) => c.includes(' L1 '))).toHaveLength(64);
    expect(calls[calls.length - 1]).toBe('flush');
  });

  test('refused: CLEAR not 64-page aligned, a count neither a multiple of 64 nor reaching the end, past the end; GET of an unlogged slot', () => {
    const { log } = setup({ tdp: true });
    expect(log.getDirtyLog(SLOT)).toBeUndefined();
    log.enableManualProtect(ManualProtect.ENABLE);
    log.setLogging(SLOT, true);
    expect(log.clearDirtyLog(SLOT, 32, 64)).toBeUndefined();
    expect(log.clearDirtyLog(SLOT, 0, 65)).toBeUndefined();
    expect(log.clearDirtyLog(SLOT, 960, 65)).toBeUndefined();
    expect(log.clearDirtyLog(SLOT, -64, 64)).toBeUndefined();
    expect(log.clearDirtyLog(SLOT, 960, 64)).toBe(0); // to the end of the slot
    expect(log.clearDirtyLog(SLOT, 0, PAGES)).toBe(0);
  });
});

describe('KVM_CAP_DIRTY_LOG_RING', () => {
  test('pages go to the ring; GET and CLEAR fail (ENXIO); the reset re-protects per 64-page mask under the write lock, then one flush', () => {
    const { calls, log, stats, memslots } = setup({ tdp: true, pml: true });
    expect(log.enableRing(1000)).toMatch(/a power of two/);
    expect(log.enableRing(1024)).toBeUndefined();
    expect(log.enableRing(1024)).toMatch(/once/);
    log.setLogging(SLOT, true);
    const slot = memslots.byId(SLOT)!;
    for (const p of [7, 9, 300]) markPageDirty(slot, gfn(slot.baseGfn + p), stats);
    markPageDirty(slot, gfn(slot.baseGfn + 7), stats); // already pushed since its last reset: not again
    expect(stats.dirty_ring_pushed).toBe(3);
    expect(log.getDirtyLog(SLOT)).toBeUndefined();
    expect(log.clearDirtyLog(SLOT, 0, PAGES)).toBeUndefined();
    const harvested: number[] = [];
    calls.length = 0;
    expect(log.harvestRings((s, off) => { expect(s).toBe(SLOT); harvested.push(off); })).toBe(3);
    expect(harvested).toEqual([7, 9, 300]);
    expect(log.resetRings()).toBe(3);
    expect(calls).toEqual(['sync', 'lock W', 'wrprotGfn 7 L1 pml=true W', 'wrprotGfn 9 L1 pml=true W', 'lock W', 'wrprotGfn 300 L1 pml=true W', 'flush']);
    expect(stats.dirty_ring_reset).toBe(3);
    // Reset: the page can be pushed again.
    markPageDirty(slot, gfn(slot.baseGfn + 7), stats);
    expect(stats.dirty_ring_pushed).toBe(4);
    expect(log.ringSoftFull(0)).toBe(false);
  });
});
