import { Cr0, Cr4, Efer } from '../emulator/arch/control.js';
import { ACC_ALL } from './spte.js';

/**
 * The shadow-page role word and the CPU role, as in arch/x86/include/asm/kvm_host.h
 * (`union kvm_mmu_page_role`, `union kvm_mmu_extended_role`, `union kvm_cpu_role`) and the role
 * computations of arch/x86/kvm/mmu/mmu.c. The role is a packed 32-bit word because KVM keys shadow
 * pages and roots by (gfn, role.word): two pages are interchangeable iff their words are equal.
 * Words are kept as unsigned 32-bit numbers (smm sits in the top byte).
 */

/** Bit positions of union kvm_mmu_page_role (kvm_host.h, 6.14+ with is_mirror). */
export const enum RoleBit {
  LEVEL = 0, // 4 bits
  HAS_4_BYTE_GPTE = 4,
  QUADRANT = 5, // 2 bits
  DIRECT = 7,
  ACCESS = 8, // 3 bits
  INVALID = 11,
  EFER_NX = 12,
  CR0_WP = 13,
  SMEP_ANDNOT_WP = 14,
  SMAP_ANDNOT_WP = 15,
  AD_DISABLED = 16,
  GUEST_MODE = 17,
  PASSTHROUGH = 18,
  IS_MIRROR = 19, // TDX mirror roots; always 0 in mmulab. Bits 20-23 unused.
  SMM = 24, // 8 bits: the address space id, left at the top for a cheap shift
}

/** Bit positions of union kvm_mmu_extended_role. */
export const enum ExtRoleBit {
  VALID = 0,
  EXECONLY = 1,
  CR4_PSE = 2,
  CR4_PKE = 3,
  CR4_SMAP = 4,
  CR4_SMEP = 5,
  CR4_LA57 = 6,
  EFER_LMA = 7,
}

/** Paging levels as KVM names them (mmu.h). */
export const PT32_ROOT_LEVEL = 2;
export const PT32E_ROOT_LEVEL = 3;
export const PT64_ROOT_4LEVEL = 4;
export const PT64_ROOT_5LEVEL = 5;

export interface PageRole {
  level: number;
  has_4_byte_gpte: boolean;
  quadrant: number;
  direct: boolean;
  access: number;
  invalid: boolean;
  efer_nx: boolean;
  cr0_wp: boolean;
  smep_andnot_wp: boolean;
  smap_andnot_wp: boolean;
  ad_disabled: boolean;
  guest_mode: boolean;
  passthrough: boolean;
  is_mirror: boolean;
  smm: number;
}

export interface ExtendedRole {
  valid: boolean;
  execonly: boolean;
  cr4_pse: boolean;
  cr4_pke: boolean;
  cr4_smap: boolean;
  cr4_smep: boolean;
  cr4_la57: boolean;
  efer_lma: boolean;
}

/** union kvm_cpu_role: the page role of the guest's own paging plus the extended bits. */
export interface CpuRole {
  readonly base: number;
  readonly ext: number;
}

/** The one-bit fields of the page role, in word order, named as in KVM (used by pack, unpack and format). */
const ROLE_FLAGS = [
  ['has_4_byte_gpte', RoleBit.HAS_4_BYTE_GPTE], ['direct', RoleBit.DIRECT], ['invalid', RoleBit.INVALID],
  ['efer_nx', RoleBit.EFER_NX], ['cr0_wp', RoleBit.CR0_WP], ['smep_andnot_wp', RoleBit.SMEP_ANDNOT_WP],
  ['smap_andnot_wp', RoleBit.SMAP_ANDNOT_WP], ['ad_disabled', RoleBit.AD_DISABLED], ['guest_mode', RoleBit.GUEST_MODE],
  ['passthrough', RoleBit.PASSTHROUGH], ['is_mirror', RoleBit.IS_MIRROR],
] as const;

const EXT_FLAGS = [
  ['valid', ExtRoleBit.VALID], ['execonly', ExtRoleBit.EXECONLY], ['cr4_pse', ExtRoleBit.CR4_PSE],
  ['cr4_pke', ExtRoleBit.CR4_PKE], ['cr4_smap', ExtRoleBit.CR4_SMAP], ['cr4_smep', ExtRoleBit.CR4_SMEP],
  ['cr4_la57', ExtRoleBit.CR4_LA57], ['efer_lma', ExtRoleBit.EFER_LMA],
] as const;

export function packRole(r: Partial<PageRole>): number {
  let w = ((r.level ?? 0) & 0xf) | (((r.quadrant ?? 0) & 3) << RoleBit.QUADRANT) |
    (((r.access ?? 0) & 7) << RoleBit.ACCESS) | (((r.smm ?? 0) & 0xff) << RoleBit.SMM);
  for (const [name, pos] of ROLE_FLAGS) if (r[name]) w |= 1 << pos;
  return w >>> 0;
}

export function unpackRole(word: number): PageRole {
  const flag = (pos: number): boolean => ((word >>> pos) & 1) !== 0;
  return {
    level: word & 0xf,
    has_4_byte_gpte: flag(RoleBit.HAS_4_BYTE_GPTE),
    quadrant: (word >>> RoleBit.QUADRANT) & 3,
    direct: flag(RoleBit.DIRECT),
    access: (word >>> RoleBit.ACCESS) & 7,
    invalid: flag(RoleBit.INVALID),
    efer_nx: flag(RoleBit.EFER_NX),
    cr0_wp: flag(RoleBit.CR0_WP),
    smep_andnot_wp: flag(RoleBit.SMEP_ANDNOT_WP),
    smap_andnot_wp: flag(RoleBit.SMAP_ANDNOT_WP),
    ad_disabled: flag(RoleBit.AD_DISABLED),
    guest_mode: flag(RoleBit.GUEST_MODE),
    passthrough: flag(RoleBit.PASSTHROUGH),
    is_mirror: flag(RoleBit.IS_MIRROR),
    smm: (word >>> RoleBit.SMM) & 0xff,
  };
}

/**
 * Named getters and setters over the packed word, the only code outside pack/unpack/format that
 * knows where a field sits (KVM reads role.level, role.access, ... as bitfields). Small arrow
 * functions V8 inlines: the fault path calls them without allocating. Setters return the new
 * word as an unsigned 32-bit number, as every role word is kept.
 */
export const roleLevel = (word: number): number => word & 0xf;
export const roleAccess = (word: number): number => (word >>> RoleBit.ACCESS) & 7;
export const roleDirect = (word: number): boolean => (word & (1 << RoleBit.DIRECT)) !== 0;
export const roleInvalid = (word: number): boolean => (word & (1 << RoleBit.INVALID)) !== 0;
export const roleSmm = (word: number): number => word >>> RoleBit.SMM;
export const roleHas4ByteGpte = (word: number): boolean => (word & (1 << RoleBit.HAS_4_BYTE_GPTE)) !== 0;
export const roleQuadrant = (word: number): number => (word >>> RoleBit.QUADRANT) & 3;
export const rolePassthrough = (word: number): boolean => (word & (1 << RoleBit.PASSTHROUGH)) !== 0;
export const roleCr0Wp = (word: number): boolean => (word & (1 << RoleBit.CR0_WP)) !== 0;
export const roleEferNx = (word: number): boolean => (word & (1 << RoleBit.EFER_NX)) !== 0;
/** A page the guest's tables back: neither direct nor passthrough (sp_has_gptes). */
export const roleHasGptes = (word: number): boolean => (word & ((1 << RoleBit.DIRECT) | (1 << RoleBit.PASSTHROUGH))) === 0;

const setBit = (word: number, pos: number, on: boolean): number => (on ? word | (1 << pos) : word & ~(1 << pos)) >>> 0;
export const roleWithLevel = (word: number, level: number): number => ((word & ~0xf) | (level & 0xf)) >>> 0;
export const roleWithAccess = (word: number, access: number): number =>
  ((word & ~(7 << RoleBit.ACCESS)) | ((access & 7) << RoleBit.ACCESS)) >>> 0;
export const roleWithQuadrant = (word: number, quadrant: number): number =>
  ((word & ~(3 << RoleBit.QUADRANT)) | ((quadrant & 3) << RoleBit.QUADRANT)) >>> 0;
export const roleWithDirect = (word: number, direct: boolean): number => setBit(word, RoleBit.DIRECT, direct);
export const roleWithPassthrough = (word: number, on: boolean): number => setBit(word, RoleBit.PASSTHROUGH, on);
export const roleWithCr0Wp = (word: number, on: boolean): number => setBit(word, RoleBit.CR0_WP, on);

/** The extended role's bits the permission checks read (kvm_mmu_extended_role). */
export const extCr4Smep = (ext: number): boolean => (ext & (1 << ExtRoleBit.CR4_SMEP)) !== 0;
export const extCr4Smap = (ext: number): boolean => (ext & (1 << ExtRoleBit.CR4_SMAP)) !== 0;
export const extCr4Pke = (ext: number): boolean => (ext & (1 << ExtRoleBit.CR4_PKE)) !== 0;

/**
 * kvm_mmu_child_role: the page one level below a page of role `parent`, for the given access and
 * directness, never passthrough; under 4-byte guest entries a child records which half of the
 * guest table it shadows (`half`: the parent SPTE's index parity, 0 or 1).
 */
export function childRole(parent: number, access: number, direct: boolean, half: number): number {
  let role = roleWithLevel(parent, roleLevel(parent) - 1);
  role = roleWithPassthrough(roleWithDirect(roleWithAccess(role, access), direct), false);
  return roleHas4ByteGpte(role) ? roleWithQuadrant(role, half) : role;
}

/**
 * The role fields a sync may ignore (kvm_sync_page_check): level, access, quadrant and
 * passthrough differ between pages of one MMU role; anything else means the page was built for
 * another role and must be zapped.
 */
const SYNC_ROLE_IGNORED = 0xf | (7 << RoleBit.ACCESS) | (3 << RoleBit.QUADRANT) | (1 << RoleBit.PASSTHROUGH);
export const roleSyncMismatch = (page: number, root: number): boolean => ((page ^ root) & ~SYNC_ROLE_IGNORED) !== 0;

/** "level=4 direct access=7 efer_nx cr0_wp": level and access always, set flags, quadrant/smm when not 0. */
export function formatRole(word: number): string {
  const parts = [`level=${word & 0xf}`];
  const quadrant = (word >>> RoleBit.QUADRANT) & 3;
  for (const [name, pos] of ROLE_FLAGS) {
    if (((word >>> pos) & 1) !== 0) parts.push(name);
    if (pos === RoleBit.HAS_4_BYTE_GPTE && quadrant !== 0) parts.push(`quadrant=${quadrant}`);
    if (pos === RoleBit.DIRECT) parts.push(`access=${(word >>> RoleBit.ACCESS) & 7}`);
  }
  const smm = word >>> RoleBit.SMM;
  if (smm !== 0) parts.push(`smm=${smm}`);
  return parts.join(' ');
}

export function packExtRole(e: Partial<ExtendedRole>): number {
  let w = 0;
  for (const [name, pos] of EXT_FLAGS) if (e[name]) w |= 1 << pos;
  return w;
}

export function unpackExtRole(word: number): ExtendedRole {
  const e = {} as ExtendedRole;
  for (const [name, pos] of EXT_FLAGS) e[name] = ((word >>> pos) & 1) !== 0;
  return e;
}

export function formatExtRole(word: number): string {
  return EXT_FLAGS.filter(([, pos]) => ((word >>> pos) & 1) !== 0).map(([name]) => name).join(' ');
}

export function formatCpuRole(role: CpuRole): string {
  const ext = formatExtRole(role.ext);
  return ext ? `${formatRole(role.base)} | ${ext}` : formatRole(role.base);
}

/** kvm_init_mmu compares cpu_role.as_u64: both words. */
export const cpuRoleEquals = (a: CpuRole, b: CpuRole): boolean => a.base === b.base && a.ext === b.ext;

export interface CpuRoleOptions {
  smm?: boolean;
  /** is_guest_mode: the vCPU runs L2. */
  guestMode?: boolean;
}

/**
 * kvm_calc_cpu_role. `cr0`, `cr4` and `efer` are the low 32 bits of the registers (every role bit
 * lives there). With paging off the role is direct with level 0; otherwise the level follows the
 * paging mode and the CR0/CR4/EFER role bits fill base and ext. PKE and LA57 count only in long mode.
 */
export function cpuRoleFromRegisters(cr0: number, cr4: number, efer: number, opts: CpuRoleOptions = {}): CpuRole {
  const base: Partial<PageRole> = { access: ACC_ALL, smm: opts.smm ? 1 : 0, guest_mode: !!opts.guestMode };
  const ext: Partial<ExtendedRole> = { valid: true };
  if ((cr0 & Cr0.PG) === 0) {
    base.direct = true;
    return { base: packRole(base), ext: packExtRole(ext) };
  }
  const wp = (cr0 & Cr0.WP) !== 0;
  const pae = (cr4 & Cr4.PAE) !== 0;
  const lma = (efer & Efer.LMA) !== 0;
  const smep = (cr4 & Cr4.SMEP) !== 0;
  const smap = (cr4 & Cr4.SMAP) !== 0;
  base.efer_nx = (efer & Efer.NXE) !== 0;
  base.cr0_wp = wp;
  base.smep_andnot_wp = smep && !wp;
  base.smap_andnot_wp = smap && !wp;
  base.has_4_byte_gpte = !pae;
  base.level = lma ? ((cr4 & Cr4.LA57) !== 0 ? PT64_ROOT_5LEVEL : PT64_ROOT_4LEVEL) : pae ? PT32E_ROOT_LEVEL : PT32_ROOT_LEVEL;
  ext.cr4_smep = smep;
  ext.cr4_smap = smap;
  ext.cr4_pse = (cr4 & Cr4.PSE) !== 0;
  ext.cr4_pke = lma && (cr4 & Cr4.PKE) !== 0;
  ext.cr4_la57 = lma && (cr4 & Cr4.LA57) !== 0;
  ext.efer_lma = lma;
  return { base: packRole(base), ext: packExtRole(ext) };
}

export interface TdpRootOptions {
  /** kvm_mmu_get_tdp_level: 4 or 5. */
  tdpLevel: number;
  /** !kvm_ad_enabled: EPT without A/D bits. */
  adDisabled: boolean;
  /** Defaults to the CPU role's smm, as KVM copies it. */
  smm?: number;
  /** Up to 5.18 the guest's CR0.WP and EFER.NX (Knobs.tdpRootRoleGuestBits); since 2ba676774dfc both true. */
  guestBits?: boolean;
}

/**
 * kvm_calc_tdp_mmu_root_page_role: TDP roots depend on the guest only through smm and guest_mode,
 * which is why a CR0.WP or CR4 toggle need not change the TDP root (thread (a)); before 5.19 also
 * through CR0.WP and EFER.NX (`guestBits`).
 */
export function tdpRootRole(cpuRole: CpuRole, opts: TdpRootOptions): number {
  const cpu = unpackRole(cpuRole.base);
  return packRole({
    access: ACC_ALL, cr0_wp: opts.guestBits === true ? cpu.cr0_wp : true, efer_nx: opts.guestBits === true ? cpu.efer_nx : true,
    smm: opts.smm ?? cpu.smm, guest_mode: cpu.guest_mode,
    ad_disabled: opts.adDisabled, level: opts.tdpLevel, direct: true, has_4_byte_gpte: false,
  });
}

/**
 * kvm_init_shadow_mmu's root role: the CPU role with at least PAE's level (KVM shadows 32-bit and
 * paging-off guests with PAE tables) and EFER.NX forced on (KVM always uses NX in shadow pages).
 */
export function shadowRootRole(cpuRole: CpuRole): number {
  const r = unpackRole(cpuRole.base);
  r.level = Math.max(r.level, PT32E_ROOT_LEVEL);
  r.efer_nx = true;
  return packRole(r);
}

/** kvm_mmu_get_tdp_level: a forced level wins; 5-level TDP only when the guest needs > 48 PA bits. */
export function kvmMmuGetTdpLevel(maxTdpLevel: number, guestMaxPhyAddr: number, forcedLevel = 0): number {
  if (forcedLevel) return forcedLevel;
  if (maxTdpLevel === 5 && guestMaxPhyAddr <= 48) return 4;
  return maxTdpLevel;
}
