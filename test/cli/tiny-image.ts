/**
 * Minimal multiboot images for CLI tests: an ELF32 executable with one PT_LOAD segment holding the
 * whole file at LOAD_ADDR, a multiboot v1 header, then `code` (32-bit protected mode, paging off,
 * flat segments: what a multiboot loader hands over).
 *
 *   0x00  ELF header (52 bytes)
 *   0x34  program header (32 bytes)
 *   0x54  multiboot header: magic, flags 0, checksum (12 bytes; omitted with multiboot: false)
 *   0x60  code = entry point
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const LOAD_ADDR = 0x100000;
export const CODE_OFFSET = 0x60;
export const ENTRY = LOAD_ADDR + CODE_OFFSET;

export function tinyElf32(code: Uint8Array, opts: { multiboot?: boolean; loadAddr?: number } = {}): Uint8Array {
  const load = opts.loadAddr ?? LOAD_ADDR;
  const file = new Uint8Array(CODE_OFFSET + code.length);
  const v = new DataView(file.buffer);
  file.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]); // ELF, 32-bit, little-endian, version 1
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 3, true); // EM_386
  v.setUint32(20, 1, true); // version
  v.setUint32(24, load + CODE_OFFSET, true);
  v.setUint32(28, 52, true); // phoff
  v.setUint32(32, 0, true); // shoff: no sections
  v.setUint16(40, 52, true); // ehsize
  v.setUint16(42, 32, true); // phentsize
  v.setUint16(44, 1, true); // phnum
  v.setUint16(46, 40, true); // shentsize
  // PT_LOAD: the whole file at LOAD_ADDR, R+W+X.
  v.setUint32(52, 1, true);
  v.setUint32(56, 0, true);
  v.setUint32(60, load, true);
  v.setUint32(64, load, true);
  v.setUint32(68, file.length, true);
  v.setUint32(72, file.length, true);
  v.setUint32(76, 7, true);
  v.setUint32(80, 0x1000, true);
  if (opts.multiboot !== false) {
    v.setUint32(0x54, 0x1badb002, true);
    v.setUint32(0x58, 0, true);
    v.setUint32(0x5c, (-0x1badb002) >>> 0, true);
  }
  file.set(code, CODE_OFFSET);
  return file;
}

/** Little-endian bytes of a 32-bit value. */
export function u32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/**
 * `lidt` of a zero-limit IDT, then `int3`: the #BP gate is beyond the limit (#GP), so is the #GP
 * gate (#DF), so is the #DF gate: a triple fault at the int3.
 */
export function tripleFaultCode(): Uint8Array {
  const idtr = ENTRY + 8; // 6 zero bytes after the code: limit 0, base 0
  return Uint8Array.from([0x0f, 0x01, 0x1d, ...u32(idtr), 0xcc, 0, 0, 0, 0, 0, 0, 0, 0]);
}
/** Offset of the int3 in tripleFaultCode(). */
export const INT3_OFFSET = 7;

/** `fsin`: a valid x87 instruction mmulab does not implement (the transcendentals). */
export function x87Code(): Uint8Array {
  return Uint8Array.from([0xd9, 0xfe, 0xf4]);
}

/** Exits through the debug port with the multiboot mods_count: 1 with an --initrd, else 0. */
export function modsCountCode(): Uint8Array {
  return Uint8Array.from([0x8b, 0x43, 0x14, 0xe7, 0xf4, 0xf4]); // mov eax, [ebx + 20]; out 0xf4, eax; hlt
}

/** Exits through the debug port with the multiboot mem_upper in MiB (KiB above 1 MiB >> 10). */
export function memUpperCode(): Uint8Array {
  return Uint8Array.from([0x8b, 0x43, 0x08, 0xc1, 0xe8, 0x0a, 0xe7, 0xf4, 0xf4]); // mov eax, [ebx + 8]; shr eax, 10; out 0xf4, eax; hlt
}

/** `cli; hlt`: halted with nothing to wake the CPU. */
export function haltCode(): Uint8Array {
  return Uint8Array.from([0xfa, 0xf4]);
}

/** A fresh temporary directory for test files. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'mmulab-cli-'));
}

export function writeImage(dir: string, name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}
