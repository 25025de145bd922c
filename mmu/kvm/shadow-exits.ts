import type { Vcpu } from '../../emulator/cpu/vcpu.js';
import { InvpcidType } from '../../emulator/cpu/platform.js';
import { type ShadowFault, ShadowOutcome, type ShadowHypervisor } from '../../emulator/hw/shadow-hardware.js';
import { isCanonical } from '../../emulator/arch/u64.js';
import { Pfec } from '../../emulator/arch/vectors.js';
import { type Gpa, gfnToGpa } from '../../emulator/arch/address.js';
import { Access, permissionFault } from '../../emulator/paging/walker.js';
import { ACC_USER_MASK, ACC_WRITE_MASK } from '../spte.js';
import type { ShadowMmu } from '../shadow/shadow-mmu.js';
import { PfResult } from '../page-fault-record.js';
import { Request } from './requests.js';
import { LockMode } from './mmu-lock.js';
import type { ExitHost } from './exit-host.js';
import { KvmExit } from '../../emulator/debug/trace-exit-reasons.js';

/**
 * The exits only shadow paging has (ept=0/npt=0): the #PF intercept (kvm_mmu_page_fault with the
 * MMIO fast path and emulation of writes to write-protected guest tables), INVLPG and INVPCID
 * (kvm_mmu_invlpg, kvm_handle_invpcid), and the follow-up to an emulated write
 * (kvm_mmu_track_write).
 */
export class ShadowExits implements ShadowHypervisor {
  private readonly kvm: ExitHost;
  private readonly mmu: ShadowMmu;
  private readonly cpu: Vcpu;
  /** last_retry_addr: the linear address last unprotected for a retry (-1: none). */
  private lastRetry = -1;

  constructor(kvm: ExitHost, mmu: ShadowMmu, cpu: Vcpu) {
    this.kvm = kvm;
    this.mmu = mmu;
    this.cpu = cpu;
  }

  /** kvm_mmu_page_fault for a #PF the hardware raised on the shadow tables. */
  shadowFault(f: ShadowFault): ShadowOutcome {
    const kvm = this.kvm;
    const stats = kvm.stats;
    kvm.exitBegin(KvmExit.PAGE_FAULT, f.lo >>> 0, f.hi >>> 0, f.errorCode);
    stats.pf_exits++;
    f.wholeInstruction = false;
    if ((f.errorCode & Pfec.RSVD) !== 0 && this.mmioFastPath(f)) {
      kvm.enterGuest(true);
      return ShadowOutcome.EMULATE;
    }
    stats.pf_taken++;
    kvm.charge('pageFault');
    // FNAME(page_fault) runs under mmu_lock for write.
    const fault = kvm.fault.fromShadowFault(f.lo, f.hi, f.errorCode & ~Pfec.RSVD, f.access);
    const since = kvm.lockMmu(LockMode.WRITE);
    const r = this.mmu.pageFault(fault);
    kvm.unlockMmu(LockMode.WRITE, since);
    // kvm_faultin_pfn's slow path runs before the lock in KVM (after the guest walk, which the
    // model does inside pageFault, so the faultin step runs there too): its host pages are
    // charged outside the hold, after it, so the lock is held exactly as long and the vCPU pays
    // the same total.
    kvm.chargeHostFaults(fault);
    let outcome = ShadowOutcome.RETRY;
    if (fault.injectCode >= 0) {
      // The guest's own tables deny the access: its #PF, as KVM injects it.
      f.injectCode = fault.injectCode;
      kvm.charge('exceptionInjection');
      outcome = ShadowOutcome.INJECT;
    } else if (r === PfResult.WRITE_PROTECTED && this.unprotectAndRetry(f)) {
      outcome = ShadowOutcome.RETRY;
    } else if (r === PfResult.EMULATE || r === PfResult.WRITE_PROTECTED) {
      stats.pf_emulate++;
      if (r === PfResult.EMULATE) {
        kvm.chargeMmioEmulation(gfnToGpa(fault.gfn));
      } else {
        stats.insn_emulation++;
        kvm.charge('emulateInsn');
      }
      f.gpaPage = gfnToGpa(fault.gfn);
      f.wholeInstruction = r === PfResult.WRITE_PROTECTED;
      outcome = ShadowOutcome.EMULATE;
    } else if (r === PfResult.FIXED) {
      stats.pf_fixed++;
    } else if (r === PfResult.SPURIOUS) {
      stats.pf_spurious++;
    }
    kvm.enterGuest(true);
    return outcome;
  }

  /**
   * kvm_mmu_write_protect_fault and the emulator's retry: a write to a shadowed guest table by
   * an instruction that does not write page tables (string instructions: not PageTable in KVM's
   * emulator table) means the guest has stopped using the frame as a table, so KVM zaps its
   * shadow pages and lets the guest run the instruction again, unless the same address was just
   * retried (the instruction would fault forever: emulate it then).
   */
  private unprotectAndRetry(f: ShadowFault): boolean {
    const addr = (f.hi >>> 0) * 4294967296 + (f.lo >>> 0);
    if (!this.cpu.stringInsn || addr === this.lastRetry) {
      this.lastRetry = -1;
      return false;
    }
    if (!this.mmu.unprotectGfn(this.kvm.fault.gfn)) return false;
    this.lastRetry = addr;
    this.kvm.stats.pf_unprotect_retry++;
    return true;
  }

  /**
   * handle_mmio_page_fault under shadow paging: the MMIO SPTE for the linear address gives the
   * guest frame and the guest's U/W rights; with a current generation and rights that allow the
   * access, the access is emulated at once. Otherwise the slow path walks the guest's tables.
   */
  private mmioFastPath(f: ShadowFault): boolean {
    const kvm = this.kvm;
    const spte = kvm.checkMmioSpte(this.mmu.mmioWalk(f.lo, f.hi), f.lo, f.hi);
    if (spte === undefined) return false;
    const codec = kvm.codec;
    const access = codec.mmioAccess(spte[0]);
    const guest = kvm.guestPaging();
    const code = permissionFault(guest, f.access & ~Access.FETCH, (access & ACC_WRITE_MASK) !== 0,
      (access & ACC_USER_MASK) !== 0, false, 0);
    if (code !== 0 || (f.access & Access.FETCH) !== 0) return false;
    f.gpaPage = gfnToGpa(codec.mmioGfn(spte[0], spte[1]));
    kvm.stats.mmio_fast_hit++;
    kvm.trace?.mmioPageFault(f.lo >>> 0, f.hi >>> 0, this.mmu.mmioWalk(f.lo, f.hi));
    kvm.charge('mmioFastPath');
    kvm.chargeMmioEmulation(f.gpaPage);
    return true;
  }

  /** After KVM's emulator wrote guest RAM: zap what shadowed the written guest entries. */
  emulatedWrite(gpa: Gpa, bytes: number): void {
    const since = this.kvm.lockMmu(LockMode.WRITE);
    this.mmu.trackWrite(gpa, bytes);
    this.kvm.unlockMmu(LockMode.WRITE, since);
  }

  /** The VM entry after an emulated instruction: serve what its writes requested. */
  emulationDone(): void {
    if (this.kvm.requests.bits !== 0) this.kvm.enterGuest(true);
  }

  /** INVLPG exit: flush the address from the hardware TLB, then sync it in every root. */
  invlpg(_cpu: Vcpu, lo: number, hi: number, la57: boolean): void {
    const kvm = this.kvm;
    kvm.exitBegin(KvmExit.INVLPG);
    kvm.stats.invlpg_exits++;
    kvm.charge('simpleExitHandler');
    // INVLPG of a non-canonical address is a no-op (SDM).
    if (isCanonical(lo, hi, la57 ? 57 : 48)) {
      kvm.vendorTlb.flushGva(lo, hi);
      const since = kvm.lockMmu(LockMode.WRITE);
      this.mmu.invlpg(lo, hi);
      kvm.unlockMmu(LockMode.WRITE, since);
    } else {
      kvm.stats.invlpg++;
    }
    kvm.enterGuest();
  }

  /** INVPCID exit (kvm_handle_invpcid): the descriptor was checked by the instruction. */
  invpcid(_cpu: Vcpu, type: InvpcidType, pcid: number, lo: number, hi: number): void {
    const kvm = this.kvm;
    kvm.exitBegin(KvmExit.INVPCID);
    kvm.stats.invpcid_exits++;
    kvm.charge('simpleExitHandler');
    switch (type) {
      case InvpcidType.ADDRESS:
        if (this.mmu.invpcidGva(lo, hi, pcid)) kvm.vendorTlb.flushGva(lo, hi);
        break;
      case InvpcidType.CONTEXT:
        this.mmu.invalidatePcid(pcid);
        break;
      default:
        // KVM does not mark global SPTEs, so "all but global" is a full guest flush too.
        kvm.requests.make(Request.TLB_FLUSH_GUEST);
        break;
    }
    kvm.enterGuest();
  }
}
