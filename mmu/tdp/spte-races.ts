import type { Gfn, Sptep } from '../../emulator/arch/address.js';

/**
 * Races between vCPUs on SPTEs, in modeled time (kvm-concurrency.md 3 and 8.1).
 *
 * The vCPUs run one at a time under the deterministic scheduler, each on its own clock, so a
 * change one vCPU makes to the paging structures is in memory at once, even for a vCPU that runs
 * next at an earlier modeled time. In KVM that vCPU would still have seen the old value. This
 * module keeps, for the changes made recently (until every vCPU's clock has passed them), who
 * made each and when it became visible, so that:
 * - the TDP MMU's shared-mode (mmu_lock for read) walkers can tell when the value they act on
 *   was written by another vCPU after their own read: their cmpxchg (tdp_mmu_set_spte_atomic)
 *   would have failed, and a fault returns RET_PF_RETRY (counted as tdp_fault_retries);
 * - a walker that reads an SPTE while another vCPU holds it frozen (FROZEN_SPTE, REMOVED_SPTE
 *   before 6.11: tdp_mmu_zap_spte_atomic across its remote flush) retries likewise;
 * - the TDP hardware of a vCPU does not use a leaf another vCPU installed after that vCPU's
 *   present moment: it takes the EPT violation / NPF it would have taken (hiddenFrom).
 *
 * One instance per VM, active only with more than one vCPU. Determinism: the records depend only
 * on the order the scheduler runs vCPUs in and on their modeled clocks.
 */
export class SpteRaces {
  /** False with one vCPU: nothing can race, and nothing is recorded. */
  readonly active: boolean;
  /** The modeled clock of the vCPU KVM is running for (set by the VM). */
  clock: () => number = () => 0;
  /** Recent changes by SPTE host address: the vCPU that made it, when it became visible, since when it was frozen. */
  private readonly writer = new Map<Sptep, number>();
  /** When the change's writer read the SPTE (its fault's read, or for a walk the change itself): its window. */
  private readonly writerReadAt = new Map<Sptep, number>();
  private readonly writeAt = new Map<Sptep, number>();
  private readonly frozenAt = new Map<Sptep, number>();
  /** Recent leaf installs by guest frame: the vCPU, the moment the mapping became visible, the vCPUs that have faulted on it since (bits). */
  private readonly installer = new Map<Gfn, number>();
  private readonly installedAt = new Map<Gfn, number>();
  private readonly seenBy = new Map<Gfn, number>();
  /** The operation in progress: its vCPU, when it read the structures, how long it holds them, the SPTEs it froze and has not thawed. */
  private vcpu = -1;
  private readAt = 0;
  private hold = 0;
  private readonly frozen: Sptep[] = [];

  constructor(vcpus: number) {
    this.active = vcpus > 1;
  }

  /**
   * A shared-mode operation of `vcpu` reads the paging structures at `readAt` (it took the read
   * lock then) and expects to make its changes within `hold` cycles (a fault's critical section;
   * 0 for walks that never retry).
   */
  begin(vcpu: number, readAt: number, hold: number): void {
    this.vcpu = vcpu;
    this.readAt = readAt;
    this.hold = hold;
    this.frozen.length = 0;
  }

  /**
   * The operation in progress changes the SPTE at `sptep` now (its vCPU's clock): visible to the
   * others from this moment. `freeze`: the change is FROZEN_SPTE (tdp_mmu_zap_spte_atomic), and
   * the value others may act on comes with this operation's next change of the SPTE (or its end).
   */
  touch(sptep: Sptep, freeze = false): void {
    if (this.vcpu < 0) return;
    const now = this.clock();
    this.writer.set(sptep, this.vcpu);
    this.writeAt.set(sptep, now);
    // A fault reads the SPTE at its start and cmpxchgs it at the end; a walk reads each SPTE just before changing it.
    this.writerReadAt.set(sptep, this.hold > 0 ? this.readAt : now);
    const open = this.frozen.indexOf(sptep);
    if (freeze) {
      this.frozenAt.set(sptep, now);
      if (open < 0) this.frozen.push(sptep);
    } else if (open >= 0) {
      this.frozen.splice(open, 1); // thawed: frozen from frozenAt until now
    } else {
      this.frozenAt.delete(sptep);
    }
  }

  /**
   * The operation in progress ends at `end` (it releases the lock); an SPTE still frozen thaws
   * then. Records older than `horizon` (no vCPU's clock is behind it) are forgotten.
   */
  commit(end: number, horizon: number): void {
    if (this.vcpu < 0) return;
    for (const p of this.frozen) this.writeAt.set(p, end);
    this.vcpu = -1;
    this.frozen.length = 0;
    if (this.writeAt.size > 256) prune(this.writeAt, horizon, this.writer, this.frozenAt, this.writerReadAt);
    if (this.installedAt.size > 256) prune(this.installedAt, horizon, this.installer, this.seenBy);
  }

  /**
   * What the operation in progress finds at `sptep`: FROZEN if another vCPU held it frozen at the
   * moment of the read; LOST if another vCPU changed it after the read and the two read-to-cmpxchg
   * windows overlap: in KVM one of the two cmpxchgs fails, and since the vCPU that ran first has
   * already made its change, this one is the loser (the tie rule of mmu-lock.ts); NONE otherwise
   * (a change entirely after this operation's window would have lost to it in KVM; the vCPU that
   * ran first keeps it, and this one acts on the value as it is, as if it had run after).
   */
  conflict(sptep: Sptep): SpteConflict {
    if (this.vcpu < 0) return SpteConflict.NONE;
    const at = this.writeAt.get(sptep);
    if (at === undefined || at <= this.readAt || this.writer.get(sptep) === this.vcpu) return SpteConflict.NONE;
    const frozen = this.frozenAt.get(sptep);
    if (frozen !== undefined && frozen <= this.readAt) return SpteConflict.FROZEN;
    return this.writerReadAt.get(sptep)! <= this.readAt + this.hold ? SpteConflict.LOST : SpteConflict.NONE;
  }

  /** `vcpu` installed a mapping of `gfn` that other vCPUs can use from `visibleAt` on. */
  installed(gfn: Gfn, vcpu: number, visibleAt: number): void {
    this.installer.set(gfn, vcpu);
    this.installedAt.set(gfn, visibleAt);
    this.seenBy.set(gfn, 0);
  }

  /** `vcpu` took a fault on `gfn` and did not lose a race: from now on it sees the mapping as memory holds it. */
  seen(gfn: Gfn, vcpu: number): void {
    const bits = this.seenBy.get(gfn);
    if (bits !== undefined) this.seenBy.set(gfn, bits | 2 ** vcpu);
  }

  /**
   * Whether `gfn`'s mapping was installed by another vCPU later than `now`, `vcpu`'s present
   * moment, and `vcpu` has not faulted on it since: then its access faults, as it would have.
   */
  hiddenFrom(gfn: Gfn, vcpu: number, now: number): boolean {
    const at = this.installedAt.get(gfn);
    return at !== undefined && at > now && this.installer.get(gfn) !== vcpu &&
      Math.floor(this.seenBy.get(gfn)! / 2 ** vcpu) % 2 === 0;
  }
}

export const enum SpteConflict { NONE = 0, LOST = 1, FROZEN = 2 }

/** Deletes the entries of `times` (and the same keys of `others`) at or before `horizon`. */
function prune<K>(times: Map<K, number>, horizon: number, ...others: Map<K, number>[]): void {
  for (const [k, t] of times) {
    if (t > horizon) continue;
    times.delete(k);
    for (const m of others) m.delete(k);
  }
}
