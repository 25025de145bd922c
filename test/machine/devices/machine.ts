/**
 * A small VM for device tests: the real PC assembly (emulator/machine/pc.ts) on 2 MiB of RAM,
 * with helpers to move modeled time and to talk to the devices the way the CPU would.
 */
import { Machine } from '../../../vmm/machine.js';
import { CpuModel, DEFAULT_FEATURES, type FeatureName } from '../../../emulator/cpu/cpu-model.js';
import { MsrValue } from '../../../emulator/cpu/platform.js';

export class TestMachine {
  readonly vm: Machine;

  /** `features` are added to the default CPU model, `without` removed from it. */
  constructor(opts: { features?: readonly FeatureName[]; without?: readonly FeatureName[]; memBytes?: number } = {}) {
    const features = [...DEFAULT_FEATURES, ...(opts.features ?? [])].filter((f) => !(opts.without ?? []).includes(f));
    const model = new CpuModel({ features });
    this.vm = new Machine({ memBytes: opts.memBytes ?? 2 << 20, model, serialOut: () => {} });
  }

  get devices() {
    return this.vm.devices;
  }

  now(): number {
    return this.vm.clock.now();
  }

  /** Moves modeled time forward to cycle `t` (as retired work would) and fires what is due. */
  advanceTo(t: number): void {
    const cpu = this.vm.cpu;
    if (t < this.now()) throw new Error('time runs forward only');
    cpu.extraCycles += t - this.now();
    this.vm.clock.fireDue();
  }

  advance(cycles: number): void {
    this.advanceTo(this.now() + cycles);
  }

  in(port: number, size = 1): number {
    return this.vm.bus.ioRead(port, size) >>> 0;
  }

  out(port: number, value: number, size = 1): void {
    this.vm.bus.ioWrite(port, size, value);
  }

  mmioRead(addr: number, size = 4): number {
    return this.vm.bus.mmioRead(addr, size) >>> 0;
  }

  mmioWrite(addr: number, value: number, size = 4): void {
    this.vm.bus.mmioWrite(addr, size, value | 0);
  }

  /** RDMSR through the platform; undefined means #GP. */
  rdmsr(index: number): bigint | undefined {
    const out = new MsrValue();
    if (!this.vm.platform.readMsr(this.vm.cpu, index, out)) return undefined;
    return (BigInt(out.hi >>> 0) << 32n) | BigInt(out.lo >>> 0);
  }

  /** WRMSR through the platform; false means #GP. */
  wrmsr(index: number, value: bigint): boolean {
    const lo = Number(value & 0xffffffffn) | 0;
    const hi = Number((value >> 32n) & 0xffffffffn) | 0;
    return this.vm.platform.writeMsr(this.vm.cpu, index, lo, hi);
  }

  /** What the CPU's interrupt check sees: the deliverable vector (-1 if none), optionally accepted. */
  pending(ack = false): number {
    return this.vm.platform.pendingInterrupt(this.vm.cpu, ack);
  }
}
