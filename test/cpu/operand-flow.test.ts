/**
 * The shared load and write-back (emulator/exec/operand-flow.ts) owns what a fault does to an
 * instruction of the families built on it: after a faulting load nothing is computed or written;
 * after a faulting store the destination is unchanged and so is RFLAGS (the operation recorded
 * its flags before the write, the flow puts them back). The host-CPU differential tests cannot
 * fault a store after a successful load of the same operand, so here the vCPU's memory is made
 * to fault on the read or the write of a real-mode word at DS:BX, and each form must leave
 * registers, RFLAGS, memory, RIP, CR0, MXCSR and the segment, LDT and task registers exactly as
 * they were, with the fault pending.
 */
import { describe, expect, test } from 'vitest';
import { Machine } from '../../vmm/machine.js';
import { cpuModelFromSpec } from '../../emulator/cpu/cpu-spec.js';
import { decode, HANDLERS } from '../../emulator/decode/decoder.js';
import { Vector } from '../../emulator/arch/vectors.js';
import { Reg, Seg } from '../../emulator/arch/registers.js';
import { Flag } from '../../emulator/arch/eflags.js';
import { Cr4 } from '../../emulator/arch/control.js';
import { CpuMode } from '../../emulator/cpu/vcpu.js';

const ADDR = 0x1000;

/** 16-bit forms with a memory operand at [BX], by family. */
const STORES: ReadonlyArray<readonly [string, string]> = [
  ['add [bx], ax', '01 07'], ['sbb [bx], ax', '19 07'], ['add word [bx], 1', '83 07 01'], ['add byte [bx], al', '00 07'],
  ['shl word [bx], cl', 'd3 27'], ['rcr word [bx], 1', 'd1 1f'], ['shld [bx], ax, 3', '0f a4 07 03'],
  ['inc word [bx]', 'ff 07'], ['neg word [bx]', 'f7 1f'], ['not word [bx]', 'f7 17'],
  // Locked read-modify-write (lockedRmw): XADD's G and a failed CMPXCHG's AX change only after the write.
  ['xadd [bx], ax', '0f c1 07'], ['cmpxchg [bx], ax', '0f b1 07'],
  // The pop flow (stack.ts popInto): SP moves back when the store to [bx] faults.
  ['pop word [bx]', '8f 07'],
];
const LOADS: ReadonlyArray<readonly [string, string]> = [
  ...STORES,
  ['add ax, [bx]', '03 07'], ['cmp word [bx], 5', '83 3f 05'], ['test [bx], ax', '85 07'],
  ['movzx ax, byte [bx]', '0f b6 07'], ['movsx ax, byte [bx]', '0f be 07'], ['mov al, [bx]', '8a 07'],
  ['cmovz ax, [bx]', '0f 44 07'], ['cmovnz ax, [bx]', '0f 45 07'], ['bsf ax, [bx]', '0f bc 07'], ['popcnt ax, [bx]', 'f3 0f b8 07'],
  // Pops whose stack read faults (SS:SP): nothing changes, SP included.
  ['popf', '9d'], ['pop es', '07'],
  // A word read from E (wordFromE): no segment, CR0 or MXCSR change; far pointers (readFarPointer).
  ['mov es, [bx]', '8e 07'], ['lmsw [bx]', '0f 01 37'], ['ldmxcsr [bx]', '0f ae 17'],
  ['les ax, [bx]', 'c4 07'], ['jmp far [bx]', 'ff 2f'], ['call far [bx]', 'ff 1f'],
  // Stack frames: SP back where it was when a read faults.
  ['enter 4, 2', 'c8 04 00 02'], ['leave', 'c9'], ['popa', '61'],
  // MMX loads (SSE's intSource): the x87 state does not enter MMX mode.
  ['movq mm0, [bx]', '0f 6f 07'], ['movd mm0, [bx]', '0f 6e 07'],
  // x87 loads (x87.ts loaded): nothing pushed, FCW unchanged.
  ['fld dword [bx]', 'd9 07'], ['fild word [bx]', 'df 07'], ['fldcw [bx]', 'd9 2f'],
];
/** x87 stores (x87.ts stored): a faulting store pops nothing (TOP and the tags unchanged). */
const X87_STORES: ReadonlyArray<readonly [string, string]> = [
  ['fst dword [bx]', 'd9 17'], ['fstp dword [bx]', 'd9 1f'], ['fstp qword [bx]', 'dd 1f'], ['fist word [bx]', 'df 17'],
  ['fistp word [bx]', 'df 1f'], ['fistp dword [bx]', 'db 1f'], ['fistp qword [bx]', 'df 3f'], ['fisttp dword [bx]', 'db 0f'],
];
/** Forms that are #UD in real mode (Check.PROT), run in 16-bit protected mode at CPL 0. */
const PROTECTED_LOADS: ReadonlyArray<readonly [string, string]> = [
  ['lldt [bx]', '0f 00 17'], ['ltr [bx]', '0f 00 1f'], ['verw [bx]', '0f 00 2f'], ['verr [bx]', '0f 00 27'],
  ['lar ax, [bx]', '0f 02 07'], ['lsl ax, [bx]', '0f 03 07'],
];

function setup(): Machine {
  const vm = new Machine({ memBytes: 8 << 20, serialOut: () => {}, model: cpuModelFromSpec('max') });
  const cpu = vm.cpu;
  // Operands whose results set CF, ZF, PF and AF, so a recorded and kept flag update shows.
  cpu.lo[Reg.RAX] = 1; cpu.lo[Reg.RBX] = ADDR; cpu.lo[Reg.RCX] = 1;
  vm.writePhysical(ADDR, Uint8Array.of(0xff, 0xff));
  cpu.setFlags(Flag.FIXED1);
  return vm;
}

/** Makes the vCPU's memory raise #GP(0) on every read or every write, as a page fault would. */
function failing(vm: Machine, what: 'read' | 'write'): void {
  const mem = vm.cpu.mem as unknown as Record<string, unknown>;
  for (const size of [8, 16, 32, 64]) mem[`${what}${size}`] = (): number => { vm.cpu.raiseGp(0); return 0; };
}

/** The state besides the registers and RFLAGS that these forms could change. */
function systemState(vm: Machine): unknown {
  const cpu = vm.cpu;
  return {
    rip: [cpu.ripLo, cpu.ripHi], cr0: cpu.cr0, mxcsr: cpu.fpu.mxcsr, sel: Array.from(cpu.seg.selector),
    ldtr: cpu.ldtr.selector, tr: cpu.tr.selector, x87: [cpu.fpu.top, cpu.fpu.tags, cpu.fpu.fcw],
  };
}

function runFaulting(hex: string, what: 'read' | 'write', prot = false): void {
  const vm = setup();
  const cpu = vm.cpu;
  cpu.cr4 |= Cr4.OSFXSR; // LDMXCSR's #UD otherwise comes first
  if (prot) cpu.mode = CpuMode.PROTECTED;
  const bytes = Uint8Array.from(Buffer.from(hex.replace(/ /g, ''), 'hex'));
  expect(decode(cpu.dec, 1, bytes, bytes.length, { bits: 16, model: cpu.model })).toBe(bytes.length);
  const regs = [Array.from(cpu.lo), Array.from(cpu.hi)];
  const flags = cpu.getFlags();
  const system = systemState(vm);
  failing(vm, what);
  cpu.exc = -1;
  HANDLERS[cpu.dec.handler[1]](cpu, 1);
  expect(cpu.exc).toBe(Vector.GP);
  expect([Array.from(cpu.lo), Array.from(cpu.hi)]).toEqual(regs);
  expect(cpu.getFlags()).toBe(flags);
  expect(systemState(vm)).toEqual(system);
  expect(Array.from(vm.readPhysical(ADDR, 2))).toEqual([0xff, 0xff]);
}

describe('shared load and write-back: a faulting access has no effect', () => {
  for (const [name, hex] of LOADS) test(`${name}: faulting load`, () => { runFaulting(hex, 'read'); });
  for (const [name, hex] of STORES) test(`${name}: faulting store after the load`, () => { runFaulting(hex, 'write'); });
  for (const [name, hex] of X87_STORES) test(`${name}: faulting store`, () => { runFaulting(hex, 'write'); });
  for (const [name, hex] of PROTECTED_LOADS) test(`${name} (protected mode): faulting load`, () => { runFaulting(hex, 'read', true); });

  test('without a fault the same forms write and set flags (the setup is not inert)', () => {
    const vm = setup();
    const cpu = vm.cpu;
    const bytes = Uint8Array.from([0x01, 0x07]); // add [bx], ax: 0xffff + 1
    decode(cpu.dec, 1, bytes, 2, { bits: 16, model: cpu.model });
    cpu.exc = -1;
    HANDLERS[cpu.dec.handler[1]](cpu, 1);
    expect(cpu.exc).toBe(-1);
    expect(Array.from(vm.readPhysical(ADDR, 2))).toEqual([0, 0]);
    expect(cpu.getFlags() & (Flag.CF | Flag.ZF)).toBe(Flag.CF | Flag.ZF);
  });
});

describe('word and far-pointer loads without a fault (real mode, the same [bx])', () => {
  /** Runs `hex` once on fresh memory holding `data` at [bx]; returns the vCPU. */
  const runOnce = (hex: string, data: number[]): Machine['cpu'] => {
    const vm = setup();
    const cpu = vm.cpu;
    vm.writePhysical(ADDR, Uint8Array.from(data));
    const bytes = Uint8Array.from(Buffer.from(hex.replace(/ /g, ''), 'hex'));
    expect(decode(cpu.dec, 1, bytes, bytes.length, { bits: 16, model: cpu.model })).toBe(bytes.length);
    cpu.exc = -1;
    HANDLERS[cpu.dec.handler[1]](cpu, 1);
    return cpu;
  };
  const BYTES = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
  test('mov es, [bx] loads the whole word; mov es, ax too; mov cs is #UD', () => {
    expect(runOnce('8e 07', BYTES).seg.selector[Seg.ES]).toBe(0x2211);
    expect(runOnce('66 8e 07', BYTES).seg.selector[Seg.ES]).toBe(0x2211);
    const cpu = runOnce('8e c0', BYTES); // mov es, ax (AX = 1)
    expect(cpu.seg.selector[Seg.ES]).toBe(1);
    const cs = runOnce('8e c8', BYTES);
    expect(cs.exc).toBe(Vector.UD);
    expect(cs.seg.selector[Seg.CS]).not.toBe(1);
  });
  test('stmxcsr [bx] writes MXCSR\'s 4 bytes and nothing after them', () => {
    const vm = setup();
    const cpu = vm.cpu;
    cpu.cr4 |= Cr4.OSFXSR;
    vm.writePhysical(ADDR, Uint8Array.from(BYTES));
    const bytes = Uint8Array.of(0x0f, 0xae, 0x1f);
    expect(decode(cpu.dec, 1, bytes, 3, { bits: 16, model: cpu.model })).toBe(3);
    cpu.exc = -1;
    HANDLERS[cpu.dec.handler[1]](cpu, 1);
    expect(cpu.exc).toBe(-1);
    expect(Array.from(vm.readPhysical(ADDR, 8))).toEqual([0x80, 0x1f, 0, 0, 0x55, 0x66, 0x77, 0x88]);
  });
  test('les ax/eax, [bx]: the offset of the operand size, the selector right after it', () => {
    const a = runOnce('c4 07', BYTES);
    expect([a.lo[Reg.RAX] & 0xffff, a.seg.selector[Seg.ES]]).toEqual([0x2211, 0x4433]);
    const b = runOnce('66 c4 07', BYTES);
    expect([b.lo[Reg.RAX] >>> 0, b.seg.selector[Seg.ES]]).toEqual([0x44332211, 0x6655]);
  });
});

/**
 * The width of each memory read: every read of another size faults, so an operand read wider than
 * the instruction's (a selector read as a dword, CMPSS's dword as a qword) faults where the CPU
 * would not, at the end of a page before an unmapped one.
 */
const WIDTHS: ReadonlyArray<readonly [string, string, readonly number[]]> = [
  ['lar eax, [bx]', '66 0f 02 07', [16]], ['verw [bx]', '0f 00 2f', [16]], ['mov es, [bx] (o32)', '66 8e 07', [16]],
  ['lmsw [bx] (o32)', '66 0f 01 37', [16]], ['les eax, [bx]', '66 c4 07', [32, 16]], ['ldmxcsr [bx]', '0f ae 17', [32]],
  ['cmpss xmm0, [bx], 0', 'f3 0f c2 07 00', [32]], ['cmpsd xmm0, [bx], 0', 'f2 0f c2 07 00', [64]],
  ['movd xmm0, [bx]', '66 0f 6e 07', [32]], ['div word [bx]', 'f7 37', [16]],
  ['movd mm0, [bx]', '0f 6e 07', [32]], ['movq mm0, [bx]', '0f 6f 07', [64]],
];

describe('each memory operand is read at its own width', () => {
  for (const [name, hex, sizes] of WIDTHS) {
    test(`${name}: ${sizes.join(' and ')}-bit reads only`, () => {
      const vm = setup();
      const cpu = vm.cpu;
      cpu.cr4 |= Cr4.OSFXSR;
      cpu.mode = CpuMode.PROTECTED;
      cpu.lo[Reg.RAX] = 0; cpu.lo[Reg.RDX] = 0; // div: quotient 0xffff / 0xffff
      const bytes = Uint8Array.from(Buffer.from(hex.replace(/ /g, ''), 'hex'));
      expect(decode(cpu.dec, 1, bytes, bytes.length, { bits: 16, model: cpu.model })).toBe(bytes.length);
      const mem = cpu.mem as unknown as Record<string, unknown>;
      const reads: number[] = [];
      for (const size of [8, 16, 32, 64]) {
        const real = (mem[`read${size}`] as (lo: number, hi: number) => number).bind(cpu.mem);
        mem[`read${size}`] = (lo: number, hi: number): number => {
          reads.push(size);
          if (!sizes.includes(size)) { cpu.raiseGp(0); return 0; }
          return real(lo, hi);
        };
      }
      cpu.exc = -1;
      HANDLERS[cpu.dec.handler[1]](cpu, 1);
      expect(reads.filter((r) => !sizes.includes(r))).toEqual([]);
      expect(reads.length).toBeGreaterThan(0);
    });
  }
});
