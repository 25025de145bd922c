/**
 * Writes to pages holding decoded code (SDM Vol. 3 11.6: a write that changes code is seen by the
 * next fetch). A write that leaves the bytes as they were keeps the page's decoded blocks (the
 * access test stores its RET over the RET already there before every case); one that changes a
 * byte, at any of its widths, drops them and the next run sees the new instruction. A
 * page-crossing instruction is kept decoded with both of its pages watched: a changed byte on
 * either page is seen, an unchanged one keeps it. Each runs interpreted and translated ('force').
 */
import { describe, expect, test } from 'vitest';
import type { TranslatorMode } from '../../emulator/jit/mode.js';
import { CODE, machine } from './long-mode.js';

const IMM = CODE + 11; // the immediate of L's mov ebx, 0x11
const disp = (a: number): number[] => [a & 0xff, (a >>> 8) & 0xff, (a >>> 16) & 0xff, a >>> 24];
/** mov [IMM], al / ax / eax */
const STORE: Readonly<Record<number, number[]>> = {
  1: [0x88, 0x04, 0x25, ...disp(IMM)],
  2: [0x66, 0x89, 0x04, 0x25, ...disp(IMM)],
  4: [0x89, 0x04, 0x25, ...disp(IMM)],
};

/**
 * mov eax, value; mov ecx, 4; L: mov ebx, 0x11; add edx, ebx; mov [IMM], (size bytes of eax);
 * dec ecx; jnz L; hlt. Returns EDX and the pages invalidated.
 */
function storeLoop(mode: TranslatorMode, size: number, value: number): { edx: number; invalidated: number } {
  const store = STORE[size];
  const body = [0xbb, 0x11, 0, 0, 0, 0x01, 0xda, ...store, 0xff, 0xc9];
  const prog = [0xb8, ...disp(value), 0xb9, 4, 0, 0, 0, ...body, 0x75, (-(body.length + 2)) & 0xff, 0xf4];
  const vm = machine(1, mode, [[CODE, prog]]);
  vm.vcpus[0].ripLo = CODE;
  const before = vm.code.pagesInvalidated;
  const r = vm.run(10_000);
  expect(r.outcome, r.detail).toBe('halted');
  return { edx: vm.vcpus[0].lo[2] >>> 0, invalidated: vm.code.pagesInvalidated - before };
}

/** A value whose low `size` bytes differ from the immediate's (0x11, 0, 0, 0) in their top byte only. */
const CHANGED: Readonly<Record<number, number>> = { 1: 0x22, 2: 0x0111, 4: 0x01000011 };

describe('a write to a code page', () => {
  for (const mode of ['off', 'force'] as const) {
    for (const size of [1, 2, 4]) {
      test(`of the same ${size} byte(s) keeps the decoded code (translator ${mode})`, () => {
        const r = storeLoop(mode, size, 0x11);
        expect(r.edx).toBe(4 * 0x11);
        expect(r.invalidated).toBe(0);
      });
      test(`that changes one of ${size} byte(s) is seen by the next run (translator ${mode})`, () => {
        const r = storeLoop(mode, size, CHANGED[size]);
        expect(r.edx).toBe((0x11 + 3 * CHANGED[size]) >>> 0);
        expect(r.invalidated).toBeGreaterThan(0);
      });
    }
  }
});

/** The crossing instruction: mov ebx, 0x11 at X, its immediate on bytes X+1..X+4 = CODE+0xffe..0x1001. */
const X = CODE + 0xffd;

/**
 * mov esp, 0x300000; mov ecx, 4; L: call X; add edx, ebx; mov [target], al; dec ecx; jnz L; hlt,
 * with X: mov ebx, 0x11; ret. Returns EDX and how often the crossing instruction was decoded
 * into a kept record.
 */
function crossingLoop(mode: TranslatorMode, target: number, al: number): { edx: number; kept: number } {
  const call = [0xe8, ...disp((X - (CODE + 20)) | 0)];
  const body = [...call, 0x01, 0xda, 0x88, 0x04, 0x25, ...disp(target), 0xff, 0xc9];
  const prog = [0xbc, ...disp(0x300000), 0xb8, al, 0, 0, 0, 0xb9, 4, 0, 0, 0, ...body, 0x75, (-(body.length + 2)) & 0xff, 0xf4];
  // mov esp, mov eax and mov ecx (5 bytes each) come before L: the call ends at CODE + 20.
  const vm = machine(1, mode, [[CODE, prog], [X, [0xbb, 0x11, 0, 0, 0, 0xc3]]]);
  vm.vcpus[0].ripLo = CODE;
  const r = vm.run(10_000);
  expect(r.outcome, r.detail).toBe('halted');
  return { edx: vm.vcpus[0].lo[2] >>> 0, kept: vm.code.crossingsKept };
}

describe('a page-crossing instruction', () => {
  for (const mode of ['off', 'force'] as const) {
    test(`is decoded once while neither page changes (translator ${mode})`, () => {
      // The loop stores 0 over the 0 at CODE + 0x1000, the immediate's third byte.
      const r = crossingLoop(mode, CODE + 0x1000, 0);
      expect(r.edx).toBe(4 * 0x11);
      expect(r.kept).toBe(1);
    });
    test(`sees a changed byte on its second page (translator ${mode})`, () => {
      const r = crossingLoop(mode, CODE + 0x1000, 1);
      expect(r.edx).toBe(0x11 + 3 * 0x10011);
      expect(r.kept).toBe(2);
    });
    test(`sees a changed byte on its first page (translator ${mode})`, () => {
      const r = crossingLoop(mode, CODE + 0xffe, 0x22);
      expect(r.edx).toBe(0x11 + 3 * 0x22);
      expect(r.kept).toBe(2);
    });
  }
});
