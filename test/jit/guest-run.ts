/**
 * A test guest run to its end under a chosen code tier, and the comparison of two such runs:
 * the translator and call-threaded tests compare each tier with the interpreter on the same guest.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { Machine } from '../../vmm/machine.js';
import type { MmuMode } from '../../vmm/machine.js';
import type { TranslatorMode } from '../../emulator/jit/mode.js';
import { materializeFlags } from '../../emulator/exec/flags.js';

const GUESTS = 'build/guests/';

export interface Run {
  out: string; status: number | undefined; outcome: string; instructions: number; state: string;
  /** Modeled cycles of all vCPUs. */
  cycles: number;
  compiled: number; translated: number;
}

/** Runs build/guests/NAME.flat with `args`; `configure` may change the code cache before the run. */
export function runGuest(name: string, args: string, mode: TranslatorMode, mmu: MmuMode, cpus = 1, configure?: (vm: Machine) => void): Run {
  const chunks: Buffer[] = [];
  const vm = new Machine({ serialOut: (b) => { chunks.push(Buffer.from(b)); }, mmu, cpus });
  vm.code.translator = mode;
  configure?.(vm);
  const path = `${GUESTS}${name}.flat`;
  vm.loadMultiboot(readFileSync(path), path, args);
  const r = vm.run(400_000_000);
  const state = vm.vcpus.map((c) => `${Array.from(c.lo).join(',')}|${Array.from(c.hi).join(',')}|${c.ripLo}|${c.ripHi}|` +
    `${materializeFlags(c)}|${c.flags}|${c.instructions}`).join('\n');
  return {
    out: Buffer.concat(chunks).toString('latin1'), status: r.exitStatus, outcome: r.outcome, instructions: r.instructions, state,
    cycles: vm.vcpus.reduce((sum, c) => sum + c.cycles(), 0), compiled: vm.code.blocksCompiled, translated: vm.code.blocksTranslated,
  };
}

/** Output, exit status, retired instructions and every vCPU's final state agree. */
export function expectSameRun(run: Run, reference: Run): void {
  expect(run.out).toBe(reference.out);
  expect(run.status).toBe(reference.status);
  expect(run.instructions).toBe(reference.instructions);
  expect(run.state).toBe(reference.state);
}

export interface GuestCase { name: string; args: string; mmu: MmuMode; cpus?: number }

/** Guests whose whole run both comparisons check: instruction coverage, faults, paging, privilege, SMP. */
export const GUEST_CASES: readonly GuestCase[] = [
  { name: 'sieve', args: '1', mmu: 'bare' },
  { name: 'sieve', args: '1', mmu: 'shadow' },
  { name: 'insn-selftest', args: '', mmu: 'bare' },
  { name: 'exceptions', args: '', mmu: 'bare' },
  { name: 'exceptions', args: '', mmu: 'tdp' },
  { name: 'paging', args: '', mmu: 'bare' },
  { name: 'privilege', args: '', mmu: 'bare' },
  { name: 'smp', args: '', mmu: 'bare', cpus: 2 },
  { name: 'memtouch', args: '', mmu: 'legacy-tdp' },
];

/** Cases with a test title. */
export function titled(cases: readonly GuestCase[]): Array<GuestCase & { title: string }> {
  return cases.map((c) => ({ ...c, title: `${c.name} ${c.args} (${c.mmu}, ${c.cpus ?? 1} vCPU)` }));
}
