import { Pfec } from '../emulator/arch/vectors.js';
import { Cr0 } from '../emulator/arch/control.js';
import type { EmulatorTranslation } from '../emulator/hw/paging-unit.js';
import type { Arena } from '../emulator/machine/arena.js';
import type { Memslots } from '../emulator/machine/memslots.js';
import { gpa as asGpa } from '../emulator/arch/address.js';
import { Access, type TableMemory, WalkContext, WalkResult, walk } from '../emulator/paging/walker.js';
import { PagingMode } from '../emulator/paging/format.js';
import { gpteAccess } from './shadow/guest-walk.js';
import { PermissionCache } from './permission-cache.js';
import { type CpuRole, cpuRoleEquals, extCr4Pke, extCr4Smep, roleEferNx } from './role.js';
import { ACC_ALL } from './spte.js';

/** What the emulated walk reads of its vCPU: the live CR0 and PKRU, and the guest's paging format. */
export interface EmulatedWalkCpu {
  readonly cr0: number;
  readonly pkru: number;
  readonly paging: { readonly ctx: WalkContext };
}

/**
 * KVM's gva_to_gpa for its instruction emulator (FNAME(gva_to_gpa) over FNAME(walk_addr_generic)):
 * the guest's tables read through the memslots, the permission verdict taken from the MMU role's
 * cached bitmap (PermissionCache), A/D bits set only when the access is allowed. KVM does this walk
 * whenever it emulates an instruction without a guest-physical address from the exit: forced
 * emulation, UMIP and descriptor-table emulation, and under shadow paging every emulated access.
 *
 * The SDM walker (emulator/paging) does the table part with every permission rule switched off
 * (a supervisor read or write with CR0.WP=0 and no SMEP, SMAP or keys), so only not-present and
 * reserved-bit faults come from it; the rights of the path are then put together as KVM's walker
 * does (pte_access) and judged by the cache.
 *
 * The cache is recomputed where KVM recomputes it: at kvm_init_mmu when the CPU role changed
 * (`initRole`), and, since cf9f4c0eb169, before each check when CR0.WP may be guest-owned (TDP),
 * if the role's CR0.WP differs from the register (kvm_mmu_refresh_passthrough_bits). With
 * `skipCr0WpRefresh` the second never happens: the kvm-x86 tree between fb509f76acc8 and
 * cf9f4c0eb169, where a guest that toggled CR0.WP without an exit had its emulated accesses
 * judged by the old value.
 */
export class EmulatedWalk implements EmulatorTranslation {
  errorCode = 0;
  readonly cache = new PermissionCache();
  /** Times the CR0.WP refresh recomputed the cache (a stale role caught). */
  refreshes = 0;
  private readonly cpu: EmulatedWalkCpu;
  private readonly tables: TableMemory;
  /** The guest's paging context with its permission rules off: the walker finds the entries only. */
  private readonly open = new WalkContext();
  private readonly out = new WalkResult();
  /** KVM passes CR0.WP through only with TDP (tdp_enabled); shadow paging intercepts it. */
  private readonly tdp: boolean;
  private readonly skipRefresh: boolean;

  constructor(cpu: EmulatedWalkCpu, arena: Arena, memslots: Memslots, tdp: boolean, skipRefresh: boolean) {
    this.cpu = cpu;
    this.tdp = tdp;
    this.skipRefresh = skipRefresh;
    const view = arena.view;
    // kvm_vcpu_read_guest and the walker's cmpxchg of A/D bits go through the host mapping of the
    // memslot, not the TDP or shadow tables; an entry outside RAM reads as not present.
    this.tables = {
      readPhys32: (gpa) => {
        const host = memslots.gpaToHpa(asGpa(gpa));
        return host < 0 ? 0 : view.getInt32(host, true);
      },
      writePhys32: (gpa, value) => {
        const host = memslots.gpaToHpa(asGpa(gpa));
        if (host >= 0) view.setInt32(host, value, true);
      },
    };
  }

  /** kvm_init_mmu's reset_guest_paging_metadata: only when the CPU role is new. */
  initRole(role: CpuRole): void {
    if (this.cache.computed > 0 && cpuRoleEquals(role, { base: this.cache.base, ext: this.cache.ext })) return;
    this.cache.update(role);
  }

  /** kvm_mmu_refresh_passthrough_bits (cf9f4c0eb169), called from permission_fault. */
  private refreshPassthroughBits(): void {
    if (!this.tdp || this.skipRefresh) return;
    const wp = (this.cpu.cr0 & Cr0.WP) !== 0;
    if (this.cache.cr0Wp === wp) return;
    this.refreshes++;
    this.cache.refreshCr0Wp(wp);
  }

  gvaToGpa(lo: number, hi: number, access: number): number {
    const guest = this.cpu.paging.ctx;
    const format = guest.format;
    // Paging off (nonpaging_gva_to_gpa): the address is the guest-physical address.
    if (format.mode === PagingMode.NONE) return lo >>> 0;
    const ctx = this.open;
    ctx.format = format;
    ctx.root = guest.root;
    ctx.pdpteLo.set(guest.pdpteLo);
    ctx.pdpteHi.set(guest.pdpteHi);
    ctx.nxe = guest.nxe;
    ctx.pse = guest.pse;
    ctx.gbPages = guest.gbPages;
    ctx.maxPhyAddr = guest.maxPhyAddr;
    const write = access & Access.WRITE;
    const out = this.out;
    if (!walk(ctx, this.tables, lo, hi, write | Access.PROBE, out)) return this.fail(access, out.errorCode & (Pfec.P | Pfec.RSVD));
    // pte_access: the rights of every level, ANDed (PAE's PDPTE registers grant everything).
    const wide = format.wide;
    let pteAccess = ACC_ALL;
    for (let level = format.levels; level >= out.level; level--) {
      pteAccess &= gpteAccess(out.pteLo[level], out.pteHi[level], wide, guest.nxe);
    }
    const pke = extCr4Pke(this.cache.ext);
    const pkey = wide && pke ? (out.pteHi[out.level] >>> 27) & 0xf : 0;
    this.refreshPassthroughBits();
    const pfec = access & (Pfec.W | Pfec.U | Pfec.I);
    const notSmap = (access & Access.AC) !== 0 && (access & Access.IMPLICIT) === 0;
    const denied = this.cache.check(pfec, notSmap, pteAccess, pkey, this.cpu.pkru);
    if (denied !== 0) return this.fail(access, denied);
    // Allowed: the walk again, now setting accessed (and for a write dirty) bits as KVM's does.
    walk(ctx, this.tables, lo, hi, write, out);
    return out.gpa + (lo & 0xfff);
  }

  /** The walker's error label: the access's W and U, and I/D when NX or SMEP makes fetches special. */
  private fail(access: number, bits: number): number {
    let code = bits | (access & (Access.WRITE | Access.USER));
    const nx = roleEferNx(this.cache.base);
    const smep = extCr4Smep(this.cache.ext);
    if ((access & Access.FETCH) !== 0 && (nx || smep)) code |= Pfec.I;
    this.errorCode = code;
    return -1;
  }
}
