import { type RunResult, Vm, type VmOptions } from '../emulator/machine/vm.js';
import { CpuModel } from '../emulator/cpu/cpu-model.js';
import { Kvm } from '../mmu/kvm/kvm.js';
import type { Vendor } from '../mmu/kvm/vendor.js';
import { CURRENT, type Knobs } from '../mmu/knobs.js';

/**
 * The VMM: assembles the hardware machine (emulator/) and, in the virtualized modes, KVM (mmu/)
 * in front of its vCPU, as QEMU does with /dev/kvm. This is the one place the two meet; the CLI,
 * the tests and the benchmarks build their machines here.
 */

export type MmuMode = 'bare' | 'shadow' | 'legacy-tdp' | 'tdp';
export const MMU_MODES: readonly MmuMode[] = ['bare', 'shadow', 'legacy-tdp', 'tdp'];

export type Backing = '4k' | '2m' | '1g';
/** The largest mapping level each host page size allows KVM (1: 4 KiB, 2: 2 MiB, 3: 1 GiB). */
export const BACKINGS: Readonly<Record<Backing, number>> = { '4k': 1, '2m': 2, '1g': 3 };

export interface MachineOptions extends Omit<VmOptions, 'hostPoolBytes'> {
  /** The MMU mode (default bare): the hardware walks the guest's tables, or KVM's structures. */
  readonly mmu?: MmuMode;
  /** Virtualization hardware flavour for the virtualized modes (default vmx). */
  readonly vendor?: Vendor;
  readonly knobs?: Knobs;
  /** Run KVM's invariant checker after every exit (virtualized modes). */
  readonly audit?: boolean;
  /** With audit: check after every N-th exit only (long guests such as Linux). */
  readonly auditEvery?: number;
  /** Host MAXPHYADDR seen by KVM (default 46, a common server value; 48 with hostSme, as on Rome). */
  readonly hostPhysBits?: number;
  /** The host enables AMD memory encryption in SYSCFG (svm and svm-hv TDP only): see KvmConfig.hostSme. */
  readonly hostSme?: boolean;
  /** Host memory for the MMU's page-table pages, beyond guest RAM (default 64 MiB; 16 MiB bare). */
  readonly mmuPoolBytes?: number;
  /** Host page size backing guest memory (default 2m, transparent huge pages): caps KVM's mappings. */
  readonly backing?: Backing;
  /**
   * Guest RAM faulted in on the host before the guest runs (MAP_POPULATE, QEMU's -mem-prealloc):
   * KVM's prefetch then finds every neighbouring page. Without it only pages KVM's slow path or
   * userspace's stores faulted in are there (emulator/machine/host-pages.ts).
   */
  readonly hostPrefault?: boolean;
}

/** A machine in one MMU mode: the hardware, and KVM when the mode is a virtualized one. */
export class Machine extends Vm {
  readonly mmuMode: MmuMode;
  /** The hypervisor in the virtualized modes. */
  readonly kvm: Kvm | undefined;

  constructor(opts: MachineOptions = {}) {
    const mode = opts.mmu ?? 'bare';
    const model = opts.model ?? new CpuModel();
    super({
      ...opts,
      // KVM offers no protection keys with shadow paging (kvm_set_cpu_caps clears PKU without TDP),
      // and no supervisor protection keys in any mode: PKS is absent from kvm_set_cpu_caps's
      // CPUID_7_ECX list in every release (checked at v6.16; the 2020-2022 PKS virtualization
      // series was never merged), so a KVM guest never sees CPUID.7.0:ECX[31].
      model: mode === 'bare' ? model : model.without(mode === 'shadow' ? ['pku', 'pks'] : ['pks']),
      hostPoolBytes: opts.mmuPoolBytes ?? (mode === 'bare' ? 16 << 20 : 64 << 20),
    });
    this.mmuMode = mode;
    this.hostPages.setPageFrames(512 ** (BACKINGS[opts.backing ?? '2m'] - 1));
    if (opts.hostPrefault === true) this.hostPages.populate();
    // SME belongs to AMD hosts; the shadow MMU's hardware side does not model the C-bit.
    if (opts.hostSme === true && ((opts.vendor ?? 'vmx') === 'vmx' || mode === 'shadow')) {
      throw new RangeError(`an SME host is modeled with --vendor svm or svm-hv and a TDP mode, not ${opts.vendor ?? 'vmx'} ${mode}`);
    }
    if (mode === 'bare') {
      this.kvm = undefined;
      return;
    }
    this.kvm = new Kvm(this, {
      mode,
      vendor: opts.vendor ?? 'vmx',
      knobs: opts.knobs ?? CURRENT,
      audit: opts.audit ?? false,
      auditEvery: opts.auditEvery,
      hostPhysBits: opts.hostPhysBits ?? (opts.hostSme === true ? 48 : 46),
      hostSme: opts.hostSme,
      hostMaxLevel: BACKINGS[opts.backing ?? '2m'],
    });
    this.attachHypervisor(this.kvm, this.kvm.vcpus);
  }
}

export type { RunResult };
