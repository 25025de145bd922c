/**
 * The ACPI DMAR table (VT-d spec chapter 8) for the one VT-d unit of `-device intel-iommu`. An OS
 * finds the unit only through it: Linux's dmar.c walks its DRHD, and irq_remapping.c enables
 * interrupt remapping only when every IOAPIC of the MADT is in some DRHD's device scope.
 *
 * The bytes follow what QEMU 7.2 (hw/i386/acpi-build.c, build_dmar_q35) gives the guest, read
 * back from /sys/firmware/acpi/tables/DMAR of a Linux guest under `-M q35 -device
 * intel-iommu,intremap=on,eim=off`:
 *   header  HAW-1 (0x26 for 39 bits), flags INTR_REMAP when intremap=on (QEMU 7.2 sets no
 *           X2APIC_OPT_OUT for eim=off; the flag only matters to a CPU with x2APIC)
 *   DRHD    flags 0: not INCLUDE_PCI_ALL, segment 0, the unit's register base; its scopes are
 *           the IOAPIC (enumeration ID = IOAPIC ID, start bus 0xff, path 00.0: source ID 0xff00)
 *           and one PCI endpoint scope per function on bus 0, in devfn order
 * Linux prints the DRHD's flags ("DRHD base: ... flags: 0x0"), so listing the functions instead of
 * INCLUDE_PCI_ALL is what keeps its console equal to QEMU's.
 */
import { TableWriter } from '../acpi-tables.js';
import { IOAPIC_SOURCE_ID, VTD_BASE } from './intel-iommu.js';

export const DMAR_HEADER_LENGTH = 48;
export const DRHD_HEADER_LENGTH = 16;
/** A device scope with one (device, function) path entry. */
export const SCOPE_LENGTH = 8;

/** DMAR flags byte. */
export const DmarFlags = { INTR_REMAP: 1, X2APIC_OPT_OUT: 2 } as const;
/** Remapping structure types (8.2). */
export const DMAR_TYPE_DRHD = 0;
/** Device scope types (8.3.1). */
export const ScopeType = { PCI_ENDPOINT: 1, PCI_BRIDGE: 2, IOAPIC: 3, HPET: 4 } as const;

export interface DmarDescription {
  readonly interruptRemapping: boolean;
  /** Host address width in bits (the unit's MGAW: 39, or 48 with aw-bits=48). */
  readonly addressWidth?: number;
  /** The MADT's IOAPIC ID (its scope's enumeration ID). */
  readonly ioapicId: number;
  /** devfn of every function on bus 0 that sits behind the unit (endpoints, no bridges). */
  readonly endpoints: readonly number[];
}

/** Builds the DMAR table's bytes, checksummed. */
export function buildDmarTable(d: DmarDescription): Uint8Array {
  const endpoints = [...d.endpoints].sort((a, b) => a - b);
  const drhdLength = DRHD_HEADER_LENGTH + SCOPE_LENGTH * (1 + endpoints.length);
  const t = new TableWriter(DMAR_HEADER_LENGTH + drhdLength);
  t.header('DMAR', 1);
  t.u8(36, (d.addressWidth ?? 39) - 1);
  t.u8(37, d.interruptRemapping ? DmarFlags.INTR_REMAP : 0);
  let o = DMAR_HEADER_LENGTH;
  t.u16(o, DMAR_TYPE_DRHD);
  t.u16(o + 2, drhdLength);
  t.u8(o + 4, 0); // flags: the functions are listed below, not INCLUDE_PCI_ALL
  t.u16(o + 6, 0); // PCI segment
  t.u64(o + 8, VTD_BASE);
  o += DRHD_HEADER_LENGTH;
  const scope = (type: number, enumerationId: number, bus: number, devfn: number): void => {
    t.raw(o, [type, SCOPE_LENGTH, 0, 0, enumerationId, bus, devfn >> 3, devfn & 7]);
    o += SCOPE_LENGTH;
  };
  // The IOAPIC's scope names the requester ID its interrupt requests carry.
  scope(ScopeType.IOAPIC, d.ioapicId, IOAPIC_SOURCE_ID >> 8, IOAPIC_SOURCE_ID & 0xff);
  for (const devfn of endpoints) scope(ScopeType.PCI_ENDPOINT, 0, 0, devfn);
  return t.seal();
}
