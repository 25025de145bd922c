/**
 * The shared load and write-back (emulator/exec/operand-flow.ts) owns what a fault does to an
 * instruction of the families built on it: after a faulting load nothing is computed or written;
 * after a faulting store the destination is unchanged and so is RFLAGS (the operation recorded
 * its flags before the write, the flow puts them back). The host-CPU differential tests cannot
 * fault a store after a successful load of the same operand, so here the vCPU's memory is made
 * to fault on the read or the write of a real-mode word at DS:BX, and each form must leave
 * registers, RFLAGS and memory exactly as they were, with the fault pending.
 */
import { describe, expect, test } from 'vitest';
import { Machine } from '../../vmm/machine.js';
import { cpuModelFromSpec } from '../../emulator/cpu/cpu-spec.js';
import { decode, HANDLERS } from '../../emulator/decode/decoder.js';
import { Vector } from '../../emulator/arch/vectors.js';
import { Reg } from '../../emulator/arch/registers.js';
import { Flag } from '../../emulator/arch/eflags.js';

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

function runFaulting(hex: string, what: 'read' | 'write'): void {
  const vm = setup();
  const cpu = vm.cpu;
  const bytes = Uint8Array.from(Buffer.from(hex.replace(/ /g, ''), 'hex'));
  expect(decode(cpu.dec, 1, bytes, bytes.length, { bits: 16, model: cpu.model })).toBe(bytes.length);
  const regs = [Array.from(cpu.lo), Array.from(cpu.hi)];
  const flags = cpu.getFlags();
  failing(vm, what);
  cpu.exc = -1;
  HANDLERS[cpu.dec.handler[1]](cpu, 1);
  expect(cpu.exc).toBe(Vector.GP);
  expect([Array.from(cpu.lo), Array.from(cpu.hi)]).toEqual(regs);
  expect(cpu.getFlags()).toBe(flags);
  expect(Array.from(vm.readPhysical(ADDR, 2))).toEqual([0xff, 0xff]);
}

describe('shared load and write-back: a faulting access has no effect', () => {
  for (const [name, hex] of LOADS) test(`${name}: faulting load`, () => { runFaulting(hex, 'read'); });
  for (const [name, hex] of STORES) test(`${name}: faulting store after the load`, () => { runFaulting(hex, 'write'); });

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
