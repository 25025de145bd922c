/**
 * Serializing system instructions that run natively charge their modeled cost on the guest's TSC
 * (emulator/cpu/serializing-cost.ts): in bare mode, and under KVM when the write does not exit.
 * A write KVM intercepts never runs on the hardware: it pays the exit's modeled cycles alone.
 * Each case runs guests/exitloop with N and 2N iterations of a five-instruction loop; the
 * difference is N iterations alone (as exit-cost.test.ts does).
 * Oracles: the table for bare mode against one cycle per instruction (which MOV from CR keeps); KVM's own
 * modeled_cycles counter for the virtualized modes against bare.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { Machine, type MmuMode } from '../../vmm/machine.js';
import { SERIALIZING_COST } from '../../emulator/cpu/serializing-cost.js';
import { CURRENT, type Knobs } from '../../mmu/knobs.js';
import { GUESTS } from '../cli/cli.js';

const N = 1000;
const IMAGE = `${GUESTS}exitloop.flat`;

interface LoopRun { readonly instructions: number; readonly cycles: number; readonly stats: Record<string, number> }

function loop(kind: string, iterations: number, mmu: MmuMode, knobs: Knobs): LoopRun {
  const vm = new Machine({ mmu, vendor: 'vmx', knobs, serialOut: () => {} });
  vm.loadMultiboot(readFileSync(IMAGE), IMAGE, `${kind} ${iterations}`);
  const r = vm.run();
  expect(r.outcome).toBe('exit');
  expect(r.exitStatus).toBe(1);
  const stats = vm.kvm === undefined ? {} : Object.fromEntries(vm.kvm.vcpus[0].stats.entries());
  return { instructions: r.instructions, cycles: vm.vcpus[0].cycles(), stats };
}

function perLoop(kind: string, mmu: MmuMode, knobs: Knobs = CURRENT): LoopRun {
  const a = loop(kind, N, mmu, knobs);
  const b = loop(kind, 2 * N, mmu, knobs);
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

/** Before 6.4 (fb509f76acc8) KVM intercepted CR0.WP under EPT too. */
const WP_INTERCEPTED: Knobs = { ...CURRENT, cr0WpGuestOwned: false };

describe('under KVM a write that does not exit costs as in bare mode', () => {
  // tdp/legacy-tdp (vmx, current preset): CR0.WP is guest-owned under EPT since 6.4 and CR4.PGE in
  // every modeled release, so neither toggle exits; crwrite writes CR0's own value, which changes
  // no bit, so not even shadow paging intercepts it.
  test.each<[string, MmuMode]>([
    ['cr0wp', 'legacy-tdp'],
    ['cr0wp', 'tdp'],
    ['cr4pge', 'tdp'],
    ['crwrite', 'shadow'],
  ])('%s under %s', (kind, mmu) => {
    const bare = perLoop(kind, 'bare');
    const r = perLoop(kind, mmu);
    expect(r.instructions).toBe(bare.instructions);
    expect(r.stats).toEqual({});
    expect(r.cycles).toBe(bare.cycles);
  });
});

describe('an intercepted write pays its exit alone, not its native cost too', () => {
  // On hardware the VM exit replaces the instruction: one cycle per instruction plus KVM's
  // modeled cycles, exactly. Charging the table entry as well adds N * (entry - 1) and fails.
  test.each<[string, MmuMode, Knobs, number]>([
    ['cr0wp', 'shadow', CURRENT, SERIALIZING_COST.movCr0],
    ['cr4pge', 'shadow', CURRENT, SERIALIZING_COST.movCr4],
    ['cr0wp', 'legacy-tdp', WP_INTERCEPTED, SERIALIZING_COST.movCr0],
    ['cr0wp', 'tdp', WP_INTERCEPTED, SERIALIZING_COST.movCr0],
  ])('%s under %s', (kind, mmu, knobs, entry) => {
    const bare = perLoop(kind, 'bare');
    const r = perLoop(kind, mmu, knobs);
    expect(r.instructions).toBe(bare.instructions);
    expect(r.stats.exits).toBe(N);
    expect(r.stats.modeled_cycles).toBeGreaterThan(0);
    expect(r.cycles).toBe(r.instructions + r.stats.modeled_cycles);
    expect(r.cycles).toBe(bare.cycles - N * (entry - 1) + r.stats.modeled_cycles);
  });
});
