import { describe, expect, test } from 'vitest';
import { runGuest } from '../helpers/guest.js';
import { resolveKnobs } from '../../mmu/knobs.js';
import { PermissionCache } from '../../mmu/permission-cache.js';
import { cpuRoleFromRegisters } from '../../mmu/role.js';
import { Access, WalkContext, permissionFault } from '../../emulator/paging/walker.js';
import { FORMATS, PagingMode } from '../../emulator/paging/format.js';
import { ACC_EXEC_MASK, ACC_USER_MASK, ACC_WRITE_MASK } from '../../mmu/spte.js';

const CR0_PG_PE = 0x80000001;
const CR0_WP = 0x10000;
const CR4_PAE = 0x20, CR4_SMEP = 0x100000, CR4_SMAP = 0x200000, CR4_PKE = 0x400000;
const EFER_LME_LMA_NXE = 0x500 | 0x800;

/**
 * KVM's per-role permission tables (issue 15 item 3): the verdicts of update_permission_bitmask and
 * update_pkru_bitmask checked against the SDM walker's permission rules (emulator/paging/walker.ts,
 * the hardware's), and the CR0.WP refresh of cf9f4c0eb169 shown by a guest whose emulated accesses
 * follow a CR0.WP write that does not exit.
 */
describe('permission cache', () => {
  test('every role, access and pte_access: the cache says what the SDM walker says', () => {
    const cache = new PermissionCache();
    const ctx = new WalkContext();
    ctx.format = FORMATS[PagingMode.LEVEL4];
    let checked = 0;
    for (let roleBits = 0; roleBits < 16; roleBits++) {
      const wp = (roleBits & 1) !== 0, smep = (roleBits & 2) !== 0, smap = (roleBits & 4) !== 0, pke = (roleBits & 8) !== 0;
      const cr0 = CR0_PG_PE | (wp ? CR0_WP : 0);
      const cr4 = CR4_PAE | (smep ? CR4_SMEP : 0) | (smap ? CR4_SMAP : 0) | (pke ? CR4_PKE : 0);
      cache.update(cpuRoleFromRegisters(cr0, cr4, EFER_LME_LMA_NXE));
      Object.assign(ctx, { wp, smep, smap, pke, nxe: true });
      for (let kind = 0; kind < 3; kind++) {
        for (const user of [false, true]) {
          for (const ac of [false, true]) {
            for (const implicit of [false, true]) {
              if (user && (ac || implicit)) continue;
              const access = (kind === 1 ? Access.WRITE : kind === 2 ? Access.FETCH : Access.READ) | (user ? Access.USER : 0) |
                (ac ? Access.AC : 0) | (implicit ? Access.IMPLICIT : 0);
              for (let pteAccess = 0; pteAccess < 8; pteAccess++) {
                for (const pkru of [0, 0b01 << 2, 0b10 << 2, 0b11 << 2]) {
                  ctx.pkru = pkru;
                  const w = (pteAccess & ACC_WRITE_MASK) !== 0, u = (pteAccess & ACC_USER_MASK) !== 0;
                  const nx = (pteAccess & ACC_EXEC_MASK) === 0;
                  const sdm = permissionFault(ctx, access, w, u, nx, 1);
                  const notSmap = ac && !implicit;
                  const kvm = cache.check(access & 0x16, notSmap, pteAccess, 1, pkru);
                  // The SDM code also has W, U and I/D: KVM's walker adds those itself (mmu/emulated-walk.ts).
                  expect([roleBits, access, pteAccess, pkru, kvm]).toEqual([roleBits, access, pteAccess, pkru, sdm & 0x21]);
                  checked++;
                }
              }
            }
          }
        }
      }
    }
    expect(checked).toBe(16 * 3 * 5 * 8 * 4);
  });

  test('the tables are computed from the role: a stale CR0.WP gives the old verdict until refreshed', () => {
    const cache = new PermissionCache();
    cache.update(cpuRoleFromRegisters(CR0_PG_PE, CR4_PAE, EFER_LME_LMA_NXE));
    const supervisorWriteToReadOnly = (): number => cache.check(Access.WRITE, false, ACC_EXEC_MASK, 0, 0);
    expect(supervisorWriteToReadOnly()).toBe(0);
    cache.refreshCr0Wp(true);
    expect(cache.cr0Wp).toBe(true);
    expect(supervisorWriteToReadOnly()).toBe(1);
  });

  test('the preset of the kvm-x86 tree between fb509f76acc8 and cf9f4c0eb169 skips the refresh; releases do not', () => {
    expect(resolveKnobs('kvm-x86-fb509f76acc8')).toMatchObject({ skipCr0WpRefresh: true, cr0WpGuestOwned: true });
    for (const p of ['current', 'kvm-6.9', 'kvm-6.4', 'kvm-6.3.2', 'kvm-6.3', 'kvm-6.2', 'kvm-5.17', 'lkml-a']) {
      expect(resolveKnobs(p).skipCr0WpRefresh).toBe(false);
    }
  });

  const fep = (mmu: 'bare' | 'shadow' | 'legacy-tdp' | 'tdp', knobs: string[], vendor?: 'vmx' | 'svm') =>
    runGuest('fep-cr0wp', '', mmu, { knobs: ['forceEmulationPrefix=true', ...knobs], vendor });

  test('fep-cr0wp: emulated accesses judged like the CPU\'s in every mode with the refresh', () => {
    for (const mmu of ['shadow', 'legacy-tdp', 'tdp'] as const) {
      const r = fep(mmu, []);
      expect(r.output).toContain('PASS: emulated supervisor write to a read-only page, CR0.WP=1: #PF 0x3');
      expect(r.output).toContain('PASS: emulated supervisor write to a read-only page, CR0.WP=0: allowed');
      expect([mmu, r.status]).toEqual([mmu, 1]);
      // The probe (a NOP), the read and the two writes (shadow paging emulates other writes too).
      expect(r.vm.kvm!.stats.insn_emulation).toBeGreaterThanOrEqual(4);
    }
    // Bare hardware has no forced emulation: #UD, and the emulated cases are skipped.
    const bare = fep('bare', []);
    expect(bare.output).toContain('forced emulation prefix not available');
    expect(bare.status).toBe(1);
  }, 60_000);

  test('skipCr0WpRefresh fails the guest where CR0.WP is guest-owned (VMX with EPT), nowhere else', () => {
    for (const mmu of ['legacy-tdp', 'tdp'] as const) {
      const r = fep(mmu, ['skipCr0WpRefresh=true']);
      expect(r.output).toContain('FAIL: emulated supervisor write to a read-only page, CR0.WP=1: #PF 0x3');
      expect(r.output).toContain('FAIL: emulated supervisor write to a read-only page, CR0.WP=0: allowed');
      expect([mmu, r.status]).toEqual([mmu, 3]);
    }
    // Shadow paging and SVM intercept CR0.WP: the role is rebuilt at the write, nothing is stale.
    expect(fep('shadow', ['skipCr0WpRefresh=true']).status).toBe(1);
    expect(fep('tdp', ['skipCr0WpRefresh=true'], 'svm').status).toBe(1);
    expect(fep('tdp', ['skipCr0WpRefresh=true', 'cr0WpGuestOwned=false']).status).toBe(1);
  }, 60_000);
});
