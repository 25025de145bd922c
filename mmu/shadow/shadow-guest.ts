import type { TableMemory, WalkContext } from '../../emulator/paging/walker.js';
import { PAGE_SIZE } from '../../emulator/arch/address.js';

/**
 * What the shadow MMU reads of the vCPU it serves: the guest's paging state as KVM's software
 * walker sees it (paging mode, CR0.WP, EFER.NX, CR4.SMEP/SMAP, PAE's PDPTRs), guest-physical
 * memory to walk, and CR3/CR4.PCIDE for roots and PCIDs.
 */
export interface ShadowGuest {
  readonly paging: WalkContext;
  /** Guest-physical memory for the walk; its writes (A/D bits) invalidate decoded code. */
  readonly tables: TableMemory;
  /** kvm_read_cr3: the guest's CR3 without the NOFLUSH bit, as a number (PCID in bits 11:0). */
  cr3(): number;
  /** CR4.PCIDE. */
  pcide(): boolean;
}

/** kvm_get_pcid: the PCID of a CR3 value, 0 unless CR4.PCIDE=1. */
export function pcidOf(guest: ShadowGuest, cr3: number): number {
  return guest.pcide() ? cr3 % PAGE_SIZE : 0; // CR3 bits 11:0
}
