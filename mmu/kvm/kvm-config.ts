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
  /** Host MAXPHYADDR as CPUID 0x80000008 reports it (SPTE reserved bits, MMIO SPTEs). */
  readonly hostPhysBits: number;
  /**
   * The host enables AMD's memory encryption in SYSCFG (MemEncryptionModEn, as for SEV guests), as
   * Tom Lendacky's Rome in lkml (e): the usable address width drops by 5 bits to 43 and
   * svm_adjust_mmio_mask puts every bit from 43 to 51 into MMIO SPTEs. The host kernel itself runs
   * unencrypted (sme_me_mask 0), so SPTEs carry no C-bit: the SPTEs of Tom's dump have none.
   */
  readonly hostSme?: boolean;
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

/** The C-bit position of AMD's EPYC parts (CPUID 0x8000001F EBX[5:0] = 47 on Rome). */
export const SME_CBIT = 47;
