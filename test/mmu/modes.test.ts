import { describe, expect, test } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { Vm, type MmuMode } from '../../emulator/machine/vm.js';
import type { Vendor } from '../../mmu/kvm/vendor.js';

/**
 * Every guest image behaves identically in bare, shadow, legacy-tdp and tdp: same serial output, same
 * exit status, with KVM's invariant checker run after every exit and reporting nothing. Bare mode
 * is the architectural reference; a difference is a bug in the MMU model.
 */
const GUESTS: ReadonlyArray<[string, string]> = [
  ['hello', ''],
  ['exceptions', ''],
  ['insn-selftest', ''],
  ['sieve', '2'],
];

interface Outcome { output: string; status: number | undefined; outcome: string; violations: string[]; exits: number }

function run(name: string, args: string, mmu: MmuMode, vendor: Vendor = 'vmx'): Outcome {
  const path = `build/guests/${name}.flat`;
  const out: Uint8Array[] = [];
  const vm = new Vm({ mmu, vendor, audit: true, serialOut: (b) => { out.push(b); } });
  vm.loadMultiboot(readFileSync(path), path, args);
  const r = vm.run(2e9);
  return {
    output: Buffer.concat(out).toString('latin1'),
    status: r.exitStatus,
    outcome: r.outcome,
    violations: vm.kvm?.violations ?? [],
    exits: vm.kvm?.stats.exits ?? 0,
  };
}

describe.each(GUESTS)('guest %s', (name, args) => {
  const available = existsSync(`build/guests/${name}.flat`);
  test.skipIf(!available)('same output and status in every MMU mode and vendor, checker clean', () => {
    const bare = run(name, args, 'bare');
    expect(bare.outcome).toBe('exit');
    for (const mmu of ['shadow', 'legacy-tdp', 'tdp'] as const) {
      // Hyper-V's enlightened TLB concerns NPT only.
      for (const vendor of mmu === 'shadow' ? ['vmx', 'svm'] as const : ['vmx', 'svm', 'svm-hv'] as const) {
        const v = run(name, args, mmu, vendor);
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
