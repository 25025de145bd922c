import type { Vcpu } from '../cpu/vcpu.js';
import type { Vm } from '../machine/vm.js';
import { PagingMode } from '../paging/format.js';
import { gpa as asGpa } from '../arch/address.js';
import { Access, type TableMemory, WalkResult, walk } from '../paging/walker.js';

/**
 * Guest memory as the debugger sees it: linear addresses of one vCPU, translated by a walk of the
 * guest's own page tables (the vCPU's paging context) that sets no accessed or dirty bit, fills no
 * TLB and counts nothing, then guest-physical RAM read and written directly, as QEMU's gdbstub
 * does (cpu_memory_rw_debug). The tables are read from guest-physical RAM, not through the TDP or
 * shadow structures, so a lookup causes no EPT violation or shadow fault either. A write goes in
 * like a device's DMA (Vm.writePhysical): decoded code on the page is dropped, and KVM is not told,
 * as it is not when QEMU writes guest RAM (a shadowed guest table written this way is not resynced).
 */
export class DebugMemory {
  private readonly vm: Vm;
  private readonly out = new WalkResult();
  /** Reads guest tables from RAM only; an entry outside RAM reads as not present. */
  private readonly tables: TableMemory;

  constructor(vm: Vm) {
    this.vm = vm;
    this.tables = {
      readPhys32: (gpa) => {
        const host = this.ramHost(gpa, 4);
        return host < 0 ? 0 : vm.arena.view.getInt32(host, true);
      },
      writePhys32: () => { /* Access.PROBE never writes */ },
    };
  }

  /** Guest-physical address of a linear address (as lo, hi halves), or -1 if it is not mapped. */
  translate(cpu: Vcpu, lo: number, hi: number): number {
    const ctx = cpu.paging.ctx;
    if (ctx.format.mode === PagingMode.NONE) return lo >>> 0;
    // AC: a debugger's look is not a supervisor access SMAP would refuse.
    if (!walk(ctx, this.tables, lo, hi, Access.PROBE | Access.AC, this.out)) return -1;
    return this.out.gpa + (lo & 0xfff);
  }

  /** `length` bytes from a linear address; stops short at the first byte that is not RAM. */
  read(cpu: Vcpu, addr: bigint, length: number): Uint8Array {
    const bytes: number[] = [];
    this.forEachPage(cpu, addr, length, (gpa, n) => {
      const host = this.ramHost(gpa, n);
      if (host < 0) return false;
      for (let k = 0; k < n; k++) bytes.push(this.vm.arena.bytes[host + k]);
      return true;
    });
    return Uint8Array.from(bytes);
  }

  /** Writes bytes at a linear address; false (nothing more written) at the first page not in RAM. */
  write(cpu: Vcpu, addr: bigint, data: Uint8Array): boolean {
    let done = 0;
    return this.forEachPage(cpu, addr, data.length, (gpa, n) => {
      if (this.ramHost(gpa, n) < 0) return false;
      this.vm.writePhysical(gpa, data.subarray(done, done + n));
      done += n;
      return true;
    });
  }

  /** Calls `fn` for each page-bounded piece of the range with its guest-physical address. */
  private forEachPage(cpu: Vcpu, addr: bigint, length: number, fn: (gpa: number, n: number) => boolean): boolean {
    let at = addr;
    let left = length;
    while (left > 0) {
      const lo = Number(at & 0xffffffffn) | 0;
      const hi = Number((at >> 32n) & 0xffffffffn) | 0;
      const n = Math.min(left, 4096 - (lo & 0xfff));
      const gpa = this.translate(cpu, lo, hi);
      if (gpa < 0 || !fn(gpa, n)) return false;
      at = (at + BigInt(n)) & 0xffffffffffffffffn;
      left -= n;
    }
    return true;
  }

  /** Host offset of guest RAM [gpa, gpa + n) within one page, or -1 if it is not RAM. */
  private ramHost(gpa: number, n: number): number {
    if (gpa < 0 || gpa + n > this.vm.memBytes) return -1;
    return this.vm.memslots.gpaToHpa(asGpa(gpa));
  }
}
