import type { InterruptMessage } from '../apic-bus.js';
import { FaultReason } from './fault-recording.js';
import { type VtdMemory, le32 } from './memory.js';

/**
 * Interrupt remapping (Intel VT-d specification 5.1 and 9.10): an interrupt request in
 * remappable format names an index into the interrupt remapping table (IRTA), whose 128-bit
 * entry (IRTE) supplies the message the APICs receive.
 *
 * Where the index comes from:
 *   MSI address (5.1.2.2)  bit 4 = 1 (remappable), bits 19:5 handle[14:0], bit 2 handle[15],
 *                          bit 3 SHV: the data's bits 15:0 (subhandle) are added to the handle
 *   IOAPIC RTE (5.1.5.1)   bit 48 = 1 (remappable), bits 63:49 index[14:0], bit 11 index[15];
 *                          the vector, trigger mode and polarity bits stay the IOAPIC's own
 *
 * The IRTE in remapped mode (IM, bit 15, = 0): P (0), FPD (1), DM (2: logical), RH (3), TM (4:
 * level), DLM (7:5), V (23:16), DST (63:32: with IRTA.EIME clear the xAPIC ID is in bits 47:40 and
 * the rest of DST is reserved), SID (79:64), SQ (81:80), SVT (83:82). Reserved: bits 14:12 and
 * 31:24, IM (posted mode needs ECAP.PI, which is 0), the DLM codes 3 and 6, bits 127:84, and SVT 3.
 * Source validation (SVT): 1 compares the requester ID with SID under the SQ mask (SQ 1, 2, 3
 * ignore function bit 2, bits 2:1, bits 2:0), 2 checks that the requester's bus lies in
 * SID[15:8]..SID[7:0].
 *
 * RH (redirection hint) is not carried: InterruptMessage has no field for it, and it only
 * narrows lowest-priority delivery among the named CPUs. With EIME set the 32-bit destination is
 * passed on, but the APIC bus compares 8 bits (InterruptMessage's xAPIC format).
 */

/** `remap`'s source ID for a request whose requester is not validated (the IOAPIC's: see IntelIommu). */
export const NO_SOURCE_VALIDATION = -1;

const IRTE_RESERVED_LO = 0xff00f000; // bits 31:24, IM (15), 14:12
const IRTE_DST_RESERVED_XAPIC = 0xffff00ff;
const IRTE_RESERVED_SID_WORD = 0xfff00000;
const SQ_MASKS = [0xffff, 0xfffb, 0xfff9, 0xfff8] as const;

export interface Remapped {
  message: InterruptMessage | null;
  fault: FaultReason | 0;
  /** False for a qualified fault through an IRTE whose FPD is set. */
  report: boolean;
}

/** The interrupt index of an MSI in remappable format, or -1 for a compatibility-format MSI. */
export function msiIndex(address: number, data: number): number {
  if ((address & 0x10) === 0) return -1;
  const handle = ((address >>> 5) & 0x7fff) | (((address >>> 2) & 1) << 15);
  return (address & 0x8) !== 0 ? handle + (data & 0xffff) : handle;
}

/** The interrupt index of an IOAPIC RTE in remappable format, or -1 for compatibility format. */
export function ioapicIndex(low: number, high: number): number {
  if ((high & 0x10000) === 0) return -1;
  return ((high >>> 17) & 0x7fff) | (((low >>> 11) & 1) << 15);
}

export class InterruptRemapper {
  /** The table latched by GCMD.SIRTP: base, number of entries, extended interrupt mode. */
  private base = 0;
  private entries = 0;
  private eime = false;

  constructor(private readonly memory: VtdMemory) {}

  /** IRTA.EIME as latched: x2APIC destinations, and compatibility-format interrupts always blocked. */
  get x2apicMode(): boolean {
    return this.eime;
  }

  /** SIRTP: latch IRTA (`base` its address, `sizeField` bits 3:0, `eime` bit 11 where offered). */
  latch(base: number, sizeField: number, eime: boolean): void {
    this.base = base;
    this.entries = 2 ** ((sizeField & 0xf) + 1);
    this.eime = eime;
  }

  /** Looks up `index` for requester `sourceId` (or NO_SOURCE_VALIDATION); fills `out`. */
  remap(index: number, sourceId: number, out: Remapped): void {
    out.message = null;
    out.report = true;
    if (index >= this.entries) return this.fail(out, FaultReason.IR_INDEX_OVER, true);
    const e = this.memory.readPhysical(this.base + index * 16, 16);
    const lo = le32(e, 0);
    const dst = le32(e, 4);
    const sidWord = le32(e, 8);
    const fpd = (lo & 2) !== 0;
    if ((lo & 1) === 0) return this.fail(out, FaultReason.IRTE_NOT_PRESENT, !fpd);
    const mode = (lo >>> 5) & 7;
    const svt = (sidWord >>> 18) & 3;
    if ((lo & IRTE_RESERVED_LO) !== 0 || mode === 3 || mode === 6 || (sidWord & IRTE_RESERVED_SID_WORD) !== 0
      || le32(e, 12) !== 0 || svt === 3 || (!this.eime && (dst & IRTE_DST_RESERVED_XAPIC) !== 0)) {
      return this.fail(out, FaultReason.IRTE_RESERVED, !fpd);
    }
    if (sourceId !== NO_SOURCE_VALIDATION && !this.sourceMatches(svt, sidWord, sourceId)) {
      return this.fail(out, FaultReason.IR_SOURCE_ID, !fpd);
    }
    out.fault = 0;
    out.message = {
      vector: (lo >>> 16) & 0xff,
      deliveryMode: mode,
      logical: (lo & 4) !== 0,
      destination: this.eime ? dst : (dst >>> 8) & 0xff,
      levelTriggered: (lo & 0x10) !== 0,
    };
  }

  private sourceMatches(svt: number, sidWord: number, sourceId: number): boolean {
    const sid = sidWord & 0xffff;
    if (svt === 1) {
      const mask = SQ_MASKS[(sidWord >>> 16) & 3];
      return (sid & mask) === (sourceId & mask);
    }
    if (svt === 2) {
      const bus = (sourceId >>> 8) & 0xff;
      return bus >= sid >>> 8 && bus <= (sid & 0xff);
    }
    return true;
  }

  private fail(out: Remapped, reason: FaultReason, report: boolean): void {
    out.fault = reason;
    out.report = report;
  }
}
