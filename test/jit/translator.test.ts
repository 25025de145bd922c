/**
 * The translator (emulator/jit) against the interpreter: the same guest, run with every block
 * translated at its first execution ('force') and with translation off, must give the same
 * serial output, exit status, retired-instruction count and final registers in every vCPU.
 * Then targeted cases: a fault in the middle of a translated block, self-modifying code inside
 * a translated block, and a register write-back before an interpreter fallback.
 */
import { describe, expect, test } from 'vitest';
import { STACK, runSnippet } from '../helpers/snippet.js';
import { GUEST_CASES, type GuestCase, expectSameRun, runGuest, titled } from './guest-run.js';

describe('translated guests agree with the interpreter', () => {
  test.each(titled(GUEST_CASES))('$title', ({ name, args, mmu, cpus }) => {
    const off = runGuest(name, args, 'off', mmu, cpus);
    const forced = runGuest(name, args, 'force', mmu, cpus);
    expect(off.outcome, off.out).toBe('exit');
    expect(off.status, off.out).toBe(1);
    expect(forced.compiled).toBeGreaterThan(0);
    expectSameRun(forced, off);
  }, 300_000); // force translates every block once: insn-selftest's 2,900 blocks take seconds
});

/**
 * With the translator on, a block is translated only after it ran COMPILE_THRESHOLD times
 * interpreted and its call-threaded form TRANSLATE_THRESHOLD times (160,000 runs in all, so the
 * exit loops run 200,000 iterations), and then with the hot blocks of its page it continues into
 * (regions, jit/region.ts): the loops of these guests run inside translated regions.
 */
const ON_CASES: readonly GuestCase[] = [
  { name: 'sieve', args: '1', mmu: 'bare' },
  { name: 'exitloop', args: 'cpuid 200000', mmu: 'tdp' },
  { name: 'exitloop', args: 'out 200000', mmu: 'bare' },
];

describe('guests with hot blocks translated into regions agree with the interpreter', () => {
  test.each(titled(ON_CASES))('$title', ({ name, args, mmu, cpus }) => {
    const off = runGuest(name, args, 'off', mmu, cpus);
    const on = runGuest(name, args, 'on', mmu, cpus);
    expect(off.status, off.out).toBe(1);
    expect(on.translated).toBeGreaterThan(0);
    expectSameRun(on, off);
  }, 120_000);
});

/** Bytes of a 64-bit snippet. */
const code = (...parts: number[][]): Uint8Array => new Uint8Array(parts.flat());
const regs = (over: Record<number, bigint>): bigint[] => Array.from({ length: 16 }, (_, r) => over[r] ?? BigInt(0x1000 * (r + 1)));

describe('translated blocks in exact interpreter state', () => {
  process.env.MMULAB_TRANSLATOR = 'force';
  const RSP = 4;

  test('a page fault in the middle of a block: earlier writes visible, later ones not, RIP at the load', () => {
    const out = runSnippet({
      code: code(
        [0x48, 0xc7, 0xc0, 0x01, 0, 0, 0], // mov rax, 1
        [0x48, 0x01, 0xc3], // add rbx, rax
        [0x48, 0x8b, 0x0c, 0x25, 0, 0, 0, 0x40], // mov rcx, [0x40000000] (unmapped)
        [0x48, 0xc7, 0xc2, 0x05, 0, 0, 0], // mov rdx, 5
      ),
      regs: regs({ [RSP]: BigInt(STACK + 0x800), 3: 10n }),
      rflags: 2n,
    });
    expect(out.exception).toBe(14);
    expect(out.regs[0]).toBe(1n);
    expect(out.regs[3]).toBe(11n);
    expect(out.regs[1]).toBe(0x2000n);
    expect(out.regs[2]).toBe(0x3000n);
    // The #PF frame's RIP is the faulting MOV: CODE + 7 + 3.
    const frameRip = new DataView(out.stack.buffer, out.stack.byteOffset).getBigUint64(0x800 - 40, true);
    expect(frameRip).toBe(BigInt(0x200000 + 10));
  });

  test('a store into a later instruction of the same translated block takes effect', () => {
    // mov byte [rip+1], 0x77 writes the immediate of the next instruction, mov al, 0x11.
    const out = runSnippet({
      code: code([0xc6, 0x05, 0x01, 0, 0, 0, 0x77], [0xb0, 0x11], [0x48, 0x83, 0xc3, 0x01]),
      regs: regs({ [RSP]: BigInt(STACK + 0x800), 0: 0n, 3: 1n }),
      rflags: 2n,
    });
    expect(out.exception).toBe(null);
    expect(out.regs[0]).toBe(0x77n);
    expect(out.regs[3]).toBe(2n);
  });

  test('registers kept in locals are stored back before an interpreter fallback reads them', () => {
    // add rax, rbx (translated); cpuid (a fallback reading EAX, ECX); leaf 0 returns the max leaf.
    const out = runSnippet({
      code: code([0x48, 0x01, 0xd8], [0x48, 0x89, 0xc7], [0x31, 0xc9], [0x0f, 0xa2]),
      regs: regs({ [RSP]: BigInt(STACK + 0x800), 0: 0xfffffffffffffff0n, 3: 0x10n }),
      rflags: 2n,
    });
    expect(out.exception).toBe(null);
    expect(out.regs[7]).toBe(0n);
    // CPUID leaf 0 (not leaf 0xfffffff0): EBX holds the first four bytes of the vendor string.
    expect([0x756e6547n, 0x68747541n]).toContain(out.regs[3]);
  });

  // Under force, a block's region holds the blocks of its page decoded before it: in these loops
  // the second block is translated with the first, and the loop runs inside its function.
  test('a page fault in another block of a region: blocks before it counted, RIP at the load', () => {
    // A: inc rax; mov rdx, [rsi + rax*8]; jmp B.  B: cmp rax, 100; jne A.
    // RSI puts the 50th load at 0x800000, the first unmapped byte: #PF inside A, run from B's region.
    const out = runSnippet({
      code: code([0x48, 0xff, 0xc0], [0x48, 0x8b, 0x14, 0xc6], [0xeb, 0x00], [0x48, 0x83, 0xf8, 0x64], [0x75, 0xf1]),
      regs: regs({ [RSP]: BigInt(STACK + 0x800), 0: 0n, 2: 7n, 6: BigInt(0x800000 - 50 * 8) }),
      rflags: 2n,
    });
    expect(out.exception).toBe(14);
    expect(out.regs[0]).toBe(50n);
    expect(out.regs[2]).toBe(0n); // the 49th load read zeroed memory
    const frame = new DataView(out.stack.buffer, out.stack.byteOffset);
    expect(frame.getBigUint64(0x800 - 40, true)).toBe(BigInt(0x200000 + 3));
  });

  test('CPUID inside a region loop: its fall-through continues in the region, registers exact', () => {
    // A: xor eax, eax; cpuid (ends the block).  B: dec r8; jnz A.
    const out = runSnippet({
      code: code([0x31, 0xc0], [0x0f, 0xa2], [0x49, 0xff, 0xc8], [0x75, 0xf7]),
      regs: regs({ [RSP]: BigInt(STACK + 0x800), 8: 1000n }),
      rflags: 2n,
    });
    expect(out.exception).toBe(null);
    expect(out.regs[8]).toBe(0n);
    expect([0x756e6547n, 0x68747541n]).toContain(out.regs[3]);
    // ZF from DEC r8 reaching zero.
    expect(out.rflags & 0x40n).toBe(0x40n);
  });
});
