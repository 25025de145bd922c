import { Seg } from '../arch/registers.js';

/**
 * The hidden part of the six segment registers, as a struct of arrays indexed by Seg. `attr` holds
 * the descriptor's access byte in bits 7:0 and its flags nibble (AVL, L, D/B, G) in bits 15:12, the
 * layout VMX uses for guest access rights.
 */
export class SegmentState {
  readonly selector = new Int32Array(6);
  readonly baseLo = new Int32Array(6);
  readonly baseHi = new Int32Array(6);
  /** Effective limit in bytes (granularity already applied), as an unsigned 32-bit value. */
  readonly limit = new Float64Array(6);
  readonly attr = new Int32Array(6);

  /** Loads a segment the way real mode and the reset state describe it: base = selector << 4. */
  loadReal(seg: Seg, selector: number): void {
    this.selector[seg] = selector & 0xffff;
    this.baseLo[seg] = (selector & 0xffff) << 4;
    this.baseHi[seg] = 0;
  }

  set(seg: Seg, selector: number, baseLo: number, baseHi: number, limit: number, attr: number): void {
    this.selector[seg] = selector & 0xffff;
    this.baseLo[seg] = baseLo | 0;
    this.baseHi[seg] = baseHi | 0;
    this.limit[seg] = limit >>> 0;
    this.attr[seg] = attr;
  }
}

/** Access-rights bits in SegmentState.attr. */
export const enum SegAttr {
  TYPE = 0x0f,
  ACCESSED = 0x01,
  /** Data: writable. Code: readable. */
  RW = 0x02,
  /** Data: expand-down. Code: conforming. */
  DC = 0x04,
  CODE = 0x08,
  /** Code or data (as opposed to system). */
  S = 0x10,
  DPL_SHIFT = 5,
  DPL = 0x60,
  P = 0x80,
  AVL = 0x1000,
  L = 0x2000,
  DB = 0x4000,
  G = 0x8000,
}

/** Descriptor table registers (GDTR, IDTR) and the system segments (LDTR, TR). */
export class TableRegister {
  baseLo = 0;
  baseHi = 0;
  limit = 0xffff;
  selector = 0;
  attr = 0;
}
