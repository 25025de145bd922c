import type { Replay } from './replay-types.js';

/**
 * The bug cf9f4c0eb169 fixed, as a replay beside the lkml threads: with CR0.WP guest-owned on VMX
 * with EPT (fb509f76acc8), KVM's emulator judged a supervisor write by the CR0.WP of the MMU role
 * computed at the last kvm_init_mmu. Both commits went into 6.4 through one pull
 * (tags/kvm-x86-misc-6.4), so the "before" is the kvm-x86 tree between them (preset
 * kvm-x86-fb509f76acc8); the guest reaches KVM's emulator through the forced-emulation prefix.
 */
export const CR0WP_EMULATED: Replay = {
  name: 'cr0wp',
  heading: 'cf9f4c0eb169 (cr0wp)',
  thread: '"KVM: x86/mmu: Refresh CR0.WP prior to checking for emulated permission faults" (Sean Christopherson, April 2023; '
    + 'reported by Mathias Krause on the CR0.WP series)',
  source: 'not in ../shared/reference/lkml/: lore 20230405002608.418442-1-seanjc@google.com, commit cf9f4c0eb169',
  decision: 'with CR0.WP guest-owned (fb509f76acc8) permission_fault first refreshes the role\'s CR0.WP from the register '
    + 'and recomputes the permission tables when they differ (kvm_mmu_refresh_passthrough_bits, cf9f4c0eb169)',
  image: 'build/guests/fep-cr0wp.flat',
  append: '',
  cpu: 'base',
  backing: '4k',
  smp: 1,
  settings: [
    { label: 'before (kvm-x86 at fb509f76acc8)', preset: 'kvm-x86-fb509f76acc8', knobs: ['forceEmulationPrefix=true'], vendor: 'vmx', mayFail: true },
    { label: 'after (kvm-6.4)', preset: 'kvm-6.4', knobs: ['forceEmulationPrefix=true'], vendor: 'vmx' },
    { label: 'before, SVM', preset: 'kvm-x86-fb509f76acc8', knobs: ['forceEmulationPrefix=true'], vendor: 'svm' },
  ],
  figures: [
    {
      key: 'status', label: 'exit status, tdp', mode: 'tdp', source: { kind: 'status' },
      published: ['"KVM may consume a stale CR0.WP, i.e. use stale protection bits metadata"', 'fixed'],
    },
    { key: 'legacy_status', label: 'exit status, legacy-tdp', mode: 'legacy-tdp', source: { kind: 'status' } },
    { key: 'shadow_status', label: 'exit status, shadow', mode: 'shadow', source: { kind: 'status' }, published: ['"CR0.WP is part of the MMU role for legacy shadow paging"'] },
    { key: 'emulated', label: 'instructions emulated, tdp', mode: 'tdp', source: { kind: 'kvm', counter: 'insn_emulation' } },
  ],
  shapes: [
    {
      describe: 'before: the emulated supervisor writes get the stale verdict with EPT (both TDP MMUs); shadow paging intercepts CR0.WP and passes',
      check: (v) => ({
        measured: `tdp ${v('status', 0)}, legacy-tdp ${v('legacy_status', 0)}, shadow ${v('shadow_status', 0)}`,
        holds: v('status', 0) !== 1 && v('legacy_status', 0) !== 1 && v('shadow_status', 0) === 1 && v('emulated', 0) > 0,
      }),
    },
    {
      describe: 'after: the guest passes in every mode',
      check: (v) => ({
        measured: `${v('status', 1)}, ${v('legacy_status', 1)}, ${v('shadow_status', 1)}`,
        holds: v('status', 1) === 1 && v('legacy_status', 1) === 1 && v('shadow_status', 1) === 1,
      }),
    },
    {
      describe: 'SVM cannot pass CR0.WP through, so the same kernel passes there ("the old == new check will always be true under NPT")',
      check: (v) => ({ measured: `${v('status', 2)}, ${v('legacy_status', 2)}`, holds: v('status', 2) === 1 && v('legacy_status', 2) === 1 }),
    },
  ],
  differs: 'the commit names UMIP emulation as a way in and quotes no figures; kvm-unit-tests\' access.c checks the same with '
    + 'its forced-emulation cases (check_toggle_cr0_wp), which fep-cr0wp follows: CR0.WP 0 and 1, by the CPU and by the emulator, '
    + 'after an EFER.NX toggle rebuilds KVM\'s context with the opposite CR0.WP',
};
