import { beforeEach, describe, expect, test } from 'vitest';
import { Arena } from '../../emulator/machine/arena.js';
import { gpa, hpa } from '../../emulator/arch/address.js';
import { EptQual, NPF_FINAL, NPF_TABLE, NpfCode, TdpAccess, TdpFaultKind, TdpFormat, TdpWalkResult, tdpWalk } from '../../emulator/hw/tdp-walk.js';

/**
 * The hardware TDP walk (SDM Vol. 3 29.3 for EPT, APM Vol. 2 15.25 for NPT) on tables built by
 * hand in an arena: translations, large pages, permissions, the EPT violation qualification,
 * misconfigurations, nested page fault codes, and A/D updates.
 */
let arena: Arena;
const out = new TdpWalkResult();
const ROOT = 0x1000, PDPT = 0x2000, PD = 0x3000, PT = 0x4000;
const EPT = { format: TdpFormat.EPT, levels: 4, hostPhysBits: 46, adEnabled: true };
const NPT = { format: TdpFormat.NPT, levels: 4, hostPhysBits: 46, adEnabled: true };

function set(addr: number, v: bigint): void { arena.view.setBigUint64(addr, v, true); }
function get(addr: number): bigint { return arena.view.getBigUint64(addr, true); }

/** GPA 0x40201000 -> host 0x50000 through four levels with `leaf` bits; tables get `upper`. */
function build(upper: bigint, leaf: bigint): void {
  set(ROOT, BigInt(PDPT) | upper);
  set(PDPT + 8, BigInt(PD) | upper);
  set(PD + 8, BigInt(PT) | upper);
  set(PT + 8, 0x50000n | leaf);
}
const GPA = 0x40201000;

beforeEach(() => { arena = new Arena(1 << 20); });

describe('EPT', () => {
  const RWX = 7n, WB = 6n << 3n;

  test('translates and sets A on every level, D on the leaf for a write', () => {
    build(RWX, RWX | WB);
    expect(tdpWalk(arena, EPT, hpa(ROOT), gpa(GPA + 0x123), TdpAccess.READ, false, out)).toBe(true);
    expect([out.hostPage, out.level, out.allowed]).toEqual([0x50000, 1, 7]);
    for (const e of [ROOT, PDPT + 8, PD + 8, PT + 8]) expect(get(e) & 0x100n).toBe(0x100n);
    expect(get(PT + 8) & 0x200n).toBe(0n);
    tdpWalk(arena, EPT, hpa(ROOT), gpa(GPA), TdpAccess.WRITE, false, out);
    expect(get(PT + 8) & 0x200n).toBe(0x200n);
  });

  test('a guest paging-structure access counts as a write for the dirty flag', () => {
    build(RWX, RWX | WB);
    tdpWalk(arena, EPT, hpa(ROOT), gpa(GPA), TdpAccess.READ, true, out);
    expect(get(PT + 8) & 0x200n).toBe(0x200n);
  });

  test('a 2 MiB leaf maps the offset within it', () => {
    build(RWX, RWX | WB);
    set(PD + 8, 0x600000n | RWX | WB | 0x80n);
    expect(tdpWalk(arena, EPT, hpa(ROOT), gpa(GPA + 0x5000), TdpAccess.FETCH, false, out)).toBe(true);
    expect([out.hostPage, out.level]).toEqual([0x600000 + 0x6000, 2]);
  });

  test('a missing entry is a violation whose qualification says what was tried and allowed', () => {
    build(RWX, 0n);
    expect(tdpWalk(arena, EPT, hpa(ROOT), gpa(GPA), TdpAccess.WRITE, false, out)).toBe(false);
    expect(out.fault).toBe(TdpFaultKind.EPT_VIOLATION);
    expect(out.code).toBe(EptQual.WRITE | EptQual.GLA_VALID | EptQual.GLA_FINAL);
  });

  test('a write to a read-only leaf is a violation reporting readable and executable', () => {
    build(RWX, 5n | WB); // R and X
    expect(tdpWalk(arena, EPT, hpa(ROOT), gpa(GPA), TdpAccess.WRITE, true, out)).toBe(false);
    expect(out.code).toBe(EptQual.WRITE | EptQual.READABLE | EptQual.EXECUTABLE | EptQual.GLA_VALID);
  });

  test.each([
    ['write without read (the MMIO SPTE pattern)', 6n | WB],
    ['a reserved physical-address bit', RWX | WB | (1n << 47n)],
    ['memory type 2', RWX | (2n << 3n)],
  ])('%s is a misconfiguration', (_what, leaf) => {
    build(RWX, leaf);
    expect(tdpWalk(arena, EPT, hpa(ROOT), gpa(GPA), TdpAccess.READ, false, out)).toBe(false);
    expect(out.fault).toBe(TdpFaultKind.EPT_MISCONFIG);
  });

  test('a large page at the top level is a misconfiguration', () => {
    build(RWX, RWX | WB);
    set(ROOT, BigInt(PDPT) | RWX | 0x80n);
    expect(tdpWalk(arena, EPT, hpa(ROOT), gpa(GPA), TdpAccess.READ, false, out)).toBe(false);
    expect(out.fault).toBe(TdpFaultKind.EPT_MISCONFIG);
  });
});

describe('NPT', () => {
  const P = 1n, RW = 2n, US = 4n, NX = 1n << 63n;

  test('translates like x86 paging and sets A, and D for a write', () => {
    build(P | RW | US, P | RW | US);
    expect(tdpWalk(arena, NPT, hpa(ROOT), gpa(GPA), TdpAccess.WRITE, false, out)).toBe(true);
    expect(out.hostPage).toBe(0x50000);
    expect(get(PT + 8) & 0x60n).toBe(0x60n);
  });

  test('not present: error code U (nested walks are user accesses) plus the access, and bit 32 for a final translation', () => {
    build(P | RW | US, 0n);
    expect(tdpWalk(arena, NPT, hpa(ROOT), gpa(GPA), TdpAccess.WRITE, false, out)).toBe(false);
    expect(out.fault).toBe(TdpFaultKind.NPF);
    expect(out.code).toBe(NpfCode.U | NpfCode.W);
    expect(out.npfHigh).toBe(NPF_FINAL);
  });

  test('U/S clear at any level denies access; a guest-table access reports bit 33', () => {
    build(P | RW, P | RW | US);
    expect(tdpWalk(arena, NPT, hpa(ROOT), gpa(GPA), TdpAccess.READ, true, out)).toBe(false);
    expect(out.code).toBe(NpfCode.P | NpfCode.U);
    expect(out.npfHigh).toBe(NPF_TABLE);
  });

  test('NX denies fetches; reserved bits fault with RSVD', () => {
    build(P | RW | US, P | RW | US | NX);
    expect(tdpWalk(arena, NPT, hpa(ROOT), gpa(GPA), TdpAccess.FETCH, false, out)).toBe(false);
    expect(out.code).toBe(NpfCode.P | NpfCode.U | NpfCode.I);
    build(P | RW | US, P | RW | US | (1n << 50n));
    expect(tdpWalk(arena, NPT, hpa(ROOT), gpa(GPA), TdpAccess.READ, false, out)).toBe(false);
    expect(out.code & NpfCode.RSVD).toBe(NpfCode.RSVD);
  });
});
