/**
 * The cost model: modeled cycles the hypervisor and MMU add to the guest's TSC for their work
 * (DESIGN section 5). One table, one place. The figures are chosen so that a vmexit-style guest
 * reproduces the shape of what KVM developers published on Intel hardware: a VM exit round trip
 * of about two thousand cycles, a CR0 write of about 2.4k (toggle_cr0_wp: ~4.9k per iteration of
 * two writes when roots are kept), and about 42k more per iteration when the TDP MMU rebuilds
 * its root after each write (46754, lkml (a)). They are a model, not a measurement of this host.
 */
export const COST = {
  /** VM exit and VM entry: the hardware transitions and KVM's state save/restore. */
  exitRoundTrip: 1800,
  /** Reading the exit reason and dispatching to the handler. */
  exitDispatch: 150,
  /** Emulating CPUID, a port access to an in-kernel device, an MSR access. */
  simpleExitHandler: 200,
  /**
   * A port or MMIO access to a device the VMM emulates: KVM_RUN returns to userspace, QEMU
   * dispatches the access and calls KVM_RUN again (vmexit's inl_from_qemu against inl_from_kernel).
   */
  userspaceExit: 4500,
  /** kvm_set_cr0/cr4/efer bookkeeping. */
  crWrite: 250,
  /** kvm_init_mmu: recomputing the CPU role, root role and permission tables. */
  initMmu: 150,
  /** The fault handler proper (kvm_mmu_page_fault to the map call), per fault (shadow paging's #PF). */
  pageFault: 900,
  /**
   * A TDP fault's handler split at mmu_lock (the two add up to pageFault): pageFaultEntry is the
   * part outside it (kvm_mmu_page_fault, kvm_faultin_pfn on a resident host page, topping up the
   * vCPU's memory caches), mapLocked the critical section under it (is_page_fault_stale, the walk,
   * make_spte, the cmpxchg or store; the legacy MMU's hash and rmap work, which the SPTE charges
   * inside add to). So a fault holds the lock about 640 cycles (830 when it links a table), the
   * hold behind which the legacy MMU's write-locked faults queue. KVM's figure for comparison:
   * dirty_log_perf_test's populate with 96 vCPUs x 3 GiB of 4 KiB pages, write-locked, took
   * 110.9 s (tdp_mmu=0) and 110.2 s (TDP MMU before parallel faults), ~75.5 M faults one at a
   * time: ~1.46 us each ("Allow parallel page faults with TDP MMU" v1 cover letter, Jan 2021;
   * kvm-concurrency.md 7.3). That includes 96-way cache-line traffic on the lock and the tables,
   * which the model does not charge; at 1 modeled cycle per ns the model's hold is 0.44x of it.
   */
  pageFaultEntry: 300,
  mapLocked: 600,
  /**
   * hva_to_pfn's slow path for a host page not yet present (guest RAM is the VMM's anonymous
   * memory, populated on first touch): get_user_pages -> handle_mm_fault allocating the page,
   * charging it to the memcg, adding it to the rmap and LRU and setting the host PTE. A reasoned
   * figure, not a measurement: a minor anonymous fault's kernel work without the trap and without
   * the clearing, which hostPageClear adds per 4 KiB. KVM runs it in kvm_faultin_pfn, before
   * mmu_lock, so the vCPUs of a populate do it in parallel (the TDP MMU's 16.1 s against the
   * write-locked 110.9 s with 96 vCPUs, kvm-concurrency.md 7.3, is mostly this work). Charged once
   * per host page a fault brings in; --host-prefault (MAP_POPULATE) makes every page present.
   */
  hostPageFault: 700,
  /**
   * clear_page for one 4 KiB frame of a freshly faulted host page; a THP (2 MiB) or hugetlbfs
   * (1 GiB) page pays it for each of its frames (clear_huge_page clears subpage by subpage).
   * Published: rep stosq clears 13.7 GB/s in 4 KB chunks on AMD Milan (15.1 GB/s in 2 MB chunks),
   * "x86/clear_page: introduce clear_pages()" (Ankur Arora): 4096 B / 13.7 GB/s = 299 ns, at the
   * model's one cycle per ns.
   */
  hostPageClear: 300,
  /** Allocating and zeroing a page-table page. */
  pageAlloc: 150,
  /** Writing one SPTE (set_spte with its bookkeeping). */
  spteWrite: 40,
  /** One shadow-page hash lookup. */
  hashLookup: 100,
  /** Allocating a root beyond its page (lists, references, role checks). */
  rootAlloc: 500,
  /** Zapping one SPTE during teardown. */
  spteZap: 15,
  /** A TLB flush instruction (INVEPT, INVVPID, ASID flush) and its refill pressure. */
  tlbFlush: 200,
  /**
   * kvm_mmu_zap_mmio_sptes visiting one shadow page (lkml (b) before): the list step and a test
   * of each of its 512 SPTEs for the MMIO pattern, about two cycles each.
   */
  mmioZapWalkPage: 1100,
  /** handle_mmio_page_fault on a cached MMIO SPTE, plus decoding the instruction to emulate. */
  mmioFastPath: 400,
  /** The in-kernel emulation of one MMIO access to a device. */
  mmioEmulate: 600,
  /** Injecting an interrupt on entry. */
  interruptInjection: 100,
  /** Injecting an exception (the guest's own #PF under shadow paging). */
  exceptionInjection: 100,
  /** x86_emulate_instruction for a write to a write-protected guest page table: fetch, decode, execute. */
  emulateInsn: 1500,
  /** Re-reading one guest PTE and rewriting its SPTE during a sync. */
  syncSpte: 30,
  /**
   * kvm_vcpu_kick of a vCPU in guest mode for a request (a remote TLB flush, freeing obsolete
   * roots): the sender's IPI and its wait for the target to leave the guest.
   */
  remoteKick: 600,
  /**
   * fast_page_fault: the lockless walk, the cmpxchg that gives a write-protected SPTE its W bit
   * back, and the dirty-bitmap store; instead of pageFault (no mmu_lock, no gup).
   */
  fastPageFault: 300,
  /** Clearing W (or D) in one SPTE during a slot or bitmap walk (an atomic clear_bit). */
  spteWrprot: 15,
  /** One 64-page word of a dirty bitmap in GET/CLEAR_DIRTY_LOG: the xchg or fetch_andnot and the copy. */
  dirtyLogWord: 10,
  /**
   * Splitting one huge SPTE into a table of 512 smaller ones (tdp_mmu_split_huge_page: filling
   * the child entries from the huge one, then linking it); the page itself is pageAlloc.
   */
  splitHugePage: 1500,
  /**
   * A KVM_SET_USER_MEMORY_REGION that changes flags only: slots_lock, copying and swapping the
   * memslot arrays, the SRCU grace period; the MMU work of kvm_mmu_slot_apply_flags is separate.
   */
  memslotCommit: 3000,
  /** The CPU setting a 4 KiB EPT D bit and writing the GPA into the PML buffer (no exit). */
  pmlLog: 30,
  /** vmx_flush_pml_buffer at an exit: one logged GPA marked in its slot's bitmap. */
  pmlDrainEntry: 15,
} as const;

export type CostItem = keyof typeof COST;
