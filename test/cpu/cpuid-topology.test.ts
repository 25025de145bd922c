import { describe, expect, test } from 'vitest';
import { CpuModel } from '../../emulator/cpu/cpu-model.js';

/**
 * CPUID leaf 0BH (SDM Vol. 2A): the x2APIC ID in EDX at every subleaf, which kvm-unit-tests'
 * apic.c compares with the x2APIC ID register ("x2apic id matches cpuid"), and the topology
 * QEMU reports for -smp N: N sockets, one core each, one thread per core.
 */
describe('CPUID leaf 0BH', () => {
  const model = new CpuModel();
  test.each([0, 1, 3])('APIC ID %i: SMT and core levels of one, then an invalid level; EDX the x2APIC ID', (id) => {
    expect(model.cpuid(0xb, 0, id)).toEqual([0, 1, 0x100, id]);
    expect(model.cpuid(0xb, 1, id)).toEqual([0, 1, 0x201, id]);
    expect(model.cpuid(0xb, 2, id)).toEqual([0, 0, 2, id]);
  });

  test('agrees with leaf 1: the initial APIC ID and one logical processor per package', () => {
    const [, b1] = model.cpuid(1, 0, 5);
    expect(b1 >>> 24).toBe(5);
    expect((b1 >>> 16) & 0xff).toBe(model.cpuid(0xb, 1, 5)[1]);
  });
});
