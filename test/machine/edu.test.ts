import { describe, expect, test } from 'vitest';
import { Machine } from '../../vmm/machine.js';
import { decodeMsi } from '../../emulator/machine/devices/dma-direct.js';
import type { DmaPort } from '../../emulator/machine/devices/dma.js';
import { EduDevice } from '../../emulator/machine/devices/edu.js';

const BAR = 0xfeb00000;
const EDU = 1 << 3;

function q35(): Machine {
  const m = new Machine({ memBytes: 4 << 20, serialOut: () => {}, chipset: { machine: 'q35', edu: true } });
  cfgWrite(m, 0x04, 2, 0x0007); // memory space and bus master, as kvm-unit-tests' pci_enable_defaults leaves them
  return m;
}
function cfgWrite(m: Machine, reg: number, size: 1 | 2 | 4, value: number): void {
  m.bus.ioWrite(0xcf8, 4, (0x80000000 | (EDU << 8) | reg) >>> 0);
  m.bus.ioWrite(0xcfc, size, value);
}
const rd = (m: Machine, off: number): number => m.bus.mmioRead(BAR + off, 4) >>> 0;
const wr = (m: Machine, off: number, v: number): void => m.bus.mmioWrite(BAR + off, 4, v | 0);
/** An 8-byte register write as mmulab's CPU makes it: low half, then high half. */
const wr64 = (m: Machine, off: number, v: number): void => { wr(m, off, v % 2 ** 32); wr(m, off + 4, Math.floor(v / 2 ** 32)); };

describe('edu registers (QEMU hw/misc/edu.c)', () => {
  test('identification, liveness, factorial, status', () => {
    const m = q35();
    expect(rd(m, 0x00)).toBe(0x010000ed);
    for (const v of [0, 1, 0x12345678, 0xffffffff]) {
      wr(m, 0x04, v);
      expect(rd(m, 0x04)).toBe(~v >>> 0);
    }
    wr(m, 0x08, 5);
    expect(rd(m, 0x08)).toBe(120);
    wr(m, 0x08, 13);
    expect(rd(m, 0x08)).toBe(Number(6227020800n % 2n ** 32n));
    wr(m, 0x08, 40);
    expect(rd(m, 0x08)).toBe(0);
    wr(m, 0x20, 0xff);
    expect(rd(m, 0x20)).toBe(0x80);
    // Not 4 bytes below 0x80: all ones, no effect.
    expect(m.bus.mmioRead(BAR, 2)).toBe(0xffff);
    m.bus.mmioWrite(BAR + 4, 2, 7);
    expect(rd(m, 0x04)).toBe(~0xffffffff >>> 0);
    expect(rd(m, 0x10)).toBe(0xffffffff);
  });

  test('the factorial raises 0x1 when status bit 7 is set', () => {
    const m = q35();
    wr(m, 0x20, 0x80);
    wr(m, 0x08, 3);
    expect(rd(m, 0x24)).toBe(1);
  });

  test('interrupt status: raise ORs, acknowledge clears', () => {
    const m = q35();
    wr(m, 0x60, 0x5);
    wr(m, 0x60, 0x100);
    expect(rd(m, 0x24)).toBe(0x105);
    wr(m, 0x64, 0x4);
    expect(rd(m, 0x24)).toBe(0x101);
  });
});

describe('edu DMA through the direct port', () => {
  test('RAM -> buffer -> RAM, with the done interrupt, and code on the page invalidated', () => {
    const m = q35();
    const src = 0x200000;
    const dst = 0x201000;
    m.writePhysical(src, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
    wr64(m, 0x80, src);
    wr64(m, 0x88, 0x40000 + 16);
    wr64(m, 0x90, 8);
    wr(m, 0x98, 0x1);
    expect(rd(m, 0x98) & 1).toBe(0); // complete at once
    expect([...m.devices.edu!.buffer.subarray(16, 24)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    wr64(m, 0x80, 0x40000 + 18);
    wr64(m, 0x88, dst + 4);
    wr64(m, 0x90, 4);
    wr(m, 0x98, 0x1 | 0x2 | 0x4);
    expect([...m.readPhysical(dst, 8)]).toEqual([0, 0, 0, 0, 3, 4, 5, 6]);
    expect(rd(m, 0x24)).toBe(0x100);
    expect(rd(m, 0x80)).toBe(0x40000 + 18);
    expect(rd(m, 0x84)).toBe(0);
  });

  test('a command without the start bit is ignored; an out-of-buffer transfer moves nothing; no DMA without bus master', () => {
    const m = q35();
    m.writePhysical(0x300000, Uint8Array.from([9, 9, 9, 9]));
    wr64(m, 0x80, 0x300000);
    wr64(m, 0x88, 0x40000 + 4094);
    wr64(m, 0x90, 4);
    wr(m, 0x98, 0x4);
    expect(rd(m, 0x98)).toBe(0);
    expect(rd(m, 0x24)).toBe(0);
    wr(m, 0x98, 0x1);
    expect([...m.devices.edu!.buffer.subarray(4090)]).toEqual([0, 0, 0, 0, 0, 0]);
    wr64(m, 0x88, 0x40000);
    cfgWrite(m, 0x04, 2, 0x0002);
    wr(m, 0x98, 0x1);
    expect([...m.devices.edu!.buffer.subarray(0, 4)]).toEqual([0, 0, 0, 0]);
    cfgWrite(m, 0x04, 2, 0x0006);
    wr(m, 0x98, 0x1);
    expect([...m.devices.edu!.buffer.subarray(0, 4)]).toEqual([9, 9, 9, 9]);
  });

  test('RAM addresses are clamped to the 28-bit DMA mask', () => {
    const edu = new EduDevice();
    const seen: number[] = [];
    const port: DmaPort = { read: (_r, a) => { seen.push(a); return true; }, write: () => true, signalMsi: () => {} };
    edu.fn.dma = port;
    edu.fn.write(0x04, 2, 0x6);
    edu.mmioWrite(0x80, 4, 0x1234);
    edu.mmioWrite(0x84, 4, 0x1);
    edu.mmioWrite(0x88, 4, 0x40000);
    edu.mmioWrite(0x90, 4, 4);
    edu.mmioWrite(0x98, 4, 1);
    expect(seen).toEqual([0x1234]);
    edu.mmioWrite(0x80, 4, 0x1fedcba8);
    edu.mmioWrite(0x98, 4, 1);
    expect(seen[1]).toBe(0x0fedcba8);
  });
});

describe('edu interrupts', () => {
  test('MSI: compatibility format decoded and delivered to the named APIC, on every raise', () => {
    expect(decodeMsi(0xfee03004, 0x80c1)).toEqual({ vector: 0xc1, deliveryMode: 0, logical: true, destination: 3, levelTriggered: true });
    expect(decodeMsi(0xfee00010, 0x41)).toBeNull();
    expect(decodeMsi(0xfed00000, 0x41)).toBeNull();
    const m = q35();
    m.bus.mmioWrite(0xfee000f0, 4, 0x1ff);
    cfgWrite(m, 0x44, 4, 0xfee00000);
    cfgWrite(m, 0x48, 4, 0);
    cfgWrite(m, 0x4c, 2, 0x0042);
    cfgWrite(m, 0x42, 2, 0x0001);
    wr(m, 0x60, 1);
    expect(m.platform.pendingInterrupt(m.cpu, true)).toBe(0x42);
    wr(m, 0x60, 1); // still pending in the device: a raise sends again (IRR bit 0x42 while 0x42 is in service)
    expect(m.bus.mmioRead(0xfee00220, 4) & (1 << (0x42 % 32))).not.toBe(0);
  });

  test('MSI to a non-interrupt address is a memory write; nothing is sent with MSI disabled', () => {
    const m = q35();
    cfgWrite(m, 0x44, 4, 0x100000);
    cfgWrite(m, 0x4c, 2, 0xbeef);
    cfgWrite(m, 0x42, 2, 0x0001);
    wr(m, 0x60, 1);
    expect([...m.readPhysical(0x100000, 4)]).toEqual([0xef, 0xbe, 0, 0]);
  });

  test('INTx: level while the status is non-zero, to the IOAPIC pin of the interrupt line', () => {
    const m = q35();
    const levels: boolean[] = [];
    const fn = m.devices.edu!.fn;
    const sink = fn.intxSink!;
    fn.intxSink = (level) => { levels.push(level); sink(level); };
    wr(m, 0x60, 0x3);
    wr(m, 0x60, 0x4);
    wr(m, 0x64, 0x1);
    expect(fn.intxAsserted).toBe(true); // 0x6 still set
    wr(m, 0x64, 0x6);
    expect(fn.intxAsserted).toBe(false);
    expect(levels).toEqual([true, false]);
    // Edge-triggered RTE on the line's pin: one interrupt per rising edge.
    m.bus.mmioWrite(0xfee000f0, 4, 0x1ff);
    m.bus.ioWrite(0xcf8, 4, 0x80000800 | 0x3c);
    const line = m.bus.ioRead(0xcfc, 1);
    m.bus.mmioWrite(0xfec00000, 4, 0x10 + 2 * line);
    m.bus.mmioWrite(0xfec00010, 4, 0xed);
    wr(m, 0x60, 1);
    expect(m.platform.pendingInterrupt(m.cpu, true)).toBe(0xed);
  });
});
