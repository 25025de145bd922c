/**
 * RDPMC (SDM Vol. 2, APM vol. 3): #GP(0) above CPL 0 with CR4.PCE clear; with no architectural
 * PMU (the Intel models: CPUID leaf 0AH is zero) every counter number is #GP, as upstream
 * kvm-unit-tests' pmu.flat checks first ("Expected #GP on RDPMC(64)"); on AMD, ECX 0-3 read the
 * legacy PerfCtr0-3 MSRs and ECX 4 and above are #GP. Under KVM the instruction is an exit
 * (RDPMC exiting on VMX, INTERCEPT_RDPMC on SVM) unless the privilege check faults first.
 */
import { describe, expect, test } from 'vitest';
import { Machine } from '../../vmm/machine.js';
import { cpuModelFromSpec } from '../../emulator/cpu/cpu-spec.js';
import { decode, HANDLERS } from '../../emulator/decode/decoder.js';
import { Vector } from '../../emulator/arch/vectors.js';
import { Reg } from '../../emulator/arch/registers.js';
import { Cr4 } from '../../emulator/arch/control.js';
import { writeMsr } from '../../emulator/cpu/msr.js';
import { CpuMode } from '../../emulator/cpu/vcpu.js';

const RDPMC = Uint8Array.of(0x0f, 0x33);

/** Runs RDPMC in 64-bit mode with `ecx` at `cpl`; returns the vector raised (-1 for none). */
function rdpmc(vm: Machine, ecx: number, cpl: number): number {
  const cpu = vm.cpu;
  expect(decode(cpu.dec, 1, RDPMC, RDPMC.length, { bits: 64, model: cpu.model })).toBe(2);
  cpu.mode = CpuMode.LONG64; // the handler's CPL check applies outside real mode
  cpu.cpl = cpl;
  cpu.exc = -1;
  cpu.lo[Reg.RCX] = ecx;
  cpu.lo[Reg.RAX] = 0x11111111; cpu.lo[Reg.RDX] = 0x22222222;
  HANDLERS[cpu.dec.handler[1]](cpu, 1);
  return cpu.exc;
}

const machine = (vendor: string): Machine =>
  new Machine({ memBytes: 8 << 20, serialOut: () => {}, model: cpuModelFromSpec(`max,vendor=${vendor}`) });

describe('RDPMC', () => {
  for (const vendor of ['GenuineIntel', 'AuthenticAMD']) {
    test(`${vendor}: CPL 3 with CR4.PCE clear is #GP(0) whatever ECX is, and leaves EDX:EAX`, () => {
      const vm = machine(vendor);
      vm.cpu.cr4 &= ~Cr4.PCE;
      for (const ecx of [0, 1, 0x40000000, 0x80000000 | 0]) {
        expect(rdpmc(vm, ecx, 3)).toBe(Vector.GP);
        expect(vm.cpu.excCode).toBe(0);
        expect(vm.cpu.lo[Reg.RAX]).toBe(0x11111111);
      }
    });
  }

  test('GenuineIntel without an architectural PMU: every counter number is #GP(0) at CPL 0', () => {
    const vm = machine('GenuineIntel');
    for (const ecx of [0, 3, 0x40000000, 0x80000000 | 0]) {
      expect(rdpmc(vm, ecx, 0)).toBe(Vector.GP);
      expect(vm.cpu.excCode).toBe(0);
    }
  });

  test('AuthenticAMD: ECX 0-3 read PerfCtr0-3 (48 bits), also at CPL 3 with CR4.PCE; ECX 4 and 1<<31 are #GP', () => {
    const vm = machine('AuthenticAMD');
    const cpu = vm.cpu;
    for (let n = 0; n < 4; n++) expect(writeMsr(cpu, 0xc0010004 + n, 0x1000 * (n + 1) + 7, 0xfffff000 + n)).toBe(true);
    for (let n = 0; n < 4; n++) {
      expect(rdpmc(vm, n, 0)).toBe(-1);
      expect(cpu.lo[Reg.RAX] >>> 0).toBe(0x1000 * (n + 1) + 7);
      expect(cpu.lo[Reg.RDX] >>> 0).toBe(0xf000 + n); // the counter keeps bits 47:0
    }
    cpu.cr4 |= Cr4.PCE;
    expect(rdpmc(vm, 2, 3)).toBe(-1);
    expect(cpu.lo[Reg.RAX] >>> 0).toBe(0x3007);
    for (const ecx of [4, 0x80000000 | 0]) expect(rdpmc(vm, ecx, 0)).toBe(Vector.GP);
  });
});
