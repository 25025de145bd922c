/**
 * Which host pages behind guest RAM are present in the VMM process's page tables. Guest RAM is
 * the VMM's anonymous memory: a page of it exists only once something faulted it in, namely
 * KVM's slow path (hva_to_pfn -> get_user_pages on a guest fault), or a store by userspace itself
 * (the loader copying the kernel and initrd, the firmware tables, a device model's DMA). KVM's
 * prefetch asks for neighbouring pages with an atomic lookup (gfn_to_page_many_atomic, since 6.13
 * kvm_prefetch_pages: get_user_pages_fast_only with FOLL_WRITE), which only finds pages already
 * present and never faults one in; so on a first touch of fresh memory it finds almost nothing.
 *
 * One byte per 4 KiB arena frame (1 = present). A host page is 4 KiB, or with transparent huge
 * pages (2 MiB) or hugetlbfs (1 GiB) backing the whole aligned block: faulting any part of it in
 * makes all of it present. Frames never written stay absent, so memslots added later (fresh
 * mmap'd memory) start absent. Nothing here allocates after construction.
 */
export class HostPages {
  private readonly present: Uint8Array;
  /** 4 KiB frames per host page: 1, 512 (THP) or 262144 (hugetlbfs 1 GiB). */
  private span = 1;
  /**
   * Host pages faulted in by KVM's slow path (not by userspace stores, not by populate). A fault
   * path reads it before and after its work: the difference is what it pays for (cost.ts
   * hostPageFault).
   */
  faultedIn = 0;

  constructor(frames: number) {
    this.present = new Uint8Array(frames);
  }

  /**
   * The host page size, as 4 KiB frames per page. Pages marked before this (firmware tables
   * written while the machine was assembled) widen to whole host pages.
   */
  setPageFrames(span: number): void {
    if (span === this.span) return;
    this.span = span;
    const p = this.present;
    for (let base = 0; base < p.length; base += span) {
      const end = Math.min(base + span, p.length);
      if (p.subarray(base, end).includes(1)) p.fill(1, base, end);
    }
  }

  /** 4 KiB frames per host page: what one fault-in has to clear. */
  get pageFrames(): number {
    return this.span;
  }

  /** MAP_POPULATE, QEMU's -mem-prealloc (`--host-prefault`): every page faulted in before the guest runs. */
  populate(): void {
    this.present.fill(1);
  }

  /** A store by userspace to host bytes [hpa, hpa + length): the host pages under them become present. */
  written(hpa: number, length: number): void {
    if (length <= 0) return;
    const last = Math.floor((hpa + length - 1) / 4096);
    for (let f = Math.floor(hpa / 4096); f <= last; f += this.span - (f % this.span)) this.mark(f);
  }

  /** hva_to_pfn's slow path (get_user_pages) for the frame `hfn`: its host page becomes present. */
  faultIn(hfn: number): void {
    if (this.present[hfn] === 1) return;
    this.mark(hfn);
    this.faultedIn++;
  }

  isPresent(hfn: number): boolean {
    return this.present[hfn] === 1;
  }

  /**
   * get_user_pages_fast_only over `n` consecutive frames from `hfn`: how many it pins, i.e. how
   * many leading frames are present (it stops at the first that is not).
   */
  presentRun(hfn: number, n: number): number {
    let i = 0;
    while (i < n && this.present[hfn + i] === 1) i++;
    return i;
  }

  private mark(hfn: number): void {
    const base = hfn - (hfn % this.span);
    this.present.fill(1, base, Math.min(base + this.span, this.present.length));
  }
}
