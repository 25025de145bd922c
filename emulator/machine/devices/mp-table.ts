/**
 * The Intel MultiProcessor Specification 1.4 tables firmware leaves for an OS that finds its CPUs
 * without ACPI (Linux's mpparse, and Linux built without CONFIG_ACPI, such as tinyconfig). QEMU's
 * firmware writes one for -kernel guests: SeaBIOS in the F segment, qboot (microvm) at 0x9FC00.
 * mmulab puts both parts in the F segment, which both memory maps (multiboot and PVH) reserve and
 * where Linux scans for the floating pointer (smp_scan_config over 0xF0000-0xFFFFF):
 *
 *   0xF0000  floating pointer "_MP_" (16 bytes): the configuration table's address, length 1
 *            (paragraphs), revision 1.4, checksum; feature byte 1 = 0 (a table is present, no
 *            default configuration), feature byte 2 = 0 (virtual-wire mode, no IMCR)
 *   0xF0010  configuration table "PCMP" (revision 1.4, checksum over the base table), then in
 *            the order the spec asks for:
 *              a processor per CPU (APIC ID i, APIC version 0x14, enabled, BSP flag on CPU 0,
 *                the CPUID signature and feature flags the caller gives)
 *              bus 0 "ISA   "
 *              the IOAPIC (ID 0 as in the MADT and its ID register, version 0x11, usable,
 *                0xFEC00000)
 *              an I/O interrupt per ISA IRQ 0-15 but 2 (the cascade), IRQ n on pin n, with the
 *                MADT's overrides (IRQ0 on pin 2, the SCI level-triggered active high)
 *              local interrupts: ExtINT on LINT0 of the BSP, NMI on LINT1 of every CPU
 *
 * Both parts' bytes sum to 0 mod 256.
 */
import { IOAPIC_BASE, IOAPIC_VERSION } from './ioapic.js';
import { APIC_DEFAULT_BASE, APIC_VERSION } from './local-apic.js';
import { ISA_IRQ_OVERRIDES, TableWriter, checkCpuCount } from './acpi-tables.js';

export const MP_TABLE_BASE = 0xf0000;
const FLOATING_POINTER_LENGTH = 16;
const HEADER_LENGTH = 44;
const PROCESSOR_ENTRY_LENGTH = 20;
const ENTRY_LENGTH = 8;
const SPEC_REVISION = 4; // 1.4
const OEM_ID = 'MMULAB';
const PRODUCT_ID = 'MMULABPC';

const enum Entry { PROCESSOR = 0, BUS = 1, IOAPIC = 2, IO_INTERRUPT = 3, LOCAL_INTERRUPT = 4 }
const enum IntType { INT = 0, NMI = 1, EXTINT = 3 }
const CPU_ENABLED = 1;
const CPU_BOOTSTRAP = 2;
const IOAPIC_USABLE = 1;
const ISA_BUS = 0;
const IOAPIC_ID = 0;
const ALL_LOCAL_APICS = 0xff;

export interface MpTableOptions {
  /** CPUID.1:EAX (family, model, stepping) for the processor entries; default 0. */
  readonly cpuSignature?: number;
  /** CPUID.1:EDX for the processor entries; default 0. */
  readonly cpuFeatures?: number;
}

export interface MpTable {
  /** Guest-physical address of the first byte of `bytes` (the floating pointer). */
  readonly base: number;
  readonly bytes: Uint8Array;
  /** Guest-physical address of the configuration table. */
  readonly configAddress: number;
}

/** The entries after the header, each as its bytes. */
function entries(cpus: number, opts: MpTableOptions): number[][] {
  const list: number[][] = [];
  for (let i = 0; i < cpus; i++) {
    const e = new TableWriter(PROCESSOR_ENTRY_LENGTH);
    e.u8(0, Entry.PROCESSOR);
    e.u8(1, i);
    e.u8(2, APIC_VERSION & 0xff);
    e.u8(3, CPU_ENABLED | (i === 0 ? CPU_BOOTSTRAP : 0));
    e.u32(4, opts.cpuSignature ?? 0);
    e.u32(8, opts.cpuFeatures ?? 0);
    list.push([...e.bytes]);
  }
  const bus = new TableWriter(ENTRY_LENGTH);
  bus.u8(0, Entry.BUS);
  bus.u8(1, ISA_BUS);
  bus.text(2, 'ISA', 6);
  list.push([...bus.bytes]);
  const ioapic = new TableWriter(ENTRY_LENGTH);
  ioapic.u8(0, Entry.IOAPIC);
  ioapic.u8(1, IOAPIC_ID);
  ioapic.u8(2, IOAPIC_VERSION & 0xff);
  ioapic.u8(3, IOAPIC_USABLE);
  ioapic.u32(4, IOAPIC_BASE);
  list.push([...ioapic.bytes]);
  for (let irq = 0; irq < 16; irq++) {
    if (irq === 2) continue; // the 8259 cascade; IRQ0 takes pin 2
    const o = ISA_IRQ_OVERRIDES.find((x) => x.irq === irq);
    list.push(interrupt(Entry.IO_INTERRUPT, IntType.INT, o?.flags ?? 0, irq, IOAPIC_ID, o?.gsi ?? irq));
  }
  list.push(interrupt(Entry.LOCAL_INTERRUPT, IntType.EXTINT, 0, 0, 0, 0));
  list.push(interrupt(Entry.LOCAL_INTERRUPT, IntType.NMI, 0, 0, ALL_LOCAL_APICS, 1));
  return list;
}

function interrupt(type: Entry, intType: IntType, flags: number, busIrq: number, destId: number, destPin: number): number[] {
  return [type, intType, flags & 0xff, flags >> 8, ISA_BUS, busIrq, destId, destPin];
}

/** Builds the floating pointer and the configuration table for `cpus` CPUs (APIC IDs 0..cpus-1). */
export function buildMpTable(cpus: number, opts: MpTableOptions = {}): MpTable {
  checkCpuCount(cpus);
  const list = entries(cpus, opts);
  const configAddress = MP_TABLE_BASE + FLOATING_POINTER_LENGTH;
  const configLength = HEADER_LENGTH + list.reduce((n, e) => n + e.length, 0);

  const t = new TableWriter(FLOATING_POINTER_LENGTH + configLength);
  t.text(0, '_MP_', 4);
  t.u32(4, configAddress);
  t.u8(8, FLOATING_POINTER_LENGTH / 16);
  t.u8(9, SPEC_REVISION);
  t.checksum(10, 0, FLOATING_POINTER_LENGTH);

  const h = FLOATING_POINTER_LENGTH;
  t.text(h, 'PCMP', 4);
  t.u16(h + 4, configLength);
  t.u8(h + 6, SPEC_REVISION);
  t.text(h + 8, OEM_ID, 8);
  t.text(h + 16, PRODUCT_ID, 12);
  t.u16(h + 34, list.length);
  t.u32(h + 36, APIC_DEFAULT_BASE);
  let o = h + HEADER_LENGTH;
  for (const e of list) {
    t.raw(o, e);
    o += e.length;
  }
  t.checksum(h + 7, h, h + configLength);
  return { base: MP_TABLE_BASE, bytes: t.bytes, configAddress };
}
