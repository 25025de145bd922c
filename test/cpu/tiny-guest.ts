import { expect } from 'vitest';
import { Machine } from '../../vmm/machine.js';
import { cpuModelFromSpec } from '../../emulator/cpu/cpu-spec.js';
import { buildElf32 } from '../helpers/elf32.js';
import type { Reg } from '../../emulator/arch/registers.js';

/**
 * Tiny 32-bit guests for CPU-rule tests: code given as hex bytes runs at CPL 0 in flat protected
 * mode (multiboot) with no IDT, followed by CLI; HLT. An exception therefore escalates to a triple
 * fault whose chain starts with its vector, which is what `vector` reports.
 */

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/#.*$/gm, '').replace(/\s+/g, ''), 'hex'));
/** A 32-bit little-endian immediate as hex. */
export const le32 = (v: number): string => Buffer.from(Uint32Array.of(v >>> 0).buffer).toString('hex');

/** Guest-physical address of the page the data argument is loaded at. */
export const DATA = 0x300000;

/** The run's end: the machine and the vector of the exception that ended it (null after HLT). */
export interface Ran {
  readonly vm: Machine;
  readonly vector: number | null;
  /** Offset from the first code byte of RIP when the run ended (where a fault or trap left it). */
  readonly stopOffset: number | null;
}

/** Where the code lands: the ELF's load address plus the 12-byte multiboot header. */
export const CODE = 0x200000 + 12;

/** Runs `code` on a CPU model given in -cpu syntax (default max). */
export function runTiny(code: string, cpu = 'max', data?: Uint8Array): Ran {
  const vm = new Machine({ memBytes: 8 << 20, serialOut: () => {}, model: cpuModelFromSpec(cpu) });
  vm.loadMultiboot(buildElf32({ code: hex(`${code} fa f4`) }), 'test', '');
  if (data !== undefined) vm.writePhysical(DATA, data);
  const r = vm.run(100000);
  if (r.outcome === 'triple-fault') {
    return { vm, vector: Number(/exceptions (\d+)/.exec(r.detail ?? '')![1]), stopOffset: Number(r.stopAddress ?? 0n) - CODE };
  }
  expect(r.outcome).toBe('halted');
  return { vm, vector: null, stopOffset: null };
}

/** A 32-bit register after the run, unsigned. */
export const u32 = ({ vm }: Ran, r: Reg): number => vm.cpu.lo[r] >>> 0;

/** WRMSR of EDX:EAX to ECX. */
export const wrmsr = (index: number, lo: number, hi: number): string => `b9 ${le32(index)}  b8 ${le32(lo)}  ba ${le32(hi)}  0f 30`;
/** RDMSR of ECX into EDX:EAX. */
export const rdmsr = (index: number): string => `b9 ${le32(index)}  0f 32`;
