import type { MmuContext } from '../mmu.js';
import type { ShadowPage, ShadowPageCache } from '../shadow-pages/page-cache.js';
import { roleHas4ByteGpte } from '../role.js';
import { PAGE_SIZE, PTE_SIZE, type Gfn, gfnToGpa, hpaToHfn, sptepAt } from '../../emulator/arch/address.js';
import { Pte } from '../../emulator/paging/format.js';
import type { ShadowGuest } from './shadow-guest.js';
import { ShadowSync } from './sync.js';

/**
 * The checker for the cache-based MMUs (kvm-mmu.md 2.7 and 3): per-SPTE invariants; rmaps both
 * ways (10); parent lists and levels (11); one live page per (gfn, role) (12); leaves mapping what
 * their memslot maps (7); and for shadow pages of guest tables: unsync only at level 1, unsync
 * marks up every parent, no writable mapping of a write-protected guest table, and every SPTE of
 * an in-sync page agreeing with the guest entry it shadows. `guest` undefined skips the
 * guest-table checks (direct MMUs).
 */
export function auditShadow(ctx: MmuContext, cache: ShadowPageCache, guest: ShadowGuest | undefined, out: string[]): void {
  const { codec, memslots } = ctx;
  const seen = new Set<string>();
  const protectedGfns = new Set<number>();
  for (const sp of cache.active) {
    if (!cache.isObsolete(sp) && sp.hasGptes && (!sp.unsync || sp.level > 1)) protectedGfns.add(sp.gfn);
  }
  for (const sp of cache.active) {
    const name = `shadow page gfn 0x${sp.gfn.toString(16)} level ${sp.level}`;
    const obsolete = cache.isObsolete(sp);
    if (!obsolete) {
      const key = `${sp.gfn}:${sp.role}`;
      if (seen.has(key)) out.push(`inv12: two live shadow pages for gfn 0x${sp.gfn.toString(16)} role 0x${sp.role.toString(16)}`);
      seen.add(key);
    }
    if (sp.unsync && sp.level !== 1) out.push(`unsync: ${name} is unsync above level 1`);
    if (sp.unsync || sp.unsyncChildren > 0) {
      for (const parent of sp.parentPtes) {
        const psp = cache.pageOf(parent);
        if (psp.unsyncChildBitmap![(parent % PAGE_SIZE) / PTE_SIZE] === 0) out.push(`unsync: parent of ${name} lacks its unsync mark`);
      }
    }
    if (sp.unsyncChildBitmap !== null) {
      let bits = 0;
      for (let k = 0; k < 512; k++) bits += sp.unsyncChildBitmap[k];
      if (bits !== sp.unsyncChildren) out.push(`unsync: ${name} counts ${sp.unsyncChildren} unsync children, bitmap has ${bits}`);
    }
    const checkGuest = guest !== undefined && sp.hasGptes && !sp.unsync && !obsolete;
    for (let k = 0; k < 512; k++) {
      const sptep = sptepAt(sp.hpa, k);
      const lo = cache.readSpteLo(sptep);
      const hi = cache.readSpteHi(sptep);
      if (lo === codec.nonpresentLo && hi === codec.nonpresentHi) continue;
      for (const v of codec.violations(lo, hi, sp.level)) out.push(`${v} (${name}, index ${k})`);
      if (!codec.isShadowPresent(lo, hi)) continue;
      let target: Gfn;
      if (codec.isLeaf(lo, hi, sp.level)) {
        const gfn = cache.leafGfn(sp, k);
        target = gfn;
        if (!cache.rmapHas(gfn, sp.level, sptep)) out.push(`inv10: leaf SPTE at 0x${sptep.toString(16)} for gfn 0x${gfn.toString(16)} missing from its rmap`);
        const host = memslots.gpaToHpa(gfnToGpa(gfn));
        if (!obsolete && (host === -1 || hpaToHfn(host) !== codec.pfn(lo, hi))) {
          out.push(`inv7: leaf for gfn 0x${gfn.toString(16)} maps pfn 0x${codec.pfn(lo, hi).toString(16)}`);
        }
        if (!obsolete && codec.isWritable(lo)) {
          const span = 512 ** (sp.level - 1);
          for (const g of span === 1 ? (protectedGfns.has(gfn) ? [gfn] : []) : protectedGfns) {
            if (g >= gfn && g < gfn + span) { out.push(`wp: gfn 0x${g.toString(16)} holds a shadowed guest table but is mapped writable (${name}, index ${k})`); break; }
          }
        }
      } else {
        const child = cache.child(lo, hi);
        if (child === undefined) { out.push(`inv11: SPTE at 0x${sptep.toString(16)} points to no shadow page`); continue; }
        if (!child.parentPtes.includes(sptep)) out.push(`inv11: child page gfn 0x${child.gfn.toString(16)} lacks parent SPTE 0x${sptep.toString(16)}`);
        if (child.level !== sp.level - 1) out.push(`inv11: child level ${child.level} under level ${sp.level}`);
        target = child.gfn;
        if (checkGuest && child.hasGptes) {
          checkTableLink(guest!, sp, k, child, lo, out, name);
          continue;
        }
      }
      if (checkGuest) checkLeafLink(guest!, sp, k, target, lo, out, name);
    }
  }
  for (const [gfn, level, sptep] of cache.rmapEntries()) {
    const lo = cache.readSpteLo(sptep);
    const hi = cache.readSpteHi(sptep);
    if (!codec.isShadowPresent(lo, hi) || !codec.isLeaf(lo, hi, level)) {
      out.push(`inv10: rmap of gfn 0x${gfn.toString(16)} points to a non-present or non-leaf SPTE`);
    }
  }
}

/** The guest entry behind SPTE k of a page that shadows a guest table (4- or 8-byte format). */
function readGpte(guest: ShadowGuest, sp: ShadowPage, k: number): [number, number] {
  const gpa = ShadowSync.gpteGpa(sp, k);
  const four = roleHas4ByteGpte(sp.role);
  return [guest.tables.readPhys32(gpa), four ? 0 : guest.tables.readPhys32(gpa + 4)];
}

/** A link to the page shadowing a lower guest table: the guest entry must still point to that table. */
function checkTableLink(guest: ShadowGuest, sp: ShadowPage, k: number, child: ShadowPage, _lo: number, out: string[], name: string): void {
  const [gLo, gHi] = readGpte(guest, sp, k);
  const four = roleHas4ByteGpte(sp.role);
  const frame = four ? gLo >>> 12 : (gHi & 0xfffff) * 1048576 + (gLo >>> 12);
  if ((gLo & Pte.P) === 0 || (gLo & Pte.PS) !== 0 && sp.level > 1 && !four || frame !== child.gfn) {
    out.push(`coherent: ${name} index ${k} links the shadow of gfn 0x${child.gfn.toString(16)}, but the guest entry is 0x${(gLo >>> 0).toString(16)}`);
  }
}

/**
 * A leaf, or a link to a direct page (a guest large page split), in an in-sync page: the guest
 * entry must be present and accessed and map the same frame, and a writable SPTE needs a dirty
 * guest entry (dirty-bit tracking).
 */
function checkLeafLink(guest: ShadowGuest, sp: ShadowPage, k: number, gfn: Gfn, lo: number, out: string[], name: string): void {
  const [gLo, gHi] = readGpte(guest, sp, k);
  const four = roleHas4ByteGpte(sp.role);
  let frame: number;
  if (sp.level === 1) {
    frame = four ? gLo >>> 12 : (gHi & 0xfffff) * 1048576 + (gLo >>> 12);
  } else if (four) {
    // A 4 MiB page (PSE-36 puts address bits 39:32 in bits 20:13), shadowed as two 2 MiB halves.
    frame = (gLo >>> 22) * 1024 + ((gLo >>> 13) & 0xff) * 1048576 + (k & 1) * 512;
  } else {
    const span = 512 ** (sp.level - 1);
    const raw = (gHi & 0xfffff) * 1048576 + (gLo >>> 12);
    frame = raw - (raw % span);
  }
  const bad = (gLo & Pte.P) === 0 || (gLo & Pte.A) === 0 || frame !== gfn || ((lo & 2) !== 0 && (gLo & Pte.D) === 0 && sp.level === 1);
  if (bad) {
    out.push(`coherent: ${name} index ${k} maps gfn 0x${gfn.toString(16)}, but the guest entry is 0x${(gLo >>> 0).toString(16)}`);
  }
}
