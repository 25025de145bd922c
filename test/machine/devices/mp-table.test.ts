/**
 * The MP tables parsed back the way Linux's mpparse reads them: find "_MP_" on a 16-byte boundary
 * in the F segment, check its checksum, follow the pointer to "PCMP", check the base table's
 * checksum, and walk the entries by type (processor 20 bytes, the others 8).
 */
import { describe, expect, test } from 'vitest';
import { buildMpTable } from '../../../emulator/machine/devices/mp-table.js';
import { byteSum } from '../../../emulator/machine/devices/acpi-tables.js';

interface Parsed {
  pointerAt: number;
  header: Buffer;
  entries: Buffer[];
}

function parse(cpus: number, opts = {}): Parsed {
  const t = buildMpTable(cpus, opts);
  const mem = Buffer.from(t.bytes.buffer, t.bytes.byteOffset, t.bytes.length);
  const phys = (addr: number, n: number): Buffer => mem.subarray(addr - t.base, addr - t.base + n);
  let pointerAt = -1;
  for (let a = 0xf0000; a < t.base + mem.length; a += 16) {
    if (a >= t.base && phys(a, 4).toString('latin1') === '_MP_') {
      pointerAt = a;
      break;
    }
  }
  if (pointerAt < 0) throw new Error('no _MP_');
  const fp = phys(pointerAt, 16);
  expect(fp[8]).toBe(1); // length in paragraphs
  expect(byteSum(fp)).toBe(0);
  const config = fp.readUInt32LE(4);
  const length = phys(config, 44).readUInt16LE(4);
  const table = phys(config, length);
  expect(table.length).toBe(length);
  const entries: Buffer[] = [];
  for (let o = 44; o < length;) {
    const n = table[o] === 0 ? 20 : 8;
    entries.push(table.subarray(o, o + n));
    o += n;
  }
  expect(entries.length).toBe(table.readUInt16LE(34));
  return { pointerAt, header: table.subarray(0, 44), entries: entries };
}

describe('MP tables (MultiProcessor Specification 1.4)', () => {
  test('floating pointer in the F segment: revision 1.4, a configuration table, virtual-wire mode', () => {
    const t = buildMpTable(1);
    const fp = Buffer.from(t.bytes.subarray(0, 16));
    expect(t.base).toBe(0xf0000);
    expect(fp.subarray(0, 4).toString('latin1')).toBe('_MP_');
    expect(fp.readUInt32LE(4)).toBe(t.configAddress);
    expect([fp[9], fp[11], fp[12]]).toEqual([4, 0, 0]);
    expect(t.base + t.bytes.length).toBeLessThanOrEqual(0x100000);
  });

  test('configuration table: "PCMP", revision 1.4, checksum over the base table, local APIC at 0xFEE00000', () => {
    const { header } = parse(4);
    expect(header.subarray(0, 4).toString('latin1')).toBe('PCMP');
    expect(header[6]).toBe(4);
    expect(header.subarray(8, 16).toString('latin1')).toBe('MMULAB  ');
    expect(header.subarray(16, 28).toString('latin1')).toBe('MMULABPC    ');
    expect(header.readUInt32LE(36)).toBe(0xfee00000);
    expect(header.readUInt16LE(40)).toBe(0); // no extended table
    const t = buildMpTable(4);
    const base = t.configAddress - t.base;
    expect(byteSum(t.bytes.subarray(base, base + header.readUInt16LE(4)))).toBe(0);
  });

  test('4 CPUs: processor entries with APIC IDs 0-3, enabled, the BSP flag on CPU 0, the CPUID words given', () => {
    const { entries } = parse(4, { cpuSignature: 0x000606a6, cpuFeatures: 0x0781abfd });
    const cpus = entries.filter((e) => e[0] === 0);
    expect(cpus.map((e) => [e[1], e[2], e[3]])).toEqual([[0, 0x14, 3], [1, 0x14, 1], [2, 0x14, 1], [3, 0x14, 1]]);
    for (const e of cpus) expect([e.readUInt32LE(4), e.readUInt32LE(8)]).toEqual([0x000606a6, 0x0781abfd]);
    // The order the spec asks for: processors, buses, IOAPICs, I/O interrupts, local interrupts.
    const types = entries.map((e) => e[0]);
    expect(types).toEqual([...types].sort((a, b) => a - b));
  });

  test('ISA bus 0, the IOAPIC (ID 0, version 0x11, 0xFEC00000), ISA IRQs on their pins with the MADT overrides', () => {
    const { entries } = parse(2);
    const bus = entries.filter((e) => e[0] === 1);
    expect(bus.map((e) => [e[1], e.subarray(2, 8).toString('latin1')])).toEqual([[0, 'ISA   ']]);
    const ioapic = entries.filter((e) => e[0] === 2);
    expect(ioapic.map((e) => [e[1], e[2], e[3], e.readUInt32LE(4)])).toEqual([[0, 0x11, 1, 0xfec00000]]);
    // [interrupt type, flags, source bus, bus IRQ, IOAPIC ID, pin]
    const io = entries.filter((e) => e[0] === 3).map((e) => [e[1], e.readUInt16LE(2), e[4], e[5], e[6], e[7]]);
    const expected = [[0, 0, 0, 0, 0, 2]];
    for (let irq = 1; irq < 16; irq++) if (irq !== 2) expected.push([0, irq === 9 ? 0x0d : 0, 0, irq, 0, irq]);
    expect(io).toEqual(expected);
  });

  test('local interrupts: ExtINT on the BSP\'s LINT0, NMI on LINT1 of every CPU', () => {
    const { entries } = parse(3);
    const local = entries.filter((e) => e[0] === 4).map((e) => [e[1], e.readUInt16LE(2), e[4], e[5], e[6], e[7]]);
    expect(local).toEqual([[3, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0xff, 1]]);
  });

  test('64 CPUs: 64 processor entries, both checksums hold', () => {
    const { entries } = parse(64);
    expect(entries.filter((e) => e[0] === 0).map((e) => e[1])).toEqual(Array.from({ length: 64 }, (_, i) => i));
  });

  test('a CPU count outside 1-255 is refused', () => {
    expect(() => buildMpTable(0)).toThrow(/CPU count/);
    expect(() => buildMpTable(256)).toThrow(/CPU count/);
  });
});
