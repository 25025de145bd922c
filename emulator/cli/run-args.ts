import type { Argv } from 'yargs';
import { EXIT_STATUS_HELP } from './command.js';
import { UsageError } from './errors.js';
import { flag, optionalString, wholeNumber } from './values.js';
import { CpuSpecError, parseCpuSpec, type CpuSpec } from '../cpu/cpu-spec.js';

/** The options of `mmulab run`, validated. */
export interface RunOptions {
  /** Path of the multiboot image, as given (the guest sees it as argv[0], as under QEMU). */
  readonly image: string;
  /** Kernel command-line words after the image name (QEMU's -append). */
  readonly append: string;
  /** Multiboot module 0 (QEMU's -initrd). */
  readonly initrd: string | undefined;
  readonly memMiB: number;
  /** The guest CPU model (QEMU -cpu syntax, with --phys-bits applied). */
  readonly cpu: CpuSpec;
  readonly maxInsns: number | undefined;
  /** Instructions kept for the trace (0: no trace). */
  readonly trace: number;
  readonly traceAlways: boolean;
  readonly stats: boolean;
  readonly json: boolean;
}

export const DEFAULT_MEM_MIB = 128;
/**
 * Guest RAM is one block from guest-physical 0 and must stay below the 32-bit device window
 * (LAPIC, IOAPIC and the PCI hole start at 3 GiB on a PC).
 */
export const MAX_MEM_MIB = 3072;
/** Guest RAM below this cannot hold the boot information, the image and its stack. */
export const MIN_MEM_MIB = 2;
/** Each trace entry keeps about 200 bytes; a longer trace is more than anyone reads. */
export const MAX_TRACE = 100_000;

export const RUN_VALUE_OPTIONS = ['append', 'initrd', 'mem', 'cpu', 'phys-bits', 'max-insns', 'trace'] as const;

export function runBuilder(y: Argv): Argv {
  return y
    .usage('Usage: mmulab run IMAGE [options]\n\nBoot a multiboot image in the bare machine: guest serial output to stdout, the report to\nstderr, and the guest\'s exit status.')
    .positional('image', { type: 'string', describe: 'multiboot (v1) kernel image, e.g. build/guests/hello.flat' })
    .option('append', { type: 'string', requiresArg: true, describe: 'kernel command line after the image name (like QEMU -append)', defaultDescription: 'none' })
    .option('initrd', { type: 'string', requiresArg: true, describe: 'file to load as multiboot module 0 (like QEMU -initrd)' })
    .option('mem', { requiresArg: true, describe: `guest RAM in MiB (${MIN_MEM_MIB}-${MAX_MEM_MIB})`, default: DEFAULT_MEM_MIB })
    .option('cpu', { type: 'string', requiresArg: true, describe: 'guest CPU model in QEMU -cpu syntax: base|max, then +feat/-feat, vendor=, phys-bits= (e.g. max,-pku)', default: 'base' })
    .option('phys-bits', { requiresArg: true, describe: 'guest MAXPHYADDR (32-52)', defaultDescription: '40' })
    .option('max-insns', { requiresArg: true, describe: 'stop after N instructions', defaultDescription: 'no limit' })
    .option('trace', { requiresArg: true, describe: `keep the last N instructions; print them (disassembled, with registers) if the run ends abnormally (1-${MAX_TRACE})` })
    .option('trace-always', { type: 'boolean', describe: 'print the trace even after a normal exit (needs --trace)' })
    .option('stats', { type: 'boolean', describe: 'print instructions retired, wall time and MIPS to stderr' })
    .option('json', { type: 'boolean', describe: 'print the report to stderr as one JSON object instead of text' })
    .epilogue(EXIT_STATUS_HELP);
}

export function runOptions(argv: Record<string, unknown>): RunOptions {
  const image = optionalString('image', argv.image);
  if (image === undefined || image === '') throw new UsageError('missing IMAGE; usage: mmulab run IMAGE [options]');
  const extra = (argv._ as unknown[]).slice(1);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${String(extra[0])}"`);
  const trace = argv.trace === undefined ? 0 : wholeNumber('trace', argv.trace, 1, MAX_TRACE);
  const traceAlways = flag(argv['trace-always']);
  if (traceAlways && trace === 0) throw new UsageError('--trace-always needs --trace N');
  return {
    image,
    append: optionalString('append', argv.append) ?? '',
    initrd: optionalString('initrd', argv.initrd),
    memMiB: wholeNumber('mem', argv.mem, MIN_MEM_MIB, MAX_MEM_MIB, ' of MiB'),
    cpu: cpuSpec(argv.cpu, argv['phys-bits']),
    maxInsns: argv['max-insns'] === undefined ? undefined : wholeNumber('max-insns', argv['max-insns'], 1, Number.MAX_SAFE_INTEGER),
    trace,
    traceAlways,
    stats: flag(argv.stats),
    json: flag(argv.json),
  };
}

function cpuSpec(text: unknown, physBits: unknown): CpuSpec {
  const bits = physBits === undefined ? undefined : wholeNumber('phys-bits', physBits, 32, 52);
  try {
    return parseCpuSpec(optionalString('cpu', text) ?? 'base', bits);
  } catch (err) {
    if (err instanceof CpuSpecError) throw new UsageError(`--cpu: ${err.message}`);
    throw err;
  }
}
