/**
 * The CPU-describing parts of mmulab's firmware tables against QEMU's own (QEMU TCG with its
 * SeaBIOS, the firmware a -kernel guest meets): QEMU is started without a guest, its monitor
 * saves the BIOS area and the top of RAM once SeaBIOS has written the tables, and the MADT and
 * MP table are parsed from those bytes.
 *
 * What is compared: the MADT's processor local APIC entries (QEMU builds them itself, one per
 * CPU) and its IOAPIC entry; the MP table's processor entries (APIC ID, version, flags), IOAPIC
 * entry and local interrupts. SeaBIOS lists one MP processor per package, so QEMU is given one
 * CPU per socket there. What differs by design: OEM strings, SeaBIOS's PCI bus and PCI interrupt
 * entries (mmulab has no PCI devices), the CPUID words in MP processor entries.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { QEMU_BINARY, qemuAvailable } from '../../helpers/qemu.js';
import { buildAcpiTables } from '../../../emulator/machine/devices/acpi-tables.js';
import { buildMpTable } from '../../../emulator/machine/devices/mp-table.js';

const RAM_MIB = 128;
const BIOS_BASE = 0xe0000;
const BIOS_SIZE = 0x20000;
/** SeaBIOS puts the RSDT and the tables it points to in the last 128 KiB of RAM. */
const HIGH_BASE = RAM_MIB * 1024 * 1024 - 0x20000;
const HIGH_SIZE = 0x20000;

/** Guest-physical memory: a few saved ranges. */
class Dump {
  constructor(private readonly ranges: ReadonlyArray<[number, Buffer]>) {}

  bytes(addr: number, n: number): Buffer {
    for (const [base, buf] of this.ranges) {
      if (addr >= base && addr + n <= base + buf.length) return buf.subarray(addr - base, addr - base + n);
    }
    throw new Error(`0x${addr.toString(16)} is outside the saved memory`);
  }

  /** Address of `sig` on a 16-byte boundary in the range at `base`, or -1. */
  scan(base: number, size: number, sig: string): number {
    for (let a = base; a < base + size; a += 16) if (this.bytes(a, sig.length).toString('latin1') === sig) return a;
    return -1;
  }
}

/** Boots QEMU's firmware with `smp` and saves memory; retried with more time if the tables are not there yet. */
function qemuFirmware(smp: string): Dump {
  const dir = mkdtempSync(join(tmpdir(), 'mmulab-fw-'));
  try {
    for (const wait of [2, 5, 10]) {
      const low = join(dir, 'low.bin');
      const high = join(dir, 'high.bin');
      const monitor = [
        `sleep ${wait}`,
        `echo 'pmemsave 0x${BIOS_BASE.toString(16)} 0x${BIOS_SIZE.toString(16)} "${low}"'`,
        `echo 'pmemsave 0x${HIGH_BASE.toString(16)} 0x${HIGH_SIZE.toString(16)} "${high}"'`,
        'sleep 1', 'echo quit',
      ].join('; ');
      const qemu = [QEMU_BINARY, '-nodefaults', '-display', 'none', '-accel', 'tcg', '-m', String(RAM_MIB), '-smp', smp, '-monitor', 'stdio'];
      const r = spawnSync('sh', ['-c', `(${monitor}) | ${qemu.join(' ')}`], { encoding: 'latin1', timeout: 60_000 });
      if (r.status !== 0) throw new Error(`QEMU failed: ${r.stderr}`);
      const dump = new Dump([[BIOS_BASE, readFileSync(low)], [HIGH_BASE, readFileSync(high)]]);
      if (dump.scan(0xf0000, 0x10000, 'RSD PTR ') >= 0 && dump.scan(0xf0000, 0x10000, '_MP_') >= 0) return dump;
    }
    throw new Error('SeaBIOS did not write its tables in time');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** MADT entries (each as its bytes) found from the RSDP through the RSDT. */
function madtEntries(mem: Dump, rsdp: number): number[][] {
  const rsdt = mem.bytes(rsdp, 20).readUInt32LE(16);
  const rsdtLength = mem.bytes(rsdt, 8).readUInt32LE(4);
  for (let o = 36; o < rsdtLength; o += 4) {
    const t = mem.bytes(rsdt + o, 4).readUInt32LE(0);
    if (mem.bytes(t, 4).toString('latin1') !== 'APIC') continue;
    const madt = mem.bytes(t, mem.bytes(t, 8).readUInt32LE(4));
    const entries: number[][] = [];
    for (let e = 44; e < madt.length; e += madt[e + 1]) entries.push([...madt.subarray(e, e + madt[e + 1])]);
    return entries;
  }
  throw new Error('no MADT in the RSDT');
}

/** MP configuration table entries, from the floating pointer at `fp`. */
function mpEntries(mem: Dump, fp: number): Buffer[] {
  const config = mem.bytes(fp, 16).readUInt32LE(4);
  const length = mem.bytes(config, 8).readUInt16LE(4);
  const table = mem.bytes(config, length);
  const entries: Buffer[] = [];
  for (let o = 44; o < length; o += table[o] === 0 ? 20 : 8) entries.push(table.subarray(o, o + (table[o] === 0 ? 20 : 8)));
  return entries;
}

function mmulabMemory(cpus: number): Dump {
  const acpi = buildAcpiTables(cpus);
  const mp = buildMpTable(cpus);
  return new Dump([[acpi.base, Buffer.from(acpi.bytes)], [mp.base, Buffer.from(mp.bytes)]]);
}

if (!qemuAvailable()) console.log(`firmware-qemu.test: ${QEMU_BINARY} not found: the comparison with QEMU's firmware tables is skipped`);

const processors = (entries: number[][]): number[][] => entries.filter((e) => e[0] === 0);
const ioapics = (entries: number[][]): number[][] => entries.filter((e) => e[0] === 1);

describe.skipIf(!qemuAvailable())('firmware tables against QEMU + SeaBIOS', () => {
  test.each([2, 4])('MADT with %i CPUs: the same processor local APIC and IOAPIC entries', (cpus) => {
    const qemu = qemuFirmware(String(cpus));
    const ours = mmulabMemory(cpus);
    const q = madtEntries(qemu, qemu.scan(0xf0000, 0x10000, 'RSD PTR '));
    const m = madtEntries(ours, ours.scan(0xe0000, 0x10000, 'RSD PTR '));
    expect(processors(q).length).toBe(cpus);
    expect(processors(m)).toEqual(processors(q));
    expect(ioapics(m)).toEqual(ioapics(q));
  }, 120_000);

  test('MP table with 4 one-CPU sockets: the same processors (ID, version, flags), IOAPIC and local interrupts', () => {
    const qemu = qemuFirmware('4,sockets=4,cores=1,threads=1');
    const ours = mmulabMemory(4);
    const q = mpEntries(qemu, qemu.scan(0xf0000, 0x10000, '_MP_'));
    const m = mpEntries(ours, ours.scan(0xf0000, 0x10000, '_MP_'));
    const cpu = (es: Buffer[]): number[][] => es.filter((e) => e[0] === 0).map((e) => [e[1], e[2], e[3]]);
    expect(cpu(q)).toEqual([[0, 0x14, 3], [1, 0x14, 1], [2, 0x14, 1], [3, 0x14, 1]]);
    expect(cpu(m)).toEqual(cpu(q));
    const ioapic = (es: Buffer[]): number[][] => es.filter((e) => e[0] === 2).map((e) => [...e]);
    expect(ioapic(m)).toEqual(ioapic(q));
    // Local interrupts without the source bus ID (SeaBIOS's ISA bus is bus 1, ours bus 0).
    const local = (es: Buffer[]): number[][] => es.filter((e) => e[0] === 4).map((e) => [e[1], e.readUInt16LE(2), e[5], e[6], e[7]]);
    expect(local(m)).toEqual(local(q));
    // ISA interrupts SeaBIOS lists on the ISA bus are routed as ours are (SeaBIOS leaves the PCI ones to its PCI bus).
    const isaBus = (es: Buffer[]): number => es.find((e) => e[0] === 1 && e.subarray(2, 8).toString('latin1') === 'ISA   ')![1];
    const io = (es: Buffer[]): Map<number, number[]> => new Map(es.filter((e) => e[0] === 3 && e[4] === isaBus(es))
      .map((e) => [e[5], [e[1], e.readUInt16LE(2), e[6], e[7]]]));
    const qi = io(q);
    const mi = io(m);
    expect(qi.size).toBeGreaterThan(8);
    for (const [irq, route] of qi) expect(mi.get(irq), `IRQ ${irq}`).toEqual(route);
  }, 120_000);
});
