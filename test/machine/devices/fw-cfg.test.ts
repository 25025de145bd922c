import { describe, expect, test } from 'vitest';
import { FwCfg } from '../../../emulator/machine/devices/fw-cfg.js';
import { TestMachine } from './machine.js';

const SEL = 0x510;
const DATA = 0x511;

function readItem(m: TestMachine, key: number, n: number): number[] {
  m.out(SEL, key, 2);
  return Array.from({ length: n }, () => m.in(DATA));
}

const le = (bytes: number[]): bigint => bytes.reduceRight((v, b) => (v << 8n) | BigInt(b), 0n);

describe('fw_cfg (QEMU traditional interface at 0x510)', () => {
  test('signature "QEMU" and an ID that advertises the traditional interface only', () => {
    const m = new TestMachine();
    expect(Buffer.from(readItem(m, 0x0000, 4)).toString('latin1')).toBe('QEMU');
    expect(le(readItem(m, 0x0001, 4))).toBe(1n);
  });

  test('NB_CPUS is 1 (2 bytes), MAX_CPUS 1, RAM_SIZE the guest RAM (8 bytes little-endian)', () => {
    const m = new TestMachine({ memBytes: 4 << 20 });
    expect(readItem(m, 0x0005, 2)).toEqual([1, 0]);
    expect(readItem(m, 0x000f, 2)).toEqual([1, 0]);
    expect(le(readItem(m, 0x0003, 8))).toBe(4n << 20n);
    expect(le(readItem(new TestMachine({ memBytes: 128 << 20 }), 0x0003, 8))).toBe(128n << 20n);
  });

  test('items read byte by byte; writing the selector again rewinds', () => {
    const m = new TestMachine();
    expect(readItem(m, 0x0000, 2)).toEqual([0x51, 0x45]); // "QE"
    expect(m.in(DATA)).toBe(0x4d); // "M": the offset carried on
    expect(readItem(m, 0x0000, 1)).toEqual([0x51]);
  });

  test('past the end of an item, and for keys without one, data reads 0', () => {
    const m = new TestMachine();
    expect(readItem(m, 0x0005, 4)).toEqual([1, 0, 0, 0]);
    expect(readItem(m, 0x3000, 3)).toEqual([0, 0, 0]);
    expect(readItem(m, 0x0011, 8)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  test('byte writes are ignored; a 16-bit write to either port selects; wide reads get no answer', () => {
    const m = new TestMachine();
    m.out(SEL, 0x0005, 2);
    m.out(DATA, 0x00, 1);
    m.out(SEL, 0x00, 1);
    expect(m.in(DATA)).toBe(1);
    m.out(DATA, 0x0000, 2);
    expect(m.in(SEL)).toBe(0x51);
    expect(m.in(DATA, 2)).toBe(0xffff);
    expect(m.in(DATA, 4)).toBe(0xffffffff);
  });

  test('the DMA port 0x514 is not there (all ones)', () => {
    const m = new TestMachine();
    expect(m.in(0x514, 4)).toBe(0xffffffff);
  });
});

describe('fw_cfg for N CPUs', () => {
  /** Reads item `key` (n bytes) from a bare FwCfg the way a guest does. */
  function item(f: FwCfg, key: number, n: number): number[] {
    f.ioWrite(0, 2, key);
    return Array.from({ length: n }, () => f.ioRead(1, 1));
  }

  test('NB_CPUS and MAX_CPUS report the CPU count (what kvm-unit-tests waits for)', () => {
    for (const cpus of [2, 4, 64]) {
      const f = new FwCfg({ ramBytes: 2 << 20, cpus });
      expect(item(f, 0x0005, 2), `${cpus}`).toEqual([cpus, 0]);
      expect(item(f, 0x000f, 2)).toEqual([cpus, 0]);
    }
  });

  test('a CPU count outside 1-255 is refused', () => {
    expect(() => new FwCfg({ ramBytes: 2 << 20, cpus: 0 })).toThrow(/CPU count/);
    expect(() => new FwCfg({ ramBytes: 2 << 20, cpus: 300 })).toThrow(/CPU count/);
  });
});
