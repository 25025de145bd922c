/**
 * Decoded instructions, as a struct of arrays: record `i` of every array describes one instruction.
 * Handlers read their operands from here by index, so executing a cached instruction allocates
 * nothing and touches only typed arrays.
 */

/** Pseudo base registers in DecodedStore.base. */
export const enum Base {
  NONE = -1,
  /** RIP-relative: the displacement is added to the next instruction's address. */
  RIP = 16,
  /** An absolute 64-bit address (moffs64): low half in disp, high half in imm2. */
  ABS64 = 17,
}

/** Bits of DecodedStore.prefix. */
export const enum Prefix {
  REP = 1 << 0,
  REPNE = 1 << 1,
  LOCK = 1 << 2,
  /** A REX prefix was present (byte registers 4-7 are SPL..DIL). */
  REX = 1 << 3,
  /** An explicit segment-override prefix was present. */
  SEG_OVERRIDE = 1 << 4,
}

export class DecodedStore {
  readonly capacity: number;
  readonly handler: Int32Array;
  /** Opcode row of the instruction (names and reports). */
  readonly row: Int32Array;
  readonly len: Uint8Array;
  /** Offset of the instruction's first byte within its 4 KiB page. */
  readonly start: Uint16Array;
  /** Effective operand size in bytes (1, 2, 4, 8). */
  readonly size: Uint8Array;
  /** Effective address size in bytes (2, 4, 8). */
  readonly asize: Uint8Array;
  /** ModRM.reg operand (GPR number, byte-register number, segment, control or debug register). */
  readonly reg: Int8Array;
  /** Register operand of the r/m field (or of the opcode); -1 when the operand is in memory. */
  readonly rm: Int8Array;
  readonly base: Int8Array;
  readonly index: Int8Array;
  /** log2 of the SIB scale. */
  readonly scale: Uint8Array;
  /** Effective segment of the memory operand (Seg). */
  readonly seg: Uint8Array;
  readonly disp: Int32Array;
  readonly imm: Int32Array;
  readonly immHi: Int32Array;
  readonly imm2: Int32Array;
  readonly prefix: Uint8Array;
  /** Operation variant chosen by the opcode table (ALU operation, condition code, ...). */
  readonly variant: Int32Array;
  /** Records in use; record 0..SCRATCH-1 are reserved for instructions decoded without caching. */
  used: number;

  static readonly SCRATCH = 16;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.handler = new Int32Array(capacity);
    this.row = new Int32Array(capacity);
    this.len = new Uint8Array(capacity);
    this.start = new Uint16Array(capacity);
    this.size = new Uint8Array(capacity);
    this.asize = new Uint8Array(capacity);
    this.reg = new Int8Array(capacity);
    this.rm = new Int8Array(capacity);
    this.base = new Int8Array(capacity);
    this.index = new Int8Array(capacity);
    this.scale = new Uint8Array(capacity);
    this.seg = new Uint8Array(capacity);
    this.disp = new Int32Array(capacity);
    this.imm = new Int32Array(capacity);
    this.immHi = new Int32Array(capacity);
    this.imm2 = new Int32Array(capacity);
    this.prefix = new Uint8Array(capacity);
    this.variant = new Int32Array(capacity);
    this.used = DecodedStore.SCRATCH;
  }

  clear(): void {
    this.used = DecodedStore.SCRATCH;
  }
}
