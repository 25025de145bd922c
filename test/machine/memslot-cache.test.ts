import { describe, expect, test } from 'vitest';
import { Memslots } from '../../emulator/machine/memslots.js';
import { gfn, gpa, hfn } from '../../emulator/arch/address.js';

/**
 * gpaToHpa and find keep their last hit (memslots.ts). These check the caches against the slot
 * list itself: every lookup right after a change of the slot set must answer from the new set.
 */

/** The answer computed from the published slots alone, with no cache. */
function reference(m: Memslots, addr: number): number {
  const frame = Math.floor(addr / 4096);
  for (const s of m.all) {
    if (frame >= s.baseGfn && frame < s.baseGfn + s.npages) return (s.hostHfn + frame - s.baseGfn) * 4096 + (addr % 4096);
  }
  return -1;
}

describe('memslot lookup caches', () => {
  test('a slot removed and added again over the same range with other backing is seen at once', () => {
    const m = new Memslots();
    m.add({ id: 0, baseGfn: gfn(0x10), npages: 16, hostHfn: hfn(0x100), readOnly: false });
    expect(m.gpaToHpa(gpa(0x12345))).toBe(0x102345);
    expect(m.find(gfn(0x12))?.hostHfn).toBe(0x100);
    m.remove(0);
    expect(m.gpaToHpa(gpa(0x12345))).toBe(-1);
    expect(m.find(gfn(0x12))).toBeUndefined();
    m.add({ id: 0, baseGfn: gfn(0x10), npages: 16, hostHfn: hfn(0x300), readOnly: false });
    expect(m.gpaToHpa(gpa(0x12345))).toBe(0x302345);
    expect(m.find(gfn(0x12))?.hostHfn).toBe(0x300);
  });

  test('a moved slot answers at its new place only', () => {
    const m = new Memslots();
    m.add({ id: 1, baseGfn: gfn(0x10), npages: 4, hostHfn: hfn(0x40), readOnly: false });
    expect(m.gpaToHpa(gpa(0x11008))).toBe(0x41008);
    m.move(1, gfn(0x80));
    expect(m.gpaToHpa(gpa(0x11008))).toBe(-1);
    expect(m.gpaToHpa(gpa(0x81008))).toBe(0x41008);
    expect(m.gpaToHpa(gpa(0x84000))).toBe(-1);
  });

  test('after setLogDirty find returns the new slot object (with its bitmap), not the cached old one', () => {
    const m = new Memslots();
    m.add({ id: 2, baseGfn: gfn(0), npages: 8, hostHfn: hfn(0x10), readOnly: false });
    expect(m.find(gfn(3))?.dirtyBitmap).toBeUndefined();
    expect(m.gpaToHpa(gpa(0x3000))).toBe(0x13000);
    const logged = m.setLogDirty(2, true, false);
    expect(m.find(gfn(3))).toBe(logged);
    expect(m.find(gfn(3))?.dirtyBitmap?.length).toBe(8);
    expect(m.gpaToHpa(gpa(0x3000))).toBe(0x13000);
  });

  test('lookups alternating between slots, with changes in between, equal the uncached answer', () => {
    const m = new Memslots();
    m.add({ id: 0, baseGfn: gfn(0), npages: 0x100, hostHfn: hfn(0x1000), readOnly: false });
    m.add({ id: 1, baseGfn: gfn(0x200), npages: 0x80, hostHfn: hfn(0x20), readOnly: false });
    m.add({ id: 2, baseGfn: gfn(0x400), npages: 1, hostHfn: hfn(0), readOnly: true });
    let seed = 12345;
    const next = (): number => { seed = (seed * 1103515245 + 12345) >>> 0; return seed; };
    for (let i = 0; i < 4000; i++) {
      if (i % 500 === 499) {
        // Change the set: move slot 1 back and forth, swap slot 2's backing.
        m.move(1, gfn(((i + 1) / 500) % 2 === 1 ? 0x280 : 0x200));
        m.remove(2);
        m.add({ id: 2, baseGfn: gfn(0x400), npages: 1, hostHfn: hfn(i), readOnly: true });
      }
      const addr = next() % (0x500 * 4096);
      expect(m.gpaToHpa(gpa(addr))).toBe(reference(m, addr));
    }
  });
});
