import { COST, type CostItem } from '../cost.js';
import { Stats } from '../stats.js';
import { LockMode, type MmuLock } from './mmu-lock.js';

/** What the VMM thread needs of the VM: the lock its ioctls take and the vCPUs' slowest clock. */
export interface VmmThreadHost {
  readonly mmuLock: MmuLock;
  lockHorizon(): number;
}

/**
 * A VMM thread outside every vCPU (QEMU's migration thread or dirty-ring reaper): it issues VM
 * ioctls on its own modeled clock, which starts at the moment the schedule names and advances by
 * the work it does and the mmu_lock holds it waits out. Nothing it does is charged to a vCPU; the
 * vCPUs pay only for what reaches them (a remote TLB flush's kick and exit, lock waits behind its
 * holds). Its counters are its own and added to the VM's. Its SPTE changes under the read lock
 * (eager splits, slot walks) are not entered in the record vCPU faults race against
 * (spte-races.ts): a fault overlapping them is not retried.
 */
export class VmmThread {
  /** Modeled cycles on the thread's clock. */
  time = 0;
  readonly stats = new Stats();

  constructor(private readonly host: VmmThreadHost) {}

  /** Starts an ioctl at `at` (or when the previous one ended, if later). Returns the start time. */
  begin(at: number): number {
    if (at > this.time) this.time = at;
    return this.time;
  }

  charge(item: CostItem, times = 1): void {
    this.time += COST[item] * times;
  }

  /** As KvmVcpu.lockMmu: the time it got the lock, having waited out conflicting holds. */
  lockMmu(mode: LockMode, hold = 0): number {
    const stats = this.stats;
    const now = this.time;
    const at = this.host.mmuLock.acquire(mode, now, hold);
    if (mode === LockMode.WRITE) stats.mmu_lock_write++; else stats.mmu_lock_read++;
    if (at > now) {
      stats.mmu_lock_contended++;
      if (mode === LockMode.WRITE) stats.mmu_lock_wait_write_cycles += at - now; else stats.mmu_lock_wait_read_cycles += at - now;
      this.time = at;
    }
    return at;
  }

  unlockMmu(mode: LockMode, since: number): void {
    const horizon = Math.min(this.host.lockHorizon(), since);
    this.host.mmuLock.release(mode, since, this.time, horizon);
  }
}
