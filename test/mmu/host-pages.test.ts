/**
 * Host-page presence (emulator/machine/host-pages.ts) and KVM's prefetch, which maps a neighbour
 * only when its host page is already faulted in: direct_pte_prefetch_many takes what
 * gfn_to_page_many_atomic (kvm_prefetch_pages since 6.13) pins, i.e. the leading present frames of
 * each run of empty SPTEs, and gives up on the whole group when a run gets none; the shadow MMU's
 * FNAME(pte_prefetch) stops at the first guest PTE whose page is absent. The MMUs are driven on a
 * bare arena (mmu-context.ts); the whole-machine runs check the populate guest against bare mode.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { HostPages } from '../../emulator/machine/host-pages.js';
import { LegacyTdpMmu } from '../../mmu/legacy/legacy-tdp-mmu.js';
import { TdpAccess } from '../../emulator/hw/tdp-walk.js';
import { type MmuMode, Machine } from '../../vmm/machine.js';
import { type Bench, PAGE, addSlot, bench, cpuRole, leafOf, mapFault, tdpRole } from './mmu-context.js';

const BASE = 0x200;

/** A legacy TDP MMU on a bench whose host pages are tracked; guest frame i is host frame hostHfn + i. */
function legacy(): { b: Bench; mmu: LegacyTdpMmu; pages: HostPages; hostHfn: number; root: number } {
  const b = bench({ hostMaxLevel: 1 });
  const slot = addSlot(b, 1, BASE, 64);
  const pages = new HostPages(b.arena.pages);
  (b.ctx as { hostPages?: HostPages }).hostPages = pages;
  const mmu = new LegacyTdpMmu(b.ctx);
  mmu.init(cpuRole(), tdpRole(b));
  const root = mmu.load();
  return { b, mmu, pages, hostHfn: slot.hostHfn, root };
}

/** Guest frames (offsets from BASE) of the first group of 8 that now have a 4 KiB leaf. */
function mapped(b: Bench, root: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < 8; i++) {
    const leaf = leafOf(b, root, (BASE + i) * PAGE);
    if (leaf.level === 1 && b.codec.big.isShadowPresent(leaf.spte)) out.push(i);
  }
  return out;
}

describe('legacy TDP MMU prefetch and host pages', () => {
  test('a first touch with no host page present maps exactly the faulting page', () => {
    const { b, mmu, pages, hostHfn, root } = legacy();
    mapFault(b, mmu, (BASE + 3) * PAGE, TdpAccess.WRITE);
    expect(mapped(b, root)).toEqual([3]);
    expect(b.stats.sptes_prefetched).toBe(0);
    expect(b.stats.sptes_installed_leaf).toBe(1);
    // The slow path faulted the page in, and only it.
    expect(pages.faultedIn).toBe(1);
    expect(pages.isPresent(hostHfn + 3)).toBe(true);
    expect(pages.presentRun(hostHfn, 8)).toBe(0);
  });

  test('neighbours userspace wrote are prefetched', () => {
    const { b, mmu, pages, hostHfn, root } = legacy();
    pages.written(hostHfn * PAGE, 8 * PAGE);
    mapFault(b, mmu, (BASE + 3) * PAGE, TdpAccess.WRITE);
    expect(mapped(b, root)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(b.stats.sptes_prefetched).toBe(7);
    expect(pages.faultedIn).toBe(0); // already present: nothing to fault in
  });

  test('each run of empty SPTEs takes its leading present pages; a run that gets none ends the prefetch', () => {
    // Runs around a fault at 3: [0, 3) and [4, 8). Frames 0, 1 present: the first run maps two.
    // Frames 5, 6 present but 4 not: the second run gets none (gup-fast stops at the first absent page).
    const a = legacy();
    for (const i of [0, 1, 5, 6]) a.pages.written((a.hostHfn + i) * PAGE, 1);
    mapFault(a.b, a.mmu, (BASE + 3) * PAGE, TdpAccess.WRITE);
    expect(mapped(a.b, a.root)).toEqual([0, 1, 3]);
    // Frame 0 absent: the first run gets none, and the second is not tried although 4-7 are present.
    const c = legacy();
    for (const i of [1, 2, 4, 5, 6, 7]) c.pages.written((c.hostHfn + i) * PAGE, 1);
    mapFault(c.b, c.mmu, (BASE + 3) * PAGE, TdpAccess.WRITE);
    expect(mapped(c.b, c.root)).toEqual([3]);
  });

  test('without host-page tracking (as with --host-prefault) every neighbour counts as present', () => {
    const b = bench({ hostMaxLevel: 1 });
    addSlot(b, 1, BASE, 64);
    const mmu = new LegacyTdpMmu(b.ctx);
    mmu.init(cpuRole(), tdpRole(b));
    const root = mmu.load();
    mapFault(b, mmu, (BASE + 3) * PAGE, TdpAccess.WRITE);
    expect(mapped(b, root)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('HostPages', () => {
  test('a host page is 4 KiB, 2 MiB or 1 GiB of frames: touching any frame makes all of it present', () => {
    const p = new HostPages(4 * 512);
    p.written(513 * PAGE + 100, 2); // a userspace store in frame 513
    expect(p.presentRun(512, 4)).toBe(0);
    expect(p.isPresent(513)).toBe(true);
    // Transparent huge pages: the store's 2 MiB page is present whole, the others not.
    p.setPageFrames(512);
    expect(p.presentRun(512, 512)).toBe(512);
    expect(p.isPresent(511) || p.isPresent(1024)).toBe(false);
    p.faultIn(1500);
    expect(p.presentRun(1024, 512)).toBe(512);
    expect(p.faultedIn).toBe(1);
    p.faultIn(1030); // already present: not faulted again
    expect(p.faultedIn).toBe(1);
    // A store that spans two host pages marks both.
    const q = new HostPages(16);
    q.written(3 * PAGE - 1, 2);
    expect([q.isPresent(1), q.isPresent(2), q.isPresent(3), q.isPresent(4)]).toEqual([false, true, true, false]);
    q.populate();
    expect(q.presentRun(0, 16)).toBe(16);
  });
});

describe('a guest first-touching fresh memory (populate, 4 KiB backing)', () => {
  const image = 'build/guests/populate.flat';
  // 1 MiB: 256 pages the guest touches for the first time.
  const PAGES = 256;

  function populate(mmu: MmuMode, hostPrefault = false) {
    const out: Uint8Array[] = [];
    const vm = new Machine({ mmu, backing: '4k', hostPrefault, audit: false, serialOut: (b) => { out.push(b); } });
    vm.loadMultiboot(readFileSync(image), image, 'mib=1');
    const r = vm.run(2e8);
    const text = Buffer.concat(out).toString('latin1');
    // What the guest checked, without its cycle counts (value lines).
    const verdicts = text.split('\n').filter((l) => /^(PASS|FAIL|INFO|SUMMARY)/.test(l)).join('\n');
    return { vm, verdicts, status: r.exitStatus, stats: vm.kvm?.stats };
  }

  test('each fresh page faults on its own in legacy-tdp and shadow; with --host-prefault prefetch covers 7 in 8; results equal bare', () => {
    const bare = populate('bare');
    expect(bare.verdicts).toMatch(/PASS: populate: first touch/);
    for (const mode of ['legacy-tdp', 'shadow'] as const) {
      const fresh = populate(mode);
      const pre = populate(mode, true);
      expect(fresh.verdicts, mode).toBe(bare.verdicts);
      expect(pre.verdicts, mode).toBe(bare.verdicts);
      expect(fresh.status, mode).toBe(bare.status);
      const faults = fresh.stats!.pf_fixed - pre.stats!.pf_fixed;
      // Prefetch saved 7 faults in 8 over the region with every host page present, none without.
      expect(faults, mode).toBeGreaterThanOrEqual((PAGES * 7) / 8);
      expect(pre.stats!.sptes_prefetched - fresh.stats!.sptes_prefetched, mode).toBeGreaterThanOrEqual((PAGES * 7) / 8);
      // KVM's slow path faulted in at least the region's pages; --host-prefault leaves it nothing to do.
      expect(fresh.vm.hostPages.faultedIn, mode).toBeGreaterThanOrEqual(PAGES);
      expect(pre.vm.hostPages.faultedIn, mode).toBe(0);
    }
  });
});
