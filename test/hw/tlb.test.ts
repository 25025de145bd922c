import { describe, expect, test } from 'vitest';
import { TLB_SIZE, Tlb, TlbPerm } from '../../emulator/hw/tlb.js';

const PERM_4K = TlbPerm.W | TlbPerm.U | TlbPerm.X | TlbPerm.D | (12 << TlbPerm.SIZE_SHIFT);
const PERM_2M = TlbPerm.W | TlbPerm.U | TlbPerm.X | TlbPerm.D | (21 << TlbPerm.SIZE_SHIFT);

function fill(tlb: Tlb, vpn: number, perm: number, pcid = 0): void {
  tlb.fill(vpn % TLB_SIZE, vpn, vpn * 4096, perm, pcid);
  tlb.read[vpn % TLB_SIZE] = vpn;
}

describe('Tlb', () => {
  test('MOV CR3 keeps global entries and drops the rest', () => {
    const tlb = new Tlb();
    fill(tlb, 0x100, PERM_4K);
    fill(tlb, 0x101, PERM_4K | TlbPerm.G);
    tlb.flushNonGlobal();
    expect(tlb.vpn[0x100]).toBe(-1);
    expect(tlb.vpn[0x101]).toBe(0x101);
    expect(tlb.read[0x100]).toBe(-1);
  });

  test('INVLPG drops every cached piece of a 2 MiB page, global or not', () => {
    const tlb = new Tlb();
    const base = 0x40200; // 2 MiB aligned page number
    fill(tlb, base + 3, PERM_2M | TlbPerm.G);
    fill(tlb, base + 400, PERM_2M);
    fill(tlb, base + 512, PERM_4K); // the next 2 MiB region, not part of the page
    tlb.flushPage(base + 17);
    expect(tlb.vpn[(base + 3) % TLB_SIZE]).toBe(-1);
    expect(tlb.vpn[(base + 400) % TLB_SIZE]).toBe(-1);
    expect(tlb.vpn[(base + 512) % TLB_SIZE]).toBe(base + 512);
  });

  test('INVLPG finds large-page pieces after evictions and refills, at high-half and 1 GiB pages', () => {
    const PERM_1G = TlbPerm.W | TlbPerm.X | TlbPerm.D | (30 << TlbPerm.SIZE_SHIFT);
    const tlb = new Tlb();
    const high = 0xffff923400000; // page number of 0xffff923400000000, 2 MiB aligned
    fill(tlb, high + 5, PERM_2M);
    fill(tlb, high + 5 + TLB_SIZE, PERM_4K); // evicts the piece from its slot
    fill(tlb, high + 6, PERM_2M);
    const giant = 0x7fc0000; // a 1 GiB page (2^18 pieces)
    fill(tlb, giant + 0x3ffff, PERM_1G);
    fill(tlb, giant + 0x2a, PERM_1G);
    tlb.flushPage(high + 0x1ff); // last 4 KiB of the 2 MiB page
    expect(tlb.vpn[(high + 6) % TLB_SIZE]).toBe(-1);
    expect(tlb.vpn[(high + 5) % TLB_SIZE]).toBe(high + 5 + TLB_SIZE);
    expect(tlb.vpn[(giant + 0x2a) % TLB_SIZE]).toBe(giant + 0x2a);
    tlb.flushPage(giant + 0x12345);
    expect(tlb.vpn[(giant + 0x3ffff) % TLB_SIZE]).toBe(-1);
    expect(tlb.vpn[(giant + 0x2a) % TLB_SIZE]).toBe(-1);
    // Nothing of either page is left: refilling one piece and flushing again still finds it.
    fill(tlb, high + 7, PERM_2M);
    tlb.flushPage(high);
    expect(tlb.vpn[(high + 7) % TLB_SIZE]).toBe(-1);
  });

  test('INVLPG with a PCID skips another PCID\'s pieces of the page and still finds the later ones', () => {
    const tlb = new Tlb();
    const base = 0x40400;
    fill(tlb, base + 1, PERM_2M, 2);
    fill(tlb, base + 500, PERM_2M, 1);
    fill(tlb, base + 511, PERM_2M | TlbPerm.G, 2);
    tlb.flushPage(base + 9, 1);
    expect(tlb.vpn[(base + 1) % TLB_SIZE]).toBe(base + 1);
    expect(tlb.vpn[(base + 500) % TLB_SIZE]).toBe(-1);
    expect(tlb.vpn[(base + 511) % TLB_SIZE]).toBe(-1); // global: dropped for any PCID
    tlb.flushPage(base + 9);
    expect(tlb.vpn[(base + 1) % TLB_SIZE]).toBe(-1);
  });

  test('INVLPG of a 4 KiB page leaves neighbours alone', () => {
    const tlb = new Tlb();
    fill(tlb, 0x500, PERM_4K);
    fill(tlb, 0x501, PERM_4K);
    tlb.flushPage(0x500);
    expect(tlb.vpn[0x500]).toBe(-1);
    expect(tlb.vpn[0x501]).toBe(0x501);
  });

  test('a PCID flush drops that PCID only, keeping globals when asked', () => {
    const tlb = new Tlb();
    fill(tlb, 0x10, PERM_4K, 1);
    fill(tlb, 0x11, PERM_4K, 2);
    fill(tlb, 0x12, PERM_4K | TlbPerm.G, 1);
    tlb.flushPcid(1, true);
    expect([tlb.vpn[0x10], tlb.vpn[0x11], tlb.vpn[0x12]]).toEqual([-1, 0x11, 0x12]);
  });

  test('fast tags are per privilege level and are cleared without touching the entries', () => {
    const tlb = new Tlb();
    fill(tlb, 0x20, PERM_4K);
    tlb.selectPrivilege(true);
    expect(tlb.read[0x20]).toBe(-1);
    tlb.read[0x20] = 0x20;
    tlb.selectPrivilege(false);
    expect(tlb.read[0x20]).toBe(0x20);
    tlb.clearAllFast();
    expect(tlb.read[0x20]).toBe(-1);
    expect(tlb.vpn[0x20]).toBe(0x20);
  });

  test('pages holding decoded code lose their write fast tags', () => {
    const tlb = new Tlb();
    fill(tlb, 0x30, PERM_4K);
    tlb.write[0x30] = 0x30;
    tlb.revokeWrites(0x30 * 4096);
    expect(tlb.write[0x30]).toBe(-1);
    expect(tlb.read[0x30]).toBe(0x30);
  });
});
