/**
 * How the VT-d unit reads its in-memory structures (root and context tables, second-level page
 * tables, the interrupt remapping table, the invalidation queue) and writes invalidation-wait
 * status: guest-physical memory, never translated itself.
 */
export interface VtdMemory {
  readPhysical(gpa: number, length: number): Uint8Array;
  writePhysical(gpa: number, bytes: Uint8Array): void;
}

/** Little-endian doubleword at `offset` of `bytes`, unsigned. */
export function le32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24)) >>> 0;
}

/** The address in bits 63:12 of a 64-bit entry (lo, hi), with hi limited to `hiMask`. */
export function pageAddress(lo: number, hi: number, hiMask: number): number {
  return (hi & hiMask) * 2 ** 32 + ((lo & ~0xfff) >>> 0);
}
