import type { Vcpu } from '../../emulator/cpu/vcpu.js';
import { CR3_NOFLUSH, ControlReg } from '../../emulator/cpu/platform.js';
import { Cr0, Cr4, Efer } from '../../emulator/arch/control.js';
import { Request } from './requests.js';
import type { ShadowMmu } from '../shadow/shadow-mmu.js';
import { ROOT_CURRENT } from '../shadow/roots.js';
import type { ExitHost } from './exit-host.js';
import { KvmExit } from '../../emulator/debug/trace-exit-reasons.js';

/** CR3 bits 11:0: the PCID when CR4.PCIDE is set (SDM 4.10.1), not a page offset. */
const CR3_PCID_MASK = 0xfff;

/** CR0 bits whose change is a role change (KVM_MMU_CR0_ROLE_BITS). */
const CR0_ROLE_BITS = Cr0.PG | Cr0.WP;
/** CR0 bits whose change reloads PAE's PDPTRs (X86_CR0_PDPTR_BITS). */
const CR0_PDPTR_BITS = Cr0.PG | Cr0.CD | Cr0.NW;
/** CR4 bits whose change is a role change (KVM_MMU_CR4_ROLE_BITS). */
const CR4_ROLE_BITS = Cr4.PSE | Cr4.PAE | Cr4.LA57 | Cr4.SMEP | Cr4.SMAP | Cr4.PKE;
/** CR4 bits whose change reloads PAE's PDPTRs (X86_CR4_PDPTR_BITS). */
const CR4_PDPTR_BITS = Cr4.PGE | Cr4.PSE | Cr4.PAE | Cr4.SMEP;
/** EFER bits whose change is a role change (KVM_MMU_EFER_ROLE_BITS). */
const EFER_ROLE_BITS = Efer.LME | Efer.NXE;
/**
 * CR4 bits the guest owns on VMX (KVM_POSSIBLE_CR4_GUEST_BITS): changing only these does not
 * exit. Without EPT the bits that flush the TLB or reload PDPTRs stay intercepted, so PGE is not.
 * PGE has been the guest's under EPT in every release the presets model (older kernels said it as
 * `if (enable_ept) cr4_guest_owned_bits |= X86_CR4_PGE`, newer ones by masking
 * X86_CR4_TLBFLUSH_BITS off when !enable_ept), so no knob varies it; CR0.WP became the guest's
 * only in 6.4 (fb509f76acc8, knob cr0WpGuestOwned).
 */
const VMX_CR4_GUEST_OWNED = Cr4.PVI | Cr4.DE | Cr4.PCE | Cr4.OSFXSR | Cr4.OSXMMEXCPT | Cr4.PGE | Cr4.TSD | Cr4.FSGSBASE;
const VMX_CR4_GUEST_OWNED_SHADOW = VMX_CR4_GUEST_OWNED & ~Cr4.PGE;

/**
 * KVM's control-register exits and their decision tables (kvm-mmu.md 4.4 and 5.2): which writes
 * exit at all (the bits the guest owns), kvm_set_cr0/kvm_post_set_cr0, kvm_set_cr4/
 * kvm_post_set_cr4, kvm_set_cr3 with kvm_invalidate_pcid (shadow paging only: with EPT/NPT MOV CR3
 * does not exit), set_efer, and load_pdptrs, which under shadow paging frees the current root
 * when the PDPTRs change. Historical behaviours are knobs.
 */
export class ControlRegisterExits {
  private readonly kvm: ExitHost;
  private readonly cpu: Vcpu;
  private readonly shadow: ShadowMmu | null;
  /** vcpu->arch.cr3 as KVM last saw it (without NOFLUSH). */
  private cr3 = 0;
  /** mmu->pdptrs: the PDPTRs KVM last loaded. */
  private readonly pdptrs = new Int32Array(8);

  constructor(kvm: ExitHost, cpu: Vcpu, shadow: ShadowMmu | null) {
    this.kvm = kvm;
    this.cpu = cpu;
    this.shadow = shadow;
  }

  /** KVM_SET_SREGS: KVM takes CR3 and the PDPTRs from the registers userspace set. */
  registersSet(): void {
    this.cr3 = this.cpuCr3();
    const ctx = this.kvm.guestPaging();
    for (let i = 0; i < 4; i++) {
      this.pdptrs[2 * i] = ctx.pdpteLo[i];
      this.pdptrs[2 * i + 1] = ctx.pdpteHi[i];
    }
  }

  private cpuCr3(): number {
    return (this.cpu.cr3Hi >>> 0) * 4294967296 + (this.cpu.cr3Lo >>> 0);
  }

  private get paePaging(): boolean {
    const cpu = this.cpu;
    return (cpu.cr0 & Cr0.PG) !== 0 && (cpu.cr4 & Cr4.PAE) !== 0 && (cpu.efer & Efer.LMA) === 0;
  }

  /**
   * A write the hardware completed; returns true when it was intercepted (a VM exit KVM emulated),
   * false when the guest owns every bit it changed and the hardware did it alone.
   */
  written(reg: ControlReg, oldValue: number, newValue: number, flags: number): boolean {
    const kvm = this.kvm;
    const changed = (oldValue ^ newValue) | 0;
    const vmx = kvm.cfg.vendor === 'vmx';
    switch (reg) {
      case ControlReg.CR0: {
        // VMX owns CR0.TS (and, with EPT in current KVM, CR0.WP); SVM's selective CR0 intercept
        // lets TS and MP through with NPT. Under shadow paging the hardware CR0 differs from the
        // guest's (PG and WP forced on), so SVM intercepts every write.
        let guestOwned: number;
        if (this.shadow !== null) guestOwned = vmx ? Cr0.TS : 0;
        else guestOwned = vmx ? Cr0.TS | (kvm.cfg.knobs.cr0WpGuestOwned ? Cr0.WP : 0) : Cr0.TS | Cr0.MP;
        if ((changed & ~guestOwned) === 0) return false;
        this.crExit(KvmExit.CR0_WRITE);
        if ((this.cpu.efer & Efer.LME) === 0 && this.paePaging && (changed & CR0_PDPTR_BITS) !== 0) this.loadPdptrs();
        this.postSetCr0(oldValue, newValue);
        kvm.enterGuest();
        return true;
      }
      case ControlReg.CR4: {
        const guestOwned = !vmx ? 0 : this.shadow !== null ? VMX_CR4_GUEST_OWNED_SHADOW : VMX_CR4_GUEST_OWNED;
        // A PGE toggle the guest owns: the hardware flushes its own TLB; KVM does not see it.
        if ((changed & ~guestOwned) === 0) return false;
        this.crExit(KvmExit.CR4_WRITE);
        if (this.paePaging && (changed & CR4_PDPTR_BITS) !== 0) this.loadPdptrs();
        this.postSetCr4(oldValue, newValue);
        kvm.enterGuest();
        return true;
      }
      case ControlReg.CR3:
        // CR3 loads exit only under shadow paging (with TDP KVM clears CR3-load exiting).
        if (this.shadow === null) return false;
        this.setCr3(flags);
        return true;
      case ControlReg.EFER:
        // The WRMSR exit was counted by instructionExit; this is set_efer's MMU part.
        if ((changed & EFER_ROLE_BITS) !== 0) this.mmuResetContext();
        kvm.enterGuest();
        return true;
    }
    return false;
  }

  private crExit(reason: KvmExit): void {
    this.kvm.exitBegin(reason);
    this.kvm.stats.cr_exits++;
    this.kvm.charge('crWrite');
  }

  /**
   * kvm_set_cr3 (shadow paging): a new CR3 value switches roots (kvm_mmu_new_pgd, the fast PGD
   * switch); PAE paging reloads the PDPTRs every time; unless NOFLUSH, the PCID's translations
   * are invalidated (kvm_invalidate_pcid).
   */
  private setCr3(flags: number): void {
    const shadow = this.shadow!;
    this.crExit(KvmExit.CR3_WRITE);
    this.kvm.stats.cr3_writes++;
    const cr3 = this.cpuCr3();
    const pae = this.paePaging;
    if (cr3 !== this.cr3 || pae) {
      if (pae) this.loadPdptrs();
      if (cr3 !== this.cr3) shadow.newPgd(cr3);
      this.cr3 = cr3;
    }
    if ((flags & CR3_NOFLUSH) === 0) shadow.invalidatePcid((this.cpu.cr4 & Cr4.PCIDE) !== 0 ? cr3 & CR3_PCID_MASK : 0);
    this.kvm.enterGuest();
  }

  /**
   * load_pdptrs: the CPU has loaded (and checked) the PDPTE registers; KVM keeps a copy. Under
   * shadow paging, PDPTRs that changed mean the current (PAE) root must be rebuilt.
   */
  private loadPdptrs(): void {
    const ctx = this.kvm.guestPaging();
    let differ = false;
    for (let i = 0; i < 4; i++) {
      if (this.pdptrs[2 * i] !== ctx.pdpteLo[i] || this.pdptrs[2 * i + 1] !== ctx.pdpteHi[i]) differ = true;
      this.pdptrs[2 * i] = ctx.pdpteLo[i];
      this.pdptrs[2 * i + 1] = ctx.pdpteHi[i];
    }
    if (differ) this.shadow?.freeRoots(ROOT_CURRENT);
  }

  /** kvm_post_set_cr0 of current KVM, with the role-change policy knob. */
  private postSetCr0(old: number, cr0: number): void {
    const changed = old ^ cr0;
    const policy = this.kvm.cfg.knobs.roleChangePolicy;
    if (changed === Cr0.WP && policy !== 'unload-always') {
      // 01b31714bd90: with paging off nothing depends on WP; with TDP only the permission tables do.
      if ((cr0 & Cr0.PG) === 0) return;
      // 01b31714bd90 relies on TDP root roles without the guest's CR0.WP (2ba676774dfc).
      if (this.shadow === null && !this.kvm.cfg.knobs.tdpRootRoleGuestBits) {
        this.kvm.stats.kvm_init_mmu_only++;
        this.kvm.initMmu();
        return;
      }
    }
    if ((changed & Cr0.PG) !== 0 && (cr0 & Cr0.PG) === 0) this.kvm.requests.make(Request.TLB_FLUSH_GUEST);
    if ((changed & CR0_ROLE_BITS) !== 0) {
      const pgOff = (changed & Cr0.PG) !== 0 && (cr0 & Cr0.PG) === 0;
      this.roleChanged(pgOff);
    }
  }

  /** kvm_post_set_cr4 of current KVM (crFlushModel=explicit). */
  private postSetCr4(old: number, cr4: number): void {
    const kvm = this.kvm;
    const changed = old ^ cr4;
    const smepOn = (old & Cr4.SMEP) === 0 && (cr4 & Cr4.SMEP) !== 0;
    if (kvm.cfg.knobs.crFlushModel === 'reset-superset') {
      // 5.16-5.17: resetting the MMU is a superset of reloading it, itself a superset of a guest flush.
      if ((changed & CR4_ROLE_BITS) !== 0) this.roleChanged(smepOn);
      else if ((changed & Cr4.PCIDE) !== 0) {
        // KVM_REQ_MMU_RELOAD: kvm_mmu_unload before the next entry, whose kvm_mmu_load flushes.
        kvm.stats.mmu_unload++;
        kvm.mmu.unload();
      } else if ((changed & Cr4.PGE) !== 0) kvm.requests.make(Request.TLB_FLUSH_GUEST);
      return;
    }
    // Paolo's patch (keep-roots) keeps the roots on SMEP 0 -> 1 too and asks for a guest flush
    // instead ("not doing so actually breaks access.c!"): the kept root is then synced only by it.
    const keepRoots = kvm.cfg.knobs.roleChangePolicy === 'keep-roots';
    if ((changed & CR4_ROLE_BITS) !== 0) this.roleChanged(smepOn && !keepRoots);
    // PCIDE 0 -> 1 under shadow paging: previous roots could be reused stale after a NOFLUSH
    // CR3 write, so they all go.
    if (this.shadow !== null && (cr4 & Cr4.PCIDE) !== 0 && (old & Cr4.PCIDE) === 0) {
      kvm.stats.mmu_unload++;
      this.shadow.unload();
    }
    const smepFlush = smepOn && !kvm.cfg.knobs.skipSmep0to1Flush;
    if ((changed & Cr4.PGE) !== 0 || ((old & Cr4.PCIDE) !== 0 && (cr4 & Cr4.PCIDE) === 0) || (smepFlush && keepRoots)) {
      kvm.requests.make(Request.TLB_FLUSH_GUEST);
    } else if ((changed & Cr4.PAE) !== 0 || smepFlush) {
      kvm.requests.make(Request.TLB_FLUSH_CURRENT);
    }
  }

  /**
   * A role bit changed. Current KVM and the pre-(a) kernels reset the MMU context (unloading all
   * roots); Paolo's proposal keeps roots except where correctness needs an unload (`mustUnload`:
   * CR0.PG 1 -> 0; CPUID changes never happen at run time here; SMEP 0 -> 1 gets a guest flush
   * instead, in postSetCr4), looking the
   * new root role up among the cached roots (his kvm_mmu_new_pgd after kvm_init_mmu).
   */
  private roleChanged(mustUnload: boolean): void {
    if (this.kvm.cfg.knobs.roleChangePolicy === 'keep-roots' && !mustUnload) {
      this.kvm.stats.kvm_init_mmu_only++;
      this.kvm.initMmu();
      this.shadow?.newPgd(this.cr3);
      // With the guest's CR0.WP/EFER.NX in the TDP root role (before 2ba676774dfc) the root role may
      // have changed: drop the current root; the next load looks one of the new role up among those kept.
      if (this.shadow === null && this.kvm.cfg.knobs.tdpRootRoleGuestBits) this.kvm.mmu.unload();
      return;
    }
    this.mmuResetContext();
  }

  /** kvm_mmu_reset_context. */
  private mmuResetContext(): void {
    const kvm = this.kvm;
    kvm.stats.mmu_reset_context++;
    kvm.stats.mmu_unload++;
    kvm.mmu.unload();
    kvm.initMmu();
  }
}
