import { slotPfn } from '../emulator/machine/memslots.js';
import type { MmuContext } from './mmu.js';
import { type PageFault, PfResult, PFN_NOSLOT } from './page-fault-record.js';

/** What the faultin step reads: the memslots, the host's page presence, and whether MMIO SPTEs exist. */
export type FaultinEnv = Pick<MmuContext, 'memslots' | 'hostPages'> & { readonly codec: { readonly mmioCachingEnabled: boolean } };

/**
 * kvm_mmu_faultin_pfn, the one step all three MMUs take between the fault entry and the map: look
 * up the memslot of fault.gfn and the host frame behind it, as __kvm_faultin_pfn does.
 * - No memslot (kvm_handle_noslot_fault): the frame is MMIO. With MMIO caching the handler goes on
 *   and installs an MMIO SPTE; without it the access is emulated at once.
 * - A write to a read-only memslot: __gfn_to_hva_many refuses the write (KVM_HVA_ERR_RO_BAD), the
 *   pfn is an error pfn and the access is emulated; no host page is touched.
 * - Otherwise hva_to_pfn: a host page not yet present takes the slow path (get_user_pages), which
 *   faults it in; fault.hostFaults counts it once, for the vCPU to pay outside mmu_lock
 *   (kvm-vcpu.ts chargeHostFaults). The mapping is writable unless the memslot is read-only.
 * Returns CONTINUE or EMULATE.
 */
export function faultinPfn(fault: PageFault, env: FaultinEnv): PfResult {
  const slot = env.memslots.find(fault.gfn);
  fault.slot = slot;
  fault.hostFaults = 0;
  if (slot === undefined) {
    fault.pfn = PFN_NOSLOT;
    fault.mapWritable = false;
    return env.codec.mmioCachingEnabled ? PfResult.CONTINUE : PfResult.EMULATE;
  }
  if (slot.readOnly && fault.write) {
    fault.pfn = PFN_NOSLOT;
    fault.mapWritable = false;
    return PfResult.EMULATE;
  }
  fault.pfn = slotPfn(slot, fault.gfn);
  fault.mapWritable = !slot.readOnly;
  const pages = env.hostPages;
  if (pages !== undefined) {
    const before = pages.faultedIn;
    pages.faultIn(fault.pfn);
    fault.hostFaults = pages.faultedIn - before;
  }
  return PfResult.CONTINUE;
}
