/**
 * Units of mmu/kvm/ on their own, without a guest: the Page Modification Log buffer and the dirty
 * ring, checked against what KVM does (arch/x86/kvm/vmx/vmx.c vmx_flush_pml_buffer,
 * virt/kvm/dirty_ring.c kvm_dirty_ring_reset and kvm_vm_ioctl_enable_dirty_log_ring). The ioctls
 * that use them on bare memslots are test/mmu/dirty-log-ioctls.test.ts; whole guests are
 * dirty-log.test.ts and dirty-log-host.test.ts.
 */
import { describe, expect, test } from 'vitest';
import { type Gfn, gfn } from '../../emulator/arch/address.js';
import { PML_ENTRIES, PmlBuffer } from '../../mmu/kvm/pml-buffer.js';
import { DirtyRing, RING_RESERVED, ringSizeError } from '../../mmu/kvm/dirty-ring.js';

describe('PML buffer', () => {
  test('the 512th logged page fills it (PML-full exit); draining hands them back newest first and empties it', () => {
    const pml = new PmlBuffer();
    expect(PML_ENTRIES).toBe(512);
    for (let k = 0; k < 511; k++) expect(pml.log(gfn(1000 + k))).toBe(false);
    expect(pml.log(gfn(5))).toBe(true);
    const seen: Gfn[] = [];
    expect(pml.drain((g) => seen.push(g))).toBe(512);
    expect(seen[0]).toBe(5);
    expect(seen[1]).toBe(1510);
    expect(seen[511]).toBe(1000);
    expect(pml.count).toBe(0);
    expect(pml.drain(() => { throw new Error('empty buffer handed an entry'); })).toBe(0);
  });
});

describe('dirty ring', () => {
  test('sizes KVM accepts: a power of two, at least a page of entries and the reserved ones (plus 512 with PML), at most 65,536', () => {
    expect(ringSizeError(256, false)).toBeUndefined(); // 256 x 16 bytes = one page
    expect(ringSizeError(128, false)).toMatch(/at least 256/);
    expect(ringSizeError(1000, false)).toMatch(/power of two/);
    expect(ringSizeError(512, true)).toMatch(/at least 576 entries with PML/);
    expect(ringSizeError(1024, true)).toBeUndefined();
    expect(ringSizeError(65536, false)).toBeUndefined();
    expect(ringSizeError(131072, false)).toMatch(/at most 65536/);
  });

  test('soft full at size minus the reserved entries (and the PML buffer); a reset frees room', () => {
    const ring = new DirtyRing(1024, true);
    expect(ring.softLimit).toBe(1024 - RING_RESERVED - 512);
    for (let k = 0; k < ring.softLimit - 1; k++) ring.push(0, k);
    expect(ring.softFull()).toBe(false);
    ring.push(0, 9999);
    expect(ring.softFull()).toBe(true);
    expect(ring.harvest(() => {})).toBe(ring.softLimit);
    expect(ring.used).toBe(ring.softLimit); // harvested is not freed: only a reset frees
    ring.reset(() => {});
    expect(ring.used).toBe(0);
    expect(ring.softFull()).toBe(false);
  });

  test('reset re-protects harvested entries in 64-page masks merged as kvm_dirty_ring_reset merges them', () => {
    const ring = new DirtyRing(256, false);
    const pushes: [number, number][] = [
      [1, 10], [1, 12], [1, 73], // 73 - 10 = 63: one mask
      [1, 9], // below, but moving the base to 9 would push bit 63 out: a new mask
      [1, 74], // 65 above 9: a new mask
      [2, 74], // another slot
      [3, 20], [3, 18], [3, 18], // below and fits after moving the base: merged, the repeat once
      [4, 0], [4, 64], // exactly 64 apart: two masks
    ];
    for (const [s, off] of pushes) ring.push(s, off);
    // Only harvested entries are reset.
    expect(ring.reset(() => { throw new Error('reset an unharvested entry'); })).toBe(0);
    expect(ring.harvest(() => {})).toBe(pushes.length);
    const masks: [number, number, number[]][] = [];
    expect(ring.reset((s, base, bits) => masks.push([s, base, [...bits].sort((a, b) => a - b)]))).toBe(pushes.length);
    expect(masks).toEqual([
      [1, 10, [0, 2, 63]],
      [1, 9, [0]],
      [1, 74, [0]],
      [2, 74, [0]],
      [3, 18, [0, 2]],
      [4, 0, [0]],
      [4, 64, [0]],
    ]);
  });

  test('harvest takes entries in push order, once; the ring wraps', () => {
    const ring = new DirtyRing(256, false);
    for (let round = 0; round < 3; round++) {
      for (let k = 0; k < 150; k++) ring.push(round, k);
      const got: number[] = [];
      expect(ring.harvest((s, off) => { expect(s).toBe(round); got.push(off); })).toBe(150);
      expect(got).toEqual([...Array(150).keys()]);
      expect(ring.harvest(() => {})).toBe(0);
      expect(ring.reset(() => {})).toBe(150);
    }
  });
});
