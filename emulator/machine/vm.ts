import { Arena } from './arena.js';
import { HostPages } from './host-pages.js';
import { Memslots } from './memslots.js';
import { Bus } from './bus.js';
import type { Serial16550 } from './devices/serial.js';
import { type PcChipset, type PcDevices, attachPcDevices } from './pc.js';
import { TEST_DEVICE_BASE, TEST_DEVICE_PORTS, TestDevice } from './devices/test-device.js';
import { BarePlatform } from './bare-platform.js';
import { Clock } from './clock.js';
import { type BootInfo, type GuestMemory, loadMultiboot } from './multiboot.js';
import { type PvhBootInfo, loadPvh } from './pvh.js';
import { PagingUnit } from '../hw/paging-unit.js';
import { CodeCache } from '../decode/code-cache.js';
import { CpuModel } from '../cpu/cpu-model.js';
import { Vcpu, Stop } from '../cpu/vcpu.js';
import { RunState, StopReason } from '../cpu/run.js';
import { Scheduler } from './scheduler.js';
import { Tracer } from '../cpu/tracer.js';
import { SegAttr } from '../cpu/segment-state.js';
import { updateMode } from '../cpu/segmentation.js';
import { pagingChanged } from '../cpu/control-regs.js';
import { Cr0 } from '../arch/control.js';
import { Reg, Seg } from '../arch/registers.js';
import { Flag } from '../arch/eflags.js';
import { gfn, gpa as asGpa, hfn } from '../arch/address.js';
import type { Platform } from '../cpu/vcpu.js';
import type { Tlb } from '../hw/tlb.js';
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
  /** vCPUs (QEMU's -smp; 1-64, default 1). CPU 0 is the bootstrap processor, the others wait for SIPI. */
  readonly cpus?: number;
  /** With more than one vCPU: modeled cycles per scheduling round (default 1,000; see scheduler.ts). */
  readonly quantum?: number;
  /** Chipset and PCI devices (QEMU's -M q35, -device edu); default the `pc` machine, empty PCI bus. */
  readonly chipset?: PcChipset;
}

/** Most vCPUs a machine may have (as the QEMU -smp range; xAPIC IDs stay below 0xff). */
export const MAX_CPUS = 64;
export const DEFAULT_QUANTUM = 1000;

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

/**
 * A virtual machine: host arena, memslots, device bus, N vCPUs, and their devices. Each vCPU has
 * its own registers, paging unit (TLB), local APIC and run state; they share memory, the bus and
 * the decoded-code cache, and take turns under the deterministic scheduler (scheduler.ts). As
 * built it is the `bare` configuration: the hardware walks the guest's own page tables. A
 * hypervisor attaches through attachHypervisor (the VMM in vmm/ does that for the virtualized
 * modes).
 */
export class Vm {
  readonly arena: Arena;
  /** Which host pages of the arena the VMM process has faulted in (KVM's prefetch finds only those). */
  readonly hostPages: HostPages;
  readonly memslots = new Memslots();
  readonly bus = new Bus();
  /** The vCPUs, by index (= initial APIC ID). */
  readonly vcpus: readonly Vcpu[];
  /** Each vCPU's platform in bare mode: the bus, and its own local APIC for MSRs and interrupts. */
  readonly platforms: readonly BarePlatform[];
  /** The bootstrap processor (vcpus[0]), its paging unit and platform. */
  readonly cpu: Vcpu;
  readonly paging: PagingUnit;
  readonly platform: BarePlatform;
  readonly code: CodeCache;
  readonly devices: PcDevices;
  readonly serial: Serial16550;
  /** Each vCPU's run-loop state. */
  readonly states: readonly RunState[];
  /** The BSP's run state. */
  readonly state: RunState;
  readonly scheduler: Scheduler;
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
    this.hostPages = new HostPages(this.arena.pages);
    const ramHost = this.arena.reserveContiguous(this.memBytes / 4096);
    this.memslots.add({ id: 0, baseGfn: gfn(0), npages: this.memBytes / 4096, hostHfn: hfn(ramHost), readOnly: false });
    const n = opts.cpus ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > MAX_CPUS) throw new Error(`a machine has 1-${MAX_CPUS} CPUs, not ${n}`);
    const tlbs: Tlb[] = [];
    this.code = new CodeCache(this.arena.bytes, tlbs);
    const model = opts.model ?? new CpuModel();
    const vcpus: Vcpu[] = [];
    const platforms: BarePlatform[] = [];
    for (let i = 0; i < n; i++) {
      const paging = new PagingUnit(this.arena, this.memslots, this.bus);
      const platform = new BarePlatform(this.bus);
      const cpu = new Vcpu(paging, this.code.store, platform, model, i);
      // An application processor waits for a STARTUP IPI from power-on (SDM Vol. 3 9.4.1).
      cpu.waitForSipi = i !== 0;
      paging.attach(cpu, this.code);
      tlbs.push(paging.tlb);
      vcpus.push(cpu);
      platforms.push(platform);
    }
    this.vcpus = vcpus;
    this.platforms = platforms;
    this.cpu = vcpus[0];
    this.paging = vcpus[0].paging;
    this.platform = platforms[0];
    this.states = vcpus.map(() => new RunState());
    this.state = this.states[0];
    this.tracer = opts.traceSize !== undefined && opts.traceSize > 0 ? new Tracer(opts.traceSize) : null;
    // Devices share one clock; it reads the time of the vCPU whose turn it is.
    this.clock = new Clock(() => this.scheduler.running.cycles());
    this.scheduler = new Scheduler(vcpus, this.states, this.code, this.clock, this.tracer, opts.quantum ?? DEFAULT_QUANTUM);
    this.clock.onEarlierDeadline = () => { this.scheduler.running.stop |= Stop.DEADLINE; };
    // Only the vCPU running can have been inside the code it overwrote: the others stopped
    // between blocks and look their code up again when they next run.
    this.code.onInvalidate = () => { this.scheduler.running.stop |= Stop.CODE_WRITE; };
    const out = opts.serialOut ?? ((bytes: Uint8Array) => { process.stdout.write(bytes); });
    this.devices = attachPcDevices(this, out, opts.chipset);
    this.serial = this.devices.serial;
    this.bus.registerPorts(TEST_DEVICE_BASE, TEST_DEVICE_PORTS, new TestDevice(this));
    // Without a hypervisor the TLBs cache host addresses of guest-physical pages, so a new memory
    // map voids them. Under a hypervisor, invalidating what the hardware cached is its job.
    this.memslots.onChange(() => { if (this.hv === undefined) for (const c of this.vcpus) c.paging.flushAll(); });
  }

  /** The vCPU whose turn it is (devices that belong to a CPU, such as its local APIC, ask). */
  get running(): Vcpu {
    return this.scheduler.running;
  }

  /**
   * Puts a hypervisor between the vCPUs and the machine: vCPU i then asks `platforms[i]` (the
   * hypervisor's exit handlers) instead of the devices, and runs begin with `hv.startVcpu`.
   */
  attachHypervisor(hv: Hypervisor, platforms: readonly Platform[]): void {
    if (this.hv !== undefined) throw new Error('a hypervisor is already attached');
    if (platforms.length !== this.vcpus.length) throw new Error(`the hypervisor serves ${platforms.length} vCPUs, the machine has ${this.vcpus.length}`);
    this.hv = hv;
    this.vcpus.forEach((cpu, i) => { cpu.platform = platforms[i]; });
  }

  get hypervisor(): Hypervisor | undefined {
    return this.hv;
  }

  /** Guest-physical RAM access for loaders and tests. */
  readonly guestMemory: GuestMemory = {
    size: 0,
    write: (gpa, bytes) => { this.arena.bytes.set(bytes, this.userspaceStore(gpa, bytes.length)); },
    fill: (gpa, length, value) => { const h = this.userspaceStore(gpa, length); this.arena.bytes.fill(value, h, h + length); },
    writeU32: (gpa, v) => { this.arena.view.setUint32(this.userspaceStore(gpa, 4), v >>> 0, true); },
  };

  /**
   * Writes guest-physical RAM the way a device (or a debugger) would: decoded code on the pages
   * written is invalidated, so the guest sees the new bytes the next time it runs them.
   */
  writePhysical(gpa: number, bytes: Uint8Array): void {
    const host = this.userspaceStore(gpa, bytes.length);
    for (let page = Math.floor(host / 4096); page <= Math.floor((host + bytes.length - 1) / 4096); page++) {
      if (this.code.isCodePage(page)) this.code.invalidateCodePage(page);
    }
    this.arena.bytes.set(bytes, host);
  }

  readPhysical(gpa: number, length: number): Uint8Array {
    const host = this.ramHost(gpa, length);
    return this.arena.bytes.slice(host, host + length);
  }

  /** The host address of a store by userspace (loader, firmware, device model): its host pages fault in. */
  private userspaceStore(gpa: number, length: number): number {
    const host = this.ramHost(gpa, length);
    this.hostPages.written(host, length);
    return host;
  }

  private ramHost(gpa: number, length: number): number {
    if (gpa < 0 || gpa + length > this.memBytes) throw new Error(`guest-physical range 0x${gpa.toString(16)}+${length} is outside RAM`);
    const h = this.memslots.gpaToHpa(asGpa(gpa));
    return h as number;
  }

  /** Loads a multiboot kernel and sets the CPU to the state a multiboot loader hands over. */
  loadMultiboot(file: Uint8Array, name: string, append: string, module?: Uint8Array): BootInfo {
    const mem = { ...this.guestMemory, size: this.memBytes };
    const info = loadMultiboot(file, mem, { name, cmdline: append === '' ? name : `${name} ${append}`, module });
    this.enterProtectedMode(info.entry);
    // Setting the vCPU's registers from outside (KVM_SET_SREGS) resets KVM's MMU context.
    this.hv?.registersSet(0);
    this.cpu.set32(Reg.RAX, 0x2badb002);
    this.cpu.set32(Reg.RBX, info.mbiAddr);
    return info;
  }

  /** Loads a vmlinux by its PVH note and sets the CPU to the state the PVH boot ABI hands over. */
  loadPvh(file: Uint8Array, name: string, cmdline: string, initrd?: Uint8Array): PvhBootInfo {
    const info = loadPvh(file, { ...this.guestMemory, size: this.memBytes }, { name, cmdline, initrd });
    this.enterProtectedMode(info.entry);
    this.hv?.registersSet(0);
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

  /** The debug-exit device asks the run to end with this process exit status (the running vCPU wrote it). */
  requestExit(value: number): void {
    this.exitStatus = value;
    const cpu = this.scheduler.running;
    const state = this.states[cpu.index];
    if (state.stopReason === StopReason.NONE) state.stopReason = StopReason.REQUESTED;
    cpu.stop |= Stop.HALT_MACHINE;
  }

  /** Runs until the guest exits, stops, halts for good, or `maxInsns` instructions retire (all vCPUs together). */
  run(maxInsns = Number.POSITIVE_INFINITY): RunResult {
    const start = performance.now();
    let outcome: RunOutcome;
    let detail = '';
    let stopped = this.cpu;
    try {
      if (this.hv !== undefined) for (let i = 0; i < this.vcpus.length; i++) this.hv.startVcpu(i);
      const end = this.scheduler.run(maxInsns);
      switch (end.kind) {
        case 'insn-limit':
          outcome = 'insn-limit';
          detail = `instruction limit of ${maxInsns} reached`;
          // Idle steps and event deliveries with no instruction between count toward the limit (scheduler.ts).
          if (this.scheduler.charged() > 0) detail += ` (${this.scheduler.charged()} of them idle steps or event deliveries with no instruction between)`;
          break;
        case 'halted':
          outcome = 'halted';
          detail = end.detail;
          break;
        case 'paused':
          // The debugger that paused the run (scheduler.debug) knows why and calls run again to
          // go on; the outcome is never reported as such.
          outcome = 'insn-limit';
          detail = `paused by the debugger after CPU ${end.cpu}`;
          break;
        case 'stopped': {
          stopped = this.vcpus[end.cpu];
          const state = this.states[end.cpu];
          const who = this.vcpus.length > 1 ? `CPU ${end.cpu}: ` : '';
          switch (state.stopReason) {
            case StopReason.REQUESTED: outcome = 'exit'; break;
            case StopReason.TRIPLE_FAULT:
              outcome = 'triple-fault';
              detail = `${who}triple fault (exceptions ${state.tripleFaultVectors.join(', ')})`;
              break;
            default: outcome = 'unsupported'; detail = who + state.detail; break;
          }
          break;
        }
      }
    } catch (err) {
      if (!(err instanceof HypervisorError)) throw err;
      outcome = 'kvm-error';
      detail = err.message;
    }
    this.serial.flush();
    const result: RunResult = { outcome, exitStatus: this.exitStatus, instructions: this.scheduler.instructions(), wallMs: performance.now() - start, detail };
    if (outcome === 'unsupported' || outcome === 'triple-fault') return { ...result, ...this.instructionAtRip(stopped) };
    return result;
  }

  /** Linear address and up to 15 bytes at RIP, read without side effects (for stop reports). */
  instructionAtRip(cpu: Vcpu = this.cpu): { stopAddress: bigint; stopBytes: Uint8Array; stopBits: number } {
    let lo = cpu.ripLo;
    let hi = cpu.ripHi;
    if (cpu.codeBits !== 64) { lo = (lo + cpu.seg.baseLo[Seg.CS]) | 0; hi = 0; }
    const bytes: number[] = [];
    for (let k = 0; k < 15; k++) {
      const blo = (lo + k) | 0;
      const bhi = (lo >>> 0) + k > 0xffffffff ? hi + 1 : hi;
      const gpa = cpu.paging.probe(blo, bhi);
      const host = gpa < 0 ? -1 : this.memslots.gpaToHpa(asGpa(gpa));
      if (host < 0) break;
      bytes.push(this.arena.bytes[host]);
    }
    return { stopAddress: (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0), stopBytes: Uint8Array.from(bytes), stopBits: cpu.codeBits };
  }
}
