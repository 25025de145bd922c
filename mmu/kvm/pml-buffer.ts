import type { Gfn } from '../../emulator/arch/address.js';

/** PML_LOG_NR_ENTRIES: GPAs the Page Modification Log holds before a PML-full exit. */
export const PML_ENTRIES = 512;

/**
 * One vCPU's Page Modification Log (VMX): the CPU writes the GFN of each 4 KiB page whose EPT D
 * bit it sets into a 512-entry buffer (from the top down, PML_INDEX counting towards zero) with
 * no exit; the write that fills it causes EXIT_REASON_PML_FULL. KVM reads it out into the dirty
 * bitmap (or the vCPU's dirty ring) at every exit, vmx_flush_pml_buffer, and before it reports
 * dirty state kicks every vCPU so each exits and drains (kvm_flush_pml_buffers). Until then a
 * logged page is dirty in the SPTE only: a GET that skipped the kick would miss it.
 */
export class PmlBuffer {
  private readonly gfns = new Float64Array(PML_ENTRIES);
  /** Entries in use (PML_ENTRIES - 1 - PML_INDEX on hardware). */
  count = 0;

  /** The CPU logs `gfn`; true when that filled the buffer (a PML-full exit follows). */
  log(gfn: Gfn): boolean {
    this.gfns[this.count++] = gfn;
    return this.count === PML_ENTRIES;
  }

  /** vmx_flush_pml_buffer: hands every logged GFN to `mark`, newest first as KVM reads them, and empties the buffer. */
  drain(mark: (gfn: Gfn) => void): number {
    const n = this.count;
    for (let k = n - 1; k >= 0; k--) mark(this.gfns[k] as Gfn);
    this.count = 0;
    return n;
  }
}
