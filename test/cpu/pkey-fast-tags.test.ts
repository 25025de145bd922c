import { describe, expect, test } from 'vitest';
import { DATA, le32, runTiny } from './tiny-guest.js';
import { TLB_MASK } from '../../emulator/hw/tlb.js';

/**
 * Protection keys and the TLB's fast tags. Under CR4.PKE a user page now gets the fast data tags
 * when PKRU leaves its key unrestricted (both), or sets WD only (the read tag), so such pages no
 * longer go through translate() on every access (the access matrix runs half its cases under
 * PKE, with every page a user page). The tags must not outlive the rights they were granted
 * under: WRPKRU drops them, and a WD key never gets a write tag, since WD decides supervisor
 * writes only with CR0.WP=1 and a WP toggle revokes only the write tags of read-only pages.
 *
 * The guest enters IA-32e mode from the tiny guest's 32-bit code (compatibility mode: protection
 * keys apply, SDM Vol. 3 4.6.2) with 4-level tables at DATA mapping the first 6 MiB with user
 * 2 MiB pages, key 0 except the page at 4 MiB, key 1. Its accesses are supervisor accesses to user
 * pages, which PKRU governs; no SMAP.
 */
const TEST = 0x400010;
const KEY1_AD = 1 << 2;
const KEY1_WD = 1 << 3;

function tables(): Uint8Array {
  const bytes = new Uint8Array(0x3000);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, (DATA + 0x1000) | 7, true); // PML4[0]
  v.setUint32(0x1000, (DATA + 0x2000) | 7, true); // PDPT[0]
  for (let i = 0; i < 3; i++) v.setUint32(0x2000 + 8 * i, (i << 21) | 0x87, true); // PD[i]: 2 MiB, P RW US PS
  v.setUint32(0x2000 + 8 * 2 + 4, 1 << 27, true); // PD[2]'s key: 1 (bits 62:59)
  return bytes;
}

// CR4.PAE; CR3 = DATA; EFER.LME; CR0.PG (IA-32e mode, compatibility mode); CR4.PKE.
const LONG_MODE = [
  '0f 20 e0  0d 20 00 00 00  0f 22 e0',
  `b8 ${le32(DATA)}  0f 22 d8`,
  `b9 ${le32(0xc0000080)}  b8 ${le32(0x100)}  31 d2  0f 30`,
  '0f 20 c0  0d 00 00 00 80  0f 22 c0',
  '0f 20 e0  0d 00 00 40 00  0f 22 e0',
].join('  ');
const wrpkru = (v: number): string => `31 c9  31 d2  b8 ${le32(v)}  0f 01 ef`;
const read = `a1 ${le32(TEST)}`; // mov eax, [TEST]
const write = (x: number): string => `c7 05 ${le32(TEST)} ${le32(x)}`;
const SET_WP = '0f 20 c0  0d 00 00 01 00  0f 22 c0';

const word = (ran: ReturnType<typeof runTiny>): number => new DataView(ran.vm.readPhysical(TEST, 4).buffer).getUint32(0, true);
const slot = (TEST >>> 12) & TLB_MASK;

describe('protection keys and the TLB fast tags', () => {
  test('an unrestricted key gets both data tags; WRPKRU AD then makes the next read fault', () => {
    const tagged = runTiny(`${LONG_MODE}  ${wrpkru(0)}  ${write(5)}  ${read}`, 'max', tables());
    expect(tagged.vector).toBeNull();
    const tlb = tagged.vm.cpu.paging.tlb;
    expect(tlb.supRead[slot]).toBe(TEST >>> 12);
    expect(tlb.supWrite[slot]).toBe(TEST >>> 12);
    const denied = runTiny(`${LONG_MODE}  ${wrpkru(0)}  ${write(5)}  ${read}  ${wrpkru(KEY1_AD)}  ${read}`, 'max', tables());
    expect(denied.vector).toBe(14);
    expect(word(denied)).toBe(5);
  });

  test('a WD key keeps its read tag and never gets a write tag, so a CR0.WP 0 -> 1 write faults', () => {
    const ran = runTiny(`${LONG_MODE}  ${wrpkru(KEY1_WD)}  ${write(6)}  ${read}`, 'max', tables());
    expect(ran.vector).toBeNull();
    expect(word(ran)).toBe(6); // WP=0: WD does not stop a supervisor write
    const tlb = ran.vm.cpu.paging.tlb;
    expect(tlb.supRead[slot]).toBe(TEST >>> 12);
    expect(tlb.supWrite[slot]).toBe(-1);
    const faulted = runTiny(`${LONG_MODE}  ${wrpkru(KEY1_WD)}  ${write(6)}  ${read}  ${SET_WP}  ${read}  ${write(7)}`, 'max', tables());
    expect(faulted.vector).toBe(14);
    expect(word(faulted)).toBe(6);
  });

  test('AD on the key: no data tag, and the access faults', () => {
    const ran = runTiny(`${LONG_MODE}  ${wrpkru(KEY1_AD)}  ${read}`, 'max', tables());
    expect(ran.vector).toBe(14);
    expect(ran.vm.cpu.paging.tlb.supRead[slot]).toBe(-1);
  });
});
