import { describe, expect, test } from 'vitest';
import { Cr0, Cr4, Efer } from '../../emulator/arch/control.js';
import {
  childRole, cpuRoleEquals, cpuRoleFromRegisters, extCr4Pke, extCr4Smap, extCr4Smep, formatCpuRole, formatExtRole,
  formatRole, kvmMmuGetTdpLevel, packExtRole, packRole, roleAccess, roleCr0Wp, roleDirect, roleEferNx,
  roleHas4ByteGpte, roleHasGptes, roleInvalid, roleLevel, rolePassthrough, roleQuadrant, roleSmm, roleSyncMismatch,
  roleWithAccess, roleWithCr0Wp, roleWithDirect, roleWithLevel, roleWithPassthrough, roleWithQuadrant, shadowRootRole,
  tdpRootRole, unpackExtRole, unpackRole, type PageRole,
} from '../../mmu/role.js';

describe('union kvm_mmu_page_role packing (kvm_host.h bit positions)', () => {
  test.each([
    [{ level: 4 }, 0x4],
    [{ level: 0xf }, 0xf],
    [{ has_4_byte_gpte: true }, 1 << 4],
    [{ quadrant: 3 }, 3 << 5],
    [{ direct: true }, 1 << 7],
    [{ access: 7 }, 7 << 8],
    [{ invalid: true }, 1 << 11],
    [{ efer_nx: true }, 1 << 12],
    [{ cr0_wp: true }, 1 << 13],
    [{ smep_andnot_wp: true }, 1 << 14],
    [{ smap_andnot_wp: true }, 1 << 15],
    [{ ad_disabled: true }, 1 << 16],
    [{ guest_mode: true }, 1 << 17],
    [{ passthrough: true }, 1 << 18],
    [{ is_mirror: true }, 1 << 19],
    [{ smm: 1 }, 0x01000000],
    [{ smm: 0xff }, 0xff000000],
  ] as [Partial<PageRole>, number][])('%o -> %i', (fields, word) => {
    expect(packRole(fields)).toBe(word);
    expect(unpackRole(word)).toMatchObject(fields);
  });

  test('round trip of every field at once, and the hot accessors', () => {
    const r: PageRole = {
      level: 3, has_4_byte_gpte: true, quadrant: 2, direct: false, access: 5, invalid: true, efer_nx: true,
      cr0_wp: false, smep_andnot_wp: true, smap_andnot_wp: false, ad_disabled: true, guest_mode: false,
      passthrough: true, is_mirror: false, smm: 1,
    };
    const w = packRole(r);
    expect(w).toBe(0x01055d53);
    expect(unpackRole(w)).toEqual(r);
    expect([roleLevel(w), roleAccess(w), roleDirect(w), roleInvalid(w), roleSmm(w)]).toEqual([3, 5, false, true, 1]);
  });

  /** Words with every field varied (a fixed LCG, so the test is the same every run). */
  const words = (): number[] => {
    const out = [0, 0xffffffff, 0x01055d53];
    let x = 12345;
    for (let i = 0; i < 200; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      out.push((x ^ (x << 7)) >>> 0);
    }
    return out;
  };

  test('named getters read what unpackRole reads, for every word', () => {
    for (const w of words()) {
      const r = unpackRole(w);
      expect([roleLevel(w), roleAccess(w), roleDirect(w), roleInvalid(w), roleSmm(w), roleHas4ByteGpte(w), roleQuadrant(w),
        rolePassthrough(w), roleCr0Wp(w), roleEferNx(w), roleHasGptes(w)]).toEqual([r.level, r.access, r.direct, r.invalid,
        r.smm, r.has_4_byte_gpte, r.quadrant, r.passthrough, r.cr0_wp, r.efer_nx, !r.direct && !r.passthrough]);
    }
  });

  test('named setters change their field only, and give an unsigned word', () => {
    const setters: [(w: number) => number, Partial<PageRole>][] = [
      [(w) => roleWithLevel(w, 2), { level: 2 }], [(w) => roleWithAccess(w, 5), { access: 5 }],
      [(w) => roleWithQuadrant(w, 3), { quadrant: 3 }], [(w) => roleWithDirect(w, true), { direct: true }],
      [(w) => roleWithDirect(w, false), { direct: false }], [(w) => roleWithPassthrough(w, false), { passthrough: false }],
      [(w) => roleWithPassthrough(w, true), { passthrough: true }], [(w) => roleWithCr0Wp(w, true), { cr0_wp: true }],
      [(w) => roleWithCr0Wp(w, false), { cr0_wp: false }],
    ];
    for (const w of words()) {
      for (const [set, fields] of setters) {
        const out = set(w);
        expect(out).toBeGreaterThanOrEqual(0);
        expect(unpackRole(out)).toEqual({ ...unpackRole(w), ...fields });
      }
    }
  });

  test('kvm_mmu_child_role: one level down, the access and directness given, never passthrough; the quadrant only under 4-byte gptes', () => {
    for (const w of words()) {
      const parent = unpackRole(roleWithLevel(w, 2 + (w % 3)));
      for (const half of [0, 1]) {
        const child = unpackRole(childRole(packRole(parent), 6, half === 1, half));
        expect(child).toEqual({
          ...parent, level: parent.level - 1, access: 6, direct: half === 1, passthrough: false,
          quadrant: parent.has_4_byte_gpte ? half : parent.quadrant,
        });
      }
    }
  });

  test('a sync ignores level, access, quadrant and passthrough, and nothing else', () => {
    const base = packRole({ level: 4, access: 7, efer_nx: true, cr0_wp: true });
    expect(roleSyncMismatch(packRole({ level: 1, access: 3, quadrant: 2, passthrough: true, efer_nx: true, cr0_wp: true }), base)).toBe(false);
    for (const field of ['direct', 'invalid', 'efer_nx', 'cr0_wp', 'smep_andnot_wp', 'ad_disabled', 'guest_mode', 'has_4_byte_gpte'] as const) {
      const r = unpackRole(base);
      r[field] = !r[field];
      expect(roleSyncMismatch(packRole(r), base), field).toBe(true);
    }
    expect(roleSyncMismatch(packRole({ ...unpackRole(base), smm: 1 }), base)).toBe(true);
  });

  test('fields are masked to their width', () => {
    expect(packRole({ level: 0x1f, quadrant: 4, access: 8, smm: 0x100 })).toBe(0xf);
  });

  test('formatter', () => {
    expect(formatRole(packRole({ level: 4, direct: true, access: 7, efer_nx: true, cr0_wp: true }))).toBe('level=4 direct access=7 efer_nx cr0_wp');
    expect(formatRole(packRole({ level: 1, has_4_byte_gpte: true, quadrant: 1, access: 3, smm: 1 }))).toBe('level=1 has_4_byte_gpte quadrant=1 access=3 smm=1');
    expect(formatRole(0)).toBe('level=0 access=0');
  });
});

describe('union kvm_mmu_extended_role', () => {
  test('named getters of the bits the permission checks read', () => {
    for (const e of [0, 0xff, packExtRole({ cr4_smep: true }), packExtRole({ cr4_smap: true, cr4_pke: true })]) {
      const u = unpackExtRole(e);
      expect([extCr4Smep(e), extCr4Smap(e), extCr4Pke(e)]).toEqual([u.cr4_smep, u.cr4_smap, u.cr4_pke]);
    }
  });

  test('bit positions and round trip', () => {
    const names = ['valid', 'execonly', 'cr4_pse', 'cr4_pke', 'cr4_smap', 'cr4_smep', 'cr4_la57', 'efer_lma'] as const;
    names.forEach((name, i) => {
      expect(packExtRole({ [name]: true })).toBe(1 << i);
      expect(unpackExtRole(1 << i)[name]).toBe(true);
    });
    expect(unpackExtRole(0xff)).toEqual(Object.fromEntries(names.map((n) => [n, true])));
    expect(formatExtRole(packExtRole({ valid: true, efer_lma: true }))).toBe('valid efer_lma');
  });
});

// Typical register values. CR0: PE|PG (+WP); long mode: CR4.PAE, EFER.LME|LMA|NXE.
const PE_PG = Cr0.PE | Cr0.PG;
const LONG = Efer.LME | Efer.LMA | Efer.NXE;

describe('kvm_calc_cpu_role', () => {
  test('long mode, CR0.WP=1', () => {
    const r = cpuRoleFromRegisters(PE_PG | Cr0.WP, Cr4.PAE | Cr4.PSE, LONG);
    expect(unpackRole(r.base)).toMatchObject({ level: 4, direct: false, access: 7, efer_nx: true, cr0_wp: true, has_4_byte_gpte: false, smep_andnot_wp: false });
    expect(unpackExtRole(r.ext)).toMatchObject({ valid: true, efer_lma: true, cr4_pse: true, cr4_la57: false });
    expect(formatCpuRole(r)).toBe('level=4 access=7 efer_nx cr0_wp | valid cr4_pse efer_lma');
  });

  test('long mode, CR0.WP=0 with SMEP and SMAP: the *_andnot_wp bits', () => {
    const on = cpuRoleFromRegisters(PE_PG | Cr0.WP, Cr4.PAE | Cr4.SMEP | Cr4.SMAP, LONG);
    const off = cpuRoleFromRegisters(PE_PG, Cr4.PAE | Cr4.SMEP | Cr4.SMAP, LONG);
    expect(unpackRole(on.base)).toMatchObject({ cr0_wp: true, smep_andnot_wp: false, smap_andnot_wp: false });
    expect(unpackRole(off.base)).toMatchObject({ cr0_wp: false, smep_andnot_wp: true, smap_andnot_wp: true });
    expect(unpackExtRole(off.ext)).toMatchObject({ cr4_smep: true, cr4_smap: true });
    expect(cpuRoleEquals(on, off)).toBe(false);
    // Only the WP-derived bits differ.
    expect((on.base ^ off.base) >>> 0).toBe((1 << 13) | (1 << 14) | (1 << 15));
  });

  test('5-level paging and PKE count only in long mode', () => {
    const la57 = cpuRoleFromRegisters(PE_PG | Cr0.WP, Cr4.PAE | Cr4.LA57 | Cr4.PKE, LONG);
    expect(roleLevel(la57.base)).toBe(5);
    expect(unpackExtRole(la57.ext)).toMatchObject({ cr4_la57: true, cr4_pke: true });
    const pae = cpuRoleFromRegisters(PE_PG | Cr0.WP, Cr4.PAE | Cr4.LA57 | Cr4.PKE, Efer.NXE);
    expect(unpackExtRole(pae.ext)).toMatchObject({ cr4_la57: false, cr4_pke: false, efer_lma: false });
  });

  test('32-bit PAE', () => {
    const r = cpuRoleFromRegisters(PE_PG | Cr0.WP, Cr4.PAE, Efer.NXE);
    expect(unpackRole(r.base)).toMatchObject({ level: 3, has_4_byte_gpte: false, efer_nx: true, direct: false });
    expect(formatExtRole(r.ext)).toBe('valid');
  });

  test('32-bit non-PAE paging: 4-byte gptes, no NX', () => {
    const r = cpuRoleFromRegisters(PE_PG, Cr4.PSE, 0);
    expect(unpackRole(r.base)).toMatchObject({ level: 2, has_4_byte_gpte: true, efer_nx: false, cr0_wp: false });
    expect(unpackExtRole(r.ext)).toMatchObject({ cr4_pse: true });
  });

  test('paging off: direct, level 0, and no CR4/EFER bits', () => {
    const r = cpuRoleFromRegisters(Cr0.PE | Cr0.WP, Cr4.PAE | Cr4.SMEP, LONG);
    expect(r.base).toBe(packRole({ direct: true, access: 7 }));
    expect(r.ext).toBe(packExtRole({ valid: true }));
    expect(formatRole(r.base)).toBe('level=0 direct access=7');
  });

  test('smm and guest mode', () => {
    const r = cpuRoleFromRegisters(PE_PG, 0, 0, { smm: true, guestMode: true });
    expect(unpackRole(r.base)).toMatchObject({ smm: 1, guest_mode: true });
  });
});

describe('root roles', () => {
  test('kvm_calc_tdp_mmu_root_page_role: the same root whatever CR0.WP and CR4 say', () => {
    const wpOn = cpuRoleFromRegisters(PE_PG | Cr0.WP, Cr4.PAE, LONG);
    const wpOff = cpuRoleFromRegisters(PE_PG, Cr4.PAE | Cr4.SMEP, LONG);
    const off = cpuRoleFromRegisters(Cr0.PE, 0, 0);
    const roots = [wpOn, wpOff, off].map((r) => tdpRootRole(r, { tdpLevel: 4, adDisabled: false }));
    expect(new Set(roots).size).toBe(1);
    expect(roots[0]).toBe(packRole({ level: 4, direct: true, access: 7, cr0_wp: true, efer_nx: true }));
    expect(formatRole(roots[0]!)).toBe('level=4 direct access=7 efer_nx cr0_wp');
  });

  test('TDP root: A/D, level, smm and guest_mode', () => {
    const cpu = cpuRoleFromRegisters(PE_PG | Cr0.WP, Cr4.PAE, LONG, { smm: true, guestMode: true });
    const r = unpackRole(tdpRootRole(cpu, { tdpLevel: 5, adDisabled: true }));
    expect(r).toMatchObject({ level: 5, ad_disabled: true, smm: 1, guest_mode: true, has_4_byte_gpte: false });
    expect(unpackRole(tdpRootRole(cpu, { tdpLevel: 4, adDisabled: false, smm: 0 })).smm).toBe(0);
  });

  test('kvm_init_shadow_mmu root: at least PAE level, NX forced on, WP kept', () => {
    const legacy = shadowRootRole(cpuRoleFromRegisters(PE_PG, Cr4.PSE, 0));
    expect(unpackRole(legacy)).toMatchObject({ level: 3, has_4_byte_gpte: true, efer_nx: true, cr0_wp: false, direct: false });
    const off = shadowRootRole(cpuRoleFromRegisters(Cr0.PE, 0, 0));
    expect(formatRole(off)).toBe('level=3 direct access=7 efer_nx');
    const long = cpuRoleFromRegisters(PE_PG | Cr0.WP, Cr4.PAE, LONG);
    expect(shadowRootRole(long)).toBe(long.base);
  });

  test('kvm_mmu_get_tdp_level', () => {
    expect(kvmMmuGetTdpLevel(5, 48)).toBe(4);
    expect(kvmMmuGetTdpLevel(5, 52)).toBe(5);
    expect(kvmMmuGetTdpLevel(4, 52)).toBe(4);
    expect(kvmMmuGetTdpLevel(5, 40, 5)).toBe(5);
  });
});
