import type { MmioDevice } from '../bus.js';
import type { Clock } from '../clock.js';
import type { InterruptController, MsrDevice } from '../bare-platform.js';
import type { MsrValue } from '../../cpu/platform.js';
import { type Vcpu, Stop } from '../../cpu/vcpu.js';
import { ApicTimer, LVT_TIMER_MODE, LVT_TIMER_PERIODIC } from './apic-timer.js';
import { ApicBus, type BusApic, DeliveryMode, type InterruptMessage, MAX_APIC_ID, Shorthand, X2APIC_BROADCAST, XAPIC_BROADCAST } from './apic-bus.js';

export type { InterruptMessage };

/**
 * The local APIC of one vCPU (SDM Vol. 3 chapter 11), in xAPIC mode through the MMIO page at
 * 0xFEE00000 and in x2APIC mode through MSRs 0x800-0x8FF.
 *
 * Identity: the APIC ID is the CPU index given at construction (`options.id`, 0 by default): the
 * xAPIC ID register holds it in bits 31:24 (the guest may rewrite it in xAPIC mode, as KVM
 * allows), the x2APIC ID is it whole and the x2APIC LDR is derived from it (SDM 11.12.10.2).
 * IA32_APIC_BASE has the BSP flag on APIC ID 0 only.
 *
 * Priority (SDM 11.8.3): PPR is TPR when TPR[7:4] >= the class of the highest in-service vector,
 * else that class; the highest requested vector is delivered only if its class is above PPR's
 * class; acceptance moves it from IRR to ISR; EOI retires the highest in-service vector (and, for
 * a level-triggered one, tells the IOAPIC). CR8 is TPR[7:4] (SDM 11.8.6.1): a MOV to CR8 writes
 * TPR[7:4] and clears TPR[3:0]; a TPR write updates the vCPU's CR8 mirror.
 *
 * IPIs: an ICR write (or SELF_IPI in x2APIC mode) goes out on the APIC bus (apic-bus.ts), which
 * picks the destination CPUs (shorthands, physical and logical destinations, lowest priority) and
 * hands each the message. A CPU built without a bus gets one of its own, so the one-CPU machine
 * works unchanged. A fixed or lowest-priority vector below 16 is not sent and sets "send illegal
 * vector" (SDM 11.5.3); received, such a vector sets "receive illegal vector" instead of IRR.
 * Accepted: fixed and lowest-priority set IRR (not while software-disabled), NMI raises the
 * vCPU's NMI, INIT resets this APIC to its power-up state except the APIC ID and IA32_APIC_BASE
 * (SDM 11.4.7.3; x2APIC mode survives, SDM 11.12.5.1) and then tells the CPU (`ApicCpuLink`,
 * which puts an AP into wait-for-SIPI), STARTUP passes its vector to the CPU. Without a link
 * (a CPU that cannot be reset) INIT and STARTUP are accepted and ignored. SMI is ignored (no SMM).
 * Delivery is instant, so the ICR's delivery-status bit always reads 0.
 *
 * The timer (apic-timer.ts) counts at a 1 GHz bus clock in modeled time, in one-shot, periodic
 * or (when CPUID advertises it) TSC-deadline mode.
 *
 * The state at start is the one SeaBIOS leaves (QEMU's -kernel path): on the BSP APIC_BASE
 * 0xFEE00900 (enabled, BSP), SPIV 0x1FF (software-enabled), LINT0 0x8700 (ExtINT), LINT1 0x8400
 * (NMI), every other LVT masked; on an AP, which SeaBIOS leaves alone, APIC_BASE 0xFEE00800 and
 * the power-up state (SPIV 0xFF, every LVT masked).
 *
 * The 8259's INTR output reaches the CPU through LINT0 when its LVT entry is unmasked in ExtINT
 * mode, and straight to the core when the APIC is absent or hardware-disabled (`passesExtInt`;
 * the machine asks the PIC for the vector then).
 *
 * The register page is where IA32_APIC_BASE puts it, per CPU (KVM's apic->base_address); the
 * machine routes an access to the APIC whose CPU makes it when the address is in that APIC's page
 * (pc.ts), and `mmioRead`/`mmioWrite` take offsets into the page.
 *
 * Left out: LINT0/LINT1 in modes other than ExtINT (nothing
 * drives them as fixed or NMI inputs), thermal/performance/CMCI sources, directed EOI, the
 * focus-processor check, KVM's quirk that re-enables LINT0 as ExtINT when the BSP takes an INIT,
 * the remote-read register (reads 0).
 */
export const APIC_DEFAULT_BASE = 0xfee00000;
export const APIC_MMIO_SIZE = 0x1000;

const MSR_APIC_BASE = 0x1b;
const MSR_TSC_DEADLINE = 0x6e0;
const X2APIC_MSR_FIRST = 0x800;
const X2APIC_MSR_LAST = 0x8ff;

const BASE_BSP = 1 << 8;
const BASE_EXTD = 1 << 10;
const BASE_EN = 1 << 11;

/** Version register: version 0x14 (integrated APIC), 6 LVT entries (max LVT index 5), as KVM. */
export const APIC_VERSION = 0x00050014;

/** Register indices: the xAPIC MMIO offset / 16, or the x2APIC MSR - 0x800. */
export const enum ApicReg {
  ID = 0x02, LVR = 0x03, TPR = 0x08, APR = 0x09, PPR = 0x0a, EOI = 0x0b, RRD = 0x0c, LDR = 0x0d,
  DFR = 0x0e, SPIV = 0x0f, ISR = 0x10, TMR = 0x18, IRR = 0x20, ESR = 0x28, ICR = 0x30, ICR2 = 0x31,
  LVTT = 0x32, LVTTHMR = 0x33, LVTPC = 0x34, LVT0 = 0x35, LVT1 = 0x36, LVTERR = 0x37,
  TMICT = 0x38, TMCCT = 0x39, TDCR = 0x3e, SELF_IPI = 0x3f,
}

const enum Lvt { TIMER = 0, THERMAL = 1, PMC = 2, LINT0 = 3, LINT1 = 4, ERROR = 5 }

const LVT_MASKED = 1 << 16;
const LVT_VECTOR = 0xff;
const LVT_DELIVERY_MODE = 0x700;
const LVT_POLARITY = 1 << 13;
const LVT_REMOTE_IRR = 1 << 14;
const LVT_LEVEL = 1 << 15;
const LVT_DELIVERY_STATUS = 1 << 12;

const SPIV_ENABLE = 1 << 8;
/** SPIV bits software can write: vector, APIC software enable, focus processor checking. */
const SPIV_WRITABLE = 0x3ff;

/** Error status bits (SDM 11.5.3). */
export const enum ApicError {
  SEND_ILLEGAL_VECTOR = 1 << 5,
  RECEIVE_ILLEGAL_VECTOR = 1 << 6,
  ILLEGAL_REGISTER = 1 << 7,
}


/** ICR low bits that hold state: vector, delivery mode, destination mode, level, trigger, shorthand. */
const ICR_WRITABLE = 0x000ccfff;
/** x2APIC ICR bits that are reserved (a set one makes WRMSR #GP): 13, 16-17, 20-31. */
const X2APIC_ICR_RESERVED = 0xfff32000;

/** What the local APIC needs of its vCPU (a Vcpu is one). */
export type ApicCpu = Pick<Vcpu, 'model' | 'tscOffset' | 'raiseNmi' | 'stop' | 'cr8' | 'apicEnabled'>;

/**
 * How INIT and STARTUP messages reach the CPU core (the machine implements it on the vCPU).
 * Both are called after the APIC accepted the message; the APIC has already reset itself for INIT.
 */
export interface ApicCpuLink {
  /** INIT: the BSP resets; an AP resets and waits for a STARTUP (wait-for-SIPI). */
  receiveInit(): void;
  /**
   * STARTUP with its vector: a CPU in wait-for-SIPI starts in real mode at CS = vector << 8
   * (base vector << 12), IP = 0; a CPU not waiting for one ignores it (SDM 9.4.4, KVM).
   */
  receiveStartup(vector: number): void;
}

export interface LocalApicOptions {
  /** APIC ID, the CPU index (0-254): 0 is the BSP. Default 0. */
  readonly id?: number;
  /** The APIC bus shared by every CPU's local APIC; default a bus of this APIC alone. */
  readonly bus?: ApicBus;
  /** Where INIT and STARTUP go; without it they are ignored. */
  readonly link?: ApicCpuLink;
}

export class LocalApic implements MmioDevice, MsrDevice, InterruptController, BusApic {
  readonly name = 'local-apic';
  private readonly cpu: ApicCpu;
  readonly bus: ApicBus;
  private readonly link: ApicCpuLink | undefined;
  /** The APIC ID given at construction: the x2APIC ID, and the xAPIC ID after reset. */
  readonly initialId: number;
  /**
   * Called with the vector when a level-triggered interrupt is retired by EOI. When unset, the
   * bus's `onLevelEoi` is called instead (a machine with N CPUs sets that one, through the IOAPIC).
   */
  onLevelEoi: ((vector: number) => void) | undefined;

  // IA32_APIC_BASE as (lo, hi).
  private baseLo: number;
  private baseHi = 0;

  private id: number;
  private tpr = 0;
  private ldr = 0;
  private dfr = 0xffffffff | 0;
  private spiv = 0x1ff;
  private esr = 0;
  /** Errors detected since the last ESR write (the write latches them into `esr`). */
  private esrPending = 0;
  private icrLo = 0;
  private icrHi = 0;
  private readonly isr = new Uint32Array(8);
  private readonly tmr = new Uint32Array(8);
  private readonly irr = new Uint32Array(8);
  private readonly lvt = Uint32Array.of(LVT_MASKED, LVT_MASKED, LVT_MASKED, 0x8700, 0x8400, LVT_MASKED);

  private readonly timer: ApicTimer;
  // CPUID features, fixed for the life of the vCPU.
  private readonly hasApic: boolean;
  private readonly hasX2apic: boolean;
  private readonly hasTscDeadline: boolean;

  constructor(cpu: ApicCpu, clock: Clock, options: LocalApicOptions = {}) {
    const id = options.id ?? 0;
    if (!Number.isInteger(id) || id < 0 || id > MAX_APIC_ID) throw new Error(`APIC ID ${id} is not in 0-${MAX_APIC_ID}`);
    this.cpu = cpu;
    this.initialId = id;
    this.id = id;
    this.link = options.link;
    this.baseLo = (APIC_DEFAULT_BASE | (id === 0 ? BASE_BSP : 0) | BASE_EN) | 0;
    this.hasApic = cpu.model.has('apic');
    this.hasX2apic = cpu.model.has('x2apic');
    this.hasTscDeadline = cpu.model.has('tsc-deadline');
    this.timer = new ApicTimer({
      clock,
      lvt: () => this.lvt[Lvt.TIMER],
      enabled: () => this.enabled,
      hasTscDeadline: this.hasTscDeadline,
      tscOffset: () => cpu.tscOffset,
      expired: () => this.deliverLvt(Lvt.TIMER),
    });
    this.bus = options.bus ?? new ApicBus();
    this.bus.attach(this);
    // SeaBIOS programs the BSP's APIC only: an AP is in the power-up state until the OS's INIT.
    if (id !== 0) this.powerUpState();
  }

  // Modes.

  /** Hardware-enabled: IA32_APIC_BASE.EN (SDM 11.4.3). */
  get enabled(): boolean {
    return this.hasApic && (this.baseLo & BASE_EN) !== 0;
  }

  get x2apicMode(): boolean {
    return this.enabled && (this.baseLo & BASE_EXTD) !== 0;
  }

  /** Software-enabled: SPIV bit 8 (SDM 11.4.7.2). */
  get softwareEnabled(): boolean {
    return (this.spiv & SPIV_ENABLE) !== 0;
  }

  /** Where the register page is (IA32_APIC_BASE[31:12]); -1 above 4 GiB, where no access can reach. */
  get mmioBase(): number {
    return this.baseHi === 0 ? (this.baseLo & ~0xfff) >>> 0 : -1;
  }

  /** The page answers in xAPIC mode only (in x2APIC mode and when disabled it reads all ones). */
  private get mmioActive(): boolean {
    return this.enabled && !this.x2apicMode;
  }

  // Priorities.

  /** Processor priority (SDM 11.8.3.1). */
  private ppr(): number {
    const isrv = highestBit(this.isr);
    const isrClass = isrv < 0 ? 0 : isrv & 0xf0;
    return (this.tpr & 0xf0) >= isrClass ? this.tpr : isrClass;
  }

  /** Arbitration priority, computed as SDM 11.6.2.4 writes it (only lowest-priority delivery uses it). */
  private apr(): number {
    const tprClass = this.tpr >> 4;
    const isrClass = Math.max(highestBit(this.isr), 0) >> 4;
    const irrClass = Math.max(highestBit(this.irr), 0) >> 4;
    if (tprClass >= irrClass && tprClass > isrClass) return this.tpr;
    return Math.max(tprClass & isrClass, irrClass) << 4;
  }

  pendingVector(ack: boolean): number {
    if (!this.enabled) return -1;
    const v = highestBit(this.irr);
    if (v < 0 || (v & 0xf0) <= (this.ppr() & 0xf0)) return -1;
    if (ack) {
      clearBit(this.irr, v);
      setBit(this.isr, v);
    }
    return v;
  }

  /**
   * Whether the 8259's INTR reaches the CPU now: directly when the APIC is absent or
   * hardware-disabled (SDM 10.4.3), through LINT0 when it is unmasked in ExtINT mode.
   */
  get passesExtInt(): boolean {
    if (!this.enabled) return true;
    const lvt = this.lvt[Lvt.LINT0];
    return this.softwareEnabled && (lvt & LVT_MASKED) === 0 && ((lvt >> 8) & 7) === DeliveryMode.EXTINT;
  }

  setTprFromCr8(cr8: number): void {
    this.tpr = (cr8 & 0xf) << 4;
  }

  private writeTpr(value: number): void {
    this.tpr = value & 0xff;
    this.cpu.cr8 = this.tpr >> 4;
    this.cpu.stop |= Stop.EVENT;
  }

  private eoi(): void {
    const v = highestBit(this.isr);
    if (v < 0) return;
    clearBit(this.isr, v);
    if (testBit(this.tmr, v)) (this.onLevelEoi ?? this.bus.onLevelEoi)?.(v);
    this.cpu.stop |= Stop.EVENT;
  }

  // Accepting interrupts.

  /**
   * A fixed interrupt arrives for this CPU: it is recorded in IRR (and TMR for its trigger mode).
   * A software-disabled APIC does not accept fixed interrupts (KVM's reading of SDM 11.4.7.2); a
   * vector below 16 is a receive error instead.
   */
  private accept(vector: number, levelTriggered: boolean): void {
    if (!this.enabled || !this.softwareEnabled) return;
    if (vector < 16) {
      this.error(ApicError.RECEIVE_ILLEGAL_VECTOR);
      return;
    }
    setBit(this.irr, vector);
    if (levelTriggered) setBit(this.tmr, vector); else clearBit(this.tmr, vector);
    this.cpu.stop |= Stop.EVENT;
  }

  private error(bits: number): void {
    this.esrPending |= bits;
    const lvt = this.lvt[Lvt.ERROR];
    if ((lvt & LVT_MASKED) !== 0) return;
    const vector = lvt & LVT_VECTOR;
    // An illegal error vector is itself a receive error, but raises no further interrupt.
    if (vector < 16) this.esrPending |= ApicError.RECEIVE_ILLEGAL_VECTOR;
    else this.accept(vector, false);
  }

  /** Delivers a local interrupt through its LVT entry (timer and error are always fixed). */
  private deliverLvt(which: Lvt): void {
    const lvt = this.lvt[which];
    if ((lvt & LVT_MASKED) !== 0) return;
    const mode = which === Lvt.TIMER || which === Lvt.ERROR ? DeliveryMode.FIXED : (lvt >> 8) & 7;
    if (mode === DeliveryMode.NMI) this.cpu.raiseNmi();
    else if (mode === DeliveryMode.FIXED) this.accept(lvt & LVT_VECTOR, false);
  }

  /**
   * An interrupt message from the IOAPIC: it goes out on this APIC's bus, which delivers it to
   * the CPUs it names (on a one-CPU machine, this one or none).
   */
  receiveMessage(msg: InterruptMessage): void {
    this.bus.deliverMessage(msg);
  }

  /** The APIC bus hands this APIC a message that names it (and that it was chosen for). */
  acceptMessage(mode: number, vector: number, levelTriggered: boolean): void {
    switch (mode) {
      case DeliveryMode.FIXED: case DeliveryMode.LOWEST: this.accept(vector, levelTriggered); break;
      case DeliveryMode.NMI: this.cpu.raiseNmi(); break;
      case DeliveryMode.INIT:
        if (this.link === undefined) break;
        this.powerUpState();
        this.link.receiveInit();
        break;
      case DeliveryMode.STARTUP: this.link?.receiveStartup(vector & 0xff); break;
      default: break; // SMI (no SMM), ExtINT and the reserved mode 3 are dropped, as in KVM
    }
  }

  /**
   * Whether destination `mda` names this APIC (SDM 11.6.2; KVM's kvm_apic_match_physical_addr and
   * kvm_apic_match_logical_addr): it is compared in the format of this APIC's mode.
   */
  matchesDestination(mda: number, logical: boolean): boolean {
    mda >>>= 0;
    const x2 = this.x2apicMode;
    if (mda === (x2 ? X2APIC_BROADCAST : XAPIC_BROADCAST)) return true;
    if (!logical) return mda === (x2 ? this.id : this.id & 0xff);
    if (x2) {
      const ldr = this.x2apicLdr();
      return (mda >>> 16) === (ldr >>> 16) && (mda & ldr & 0xffff) !== 0;
    }
    const ldr = this.ldr >>> 24;
    switch (this.dfr >>> 28) {
      case 0xf: return (mda & ldr) !== 0; // flat model
      case 0x0: return (mda >>> 4) === (ldr >> 4) && (mda & ldr & 0xf) !== 0; // cluster model
      default: return false; // an undefined model names nobody (KVM)
    }
  }

  /** x2APIC logical ID, derived from the x2APIC ID (SDM 11.12.10.2): cluster and bit. */
  private x2apicLdr(): number {
    return (((this.id >>> 4) << 16) | (1 << (this.id & 0xf))) >>> 0;
  }

  /** Sends the IPI the ICR describes; `dest` is the destination field (ICR2 or ICR[63:32]). */
  private sendIpi(lo: number, dest: number): void {
    const mode = (lo >> 8) & 7;
    if ((mode === DeliveryMode.FIXED || mode === DeliveryMode.LOWEST) && (lo & 0xff) < 16) {
      this.error(ApicError.SEND_ILLEGAL_VECTOR);
      return;
    }
    this.bus.sendIpi(this, lo, this.x2apicMode ? dest : dest >>> 24);
  }

  /**
   * The power-up state, which INIT also restores except for the APIC ID and IA32_APIC_BASE
   * (SDM 11.4.7.3, KVM's kvm_lapic_reset with init_event): TPR, LDR, ESR, ICR, IRR, ISR, TMR and
   * the timer cleared, DFR all ones, SPIV 0xFF (software-disabled), every LVT entry masked.
   */
  private powerUpState(): void {
    this.writeTpr(0);
    this.ldr = 0;
    this.dfr = 0xffffffff | 0;
    this.spiv = 0xff;
    this.esr = 0;
    this.esrPending = 0;
    this.icrLo = 0;
    this.icrHi = 0;
    this.isr.fill(0);
    this.tmr.fill(0);
    this.irr.fill(0);
    this.lvt.fill(LVT_MASKED);
    this.timer.reset();
  }

  // Register access shared by both modes. `read` returns undefined for a register that does not
  // exist in the current mode; `write` returns false for one that cannot be written (x2APIC: #GP).

  private read(reg: number): number | undefined {
    const x2 = this.x2apicMode;
    if (reg >= ApicReg.ISR && reg < ApicReg.ISR + 8) return this.isr[reg - ApicReg.ISR];
    if (reg >= ApicReg.TMR && reg < ApicReg.TMR + 8) return this.tmr[reg - ApicReg.TMR];
    if (reg >= ApicReg.IRR && reg < ApicReg.IRR + 8) return this.irr[reg - ApicReg.IRR];
    if (reg >= ApicReg.LVTT && reg <= ApicReg.LVTERR) return this.lvt[reg - ApicReg.LVTT];
    switch (reg) {
      case ApicReg.ID: return x2 ? this.id : this.id << 24;
      case ApicReg.LVR: return APIC_VERSION;
      case ApicReg.TPR: return this.tpr;
      case ApicReg.APR: return x2 ? undefined : this.apr();
      case ApicReg.PPR: return this.ppr();
      case ApicReg.EOI: return x2 ? undefined : 0; // write-only
      case ApicReg.RRD: return x2 ? undefined : 0;
      case ApicReg.LDR: return x2 ? this.x2apicLdr() : this.ldr;
      case ApicReg.DFR: return x2 ? undefined : this.dfr;
      case ApicReg.SPIV: return this.spiv;
      case ApicReg.ESR: return this.esr;
      case ApicReg.ICR: return this.icrLo;
      case ApicReg.ICR2: return x2 ? undefined : this.icrHi;
      case ApicReg.TMICT: return this.timer.initial;
      case ApicReg.TMCCT: return this.timer.currentCount();
      case ApicReg.TDCR: return this.timer.divideConfiguration;
      default: return undefined; // reserved; SELF_IPI is write-only
    }
  }

  /** Bits of an LVT entry software may write (delivery status and remote IRR are read-only). */
  private lvtWritable(which: Lvt): number {
    const base = LVT_VECTOR | LVT_MASKED;
    switch (which) {
      case Lvt.TIMER: return base | (this.hasTscDeadline ? LVT_TIMER_MODE : LVT_TIMER_PERIODIC);
      case Lvt.THERMAL: case Lvt.PMC: return base | LVT_DELIVERY_MODE;
      case Lvt.LINT0: case Lvt.LINT1: return base | LVT_DELIVERY_MODE | LVT_POLARITY | LVT_LEVEL;
      default: return base;
    }
  }

  /**
   * Writes a register. In x2APIC mode a read-only register or a set reserved bit makes the WRMSR
   * fault (SDM 11.12.1.3), so the check comes first; in xAPIC mode such writes are dropped bits.
   */
  private write(reg: number, value: number): boolean {
    const x2 = this.x2apicMode;
    const rsvd = (writable: number): boolean => x2 && (value & ~writable) !== 0;
    if (reg >= ApicReg.LVTT && reg <= ApicReg.LVTERR) {
      const which = (reg - ApicReg.LVTT) as Lvt;
      const writable = this.lvtWritable(which);
      if (rsvd(writable | LVT_DELIVERY_STATUS | LVT_REMOTE_IRR)) return false;
      let v = (value & writable) | (this.lvt[which] & LVT_REMOTE_IRR);
      if (!this.softwareEnabled) v |= LVT_MASKED; // SDM 11.4.7.2: masks cannot be cleared
      if (which === Lvt.TIMER) {
        const before = this.lvt[Lvt.TIMER];
        this.timer.lvtChanging();
        this.lvt[Lvt.TIMER] = v;
        this.timer.lvtChanged(before);
      } else {
        this.lvt[which] = v;
      }
      return true;
    }
    switch (reg) {
      case ApicReg.ID:
        if (x2) return false; // read-only in x2APIC mode
        this.id = value >>> 24;
        return true;
      case ApicReg.TPR:
        if (rsvd(0xff)) return false;
        this.writeTpr(value);
        return true;
      case ApicReg.EOI:
        if (x2 && value !== 0) return false;
        this.eoi();
        return true;
      case ApicReg.LDR:
        if (x2) return false;
        this.ldr = value & 0xff000000;
        return true;
      case ApicReg.DFR:
        if (x2) return false;
        this.dfr = (value | 0x0fffffff) | 0;
        return true;
      case ApicReg.SPIV:
        if (rsvd(SPIV_WRITABLE)) return false;
        this.spiv = value & SPIV_WRITABLE;
        if (!this.softwareEnabled) {
          for (let k = 0; k < this.lvt.length; k++) this.lvt[k] |= LVT_MASKED;
          this.timer.rearm();
        }
        return true;
      case ApicReg.ESR:
        if (x2 && value !== 0) return false;
        this.esr = this.esrPending;
        this.esrPending = 0;
        return true;
      case ApicReg.ICR:
        this.icrLo = value & ICR_WRITABLE;
        this.sendIpi(this.icrLo, this.icrHi);
        return true;
      case ApicReg.ICR2:
        if (x2) return false;
        this.icrHi = value & 0xff000000;
        return true;
      case ApicReg.TMICT:
        this.timer.writeInitialCount(value);
        return true;
      case ApicReg.TDCR:
        if (rsvd(0xb)) return false;
        this.timer.writeDivideConfiguration(value);
        return true;
      case ApicReg.SELF_IPI:
        if (!x2 || rsvd(0xff)) return false;
        this.sendIpi((Shorthand.SELF << 18) | (value & 0xff), 0);
        return true;
      case ApicReg.LVR: case ApicReg.PPR: case ApicReg.TMCCT: case ApicReg.APR: case ApicReg.RRD:
        return !x2; // read-only: xAPIC drops the write, x2APIC faults
      default:
        if (reg >= ApicReg.ISR && reg < ApicReg.IRR + 8) return !x2; // ISR, TMR, IRR: read-only
        return false;
    }
  }

  // xAPIC MMIO. Registers are 32 bits at 16-byte-aligned offsets; narrower reads see the bytes of
  // the register, the other 12 bytes of each slot read 0, and writes other than aligned 32-bit
  // ones are dropped. An access to a reserved register sets ESR "illegal register address".

  mmioRead(offset: number, size: number): number {
    if (!this.mmioActive) return size >= 4 ? -1 : size === 2 ? 0xffff : 0xff;
    const sub = offset & 0xf;
    if (sub >= 4) return 0;
    const v = this.read(offset >> 4);
    if (v === undefined) {
      this.error(ApicError.ILLEGAL_REGISTER);
      return 0;
    }
    const shifted = v >>> (8 * sub);
    return size >= 4 ? shifted | 0 : shifted & (size === 2 ? 0xffff : 0xff);
  }

  mmioWrite(offset: number, size: number, value: number): void {
    if (!this.mmioActive || size !== 4 || (offset & 0xf) !== 0) return;
    if (!this.write(offset >> 4, value | 0)) this.error(ApicError.ILLEGAL_REGISTER);
  }

  // MSRs: IA32_APIC_BASE, IA32_TSC_DEADLINE, and the x2APIC range.

  // With N CPUs every local APIC is on the platform's MSR list: each answers for its own CPU only.

  readMsr(cpu: ApicCpu, index: number, out: MsrValue): boolean {
    if (cpu !== this.cpu) return false;
    if (index === MSR_APIC_BASE) {
      if (!this.hasApic) return false;
      out.lo = this.baseLo;
      out.hi = this.baseHi;
      return true;
    }
    if (index === MSR_TSC_DEADLINE) {
      if (!this.hasTscDeadline) return false;
      [out.lo, out.hi] = this.timer.readDeadline();
      return true;
    }
    if (index < X2APIC_MSR_FIRST || index > X2APIC_MSR_LAST || !this.x2apicMode) return false;
    const reg = index - X2APIC_MSR_FIRST;
    const v = this.read(reg);
    if (v === undefined) return false;
    out.lo = v | 0;
    out.hi = reg === ApicReg.ICR ? this.icrHi : 0;
    return true;
  }

  writeMsr(cpu: ApicCpu, index: number, lo: number, hi: number): boolean {
    if (cpu !== this.cpu) return false;
    if (index === MSR_APIC_BASE) return this.hasApic && this.writeApicBase(lo, hi);
    if (index === MSR_TSC_DEADLINE) {
      if (!this.hasTscDeadline) return false;
      this.timer.writeDeadline(lo, hi);
      return true;
    }
    if (index < X2APIC_MSR_FIRST || index > X2APIC_MSR_LAST || !this.x2apicMode) return false;
    const reg = index - X2APIC_MSR_FIRST;
    if (reg === ApicReg.ICR) {
      // One 64-bit register: destination in the high half (SDM 11.12.9).
      if ((lo & X2APIC_ICR_RESERVED) !== 0) return false;
      this.icrHi = hi;
      return this.write(reg, lo);
    }
    if (hi !== 0) return false; // bits 63:32 are reserved in every other register
    return this.write(reg, lo);
  }

  /**
   * IA32_APIC_BASE (SDM 11.4.4, 11.12.5): bits 0-7 and 9 are reserved, EXTD too without x2APIC
   * support, and so are address bits at or above MAXPHYADDR; BSP is read-only. The legal mode
   * changes are disabled <-> xAPIC, xAPIC -> x2APIC and x2APIC -> disabled; EN=0 with EXTD=1,
   * x2APIC -> xAPIC and disabled -> x2APIC fault. Disabling keeps the register contents (as
   * KVM does; the SDM leaves them undefined) but stops every delivery.
   */
  private writeApicBase(lo: number, hi: number): boolean {
    const maxPhy = this.cpu.model.maxPhyAddr;
    let reserved = 0x2ff;
    if (!this.hasX2apic) reserved |= BASE_EXTD;
    const hiReserved = maxPhy >= 64 ? 0 : ~((1 << (maxPhy - 32)) - 1);
    if ((lo & reserved) !== 0 || (hi & hiReserved) !== 0) return false;
    const en = (lo & BASE_EN) !== 0;
    const extd = (lo & BASE_EXTD) !== 0;
    const wasEnabled = this.enabled;
    const wasX2 = this.x2apicMode;
    if (!en && extd) return false;
    if (wasX2 && en && !extd) return false;
    if (!wasEnabled && en && extd) return false;
    this.baseLo = ((lo & ~BASE_BSP) | (this.baseLo & BASE_BSP)) | 0;
    this.baseHi = hi;
    // The xAPIC ID restarts as the initial APIC ID, and x2APIC mode always uses it (SDM 11.12.5.1).
    if ((en && !wasEnabled) || (extd && !wasX2)) this.id = this.initialId;
    if (en !== wasEnabled || extd !== wasX2) {
      this.timer.rearm();
      this.cpu.stop |= Stop.EVENT;
    }
    // CPUID.1:EDX.APIC follows IA32_APIC_BASE.EN (SDM 11.4.3).
    this.cpu.apicEnabled = en;
    return true;
  }
}

function highestBit(words: Uint32Array): number {
  for (let w = 7; w >= 0; w--) {
    const v = words[w];
    if (v !== 0) return w * 32 + 31 - Math.clz32(v);
  }
  return -1;
}

function setBit(words: Uint32Array, bit: number): void {
  words[bit >> 5] |= 1 << (bit & 31);
}

function clearBit(words: Uint32Array, bit: number): void {
  words[bit >> 5] &= ~(1 << (bit & 31));
}

function testBit(words: Uint32Array, bit: number): boolean {
  return (words[bit >> 5] & (1 << (bit & 31))) !== 0;
}
