import { describe, expect, test } from 'vitest';
import { Memslots } from '../../emulator/machine/memslots.js';
import { gfn, gpa, hfn } from '../../emulator/arch/address.js';

describe('Memslots', () => {
  test('translates guest-physical addresses inside a slot and reports others as MMIO', () => {
    const m = new Memslots();
    m.add({ id: 0, baseGfn: gfn(0x100), npages: 16, hostHfn: hfn(0x20), readOnly: false });
    expect(m.gpaToHpa(gpa(0x100123))).toBe(0x20123);
    expect(m.gpaToHpa(gpa(0x10ffff))).toBe(0x2ffff);
    expect(m.gpaToHpa(gpa(0x110000))).toBe(-1);
    expect(m.gpaToHpa(gpa(0xff000))).toBe(-1);
  });

  test('rejects overlapping slots and duplicate ids', () => {
    const m = new Memslots();
    m.add({ id: 0, baseGfn: gfn(0), npages: 10, hostHfn: hfn(0), readOnly: false });
    expect(() => m.add({ id: 1, baseGfn: gfn(9), npages: 1, hostHfn: hfn(100), readOnly: false })).toThrow(/overlaps/);
    expect(() => m.add({ id: 0, baseGfn: gfn(20), npages: 1, hostHfn: hfn(100), readOnly: false })).toThrow(/already in use/);
  });

  test('a create publishes once (+2), a move or delete twice (+4, KVM\'s two swaps); the in-progress flag is set at each publication only', () => {
    const m = new Memslots();
    const seen: string[] = [];
    m.onSwap((gen) => seen.push(`swap gen ${gen} published ${m.generation} in progress ${m.updateInProgress}`));
    m.onChange((c) => seen.push(`${c.kind} ${c.slot.id} gen ${m.generation} in progress ${m.updateInProgress}`));
    m.add({ id: 3, baseGfn: gfn(0), npages: 1, hostHfn: hfn(0), readOnly: false });
    m.move(3, gfn(0x10));
    expect(m.gpaToHpa(gpa(0x10000))).toBe(0);
    m.remove(3);
    expect(seen).toEqual([
      'swap gen 2 published 2 in progress true', 'add 3 gen 2 in progress false',
      'swap gen 4 published 4 in progress true', 'swap gen 6 published 6 in progress true', 'move 3 gen 6 in progress false',
      'swap gen 8 published 8 in progress true', 'swap gen 10 published 10 in progress true', 'remove 3 gen 10 in progress false',
    ]);
    expect(m.gpaToHpa(gpa(0))).toBe(-1);
    expect(m.updateInProgress).toBe(false);
  });

  test('a move onto another slot is refused and leaves the slot where it was', () => {
    const m = new Memslots();
    m.add({ id: 0, baseGfn: gfn(0), npages: 4, hostHfn: hfn(0), readOnly: false });
    m.add({ id: 1, baseGfn: gfn(8), npages: 4, hostHfn: hfn(4), readOnly: false });
    expect(() => m.move(1, gfn(2))).toThrow(/overlaps/);
    expect(m.gpaToHpa(gpa(0x8000))).toBe(0x4000);
  });
});
