import { Arena } from './arena.js';
import { Memslots } from './memslots.js';
import { Bus } from './bus.js';
import type { Serial16550 } from './devices/serial.js';
import { type PcDevices, attachPcDevices } from './pc.js';
import { TEST_DEVICE_BASE, TEST_DEVICE_PORTS, TestDevice } from './devices/test-device.js';
import { BarePlatform } from './bare-platform.js';
import { Clock } from './clock.js';
import { type BootInfo, type GuestMemory, loadMultiboot } from './multiboot.js';
import { type PvhBootInfo, loadPvh } from './pvh.js';
import { PagingUnit } from '../hw/paging-unit.js';
import { CodeCache } from '../decode/code-cache.js';
import { CpuModel } from '../cpu/cpu-model.js';
import { Vcpu, Stop } from '../cpu/vcpu.js';
import { RunState, SliceEnd, StopReason, runSlice } from '../cpu/run.js';
import { Tracer } from '../cpu/tracer.js';
import { SegAttr } from '../cpu/segment-state.js';
import { updateMode } from '../cpu/segmentation.js';
import { pagingChanged } from '../cpu/control-regs.js';
import { Cr0 } from '../arch/control.js';
import { Reg, Seg } from '../arch/registers.js';
import { Flag } from '../arch/eflags.js';
import { gfn, hfn } from '../arch/address.js';
import type { Platform } from '../cpu/vcpu.js';
import { type Hypervisor, HypervisorError } from './hypervisor.js';

export interface VmOptions {
  /** Guest RAM in bytes (default 128 MiB, QEMU's default). */
  readonly memBytes?: number;
  readonly model?: CpuModel;
  /** Receives guest serial output. */
  readonly serialOut?: (bytes: Uint8Array) => void;
  /** Keep the last N instructions for a trace (0: no tracing). */
  readonly traceSize?: number;
  /**
   * Host memory beyond guest RAM (default 16 MiB): memslots added at run time, and the page-table
   * pages a hypervisor builds.
   */
  readonly hostPoolBytes?: number;
}

export type RunOutcome = 'exit' | 'triple-fault' | 'insn-limit' | 'unsupported' | 'halted' | 'kvm-error';

export interface RunResult {
  readonly outcome: RunOutcome;
  /** The exit status the guest asked for through the debug-exit port: (value << 1) | 1. */
  readonly exitStatus: number | undefined;
  readonly instructions: number;
  readonly wallMs: number;
  /** Human-readable cause for outcomes other than 'exit'. */
  readonly detail: string;
  /** For 'unsupported' and 'triple-fault': the linear address and bytes of the instruction at RIP. */
  readonly stopAddress?: bigint;
  readonly stopBytes?: Uint8Array;
  /** Code size (16, 32, 64) at the stop, for disassembling stopBytes. */
  readonly stopBits?: number;
}

/** Instructions per run-loop slice between checks of the machine's own limits. */
const SLICE = 1 << 20;

/**
 * A virtual machine: host arena, memslots, device bus, one vCPU, and its devices. As built it is
 * the `bare` configuration: the hardware walks the guest's own page tables. A hypervisor attaches
 * through attachHypervisor (the VMM in vmm/ does that for the virtualized modes).
 */
export class Vm {
  readonly arena: Arena;
  readonly memslots = new Memslots();
  readonly bus = new Bus();
  readonly paging: PagingUnit;
  readonly code: CodeCache;
  readonly cpu: Vcpu;
  readonly platform: BarePlatform;
  readonly devices: PcDevices;
  readonly serial: Serial16550;
  readonly state = new RunState();
  readonly tracer: Tracer | null;
  readonly memBytes: number;
  private hv: Hypervisor | undefined;
  /** Modeled time: devices schedule their events on it. */
  readonly clock: Clock;
  private exitStatus: number | undefined;

  constructor(opts: VmOptions = {}) {
    this.memBytes = opts.memBytes ?? 128 << 20;
    if (this.memBytes % 4096 !== 0 || this.memBytes < 2 << 20) throw new Error('guest memory must be a multiple of 4 KiB and at least 2 MiB');
    const pool = opts.hostPoolBytes ?? 16 << 20;
    this.arena = new Arena(this.memBytes + pool);
    const ramHost = this.arena.reserveContiguous(this.memBytes / 4096);
    this.memslots.add({ id: 0, baseGfn: gfn(0), npages: this.memBytes / 4096, hostHfn: hfn(ramHost), readOnly: false });
    this.paging = new PagingUnit(this.arena, this.memslots, this.bus);
    this.code = new CodeCache(this.arena.bytes, this.paging.tlb);
    this.platform = new BarePlatform(this.bus);
    this.cpu = new Vcpu(this.paging, this.code.store, this.platform, opts.model ?? new CpuModel());
    this.paging.attach(this.cpu, this.code);
    const cpu = this.cpu;
    this.clock = new Clock(() => cpu.cycles());
    this.clock.onEarlierDeadline = () => { cpu.stop |= Stop.DEADLINE; };
    this.code.onInvalidate = () => { this.cpu.stop |= Stop.CODE_WRITE; };
    const out = opts.serialOut ?? ((bytes: Uint8Array) => { process.stdout.write(bytes); });
    this.devices = attachPcDevices(this, out);
    this.serial = this.devices.serial;
    this.bus.registerPorts(TEST_DEVICE_BASE, TEST_DEVICE_PORTS, new TestDevice(this));
    this.tracer = opts.traceSize !== undefined && opts.traceSize > 0 ? new Tracer(opts.traceSize) : null;
    // Without a hypervisor the TLB caches host addresses of guest-physical pages, so a new memory
    // map voids them. Under a hypervisor, invalidating what the hardware cached is its job.
    this.memslots.onChange(() => { if (this.hv === undefined) this.paging.flushAll(); });
  }

  /**
   * Puts a hypervisor between the vCPU and the machine: the vCPU then asks `platform` (the
   * hypervisor's exit handlers) instead of the devices, and runs begin with `hv.enterGuest`.
   */
  attachHypervisor(hv: Hypervisor, platform: Platform): void {
    if (this.hv !== undefined) throw new Error('a hypervisor is already attached');
    this.hv = hv;
    this.cpu.platform = platform;
  }

  get hypervisor(): Hypervisor | undefined {
    return this.hv;
  }

  /** Guest-physical RAM access for loaders and tests. */
  readonly guestMemory: GuestMemory = {
    size: 0,
    write: (gpa, bytes) => { this.arena.bytes.set(bytes, this.ramHost(gpa, bytes.length)); },
    fill: (gpa, length, value) => { const h = this.ramHost(gpa, length); this.arena.bytes.fill(value, h, h + length); },
    writeU32: (gpa, v) => { this.arena.view.setUint32(this.ramHost(gpa, 4), v >>> 0, true); },
  };

  /**
   * Writes guest-physical RAM the way a device (or a debugger) would: decoded code on the pages
   * written is invalidated, so the guest sees the new bytes the next time it runs them.
   */
  writePhysical(gpa: number, bytes: Uint8Array): void {
    const host = this.ramHost(gpa, bytes.length);
    for (let page = Math.floor(host / 4096); page <= Math.floor((host + bytes.length - 1) / 4096); page++) {
      if (this.code.isCodePage(page)) this.code.invalidateCodePage(page);
    }
    this.arena.bytes.set(bytes, host);
  }

  readPhysical(gpa: number, length: number): Uint8Array {
    const host = this.ramHost(gpa, length);
    return this.arena.bytes.slice(host, host + length);
  }

  private ramHost(gpa: number, length: number): number {
    if (gpa < 0 || gpa + length > this.memBytes) throw new Error(`guest-physical range 0x${gpa.toString(16)}+${length} is outside RAM`);
    const h = this.memslots.gpaToHpa(gpa);
    return h as number;
  }

  /** Loads a multiboot kernel and sets the CPU to the state a multiboot loader hands over. */
  loadMultiboot(file: Uint8Array, name: string, append: string, module?: Uint8Array): BootInfo {
    const mem = { ...this.guestMemory, size: this.memBytes };
    const info = loadMultiboot(file, mem, { name, cmdline: append === '' ? name : `${name} ${append}`, module });
    this.enterProtectedMode(info.entry);
    // Setting the vCPU's registers from outside (KVM_SET_SREGS) resets KVM's MMU context.
    this.hv?.registersSet();
    this.cpu.set32(Reg.RAX, 0x2badb002);
    this.cpu.set32(Reg.RBX, info.mbiAddr);
    return info;
  }

  /** Loads a vmlinux by its PVH note and sets the CPU to the state the PVH boot ABI hands over. */
  loadPvh(file: Uint8Array, name: string, cmdline: string, initrd?: Uint8Array): PvhBootInfo {
    const info = loadPvh(file, { ...this.guestMemory, size: this.memBytes }, { name, cmdline, initrd });
    this.enterProtectedMode(info.entry);
    this.hv?.registersSet();
    this.cpu.set32(Reg.RBX, info.startInfoAddr);
    return info;
  }

  /** Flat 32-bit protected mode, paging off: CS = 0x08, data segments = 0x10 (the multiboot contract). */
  enterProtectedMode(entry: number): void {
    const cpu = this.cpu;
    const code = SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G;
    const data = SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G;
    cpu.cr0 = Cr0.PE | Cr0.ET;
    cpu.seg.set(Seg.CS, 0x08, 0, 0, 0xffffffff, code);
    for (const s of [Seg.DS, Seg.ES, Seg.FS, Seg.GS, Seg.SS]) cpu.seg.set(s, 0x10, 0, 0, 0xffffffff, data);
    cpu.setFlags(Flag.FIXED1);
    cpu.ripLo = entry | 0;
    cpu.ripHi = 0;
    updateMode(cpu);
    pagingChanged(cpu);
    cpu.stop = 0;
  }

  /** The debug-exit device asks the run to end with this process exit status. */
  requestExit(value: number): void {
    this.exitStatus = value;
    if (this.state.stopReason === StopReason.NONE) this.state.stopReason = StopReason.REQUESTED;
    this.cpu.stop |= Stop.HALT_MACHINE;
  }

  /** Runs until the guest exits, stops, halts for good, or `maxInsns` instructions retire. */
  run(maxInsns = Number.POSITIVE_INFINITY): RunResult {
    const start = performance.now();
    const cpu = this.cpu;
    let outcome: RunOutcome | undefined;
    let detail = '';
    const clock = this.clock;
    try {
      this.hv?.enterGuest();
      outcome = this.runLoop(maxInsns, clock);
    } catch (err) {
      if (!(err instanceof HypervisorError)) throw err;
      outcome = 'kvm-error';
      detail = err.message;
    }
    if (outcome !== 'kvm-error') detail = this.stopDetail;
    this.serial.flush();
    const result: RunResult = { outcome, exitStatus: this.exitStatus, instructions: cpu.instructions, wallMs: performance.now() - start, detail };
    if (outcome === 'unsupported' || outcome === 'triple-fault') return { ...result, ...this.instructionAtRip() };
    return result;
  }

  private stopDetail = '';

  private runLoop(maxInsns: number, clock: Clock): RunOutcome {
    const cpu = this.cpu;
    let outcome: RunOutcome | undefined;
    let detail = '';
    while (outcome === undefined) {
      clock.fireDue();
      const left = maxInsns - cpu.instructions;
      if (left <= 0) { outcome = 'insn-limit'; detail = `instruction limit of ${maxInsns} reached`; break; }
      // Run no further than the next device deadline, so timers fire on time.
      const untilEvent = Math.max(1, Math.ceil(clock.nextDeadline() - clock.now()));
      const end = runSlice(cpu, this.code, this.state, Math.min(SLICE, left, untilEvent), this.tracer);
      if (end === SliceEnd.STOPPED) {
        switch (this.state.stopReason) {
          case StopReason.REQUESTED: outcome = 'exit'; break;
          case StopReason.TRIPLE_FAULT:
            outcome = 'triple-fault';
            detail = `triple fault (exceptions ${this.state.tripleFaultVectors.join(', ')})`;
            break;
          default: outcome = 'unsupported'; detail = this.state.detail; break;
        }
      } else if (end === SliceEnd.HALTED) {
        // Idle until the next device event; with none pending, nothing can ever wake the CPU.
        // With IF=0 only an NMI could wake it, and no device here raises one on a timer: a
        // periodic timer behind CLI; HLT would otherwise skip idle time forever.
        const deadline = clock.nextDeadline();
        if (deadline !== Number.POSITIVE_INFINITY && (cpu.flags & Flag.IF) !== 0) {
          const idle = Math.max(0, deadline - clock.now());
          cpu.extraCycles += idle;
          cpu.haltedCycles += idle;
          // Still halted: the next slice must look for an interrupt before running anything.
          cpu.stop |= Stop.EVENT;
          continue;
        }
        outcome = 'halted';
        detail = (cpu.flags & Flag.IF) !== 0 ? 'HLT with interrupts enabled but no interrupt source' : 'HLT with interrupts disabled';
      }
    }
    this.stopDetail = detail;
    return outcome;
  }

  /** Linear address and up to 15 bytes at RIP, read without side effects (for stop reports). */
  instructionAtRip(): { stopAddress: bigint; stopBytes: Uint8Array; stopBits: number } {
    const cpu = this.cpu;
    let lo = cpu.ripLo;
    let hi = cpu.ripHi;
    if (cpu.codeBits !== 64) { lo = (lo + cpu.seg.baseLo[Seg.CS]) | 0; hi = 0; }
    const bytes: number[] = [];
    for (let k = 0; k < 15; k++) {
      const blo = (lo + k) | 0;
      const bhi = (lo >>> 0) + k > 0xffffffff ? hi + 1 : hi;
      const gpa = this.paging.probe(blo, bhi);
      const host = gpa < 0 ? -1 : this.memslots.gpaToHpa(gpa);
      if (host < 0) break;
      bytes.push(this.arena.bytes[host]);
    }
    return { stopAddress: (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0), stopBytes: Uint8Array.from(bytes), stopBits: cpu.codeBits };
  }
}
