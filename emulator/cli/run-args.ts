import type { Argv } from 'yargs';
import { EXIT_STATUS_HELP } from './command.js';
import { UsageError } from './errors.js';
import { flag, optionalString, wholeNumber } from './values.js';
import { MACHINE_VALUE_OPTIONS, type MachineOptions, machineBuilder, machineOptions } from './machine-args.js';
import { MMU_MODES, type MmuMode } from '../../vmm/machine.js';
import { DEFAULT_GDB, type GdbListen, parseGdbAddress } from '../debug/gdb-address.js';
import { TRACE_VALUE_OPTIONS, type TraceRunOptions, traceBuilder, traceOptions } from './trace-args.js';
import { DIRTY_LOG_VALUE_OPTIONS, type DirtyLogOptions, dirtyLogBuilder, dirtyLogOptions } from './dirty-log-args.js';

export { DEFAULT_MEM_MIB, MAX_MEM_MIB, MIN_MEM_MIB } from './machine-args.js';

/** The options of `mmulab run`, validated. */
export interface RunOptions extends MachineOptions, TraceRunOptions, DirtyLogOptions {
  readonly mmu: MmuMode;
  /** Instructions kept for the trace (0: no trace). */
  readonly trace: number;
  readonly traceAlways: boolean;
  readonly stats: boolean;
  readonly json: boolean;
  /** --gdb tcp::PORT or -s: where the gdb server listens (undefined: no server, no cost). */
  readonly gdb?: GdbListen;
  /** -S: start with the machine stopped, waiting for gdb. */
  readonly gdbWait?: boolean;
}

/** Each trace entry keeps about 200 bytes; a longer trace is more than anyone reads. */
export const MAX_TRACE = 100_000;

export const RUN_VALUE_OPTIONS = [...MACHINE_VALUE_OPTIONS, 'mmu', 'trace', 'gdb', ...TRACE_VALUE_OPTIONS, ...DIRTY_LOG_VALUE_OPTIONS] as const;

export function runBuilder(y: Argv): Argv {
  return dirtyLogBuilder(traceBuilder(machineBuilder(y
    .usage('Usage: mmulab run IMAGE [options]\n       mmulab run --kernel VMLINUX [--initrd FILE] [--append "..."] [options]\n\nBoot a multiboot image or a PVH vmlinux: guest serial output to stdout, the report to\nstderr, and the guest\'s exit status.'))
    .option('mmu', { type: 'string', requiresArg: true, describe: `MMU mode: ${MMU_MODES.join(', ')}`, default: 'bare' })
    .option('trace', { requiresArg: true, describe: `keep the last N instructions; print them (disassembled, with registers) if the run ends abnormally (1-${MAX_TRACE})` })
    .option('trace-always', { type: 'boolean', describe: 'print the trace even after a normal exit (needs --trace)' })
    .option('stats', { type: 'boolean', describe: 'print instructions retired, wall time, MIPS, and in virtualized modes KVM\'s statistics, to stderr' })
    .option('json', { type: 'boolean', describe: 'print the report to stderr as one JSON object instead of text' })
    .option('gdb', { type: 'string', requiresArg: true, describe: 'run a gdb server (remote protocol) at tcp::PORT or tcp:HOST:PORT, as QEMU\'s -gdb' })
    .option('s', { type: 'boolean', describe: `the same as --gdb ${DEFAULT_GDB} (QEMU's -s)` })
    .option('S', { type: 'boolean', describe: 'start with the machine stopped until gdb continues it (QEMU\'s -S; needs --gdb or -s)' })))
    .epilogue(EXIT_STATUS_HELP);
}

export function mmuMode(value: unknown): MmuMode {
  const v = optionalString('mmu', value) ?? 'bare';
  if (!(MMU_MODES as readonly string[]).includes(v)) throw new UsageError(`--mmu: expected one of ${MMU_MODES.join(', ')}, got "${v}"`);
  return v as MmuMode;
}

export function runOptions(argv: Record<string, unknown>): RunOptions {
  const machine = machineOptions(argv);
  const trace = argv.trace === undefined ? 0 : wholeNumber('trace', argv.trace, 1, MAX_TRACE);
  const traceAlways = flag(argv['trace-always']);
  if (traceAlways && trace === 0) throw new UsageError('--trace-always needs --trace N');
  return {
    ...machine,
    ...gdbOptions(argv),
    ...traceOptions(argv),
    ...dirtyLogOptions(argv),
    mmu: mmuMode(argv.mmu),
    trace,
    traceAlways,
    stats: flag(argv.stats),
    json: flag(argv.json),
  };
}

/** --gdb, -s and -S, checked together. */
export function gdbOptions(argv: Record<string, unknown>): { gdb: GdbListen | undefined; gdbWait: boolean } {
  const spec = optionalString('gdb', argv.gdb);
  const short = flag(argv.s);
  const gdbWait = flag(argv.S);
  if (spec !== undefined && short) throw new UsageError(`give --gdb or -s (--gdb ${DEFAULT_GDB}), not both`);
  const text = spec ?? (short ? DEFAULT_GDB : undefined);
  if (text === undefined) {
    if (gdbWait) throw new UsageError('-S waits for gdb: it needs --gdb tcp::PORT or -s');
    return { gdb: undefined, gdbWait };
  }
  const listen = parseGdbAddress(text);
  if (typeof listen === 'string') throw new UsageError(`--gdb: ${listen}`);
  return { gdb: listen, gdbWait };
}
