import { expect, test } from 'vitest';
import { le32, runTiny } from './tiny-guest.js';

/**
 * I/O breakpoints (SDM Vol. 3 18.2.4 and 18.3.1.2): with CR4.DE set, R/W=10 in DR7 makes DRn's low
 * 16 bits a port range of LENn bytes, and an IN/OUT/INS/OUTS touching it is a #DB trap after the
 * instruction with DR6.Bn set. Without CR4.DE R/W=10 is undefined and nothing is taken here. The
 * tiny guest has no IDT, so the #DB escalates to a triple fault whose chain starts with vector 1.
 */
const DR7_L0_IO = (len: number): number => 0x1 | (2 << 16) | (len << 18);

function guest(de: boolean, dr0: number, dr7: number, access: string): string {
  return [
    de ? '0f 20 e0  83 c8 08  0f 22 e0' : '', // CR4.DE
    `b8 ${le32(dr0)}  0f 23 c0`, // mov dr0, eax
    `b8 ${le32(dr7)}  0f 23 f8`, // mov dr7, eax
    access,
  ].join(' ');
}
const OUT_80 = 'e6 80'; // out 0x80, al (2 bytes)
const OUT_DX_WORD_7F = `ba ${le32(0x7f)}  66 ef`; // mov edx, 0x7f; out dx, ax: ports 0x7f-0x80

test('OUT to the breakpoint port traps after the instruction with DR6.B0', () => {
  const r = runTiny(guest(true, 0x80, DR7_L0_IO(0), OUT_80));
  expect(r.vector).toBe(1);
  expect(r.vm.cpu.drLo[6] & 0xf).toBe(1);
  // The trap is taken after the OUT: the saved RIP is the next instruction.
  expect(r.stopOffset).toBe(hexLength(guest(true, 0x80, DR7_L0_IO(0), OUT_80)));
});

test('an access overlapping the range hits; one outside it does not; without CR4.DE nothing is taken', () => {
  expect(runTiny(guest(true, 0x80, DR7_L0_IO(0), OUT_DX_WORD_7F)).vector).toBe(1);
  expect(runTiny(guest(true, 0x82, DR7_L0_IO(1), OUT_80)).vector).toBeNull(); // 0x82-0x83
  expect(runTiny(guest(true, 0x81, DR7_L0_IO(1), OUT_80)).vector).toBe(1); // 2-byte range aligned down to 0x80
  expect(runTiny(guest(false, 0x80, DR7_L0_IO(0), OUT_80)).vector).toBeNull();
  expect(runTiny(guest(true, 0x80, DR7_L0_IO(0), 'e4 80')).vector).toBe(1); // in al, 0x80
});

function hexLength(code: string): number {
  return code.replace(/\s+/g, '').length / 2;
}
