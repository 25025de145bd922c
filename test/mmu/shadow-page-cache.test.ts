/**
 * The shadow-page cache and the SPTE installer the shadow MMU and the legacy TDP MMU share
 * (mmu/shadow-pages: page-cache.ts, map.ts, shadow-walk.ts), on a bare arena and memslots. The
 * behaviours are KVM's mmu.c: one live page per (gfn, role) in the hash, obsolete pages after a
 * generation bump, write protection and large-page disallow for frames holding shadowed guest
 * tables (account_shadowed), unsync of level-1 pages (mmu_try_to_unsync_pages), zapping with
 * rmaps and parent links, and recycling under the page limit (make_mmu_pages_available).
 */
import { describe, expect, test } from 'vitest';
import { ShadowPageCache, type ShadowPage } from '../../mmu/shadow-pages/page-cache.js';
import { ShadowMapper } from '../../mmu/shadow-pages/map.js';
import { PfResult } from '../../mmu/page-fault-record.js';
import { ShadowWalk } from '../../mmu/shadow-pages/shadow-walk.js';
import { pageIndex } from '../../emulator/arch/address.js';
import { auditShadow } from '../../mmu/shadow/audit.js';
import { packRole } from '../../mmu/role.js';
import { ACC_ALL } from '../../mmu/spte.js';
import { Request } from '../../mmu/kvm/requests.js';
import type { Memslot } from '../../emulator/machine/memslots.js';
import { type Bench, FRAMES_2M, PAGE, addSlot, bench, faultRecord, spteAt } from './mmu-context.js';
import { type Gfn, type Sptep, sptepAt } from '../../emulator/arch/address.js';

/** Roles of direct pages (TDP, or a guest large page split) and of pages shadowing guest tables. */
const direct = (level: number, access = ACC_ALL): number => packRole({ level, direct: true, access, cr0_wp: true, efer_nx: true });
const indirect = (level: number): number => packRole({ level, access: ACC_ALL, cr0_wp: true, efer_nx: true });

function setup(opts: { hostMaxLevel?: number } = {}): { b: Bench; slot: Memslot; cache: ShadowPageCache; mapper: ShadowMapper } {
  const b = bench({ format: 'x86', hostMaxLevel: opts.hostMaxLevel ?? 1 });
  const slot = addSlot(b, 1, 0, 2 * FRAMES_2M);
  const cache = new ShadowPageCache(b.ctx);
  return { b, slot, cache, mapper: new ShadowMapper(b.ctx, cache) };
}

function audit(b: Bench, cache: ShadowPageCache): string[] {
  const out: string[] = [];
  auditShadow(b.ctx, cache, undefined, out);
  return out;
}

/** Maps gfn with a writable 4 KiB leaf in the direct level-1 page covering it; returns the SPTE's address. */
function mapLeaf(s: ReturnType<typeof setup>, gfn: number): Sptep {
  const base = gfn - (gfn % 512);
  const sp = s.cache.get(base as Gfn, direct(1)).sp;
  const sptep = sptepAt(sp.hpa, gfn - base);
  expect(s.mapper.setSpte(sptep, ACC_ALL, gfn as Gfn, s.slot, faultRecord(true))).toBe(PfResult.FIXED);
  return sptep;
}

describe('the hash: one live page per (gfn, role)', () => {
  test('the same gfn and role find the same page; a different role or gfn makes another', () => {
    const { b, cache } = setup();
    const a = cache.get(0x10 as Gfn, direct(1));
    expect(a.created).toBe(true);
    const again = cache.get(0x10 as Gfn, direct(1));
    expect(again.created).toBe(false);
    expect(again.sp).toBe(a.sp);
    expect(cache.get(0x10 as Gfn, direct(1, 5)).sp).not.toBe(a.sp); // another access: another page
    expect(cache.get(0x10 as Gfn, direct(2)).sp).not.toBe(a.sp);
    expect(cache.get(0x11 as Gfn, direct(1)).sp).not.toBe(a.sp);
    expect(b.stats.mmu_cache_miss).toBe(4);
    expect(cache.byHpa.size).toBe(4);
    expect(audit(b, cache)).toEqual([]);
  });

  test('gfns in the same bucket are told apart and counted as collisions', () => {
    const { b, cache } = setup();
    const one = cache.get(0x10 as Gfn, direct(1)).sp;
    const two = cache.get((0x10 + 4096) as Gfn, direct(1)).sp;
    expect(two).not.toBe(one);
    expect(cache.find((0x10 + 4096) as Gfn, direct(1))).toBe(two);
    expect(b.stats.max_mmu_page_hash_collisions).toBe(1);
  });

  test('after a generation bump the old page is obsolete: missed by lookups and replaced, with no duplicate reported', () => {
    const { b, cache } = setup();
    const old = cache.get(0x10 as Gfn, direct(1)).sp;
    cache.validGen++;
    expect(cache.isObsolete(old)).toBe(true);
    expect(cache.find(0x10 as Gfn, direct(1))).toBeUndefined();
    const fresh = cache.get(0x10 as Gfn, direct(1));
    expect(fresh.created).toBe(true);
    expect(audit(b, cache)).toEqual([]);
    expect(cache.zapObsolete()).toBe(1);
    expect(cache.byHpa.has(old.hpa)).toBe(false);
    expect(cache.byHpa.has(fresh.sp.hpa)).toBe(true);
  });

  test('the checker finds two live pages for one (gfn, role) (inv12)', () => {
    const { b, cache } = setup();
    const sp = cache.get(0x10 as Gfn, direct(1)).sp;
    cache.active.push(sp); // the same page listed twice, as a duplicate would be
    expect(audit(b, cache).some((v) => v.startsWith('inv12:'))).toBe(true);
  });
});

describe('frames holding shadowed guest tables (account_shadowed)', () => {
  test('a page shadowing a guest table write-protects the frame: its writable leaf loses W and a flush is requested', () => {
    const s = setup();
    const sptep = mapLeaf(s, 0x33);
    expect(s.b.codec.big.isWritable(spteAt(s.b, sptep))).toBe(true);
    s.b.requests.bits = 0;
    s.cache.get(0x33 as Gfn, indirect(1));
    const spte = spteAt(s.b, sptep);
    expect(s.b.codec.big.isWritable(spte)).toBe(false);
    expect(s.b.codec.big.isMmuWritable(spte)).toBe(false);
    expect(s.b.codec.big.isShadowPresent(spte)).toBe(true);
    expect(s.b.requests.check(Request.TLB_FLUSH)).toBe(true);
    expect(s.b.stats.write_protect_gfn).toBe(1);
    expect(audit(s.b, s.cache)).toEqual([]);
  });

  test('no huge mapping may cover a shadowed guest table; zapping its shadow page allows it again', () => {
    const s = setup({ hostMaxLevel: 2 });
    expect(s.mapper.mappingLevel(s.slot, 0x40 as Gfn, 3)).toBe(2);
    const { sp } = s.cache.get(0x40 as Gfn, indirect(1));
    expect(s.cache.lpageDisallowed(0x40 as Gfn, 2)).toBe(true);
    expect(s.cache.lpageDisallowed(0x1ff as Gfn, 2)).toBe(true); // the whole 2 MiB range
    expect(s.cache.lpageDisallowed(0x200 as Gfn, 2)).toBe(false);
    expect(s.mapper.mappingLevel(s.slot, 0x41 as Gfn, 3)).toBe(1);
    expect(s.mapper.mappingLevel(s.slot, 0x241 as Gfn, 3)).toBe(2);
    s.cache.zap(sp);
    expect(s.cache.lpageDisallowed(0x40 as Gfn, 2)).toBe(false);
    expect(s.mapper.mappingLevel(s.slot, 0x41 as Gfn, 3)).toBe(2);
  });

  test('upper-level guest tables are write-tracked (they never go unsync); leaf tables are not', () => {
    const s = setup();
    s.cache.get(0x50 as Gfn, indirect(1));
    const upper = s.cache.get(0x60 as Gfn, indirect(2)).sp;
    expect(s.cache.isWriteTracked(0x50 as Gfn)).toBe(false);
    expect(s.cache.isWriteTracked(0x60 as Gfn)).toBe(true);
    s.cache.zap(upper);
    expect(s.cache.isWriteTracked(0x60 as Gfn)).toBe(false);
    expect(s.cache.indirectShadowPages).toBe(1);
  });
});

describe('unsync (mmu_try_to_unsync_pages)', () => {
  test('a write fault on a frame shadowed at level 1 marks that page unsync and maps the frame writable', () => {
    const s = setup();
    const table = s.cache.get(0x70 as Gfn, indirect(1)).sp;
    const sptep = mapLeaf(s, 0x70);
    expect(table.unsync).toBe(true);
    expect(s.b.stats.mmu_unsync).toBe(1);
    expect(s.b.codec.big.isWritable(spteAt(s.b, sptep))).toBe(true);
  });

  test('a frame shadowed by an upper-level page stays read-only, and a write fault reports it', () => {
    const s = setup();
    s.cache.get(0x70 as Gfn, indirect(2));
    const base = 0;
    const sp = s.cache.get(base as Gfn, direct(1)).sp;
    const sptep = sptepAt(sp.hpa, 0x70);
    expect(s.mapper.setSpte(sptep, ACC_ALL, 0x70 as Gfn, s.slot, faultRecord(true))).toBe(PfResult.WRITE_PROTECTED);
    const spte = spteAt(s.b, sptep);
    expect(s.b.codec.big.isShadowPresent(spte)).toBe(true);
    expect(s.b.codec.big.isWritable(spte)).toBe(false);
    expect(audit(s.b, s.cache)).toEqual([]);
  });

  test('a prefetch never unsyncs: the leaf is made read-only instead', () => {
    const s = setup();
    const table = s.cache.get(0x70 as Gfn, indirect(1)).sp;
    const sp = s.cache.get(0 as Gfn, direct(1)).sp;
    const sptep = sptepAt(sp.hpa, 0x70);
    s.mapper.setSpte(sptep, ACC_ALL, 0x70 as Gfn, s.slot, null);
    expect(table.unsync).toBe(false);
    expect(s.b.codec.big.isWritable(spteAt(s.b, sptep))).toBe(false);
    expect(s.b.codec.big.isAccessed(spteAt(s.b, sptep))).toBe(false);
  });

  test('an unsync page linked under a parent marks the parent, and the unsync walk finds it', () => {
    const s = setup();
    const parent = s.cache.get(0 as Gfn, direct(2)).sp;
    const child = s.cache.get(0x80 as Gfn, indirect(1)).sp;
    mapLeaf(s, 0x80); // unsyncs child
    s.cache.link(sptepAt(parent.hpa, 3), child);
    expect(parent.unsyncChildren).toBe(1);
    expect(parent.unsyncChildBitmap![3]).toBe(1);
    expect(s.cache.collectUnsync(parent)).toEqual([child]);
    expect(audit(s.b, s.cache)).toEqual([]);
  });
});

describe('looking up an upper-level page zaps the unsync pages of its gfn (kvm_mmu_find_shadow_page)', () => {
  /** Two level-1 pages shadowing the guest table at 0x70 under different roles, both made unsync. */
  function twoUnsync(): { s: ReturnType<typeof setup>; a: ShadowPage; b: ShadowPage } {
    const s = setup();
    const a = s.cache.get(0x70 as Gfn, indirect(1)).sp;
    const b = s.cache.get(0x70 as Gfn, packRole({ level: 1, access: ACC_ALL, cr0_wp: false, efer_nx: true })).sp;
    mapLeaf(s, 0x70);
    expect([a.unsync, b.unsync]).toEqual([true, true]);
    return { s, a, b };
  }

  test('every unsync page of the gfn is zapped, one after another in the bucket, and a miss makes the new page', () => {
    const { s, a, b } = twoUnsync();
    const got = s.cache.get(0x70 as Gfn, indirect(2));
    expect(got.created).toBe(true);
    // Freed (the new page may reuse a freed table's memory, so compare pages, not addresses).
    expect(s.cache.byHpa.get(a.hpa)).not.toBe(a);
    expect(s.cache.byHpa.get(b.hpa)).not.toBe(b);
    expect([a.invalid, b.invalid]).toEqual([true, true]);
    expect(s.b.stats.mmu_unsync).toBe(0);
    expect(s.b.stats.mmu_shadow_zapped).toBe(2);
    expect(audit(s.b, s.cache)).toEqual([]);
  });

  test('the page sought right after a zapped one in the bucket is found, not made again', () => {
    const s = setup();
    const leaf = s.cache.get(0x70 as Gfn, indirect(1)).sp;
    const upper = s.cache.get(0x70 as Gfn, direct(2)).sp; // a direct page does not write-protect its gfn
    mapLeaf(s, 0x70);
    expect(leaf.unsync).toBe(true);
    const misses = s.b.stats.mmu_cache_miss;
    expect(s.cache.find(0x70 as Gfn, direct(2))).toBe(upper);
    expect(s.b.stats.mmu_cache_miss).toBe(misses);
    expect(s.cache.byHpa.get(leaf.hpa)).not.toBe(leaf);
    expect(leaf.invalid).toBe(true);
    expect(audit(s.b, s.cache)).toEqual([]);
  });

  test('a level-1 lookup leaves unsync pages of other roles alone', () => {
    const { s, a, b } = twoUnsync();
    s.cache.syncPage = () => 0; // the page found is synced with no flush needed
    expect(s.cache.find(0x70 as Gfn, indirect(1))).toBe(a);
    expect(b.invalid).toBe(false);
    expect(s.cache.byHpa.get(b.hpa)).toBe(b);
  });
});

describe('zapping', () => {
  test('a zapped page unlinks from its parent, drops its leaves from the rmaps, and returns its memory', () => {
    const s = setup();
    const parent = s.cache.get(0 as Gfn, direct(2)).sp;
    const child = s.cache.get(0 as Gfn, direct(1)).sp;
    const link = sptepAt(parent.hpa, 0);
    s.cache.link(link, child);
    mapLeaf(s, 5);
    mapLeaf(s, 6);
    expect(s.b.stats.pages_4k).toBe(2);
    const inUse = s.b.arena.pagesInUse;
    expect(s.cache.zap(child)).toBe(1);
    expect(s.b.codec.big.isShadowPresent(spteAt(s.b, link))).toBe(false);
    expect(s.b.stats.pages_4k).toBe(0);
    expect(s.cache.byHpa.has(child.hpa)).toBe(false);
    expect(s.b.arena.pagesInUse).toBe(inUse - 1);
    expect([...s.cache.rmapEntries()]).toEqual([]);
    expect(audit(s.b, s.cache)).toEqual([]);
  });

  test('a zapped page still loaded as a root becomes invalid and stays until unloaded; the vCPU is asked to free it', () => {
    const s = setup();
    const root: ShadowPage = s.cache.get(0 as Gfn, direct(4)).sp;
    root.rootCount = 1;
    s.b.requests.bits = 0;
    expect(s.cache.zap(root)).toBe(0);
    expect(root.invalid).toBe(true);
    expect(s.cache.byHpa.has(root.hpa)).toBe(true);
    expect(s.cache.active.includes(root)).toBe(false);
    expect(s.b.requests.check(Request.FREE_OBSOLETE_ROOTS)).toBe(true);
  });

  test('the rmap refuses to remove an SPTE it does not hold, and says so (lkml (e)\'s BUG)', () => {
    const s = setup();
    const problems: string[] = [];
    s.cache.rmapRemove(0x9 as Gfn, 1, 0x1234 as Sptep, problems);
    expect(problems).toEqual(['inv10: rmap of gfn 0x9 level 1 lacks SPTE at 0x1234']);
  });
});

describe('the page limit (KVM_SET_NR_MMU_PAGES, make_mmu_pages_available)', () => {
  test('the default limit is 2% of guest memory, at least 64 pages', () => {
    const { cache } = setup();
    cache.setDefaultLimit(1000);
    expect(cache.maxPages).toBe(64);
    cache.setDefaultLimit(32768); // 128 MiB
    expect(cache.maxPages).toBe(655);
  });

  test('below 5 free pages the oldest non-root pages are zapped until 25 are free', () => {
    const { b, cache } = setup();
    cache.maxPages = 64;
    const pages = Array.from({ length: 62 }, (_, k) => cache.get((k * 512) as Gfn, direct(1)).sp);
    pages[0].rootCount = 1; // the oldest is a root: kept
    cache.makePagesAvailable();
    expect(b.stats.mmu_recycled).toBe(23);
    expect(cache.byHpa.size).toBe(64 - 25);
    expect(cache.byHpa.has(pages[0].hpa)).toBe(true);
    expect(cache.byHpa.has(pages[1].hpa)).toBe(false); // oldest non-root first
    expect(cache.byHpa.has(pages[61].hpa)).toBe(true);
    cache.makePagesAvailable(); // 25 free now: nothing to do
    expect(b.stats.mmu_recycled).toBe(23);
  });
});

describe('walking shadow pages (kvm_shadow_walk_iterator)', () => {
  test('SPTE_INDEX takes 9 address bits per level, across the 32-bit halves', () => {
    for (let level = 1; level <= 5; level++) {
      for (const index of [0, 1, 0x155, 0x1ff]) {
        const addr = BigInt(index) << BigInt(12 + 9 * (level - 1)) | 0xfffn;
        const lo = Number(addr & 0xffffffffn) | 0;
        const hi = Number(addr >> 32n) | 0;
        expect(pageIndex(level, lo, hi), `level ${level} index ${index}`).toBe(index);
      }
    }
  });

  test('the walk descends present tables and stops at a hole or a leaf', () => {
    const s = setup();
    const l2 = s.cache.get(0 as Gfn, direct(2)).sp;
    const l1 = s.cache.get(0 as Gfn, direct(1)).sp;
    s.cache.link(sptepAt(l2.hpa, 0), l1);
    const walk = new ShadowWalk(s.b.arena.view, s.b.codec);
    const levels: number[] = [];
    for (walk.init(l2.hpa, 2, 0x5000, 0); walk.okay(); walk.next()) levels.push(walk.level);
    expect(levels).toEqual([2, 1]);
    expect(walk.sptep).toBe(sptepAt(l1.hpa, 5));
    levels.length = 0;
    for (walk.init(l2.hpa, 2, 0x200000, 0); walk.okay(); walk.next()) levels.push(walk.level);
    expect(levels).toEqual([2]); // entry 1 of the level-2 page is empty
  });
});
