import type { TdpOutcome } from '../emulator/hw/tdp-hardware.js';
import type { HostPages } from '../emulator/machine/host-pages.js';
import type { Arena } from '../emulator/machine/arena.js';
import type { Hpa } from '../emulator/arch/address.js';
import type { Memslots } from '../emulator/machine/memslots.js';
import type { Knobs } from './knobs.js';
import type { Stats } from './stats.js';
import type { CostItem } from './cost.js';
import type { SpteCodec } from './spte.js';
import type { CpuRole } from './role.js';
import type { FastPf } from './dirty-log.js';
import type { PageFault } from './page-fault-record.js';
import type { KvmTrace } from '../emulator/debug/trace-kvm.js';

/**
 * The pluggable MMU: what KVM's generic code asks of the shadow MMU, the legacy TDP MMU and the
 * TDP MMU (kvm-mmu.md section 9). Implementations build SPTEs in the host arena; the hardware walks
 * what they build. One instance serves one vCPU (its roots and roles: vcpu->arch.mmu); the
 * instances of a VM share the VM's structures (the TDP root list, the shadow-page hash), so the
 * VM-wide operations (zapAllFast, validRoots, rootIncarnation, audit) see every vCPU's work.
 */
export interface Mmu {
  readonly name: 'legacy-tdp' | 'tdp' | 'shadow';
  /** kvm_init_mmu: adopt new CPU and root roles (permission tables; no root changes). */
  init(cpuRole: CpuRole, rootRole: number): void;
  /** kvm_mmu_unload: drop this vCPU's roots (current and previous). */
  unload(): void;
  /** kvm_mmu_load when no valid root is loaded: find or allocate one; returns its host address. */
  load(): Hpa | -1;
  /** Host address of the loaded root, or -1. */
  currentRoot(): Hpa | -1;
  /** KVM_REQ_MMU_FREE_OBSOLETE_ROOTS: free loaded roots that are invalid or obsolete. */
  freeObsoleteRoots(): void;
  /**
   * get_walk / kvm_tdp_mmu_get_walk for get_mmio_spte: the SPTEs on the path to an address under
   * the current root, root level first, as (lo, hi, level), ending at the first SPTE that is not
   * shadow-present or is a leaf; empty without a root. The address is guest-physical under TDP,
   * linear under shadow paging.
   */
  mmioWalk(lo: number, hi: number): MmioWalk;
  /** kvm_mmu_zap_all_fast: every root obsolete or invalid; loaded roots are freed on next entry. */
  zapAllFast(): void;
  /** Incarnation of the root page at `root` (for the hardware TLB checker). */
  rootIncarnation(root: Hpa): number;
  /** Valid roots in existence (the TDP root bound of invariant 16). */
  validRoots(): number;
  /** Invariant checks over every structure; violations described in `out`. */
  audit(out: string[]): void;
}

/** The MMUs that serve TDP hardware (legacy TDP and the TDP MMU). */
export interface TdpCapableMmu extends Mmu {
  readonly name: 'legacy-tdp' | 'tdp';
  /**
   * The fault handler for a TDP exit (kvm_mmu_page_fault after the MMIO fast path declined), for
   * a record that went through the faultin step (faultin.ts) and did not end there. Results
   * other than the outcome are left in the record (PageFault.raced).
   */
  pageFault(fault: PageFault): TdpOutcome;
  /**
   * fast_page_fault, tried before the handler takes mmu_lock; with `pmlOnly`, only the PML case
   * (a write the CPU logs without an exit; dirty-log.ts).
   */
  fastPageFault(fault: PageFault, pmlOnly?: boolean): FastPf;
}

/**
 * What an MMU implementation uses from KVM around it. There is one per VM; `stats`, `charge` and
 * `request` act for the vCPU KVM is running for (kvm_get_running_vcpu), which did the work.
 */
export interface MmuContext {
  readonly arena: Arena;
  readonly memslots: Memslots;
  /** The running vCPU's statistics (KVM's totals are their sum). */
  readonly stats: Stats;
  readonly knobs: Knobs;
  readonly codec: SpteCodec;
  /** kvm_make_request on the running vCPU. */
  request(req: number): void;
  /** kvm_make_all_cpus_request: every vCPU serves `req` before it next runs guest code. */
  requestAll(req: number): void;
  /** kvm_flush_remote_tlbs: every vCPU flushes its TLB before it next runs guest code (counted once). */
  flushRemoteTlbs(): void;
  /** Adds the modeled cost of a piece of MMU work to the running vCPU's time. */
  charge(item: CostItem, times?: number): void;
  /** The TDP level (4 or 5) roots are built with. */
  readonly tdpLevel: number;
  /**
   * The largest mapping the host backing allows: 1 (4 KiB pages), 2 (2 MiB: transparent huge
   * pages) or 3 (1 GiB: hugetlbfs). KVM never maps a guest page larger than its host page.
   */
  readonly hostMaxLevel: number;
  /**
   * Host pages the VMM process has faulted in: KVM's prefetch maps only those (its atomic lookup
   * faults nothing in). Undefined: every host page counts as present (as with --host-prefault).
   */
  readonly hostPages?: HostPages;
  /** Memslot generation for MMIO SPTEs, and whether an update is in progress. */
  mmioGeneration(): number;
  /** KVM's tracepoints (`--trace-events`, `--kvm-stat`); null when off, so a site costs one check. */
  trace?: KvmTrace | null;
}

/** The SPTEs get_mmio_spte reads, root level first: (lo, hi, level) each. */
export type MmioWalk = readonly (readonly [number, number, number])[];
