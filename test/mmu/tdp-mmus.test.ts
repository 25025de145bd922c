/**
 * The two MMUs that serve TDP hardware, the TDP MMU (mmu/tdp) and the legacy TDP MMU
 * (mmu/legacy), driven through the Mmu interface on a bare arena and memslots: no vCPU, no guest,
 * no Kvm. What they build is read back two ways: by walking the tables as written (leafOf) and
 * by the TDP hardware's walker (hwWalk), the oracle for what the CPU would do with it.
 *
 * Expected SPTE contents follow KVM's make_spte (arch/x86/kvm/mmu/spte.c) as the TDP MMU calls it
 * (tdp_mmu_map_handle_target_level: ACC_ALL, not prefetch, host-writable unless the memslot is
 * read-only): R/W/X (EPT) or P/W/U without NX (NPT), A set, D with W, write-back memory type with
 * IPAT on EPT (vmx_get_mt_mask for RAM without non-coherent DMA) and no memory-type bits on NPT.
 */
import { describe, expect, test } from 'vitest';
import { TdpMmu, TdpRootList } from '../../mmu/tdp/tdp-mmu.js';
import { TdpIter } from '../../mmu/tdp/iter.js';
import { LegacyTdpMmu } from '../../mmu/legacy/legacy-tdp-mmu.js';
import { ShadowPageCache } from '../../mmu/shadow-pages/page-cache.js';
import type { MmuContext, TdpCapableMmu } from '../../mmu/mmu.js';
import { TdpOutcome } from '../../emulator/hw/tdp-hardware.js';
import { NpfCode, TdpAccess, TdpFaultKind } from '../../emulator/hw/tdp-walk.js';
import { Request } from '../../mmu/kvm/requests.js';
import { type Hpa, gfn, hpa } from '../../emulator/arch/address.js';
import {
  type Bench, FRAMES_1G, FRAMES_2M, PAGE, addSlot, auditOf, bench, cpuRole, hwWalk, leafOf, mapFault, tdpRole,
} from './mmu-context.js';

const MMUS: ReadonlyArray<readonly [string, (ctx: MmuContext) => TdpCapableMmu]> = [
  ['tdp', (ctx) => new TdpMmu(ctx)],
  ['legacy-tdp', (ctx) => new LegacyTdpMmu(ctx)],
];

const RWX = TdpAccess.READ | TdpAccess.WRITE | TdpAccess.FETCH;

/** An MMU with its default root role loaded. */
function loaded(b: Bench, make: (ctx: MmuContext) => TdpCapableMmu): { mmu: TdpCapableMmu; root: Hpa } {
  const mmu = make(b.ctx);
  mmu.init(cpuRole(), tdpRole(b));
  const root = hpa(mmu.load());
  return { mmu, root };
}

describe.each(MMUS)('%s', (_name, make) => {
  describe('mapping level: 4 KiB, 2 MiB or 1 GiB as the host backing and the memslot allow', () => {
    // Guest frames 0x200.. (GPA 2 MiB), 1024 of them: two whole 2 MiB ranges.
    const BASE = 0x200;
    const GPA = BASE * PAGE + 0x5000 + 0x123;

    function faultOnce(hostMaxLevel: number, npages: number, hostMisalign = 0) {
      const b = bench({ hostMaxLevel });
      const slot = addSlot(b, 1, BASE, npages, { hostMisalign });
      const { mmu, root } = loaded(b, make);
      expect(mapFault(b, mmu, GPA)).toBe(TdpOutcome.RETRY);
      return { b, slot, mmu, root, leaf: leafOf(b, root, GPA), hw: hwWalk(b, root, GPA) };
    }

    test('4 KiB backing maps 4 KiB pages even in a 2 MiB-aligned memslot', () => {
      const { b, slot, leaf, hw } = faultOnce(1, 1024);
      expect(leaf.level).toBe(1);
      expect(b.codec.big.pfn(leaf.spte)).toBe(slot.hostHfn + 5);
      expect(hw.ok).toBe(true);
      expect(hw.r.level).toBe(1);
      expect(hw.r.hostPage).toBe((slot.hostHfn + 5) * PAGE);
      // The legacy MMU prefetches the other 7 frames of the group of 8 (direct_pte_prefetch).
      expect(b.stats.pages_4k).toBe(_name === 'tdp' ? 1 : 8);
      expect(b.stats.pages_2m).toBe(0);
    });

    test('2 MiB backing maps the whole aligned 2 MiB range with one large SPTE', () => {
      const { b, slot, leaf, hw } = faultOnce(2, 1024);
      expect(leaf.level).toBe(2);
      expect(b.codec.big.isLarge(leaf.spte)).toBe(true);
      expect(b.codec.big.pfn(leaf.spte)).toBe(slot.hostHfn); // the first frame of the range
      expect(hw.ok).toBe(true);
      expect(hw.r.level).toBe(2);
      expect(hw.r.hostPage).toBe((slot.hostHfn + 5) * PAGE);
      expect(b.stats.pages_2m).toBe(1);
      expect(b.stats.pages_4k).toBe(0);
    });

    test('2 MiB backing, host frames not 2 MiB-aligned with the guest frames: 4 KiB pages', () => {
      const { leaf, hw, slot } = faultOnce(2, 1024, 1);
      expect(slot.hostHfn % FRAMES_2M).toBe(1);
      expect(leaf.level).toBe(1);
      expect(hw.r.hostPage).toBe((slot.hostHfn + 5) * PAGE);
    });

    test('2 MiB backing, memslot smaller than the 2 MiB range: 4 KiB pages', () => {
      const { leaf, hw, slot } = faultOnce(2, 256);
      expect(leaf.level).toBe(1);
      expect(hw.r.hostPage).toBe((slot.hostHfn + 5) * PAGE);
    });

    test('a 2 MiB range the memslot covers only in part is mapped with 4 KiB pages, the whole one above it large', () => {
      const b = bench({ hostMaxLevel: 2 });
      const slot = addSlot(b, 1, BASE, FRAMES_2M + 100);
      const { mmu, root } = loaded(b, make);
      const whole = BASE * PAGE + 0x3000;
      const partial = (BASE + FRAMES_2M + 7) * PAGE;
      mapFault(b, mmu, whole);
      mapFault(b, mmu, partial);
      expect(leafOf(b, root, whole).level).toBe(2);
      expect(leafOf(b, root, partial).level).toBe(1);
      expect(hwWalk(b, root, partial).r.hostPage).toBe((slot.hostHfn + FRAMES_2M + 7) * PAGE);
      expect(auditOf(mmu)).toEqual([]);
    });

    test('1 GiB backing (hugetlbfs) maps an aligned 1 GiB memslot with one SPTE at level 3; 2 MiB backing does not', () => {
      for (const hostMaxLevel of [3, 2]) {
        const b = bench({ hostMaxLevel, arenaPages: FRAMES_1G + 1024 });
        const slot = addSlot(b, 1, FRAMES_1G, FRAMES_1G, { hostAlign: FRAMES_1G });
        const { mmu, root } = loaded(b, make);
        const gpa = (FRAMES_1G + 0x12345) * PAGE;
        mapFault(b, mmu, gpa);
        const leaf = leafOf(b, root, gpa);
        expect(leaf.level, `hostMaxLevel ${hostMaxLevel}`).toBe(hostMaxLevel);
        const hw = hwWalk(b, root, gpa);
        expect(hw.r.level).toBe(hostMaxLevel);
        expect(hw.r.hostPage).toBe((slot.hostHfn + 0x12345) * PAGE);
        expect(hostMaxLevel === 3 ? b.stats.pages_1g : b.stats.pages_2m).toBe(1);
        expect(auditOf(mmu)).toEqual([]);
      }
    });
  });

  describe('the host backing of a range changes (THP split or collapse): the next fault rebuilds at the new level', () => {
    /** A context whose host mapping level can change between faults, as host pages do. */
    function changing(first: number) {
      const b = bench({ hostMaxLevel: first });
      const slot = addSlot(b, 1, FRAMES_2M, FRAMES_2M);
      const { mmu, root } = loaded(b, make);
      const setLevel = (l: number): void => { (b.ctx as { hostMaxLevel: number }).hostMaxLevel = l; };
      return { b, slot, mmu, root, setLevel };
    }

    test('a 2 MiB leaf is replaced by a table of 4 KiB leaves', () => {
      const { b, slot, mmu, root, setLevel } = changing(2);
      const gpa = FRAMES_2M * PAGE + 0x9000;
      mapFault(b, mmu, gpa);
      expect(leafOf(b, root, gpa).level).toBe(2);
      setLevel(1);
      mapFault(b, mmu, gpa + 0x1000);
      expect(leafOf(b, root, gpa + 0x1000).level).toBe(1);
      expect(hwWalk(b, root, gpa + 0x1000).r.hostPage).toBe((slot.hostHfn + 10) * PAGE);
      expect(b.stats.pages_2m).toBe(0);
      expect(auditOf(mmu)).toEqual([]);
    });

    test('a table of 4 KiB leaves is replaced by a 2 MiB leaf', () => {
      const { b, slot, mmu, root, setLevel } = changing(1);
      const gpa = FRAMES_2M * PAGE + 0x9000;
      mapFault(b, mmu, gpa);
      expect(leafOf(b, root, gpa).level).toBe(1);
      setLevel(2);
      mapFault(b, mmu, gpa + 0x100000);
      expect(leafOf(b, root, gpa).level).toBe(2);
      expect(hwWalk(b, root, gpa).r.hostPage).toBe((slot.hostHfn + 9) * PAGE);
      expect(b.stats.pages_2m).toBe(1);
      expect(auditOf(mmu)).toEqual([]);
    });
  });

  describe('permissions and memory type (make_spte)', () => {
    test('EPT: a RAM leaf is readable, writable and executable, accessed and dirty, WB with IPAT', () => {
      const b = bench({ format: 'ept' });
      addSlot(b, 1, 0, 64);
      const { mmu, root } = loaded(b, make);
      mapFault(b, mmu, 0x3000, TdpAccess.WRITE);
      const { spte } = leafOf(b, root, 0x3000);
      const c = b.codec.big;
      expect(spte & 7n).toBe(7n); // R W X
      expect((spte >> 3n) & 7n).toBe(6n); // memory type WB
      expect(spte & 0x40n).toBe(0x40n); // IPAT: ignore the guest's PAT
      expect(spte & 0x80n).toBe(0n); // not large
      expect([c.isAccessed(spte), c.isDirty(spte), c.isHostWritable(spte), c.isMmuWritable(spte)]).toEqual([true, true, true, true]);
      expect(c.violations(spte, 1)).toEqual([]);
      expect(hwWalk(b, root, 0x3000, RWX).r.allowed).toBe(RWX);
    });

    test('NPT: a RAM leaf is present, writable and user, without NX and without memory-type bits', () => {
      const b = bench({ format: 'x86' });
      addSlot(b, 1, 0, 64);
      const { mmu, root } = loaded(b, make);
      mapFault(b, mmu, 0x3000, TdpAccess.WRITE);
      const { spte } = leafOf(b, root, 0x3000);
      const c = b.codec.big;
      expect(spte & 7n).toBe(7n); // P W U
      expect(spte & (1n << 63n)).toBe(0n); // executable
      expect(spte & 0x18n).toBe(0n); // PWT PCD
      expect(spte & 0x80n).toBe(0n); // PAT (bit 7 of a 4 KiB entry)
      expect([c.isAccessed(spte), c.isDirty(spte), c.isExecutable(spte)]).toEqual([true, true, true]);
      expect(hwWalk(b, root, 0x3000, RWX).ok).toBe(true);
    });

    test('EPT without A/D bits: every SPTE is marked A/D-disabled, and 4 KiB faults prefetch nothing', () => {
      const b = bench({ format: 'ept', eptAdBits: false });
      const slot = addSlot(b, 1, 0, 64);
      const { mmu, root } = loaded(b, make);
      mapFault(b, mmu, 0x3000, TdpAccess.WRITE);
      const AD_DISABLED = 1n << 52n;
      const { spte } = leafOf(b, root, 0x3000);
      expect((spte >> 52n) & 3n).toBe(1n); // SPTE_TDP_AD_DISABLED
      expect(b.codec.big.pfn(spte)).toBe(slot.hostHfn + 3);
      const top = b.arena.view.getBigUint64(root, true);
      expect(top & AD_DISABLED).toBe(AD_DISABLED);
      // Without accessed bits a prefetched SPTE cannot be told from a used one (direct_pte_prefetch).
      expect(b.stats.sptes_prefetched).toBe(0);
      expect(b.codec.big.isShadowPresent(leafOf(b, root, 0x4000).spte)).toBe(false);
      expect(auditOf(mmu)).toEqual([]);
    });

    test('a read-only memslot: reads map without W; writes are emulated and install nothing', () => {
      for (const format of ['ept', 'x86'] as const) {
        const b = bench({ format });
        addSlot(b, 1, 0x10, 16, { readOnly: true });
        const { mmu, root } = loaded(b, make);
        const gpa = 0x12000;
        expect(mapFault(b, mmu, gpa, TdpAccess.WRITE), format).toBe(TdpOutcome.EMULATE_MMIO);
        expect(b.codec.big.isShadowPresent(leafOf(b, root, gpa).spte), format).toBe(false);
        expect(mapFault(b, mmu, gpa, TdpAccess.READ), format).toBe(TdpOutcome.RETRY);
        const { spte } = leafOf(b, root, gpa);
        const c = b.codec.big;
        expect([c.isWritable(spte), c.isHostWritable(spte), c.isMmuWritable(spte), c.isExecutable(spte)], format).toEqual([false, false, false, true]);
        expect(hwWalk(b, root, gpa, TdpAccess.READ).ok, format).toBe(true);
        expect(hwWalk(b, root, gpa, TdpAccess.WRITE).ok, format).toBe(false);
      }
    });

    test('a second fault on a mapped page is spurious and changes nothing', () => {
      const b = bench();
      addSlot(b, 1, 0, 64);
      const { mmu, root } = loaded(b, make);
      mapFault(b, mmu, 0x5000);
      const before = leafOf(b, root, 0x5000).spte;
      const allocated = b.stats.mmu_pages_allocated;
      expect(mapFault(b, mmu, 0x5000)).toBe(TdpOutcome.RETRY);
      expect(b.stats.pf_spurious).toBe(1);
      expect(leafOf(b, root, 0x5000).spte).toBe(before);
      expect(b.stats.mmu_pages_allocated).toBe(allocated);
    });
  });

  describe('MMIO SPTEs', () => {
    const MMIO_GPA = 0xfee00000;

    test('a frame with no memslot gets an MMIO SPTE stamped with the memslot generation, and traps in hardware', () => {
      for (const format of ['ept', 'x86'] as const) {
        const b = bench({ format });
        addSlot(b, 1, 0, 64);
        addSlot(b, 2, 0x100, 64); // generation 4
        const { mmu, root } = loaded(b, make);
        expect(mapFault(b, mmu, MMIO_GPA + 0x30, TdpAccess.WRITE), format).toBe(TdpOutcome.EMULATE_MMIO);
        const leaf = leafOf(b, root, MMIO_GPA);
        const c = b.codec.big;
        expect(leaf.level, format).toBe(1);
        expect(c.isMmio(leaf.spte), format).toBe(true);
        expect(c.isShadowPresent(leaf.spte), format).toBe(false);
        expect(c.mmioGfn(leaf.spte), format).toBe(MMIO_GPA / PAGE);
        expect(c.mmioGeneration(leaf.spte), format).toBe(4);
        expect(b.stats.pf_mmio_spte_created, format).toBe(1);
        // get_mmio_spte's walk ends at it, with no reserved bit in a present SPTE above it.
        const walk = mmu.mmioWalk(MMIO_GPA % 2 ** 32, 0);
        const [lo, hi, level] = walk[walk.length - 1];
        expect(BigInt(hi >>> 0) << 32n | BigInt(lo >>> 0), format).toBe(leaf.spte);
        expect(level, format).toBe(1);
        expect(walk.some(([l, h]) => b.codec.isShadowPresent(l, h) && b.codec.shadowZeroBitsSet(l, h)), format).toBe(false);
        // The hardware must exit on it: EPT misconfiguration, or an NPF with RSVD.
        const hw = hwWalk(b, root, MMIO_GPA, TdpAccess.READ);
        expect(hw.ok, format).toBe(false);
        if (format === 'ept') expect(hw.r.fault).toBe(TdpFaultKind.EPT_MISCONFIG);
        else expect(hw.r.code & NpfCode.RSVD).toBe(NpfCode.RSVD);
        expect(auditOf(mmu), format).toEqual([]);
      }
    });

    test('after a memslot appears over an MMIO frame the old generation no longer matches, and a new fault maps the RAM', () => {
      const b = bench();
      addSlot(b, 1, 0, 64);
      const { mmu, root } = loaded(b, make);
      mapFault(b, mmu, 0x100000);
      const stale = leafOf(b, root, 0x100000).spte;
      expect(b.codec.big.mmioGeneration(stale)).toBe(b.memslots.generation);
      const slot = addSlot(b, 2, 0x100, 16, { hostAlign: 1 });
      expect(b.codec.big.mmioGeneration(stale)).not.toBe(b.memslots.generation % b.codec.genModulus);
      expect(auditOf(mmu)).toEqual([]); // a stale-generation MMIO SPTE over RAM is allowed (inv15 is about the current one)
      expect(mapFault(b, mmu, 0x100000)).toBe(TdpOutcome.RETRY);
      expect(hwWalk(b, root, 0x100000).r.hostPage).toBe(slot.hostHfn * PAGE);
    });
  });

  describe('roots', () => {
    test('one root per role: the same role finds the same root, another role gets its own', () => {
      const b = bench();
      addSlot(b, 1, 0, 64);
      const mmu = make(b.ctx);
      mmu.init(cpuRole(), tdpRole(b));
      const a = mmu.load();
      expect(mmu.currentRoot()).toBe(a);
      mmu.unload();
      expect(mmu.currentRoot()).toBe(-1);
      expect(mmu.load()).toBe(a);
      expect(b.stats.root_alloc).toBe(1);
      expect(b.stats.root_reuse).toBe(1);
      // SMM is another address space: another root.
      mmu.unload();
      mmu.init(cpuRole(true), tdpRole(b, true));
      const s = mmu.load();
      expect(s).not.toBe(a);
      expect(b.stats.root_alloc).toBe(2);
      mmu.unload();
      mmu.init(cpuRole(), tdpRole(b));
      expect(mmu.load()).toBe(a);
      // The TDP MMU keeps the SMM root in its list (persistent); in the legacy MMU an unloaded
      // root is a shadow page with root_count 0, found in the hash but no longer counted a root.
      expect(mmu.validRoots()).toBe(_name === 'tdp' ? 2 : 1);
      expect(mmu.rootIncarnation(a as Hpa)).toBe(1);
    });

    test('SPTEs built under a root survive unloading it and are there when it is loaded again', () => {
      const b = bench();
      const slot = addSlot(b, 1, 0, 64);
      const { mmu, root } = loaded(b, make);
      mapFault(b, mmu, 0x7000);
      mmu.unload();
      expect(mmu.load()).toBe(root);
      expect(hwWalk(b, root, 0x7000).r.hostPage).toBe((slot.hostHfn + 7) * PAGE);
    });

    test('zapAllFast obsoletes every root; the loaded one is freed by freeObsoleteRoots, and the next load starts empty', () => {
      const b = bench();
      addSlot(b, 1, 0, 64);
      const { mmu, root } = loaded(b, make);
      const guestPages = b.arena.pagesInUse - 1; // all but the root
      mapFault(b, mmu, 0x7000);
      b.requests.bits = 0;
      mmu.zapAllFast();
      expect(mmu.validRoots()).toBe(0);
      expect(b.requests.check(Request.FREE_OBSOLETE_ROOTS)).toBe(true);
      expect(mmu.currentRoot()).toBe(root); // still loaded until the request is served
      mmu.freeObsoleteRoots();
      expect(mmu.currentRoot()).toBe(-1);
      expect(b.stats.root_freed).toBe(1);
      expect(b.arena.pagesInUse).toBe(guestPages); // every table page went back
      expect(b.stats.pages_4k).toBe(0);
      const again = mmu.load();
      expect(b.stats.root_alloc).toBe(2);
      expect(b.codec.big.isShadowPresent(leafOf(b, again, 0x7000).spte)).toBe(false);
      // The page was reused (LIFO): it is a new incarnation of the same address.
      expect(again).toBe(root);
      expect(mmu.rootIncarnation(again as Hpa)).toBe(2);
      expect(auditOf(mmu)).toEqual([]);
    });

    test('freeObsoleteRoots leaves a valid loaded root alone', () => {
      const b = bench();
      addSlot(b, 1, 0, 64);
      const { mmu, root } = loaded(b, make);
      mmu.freeObsoleteRoots();
      expect(mmu.currentRoot()).toBe(root);
      expect(b.stats.root_freed).toBe(0);
    });
  });

  describe('memslot deletion and move (kvm_arch_flush_shadow_memslot zaps everything fast)', () => {
    test('a deleted memslot leaves stale leaves the checker reports until the zap; afterwards the frame is MMIO', () => {
      const b = bench();
      addSlot(b, 1, 0, 64);
      addSlot(b, 2, 0x100, 64, { hostAlign: 1 });
      const { mmu } = loaded(b, make);
      mapFault(b, mmu, 0x105000);
      b.memslots.remove(2);
      expect(auditOf(mmu).some((v) => v.startsWith('inv7:') && v.includes('0x105'))).toBe(true);
      mmu.zapAllFast();
      mmu.freeObsoleteRoots();
      const root = mmu.load();
      expect(auditOf(mmu)).toEqual([]);
      expect(mapFault(b, mmu, 0x105000)).toBe(TdpOutcome.EMULATE_MMIO);
      expect(b.codec.big.isMmio(leafOf(b, root, 0x105000).spte)).toBe(true);
    });

    test('a moved memslot: after the zap its frames map at the new address to the same host pages', () => {
      const b = bench();
      const slot = addSlot(b, 1, 0x100, 64, { hostAlign: 1 });
      const { mmu } = loaded(b, make);
      mapFault(b, mmu, 0x103000);
      b.memslots.move(1, gfn(0x400));
      expect(auditOf(mmu).some((v) => v.startsWith('inv7:'))).toBe(true);
      mmu.zapAllFast();
      mmu.freeObsoleteRoots();
      const root = mmu.load();
      mapFault(b, mmu, 0x403000);
      expect(hwWalk(b, root, 0x403000).r.hostPage).toBe((slot.hostHfn + 3) * PAGE);
      expect(b.codec.big.isShadowPresent(leafOf(b, root, 0x103000).spte)).toBe(false);
      expect(auditOf(mmu)).toEqual([]);
    });
  });

  describe('the checker finds corruption written into the tables', () => {
    function mapped() {
      const b = bench();
      addSlot(b, 1, 0, 64);
      addSlot(b, 2, 0x100, 64, { hostAlign: 1 });
      const { mmu, root } = loaded(b, make);
      mapFault(b, mmu, 0x3000, TdpAccess.WRITE);
      mapFault(b, mmu, 0x300000); // MMIO
      expect(auditOf(mmu)).toEqual([]);
      return { b, mmu, root };
    }

    test('a leaf pointing at the wrong host page (inv7)', () => {
      const { b, mmu, root } = mapped();
      const leaf = leafOf(b, root, 0x3000);
      b.arena.view.setBigUint64(leaf.sptep, leaf.spte + (1n << 12n), true);
      expect(auditOf(mmu).filter((v) => v.startsWith('inv7:')).length).toBe(1);
    });

    test('a writable leaf without the MMU-writable bit (inv6)', () => {
      const { b, mmu, root } = mapped();
      const leaf = leafOf(b, root, 0x3000);
      b.arena.view.setBigUint64(leaf.sptep, leaf.spte & ~b.codec.masks.mmuWritable, true);
      expect(auditOf(mmu).some((v) => v.startsWith('inv6: writable SPTE is not MMU-writable'))).toBe(true);
    });

    test('an MMIO SPTE of the current generation where a memslot maps RAM', () => {
      const { b, mmu, root } = mapped();
      const leaf = leafOf(b, root, 0x3000);
      b.arena.view.setBigUint64(leaf.sptep, b.codec.big.makeMmioSpte(3, 0, b.memslots.generation), true);
      // The TDP MMU checks MMIO SPTEs against the memslots (inv15); the cache-based checker does
      // not, and finds instead the leaf that vanished from under its rmap (inv10).
      const expected = _name === 'tdp' ? 'inv15: MMIO SPTE of the current generation for gfn 0x3' : 'inv10: rmap of gfn 0x3';
      expect(auditOf(mmu).some((v) => v.startsWith(expected))).toBe(true);
    });
  });
});

describe('tdp: root lifetime (kvm-mmu.md 4.5, lkml (c))', () => {
  test('persistent roots: unloading keeps the root and its SPTEs; a zap frees an unloaded root at once', () => {
    const b = bench({ knobs: { tdpRootLifetime: 'persistent' } });
    addSlot(b, 1, 0, 64);
    const { mmu, root } = loaded(b, (ctx) => new TdpMmu(ctx));
    mapFault(b, mmu, 0x1000);
    mmu.unload();
    expect(b.stats.root_freed).toBe(0);
    expect(mmu.validRoots()).toBe(1);
    expect(b.codec.big.isShadowPresent(leafOf(b, root, 0x1000).spte)).toBe(true);
    mmu.zapAllFast();
    expect(b.stats.root_freed).toBe(1);
    expect(b.stats.root_invalidated).toBe(1);
  });

  test('vcpu-refcount (before 6.4): unloading the last reference zaps and frees the root', () => {
    const b = bench({ knobs: { tdpRootLifetime: 'vcpu-refcount' } });
    addSlot(b, 1, 0, 64);
    const mmu = new TdpMmu(b.ctx);
    mmu.init(cpuRole(), tdpRole(b));
    const before = b.arena.pagesInUse;
    const root = mmu.load();
    mapFault(b, mmu, 0x1000);
    mmu.unload();
    expect(b.stats.root_freed).toBe(1);
    expect(mmu.validRoots()).toBe(0);
    expect(b.arena.pagesInUse).toBe(before);
    expect(b.stats.pages_4k).toBe(0);
    expect(b.stats.sptes_zapped).toBeGreaterThan(0);
    expect(mmu.load()).toBe(root);
    expect(mmu.rootIncarnation(root)).toBe(2);
    expect(b.stats.root_alloc).toBe(2);
  });

  test('flush-on-free (before 5.18) requests a TLB flush when a root is freed; defer-to-alloc does not', () => {
    for (const tdpFreeFlush of ['flush-on-free', 'defer-to-alloc'] as const) {
      const b = bench({ knobs: { tdpRootLifetime: 'vcpu-refcount', tdpFreeFlush } });
      const { mmu } = loaded(b, (ctx) => new TdpMmu(ctx));
      b.requests.bits = 0;
      mmu.unload();
      expect(b.requests.check(Request.TLB_FLUSH), tdpFreeFlush).toBe(tdpFreeFlush === 'flush-on-free');
    }
  });
});

describe('legacy-tdp: roots are shadow pages in the hash', () => {
  test('an unloaded root stays in the hash with its SPTEs and is found again; a zap frees it only when unloaded', () => {
    const b = bench();
    addSlot(b, 1, 0, 64);
    const mmu = new LegacyTdpMmu(b.ctx);
    mmu.init(cpuRole(), tdpRole(b));
    const root = mmu.load();
    mapFault(b, mmu, 0x2000);
    mmu.unload();
    expect(mmu.cache.byHpa.has(root)).toBe(true);
    expect(mmu.load()).toBe(root);
    expect(b.stats.root_reuse).toBe(1);
    mmu.zapAllFast();
    // Still loaded: invalid, out of the active list, not freed.
    expect(mmu.cache.byHpa.get(root)?.invalid).toBe(true);
    expect(mmu.cache.active.length).toBe(0);
    mmu.freeObsoleteRoots();
    expect(mmu.cache.byHpa.size).toBe(0);
    expect(b.stats.mmu_pages_freed).toBe(b.stats.mmu_pages_allocated);
  });

  test('a 4 KiB fault prefetches the empty neighbours of its group of 8 in the same memslot, not accessed', () => {
    const b = bench();
    const slot = addSlot(b, 1, 0, 64);
    const mmu = new LegacyTdpMmu(b.ctx);
    mmu.init(cpuRole(), tdpRole(b));
    const root = mmu.load();
    mapFault(b, mmu, 0xb000); // gfn 11: group 8..15
    expect(b.stats.sptes_prefetched).toBe(7);
    for (let gfn = 8; gfn < 16; gfn++) {
      const { spte } = leafOf(b, root, gfn * PAGE);
      expect(b.codec.big.pfn(spte), `gfn ${gfn}`).toBe(slot.hostHfn + gfn);
      expect(b.codec.big.isAccessed(spte), `gfn ${gfn}`).toBe(gfn === 11);
    }
    expect(b.codec.big.isShadowPresent(leafOf(b, root, 16 * PAGE).spte)).toBe(false);
    expect(b.stats.pages_4k).toBe(8);
    expect(auditOf(mmu)).toEqual([]);
  });

  test('past the page limit the oldest pages are recycled; the root stays and every new mapping is right', () => {
    const b = bench();
    // 100 one-page memslots, each in its own 2 MiB range: every fault needs a new level-1 page.
    const slots = Array.from({ length: 100 }, (_, k) => addSlot(b, k + 1, k * FRAMES_2M, 1, { hostAlign: 1 }));
    const mmu = new LegacyTdpMmu(b.ctx);
    mmu.cache.maxPages = 64;
    mmu.init(cpuRole(), tdpRole(b));
    const root = mmu.load();
    for (const s of slots) {
      mapFault(b, mmu, s.baseGfn * PAGE);
      expect(hwWalk(b, root, s.baseGfn * PAGE).r.hostPage).toBe(s.hostHfn * PAGE);
      expect(mmu.cache.byHpa.size).toBeLessThanOrEqual(64);
    }
    expect(b.stats.mmu_recycled).toBeGreaterThan(0);
    expect(mmu.currentRoot()).toBe(root);
    expect(mmu.cache.byHpa.get(root)?.invalid).toBe(false);
    expect(auditOf(mmu)).toEqual([]);
  });

  test('the checker finds a leaf missing from its rmap, an rmap entry gone stale, and a link to no shadow page', () => {
    const b = bench();
    const slot = addSlot(b, 1, 0, 64);
    const mmu = new LegacyTdpMmu(b.ctx);
    mmu.init(cpuRole(), tdpRole(b));
    const root = mmu.load();
    mapFault(b, mmu, 0x3000);
    expect(auditOf(mmu)).toEqual([]);
    const leaf = leafOf(b, root, 0x3000);
    // A correct leaf for gfn 20 written into its empty entry behind the MMU's back: in no rmap.
    const stray = leaf.sptep - (leaf.sptep % PAGE) + 20 * 8;
    b.arena.view.setBigUint64(stray, b.codec.big.makeSpte(slot.hostHfn + 20, 1, 7, true, true, false), true);
    expect(auditOf(mmu).some((v) => v.startsWith('inv10: leaf SPTE'))).toBe(true);
    b.arena.view.setBigUint64(stray, 0n, true);
    // The rmapped leaf cleared behind the rmap's back.
    b.arena.view.setBigUint64(leaf.sptep, 0n, true);
    expect(auditOf(mmu).some((v) => v.startsWith('inv10: rmap of gfn 0x3'))).toBe(true);
    // The root's entry pointing at a page that is no shadow page.
    const top = root + 8 * 1;
    b.arena.view.setBigUint64(top, b.codec.big.makeNonLeafSpte(1), true);
    expect(auditOf(mmu).some((v) => v.startsWith('inv11:'))).toBe(true);
  });
});

describe('tdp_iter: the pre-order walk over one root', () => {
  test('visits the entries of a range in GPA order, stepping into tables and not past the range', () => {
    const b = bench();
    addSlot(b, 1, 0, 2 * FRAMES_2M);
    const { mmu, root } = loaded(b, (ctx) => new TdpMmu(ctx));
    for (const gfn of [3, 4, 700, 5]) mapFault(b, mmu, gfn * PAGE);
    const it = new TdpIter(b.arena.view, b.codec);
    const leaves: number[] = [];
    const levels = new Set<number>();
    for (it.start(root, 4, gfn(4), gfn(701)); it.valid; it.next()) {
      levels.add(it.level);
      expect(it.sptep).toBe(leafOrTableAt(b, root, it.gfn, it.level));
      if (it.level === 1 && b.codec.big.isShadowPresent(BigInt.asUintN(64, BigInt(it.hi) << 32n | BigInt(it.lo >>> 0)))) leaves.push(it.gfn);
    }
    expect(leaves).toEqual([4, 5, 700]); // gfn 3 is before the range
    expect([...levels].sort()).toEqual([1, 2, 3, 4]);
  });

  test('with a minimum level it does not step below it', () => {
    const b = bench();
    addSlot(b, 1, 0, 64);
    const { mmu, root } = loaded(b, (ctx) => new TdpMmu(ctx));
    mapFault(b, mmu, 0x5000);
    const it = new TdpIter(b.arena.view, b.codec);
    let lowest = 5;
    for (it.start(root, 4, gfn(0), gfn(512), 2); it.valid; it.next()) lowest = Math.min(lowest, it.level);
    expect(lowest).toBe(2);
  });
});

describe('MMIO generation in few bits (mmioGenBits)', () => {
  test('the generation stamped in an MMIO SPTE wraps with the field width', () => {
    const b = bench({ knobs: { mmioGenBits: 3 } });
    addSlot(b, 1, 0, 16);
    for (let k = 2; k <= 4; k++) addSlot(b, k, 0x100 * k, 1, { hostAlign: 1 }); // generation 8
    expect(b.memslots.generation).toBe(8);
    const { mmu, root } = loaded(b, (ctx) => new TdpMmu(ctx));
    mapFault(b, mmu, 0x80000000);
    expect(b.codec.big.mmioGeneration(leafOf(b, root, 0x80000000).spte)).toBe(0);
  });
});

/** Host address of the entry at `level` on the path to `gfn` (tables as written). */
function leafOrTableAt(b: Bench, root: number, gfn: number, level: number): number {
  let table = root;
  for (let l = 4; ; l--) {
    const sptep = table + (Math.floor(gfn / 512 ** (l - 1)) % 512) * 8;
    if (l === level) return sptep;
    table = b.codec.big.pfn(b.arena.view.getBigUint64(sptep, true)) * PAGE;
  }
}

describe('two vCPUs over one VM: the TDP root list and the shadow-page cache are shared', () => {
  const PAIRS: ReadonlyArray<readonly [string, (ctx: MmuContext) => [TdpCapableMmu, TdpCapableMmu]]> = [
    ['tdp', (ctx) => { const list = new TdpRootList(); return [new TdpMmu(ctx, list), new TdpMmu(ctx, list)]; }],
    ['legacy-tdp', (ctx) => { const cache = new ShadowPageCache(ctx); return [new LegacyTdpMmu(ctx, cache), new LegacyTdpMmu(ctx, cache)]; }],
  ];

  test.each(PAIRS)('%s: the second vCPU finds the first one\'s root and its SPTEs; another role gets its own root', (_n, makePair) => {
    const b = bench();
    const slot = addSlot(b, 1, 0, 64);
    const [cpu0, cpu1] = makePair(b.ctx);
    cpu0.init(cpuRole(), tdpRole(b));
    cpu1.init(cpuRole(), tdpRole(b));
    const root = cpu0.load();
    mapFault(b, cpu0, 0x6000);
    expect(cpu1.load()).toBe(root);
    expect(b.stats.root_alloc).toBe(1);
    expect(b.stats.root_reuse).toBe(1);
    expect(hwWalk(b, cpu1.currentRoot(), 0x6000).r.hostPage).toBe((slot.hostHfn + 6) * PAGE);
    cpu1.unload();
    cpu1.init(cpuRole(true), tdpRole(b, true));
    expect(cpu1.load()).not.toBe(root);
    expect(b.stats.root_alloc).toBe(2);
    expect(cpu0.validRoots()).toBe(2);
  });

  test.each(PAIRS)('%s: a fast zap by one vCPU obsoletes the root the other has loaded; each frees it on its next entry', (_n, makePair) => {
    const b = bench();
    addSlot(b, 1, 0, 64);
    const guestPages = b.arena.pagesInUse;
    const [cpu0, cpu1] = makePair(b.ctx);
    cpu0.init(cpuRole(), tdpRole(b));
    cpu1.init(cpuRole(), tdpRole(b));
    const root = cpu0.load();
    cpu1.load();
    mapFault(b, cpu0, 0x6000);
    b.requests.bits = 0;
    cpu0.zapAllFast();
    expect(b.requests.check(Request.FREE_OBSOLETE_ROOTS)).toBe(true);
    expect(cpu1.validRoots()).toBe(0);
    cpu0.freeObsoleteRoots();
    expect(cpu1.currentRoot()).toBe(root); // still loaded by the other vCPU: not freed yet
    expect(b.stats.root_freed).toBe(0);
    cpu1.freeObsoleteRoots();
    expect(b.stats.root_freed).toBe(1);
    expect(b.arena.pagesInUse).toBe(guestPages);
    expect(auditOf(cpu0)).toEqual([]);
  });
});
