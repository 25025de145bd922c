import { describe, expect, test } from 'vitest';
import type { InterruptMessage } from '../../emulator/machine/devices/apic-bus.js';
import { IoApic } from '../../emulator/machine/devices/ioapic.js';
import { CFI, IRE, IRT, SIRTP, gcmdOr, faultRecord, rig, type Rig } from './vtd-harness.js';

/**
 * Interrupt remapping (vtd/interrupt-remap.ts, intel-iommu.ts signalMsi/remapIoapic, and the
 * IOAPIC's remapper hook). Messages are built the way kvm-unit-tests' lib/x86/intel-iommu.c builds
 * them (vtd_setup_msi, vtd_setup_ioapic_irq, vtd_setup_irte); the expected results follow the
 * VT-d specification 5.1 (formats) and 9.10 (IRTE).
 */
const EDU = 0x0010;

interface Irte {
  present?: boolean; fpd?: boolean; logical?: boolean; level?: boolean; mode?: number; vector: number;
  dst?: number; sid?: number; sq?: number; svt?: number; reservedLo?: number;
}

/** Writes IRTE `index`: with EIME clear `dst` is the xAPIC ID (it goes to bits 47:40). */
function irte(r: Rig, index: number, e: Irte, x2apic = false): void {
  const at = IRT + index * 16;
  const lo = (e.present ?? true ? 1 : 0) | (e.fpd ? 2 : 0) | (e.logical ? 4 : 0) | (e.level ? 0x10 : 0)
    | ((e.mode ?? 0) << 5) | (e.vector << 16) | (e.reservedLo ?? 0);
  r.memory.view.setUint32(at, lo >>> 0, true);
  r.memory.view.setUint32(at + 4, x2apic ? e.dst ?? 0 : (e.dst ?? 0) << 8, true);
  r.memory.view.setUint32(at + 8, (e.sid ?? 0) | ((e.sq ?? 0) << 16) | ((e.svt ?? 0) << 18), true);
  r.memory.view.setUint32(at + 12, 0, true);
}

/** A unit with the interrupt remapping table at IRT (2^(size+1) entries) and IRE set. */
function remapping(size = 0xf, opts: { eim?: boolean; eime?: boolean; cfi?: boolean } = {}): Rig {
  const r = rig({ extendedInterruptMode: opts.eim });
  r.w64(0xb8, IRT | size | (opts.eime ? 0x800 : 0));
  gcmdOr(r, SIRTP);
  gcmdOr(r, IRE);
  if (opts.cfi) gcmdOr(r, CFI);
  return r;
}

/** vtd_setup_msi's address for `index`: 0xFEE, remappable (bit 4), handle 19:5 and bit 2 for handle[15]. */
function msiAddress(index: number, shv = false): number {
  return (0xfee00000 | ((index & 0x7fff) << 5) | ((index >> 15) << 2) | 0x10 | (shv ? 8 : 0)) >>> 0;
}

const fixed = (vector: number, destination = 0): InterruptMessage =>
  ({ vector, deliveryMode: 0, logical: false, destination, levelTriggered: false });

describe('MSI remapping', () => {
  test('with IRE clear an MSI goes to the direct port as it is', () => {
    const r = rig();
    r.iommu.signalMsi(EDU, 0xfee01000, 0x4031);
    expect(r.port.msis).toEqual([{ address: 0xfee01000, data: 0x4031 }]);
    expect(r.delivered).toEqual([]);
  });

  test("kvm-unit-tests' IR MSI: index 2, address 0xfee00050, data 0, IRTE vector 0xee to APIC 0", () => {
    const r = remapping();
    irte(r, 2, { vector: 0xee, dst: 0, sid: EDU, svt: 1, fpd: true });
    expect(msiAddress(2)).toBe(0xfee00050);
    r.iommu.signalMsi(EDU, 0xfee00050, 0);
    expect(r.delivered).toEqual([fixed(0xee)]);
    expect(r.port.msis).toEqual([]);
  });

  test('the IRTE gives vector, destination (bits 47:40), mode, trigger and delivery mode', () => {
    const r = remapping();
    irte(r, 7, { vector: 0x41, dst: 3, logical: true, level: true, mode: 1 });
    r.iommu.signalMsi(0x0200, msiAddress(7), 0);
    expect(r.delivered).toEqual([{ vector: 0x41, deliveryMode: 1, logical: true, destination: 3, levelTriggered: true }]);
  });

  test('SHV adds the data subhandle to the handle; address bit 2 is handle bit 15', () => {
    const r = remapping();
    irte(r, 0x25, { vector: 0x51 });
    irte(r, 0x8001, { vector: 0x52 });
    r.iommu.signalMsi(EDU, msiAddress(0x20, true), 5);
    r.iommu.signalMsi(EDU, msiAddress(0x20), 5); // SHV clear: the data does not count
    r.iommu.signalMsi(EDU, msiAddress(0x8001), 0);
    expect(r.delivered.map((m) => m.vector)).toEqual([0x51, 0x52]);
    expect(faultRecord(r).reason).toBe(0x22); // index 0x20 is not present
  });

  test.each([
    ['index beyond the table (S = 0: 2 entries)', 0, (r: Rig) => irte(r, 2, { vector: 0x30 }), 0x21],
    ['IRTE not present', 0xf, (r: Rig) => irte(r, 2, { vector: 0x30, present: false }), 0x22],
    ['IRTE in posted mode (IM, bit 15)', 0xf, (r: Rig) => irte(r, 2, { vector: 0x30, reservedLo: 0x8000 }), 0x24],
    ['IRTE reserved bits 31:24', 0xf, (r: Rig) => irte(r, 2, { vector: 0x30, reservedLo: 0x01000000 }), 0x24],
    ['IRTE delivery mode 3 (reserved)', 0xf, (r: Rig) => irte(r, 2, { vector: 0x30, mode: 3 }), 0x24],
    ['xAPIC destination with bits 7:0 set', 0xf, (r: Rig) => irte(r, 2, { vector: 0x30, dst: 0x1ff }), 0x24],
    ['SVT 3 (reserved)', 0xf, (r: Rig) => irte(r, 2, { vector: 0x30, svt: 3 }), 0x24],
    ['SVT 1 with another requester', 0xf, (r: Rig) => irte(r, 2, { vector: 0x30, sid: 0x0018, svt: 1 }), 0x26],
    ['SVT 2 with the requester bus outside the range', 0xf, (r: Rig) => irte(r, 2, { vector: 0x30, sid: 0x0203, svt: 2 }), 0x26],
  ])('%s: blocked and recorded', (_name, size, setup, reason) => {
    const r = remapping(size as number);
    (setup as (r: Rig) => void)(r);
    r.iommu.signalMsi(EDU, msiAddress(2), 0);
    expect(r.delivered).toEqual([]);
    expect(faultRecord(r)).toEqual({ fi: 2 * 2 ** 48, sid: EDU, reason, read: false, f: true });
  });

  test('FPD in the IRTE keeps a qualified fault out of the record; the interrupt is still blocked', () => {
    const r = remapping();
    irte(r, 2, { vector: 0x30, sid: 0x0018, svt: 1, fpd: true });
    r.iommu.signalMsi(EDU, msiAddress(2), 0);
    expect(r.delivered).toEqual([]);
    expect(r.r32(0x34)).toBe(0);
  });

  test('source-ID qualifier masks and bus ranges accept what they should', () => {
    const r = remapping();
    irte(r, 1, { vector: 0x61, sid: 0x0013, sq: 3, svt: 1 }); // ignore function bits 2:0
    irte(r, 2, { vector: 0x62, sid: 0x0014, sq: 1, svt: 1 }); // ignore function bit 2
    irte(r, 3, { vector: 0x63, sid: 0x0103, svt: 2 }); // buses 1..3
    r.iommu.signalMsi(0x0010, msiAddress(1), 0);
    r.iommu.signalMsi(0x0010, msiAddress(2), 0);
    r.iommu.signalMsi(0x0011, msiAddress(2), 0); // function 1 differs in bit 0: refused
    r.iommu.signalMsi(0x0308, msiAddress(3), 0);
    expect(r.delivered.map((m) => m.vector)).toEqual([0x61, 0x62, 0x63]);
    expect(faultRecord(r).reason).toBe(0x26);
  });

  test('a compatibility-format MSI is blocked (25h) until CFI, and passes unchanged with it', () => {
    const r = remapping();
    r.iommu.signalMsi(EDU, 0xfee00000, 0x30);
    expect(r.port.msis).toEqual([]);
    expect(faultRecord(r)).toEqual({ fi: 0, sid: EDU, reason: 0x25, read: false, f: true });
    gcmdOr(r, CFI);
    r.iommu.signalMsi(EDU, 0xfee00000, 0x30);
    expect(r.port.msis).toEqual([{ address: 0xfee00000, data: 0x30 }]);
  });

  test('x2APIC mode (IRTA.EIME, needs ECAP.EIM): 32-bit destination; compatibility format blocked even with CFI', () => {
    const r = remapping(0xf, { eim: true, eime: true, cfi: true });
    irte(r, 2, { vector: 0x70, dst: 0x12345 }, true);
    r.iommu.signalMsi(EDU, msiAddress(2), 0);
    expect(r.delivered).toEqual([fixed(0x70, 0x12345)]);
    r.iommu.signalMsi(EDU, 0xfee00000, 0x30);
    expect(r.port.msis).toEqual([]);
    expect(faultRecord(r).reason).toBe(0x25);
    // Without ECAP.EIM the EIME bit is not writable.
    const plain = remapping(0xf, { eime: true });
    expect(plain.r32(0xb8) & 0x800).toBe(0);
  });

  test('an MSI write outside 0xFEEx_xxxx is a DMA write and is translated', () => {
    const r = rig();
    r.iommu.signalMsi(EDU, 0x9000, 0x11223344);
    expect(r.memory.d(0x9000)).toBe(0x11223344);
    expect(r.port.accesses).toEqual([{ requester: EDU, address: 0x9000, length: 4, write: true }]);
  });
});

describe('IOAPIC remapping', () => {
  /** vtd_setup_ioapic_irq's entry: vector, trigger, bit 11 index[15], bit 48 format, 63:49 index. */
  function rte(index: number, vector: number, level = false): [number, number] {
    return [vector | (level ? 0x8000 : 0) | ((index >> 15) << 11), 0x10000 | ((index & 0x7fff) << 17)];
  }

  test("kvm-unit-tests' IR IOAPIC: index 1, IRTE vector 0xed, SID the edu's (not validated for the IOAPIC)", () => {
    const r = remapping();
    irte(r, 1, { vector: 0xed, sid: EDU, svt: 1, fpd: true });
    expect(r.iommu.remapIoapic(...rte(1, 0xed))).toEqual(fixed(0xed));
  });

  test('compatibility-format entries: as written with IRE clear or CFIS set, blocked (25h) otherwise', () => {
    const entry: [number, number] = [0x0931, 0x03000000]; // vector 0x31, lowest priority, logical, dest 3
    const expected = { vector: 0x31, deliveryMode: 1, logical: true, destination: 3, levelTriggered: false };
    expect(rig().iommu.remapIoapic(...entry)).toEqual(expected);
    const r = remapping();
    expect(r.iommu.remapIoapic(...entry)).toBeNull();
    expect(faultRecord(r)).toEqual({ fi: 0, sid: 0xff00, reason: 0x25, read: false, f: true });
    gcmdOr(r, CFI);
    expect(r.iommu.remapIoapic(...entry)).toEqual(expected);
  });

  test('through the IOAPIC: an edge on a pin with a remappable entry sends the IRTE message', () => {
    const r = remapping();
    irte(r, 1, { vector: 0xed, dst: 2 });
    irte(r, 0x8003, { vector: 0x44, level: true });
    const sent: InterruptMessage[] = [];
    const ioapic = new IoApic((m) => sent.push(m));
    ioapic.remapper = r.iommu;
    const program = (pin: number, [low, high]: [number, number]): void => {
      ioapic.mmioWrite(0, 4, 0x11 + 2 * pin);
      ioapic.mmioWrite(0x10, 4, high);
      ioapic.mmioWrite(0, 4, 0x10 + 2 * pin);
      ioapic.mmioWrite(0x10, 4, low);
    };
    program(10, rte(1, 0xed));
    program(11, rte(0x8003, 0x44, true));
    program(12, rte(5, 0x50)); // IRTE 5 not present
    ioapic.mmioWrite(0, 4, 0x11 + 2 * 10);
    expect(ioapic.mmioRead(0x10, 4) >>> 0).toBe(0x10000 | (1 << 17)); // bits 55:48 kept
    ioapic.setIrq(10, true);
    ioapic.setIrq(11, true);
    ioapic.setIrq(12, true);
    expect(sent).toEqual([fixed(0xed, 2), { vector: 0x44, deliveryMode: 0, logical: false, destination: 0, levelTriggered: true }]);
    expect(faultRecord(r)).toEqual({ fi: 5 * 2 ** 48, sid: 0xff00, reason: 0x22, read: false, f: true });
  });
});
