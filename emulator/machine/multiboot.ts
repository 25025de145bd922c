import { ImageError, parseElf } from './elf.js';

/**
 * Multiboot v1 loading the way QEMU's -kernel does it for kvm-unit-tests (and GRUB for anyone):
 * find the header in the first 8 KiB, load the ELF's PT_LOAD segments at their physical
 * addresses with .bss zeroed, and build the multiboot information structure: memory sizes, a
 * memory map, the command line (the image name, then the -append words) and an optional module.
 *
 * The layout is QEMU's (hw/i386/multiboot.c and its multiboot.bin option ROM), so an image finds
 * its memory where it would under QEMU:
 *   0x9000  the memory map;  0x9500  the 88-byte information structure (EBX points here)
 *   from the image's lowest address L: the image, then at L + (its size rounded up to a page) the
 *   module list (16 bytes a module), the command line and the boot loader's name, then at the next
 *   page boundary the module itself
 * The boot information is written first and the image last, as QEMU's option ROM copies the
 * kernel after it has built the structure: an image that covers 0x9000 (kvm-unit-tests'
 * realmode.flat is linked at 0x8000) overwrites the map and the structure, as under QEMU, and
 * does not read them.
 */
export const MULTIBOOT_MAGIC = 0x1badb002;
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;

/** QEMU's ADDR_E820_MAP and ADDR_MBI (MULTIBOOT_STRUCT_ADDR and 0x500 above it). */
const MMAP_ADDR = 0x9000;
const MBI_ADDR = 0x9500;
const MBI_SIZE = 88;
const MOD_SIZE = 16;
const PAGE = 4096;

const pageUp = (n: number): number => Math.ceil(n / PAGE) * PAGE;

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
  let imageStart = Number.POSITIVE_INFINITY;
  let imageEnd = 0;
  for (const seg of elf.segments) {
    const end = seg.paddr + seg.memSize;
    if (end > mem.size) {
      throw new ImageError(`${opts.name}: segment at 0x${seg.paddr.toString(16)}-0x${end.toString(16)} does not fit in ${mem.size / 1048576} MiB of RAM`);
    }
    imageStart = Math.min(imageStart, seg.paddr);
    imageEnd = Math.max(imageEnd, end);
  }
  if (imageEnd === 0) throw new ImageError(`${opts.name}: no loadable segment`);

  // After the image, as QEMU lays out its multiboot buffer: module list, command line, loader name.
  const loaderName = opts.bootloader ?? 'mmulab';
  const modules = opts.module === undefined ? 0 : 1;
  const modsAddr = imageStart + pageUp(imageEnd - imageStart);
  const strings = new StringArea(mem, modsAddr + MOD_SIZE * modules);
  const moduleName = modules === 0 ? 0 : strings.add('module');
  const cmdline = strings.add(opts.cmdline);
  const loader = strings.add(loaderName);
  if (opts.module !== undefined) {
    const start = pageUp(strings.end);
    if (start + opts.module.length > mem.size) throw new ImageError(`${opts.name}: the module does not fit in RAM`);
    mem.write(start, opts.module);
    mem.writeU32(modsAddr, start);
    mem.writeU32(modsAddr + 4, start + opts.module.length);
    mem.writeU32(modsAddr + 8, moduleName);
    mem.writeU32(modsAddr + 12, 0);
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

  mem.fill(MBI_ADDR, MBI_SIZE, 0);
  // flags: mem_* (0), boot_device (1), cmdline (2), mods (3), mmap (6), boot_loader_name (9)
  mem.writeU32(MBI_ADDR, (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9));
  mem.writeU32(MBI_ADDR + 4, 0x27f);
  mem.writeU32(MBI_ADDR + 8, Math.floor((mem.size - 0x100000) / 1024));
  mem.writeU32(MBI_ADDR + 12, 0x8000ffff);
  mem.writeU32(MBI_ADDR + 16, cmdline);
  mem.writeU32(MBI_ADDR + 20, modules);
  mem.writeU32(MBI_ADDR + 24, modsAddr);
  mem.writeU32(MBI_ADDR + 44, entries.length * 24);
  mem.writeU32(MBI_ADDR + 48, MMAP_ADDR);
  mem.writeU32(MBI_ADDR + 64, loader);

  // The image last: it may cover the map and the structure (see the header).
  for (const seg of elf.segments) {
    mem.write(seg.paddr, file.subarray(seg.fileOffset, seg.fileOffset + seg.fileSize));
    mem.fill(seg.paddr + seg.fileSize, seg.memSize - seg.fileSize, 0);
  }
  return { entry: elf.entry >>> 0, mbiAddr: MBI_ADDR, imageEnd };
}

/** NUL-terminated strings packed one after another from `start`, as QEMU packs its command lines. */
class StringArea {
  private next: number;
  constructor(private readonly mem: GuestMemory, start: number) {
    this.next = start;
  }

  /** The first byte after the last string. */
  get end(): number {
    return this.next;
  }

  add(s: string): number {
    const bytes = Buffer.from(s + '\0', 'latin1');
    const at = this.next;
    if (at + bytes.length > this.mem.size) throw new ImageError('the boot information does not fit in RAM after the image');
    this.mem.write(at, bytes);
    this.next = at + bytes.length;
    return at;
  }
}
