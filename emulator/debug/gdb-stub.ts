import type { Vm } from '../machine/vm.js';
import type { Vcpu } from '../cpu/vcpu.js';
import { DebugMemory } from './gdb-memory.js';
import { type GdbArch, RegisterFile } from './gdb-registers.js';
import { DebugTarget, type StopInfo } from './gdb-target.js';
import { fromHex, parseHexBig, textToHex, toHex, unescapeBinary } from './gdb-packet.js';

/**
 * The command side of the gdb remote protocol: one packet in, what to answer and what the machine
 * should do next out. Sockets and the run loop are gdb-server.ts's; this file only interprets.
 * Threads are vCPUs: thread id N is vCPU N-1 (gdb reserves 0 for "any" and -1 for "all").
 */

/** What the server does after a packet. */
export type StubAction =
  | { readonly kind: 'reply'; readonly payload: string }
  /** Run the machine (stepping `step`, or -1 for continue) and answer with a stop reply later. */
  | { readonly kind: 'resume'; readonly step: number }
  | { readonly kind: 'detach' }
  | { readonly kind: 'kill' };

/** A `monitor` command line: its output (ending in a newline), or undefined for an unknown command. */
export type MonitorHandler = (line: string, cpu: Vcpu) => string | undefined;

const reply = (payload: string): StubAction => ({ kind: 'reply', payload });
const OK = reply('OK');
const UNSUPPORTED = reply('');
/** Errors by errno, as gdbserver sends them: EINVAL (bad packet), EFAULT (memory), ENOENT (thread). */
const E_INVAL = reply('E16');
const E_FAULT = reply('E0e');
const E_NOENT = reply('E02');

/** Largest packet we accept and send (hex of a 4 KiB memory read fits). */
export const PACKET_SIZE = 0x4000;

export class GdbStub {
  readonly vm: Vm;
  readonly regs: RegisterFile;
  readonly memory: DebugMemory;
  readonly target: DebugTarget;
  private readonly monitor: MonitorHandler;
  /** Thread for register and memory packets (Hg) and for resuming (Hc), as vCPU indexes. */
  private gThread = 0;
  private cThread = 0;
  /** The vCPU the last stop reply named. */
  private stopCpu = 0;
  /** gdb understands swbreak/hwbreak stop reasons (qSupported). */
  private stopReasons = false;
  /** The acknowledgements are off once gdb asked for QStartNoAckMode. */
  noAck = false;

  constructor(vm: Vm, arch: GdbArch, monitor: MonitorHandler) {
    this.vm = vm;
    this.regs = new RegisterFile(arch);
    this.memory = new DebugMemory(vm);
    this.target = new DebugTarget(vm.vcpus, this.memory);
    this.monitor = monitor;
  }

  /** The stop reply for `stop` (T packet with the thread and, where gdb asked for them, the reason). */
  stopReply(stop: StopInfo): string {
    this.stopCpu = stop.cpu;
    this.gThread = stop.cpu;
    this.cThread = stop.cpu;
    const signal = stop.kind === 'interrupt' ? '02' : '05';
    let reason = '';
    if (stop.kind === 'watch' || stop.kind === 'rwatch' || stop.kind === 'awatch') reason = `${stop.kind}:${stop.address!.toString(16)};`;
    else if (this.stopReasons && stop.kind === 'sw-break') reason = 'swbreak:;';
    else if (this.stopReasons && stop.kind === 'hw-break') reason = 'hwbreak:;';
    return `T${signal}thread:${(stop.cpu + 1).toString(16)};${reason}`;
  }

  /** The answer to one packet. `stop` is why the machine is stopped now (for `?`). */
  handle(packet: string, stop: StopInfo): StubAction {
    const head = packet[0];
    const body = packet.slice(1);
    switch (head) {
      case '?': return reply(this.stopReply(stop));
      case 'g': return reply(toHex(this.regs.readAll(this.cpu)));
      case 'G': {
        const bytes = fromHex(body);
        return bytes !== undefined && this.regs.writeAll(this.cpu, bytes) ? OK : E_INVAL;
      }
      case 'p': {
        const n = Number.parseInt(body, 16);
        const bytes = Number.isNaN(n) ? undefined : this.regs.read(this.cpu, n);
        return bytes === undefined ? E_INVAL : reply(toHex(bytes));
      }
      case 'P': {
        const m = /^([0-9a-fA-F]+)=([0-9a-fA-F]*)$/.exec(body);
        const bytes = m === null ? undefined : fromHex(m[2]);
        return m !== null && bytes !== undefined && this.regs.write(this.cpu, Number.parseInt(m[1], 16), bytes) ? OK : E_INVAL;
      }
      case 'm': return this.readMemory(body);
      case 'M': return this.writeMemory(body, false);
      case 'X': return this.writeMemory(body, true);
      case 'Z': case 'z': return this.breakpoint(head === 'Z', body);
      case 'c': case 'C': return this.resume(-1, head === 'c' ? body : body.replace(/^[0-9a-fA-F]+;?/, ''));
      case 's': case 'S': return this.resume(this.cThread, head === 's' ? body : body.replace(/^[0-9a-fA-F]+;?/, ''));
      case 'H': return this.selectThread(body);
      case 'T': return this.threadIndex(body) === undefined ? E_NOENT : OK;
      case 'D': return { kind: 'detach' };
      case 'k': return { kind: 'kill' };
      case 'q': case 'Q': return this.query(packet);
      case 'v': return this.vPacket(packet);
      default: return UNSUPPORTED;
    }
  }

  private get cpu(): Vcpu {
    return this.vm.vcpus[this.gThread];
  }

  /** A thread id (hex; 0 any, -1 all) as a vCPU index, or undefined if there is no such vCPU. */
  private threadIndex(id: string): number | undefined {
    if (id === '0' || id === '-1') return 0;
    const n = Number.parseInt(id, 16);
    return Number.isInteger(n) && n >= 1 && n <= this.vm.vcpus.length ? n - 1 : undefined;
  }

  private selectThread(body: string): StubAction {
    const index = this.threadIndex(body.slice(1));
    if (index === undefined) return E_NOENT;
    if (body[0] === 'g') this.gThread = index;
    else if (body[0] === 'c') { if (body.slice(1) !== '-1') this.cThread = index; }
    else return E_INVAL;
    return OK;
  }

  /** `c [addr]`, `s [addr]`: an address resumes there. */
  private resume(step: number, addr: string): StubAction {
    if (addr !== '') {
      const a = parseHexBig(addr);
      if (a === undefined) return E_INVAL;
      const cpu = this.vm.vcpus[step >= 0 ? step : this.cThread];
      cpu.ripLo = Number(a & 0xffffffffn) | 0;
      cpu.ripHi = Number(a >> 32n) | 0;
    }
    return { kind: 'resume', step };
  }

  /** `addr,length` (both hex), or undefined. */
  private range(text: string): { addr: bigint; length: number } | undefined {
    const m = /^([0-9a-fA-F]{1,16}),([0-9a-fA-F]{1,8})$/.exec(text);
    if (m === null) return undefined;
    return { addr: BigInt(`0x${m[1]}`), length: Number.parseInt(m[2], 16) };
  }

  private readMemory(body: string): StubAction {
    const r = this.range(body);
    if (r === undefined) return E_INVAL;
    const bytes = this.memory.read(this.cpu, r.addr, Math.min(r.length, (PACKET_SIZE - 8) >> 1));
    // A partial read answers what could be read; none at all is an error (gdb: "Cannot access memory").
    return bytes.length === 0 && r.length > 0 ? E_FAULT : reply(toHex(bytes));
  }

  private writeMemory(body: string, binary: boolean): StubAction {
    const colon = body.indexOf(':');
    const r = colon < 0 ? undefined : this.range(body.slice(0, colon));
    if (r === undefined) return E_INVAL;
    const data = binary ? unescapeBinary(body.slice(colon + 1)) : fromHex(body.slice(colon + 1));
    if (data === undefined || data.length !== r.length) return E_INVAL;
    return this.memory.write(this.cpu, r.addr, data) ? OK : E_FAULT;
  }

  /** Z/z type,addr,kind: 0 software and 1 hardware breakpoints, 2 write, 3 read, 4 access watchpoints. */
  private breakpoint(insert: boolean, body: string): StubAction {
    const m = /^([0-4]),([0-9a-fA-F]{1,16}),([0-9a-fA-F]{1,8})/.exec(body);
    if (m === null) return E_INVAL;
    const type = Number(m[1]);
    const addr = BigInt(`0x${m[2]}`);
    const kind = Number.parseInt(m[3], 16);
    const t = this.target;
    switch (type) {
      case 0: case 1:
        if (insert) t.addBreakpoint(addr, type === 1);
        else t.removeBreakpoint(addr, type === 1);
        return OK;
      case 2:
        if (kind < 1 || kind > 8) return E_INVAL;
        if (insert) t.addWatchpoint(this.cpu, addr, kind);
        else t.removeWatchpoint(addr, kind);
        return OK;
      default:
        if (kind < 1 || kind > 8) return E_INVAL;
        if (insert) t.addAccessWatchpoint(addr, kind, type === 3);
        else t.removeAccessWatchpoint(addr, kind, type === 3);
        return OK;
    }
  }

  private query(packet: string): StubAction {
    const [name, ...rest] = packet.split(/[:,]/);
    const arg = packet.slice(name.length + 1);
    switch (name) {
      case 'qSupported':
        this.stopReasons = /swbreak\+/.test(arg);
        return reply(`PacketSize=${PACKET_SIZE.toString(16)};qXfer:features:read+;QStartNoAckMode+;swbreak+;hwbreak+;vContSupported+`);
      case 'QStartNoAckMode': this.noAck = true; return OK;
      case 'qXfer': return this.xfer(rest);
      case 'qAttached': return reply('1');
      case 'qC': return reply(`QC${(this.gThread + 1).toString(16)}`);
      case 'qfThreadInfo': return reply(`m${this.vm.vcpus.map((c) => (c.index + 1).toString(16)).join(',')}`);
      case 'qsThreadInfo': return reply('l');
      case 'qThreadExtraInfo': {
        const index = this.threadIndex(arg);
        if (index === undefined) return E_NOENT;
        const c = this.vm.vcpus[index];
        return reply(textToHex(`CPU ${index}${c.waitForSipi ? ' (wait-for-SIPI)' : c.halted ? ' (halted)' : ''}`));
      }
      case 'qRcmd': {
        const bytes = fromHex(arg);
        if (bytes === undefined) return E_INVAL;
        // The vCPU of the last stop: gdb's current thread then. (The Hg thread may be another one
        // gdb looked at, e.g. for `info threads`, without telling when it switches back.)
        const out = this.monitor(Buffer.from(bytes).toString('latin1').trim(), this.vm.vcpus[this.stopCpu]);
        return out === undefined ? UNSUPPORTED : reply(textToHex(out));
      }
      case 'qSymbol': return OK;
      default: return UNSUPPORTED;
    }
  }

  /** qXfer:features:read:target.xml:offset,length */
  private xfer(parts: string[]): StubAction {
    if (parts[0] !== 'features' || parts[1] !== 'read') return UNSUPPORTED;
    if (parts[2] !== 'target.xml') return E_NOENT;
    const offset = Number.parseInt(parts[3], 16);
    const length = Number.parseInt(parts[4], 16);
    if (Number.isNaN(offset) || Number.isNaN(length)) return E_INVAL;
    const xml = this.regs.targetXml();
    const chunk = xml.slice(offset, offset + Math.min(length, PACKET_SIZE / 2));
    return reply((offset + chunk.length >= xml.length ? 'l' : 'm') + chunk);
  }

  private vPacket(packet: string): StubAction {
    if (packet === 'vCont?') return reply('vCont;c;C;s;S');
    if (!packet.startsWith('vCont;')) return UNSUPPORTED;
    // Actions apply to the threads they name, the first that applies wins; a step without a thread
    // steps the Hc thread. Every other vCPU continues (all-stop mode).
    let step = -1;
    for (const action of packet.slice(6).split(';')) {
      const [what, thread] = action.split(':');
      if (what[0] !== 's' && what[0] !== 'S') continue;
      const index = thread === undefined ? this.cThread : this.threadIndex(thread);
      if (index === undefined) return E_NOENT;
      step = index;
      break;
    }
    return { kind: 'resume', step };
  }
}
