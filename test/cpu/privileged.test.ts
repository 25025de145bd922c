/**
 * Privileged instructions raise #GP(0) above CPL 0 before doing anything (SDM Vol. 3 5.9). For the
 * families whose every form checks that first, the check is a flag of the family
 * (exec/registry.ts privilegedFamily) added when the handler is built, not a line in each handler.
 * Each instruction here is decoded and run on a vCPU at CPL 3: #GP with error code 0 and no
 * effect (CR0, the halt state, the descriptor-table registers unchanged); at CPL 0 it runs.
 */
import { describe, expect, test } from 'vitest';
import { Machine } from '../../vmm/machine.js';
import { cpuModelFromSpec } from '../../emulator/cpu/cpu-spec.js';
import { decode, HANDLERS } from '../../emulator/decode/decoder.js';
import { Vector } from '../../emulator/arch/vectors.js';
import { Reg } from '../../emulator/arch/registers.js';

const PRIVILEGED: ReadonlyArray<readonly [string, string]> = [
  ['mov rax, cr0', '0f 20 c0'], ['mov cr0, rax', '0f 22 c0'], ['mov rax, dr7', '0f 21 f8'], ['mov dr7, rax', '0f 23 f8'],
  ['rdmsr', '0f 32'], ['wrmsr', '0f 30'], ['hlt', 'f4'], ['invlpg [rax]', '0f 01 38'], ['wbinvd', '0f 09'], ['invd', '0f 08'],
  ['lmsw ax', '0f 01 f0'], ['clts', '0f 06'], ['lgdt [rax]', '0f 01 10'], ['lidt [rax]', '0f 01 18'], ['invpcid rax, [rcx]', '66 0f 38 82 01'],
];

function setup(): Machine {
  const vm = new Machine({ memBytes: 8 << 20, serialOut: () => {}, model: cpuModelFromSpec('max') });
  return vm;
}

/** Decodes `hex` into scratch record 1 and runs its handler at `cpl`; returns the vector raised or -1. */
function runAt(vm: Machine, hex: string, cpl: number): number {
  const cpu = vm.cpu;
  const bytes = Uint8Array.from(Buffer.from(hex.replace(/ /g, ''), 'hex'));
  expect(decode(cpu.dec, 1, bytes, bytes.length, { bits: 64, model: cpu.model })).toBe(bytes.length);
  cpu.cpl = cpl;
  cpu.exc = -1;
  cpu.lo[Reg.RAX] = 0x1000; cpu.lo[Reg.RCX] = 0x2000;
  HANDLERS[cpu.dec.handler[1]](cpu, 1);
  return cpu.exc;
}

describe('CPL-0-only instructions', () => {
  for (const [name, hex] of PRIVILEGED) {
    test(`${name} at CPL 3: #GP(0), no effect`, () => {
      const vm = setup();
      const cpu = vm.cpu;
      const cr0 = cpu.cr0, gdtBase = cpu.gdtr.baseLo, idtBase = cpu.idtr.baseLo;
      expect(runAt(vm, hex, 3)).toBe(Vector.GP);
      expect(cpu.excCode).toBe(0);
      expect(cpu.cr0).toBe(cr0);
      expect(cpu.halted).toBe(false);
      expect(cpu.gdtr.baseLo).toBe(gdtBase);
      expect(cpu.idtr.baseLo).toBe(idtBase);
    });
  }

  test('at CPL 0 they run: CLTS clears CR0.TS, WBINVD and MOV from CR0 raise nothing', () => {
    const vm = setup();
    const cpu = vm.cpu;
    cpu.cr0 |= 8;
    expect(runAt(vm, '0f 06', 0)).toBe(-1);
    expect(cpu.cr0 & 8).toBe(0);
    expect(runAt(vm, '0f 09', 0)).toBe(-1);
    expect(runAt(vm, '0f 20 c0', 0)).toBe(-1);
    expect(cpu.lo[Reg.RAX]).toBe(cpu.cr0 | 0);
  });

  test('an unprivileged instruction (CPUID) runs at CPL 3', () => {
    const vm = setup();
    expect(runAt(vm, '0f a2', 3)).toBe(-1);
  });
});
