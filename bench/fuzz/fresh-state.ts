import type { Vm } from '../../emulator/machine/vm.js';

/**
 * What a freshly built machine's devices, clock and vCPU registers hold, recorded once and put
 * back before every fuzz case, so a case runs as it would on a new machine: it cannot find a
 * timer, an interrupt or an MSR that an earlier case left behind. (Building a new Vm per case
 * costs about 45 ms, far more than a case.)
 *
 * The devices are walked as an object graph from vm.devices and vm.clock: every field that holds
 * a primitive, a typed array, an array, a Map or a Set is recorded by value; object fields are
 * recorded by reference and walked in turn. The walk stops at the machine's other parts (the bus,
 * the vCPUs, memory, the code cache, the scheduler), which belong to the machine, not to a device.
 * The clock's event list is part of the walk, so pending timer events go with the device state
 * that scheduled them. Of each vCPU only its plain fields, its MSR map and its TSC high-water mark
 * are recorded: instructions and cycles go back to 0, so time-dependent devices and RDTSC see the
 * same time in a case whether it runs alone or after a million others. (Without `rewindCpu`, only
 * the MSR map of each vCPU is put back.)
 */

type Restore = () => void;

export class FreshState {
  private readonly restores: Restore[] = [];
  /** Guest RAM and MMU pages: a device may hold a view of them, which is memory, not device state. */
  private readonly arena: ArrayBufferLike;

  /**
   * `rewindCpu`: also put back the vCPUs' plain fields (time goes back to 0). Only where nothing
   * else keeps time: a bare machine; a hypervisor's MMU and statistics would not follow.
   */
  constructor(vm: Vm, opts: { rewindCpu: boolean } = { rewindCpu: true }) {
    this.arena = vm.arena.buffer;
    const machineParts = new Set<object>();
    for (const value of Object.values(vm)) {
      if (typeof value === 'object' && value !== null && value !== vm.devices && value !== vm.clock) machineParts.add(value);
    }
    for (const cpu of vm.vcpus) {
      machineParts.add(cpu);
      machineParts.add(cpu.paging);
      machineParts.add(cpu.mem);
      machineParts.add(cpu.dec);
      machineParts.add(cpu.platform);
      machineParts.add(cpu.model);
    }
    machineParts.add(vm);
    const seen = new Set<object>(machineParts);
    this.walk(vm.devices, seen);
    this.walk(vm.clock, seen);
    for (const cpu of vm.vcpus) {
      this.recordMap(cpu.msrs);
      if (!opts.rewindCpu) continue;
      this.recordFields(cpu, (value) => typeof value !== 'object' || value === null);
      this.walk(cpu.tscSync, seen);
      this.walk(cpu.fpu, seen);
    }
  }

  /** Puts every recorded field back. */
  restore(): void {
    for (const r of this.restores) r();
  }

  private walk(obj: object, seen: Set<object>): void {
    if (seen.has(obj)) return;
    seen.add(obj);
    if (obj instanceof Map) { this.recordMap(obj); return; }
    if (obj instanceof Set) { this.recordSet(obj); return; }
    if (ArrayBuffer.isView(obj)) { if (obj.buffer !== this.arena) this.recordView(obj); return; }
    if (Array.isArray(obj)) {
      const items = obj.slice();
      this.restores.push(() => { obj.length = 0; for (const item of items) obj.push(item); });
      for (const item of items) if (typeof item === 'object' && item !== null) this.walk(item, seen);
      return;
    }
    this.recordFields(obj, () => true);
    for (const value of Object.values(obj)) if (typeof value === 'object' && value !== null) this.walk(value, seen);
  }

  /** Own fields whose value passes `keep` (functions, the devices' wiring, are never touched). */
  private recordFields(obj: object, keep: (value: unknown) => boolean): void {
    const record = obj as Record<string, unknown>;
    for (const [key, value] of Object.entries(record)) {
      if (typeof value === 'function' || !keep(value)) continue;
      const desc = Object.getOwnPropertyDescriptor(obj, key);
      if (desc === undefined || !desc.writable) continue;
      this.restores.push(() => { record[key] = value; });
    }
  }

  private recordMap(map: Map<unknown, unknown>): void {
    const entries = [...map].map(([k, v]): [unknown, unknown] => [k, Array.isArray(v) ? v.slice() : v]);
    this.restores.push(() => {
      map.clear();
      for (const [k, v] of entries) map.set(k, Array.isArray(v) ? v.slice() : v);
    });
  }

  private recordSet(set: Set<unknown>): void {
    const items = [...set];
    this.restores.push(() => { set.clear(); for (const item of items) set.add(item); });
  }

  private recordView(view: ArrayBufferView): void {
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    const copy = bytes.slice();
    this.restores.push(() => bytes.set(copy));
  }
}
