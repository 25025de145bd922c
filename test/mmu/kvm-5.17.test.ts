import { describe, expect, test } from 'vitest';
import { runGuest } from '../helpers/guest.js';
import { resolveKnobs } from '../../mmu/knobs.js';
import { cpuRoleFromRegisters, packRole, tdpRootRole, unpackRole } from '../../mmu/role.js';

/**
 * The two behaviours of 5.17 that later kernels changed (issue 15): the guest's CR0.WP and EFER.NX
 * in the TDP root role (until 2ba676774dfc, 5.19), and CR4 flushes implied by MMU resets and
 * reloads, with every root reloaded on a CR4.PCIDE change (until b5f61c035d49 and f6d0a2521ce1, 5.18).
 */
describe('kvm-5.17', () => {
  test('the preset sets both knobs; later presets do not', () => {
    expect(resolveKnobs('kvm-5.17')).toMatchObject({ tdpRootRoleGuestBits: true, crFlushModel: 'reset-superset' });
    for (const p of ['kvm-6.3', 'kvm-6.2', 'lkml-a', 'current']) {
      expect(resolveKnobs(p)).toMatchObject({ tdpRootRoleGuestBits: false, crFlushModel: 'explicit' });
    }
  });

  test('tdpRootRoleGuestBits: the TDP root role follows the guest\'s CR0.WP and EFER.NX only when set', () => {
    const CR0_PG_PE = 0x80000001;
    const wpOff = cpuRoleFromRegisters(CR0_PG_PE, 0x20, 0x500);
    const wpOn = cpuRoleFromRegisters(CR0_PG_PE | 0x10000, 0x20, 0xd00);
    const opts = { tdpLevel: 4, adDisabled: false };
    expect(tdpRootRole(wpOff, opts)).toBe(tdpRootRole(wpOn, opts));
    const before = unpackRole(tdpRootRole(wpOff, { ...opts, guestBits: true }));
    const after = unpackRole(tdpRootRole(wpOn, { ...opts, guestBits: true }));
    expect([before.cr0_wp, before.efer_nx, after.cr0_wp, after.efer_nx]).toEqual([false, false, true, true]);
    expect(packRole(after)).toBe(tdpRootRole(wpOff, opts));
  });

  test('tdpRootRoleGuestBits: where roots are kept across a CR0.WP toggle, each WP value needs its own TDP root', () => {
    const run = (knobs: string[], preset = 'lkml-a') => {
      const r = runGuest('cr0wp', '50', 'tdp', { preset, knobs });
      expect(r.status).toBe(1);
      return r.vm.kvm!.stats;
    };
    const kept = run(['tdpRootLifetime=persistent']);
    const twoRoles = run(['tdpRootLifetime=persistent', 'tdpRootRoleGuestBits=true']);
    expect([kept.root_alloc, kept.roots_max]).toEqual([1, 1]);
    expect([twoRoles.root_alloc, twoRoles.roots_max]).toEqual([2, 2]);
    expect(twoRoles.root_reuse).toBeGreaterThanOrEqual(100);
    // Paolo's keep-roots with roots that die with their last vCPU reference: a root per toggle again.
    expect(run(['tdpRootRoleGuestBits=true']).root_alloc).toBeGreaterThanOrEqual(100);
  }, 60_000);

  test('crFlushModel=reset-superset: a CR4.PCIDE change reloads the vCPU\'s roots; the guest sees the same results', () => {
    const run = (model: string) => runGuest('pcid', '', 'tdp', { preset: 'kvm-5.17', cpu: 'max', knobs: [`crFlushModel=${model}`] });
    const explicit = run('explicit');
    const superset = run('reset-superset');
    expect(superset.output).toBe(explicit.output);
    expect(superset.status).toBe(explicit.status);
    const [e, s] = [explicit.vm.kvm!.stats, superset.vm.kvm!.stats];
    expect(s.mmu_unload).toBeGreaterThan(e.mmu_unload);
    expect(s.root_alloc).toBeGreaterThan(e.root_alloc);
    // 5.17 asked for no explicit flush: the reload's flush covers it.
    expect(s.req_tlb_flush_guest + s.req_tlb_flush_current).toBe(0);
    expect(e.req_tlb_flush_guest).toBeGreaterThan(0);
  }, 60_000);
});
