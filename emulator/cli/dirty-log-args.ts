import type { Argv } from 'yargs';
import type { Machine } from '../../vmm/machine.js';
import { UsageError } from './errors.js';
import { optionalString } from './values.js';
import { type DirtyLogSchedule, parseDirtyLogSchedule } from '../../mmu/kvm/dirty-log-schedule.js';
import { DirtyLogMigration } from '../../mmu/kvm/dirty-log-migration.js';

/** `--dirty-log SCHEDULE` on `run` and `compare`: a host-side migration loop (mmu/kvm/dirty-log-schedule.ts). */
export interface DirtyLogOptions {
  readonly dirtyLog?: DirtyLogSchedule;
}

export const DIRTY_LOG_VALUE_OPTIONS = ['dirty-log'] as const;

export function dirtyLogBuilder(y: Argv): Argv {
  return y.option('dirty-log', {
    type: 'string', requiresArg: true,
    describe: 'drive dirty logging from the host, as a migration thread: start=CYCLES, then every=N,passes=K or at=T1/T2/..., '
      + 'optional stop=T|never, slot=S, protect=0|1|2 (bitmap: GET re-protects / GET+CLEAR / initially set), ring=ENTRIES (per-vCPU dirty rings), '
      + 'range=GPA+PAGES (also count dirty pages there); cycles take k/M/G (e.g. start=2M,every=1M,passes=3)',
  });
}

export function dirtyLogOptions(argv: Record<string, unknown>): DirtyLogOptions {
  const text = optionalString('dirty-log', argv['dirty-log']);
  if (text === undefined) return {};
  const schedule = parseDirtyLogSchedule(text);
  if (typeof schedule === 'string') throw new UsageError(`--dirty-log: ${schedule}`);
  return { dirtyLog: schedule };
}

/**
 * Installs the schedule on `vm`'s timer queue, or returns null without one. Bare mode has no KVM
 * to log with: `run` refuses it, `compare` runs bare without the schedule (`skipBare`).
 */
export function attachDirtyLog(vm: Machine, o: DirtyLogOptions, skipBare = false): DirtyLogMigration | null {
  if (o.dirtyLog === undefined) return null;
  if (vm.kvm === undefined) {
    if (skipBare) return null;
    throw new UsageError('--dirty-log: dirty logging is KVM\'s; it needs a virtualized --mmu (shadow, legacy-tdp, tdp)');
  }
  try {
    return new DirtyLogMigration(vm.kvm, o.dirtyLog, vm.clock);
  } catch (err) {
    throw new UsageError(`--dirty-log: ${(err as Error).message}`);
  }
}
