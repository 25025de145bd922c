/**
 * Byte-wide port registers accessed with wider IN/OUT. On a PC (and in QEMU, whose byte-only
 * regions get split accesses) an `inw`/`inl` at a byte register reads consecutive ports, one byte
 * each, little-endian; bytes past the device's ports belong to nobody and read as 0xff. The bus
 * hands a device the whole access, so devices made of byte registers split it here.
 */

/** Reads `size` consecutive byte registers from `offset`; `count` is the device's port count. */
export function readBytes(offset: number, size: number, count: number, readByte: (offset: number) => number): number {
  let v = 0;
  for (let k = 0; k < size; k++) {
    const b = offset + k < count ? readByte(offset + k) & 0xff : 0xff;
    v |= b << (8 * k);
  }
  return v >>> 0;
}

/** Writes `size` consecutive byte registers from `offset`; bytes past the device are dropped. */
export function writeBytes(offset: number, size: number, count: number, value: number, writeByte: (offset: number, value: number) => void): void {
  for (let k = 0; k < size && offset + k < count; k++) writeByte(offset + k, (value >>> (8 * k)) & 0xff);
}
