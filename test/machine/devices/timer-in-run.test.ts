/**
 * Device timers inside a real run: a guest arms the local APIC timer with MMIO stores and then
 * spins (no HLT). The expiry must be handled at its modeled cycle, not whenever the run loop
 * happens to look at the clock next.
 */
import { describe, expect, test } from 'vitest';
import { TestMachine } from './machine.js';

const CODE = 0x100000;

/** 32-bit flat protected mode, paging off: physical addresses reach the APIC page directly. */
function armAndSpin(count: number): Uint8Array {
  const movAbs = (addr: number, value: number): number[] => [
    0xc7, 0x05, ...le32(addr), ...le32(value), // mov dword [addr], value
  ];
  return Uint8Array.from([
    ...movAbs(0xfee003e0, 0xb), // TDCR: divide by 1
    ...movAbs(0xfee00320, 0xe0), // LVT timer: one-shot, vector 0xe0, unmasked
    ...movAbs(0xfee00380, count), // TMICT
    0xeb, 0xfe, // jmp $
  ]);
}

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

describe('APIC timer expiry during a run', () => {
  // An event a device schedules in the middle of a run slice, earlier than the slice's end, ends
  // the slice (Stop.DEADLINE), so a guest that spins instead of halting sees it on time.
  test('an expiry armed by the guest is handled at its modeled cycle while the guest spins', () => {
    const m = new TestMachine();
    const vm = m.vm;
    vm.writePhysical(CODE, armAndSpin(1000));
    vm.enterProtectedMode(CODE);
    const fired: Array<{ due: number; at: number }> = [];
    const at = vm.clock.at.bind(vm.clock);
    vm.clock.at = (due, fire) => at(due, () => { fired.push({ due, at: vm.clock.now() }); fire(); });
    vm.run(200_000);
    expect(fired).toHaveLength(1);
    expect(fired[0].at).toBe(fired[0].due);
  });

  test('the expiry is handled no earlier than its modeled cycle and requests the vector', () => {
    const m = new TestMachine();
    const vm = m.vm;
    vm.writePhysical(CODE, armAndSpin(1000));
    vm.enterProtectedMode(CODE);
    vm.run(200_000);
    expect(m.pending()).toBe(0xe0);
    expect(m.mmioRead(0xfee00390)).toBe(0);
  });
});
