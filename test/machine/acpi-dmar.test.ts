/**
 * The DMAR table of -device intel-iommu (devices/vtd/dmar-table.ts), read back from guest memory
 * the way Linux's dmar.c finds and walks it: RSDP -> XSDT -> "DMAR", the checksum, the table
 * length, each remapping structure's length inside the table, the DRHD's device scopes.
 *
 * Oracle: the DMAR QEMU 7.2 TCG hands a Debian cloud kernel under `-M q35,kernel-irqchip=split
 * -device intel-iommu,intremap=on,eim=off -smp 2 -m 512` (dumped from /sys/firmware/acpi/tables/DMAR
 * with busybox od). Its bytes after the 36-byte header are below; QEMU's q35 also has 1f.2 (AHCI)
 * and 1f.3 (SMBus), which mmulab does not model, so its DRHD is 16 bytes longer.
 */
import { describe, expect, test } from 'vitest';
import { Machine } from '../../vmm/machine.js';
import { buildAcpiTables, byteSum } from '../../emulator/machine/devices/acpi-tables.js';
import { buildDmarTable } from '../../emulator/machine/devices/vtd/dmar-table.js';

const QEMU_DMAR_BODY = [
  0x26, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // HAW-1, flags INTR_REMAP, reserved
  0x00, 0x00, 0x38, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd9, 0xfe, 0, 0, 0, 0, // DRHD, length 56, flags 0
  0x03, 0x08, 0, 0, 0x00, 0xff, 0x00, 0x00, // IOAPIC 0 at ff:00.0
  0x01, 0x08, 0, 0, 0, 0x00, 0x00, 0x00, // 00:00.0
  0x01, 0x08, 0, 0, 0, 0x00, 0x1f, 0x00, // 00:1f.0
  0x01, 0x08, 0, 0, 0, 0x00, 0x1f, 0x02, // 00:1f.2
  0x01, 0x08, 0, 0, 0, 0x00, 0x1f, 0x03, // 00:1f.3
];

interface Scope { type: number; enumerationId: number; bus: number; path: Array<[number, number]> }
interface Drhd { flags: number; segment: number; base: number; scopes: Scope[] }
interface Dmar { haw: number; flags: number; drhds: Drhd[]; bytes: Uint8Array }

/** Finds a table by signature through the XSDT, as acpi_table_parse does (and fails loudly). */
function findTable(m: Machine, sig: string): Uint8Array {
  let rsdp = -1;
  for (let a = 0xe0000; a < 0x100000 && rsdp < 0; a += 16) {
    if (Buffer.from(m.readPhysical(a, 8)).toString('latin1') === 'RSD PTR ') rsdp = a;
  }
  expect(rsdp).toBeGreaterThan(0);
  const dv = (gpa: number, n: number): DataView => new DataView(m.readPhysical(gpa, n).buffer);
  const xsdt = Number(dv(rsdp + 24, 8).getBigUint64(0, true));
  const xlen = dv(xsdt + 4, 4).getUint32(0, true);
  const found: Uint8Array[] = [];
  for (let o = 36; o < xlen; o += 8) {
    const a = Number(dv(xsdt + o, 8).getBigUint64(0, true));
    if (Buffer.from(m.readPhysical(a, 4)).toString('latin1') === sig) {
      found.push(m.readPhysical(a, dv(a + 4, 4).getUint32(0, true)));
    }
  }
  expect(found.length, `${sig} in the XSDT`).toBe(1);
  return found[0];
}

/** dmar.c's walk: every structure's length at least its header and within the table; scopes likewise. */
function parseDmar(bytes: Uint8Array): Dmar {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  expect(Buffer.from(bytes.subarray(0, 4)).toString('latin1')).toBe('DMAR');
  expect(v.getUint32(4, true)).toBe(bytes.length);
  expect(byteSum(bytes)).toBe(0);
  const drhds: Drhd[] = [];
  for (let o = 48; o < bytes.length;) {
    const type = v.getUint16(o, true);
    const len = v.getUint16(o + 2, true);
    expect(len).toBeGreaterThanOrEqual(type === 0 ? 16 : 4);
    expect(o + len).toBeLessThanOrEqual(bytes.length);
    if (type === 0) {
      const scopes: Scope[] = [];
      for (let s = o + 16; s < o + len;) {
        const slen = bytes[s + 1];
        expect(slen).toBeGreaterThanOrEqual(8);
        expect((slen - 6) % 2).toBe(0);
        expect(s + slen).toBeLessThanOrEqual(o + len);
        const path: Array<[number, number]> = [];
        for (let p = s + 6; p < s + slen; p += 2) path.push([bytes[p], bytes[p + 1]]);
        scopes.push({ type: bytes[s], enumerationId: bytes[s + 4], bus: bytes[s + 5], path });
        s += slen;
      }
      drhds.push({ flags: bytes[o + 4], segment: v.getUint16(o + 6, true), base: Number(v.getBigUint64(o + 8, true)), scopes });
    }
    o += len;
  }
  return { haw: bytes[36] + 1, flags: bytes[37], drhds, bytes };
}

function q35(iommu: { interruptRemapping: boolean } | undefined, edu = false): Machine {
  return new Machine({ memBytes: 4 << 20, serialOut: () => {}, mmu: 'bare',
    chipset: { machine: 'q35', edu, iommu: iommu && { ...iommu, extendedInterruptMode: false } } });
}

const devfnsOf = (d: Drhd): number[] => d.scopes.filter((s) => s.type === 1).map((s) => (s.path[0][0] << 3) | s.path[0][1]);

describe('DMAR table', () => {
  test('q35 + intel-iommu,intremap=on: in the XSDT and RSDT, one DRHD at 0xfed90000 as QEMU 7.2 builds it', () => {
    const m = q35({ interruptRemapping: true });
    const bytes = findTable(m, 'DMAR');
    const d = parseDmar(bytes);
    expect(d.haw).toBe(39);
    expect(d.flags).toBe(1); // INTR_REMAP; QEMU 7.2 sets no X2APIC_OPT_OUT
    expect(d.drhds).toHaveLength(1);
    const [u] = d.drhds;
    expect(u).toMatchObject({ flags: 0, segment: 0, base: 0xfed90000 });
    // The IOAPIC's scope: its MADT ID and the requester ID ff:00.0 its interrupt requests carry.
    expect(u.scopes[0]).toEqual({ type: 3, enumerationId: 0, bus: 0xff, path: [[0, 0]] });
    // Every function on bus 0, no more: Linux attaches each one it finds in a scope to the unit.
    expect(devfnsOf(u)).toEqual(m.devices.pci.list().map((f) => f.devfn));
    // Byte for byte QEMU's, up to the functions mmulab's q35 does not have.
    const body = [...bytes.subarray(36)];
    const qemu = [...QEMU_DMAR_BODY];
    qemu[14] = 0x38 - 16; // DRHD length without 1f.2 and 1f.3
    expect(body).toEqual(qemu.slice(0, qemu.length - 16));
    // The RSDT lists the same address as the XSDT.
    const t = m.devices.acpiTables;
    const rsdt = t.bytes.subarray(t.addresses.get('RSDT')! - t.base);
    const rv = new DataView(rsdt.buffer, rsdt.byteOffset);
    const listed = Array.from({ length: (rv.getUint32(4, true) - 36) / 4 }, (_, k) => rv.getUint32(36 + 4 * k, true));
    expect(listed).toContain(t.addresses.get('DMAR'));
  });

  test('with edu its function is in scope too; intremap=off clears INTR_REMAP', () => {
    const m = q35({ interruptRemapping: false }, true);
    const d = parseDmar(findTable(m, 'DMAR'));
    expect(d.flags).toBe(0);
    expect(devfnsOf(d.drhds[0])).toEqual([0x00, 0x08, 0xf8]);
    expect(devfnsOf(d.drhds[0])).toEqual(m.devices.pci.list().map((f) => f.devfn));
  });

  test('no DMAR without -device intel-iommu; the other tables do not move', () => {
    const m = q35(undefined, true);
    expect(m.devices.acpiTables.addresses.has('DMAR')).toBe(false);
    const plain = buildAcpiTables(2);
    const withDmar = buildAcpiTables(2, [buildDmarTable({ interruptRemapping: true, ioapicId: 0, endpoints: [0] })]);
    for (const sig of ['RSD PTR ', 'FACS', 'DSDT', 'FACP', 'APIC']) {
      expect(withDmar.addresses.get(sig), sig).toBe(plain.addresses.get(sig));
    }
    expect(withDmar.base + withDmar.bytes.length).toBeLessThanOrEqual(0xf0000); // below the MP table
  });

  test('aw-bits 48 gives HAW 48; endpoints come out in devfn order', () => {
    const d = parseDmar(buildDmarTable({ interruptRemapping: true, addressWidth: 48, ioapicId: 3, endpoints: [0xf8, 0x10, 0] }));
    expect(d.haw).toBe(48);
    expect(d.drhds[0].scopes[0].enumerationId).toBe(3);
    expect(devfnsOf(d.drhds[0])).toEqual([0, 0x10, 0xf8]);
  });
});
