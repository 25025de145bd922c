import type { Vm } from '../../emulator/machine/vm.js';
import type { BarePlatform } from '../../emulator/machine/bare-platform.js';
import { ControlReg, ExitReason, type MsrValue, type Platform } from '../../emulator/cpu/platform.js';
import type { Vcpu } from '../../emulator/cpu/vcpu.js';
import { type TdpExit, TdpHardware, type TdpHypervisor, TdpOutcome } from '../../emulator/hw/tdp-hardware.js';
import { TdpFaultKind, TdpFormat, NpfCode } from '../../emulator/hw/tdp-walk.js';
import type { MemslotChange } from '../../emulator/machine/memslots.js';
import { Cr0, Cr4, Efer, Msr } from '../../emulator/arch/control.js';
import { Reg } from '../../emulator/arch/registers.js';
import { COST, type CostItem } from '../cost.js';
import type { Knobs } from '../knobs.js';
import { Stats } from '../stats.js';
import { Request, RequestSet } from './requests.js';
import { type Vendor, VendorTlb } from './vendor.js';
import type { Mmu, MmuContext } from '../mmu.js';
import { SpteCodec } from '../spte.js';
import { type CpuRole, cpuRoleFromRegisters, tdpRootRole } from '../role.js';

/**
 * KVM, modeled: the exit handlers of a VMX or SVM host running the guest with TDP (EPT/NPT),
 * request servicing before each entry in KVM's order, the control-register decision tables of
 * current KVM (kvm_post_set_cr0, kvm_post_set_cr4, set_efer) with the historical behaviours behind
 * knobs, the MMIO fast path, memslot updates, and the cost of all of it on the guest's TSC.
 *
 * Exits are handled synchronously: the vCPU is inside an instruction (or between two) when the
 * hardware reports an exit; KVM's handler runs, services requests, and the vCPU continues, which
 * is what entering the guest again does.
 */
export type TdpMmuMode = 'legacy-tdp' | 'tdp';

export interface KvmConfig {
  readonly mode: TdpMmuMode;
  readonly vendor: Vendor;
  readonly knobs: Knobs;
  /** Run the invariant checker after every exit. */
  readonly audit: boolean;
  /** Host MAXPHYADDR (SPTE reserved bits, MMIO SPTEs). */
  readonly hostPhysBits: number;
  /** Builds the MMU for the mode. */
  readonly makeMmu: (ctx: MmuContext) => Mmu;
  /** Largest host page backing guest memory: 1 (4 KiB), 2 (2 MiB), 3 (1 GiB). */
  readonly hostMaxLevel: number;
}

/** KVM_RUN failed: the model found what KVM would refuse to continue with (lkml (e)). */
export class KvmRunError extends Error {}

/** KVM's hypercall return for an unknown hypercall number: -KVM_ENOSYS. */
const KVM_ENOSYS = 1000;

/** CR0 bits whose change is a role change (KVM_MMU_CR0_ROLE_BITS). */
const CR0_ROLE_BITS = Cr0.PG | Cr0.WP;
/** CR4 bits whose change is a role change (KVM_MMU_CR4_ROLE_BITS). */
const CR4_ROLE_BITS = Cr4.PSE | Cr4.PAE | Cr4.LA57 | Cr4.SMEP | Cr4.SMAP | Cr4.PKE;
/** EFER bits whose change is a role change (KVM_MMU_EFER_ROLE_BITS). */
const EFER_ROLE_BITS = Efer.LME | Efer.NXE;
/** CR4 bits the guest owns under EPT (KVM_POSSIBLE_CR4_GUEST_BITS): changing only these does not exit. */
const VMX_CR4_GUEST_OWNED = Cr4.PVI | Cr4.DE | Cr4.PCE | Cr4.OSFXSR | Cr4.OSXMMEXCPT | Cr4.PGE | Cr4.TSD | Cr4.FSGSBASE;
/** MSRs VMX passes through to the guest without an exit (KVM's default MSR bitmap). */
const VMX_PASSTHROUGH_MSRS = new Set<number>([Msr.FS_BASE, Msr.GS_BASE, Msr.KERNEL_GS_BASE, Msr.SYSENTER_CS,
  Msr.SYSENTER_ESP, Msr.SYSENTER_EIP, Msr.TSC, Msr.SPEC_CTRL, Msr.PRED_CMD]);

export class Kvm implements Platform, TdpHypervisor {
  readonly stats = new Stats();
  readonly requests = new RequestSet();
  readonly codec: SpteCodec;
  readonly mmu: Mmu;
  readonly hardware: TdpHardware;
  readonly violations: string[] = [];
  private readonly vm: Vm;
  private readonly devices: BarePlatform;
  private readonly cfg: KvmConfig;
  private readonly vendorTlb: VendorTlb;
  private cpuRole: CpuRole | undefined;
  private rootRole = -1;

  constructor(vm: Vm, devices: BarePlatform, cfg: KvmConfig) {
    this.vm = vm;
    this.devices = devices;
    this.cfg = cfg;
    const format = cfg.vendor === 'vmx' ? 'ept' : 'x86';
    this.codec = new SpteCodec({
      format,
      hostPhysBits: cfg.hostPhysBits,
      eptAdBits: true,
      mmioCaching: true,
      layout: cfg.knobs.spteLayout,
      mmioGenBits: cfg.knobs.mmioGenBits,
    });
    const kvm = this;
    const tdpLevel = vm.cpu.model.maxPhyAddr > 48 ? 5 : 4;
    const ctx: MmuContext = {
      arena: vm.arena,
      memslots: vm.memslots,
      stats: this.stats,
      knobs: cfg.knobs,
      codec: this.codec,
      requests: this.requests,
      tdpLevel,
      hostMaxLevel: cfg.hostMaxLevel,
      charge: (item, times) => kvm.charge(item, times),
      mmioGeneration: () => vm.memslots.generation,
    };
    this.mmu = cfg.makeMmu(ctx);
    this.hardware = new TdpHardware(vm.arena, {
      format: cfg.vendor === 'vmx' ? TdpFormat.EPT : TdpFormat.NPT,
      levels: tdpLevel,
      hostPhysBits: cfg.hostPhysBits,
      adEnabled: true,
    }, this);
    vm.paging.tdp = this.hardware;
    this.vendorTlb = new VendorTlb(cfg.vendor, vm.paging, this.stats, cfg.knobs.hvFlushOnFlushCurrent);
    vm.memslots.onChange((c) => this.memslotsChanged(c));
    this.initMmu();
  }

  private get cpu(): Vcpu {
    return this.vm.cpu;
  }

  /** Adds the modeled cost of some work to the vCPU's time. */
  charge(item: CostItem, times = 1): void {
    const cycles = COST[item] * times;
    this.cpu.extraCycles += cycles;
    this.stats.modeled_cycles += cycles;
  }

  /** The common part of every exit: count it, pay the round trip and the dispatch. */
  private exitBegin(): void {
    this.stats.exits++;
    this.charge('exitRoundTrip');
    this.charge('exitDispatch');
  }

  // Platform: what the vCPU asks of the machine, seen through the hypervisor.

  ioRead(port: number, size: number): number {
    this.exitBegin();
    this.stats.io_exits++;
    this.charge('simpleExitHandler');
    const v = this.devices.ioRead(port, size);
    this.enterGuest();
    return v;
  }

  ioWrite(port: number, size: number, value: number): void {
    this.exitBegin();
    this.stats.io_exits++;
    this.charge('simpleExitHandler');
    this.devices.ioWrite(port, size, value);
    this.enterGuest();
  }

  readMsr(cpu: Vcpu, index: number, out: MsrValue): boolean {
    return this.devices.readMsr(cpu, index, out);
  }

  writeMsr(cpu: Vcpu, index: number, lo: number, hi: number): boolean {
    return this.devices.writeMsr(cpu, index, lo, hi);
  }

  /** VMCALL/VMMCALL: KVM's hypercall ABI; unknown numbers return -KVM_ENOSYS in RAX. */
  hypercall(cpu: Vcpu): boolean {
    this.exitBegin();
    this.stats.hypercalls++;
    this.charge('simpleExitHandler');
    cpu.lo[Reg.RAX] = -KVM_ENOSYS;
    cpu.hi[Reg.RAX] = -1;
    this.enterGuest();
    return true;
  }

  /** An interrupt delivered to the guest: the exit that noticed it and the injection on entry. */
  pendingInterrupt(cpu: Vcpu, ack: boolean): number {
    const v = this.devices.pendingInterrupt(cpu, ack);
    if (ack && v >= 0) {
      this.stats.irq_injections++;
      this.exitBegin();
      this.charge('interruptInjection');
      this.enterGuest();
    }
    return v;
  }

  setTpr(cpu: Vcpu, cr8: number): void {
    this.devices.setTpr(cpu, cr8);
  }

  instructionExit(_cpu: Vcpu, reason: ExitReason, detail: number): void {
    switch (reason) {
      case ExitReason.CPUID:
        this.exitBegin();
        this.stats.cpuid_exits++;
        this.charge('simpleExitHandler');
        this.enterGuest();
        break;
      case ExitReason.HLT:
        this.exitBegin();
        this.stats.halt_exits++;
        this.charge('simpleExitHandler');
        this.enterGuest();
        break;
      case ExitReason.RDMSR: case ExitReason.WRMSR:
        if (this.cfg.vendor === 'vmx' && VMX_PASSTHROUGH_MSRS.has(detail >>> 0)) return;
        this.exitBegin();
        this.stats.msr_exits++;
        this.charge('simpleExitHandler');
        this.enterGuest();
        break;
      default:
        // INVLPG, INVPCID, MOV CR8: not intercepted with TDP.
        break;
    }
  }

  controlRegisterWritten(_cpu: Vcpu, reg: ControlReg, oldValue: number, newValue: number): void {
    const changed = (oldValue ^ newValue) | 0;
    switch (reg) {
      case ControlReg.CR0: {
        // VMX owns CR0.TS (and, in current KVM with EPT, CR0.WP); SVM's selective CR0 intercept
        // lets TS and MP through. Changing only guest-owned bits does not exit.
        const guestOwned = this.cfg.vendor === 'vmx'
          ? Cr0.TS | (this.cfg.knobs.cr0WpGuestOwned ? Cr0.WP : 0)
          : Cr0.TS | Cr0.MP;
        if ((changed & ~guestOwned) === 0) return;
        this.crExit();
        this.postSetCr0(oldValue, newValue);
        this.enterGuest();
        break;
      }
      case ControlReg.CR4:
        if (this.cfg.vendor === 'vmx' && (changed & ~VMX_CR4_GUEST_OWNED) === 0) {
          // A PGE toggle the guest owns: the hardware flushes its own TLB; KVM does not see it.
          return;
        }
        this.crExit();
        this.postSetCr4(oldValue, newValue);
        this.enterGuest();
        break;
      case ControlReg.EFER:
        // The WRMSR exit was counted by instructionExit; this is set_efer's MMU part.
        if ((changed & EFER_ROLE_BITS) !== 0) this.resetContext();
        this.enterGuest();
        break;
      default:
        // MOV CR3 is not intercepted with EPT/NPT.
        break;
    }
  }

  private crExit(): void {
    this.exitBegin();
    this.stats.cr_exits++;
    this.charge('crWrite');
  }

  /** kvm_post_set_cr0 of current KVM, with the role-change policy knob. */
  private postSetCr0(old: number, cr0: number): void {
    const changed = old ^ cr0;
    const policy = this.cfg.knobs.roleChangePolicy;
    if (changed === Cr0.WP && policy !== 'unload-always') {
      // 01b31714bd90: with paging off nothing depends on WP; with TDP only the permission tables do.
      if ((cr0 & Cr0.PG) === 0) return;
      this.stats.kvm_init_mmu_only++;
      this.initMmu();
      return;
    }
    if ((changed & Cr0.PG) !== 0 && (cr0 & Cr0.PG) === 0) this.requests.make(Request.TLB_FLUSH_GUEST);
    if ((changed & CR0_ROLE_BITS) !== 0) {
      const pgOff = (changed & Cr0.PG) !== 0 && (cr0 & Cr0.PG) === 0;
      this.roleChanged(pgOff);
    }
  }

  /** kvm_post_set_cr4 of current KVM. */
  private postSetCr4(old: number, cr4: number): void {
    const changed = old ^ cr4;
    const smepOn = (old & Cr4.SMEP) === 0 && (cr4 & Cr4.SMEP) !== 0;
    if ((changed & CR4_ROLE_BITS) !== 0) this.roleChanged(smepOn);
    if ((changed & Cr4.PGE) !== 0 || ((old & Cr4.PCIDE) !== 0 && (cr4 & Cr4.PCIDE) === 0)) {
      this.requests.make(Request.TLB_FLUSH_GUEST);
    } else if ((changed & Cr4.PAE) !== 0 || (smepOn && !this.cfg.knobs.skipSmep0to1Flush)) {
      this.requests.make(Request.TLB_FLUSH_CURRENT);
    }
  }

  /**
   * A role bit changed. Current KVM and the pre-(a) kernels reset the MMU context (unloading all
   * roots); Paolo's proposal keeps roots except where correctness needs an unload (`mustUnload`:
   * CR0.PG 1 -> 0, CR4.SMEP 0 -> 1; CPUID changes never happen at run time here).
   */
  private roleChanged(mustUnload: boolean): void {
    if (this.cfg.knobs.roleChangePolicy === 'keep-roots' && !mustUnload) {
      this.stats.kvm_init_mmu_only++;
      this.initMmu();
      return;
    }
    this.resetContext();
  }

  /** kvm_mmu_reset_context: unload every root, then kvm_init_mmu. */
  resetContext(): void {
    this.stats.mmu_reset_context++;
    this.stats.mmu_unload++;
    this.mmu.unload();
    this.initMmu();
  }

  /** kvm_init_mmu: recompute the CPU role and the root role from the vCPU's registers. */
  private initMmu(): void {
    const cpu = this.cpu;
    this.charge('initMmu');
    const cpuRole = cpuRoleFromRegisters(cpu.cr0, cpu.cr4, cpu.efer);
    this.cpuRole = cpuRole;
    this.rootRole = tdpRootRole(cpuRole, { tdpLevel: this.hardware.config.levels, adDisabled: false });
    this.mmu.init(cpuRole.base, this.rootRole);
  }

  /**
   * Everything KVM does between handling an exit and entering the guest (vcpu_enter_guest):
   * requests in KVM's order, then kvm_mmu_reload, then (in tests) the invariant checker.
   */
  enterGuest(): void {
    if (this.cfg.knobs.forceResetContextOnEveryExit) this.resetContext();
    const req = this.requests;
    const stats = this.stats;
    if (req.bits !== 0) {
      if (req.check(Request.FREE_OBSOLETE_ROOTS)) { stats.req_free_obsolete_roots++; this.mmu.freeObsoleteRoots(); }
      if (req.check(Request.MMU_SYNC)) stats.req_mmu_sync++; // nothing to sync under TDP
      if (req.check(Request.LOAD_MMU_PGD)) { stats.req_load_pgd++; this.loadRoot(this.mmu.currentRoot()); }
      if (req.check(Request.TLB_FLUSH)) {
        stats.req_tlb_flush++;
        this.charge('tlbFlush');
        this.vendorTlb.flushAll();
        req.clear(Request.TLB_FLUSH_CURRENT | Request.TLB_FLUSH_GUEST);
      }
      if (req.check(Request.TLB_FLUSH_CURRENT)) {
        stats.req_tlb_flush_current++;
        this.charge('tlbFlush');
        if (this.mmu.currentRoot() >= 0) this.vendorTlb.flushCurrent(this.mmu.currentRoot());
      }
      if (req.check(Request.TLB_FLUSH_GUEST)) {
        stats.req_tlb_flush_guest++;
        this.charge('tlbFlush');
        this.vendorTlb.flushGuest();
      }
    }
    // kvm_mmu_reload: with no valid root, load one and flush what the hardware cached for it.
    if (this.mmu.currentRoot() < 0) {
      const root = this.mmu.load();
      this.loadRoot(root);
      this.charge('tlbFlush');
      this.vendorTlb.flushCurrent(root);
    }
    stats.roots_max = Math.max(stats.roots_max, this.mmu.validRoots());
    if (this.cfg.audit) this.audit();
  }

  private loadRoot(root: number): void {
    this.vm.paging.loadTdpRoot(root);
  }

  /** Runs the invariant checker; violations are kept in order and counted. */
  audit(): void {
    const found: string[] = [];
    this.mmu.audit(found);
    if (this.mmu.validRoots() > 4) found.push(`16: ${this.mmu.validRoots()} valid TDP roots (at most one per role)`);
    for (const v of found) this.recordViolation(v);
  }

  private recordViolation(v: string): void {
    this.stats.invariant_violations++;
    if (this.violations.length < 100) this.violations.push(v);
  }

  // TdpHypervisor: what the TDP hardware asks.

  tdpFault(exit: TdpExit): TdpOutcome {
    this.exitBegin();
    const rsvd = exit.kind === TdpFaultKind.EPT_MISCONFIG || (exit.kind === TdpFaultKind.NPF && (exit.code & NpfCode.RSVD) !== 0);
    if (rsvd && this.mmioFastPath(exit.gpa)) {
      this.enterGuest();
      return TdpOutcome.EMULATE_MMIO;
    }
    this.stats.pf_taken++;
    this.charge('pageFault');
    const outcome = this.mmu.pageFault(exit);
    if (outcome === TdpOutcome.EMULATE_MMIO) {
      this.stats.pf_emulate++;
      this.stats.mmio_exits++;
      this.charge('mmioEmulate');
    }
    this.enterGuest();
    return outcome;
  }

  /**
   * handle_mmio_page_fault: a reserved-bit fault on an MMIO SPTE whose generation is current is
   * emulated at once. A stale generation falls through to the fault path (RET_PF_INVALID). A
   * reserved-bit fault on an SPTE that is not MMIO is KVM's "detect reserved bits" failure.
   */
  private mmioFastPath(gpa: number): boolean {
    const spte = this.mmu.mmioSpte(gpa);
    if (spte === undefined) return false;
    const codec = this.codec;
    if (!codec.isMmio(spte[0], spte[1])) {
      const value = (BigInt(spte[1] >>> 0) << 32n) | BigInt(spte[0] >>> 0);
      const v = `reserved bits set in a non-MMIO SPTE 0x${value.toString(16)} for gpa 0x${gpa.toString(16)}`;
      this.recordViolation(`1: ${v}`);
      throw new KvmRunError(`KVM_RUN failed: Invalid argument (${v})`);
    }
    const memslots = this.vm.memslots;
    const current = memslots.generation % codec.genModulus;
    if (!memslots.updateInProgress && codec.mmioGeneration(spte[0], spte[1]) === current) {
      this.stats.mmio_fast_hit++;
      this.stats.mmio_exits++;
      this.charge('mmioFastPath');
      this.charge('mmioEmulate');
      return true;
    }
    this.stats.mmio_gen_mismatch++;
    return false;
  }

  rootIncarnation(root: number): number {
    return this.mmu.rootIncarnation(root);
  }

  staleTlbHit(root: number, gpa: number): void {
    this.stats.stale_tlb_hits++;
    this.recordViolation(`14: TLB hit for gpa 0x${gpa.toString(16)} made under an earlier incarnation of root 0x${root.toString(16)}`);
  }

  // Memslot updates.

  /**
   * KVM's memslot update (kvm_set_memslot): deleting or moving a slot zaps everything fast
   * (kvm_arch_flush_shadow_memslot); creating one only bumps the generation, which invalidates
   * MMIO SPTEs lazily; a generation that wraps to zero in the SPTE's bits zaps everything.
   */
  private memslotsChanged(change: MemslotChange): void {
    this.stats.memslot_updates++;
    if (change.kind !== 'add') {
      this.mmu.zapAllFast();
      this.requests.make(Request.FREE_OBSOLETE_ROOTS);
    }
    // kvm_mmu_invalidate_mmio_sptes: the generation as stored, without the address-space bit.
    const gen = (this.vm.memslots.generation % this.codec.genModulus) & ~1;
    if (gen === 0) {
      this.stats.mmio_gen_wrap_zaps++;
      this.mmu.zapAllFast();
      this.requests.make(Request.FREE_OBSOLETE_ROOTS);
    }
    this.enterGuest();
  }
}
