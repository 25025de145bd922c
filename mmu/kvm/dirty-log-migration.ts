import type { Kvm } from './kvm.js';
import { gpa as asGpa, gpaToGfn } from '../../emulator/arch/address.js';
import type { DirtyLogSchedule } from './dirty-log-schedule.js';
import { ManualProtect } from './dirty-log-ioctls.js';

/** The machine's timer queue (emulator/machine/clock.ts): callbacks at modeled cycles. */
export interface ScheduleClock {
  at(at: number, fire: () => void): unknown;
  /** The running vCPU's time, when an event fires. */
  now(): number;
}

/** One ioctl step of the schedule, as the VMM thread saw it. */
export interface MigrationStep {
  readonly op: 'enable' | 'pass' | 'disable';
  /** 1-based pass number (passes only). */
  readonly pass?: number;
  /**
   * The cycle the schedule named; the running vCPU's clock when the machine's timer queue fired
   * it (later by up to a slice: a vCPU runs to the deadline in instructions, and a PAUSE costs
   * 140 cycles); the cycle the thread began (later than `at` if it was still busy).
   */
  readonly at: number;
  readonly fired: number;
  readonly began: number;
  /** Modeled cycles of each part on the thread's clock (lock waits included). */
  readonly cycles: Readonly<Record<string, number>>;
  /** Pages the pass collected (GET's set bits, or the distinct pages harvested from the rings). */
  readonly dirty?: number;
  /** Of those, the ones within the schedule's range. */
  readonly dirtyInRange?: number;
  /** mmu_lock: acquisitions by mode and cycles waited, during the step. */
  readonly lockRead: number;
  readonly lockWrite: number;
  readonly lockWaitCycles: number;
  /** Why the ioctl failed (ENOENT and the like), if it did. */
  readonly refused?: string;
}

/**
 * A live-migration loop driven from the host (`--dirty-log SCHEDULE`, dirty-log-schedule.ts):
 * the VMM thread enables KVM_MEM_LOG_DIRTY_PAGES at `start`, collects at each pass time, and
 * disables at `stop`, as dirty_log_perf_test's main thread or QEMU's migration thread does. Each
 * step runs on the VMM thread's own clock (vmm-thread.ts) when the machine's timer queue reaches
 * its time: the vCPUs see its lock holds, its SPTE changes and its flushes' kicks.
 *
 * Bitmap passes: KVM_GET_DIRTY_LOG of the whole slot (which first drains every PML buffer), then
 * with manual protect KVM_CLEAR_DIRTY_LOG of exactly the bits GET returned. Ring passes: the
 * rings harvested (after the same PML drain) and KVM_RESET_DIRTY_RINGS; pages a vCPU thread
 * harvested at KVM_EXIT_DIRTY_RING_FULL since the last pass count in this one, as QEMU's reaper
 * feeds one migration bitmap.
 */
export class DirtyLogMigration {
  readonly steps: MigrationStep[] = [];
  /** KVM_EXIT_DIRTY_RING_FULL reaps by vCPU threads, and the pages they harvested. */
  ringFullReaps = 0;
  ringFullPages = 0;
  /** Ring pages harvested since the last pass, one byte per page of the slot (the VMM's bitmap). */
  private pending: Uint8Array | null = null;
  private passNo = 0;

  constructor(private readonly kvm: Kvm, private readonly schedule: DirtyLogSchedule, private readonly clock: ScheduleClock) {
    const log = kvm.dirtyLog;
    const slot = kvm.memslots.byId(schedule.slot);
    if (slot === undefined) throw new Error(`slot ${schedule.slot}: no such memslot`);
    if (schedule.ring > 0) {
      const why = log.enableRing(schedule.ring);
      if (why !== undefined) throw new Error(`ring=${schedule.ring}: ${why}`);
      this.pending = new Uint8Array(slot.npages);
      log.onRingFull = () => this.reapOnVcpu();
    }
    clock.at(schedule.start, () => this.enable());
    for (const t of schedule.passes) clock.at(t, () => this.pass(t));
    if (schedule.stop !== undefined) clock.at(schedule.stop, () => this.disable(schedule.stop!));
  }

  /** Runs `work` on the VMM thread from `at`; returns the step's common fields. */
  private onThread(at: number, work: (time: (part: string) => void) => void): Pick<MigrationStep, 'at' | 'fired' | 'began' | 'cycles' | 'lockRead' | 'lockWrite' | 'lockWaitCycles'> {
    const { kvm } = this;
    const vmm = kvm.vmm;
    const s = vmm.stats;
    const read0 = s.mmu_lock_read, write0 = s.mmu_lock_write, wait0 = s.mmu_lock_wait_read_cycles + s.mmu_lock_wait_write_cycles;
    const began = vmm.begin(at);
    const cycles: Record<string, number> = {};
    let mark = began;
    kvm.vmmActive = true;
    try {
      work((part) => { cycles[part] = vmm.time - mark; mark = vmm.time; });
    } finally {
      kvm.vmmActive = false;
    }
    return {
      at, fired: this.clock.now(), began, cycles,
      lockRead: s.mmu_lock_read - read0,
      lockWrite: s.mmu_lock_write - write0,
      lockWaitCycles: s.mmu_lock_wait_read_cycles + s.mmu_lock_wait_write_cycles - wait0,
    };
  }

  private enable(): void {
    const log = this.kvm.dirtyLog;
    const { protect, slot } = this.schedule;
    let refused: string | undefined;
    const step = this.onThread(this.schedule.start, (time) => {
      if (this.pending === null) {
        log.enableManualProtect(protect === 0 ? 0 : protect === 1 ? ManualProtect.ENABLE : ManualProtect.ENABLE | ManualProtect.INITIALLY_SET);
      }
      if (!log.setLogging(slot, true)) refused = `slot ${slot} cannot be logged (read-only or gone)`;
      time('enable');
    });
    this.steps.push({ op: 'enable', ...step, ...(refused === undefined ? {} : { refused }) });
  }

  private pass(at: number): void {
    const n = ++this.passNo;
    const log = this.kvm.dirtyLog;
    const { slot: slotId } = this.schedule;
    let dirty = 0, inRange = 0;
    let refused: string | undefined;
    const step = this.onThread(at, (time) => {
      if (this.pending !== null) {
        log.harvestRings((s, offset) => { if (s === slotId) this.pending![offset] = 1; });
        time('harvest');
        log.resetRings();
        time('reset');
        [dirty, inRange] = this.countPending();
        return;
      }
      const copy = log.getDirtyLog(slotId);
      time('get');
      if (copy === undefined) { refused = 'KVM_GET_DIRTY_LOG failed (logging off, or no such slot)'; return; }
      dirty = copy.dirty;
      inRange = this.inRange(copy.bitmap);
      if (this.schedule.protect !== 0) {
        log.clearDirtyLog(slotId, 0, copy.bitmap.length, copy.bitmap);
        time('clear');
      }
    });
    this.steps.push({ op: 'pass', pass: n, ...step, dirty, dirtyInRange: inRange, ...(refused === undefined ? {} : { refused }) });
  }

  private disable(at: number): void {
    const log = this.kvm.dirtyLog;
    let refused: string | undefined;
    const step = this.onThread(at, (time) => {
      if (!log.setLogging(this.schedule.slot, false)) refused = `slot ${this.schedule.slot} is gone`;
      time('disable');
    });
    this.steps.push({ op: 'disable', ...step, ...(refused === undefined ? {} : { refused }) });
  }

  /** KVM_EXIT_DIRTY_RING_FULL: the vCPU thread reaps every ring on its own clock (QEMU's kvm_dirty_ring_reap). */
  private reapOnVcpu(): void {
    const log = this.kvm.dirtyLog;
    const slotId = this.schedule.slot;
    this.ringFullReaps++;
    this.ringFullPages += log.harvestRings((s, offset) => { if (s === slotId) this.pending![offset] = 1; });
    log.resetRings();
  }

  private countPending(): [number, number] {
    const bitmap = this.pending!;
    const counts = [0, this.inRange(bitmap)] as [number, number];
    for (let k = 0; k < bitmap.length; k++) counts[0] += bitmap[k];
    bitmap.fill(0);
    return counts;
  }

  /** Set pages of a slot-indexed bitmap within the schedule's range (all of them without one). */
  private inRange(bitmap: Uint8Array): number {
    const slot = this.kvm.memslots.byId(this.schedule.slot);
    const range = this.schedule.range;
    let from = 0, to = bitmap.length;
    if (range !== undefined && slot !== undefined) {
      // range.gpa is 4 KiB-aligned (dirty-log-schedule.ts checks it), so its frame is exact.
      const first = gpaToGfn(asGpa(range.gpa));
      from = Math.max(0, first - slot.baseGfn);
      to = Math.min(bitmap.length, first - slot.baseGfn + range.pages);
    }
    let n = 0;
    for (let k = from; k < to; k++) n += bitmap[k];
    return n;
  }

  /** The steps as "NAME VALUE" lines (what `compare` shows side by side with the guest's own). */
  valueLines(): string[] {
    const lines: string[] = [];
    for (const s of this.steps) {
      const suffix = s.op === 'pass' ? String(s.pass) : '';
      for (const [part, c] of Object.entries(s.cycles)) lines.push(`host_${part}_cycles${suffix} ${c}`);
      if (s.op === 'pass') {
        lines.push(`host_dirty_pages${suffix} ${s.dirty}`);
        if (this.schedule.range !== undefined) lines.push(`host_dirty_in_range${suffix} ${s.dirtyInRange}`);
      }
      if (s.lockWaitCycles > 0) lines.push(`host_${s.op}_lock_wait${suffix} ${s.lockWaitCycles}`);
    }
    if (this.schedule.ring > 0) lines.push(`host_ring_full_reaps ${this.ringFullReaps}`, `host_ring_full_pages ${this.ringFullPages}`);
    return lines;
  }

  /** The schedule and its steps, for --json. */
  toJson(): object {
    return { schedule: this.schedule, steps: this.steps, ringFullReaps: this.ringFullReaps, ringFullPages: this.ringFullPages };
  }
}
