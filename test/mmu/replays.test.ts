import { describe, expect, test } from 'vitest';
import { type GuestRun, infoNumbers, runGuest } from '../helpers/guest.js';

/**
 * The MMU behaviours issue 4 asks to see, through guests: MMIO SPTE caching with memslot changes
 * and generation wraps, and CR0.WP toggling under the root-lifetime and role-change policies of
 * KVM before and after lkml threads (a) and (c).
 */
const run = runGuest;
const info = infoNumbers;

describe('MMIO caching', () => {
  test.each(['shadow', 'legacy-tdp', 'tdp'] as const)('%s: MMIO SPTE, fast path, memslot add and remove, all checks pass', (mmu) => {
    const r = run('mmio-cache', '', mmu);
    expect(r.output).not.toMatch(/FAIL/);
    expect(r.status).toBe(1);
    expect(r.output).toMatch(/PASS: first access creates one MMIO SPTE/);
    expect(r.output).toMatch(/PASS: three more accesses take the MMIO fast path/);
    expect(r.output).toMatch(/PASS: the stale MMIO SPTE's generation mismatch was counted/);
    expect(r.vm.kvm!.violations).toEqual([]);
  });

  test.each(['shadow', 'legacy-tdp', 'tdp'] as const)('%s with a 3-bit generation: wraps zap everything and the data stays right', (mmu) => {
    const r = run('mmio-cache', '20', mmu, { knobs: ['mmioGenBits=3'] });
    expect(r.status).toBe(1);
    const [updates, wraps] = info(r.output, /memslot updates (\d+), MMIO generation wrap zaps (\d+)/);
    expect(updates).toBe(40);
    // Each publication of memslots adds 2, a delete publishes twice (KVM's two swaps), so 20 rounds
    // publish 60 times; 3 bits wrap every 8, every 4th publication, and a wrap at the first
    // publication of a delete is caught there.
    expect(wraps).toBe(15);
    expect(r.vm.kvm!.stats.mmio_gen_wrap_zaps).toBeGreaterThanOrEqual(15);
  });

  test('bare mode sees the same data through the same memslot changes', () => {
    const r = run('mmio-cache', '', 'bare');
    expect(r.status).toBe(1);
    expect(r.output).not.toMatch(/FAIL/);
  });
});

describe('CR0.WP toggling (lkml (a) and (c))', () => {
  const ITER = 200;
  const cycles = (r: GuestRun): number => info(r.output, /toggle_cr0_wp (\d+)/)[0];
  const roots = (r: GuestRun): [number, number] => info(r.output, /roots allocated (\d+) freed (\d+)/) as [number, number];

  test('current KVM: the TDP root count stays at the number of roles in use', () => {
    for (const vendor of ['vmx', 'svm'] as const) {
      const r = run('cr0wp', String(ITER), 'tdp', { vendor });
      expect(r.status).toBe(1);
      expect(roots(r)).toEqual([0, 0]);
      expect(r.vm.kvm!.mmu.validRoots()).toBe(1);
      expect(r.vm.kvm!.stats.roots_max).toBe(1);
    }
  });

  test('current KVM on VMX owns CR0.WP in the guest: no exits; SVM intercepts and only re-initialises the MMU', () => {
    const vmx = run('cr0wp', String(ITER), 'tdp', { vendor: 'vmx' });
    const svm = run('cr0wp', String(ITER), 'tdp', { vendor: 'svm' });
    // No exit: an iteration costs what it costs in bare mode, the two writes' own cycles
    // (serializing-cost.ts) and the loop, far below one exit.
    expect(cycles(vmx)).toBe(cycles(run('cr0wp', String(ITER), 'bare')));
    expect(cycles(vmx)).toBeLessThan(1800);
    expect(svm.vm.kvm!.stats.kvm_init_mmu_only).toBeGreaterThanOrEqual(2 * ITER);
    expect(cycles(svm)).toBeGreaterThan(2000);
  });

  test('before 6.4 the TDP MMU frees and rebuilds its root on every toggle, and each iteration costs far more', () => {
    const tdp = run('cr0wp', String(ITER), 'tdp', { preset: 'kvm-6.3', backing: '4k' });
    const legacy = run('cr0wp', String(ITER), 'legacy-tdp', { preset: 'kvm-6.3', backing: '4k' });
    // On SVM: with VMX and EPT, 6.4 also made CR0.WP guest-owned (fb509f76acc8), so nothing exits.
    const after = run('cr0wp', String(ITER), 'tdp', { preset: 'kvm-6.4', vendor: 'svm', backing: '4k' });
    expect(tdp.status).toBe(1);
    const [allocated, freed] = roots(tdp);
    expect(allocated).toBe(2 * ITER + 1); // one per CR0 write in the loop, plus the write that sets WP before it
    expect(freed).toBe(2 * ITER + 1);
    expect(roots(legacy)).toEqual([0, 0]); // the legacy MMU finds the same root in its hash
    expect(legacy.vm.kvm!.stats.root_reuse).toBeGreaterThanOrEqual(2 * ITER);
    expect(cycles(tdp)).toBeGreaterThan(5 * cycles(legacy));
    expect(Math.abs(cycles(after) - cycles(legacy)) / cycles(legacy)).toBeLessThan(0.2);
  });
});
