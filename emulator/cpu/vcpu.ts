import { Flag } from '../arch/eflags.js';
import { Cr0, Efer } from '../arch/control.js';
import { Seg } from '../arch/registers.js';
import { Vector } from '../arch/vectors.js';
import { SegAttr, SegmentState, TableRegister } from './segment-state.js';
import type { PagingUnit } from '../hw/paging-unit.js';
import { LinearMemory } from '../hw/linear-memory.js';
import type { DecodedStore } from '../decode/store.js';
import type { ControlReg, ExitReason, InvpcidType, MsrValue } from './platform.js';
import type { CpuModel } from './cpu-model.js';
import { LfOp, materializeFlags, loadArithFlags } from '../exec/flags.js';
import { FpuState } from '../exec/fpu-state.js';
import { TscSync } from './tsc-sync.js';

/** Operating mode, which decides how instructions decode (SDM Vol. 3 2.2). */
export const enum CpuMode {
  REAL = 0,
  PROTECTED = 1,
  /** IA-32e compatibility mode: long mode active, CS.L = 0. */
  COMPAT = 2,
  /** 64-bit mode: long mode active, CS.L = 1. */
  LONG64 = 3,
}

/** Pseudo-vector in Vcpu.exc: the instruction stopped the machine instead of faulting. */
export const UNSUPPORTED = 256;

/** Why the run loop must leave the current block after this instruction (bits of Vcpu.stop). */
export const enum Stop {
  /** An exception is pending delivery. */
  EXCEPTION = 1 << 0,
  /** Mode, CS, paging or another decode-relevant state changed. */
  CONTEXT = 1 << 1,
  /** Decoded code on the running page was overwritten. */
  CODE_WRITE = 1 << 2,
  /** An interrupt may have become deliverable (STI, POPF, EOI, device event). */
  EVENT = 1 << 3,
  /** The machine must stop running (debug exit, triple fault, unimplemented instruction). */
  HALT_MACHINE = 1 << 4,
  /** The CPU executed HLT. */
  HLT = 1 << 5,
  /** A device scheduled an event before the end of the running slice: end the slice now. */
  DEADLINE = 1 << 6,
}

/**
 * What a vCPU asks of the machine around it. In `bare` mode the VM answers directly; in the
 * virtualized modes the hypervisor layer stands in between and turns these into counted exits.
 */
export interface Platform {
  ioRead(port: number, size: number): number;
  ioWrite(port: number, size: number, value: number): void;
  /**
   * MSRs owned by the platform (local APIC, TSC deadline, ...). Returns true if handled, with the
   * value in msrValue; false makes RDMSR raise #GP.
   */
  readMsr(cpu: Vcpu, index: number, out: MsrValue): boolean;
  writeMsr(cpu: Vcpu, index: number, lo: number, hi: number): boolean;
  /** VMCALL/VMMCALL. Returns false when there is no hypervisor (the instruction then raises #UD). */
  hypercall(cpu: Vcpu): boolean;
  /** Highest-priority deliverable external interrupt vector, or -1. Acknowledges it when `ack`. */
  pendingInterrupt(cpu: Vcpu, ack: boolean): number;
  /** Writes to CR8 go to the local APIC's TPR. */
  setTpr(cpu: Vcpu, cr8: number): void;
  /** The vCPU executed an instruction a hypervisor may intercept; `detail` is e.g. the MSR index. */
  instructionExit(cpu: Vcpu, reason: ExitReason, detail: number): void;
  /**
   * A control register or EFER took a new value, after the architectural checks (low 32 bits;
   * CR3 as its low half, the whole value is in the vCPU; `flags` may carry CR3_NOFLUSH).
   * Returns true when a hypervisor intercepted the write (a VM exit emulated it, so the
   * instruction never ran natively), false when the hardware completed it alone.
   */
  controlRegisterWritten(cpu: Vcpu, reg: ControlReg, oldValue: number, newValue: number, flags?: number): boolean;
  /** INVLPG of a linear address, after the hardware's own effect (none when intercepted). */
  invlpg(cpu: Vcpu, lo: number, hi: number): void;
  /**
   * INVPCID with a valid descriptor, after the hardware's own effect (none when intercepted).
   * Returns true when a hypervisor intercepted it (a VM exit), false when it ran natively.
   */
  invpcid(cpu: Vcpu, type: InvpcidType, pcid: number, lo: number, hi: number): boolean;
  /**
   * The vCPU took an INIT and its registers now hold their INIT values (KVM: kvm_vcpu_reset with
   * init_event, which resets the MMU context).
   */
  initReceived(cpu: Vcpu): void;
  /** The vCPU left wait-for-SIPI at a STARTUP vector and runs from now on (KVM: it enters the guest). */
  startupReceived(cpu: Vcpu): void;
  /**
   * The hypervisor asked for this vCPU to leave the guest (an IPI from its work on another vCPU,
   * requestForcedExit); called at the vCPU's next instruction boundary.
   */
  forcedExit(cpu: Vcpu): void;
  /**
   * The instruction at RIP raised #UD. A hypervisor that intercepts #UD (KVM does, for its
   * forced-emulation prefix) may handle it instead; true: it did, and the #UD is not delivered.
   * Absent: #UD is delivered as on hardware.
   */
  interceptUd?(cpu: Vcpu): boolean;
}

/**
 * One virtual CPU: architectural state plus the execution bookkeeping the run loop needs.
 *
 * General-purpose registers are pairs of 32-bit halves (`lo`, `hi`); RIP likewise. Arithmetic flags
 * are lazy (see exec/flags.ts): `lfOp` and the operands of the last flag-setting operation stand in
 * for CF/PF/AF/ZF/SF/OF until something reads them. `flags` holds every other RFLAGS bit.
 */
export class Vcpu {
  readonly lo = new Int32Array(16);
  readonly hi = new Int32Array(16);
  /** While a handler runs: the address of the next instruction. Between instructions: RIP. */
  ripLo = 0;
  ripHi = 0;

  // Lazy arithmetic flags.
  lfOp: LfOp = LfOp.EAGER;
  lfSize = 4;
  lfDst = 0;
  lfDstHi = 0;
  lfSrc = 0;
  lfSrcHi = 0;
  lfRes = 0;
  lfResHi = 0;
  /** Carry-in of ADC/SBB, or the CF that INC/DEC preserve. */
  lfAux = 0;
  /** Arithmetic flags when lfOp is EAGER. */
  arith = 0;
  /** Non-arithmetic RFLAGS bits (always with bit 1 set). */
  flags = Flag.FIXED1;

  readonly seg = new SegmentState();
  readonly gdtr = new TableRegister();
  readonly idtr = new TableRegister();
  readonly ldtr = new TableRegister();
  readonly tr = new TableRegister();

  cr0 = Cr0.ET | Cr0.CD | Cr0.NW;
  cr2Lo = 0;
  cr2Hi = 0;
  cr3Lo = 0;
  cr3Hi = 0;
  cr4 = 0;
  /** CR8: the task-priority class (bits 3:0), mirrored to the local APIC's TPR. */
  cr8 = 0;
  efer = 0;
  readonly drLo = new Int32Array(8);
  readonly drHi = new Int32Array(8);
  /** x87 and SSE registers (exec/fpu-state.ts). */
  readonly fpu = new FpuState();
  pkru = 0;
  /** IA32_PKRS (msr.ts): the rights of protection keys on supervisor pages under CR4.PKS. */
  pkrs = 0;
  /** XCR0 (XSETBV): the state components XSAVE manages. Reset gives 1 (x87); INIT leaves it. */
  xcr0 = 1;
  /** IA32_APIC_BASE.EN, kept here by the local APIC because CPUID.1:EDX.APIC reports it. */
  apicEnabled = true;
  cpl = 0;
  mode = CpuMode.REAL;
  /** Default operand/address size of the code segment for decoding: 16, 32 or 64. */
  codeBits = 16;
  /** Stack pointer width in bytes: 2 (SS.B=0), 4, or 8 in 64-bit mode. */
  stackBytes = 2;
  /** Segments whose limit and type must be checked on access (bit per Seg; never in 64-bit mode). */
  segCheck = 0;
  /** High half of the linear address computed by the last effective-address calculation. */
  eaHi = 0;

  // Execution control.
  stop = 0;
  /** Vector of the exception the current instruction raised, or -1. */
  exc = -1;
  excCode = 0;
  excHasCode = false;
  /** Exception delivery kind: fault (RIP = the instruction), trap or software interrupt (RIP = next). */
  excTrap = false;
  /** Software INT n: privilege checks use the gate DPL. */
  excSoft = false;
  /** Address of the trapping instruction (INT n), where RIP goes back if its delivery faults. */
  trapInsnLo = 0;
  trapInsnHi = 0;
  halted = false;
  /**
   * Wait-for-SIPI: after INIT (and from power-on for an application processor) the CPU runs
   * nothing and takes no interrupts until a STARTUP IPI (SDM Vol. 3 9.4.2).
   */
  waitForSipi = false;
  /** An INIT arrived from the APIC; the vCPU takes it at its next instruction boundary. */
  initPending = false;
  /** The vector of a STARTUP IPI that arrived in wait-for-SIPI, or -1. */
  sipiVector = -1;
  /** The hypervisor kicked this vCPU (requestForcedExit): it exits at its next instruction boundary. */
  forcedExitPending = false;
  /** Interrupts are inhibited for one instruction after STI or MOV SS/POP SS. */
  interruptShadow = false;
  /** MOV SS/POP SS ran: its debug traps wait until after the next instruction (debug-exceptions.ts). */
  debugBlocked = false;
  /** DR6 bits of debug traps held by MOV SS/POP SS blocking (and markers: debug-exceptions.ts). */
  dbPending = 0;
  /** The retired-instruction count when dbPending was held: it is only valid for the next instruction. */
  dbHeldAt = -1;
  /** SYSCALL/SYSRET decided their own single-step trap (TF after the instruction). */
  tfAtEnd = false;
  /**
   * A string instruction (MOVS, STOS, INS...) is executing. KVM's emulator does not count these
   * as page-table writes (x86_page_table_writing_insn), which decides how a write to a
   * write-protected guest table is handled under shadow paging.
   */
  stringInsn = false;
  /** The hypervisor is emulating the current instruction; tell the paging unit when it is over. */
  insnEmulated = false;
  nmiPending = false;
  nmiBlocked = false;
  /** Retired instructions. */
  instructions = 0;
  /** Modeled cycles spent halted (HLT until an event). */
  haltedCycles = 0;
  /** Modeled cycles not yet folded into instructions: exit costs and the like (the TSC is derived). */
  extraCycles = 0;
  /**
   * With more than one vCPU, the modeled time at which the running turn ends (the round's end or
   * the next device deadline; the scheduler sets it). The turn's budget is in instructions at one
   * cycle each, so a turn of VM exits, each thousands of cycles, would run far past it; the
   * hypervisor's VM entry ends the slice once the clock reaches it (Stop.DEADLINE).
   */
  turnEnd = Number.POSITIVE_INFINITY;
  tscOffset = 0;
  /** The machine's TSC high-water mark, shared by its vCPUs (tsc-sync.ts; the scheduler sets it). */
  tscSync = new TscSync();
  /** Modeled cycles this vCPU's clock caught up to the TSC high-water mark (SMP only). */
  tscCatchUpCycles = 0;
  /** IA32_TSC_ADJUST: the total of every adjustment made to the TSC by writes. */
  tscAdjust = 0;
  /** Index of the first record of the block being run and the instruction count at its start (for RDTSC). */
  blockFirst = 0;
  blockInstructions = 0;

  readonly mem: LinearMemory;
  readonly paging: PagingUnit;
  readonly dec: DecodedStore;
  /** The machine around the vCPU: the bare platform, or the hypervisor standing in front of it. */
  platform: Platform;
  readonly model: CpuModel;
  /** MSRs kept by the CPU itself (KERNEL_GS_BASE, STAR, PAT, ...), keyed by index, as (lo, hi). */
  readonly msrs = new Map<number, [number, number]>();

  /** The CPU's number in the machine, which is also its initial APIC ID; CPU 0 is the bootstrap processor. */
  readonly index: number;

  constructor(paging: PagingUnit, dec: DecodedStore, platform: Platform, model: CpuModel, index = 0) {
    this.index = index;
    this.paging = paging;
    this.dec = dec;
    this.platform = platform;
    this.model = model;
    this.mem = new LinearMemory(this, paging);
    this.resetSegments();
  }

  /** ApicCpuLink: an INIT from the APIC, taken between instructions (run.ts serviceEvents). */
  receiveInit(): void {
    this.initPending = true;
    // A STARTUP that came before this INIT has been overtaken by it.
    this.sipiVector = -1;
    this.stop |= Stop.EVENT;
  }

  /** ApicCpuLink: a STARTUP IPI, which only a CPU in wait-for-SIPI heeds. */
  receiveStartup(vector: number): void {
    if (!this.waitForSipi && !this.initPending) return;
    this.sipiVector = vector & 0xff;
    this.stop |= Stop.EVENT;
  }

  /** Asks for an exit to the hypervisor at this vCPU's next instruction boundary (kvm_vcpu_kick). */
  requestForcedExit(): void {
    this.forcedExitPending = true;
    this.stop |= Stop.EVENT;
  }

  /** The segment registers at power-on and INIT: real mode, CS = F000 with base FFFF0000. */
  resetSegments(): void {
    for (let s = 0; s < 6; s++) this.seg.set(s, 0, 0, 0, 0xffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED);
    this.seg.set(Seg.CS, 0xf000, 0xffff0000, 0, 0xffff,
      SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED);
  }

  // Flags.

  /** Full RFLAGS value. */
  getFlags(): number {
    return this.flags | materializeFlags(this);
  }

  /** Sets RFLAGS from a value (no privilege filtering: callers apply POPF/IRET rules first). */
  setFlags(v: number): void {
    const before = this.flags;
    loadArithFlags(this, v);
    this.flags = (v & ~(Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.OF)) | Flag.FIXED1;
    if (((before ^ this.flags) & (Flag.IF | Flag.TF | Flag.AC)) !== 0) this.stop |= Stop.EVENT;
  }

  // Exceptions: recorded here, delivered by the run loop once the instruction has been abandoned.

  raise(vector: number, errorCode = -1): void {
    if (this.exc >= 0) return; // the first exception of an instruction wins
    this.exc = vector;
    this.excHasCode = errorCode >= 0;
    this.excCode = errorCode >= 0 ? errorCode : 0;
    this.excTrap = false;
    this.excSoft = false;
    this.stop |= Stop.EXCEPTION;
  }

  /** An NMI arrives (from the local APIC): delivered between instructions unless blocked. */
  raiseNmi(): void {
    this.nmiPending = true;
    this.stop |= Stop.EVENT;
  }

  raiseUd(): void {
    this.raise(Vector.UD);
  }

  raiseGp(errorCode: number): void {
    this.raise(Vector.GP, errorCode);
  }

  raiseSs(errorCode: number): void {
    this.raise(Vector.SS, errorCode);
  }

  /** PagingCpu: the run loop calls paging.endInstructionEmulation after this instruction. */
  emulationPending(): void {
    this.insnEmulated = true;
    this.stop |= Stop.EVENT;
  }

  raisePageFault(lo: number, hi: number, errorCode: number): void {
    if (this.exc >= 0) return;
    this.cr2Lo = lo;
    this.cr2Hi = hi;
    this.raise(Vector.PF, errorCode);
  }

  /** A trap-like event (INT3, INTO, INT n): the saved RIP is the next instruction. */
  raiseTrap(vector: number, software: boolean): void {
    this.raise(vector);
    this.excTrap = true;
    this.excSoft = software;
  }

  // Registers by size (byte registers use the numbering of arch/registers.ts).

  get8(r: number): number {
    return r < 16 ? this.lo[r] & 0xff : (this.lo[r - 16] >>> 8) & 0xff;
  }

  set8(r: number, v: number): void {
    if (r < 16) this.lo[r] = (this.lo[r] & ~0xff) | (v & 0xff);
    else this.lo[r - 16] = (this.lo[r - 16] & ~0xff00) | ((v & 0xff) << 8);
  }

  set16(r: number, v: number): void {
    this.lo[r] = (this.lo[r] & ~0xffff) | (v & 0xffff);
  }

  /** 32-bit register writes zero the upper half, as in 64-bit mode. */
  set32(r: number, v: number): void {
    this.lo[r] = v;
    this.hi[r] = 0;
  }

  /** Reads a register of `size` bytes (1, 2 or 4) as an unsigned-in-range value; 8 returns the low half. */
  getSized(r: number, size: number): number {
    switch (size) {
      case 1: return this.get8(r);
      case 2: return this.lo[r] & 0xffff;
      default: return this.lo[r];
    }
  }

  /** Writes a register of `size` bytes; for 8, writes the low half and `hi` as the high half. */
  setSized(r: number, size: number, v: number, hi = 0): void {
    switch (size) {
      case 1: this.set8(r, v); break;
      case 2: this.set16(r, v); break;
      case 4: this.lo[r] = v; this.hi[r] = 0; break;
      default: this.lo[r] = v; this.hi[r] = hi; break;
    }
  }

  /**
   * A valid operation the model does not implement (a task switch, a call gate, ...): the run ends
   * with a report naming it and the instruction. Distinct from #UD, which a guest can handle.
   */
  unsupported(what: string): void {
    if (this.unsupportedReason === undefined) this.unsupportedReason = what;
    this.stop |= Stop.HALT_MACHINE;
    if (this.exc < 0) this.exc = UNSUPPORTED;
  }

  unsupportedReason: string | undefined;

  /**
   * Instructions of the running block retired before the current one, set by handlers that talk
   * to devices or read the TSC (instructions are counted per block), cleared after each block.
   */
  inBlock = 0;

  /** Modeled cycles so far: one per retired instruction plus modeled costs. Devices use this. */
  cycles(): number {
    return this.instructions + this.inBlock + this.extraCycles;
  }

  /** Time-stamp counter: cycles plus the offset TSC writes leave. */
  tsc(): number {
    return this.cycles() + this.tscOffset;
  }

  /**
   * The TSC as an instruction reads it (RDTSC, RDTSCP, RDMSR IA32_TSC): behind the machine's
   * high-water mark, the clock first catches up to it (tsc-sync.ts), and the slice ends after this
   * instruction so the scheduler fires what fell due in the cycles skipped.
   */
  readTsc(): number {
    const sync = this.tscSync;
    const now = this.cycles();
    if (now >= sync.mark) {
      sync.mark = now;
    } else {
      const behind = sync.mark - now;
      this.extraCycles += behind;
      this.tscCatchUpCycles += behind;
      this.stop |= Stop.DEADLINE;
    }
    return this.cycles() + this.tscOffset;
  }

  get longMode(): boolean {
    return (this.efer & Efer.LMA) !== 0;
  }
}
