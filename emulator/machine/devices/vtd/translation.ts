import { FaultReason } from './fault-recording.js';
import { type VtdMemory, le32, pageAddress } from './memory.js';
import { SLLPS_1G, SLLPS_2M, highAddressMask } from './registers.js';

/**
 * DMA remapping in legacy mode (Intel VT-d specification 3.4 and 3.6, 9.1-9.3): a request from
 * source ID bus:dev.fn indexes the root table by bus and the context table by dev.fn; the context
 * entry's translation type, address width and second-level page-table pointer then translate the
 * address through 3 (AGAW 39) or 4 (AGAW 48) levels of 512 eight-byte entries.
 *
 * Second-level entries: R (bit 0) and W (bit 1) are checked at every level, since access rights
 * are the AND over the walk (3.6.1); an entry with neither is not present. PS (bit 7) ends the walk
 * at level 2 (2 MiB) or 3 (1 GiB) when CAP.SLLPS offers that size. Reserved: address bits from the
 * host address width (= MGAW, as in QEMU) up to 51, SNP (bit 11: ECAP.SC is 0), TM (bit 62:
 * ECAP.DT is 0), PS where that page size is not offered and at level 4, and the low address bits
 * of a large page. Bits 63 and 61:52 are ignored.
 *
 * Order of checks on a present entry: reserved bits (fault Ch) before the access right (5h/6h).
 * The spec defines Ch for entries with R or W set; a walk can meet both faults in one entry only if
 * the entry is malformed, and then reporting the malformation first is the more useful answer.
 *
 * Nothing is cached: every access walks the tables, so invalidations (register or queued) have
 * nothing to drop and complete at once. Caching would only matter to a test of invalidation
 * semantics (a stale mapping used until invalidated), which kvm-unit-tests does not have.
 */

/** Context entry translation types (TT, bits 3:2). */
const TT_MULTI_LEVEL = 0;
const TT_PASS_THROUGH = 2;
/** Reserved low bits of a root entry (11:1) and of a context entry's low quad (11:4). */
const ROOT_RESERVED_LO = 0xffe;
const CONTEXT_RESERVED_LO = 0xff0;
/** Context entry high quad: bit 7 and bits 63:24 reserved. */
const CONTEXT_RESERVED_HI_LO = 0xff000080;
/** Second-level entries: SNP (bit 11), and TM (bit 62) in the high half; PS (bit 7). */
const SL_SNP = 1 << 11;
const SL_TM_HI = 1 << 30;
const SL_PS = 1 << 7;
/** Bits 51:32 of an address field are hi bits 19:0. */
const HI_ADDRESS_FIELD = 0xfffff;

export interface Translation {
  /** Bus address the access goes to (meaningful when `fault` is 0). */
  address: number;
  /** 0, or why the request is blocked. */
  fault: FaultReason | 0;
  /** Whether the fault is to be recorded: qualified faults are not when the context entry's FPD is set. */
  report: boolean;
}

export class DmaTranslator {
  private readonly hawHi: number;
  private readonly agaws: readonly number[];

  /**
   * `aw` is MGAW and the host address width; `agaws` the context AW codes the unit accepts
   * (1 = 39-bit, 2 = 48-bit: CAP.SAGAW); `largePages` CAP.SLLPS.
   */
  constructor(private readonly memory: VtdMemory, private readonly aw: number, agaws: readonly number[],
    private readonly largePages: number) {
    this.hawHi = highAddressMask(aw);
    this.agaws = agaws;
  }

  /**
   * Translates `iova` for `sourceId` against the root table at `rootTable`; fills `out`. `write`
   * selects the right checked (W) against a read's (R).
   */
  translate(rootTable: number, sourceId: number, iova: number, write: boolean, out: Translation): void {
    out.address = 0;
    out.report = true;
    const root = this.memory.readPhysical(rootTable + (sourceId >> 8) * 16, 16);
    const rLo = le32(root, 0);
    const rHi = le32(root, 4);
    if ((rLo & 1) === 0) return this.fail(out, FaultReason.ROOT_NOT_PRESENT, true);
    // Legacy-mode root entries use only the low quad; the high one is reserved (spec 9.1).
    if ((rLo & ROOT_RESERVED_LO) !== 0 || (rHi & ~this.hawHi) !== 0 || le32(root, 8) !== 0 || le32(root, 12) !== 0) {
      return this.fail(out, FaultReason.ROOT_RESERVED, true);
    }
    const ctx = this.memory.readPhysical(pageAddress(rLo, rHi, this.hawHi) + (sourceId & 0xff) * 16, 16);
    const cLo = le32(ctx, 0);
    const cHi = le32(ctx, 4);
    const c2 = le32(ctx, 8);
    if ((cLo & 1) === 0) return this.fail(out, FaultReason.CONTEXT_NOT_PRESENT, true);
    if ((cLo & CONTEXT_RESERVED_LO) !== 0 || (cHi & ~this.hawHi) !== 0 || (c2 & CONTEXT_RESERVED_HI_LO) !== 0
      || le32(ctx, 12) !== 0) {
      return this.fail(out, FaultReason.CONTEXT_RESERVED, true);
    }
    // From here on faults are qualified: the context entry's FPD (bit 1) suppresses their record.
    const fpd = (cLo & 2) !== 0;
    const tt = (cLo >> 2) & 3;
    if (tt === TT_PASS_THROUGH) {
      out.address = iova;
      out.fault = 0;
      return;
    }
    const awCode = c2 & 7;
    if (tt !== TT_MULTI_LEVEL || !this.agaws.includes(awCode)) {
      return this.fail(out, FaultReason.CONTEXT_INVALID, !fpd);
    }
    const levels = awCode + 2; // AW 1: 39 bits, 3 levels; AW 2: 48 bits, 4 levels
    const width = Math.min(this.aw, 30 + 9 * awCode);
    if (iova >= 2 ** width) return this.fail(out, FaultReason.ADDRESS_BEYOND_AW, !fpd);
    this.walk(pageAddress(cLo, cHi, this.hawHi), levels, iova, write, out);
    if (out.fault !== 0) out.report = !fpd;
  }

  private walk(table: number, levels: number, iova: number, write: boolean, out: Translation): void {
    const denied = write ? FaultReason.WRITE : FaultReason.READ;
    const right = write ? 2 : 1;
    for (let level = levels; level >= 1; level--) {
      const shift = 12 + 9 * (level - 1);
      const index = Math.floor(iova / 2 ** shift) % 512;
      const entry = this.memory.readPhysical(table + index * 8, 8);
      const lo = le32(entry, 0);
      const hi = le32(entry, 4);
      if ((lo & 3) === 0) return this.fail(out, denied, true);
      const large = level > 1 && (lo & SL_PS) !== 0;
      if (this.reserved(lo, hi, level, large)) return this.fail(out, FaultReason.PAGING_RESERVED, true);
      if ((lo & right) === 0) return this.fail(out, denied, true);
      if (level === 1 || large) {
        // A large page's low address bits were checked to be zero above.
        out.address = pageAddress(lo, hi, this.hawHi) + iova % 2 ** shift;
        out.fault = 0;
        return;
      }
      table = pageAddress(lo, hi, this.hawHi);
    }
  }

  private reserved(lo: number, hi: number, level: number, large: boolean): boolean {
    if ((lo & SL_SNP) !== 0 || (hi & SL_TM_HI) !== 0 || (hi & HI_ADDRESS_FIELD & ~this.hawHi) !== 0) return true;
    if (!large) return level === 4 && (lo & SL_PS) !== 0;
    const offered = level === 2 ? (this.largePages & SLLPS_2M) !== 0 : level === 3 && (this.largePages & SLLPS_1G) !== 0;
    if (!offered) return true;
    // The address field's bits below the page size (20:12 or 29:12) are reserved.
    const lowBits = (2 ** (12 + 9 * (level - 1)) - 1) & ~0xfff;
    return (lo & lowBits) !== 0;
  }

  private fail(out: Translation, reason: FaultReason, report: boolean): void {
    out.fault = reason;
    out.report = report;
  }
}
