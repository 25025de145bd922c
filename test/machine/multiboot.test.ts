import { describe, expect, test } from 'vitest';
import { Machine } from '../../vmm/machine.js';
import { ImageError } from '../../emulator/machine/elf.js';
import { buildElf32 } from '../helpers/elf32.js';

function u32(vm: Machine, gpa: number): number {
  return new DataView(vm.readPhysical(gpa, 4).buffer).getUint32(0, true);
}

function cString(vm: Machine, gpa: number): string {
  const bytes = vm.readPhysical(gpa, 256);
  return Buffer.from(bytes.subarray(0, bytes.indexOf(0))).toString('latin1');
}

describe('multiboot loader', () => {
  test('loads the segment, zeroes .bss and hands over EAX/EBX as the spec says', () => {
    const vm = new Machine({ memBytes: 16 << 20, serialOut: () => {} });
    vm.writePhysical(0x200100, new Uint8Array(64).fill(0xee)); // stale data where .bss will be
    const image = buildElf32({ code: new Uint8Array([0xf4]), bssBytes: 0x200 });
    const info = vm.loadMultiboot(image, 'img.flat', 'a b');
    expect(info.entry).toBe(0x20000c);
    expect(vm.readPhysical(0x20000c, 1)[0]).toBe(0xf4);
    expect([...vm.readPhysical(0x200100, 64)].every((b) => b === 0)).toBe(true);
    expect(vm.cpu.lo[0] >>> 0).toBe(0x2badb002);
    expect(vm.cpu.lo[3]).toBe(info.mbiAddr);
    expect(vm.cpu.ripLo).toBe(0x20000c);
    expect(vm.cpu.codeBits).toBe(32);
  });

  test('fills the information structure like QEMU: flags, memory, command line, memory map', () => {
    const vm = new Machine({ memBytes: 32 << 20, serialOut: () => {} });
    const { mbiAddr } = vm.loadMultiboot(buildElf32({ code: new Uint8Array([0xf4]) }), 'x86/t.flat', 'force_emulation');
    const flags = u32(vm, mbiAddr);
    for (const bit of [0, 2, 6]) expect(flags & (1 << bit)).not.toBe(0);
    expect(u32(vm, mbiAddr + 8)).toBe((32 << 10) - 1024); // mem_upper in KiB above 1 MiB
    expect(cString(vm, u32(vm, mbiAddr + 16))).toBe('x86/t.flat force_emulation');
    const mmapLen = u32(vm, mbiAddr + 44);
    const mmap = u32(vm, mbiAddr + 48);
    const ram: Array<[number, number]> = [];
    for (let o = 0; o < mmapLen; o += 24) {
      if (u32(vm, mmap + o + 20) === 1) ram.push([u32(vm, mmap + o + 4), u32(vm, mmap + o + 12)]);
    }
    expect(ram).toEqual([[0, 0x9fc00], [0x100000, (32 << 20) - 0x100000]]);
  });

  test('passes a module (the kvm-unit-tests environment) as module 0', () => {
    const vm = new Machine({ memBytes: 16 << 20, serialOut: () => {} });
    const env = Buffer.from('NR_CPUS=1\n');
    const { mbiAddr } = vm.loadMultiboot(buildElf32({ code: new Uint8Array([0xf4]) }), 'k', '', env);
    expect(u32(vm, mbiAddr + 20)).toBe(1);
    const mod = u32(vm, mbiAddr + 24);
    const start = u32(vm, mod);
    expect(u32(vm, mod + 4) - start).toBe(env.length);
    expect(Buffer.from(vm.readPhysical(start, env.length)).toString()).toBe('NR_CPUS=1\n');
  });

  test('QEMU\'s layout: map at 0x9000, structure at 0x9500, strings and module after the page-aligned image', () => {
    const vm = new Machine({ memBytes: 16 << 20, serialOut: () => {} });
    const env = Buffer.from('NR_CPUS=1\n');
    const image = buildElf32({ code: new Uint8Array([0xf4]), bssBytes: 0x1800 }); // 0x200000-0x20180c+
    const { mbiAddr } = vm.loadMultiboot(image, 'x86/t.flat', 'a', env);
    expect(mbiAddr).toBe(0x9500);
    expect(u32(vm, mbiAddr + 48)).toBe(0x9000);
    const mods = u32(vm, mbiAddr + 24);
    expect(mods).toBe(0x202000); // hw/i386/multiboot.c: mb_buf_phys + TARGET_PAGE_ALIGN(kernel size)
    expect(u32(vm, mbiAddr + 16)).toBeGreaterThan(mods);
    expect(cString(vm, u32(vm, mbiAddr + 16))).toBe('x86/t.flat a');
    expect(u32(vm, mods) % 4096).toBe(0);
    expect(u32(vm, mods)).toBeGreaterThan(u32(vm, mbiAddr + 64));
  });

  test('an image over the boot information (realmode.flat at 0x8000) loads, and its bytes win as under QEMU', () => {
    const vm = new Machine({ memBytes: 16 << 20, serialOut: () => {} });
    const code = new Uint8Array(0x2000).fill(0x90);
    const info = vm.loadMultiboot(buildElf32({ code, loadAddr: 0x8000 }), 'realmode.flat', '');
    expect(info.entry).toBeLessThan(0x9000);
    expect(u32(vm, 0x9000)).toBe(0x90909090);
    expect(u32(vm, 0x9500)).toBe(0x90909090);
  });

  test.each([
    ['an empty file', new Uint8Array(0), /truncated|not an ELF/],
    ['a text file', Buffer.from('#!/bin/sh\necho hi\n'), /not an ELF file/],
    ['a truncated ELF', buildElf32({ code: new Uint8Array(100) }).subarray(0, 60), /truncated/],
    ['an ELF without a multiboot header', buildElf32({ code: new Uint8Array([0xf4]), noMultiboot: true }), /no multiboot header/],
    ['a segment beyond RAM', buildElf32({ code: new Uint8Array([0xf4]), loadAddr: 0x3000000 }), /does not fit/],
  ])('refuses %s with an ImageError', (_what, file, message) => {
    const vm = new Machine({ memBytes: 16 << 20, serialOut: () => {} });
    let caught: unknown;
    try { vm.loadMultiboot(file, 'img', ''); } catch (e) { caught = e; }
    expect(caught).toBeInstanceOf(ImageError);
    expect((caught as Error).message).toMatch(message);
  });
});
