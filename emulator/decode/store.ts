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
    // One buffer for all fields: a run allocates ~10 MB of records at once, and one allocation of
    // that size is zero pages from the system, while eighteen smaller ones are cleared byte by byte
    // whenever the allocator serves them from memory freed earlier (~10 ms of each mmulab start).
    const fields = new FieldBuffer(capacity, 40);
    this.handler = fields.next(Int32Array);
    this.row = fields.next(Int32Array);
    this.disp = fields.next(Int32Array);
    this.imm = fields.next(Int32Array);
    this.immHi = fields.next(Int32Array);
    this.imm2 = fields.next(Int32Array);
    this.variant = fields.next(Int32Array);
    this.start = fields.next(Uint16Array);
    this.len = fields.next(Uint8Array);
    this.size = fields.next(Uint8Array);
    this.asize = fields.next(Uint8Array);
    this.reg = fields.next(Int8Array);
    this.rm = fields.next(Int8Array);
    this.base = fields.next(Int8Array);
    this.index = fields.next(Int8Array);
    this.scale = fields.next(Uint8Array);
    this.seg = fields.next(Uint8Array);
    this.prefix = fields.next(Uint8Array);
    fields.done();
    this.used = DecodedStore.SCRATCH;
  }

  clear(): void {
    this.used = DecodedStore.SCRATCH;
  }
}

type TypedArrayOf<T> = new (buffer: ArrayBuffer, byteOffset: number, length: number) => T;

/**
 * Consecutive typed arrays of `records` elements each (rounded up to a multiple of 8, so that,
 * taken widest first, every array is aligned) in one ArrayBuffer.
 */
export class FieldBuffer {
  private readonly buffer: ArrayBuffer;
  private readonly length: number;
  private offset = 0;

  constructor(records: number, bytesPerRecord: number) {
    this.length = Math.ceil(records / 8) * 8;
    this.buffer = new ArrayBuffer(this.length * bytesPerRecord);
  }

  next<T extends { readonly BYTES_PER_ELEMENT: number }>(kind: TypedArrayOf<T>): T {
    const array = new kind(this.buffer, this.offset, this.length);
    this.offset += this.length * array.BYTES_PER_ELEMENT;
    return array;
  }

  /** Checks that the fields filled the buffer exactly (bytesPerRecord matches them). */
  done(): void {
    if (this.offset !== this.buffer.byteLength) throw new Error(`fields use ${this.offset} of ${this.buffer.byteLength} bytes`);
  }
}
