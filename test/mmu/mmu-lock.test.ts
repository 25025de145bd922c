/**
 * mmu_lock in modeled time (mmu/kvm/mmu-lock.ts): readers share, a writer excludes readers and
 * writers, a vCPU asking while a conflicting hold covers its moment waits until that hold ends
 * (through chained holds), holds behind every vCPU's clock are forgotten. And in a machine: one
 * vCPU never waits; with four, the legacy MMU's write-locked faults wait for each other while the
 * TDP MMU's read-locked ones do not.
 */
import { describe, expect, test } from 'vitest';
import { GUESTS, runCli } from '../cli/cli.js';
import { LockMode, MmuLock } from '../../mmu/kvm/mmu-lock.js';

describe('MmuLock', () => {
  test('readers share a read hold; a writer waits for it to end', () => {
    const lock = new MmuLock();
    lock.release(LockMode.READ, 100, 200, 0);
    expect(lock.acquire(LockMode.READ, 150)).toBe(150);
    expect(lock.acquire(LockMode.WRITE, 150)).toBe(200);
  });

  test('a write hold makes readers and writers wait, through holds that follow it', () => {
    const lock = new MmuLock();
    lock.release(LockMode.WRITE, 100, 200, 0);
    lock.release(LockMode.WRITE, 200, 260, 0);
    expect(lock.acquire(LockMode.READ, 120)).toBe(260);
    expect(lock.acquire(LockMode.WRITE, 199)).toBe(260);
    // Before or after the holds: no wait.
    expect(lock.acquire(LockMode.WRITE, 99)).toBe(99);
    expect(lock.acquire(LockMode.WRITE, 260)).toBe(260);
  });

  test('holds that ended before the horizon no longer count', () => {
    const lock = new MmuLock();
    lock.release(LockMode.WRITE, 100, 200, 0);
    lock.release(LockMode.READ, 300, 400, 250);
    expect(lock.acquire(LockMode.WRITE, 150)).toBe(150);
    expect(lock.acquire(LockMode.WRITE, 350)).toBe(400);
  });
});

function lockStats(mode: string, cpus: number, guest = 'smp.flat', append: readonly string[] = []): Record<string, number> {
  const r = runCli(['run', `${GUESTS}${guest}`, '--smp', String(cpus), '--mmu', mode, '--backing', '4k', '--json', ...append]);
  expect(r.status).toBe(1);
  return (JSON.parse(r.stderr) as { kvm: Record<string, number> }).kvm;
}

describe('mmu_lock in a machine', () => {
  test('one vCPU takes the lock and never waits', () => {
    for (const mode of ['shadow', 'legacy-tdp', 'tdp']) {
      const k = lockStats(mode, 1);
      expect((k.mmu_lock_read ?? 0) + (k.mmu_lock_write ?? 0)).toBeGreaterThan(0);
      expect(k.mmu_lock_contended ?? 0).toBe(0);
    }
  });

  test('with four vCPUs the legacy and shadow MMUs fault under the write lock and wait; the TDP MMU under the read lock', () => {
    for (const mode of ['shadow', 'legacy-tdp']) {
      const k = lockStats(mode, 4);
      expect(k.mmu_lock_read ?? 0).toBe(0);
      expect(k.mmu_lock_contended).toBeGreaterThan(0);
      expect(k.mmu_lock_wait_write_cycles).toBeGreaterThan(0);
    }
    const tdp = lockStats('tdp', 4);
    expect(tdp.mmu_lock_read).toBeGreaterThan(tdp.pf_taken - 1);
    expect(tdp.mmu_lock_write ?? 0).toBe(0);
    expect(tdp.mmu_lock_contended ?? 0).toBe(0);
  });

  test('populating memory from 2, 4 and 8 vCPUs at once: the legacy MMU waits more with every vCPU, the TDP MMU never', () => {
    const waits = [2, 4, 8].map((n) => lockStats('legacy-tdp', n, 'populate.flat', ['--append', 'mib=4']).mmu_lock_wait_write_cycles ?? 0);
    expect(waits[0]).toBeLessThan(waits[1]);
    expect(waits[1]).toBeLessThan(waits[2]);
    const tdp = lockStats('tdp', 8, 'populate.flat', ['--append', 'mib=4']);
    expect(tdp.pf_taken).toBeGreaterThan(8 * 1024);
    expect(tdp.mmu_lock_contended ?? 0).toBe(0);
  });
});
