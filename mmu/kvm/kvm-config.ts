import type { Knobs } from '../knobs.js';
import type { Vendor } from './vendor.js';
import type { TdpRootList } from '../tdp/tdp-mmu.js';
import type { ShadowPageCache } from '../shadow-pages/page-cache.js';

export type KvmMmuMode = 'legacy-tdp' | 'tdp' | 'shadow';

export interface KvmConfig {
  readonly mode: KvmMmuMode;
  readonly vendor: Vendor;
  readonly knobs: Knobs;
  /** Run the invariant checker after exits: every exit, or every `auditEvery`-th (long guests). */
  readonly audit: boolean;
  readonly auditEvery?: number;
  /** Host MAXPHYADDR (SPTE reserved bits, MMIO SPTEs). */
  readonly hostPhysBits: number;
  /** Largest host page backing guest memory: 1 (4 KiB), 2 (2 MiB), 3 (1 GiB). */
  readonly hostMaxLevel: number;
}

/** The VM's MMU structures every vCPU's MMU works on (kvm->arch). */
export interface SharedMmu {
  /** The TDP MMU's root list (tdp mode). */
  readonly tdpRoots: TdpRootList | undefined;
  /** The shadow-page hash (shadow and legacy-tdp modes). */
  readonly cache: ShadowPageCache | undefined;
}
