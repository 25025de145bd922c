/**
 * Queued invalidation as Linux's intel-iommu driver uses it (drivers/iommu/intel/dmar.c:
 * __dmar_enable_qi, qi_submit_sync, qi_flush_context, qi_flush_iotlb, qi_global_iec, qi_flush_iec;
 * irq_remapping.c modify_irte). Each submission is `count` descriptors then an invalidation wait
 * with SW whose status data QI_DONE goes to the wait slot's own 32-bit status word, in a ring of
 * 256 128-bit descriptors that wraps; the driver spins until that word reads QI_DONE and gives up on
 * FSTS.IQE/ITE/ICE. The spec (6.5.2) says every descriptor before the wait completes first, IQH
 * follows them, and a change to a table followed by the matching invalidation is seen by the next
 * request: the last two cases check that with an IRTE and a second-level entry. The last describe
 * is the IOAPIC entry Linux writes under remapping (IRTE with SVT 1 and the DMAR scope's SID,
 * RTE in remappable format with the pin as its vector and index bit 15 in bit 11).
 */
import { describe, expect, test } from 'vitest';
import { GSTS, IRE, IRT, QIE, SIRTP, TE, contextEntry, gcmdOr, rig, setRoot, sl, type Rig } from './vtd-harness.js';

const QUEUE = 0x200000;
const STATUS = 0x210000; // desc_status[256], one u32 per slot
const QI_LENGTH = 256;
const QI_IN_USE = 1;
const QI_DONE = 2;
const FSTS_QUEUE_ERRORS = 0x70; // IQE, ICE, ITE

/** Linux's descriptor encodings (iommu.h), as two 64-bit halves below 2^53 (bits 31:0 by |, the rest by +). */
const ctxGlobal = (): [number, number] => [0x1 | (1 << 4), 0];
const ctxDevice = (did: number, sid: number, fm: number): [number, number] =>
  [(0x1 | (3 << 4) | (did << 16)) + sid * 2 ** 32 + fm * 2 ** 48, 0];
const iotlbGlobal = (): [number, number] => [0x2 | (1 << 4) | (1 << 7) | (1 << 6), 0]; // DR and DW (CAP.DRD/DWD)
const iotlbDomain = (did: number): [number, number] => [0x2 | (2 << 4) | (1 << 7) | (1 << 6) | (did << 16), 0];
const iotlbPage = (did: number, addr: number, am: number, ih: number): [number, number] =>
  [0x2 | (3 << 4) | (1 << 7) | (1 << 6) | (did << 16), addr + (ih << 6) + am];
const iecGlobal = (): [number, number] => [0x4, 0];
const iecIndex = (index: number, mask: number): [number, number] => [(0x4 | (1 << 4) | (mask << 27)) + index * 2 ** 32, 0];

/** The driver's side of the queue. */
class LinuxQi {
  freeHead = 0;
  constructor(readonly r: Rig) {
    // __dmar_enable_qi: IQT 0, IQA (QS 0: 256 entries, DW 0), then GCMD.QIE and wait for QIES.
    r.w32(0x88, 0);
    r.w64(0x90, QUEUE);
    gcmdOr(r, QIE);
    for (let k = 0; k < QI_LENGTH; k++) r.memory.view.setUint32(STATUS + 4 * k, 0, true);
  }

  /** qi_submit_sync: true when the wait's status word reads QI_DONE and no queue error is set. */
  submit(descs: Array<[number, number]>): boolean {
    const r = this.r;
    const slot = (i: number): number => (this.freeHead + i) % QI_LENGTH;
    descs.forEach(([lo, hi], i) => {
      r.memory.q(QUEUE + slot(i) * 16, lo);
      r.memory.q(QUEUE + slot(i) * 16 + 8, hi);
    });
    const wait = slot(descs.length);
    r.memory.view.setUint32(STATUS + 4 * wait, QI_IN_USE, true);
    r.memory.q(QUEUE + wait * 16, (0x5 | (1 << 5)) + QI_DONE * 2 ** 32);
    r.memory.q(QUEUE + wait * 16 + 8, STATUS + 4 * wait);
    this.freeHead = slot(descs.length + 1);
    r.w32(0x88, this.freeHead << 4);
    const done = r.memory.view.getUint32(STATUS + 4 * wait, true) === QI_DONE;
    return done && (r.r32(0x34) & FSTS_QUEUE_ERRORS) === 0 && r.r32(0x80) === this.freeHead << 4;
  }
}

describe('queued invalidation as Linux drives it', () => {
  test('__dmar_enable_qi: QIES set, head and tail 0', () => {
    const r = rig();
    const qi = new LinuxQi(r);
    expect(r.r32(GSTS) & QIE).toBe(QIE);
    expect(r.r32(0x80)).toBe(0);
    expect(qi.freeHead).toBe(0);
  });

  test.each([
    ['context cache, global (intel_iommu_init, iommu_flush_context)', [ctxGlobal()]],
    ['context cache, device-selective with function mask', [ctxDevice(1, 0x00f8, 0)]],
    ['IOTLB, global with drain read/write', [iotlbGlobal()]],
    ['IOTLB, domain-selective', [iotlbDomain(7)]],
    ['IOTLB, page-selective, 2^4 pages, invalidation hint', [iotlbPage(7, 0x12340000, 4, 1)]],
    ['interrupt entry cache, global (qi_global_iec)', [iecGlobal()]],
    ['interrupt entry cache, index-selective (qi_flush_iec)', [iecIndex(0x21, 0)]],
    ['a batch: context, IOTLB and IEC before one wait', [ctxGlobal(), iotlbGlobal(), iecGlobal()]],
  ] as Array<[string, Array<[number, number]>]>)('%s completes; the wait writes QI_DONE to its own slot only', (_name, descs) => {
    const r = rig();
    const qi = new LinuxQi(r);
    expect(qi.submit(descs)).toBe(true);
    for (let k = 0; k < 8; k++) {
      if (k !== descs.length) expect(r.memory.view.getUint32(STATUS + 4 * k, true), `slot ${k}`).toBe(0);
    }
    expect(r.r32(0x9c)).toBe(0); // no IF: ICS.IWC stays clear
  });

  test('the ring wraps: 300 submissions of two descriptors and a wait each all complete', () => {
    const r = rig();
    const qi = new LinuxQi(r);
    for (let k = 0; k < 300; k++) {
      expect(qi.submit([iotlbPage(1, (k & 0xff) * 0x1000, 0, 0), ctxGlobal()]), `submission ${k}`).toBe(true);
    }
    expect(qi.freeHead).toBe((300 * 3) % QI_LENGTH);
  });

  test('modify_irte: a rewritten IRTE followed by qi_flush_iec takes effect for the next MSI', () => {
    const r = rig({ interruptRemapping: true });
    const qi = new LinuxQi(r);
    // intel_setup_irq_remapping: IRTA (S = 7: 256 entries, no EIME), SIRTP, global IEC, then IRE.
    r.w64(0xb8, IRT | 7);
    gcmdOr(r, SIRTP);
    expect(qi.submit([iecGlobal()])).toBe(true);
    gcmdOr(r, IRE);
    const write = (index: number, vector: number, dst: number): void => {
      // P, fixed delivery, physical destination; SVT 1 with the requester 00:01.0.
      r.memory.q(IRT + index * 16, 1 + vector * 2 ** 16 + dst * 2 ** 40);
      r.memory.q(IRT + index * 16 + 8, 0x0008 | (1 << 18));
    };
    const msi = (index: number): number => (0xfee00000 | (index << 5) | (1 << 4) | (1 << 3)) >>> 0;
    write(0x21, 0x31, 0);
    expect(qi.submit([iecIndex(0x21, 0)])).toBe(true);
    r.iommu.signalMsi(0x0008, msi(0x21), 0);
    write(0x21, 0x45, 1); // set_affinity moves it: new vector and destination
    expect(qi.submit([iecIndex(0x21, 0)])).toBe(true);
    r.iommu.signalMsi(0x0008, msi(0x21), 0);
    expect(r.delivered.map((m) => [m.vector, m.destination])).toEqual([[0x31, 0], [0x45, 1]]);
  });

  test('unmap: a cleared second-level entry followed by a page-selective IOTLB flush blocks the next DMA', () => {
    const r = rig();
    const qi = new LinuxQi(r);
    const L3 = 0x400000; const L2 = 0x401000; const L1 = 0x402000;
    contextEntry(r, 0, 0x08, L3, { did: 1 });
    sl(r, L3, 0, L2 | 3);
    sl(r, L2, 0, L1 | 3);
    sl(r, L1, 5, 0x500000 | 3);
    setRoot(r);
    expect(qi.submit([ctxGlobal(), iotlbGlobal()])).toBe(true);
    gcmdOr(r, TE);
    expect((r.r32(GSTS) & TE) >>> 0).toBe(TE);
    const buf = new Uint8Array(4);
    expect(r.iommu.read(0x0008, 0x5000, buf)).toBe(true);
    sl(r, L1, 5, 0);
    expect(qi.submit([iotlbPage(1, 0x5000, 0, 0)])).toBe(true);
    expect(r.iommu.read(0x0008, 0x5000, buf)).toBe(false);
    expect(r.r32(0x34) & 0x2).toBe(0x2); // FSTS.PPF: the fault is recorded
  });
});

describe("Linux's IOAPIC entries under interrupt remapping (irq_remapping.c)", () => {
  test('set_ioapic_sid IRTE (SVT 1, SID ff:00.0 from the DMAR scope) and a remappable RTE whose vector is the pin', () => {
    const r = rig({ interruptRemapping: true });
    const qi = new LinuxQi(r);
    r.w64(0xb8, IRT | 0xf); // INTR_REMAP_TABLE_REG_SIZE: 2^16 entries, EIME clear
    gcmdOr(r, SIRTP);
    expect(qi.submit([iecGlobal()])).toBe(true);
    gcmdOr(r, IRE);
    // IRTE 0x8003: vector 0x22 to APIC 1, fixed, edge, physical; SVT 1, SQ 0, SID 0xff00.
    const index = 0x8003;
    r.memory.q(IRT + index * 16, 1 + 0x22 * 2 ** 16 + 1 * 2 ** 40);
    r.memory.q(IRT + index * 16 + 8, 0xff00 | (1 << 18));
    // IR_IO_APIC_route_entry: vector = pin 2, index bit 15 in bit 11, format bit 48, index 14:0 in 63:49.
    const low = 2 | (((index >> 15) & 1) << 11);
    const high = (1 << 16) | ((index & 0x7fff) << 17);
    const msg = r.iommu.remapIoapic(low, high);
    expect(msg).toMatchObject({ vector: 0x22, destination: 1, logical: false, levelTriggered: false });
    expect(r.r32(0x34)).toBe(0);
  });
});
