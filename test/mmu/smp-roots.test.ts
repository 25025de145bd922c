/**
 * KVM's TDP MMU roots with several vCPUs (lkml (c)): a root is shared by every vCPU with the same
 * role and counted per vCPU. With the root lifetime before 6.4 ('vcpu-refcount') a root dies with
 * its last vCPU reference, so forced context resets on a one-vCPU guest free and rebuild it every
 * time, while with four vCPUs the APs' references keep it alive once they run; with persistent
 * roots (6.4+) one root serves the whole run either way. The checker's invariant 17 (references
 * equal the vCPUs holding the root) stays clean, and catches a miscount.
 */
import { describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Machine } from '../../vmm/machine.js';
import { resolveKnobs } from '../../mmu/knobs.js';
import { GUESTS, runCli } from '../cli/cli.js';

interface Report { kvm: Record<string, number>; cpus?: { cpu: number; kvm: Record<string, number> }[] }

function replay(cpus: number, lifetime: string): Report {
  const r = runCli(['run', `${GUESTS}smp.flat`, '--smp', String(cpus), '--mmu', 'tdp', '--backing', '4k', '--audit', '--json',
    '--knob', 'forceResetContextOnEveryExit=true', '--knob', `tdpRootLifetime=${lifetime}`]);
  expect(r.status).toBe(1);
  return JSON.parse(r.stderr) as Report;
}

describe('lkml (c) with several vCPUs', () => {
  test('before 6.4, one vCPU rebuilds its root after every reset; with four, the APs keep it alive', () => {
    const one = replay(1, 'vcpu-refcount');
    const four = replay(4, 'vcpu-refcount');
    expect(one.kvm.root_alloc).toBeGreaterThan(1000);
    expect(one.kvm.root_freed).toBe(one.kvm.root_alloc - 1);
    expect(four.kvm.root_alloc).toBeLessThan(one.kvm.root_alloc / 50);
    // Only the BSP, alone until the APs run, ever allocates; the APs only take references.
    expect(four.cpus!.slice(1).every((c) => (c.kvm.root_alloc ?? 0) === 0 && (c.kvm.root_reuse ?? 0) > 0)).toBe(true);
    for (const r of [one, four]) expect(r.kvm.invariant_violations ?? 0).toBe(0);
  });

  test('with persistent roots (6.4+) one root serves every vCPU for the whole run', () => {
    for (const cpus of [1, 4]) {
      const r = replay(cpus, 'persistent');
      expect(r.kvm.root_alloc).toBe(1);
      expect(r.kvm.root_freed ?? 0).toBe(0);
      expect(r.kvm.invariant_violations ?? 0).toBe(0);
    }
  });

  test('the checker finds a root whose reference count is not its holders\' (invariant 17)', () => {
    const image = readFileSync(fileURLToPath(new URL('../../build/guests/smp.flat', import.meta.url)));
    for (const knobs of [resolveKnobs('current'), resolveKnobs('current', ['tdpRootLifetime=vcpu-refcount'])]) {
      const m = new Machine({ cpus: 2, mmu: 'tdp', knobs, serialOut: () => {} });
      m.loadMultiboot(image, 'smp.flat', '');
      expect(m.run().exitStatus).toBe(1);
      const kvm = m.kvm!;
      kvm.audit();
      expect(kvm.violations).toEqual([]);
      kvm.shared.tdpRoots!.roots[0].refs++;
      kvm.audit();
      expect(kvm.violations.some((v) => v.startsWith('17: TDP root'))).toBe(true);
    }
  });
});
