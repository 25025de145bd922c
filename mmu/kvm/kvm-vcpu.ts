import type { BarePlatform } from '../../emulator/machine/bare-platform.js';
import { HypervisorError } from '../../emulator/machine/hypervisor.js';
import { ControlReg, ExitReason, type InvpcidType, type MsrValue } from '../../emulator/cpu/platform.js';
import { type Platform, type Vcpu, Stop } from '../../emulator/cpu/vcpu.js';
import { type TdpExit, TdpHardware, type TdpHypervisor, TdpOutcome } from '../../emulator/hw/tdp-hardware.js';
import { TdpFaultKind, TdpFormat, NpfCode } from '../../emulator/hw/tdp-walk.js';
import type { Gfn, Gpa, Hpa } from '../../emulator/arch/address.js';
import { ShadowHardware } from '../../emulator/hw/shadow-hardware.js';
import { Cr4, Msr } from '../../emulator/arch/control.js';
import { Reg } from '../../emulator/arch/registers.js';
import type { WalkContext } from '../../emulator/paging/walker.js';
import { portInKernel, mmioInKernel } from './in-kernel-devices.js';
import { COST, type CostItem } from '../cost.js';
import { Stats } from '../stats.js';
import { Request, RequestSet } from './requests.js';
import { VendorTlb } from './vendor.js';
import type { MmioWalk, Mmu, TdpCapableMmu } from '../mmu.js';
import type { SpteCodec } from '../spte.js';
import { cpuRoleFromRegisters, shadowRootRole, tdpRootRole } from '../role.js';
import { TdpMmu } from '../tdp/tdp-mmu.js';
import { LegacyTdpMmu } from '../legacy/legacy-tdp-mmu.js';
import { ShadowMmu } from '../shadow/shadow-mmu.js';
import type { KvmConfig, SharedMmu } from './kvm-config.js';
import { LockMode, type MmuLock } from './mmu-lock.js';
import { FastPf, markPageDirty } from '../dirty-log.js';
import { PmlBuffer } from './pml-buffer.js';
import type { DirtyLogIoctls } from './dirty-log-ioctls.js';
import { SpteConflict, type SpteRaces } from '../tdp/spte-races.js';
import { PageFault, PfResult } from '../page-fault-record.js';
import { faultinPfn } from '../faultin.js';
import type { MmuContext } from '../mmu.js';
import type { Arena } from '../../emulator/machine/arena.js';
import type { Memslots } from '../../emulator/machine/memslots.js';
import { ShadowExits } from './shadow-exits.js';
import { KvmExit } from '../../emulator/debug/trace-exit-reasons.js';
import type { KvmTrace } from '../../emulator/debug/trace-kvm.js';
import { kvmHypercall } from './hypercalls.js';
import { ControlRegisterExits } from './cr-exits.js';
import { EmulatedWalk } from '../emulated-walk.js';
import { ForcedEmulation } from './forced-emulation.js';

/** MSRs VMX passes through to the guest without an exit (KVM's default MSR bitmap). */
const VMX_PASSTHROUGH_MSRS = new Set<number>([Msr.FS_BASE, Msr.GS_BASE, Msr.KERNEL_GS_BASE, Msr.SYSENTER_CS,
  Msr.SYSENTER_ESP, Msr.SYSENTER_EIP, Msr.TSC, Msr.SPEC_CTRL, Msr.PRED_CMD]);


/**
 * The cycles of the common exit steps, read once: charge() looks its item up by name, a keyed
 * load V8 cannot make fast where one function charges many items, and exits run millions of times.
 * They are added one by one, as charge() did: a vCPU's clock can hold a fraction (an idle step to
 * a device deadline), and (t + a) + b need not equal t + (a + b) there.
 */
const EXIT_ROUND_TRIP_CYCLES = COST.exitRoundTrip;
const EXIT_DISPATCH_CYCLES = COST.exitDispatch;
const SIMPLE_EXIT_CYCLES = COST.simpleExitHandler;
const USERSPACE_EXIT_CYCLES = COST.userspaceExit;

/** Request-servicing rounds before an entry: servicing one request may raise another. */
const MAX_ENTRY_ROUNDS = 8;

/** What a vCPU (kvm-vcpu.ts) asks of its VM (kvm.ts): struct kvm as the vCPU code sees it. */
export interface KvmVm {
  readonly cfg: KvmConfig;
  readonly codec: SpteCodec;
  readonly arena: Arena;
  readonly memslots: Memslots;
  readonly mmuContext: MmuContext;
  readonly shared: SharedMmu;
  /** The TDP level (4 or 5) roots are built with. */
  readonly tdpLevel: number;
  /** The vCPU KVM is working for (kvm_get_running_vcpu): MMU work is charged and counted to it. */
  running: KvmVcpu;
  /** Called at the end of every entry: the checker runs here. */
  afterEntry(): void;
  /** MMIO SPTEs are cleared by walking shadow pages, not judged by generation (lkml (b) before). */
  walksMmioSptes(): boolean;
  /** kvm->mmu_lock. */
  readonly mmuLock: MmuLock;
  /** Recent SPTE changes in modeled time (mmu/tdp/spte-races.ts). */
  readonly races: SpteRaces;
  /** Dirty logging's ioctls and rings (dirty-log-ioctls.ts). */
  readonly dirtyLog: DirtyLogIoctls;
  /** The earliest modeled time any vCPU can still ask for mmu_lock (the slowest vCPU clock). */
  lockHorizon(): number;
  recordViolation(v: string): void;
}

/** KVM_RUN failed: the model found what KVM would refuse to continue with (lkml (e)). */
export class KvmRunError extends HypervisorError {}

/**
 * One vCPU as KVM keeps it (struct kvm_vcpu): its exits and the handlers behind them, its
 * requests and their servicing before each entry in KVM's order, its MMU context (roots, previous
 * roots, roles: one Mmu instance over the VM's shared structures), its hardware TLB and its
 * statistics. Everything VM-wide (memslots, the shadow-page hash or the TDP root list, the
 * checker) is the Kvm's (kvm.ts).
 *
 * Exits are handled synchronously: the vCPU is inside an instruction (or between two) when the
 * hardware reports an exit; KVM's handler runs, services requests, and the vCPU continues, which
 * is what entering the guest again does.
 */
export class KvmVcpu implements Platform, TdpHypervisor {
  readonly stats = new Stats();
  readonly requests = new RequestSet();
  readonly codec: SpteCodec;
  readonly mmu: Mmu;
  readonly cfg: KvmConfig;
  readonly cpu: Vcpu;
  /** TDP hardware (legacy-tdp and tdp modes). */
  readonly hardware: TdpHardware | null = null;
  /** Shadow-paging hardware and KVM's shadow MMU (shadow mode). */
  readonly shadowHardware: ShadowHardware | null = null;
  readonly shadowMmu: ShadowMmu | null = null;
  readonly vendorTlb: VendorTlb;
  readonly tdpMmu: TdpCapableMmu | null = null;
  private readonly shadowExits: ShadowExits | null = null;
  private readonly crExits: ControlRegisterExits;
  /** KVM's emulator walk with the role's cached permissions, and handle_ud's forced emulation. */
  readonly emulatedWalk: EmulatedWalk;
  private readonly forcedEmulation: ForcedEmulation;
  /** The forceResetContextOnEveryExit knob (lkml (c)'s test), read once. */
  private readonly forceReset: boolean;
  private readonly vm: KvmVm;
  private readonly devices: BarePlatform;

  constructor(vm: KvmVm, cpu: Vcpu, devices: BarePlatform) {
    this.vm = vm;
    this.cpu = cpu;
    this.devices = devices;
    const cfg = vm.cfg;
    this.cfg = cfg;
    this.codec = vm.codec;
    const ctx = vm.mmuContext;
    const paging = cpu.paging;
    if (cfg.mode === 'shadow') {
      const mmu = new ShadowMmu(ctx, {
        paging: paging.ctx,
        tables: paging,
        cr3: () => (cpu.cr3Hi >>> 0) * 4294967296 + (cpu.cr3Lo >>> 0),
        pcide: () => (cpu.cr4 & Cr4.PCIDE) !== 0,
      }, vm.shared.cache);
      this.mmu = this.shadowMmu = mmu;
      this.shadowExits = new ShadowExits(this, mmu, cpu);
      this.shadowHardware = new ShadowHardware(vm.arena, cfg.hostPhysBits, this.shadowExits);
      paging.shadow = this.shadowHardware;
    } else {
      this.mmu = this.tdpMmu = cfg.mode === 'tdp' ? new TdpMmu(ctx, vm.shared.tdpRoots) : new LegacyTdpMmu(ctx, vm.shared.cache);
      this.hardware = new TdpHardware(vm.arena, {
        format: cfg.vendor === 'vmx' ? TdpFormat.EPT : TdpFormat.NPT,
        levels: vm.tdpLevel,
        // The usable width: with memory encryption enabled in SYSCFG the bits above it are reserved.
        hostPhysBits: this.codec.effectivePhysBits,
        adEnabled: true,
      }, this);
      paging.tdp = this.hardware;
    }
    this.vendorTlb = new VendorTlb(cfg.vendor, paging, this.stats, cfg.knobs.hvFlushOnFlushCurrent, cfg.mode === 'shadow');
    this.pml = cfg.knobs.pml && cfg.vendor === 'vmx' && cfg.mode !== 'shadow';
    this.crExits = new ControlRegisterExits(this, cpu, this.shadowMmu);
    this.emulatedWalk = new EmulatedWalk(cpu, vm.arena, vm.memslots, cfg.mode !== 'shadow', cfg.knobs.skipCr0WpRefresh);
    this.forcedEmulation = new ForcedEmulation(this, this.emulatedWalk, vm.arena, vm.memslots, cfg.knobs.forceEmulationPrefix);
    this.forceReset = cfg.knobs.forceResetContextOnEveryExit;
  }

  /** The guest's paging state as KVM's software walker reads it. */
  /** The tracepoints (emulator/debug/trace-kvm.ts), or null/undefined when tracing is off. */
  get trace(): KvmTrace | null | undefined { return this.vm.mmuContext.trace; }

  guestPaging(): WalkContext {
    return this.cpu.paging.ctx;
  }

  /** A port access: emulated in KVM, or (not an in-kernel device) by the VMM after a return to userspace. */
  private chargePortExit(port: number): void {
    this.stats.io_exits++;
    this.addCycles(SIMPLE_EXIT_CYCLES);
    if (!portInKernel(port)) {
      this.stats.userspace_exits++;
      this.addCycles(USERSPACE_EXIT_CYCLES);
    }
  }

  /** The emulation of one MMIO access at gpa, in KVM or through the VMM. */
  chargeMmioEmulation(gpa: Gpa): void {
    this.stats.mmio_exits++;
    this.charge('mmioEmulate');
    if (!mmioInKernel(gpa)) {
      this.stats.userspace_exits++;
      this.charge('userspaceExit');
    }
  }

  /**
   * This vCPU's page-fault record (struct kvm_page_fault), refilled by every fault entry (TDP
   * exits here, #PF intercepts in shadow-exits.ts). One is enough: the vCPU handles one fault at a
   * time, synchronously inside the faulting access, and nothing holds the record past the exit.
   */
  readonly fault = new PageFault();

  /**
   * What hva_to_pfn's slow path cost for the host pages the faultin step brought in
   * (fault.hostFaults): allocating and clearing each (every 4 KiB frame of a THP or hugetlbfs
   * page), outside mmu_lock.
   */
  chargeHostFaults(fault: PageFault): void {
    const pages = this.vm.mmuContext.hostPages;
    const n = fault.hostFaults;
    if (pages === undefined || n === 0) return;
    this.stats.host_page_faults += n;
    this.addCycles(n * (COST.hostPageFault + pages.pageFrames * COST.hostPageClear));
  }

  /** Adds the modeled cost of some work (a COST item, `times` over) to the vCPU's time. */
  charge(item: CostItem, times = 1): void {
    this.addCycles(COST[item] * times);
  }

  /** Adds modeled cycles to the vCPU's time and to its count of them. */
  private addCycles(cycles: number): void {
    this.cpu.extraCycles += cycles;
    this.stats.modeled_cycles += cycles;
  }

  /**
   * The common part of every exit: count it, pay the round trip and the dispatch, and drain the
   * PML buffer (vmx_flush_pml_buffer runs on every exit). `reason` and the address and code
   * after it are what the kvm_exit tracepoint reports (tracing off: unused).
   */
  exitBegin(reason: KvmExit, addrLo = 0, addrHi = 0, code = 0): void {
    this.vm.running = this;
    this.stats.exits++;
    this.vm.mmuContext.trace?.exit(reason, addrLo, addrHi, code);
    this.addCycles(EXIT_ROUND_TRIP_CYCLES);
    this.addCycles(EXIT_DISPATCH_CYCLES);
    if (this.pmlBuffer.count > 0) this.drainPml();
  }

  /** Whether this vCPU's PML buffer holds GPAs not yet in the dirty log. */
  pmlPending(): boolean {
    return this.pmlBuffer.count > 0;
  }

  /** vmx_flush_pml_buffer: the logged GPAs into their slots' bitmaps (or this vCPU's dirty ring), on this vCPU's clock. */
  drainPml(): void {
    this.charge('pmlDrainEntry', this.pmlBuffer.drain(this.markPml));
  }

  /** kvm_vcpu_mark_page_dirty for one drained GPA (a slot no longer logged drops it). */
  private readonly markPml = (gfn: Gfn): void => {
    markPageDirty(this.vm.memslots.find(gfn), gfn, this.stats);
  };

  /** Page Modification Logging is on: VMX with EPT and the pml knob (kvm_intel.enable_pml). */
  private readonly pml: boolean;
  /** This vCPU's PML buffer, drained at every exit. */
  private readonly pmlBuffer = new PmlBuffer();

  /**
   * A write the CPU would log in the PML buffer without exiting (a PML-armed 4 KiB SPTE of a
   * logged slot, dirty-log.ts): logged and made writable, charged as the CPU's logging; the
   * 512th entry fills the buffer and exits (EXIT_REASON_PML_FULL). False: a real EPT violation.
   */
  private pmlWrite(fault: PageFault): boolean {
    this.vm.running = this;
    if (this.tdpMmu!.fastPageFault(fault, true) !== FastPf.FIXED) return false;
    // Outside a logged slot the CPU only sets D: no PML entry to count (KVM turns PML off with
    // the last logged slot, and would drop such an entry when draining).
    if (this.vm.memslots.find(fault.gfn)?.dirtyBitmap === undefined) return true;
    this.stats.pml_logged++;
    this.charge('pmlLog');
    if (this.pmlBuffer.log(fault.gfn)) {
      this.exitBegin(KvmExit.PML_FULL);
      this.stats.pml_full_exits++;
      this.enterGuest(true);
    }
    return true;
  }

  /**
   * Takes mmu_lock in `mode` for about `hold` cycles (0: not known before), waiting out
   * conflicting holds of other vCPUs; returns the time it got it. Under the TDP MMU a read hold
   * is a shared-mode operation whose SPTE changes can race with other vCPUs' (spte-races.ts).
   */
  lockMmu(mode: LockMode, hold = 0): number {
    const stats = this.stats;
    const now = this.cpu.cycles();
    const at = this.vm.mmuLock.acquire(mode, now, hold);
    if (mode === LockMode.WRITE) stats.mmu_lock_write++; else stats.mmu_lock_read++;
    if (at > now) {
      const wait = at - now;
      stats.mmu_lock_contended++;
      if (mode === LockMode.WRITE) stats.mmu_lock_wait_write_cycles += wait; else stats.mmu_lock_wait_read_cycles += wait;
      this.cpu.extraCycles += wait;
      stats.modeled_cycles += wait;
    }
    if (mode === LockMode.READ && this.vm.races.active && this.cfg.mode === 'tdp') this.vm.races.begin(this.cpu.index, at, hold);
    return at;
  }

  /** Releases mmu_lock taken at `since` (lockMmu's result): the hold is recorded for the others. */
  unlockMmu(mode: LockMode, since: number): void {
    const horizon = this.vm.lockHorizon();
    this.vm.mmuLock.release(mode, since, this.cpu.cycles(), horizon);
    if (mode === LockMode.READ) this.vm.races.commit(this.cpu.cycles(), horizon);
  }

  /** TdpHypervisor: a mapping another vCPU installed after this vCPU's present moment is not there yet. */
  hiddenMapping(gfn: Gfn): boolean {
    return this.vm.races.active && this.vm.races.hiddenFrom(gfn, this.cpu.index, this.cpu.cycles());
  }

  /** The mode root allocation and freeing take: the TDP MMU's per the tdpRootLock knob, else write. */
  private get rootLockMode(): LockMode {
    return this.cfg.mode === 'tdp' && this.cfg.knobs.tdpRootLock === 'read' ? LockMode.READ : LockMode.WRITE;
  }

  // Platform: what the vCPU asks of the machine, seen through the hypervisor.

  ioRead(port: number, size: number): number {
    this.exitBegin(KvmExit.IO);
    this.chargePortExit(port);
    const v = this.devices.ioRead(port, size);
    this.vm.mmuContext.trace?.pio(0, port, size, v);
    this.enterGuest();
    return v;
  }

  ioWrite(port: number, size: number, value: number): void {
    this.exitBegin(KvmExit.IO);
    this.chargePortExit(port);
    this.vm.mmuContext.trace?.pio(1, port, size, value);
    this.devices.ioWrite(port, size, value);
    this.enterGuest();
  }

  readMsr(cpu: Vcpu, index: number, out: MsrValue): boolean {
    return this.devices.readMsr(cpu, index, out);
  }

  writeMsr(cpu: Vcpu, index: number, lo: number, hi: number): boolean {
    return this.devices.writeMsr(cpu, index, lo, hi);
  }

  /** VMCALL/VMMCALL: KVM's hypercall ABI (hypercalls.ts). */
  hypercall(cpu: Vcpu): boolean {
    this.exitBegin(KvmExit.HYPERCALL);
    this.stats.hypercalls++;
    this.charge('simpleExitHandler');
    kvmHypercall(cpu, this.devices.apicBus);
    this.enterGuest();
    return true;
  }

  /** An interrupt delivered to the guest: the exit that noticed it and the injection on entry. */
  pendingInterrupt(cpu: Vcpu, ack: boolean): number {
    const v = this.devices.pendingInterrupt(cpu, ack);
    if (ack && v >= 0) {
      this.stats.irq_injections++;
      this.exitBegin(KvmExit.INTERRUPT);
      this.vm.mmuContext.trace?.injVirq(v);
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
        this.exitBegin(KvmExit.CPUID);
        this.stats.cpuid_exits++;
        this.addCycles(SIMPLE_EXIT_CYCLES);
        this.enterGuest();
        break;
      case ExitReason.HLT:
        this.exitBegin(KvmExit.HLT);
        this.stats.halt_exits++;
        this.addCycles(SIMPLE_EXIT_CYCLES);
        this.enterGuest();
        break;
      case ExitReason.CR3_READ:
        // Without TDP the guest's CR3 is not the one loaded (VMX sets CR3-store exiting, SVM
        // intercepts CR3 reads) and KVM hands back its copy; with EPT or NPT the read runs alone.
        if (this.shadowExits === null) return;
        this.exitBegin(KvmExit.CR3_READ);
        this.stats.cr_exits++;
        this.stats.cr3_reads++;
        this.charge('simpleExitHandler');
        this.enterGuest();
        break;
      case ExitReason.RDPMC:
        // Intercepted on VMX (RDPMC exiting) and SVM (INTERCEPT_RDPMC); kvm_emulate_rdpmc reads
        // the vPMU's counter or injects #GP, which the instruction raises after this returns.
        this.exitBegin(KvmExit.RDPMC);
        this.addCycles(SIMPLE_EXIT_CYCLES);
        this.enterGuest();
        break;
      case ExitReason.RDMSR: case ExitReason.WRMSR:
        if (this.cfg.vendor === 'vmx' && VMX_PASSTHROUGH_MSRS.has(detail >>> 0)) return;
        this.exitBegin(reason === ExitReason.RDMSR ? KvmExit.MSR_READ : KvmExit.MSR_WRITE);
        this.stats.msr_exits++;
        this.addCycles(SIMPLE_EXIT_CYCLES);
        this.enterGuest();
        break;
    }
  }

  controlRegisterWritten(_cpu: Vcpu, reg: ControlReg, oldValue: number, newValue: number, flags = 0): boolean {
    return this.crExits.written(reg, oldValue, newValue, flags);
  }

  /** INVLPG: intercepted only under shadow paging; with TDP the hardware handles it alone. */
  invlpg(cpu: Vcpu, lo: number, hi: number): void {
    this.shadowExits?.invlpg(cpu, lo, hi, (cpu.cr4 & Cr4.LA57) !== 0);
  }

  /** INVPCID: likewise intercepted only under shadow paging (true: it exited). */
  invpcid(cpu: Vcpu, type: InvpcidType, pcid: number, lo: number, hi: number): boolean {
    if (this.shadowExits === null) return false;
    this.shadowExits.invpcid(cpu, type, pcid, lo, hi);
    return true;
  }

  /** kvm_vcpu_reset(init_event): an INIT resets the vCPU's MMU context. */
  initReceived(cpu: Vcpu): void {
    this.resetContext();
    // KVM takes INIT in kvm_apic_accept_events on its way into the guest. The BSP enters at once
    // and loads a root for the reset state; an AP now waits for SIPI, blocked outside the guest
    // with no root loaded (KVM_MP_STATE_INIT_RECEIVED).
    if (!cpu.waitForSipi) this.enterGuest();
  }

  /** kvm_vcpu_deliver_sipi_vector: the AP leaves wait-for-SIPI and enters the guest. */
  startupReceived(_cpu: Vcpu): void {
    this.enterGuest();
  }

  /** IN_GUEST_MODE: the vCPU would be running guest code now (not halted, not waiting for SIPI). */
  inGuestMode(): boolean {
    return !this.cpu.halted && !this.cpu.waitForSipi;
  }

  /** kvm_vcpu_kick: the IPI that takes this vCPU out of the guest at its next instruction boundary. */
  kick(): void {
    this.cpu.requestForcedExit();
  }

  /**
   * An IPI from KVM's work on another vCPU (kvm_vcpu_kick) forced this vCPU out of the guest:
   * the exit of an external interrupt, after which it serves the requests it was sent.
   */
  forcedExit(_cpu: Vcpu): void {
    this.exitBegin(KvmExit.KICK);
    this.stats.irq_exits++;
    this.enterGuest();
  }

  /** kvm_mmu_reset_context: unload every root, then kvm_init_mmu. */
  resetContext(): void {
    this.vm.running = this;
    this.stats.mmu_reset_context++;
    this.stats.mmu_unload++;
    const mode = this.rootLockMode;
    const since = this.lockMmu(mode);
    this.mmu.unload();
    this.unlockMmu(mode, since);
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
      : tdpRootRole(cpuRole, { tdpLevel: this.hardware.config.levels, adDisabled: false, guestBits: this.cfg.knobs.tdpRootRoleGuestBits });
    this.mmu.init(cpuRole, rootRole);
    this.emulatedWalk.initRole(cpuRole);
  }

  /** A #UD exit: handle_ud (forced-emulation.ts). */
  interceptUd(cpu: Vcpu): boolean {
    return this.forcedEmulation.handleUd(cpu);
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
    const vm = this.vm;
    vm.running = this;
    if (vm.dirtyLog.ringSoftFull(this.cpu.index)) this.dirtyRingFull();
    if (this.forceReset && !afterFault) this.resetContext();
    // Most entries have no request to serve and a root loaded: the rounds would do nothing.
    if (this.requests.bits !== 0 || this.shadowHardware !== null || this.mmu.currentRoot() < 0) this.entryRounds();
    const stats = this.stats;
    const roots = this.mmu.validRoots();
    if (roots > stats.roots_max) stats.roots_max = roots;
    vm.mmuContext.trace?.entry();
    vm.afterEntry();
    // The exit's cost took this vCPU's clock past its turn: the others run before its next
    // instruction, so no vCPU gets ahead of the rest by more than one exit (scheduler.ts).
    if (this.cpu.cycles() >= this.cpu.turnEnd) this.cpu.stop |= Stop.DEADLINE;
  }

  /** Requests serviced and the MMU reloaded until no request is left (servicing may raise one). */
  private entryRounds(): void {
    for (let round = 0; round < MAX_ENTRY_ROUNDS; round++) {
      this.serviceRequests();
      this.reloadMmu();
      if (this.requests.bits === 0) break;
    }
  }

  /**
   * KVM_REQ_DIRTY_RING_SOFT_FULL at entry (kvm_dirty_ring_check_request): the vCPU exits to
   * userspace with KVM_EXIT_DIRTY_RING_FULL, and the VMM's vCPU thread harvests and resets the
   * rings on this vCPU's clock (QEMU's kvm_dirty_ring_reap) before KVM_RUN again.
   */
  private dirtyRingFull(): void {
    this.stats.dirty_ring_full_exits++;
    this.charge('userspaceExit');
    this.vm.dirtyLog.onRingFull?.(this.cpu.index);
    this.vm.running = this;
  }

  private serviceRequests(): void {
    const req = this.requests;
    const stats = this.stats;
    if (req.bits === 0) return;
    if (req.check(Request.FREE_OBSOLETE_ROOTS)) {
      stats.req_free_obsolete_roots++;
      const mode = this.rootLockMode;
      const since = this.lockMmu(mode);
      this.mmu.freeObsoleteRoots();
      this.unlockMmu(mode, since);
    }
    if (req.check(Request.MMU_SYNC)) {
      stats.req_mmu_sync++;
      if (this.shadowMmu !== null) {
        const since = this.lockMmu(LockMode.WRITE);
        this.shadowMmu.syncRoots();
        this.unlockMmu(LockMode.WRITE, since);
      }
    }
    if (req.check(Request.LOAD_MMU_PGD)) {
      stats.req_load_pgd++;
      const root = this.mmu.currentRoot();
      if (root !== -1) this.loadRoot(root);
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
      const root = this.mmu.currentRoot();
      if (root !== -1) this.vendorTlb.flushCurrent(root);
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
    if (current !== -1) {
      // Without EPT, a VM entry in PAE mode reloads the PDPTEs from the table CR3 points at.
      if (this.shadowHardware !== null) this.cpu.paging.loadShadowRoot(current);
      return;
    }
    const mode = this.rootLockMode;
    const since = this.lockMmu(mode);
    const root = this.mmu.load();
    this.unlockMmu(mode, since);
    this.loadRoot(root);
    this.charge('tlbFlush');
    this.vendorTlb.flushCurrent(root);
  }

  private loadRoot(root: Hpa | -1): void {
    if (this.shadowHardware !== null) this.cpu.paging.loadShadowRoot(root);
    else this.cpu.paging.loadTdpRoot(root);
  }

  // TdpHypervisor: what the TDP hardware asks.

  tdpFault(exit: TdpExit): TdpOutcome {
    // The fault entry fills the vCPU's record once; everything after reads the fault from it.
    const fault = this.fault.fromTdpExit(exit);
    const lo = fault.addrLo, hi = fault.addrHi;
    if (this.pml && this.pmlWrite(fault)) return TdpOutcome.RETRY;
    this.exitBegin(exit.kind === TdpFaultKind.EPT_MISCONFIG ? KvmExit.EPT_MISCONFIG : KvmExit.EPT_VIOLATION, lo, hi, exit.code);
    const rsvd = exit.kind === TdpFaultKind.EPT_MISCONFIG || (exit.kind === TdpFaultKind.NPF && (exit.code & NpfCode.RSVD) !== 0);
    if (rsvd && this.checkMmioSpte(this.mmu.mmioWalk(lo, hi), lo, hi) !== undefined) {
      this.stats.mmio_fast_hit++;
      this.trace?.mmioPageFault(lo, hi, this.mmu.mmioWalk(lo, hi));
      this.charge('mmioFastPath');
      this.chargeMmioEmulation(exit.gpa);
      this.enterGuest(true);
      return TdpOutcome.EMULATE_MMIO;
    }
    this.stats.pf_taken++;
    // fast_page_fault first, with no mmu_lock (RCU or READING_SHADOW_PAGE_TABLES): a write to a
    // write-protected SPTE that may be writable (dirty logging) is fixed in place.
    // Not for a mapping another vCPU installed after this vCPU's present moment (hiddenMapping):
    // the lockless walk would have found the SPTE as it was then, not present or frozen, and
    // gone to the slow path (RET_PF_INVALID), whose walk sees the race and, once the SPTE is
    // there for it, marks the mapping seen.
    const fast = this.hiddenMapping(fault.gfn) ? FastPf.INVALID : this.tdpMmu!.fastPageFault(fault);
    if (fast !== FastPf.INVALID) {
      this.stats.pf_fast++;
      if (fast === FastPf.FIXED) this.stats.pf_fixed++; else this.stats.pf_spurious++;
      this.charge('fastPageFault');
      this.enterGuest(true);
      return TdpOutcome.RETRY;
    }
    // kvm_faultin_pfn and the rest outside mmu_lock, then the map under it: kvm_tdp_mmu_page_fault
    // under the read lock, the legacy MMU's direct_page_fault under write (cost.ts mapLocked).
    // The host page fault-in is paid before the lock, where get_user_pages runs in parallel.
    const faultin = faultinPfn(fault, this.vm.mmuContext);
    this.chargeHostFaults(fault);
    this.charge('pageFaultEntry');
    const mode = this.cfg.mode === 'tdp' ? LockMode.READ : LockMode.WRITE;
    const since = this.lockMmu(mode, COST.mapLocked);
    this.charge('mapLocked');
    const installs = this.stats.sptes_installed_leaf;
    // The model takes the lock even when the faultin step already chose emulation (a write to a
    // read-only memslot, MMIO with caching off), as it always has; KVM returns before locking.
    const outcome = faultin === PfResult.CONTINUE ? this.tdpMmu!.pageFault(fault) : TdpOutcome.EMULATE_MMIO;
    this.unlockMmu(mode, since);
    const races = this.vm.races;
    if (races.active) {
      const raced = fault.raced;
      if (raced !== SpteConflict.NONE) {
        // RET_PF_RETRY: back to the guest, which faults again if the access still cannot complete.
        this.stats.tdp_fault_retries++;
        if (raced === SpteConflict.FROZEN) this.stats.tdp_fault_retries_frozen++;
      } else if (this.stats.sptes_installed_leaf > installs) {
        races.installed(fault.gfn, this.cpu.index, this.cpu.cycles());
      } else {
        races.seen(fault.gfn, this.cpu.index);
      }
    }
    if (outcome === TdpOutcome.EMULATE_MMIO) {
      this.stats.pf_emulate++;
      this.chargeMmioEmulation(exit.gpa);
    }
    this.enterGuest(true);
    return outcome;
  }

  /**
   * handle_mmio_page_fault's get_mmio_spte over the walk a reserved-bit fault took: every
   * shadow-present SPTE on it is checked for bits KVM keeps zero (is_shadow_zero_bits_set); one set
   * is KVM's "detect reserved bits on spte" WARN, and KVM_RUN fails with -EINVAL, as Tom hit with
   * b14e28f37e9b's layout, where an MMIO SPTE's generation set the MMU-present bit (lkml (e)). An
   * MMIO SPTE of the current generation is returned (emulate at once); a stale generation, or an
   * SPTE that is neither (KVM's RET_PF_RETRY), returns undefined and the fault path runs.
   */
  checkMmioSpte(walk: MmioWalk, addrLo: number, addrHi: number): [number, number] | undefined {
    if (walk.length === 0) return undefined;
    const codec = this.codec;
    let reserved = false;
    for (const [lo, hi] of walk) {
      if (!codec.isShadowPresent(lo, hi)) break;
      if (codec.shadowZeroBitsSet(lo, hi)) reserved = true;
    }
    if (reserved) {
      const hex = (lo: number, hi: number): string => `0x${((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString(16)}`;
      const v = `get_mmio_spte: detect reserved bits on spte, addr ${hex(addrLo, addrHi)}, dump hierarchy: `
        + walk.map(([lo, hi, level]) => `spte ${hex(lo, hi)} level ${level}`).join(', ');
      this.vm.recordViolation(`1: ${v}`);
      throw new KvmRunError(`KVM_RUN failed: Invalid argument (${v})`);
    }
    const [lo, hi] = walk[walk.length - 1];
    if (!codec.isMmio(lo, hi)) return undefined;
    const memslots = this.vm.memslots;
    // Before lkml (b) an MMIO SPTE lived until a memslot change walked it away.
    if (this.vm.walksMmioSptes()) return [lo, hi];
    const current = memslots.generation % codec.genModulus;
    if (!memslots.updateInProgress && codec.mmioGeneration(lo, hi) === current) return [lo, hi];
    this.stats.mmio_gen_mismatch++;
    return undefined;
  }

  rootIncarnation(root: Hpa): number {
    return this.mmu.rootIncarnation(root);
  }

  staleTlbHit(root: Hpa, gpa: Gpa | -1, host: Hpa): void {
    this.stats.stale_tlb_hits++;
    const what = gpa === -1 ? `host page 0x${host.toString(16)}` : `gpa 0x${gpa.toString(16)} (host 0x${host.toString(16)})`;
    this.vm.recordViolation(`14: TLB hit for ${what} made under an earlier incarnation of root 0x${root.toString(16)}`);
  }
}
