import { UsageError } from './errors.js';
import { kvmOptions, type KvmOptions } from './kvm-args.js';
import { DEFAULT_MEM_MIB, MAX_MEM_MIB, MIN_MEM_MIB } from './machine-args.js';
import { type RunOptions, gdbOptions } from './run-args.js';
import { DEFAULT_QEMU_CPU, cpuModelNames, resolveQemuCpu } from './qemu-cpu.js';
import { type ChipsetChoice, checkChipset, defaultChipset, device, deviceHelp, globalSetting, machineHelp, machineProperty, machineType, splitProps } from './qemu-machine.js';
import { DEFAULT_QUANTUM, MAX_CPUS } from '../machine/vm.js';
import { MMU_MODES, type MmuMode } from '../../vmm/machine.js';

/**
 * `mmulab qemu ARGS...`: QEMU's x86 command line, as kvm-unit-tests' x86/run builds it, turned into
 * mmulab's run options. Every option upstream's scripts pass is in OPTIONS; anything else, and any
 * value mmulab cannot honour, is a UsageError (one line, exit status 2) rather than a run that
 * silently differs. Help probes (`-device ?`, `-machine help`, `-cpu help`, `-accel help`, `-h`)
 * answer in QEMU's format, which is what the scripts grep.
 *
 * Accelerators: `tcg` is the bare machine (no virtualization, like QEMU's TCG), `kvm` is KVM's
 * TDP MMU (mmu=tdp, KVM's default), `mmulab` too; properties after the name (`-accel
 * mmulab,mmu=shadow,preset=kvm-6.3`, or in `-machine accel=tcg,mmu=tdp,...`) pick the MMU mode and
 * the hypervisor's settings: mmu, vendor, preset, knob (name=value, repeatable), backing, audit,
 * audit-every.
 */

/** The version line (`-version`, first line of `-h`): kvm-unit-tests reads QEMU_MAJOR/MINOR/MICRO from it. */
export const VERSION_LINE = 'QEMU emulator version 7.2.0 (mmulab QEMU-compatible front end)';

export type QemuRequest =
  | { readonly kind: 'info'; readonly text: string }
  | { readonly kind: 'run'; readonly options: RunOptions; readonly warnings: readonly string[] };

/** Default MMU mode of each accelerator name. */
export const ACCELERATORS: Readonly<Record<string, MmuMode>> = { tcg: 'bare', kvm: 'tdp', mmulab: 'tdp' };

/** Properties of QEMU's own accelerators that change nothing mmulab runs. */
const NO_EFFECT_ACCEL_PROPS = new Set(['thread', 'tb-size', 'split-wx', 'one-insn-per-tb']);

/** mmulab's accelerator properties and the kvm-args.ts option each sets. */
const MMULAB_PROPS = new Set(['mmu', 'vendor', 'preset', 'knob', 'backing', 'audit', 'audit-every']);

interface State {
  kernel?: string;
  append: string;
  initrd?: string;
  memMiB: number;
  smp: number;
  cpu?: string;
  /** The first -accel / -machine accel= name (QEMU's fallback list: the first it can use). */
  accel?: string;
  accelProps: [string, string][];
  warnings: string[];
  seen: Set<string>;
  /** The machine type and devices (-machine, -device), checked together once the line is read. */
  chipset: ChipsetChoice;
  /** -gdb DEV, -s and -S, checked together by run-args.ts's gdbOptions once the line is read. */
  gdb: { gdb?: string; s?: boolean; S?: boolean };
}

interface OptionSpec {
  readonly takesValue: boolean;
  /** Applies the option; a string is an info request's answer (help), printed instead of running. */
  apply(s: State, value: string): string | void;
}

const isHelp = (v: string): boolean => v === '?' || v === 'help';

function once(s: State, option: string): void {
  if (s.seen.has(option)) throw new UsageError(`${option} given more than once`);
  s.seen.add(option);
}

/** QEMU's -m: "2048", "512M", "4G", "size=2G" (MiB by default). */
function memory(text: string): number {
  const { name, props } = splitProps('-m', text, true);
  for (const k of props.keys()) if (k !== 'size') throw new UsageError(`-m: "${k}" is not supported by mmulab (only the size)`);
  const size = name ?? props.get('size') ?? '';
  const m = /^(\d+)([MmGg]?)[Bb]?$/.exec(size);
  if (m === null) throw new UsageError(`-m: expected a size such as 512, 512M or 2G, got "${size}"`);
  const mib = Number(m[1]) * (m[2].toLowerCase() === 'g' ? 1024 : 1);
  if (mib < MIN_MEM_MIB || mib > MAX_MEM_MIB) throw new UsageError(`-m ${size}: mmulab's guest RAM is ${MIN_MEM_MIB} to ${MAX_MEM_MIB} MiB (one block below the 3 GiB device window)`);
  return mib;
}

/** QEMU's -smp: "N", "cpus=N", with maxcpus equal; no topology. The message is the one upstream's MAX_SMP probe greps ("SMP CPUs"). */
function smp(text: string): number {
  const { name, props } = splitProps('-smp', text, true);
  const cpus = name ?? props.get('cpus');
  for (const [k, v] of props) {
    if (k === 'cpus') continue;
    if (k === 'maxcpus' && v === cpus) continue;
    throw new UsageError(`-smp: "${k}=${v}" is not supported by mmulab (no CPU topology or hotplug)`);
  }
  const n = /^\d+$/.test(cpus ?? '') ? Number(cpus) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`-smp: expected a number of CPUs, got "${text}"`);
  if (n > MAX_CPUS) throw new UsageError(`Invalid SMP CPUs ${n}. The max CPUs supported by machine 'pc' is ${MAX_CPUS}`);
  return n;
}

function accel(s: State, text: string): void {
  const { name, order } = splitProps('-accel', text, true);
  if (name === undefined) throw new UsageError(`-accel "${text}": no accelerator name`);
  const first = name.split(':')[0]; // QEMU's accel=kvm:tcg fallback list: kvm is mmulab's to give
  if (!(first in ACCELERATORS)) throw new UsageError(`-accel ${first}: unknown accelerator (accelerators: ${Object.keys(ACCELERATORS).join(', ')})`);
  if (s.accel === undefined) s.accel = first;
  for (const [k, v] of order) accelProp(s, k, v);
}

function accelProp(s: State, key: string, value: string): void {
  if (MMULAB_PROPS.has(key)) s.accelProps.push([key, value]);
  else if (!NO_EFFECT_ACCEL_PROPS.has(key)) throw new UsageError(`-accel: property "${key}" is not supported by mmulab (mmulab's: ${[...MMULAB_PROPS].join(', ')})`);
}

function machine(s: State, text: string): string | void {
  const { name, order } = splitProps('-machine', text, true);
  if (name !== undefined) {
    if (isHelp(name)) return machineHelp();
    s.chipset.machine = machineType(name);
  }
  let accelIndex = -1;
  order.forEach(([k], i) => { if (k === 'accel') accelIndex = i; });
  for (const [i, [k, v]] of order.entries()) {
    if (k === 'type') s.chipset.machine = machineType(v);
    else if (k === 'accel') {
      if (isHelp(v)) return acceleratorHelp();
      accel(s, v);
    } else if (accelIndex >= 0 && i > accelIndex && (MMULAB_PROPS.has(k) || NO_EFFECT_ACCEL_PROPS.has(k))) {
      accelProp(s, k, v); // upstream's ACCEL_PROPS land after accel= in -machine
    } else {
      const w = machineProperty(k, v, s.chipset);
      if (w !== undefined) s.warnings.push(w);
    }
  }
}

function acceleratorHelp(): string {
  return `Accelerators supported in QEMU binary:\n${Object.keys(ACCELERATORS).join('\n')}\n`;
}

function cpuHelp(): string {
  return `Available CPUs:\n${cpuModelNames().map((n) => `x86 ${n}`).join('\n')}\n`;
}

/** A flag that changes nothing mmulab runs (no display, no default devices to drop, no reboot). */
const noEffect = (): OptionSpec => ({ takesValue: false, apply: () => undefined });

function only(option: string, allowed: string): OptionSpec {
  return { takesValue: true, apply: (_s, v) => { if (v !== allowed) throw new UsageError(`${option} ${v}: only "${allowed}" is supported by mmulab`); } };
}

/** Every option, by its single-dash name (QEMU accepts -opt and --opt alike). */
const OPTIONS: Readonly<Record<string, OptionSpec>> = {
  kernel: { takesValue: true, apply: (s, v) => { once(s, '-kernel'); s.kernel = v; } },
  append: { takesValue: true, apply: (s, v) => { once(s, '-append'); s.append = v; } },
  initrd: { takesValue: true, apply: (s, v) => { once(s, '-initrd'); s.initrd = v; } },
  m: { takesValue: true, apply: (s, v) => { once(s, '-m'); s.memMiB = memory(v); } },
  smp: { takesValue: true, apply: (s, v) => { once(s, '-smp'); s.smp = smp(v); } },
  cpu: { takesValue: true, apply: (s, v) => { if (isHelp(v)) return cpuHelp(); once(s, '-cpu'); s.cpu = v; } },
  accel: { takesValue: true, apply: (s, v) => (isHelp(v) ? acceleratorHelp() : accel(s, v)) },
  'enable-kvm': { takesValue: false, apply: (s) => accel(s, 'kvm') },
  machine: { takesValue: true, apply: machine },
  M: { takesValue: true, apply: machine },
  device: { takesValue: true, apply: (s, v) => { if (isHelp(v)) return deviceHelp(); const w = device(v, s.chipset); if (w !== undefined) s.warnings.push(w); } },
  global: { takesValue: true, apply: (_s, v) => globalSetting(v) },
  serial: only('-serial', 'stdio'),
  display: only('-display', 'none'),
  vnc: only('-vnc', 'none'),
  nodefaults: noEffect(),
  'no-reboot': noEffect(),
  gdb: { takesValue: true, apply: (s, v) => { once(s, '-gdb'); s.gdb.gdb = v; } },
  s: { takesValue: false, apply: (s) => { s.gdb.s = true; } },
  S: { takesValue: false, apply: (s) => { s.gdb.S = true; } },
  h: { takesValue: false, apply: () => helpText() },
  help: { takesValue: false, apply: () => helpText() },
  version: { takesValue: false, apply: () => `${VERSION_LINE}\n` },
};

/** Options accepted without any effect on results (README's table). */
export const NO_EFFECT_OPTIONS = ['-nodefaults', '-no-reboot', '-display none', '-vnc none', '-global kvm-pit.lost_tick_policy=...'];

function helpText(): string {
  return [
    VERSION_LINE,
    'usage: mmulab qemu [options]  (the subset of qemu-system-x86_64 that kvm-unit-tests uses)',
    '',
    '-kernel FILE -append STR -initrd FILE -m SIZE -smp N -cpu MODEL[,+feat,-feat,phys-bits=N,host-phys-bits,vendor=V]',
    `-accel NAME[,props] or -machine [pc,]accel=NAME[,props]: tcg = mmu=bare, kvm and mmulab = mmu=tdp;`,
    `   props: mmu=${MMU_MODES.join('|')}, vendor=vmx|svm|svm-hv, preset=P, knob=NAME=VALUE, backing=4k|2m|1g, audit=on, audit-every=N`,
    '-machine pc|q35[,kernel-irqchip=on|split]',
    '-device isa-debug-exit,iobase=0xf4,iosize=0x4 | pc-testdev | edu (q35) | intel-iommu[,intremap=on|off][,eim=off] (q35)',
    '-serial stdio -display none -vnc none -nodefaults -no-reboot -global kvm-pit.lost_tick_policy=discard (no effect)',
    '-gdb tcp::PORT | tcp:HOST:PORT, -s (= -gdb tcp::1234), -S (start stopped until gdb continues)',
    'help probes: -device help, -machine help, -cpu help, -accel help, -version',
    'Anything else is refused with one line and exit status 2.',
    '',
  ].join('\n');
}

/** The hypervisor settings the accelerator properties give, validated by kvm-args.ts. */
function kvmFrom(props: readonly [string, string][]): { kvm: KvmOptions; mmu: MmuMode | undefined } {
  const argv: Record<string, unknown> = {};
  const knobs: string[] = [];
  let mmu: MmuMode | undefined;
  for (const [k, v] of props) {
    if (k === 'knob') knobs.push(v);
    else if (k === 'mmu') {
      if (!(MMU_MODES as readonly string[]).includes(v)) throw new UsageError(`-accel: mmu: expected one of ${MMU_MODES.join(', ')}, got "${v}"`);
      mmu = v as MmuMode;
    } else if (k === 'audit') {
      if (v !== 'on' && v !== 'off') throw new UsageError(`-accel: audit: expected on or off, got "${v}"`);
      argv.audit = v === 'on';
    } else argv[k] = argv[k] === undefined ? v : [argv[k], v].flat();
  }
  if (knobs.length > 0) argv.knob = knobs;
  try {
    return { kvm: kvmOptions(argv), mmu };
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`-accel: ${err.message.replace(/^--/, '')}`);
    throw err;
  }
}

/** -gdb, -s and -S as `mmulab run`'s --gdb, -s and -S, with the messages in QEMU's spelling. */
function qemuGdb(g: State['gdb']): ReturnType<typeof gdbOptions> {
  try {
    return gdbOptions(g);
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(err.message.replace(/--gdb/g, '-gdb'));
    throw err;
  }
}

/** Parses a QEMU command line (without the program name). Throws UsageError. */
export function parseQemuArgs(args: readonly string[]): QemuRequest {
  const s: State = { append: '', memMiB: DEFAULT_MEM_MIB, smp: 1, accelProps: [], warnings: [], seen: new Set(), chipset: defaultChipset(), gdb: {} };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('-') || arg === '-' || arg === '--') throw new UsageError(`unexpected argument "${arg}" (the kernel is given with -kernel FILE)`);
    const name = arg.replace(/^--?/, '');
    const spec = Object.hasOwn(OPTIONS, name) ? OPTIONS[name] : undefined;
    if (spec === undefined) throw new UsageError(`option ${arg} is not supported by mmulab`);
    let value = '';
    if (spec.takesValue) {
      if (i + 1 >= args.length) throw new UsageError(`option ${arg} needs a value`);
      value = args[++i];
    }
    const info = spec.apply(s, value);
    if (typeof info === 'string') return { kind: 'info', text: info };
  }
  if (s.kernel === undefined) throw new UsageError('no -kernel given (mmulab boots a kernel: a multiboot image such as x86/dummy.flat, or a PVH vmlinux)');
  const chipset = checkChipset(s.chipset);
  const accelName = s.accel ?? 'tcg';
  const { kvm, mmu } = kvmFrom(s.accelProps);
  const hardwareVendor = kvm.vendor === 'vmx' ? 'GenuineIntel' : 'AuthenticAMD';
  const cpu = resolveQemuCpu(s.cpu ?? DEFAULT_QEMU_CPU, hardwareVendor);
  const warnings = cpu.warning === undefined ? s.warnings : [cpu.warning, ...s.warnings];
  const options: RunOptions = {
    ...kvm,
    image: s.kernel,
    append: s.append,
    initrd: s.initrd,
    memMiB: s.memMiB,
    cpu: cpu.spec,
    maxInsns: undefined,
    smp: s.smp,
    quantum: DEFAULT_QUANTUM,
    // QEMU boots -kernel through SeaBIOS: the guest finds the PICs, the PIT and the IVT set up.
    biosState: true,
    chipset,
    mmu: mmu ?? ACCELERATORS[accelName],
    trace: 0,
    traceAlways: false,
    stats: false,
    json: false,
    ...qemuGdb(s.gdb),
  };
  return { kind: 'run', options, warnings };
}
