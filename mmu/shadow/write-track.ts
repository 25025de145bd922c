import type { MmuContext } from '../mmu.js';
import type { ShadowPage, ShadowPageCache } from '../shadow-pages/page-cache.js';
import { roleHas4ByteGpte, roleQuadrant } from '../role.js';
import { PAGE_SIZE, type Gpa, gpa as asGpa, gpaToGfn, sptepAt } from '../../emulator/arch/address.js';

/**
 * What KVM does after it emulated a guest write to a frame it keeps write-protected because the
 * frame holds a shadowed guest page table (kvm_mmu_track_write, kvm-mmu.md 3.6): for each shadow
 * page of that frame, zap the SPTEs the written guest entries back, or the whole page when the
 * write is misaligned or the page is being flooded with writes it never faults on.
 */
export function trackWrite(ctx: MmuContext, cache: ShadowPageCache, gpa: Gpa, bytes: number): void {
  if (cache.indirectShadowPages === 0) return;
  const { stats, codec } = ctx;
  stats.mmu_pte_write++;
  let flush = false;
  for (const sp of [...cache.indirectPages(gpaToGfn(asGpa(gpa)))]) {
    if (sp.invalid) continue;
    if (writeMisaligned(sp, gpa, bytes) || writeFlooding(sp)) {
      cache.zap(sp);
      stats.mmu_flooded++;
      continue;
    }
    const written = writtenSptes(sp, gpa);
    if (written < 0) continue;
    const n = sp.level === 2 && roleHas4ByteGpte(sp.role) ? 2 : 1;
    for (let k = written; k < written + n; k++) {
      const sptep = sptepAt(sp.hpa, k);
      const lo = cache.readSpteLo(sptep);
      const hi = cache.readSpteHi(sptep);
      if (codec.isShadowPresent(lo, hi) && !codec.isLeaf(lo, hi, sp.level)) {
        cache.unlinkSpte(sptep, lo, hi);
        stats.mmu_pde_zapped++;
        stats.sptes_zapped++;
      } else if (codec.isShadowPresent(lo, hi)) {
        cache.dropSpte(sptep);
      } else if (codec.isMmio(lo, hi)) {
        cache.spteClearNoTrack(sptep); // not counted as a zap, unlike zap()'s MMIO clears
      }
      flush = true;
    }
  }
  cache.commit(flush);
}

/**
 * detect_write_misaligned: a write that is not one whole guest entry (or a single byte at an
 * entry's start, which is how Linux clears bits) cannot be matched to an SPTE.
 */
export function writeMisaligned(sp: ShadowPage, gpa: Gpa, bytes: number): boolean {
  const offset = gpa % PAGE_SIZE;
  const pteSize = roleHas4ByteGpte(sp.role) ? 4 : 8;
  if ((offset & (pteSize - 1)) === 0 && bytes === 1) return false;
  const misaligned = (offset ^ (offset + bytes - 1)) & ~(pteSize - 1);
  return misaligned !== 0 || bytes < 4;
}

/** detect_write_flooding: the third emulated write to an upper-level page with no fault in between. */
export function writeFlooding(sp: ShadowPage): boolean {
  if (sp.level === 1) return false;
  return ++sp.writeFlooding >= 3;
}

/**
 * get_written_sptes: index of the first SPTE of `sp` that backs the guest entry at `gpa`, or -1
 * when the entry belongs to another quadrant of a 4-byte guest table.
 */
export function writtenSptes(sp: ShadowPage, gpa: Gpa): number {
  let offset = gpa % PAGE_SIZE;
  if (roleHas4ByteGpte(sp.role)) {
    offset *= 2; // 4-byte entries to 8-byte SPTEs
    if (sp.level === 2) {
      // A 32-bit PDE maps 4 MiB; shadow PDEs map 2 MiB: two SPTEs per guest entry.
      offset = (offset & ~7) * 2;
    }
    const quadrant = Math.floor(offset / PAGE_SIZE);
    offset %= PAGE_SIZE;
    if (quadrant !== roleQuadrant(sp.role)) return -1;
  }
  return Math.floor(offset / 8);
}
