import type { Hpa } from '../../emulator/arch/address.js';
import type { PagingUnit } from '../../emulator/hw/paging-unit.js';
import type { Stats } from '../stats.js';

/**
 * The hardware's TLB-flush instructions as KVM's vendor code uses them (kvm-mmu.md 5.3, 5.5):
 *   vmx     flush_tlb_current = INVEPT single-context on the root (combined and guest-physical
 *           entries of that EPTP); flush_tlb_guest = INVVPID (combined entries only).
 *   svm     an ASID flush drops everything the vCPU's ASID cached.
 *   svm-hv  under Hyper-V's enlightened nested TLB an ASID flush drops only linear (combined)
 *           translations; guest-physical ones survive until a Hyper-V flush of that root.
 */
export type Vendor = 'vmx' | 'svm' | 'svm-hv';

export class VendorTlb {
  constructor(
    private readonly vendor: Vendor,
    private readonly paging: PagingUnit,
    private readonly stats: Stats,
    /** svm-hv: whether flush_tlb_current also asks Hyper-V to flush the root (the lkml (d) fix). */
    private readonly hvFlushOnFlushCurrent: boolean,
    /**
     * Shadow paging: no guest-physical TLB, and linear translations are tagged by VPID/ASID and
     * PCID only, so flushing "the current root" is flushing the vCPU's whole context.
     */
    private readonly shadow = false,
  ) {}

  private get gpaTlb() {
    return this.paging.tdp!.gpaTlb;
  }

  /** flush_tlb_current(root). */
  flushCurrent(root: Hpa | -1): void {
    if (this.shadow) {
      this.flushEverything();
      return;
    }
    switch (this.vendor) {
      case 'vmx':
        this.paging.tlb.flushRoot(root);
        this.gpaTlb.flushRoot(root);
        this.stats.hw_flush_root++;
        break;
      case 'svm':
        this.flushEverything();
        break;
      default:
        this.paging.tlb.flushAll();
        this.stats.hw_flush_combined++;
        if (this.hvFlushOnFlushCurrent) this.hvFlushGuestMapping(root);
        break;
    }
  }

  /** flush_tlb_guest: the guest's linear translations. */
  flushGuest(): void {
    if (this.vendor === 'svm' || this.shadow) {
      this.flushEverything();
      return;
    }
    this.paging.tlb.flushAll();
    this.stats.hw_flush_combined++;
  }

  /** flush_tlb_all. */
  flushAll(): void {
    this.flushEverything();
  }

  /** flush_tlb_gva: one linear address in every PCID (INVVPID individual-address, INVLPGA). */
  flushGva(lo: number, hi: number): void {
    this.paging.tlb.flushPage((hi >>> 0) * 1048576 + (lo >>> 12));
    this.stats.hw_flush_gva++;
  }

  /** HvFlushGuestPhysicalAddressSpace for one root (svm-hv only). */
  hvFlushGuestMapping(root: Hpa | -1): void {
    this.gpaTlb.flushRoot(root);
    this.paging.tlb.flushRoot(root);
    this.stats.hv_flush_guest_mapping++;
  }

  private flushEverything(): void {
    this.paging.tlb.flushAll();
    this.paging.tdp?.gpaTlb.flushAll();
    this.stats.hw_flush_all++;
  }
}
