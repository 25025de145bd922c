/**
 * kvm->mmu_lock, an rwlock on x86 since 5.12 (531810caa9f4), modeled in time. The vCPUs run one
 * at a time under the deterministic scheduler, each on its own modeled clock, so the lock cannot
 * block anyone for real; instead each hold is recorded as an interval of modeled time, and a vCPU
 * that asks for the lock at a time some earlier-run vCPU held it in a conflicting mode waits (its
 * clock advances) until that hold ends. Readers share; a writer excludes everyone. The vCPU that
 * ran first within a round wins the tie: deterministic, and within a quantum of the order real
 * vCPUs would see.
 *
 * Which operation takes which mode is KVM's (kvm-concurrency.md 2.2): guest faults in the legacy
 * and shadow MMUs take it for write, TDP MMU faults for read; zapping everything, memslot updates,
 * syncs and writes to shadowed tables for write; roots are allocated and freed for write, except
 * the TDP MMU's under the read lock from 6.9 on (the `tdpRootLock` knob).
 */
export const enum LockMode { READ = 0, WRITE = 1 }

/** What one acquisition cost, for the caller's counters. */
export interface LockWait {
  /** Modeled cycles the vCPU waited. */
  cycles: number;
}

export class MmuLock {
  /** Recorded holds, flat: mode, start, end (modeled cycles). */
  private holds: number[] = [];

  /**
   * The time at which a vCPU asking at `now` gets the lock in `mode` for about `hold` cycles:
   * the first moment from `now` at which the hold [t, t + hold) overlaps no conflicting recorded
   * hold (with `hold` 0, the first moment no conflicting hold covers). A hold recorded by a vCPU
   * that ran earlier in the round but starts a little after `now` still makes the asker wait if
   * the two would overlap: the lock is exclusive in modeled time, and the vCPU that ran first
   * keeps it (in KVM one of the two would spin; which one is a coin toss the model makes
   * deterministic). The hold of an operation whose length is known before it starts (a fault's
   * critical section, cost.ts mapLocked) is passed; unknown lengths pass 0.
   */
  acquire(mode: LockMode, now: number, hold = 0): number {
    let t = now;
    const h = this.holds;
    for (let moved = true; moved;) {
      moved = false;
      for (let k = 0; k < h.length; k += 3) {
        if (mode === LockMode.READ && h[k] === LockMode.READ) continue;
        const start = h[k + 1], end = h[k + 2];
        if (t < end && (start <= t || start < t + hold)) { t = end; moved = true; }
      }
    }
    return t;
  }

  /** Records a hold from `start` to `end`; holds that ended before `horizon` can no longer conflict. */
  release(mode: LockMode, start: number, end: number, horizon: number): void {
    const h = this.holds;
    let w = 0;
    for (let k = 0; k < h.length; k += 3) {
      if (h[k + 2] < horizon) continue;
      h[w] = h[k]; h[w + 1] = h[k + 1]; h[w + 2] = h[k + 2];
      w += 3;
    }
    h.length = w;
    if (end > start) h.push(mode, start, end);
  }
}
