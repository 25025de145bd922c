import { expect, test } from 'vitest';
import { Machine } from '../../vmm/machine.js';
import { buildElf32 } from '../helpers/elf32.js';

/**
 * IRET in real mode loads only the flags that exist (SDM Vol. 2 IRET, real-address mode): EFLAGS
 * bits 3, 5 and 15 stay 0 whatever the popped image holds (kvm-unit-tests' realmode 'iret 4' pops
 * 0x8028, and mmulab once kept those bits for every later flag check); IRETW leaves the upper
 * half alone, IRETD also loads RF, AC and ID. TF and IF stay 0 so nothing interrupts the probe.
 *
 * Loaded at 0x20000 (code at 0x2000C), assembled from: lgdt; ljmp to 16-bit protected mode (code
 * base 0x20000); clear CR0.PE; ljmp 0x2000:rm; rm: ds = ss = 0, sp = 0x7000;
 * push 0xfcff; push cs; push 1f; iret; 1: pushf; pop ax; mov [0x6000], ax;
 * push dword 0xfffffcff; push dword 0x2000; push dword 2f; iretd; 2: pushfd; pop eax;
 * mov [0x6004], eax; cli; hlt.
 */
const PROBE = Buffer.from('0f01157c000200ea1a0000000800b810008ed88ed00f20c024fe0f22c0ea2e00002031c08ed88ed0bc007068fffc0e683f00cf9c58a300606668fffcffff66680020000066685800000066cf669c665866a30460faf466900000000000000000ffff0000029b0000ffff000000930000170064000200', 'hex');

test('IRETW and IRETD in real mode leave EFLAGS bits 3, 5 and 15 clear', () => {
  const vm = new Machine({ memBytes: 8 << 20, serialOut: () => {} });
  vm.loadMultiboot(buildElf32({ code: PROBE, loadAddr: 0x20000 }), 'iret', '');
  expect(vm.run(1000).outcome).toBe('halted');
  const out = Buffer.from(vm.readPhysical(0x6000, 8));
  // CF PF AF ZF SF, the fixed bit 1, DF OF IOPL NT.
  expect(out.readUInt16LE(0).toString(16)).toBe('7cd7');
  // The same plus AC and ID (RF reads 0 in a PUSHF image).
  expect(out.readUInt32LE(4).toString(16)).toBe('247cd7');
});
