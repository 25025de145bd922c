import { describe, expect, test } from 'vitest';
import { Bus, type IoDevice, type MmioDevice } from '../../emulator/machine/bus.js';

class Recorder implements IoDevice, MmioDevice {
  readonly log: string[] = [];
  constructor(readonly name: string) {}
  ioRead(offset: number, size: number): number { this.log.push(`ior ${offset} ${size}`); return 0x42; }
  ioWrite(offset: number, size: number, v: number): void { this.log.push(`iow ${offset} ${size} ${v}`); }
  mmioRead(offset: number, size: number): number { this.log.push(`mr ${offset} ${size}`); return 7; }
  mmioWrite(offset: number, size: number, v: number): void { this.log.push(`mw ${offset} ${size} ${v}`); }
}

describe('Bus', () => {
  test('hands a port device only the offset into its own range', () => {
    const bus = new Bus();
    const dev = new Recorder('dev');
    bus.registerPorts(0x3f8, 8, dev);
    expect(bus.ioRead(0x3fd, 1)).toBe(0x42);
    bus.ioWrite(0x3f8, 1, 0x41);
    expect(dev.log).toEqual(['ior 5 1', 'iow 0 1 65']);
  });

  test('rejects a port range that overlaps another device', () => {
    const bus = new Bus();
    bus.registerPorts(0x60, 4, new Recorder('a'));
    expect(() => bus.registerPorts(0x63, 2, new Recorder('b'))).toThrow(/already belongs to a/);
  });

  test('unassigned ports read as all ones at every width and ignore writes', () => {
    const bus = new Bus();
    expect(bus.ioRead(0x1234, 1)).toBe(0xff);
    expect(bus.ioRead(0x1234, 2)).toBe(0xffff);
    expect(bus.ioRead(0x1234, 4)).toBe(0xffffffff);
    expect(() => bus.ioWrite(0x4d0, 4, 1)).not.toThrow();
  });

  test('rejects overlapping MMIO ranges and routes by offset', () => {
    const bus = new Bus();
    const apic = new Recorder('apic');
    bus.registerMmio(0xfee00000, 0x1000, apic);
    expect(() => bus.registerMmio(0xfee00800, 0x1000, new Recorder('x'))).toThrow(/overlaps apic/);
    expect(bus.mmioRead(0xfee00020, 4)).toBe(7);
    expect(apic.log).toEqual(['mr 32 4']);
    expect(bus.mmioRead(0xd0000000, 1)).toBe(0xff);
  });
});
