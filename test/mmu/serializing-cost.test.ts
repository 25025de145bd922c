/**
 * Serializing system instructions that run natively charge their modeled cost on the guest's TSC
 * (emulator/cpu/serializing-cost.ts) in every mode, and a write that exits to KVM pays the exit's
 * modeled cycles on top, nothing else. Each case runs guests/exitloop with N and 2N iterations of
 * a five-instruction loop; the difference is N iterations alone (as exit-cost.test.ts does).
 * Oracles: the table for bare mode against one cycle per instruction (which MOV from CR keeps); KVM's own
 * modeled_cycles counter for the virtualized modes against bare.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { Machine, type MmuMode } from '../../vmm/machine.js';
import { SERIALIZING_COST } from '../../emulator/cpu/serializing-cost.js';
import { GUESTS } from '../cli/cli.js';

const N = 1000;
const IMAGE = `${GUESTS}exitloop.flat`;

interface LoopRun { readonly instructions: number; readonly cycles: number; readonly stats: Record<string, number> }

function loop(kind: string, iterations: number, mmu: MmuMode): LoopRun {
  const vm = new Machine({ mmu, vendor: 'vmx', serialOut: () => {} });
  vm.loadMultiboot(readFileSync(IMAGE), IMAGE, `${kind} ${iterations}`);
  const r = vm.run();
  expect(r.outcome).toBe('exit');
  expect(r.exitStatus).toBe(1);
  const stats = vm.kvm === undefined ? {} : Object.fromEntries(vm.kvm.vcpus[0].stats.entries());
  return { instructions: r.instructions, cycles: vm.vcpus[0].cycles(), stats };
}

function perLoop(kind: string, mmu: MmuMode): LoopRun {
  const a = loop(kind, N, mmu);
  const b = loop(kind, 2 * N, mmu);
  const stats: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.stats)) if (v !== a.stats[k]) stats[k] = v - a.stats[k];
  return { instructions: b.instructions - a.instructions, cycles: b.cycles - a.cycles, stats };
}

describe('serializing instructions cost their table entry in bare mode', () => {
  test.each<[string, number]>([
    ['cr0wp', SERIALIZING_COST.movCr0],
    ['cr4pge', SERIALIZING_COST.movCr4],
    ['crwrite', SERIALIZING_COST.movCr0],
  ])('%s: each iteration takes the entry\'s cycles beyond one per instruction', (kind, entry) => {
    // A serializing write drains the pipeline: far more than one cycle (an entry of 0 or 1 fails here).
    expect(entry).toBeGreaterThanOrEqual(100);
    const r = perLoop(kind, 'bare');
    expect(r.instructions).toBe(5 * N);
    expect(r.cycles - r.instructions).toBe(N * (entry - 1));
  });

  test('MOV from CR0 and CR3 is not serializing: one cycle each', () => {
    const r = perLoop('crread', 'bare');
    expect(r.instructions).toBe(5 * N);
    expect(r.cycles).toBe(r.instructions);
  });
});

describe('under KVM the exits add exactly their modeled cycles on top', () => {
  // tdp (vmx, default preset): CR0.WP is guest-owned under EPT since 6.4 and CR4.PGE in every
  // modeled release, so neither toggle exits; shadow paging intercepts both.
  test.each<[string, MmuMode, boolean]>([
    ['cr0wp', 'shadow', true],
    ['cr4pge', 'shadow', true],
    ['cr0wp', 'legacy-tdp', false],
    ['cr0wp', 'tdp', false],
    ['cr4pge', 'tdp', false],
  ])('%s under %s', (kind, mmu, exits) => {
    const bare = perLoop(kind, 'bare');
    const r = perLoop(kind, mmu);
    expect(r.instructions).toBe(bare.instructions);
    if (exits) {
      expect(r.stats.exits).toBe(N);
      expect(r.stats.modeled_cycles).toBeGreaterThan(0);
    } else {
      expect(r.stats).toEqual({});
    }
    expect(r.cycles).toBe(bare.cycles + (r.stats.modeled_cycles ?? 0));
  });
});
