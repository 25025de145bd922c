import type { Memslot } from '../emulator/machine/memslots.js';
import type { TdpExit } from '../emulator/hw/tdp-hardware.js';
import { EptQual, NpfCode, TdpAccess, TdpFaultKind } from '../emulator/hw/tdp-walk.js';
import { Pfec } from '../emulator/arch/vectors.js';
import { type Gfn, type Hfn, gfn as asGfn, gpaToGfn } from '../emulator/arch/address.js';
import { SpteConflict } from './tdp/spte-races.js';

/** KVM's RET_PF_* results of a page-fault handler (mmu_internal.h). */
export const enum PfResult {
  RETRY = 0,
  FIXED = 1,
  SPURIOUS = 2,
  /** Emulate the instruction: MMIO, a write to a read-only memslot. */
  EMULATE = 3,
  /** A write to a frame KVM keeps read-only because it shadows a guest page table. */
  WRITE_PROTECTED = 4,
  /** RET_PF_CONTINUE: the step found nothing that ends the fault; the handler goes on. */
  CONTINUE = 5,
}

/** The pfn of a frame no memslot covers (KVM_PFN_NOSLOT): it matches no present SPTE's pfn. */
export const PFN_NOSLOT = -1 as Hfn;

/**
 * One guest page fault as KVM carries it through its handlers (struct kvm_page_fault): what the
 * exit reported, filled once by the fault entry (`fromTdpExit`, `fromShadowFault`); what the
 * faultin step found (faultin.ts: the memslot, the host frame, whether it may be mapped writable,
 * the host pages it faulted in); the levels the map chose; and the results the handlers leave
 * (write-protected, the #PF to inject, a race lost to another vCPU).
 *
 * Each vCPU owns one record and refills it for every fault (kvm-vcpu.ts): a vCPU handles one
 * fault at a time, synchronously inside the access that faulted, and nothing keeps a reference
 * to the record past the exit, so reusing it is sound and the fault path allocates nothing.
 * KVM keeps it on the stack of kvm_mmu_do_page_fault for the same lifetime.
 */
export class PageFault {
  /** The faulting address: guest-physical under TDP, linear under shadow paging (two halves). */
  addrLo = 0;
  addrHi = 0;
  /** The guest frame the access goes to (under shadow paging: once the guest walk found it). */
  gfn = 0 as Gfn;
  /** #PF error code under shadow paging; the EPT qualification or NPF code under TDP. */
  errorCode = 0;
  /** The attempt's Access bits (walker.ts) under shadow paging, TdpAccess bits under TDP. */
  access = 0;
  exec = false;
  write = false;
  /** The translation existed and denied the access (PFERR_PRESENT). */
  present = false;
  user = false;
  /** The fault came from TDP hardware (EPT violation, NPF); false: a #PF on shadow tables. */
  isTdp = false;
  /** The largest level the handler may map at (the guest's page size, or the MMU's cap). */
  maxLevel = 1;
  /** The level host backing, memslot alignment and write tracking allow (kvm_mmu_hugepage_adjust). */
  reqLevel = 1;
  /** The level the leaf is installed at. */
  goalLevel = 1;
  /** The memslot holding gfn (undefined: none, an MMIO frame). */
  slot: Memslot | undefined = undefined;
  /** The host frame backing gfn (PFN_NOSLOT without a memslot). */
  pfn = PFN_NOSLOT;
  /** The host mapping is writable (not a read-only memslot). */
  mapWritable = false;
  /** Host pages the faultin step faulted in (0 or 1): the vCPU pays for them outside mmu_lock. */
  hostFaults = 0;
  /** The leaf was made read-only to keep a shadowed guest table write-protected (make_spte's wrprot). */
  writeProtected = false;
  /** The guest's own tables deny the access: the #PF error code to inject (-1: none). */
  injectCode = -1;
  /** The TDP MMU's walk lost a race to another vCPU (its cmpxchg failed or the SPTE was frozen). */
  raced: SpteConflict = SpteConflict.NONE;

  /** Clears what the faultin step and the handlers leave, so no result of the last fault survives. */
  private resetResults(): void {
    this.maxLevel = this.reqLevel = this.goalLevel = 1;
    this.slot = undefined;
    this.pfn = PFN_NOSLOT;
    this.mapWritable = false;
    this.hostFaults = 0;
    this.writeProtected = false;
    this.injectCode = -1;
    this.raced = SpteConflict.NONE;
  }

  /** kvm_mmu_do_page_fault's initializer for an EPT violation or NPF (the error code as KVM derives it). */
  fromTdpExit(exit: TdpExit): this {
    this.resetResults();
    const gpa = exit.gpa;
    this.addrLo = gpa % 4294967296;
    this.addrHi = Math.floor(gpa / 4294967296);
    this.gfn = gpaToGfn(gpa);
    this.errorCode = exit.code;
    this.access = exit.access;
    this.exec = (exit.access & TdpAccess.FETCH) !== 0;
    this.write = (exit.access & TdpAccess.WRITE) !== 0;
    // handle_ept_violation: PFERR_PRESENT when the entry allowed any of read, write or execute.
    this.present = exit.kind === TdpFaultKind.NPF
      ? (exit.code & NpfCode.P) !== 0
      : (exit.code & (EptQual.READABLE | EptQual.WRITABLE | EptQual.EXECUTABLE)) !== 0;
    this.user = false;
    this.isTdp = true;
    return this;
  }

  /** The same for a #PF the shadow tables raised: the gfn is known only after the guest walk. */
  fromShadowFault(lo: number, hi: number, errorCode: number, access: number): this {
    this.resetResults();
    this.addrLo = lo;
    this.addrHi = hi;
    this.gfn = asGfn(0);
    this.errorCode = errorCode;
    this.access = access;
    this.exec = (errorCode & Pfec.I) !== 0;
    this.write = (errorCode & Pfec.W) !== 0;
    this.present = (errorCode & Pfec.P) !== 0;
    this.user = (errorCode & Pfec.U) !== 0;
    this.isTdp = false;
    return this;
  }
}
