import type { Argv } from 'yargs';
import { UsageError } from './errors.js';
import { optionalString, wholeNumber } from './values.js';
import { KnobError, PRESETS, resolveKnobs, type Knobs } from '../../mmu/knobs.js';
import type { Vendor } from '../../mmu/kvm/vendor.js';
import { BACKINGS, MMU_MODES, type Backing, type MmuMode } from '../../vmm/machine.js';

/**
 * The hypervisor side of a machine, shared by `run`, `compare` and `test`: virtualization
 * hardware, KVM's knobs (a preset and overrides), the host page size and the invariant checker.
 */
export interface KvmOptions {
  readonly vendor: Vendor;
  readonly preset: string;
  readonly knobs: Knobs;
  /** Run KVM's invariant checker after exits ... */
  readonly audit: boolean;
  /** ... every exit (1) or every auditEvery-th, for guests too long to check after each. */
  readonly auditEvery: number;
  /** Host page size backing guest memory (caps KVM's mappings). */
  readonly backing: Backing;
  /** --host-sme: the host runs with AMD SME (lkml (e)'s Rome); absent when not given. */
  readonly hostSme?: boolean;
  /** --host-prefault: guest RAM faulted in on the host before the guest runs (MAP_POPULATE); absent when not given. */
  readonly hostPrefault?: boolean;
}

export const KVM_VALUE_OPTIONS = ['vendor', 'preset', 'knob', 'backing', 'audit-every'] as const;

export function kvmBuilder(y: Argv): Argv {
  return y
    .option('vendor', { type: 'string', requiresArg: true, describe: 'virtualization hardware: vmx (EPT), svm (NPT), svm-hv (NPT under Hyper-V\'s enlightened TLB)', default: 'vmx' })
    .option('preset', { type: 'string', requiresArg: true, describe: `KVM behaviour to model: ${Object.keys(PRESETS).join(', ')}`, default: 'current' })
    .option('knob', { type: 'string', requiresArg: true, describe: 'override one KVM policy knob, name=value (repeatable)' })
    .option('backing', { type: 'string', requiresArg: true, describe: 'host page size backing guest memory: 4k, 2m (transparent huge pages), 1g (hugetlbfs)', default: '2m' })
    .option('audit', { type: 'boolean', describe: 'run KVM\'s MMU invariant checker after every exit' })
    .option('audit-every', { requiresArg: true, describe: 'run the checker after every Nth exit only (implies --audit; for long runs)' })
    .option('host-sme', { type: 'boolean', describe: 'the host of lkml (e): AMD memory encryption enabled in SYSCFG (for SEV), 43 usable address bits, MMIO SPTEs marked with bits 43-51; the host kernel unencrypted (svm or svm-hv, TDP modes)' })
    .option('host-prefault', { type: 'boolean', describe: 'fault all guest RAM in on the host before the guest runs (MAP_POPULATE, QEMU -mem-prealloc), so KVM\'s prefetch finds every neighbouring page; by default a host page is present only once KVM\'s fault path or userspace touched it' });
}

export function kvmOptions(argv: Record<string, unknown>): KvmOptions {
  const vendor = optionalString('vendor', argv.vendor) ?? 'vmx';
  if (vendor !== 'vmx' && vendor !== 'svm' && vendor !== 'svm-hv') throw new UsageError(`--vendor: expected vmx, svm or svm-hv, got "${vendor}"`);
  const preset = optionalString('preset', argv.preset) ?? 'current';
  const knobArgs = argv.knob === undefined ? [] : (Array.isArray(argv.knob) ? argv.knob : [argv.knob]).map(String);
  let knobs: Knobs;
  try {
    knobs = resolveKnobs(preset, knobArgs);
  } catch (err) {
    if (err instanceof KnobError) throw new UsageError(err.message.startsWith('unknown preset') ? `--preset: ${err.message}` : `--knob: ${err.message}`);
    throw err;
  }
  const backing = optionalString('backing', argv.backing) ?? '2m';
  if (!(backing in BACKINGS)) throw new UsageError(`--backing: expected 4k, 2m or 1g, got "${backing}"`);
  const auditEvery = argv['audit-every'] === undefined ? 1 : wholeNumber('audit-every', argv['audit-every'], 1, 1e9);
  const hostSme = argv['host-sme'] === true;
  if (hostSme && vendor === 'vmx') throw new UsageError('--host-sme: SME is AMD\'s; it needs --vendor svm or svm-hv');
  return { vendor, preset, knobs, audit: argv.audit === true || argv['audit-every'] !== undefined, auditEvery, backing: backing as Backing, ...(hostSme ? { hostSme } : {}),
    ...(argv['host-prefault'] === true ? { hostPrefault: true } : {}) };
}

/** How a report's header names the checker setting: undefined when it is off. */
export function checkerSetting(o: KvmOptions): string | undefined {
  if (!o.audit) return undefined;
  return o.auditEvery > 1 ? `checker every ${o.auditEvery} exits` : 'checker on';
}

/** `--mmu a,b,...`: a list of distinct MMU modes (all of them by default), in the order given. */
export function mmuModeList(value: unknown): MmuMode[] {
  const list = (optionalString('mmu', value) ?? MMU_MODES.join(',')).split(',').map((m) => m.trim()).filter((m) => m !== '');
  for (const m of list) {
    if (!(MMU_MODES as readonly string[]).includes(m)) throw new UsageError(`--mmu: unknown mode "${m}" (modes: ${MMU_MODES.join(', ')})`);
  }
  if (list.length === 0) throw new UsageError('--mmu: no mode given');
  return [...new Set(list)] as MmuMode[];
}
