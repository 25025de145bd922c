/**
 * The cost of bringing a host page in (cost.ts hostPageFault + hostPageClear per 4 KiB frame):
 * a guest fault whose host page is not yet present pays hva_to_pfn's slow path (get_user_pages
 * allocating and clearing the page) outside mmu_lock, in each MMU. The oracle is the same guest
 * with --host-prefault (every page present, nothing to charge) and bare mode for its results.
 * The guest's own populate_cycles (its TSC around the first-touch loop) carry the charge.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { COST } from '../../mmu/cost.js';
import { type MmuMode, Machine } from '../../vmm/machine.js';

const IMAGE = 'build/guests/populate.flat';
// mib=1: 256 pages the guest touches first, from 0x600000 (inside one 2 MiB block).
const PAGES = 256;

function populate(mmu: MmuMode, backing: '4k' | '2m', hostPrefault: boolean) {
  const out: Uint8Array[] = [];
  const vm = new Machine({ mmu, backing, hostPrefault, audit: false, serialOut: (b) => { out.push(b); } });
  vm.loadMultiboot(readFileSync(IMAGE), IMAGE, 'mib=1');
  const r = vm.run(2e8);
  const text = Buffer.concat(out).toString('latin1');
  const verdicts = text.split('\n').filter((l) => /^(PASS|FAIL|INFO|SUMMARY)/.test(l)).join('\n');
  const m = /^populate_cycles_max (\d+)$/m.exec(text);
  if (m === null) throw new Error(`${mmu}: the guest printed no populate_cycles_max:\n${text}`);
  return { vm, verdicts, status: r.exitStatus, cycles: Number(m[1]), stats: vm.kvm?.stats };
}

/**
 * The least a guest fault can cost apart from the host page: the exit round trip, the dispatch
 * and the fault handler (the TDP fault's two halves add up to pageFault). Faults the prefetch saves
 * with --host-prefault account for at most this each of the difference without the charge.
 */
const MIN_FAULT = COST.exitRoundTrip + COST.exitDispatch + COST.pageFault;

describe('host page fault-in cost (hva_to_pfn slow path)', () => {
  test('first-touch populate pays at least pages x (hostPageFault + hostPageClear) more than --host-prefault, in shadow, legacy-tdp and tdp; bare unchanged', () => {
    const bare = populate('bare', '4k', false);
    expect(bare.verdicts).toMatch(/PASS: populate: first touch/);
    expect(populate('bare', '4k', true).verdicts).toBe(bare.verdicts);
    expect(bare.stats).toBeUndefined();
    const perPage = COST.hostPageFault + COST.hostPageClear;
    for (const mode of ['shadow', 'legacy-tdp', 'tdp'] as const) {
      const fresh = populate(mode, '4k', false);
      const pre = populate(mode, '4k', true);
      expect(fresh.verdicts, mode).toBe(bare.verdicts);
      expect(pre.verdicts, mode).toBe(bare.verdicts);
      expect(fresh.status, mode).toBe(bare.status);
      // Every page KVM's slow path brought in was charged once, by the fault that did it.
      expect(fresh.stats!.host_page_faults, mode).toBe(fresh.vm.hostPages.faultedIn);
      expect(fresh.stats!.host_page_faults, mode).toBeGreaterThanOrEqual(PAGES);
      expect(pre.stats!.host_page_faults, mode).toBe(0);
      const extraFaults = fresh.stats!.pf_taken - pre.stats!.pf_taken;
      if (mode === 'tdp') expect(extraFaults, 'the TDP MMU never prefetches').toBe(0);
      expect(extraFaults, mode).toBeGreaterThanOrEqual(0);
      expect(fresh.cycles - pre.cycles, mode).toBeGreaterThanOrEqual(PAGES * perPage + extraFaults * MIN_FAULT);
    }
  });

  test('a THP-backed (2 MiB) host page is cleared whole: one fault-in pays 512 frames', () => {
    const fresh = populate('tdp', '2m', false);
    const pre = populate('tdp', '2m', true);
    expect(fresh.verdicts).toBe(pre.verdicts);
    expect(fresh.stats!.pf_taken).toBe(pre.stats!.pf_taken);
    // The region lies in one 2 MiB block: its first touch brings the whole block in.
    expect(fresh.stats!.host_page_faults).toBeGreaterThanOrEqual(1);
    expect(fresh.vm.hostPages.pageFrames).toBe(512);
    expect(fresh.cycles - pre.cycles).toBeGreaterThanOrEqual(COST.hostPageFault + 512 * COST.hostPageClear);
  });
});
