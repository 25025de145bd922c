import { describe, expect, test } from 'vitest';
import { DATA, runTiny } from './tiny-guest.js';

/**
 * CR0.WP toggles keep the TLB's fast write tags honest. A MOV to CR0 that changes only WP neither
 * clears every fast tag nor stops the running block any more (upstream vmexit's toggle_cr0_wp
 * does this 10^8 times): WP 0 -> 1 drops the supervisor write tags of read-only pages, the only
 * tags WP decides (SDM Vol. 3 4.6.1: with WP=0 supervisor writes ignore R/W; with WP=1 they need
 * it). Each case writes the read-only page once with WP=0, so that write leaves a fast tag, then
 * flips WP and writes again in the same block.
 *
 * Guest layout (the data argument lands at DATA): a page directory at DATA, its one page table at
 * DATA + 0x1000 mapping the first 4 MiB identically and writable, except DATA + 0x2000, read-only.
 */
const RO_PAGE = DATA + 0x2000;

function tables(): Uint8Array {
  const bytes = new Uint8Array(0x3000);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, (DATA + 0x1000) | 3, true);
  for (let i = 0; i < 1024; i++) v.setUint32(0x1000 + 4 * i, (i << 12) | (i << 12 === RO_PAGE ? 1 : 3), true);
  return bytes;
}

const le32 = (x: number): string => Buffer.from(Uint32Array.of(x >>> 0).buffer).toString('hex');
/** mov dword [RO_PAGE], value */
const store = (value: number): string => `c7 05 ${le32(RO_PAGE)} ${le32(value)}`;
// mov eax, DATA; mov cr3, eax; mov eax, cr0; and eax, ~WP; or eax, PG; mov cr0, eax (paging on, WP=0)
const PAGING_WP0 = `b8 ${le32(DATA)}  0f 22 d8  0f 20 c0  25 ff ff fe ff  0d 00 00 00 80  0f 22 c0`;
const SET_WP = '0d 00 00 01 00  0f 22 c0'; // or eax, WP; mov cr0, eax
const CLEAR_WP = '25 ff ff fe ff  0f 22 c0'; // and eax, ~WP; mov cr0, eax

const word = (ran: ReturnType<typeof runTiny>): number => new DataView(ran.vm.readPhysical(RO_PAGE, 4).buffer).getUint32(0, true);

describe('CR0.WP toggles and the TLB fast tags', () => {
  test('WP 0 -> 1: a supervisor write to a read-only page written just before faults (#PF)', () => {
    const ran = runTiny(`${PAGING_WP0}  ${store(1)}  ${SET_WP}  ${store(2)}`, 'max', tables());
    expect(ran.vector).toBe(14);
    expect(word(ran)).toBe(1);
  });

  test('WP 1 -> 0 -> 1 -> 0: the writes with WP=0 land, the one with WP=1 faults', () => {
    const ok = runTiny(`${PAGING_WP0}  ${store(1)}  ${SET_WP}  ${CLEAR_WP}  ${store(3)}`, 'max', tables());
    expect(ok.vector).toBeNull();
    expect(word(ok)).toBe(3);
    const faulted = runTiny(`${PAGING_WP0}  ${store(1)}  ${SET_WP}  ${CLEAR_WP}  ${store(3)}  ${SET_WP}  ${store(4)}`, 'max', tables());
    expect(faulted.vector).toBe(14);
    expect(word(faulted)).toBe(3);
  });

  test('writable pages keep working across WP toggles', () => {
    // The last word of the page table: writable, and it maps nothing this code touches.
    const writable = DATA + 0x1ff0;
    const st = (x: number): string => `c7 05 ${le32(writable)} ${le32(x)}`;
    const ran = runTiny(`${PAGING_WP0}  ${st(5)}  ${SET_WP}  ${st(6)}  ${CLEAR_WP}  ${st(7)}`, 'max', tables());
    expect(ran.vector).toBeNull();
    expect(new DataView(ran.vm.readPhysical(writable, 4).buffer).getUint32(0, true)).toBe(7);
  });
});
