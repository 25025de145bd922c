/**
 * The guest-physical part of the hardware TLB under TDP: GPA page to host page translations
 * derived from a TDP root alone (used for the guest's paging-structure reads and, with guest paging
 * off, for every access). Entries are tagged by the root they came from (the EPTP or nCR3), as
 * hardware tags them, and also by that root's incarnation, which hardware does not see: a hit on an
 * entry whose root page has since been freed and reallocated is exactly the stale translation of
 * lkml thread (d), which the invariant checker reports.
 */
export const GPA_TLB_SIZE = 1024;
const MASK = GPA_TLB_SIZE - 1;
const INVALID = -1;

export class GpaTlb {
  readonly gfn = new Float64Array(GPA_TLB_SIZE).fill(INVALID);
  readonly host = new Float64Array(GPA_TLB_SIZE);
  /** TdpAccess bits the TDP entries allow. */
  readonly allowed = new Int32Array(GPA_TLB_SIZE);
  readonly root = new Float64Array(GPA_TLB_SIZE).fill(INVALID);
  readonly incarnation = new Int32Array(GPA_TLB_SIZE);
  flushes = 0;

  lookup(gfn: number, root: number): number {
    const s = gfn & MASK;
    return this.gfn[s] === gfn && this.root[s] === root ? s : -1;
  }

  fill(gfn: number, root: number, incarnation: number, host: number, allowed: number): void {
    const s = gfn & MASK;
    this.gfn[s] = gfn;
    this.root[s] = root;
    this.incarnation[s] = incarnation;
    this.host[s] = host;
    this.allowed[s] = allowed;
  }

  /** Drops the entries derived from one root (INVEPT single-context, or a Hyper-V flush of that root). */
  flushRoot(root: number): void {
    for (let s = 0; s < GPA_TLB_SIZE; s++) if (this.root[s] === root) this.gfn[s] = INVALID;
    this.flushes++;
  }

  flushAll(): void {
    this.gfn.fill(INVALID);
    this.flushes++;
  }
}
