/**
 * The call-threaded tier (decode/block-compiler.ts) against the interpreter. Blocks are compiled
 * only after COMPILE_THRESHOLD (100,000) interpreted runs, so the guests of the other tests hardly
 * reach it: here every block is compiled at its second run (CodeCache.compileAfter), translator
 * off, and the run must give the same serial output, exit status, retired instructions and final
 * state in every vCPU as the interpreter alone (compile off), and the same modeled cycles.
 */
import { describe, expect, test } from 'vitest';
import { GUEST_CASES, type GuestCase, expectSameRun, runGuest, titled } from './guest-run.js';

// The long sieve and memtouch runs add nothing the others lack for this tier; a CPUID exit loop does.
const CASES: readonly GuestCase[] = [
  ...GUEST_CASES.filter((c) => c.name !== 'sieve' && c.name !== 'memtouch'),
  { name: 'exitloop', args: 'cpuid 2000', mmu: 'shadow' },
];

describe('every block call-threaded agrees with the interpreter', () => {
  test.each(titled(CASES))('$title', ({ name, args, mmu, cpus }) => {
    const interpreted = runGuest(name, args, 'off', mmu, cpus, (vm) => { vm.code.compile = false; });
    const threaded = runGuest(name, args, 'off', mmu, cpus, (vm) => { vm.code.compileAfter = 2; });
    expect(interpreted.outcome, interpreted.out).toBe('exit');
    expect(interpreted.status, interpreted.out).toBe(1);
    expect(interpreted.compiled).toBe(0);
    expect(threaded.compiled).toBeGreaterThan(0);
    expect(threaded.translated).toBe(0);
    expectSameRun(threaded, interpreted);
    expect(threaded.cycles).toBe(interpreted.cycles);
  }, 120_000);
});
