/**
 * Invariant 18 (mmu/kvm/remote-flush-check.ts): after a remote TLB flush (kvm_flush_remote_tlbs,
 * KVM_REQ_TLB_FLUSH on every vCPU), no vCPU's hardware TLB holds a translation derived from an
 * SPTE zapped or changed before the flush was requested.
 *
 * The bug is injected two ways, with --smp 2: the flush request never reaches vCPU 1 (Kvm's
 * lostRemoteFlushVcpu hook: neither requested nor kicked), and vCPU 1 serves the request with a
 * hardware flush that drops nothing. Under shadow paging the smp guest's own shootdown test makes
 * KVM zap shadowed tables and flush remotely; with TDP neither guest makes the MMU zap anything
 * another vCPU has cached, so the test zaps the shared root itself, as a zap of the whole tree
 * would, and asks for the flush. The same checker stays silent on the smp and populate guests in
 * every mode with --audit.
 */
import { describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { Machine } from '../../vmm/machine.js';
import { resolveKnobs } from '../../mmu/knobs.js';
import { GUESTS, runCli } from '../cli/cli.js';

const SMP = `${GUESTS}smp.flat`;
const flushViolations = (m: Machine): string[] => m.kvm!.violations.filter((v) => v.startsWith('18: '));

function smpMachine(mmu: 'shadow' | 'legacy-tdp' | 'tdp'): Machine {
  const m = new Machine({ cpus: 2, mmu, knobs: resolveKnobs('current'), audit: true, serialOut: () => {} });
  m.loadMultiboot(readFileSync(SMP), 'smp.flat', '');
  return m;
}

describe('invariant 18: no stale translation survives a remote TLB flush', () => {
  test('shadow, --smp 2: silent on the smp guest, catches a flush that never reaches vCPU 1', () => {
    const clean = smpMachine('shadow');
    expect(clean.run().exitStatus).toBe(1);
    // The run is not vacuous: KVM flushed remotely, and what it flushed was stale somewhere.
    expect(clean.kvm!.stats.remote_tlb_flush).toBeGreaterThan(0);
    expect(clean.kvm!.violations).toEqual([]);

    const lost = smpMachine('shadow');
    lost.kvm!.lostRemoteFlushVcpu = 1;
    lost.run(5_000_000);
    const found = flushViolations(lost);
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((v) => v.startsWith('18: vCPU 1 has no TLB flush pending but its TLB still holds'))).toBe(true);
  });

  test('shadow, --smp 2: catches vCPU 1 serving the request with a hardware flush that drops nothing', () => {
    const m = smpMachine('shadow');
    (m.kvm!.vcpus[1].vendorTlb as { flushAll(): void }).flushAll = () => {};
    m.run(5_000_000);
    const found = flushViolations(m);
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((v) => v.startsWith('18: vCPU 1 served the remote TLB flush but its TLB still holds'))).toBe(true);
  });

  test.each(['legacy-tdp', 'tdp'] as const)('%s, --smp 2: a zapped root flushed remotely, with and without vCPU 1', (mmu) => {
    for (const lose of [false, true]) {
      const m = smpMachine(mmu);
      // Stop while both vCPUs run the guest's tests, each with translations of the shared root cached.
      m.run(400_000);
      const kvm = m.kvm!;
      const root = kvm.vcpus[1].mmu.currentRoot();
      expect(root).toBe(kvm.vcpus[0].mmu.currentRoot());
      expect(kvm.vcpus[1].cpu.paging.tlb.root.some((r, s) => r === root && kvm.vcpus[1].cpu.paging.tlb.vpn[s] >= 0)).toBe(true);
      // Zap every entry of the root (kvm_tdp_mmu_zap_all's effect on the tree), then flush.
      m.arena.bytes.fill(0, root, root + 4096);
      if (lose) kvm.lostRemoteFlushVcpu = 1;
      kvm.running = kvm.vcpus[0];
      kvm.flushRemoteTlbs();
      kvm.vcpus[0].enterGuest();
      kvm.vcpus[1].enterGuest();
      const found = flushViolations(m);
      if (!lose) expect(found).toEqual([]);
      else expect(found.length === 1 && found[0].startsWith('18: vCPU 1 has no TLB flush pending but its TLB still holds')).toBe(true);
    }
  });

  test.each(['shadow', 'legacy-tdp', 'tdp'].flatMap((mmu) => ['smp', 'populate'].map((g) => [g, mmu])))('%s guest, --mmu %s --smp 2 --audit: silent', (guest, mmu) => {
    const r = runCli(['run', `${GUESTS}${guest}.flat`, '--smp', '2', '--mmu', mmu, '--audit', '--json']);
    expect(r.status, r.stderr.slice(-2000)).toBe(1);
    const report = JSON.parse(r.stderr) as { kvm: Record<string, number> };
    expect(report.kvm.invariant_violations ?? 0).toBe(0);
  });
});
