/**
 * ELF parsing for the loader: the identification, the program headers, and nothing else.
 * Every length and offset is checked against the file so a malformed image gives a clear error.
 */
export class ImageError extends Error {}

export interface LoadSegment {
  readonly paddr: number;
  readonly vaddr: number;
  readonly fileOffset: number;
  readonly fileSize: number;
  readonly memSize: number;
}

/** A PT_NOTE segment's place in the file (its notes are parsed by whoever needs them). */
export interface NoteSegment {
  readonly fileOffset: number;
  readonly fileSize: number;
}

export interface ElfImage {
  readonly class: 32 | 64;
  readonly machine: number;
  readonly entry: number;
  readonly segments: readonly LoadSegment[];
  readonly notes: readonly NoteSegment[];
}

const PT_LOAD = 1;
const PT_NOTE = 4;
const EM_386 = 3;
const EM_X86_64 = 62;
const ET_EXEC = 2;

export function parseElf(file: Uint8Array, name: string): ElfImage {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const need = (n: number, what: string): void => {
    if (file.length < n) throw new ImageError(`${name}: truncated ELF file (${what} needs ${n} bytes, file has ${file.length})`);
  };
  need(16, 'the ELF identification');
  if (file[0] !== 0x7f || file[1] !== 0x45 || file[2] !== 0x4c || file[3] !== 0x46) {
    throw new ImageError(`${name}: not an ELF file`);
  }
  const cls = file[4];
  if (cls !== 1 && cls !== 2) throw new ImageError(`${name}: unknown ELF class ${cls}`);
  if (file[5] !== 1) throw new ImageError(`${name}: not a little-endian ELF file`);
  const is64 = cls === 2;
  need(is64 ? 64 : 52, 'the ELF header');
  const type = view.getUint16(16, true);
  const machine = view.getUint16(18, true);
  if (type !== ET_EXEC) throw new ImageError(`${name}: ELF type ${type} is not an executable`);
  if (machine !== EM_386 && machine !== EM_X86_64) throw new ImageError(`${name}: ELF machine ${machine} is not x86`);
  const entry = is64 ? Number(view.getBigUint64(24, true)) : view.getUint32(24, true);
  const phoff = is64 ? Number(view.getBigUint64(32, true)) : view.getUint32(28, true);
  const phentsize = view.getUint16(is64 ? 54 : 42, true);
  const phnum = view.getUint16(is64 ? 56 : 44, true);
  if (phnum === 0) throw new ImageError(`${name}: no program headers`);
  if (phentsize < (is64 ? 56 : 32)) throw new ImageError(`${name}: program header entries too small (${phentsize})`);
  need(phoff + phnum * phentsize, 'the program headers');
  const segments: LoadSegment[] = [];
  const notes: NoteSegment[] = [];
  for (let k = 0; k < phnum; k++) {
    const o = phoff + k * phentsize;
    const ptype = view.getUint32(o, true);
    if (ptype === PT_NOTE) {
      const note = is64
        ? { fileOffset: Number(view.getBigUint64(o + 8, true)), fileSize: Number(view.getBigUint64(o + 32, true)) }
        : { fileOffset: view.getUint32(o + 4, true), fileSize: view.getUint32(o + 16, true) };
      need(note.fileOffset + note.fileSize, `note segment ${k}`);
      notes.push(note);
      continue;
    }
    if (ptype !== PT_LOAD) continue;
    const seg: LoadSegment = is64
      ? {
        fileOffset: Number(view.getBigUint64(o + 8, true)),
        vaddr: Number(view.getBigUint64(o + 16, true)),
        paddr: Number(view.getBigUint64(o + 24, true)),
        fileSize: Number(view.getBigUint64(o + 32, true)),
        memSize: Number(view.getBigUint64(o + 40, true)),
      }
      : {
        fileOffset: view.getUint32(o + 4, true),
        vaddr: view.getUint32(o + 8, true),
        paddr: view.getUint32(o + 12, true),
        fileSize: view.getUint32(o + 16, true),
        memSize: view.getUint32(o + 20, true),
      };
    if (seg.fileSize > seg.memSize) throw new ImageError(`${name}: segment ${k} has a file size above its memory size`);
    need(seg.fileOffset + seg.fileSize, `segment ${k}`);
    segments.push(seg);
  }
  if (segments.length === 0) throw new ImageError(`${name}: no loadable segments`);
  return { class: is64 ? 64 : 32, machine, entry, segments, notes };
}
