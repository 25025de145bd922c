/**
 * What a translated region keeps in locals instead of the vCPU (issue 14 item 1, issue 17): the
 * instructions of the region blocks it finished (stored before any handler or platform call and
 * at every return), the running block, and a flag record that a later record overwrites on the
 * inline path, stored instead on the only path that can reach a handler in between. Each loop runs
 * with the translator off and forced and must end in the same state after as many instructions
 * and modeled cycles; a handler or a fault in the middle of a region sees exactly what the
 * interpreter would show it.
 */
import { describe, expect, test } from 'vitest';
import type { TranslatorMode } from '../../emulator/jit/mode.js';
import type { MmuMode } from '../../vmm/machine.js';
import { CODE, type Outcome, expectSameRun, finish, machine } from './long-mode.js';

/** L: call r12; dec r8; jnz L; hlt. The called function starts at CODE + 0x100. */
const CALL_LOOP = [0x41, 0xff, 0xd4, 0x49, 0xff, 0xc8, 0x75, 0xf8, 0xf4];
const F = CODE + 0x100;

function callLoop(mode: TranslatorMode, body: number[], mmu: MmuMode = 'bare', n = 2000): Outcome {
  const vm = machine(1, mode, [[CODE, CALL_LOOP], [F, body]], mmu);
  const c = vm.vcpus[0];
  c.ripLo = CODE;
  c.lo[4] = 0x400800; // RSP
  c.lo[8] = n;
  c.lo[12] = F;
  return finish(vm, 10_000_000);
}

/**
 * L: add ebx, 1; lea rsi, [rsi + 0x1000]; cmp ebx, [rsi]; jne L. Each pass reads a new page, so
 * every CMP misses the TLB and runs its handler; the read at 8 MiB, past the identity map, faults
 * (a triple fault: there is no IDT), and the flags the vCPU holds then are the ADD's (its PF is
 * clear at the 1,281st pass, 0x500 + 1, where the previous pass's CMP of 0x500 with 0 left it set).
 */
const ADD_THEN_CMP = [0x83, 0xc3, 0x01, 0x48, 0x8d, 0xb6, 0x00, 0x10, 0x00, 0x00, 0x3b, 0x1e, 0x75, 0xf2, 0xf4];

function addThenCmp(mode: TranslatorMode, mmu: MmuMode = 'bare'): Outcome {
  const vm = machine(1, mode, [[CODE, ADD_THEN_CMP]], mmu);
  const c = vm.vcpus[0];
  c.ripLo = CODE;
  c.lo[4] = 0x400800;
  c.lo[6] = 0x2ff000; // RSI: the first pass reads 0x300000
  return finish(vm, 10_000_000, 'triple-fault');
}

describe('a translated region keeps the vCPU exact where a handler or fault can look', () => {
  test.each(['bare', 'tdp'] as const)('RDTSC in a called function sees every instruction before it (%s)', (mmu) => {
    // rdtsc; add rbx, rax; add rsi, rdx; ret: RBX sums the low halves of the TSC over the passes.
    const body = [0x0f, 0x31, 0x48, 0x01, 0xc3, 0x48, 0x01, 0xd6, 0xc3];
    const off = callLoop('off', body, mmu);
    const forced = callLoop('force', body, mmu);
    expect(forced.translated).toBeGreaterThan(0);
    expectSameRun(forced, off);
  });

  test('a fault in the middle of a translated loop counts the instructions of the passes before it', () => {
    // push rbx; mov ebx, [r8 * 8 - 0x4000]; pop rbx; ret, r8 counting down from 0x1000: the read
    // stays in the identity map for 2,048 passes, then wraps below 0 to an unmapped page and faults.
    const body = [0x53, 0x42, 0x8b, 0x1c, 0xc5, 0x00, 0xc0, 0xff, 0xff, 0x5b, 0xc3];
    const run = (mode: TranslatorMode): Outcome => {
      const vm = machine(1, mode, [[CODE, CALL_LOOP], [F, body]]);
      const c = vm.vcpus[0];
      c.ripLo = CODE;
      c.lo[4] = 0x400800;
      c.lo[8] = 0x1000;
      c.lo[12] = F;
      return finish(vm, 10_000_000, 'triple-fault');
    };
    const off = run('off');
    expectSameRun(run('force'), off);
    expect(Number(off.state.split('|')[0].split(',')[8])).toBe(0x7ff);
  });

  test.each(['bare', 'tdp'] as const)('a CMP whose TLB miss runs its handler leaves the flags of the ADD before it when it faults (%s)', (mmu) => {
    const off = addThenCmp('off', mmu);
    const forced = addThenCmp('force', mmu);
    expect(forced.translated).toBeGreaterThan(0);
    expectSameRun(forced, off);
    // RBX counts the 1,281 passes; RSI is at 8 MiB.
    const lo = off.state.split('|')[0].split(',');
    expect([Number(lo[3]), Number(lo[6])]).toEqual([1281, 0x800000]);
  });
});
