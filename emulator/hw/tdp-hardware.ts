import type { Arena } from '../machine/arena.js';
import { type Gfn, type Gpa, type Hpa, PAGE_SIZE, gpaToGfn } from '../arch/address.js';
import { GpaTlb } from './gpa-tlb.js';
import { type TdpConfig, TdpFaultKind, TdpWalkResult, notPresentFault, tdpWalk } from './tdp-walk.js';

/**
 * The TDP half of the hardware in `legacy-tdp` and `tdp` modes: the loaded root (EPTP or nCR3),
 * the guest-physical TLB, and the translation of guest-physical addresses through the root. A
 * translation the root does not allow is a VM exit: the hypervisor handles it synchronously
 * (the vCPU is stopped in the middle of the access, as hardware stops it) and the walk is retried,
 * unless the hypervisor says the address is MMIO, in which case the access goes to the bus.
 */

/** What the hardware reports to the hypervisor on a TDP fault. Reused; read it during the call. */
export class TdpExit {
  kind = TdpFaultKind.NONE;
  /** Guest-physical address of the access. */
  gpa = 0 as Gpa;
  /** EPT: exit qualification; NPT: error code bits 31:0. */
  code = 0;
  /** NPT error code bits 63:32. */
  npfHigh = 0;
  /** Guest linear address, when the access had one. */
  gvaLo = 0;
  gvaHi = 0;
  /** A read or write of a guest paging structure by the hardware's guest walk. */
  guestWalk = false;
  /** TdpAccess bits of the access. */
  access = 0;
}

export const enum TdpOutcome {
  /** The hypervisor changed the TDP tables: walk again. */
  RETRY = 0,
  /** The address is MMIO: perform the access on the device bus (KVM emulates it). */
  EMULATE_MMIO = 1,
}

/** The hypervisor side of TDP exits. */
export interface TdpHypervisor {
  tdpFault(exit: TdpExit): TdpOutcome;
  /** Current incarnation of the root page at `root` (a new one each time a root is allocated there). */
  rootIncarnation(root: Hpa): number;
  /**
   * The hardware used a TLB entry made under an earlier incarnation of its root (checker): one of
   * the guest-physical TLB (`gpa`, the host page it gave), or of the combined TLB, which keeps
   * only the host page (`gpa` -1).
   */
  staleTlbHit(root: Hpa, gpa: Gpa | -1, host: Hpa): void;
  /**
   * Whether the mapping of `gfn` the walk found was installed by another vCPU later than this
   * vCPU's present moment (mmu/tdp/spte-races.ts): the access faults as it would have then.
   */
  hiddenMapping?(gfn: Gfn): boolean;
}

/** Retries of one access after which a TDP fault that keeps recurring is a bug in the MMU model. */
const MAX_RETRIES = 64;

export class TdpHardware {
  readonly config: TdpConfig;
  readonly gpaTlb = new GpaTlb();
  /** Host-physical address of the loaded root, or -1 when none is loaded. */
  root: Hpa | -1 = -1;
  private readonly arena: Arena;
  private readonly hv: TdpHypervisor;
  private readonly out = new TdpWalkResult();
  private readonly exit = new TdpExit();
  /** Counters for reports. */
  walks = 0;
  exits = 0;

  constructor(arena: Arena, config: TdpConfig, hv: TdpHypervisor) {
    this.arena = arena;
    this.config = config;
    this.hv = hv;
  }

  incarnation(root: Hpa): number {
    return this.hv.rootIncarnation(root);
  }

  /** Reports a hit on a combined TLB entry (of host page `host`) made under an earlier incarnation of its root. */
  checkIncarnation(root: Hpa, incarnation: number, host: Hpa): void {
    if (incarnation !== this.hv.rootIncarnation(root)) this.hv.staleTlbHit(root, -1, host);
  }

  /**
   * Host byte address of a guest-physical address for an access (TdpAccess bits), or -1 if the
   * access is MMIO. `allowedOut[0]` receives the TdpAccess bits the translation allows.
   */
  translate(gpa: Gpa, access: number, guestWalk: boolean, gvaLo: number, gvaHi: number, allowedOut: Int32Array): Hpa | -1 {
    const gfn = gpaToGfn(gpa);
    const offset = gpa - gfn * PAGE_SIZE;
    const tlb = this.gpaTlb;
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const root = this.root;
      const s = tlb.lookup(gfn, root);
      if (s >= 0 && (tlb.allowed[s] & access) === access) {
        // A hit matched a filled entry's root, so a root is loaded.
        const host = tlb.host[s] as Hpa, loaded = root as Hpa;
        if (tlb.incarnation[s] !== this.hv.rootIncarnation(loaded)) this.hv.staleTlbHit(loaded, gpa, host);
        allowedOut[0] = tlb.allowed[s];
        return (host + offset) as Hpa;
      }
      this.walks++;
      const out = this.out;
      if (root !== -1 && tdpWalk(this.arena, this.config, root, gpa, access, guestWalk, out)) {
        if (this.hv.hiddenMapping === undefined || !this.hv.hiddenMapping(gfn)) {
          tlb.fill(gfn, root, this.hv.rootIncarnation(root), out.hostPage, out.allowed);
          allowedOut[0] = out.allowed;
          return (out.hostPage + offset) as Hpa;
        }
        notPresentFault(out, this.config.format, access, guestWalk);
      }
      const exit = this.exit;
      exit.kind = root !== -1 ? out.fault : TdpFaultKind.EPT_VIOLATION;
      exit.gpa = gpa;
      exit.code = out.code;
      exit.npfHigh = out.npfHigh;
      exit.gvaLo = gvaLo;
      exit.gvaHi = gvaHi;
      exit.guestWalk = guestWalk;
      exit.access = access;
      this.exits++;
      if (this.hv.tdpFault(exit) === TdpOutcome.EMULATE_MMIO) return -1;
    }
    throw new Error(`TDP fault at guest-physical 0x${gpa.toString(16)} recurs after ${MAX_RETRIES} exits: the MMU model does not fix it`);
  }
}
