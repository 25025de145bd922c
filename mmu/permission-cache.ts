import { Pfec } from '../emulator/arch/vectors.js';
import { type CpuRole, extCr4Pke, extCr4Smap, extCr4Smep, roleCr0Wp, roleWithCr0Wp } from './role.js';
import { ACC_EXEC_MASK, ACC_USER_MASK, ACC_WRITE_MASK } from './spte.js';

/**
 * The permission metadata KVM keeps per MMU role (struct kvm_mmu's `permissions[16]` and
 * `pkru_mask`, computed by update_permission_bitmask and update_pkru_bitmask from
 * reset_guest_paging_metadata when kvm_init_mmu sees a new CPU role). KVM's software walker
 * decides a permission fault by one lookup in it (permission_fault in mmu.h), never from the
 * vCPU's registers: so the verdict is only as fresh as the role it was computed from, which is
 * what cf9f4c0eb169 had to refresh once CR0.WP stopped exiting (fb509f76acc8).
 *
 * Index: the page-fault error code of the access shifted right by one (W, U, RSVD, I/D), where
 * the RSVD position, never set on an access, says "SMAP does not apply" (EFLAGS.AC=1 on an
 * explicit supervisor access). Each byte holds one bit per combination of the walk's ACC_* rights
 * (pte_access): set if that access to such a page faults.
 */
export class PermissionCache {
  /** mmu->permissions: one fault bitmap over pte_access per error-code index. */
  readonly permissions = new Uint8Array(16);
  /** mmu->pkru_mask: two bits (AD, WD applies) per error-code index with RSVD meaning "user page". */
  pkruMask = 0;
  /** The CPU role the tables were computed from (mmu->cpu_role). */
  base = 0;
  ext = 0;
  /** How many times the tables were computed (reset_guest_paging_metadata). */
  computed = 0;

  /** reset_guest_paging_metadata for `role`: recompute both tables. */
  update(role: CpuRole): void {
    this.base = role.base;
    this.ext = role.ext;
    this.computed++;
    const wp = roleCr0Wp(this.base);
    const smep = extCr4Smep(this.ext);
    const smap = extCr4Smap(this.ext);
    for (let index = 0; index < 16; index++) {
      const pfec = index << 1;
      const wf = (pfec & Pfec.W) !== 0;
      const uf = (pfec & Pfec.U) !== 0;
      const ff = (pfec & Pfec.I) !== 0;
      // The RSVD slot of the index carries "not SMAP" (EFLAGS.AC=1, explicit access).
      const notSmap = (pfec & Pfec.RSVD) !== 0;
      let map = 0;
      for (let acc = 0; acc < 8; acc++) {
        const x = (acc & ACC_EXEC_MASK) !== 0;
        const w = (acc & ACC_WRITE_MASK) !== 0;
        const u = (acc & ACC_USER_MASK) !== 0;
        // A supervisor write to a read-only page faults only with CR0.WP=1.
        const fault = (ff && !x) || (uf && !u) || (wf && !w && (uf || wp)) ||
          (ff && !uf && u && smep) || (!ff && !uf && u && smap && !notSmap);
        if (fault) map |= 1 << acc;
      }
      this.permissions[index] = map;
    }
    // pkru_mask: indexed like the permissions, but with the RSVD slot meaning "user page";
    // keys apply to data accesses to user pages, WD to supervisor writes only with CR0.WP=1.
    let mask = 0;
    if (extCr4Pke(this.ext)) {
      for (let index = 0; index < 16; index++) {
        const pfec = index << 1;
        if ((pfec & Pfec.RSVD) === 0) continue;
        const ff = (pfec & Pfec.I) !== 0;
        const wd = !ff && (pfec & Pfec.W) !== 0 && ((pfec & Pfec.U) !== 0 || wp);
        mask |= ((ff ? 0 : 1) | (wd ? 2 : 0)) << pfec;
      }
    }
    this.pkruMask = mask;
  }

  /** CR0.WP as the tables have it (is_cr0_wp(mmu)). */
  get cr0Wp(): boolean {
    return roleCr0Wp(this.base);
  }

  /** Sets the role's CR0.WP and recomputes (__kvm_mmu_refresh_passthrough_bits, cf9f4c0eb169). */
  refreshCr0Wp(wp: boolean): void {
    this.update({ base: roleWithCr0Wp(this.base, wp), ext: this.ext });
  }

  /**
   * permission_fault: 0 if the access is allowed, else the error code bits it faults with (P, and
   * PK when PKRU denies). `pfec` holds W, U and I/D of the access; `notSmap` is EFLAGS.AC=1 on an
   * explicit supervisor access. `pkey` is the leaf's protection key, `pkru` the register.
   */
  check(pfec: number, notSmap: boolean, pteAccess: number, pkey: number, pkru: number): number {
    const index = ((pfec & (Pfec.W | Pfec.U | Pfec.I)) | (notSmap ? Pfec.RSVD : 0)) >>> 1;
    let fault = ((this.permissions[index] >>> pteAccess) & 1) !== 0;
    let code = Pfec.P;
    if (this.pkruMask !== 0) {
      // The PKRU lookup ignores "not SMAP" (keys do not depend on EFLAGS.AC) and uses that slot
      // for the page's user bit instead.
      const offset = (pfec & (Pfec.W | Pfec.U | Pfec.I)) | ((pteAccess & ACC_USER_MASK) !== 0 ? Pfec.RSVD : 0);
      if (((pkru >>> (2 * pkey)) & 3 & (this.pkruMask >>> offset)) !== 0) {
        fault = true;
        code |= Pfec.PK;
      }
    }
    return fault ? code : 0;
  }
}
