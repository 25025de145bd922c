import type { Argv } from 'yargs';
import { UsageError } from './errors.js';
import { flag, optionalString } from './values.js';
import { type EventSelection, parseEventSelection } from '../debug/trace-events.js';

/**
 * `--trace-events`, `--trace-file`, `--trace-cpus` and `--kvm-stat` of `mmulab run`: KVM's
 * tracepoints as `trace-cmd report` text (emulator/debug/trace-kvm.ts), and kvm_stat's view of
 * KVM's counters (emulator/debug/kvm-stat.ts). Both need a virtualized MMU; executeRun checks
 * that once the mode is known.
 */
export interface TraceRunOptions {
  /** The selected events; undefined: no tracing (and no cost). */
  readonly traceEvents?: EventSelection;
  /** Where the report lines go (default trace.txt in the working directory). */
  readonly traceFile?: string;
  /** The vCPUs whose events are kept, as given (checked against --smp when the machine is built). */
  readonly traceCpus?: string;
  readonly kvmStat?: boolean;
}

export const DEFAULT_TRACE_FILE = 'trace.txt';

export const TRACE_VALUE_OPTIONS = ['trace-events', 'trace-file', 'trace-cpus'] as const;

export function traceBuilder(y: Argv): Argv {
  return y
    .option('trace-events', { type: 'string', requiresArg: true, describe: 'record KVM\'s tracepoints in trace-cmd report format: all, kvm, kvmmmu, kvm:kvm_exit, kvm_exit, ... (comma-separated or repeated, as trace-cmd -e; needs --mmu shadow, legacy-tdp or tdp)' })
    .option('trace-file', { type: 'string', requiresArg: true, describe: `where --trace-events writes (default ${DEFAULT_TRACE_FILE})` })
    .option('trace-cpus', { type: 'string', requiresArg: true, describe: 'keep only these vCPUs\' events: 0,2-3 (needs --trace-events)' })
    .option('kvm-stat', { type: 'boolean', describe: 'kvm_stat\'s view of KVM\'s counters and kvm_exit(REASON): live on a TTY, the table at the end (needs a virtualized MMU)' });
}

export function traceOptions(argv: Record<string, unknown>): TraceRunOptions {
  const raw = argv['trace-events'];
  const specs = raw === undefined ? [] : (Array.isArray(raw) ? raw : [raw]).map(String);
  const traceFile = optionalString('trace-file', argv['trace-file']);
  const traceCpus = optionalString('trace-cpus', argv['trace-cpus']);
  const kvmStat = flag(argv['kvm-stat']);
  if (specs.length === 0) {
    if (traceFile !== undefined) throw new UsageError('--trace-file needs --trace-events');
    if (traceCpus !== undefined) throw new UsageError('--trace-cpus needs --trace-events');
    return { kvmStat };
  }
  const events = parseEventSelection(specs);
  if (typeof events === 'string') throw new UsageError(`--trace-events: ${events}`);
  return { traceEvents: events, traceFile: traceFile ?? DEFAULT_TRACE_FILE, traceCpus, kvmStat };
}
