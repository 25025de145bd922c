/**
 * Builds minimal ELF32 multiboot images for tests: one PT_LOAD segment holding a multiboot
 * header followed by code, loaded at `loadAddr` (entry right after the header), plus optional
 * zero-filled .bss. Useful for tiny guests that provoke exact conditions (a triple fault, an
 * unimplemented instruction) without a C toolchain.
 */
export interface Elf32Options {
  readonly code: Uint8Array;
  readonly loadAddr?: number;
  readonly bssBytes?: number;
  /** Omit the multiboot header (to test the loader's refusal). */
  readonly noMultiboot?: boolean;
}

export const ELF_HEADER_BYTES = 52;
export const PHDR_BYTES = 32;

export function buildElf32(opts: Elf32Options): Uint8Array {
  const loadAddr = opts.loadAddr ?? 0x200000;
  const header = opts.noMultiboot ? new Uint8Array(0) : multibootHeader();
  const payload = new Uint8Array(header.length + opts.code.length);
  payload.set(header);
  payload.set(opts.code, header.length);
  const offset = ELF_HEADER_BYTES + PHDR_BYTES;
  const file = new Uint8Array(offset + payload.length);
  const v = new DataView(file.buffer);
  file.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 3, true); // EM_386
  v.setUint32(20, 1, true);
  v.setUint32(24, loadAddr + header.length, true); // entry
  v.setUint32(28, ELF_HEADER_BYTES, true); // phoff
  v.setUint16(40, ELF_HEADER_BYTES, true);
  v.setUint16(42, PHDR_BYTES, true);
  v.setUint16(44, 1, true);
  const ph = ELF_HEADER_BYTES;
  v.setUint32(ph, 1, true); // PT_LOAD
  v.setUint32(ph + 4, offset, true);
  v.setUint32(ph + 8, loadAddr, true);
  v.setUint32(ph + 12, loadAddr, true);
  v.setUint32(ph + 16, payload.length, true);
  v.setUint32(ph + 20, payload.length + (opts.bssBytes ?? 0), true);
  v.setUint32(ph + 24, 7, true);
  file.set(payload, offset);
  return file;
}

function multibootHeader(): Uint8Array {
  const h = new Uint8Array(12);
  const v = new DataView(h.buffer);
  v.setUint32(0, 0x1badb002, true);
  v.setUint32(4, 0, true);
  v.setUint32(8, (-0x1badb002) >>> 0, true);
  return h;
}
