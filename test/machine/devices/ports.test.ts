import { describe, expect, test } from 'vitest';
import { TestMachine } from './machine.js';

describe('PCI configuration mechanism #1 with an empty bus', () => {
  test('CONFIG_ADDRESS latches only 32-bit writes and reads back without reserved bits', () => {
    const m = new TestMachine();
    m.out(0xcf8, 0xffffffff, 4);
    expect(m.in(0xcf8, 4)).toBe(0x80fffffc);
    m.out(0xcf8, 0, 2);
    m.out(0xcfb, 0, 1);
    expect(m.in(0xcf8, 4)).toBe(0x80fffffc);
    expect(m.in(0xcf9, 1)).toBe(0xff);
  });

  test('every configuration read is all ones (vendor 0xffff: no device), writes are dropped', () => {
    const m = new TestMachine();
    for (const dev of [0, 1, 31]) {
      m.out(0xcf8, 0x80000000 | (dev << 11), 4);
      expect(m.in(0xcfc, 2)).toBe(0xffff);
      expect(m.in(0xcfc, 4)).toBe(0xffffffff);
      expect(m.in(0xcfe, 1)).toBe(0xff);
    }
    m.out(0xcfc, 0x12345678, 4);
    expect(m.in(0xcfc, 4)).toBe(0xffffffff);
    m.out(0xcf8, 0, 4); // enable bit clear
    expect(m.in(0xcfc, 4)).toBe(0xffffffff);
  });
});

describe('POST code port and unassigned ports', () => {
  test('port 0x80 accepts writes (kept for reports) and reads all ones', () => {
    const m = new TestMachine();
    m.out(0x80, 0x42);
    expect(m.devices.postCode.last).toBe(0x42);
    expect(m.in(0x80)).toBe(0xff);
  });

  test('ports nobody owns read all ones at every width and ignore writes', () => {
    const m = new TestMachine();
    for (const port of [0x1234, 0x4d2, 0x62, 0x72, 0x8900, 0xc000, 0x514]) {
      expect(m.in(port, 1)).toBe(0xff);
      expect(m.in(port, 2)).toBe(0xffff);
      expect(m.in(port, 4)).toBe(0xffffffff);
      expect(() => m.out(port, 0x12345678, 4)).not.toThrow();
    }
  });
});

describe('the PC assembly', () => {
  test('every device owns its ports and MMIO, the LAPIC is the interrupt controller and an MSR device', () => {
    const m = new TestMachine();
    const bus = m.vm.bus;
    expect(bus.findMmio(0xfee00000)?.device.name).toBe('local-apic');
    expect(bus.findMmio(0xfec00010)?.device.name).toBe('ioapic');
    expect(m.vm.platform.msrDevices).toContain(m.devices.lapic);
    expect(() => bus.registerPorts(0x510, 1, { name: 'x', ioRead: () => 0, ioWrite: () => {} })).toThrow(/fw_cfg/);
    expect(() => bus.registerPorts(0x608, 1, { name: 'x', ioRead: () => 0, ioWrite: () => {} })).toThrow(/acpi-pm/);
    expect(() => bus.registerPorts(0x4d1, 1, { name: 'x', ioRead: () => 0, ioWrite: () => {} })).toThrow(/elcr/);
    expect(() => bus.registerPorts(0xcfc, 1, { name: 'x', ioRead: () => 0, ioWrite: () => {} })).toThrow(/pci/);
    expect(m.vm.cpu.model.has('apic')).toBe(true);
  });

  test('two machines are independent and identical (no shared device state)', () => {
    const a = new TestMachine();
    const b = new TestMachine();
    a.out(0x510, 5, 2);
    expect(a.in(0x511)).toBe(1);
    expect(b.in(0x511)).toBe(0);
    expect(a.vm.readPhysical(0xe0000, 512)).toEqual(b.vm.readPhysical(0xe0000, 512));
  });
});
