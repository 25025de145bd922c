import { describe, expect, test } from 'vitest';
import { Machine } from '../../vmm/machine.js';
import { buildElf32 } from '../helpers/elf32.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/#.*$/gm, '').replace(/\s+/g, ''), 'hex'));

function boot(code: Uint8Array): Machine {
  const vm = new Machine({ memBytes: 8 << 20, serialOut: () => {} });
  vm.loadMultiboot(buildElf32({ code }), 'test', '');
  return vm;
}

describe('run outcomes', () => {
  test('the debug-exit port ends the run with status (value << 1) | 1', () => {
    const r = boot(hex('b8 05 00 00 00  e7 f4  f4')).run(); // mov eax,5; out 0xf4,eax; hlt
    expect(r.outcome).toBe('exit');
    expect(r.exitStatus).toBe(11);
    expect(r.instructions).toBe(2);
  });

  test('an exception with no usable IDT escalates to #DF and then a triple fault', () => {
    // lidt [pseudo-descriptor of limit 0]; int3. The #GP raised while delivering the INT3 is a
    // fault of the INT3 itself, so RIP goes back to it (SDM Vol. 3 6.5).
    const vm = boot(hex('0f 01 1d 00 10 00 00  cc  f4'));
    const r = vm.run();
    expect(r.outcome).toBe('triple-fault');
    expect(r.detail).toBe('triple fault (exceptions 3, 13, 8, 13)');
    expect(r.stopAddress).toBe(0x200000n + 12n + 7n);
    expect(r.stopBytes?.[0]).toBe(0xcc);
  });

  test('a valid instruction mmulab lacks stops the run and is named, with its address and bytes', () => {
    const r = boot(hex('90  d9 fe  f4')).run(); // nop; fsin
    expect(r.outcome).toBe('unsupported');
    expect(r.detail).toMatch(/fsin/);
    expect(r.stopAddress).toBe(0x200000n + 12n + 1n);
    expect([...(r.stopBytes ?? new Uint8Array(0)).subarray(0, 2)]).toEqual([0xd9, 0xfe]);
    expect(r.instructions).toBe(1);
  });

  test('executing from unassigned physical space fetches all-ones bytes: #UD, not a crash', () => {
    // mov eax, 0xd0000000; jmp eax. Paging is off, so this is an unassigned guest-physical
    // address; the bus reads 0xff, "ff ff" is an undefined group-5 encoding, and with no IDT set
    // up the #UD escalates to a triple fault.
    const r = boot(hex('b8 00 00 00 d0  ff e0')).run();
    expect(r.outcome).toBe('triple-fault');
    expect(r.detail).toBe('triple fault (exceptions 6, 13, 8, 13)');
    expect(r.stopAddress).toBe(0xd0000000n);
  });

  test('HLT with interrupts disabled and no interrupt source halts the machine for good', () => {
    const r = boot(hex('fa f4')).run();
    expect(r.outcome).toBe('halted');
    expect(r.detail).toMatch(/interrupts disabled/);
  });

  test('the instruction limit stops the run at exactly that count', () => {
    const r = boot(hex('eb fe')).run(1000);
    expect(r.outcome).toBe('insn-limit');
    expect(r.instructions).toBe(1000);
  });
});
