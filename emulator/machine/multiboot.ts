import { ImageError, parseElf } from './elf.js';

/**
 * Multiboot v1 loading the way QEMU's -kernel does it for kvm-unit-tests (and GRUB for anyone):
 * find the header in the first 8 KiB, load the ELF's PT_LOAD segments at their physical
 * addresses with .bss zeroed, and build the multiboot information structure: memory sizes, a
 * memory map, the command line (the image name, then the -append words) and an optional module.
 */
export const MULTIBOOT_MAGIC = 0x1badb002;
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;

/** Where the information structure and its strings go: low memory, below every image. */
const MBI_ADDR = 0x9500;
const MMAP_ADDR = 0x9000;
const STRINGS_ADDR = 0xa000;
const STRINGS_END = 0x9f000;

export interface GuestMemory {
  readonly size: number;
  write(gpa: number, bytes: Uint8Array): void;
  fill(gpa: number, length: number, value: number): void;
  writeU32(gpa: number, v: number): void;
}

export interface BootInfo {
  readonly entry: number;
  readonly mbiAddr: number;
  /** Highest guest-physical byte the image uses. */
  readonly imageEnd: number;
}

export interface MultibootOptions {
  readonly name: string;
  readonly cmdline: string;
  readonly module?: Uint8Array;
  readonly bootloader?: string;
}

export function findMultibootHeader(file: Uint8Array): number {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const limit = Math.min(file.length, 8192) - 12;
  for (let o = 0; o <= limit; o += 4) {
    if (view.getUint32(o, true) !== MULTIBOOT_MAGIC) continue;
    const flags = view.getUint32(o + 4, true);
    const checksum = view.getUint32(o + 8, true);
    if (((MULTIBOOT_MAGIC + flags + checksum) >>> 0) === 0) return o;
  }
  return -1;
}

export function loadMultiboot(file: Uint8Array, mem: GuestMemory, opts: MultibootOptions): BootInfo {
  const elf = parseElf(file, opts.name);
  const header = findMultibootHeader(file);
  if (header < 0) throw new ImageError(`${opts.name}: no multiboot header in the first 8 KiB (not a multiboot kernel)`);
  const flags = new DataView(file.buffer, file.byteOffset).getUint32(header + 4, true);
  if ((flags & (1 << 16)) !== 0) throw new ImageError(`${opts.name}: multiboot a.out-kludge images are not supported; link as ELF`);
  let imageEnd = 0;
  for (const seg of elf.segments) {
    const end = seg.paddr + seg.memSize;
    if (seg.paddr < 0x100000 && end > STRINGS_ADDR) {
      throw new ImageError(`${opts.name}: segment at 0x${seg.paddr.toString(16)} overlaps low memory used for boot information`);
    }
    if (end > mem.size) {
      throw new ImageError(`${opts.name}: segment at 0x${seg.paddr.toString(16)}-0x${end.toString(16)} does not fit in ${mem.size / 1048576} MiB of RAM`);
    }
    mem.write(seg.paddr, file.subarray(seg.fileOffset, seg.fileOffset + seg.fileSize));
    mem.fill(seg.paddr + seg.fileSize, seg.memSize - seg.fileSize, 0);
    imageEnd = Math.max(imageEnd, end);
  }

  const strings = new StringArea(mem, STRINGS_ADDR, STRINGS_END);
  const cmdline = strings.add(opts.cmdline);
  const loader = strings.add(opts.bootloader ?? 'mmulab');
  let modsAddr = 0;
  let modsCount = 0;
  if (opts.module !== undefined) {
    // The module goes on the first page boundary above the image, like QEMU places initrds.
    const start = Math.ceil(imageEnd / 4096) * 4096;
    if (start + opts.module.length > mem.size) throw new ImageError(`${opts.name}: the module does not fit in RAM`);
    mem.write(start, opts.module);
    modsAddr = strings.reserve(16);
    mem.writeU32(modsAddr, start);
    mem.writeU32(modsAddr + 4, start + opts.module.length);
    mem.writeU32(modsAddr + 8, strings.add('module'));
    mem.writeU32(modsAddr + 12, 0);
    modsCount = 1;
  }

  // Memory map: conventional memory, the reserved BIOS areas, and RAM from 1 MiB up.
  const entries: Array<[number, number, number]> = [
    [0, 0x9fc00, 1],
    [0x9fc00, 0x400, 2],
    [0xf0000, 0x10000, 2],
    [0x100000, mem.size - 0x100000, 1],
  ];
  let mm = MMAP_ADDR;
  for (const [base, length, type] of entries) {
    mem.writeU32(mm, 20);
    mem.writeU32(mm + 4, base);
    mem.writeU32(mm + 8, 0);
    mem.writeU32(mm + 12, length);
    mem.writeU32(mm + 16, 0);
    mem.writeU32(mm + 20, type);
    mm += 24;
  }

  mem.fill(MBI_ADDR, 88, 0);
  // flags: mem_* (0), boot_device (1), cmdline (2), mods (3), mmap (6), boot_loader_name (9)
  mem.writeU32(MBI_ADDR, (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9));
  mem.writeU32(MBI_ADDR + 4, 0x27f);
  mem.writeU32(MBI_ADDR + 8, Math.floor((mem.size - 0x100000) / 1024));
  mem.writeU32(MBI_ADDR + 12, 0x8000ffff);
  mem.writeU32(MBI_ADDR + 16, cmdline);
  mem.writeU32(MBI_ADDR + 20, modsCount);
  mem.writeU32(MBI_ADDR + 24, modsAddr);
  mem.writeU32(MBI_ADDR + 44, entries.length * 24);
  mem.writeU32(MBI_ADDR + 48, MMAP_ADDR);
  mem.writeU32(MBI_ADDR + 64, loader);
  return { entry: elf.entry >>> 0, mbiAddr: MBI_ADDR, imageEnd };
}

/** NUL-terminated strings and small structures packed into a low-memory area. */
class StringArea {
  private next: number;
  constructor(private readonly mem: GuestMemory, start: number, private readonly end: number) {
    this.next = start;
  }

  add(s: string): number {
    const bytes = Buffer.from(s + '\0', 'latin1');
    const at = this.reserve(bytes.length);
    this.mem.write(at, bytes);
    return at;
  }

  reserve(n: number): number {
    const at = (this.next + 15) & ~15;
    if (at + n > this.end) throw new ImageError('boot information does not fit below 640 KiB');
    this.next = at + n;
    return at;
  }
}
