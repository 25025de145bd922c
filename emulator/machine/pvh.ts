import { ImageError, type ElfImage, parseElf } from './elf.js';
import type { GuestMemory } from './multiboot.js';

/**
 * PVH boot (Xen's x86/HVM direct boot ABI, which Linux implements in arch/x86/platform/pvh and
 * QEMU and cloud-hypervisor use to start an uncompressed vmlinux): load the ELF's PT_LOAD segments
 * at their physical addresses, find the 32-bit entry point in the ELF note of type
 * XEN_ELFNOTE_PHYS32_ENTRY (owner "Xen"), and build `struct hvm_start_info` (version 1, with the
 * memory map) plus the command line and an optional initrd module. The CPU then starts in flat
 * 32-bit protected mode with paging off and EBX = the address of hvm_start_info.
 *
 * Layout in guest RAM (all below the EBDA, none of it in the memory map's reserved ranges, like
 * the option ROM QEMU uses for PVH): start_info at 0x6000, the module list right after it, the
 * memory map after that, the command line from 0x7000. The initrd goes on the highest page
 * boundary that fits below the top of RAM, where QEMU puts it.
 */

/** Owner and type of the note carrying the 32-bit physical entry (xen/include/public/elfnote.h). */
const XEN_NOTE_OWNER = 'Xen';
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;

export const HVM_START_MAGIC = 0x336ec578;
/** Version 1 adds memmap_paddr/memmap_entries; Linux wants it on a machine that is not Xen. */
export const HVM_START_VERSION = 1;

export const START_INFO_ADDR = 0x6000;
/** sizeof(struct hvm_start_info), version 1. */
export const START_INFO_SIZE = 56;
export const MODLIST_ADDR = START_INFO_ADDR + 0x40;
/** sizeof(struct hvm_modlist_entry): paddr, size, cmdline_paddr, reserved. */
const MODLIST_ENTRY_SIZE = 32;
export const MEMMAP_ADDR = MODLIST_ADDR + MODLIST_ENTRY_SIZE;
/** sizeof(struct hvm_memmap_table_entry): addr, size, type, reserved. */
const MEMMAP_ENTRY_SIZE = 24;
export const CMDLINE_ADDR = 0x7000;
/** The command line and its NUL must end before this (Linux itself keeps 2 KiB of it). */
const CMDLINE_END = 0x9000;

/** Below this every byte belongs to the boot structures, the EBDA and the BIOS areas. */
const LOW_MEMORY_END = 0x100000;

/** Address range types (the ACPI specification's, which hvm_memmap_table_entry uses). */
export const enum MemmapType { RAM = 1, RESERVED = 2, ACPI = 3, NVS = 4 }

export interface MemmapEntry {
  readonly addr: number;
  readonly size: number;
  readonly type: MemmapType;
}

export interface PvhOptions {
  /** Name for error messages (the file name). */
  readonly name: string;
  /** The kernel command line (QEMU's -append; unlike multiboot, the image name is not part of it). */
  readonly cmdline: string;
  readonly initrd?: Uint8Array;
}

export interface PvhBootInfo {
  /** 32-bit physical entry point from the PHYS32_ENTRY note. */
  readonly entry: number;
  /** Guest-physical address of hvm_start_info (EBX at entry). */
  readonly startInfoAddr: number;
  /** Highest guest-physical byte the kernel image uses. */
  readonly imageEnd: number;
  /** Where the initrd was put, if there is one. */
  readonly initrdAddr?: number;
  readonly memmap: readonly MemmapEntry[];
}

/** Whether `file` is an ELF image with a PVH entry note (a vmlinux to boot with `loadPvh`). */
export function hasPvhNote(file: Uint8Array): boolean {
  try {
    return findPvhEntry(file, parseElf(file, 'image')) !== undefined;
  } catch {
    return false;
  }
}

/**
 * The PHYS32_ENTRY note's value, or undefined without one. Each note is namesz, descsz, type,
 * then the name and the descriptor, each padded to 4 bytes; the descriptor is 4 or 8 bytes
 * (Linux emits a pointer-sized value), and an entry at or above 4 GiB cannot be reached from
 * 32-bit mode.
 */
export function findPvhEntry(file: Uint8Array, elf: ElfImage): number | undefined {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  for (const seg of elf.notes) {
    let o = seg.fileOffset;
    const end = seg.fileOffset + seg.fileSize;
    while (o + 12 <= end) {
      const namesz = view.getUint32(o, true);
      const descsz = view.getUint32(o + 4, true);
      const type = view.getUint32(o + 8, true);
      const nameAt = o + 12;
      const descAt = nameAt + align4(namesz);
      const next = descAt + align4(descsz);
      if (next > end || next <= o) break; // malformed: stop reading this segment
      const name = Buffer.from(file.subarray(nameAt, nameAt + namesz)).toString('latin1').replace(/\0+$/, '');
      if (name === XEN_NOTE_OWNER && type === XEN_ELFNOTE_PHYS32_ENTRY) {
        if (descsz !== 4 && descsz !== 8) return undefined;
        if (descsz === 8 && view.getUint32(descAt + 4, true) !== 0) return undefined;
        return view.getUint32(descAt, true);
      }
      o = next;
    }
  }
  return undefined;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * The memory map handed to the kernel, the one QEMU's PVH firmware (qboot) builds: conventional
 * memory below the EBDA; the EBDA, VGA and option-ROM area reserved; 0xD0000-0xEFFFF as ACPI NVS
 * (the machine's ACPI tables are at 0xE0000); the BIOS area reserved; RAM from 1 MiB to the top.
 */
export function pvhMemoryMap(memBytes: number): MemmapEntry[] {
  return [
    { addr: 0, size: 0x9fc00, type: MemmapType.RAM },
    { addr: 0x9fc00, size: 0xd0000 - 0x9fc00, type: MemmapType.RESERVED },
    { addr: 0xd0000, size: 0x20000, type: MemmapType.NVS },
    { addr: 0xf0000, size: 0x10000, type: MemmapType.RESERVED },
    { addr: LOW_MEMORY_END, size: memBytes - LOW_MEMORY_END, type: MemmapType.RAM },
  ];
}

export function loadPvh(file: Uint8Array, mem: GuestMemory, opts: PvhOptions): PvhBootInfo {
  const elf = parseElf(file, opts.name);
  const entry = findPvhEntry(file, elf);
  if (entry === undefined) {
    throw new ImageError(`${opts.name}: no PVH entry note (Xen ELF note ${XEN_ELFNOTE_PHYS32_ENTRY}); build the kernel with CONFIG_PVH=y`);
  }
  let imageEnd = 0;
  for (const seg of elf.segments) {
    const end = seg.paddr + seg.memSize;
    if (seg.paddr < LOW_MEMORY_END) {
      throw new ImageError(`${opts.name}: segment at 0x${seg.paddr.toString(16)} is below 1 MiB, where the boot information goes`);
    }
    if (end > mem.size) {
      throw new ImageError(`${opts.name}: segment at 0x${seg.paddr.toString(16)}-0x${end.toString(16)} does not fit in ${mem.size / 1048576} MiB of RAM`);
    }
    mem.write(seg.paddr, file.subarray(seg.fileOffset, seg.fileOffset + seg.fileSize));
    mem.fill(seg.paddr + seg.fileSize, seg.memSize - seg.fileSize, 0);
    imageEnd = Math.max(imageEnd, end);
  }
  if (entry < LOW_MEMORY_END || entry >= imageEnd) {
    throw new ImageError(`${opts.name}: PVH entry 0x${entry.toString(16)} is outside the loaded image`);
  }

  const cmdline = Buffer.from(opts.cmdline + '\0', 'latin1');
  if (CMDLINE_ADDR + cmdline.length > CMDLINE_END) {
    throw new ImageError(`${opts.name}: the command line is ${cmdline.length - 1} bytes, more than ${CMDLINE_END - CMDLINE_ADDR - 1}`);
  }
  mem.write(CMDLINE_ADDR, cmdline);

  let initrdAddr: number | undefined;
  if (opts.initrd !== undefined) {
    const at = Math.floor((mem.size - opts.initrd.length) / 4096) * 4096;
    if (at < Math.ceil(imageEnd / 4096) * 4096) {
      throw new ImageError(`${opts.name}: the initrd (${opts.initrd.length} bytes) does not fit in RAM above the kernel`);
    }
    mem.write(at, opts.initrd);
    initrdAddr = at;
    const e = new Uint8Array(MODLIST_ENTRY_SIZE);
    const v = new DataView(e.buffer);
    v.setBigUint64(0, BigInt(at), true);
    v.setBigUint64(8, BigInt(opts.initrd.length), true);
    // cmdline_paddr 0: no module command line; reserved 0.
    mem.write(MODLIST_ADDR, e);
  }

  const memmap = pvhMemoryMap(mem.size);
  const table = new Uint8Array(memmap.length * MEMMAP_ENTRY_SIZE);
  const tv = new DataView(table.buffer);
  memmap.forEach((m, k) => {
    tv.setBigUint64(k * MEMMAP_ENTRY_SIZE, BigInt(m.addr), true);
    tv.setBigUint64(k * MEMMAP_ENTRY_SIZE + 8, BigInt(m.size), true);
    tv.setUint32(k * MEMMAP_ENTRY_SIZE + 16, m.type, true);
  });
  mem.write(MEMMAP_ADDR, table);

  const info = new Uint8Array(START_INFO_SIZE);
  const iv = new DataView(info.buffer);
  iv.setUint32(0, HVM_START_MAGIC, true);
  iv.setUint32(4, HVM_START_VERSION, true);
  iv.setUint32(8, 0, true); // flags
  iv.setUint32(12, opts.initrd === undefined ? 0 : 1, true);
  iv.setBigUint64(16, BigInt(opts.initrd === undefined ? 0 : MODLIST_ADDR), true);
  iv.setBigUint64(24, BigInt(CMDLINE_ADDR), true);
  iv.setBigUint64(32, 0n, true); // rsdp_paddr: none given; a kernel with ACPI scans the BIOS area
  iv.setBigUint64(40, BigInt(MEMMAP_ADDR), true);
  iv.setUint32(48, memmap.length, true);
  mem.write(START_INFO_ADDR, info);

  return { entry, startInfoAddr: START_INFO_ADDR, imageEnd, initrdAddr, memmap };
}
