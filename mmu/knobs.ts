/**
 * Knobs: named policy choices that reproduce KVM behaviours old and new, and presets that set
 * them coherently. Defaults follow current KVM. Every "before" behaviour is a knob rather than a
 * fork of the code (kvm-mmu.md section 9).
 */
export interface Knobs {
  /**
   * What a change of a CR0/CR4/EFER role bit does (kvm-mmu.md 4.4):
   * 'unload-always': kvm_mmu_reset_context on every role change, CR0.WP included (before 6.4);
   * 'current': a CR0.WP-only change with TDP re-initialises the MMU and keeps roots (01b31714bd90);
   * 'keep-roots': Paolo's proposal in lkml (a): keep roots except for CR0.PG 1->0, CPUID changes
   * and CR4.SMEP 0->1.
   */
  roleChangePolicy: 'unload-always' | 'current' | 'keep-roots';
  /**
   * TDP MMU root lifetime (kvm-mmu.md 4.5): 'vcpu-refcount' frees a root when the last vCPU
   * drops it (before 6.4); 'persistent' keeps it until invalidated (edbdb43fc96b, lkml (c)).
   */
  tdpRootLifetime: 'vcpu-refcount' | 'persistent';
  /** Bits of the memslot generation kept in MMIO SPTEs (19 today); small values force wraps. */
  mmioGenBits: number;
  /**
   * How MMIO SPTEs are invalidated when memslots change (lkml (b)): 'generation' stamps each with
   * the memslots generation and bumps it, O(1), zapping everything only when it wraps
   * (f8f559422b6c "KVM: MMU: fast invalidate all mmio sptes", 3.11); 'walk-and-zap' is the 3.10
   * kvm_mmu_zap_mmio_sptes: on a create or move, walk every shadow page and clear its MMIO SPTEs,
   * O(shadow pages), with no generation in them. Shadow-page MMUs only: the TDP MMU (5.10) never
   * had the walk and keeps the generation.
   */
  mmioInvalidation: 'generation' | 'walk-and-zap';
  /** MMIO SPTE layout (kvm-mmu.md 2.5): which bit is MMU-present and where generation bits go. */
  spteLayout: 'current' | 'b14e28f37e9b' | 'pre-5.12';
  /**
   * Flush when a TDP MMU root's pages are freed ('flush-on-free', before 5.18), or rely on the
   * flush done when a root is loaded ('defer-to-alloc', the "Overhaul" series; lkml (d)).
   */
  tdpFreeFlush: 'flush-on-free' | 'defer-to-alloc';
  /** The fix for lkml (d) on Hyper-V: none, or a Hyper-V flush of the root in flush_tlb_current. */
  hvFlushOnFlushCurrent: boolean;
  /**
   * lkml (c)'s stress test: reset the MMU context on every exit except page faults (after a fault
   * a reset that frees the root undoes the fix, and the guest never makes progress).
   */
  forceResetContextOnEveryExit: boolean;
  /**
   * The TDP root role takes the guest's CR0.WP and EFER.NX (kvm_calc_tdp_mmu_root_page_role up to
   * 5.18), so toggling either needs another TDP root even where roots are kept; 2ba676774dfc (5.19)
   * sets both to true in every TDP root role, as the hardware walk ignores them.
   */
  tdpRootRoleGuestBits: boolean;
  /**
   * How a CR4 write asks for TLB work. 'explicit' (5.18+): a role change resets the MMU and the
   * flush is requested separately (TLB_FLUSH_CURRENT on PAE and SMEP 0->1, TLB_FLUSH_GUEST on PGE
   * and PCIDE 1->0; b5f61c035d49), and PCIDE 0->1 unloads shadow roots directly (f6d0a2521ce1).
   * 'reset-superset' (5.16, 5.17): a role change resets the MMU, whose reload flushes; otherwise any
   * PCIDE change reloads every root of the vCPU (KVM_REQ_MMU_RELOAD); otherwise a PGE change
   * flushes the guest's TLB. No explicit flush is asked for, so skipSmep0to1Flush has nothing to skip.
   */
  crFlushModel: 'explicit' | 'reset-superset';
  /**
   * Negative control for lkml (a): omit the flush KVM asks for on CR4.SMEP 0 -> 1 (TLB_FLUSH_CURRENT
   * in current KVM, TLB_FLUSH_GUEST in Paolo's keep-roots patch). Current KVM unloads every root on
   * a SMEP change (SMEP is in KVM_MMU_CR4_ROLE_BITS, so kvm_mmu_reset_context) and kvm_mmu_load
   * syncs and flushes, so no guest can tell; with roleChangePolicy=keep-roots the root is kept (or
   * found among the previous roots) and the flush is the only sync: the smep-flush guest then
   * reads through a PTE it changed before the MOV to CR4 (shadow paging).
   */
  skipSmep0to1Flush: boolean;
  /**
   * VMX with EPT lets the guest own CR0.WP (KVM_LAZY_CR0_GUEST_BITS, fb509f76acc8 "KVM: VMX: Make
   * CR0.WP a guest owned bit", 6.4): toggling it does not exit at all. Before, every CR0.WP write
   * exited; SVM and ept=0 still intercept it.
   */
  cr0WpGuestOwned: boolean;
  /**
   * kvm.force_emulation_prefix (a module parameter, off by default): `ud2; .ascii "kvm"` before an
   * instruction makes KVM's #UD handler (handle_ud) skip the prefix and emulate the instruction in
   * software, its accesses translated by KVM's walker. kvm-unit-tests' FEP cases need it.
   */
  forceEmulationPrefix: boolean;
  /**
   * The bug cf9f4c0eb169 ("KVM: x86/mmu: Refresh CR0.WP prior to checking for emulated permission
   * faults") fixed: with CR0.WP guest-owned (fb509f76acc8) a CR0.WP toggle does not exit, and KVM's
   * emulator judged permissions by the MMU role's CR0.WP, computed at the last kvm_init_mmu. True
   * skips the refresh: the kvm-x86 tree between the two commits (no release had it).
   */
  skipCr0WpRefresh: boolean;
  /**
   * KVM_SET_NR_MMU_PAGES: the shadow-page limit of the shadow and legacy TDP MMUs, beyond which
   * the oldest pages are recycled. 0: KVM's default, 2% of guest memory and at least 64.
   */
  nrMmuPages: number;
  /**
   * mmu_lock mode for allocating and freeing TDP MMU roots: 'read' since 6.9 ("to avoid
   * serializing vCPUs when userspace deletes a memslot"), 'write' before.
   */
  tdpRootLock: 'read' | 'write';
  /**
   * kvm.eager_page_split: split the TDP MMU's huge pages when dirty logging is enabled (or, with
   * KVM_DIRTY_LOG_INITIALLY_SET, in KVM_CLEAR_DIRTY_LOG) instead of on the first write to each.
   * a3fe5dbda0a4 and cb00a70bd4b7, in 5.18; only the TDP MMU splits (kvm_mmu_slot_try_split_huge_pages
   * returns early without it), so the legacy and shadow MMUs ignore it.
   */
  eagerPageSplit: boolean;
  /**
   * What the TDP MMU does with a huge SPTE when a fault wants a smaller mapping under it (a write
   * while logging): 'split' it in place into 512 SPTEs that keep its permissions ("Split huge
   * pages mapped by the TDP MMU on fault", c4b33d28ea51, 6.2), or 'zap' it and let every 4 KiB page fault
   * again, as before.
   */
  tdpHugeWriteFault: 'split' | 'zap';
  /**
   * Huge page recovery when logging stops: 'in-place' installs the huge SPTE over the table
   * (13e2e4f62a4b, 6.13), 'zap' removes the table and lets the next fault map the huge page
   * (kvm_mmu_zap_collapsible_sptes, up to 6.12). The legacy and shadow MMUs always zap.
   */
  hugePageRecovery: 'in-place' | 'zap';
  /**
   * kvm_intel.enable_pml: with VMX and EPT, dirty logging clears the D bit of 4 KiB SPTEs and the
   * CPU logs each first write into a 512-entry Page Modification Log, exiting only when it is
   * full; huge SPTEs are still write-protected. Off (or on SVM, or without EPT): every first
   * write after a collection takes a write-protection fault.
   */
  pml: boolean;
}

export const CURRENT: Readonly<Knobs> = {
  roleChangePolicy: 'current',
  tdpRootLifetime: 'persistent',
  mmioGenBits: 19,
  mmioInvalidation: 'generation',
  spteLayout: 'current',
  tdpFreeFlush: 'defer-to-alloc',
  hvFlushOnFlushCurrent: true,
  forceResetContextOnEveryExit: false,
  skipSmep0to1Flush: false,
  tdpRootRoleGuestBits: false,
  crFlushModel: 'explicit',
  cr0WpGuestOwned: true,
  forceEmulationPrefix: false,
  skipCr0WpRefresh: false,
  nrMmuPages: 0,
  tdpRootLock: 'read',
  eagerPageSplit: true,
  tdpHugeWriteFault: 'split',
  hugePageRecovery: 'in-place',
  pml: true,
};

/**
 * Named sets of knobs, each the behaviour of a KVM release (or a proposal). Each value cites the
 * commit that sets it; the README's preset table lists them per knob. Where a kernel behaves
 * differently on VMX and SVM (CR0.WP ownership, the Hyper-V flush), the knob applies only on the
 * vendor it concerns, so the vendor is chosen with --vendor, not by the preset.
 */
const KVM_6_3: Partial<Knobs> = {
  // 2ba676774dfc (5.19) took the guest's CR0.WP/EFER.NX out of the TDP root role; before 01b31714bd90
  // (6.4) every change of a role bit, CR0.WP included, still unloaded the roots.
  roleChangePolicy: 'unload-always',
  // TDP roots died with the last vCPU reference until edbdb43fc96b (6.4; 6.3.2 by backport).
  tdpRootLifetime: 'vcpu-refcount',
  // fb509f76acc8 (6.4) made CR0.WP guest-owned on VMX with EPT.
  cr0WpGuestOwned: false,
  // dab285e4ec73 and 576a15de8d29 (6.9) moved TDP root allocation and freeing under the read lock.
  tdpRootLock: 'write',
  // 13e2e4f62a4b (6.13) recovers huge pages in place; before, kvm_mmu_zap_collapsible_sptes zaps.
  hugePageRecovery: 'zap',
};

/** 6.4 to 6.8 (below). */
const KVM_6_4: Partial<Knobs> = { tdpRootLock: 'write', hugePageRecovery: 'zap' };

export const PRESETS: Readonly<Record<string, Partial<Knobs>>> = {
  /** Current KVM: 6.13 and later. */
  current: {},
  /** 6.9 to 6.12: TDP roots allocated and freed under mmu_lock for read; huge pages recovered by zapping. */
  'kvm-6.9': { hugePageRecovery: 'zap' },
  /**
   * 6.4 to 6.8: TDP roots persist (edbdb43fc96b, lkml (c)); a CR0.WP-only change keeps roots where it
   * still exits (01b31714bd90: SVM, and VMX with ept=0), and on VMX with EPT does not exit at all
   * (fb509f76acc8); the Hyper-V flush fix (e5c972c1fada, 6.3-rc6) is in.
   */
  'kvm-6.4': KVM_6_4,
  /**
   * kvm-x86's misc branch between fb509f76acc8 (CR0.WP guest-owned) and cf9f4c0eb169 (2023-04-10,
   * the refresh), both merged for 6.4 in one pull (tags/kvm-x86-misc-6.4): 6.4 without the refresh.
   * No release had it; the 6.2.y backport carried the fix with the series.
   */
  'kvm-x86-fb509f76acc8': { ...KVM_6_4, skipCr0WpRefresh: true },
  /** 6.3.2: 6.3 with the stable backport of persistent TDP roots (2ec1fe292d6e), not yet the CR0.WP series. */
  'kvm-6.3.2': { ...KVM_6_3, tdpRootLifetime: 'persistent' },
  /** 5.19 to 6.3.1 (6.3 shown): every role change unloads, TDP roots die with the last vCPU reference. */
  'kvm-6.3': KVM_6_3,
  /** 6.2: 6.3 before "KVM: SVM: Flush Hyper-V TLB when required" (e5c972c1fada): lkml (d) on svm-hv. */
  'kvm-6.2': { ...KVM_6_3, hvFlushOnFlushCurrent: false },
  /**
   * 5.17: before lkml (a) and (c), before the Overhaul series (bb95dfb9e2df, 5.18: a freed TDP root's
   * pages were flushed on free) and eager page splitting (a3fe5dbda0a4, 5.18), with huge pages zapped
   * rather than split on a write fault (c4b33d28ea51, 6.2); with the guest's CR0.WP/EFER.NX in the TDP
   * root role (until 2ba676774dfc, 5.19) and CR4 flushes implied by MMU resets and reloads, a CR4.PCIDE
   * change reloading every root (until b5f61c035d49 and f6d0a2521ce1, 5.18).
   */
  'kvm-5.17': {
    ...KVM_6_3, tdpFreeFlush: 'flush-on-free', hvFlushOnFlushCurrent: false, eagerPageSplit: false, tdpHugeWriteFault: 'zap',
    tdpRootRoleGuestBits: true, crFlushModel: 'reset-superset',
  },
  /** Paolo's lkml (a) proposal (written against 5.18's kvm/queue), shown on top of 6.2: keep roots across role changes. */
  'lkml-a': { ...KVM_6_3, roleChangePolicy: 'keep-roots', hvFlushOnFlushCurrent: false },
};

export class KnobError extends Error {}

/** Builds knobs from a preset and `name=value` overrides (the CLI's --preset and --knob). */
export function resolveKnobs(preset = 'current', overrides: readonly string[] = []): Knobs {
  const base = PRESETS[preset];
  if (base === undefined) throw new KnobError(`unknown preset "${preset}" (known: ${Object.keys(PRESETS).join(', ')})`);
  const knobs: Knobs = { ...CURRENT, ...base };
  for (const o of overrides) {
    const eq = o.indexOf('=');
    if (eq < 0) throw new KnobError(`knob "${o}" is not name=value`);
    const name = o.slice(0, eq) as keyof Knobs;
    const value = o.slice(eq + 1);
    if (!(name in CURRENT)) throw new KnobError(`unknown knob "${name}" (known: ${Object.keys(CURRENT).join(', ')})`);
    setKnob(knobs, name, value);
  }
  return knobs;
}

/** Numeric knobs: allowed range and how to say it. */
const RANGES = {
  mmioGenBits: [1, 19, 'a whole number from 1 to 19'],
  // KVM_SET_NR_MMU_PAGES refuses fewer than KVM_MIN_ALLOC_MMU_PAGES.
  nrMmuPages: [64, 1 << 20, '0 (the default) or a whole number of pages from 64'],
} as const;

const CHOICES: Partial<Record<keyof Knobs, readonly string[]>> = {
  roleChangePolicy: ['unload-always', 'current', 'keep-roots'],
  tdpRootLifetime: ['vcpu-refcount', 'persistent'],
  spteLayout: ['current', 'b14e28f37e9b', 'pre-5.12'],
  mmioInvalidation: ['generation', 'walk-and-zap'],
  crFlushModel: ['explicit', 'reset-superset'],
  tdpFreeFlush: ['flush-on-free', 'defer-to-alloc'],
  tdpRootLock: ['read', 'write'],
  tdpHugeWriteFault: ['split', 'zap'],
  hugePageRecovery: ['in-place', 'zap'],
};

function setKnob(knobs: Knobs, name: keyof Knobs, value: string): void {
  const current = CURRENT[name];
  if (typeof current === 'boolean') {
    if (value !== 'true' && value !== 'false') throw new KnobError(`knob ${name} is true or false, got "${value}"`);
    (knobs[name] as boolean) = value === 'true';
  } else if (typeof current === 'number') {
    const n = Number(value);
    const [min, max, what] = RANGES[name as keyof typeof RANGES];
    if (!Number.isInteger(n) || ((n < min || n > max) && !(name === 'nrMmuPages' && n === 0))) {
      throw new KnobError(`knob ${name} is ${what}, got "${value}"`);
    }
    (knobs[name] as number) = n;
  } else {
    const choices = CHOICES[name] ?? [];
    if (!choices.includes(value)) throw new KnobError(`knob ${name} is one of ${choices.join(', ')}, got "${value}"`);
    (knobs as unknown as Record<string, string>)[name] = value;
  }
}
