/**
 * The ACPI tables firmware would leave in memory, built once at machine creation and written into
 * guest RAM in the BIOS area (0xE0000-0xFFFFF), where an OS or kvm-unit-tests' find_acpi_table_addr
 * scans for the RSDP on 16-byte boundaries. Everything lives below 1 MiB, outside the RAM the
 * multiboot memory map offers, so a guest's allocator never overwrites it.
 *
 *   RSDP  revision 2 ("RSD PTR ", checksum over 20 bytes, extended checksum over 36)
 *   RSDT  32-bit pointers to FACP and APIC;  XSDT  the same as 64-bit pointers
 *   FACP  (FADT revision 3, ACPI 2.0 layout, 244 bytes) with the PM1a event block, PM1a control
 *         block and PM timer at QEMU's ports (0x600, 0x604, 0x608), in both the 32-bit fields and
 *         the X_ generic-address fields; FIRMWARE_CTRL/DSDT point at the FACS and DSDT
 *   FACS  64 bytes, 64-byte aligned (no checksum, by definition)
 *   DSDT  a definition block with no AML in it (valid, and all mmulab needs)
 *   APIC  (MADT) local APIC at 0xFEE00000, PCAT_COMPAT (the 8259 pair exists), a processor
 *         local APIC entry per CPU (CPU i: UID i, APIC ID i, enabled; QEMU lists them the same
 *         way), the IOAPIC (ID 0, 0xFEC00000, GSI base 0),
 *         QEMU's interrupt source overrides (ISA IRQ0 -> GSI2 for the PIT; IRQ9, the SCI,
 *         level-triggered active-high) and the local APIC NMI on LINT1
 *   more    tables a device brings (the DMAR of -device intel-iommu, devices/vtd/dmar-table.ts),
 *         placed after the MADT and listed in the RSDT and XSDT after it
 *
 * Every table's bytes sum to 0 mod 256.
 */
import { APIC_DEFAULT_BASE } from './local-apic.js';
import { MAX_APIC_ID } from './apic-bus.js';
import { IOAPIC_BASE } from './ioapic.js';
import { ACPI_PM_BASE, PM1_CNT_OFFSET, PM_TMR_OFFSET, SCI_IRQ } from './acpi-pm.js';

/** Where the tables start; the RSDP comes first, so a scan from 0xE0000 finds it at once. */
export const ACPI_TABLES_BASE = 0xe0000;
const OEM_ID = 'MMULAB';
const OEM_TABLE_ID = 'MMULABPC';
const CREATOR_ID = 'MMUL';

export interface AcpiTables {
  /** Guest-physical address of the first byte of `bytes`. */
  readonly base: number;
  readonly bytes: Uint8Array;
  /** Guest-physical address of each table by signature ("RSD PTR " for the RSDP). */
  readonly addresses: ReadonlyMap<string, number>;
}

/** A little-endian byte writer over one table (the MP table in mp-table.ts uses it too). */
export class TableWriter {
  readonly bytes: Uint8Array;
  private readonly view: DataView;

  constructor(length: number) {
    this.bytes = new Uint8Array(length);
    this.view = new DataView(this.bytes.buffer);
  }

  u8(offset: number, v: number): void { this.view.setUint8(offset, v); }
  u16(offset: number, v: number): void { this.view.setUint16(offset, v, true); }
  u32(offset: number, v: number): void { this.view.setUint32(offset, v >>> 0, true); }
  u64(offset: number, v: number): void {
    this.view.setUint32(offset, v % 4294967296, true);
    this.view.setUint32(offset + 4, Math.floor(v / 4294967296), true);
  }

  text(offset: number, s: string, length: number): void {
    for (let k = 0; k < length; k++) this.bytes[offset + k] = k < s.length ? s.charCodeAt(k) : 0x20;
  }

  /** Copies `bytes` in at `offset`. */
  raw(offset: number, bytes: readonly number[]): void {
    this.bytes.set(bytes, offset);
  }

  /** ACPI generic address structure: an I/O port `width` bits wide. */
  ioGas(offset: number, port: number, widthBits: number): void {
    this.u8(offset, 1); // address space: system I/O
    this.u8(offset + 1, widthBits);
    this.u8(offset + 2, 0);
    this.u8(offset + 3, widthBits === 32 ? 3 : widthBits === 16 ? 2 : 1); // access size
    this.u64(offset + 4, port);
  }

  /** The 36-byte header every description table has (checksum filled in by `seal`). */
  header(signature: string, revision: number): void {
    this.text(0, signature, 4);
    this.u32(4, this.bytes.length);
    this.u8(8, revision);
    this.text(10, OEM_ID, 6);
    this.text(16, OEM_TABLE_ID, 8);
    this.u32(24, 1); // OEM revision
    this.text(28, CREATOR_ID, 4);
    this.u32(32, 1); // creator revision
  }

  /** Sets the byte at `at` so that bytes [from, to) sum to 0 mod 256. */
  checksum(at: number, from = 0, to = this.bytes.length): void {
    this.bytes[at] = 0;
    let sum = 0;
    for (let k = from; k < to; k++) sum += this.bytes[k];
    this.bytes[at] = (256 - (sum & 0xff)) & 0xff;
  }

  seal(): Uint8Array {
    this.checksum(9);
    return this.bytes;
  }
}

/** Sum of bytes mod 256: 0 for a table with a correct checksum. */
export function byteSum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum += b;
  return sum & 0xff;
}

const FADT_LENGTH = 244;
/**
 * FADT flags: WBINVD works, C1 (HLT) on all processors, no fixed-feature power or sleep button
 * (the PM1 block has no button status that could ever be set).
 */
const FADT_FLAGS = (1 << 0) | (1 << 2) | (1 << 4) | (1 << 5);

function fadt(facs: number, dsdt: number): Uint8Array {
  const t = new TableWriter(FADT_LENGTH);
  t.header('FACP', 3);
  t.u32(36, facs); // FIRMWARE_CTRL
  t.u32(40, dsdt);
  t.u8(45, 0); // preferred PM profile: unspecified
  t.u16(46, SCI_IRQ);
  t.u32(48, 0); // SMI_CMD 0: no ACPI mode switch, SCI_EN is always on
  t.u32(56, ACPI_PM_BASE); // PM1a_EVT_BLK
  t.u32(64, ACPI_PM_BASE + PM1_CNT_OFFSET); // PM1a_CNT_BLK
  t.u32(76, ACPI_PM_BASE + PM_TMR_OFFSET); // PM_TMR_BLK
  t.u8(88, 4); // PM1_EVT_LEN: status and enable, 16 bits each
  t.u8(89, 2); // PM1_CNT_LEN
  t.u8(91, 4); // PM_TMR_LEN
  t.u16(96, 0xfff); // P_LVL2_LAT > 100: no C2
  t.u16(98, 0xffff); // P_LVL3_LAT > 1000: no C3
  t.u16(109, 1); // IAPC_BOOT_ARCH: LEGACY_DEVICES (ISA PICs and COM1); no 8042
  t.u32(112, FADT_FLAGS); // TMR_VAL_EXT clear: the timer is 24 bits
  t.u64(132, facs); // X_FIRMWARE_CTRL
  t.u64(140, dsdt); // X_DSDT
  t.ioGas(148, ACPI_PM_BASE, 32); // X_PM1a_EVT_BLK
  t.ioGas(172, ACPI_PM_BASE + PM1_CNT_OFFSET, 16); // X_PM1a_CNT_BLK
  t.ioGas(208, ACPI_PM_BASE + PM_TMR_OFFSET, 32); // X_PM_TMR_BLK
  return t.seal();
}

function facs(): Uint8Array {
  const t = new TableWriter(64);
  t.text(0, 'FACS', 4);
  t.u32(4, 64);
  t.u8(32, 1); // version (ACPI 2.0)
  return t.bytes;
}

function dsdt(): Uint8Array {
  const t = new TableWriter(36);
  t.header('DSDT', 1);
  return t.seal();
}

/**
 * How ISA IRQs differ from "IRQ n on IOAPIC pin n, bus-conforming polarity and trigger": IRQ0
 * (the PIT) arrives on GSI 2, and the SCI is level-triggered active high. `flags` are MPS INTI
 * flags (polarity bits 1:0, trigger bits 3:2), the same encoding in the MADT and the MP table.
 */
export const ISA_IRQ_OVERRIDES: ReadonlyArray<{ readonly irq: number; readonly gsi: number; readonly flags: number }> = [
  { irq: 0, gsi: 2, flags: 0 },
  { irq: SCI_IRQ, gsi: SCI_IRQ, flags: 0x0d },
];

/** The IOAPIC's ID in the MADT (and so in the DMAR's IOAPIC scope). */
export const MADT_IOAPIC_ID = 0;

/** Processor local APIC entry flag: the CPU is there and usable. */
const MADT_LAPIC_ENABLED = 1;

function madt(cpus: number): Uint8Array {
  const entries: number[][] = [
    ...Array.from({ length: cpus }, (_, i) => [0, 8, i, i, MADT_LAPIC_ENABLED, 0, 0, 0]), // UID i, APIC ID i
    [1, 12, MADT_IOAPIC_ID, 0, ...le32(IOAPIC_BASE), ...le32(0)], // IOAPIC ID 0 at 0xFEC00000, GSI base 0
    // Interrupt source overrides: bus 0 (ISA), the IRQ, its GSI, INTI flags.
    ...ISA_IRQ_OVERRIDES.map((o) => [2, 10, 0, o.irq, ...le32(o.gsi), o.flags & 0xff, o.flags >> 8]),
    [4, 6, 0xff, 0, 0, 1], // local APIC NMI: all processors, LINT1
  ];
  const length = 44 + entries.reduce((n, e) => n + e.length, 0);
  const t = new TableWriter(length);
  t.header('APIC', 1);
  t.u32(36, APIC_DEFAULT_BASE);
  t.u32(40, 1); // PCAT_COMPAT
  let o = 44;
  for (const e of entries) {
    t.raw(o, e);
    o += e.length;
  }
  return t.seal();
}

export function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

function rsdt(tables: readonly number[]): Uint8Array {
  const t = new TableWriter(36 + 4 * tables.length);
  t.header('RSDT', 1);
  tables.forEach((a, k) => t.u32(36 + 4 * k, a));
  return t.seal();
}

function xsdt(tables: readonly number[]): Uint8Array {
  const t = new TableWriter(36 + 8 * tables.length);
  t.header('XSDT', 1);
  tables.forEach((a, k) => t.u64(36 + 8 * k, a));
  return t.seal();
}

function rsdp(rsdtAddr: number, xsdtAddr: number): Uint8Array {
  const t = new TableWriter(36);
  t.text(0, 'RSD PTR ', 8);
  t.text(9, OEM_ID, 6);
  t.u8(15, 2); // revision 2: ACPI 2.0+, XSDT present
  t.u32(16, rsdtAddr);
  t.u32(20, 36);
  t.u64(24, xsdtAddr);
  t.checksum(8, 0, 20);
  t.checksum(32, 0, 36);
  return t.bytes;
}

/** The most CPUs the tables can describe: APIC IDs 0 to 254 (0xFF is the broadcast). */
export const MAX_FIRMWARE_CPUS = MAX_APIC_ID + 1;

/** Throws on a CPU count firmware tables cannot describe (a caller's mistake, not guest input). */
export function checkCpuCount(cpus: number): void {
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_FIRMWARE_CPUS) {
    throw new Error(`CPU count ${cpus} is not in 1-${MAX_FIRMWARE_CPUS}`);
  }
}

/**
 * Builds every table for a machine of `cpus` CPUs (APIC IDs 0..cpus-1) and lays them out from
 * ACPI_TABLES_BASE. `more` are finished description tables (header and checksum done) to add.
 */
export function buildAcpiTables(cpus = 1, more: readonly Uint8Array[] = []): AcpiTables {
  checkCpuCount(cpus);
  const base = ACPI_TABLES_BASE;
  const addresses = new Map<string, number>();
  // Fixed layout: each table on a 16-byte boundary, the FACS on a 64-byte one.
  const at = { rsdp: base, facs: base + 0x40, dsdt: base + 0x80, fadt: base + 0xc0 };
  const madtBytes = madt(cpus);
  const madtAddr = align(at.fadt + FADT_LENGTH, 16);
  const moreAddrs: number[] = [];
  let next = align(madtAddr + madtBytes.length, 16);
  for (const table of more) {
    moreAddrs.push(next);
    next = align(next + table.length, 16);
  }
  const rsdtAddr = next;
  const described = [at.fadt, madtAddr, ...moreAddrs];
  const rsdtBytes = rsdt(described);
  const xsdtAddr = align(rsdtAddr + rsdtBytes.length, 16);
  const xsdtBytes = xsdt(described);
  const end = xsdtAddr + xsdtBytes.length;

  const bytes = new Uint8Array(end - base);
  const place = (sig: string, addr: number, table: Uint8Array): void => {
    bytes.set(table, addr - base);
    addresses.set(sig, addr);
  };
  place('RSD PTR ', at.rsdp, rsdp(rsdtAddr, xsdtAddr));
  place('FACS', at.facs, facs());
  place('DSDT', at.dsdt, dsdt());
  place('FACP', at.fadt, fadt(at.facs, at.dsdt));
  place('APIC', madtAddr, madtBytes);
  more.forEach((table, k) => place(String.fromCharCode(...table.subarray(0, 4)), moreAddrs[k], table));
  place('RSDT', rsdtAddr, rsdtBytes);
  place('XSDT', xsdtAddr, xsdtBytes);
  return { base, bytes, addresses };
}

function align(v: number, a: number): number {
  return Math.ceil(v / a) * a;
}
