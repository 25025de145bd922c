import type { Gpa } from '../../emulator/arch/address.js';
import type { Vcpu } from '../../emulator/cpu/vcpu.js';
import type { WalkContext } from '../../emulator/paging/walker.js';
import type { CostItem } from '../cost.js';
import type { MmioWalk, Mmu } from '../mmu.js';
import type { SpteCodec } from '../spte.js';
import type { Stats } from '../stats.js';
import type { KvmConfig } from './kvm-config.js';
import type { RequestSet } from './requests.js';
import type { VendorTlb } from './vendor.js';
import type { LockMode } from './mmu-lock.js';
import type { KvmExit } from '../../emulator/debug/trace-exit-reasons.js';
import type { KvmTrace } from '../../emulator/debug/trace-kvm.js';
import type { PageFault } from '../page-fault-record.js';

/**
 * What the exit handlers (cr-exits.ts, shadow-exits.ts) use of the vCPU they serve: its
 * configuration, counters, requests, MMU and TLB, and the common steps of an exit. KvmVcpu
 * (kvm-vcpu.ts) is one.
 */
export interface ExitHost {
  readonly cfg: KvmConfig;
  readonly stats: Stats;
  readonly codec: SpteCodec;
  readonly requests: RequestSet;
  readonly mmu: Mmu;
  readonly vendorTlb: VendorTlb;
  readonly cpu: Vcpu;
  charge(item: CostItem, times?: number): void;
  chargeMmioEmulation(gpa: Gpa): void;
  /** The vCPU's one page-fault record, refilled by each fault entry (kvm-vcpu.ts). */
  readonly fault: PageFault;
  /** The charge for the host pages a fault's faultin step brought in (kvm-vcpu.ts). */
  chargeHostFaults(fault: PageFault): void;
  checkMmioSpte(walk: MmioWalk, addrLo: number, addrHi: number): [number, number] | undefined;
  exitBegin(reason: KvmExit, addrLo?: number, addrHi?: number, code?: number): void;
  /** The tracepoints, or null/undefined when tracing is off. */
  readonly trace: KvmTrace | null | undefined;
  enterGuest(afterFault?: boolean): void;
  guestPaging(): WalkContext;
  initMmu(): void;
  /** mmu_lock around MMU work (mmu-lock.ts). */
  lockMmu(mode: LockMode): number;
  unlockMmu(mode: LockMode, since: number): void;
}
