/**
 * Per-vCPU request bits (KVM_REQ_*, kvm-mmu.md 5.3): deferred work made before the next VM entry.
 * Serviced in KVM's order by Kvm.enterGuest.
 */
export const enum Request {
  FREE_OBSOLETE_ROOTS = 1 << 0,
  MMU_SYNC = 1 << 1,
  LOAD_MMU_PGD = 1 << 2,
  TLB_FLUSH = 1 << 3,
  TLB_FLUSH_CURRENT = 1 << 4,
  TLB_FLUSH_GUEST = 1 << 5,
}

export class RequestSet {
  bits = 0;

  make(r: Request): void {
    this.bits |= r;
  }

  /** Tests and clears a request (kvm_check_request). */
  check(r: Request): boolean {
    if ((this.bits & r) === 0) return false;
    this.bits &= ~r;
    return true;
  }

  clear(r: Request): void {
    this.bits &= ~r;
  }
}
