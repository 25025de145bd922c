import { afterEach, describe, expect, test } from 'vitest';
import { fuzzPaging, newPagingSummary, pagingCase, runPagingCase } from '../../bench/fuzz/paging-fuzz.js';
import type { PagingResult } from '../../bench/fuzz/paging-harness.js';
import { GuestWalk, gpteAccess } from '../../mmu/shadow/guest-walk.js';
import { Access, type TableMemory, type WalkContext } from '../../emulator/paging/walker.js';
import { Cr4 } from '../../emulator/arch/control.js';

/**
 * The page-table fuzzer as it now runs (RAM pages restored by comparison, machines reused, chunks
 * on worker threads) still catches an MMU bug: this file plants one in the shadow MMU, and the
 * fuzzer must report the disagreement with bare, while the same cases agree without it.
 *
 * The planted bug: KVM's software walk of the guest tables (FNAME(walk_addr_generic), GuestWalk)
 * reports a failed instruction fetch with the I/D bit (error code bit 4) even when neither
 * EFER.NXE (in PAE or 4-level paging) nor CR4.SMEP is on, where the SDM (Vol. 3 4.7) and the
 * hardware walker leave it clear. Shadow paging injects the #PF its walk computed; the TDP modes
 * let the hardware walker fault, so only shadow differs. KVM's invariant checker does not look at
 * error codes: only the comparison with bare can find this. The planted walk is patched into
 * GuestWalk for this file only and put back after each test.
 */

const original = GuestWalk.prototype.run;

function plantFetchBit(): void {
  GuestWalk.prototype.run = function (this: GuestWalk, ctx: WalkContext, mem: TableMemory, lo: number, hi: number, access: number): boolean {
    const ok = original.call(this, ctx, mem, lo, hi, access);
    if (!ok && (access & Access.FETCH) !== 0) this.errorCode |= Access.FETCH;
    return ok;
  };
}

afterEach(() => { GuestWalk.prototype.run = original; });

/** Seed 1's first 60 cases hold four fetch faults with NXE and SMEP off (19, 40, 56, 57). */
const CASES = 60;

function shadowAndBare(index: number): [PagingResult, PagingResult] {
  const rs = runPagingCase(pagingCase(1, index));
  const bare = rs.get('bare');
  const shadow = rs.get('shadow');
  if (!(bare !== undefined && !(bare instanceof Error) && shadow !== undefined && !(shadow instanceof Error))) throw new Error(`case ${index}: no results`);
  return [bare, shadow];
}

/**
 * A second planted bug, one the invariant checker sees: KVM's walk without FNAME(protect_clean_gpte)
 * lets a read map a clean guest page writable, so a later write would not set the guest's D bit.
 */
function plantNoProtectClean(): void {
  GuestWalk.prototype.run = function (this: GuestWalk, ctx: WalkContext, mem: TableMemory, lo: number, hi: number, access: number): boolean {
    const ok = original.call(this, ctx, mem, lo, hi, access);
    if (ok) this.pteAccess = this.ptAccess[this.level] & gpteAccess(this.gpteLo[this.level], this.gpteHi[this.level], ctx.format.wide, ctx.nxe);
    return ok;
  };
}

describe('the paging fuzzer finds a planted shadow-MMU bug', () => {
  test('without protect_clean_gpte, the harness reports KVM\'s invariant violations as shadow failures', () => {
    plantNoProtectClean();
    const broken = newPagingSummary();
    fuzzPaging(1, 0, 3, broken);
    // The runner's own clean PTEs (0x1023: present, writable, accessed, not dirty) get writable SPTEs.
    expect(broken.failures.map((f) => [f.index, f.mode])).toEqual([[0, 'shadow'], [1, 'shadow'], [2, 'shadow']]);
    for (const f of broken.failures) expect(f.what).toMatch(/^Error: KVM invariant violations: coherent: shadow page gfn 0x[0-9a-f]+ level 1 index \d+ maps gfn 0x[0-9a-f]+, but the guest entry is 0x[0-9a-f]+/);
  });

  test(`a #PF I/D bit without NXE or SMEP: shadow disagrees with bare in ${CASES} cases of seed 1; the real walk agrees`, () => {
    plantFetchBit();
    const broken = newPagingSummary();
    fuzzPaging(1, 0, CASES, broken);
    const indexes = broken.failures.map((f) => f.index);
    expect(indexes.length).toBeGreaterThanOrEqual(2);
    // Only shadow takes its guest #PF from KVM's walk; every report is a disagreement, not a crash.
    for (const f of broken.failures) {
      expect(f.mode).toBe('shadow');
      expect(f.what).toMatch(/^bare \/ shadow: /);
    }
    for (const index of indexes) {
      const c = pagingCase(1, index);
      // The planted bug can only show where the I/D bit is not defined: no NX (32-bit paging has none), no SMEP.
      expect(c.nxe && c.format !== '32-bit').toBe(false);
      expect(c.cr4 & Cr4.SMEP).toBe(0);
      // The first step that differs is a fetch fault whose error code gained exactly bit 4.
      const [bare, shadow] = shadowAndBare(index);
      const k = bare.steps.findIndex((s, j) => JSON.stringify(s) !== JSON.stringify(shadow.steps[j]));
      expect(k).toBeGreaterThanOrEqual(0);
      expect(c.steps[k].access).toBe('fetch');
      expect(bare.steps[k].vector).toBe(14);
      expect(shadow.steps[k]).toEqual({ ...bare.steps[k], errorCode: bare.steps[k].errorCode | 0x10 });
    }
    // The same cases with KVM's walk as it is: no failure.
    GuestWalk.prototype.run = original;
    const fixed = newPagingSummary();
    for (const index of indexes) fuzzPaging(1, index, index + 1, fixed);
    expect(fixed.failures).toEqual([]);
  });
});
