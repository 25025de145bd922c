import type { Vcpu } from './vcpu.js';

/**
 * A ring buffer of the last N instructions executed: address, bytes, code size, and the register
 * state before each one. Filled only when tracing is on (--trace N); the run loop skips it otherwise.
 */
export interface TraceEntry {
  ripLo: number;
  ripHi: number;
  bits: number;
  bytes: Uint8Array;
  regsLo: Int32Array;
  regsHi: Int32Array;
  rflags: number;
}

const REG_WORDS = 16;

export class Tracer {
  readonly capacity: number;
  private readonly rip: Float64Array;
  private readonly bits: Uint8Array;
  private readonly bytes: Uint8Array;
  private readonly lens: Uint8Array;
  private readonly regs: Int32Array;
  private readonly flags: Int32Array;
  private next = 0;
  private count = 0;

  constructor(capacity: number) {
    this.capacity = Math.max(1, capacity);
    this.rip = new Float64Array(this.capacity * 2);
    this.bits = new Uint8Array(this.capacity);
    this.bytes = new Uint8Array(this.capacity * 16);
    this.lens = new Uint8Array(this.capacity);
    this.regs = new Int32Array(this.capacity * REG_WORDS * 2);
    this.flags = new Int32Array(this.capacity);
  }

  /** Records decoded record i, whose block starts at linear (base + start) and host page `pageHost`. */
  record(cpu: Vcpu, i: number, base: number, pageHost: number): void {
    const d = cpu.dec;
    const len = d.len[i];
    const host = pageHost + d.start[i];
    this.push(cpu, (base + d.start[i]) | 0, cpu.mem.bytes.subarray(host, host + len), len);
  }

  /** Records an instruction from explicit bytes (one that crosses pages). */
  recordBytes(cpu: Vcpu, bytes: Uint8Array, len: number): void {
    this.push(cpu, cpu.ripLo, bytes.subarray(0, len), len);
  }

  private push(cpu: Vcpu, ripLo: number, bytes: Uint8Array, len: number): void {
    const k = this.next;
    this.rip[2 * k] = ripLo;
    this.rip[2 * k + 1] = cpu.ripHi;
    this.bits[k] = cpu.codeBits;
    this.lens[k] = len;
    this.bytes.set(bytes, k * 16);
    this.regs.set(cpu.lo, k * REG_WORDS * 2);
    this.regs.set(cpu.hi, k * REG_WORDS * 2 + REG_WORDS);
    this.flags[k] = cpu.getFlags();
    this.next = (k + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** Entries, oldest first. */
  entries(): TraceEntry[] {
    const out: TraceEntry[] = [];
    for (let n = 0; n < this.count; n++) {
      const k = (this.next - this.count + n + this.capacity) % this.capacity;
      out.push({
        ripLo: this.rip[2 * k],
        ripHi: this.rip[2 * k + 1],
        bits: this.bits[k],
        bytes: this.bytes.slice(k * 16, k * 16 + this.lens[k]),
        regsLo: this.regs.slice(k * REG_WORDS * 2, k * REG_WORDS * 2 + REG_WORDS),
        regsHi: this.regs.slice(k * REG_WORDS * 2 + REG_WORDS, (k + 1) * REG_WORDS * 2),
        rflags: this.flags[k],
      });
    }
    return out;
  }
}
