import type { BarePlatform } from '../../emulator/machine/bare-platform.js';
import type { Arena } from '../../emulator/machine/arena.js';
import type { Memslots } from '../../emulator/machine/memslots.js';
import type { PagingUnit } from '../../emulator/hw/paging-unit.js';
import { type Hypervisor, HypervisorError } from '../../emulator/machine/hypervisor.js';
import { ControlReg, ExitReason, type InvpcidType, type MsrValue } from '../../emulator/cpu/platform.js';
import type { Platform, Vcpu } from '../../emulator/cpu/vcpu.js';
import { type TdpExit, TdpHardware, type TdpHypervisor, TdpOutcome } from '../../emulator/hw/tdp-hardware.js';
import { TdpFaultKind, TdpFormat, NpfCode } from '../../emulator/hw/tdp-walk.js';
import { ShadowHardware } from '../../emulator/hw/shadow-hardware.js';
import type { MemslotChange } from '../../emulator/machine/memslots.js';
import { Cr4, Msr } from '../../emulator/arch/control.js';
import { Reg } from '../../emulator/arch/registers.js';
import type { WalkContext } from '../../emulator/paging/walker.js';
import { portInKernel, mmioInKernel } from './in-kernel-devices.js';
import { COST, type CostItem } from '../cost.js';
import type { Knobs } from '../knobs.js';
import { Stats } from '../stats.js';
import { Request, RequestSet } from './requests.js';
import { type Vendor, VendorTlb } from './vendor.js';
import type { Mmu, MmuContext, TdpCapableMmu } from '../mmu.js';
import { SpteCodec } from '../spte.js';
import { cpuRoleFromRegisters, shadowRootRole, tdpRootRole } from '../role.js';
import { TdpMmu } from '../tdp/tdp-mmu.js';
import { LegacyTdpMmu } from '../legacy/legacy-tdp-mmu.js';
import { ShadowMmu } from '../shadow/shadow-mmu.js';
import { ShadowExits } from './shadow-exits.js';
import { ControlRegisterExits } from './cr-exits.js';

/**
 * KVM, modeled: the exit handlers of a VMX or SVM host running the guest with TDP (EPT/NPT) or
 * with shadow paging, request servicing before each entry in KVM's order, the control-register
 * decision tables of current KVM with the historical behaviours behind knobs (cr-exits.ts), the
 * MMIO fast path, memslot updates, and the cost of all of it on the guest's TSC.
 *
 * Exits are handled synchronously: the vCPU is inside an instruction (or between two) when the
 * hardware reports an exit; KVM's handler runs, services requests, and the vCPU continues, which
 * is what entering the guest again does.
 */
export type KvmMmuMode = 'legacy-tdp' | 'tdp' | 'shadow';

export interface KvmConfig {
  readonly mode: KvmMmuMode;
  readonly vendor: Vendor;
  readonly knobs: Knobs;
  /** Run the invariant checker after exits: every exit, or every `auditEvery`-th (long guests). */
  readonly audit: boolean;
  readonly auditEvery?: number;
  /** Host MAXPHYADDR (SPTE reserved bits, MMIO SPTEs). */
  readonly hostPhysBits: number;
  /** Largest host page backing guest memory: 1 (4 KiB), 2 (2 MiB), 3 (1 GiB). */
  readonly hostMaxLevel: number;
}

/** KVM_RUN failed: the model found what KVM would refuse to continue with (lkml (e)). */
export class KvmRunError extends HypervisorError {}

/** The machine KVM runs: its vCPU, host memory, memory map and paging hardware. */
export interface KvmHost {
  readonly cpu: Vcpu;
  readonly arena: Arena;
  readonly memslots: Memslots;
  readonly paging: PagingUnit;
}

/** KVM's hypercall return for an unknown hypercall number: -KVM_ENOSYS. */
const KVM_ENOSYS = 1000;

/** MSRs VMX passes through to the guest without an exit (KVM's default MSR bitmap). */
const VMX_PASSTHROUGH_MSRS = new Set<number>([Msr.FS_BASE, Msr.GS_BASE, Msr.KERNEL_GS_BASE, Msr.SYSENTER_CS,
  Msr.SYSENTER_ESP, Msr.SYSENTER_EIP, Msr.TSC, Msr.SPEC_CTRL, Msr.PRED_CMD]);

/** Request-servicing rounds before an entry: servicing one request may raise another. */
const MAX_ENTRY_ROUNDS = 8;

export class Kvm implements Platform, TdpHypervisor, Hypervisor {
  readonly stats = new Stats();
  readonly requests = new RequestSet();
  readonly codec: SpteCodec;
  readonly mmu: Mmu;
  readonly cfg: KvmConfig;
  /** TDP hardware (legacy-tdp and tdp modes). */
  readonly hardware: TdpHardware | null = null;
  /** Shadow-paging hardware and KVM's shadow MMU (shadow mode). */
  readonly shadowHardware: ShadowHardware | null = null;
  readonly shadowMmu: ShadowMmu | null = null;
  readonly vendorTlb: VendorTlb;
  readonly violations: string[] = [];
  private readonly tdpMmu: TdpCapableMmu | null = null;
  private readonly shadowExits: ShadowExits | null = null;
  private readonly crExits: ControlRegisterExits;
  private readonly vm: KvmHost;
  private readonly devices: BarePlatform;

  constructor(vm: KvmHost, devices: BarePlatform, cfg: KvmConfig) {
    this.vm = vm;
    this.devices = devices;
    this.cfg = cfg;
    const shadow = cfg.mode === 'shadow';
    // Shadow paging uses the x86 PTE format whatever the vendor; TDP uses EPT on VMX.
    this.codec = new SpteCodec({
      format: cfg.vendor === 'vmx' && !shadow ? 'ept' : 'x86',
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
    if (shadow) {
      const cpu = vm.cpu;
      const mmu = new ShadowMmu(ctx, {
        paging: vm.paging.ctx,
        tables: vm.paging,
        cr3: () => (cpu.cr3Hi >>> 0) * 4294967296 + (cpu.cr3Lo >>> 0),
        pcide: () => (cpu.cr4 & Cr4.PCIDE) !== 0,
      });
      this.mmu = this.shadowMmu = mmu;
      this.shadowExits = new ShadowExits(this, mmu, vm.cpu);
      this.shadowHardware = new ShadowHardware(vm.arena, cfg.hostPhysBits, this.shadowExits);
      vm.paging.shadow = this.shadowHardware;
    } else {
      this.mmu = this.tdpMmu = cfg.mode === 'tdp' ? new TdpMmu(ctx) : new LegacyTdpMmu(ctx);
      this.hardware = new TdpHardware(vm.arena, {
        format: cfg.vendor === 'vmx' ? TdpFormat.EPT : TdpFormat.NPT,
        levels: tdpLevel,
        hostPhysBits: cfg.hostPhysBits,
        adEnabled: true,
      }, this);
      vm.paging.tdp = this.hardware;
    }
    this.vendorTlb = new VendorTlb(cfg.vendor, vm.paging, this.stats, cfg.knobs.hvFlushOnFlushCurrent, shadow);
    this.crExits = new ControlRegisterExits(this, vm.cpu, this.shadowMmu);
    vm.memslots.onChange((c) => this.memslotsChanged(c));
    this.updatePageLimit();
    this.initMmu();
  }

  private get cpu(): Vcpu {
    return this.vm.cpu;
  }

  /** The guest's paging state as KVM's software walker reads it. */
  guestPaging(): WalkContext {
    return this.vm.paging.ctx;
  }

  /** Adds the modeled cost of some work to the vCPU's time. */
  /** A port access: emulated in KVM, or (not an in-kernel device) by the VMM after a return to userspace. */
  private chargePortExit(port: number): void {
    this.stats.io_exits++;
    this.charge('simpleExitHandler');
    if (!portInKernel(port)) {
      this.stats.userspace_exits++;
      this.charge('userspaceExit');
    }
  }

  /** The emulation of one MMIO access at gpa, in KVM or through the VMM. */
  chargeMmioEmulation(gpa: number): void {
    this.stats.mmio_exits++;
    this.charge('mmioEmulate');
    if (!mmioInKernel(gpa)) {
      this.stats.userspace_exits++;
      this.charge('userspaceExit');
    }
  }

  charge(item: CostItem, times = 1): void {
    const cycles = COST[item] * times;
    this.cpu.extraCycles += cycles;
    this.stats.modeled_cycles += cycles;
  }

  /** The common part of every exit: count it, pay the round trip and the dispatch. */
  exitBegin(): void {
    this.stats.exits++;
    this.charge('exitRoundTrip');
    this.charge('exitDispatch');
  }

  // Platform: what the vCPU asks of the machine, seen through the hypervisor.

  ioRead(port: number, size: number): number {
    this.exitBegin();
    this.chargePortExit(port);
    const v = this.devices.ioRead(port, size);
    this.enterGuest();
    return v;
  }

  ioWrite(port: number, size: number, value: number): void {
    this.exitBegin();
    this.chargePortExit(port);
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
      case ExitReason.CR3_READ:
        // Without TDP the guest's CR3 is not the one loaded (VMX sets CR3-store exiting, SVM
        // intercepts CR3 reads) and KVM hands back its copy; with EPT or NPT the read runs alone.
        if (this.shadowExits === null) return;
        this.exitBegin();
        this.stats.cr_exits++;
        this.stats.cr3_reads++;
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
    }
  }

  controlRegisterWritten(_cpu: Vcpu, reg: ControlReg, oldValue: number, newValue: number, flags = 0): void {
    this.crExits.written(reg, oldValue, newValue, flags);
  }

  /** INVLPG: intercepted only under shadow paging; with TDP the hardware handles it alone. */
  invlpg(cpu: Vcpu, lo: number, hi: number): void {
    this.shadowExits?.invlpg(cpu, lo, hi, (cpu.cr4 & Cr4.LA57) !== 0);
  }

  /** INVPCID: likewise intercepted only under shadow paging. */
  invpcid(cpu: Vcpu, type: InvpcidType, pcid: number, lo: number, hi: number): void {
    this.shadowExits?.invpcid(cpu, type, pcid, lo, hi);
  }

  /** kvm_vcpu_reset(init_event): an INIT resets the vCPU's MMU context. */
  initReceived(_cpu: Vcpu): void {
    this.resetContext();
  }

  /** Hypervisor: registers set from outside (KVM_SET_SREGS) reset the MMU context. */
  registersSet(_cpu = 0): void {
    this.resetContext();
  }

  /** Hypervisor: KVM_RUN begins with the work of an entry (requests, root load). */
  startVcpu(_cpu: number): void {
    this.enterGuest();
  }

  counter(name: string): number | undefined {
    const stats = this.stats as unknown as Record<string, unknown>;
    const v = stats[name];
    return typeof v === 'number' ? v : undefined;
  }

  /** kvm_mmu_reset_context: unload every root, then kvm_init_mmu. */
  resetContext(): void {
    this.stats.mmu_reset_context++;
    this.stats.mmu_unload++;
    this.mmu.unload();
    this.initMmu();
    this.crExits.registersSet();
  }

  /** kvm_init_mmu: recompute the CPU role and the root role from the vCPU's registers. */
  initMmu(): void {
    const cpu = this.cpu;
    this.charge('initMmu');
    const cpuRole = cpuRoleFromRegisters(cpu.cr0, cpu.cr4, cpu.efer);
    const rootRole = this.hardware === null
      ? shadowRootRole(cpuRole)
      : tdpRootRole(cpuRole, { tdpLevel: this.hardware.config.levels, adDisabled: false });
    this.mmu.init(cpuRole, rootRole);
  }

  /**
   * Everything KVM does between handling an exit and entering the guest (vcpu_enter_guest):
   * requests in KVM's order, then kvm_mmu_reload, then (in tests) the invariant checker. Servicing
   * may raise new requests (a sync that zaps a root); they are serviced before entering.
   * `afterFault`: the exit was a page fault (EPT violation/misconfiguration, NPF, #PF
   * intercept), which lkml (c)'s forced resets leave alone: resetting after those, a root that
   * dies with the reset can never keep the fix, and the guest makes no progress (Sean's test
   * skipped them for that reason).
   */
  enterGuest(afterFault = false): void {
    if (this.cfg.knobs.forceResetContextOnEveryExit && !afterFault) this.resetContext();
    for (let round = 0; round < MAX_ENTRY_ROUNDS; round++) {
      this.serviceRequests();
      this.reloadMmu();
      if (this.requests.bits === 0) break;
    }
    const stats = this.stats;
    stats.roots_max = Math.max(stats.roots_max, this.mmu.validRoots());
    if (this.cfg.audit && ++this.auditTick >= (this.cfg.auditEvery ?? 1)) {
      this.auditTick = 0;
      this.audit();
    }
  }

  private auditTick = 0;

  private serviceRequests(): void {
    const req = this.requests;
    const stats = this.stats;
    if (req.bits === 0) return;
    if (req.check(Request.FREE_OBSOLETE_ROOTS)) { stats.req_free_obsolete_roots++; this.mmu.freeObsoleteRoots(); }
    if (req.check(Request.MMU_SYNC)) {
      stats.req_mmu_sync++;
      this.shadowMmu?.syncRoots();
    }
    if (req.check(Request.LOAD_MMU_PGD)) {
      stats.req_load_pgd++;
      if (this.mmu.currentRoot() >= 0) this.loadRoot(this.mmu.currentRoot());
    }
    // Flushing "all" also flushes "current", so it clears that request (not the guest flush).
    if (req.check(Request.TLB_FLUSH)) {
      stats.req_tlb_flush++;
      stats.tlb_flush++;
      this.charge('tlbFlush');
      this.vendorTlb.flushAll();
      req.clear(Request.TLB_FLUSH_CURRENT);
    }
    if (req.check(Request.TLB_FLUSH_CURRENT)) {
      stats.req_tlb_flush_current++;
      stats.tlb_flush++;
      this.charge('tlbFlush');
      if (this.mmu.currentRoot() >= 0) this.vendorTlb.flushCurrent(this.mmu.currentRoot());
    }
    if (req.check(Request.TLB_FLUSH_GUEST)) {
      stats.req_tlb_flush_guest++;
      stats.tlb_flush++;
      this.charge('tlbFlush');
      // A guest TLB flush is also a sync point of the shadow page tables.
      this.shadowMmu?.flushGuest();
      this.vendorTlb.flushGuest();
    }
  }

  /** kvm_mmu_reload: with no valid root, load one and flush what the hardware cached for it. */
  private reloadMmu(): void {
    const current = this.mmu.currentRoot();
    if (current >= 0) {
      // Without EPT, a VM entry in PAE mode reloads the PDPTEs from the table CR3 points at.
      if (this.shadowHardware !== null) this.vm.paging.loadShadowRoot(current);
      return;
    }
    const root = this.mmu.load();
    this.loadRoot(root);
    this.charge('tlbFlush');
    this.vendorTlb.flushCurrent(root);
  }

  private loadRoot(root: number): void {
    if (this.shadowHardware !== null) this.vm.paging.loadShadowRoot(root);
    else this.vm.paging.loadTdpRoot(root);
  }

  /** Runs the invariant checker; violations are kept in order and counted. */
  audit(): void {
    const found: string[] = [];
    this.mmu.audit(found);
    if (this.mmu.validRoots() > 4) found.push(`16: ${this.mmu.validRoots()} valid roots (at most current and three previous, or one per role)`);
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
    if (rsvd && this.checkMmioSpte(this.mmu.mmioSpte(exit.gpa % 4294967296, Math.floor(exit.gpa / 4294967296)), exit.gpa, 0) !== undefined) {
      this.stats.mmio_fast_hit++;
      this.charge('mmioFastPath');
      this.chargeMmioEmulation(exit.gpa);
      this.enterGuest(true);
      return TdpOutcome.EMULATE_MMIO;
    }
    this.stats.pf_taken++;
    this.charge('pageFault');
    const outcome = this.tdpMmu!.pageFault(exit);
    if (outcome === TdpOutcome.EMULATE_MMIO) {
      this.stats.pf_emulate++;
      this.chargeMmioEmulation(exit.gpa);
    }
    this.enterGuest(true);
    return outcome;
  }

  /**
   * handle_mmio_page_fault's check of the SPTE a reserved-bit fault hit: an MMIO SPTE whose
   * generation is current is returned (emulate at once); a stale generation returns undefined
   * (RET_PF_INVALID: the fault path rebuilds it). A reserved-bit fault on an SPTE that is not
   * MMIO is KVM's "detect reserved bits" failure: KVM_RUN fails.
   */
  checkMmioSpte(spte: [number, number] | undefined, addrLo: number, addrHi: number): [number, number] | undefined {
    if (spte === undefined) return undefined;
    const codec = this.codec;
    if (!codec.isMmio(spte[0], spte[1])) {
      const value = (BigInt(spte[1] >>> 0) << 32n) | BigInt(spte[0] >>> 0);
      const addr = (BigInt(addrHi >>> 0) << 32n) | BigInt(addrLo >>> 0);
      const v = `reserved bits set in a non-MMIO SPTE 0x${value.toString(16)} for address 0x${addr.toString(16)}`;
      this.recordViolation(`1: ${v}`);
      throw new KvmRunError(`KVM_RUN failed: Invalid argument (${v})`);
    }
    const memslots = this.vm.memslots;
    const current = memslots.generation % codec.genModulus;
    if (!memslots.updateInProgress && codec.mmioGeneration(spte[0], spte[1]) === current) return spte;
    this.stats.mmio_gen_mismatch++;
    return undefined;
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
    this.updatePageLimit();
    if (change.kind !== 'add') this.mmu.zapAllFast();
    // kvm_mmu_invalidate_mmio_sptes: the generation as stored, without the address-space bit.
    const gen = (this.vm.memslots.generation % this.codec.genModulus) & ~1;
    if (gen === 0) {
      this.stats.mmio_gen_wrap_zaps++;
      this.mmu.zapAllFast();
    }
    this.enterGuest();
  }

  /** kvm_mmu_change_mmu_pages at memslot commit: the default shadow-page limit follows guest memory. */
  private updatePageLimit(): void {
    const cache = this.shadowMmu?.cache ?? (this.tdpMmu instanceof LegacyTdpMmu ? this.tdpMmu.cache : undefined);
    if (cache === undefined) return;
    if (this.cfg.knobs.nrMmuPages > 0) {
      cache.maxPages = this.cfg.knobs.nrMmuPages;
      return;
    }
    let pages = 0;
    for (const slot of this.vm.memslots.all) pages += slot.npages;
    cache.setDefaultLimit(pages);
  }
}

