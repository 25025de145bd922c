/**
 * KVM's statistics (names as in KVM's stat descriptors, kvm-mmu.md section 8) plus the model's
 * own counters that make the replays measurable (roots, requests, MMIO generations, the hardware
 * TLB). Plain number fields, so counting costs one increment.
 */
export class Stats {
  // Per VM (KVM names).
  mmu_shadow_zapped = 0;
  mmu_pte_write = 0;
  mmu_pde_zapped = 0;
  mmu_flooded = 0;
  mmu_recycled = 0;
  mmu_cache_miss = 0;
  mmu_unsync = 0;
  pages_4k = 0;
  pages_2m = 0;
  pages_1g = 0;
  max_mmu_rmap_size = 0;
  max_mmu_page_hash_collisions = 0;
  remote_tlb_flush = 0;
  remote_tlb_flush_requests = 0;
  // Per vCPU (KVM names).
  pf_taken = 0;
  pf_fixed = 0;
  pf_emulate = 0;
  pf_spurious = 0;
  pf_fast = 0;
  pf_mmio_spte_created = 0;
  pf_guest = 0;
  /** #PF intercepts (shadow paging). */
  pf_exits = 0;
  insn_emulation = 0;
  /** Writes to write-protected guest tables retried after zapping their shadow pages (kvm_mmu_unprotect_gfn_and_retry). */
  pf_unprotect_retry = 0;
  invlpg_exits = 0;
  invpcid_exits = 0;
  tlb_flush = 0;
  invlpg = 0;
  exits = 0;
  mmio_exits = 0;
  io_exits = 0;
  /** Port and MMIO exits KVM handed to the VMM (devices not in the kernel). */
  userspace_exits = 0;
  msr_exits = 0;
  cpuid_exits = 0;
  cr_exits = 0;
  /** MOV CR3 exits (shadow paging): writes, and reads (CR3-store exiting / the CR3 read intercept). */
  cr3_writes = 0;
  cr3_reads = 0;
  halt_exits = 0;
  hypercalls = 0;
  irq_injections = 0;
  /** Exits forced by an IPI from another vCPU's KVM work (a kick: kvm_make_all_cpus_request). */
  irq_exits = 0;
  /** Kicks this vCPU sent to vCPUs in guest mode (kvm_vcpu_kick). */
  kicks_sent = 0;
  // mmu_lock (mmu-lock.ts): acquisitions by mode, those that waited, and the modeled cycles waited.
  mmu_lock_read = 0;
  mmu_lock_write = 0;
  mmu_lock_contended = 0;
  mmu_lock_wait_read_cycles = 0;
  mmu_lock_wait_write_cycles = 0;
  // Dirty logging (mmu/dirty-log.ts). pf_fast above is KVM's count of fast_page_fault fixes.
  /** Pages newly marked in a dirty bitmap (mark_page_dirty_in_slot on a clear bit). */
  dirty_pages_logged = 0;
  /** Dirty pages returned by KVM_GET_DIRTY_LOG. */
  dirty_pages_reported = 0;
  /** SPTEs write-protected (W cleared) for dirty logging: at enable, GET (reprotect) and CLEAR. */
  dirty_log_wrprot = 0;
  /** Huge SPTEs split into a table of smaller ones (eagerly, or on a write fault in the TDP MMU). */
  huge_pages_split = 0;
  /** Huge SPTEs zapped on a write fault to be rebuilt at 4 KiB (before split-on-fault, and the legacy MMU). */
  huge_pages_zapped_for_logging = 0;
  /** First writes logged by the CPU's Page Modification Log (no exit), and its buffer-full exits. */
  pml_logged = 0;
  pml_full_exits = 0;
  /** Dirty ring (kvm/dirty-ring.ts): pages pushed, KVM_EXIT_DIRTY_RING_FULL exits, entries reset. */
  dirty_ring_pushed = 0;
  dirty_ring_full_exits = 0;
  dirty_ring_reset = 0;
  /** vCPUs kicked so their PML buffers drain before GET/CLEAR or a ring harvest (kvm_flush_pml_buffers). */
  pml_sync_kicks = 0;
  /** Tables of small SPTEs collapsed (zapped, or replaced in place) when logging stops. */
  huge_pages_recovered = 0;
  /** Remote TLB flushes of huge page recovery by zapping, one per zap before 35ef80eb29ab (hugePageRecovery=zap). */
  huge_page_recovery_flushes = 0;
  // TDP MMU atomic updates (mmu/tdp/spte-races.ts).
  /** TDP MMU faults that lost a race (their cmpxchg failed, or the SPTE was frozen) and returned RET_PF_RETRY. */
  tdp_fault_retries = 0;
  /** Of those, the ones that found the SPTE frozen (FROZEN_SPTE, REMOVED_SPTE before 6.11). */
  tdp_fault_retries_frozen = 0;
  /**
   * Host pages a fault had to bring in through hva_to_pfn's slow path (get_user_pages: allocate,
   * clear, map in the VMM's page tables), before taking mmu_lock (cost.ts hostPageFault). Zero
   * with --host-prefault, or when host-page presence is not tracked.
   */
  host_page_faults = 0;
  /** TDP MMU page tables freed at the end of the RCU grace period without a TLB flush since they were unlinked (a bug: must stay 0). */
  tdp_pt_freed_unflushed = 0;
  // Model counters: roots.
  root_alloc = 0;
  root_reuse = 0;
  root_freed = 0;
  root_invalidated = 0;
  roots_max = 0;
  mmu_reset_context = 0;
  mmu_unload = 0;
  kvm_init_mmu_only = 0;
  fast_pgd_switch_hit = 0;
  fast_pgd_switch_miss = 0;
  // Shadow maintenance.
  unsync_marked = 0;
  unsync_to_sync = 0;
  sync_page = 0;
  sync_spte = 0;
  write_protect_gfn = 0;
  /** Shadow pages made for 32-bit guest tables (4-byte gptes), and of those with a quadrant above 0. */
  sp_4byte_gpte = 0;
  sp_quadrant = 0;
  // SPTEs.
  sptes_installed_leaf = 0;
  sptes_installed_nonleaf = 0;
  sptes_installed_mmio = 0;
  sptes_zapped = 0;
  sptes_prefetched = 0;
  mmu_pages_allocated = 0;
  mmu_pages_freed = 0;
  // MMIO generations.
  mmio_fast_hit = 0;
  mmio_gen_mismatch = 0;
  mmio_gen_wrap_zaps = 0;
  /** walk-and-zap (lkml (b) before): shadow pages walked, MMIO SPTEs the walks cleared. */
  mmio_zap_walk_pages = 0;
  mmio_sptes_walk_zapped = 0;
  memslot_updates = 0;
  // Requests serviced.
  req_tlb_flush = 0;
  req_tlb_flush_current = 0;
  req_tlb_flush_guest = 0;
  req_mmu_sync = 0;
  req_load_pgd = 0;
  req_free_obsolete_roots = 0;
  // Hardware TLB and flush instructions.
  hw_flush_root = 0;
  hw_flush_combined = 0;
  hw_flush_all = 0;
  hw_flush_gva = 0;
  hv_flush_guest_mapping = 0;
  stale_tlb_hits = 0;
  // Checker.
  invariant_violations = 0;
  modeled_cycles = 0;

  /** Every counter with its value, in declaration order. */
  entries(): Array<[string, number]> {
    return Object.entries(this).filter((e): e is [string, number] => typeof e[1] === 'number');
  }

  /** Adds another vCPU's counters in: sums, except the maxima, which take the larger. */
  add(other: Stats): void {
    const self = this as unknown as Record<string, number>;
    for (const [name, value] of other.entries()) {
      self[name] = isMaximum(name) ? Math.max(self[name], value) : self[name] + value;
    }
  }
}

/** Counters that hold a maximum rather than a count. */
function isMaximum(name: string): boolean {
  return name.startsWith('max_') || name.endsWith('_max');
}
