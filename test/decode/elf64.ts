/**
 * Just enough ELF64 reading for the decoder tests: section headers (by name) and the symbol table.
 * The loader (emulator/machine/elf.ts) reads only program headers; the guests' .elf files keep
 * their sections and symbols for disassembly.
 */
export interface Section {
  readonly name: string;
  readonly type: number;
  readonly addr: bigint;
  readonly offset: number;
  readonly size: number;
  readonly link: number;
}

export interface Elf64 {
  readonly sections: Section[];
  /** Symbol name -> value (the first definition of each name). */
  readonly symbols: Map<string, bigint>;
  section(name: string): Section;
  /** The bytes of a section in the file. */
  bytes(s: Section): Uint8Array;
}

const SHT_SYMTAB = 2;

function cString(file: Uint8Array, at: number): string {
  let end = at;
  while (end < file.length && file[end] !== 0) end++;
  return Buffer.from(file.subarray(at, end)).toString('latin1');
}

export function readElf64(file: Uint8Array): Elf64 {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (v.getUint32(0, false) !== 0x7f454c46 || file[4] !== 2 || file[5] !== 1) throw new Error('not a little-endian ELF64 file');
  const shoff = Number(v.getBigUint64(40, true));
  const shentsize = v.getUint16(58, true);
  const shnum = v.getUint16(60, true);
  const shstrndx = v.getUint16(62, true);
  const raw = [];
  for (let k = 0; k < shnum; k++) {
    const o = shoff + k * shentsize;
    raw.push({
      nameOff: v.getUint32(o, true),
      type: v.getUint32(o + 4, true),
      addr: v.getBigUint64(o + 16, true),
      offset: Number(v.getBigUint64(o + 24, true)),
      size: Number(v.getBigUint64(o + 32, true)),
      link: v.getUint32(o + 40, true),
    });
  }
  const names = raw[shstrndx];
  const sections: Section[] = raw.map((s) => ({
    name: cString(file, names.offset + s.nameOff),
    type: s.type, addr: s.addr, offset: s.offset, size: s.size, link: s.link,
  }));
  const symbols = new Map<string, bigint>();
  for (const symtab of sections.filter((s) => s.type === SHT_SYMTAB)) {
    const strtab = sections[symtab.link];
    for (let o = symtab.offset; o + 24 <= symtab.offset + symtab.size; o += 24) {
      const name = cString(file, strtab.offset + v.getUint32(o, true));
      if (name !== '' && !symbols.has(name)) symbols.set(name, v.getBigUint64(o + 8, true));
    }
  }
  return {
    sections,
    symbols,
    section(name: string): Section {
      const s = sections.find((x) => x.name === name);
      if (s === undefined) throw new Error(`no section ${name}`);
      return s;
    },
    bytes(s: Section): Uint8Array {
      return file.subarray(s.offset, s.offset + s.size);
    },
  };
}
