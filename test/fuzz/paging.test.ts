import { describe, expect, test } from 'vitest';
import { fuzzPaging, newPagingSummary, pagingCase } from '../../bench/fuzz/paging-fuzz.js';

/**
 * Random page tables in 4-level, PAE and 32-bit paging (loops, self-reference, tables in MMIO
 * and unbacked memory, 2 MiB, 1 GiB and 4 MiB pages, reserved bits, NX/U/W combinations, CR0.WP,
 * CR4.SMEP/SMAP/PKE/PSE, EFER.NXE, EFLAGS.AC, PKRU, CPL 0 and 3) with loads, stores and fetches
 * through them, single or in sequences that rewrite a walked entry and reload CR3, in bare,
 * shadow, legacy-tdp and tdp with KVM's invariant checker after every exit: the results (vector,
 * error code, CR2, value loaded, every byte of the tables and data pages afterwards) must be
 * bare's in every mode. Of README's shadow-MMU deviations, two can show. A global translation
 * across MOV CR3: sequences clear CR4.PGE for that reason, and the second test shows the
 * comparison finding it when they do not. The dirty bit of an MMIO PTE after a CR0.WP=0 store: the
 * comparison accepts exactly that byte (paging-regressions.test.ts). The others need EFER.NXE or
 * CR4.PSE toggled after pages were shadowed, which no case does (each starts from a zapped MMU).
 */

const CASES = 500;

describe('page-table fuzzing, every MMU mode against bare', () => {
  test(`${CASES} cases, seed 1: same guest-visible result, checker clean, no host exception`, () => {
    const sum = newPagingSummary();
    fuzzPaging(1, 0, CASES, sum);
    expect(sum.failures.map((f) => `case ${f.index} ${f.mode}: ${f.what.split('\n')[0]}`)).toEqual([]);
    // The cases reach both completed accesses and page faults of several kinds.
    expect(sum.outcomes.get('done') ?? 0).toBeGreaterThan(0);
    const pfCodes = [...sum.outcomes.keys()].filter((k) => k.startsWith('exception 14 '));
    expect(pfCodes.length).toBeGreaterThan(8);
    // Reserved-bit faults (error code bit 3) are among them.
    expect(pfCodes.some((k) => (Number(k.split('err ')[1]) & 8) !== 0)).toBe(true);
    // About half the cases are sequences (table writes between accesses), in every paging format.
    expect(sum.sequences).toBeGreaterThan(CASES / 4);
    const formats = new Set(Array.from({ length: CASES }, (_, k) => pagingCase(1, k).format));
    expect([...formats].sort()).toEqual(['32-bit', '4-level', 'pae']);
  });

  test('the comparison has teeth: with global pages in sequences it finds README\'s shadow deviation', () => {
    // Bare keeps a global translation across MOV CR3, as the SDM allows; KVM's shadow MMU keeps no
    // global SPTEs and rebuilds it from the rewritten tables. The fuzzer therefore clears CR4.PGE
    // in sequences; here it is left on, and shadow must disagree with bare on some case.
    const sum = newPagingSummary();
    fuzzPaging(3, 0, 300, sum, true);
    expect(sum.failures.some((f) => f.mode === 'shadow' && f.what.startsWith('bare / shadow:'))).toBe(true);
    expect(sum.failures.every((f) => f.what.startsWith('bare / '))).toBe(true); // disagreements, not crashes
  });
});
