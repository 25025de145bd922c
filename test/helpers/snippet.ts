/**
 * Runs a few instruction bytes in 64-bit mode on a fresh-state vCPU and returns the registers,
 * flags and data memory afterwards: the emulator side of the host-CPU differential tests.
 *
 * Layout (the native harness maps the same addresses, so address-valued registers agree):
 *   CODE  0x200000  the snippet, followed by HLT
 *   DATA  0x300000  two 4 KiB pages the snippet may read and write
 *   STACK 0x400000  one 4 KiB page; RSP starts wherever the case puts it
 * The vCPU runs at CPL 0 in 64-bit mode with 4-level paging identity-mapping the first 8 MiB.
 * Exceptions go through an IDT whose gates point at HLT stubs, one per vector, so the vector
 * that stopped the snippet is read off RIP. A case that may fault must point RSP into the stack
 * page, since delivering the exception pushes a frame there.
 */
import { Machine } from '../../vmm/machine.js';
import type { Vcpu } from '../../emulator/cpu/vcpu.js';
import { SegAttr } from '../../emulator/cpu/segment-state.js';
import { updateMode } from '../../emulator/cpu/segmentation.js';
import { pagingChanged } from '../../emulator/cpu/control-regs.js';
import { Cr0, Cr4, Efer } from '../../emulator/arch/control.js';
import { Seg } from '../../emulator/arch/registers.js';
import { Flag } from '../../emulator/arch/eflags.js';

export const CODE = 0x200000;
export const DATA = 0x300000;
export const DATA_SIZE = 0x2000;
export const STACK = 0x400000;
export const STACK_SIZE = 0x1000;
const PML4 = 0x700000;
const IDT = 0x600000;
const STUBS = 0x610000;
const GDT = 0x620000;

export interface SnippetInput {
  readonly code: Uint8Array;
  /** RAX..R15 as unsigned 64-bit values. */
  readonly regs: readonly bigint[];
  readonly rflags: bigint;
  /** Initial contents of DATA (DATA_SIZE bytes; shorter is zero-padded). */
  readonly data?: Uint8Array;
  /** Initial contents of the stack page. */
  readonly stack?: Uint8Array;
  /** Instructions the snippet may run at most (100,000 unless given). */
  readonly maxInsns?: number;
}

export interface SnippetOutput {
  readonly regs: bigint[];
  readonly rflags: bigint;
  readonly data: Uint8Array;
  readonly stack: Uint8Array;
  /** Exception vector that stopped the snippet, or null if it ran to its end. */
  readonly exception: number | null;
}

let shared: Machine | undefined;

/** Writes the 64-bit little-endian value hi:lo at `gpa`. */
export function writeQword(vm: Machine, gpa: number, lo: number, hi = 0): void {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setUint32(0, lo >>> 0, true);
  new DataView(b.buffer).setUint32(4, hi >>> 0, true);
  vm.writePhysical(gpa, b);
}

/**
 * 4-level tables at `pml4` (PML4[0] -> PDPT[0] -> a PD of four 2 MiB pages, P|RW|US) that
 * identity-map the first 8 MiB, and a GDT at `gdt`: null, 64-bit code (0x08), data (0x10).
 */
export function writeLongModeTables(vm: Machine, pml4: number, gdt: number): void {
  writeQword(vm, pml4, (pml4 + 0x1000) | 7);
  writeQword(vm, pml4 + 0x1000, (pml4 + 0x2000) | 7);
  for (let k = 0; k < 4; k++) writeQword(vm, pml4 + 0x2000 + 8 * k, (k << 21) | 0x87);
  writeQword(vm, gdt + 8, 0x0000ffff, 0x00af9b00);
  writeQword(vm, gdt + 16, 0x0000ffff, 0x00cf9300);
}

/**
 * Puts `cpu` in 64-bit mode at CPL 0 over the tables writeLongModeTables wrote: EFER.LME/LMA/NXE,
 * CR3 = `pml4`, GDTR = `gdt`, CS the 64-bit code selector 0x08 and the data segments 0x10, flat.
 * CR0 and CR4 are the caller's, set before this call: the paging mode is derived from them here.
 */
export function enterFlatLongMode(cpu: Vcpu, pml4: number, gdt: number): void {
  cpu.efer = Efer.LME | Efer.LMA | Efer.NXE;
  cpu.cr3Lo = pml4;
  cpu.cr3Hi = 0;
  cpu.gdtr.baseLo = gdt; cpu.gdtr.baseHi = 0; cpu.gdtr.limit = 23;
  cpu.seg.set(Seg.CS, 0x08, 0, 0, 0xffffffff, SegAttr.P | SegAttr.S | SegAttr.CODE | SegAttr.RW | SegAttr.ACCESSED | SegAttr.L | SegAttr.G);
  for (const s of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) {
    cpu.seg.set(s, 0x10, 0, 0, 0xffffffff, SegAttr.P | SegAttr.S | SegAttr.RW | SegAttr.ACCESSED | SegAttr.DB | SegAttr.G);
  }
  updateMode(cpu);
  pagingChanged(cpu);
}

function setup(): Machine {
  const vm = new Machine({ memBytes: 8 << 20, serialOut: () => {} });
  writeLongModeTables(vm, PML4, GDT);
  // IDT: 32 interrupt gates to HLT stubs 16 bytes apart.
  for (let v = 0; v < 32; v++) {
    const target = STUBS + 16 * v;
    writeQword(vm, IDT + 16 * v, (0x08 << 16) | (target & 0xffff), (target & 0xffff0000) | 0x8e00);
    writeQword(vm, IDT + 16 * v + 8, 0, 0);
    vm.writePhysical(target, new Uint8Array([0xf4]));
  }
  return vm;
}

function toPair(v: bigint): [number, number] {
  const u = BigInt.asUintN(64, v);
  return [Number(u & 0xffffffffn) | 0, Number(u >> 32n) | 0];
}

export function runSnippet(input: SnippetInput): SnippetOutput {
  const vm = shared ?? (shared = setup());
  const cpu = vm.cpu;
  const code = new Uint8Array(input.code.length + 1);
  code.set(input.code);
  code[input.code.length] = 0xf4; // HLT
  vm.writePhysical(CODE, code);
  const data = new Uint8Array(DATA_SIZE);
  if (input.data !== undefined) data.set(input.data.subarray(0, DATA_SIZE));
  vm.writePhysical(DATA, data);
  const stack = new Uint8Array(STACK_SIZE);
  if (input.stack !== undefined) stack.set(input.stack.subarray(0, STACK_SIZE));
  vm.writePhysical(STACK, stack);

  // As Linux runs user programs: x87 errors native (NE), FWAIT checks TS (MP), SSE enabled.
  cpu.cr0 = Cr0.PE | Cr0.ET | Cr0.PG | Cr0.WP | Cr0.MP | Cr0.NE;
  cpu.cr4 = Cr4.PAE | Cr4.OSFXSR | Cr4.OSXMMEXCPT;
  // Fresh x87/SSE state per snippet (a snippet sets what it reads, as on the host).
  cpu.fpu.initX87();
  cpu.fpu.xmmBytes.fill(0);
  cpu.fpu.mxcsr = 0x1f80;
  cpu.idtr.baseLo = IDT; cpu.idtr.baseHi = 0; cpu.idtr.limit = 32 * 16 - 1;
  enterFlatLongMode(cpu, PML4, GDT);
  vm.paging.flushAll();
  for (let r = 0; r < 16; r++) {
    const [lo, hi] = toPair(input.regs[r] ?? 0n);
    cpu.lo[r] = lo;
    cpu.hi[r] = hi;
  }
  cpu.setFlags((Number(BigInt.asUintN(32, input.rflags)) & ~(Flag.IF | Flag.TF)) | Flag.FIXED1);
  cpu.ripLo = CODE;
  cpu.ripHi = 0;
  cpu.halted = false;
  cpu.stop = 0;
  cpu.exc = -1;
  vm.run(cpu.instructions + (input.maxInsns ?? 100000));

  const rip = cpu.ripLo >>> 0;
  let exception: number | null = null;
  if (rip >= STUBS && rip < STUBS + 16 * 32) exception = (rip - STUBS - 1) / 16;
  else if (rip !== CODE + code.length) throw new Error(`snippet stopped at unexpected RIP 0x${rip.toString(16)}`);
  const regs: bigint[] = [];
  for (let r = 0; r < 16; r++) regs.push((BigInt(cpu.hi[r] >>> 0) << 32n) | BigInt(cpu.lo[r] >>> 0));
  return {
    regs,
    rflags: BigInt(cpu.getFlags() >>> 0),
    data: vm.readPhysical(DATA, DATA_SIZE),
    stack: vm.readPhysical(STACK, STACK_SIZE),
    exception,
  };
}
