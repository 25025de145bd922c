import { describe, expect, test } from 'vitest';
import { Machine } from '../../vmm/machine.js';
import { PciFunction } from '../../emulator/machine/devices/pci-function.js';
import { PciHost } from '../../emulator/machine/devices/pci-host.js';
import { setupPciLikeSeaBios, seabiosIntxLine } from '../../emulator/machine/devices/pci-firmware.js';
import { ich9Lpc, q35Pirq } from '../../emulator/machine/devices/pci-q35.js';
import type { MmioDevice } from '../../emulator/machine/bus.js';

/** A q35 machine with edu, and configuration-space access through ports 0xCF8/0xCFC as a guest does it. */
function q35(edu = true, mmu: 'bare' | 'tdp' = 'bare'): Machine {
  return new Machine({ memBytes: 4 << 20, serialOut: () => {}, chipset: { machine: 'q35', edu }, mmu });
}

const addr = (devfn: number, reg: number): number => (0x80000000 | (devfn << 8) | reg) >>> 0;

/** kvm-unit-tests' accessors (lib/x86/asm/pci.h): CONFIG_ADDRESS with the register's low bits, data at 0xCFC. */
function cfgRead(m: Machine, devfn: number, reg: number, size: 1 | 2 | 4): number {
  m.bus.ioWrite(0xcf8, 4, addr(devfn, reg));
  return m.bus.ioRead(0xcfc, size) >>> 0;
}
function cfgWrite(m: Machine, devfn: number, reg: number, size: 1 | 2 | 4, value: number): void {
  m.bus.ioWrite(0xcf8, 4, addr(devfn, reg));
  m.bus.ioWrite(0xcfc, size, value);
}

const EDU = 1 << 3;

describe('PCI configuration space on q35', () => {
  test('the bus holds the host bridge, the LPC bridge and edu; nothing else answers', () => {
    const m = q35();
    const found: string[] = [];
    for (let devfn = 0; devfn < 256; devfn++) {
      const vendor = cfgRead(m, devfn, 0, 2);
      if (vendor !== 0xffff) found.push(`${(devfn >> 3).toString(16)}.${devfn & 7} ${vendor.toString(16)}:${cfgRead(m, devfn, 2, 2).toString(16)}`);
    }
    expect(found).toEqual(['0.0 8086:29c0', '1.0 1234:11e8', '1f.0 8086:2918']);
    // Another bus and a disabled CONFIG_ADDRESS read all ones.
    m.bus.ioWrite(0xcf8, 4, 0x80010000);
    expect(m.bus.ioRead(0xcfc, 4) >>> 0).toBe(0xffffffff);
    m.bus.ioWrite(0xcf8, 4, 0x00000800);
    expect(m.bus.ioRead(0xcfc, 4) >>> 0).toBe(0xffffffff);
  });

  test('the default pc machine keeps its empty bus', () => {
    const m = new Machine({ memBytes: 4 << 20, serialOut: () => {} });
    for (const devfn of [0, 8, 0xf8]) expect(cfgRead(m, devfn, 0, 4)).toBe(0xffffffff);
    expect(m.devices.edu).toBeUndefined();
    expect(m.bus.findMmio(0xc0000000)).toBeUndefined();
  });

  test('edu header: IDs, revision, class, header type, pin, capability list with a 64-bit MSI', () => {
    const m = q35();
    expect(cfgRead(m, EDU, 0x08, 4)).toBe(0x00ff0010);
    expect(cfgRead(m, EDU, 0x0e, 1)).toBe(0);
    expect(cfgRead(m, EDU, 0x3d, 1)).toBe(1);
    expect(cfgRead(m, EDU, 0x06, 2) & 0x10).toBe(0x10);
    expect(cfgRead(m, EDU, 0x34, 1)).toBe(0x40);
    expect(cfgRead(m, EDU, 0x40, 4)).toBe(0x00800005); // ID 5, next 0, control: 64-bit, one vector, disabled
    expect(cfgRead(m, 0xf8, 0x0e, 1)).toBe(0x80); // LPC: multi-function
    expect(cfgRead(m, 0xf8, 0x08, 4) >>> 8).toBe(0x060100);
    expect(cfgRead(m, 0, 0x08, 4) >>> 8).toBe(0x060000);
  });

  test('read-only registers ignore writes; writable ones take only their bits', () => {
    const m = q35();
    for (const reg of [0x00, 0x08, 0x0c, 0x2c, 0x34]) {
      const before = cfgRead(m, EDU, reg, 4);
      cfgWrite(m, EDU, reg, 4, 0x5a5a5a5a);
      expect(cfgRead(m, EDU, reg, 4), `register 0x${reg.toString(16)}`).toBe(before);
    }
    cfgWrite(m, EDU, 0x04, 2, 0xffff);
    expect(cfgRead(m, EDU, 0x04, 2)).toBe(0x0507); // I/O, memory, master, SERR#, interrupt disable
    cfgWrite(m, EDU, 0x3c, 2, 0xffff);
    expect(cfgRead(m, EDU, 0x3c, 2)).toBe(0x01ff); // line RW, pin RO
    cfgWrite(m, EDU, 0x42, 2, 0xffff);
    expect(cfgRead(m, EDU, 0x42, 2)).toBe(0x0081); // MSI enable only
    cfgWrite(m, EDU, 0x44, 4, 0xffffffff);
    expect(cfgRead(m, EDU, 0x44, 4)).toBe(0xfffffffc);
  });

  test('byte and word accesses reach the byte CONFIG_ADDRESS bits 1:0 and the port offset name', () => {
    const m = q35();
    expect(cfgRead(m, EDU, 0x02, 2)).toBe(0x11e8); // kvm-unit-tests: address | 2, IN from 0xCFC
    m.bus.ioWrite(0xcf8, 4, addr(EDU, 0));
    expect(m.bus.ioRead(0xcfe, 2)).toBe(0x11e8);
    expect(m.bus.ioRead(0xcfd, 1)).toBe(0x12);
    expect(m.bus.ioRead(0xcf8, 4) >>> 0).toBe(addr(EDU, 0));
  });
});

describe('BARs and the PCI hole', () => {
  test('SeaBIOS assignment: edu BAR0 at the top of the hole, memory enabled, line from the slot', () => {
    const m = q35();
    expect(cfgRead(m, EDU, 0x10, 4)).toBe(0xfeb00000);
    expect(cfgRead(m, EDU, 0x04, 2) & 0x7).toBe(0x3);
    expect(cfgRead(m, EDU, 0x3c, 1)).toBe(seabiosIntxLine(1, 1));
    expect(seabiosIntxLine(1, 1)).toBe(10);
    for (let i = 0; i < 4; i++) {
      expect(cfgRead(m, 0xf8, 0x60 + i, 1)).toBe([10, 10, 11, 11][i]);
      expect(cfgRead(m, 0xf8, 0x68 + i, 1)).toBe([10, 10, 11, 11][i]);
    }
    expect(m.bus.mmioRead(0xfeb00000, 4) >>> 0).toBe(0x010000ed);
  });

  test('sizing by writing all ones, moving by rewriting, and the memory-space bit', () => {
    const m = q35();
    const old = cfgRead(m, EDU, 0x10, 4);
    cfgWrite(m, EDU, 0x10, 4, 0xffffffff);
    expect(cfgRead(m, EDU, 0x10, 4)).toBe(0xfff00000); // 1 MiB, 32-bit, not prefetchable
    cfgWrite(m, EDU, 0x10, 4, 0xc0000000 + 0x12345);
    expect(cfgRead(m, EDU, 0x10, 4)).toBe(0xc0000000);
    expect(m.bus.mmioRead(0xc0000000, 4) >>> 0).toBe(0x010000ed);
    expect(m.bus.mmioRead(old, 4) >>> 0).toBe(0xffffffff);
    cfgWrite(m, EDU, 0x04, 2, 0); // memory space off
    expect(m.bus.mmioRead(0xc0000000, 4) >>> 0).toBe(0xffffffff);
    m.bus.mmioWrite(0xc0000004, 4, 5);
    cfgWrite(m, EDU, 0x04, 2, 2);
    expect(m.bus.mmioRead(0xc0000004, 4) >>> 0).not.toBe(~5 >>> 0);
  });

  test('the firmware lays BARs out top-down, largest first, inside the hole', () => {
    const host = new PciHost();
    const dev: MmioDevice = { name: 'x', mmioRead: () => 0, mmioWrite: () => {} };
    host.attach(3, 0, new PciFunction({ name: 'a', vendor: 1, device: 1, revision: 0, classCode: 0, bars: [{ size: 0x1000, device: dev }, { size: 0x400000, device: dev }] }));
    host.attach(4, 0, new PciFunction({ name: 'b', vendor: 1, device: 2, revision: 0, classCode: 0, interruptPin: 2, bars: [{ size: 0x100000, device: dev }, { size: 16, device: dev }] }));
    host.attach(0x1f, 0, ich9Lpc());
    setupPciLikeSeaBios(host);
    const a = host.at(3 << 3)!;
    const b = host.at(4 << 3)!;
    // Sum 4 MiB + 1 MiB + 8 KiB (the 16-byte BAR takes 4 KiB): 0xfec00000 - 0x502000 = 0xfe6fe000,
    // aligned down to the largest BAR (4 MiB).
    expect(a.barAddress(1) >>> 0).toBe(0xfe400000);
    expect(b.barAddress(0) >>> 0).toBe(0xfe800000);
    expect(a.barAddress(0) >>> 0).toBe(0xfe900000);
    expect(b.barAddress(1) >>> 0).toBe(0xfe901000);
    expect(b.read(0x3c, 1)).toBe(seabiosIntxLine(4, 2));
    expect(a.read(0x3c, 1)).toBe(0); // no pin: line left alone
    const huge: MmioDevice = dev;
    const h2 = new PciHost();
    h2.attach(2, 0, new PciFunction({ name: 'big', vendor: 1, device: 3, revision: 0, classCode: 0, bars: [{ size: 0x80000000, device: huge }] }));
    expect(() => setupPciLikeSeaBios(h2)).toThrow(/do not fit the PCI hole/);
  });
});

describe('INTx routing on q35', () => {
  /** Unmasks IOAPIC pin `pin` as a level-triggered fixed interrupt with `vector` to APIC 0, with the local APIC software-enabled. */
  function routePin(m: Machine, pin: number, vector: number, level = true): void {
    m.bus.mmioWrite(0xfee000f0, 4, 0x1ff);
    m.bus.mmioWrite(0xfec00000, 4, 0x10 + 2 * pin + 1);
    m.bus.mmioWrite(0xfec00010, 4, 0);
    m.bus.mmioWrite(0xfec00000, 4, 0x10 + 2 * pin);
    m.bus.mmioWrite(0xfec00010, 4, vector | (level ? 0x8000 : 0));
  }
  const pending = (m: Machine): number => m.platform.pendingInterrupt(m.cpu, false);

  test('edu INTA# reaches the IOAPIC pin its interrupt line names (through PIRQF -> IRQ10) and GSI 21', () => {
    const m = q35();
    expect(q35Pirq(1, 1)).toBe(5);
    const line = cfgRead(m, EDU, 0x3c, 1);
    routePin(m, line, 0x55);
    m.devices.edu!.fn.setIntx(true);
    expect(pending(m)).toBe(0x55);
    const m2 = q35();
    routePin(m2, 21, 0x66);
    m2.devices.edu!.fn.setIntx(true);
    expect(pending(m2)).toBe(0x66);
  });

  test('interrupt disable holds the wire low; the level follows the device', () => {
    const m = q35();
    const seen: boolean[] = [];
    const fn = m.devices.edu!.fn;
    const sink = fn.intxSink!;
    fn.intxSink = (level) => { seen.push(level); sink(level); };
    fn.setIntx(true);
    cfgWrite(m, EDU, 0x04, 2, 0x406);
    cfgWrite(m, EDU, 0x04, 2, 0x006);
    fn.setIntx(false);
    expect(seen).toEqual([true, false, true, false]);
  });

  test('a PIRQ whose routing register has bit 7 set reaches only its GSI', () => {
    const m = q35();
    cfgWrite(m, 0xf8, 0x69, 1, 0x8a); // PIRQF: not routed to the 8259s
    routePin(m, 10, 0x55);
    m.devices.edu!.fn.setIntx(true);
    expect(pending(m)).toBe(-1);
  });
});
