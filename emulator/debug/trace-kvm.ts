import type { Vcpu } from '../cpu/vcpu.js';
import { Reg } from '../arch/registers.js';
import { MAX_BLOCK } from '../decode/code-cache.js';
import { HANDLER_FORMS } from '../exec/registry.js';
import { KvmExit, EXIT_NAMES, exitName } from './trace-exit-reasons.js';
import { TRACE_EVENTS, TraceEvent, type EventSelection } from './trace-events.js';
import { altHex64, hex, hex64, hexPad, pferrFlags, traceLine } from './trace-format.js';
import type { TraceSink } from './trace-sink.js';

/**
 * KVM's tracepoints as mmulab's KVM passes them (`--trace-events`). KVM's code (mmu/) holds a
 * `KvmTrace | null` in MmuContext.trace and calls it at each tracepoint with one null check, so
 * with tracing off a site costs one load and one compare. With tracing on, an event that is
 * counted is counted (`--kvm-stat` counts the `kvm` system's events, as kvm_stat does, and kvm_exit
 * by reason); one also selected for writing (and of a selected vCPU) is formatted with the field
 * names and the TP_printk text of KVM's TRACE_EVENT and written to the sink as a `trace-cmd
 * report` line, stamped with the vCPU's modeled time (one cycle is one nanosecond).
 *
 * mmulab's KVM does work in an order close to KVM's but not equal (it emulates an MMIO access
 * inside the fault that found it, enters the guest once per exit); the events follow mmulab's
 * order. A RDMSR's value is known only after the instruction: its kvm_msr line is filled at the
 * vCPU's next exit (or at the end), with the value in EDX:EAX then.
 */

/** union kvm_mmu_page_role's fields that KVM_MMU_PAGE_PRINTK prints. */
export interface TracePageRole {
  readonly level: number;
  readonly has_4_byte_gpte: boolean;
  readonly quadrant: number;
  readonly direct: boolean;
  readonly access: number;
  readonly invalid: boolean;
  readonly efer_nx: boolean;
  readonly ad_disabled: boolean;
}

/** The struct kvm_mmu_page fields KVM_MMU_PAGE_ASSIGN copies (mmu/'s ShadowPage has them). */
export interface TracePage {
  readonly validGen: number;
  readonly gfn: number;
  readonly role: number;
  readonly rootCount: number;
  readonly unsync: boolean;
}

/** What the tracer asks of the VM it traces (built in emulator/cli from mmu/'s codec and roles). */
export interface KvmTraceHost {
  readonly vmx: boolean;
  readonly cpus: number;
  /** kvm_get_running_vcpu: the vCPU KVM is working for. */
  running(): Vcpu;
  unpackRole(word: number): TracePageRole;
  /** An MMIO SPTE's gfn, access bits and generation; null for any other SPTE. */
  mmioSpte(lo: number, hi: number): { gfn: number; access: number; gen: number } | null;
  /** kvm_mmu_set_spte's "(rwxu)" letters for an SPTE (u only where the format has a user bit). */
  spteLetters(lo: number, hi: number): string;
  /** The guest-physical address is an in-kernel device's (LAPIC, IOAPIC): KVM completes the access itself. */
  mmioInKernel(gpa: number): boolean;
}

/** kvm_trace_symbol_mmio: KVM_TRACE_MMIO_READ_UNSATISFIED, _READ, _WRITE. */
const MMIO_TYPE = ['unsatisfied-read', 'read', 'write'];

/** The exits taken by an instruction's handler, with RIP past it (see exitRip). */
const INSTRUCTION_EXITS: ReadonlySet<KvmExit> = new Set([KvmExit.CPUID, KvmExit.HLT, KvmExit.INVLPG, KvmExit.INVPCID,
  KvmExit.HYPERCALL, KvmExit.CR0_WRITE, KvmExit.CR3_WRITE, KvmExit.CR4_WRITE, KvmExit.CR3_READ, KvmExit.IO,
  KvmExit.MSR_READ, KvmExit.MSR_WRITE, KvmExit.RDPMC]);

/** KVM_MMU_PAGE_PRINTK's names of the role's ACC_* bits (exec 1, write 2, user 4). */
const ACCESS = ['---', '--x', 'w--', 'w-x', '-u-', '-ux', 'wu-', 'wux'];

/** VMX's interruption information for a #PF exit: valid, hardware exception, error code, vector 14. */
const PF_INTR_INFO = 0x80000b0e;

export class KvmTrace {
  /** Events seen (selected events of selected vCPUs), by TraceEvent. */
  readonly counts = new Float64Array(TRACE_EVENTS.length);
  /** kvm_exit events by KvmExit. */
  readonly exits = new Float64Array(EXIT_NAMES.length);
  /**
   * Called at every exit, once kvm_exit is counted (with KVM's exits counter, which exitBegin
   * raised) and before the exit's handler works: KVM's counters change only in exits, so a
   * sampler here sees every change (the HTML report's time series, kvm_stat's log and screen).
   */
  onExit: (() => void) | null = null;
  /** Per vCPU: an exit happened since the last kvm_entry (and before the first). */
  private readonly entryDue: Uint8Array;
  /** Per vCPU: the sink sequence number of a RDMSR's kvm_msr line still to fill, or -1; and its MSR. */
  private readonly msrLine: Float64Array;
  private readonly msrIndex: Uint32Array;
  private readonly msrTime: Float64Array;

  /**
   * `counted`: the events to count (kvm_stat); `written`: those of them to write to `sink`, for
   * the vCPUs `cpus` selects (null: all).
   */
  constructor(private readonly host: KvmTraceHost, private readonly counted: EventSelection, private readonly written: EventSelection,
    private readonly cpus: Uint8Array | null, private readonly sink: TraceSink | null) {
    this.entryDue = new Uint8Array(host.cpus).fill(1);
    this.msrLine = new Float64Array(host.cpus).fill(-1);
    this.msrIndex = new Uint32Array(host.cpus);
    this.msrTime = new Float64Array(host.cpus);
  }

  /** The modeled time (cycles) of the vCPU KVM is working for. */
  runningCycles(): number {
    return this.host.running().cycles();
  }

  /** Counts `event` if it is counted; returns the running vCPU if the event is to be written for it, else null. */
  private take(event: TraceEvent): Vcpu | null {
    if (this.counted[event] === 0) return null;
    this.counts[event]++;
    if (this.written[event] === 0 || this.sink === null) return null;
    const cpu = this.host.running();
    if (this.cpus !== null && this.cpus[cpu.index] === 0) return null;
    return cpu;
  }

  private emit(cpu: Vcpu, event: TraceEvent, text: string): void {
    this.sink!.add(cpu.index, cpu.cycles(), traceLine(cpu.index, cpu.cycles(), TRACE_EVENTS[event][1], text));
  }

  /**
   * kvm_exit, then what KVM's handler of that exit traces first: kvm_page_fault for a #PF or an
   * EPT violation / NPF (the address in addrHi:addrLo, the error code or exit qualification in
   * `code`), kvm_cr, kvm_msr, kvm_hypercall.
   */
  exit(reason: KvmExit, addrLo: number, addrHi: number, code: number): void {
    const vmx = this.host.vmx;
    const running = this.host.running();
    this.entryDue[running.index] = 1;
    this.fillMsr(running);
    if (this.counted[TraceEvent.KVM_EXIT] !== 0) this.exits[reason]++;
    const cpu = this.take(TraceEvent.KVM_EXIT);
    this.onExit?.();
    if (cpu !== null) this.emit(cpu, TraceEvent.KVM_EXIT, this.exitText(cpu, reason, hex64(addrLo, addrHi), code, vmx));
    switch (reason) {
      case KvmExit.PAGE_FAULT: case KvmExit.EPT_VIOLATION: this.pageFault(addrLo, addrHi, code); break;
      case KvmExit.EPT_MISCONFIG: if (!vmx) this.pageFault(addrLo, addrHi, code); break;
      case KvmExit.CR0_WRITE: case KvmExit.CR3_WRITE: case KvmExit.CR4_WRITE: case KvmExit.CR3_READ: this.cr(reason); break;
      case KvmExit.MSR_READ: case KvmExit.MSR_WRITE: this.msr(reason === KvmExit.MSR_WRITE); break;
      case KvmExit.HYPERCALL: this.hypercall(); break;
    }
  }

  private exitText(cpu: Vcpu, reason: KvmExit, addr: string, code: number, vmx: boolean): string {
    // What get_exit_info returns: VMX's exit qualification (the address of a #PF, the EPT
    // violation's qualification) and interruption information; SVM's exit_info_1 (error code)
    // and exit_info_2 (the faulting address).
    let info1 = '0', info2 = '0', intrInfo = 0, errorCode = 0;
    const codeHex = hex(code >>> 0);
    if (reason === KvmExit.PAGE_FAULT) {
      if (vmx) { info1 = addr; intrInfo = PF_INTR_INFO; errorCode = code >>> 0; } else { info1 = codeHex; info2 = addr; }
    } else if (reason === KvmExit.EPT_VIOLATION || reason === KvmExit.EPT_MISCONFIG) {
      if (vmx) info1 = reason === KvmExit.EPT_VIOLATION ? codeHex : '0'; else { info1 = codeHex; info2 = addr; }
    }
    return `vcpu ${cpu.index} reason ${exitName(reason, vmx)} rip 0x${exitRip(cpu, reason)} info1 0x${info1.padStart(16, '0')} `
      + `info2 0x${info2.padStart(16, '0')} intr_info 0x${hexPad(intrInfo, 8)} error_code 0x${hexPad(errorCode, 8)}`;
  }

  /** kvm_mmio: one access KVM emulated at `gpa` (a read's value as the device returned it). */
  mmio(write: boolean, len: number, gpa: number, value: number): void {
    if (this.counted[TraceEvent.KVM_MMIO] === 0) return;
    // A read no in-kernel device serves goes to the VMM first (read_exit_mmio: unsatisfied, no
    // value), then completes when the instruction is emulated again with the VMM's data.
    if (!write && !this.host.mmioInKernel(gpa)) this.mmioLine(0, len, gpa, 0);
    this.mmioLine(write ? 2 : 1, len, gpa, value);
  }

  private mmioLine(type: number, len: number, gpa: number, value: number): void {
    const cpu = this.take(TraceEvent.KVM_MMIO);
    if (cpu !== null) this.emit(cpu, TraceEvent.KVM_MMIO, `mmio ${MMIO_TYPE[type]} len ${len} gpa 0x${hex(gpa)} val 0x${hex(value >>> 0)}`);
  }

  /**
   * FNAME(walk_addr_generic)'s tracepoints for KVM's walk of the guest's tables at addrHi:addrLo
   * with access `pferr`: kvm_mmu_pagetable_walk, then kvm_mmu_paging_element for each entry read
   * (levels `top` down to `stop`, PAE's PDPTE register as level 3), then kvm_mmu_walker_error with
   * the guest's error code when the walk failed (`error` >= 0). The entries are those the walk
   * left, with the A/D bits a successful walk set (KVM prints them as read, before the update).
   */
  guestWalk(addrLo: number, addrHi: number, pferr: number, top: number, stop: number, pteLo: Int32Array, pteHi: Int32Array, error: number): void {
    let cpu = this.take(TraceEvent.KVM_MMU_PAGETABLE_WALK);
    if (cpu !== null) this.emit(cpu, TraceEvent.KVM_MMU_PAGETABLE_WALK, `addr ${hex64(addrLo, addrHi)} pferr ${hex(pferr >>> 0)} ${pferrFlags(pferr)}`);
    for (let level = top; level >= stop; level--) {
      cpu = this.take(TraceEvent.KVM_MMU_PAGING_ELEMENT);
      if (cpu !== null) this.emit(cpu, TraceEvent.KVM_MMU_PAGING_ELEMENT, `pte ${hex64(pteLo[level], pteHi[level])} level ${level}`);
    }
    if (error < 0) return;
    cpu = this.take(TraceEvent.KVM_MMU_WALKER_ERROR);
    if (cpu !== null) this.emit(cpu, TraceEvent.KVM_MMU_WALKER_ERROR, `pferr ${hex(error >>> 0)} ${pferrFlags(error)}`);
  }

  /** kvm_entry, once per exit (mmulab's KVM may pass its entry path more than once for one exit). */
  entry(): void {
    const running = this.host.running();
    if (this.entryDue[running.index] === 0) return;
    this.entryDue[running.index] = 0;
    const cpu = this.take(TraceEvent.KVM_ENTRY);
    if (cpu !== null) this.emit(cpu, TraceEvent.KVM_ENTRY, `vcpu ${cpu.index}, rip 0x${hex64(cpu.ripLo, cpu.ripHi)}`);
  }

  private pageFault(addrLo: number, addrHi: number, code: number): void {
    const cpu = this.take(TraceEvent.KVM_PAGE_FAULT);
    if (cpu !== null) this.emit(cpu, TraceEvent.KVM_PAGE_FAULT, `vcpu ${cpu.index} rip 0x${hex64(cpu.ripLo, cpu.ripHi)} address 0x${hex64(addrLo, addrHi).padStart(16, '0')} error_code 0x${hex(code >>> 0)}`);
  }

  private cr(reason: KvmExit): void {
    const cpu = this.take(TraceEvent.KVM_CR);
    if (cpu === null) return;
    const read = reason === KvmExit.CR3_READ;
    const n = reason === KvmExit.CR0_WRITE ? 0 : reason === KvmExit.CR4_WRITE ? 4 : 3;
    const value = n === 0 ? hex(cpu.cr0 >>> 0) : n === 4 ? hex(cpu.cr4 >>> 0) : hex64(cpu.cr3Lo, cpu.cr3Hi);
    this.emit(cpu, TraceEvent.KVM_CR, `cr_${read ? 'read' : 'write'} ${n} = 0x${value}`);
  }

  private msr(write: boolean): void {
    const cpu = this.take(TraceEvent.KVM_MSR);
    if (cpu === null) return;
    const index = cpu.lo[Reg.RCX] >>> 0;
    if (write) {
      this.emit(cpu, TraceEvent.KVM_MSR, `msr_write ${hex(index)} = 0x${hex64(cpu.lo[Reg.RAX], cpu.lo[Reg.RDX])}`);
      return;
    }
    this.msrIndex[cpu.index] = index;
    this.msrLine[cpu.index] = this.sink!.add(cpu.index, cpu.cycles(), null);
    this.msrTime[cpu.index] = cpu.cycles();
  }

  /** The pending RDMSR line of `cpu`, with the value the instruction left in EDX:EAX. */
  private fillMsr(cpu: Vcpu): void {
    const seq = this.msrLine[cpu.index];
    if (seq < 0 || this.sink === null) return;
    const text = `msr_read ${hex(this.msrIndex[cpu.index])} = 0x${hex64(cpu.lo[Reg.RAX], cpu.lo[Reg.RDX])}`;
    this.sink.fill(cpu.index, seq, traceLine(cpu.index, this.msrTime[cpu.index], 'kvm_msr', text));
    this.msrLine[cpu.index] = -1;
  }

  private hypercall(): void {
    const cpu = this.take(TraceEvent.KVM_HYPERCALL);
    if (cpu === null) return;
    const r = (reg: Reg): string => hex64(cpu.lo[reg], cpu.hi[reg]);
    this.emit(cpu, TraceEvent.KVM_HYPERCALL, `nr 0x${r(Reg.RAX)} a0 0x${r(Reg.RBX)} a1 0x${r(Reg.RCX)} a2 0x${r(Reg.RDX)} a3 0x${r(Reg.RSI)}`);
  }

  /** kvm_pio: a port access KVM saw (`write` 1 for OUT), with the value read or written. */
  pio(write: number, port: number, size: number, value: number): void {
    const cpu = this.take(TraceEvent.KVM_PIO);
    if (cpu !== null) this.emit(cpu, TraceEvent.KVM_PIO, `pio_${write !== 0 ? 'write' : 'read'} at 0x${hex(port)} size ${size} count 1 val 0x${hex(value >>> 0)} `);
  }

  /** kvm_inj_virq: an external interrupt injected on entry. */
  injVirq(vector: number): void {
    const cpu = this.take(TraceEvent.KVM_INJ_VIRQ);
    if (cpu !== null) this.emit(cpu, TraceEvent.KVM_INJ_VIRQ, `IRQ 0x${hex(vector)}`);
  }

  /** kvm_mmu_get_page: a shadow page found in the hash (or made: `created`). */
  getPage(sp: TracePage, created: boolean): void {
    const cpu = this.take(TraceEvent.KVM_MMU_GET_PAGE);
    if (cpu !== null) this.emit(cpu, TraceEvent.KVM_MMU_GET_PAGE, `${this.pageText(sp)} ${created ? 'new' : 'existing'}`);
  }

  /** kvm_mmu_prepare_zap_page: a shadow page about to be zapped. */
  prepareZapPage(sp: TracePage): void {
    this.page(TraceEvent.KVM_MMU_PREPARE_ZAP_PAGE, sp);
  }

  /** kvm_mmu_sync_page: an unsync shadow page brought back in line with its guest table. */
  syncPage(sp: TracePage): void {
    this.page(TraceEvent.KVM_MMU_SYNC_PAGE, sp);
  }

  /** kvm_mmu_unsync_page: a shadow page whose guest table may now be written without a trap. */
  unsyncPage(sp: TracePage): void {
    this.page(TraceEvent.KVM_MMU_UNSYNC_PAGE, sp);
  }

  private page(event: TraceEvent, sp: TracePage): void {
    const cpu = this.take(event);
    if (cpu !== null) this.emit(cpu, event, this.pageText(sp));
  }

  private pageText(sp: TracePage): string {
    const r = this.host.unpackRole(sp.role);
    return `sp gen ${sp.validGen} gfn ${hex(sp.gfn)} l${r.level} ${r.has_4_byte_gpte ? 4 : 8}-byte q${r.quadrant}${r.direct ? ' direct' : ''} `
      + `${ACCESS[r.access & 7]}${r.invalid ? ' invalid' : ''} ${r.efer_nx ? '' : '!'}nxe ${r.ad_disabled ? '!' : ''}ad root ${sp.rootCount} ${sp.unsync ? 'unsync' : 'sync'}`;
  }

  /**
   * A leaf SPTE installed at host address `sptep` for `gfn`: kvm_mmu_set_spte, or mark_mmio_spte
   * for an MMIO SPTE (as mmu_set_spte and make_mmio_spte trace them).
   */
  installed(level: number, gfn: number, sptep: number, lo: number, hi: number): void {
    if (this.counted[TraceEvent.MARK_MMIO_SPTE] === 0 && this.counted[TraceEvent.KVM_MMU_SET_SPTE] === 0) return;
    const mmio = this.host.mmioSpte(lo, hi);
    if (mmio !== null) {
      const cpu = this.take(TraceEvent.MARK_MMIO_SPTE);
      if (cpu !== null) this.emit(cpu, TraceEvent.MARK_MMIO_SPTE, `sptep:0x${hex(sptep)} gfn ${hex(mmio.gfn)} access ${hex(mmio.access)} gen ${hex(mmio.gen)}`);
      return;
    }
    const cpu = this.take(TraceEvent.KVM_MMU_SET_SPTE);
    if (cpu !== null) this.emit(cpu, TraceEvent.KVM_MMU_SET_SPTE, `gfn ${hex(gfn)} spte ${hex64(lo, hi)} (${this.host.spteLetters(lo, hi)}) level ${level} at ${hex(sptep)}`);
  }

  /** kvm_mmu_spte_requested: the mapping a fault asks for (pfn of the page at `gfn`, goal level). */
  spteRequested(gfn: number, pfn: number, level: number): void {
    const cpu = this.take(TraceEvent.KVM_MMU_SPTE_REQUESTED);
    if (cpu !== null) this.emit(cpu, TraceEvent.KVM_MMU_SPTE_REQUESTED, `gfn ${hex(gfn)} pfn ${hex(pfn)} level ${level}`);
  }

  /** kvm_tdp_mmu_spte_changed: every SPTE change in the TDP MMU (handle_changed_spte). */
  tdpSpteChanged(gfn: number, level: number, oldLo: number, oldHi: number, lo: number, hi: number): void {
    const cpu = this.take(TraceEvent.KVM_TDP_MMU_SPTE_CHANGED);
    if (cpu !== null) this.emit(cpu, TraceEvent.KVM_TDP_MMU_SPTE_CHANGED, `as id 0 gfn ${hex(gfn)} level ${level} old_spte ${hex64(oldLo, oldHi)} new_spte ${hex64(lo, hi)}`);
  }

  /** kvm_mmu_split_huge_page: a huge SPTE split into a table one level down (errno 0: it succeeded). */
  splitHugePage(gfn: number, lo: number, hi: number, level: number): void {
    const cpu = this.take(TraceEvent.KVM_MMU_SPLIT_HUGE_PAGE);
    if (cpu !== null) this.emit(cpu, TraceEvent.KVM_MMU_SPLIT_HUGE_PAGE, `gfn ${hex(gfn)} spte ${hex64(lo, hi)} level ${level} errno 0`);
  }

  /**
   * fast_page_fault: the lockless fix of a write to a write-protected SPTE (`fixed`), or a
   * spurious one; the TDP access bits (read 1, write 2, fetch 4) become KVM's PFERR flags.
   */
  fastPageFault(addr: number, access: number, sptep: number, oldLo: number, oldHi: number, lo: number, hi: number, fixed: boolean, spurious: boolean): void {
    const cpu = this.take(TraceEvent.FAST_PAGE_FAULT);
    if (cpu !== null) {
      this.emit(cpu, TraceEvent.FAST_PAGE_FAULT, `vcpu ${cpu.index} gva ${hex(addr)} error_code ${pferrFlags(1 | (access & 2) | ((access & 4) << 2))} sptep 0x${hex(sptep)} old ${altHex64(oldLo, oldHi)} new ${hex64(lo, hi)} spurious ${spurious ? 1 : 0} fixed ${fixed ? 1 : 0}`);
    }
  }

  /**
   * handle_mmio_page_fault: an access at addrHi:addrLo (GPA, or GVA under shadow paging) that hit
   * a current MMIO SPTE, the last of `walk` (get_mmio_spte's), and is emulated at once.
   */
  mmioPageFault(addrLo: number, addrHi: number, walk: readonly (readonly [number, number, number])[]): void {
    const cpu = this.take(TraceEvent.HANDLE_MMIO_PAGE_FAULT);
    if (cpu === null) return;
    const last = walk[walk.length - 1];
    const mmio = last === undefined ? null : this.host.mmioSpte(last[0], last[1]);
    this.emit(cpu, TraceEvent.HANDLE_MMIO_PAGE_FAULT, `addr:${hex64(addrLo, addrHi)} gfn ${hex(mmio?.gfn ?? 0)} access ${hex(mmio?.access ?? 0)}`);
  }

  /** kvm_mmu_zap_all_fast: a new MMU generation (every page obsolete); `usedPages` is n_used_mmu_pages. */
  zapAllFast(validGen: number, usedPages: number): void {
    const cpu = this.take(TraceEvent.KVM_MMU_ZAP_ALL_FAST);
    if (cpu !== null) this.emit(cpu, TraceEvent.KVM_MMU_ZAP_ALL_FAST, `kvm-mmu-valid-gen ${validGen} used_pages ${hex(usedPages)}`);
  }

  /** Fills pending RDMSR lines and writes everything out: the run has ended. */
  finish(vcpus: readonly Vcpu[]): void {
    for (const cpu of vcpus) this.fillMsr(cpu);
    this.sink?.flush(true);
  }
}

/**
 * The instruction families whose handlers take instruction exits (emulator/exec): a record of the
 * running block must be one of them, which keeps the search to the right record where blocks of
 * other pages follow in the store.
 */
const EXITING: ReadonlySet<string> = new Set(['cpuid', 'hlt', 'in', 'out', 'string', 'rdmsr', 'wrmsr', 'mov-cr', 'lmsw', 'clts',
  'invlpg', 'invpcid', 'hypercall']);

/**
 * kvm_exit's rip: the guest RIP in the VMCS/VMCB, which for an instruction's exit is that
 * instruction's address (KVM skips it afterwards; kvm_entry then shows the next one). mmulab's
 * handlers run with RIP already past the instruction, so the instruction is found in the running
 * block's decoded records (cpu.blockFirst on: page offsets in order, one of them ending at RIP's
 * offset; record 0 for an instruction run uncached). Other exits come between instructions, at RIP.
 */
function exitRip(cpu: Vcpu, reason: KvmExit): string {
  if (!INSTRUCTION_EXITS.has(reason)) return hex64(cpu.ripLo, cpu.ripHi);
  const d = cpu.dec;
  const end = cpu.ripLo & 0xfff;
  for (let i = cpu.blockFirst; i < d.used && i < cpu.blockFirst + MAX_BLOCK; i++) {
    if (((d.start[i] + d.len[i]) & 0xfff) !== end || !EXITING.has(HANDLER_FORMS[d.handler[i]]?.exec ?? '')) continue;
    const lo = (cpu.ripLo >>> 0) - d.len[i];
    return lo < 0 ? hex64(lo + 4294967296, cpu.ripHi - 1) : hex64(lo, cpu.ripHi);
  }
  return hex64(cpu.ripLo, cpu.ripHi);
}
