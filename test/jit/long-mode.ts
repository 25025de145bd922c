/**
 * Machines for translator-against-interpreter tests: every vCPU starts in 64-bit mode at CPL 0
 * with the first 8 MiB identity-mapped, and a run's outcome is every vCPU's state, the retired
 * instructions and the modeled cycles, which a translated run must reproduce exactly.
 */
import { expect } from 'vitest';
import { Machine, type MmuMode } from '../../vmm/machine.js';
import type { TranslatorMode } from '../../emulator/jit/mode.js';
import { Cr0, Cr4 } from '../../emulator/arch/control.js';
import { Flag } from '../../emulator/arch/eflags.js';
import { materializeFlags } from '../../emulator/exec/flags.js';
import { enterFlatLongMode, writeLongModeTables } from '../helpers/snippet.js';

const PML4 = 0x700000;
const GDT = 0x620000;
export const CODE = 0x200000;

/** A machine whose vCPUs all start in 64-bit mode at CPL 0, the first 8 MiB identity-mapped. */
export function machine(cpus: number, mode: TranslatorMode, images: ReadonlyArray<[number, number[]]>, mmu: MmuMode = 'bare'): Machine {
  const vm = new Machine({ memBytes: 8 << 20, serialOut: () => {}, cpus, mmu });
  vm.code.translator = mode;
  writeLongModeTables(vm, PML4, GDT);
  for (const [gpa, bytes] of images) vm.writePhysical(gpa, Uint8Array.from(bytes));
  for (const cpu of vm.vcpus) {
    cpu.cr0 = Cr0.PE | Cr0.ET | Cr0.PG | Cr0.WP | Cr0.NE;
    cpu.cr4 = Cr4.PAE;
    enterFlatLongMode(cpu, PML4, GDT);
    cpu.paging.flushAll();
    cpu.setFlags(Flag.FIXED1);
    cpu.waitForSipi = false;
    cpu.halted = false;
    cpu.ripHi = 0;
  }
  return vm;
}

export interface Outcome { state: string; instructions: number; cycles: number; translated: number }

/** The translated run ends in the interpreter's state, after as many instructions and cycles. */
export function expectSameRun(forced: Outcome, off: Outcome): void {
  expect(forced.state).toBe(off.state);
  expect(forced.instructions).toBe(off.instructions);
  expect(forced.cycles).toBe(off.cycles);
}

/** Runs to `outcome` and returns every vCPU's registers, RIP, flags, CR8 and counts. */
export function finish(vm: Machine, max: number, outcome = 'halted'): Outcome {
  const r = vm.run(max);
  expect(r.outcome, r.detail).toBe(outcome);
  const state = vm.vcpus.map((c) => `${Array.from(c.lo).join(',')}|${Array.from(c.hi).join(',')}|${c.ripLo >>> 0}|${c.ripHi}|` +
    `${materializeFlags(c)}|${c.flags}|${c.instructions}|${c.cr8}`).join('\n');
  return { state, instructions: r.instructions, cycles: vm.vcpus.reduce((s, c) => s + c.cycles(), 0), translated: vm.code.blocksTranslated };
}

export const rel32 = (from: number, to: number): number[] => {
  const d = (to - from) | 0;
  return [d & 0xff, (d >>> 8) & 0xff, (d >>> 16) & 0xff, (d >>> 24) & 0xff];
};
