import { describe, expect, test } from 'vitest';
import { Machine } from '../../vmm/machine.js';
import { ImageError } from '../../emulator/machine/elf.js';
import { HVM_START_MAGIC, hasPvhNote } from '../../emulator/machine/pvh.js';
import { CpuModel } from '../../emulator/cpu/cpu-model.js';
import { OPTIONAL_FEATURES } from '../../emulator/cpu/cpu-spec.js';
import { DEFAULT_FEATURES } from '../../emulator/cpu/cpu-model.js';

/**
 * A minimal vmlinux-shaped ELF64: one PT_LOAD at `paddr` holding `code`, and a PT_NOTE with the
 * Xen PHYS32_ENTRY note (descriptor `descBytes` long, Linux emits 8) pointing at the code.
 */
function vmlinux(opts: { paddr?: number; code?: number[]; bss?: number; note?: boolean; descBytes?: 4 | 8; entry?: number } = {}): Uint8Array {
  const paddr = opts.paddr ?? 0x1000000;
  const code = Uint8Array.from(opts.code ?? [0xf4]);
  const ehsize = 64;
  const phentsize = 56;
  const phnum = 2;
  const noteAt = ehsize + phnum * phentsize;
  const descBytes = opts.descBytes ?? 8;
  const noteBytes = 12 + 4 + descBytes;
  const codeAt = noteAt + noteBytes + 64;
  const file = new Uint8Array(codeAt + code.length);
  const v = new DataView(file.buffer);
  file.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  v.setUint16(16, 2, true); // ET_EXEC
  v.setUint16(18, 62, true); // EM_X86_64
  v.setUint32(20, 1, true);
  v.setBigUint64(24, 0xffffffff81000000n, true); // the 64-bit entry, which PVH does not use
  v.setBigUint64(32, BigInt(ehsize), true);
  v.setUint16(52, ehsize, true);
  v.setUint16(54, phentsize, true);
  v.setUint16(56, phnum, true);
  const ph = (k: number, type: number, offset: number, vaddr: bigint, p: number, filesz: number, memsz: number): void => {
    const o = ehsize + k * phentsize;
    v.setUint32(o, type, true);
    v.setBigUint64(o + 8, BigInt(offset), true);
    v.setBigUint64(o + 16, vaddr, true);
    v.setBigUint64(o + 24, BigInt(p), true);
    v.setBigUint64(o + 32, BigInt(filesz), true);
    v.setBigUint64(o + 40, BigInt(memsz), true);
  };
  ph(0, 1, codeAt, 0xffffffff81000000n, paddr, code.length, code.length + (opts.bss ?? 0));
  ph(1, opts.note === false ? 6 : 4, noteAt, 0n, 0, noteBytes, noteBytes);
  v.setUint32(noteAt, 4, true); // namesz "Xen\0"
  v.setUint32(noteAt + 4, descBytes, true);
  v.setUint32(noteAt + 8, 18, true); // XEN_ELFNOTE_PHYS32_ENTRY
  file.set([0x58, 0x65, 0x6e, 0], noteAt + 12);
  v.setUint32(noteAt + 16, opts.entry ?? paddr, true);
  file.set(code, codeAt);
  return file;
}

const u32 = (vm: Machine, gpa: number): number => new DataView(vm.readPhysical(gpa, 4).buffer).getUint32(0, true);
const u64 = (vm: Machine, gpa: number): number => Number(new DataView(vm.readPhysical(gpa, 8).buffer).getBigUint64(0, true));

describe('PVH loader', () => {
  test('finds the entry in the Xen note, loads the segment and starts in flat 32-bit mode with EBX = start_info', () => {
    const vm = new Machine({ memBytes: 32 << 20, serialOut: () => {} });
    const info = vm.loadPvh(vmlinux({ code: [0x90, 0xf4], entry: 0x1000001, bss: 0x100 }), 'vmlinux', 'console=ttyS0');
    expect(info.entry).toBe(0x1000001);
    expect([...vm.readPhysical(0x1000000, 2)]).toEqual([0x90, 0xf4]);
    expect(vm.cpu.ripLo).toBe(0x1000001);
    expect(vm.cpu.codeBits).toBe(32);
    expect(vm.cpu.cr0 & 0x80000001).toBe(1); // PE on, PG off
    expect(vm.cpu.cr4).toBe(0);
    expect(vm.cpu.lo[3]).toBe(info.startInfoAddr);
    expect(vm.run(10).outcome).toBe('halted');
  });

  test('hvm_start_info: magic, version 1, command line, memory map, no modules', () => {
    const vm = new Machine({ memBytes: 64 << 20, serialOut: () => {} });
    const { startInfoAddr: s } = vm.loadPvh(vmlinux(), 'vmlinux', 'console=ttyS0 panic=-1');
    expect(u32(vm, s)).toBe(HVM_START_MAGIC);
    expect(u32(vm, s + 4)).toBe(1);
    expect(u32(vm, s + 8)).toBe(0); // flags
    expect(u32(vm, s + 12)).toBe(0); // nr_modules
    const cmdline = vm.readPhysical(u64(vm, s + 24), 64);
    expect(Buffer.from(cmdline.subarray(0, cmdline.indexOf(0))).toString()).toBe('console=ttyS0 panic=-1');
    expect(u64(vm, s + 32)).toBe(0); // rsdp_paddr
    const map = u64(vm, s + 40);
    const n = u32(vm, s + 48);
    const entries = Array.from({ length: n }, (_, k) => [u64(vm, map + 24 * k), u64(vm, map + 24 * k + 8), u32(vm, map + 24 * k + 16)]);
    // qboot's layout: low RAM, EBDA..option ROMs reserved, ACPI NVS, BIOS reserved, RAM from 1 MiB.
    expect(entries).toEqual([
      [0, 0x9fc00, 1], [0x9fc00, 0xd0000 - 0x9fc00, 2], [0xd0000, 0x20000, 4], [0xf0000, 0x10000, 2], [0x100000, (64 << 20) - 0x100000, 1],
    ]);
  });

  test('the initrd is module 0, page-aligned at the top of RAM', () => {
    const vm = new Machine({ memBytes: 32 << 20, serialOut: () => {} });
    const initrd = Uint8Array.from({ length: 5000 }, (_, k) => k & 0xff);
    const { startInfoAddr: s, initrdAddr } = vm.loadPvh(vmlinux(), 'vmlinux', '', initrd);
    expect(u32(vm, s + 12)).toBe(1);
    const mod = u64(vm, s + 16);
    expect(u64(vm, mod)).toBe(initrdAddr);
    expect(u64(vm, mod + 8)).toBe(5000);
    expect(initrdAddr! % 4096).toBe(0);
    expect(initrdAddr! + 5000).toBeLessThanOrEqual(32 << 20);
    expect(initrdAddr! + 5000 + 4096).toBeGreaterThan(32 << 20);
    expect([...vm.readPhysical(initrdAddr!, 5000)]).toEqual([...initrd]);
  });

  test('a 4-byte note descriptor works too; hasPvhNote tells vmlinux from other images', () => {
    expect(hasPvhNote(vmlinux({ descBytes: 4 }))).toBe(true);
    expect(hasPvhNote(vmlinux({ note: false }))).toBe(false);
    expect(hasPvhNote(new Uint8Array([1, 2, 3]))).toBe(false);
  });

  test('bad images are ImageErrors with a reason', () => {
    const vm = new Machine({ memBytes: 32 << 20, serialOut: () => {} });
    expect(() => vm.loadPvh(vmlinux({ note: false }), 'k', '')).toThrow(/no PVH entry note/);
    expect(() => vm.loadPvh(vmlinux({ paddr: 0x20000000 }), 'k', '')).toThrow(ImageError);
    expect(() => vm.loadPvh(vmlinux({ paddr: 0x80000 }), 'k', '')).toThrow(/below 1 MiB/);
    expect(() => vm.loadPvh(vmlinux({ entry: 0x3000000 }), 'k', '')).toThrow(/outside the loaded image/);
    expect(() => vm.loadPvh(vmlinux(), 'k', 'x'.repeat(9000))).toThrow(/command line/);
    expect(() => vm.loadPvh(vmlinux(), 'k', '', new Uint8Array(16 << 20))).toThrow(/initrd/);
  });

  test('no hypervisor CPUID leaf says "XenVMMXenVMM" (Linux would take the Xen PVH path and make hypercalls)', () => {
    for (const features of [DEFAULT_FEATURES, [...DEFAULT_FEATURES, ...OPTIONAL_FEATURES]]) {
      const model = new CpuModel({ features });
      for (let leaf = 0x40000000; leaf <= 0x4000ff00; leaf += 0x100) {
        const [, ebx, ecx, edx] = model.cpuid(leaf, 0, 0);
        const b = Buffer.alloc(12);
        b.writeInt32LE(ebx, 0); b.writeInt32LE(ecx, 4); b.writeInt32LE(edx, 8);
        expect(b.toString('latin1')).not.toBe('XenVMMXenVMM');
      }
    }
  });
});
