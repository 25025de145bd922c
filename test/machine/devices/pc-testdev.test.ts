import { describe, expect, test } from 'vitest';
import { TestMachine } from './machine.js';

const IOAPIC = 0xfec00000;
const APIC = 0xfee00000;
const LEVEL = 1 << 15;
const REMOTE_IRR = 1 << 14;
const IOMEM = 0xff000000;

class Dev extends TestMachine {
  setReg(index: number, v: number): void {
    this.mmioWrite(IOAPIC, index);
    this.mmioWrite(IOAPIC + 0x10, v);
  }
  reg(index: number): number {
    this.mmioWrite(IOAPIC, index);
    return this.mmioRead(IOAPIC + 0x10);
  }
  /** set_irq_line(line, level) as kvm-unit-tests' lib/x86/apic.c does it: one OUT byte. */
  line(n: number, level: number): void {
    this.out(0x2000 + n, level, 1);
  }
}

describe('pc-testdev (QEMU hw/misc/pc-testdev.c)', () => {
  test('0xe0: a 32-bit latch; narrow accesses replace and return the bytes they name', () => {
    const d = new Dev();
    d.out(0xe0, 0x11223344, 4);
    expect(d.in(0xe0, 4)).toBe(0x11223344);
    expect(d.in(0xe0, 1)).toBe(0x44);
    expect(d.in(0xe1, 2)).toBe(0x2233);
    expect(d.in(0xe3, 1)).toBe(0x11);
    d.out(0xe2, 0xaabb, 2);
    expect(d.in(0xe0, 4)).toBe(0xaabb3344);
    d.out(0xe0, 0x9999, 2); // emulator.c's outw before its rep insb
    expect(d.in(0xe0, 4)).toBe(0xaabb9999);
  });

  test('0xe8: the same latch one byte a port; 0xe4 (flush page) reads 0 and changes nothing', () => {
    const d = new Dev();
    d.out(0xe0, 0x01020304, 4);
    expect(d.in(0xe8, 4)).toBe(0x01020304);
    expect(d.in(0xea, 1)).toBe(0x02);
    d.out(0xe9, 0xff, 1);
    expect(d.in(0xe0, 4)).toBe(0x0102ff04);
    d.out(0xe4, 0x12345000, 4);
    expect(d.in(0xe4, 4)).toBe(0);
    expect(d.in(0xe0, 4)).toBe(0x0102ff04);
  });

  test('IRQ lines: a byte write holds ISA line n at the level; the IOAPIC sees edges and levels', () => {
    const d = new Dev();
    d.setReg(0x10 + 2 * 14, 0x76); // pin 14, edge, vector 0x76
    d.line(14, 1);
    expect(d.pending(true)).toBe(0x76);
    d.mmioWrite(APIC + 0xb0, 0);
    d.line(14, 1); // still high: no new edge
    expect(d.pending()).toBe(-1);
    d.line(14, 0);
    d.line(14, 1);
    expect(d.pending(true)).toBe(0x76);
    d.mmioWrite(APIC + 0xb0, 0);
    d.line(14, 0);

    d.setReg(0x10 + 2 * 14, 0x77 | LEVEL);
    d.line(14, 1);
    expect(d.reg(0x10 + 2 * 14) & REMOTE_IRR).toBe(REMOTE_IRR);
    expect(d.pending(true)).toBe(0x77);
    d.line(14, 0); // ioapic.c lowers the line in its handler, then EOIs
    d.mmioWrite(APIC + 0xb0, 0);
    expect(d.reg(0x10 + 2 * 14) & REMOTE_IRR).toBe(0);
    expect(d.pending()).toBe(-1);
  });

  test('IRQ lines: wider writes and lines past the 16 ISA ones are dropped, reads return 0', () => {
    const d = new Dev();
    d.setReg(0x10 + 2 * 11, 0x73);
    d.out(0x200b, 1, 4); // realmode.c's outl: not a valid access for QEMU's 1-byte region
    expect(d.pending()).toBe(-1);
    d.setReg(0x10 + 2 * 20, 0x74);
    d.line(20, 1);
    expect(d.pending()).toBe(-1);
    expect(d.in(0x200b, 1)).toBe(0);
    d.line(11, 1);
    expect(d.pending()).toBe(0x73);
  });

  test('iomem at 0xff000000: 64 KiB that reads back what was written, at every width', () => {
    const d = new Dev();
    d.mmioWrite(IOMEM + 0x10, 0xdeadbeef);
    expect(d.mmioRead(IOMEM + 0x10)).toBe(0xdeadbeef);
    expect(d.mmioRead(IOMEM + 0x11, 1)).toBe(0xbe);
    expect(d.mmioRead(IOMEM + 0x12, 2)).toBe(0xdead);
    d.mmioWrite(IOMEM + 0xfffc, 0x5a, 1);
    expect(d.mmioRead(IOMEM + 0xfffc)).toBe(0x5a);
    expect(d.mmioRead(IOMEM + 0x10000)).toBe(0xffffffff); // past the window: nothing there
  });
});
