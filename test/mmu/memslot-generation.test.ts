import { describe, expect, test } from 'vitest';
import { runGuest } from '../helpers/guest.js';
import { gfn, hfn } from '../../emulator/arch/address.js';

/**
 * The memslots generation as KVM's vCPUs see it (lkml (b)): while new memslots are being published
 * (kvm_swap_active_memslots) the update-in-progress flag makes get_mmio_spte distrust every MMIO
 * SPTE, even one stamped with the generation being published; afterwards that SPTE is current.
 */
describe('memslot generation and MMIO SPTEs', () => {
  test.each(['tdp', 'legacy-tdp', 'shadow'] as const)('%s: an MMIO SPTE of the published generation is refused during the publication only', (mmu) => {
    const r = runGuest('hello', '', mmu);
    expect(r.status).toBe(1);
    const kvm = r.vm.kvm!;
    const slots = r.vm.memslots;
    const vcpu = kvm.bsp;
    const mmio = (gen: number): [number, number, number][] => {
      const spte = kvm.codec.big.makeMmioSpte(0x20000, 0, gen);
      return [[Number(spte & 0xffffffffn), Number(spte >> 32n), 1]];
    };
    const during: (boolean | undefined)[] = [];
    slots.onSwap((gen) => {
      during.push(slots.updateInProgress, vcpu.checkMmioSpte(mmio(gen), 0x20000000, 0) !== undefined);
    });
    const before = slots.generation;
    slots.add({ id: 9, baseGfn: gfn(0x30000), npages: 1, hostHfn: hfn(r.vm.arena.reserveContiguous(1)), readOnly: false });
    expect(slots.generation).toBe(before + 2);
    expect(during).toEqual([true, false]);
    expect(vcpu.checkMmioSpte(mmio(slots.generation), 0x20000000, 0)).toBeDefined();
    expect(vcpu.checkMmioSpte(mmio(before), 0x20000000, 0)).toBeUndefined();
    // A delete publishes twice: the slot marked invalid, then the result.
    during.length = 0;
    slots.remove(9);
    expect(slots.generation).toBe(before + 6);
    expect(during).toEqual([true, false, true, false]);
  });
});
