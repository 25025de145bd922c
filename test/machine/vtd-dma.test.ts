import { describe, expect, test } from 'vitest';
import { GCMD, SRTP, TE, contextEntry, faultRecord, gcmdOr, rig, setRoot, sl, type Rig } from './vtd-harness.js';

/**
 * DMA remapping through hand-built tables (vtd/translation.ts and the DmaPort side of
 * intel-iommu.ts). The expected addresses follow from the tables by the VT-d specification's
 * walk (9.1-9.3): root[bus] -> context[devfn] -> second-level tables, 9 address bits a level.
 */
const EDU = 0x0010; // 00:02.0, the requester ID kvm-unit-tests' edu has under QEMU
const L3 = 0x120000;
const L2 = 0x121000;
const L1 = 0x122000;
const PAGE_A = 0x400000;
const PAGE_B = 0x405000;
const R = 1;
const W = 2;
const RW = 3;

/** kvm-unit-tests' vtd_map_range shape: IOVA page `n` (below 512) to `pa`, 3 levels, 4 KiB pages. */
function mapped(opts: { aw?: 39 | 48; fpd?: boolean } = {}): Rig {
  const r = rig({ addressWidth: opts.aw });
  setRoot(r);
  contextEntry(r, 0, EDU, L3, { fpd: opts.fpd });
  sl(r, L3, 0, L2 | RW);
  sl(r, L2, 0, L1 | RW);
  sl(r, L1, 0, PAGE_A | RW);
  sl(r, L1, 1, PAGE_B | RW);
  gcmdOr(r, TE);
  return r;
}

function dmaRead(r: Rig, iova: number, length: number, requester = EDU): Uint8Array | null {
  const bytes = new Uint8Array(length);
  return r.iommu.read(requester, iova, bytes) ? bytes : null;
}

describe('VT-d DMA translation', () => {
  test('with TE clear a DMA goes to the bus address unchanged', () => {
    const r = rig();
    r.memory.q(0x5000, 0x1122334455);
    expect(Array.from(dmaRead(r, 0x5000, 2)!)).toEqual([0x55, 0x44]);
    expect(r.port.accesses).toEqual([{ requester: EDU, address: 0x5000, length: 2, write: false }]);
  });

  test('kvm-unit-tests DMAR 4B memcpy: IOVA 0 reads page A, IOVA 4 writes page A + 4', () => {
    const r = mapped();
    r.memory.view.setUint32(PAGE_A, 0x12345678, true);
    const word = dmaRead(r, 0, 4)!;
    expect(r.iommu.write(EDU, 4, word)).toBe(true);
    expect(r.memory.d(PAGE_A + 4)).toBe(0x12345678);
    expect(r.port.accesses.map((a) => a.address)).toEqual([PAGE_A, PAGE_A + 4]);
    expect(r.r32(0x34)).toBe(0);
  });

  test('an access across a page boundary is split per 4 KiB page', () => {
    const r = mapped();
    expect(r.iommu.write(EDU, 0xffc, new Uint8Array(8).fill(7))).toBe(true);
    expect(r.port.accesses).toEqual([
      { requester: EDU, address: PAGE_A + 0xffc, length: 4, write: true },
      { requester: EDU, address: PAGE_B, length: 4, write: true },
    ]);
  });

  test('2 MiB page at level 2 and 1 GiB page at level 3', () => {
    const r = mapped();
    sl(r, L2, 1, 0x600000 | RW | 0x80);
    expect(r.iommu.read(EDU, 0x200000 + 0x1234, new Uint8Array(1))).toBe(true);
    sl(r, L3, 1, 0x40000000 | R | 0x80);
    expect(r.iommu.read(EDU, 0x40000000 + 0x345678, new Uint8Array(1))).toBe(true);
    expect(r.port.accesses.map((a) => a.address)).toEqual([0x601234, 0x40345678]);
  });

  test('AW 48: four levels on a unit with aw-bits 48', () => {
    const r = rig({ addressWidth: 48 });
    setRoot(r);
    contextEntry(r, 0, EDU, 0x130000, { aw: 2 });
    sl(r, 0x130000, 1, L3 | RW); // IOVA bit 39
    sl(r, L3, 0, L2 | RW);
    sl(r, L2, 0, L1 | RW);
    sl(r, L1, 3, PAGE_B | RW);
    gcmdOr(r, TE);
    expect(r.iommu.read(EDU, 2 ** 39 + 0x3010, new Uint8Array(1))).toBe(true);
    expect(r.port.accesses.map((a) => a.address)).toEqual([PAGE_B + 0x10]);
  });

  test('pass-through context (TT 2) leaves the address as it is', () => {
    const r = rig();
    setRoot(r);
    contextEntry(r, 1, 0x08, 0, { tt: 2 });
    gcmdOr(r, TE);
    expect(r.iommu.read(0x0108, 0x7000, new Uint8Array(4))).toBe(true);
    expect(r.port.accesses.map((a) => a.address)).toEqual([0x7000]);
  });

  test('the root table is the one latched by SRTP, not RTADDR as written later', () => {
    const r = mapped();
    r.w64(0x20, 0x800000);
    expect(dmaRead(r, 0, 4)).not.toBeNull();
    r.w32(GCMD, (r.r32(0x1c) | SRTP) >>> 0);
    expect(dmaRead(r, 0, 4)).toBeNull();
    expect(faultRecord(r).reason).toBe(1);
  });
});

describe('VT-d DMA faults', () => {
  /** The fault the access records (or null if it succeeds). */
  function fault(r: Rig, iova: number, write: boolean, requester = EDU): ReturnType<typeof faultRecord> | null {
    const ok = write ? r.iommu.write(requester, iova, new Uint8Array(4)) : r.iommu.read(requester, iova, new Uint8Array(4));
    return ok ? null : faultRecord(r);
  }

  test.each([
    ['root entry not present', (r: Rig) => r.memory.q(0x100000, 0), 0x1],
    ['context entry not present', (r: Rig) => r.memory.q(0x101000 + EDU * 16, 0), 0x2],
    ['context AW 48 on a 39-bit unit', (r: Rig) => contextEntry(r, 0, EDU, L3, { aw: 2 }), 0x3],
    ['context TT 3 (reserved)', (r: Rig) => contextEntry(r, 0, EDU, L3, { tt: 3 }), 0x3],
    ['context TT 1 (device TLB, ECAP.DT 0)', (r: Rig) => contextEntry(r, 0, EDU, L3, { tt: 1 }), 0x3],
    ['second-level entry not present', (r: Rig) => sl(r, L1, 0, 0), 0x6],
    ['no read right at level 2', (r: Rig) => sl(r, L2, 0, L1 | W), 0x6],
    ['root entry reserved bit 1', (r: Rig) => r.memory.q(0x100000, 0x101000 | 3), 0xa],
    ['root entry address above the host width', (r: Rig) => r.memory.q(0x100000, 2 ** 39 + 0x101001), 0xa],
    ['context entry reserved bit 4', (r: Rig) => r.memory.q(0x101000 + EDU * 16, L3 | 0x11), 0xb],
    ['context entry reserved bit 7 of the high quad', (r: Rig) => r.memory.q(0x101000 + EDU * 16 + 8, 0x181), 0xb],
    ['SNP (bit 11) in a leaf', (r: Rig) => sl(r, L1, 0, PAGE_A | RW | 0x800), 0xc],
    ['TM (bit 62) in a leaf', (r: Rig) => { sl(r, L1, 0, PAGE_A | RW); r.memory.view.setUint32(L1 + 4, 1 << 30, true); }, 0xc],
    ['2 MiB leaf with address bit 12 set', (r: Rig) => sl(r, L2, 0, 0x601000 | RW | 0x80), 0xc],
  ])('%s', (_name, spoil, reason) => {
    const r = mapped();
    expect(fault(r, 0, false)).toBeNull();
    spoil(r);
    const f = fault(r, 0x10, false)!;
    expect(f).toEqual({ fi: 0, sid: EDU, reason, read: true, f: true });
    expect(r.r32(0x34)).toBe(0x2); // PPF, FRI 0
  });

  test('a write to a read-only page faults with reason 5 and T = write; a read of it passes', () => {
    const r = mapped();
    sl(r, L1, 1, PAGE_B | R);
    expect(fault(r, 0x1000, false)).toBeNull();
    expect(fault(r, 0x1008, true)).toEqual({ fi: 0x1000, sid: EDU, reason: 5, read: false, f: true });
  });

  test('an address at 2^39 on AW 39 faults with reason 4, recording the page', () => {
    const r = mapped();
    const f = fault(r, 2 ** 39 + 0x2345, false)!;
    expect(f.reason).toBe(4);
    expect(f.fi).toBe(2 ** 39 + 0x2000);
  });

  test('a fault on the second page blocks the whole access: nothing is written', () => {
    const r = mapped();
    sl(r, L1, 1, PAGE_B | R);
    expect(r.iommu.write(EDU, 0xffc, new Uint8Array(8).fill(9))).toBe(false);
    expect(r.port.accesses).toEqual([]);
    expect(r.memory.d(PAGE_A + 0xffc)).toBe(0);
    expect(faultRecord(r).fi).toBe(0x1000);
  });

  test('FPD in the context entry suppresses a qualified fault but still blocks it', () => {
    const r = mapped({ fpd: true });
    sl(r, L1, 0, PAGE_A | R);
    expect(r.iommu.write(EDU, 0, new Uint8Array(4))).toBe(false);
    expect(r.r32(0x34)).toBe(0);
    expect(faultRecord(r).f).toBe(false);
  });

  test('fault event: masked at reset (IP set), sent on unmask, cleared with the record; then sent at once', () => {
    const r = mapped();
    r.w32(0x3c, 0x4e);
    r.w32(0x40, 0xfee01000);
    expect(fault(r, 0x3000, false)!.reason).toBe(6);
    expect(r.r32(0x38)).toBe(0xc0000000);
    expect(r.port.msis).toEqual([]);
    r.w32(0x38, 0);
    expect(r.port.msis).toEqual([{ address: 0xfee01000, data: 0x4e }]);
    expect(r.r32(0x38)).toBe(0);
    // A second fault from the same requester collapses into the pending record (QEMU 7.2 alike);
    // one from another requester with the only record still full overflows: PFO, no new event.
    expect(fault(r, 0x4000, true)).not.toBeNull();
    expect(r.r32(0x34)).toBe(0x2);
    expect(fault(r, 0x4000, true, 0x0018)).not.toBeNull();
    expect(r.r32(0x34)).toBe(0x3);
    expect(faultRecord(r)).toEqual({ fi: 0x3000, sid: EDU, reason: 6, read: true, f: true });
    expect(r.port.msis).toHaveLength(1);
    r.w32(0x22c, 0x80000000); // clear F
    r.w32(0x34, 1); // clear PFO
    expect(r.r32(0x34)).toBe(0);
    expect(fault(r, 0x5000, true)!.fi).toBe(0x5000);
    expect(r.port.msis).toHaveLength(2);
  });
});
