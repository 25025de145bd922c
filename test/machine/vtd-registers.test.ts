import { describe, expect, test } from 'vitest';
import { CFI, GCMD, GSTS, IRE, IRT, QIE, ROOT, SIRTP, SRTP, TE, gcmdOr, rig, type Rig } from './vtd-harness.js';

/**
 * The VT-d register file (vtd/intel-iommu.ts, registers.ts). The oracle for VER, CAP and ECAP is
 * QEMU 7.2 TCG running kvm-unit-tests' intel-iommu.flat with
 * `-M q35,kernel-irqchip=split -device intel-iommu,intremap=on,eim=off -device edu`, which prints
 * "VT-d version: 0x10", "cap: 0x00d2008c22260206", "ecap: 0x0000000000f00f4a"; the GSTS bits after
 * each step of its vtd_init are the ones its report lines check.
 */
describe('VT-d registers after reset', () => {
  test('VER, CAP and ECAP read as QEMU reports them for intremap=on,eim=off', () => {
    const r = rig();
    expect(r.r32(0x00)).toBe(0x10);
    expect(r.rq(0x08)).toBe(0x00d2008c22260206n);
    expect(r.r64(0x10)).toBe(0xf00f4a);
  });

  test('CAP fields: ND 16-bit, SAGAW 39-bit, MGAW 39, FRO 0x220, one record, 2M/1G pages; ECAP IRO 0xf0', () => {
    const cap = rig().rq(0x08);
    const field = (lo: number, bits: number): number => Number((cap >> BigInt(lo)) & ((1n << BigInt(bits)) - 1n));
    expect(field(0, 3)).toBe(6);
    expect(field(8, 5)).toBe(0b00010);
    expect(field(16, 6) + 1).toBe(39);
    expect(field(24, 10) * 16).toBe(0x220);
    expect(field(40, 8)).toBe(0);
    expect(field(34, 2)).toBe(3);
    const ecap = rig().r64(0x10);
    expect((Math.floor(ecap / 256) % 1024) * 16).toBe(0xf0);
  });

  test('eim=on adds ECAP.EIM, intremap=off removes IR; aw-bits 48 adds SAGAW 48 and MGAW 48', () => {
    expect(rig({ extendedInterruptMode: true }).r64(0x10)).toBe(0xf00f5a);
    expect(rig({ interruptRemapping: false }).r64(0x10)).toBe(0xf00f42);
    const cap = rig({ addressWidth: 48 }).rq(0x08);
    expect((cap >> 8n) & 31n).toBe(0b00110n);
    expect(((cap >> 16n) & 63n) + 1n).toBe(48n);
  });

  test('GSTS, FSTS, RTADDR, IRTA, IQH/IQT/IQA read 0; FECTL and IECTL have IM set; GCMD reads 0', () => {
    const r = rig();
    for (const o of [GSTS, 0x34, 0x20, 0x24, 0xb8, 0xbc, 0x80, 0x88, 0x90, 0x9c]) expect(r.r32(o)).toBe(0);
    expect(r.r32(0x38)).toBe(0x80000000);
    expect(r.r32(0xa0)).toBe(0x80000000);
    r.w32(GCMD, TE);
    expect(r.r32(GCMD)).toBe(0);
  });

  test('a quadword register reads the same as two doublewords and as bytes', () => {
    const r = rig();
    r.w64(0x20, 0x12_3456_7000);
    expect(r.r32(0x20)).toBe(0x34567000);
    expect(r.r32(0x24)).toBe(0x12);
    expect(r.iommu.mmioRead(0x21, 1)).toBe(0x70);
    expect(r.iommu.mmioRead(0x22, 2)).toBe(0x3456);
  });
});

describe('GCMD sequences (kvm-unit-tests vtd_init order)', () => {
  test('QIE, SRTP, SIRTP, TE, IRE each show in GSTS and stay', () => {
    const r = rig();
    gcmdOr(r, QIE);
    expect(r.r32(GSTS)).toBe(QIE);
    r.w64(0x20, ROOT);
    gcmdOr(r, SRTP);
    expect(r.r32(GSTS)).toBe((QIE | SRTP) >>> 0);
    expect(r.r64(0x20)).toBe(ROOT);
    r.w64(0xb8, IRT | 0xf);
    gcmdOr(r, SIRTP);
    expect(r.r32(GSTS)).toBe((QIE | SRTP | SIRTP) >>> 0);
    expect(r.r64(0xb8)).toBe(IRT | 0xf);
    gcmdOr(r, TE);
    expect(r.r32(GSTS)).toBe((TE | QIE | SRTP | SIRTP) >>> 0);
    gcmdOr(r, IRE);
    expect(r.r32(GSTS)).toBe((TE | QIE | SRTP | SIRTP | IRE) >>> 0);
    expect(r.r32(0x34)).toBe(0); // "fault status check"
  });

  test('persistent bits clear when written 0; one-shot status bits stay; CFI toggles CFIS', () => {
    const r = rig();
    r.w32(GCMD, (TE | SRTP | QIE | IRE | SIRTP | CFI) >>> 0);
    expect(r.r32(GSTS)).toBe((TE | SRTP | QIE | IRE | SIRTP | CFI) >>> 0);
    r.w32(GCMD, 0);
    expect(r.r32(GSTS)).toBe((SRTP | SIRTP) >>> 0);
  });

  test('without interrupt remapping IRE, SIRTP and CFI do nothing and IRTA is absent', () => {
    const r = rig({ interruptRemapping: false });
    r.w64(0xb8, IRT | 0xf);
    expect(r.r64(0xb8)).toBe(0);
    r.w32(GCMD, (IRE | SIRTP | CFI) >>> 0);
    expect(r.r32(GSTS)).toBe(0);
  });

  test('register-based invalidations complete at once and report the granularity asked for', () => {
    const r = rig();
    // CCMD: ICC (63) with CIRG = domain (2 << 61), DID 5: ICC clears, CAIG (60:59) = 2.
    r.w32(0x28, 5);
    r.w32(0x2c, 0x80000000 | (2 << 29));
    expect(r.r32(0x2c) >>> 29).toBe(2); // ICC 0, CIRG 2
    expect((r.r32(0x2c) >>> 27) & 3).toBe(2);
    // IOTLB: IVT (63) with IIRG = global (1 << 60): IAIG (58:57) = 1.
    r.w32(0xf8, 0);
    r.w32(0xfc, 0x80000000 | (1 << 28));
    expect(r.r32(0xfc) >>> 31).toBe(0);
    expect((r.r32(0xfc) >>> 25) & 3).toBe(1);
  });
});

describe('queued invalidation', () => {
  const IQ = 0x200000;
  const STATUS = 0x300000;

  /** A unit with its queue at IQ (256 descriptors) and QIE set. */
  function queued(): Rig {
    const r = rig();
    r.w64(0x90, IQ);
    gcmdOr(r, QIE);
    return r;
  }

  test('accepting QIE with an empty queue keeps head = tail = 0', () => {
    const r = rig();
    gcmdOr(r, QIE);
    expect(r.r64(0x80)).toBe(0);
    expect(r.r64(0x88)).toBe(0);
  });

  test('cache invalidations and an invalidation wait with status write and interrupt flag', () => {
    const r = queued();
    r.memory.q(IQ, 0x11); // context-cache, global
    r.memory.q(IQ + 16, 0x12); // IOTLB, global
    r.memory.q(IQ + 32, 0x14); // interrupt entry cache, global
    r.memory.q(IQ + 48, 0x35); // wait (5) with IF (bit 4) and SW (bit 5); status data in bits 63:32
    r.memory.view.setUint32(IQ + 52, 0xabcd1234, true);
    r.memory.q(IQ + 56, STATUS);
    r.w32(0xa0, 0); // IECTL: unmask the completion event
    r.w32(0xa4, 0x41);
    r.w32(0xa8, 0xfee00000);
    r.w64(0x88, 4 * 16);
    expect(r.r64(0x80)).toBe(4 * 16);
    expect(r.memory.d(STATUS)).toBe(0xabcd1234);
    expect(r.r32(0x9c)).toBe(1); // ICS.IWC
    expect(r.port.msis).toEqual([{ address: 0xfee00000, data: 0x41 }]);
    expect(r.r32(0x34)).toBe(0);
  });

  test('masked completion event sets IECTL.IP and fires when IM is cleared; clearing IWC clears IP', () => {
    const r = queued();
    r.memory.q(IQ, 0x15);
    r.w64(0x88, 16);
    expect(r.r32(0xa0)).toBe(0xc0000000);
    expect(r.port.msis).toHaveLength(0);
    r.w32(0xa0, 0);
    expect(r.port.msis).toHaveLength(1);
    expect(r.r32(0xa0)).toBe(0);
    r.memory.q(IQ + 16, 0x15);
    r.w32(0xa0, 0x80000000);
    r.w64(0x88, 32);
    expect(r.r32(0xa0)).toBe(0xc0000000);
    r.w32(0x9c, 1);
    expect(r.r32(0x9c)).toBe(0);
    expect(r.r32(0xa0)).toBe(0x80000000);
  });

  test('an unknown descriptor sets FSTS.IQE and stops with IQH on it; disabling QIE resets IQH', () => {
    const r = queued();
    r.memory.q(IQ, 0x11);
    r.memory.q(IQ + 16, 0x3); // device-TLB invalidation: ECAP.DT is 0
    r.memory.q(IQ + 32, 0x11);
    r.w64(0x88, 48);
    expect(r.r64(0x80)).toBe(16);
    expect(r.r32(0x34)).toBe(0x10);
    expect(r.r32(0x38)).toBe(0xc0000000); // fault event pending under IM
    r.w32(0x34, 0x10);
    expect(r.r32(0x38)).toBe(0x80000000);
    r.w32(GCMD, 0);
    expect(r.r64(0x80)).toBe(0);
  });
});
