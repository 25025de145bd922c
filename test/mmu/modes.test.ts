import { describe, expect, test } from 'vitest';
import { existsSync } from 'node:fs';
import type { MmuMode } from '../../vmm/machine.js';
import type { Vendor } from '../../mmu/kvm/vendor.js';
import { runGuest } from '../helpers/guest.js';

/**
 * Every guest image behaves identically in bare, shadow, legacy-tdp and tdp: same serial output
 * (or, for guests that print timings, which exits change, the same verdict lines), same exit
 * status, with KVM's invariant checker run after every exit and reporting nothing. Bare mode is
 * the architectural reference; a difference is a bug in the MMU model. (The feature guests run
 * the same way in test/guests/features.test.ts.)
 */
interface Guest {
  readonly name: string;
  readonly args: string;
  readonly cpu?: string;
  /** Compare only PASS/FAIL/SKIP/SUMMARY lines: the guest prints modeled times. */
  readonly verdictsOnly?: boolean;
}

const GUESTS: readonly Guest[] = [
  { name: 'hello', args: '' },
  { name: 'exceptions', args: '' },
  { name: 'insn-selftest', args: '' },
  { name: 'sieve', args: '2' },
  { name: 'mmio-sizes', args: '' },
  { name: 'platform', args: '', cpu: 'max', verdictsOnly: true },
  { name: 'apic', args: '', cpu: 'max', verdictsOnly: true },
  { name: 'cr0wp', args: '50', verdictsOnly: true },
];

const verdicts = (output: string): string => output.split('\n').filter((l) => /^(PASS|FAIL|SKIP|SUMMARY)/.test(l)).join('\n');

function run(g: Guest, mmu: MmuMode, vendor: Vendor = 'vmx') {
  const r = runGuest(g.name, g.args, mmu, { vendor, cpu: g.cpu });
  return {
    output: g.verdictsOnly ? verdicts(r.output) : r.output,
    status: r.status,
    outcome: r.outcome,
    violations: r.vm.kvm?.violations ?? [],
    exits: r.vm.kvm?.stats.exits ?? 0,
  };
}

describe.each(GUESTS.map((g) => ({ ...g, label: g.name })))('guest $label', (g) => {
  const available = existsSync(`build/guests/${g.name}.flat`);
  test.skipIf(!available)('same output and status in every MMU mode and vendor, checker clean', () => {
    const bare = run(g, 'bare');
    expect(bare.outcome).toBe('exit');
    for (const mmu of ['shadow', 'legacy-tdp', 'tdp'] as const) {
      // Hyper-V's enlightened TLB concerns NPT only.
      for (const vendor of mmu === 'shadow' ? ['vmx', 'svm'] as const : ['vmx', 'svm', 'svm-hv'] as const) {
        const v = run(g, mmu, vendor);
        const label = `${mmu}/${vendor}`;
        expect(v.violations, label).toEqual([]);
        expect(v.outcome, label).toBe('exit');
        expect(v.status, label).toBe(bare.status);
        expect(v.output, label).toBe(bare.output);
        expect(v.exits, `${label}: a virtualized run must exit (serial output alone does)`).toBeGreaterThan(0);
      }
    }
  });
});
