import type { PcChipset } from '../machine/pc.js';
import type { Argv } from 'yargs';
import { applyTranslatorOption, translatorBuilder } from './translator-args.js';
import { UsageError } from './errors.js';
import { optionalString, wholeNumber } from './values.js';
import { CpuSpecError, parseCpuSpec, type CpuSpec } from '../cpu/cpu-spec.js';
import { KVM_VALUE_OPTIONS, type KvmOptions, kvmBuilder, kvmOptions } from './kvm-args.js';
import { DEFAULT_QUANTUM, MAX_CPUS } from '../machine/vm.js';

/**
 * Options that describe the machine and the guest, shared by `run` and `compare`: memory, CPU
 * model, image arguments, and the hypervisor's (kvm-args.ts: vendor, preset and knobs, backing,
 * checker).
 */
export interface MachineOptions extends KvmOptions {
  /**
   * Path of the kernel, as given (IMAGE or --kernel): a multiboot image (the guest sees the path as
   * argv[0], as under QEMU) or a vmlinux with a PVH entry note.
   */
  readonly image: string;
  /** Kernel command-line words after the image name (QEMU's -append). */
  readonly append: string;
  /** Multiboot module 0 (QEMU's -initrd). */
  readonly initrd: string | undefined;
  readonly memMiB: number;
  /** The guest CPU model (QEMU -cpu syntax, with --phys-bits applied). */
  readonly cpu: CpuSpec;
  readonly maxInsns: number | undefined;
  /** vCPUs (QEMU's -smp N). */
  readonly smp: number;
  /** Modeled cycles per scheduling round with more than one vCPU. */
  readonly quantum: number;
  /**
   * Start from the state QEMU's BIOS hands over (machine/bios-state.ts: PICs, PIT, IVT, BDA), as
   * the QEMU front end does; otherwise devices are at power-on and low memory is zero.
   */
  readonly biosState?: boolean;
  /** Chipset and PCI devices (the QEMU front end's -M q35, -device edu); default the `pc` machine. */
  readonly chipset?: PcChipset;
}

export const DEFAULT_MEM_MIB = 128;
/**
 * Guest RAM is one block from guest-physical 0 and must stay below the 32-bit device window
 * (LAPIC, IOAPIC and the PCI hole start at 3 GiB on a PC).
 */
export const MAX_MEM_MIB = 3072;
/** Guest RAM below this cannot hold the boot information, the image and its stack. */
export const MIN_MEM_MIB = 2;

export const MACHINE_VALUE_OPTIONS = ['kernel', 'append', 'initrd', 'mem', 'cpu', 'phys-bits', 'max-insns', 'smp', 'quantum', 'translator', ...KVM_VALUE_OPTIONS] as const;

export function machineBuilder(y: Argv): Argv {
  const machine = y
    .positional('image', { type: 'string', describe: 'kernel: a multiboot (v1) image, e.g. build/guests/hello.flat, or a vmlinux with a PVH note' })
    .option('kernel', { type: 'string', requiresArg: true, describe: 'the kernel instead of IMAGE (like QEMU -kernel): multiboot image or PVH vmlinux' })
    .option('append', { type: 'string', requiresArg: true, describe: 'kernel command line after the image name (like QEMU -append)', defaultDescription: 'none' })
    .option('initrd', { type: 'string', requiresArg: true, describe: 'file to load as multiboot module 0 (like QEMU -initrd)' })
    .option('mem', { requiresArg: true, describe: `guest RAM in MiB (${MIN_MEM_MIB}-${MAX_MEM_MIB})`, default: DEFAULT_MEM_MIB })
    .option('cpu', { type: 'string', requiresArg: true, describe: 'guest CPU model in QEMU -cpu syntax: base|max, then +feat/-feat, vendor=, phys-bits= (e.g. max,-pku)', default: 'base' })
    .option('phys-bits', { requiresArg: true, describe: 'guest MAXPHYADDR (32-52)', defaultDescription: '40' })
    .option('smp', { requiresArg: true, describe: `vCPUs (1-${MAX_CPUS}, like QEMU -smp N; also cpus=N)`, default: 1 })
    .option('quantum', { requiresArg: true, describe: 'with --smp: modeled cycles each vCPU runs per round-robin turn', default: DEFAULT_QUANTUM });
  return translatorBuilder(kvmBuilder(machine))
    .option('max-insns', { requiresArg: true, describe: 'stop after N steps: instructions retired, plus idle steps of a halted CPU and exception or interrupt deliveries with no instruction since the previous one', defaultDescription: 'no limit' });
}

export function machineOptions(argv: Record<string, unknown>): MachineOptions {
  const positional = optionalString('image', argv.image);
  const kernel = optionalString('kernel', argv.kernel);
  if (positional !== undefined && kernel !== undefined) throw new UsageError('give the kernel either as IMAGE or with --kernel, not both');
  const image = kernel ?? positional;
  if (image === undefined || image === '') throw new UsageError('missing IMAGE (or --kernel FILE)');
  const extra = (argv._ as unknown[]).slice(1);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${String(extra[0])}"`);
  applyTranslatorOption(argv);
  return {
    image,
    ...kvmOptions(argv),
    append: optionalString('append', argv.append) ?? '',
    initrd: optionalString('initrd', argv.initrd),
    memMiB: memMiB(argv.mem),
    cpu: cpuSpec(argv.cpu, argv['phys-bits']),
    maxInsns: maxInsns(argv['max-insns']),
    smp: smp(argv.smp),
    quantum: wholeNumber('quantum', argv.quantum ?? DEFAULT_QUANTUM, 1, 1 << 30),
  };
}

export function memMiB(value: unknown): number {
  return wholeNumber('mem', value ?? DEFAULT_MEM_MIB, MIN_MEM_MIB, MAX_MEM_MIB, ' of MiB');
}

/** QEMU's -smp value: N or cpus=N (sockets, cores and threads are not modeled). */
export function smp(value: unknown): number {
  const text = String(value ?? 1);
  const m = /^(?:cpus=)?(\d+)$/.exec(text);
  if (m === null) throw new UsageError(`--smp: expected N or cpus=N (1-${MAX_CPUS}), got "${text}"`);
  return wholeNumber('smp', m[1], 1, MAX_CPUS);
}

export function maxInsns(value: unknown): number | undefined {
  return value === undefined ? undefined : wholeNumber('max-insns', value, 1, Number.MAX_SAFE_INTEGER);
}

/** A CPU model in QEMU's -cpu syntax (UsageError naming --cpu when it is not one). */
export function cpuSpec(text: unknown, physBits?: unknown): CpuSpec {
  const bits = physBits === undefined ? undefined : wholeNumber('phys-bits', physBits, 32, 52);
  try {
    return parseCpuSpec(optionalString('cpu', text) ?? 'base', bits);
  } catch (err) {
    if (err instanceof CpuSpecError) throw new UsageError(`--cpu: ${err.message}`);
    throw err;
  }
}
