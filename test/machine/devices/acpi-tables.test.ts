import { describe, expect, test } from 'vitest';
import { buildAcpiTables, byteSum } from '../../../emulator/machine/devices/acpi-tables.js';
import { TestMachine } from './machine.js';

const tables = buildAcpiTables();

/** The bytes of the table at guest-physical `addr` (length from its header, or `length`). */
function at(addr: number, length?: number): Buffer {
  const o = addr - tables.base;
  const view = Buffer.from(tables.bytes.buffer, tables.bytes.byteOffset, tables.bytes.length);
  const n = length ?? view.readUInt32LE(o + 4);
  return view.subarray(o, o + n);
}

const addr = (sig: string): number => {
  const a = tables.addresses.get(sig);
  if (a === undefined) throw new Error(`no ${sig}`);
  return a;
};

describe('ACPI tables', () => {
  test('RSDP: "RSD PTR ", revision 2, 16-byte aligned in the BIOS area, both checksums', () => {
    const a = addr('RSD PTR ');
    expect(a % 16).toBe(0);
    expect(a).toBeGreaterThanOrEqual(0xe0000);
    expect(a + 36).toBeLessThanOrEqual(0x100000);
    const r = at(a, 36);
    expect(r.subarray(0, 8).toString('latin1')).toBe('RSD PTR ');
    expect(r[15]).toBe(2);
    expect(byteSum(r.subarray(0, 20))).toBe(0);
    expect(r.readUInt32LE(20)).toBe(36);
    expect(byteSum(r)).toBe(0);
    expect(r.readUInt32LE(16)).toBe(addr('RSDT'));
    expect(Number(r.readBigUInt64LE(24))).toBe(addr('XSDT'));
  });

  test('every description table has its signature, its length and a zero byte sum', () => {
    for (const sig of ['RSDT', 'XSDT', 'FACP', 'DSDT', 'APIC']) {
      const t = at(addr(sig));
      expect(t.subarray(0, 4).toString('latin1'), sig).toBe(sig);
      expect(byteSum(t), sig).toBe(0);
      expect(t.subarray(10, 16).toString('latin1')).toBe('MMULAB');
    }
  });

  test('RSDT and XSDT list the same tables: the FADT and the MADT', () => {
    const rsdt = at(addr('RSDT'));
    const xsdt = at(addr('XSDT'));
    const r = [rsdt.readUInt32LE(36), rsdt.readUInt32LE(40)];
    const x = [Number(xsdt.readBigUInt64LE(36)), Number(xsdt.readBigUInt64LE(44))];
    expect(rsdt.length).toBe(44);
    expect(xsdt.length).toBe(52);
    expect(r).toEqual([addr('FACP'), addr('APIC')]);
    expect(x).toEqual(r);
  });

  test('FADT: PM1a event 0x600, control 0x604, PM timer 0x608 (4 bytes, 24-bit), FACS and DSDT pointers', () => {
    const f = at(addr('FACP'));
    expect(f.length).toBe(244);
    expect(f[8]).toBe(3); // revision
    expect(f.readUInt32LE(36)).toBe(addr('FACS'));
    expect(f.readUInt32LE(40)).toBe(addr('DSDT'));
    expect(f.readUInt16LE(46)).toBe(9); // SCI
    expect(f.readUInt32LE(56)).toBe(0x600);
    expect(f.readUInt32LE(64)).toBe(0x604);
    expect(f.readUInt32LE(0x4c)).toBe(0x608); // where kvm-unit-tests reads pm_tmr_blk
    expect([f[88], f[89], f[91]]).toEqual([4, 2, 4]);
    expect(f.readUInt32LE(112) & (1 << 8)).toBe(0); // TMR_VAL_EXT clear
    expect(f.readUInt16LE(109)).toBe(1); // legacy ISA devices, no 8042
    expect(Number(f.readBigUInt64LE(132))).toBe(addr('FACS'));
    expect(Number(f.readBigUInt64LE(140))).toBe(addr('DSDT'));
    // X_PM_TMR_BLK: system I/O, 32 bits, dword access, port 0x608.
    expect([f[208], f[209], f[210], f[211], Number(f.readBigUInt64LE(212))]).toEqual([1, 32, 0, 3, 0x608]);
    expect([f[148], f[149], Number(f.readBigUInt64LE(152))]).toEqual([1, 32, 0x600]);
    expect([f[172], f[173], Number(f.readBigUInt64LE(176))]).toEqual([1, 16, 0x604]);
  });

  test('FACS: 64 bytes on a 64-byte boundary; DSDT: a header-only definition block', () => {
    const facs = at(addr('FACS'), 64);
    expect(addr('FACS') % 64).toBe(0);
    expect(facs.subarray(0, 4).toString('latin1')).toBe('FACS');
    expect(facs.readUInt32LE(4)).toBe(64);
    expect(at(addr('DSDT')).length).toBe(36);
  });

  test('MADT: LAPIC 0xfee00000, PCAT_COMPAT, CPU 0, IOAPIC 0xfec00000 at GSI 0, IRQ0 -> GSI2, SCI level, LINT1 NMI', () => {
    const m = at(addr('APIC'));
    expect(m.readUInt32LE(36)).toBe(0xfee00000);
    expect(m.readUInt32LE(40)).toBe(1);
    const entries: number[][] = [];
    for (let o = 44; o < m.length; o += m[o + 1]) entries.push([...m.subarray(o, o + m[o + 1])]);
    expect(entries).toEqual([
      [0, 8, 0, 0, 1, 0, 0, 0],
      [1, 12, 0, 0, 0x00, 0x00, 0xc0, 0xfe, 0, 0, 0, 0],
      [2, 10, 0, 0, 2, 0, 0, 0, 0, 0],
      [2, 10, 0, 9, 9, 0, 0, 0, 0x0d, 0],
      [4, 6, 0xff, 0, 0, 1],
    ]);
  });

  test('the machine writes them into guest RAM below 1 MiB, outside the RAM the memory map offers', () => {
    const m = new TestMachine();
    expect(m.vm.readPhysical(tables.base, tables.bytes.length)).toEqual(tables.bytes);
    expect(tables.base).toBeGreaterThanOrEqual(0xe0000);
    expect(tables.base + tables.bytes.length).toBeLessThanOrEqual(0xf0000);
  });
});

describe('ACPI tables for N CPUs', () => {
  /** The MADT of a machine with `cpus` CPUs, its entries split by their length bytes. */
  function madtOf(cpus: number): { bytes: Buffer; entries: number[][] } {
    const t = buildAcpiTables(cpus);
    const a = t.addresses.get('APIC');
    if (a === undefined) throw new Error('no MADT');
    const view = Buffer.from(t.bytes.buffer, t.bytes.byteOffset, t.bytes.length);
    const bytes = view.subarray(a - t.base, a - t.base + view.readUInt32LE(a - t.base + 4));
    const entries: number[][] = [];
    for (let o = 44; o < bytes.length; o += bytes[o + 1]) entries.push([...bytes.subarray(o, o + bytes[o + 1])]);
    return { bytes, entries };
  }

  test('MADT with 4 CPUs: a processor local APIC entry each (UID i, APIC ID i, enabled), then the rest as for one', () => {
    const { bytes, entries } = madtOf(4);
    expect(byteSum(bytes)).toBe(0);
    expect(bytes.length).toBe(44 + 4 * 8 + 12 + 2 * 10 + 6);
    expect(entries.filter((e) => e[0] === 0)).toEqual([
      [0, 8, 0, 0, 1, 0, 0, 0],
      [0, 8, 1, 1, 1, 0, 0, 0],
      [0, 8, 2, 2, 1, 0, 0, 0],
      [0, 8, 3, 3, 1, 0, 0, 0],
    ]);
    expect(entries.slice(4)).toEqual(madtOf(1).entries.slice(1));
  });

  test('64 CPUs: 64 entries with IDs 0-63, every table still sums to 0 and fits below 0xF0000', () => {
    const t = buildAcpiTables(64);
    const { bytes, entries } = madtOf(64);
    expect(byteSum(bytes)).toBe(0);
    expect(entries.filter((e) => e[0] === 0).map((e) => e[3])).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect(t.base + t.bytes.length).toBeLessThanOrEqual(0xf0000);
    // The MADT grew, so the RSDT and XSDT moved: they must still point at the tables.
    const view = Buffer.from(t.bytes.buffer, t.bytes.byteOffset, t.bytes.length);
    const rsdt = t.addresses.get('RSDT')! - t.base;
    expect(view.readUInt32LE(rsdt + 40)).toBe(t.addresses.get('APIC'));
    expect(byteSum(view.subarray(rsdt, rsdt + view.readUInt32LE(rsdt + 4)))).toBe(0);
  });

  test('a CPU count outside 1-255 is refused', () => {
    for (const n of [0, -1, 1.5, 256]) expect(() => buildAcpiTables(n), String(n)).toThrow(/CPU count/);
  });
});
