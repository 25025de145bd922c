import type { Replay } from './replay-types.js';
import { CR0WP_EMULATED } from './replay-cr0wp.js';

export type { Replay, ReplayFigure, ReplaySetting, ReplayShape, ReplaySource } from './replay-types.js';

/**
 * The KVM decisions `mmulab replay` reproduces, one per mailing-list thread the project grew from
 * (../shared/reference/lkml/). Each is a guest, the settings before and after the decision, the
 * figures to read from each run, what the thread itself published, and the shape the figures must
 * have for the replay to hold. The runs come from the mechanism (presets and knobs), never from
 * numbers written here; only the thread's own figures are quoted.
 */

const ratio = (a: number, b: number): number => (b === 0 ? Infinity : a / b);
const fmt = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}x` : 'inf');
const spread = (xs: number[]): number => Math.max(...xs) / Math.min(...xs);

const VMX = 'vmx' as const;

/** lkml (a): keep roots across CR0/CR4 role changes; vmexit.flat's toggle_cr0_wp. */
const LKML_A: Replay = {
  name: 'a',
  thread: 'KVM: MMU: do not unload MMU roots on all role changes (Paolo Bonzini, February 2022)',
  source: '2022-02-do-not-unload-mmu-roots-on-all-role-changes.txt',
  decision: 'a CR0.WP toggle no longer unloads the roots: the MMU looks up a cached root with the new role instead of building one',
  image: 'build/kvm-unit-tests/vmexit.flat',
  append: 'toggle_cr0_wp iterations=200',
  cpu: 'max',
  backing: '4k',
  smp: 1,
  settings: [
    { label: 'before (kvm-5.17)', preset: 'kvm-5.17', knobs: [], vendor: VMX },
    { label: 'after (lkml-a)', preset: 'lkml-a', knobs: [], vendor: VMX },
    { label: 'as merged (kvm-6.4, SVM)', preset: 'kvm-6.4', knobs: [], vendor: 'svm' },
  ],
  figures: [
    { key: 'tdp_cycles', label: 'toggle_cr0_wp cycles, tdp', mode: 'tdp', source: { kind: 'guest-value', name: 'toggle_cr0_wp' }, published: ['46754', '4879'] },
    { key: 'legacy_cycles', label: 'toggle_cr0_wp cycles, legacy-tdp', mode: 'legacy-tdp', source: { kind: 'guest-value', name: 'toggle_cr0_wp' }, published: ['5096', '4875'] },
    { key: 'shadow_cycles', label: 'toggle_cr0_wp cycles, shadow', mode: 'shadow', source: { kind: 'guest-value', name: 'toggle_cr0_wp' }, published: ['5150', '5006'] },
    { key: 'tdp_roots', label: 'roots allocated, tdp', mode: 'tdp', source: { kind: 'kvm', counter: 'root_alloc' } },
    { key: 'legacy_roots', label: 'roots allocated, legacy-tdp', mode: 'legacy-tdp', source: { kind: 'kvm', counter: 'root_alloc' } },
  ],
  shapes: [
    {
      describe: 'before: tdp costs at least 5x legacy-tdp and shadow (thread: 9.2x, 9.1x)',
      check: (v) => {
        const a = ratio(v('tdp_cycles', 0), v('legacy_cycles', 0));
        const b = ratio(v('tdp_cycles', 0), v('shadow_cycles', 0));
        return { measured: `${fmt(a)}, ${fmt(b)}`, holds: a >= 5 && b >= 5 };
      },
    },
    {
      describe: 'after: the three modes within 20% of each other (thread: 1.03x)',
      check: (v) => {
        const s = spread([v('tdp_cycles', 1), v('legacy_cycles', 1), v('shadow_cycles', 1)]);
        return { measured: fmt(s), holds: s <= 1.2 };
      },
    },
    {
      describe: 'tdp before / after at least 5x (thread: 9.6x)',
      check: (v) => {
        const r = ratio(v('tdp_cycles', 0), v('tdp_cycles', 1));
        return { measured: fmt(r), holds: r >= 5 };
      },
    },
    {
      describe: 'as merged in 6.4 (01b31714bd90, where CR0.WP still exits): tdp within 20% of legacy-tdp',
      check: (v) => {
        const r = ratio(v('tdp_cycles', 2), v('legacy_cycles', 2));
        return { measured: fmt(r), holds: r <= 1.2 && r >= 1 / 1.2 };
      },
    },
  ],
  differs: 'the thread measured real hardware with its own exit costs; mmulab charges modeled costs (mmu/cost.ts), '
    + 'so the absolute cycles differ while the before/after shape and the root counts come from the mechanism',
};

/** lkml (b): MMIO SPTEs invalidated by a generation bump instead of a walk of every shadow page. */
const WALK = 'mmioInvalidation=walk-and-zap';
const GEN = 'mmioInvalidation=generation';
const LKML_B: Replay = {
  name: 'b',
  thread: 'KVM: MMU: fast invalidate all mmio sptes (Xiao Guangrong, June 2013; Gleb Natapov\'s reply)',
  source: '2013-06-fast-invalidate-all-mmio-sptes.txt',
  decision: 'a memslot creation no longer walks every shadow page to clear MMIO SPTEs (kvm_mmu_zap_mmio_sptes); it bumps the '
    + 'memslots generation stamped in them, and zaps everything only when the 19-bit generation wraps',
  image: 'build/guests/memslot-cost.flat',
  append: '96 16',
  cpu: 'base',
  backing: '4k',
  smp: 1,
  settings: [
    { label: 'before, 96 MiB', preset: 'current', knobs: [WALK], vendor: VMX, append: '96 16' },
    { label: 'after, 96 MiB', preset: 'current', knobs: [GEN], vendor: VMX, append: '96 16' },
    { label: 'before, 4 MiB', preset: 'current', knobs: [WALK], vendor: VMX, append: '4 16' },
    { label: 'after, 4 MiB', preset: 'current', knobs: [GEN], vendor: VMX, append: '4 16' },
  ],
  figures: [
    { key: 'shadow_cycles', label: 'cycles per slot creation, shadow', mode: 'shadow', source: { kind: 'guest-value', name: 'memslot_round' } },
    { key: 'legacy_cycles', label: 'cycles per slot creation, legacy-tdp', mode: 'legacy-tdp', source: { kind: 'guest-value', name: 'memslot_round' } },
    { key: 'shadow_pages', label: 'shadow pages made, shadow', mode: 'shadow', source: { kind: 'kvm', counter: 'mmu_pages_allocated' } },
    {
      key: 'shadow_walked', label: 'shadow pages walked, shadow', mode: 'shadow', source: { kind: 'kvm', counter: 'mmio_zap_walk_pages' },
      published: ['walks every shadow page', '"need not walk any shadow pages"'],
    },
    { key: 'legacy_walked', label: 'shadow pages walked, legacy-tdp', mode: 'legacy-tdp', source: { kind: 'kvm', counter: 'mmio_zap_walk_pages' } },
    {
      key: 'wrap_zaps', label: 'generation wrap zaps, shadow', mode: 'shadow', source: { kind: 'kvm', counter: 'mmio_gen_wrap_zaps' },
      published: ['', '"zap all mmio sptes when the number is round" (19 bits)'],
    },
  ],
  shapes: [
    {
      describe: 'before: a creation costs at least 1.5x more with 96 MiB of shadowed RAM than with 4 MiB, in both modes',
      check: (v) => {
        const a = ratio(v('shadow_cycles', 0), v('shadow_cycles', 2));
        const b = ratio(v('legacy_cycles', 0), v('legacy_cycles', 2));
        return { measured: `${fmt(a)}, ${fmt(b)}`, holds: a >= 1.5 && b >= 1.5 };
      },
    },
    {
      describe: 'after: the cost of a creation does not depend on the shadow pages (within 2%)',
      check: (v) => {
        const a = ratio(v('shadow_cycles', 1), v('shadow_cycles', 3));
        const b = ratio(v('legacy_cycles', 1), v('legacy_cycles', 3));
        return { measured: `${fmt(a)}, ${fmt(b)}`, holds: Math.abs(a - 1) <= 0.02 && Math.abs(b - 1) <= 0.02 };
      },
    },
    {
      describe: 'before: pages walked grow with the shadow pages (at least 3x from 4 to 96 MiB); after: none walked',
      check: (v) => {
        const r = ratio(v('shadow_walked', 0), v('shadow_walked', 2));
        const none = v('shadow_walked', 1) + v('shadow_walked', 3) + v('legacy_walked', 1) + v('legacy_walked', 3);
        return { measured: `${fmt(r)}, after ${none}`, holds: v('shadow_walked', 2) > 0 && r >= 3 && none === 0 };
      },
    },
  ],
  differs: 'the thread published no timings (the patch removed a walk; Gleb reported Fedora 9 guests rebooting, a bug in the '
    + 'series, not in the trade-off); mmulab charges a modeled cost per shadow page walked (mmu/cost.ts mmioZapWalkPage). '
    + 'The TDP MMU (5.10) never walked, so the replay runs the shadow and legacy TDP MMUs of the time',
};

/** lkml (c): TDP MMU roots kept until invalidated; Sean's reset-on-every-exit experiment. */
const LKML_C: Replay = {
  name: 'c',
  thread: 'KVM: x86: Preserve TDP MMU roots until they are explicitly invalidated (Sean Christopherson, April 2023)',
  source: '2023-04-tdp-mmu-keep-roots-until-invalidated.txt',
  decision: 'a TDP MMU root no longer dies with its last vCPU reference, so a context reset finds it again instead of rebuilding it',
  image: 'build/guests/smp.flat',
  append: '',
  cpu: 'base',
  backing: '4k',
  smp: 1,
  settings: [
    { label: 'before (vcpu-refcount)', preset: 'current', knobs: ['forceResetContextOnEveryExit=true', 'tdpRootLifetime=vcpu-refcount'], vendor: VMX },
    { label: 'after (persistent)', preset: 'current', knobs: ['forceResetContextOnEveryExit=true', 'tdpRootLifetime=persistent'], vendor: VMX },
  ],
  figures: [
    { key: 'roots', label: 'roots allocated, tdp', mode: 'tdp', source: { kind: 'kvm', counter: 'root_alloc' }, published: ['100k', '15'] },
    { key: 'faults', label: 'page faults, tdp', mode: 'tdp', source: { kind: 'kvm', counter: 'pf_taken' } },
    { key: 'resets', label: 'context resets, tdp', mode: 'tdp', source: { kind: 'kvm', counter: 'mmu_reset_context' } },
    { key: 'cycles', label: 'modeled cycles, tdp', mode: 'tdp', source: { kind: 'cycles' }, published: ['9 s to PID 1', '2 s to PID 1'] },
  ],
  shapes: [
    {
      describe: 'before: a root per reset; after: at least 100x fewer (thread: 100k against 15)',
      check: (v) => {
        const r = ratio(v('roots', 0), v('roots', 1));
        return { measured: fmt(r), holds: r >= 100 && v('roots', 0) >= v('resets', 0) - 10 };
      },
    },
    {
      describe: 'before: at least 2x the modeled time of after (thread: 9 s against 2 s, 4.5x)',
      check: (v) => {
        const r = ratio(v('cycles', 0), v('cycles', 1));
        return { measured: fmt(r), holds: r >= 2 };
      },
    },
  ],
  differs: 'Sean booted Linux to PID 1 on hardware with resets on every non-fastpath exit; this replay boots the project\'s '
    + 'smp guest on one vCPU with a reset after every exit but page faults, so the counts are smaller while the ratio of '
    + 'roots and the direction of the time come from the same mechanism (test/guests/linux.test.ts does it with Linux)',
};

/** lkml (d): a TDP root reloaded without a Hyper-V flush keeps the old guest-physical translations. */
const LKML_D: Replay = {
  name: 'd',
  thread: '"KVM: x86/mmu: Overhaul TDP MMU zapping and flushing" breaks SVM on Hyper-V (Jeremi Piotrowski, February 2023)',
  source: '2023-02-tdp-mmu-zapping-breaks-svm-on-hyperv.txt',
  decision: 'the Overhaul series (5.18) left the flush after zapping a root to the load of the next one (flush_tlb_current), '
    + 'which under Hyper-V\'s enlightened nested TLB drops only linear translations; e5c972c1fada (6.3) also flushes the root through Hyper-V',
  image: 'build/guests/hv-flush.flat',
  append: '',
  cpu: 'base',
  backing: '4k',
  smp: 1,
  settings: [
    { label: 'before (kvm-6.2, svm-hv)', preset: 'kvm-6.2', knobs: [], vendor: 'svm-hv', mayFail: true },
    { label: 'after (kvm-6.3, svm-hv)', preset: 'kvm-6.3', knobs: [], vendor: 'svm-hv' },
    { label: 'kvm-6.2 without Hyper-V', preset: 'kvm-6.2', knobs: [], vendor: 'svm' },
  ],
  figures: [
    { key: 'status', label: 'exit status, tdp', mode: 'tdp', source: { kind: 'status' }, published: ['L2 panics (missing rootfs)', 'L2 boots'] },
    { key: 'legacy_status', label: 'exit status, legacy-tdp', mode: 'legacy-tdp', source: { kind: 'status' }, published: ['tdp_mmu=0 boots', 'boots'] },
    { key: 'stale', label: 'stale guest-physical TLB hits, tdp', mode: 'tdp', source: { kind: 'kvm', counter: 'stale_tlb_hits' } },
    { key: 'hv_flushes', label: 'Hyper-V root flushes, tdp', mode: 'tdp', source: { kind: 'kvm', counter: 'hv_flush_guest_mapping' } },
  ],
  shapes: [
    {
      describe: 'before: the guest fails under the TDP MMU after hitting stale translations, and passes with the legacy one (thread: tdp_mmu=0 works)',
      check: (v) => ({
        measured: `status ${v('status', 0)}, ${v('stale', 0)} stale hits; legacy-tdp ${v('legacy_status', 0)}`,
        holds: v('status', 0) !== 1 && v('stale', 0) > 0 && v('legacy_status', 0) === 1,
      }),
    },
    {
      describe: 'after: the guest passes in both MMUs, with no stale hit and Hyper-V flushes of the root',
      check: (v) => ({
        measured: `${v('status', 1)}, ${v('legacy_status', 1)}, ${v('stale', 1)} stale, ${v('hv_flushes', 1)} flushes`,
        holds: v('status', 1) === 1 && v('legacy_status', 1) === 1 && v('stale', 1) === 0 && v('hv_flushes', 1) > 0,
      }),
    },
    {
      describe: 'without Hyper-V the same kernel passes: an ASID flush drops guest-physical translations too',
      check: (v) => ({ measured: `${v('status', 2)}, ${v('stale', 2)} stale`, holds: v('status', 2) === 1 && v('stale', 2) === 0 }),
    },
  ],
  differs: 'Jeremi booted L2 Linux guests under KVM running in a Hyper-V L1; the replay\'s guest keeps a page table in a memslot '
    + 'the VMM moves to other host memory (copy, delete, re-create, poison the old pages with 0x6b), so the stale translation of '
    + 'that page is read at the guest\'s next walk and gives the guest a reserved-bit page fault it cannot explain. A host page '
    + 'migration through the mmu_notifier would not show it: KVM\'s remote flush uses the Hyper-V hypercall on that path',
};

/** lkml (e): the MMU-present bit inside the MMIO generation; Tom Lendacky's Rome failing KVM_RUN. */
const LKML_E: Replay = {
  name: 'e',
  thread: 'KVM: x86/mmu: Use a dedicated bit to track shadow/MMU-present SPTEs (Tom Lendacky\'s report, March 2021)',
  source: '2021-03-dedicated-mmu-present-spte-bit.txt',
  decision: 'b14e28f37e9b made bit 11 MMU-present while the MMIO generation still used it; "Exclude the MMU_PRESENT bit from MMIO SPTE\'s generation" moved the generation off it',
  image: 'build/guests/mmio-cache.flat',
  // 80 rounds of adding and removing a memslot take the generation past 256, whose bit lands in SPTE bit 11.
  append: '80',
  cpu: 'base',
  backing: '2m',
  smp: 1,
  hostSme: true,
  settings: [
    { label: 'before (b14e28f37e9b)', preset: 'current', knobs: ['spteLayout=b14e28f37e9b'], vendor: 'svm', mayFail: true },
    { label: 'after (fixed layout)', preset: 'current', knobs: [], vendor: 'svm' },
  ],
  figures: [
    { key: 'status', label: 'exit status, tdp', mode: 'tdp', source: { kind: 'status' }, published: ['kvm run failed Invalid argument', 'boots'] },
    { key: 'legacy_status', label: 'exit status, legacy-tdp', mode: 'legacy-tdp', source: { kind: 'status' } },
    { key: 'mmio_sptes', label: 'MMIO SPTEs created, tdp', mode: 'tdp', source: { kind: 'kvm', counter: 'pf_mmio_spte_created' } },
  ],
  shapes: [
    {
      describe: 'before: KVM_RUN fails with -EINVAL (status 16) in both TDP MMUs, as in the report',
      check: (v) => ({ measured: `${v('status', 0)}, ${v('legacy_status', 0)}`, holds: v('status', 0) === 16 && v('legacy_status', 0) === 16 }),
    },
    {
      describe: 'after: the guest passes (status 1)',
      check: (v) => ({ measured: `${v('status', 1)}, ${v('legacy_status', 1)}`, holds: v('status', 1) === 1 && v('legacy_status', 1) === 1 }),
    },
  ],
  differs: 'Tom booted OVMF, whose memslot updates took the generation there; the mmio-cache guest adds and removes a memslot '
    + '80 times instead. The failing SPTE has the report\'s shape (MMIO bits 43-51, bit 11 from the generation, W/U/P)',
};

/** Every replay `mmulab replay` knows, by name. */
export const REPLAYS: readonly Replay[] = [LKML_A, LKML_B, LKML_C, LKML_D, LKML_E, CR0WP_EMULATED];

