import type { Arena } from '../machine/arena.js';
import { type Gpa, type Hpa, PTE_SIZE, pageIndex } from '../arch/address.js';

/**
 * The hardware walk of a TDP root: EPT (Intel, SDM Vol. 3 29.3) or NPT (AMD, APM Vol. 2 15.25),
 * reading the tables the MMU built in the host arena. It translates a guest-physical address to a
 * host page or reports what the hardware would: an EPT violation (with its exit qualification),
 * an EPT misconfiguration, or a nested page fault (with its error code).
 */
export const enum TdpFormat { EPT = 0, NPT = 1 }

/** The access being translated, in EPT exit-qualification bit positions. */
export const enum TdpAccess { READ = 1 << 0, WRITE = 1 << 1, FETCH = 1 << 2 }

export const enum TdpFaultKind { NONE = 0, EPT_VIOLATION = 1, EPT_MISCONFIG = 2, NPF = 3 }

/** EPT violation exit-qualification bits (SDM Vol. 3 Table 28-7). */
export const enum EptQual {
  READ = 1 << 0, WRITE = 1 << 1, FETCH = 1 << 2,
  READABLE = 1 << 3, WRITABLE = 1 << 4, EXECUTABLE = 1 << 5,
  GLA_VALID = 1 << 7,
  /** With GLA_VALID: set for the final translation, clear for a guest paging-structure access. */
  GLA_FINAL = 1 << 8,
}

/** Nested-page-fault error code bits (APM Vol. 2 15.25.6); bits 32/33 are kept in `npfHigh`. */
export const enum NpfCode { P = 1 << 0, W = 1 << 1, U = 1 << 2, RSVD = 1 << 3, I = 1 << 4 }
export const NPF_FINAL = 1 << 0; // bit 32: fault during the final GPA translation
export const NPF_TABLE = 1 << 1; // bit 33: fault during a guest page-table access

export class TdpWalkResult {
  /** Host page (arena byte offset of the 4 KiB page holding the GPA). */
  hostPage = 0 as Hpa;
  /** Effective permissions: TdpAccess bits allowed by every level. */
  allowed = 0;
  /** Level of the leaf (1 = 4 KiB). */
  level = 0;
  fault = TdpFaultKind.NONE;
  /** EPT: exit qualification. NPF: error code bits 31:0. */
  code = 0;
  /** NPF error code bits 63:32. */
  npfHigh = 0;
}

/** Configuration of the TDP hardware. */
export interface TdpConfig {
  readonly format: TdpFormat;
  /** 4 or 5 levels. */
  readonly levels: number;
  /** Host MAXPHYADDR: bits above it in an entry are reserved. */
  readonly hostPhysBits: number;
  /** EPT accessed/dirty flags enabled in the EPTP (A bit 8, D bit 9). NPT always has A/D. */
  readonly adEnabled: boolean;
}

const EPT_R = 1, EPT_W = 2, EPT_X = 4;

/**
 * Walks `root` for guest-physical `gpa` (a double below 2^52). `guestWalk` marks an access made by
 * the hardware's walk of guest page tables (as opposed to the final translation).
 */
export function tdpWalk(arena: Arena, cfg: TdpConfig, root: Hpa, gpa: Gpa, access: number, guestWalk: boolean, out: TdpWalkResult): boolean {
  const view = arena.view;
  const gpaHi = Math.floor(gpa / 4294967296);
  const gpaLo = gpa - gpaHi * 4294967296;
  let rsvdHi = 0;
  for (let b = cfg.hostPhysBits; b < 52; b++) rsvdHi |= 1 << (b - 32);
  const physHi = ~rsvdHi & 0x000fffff;
  let table: Hpa = root;
  let allowed = EPT_R | EPT_W | EPT_X;
  let userAllowed = true;
  out.fault = TdpFaultKind.NONE;
  for (let level = cfg.levels; level >= 1; level--) {
    const addr = table + pageIndex(level, gpaLo, gpaHi) * PTE_SIZE;
    const lo = view.getInt32(addr, true);
    const hi = view.getInt32(addr + 4, true);
    const large = (lo & 0x80) !== 0 && level > 1;
    if (cfg.format === TdpFormat.EPT) {
      const rwx = lo & 7;
      // Bits 5:3 of the qualification AND every entry used, the not-present one included: 0.
      if (rwx === 0) return eptViolation(out, access, 0, guestWalk, level);
      // Misconfiguration: write without read, reserved address bits, PS where no large page can
      // be, or an invalid memory type in a leaf (SDM Vol. 3 29.3.3.1).
      const leaf = level === 1 || large;
      const memtype = (lo >>> 3) & 7;
      if ((rwx & (EPT_R | EPT_W)) === EPT_W || (hi & rsvdHi) !== 0 || (large && (level > 3 || largeReserved(lo, level))) ||
        (leaf && (memtype === 2 || memtype === 3 || memtype === 7))) {
        out.fault = TdpFaultKind.EPT_MISCONFIG;
        out.code = 0;
        out.level = level;
        return false;
      }
      allowed &= rwx;
      if (leaf) {
        if ((access & ~allowed & 7) !== 0) return eptViolation(out, access, allowed, guestWalk, level);
        if (cfg.adEnabled) setEptAd(view, addr, lo, level === 1 || large, access, guestWalk);
        return leafResult(out, lo, hi, physHi, level, gpaLo, allowed);
      }
      if (cfg.adEnabled && (lo & 0x100) === 0) view.setInt32(addr, lo | 0x100, true);
    } else {
      if ((lo & 1) === 0) return npf(out, access, 0, guestWalk, level);
      if ((hi & rsvdHi) !== 0 || (large && (level > 3 || largeReserved(lo, level)))) {
        return npf(out, access, NpfCode.P | NpfCode.RSVD, guestWalk, level);
      }
      if ((lo & 2) === 0) allowed &= ~EPT_W;
      if ((lo & 4) === 0) userAllowed = false;
      if (hi < 0) allowed &= ~EPT_X; // NX
      const leaf = level === 1 || large;
      if (leaf) {
        // Nested walks are user accesses (APM 15.25.5): U/S clear anywhere denies everything.
        if (!userAllowed || (access & ~allowed & 7) !== 0) return npf(out, access, NpfCode.P, guestWalk, level);
        const want = (access & TdpAccess.WRITE) !== 0 || guestWalk ? 0x60 : 0x20;
        if ((lo & want) !== want) view.setInt32(addr, lo | want, true);
        return leafResult(out, lo, hi, physHi, level, gpaLo, allowed);
      }
      if ((lo & 0x20) === 0) view.setInt32(addr, lo | 0x20, true);
    }
    table = ((hi & physHi) * 4294967296 + ((lo & 0xfffff000) >>> 0)) as Hpa;
  }
  return false; // not reached: level 1 is always a leaf
}

function leafResult(out: TdpWalkResult, lo: number, hi: number, physHi: number, level: number, gpaLo: number, allowed: number): true {
  const frameLo = level === 1 ? 0xfffff000 : level === 2 ? 0xffe00000 : 0xc0000000;
  const offset = level === 1 ? 0 : level === 2 ? gpaLo & 0x1ff000 : gpaLo & 0x3ffff000;
  out.hostPage = ((hi & physHi) * 4294967296 + ((lo & frameLo) >>> 0) + (offset >>> 0)) as Hpa;
  out.allowed = allowed;
  out.level = level;
  return true;
}

/** Address bits below a large page's size are reserved in its leaf entry. */
function largeReserved(lo: number, level: number): boolean {
  return level === 2 ? (lo & 0x1ff000) !== 0 : level === 3 ? (lo & 0x3ffff000) !== 0 : false;
}

/** EPT A/D: A on every level used, D on the leaf for a write; guest page-table accesses count as writes. */
function setEptAd(view: DataView, addr: number, lo: number, leaf: boolean, access: number, guestWalk: boolean): void {
  const want = leaf && ((access & TdpAccess.WRITE) !== 0 || guestWalk) ? 0x300 : 0x100;
  if ((lo & want) !== want) view.setInt32(addr, lo | want, true);
}

function eptViolation(out: TdpWalkResult, access: number, allowed: number, guestWalk: boolean, level: number): false {
  out.fault = TdpFaultKind.EPT_VIOLATION;
  out.code = (access & 7) | ((allowed & 7) << 3) | EptQual.GLA_VALID | (guestWalk ? 0 : EptQual.GLA_FINAL);
  out.level = level;
  return false;
}

/** The fault of an access whose leaf entry is not present (yet): for a mapping another vCPU installs later. */
export function notPresentFault(out: TdpWalkResult, format: TdpFormat, access: number, guestWalk: boolean): void {
  if (format === TdpFormat.EPT) eptViolation(out, access, 0, guestWalk, 1);
  else npf(out, access, 0, guestWalk, 1);
}

function npf(out: TdpWalkResult, access: number, bits: number, guestWalk: boolean, level: number): false {
  out.fault = TdpFaultKind.NPF;
  out.code = bits | NpfCode.U | ((access & TdpAccess.WRITE) !== 0 ? NpfCode.W : 0) | ((access & TdpAccess.FETCH) !== 0 ? NpfCode.I : 0);
  out.npfHigh = guestWalk ? NPF_TABLE : NPF_FINAL;
  out.level = level;
  return false;
}
