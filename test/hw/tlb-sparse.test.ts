import { describe, expect, test } from 'vitest';
import { TLB_SIZE, Tlb, TlbPerm } from '../../emulator/hw/tlb.js';

/**
 * Whole-TLB clears visit only the listed slots while the TLB holds few entries (the clears of a
 * guest that toggles CR0.WP or CR4.PGE in a loop), and fill the arrays beyond that. Both ways
 * must leave the same state: every fast tag gone (clearAllFast), every entry gone and the
 * large-page counters reset (flushAll, which INVLPG's large-page scan relies on).
 */
const PERM_4K = TlbPerm.W | TlbPerm.U | TlbPerm.X | TlbPerm.D | (12 << TlbPerm.SIZE_SHIFT);
const PERM_2M = TlbPerm.W | TlbPerm.U | TlbPerm.X | TlbPerm.D | (21 << TlbPerm.SIZE_SHIFT);

function fillTagged(tlb: Tlb, vpn: number, perm: number): void {
  const s = vpn % TLB_SIZE;
  tlb.fill(s, vpn, vpn * 4096, perm, 0);
  tlb.supRead[s] = vpn; tlb.supWrite[s] = vpn; tlb.supFetch[s] = vpn;
  tlb.userRead[s] = vpn; tlb.userWrite[s] = vpn; tlb.userFetch[s] = vpn;
}

const TAGS = ['supRead', 'supWrite', 'supFetch', 'userRead', 'userWrite', 'userFetch'] as const;
const anyTag = (tlb: Tlb): boolean => TAGS.some((k) => tlb[k].some((v) => v !== -1));

describe('whole-TLB clears, few and many entries', () => {
  for (const entries of [3, TLB_SIZE / 8, TLB_SIZE / 8 + 1, TLB_SIZE]) {
    test(`${entries} entries: clearAllFast drops every tag and keeps the entries`, () => {
      const tlb = new Tlb();
      for (let k = 0; k < entries; k++) fillTagged(tlb, 0x1000 + k, PERM_4K);
      tlb.clearAllFast();
      expect(anyTag(tlb)).toBe(false);
      expect(tlb.vpn[0x1000 % TLB_SIZE]).toBe(0x1000);
    });

    test(`${entries} entries: flushAll drops everything, then INVLPG still finds a new large-page piece`, () => {
      const tlb = new Tlb();
      const base = 0x40200; // a 2 MiB page
      for (let k = 0; k < entries; k++) fillTagged(tlb, base + k, k % 2 === 0 ? PERM_2M : PERM_4K);
      tlb.flushAll();
      expect(tlb.vpn.every((v) => v === -1)).toBe(true);
      expect(anyTag(tlb)).toBe(false);
      fillTagged(tlb, base + 5, PERM_2M);
      tlb.flushPage(base + 300);
      expect(tlb.vpn[(base + 5) % TLB_SIZE]).toBe(-1);
      // And a flushAll right after a flushAll (nothing listed) is harmless.
      tlb.flushAll();
      tlb.flushAll();
      expect(tlb.flushes).toBe(3);
    });
  }

  test('CR0.WP 0 -> 1 drops only the supervisor write tags of read-only entries', () => {
    const tlb = new Tlb();
    fillTagged(tlb, 0x10, PERM_4K);
    fillTagged(tlb, 0x11, PERM_4K & ~TlbPerm.W);
    tlb.revokeReadOnlySupervisorWrites();
    expect(tlb.supWrite[0x10]).toBe(0x10);
    expect(tlb.supWrite[0x11]).toBe(-1);
    for (const k of ['supRead', 'supFetch', 'userRead', 'userWrite', 'userFetch'] as const) expect(tlb[k][0x11]).toBe(0x11);
  });
});
