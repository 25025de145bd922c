/**
 * What one exit costs in modeled cycles and counters (mmu/kvm/kvm-vcpu.ts's exit path, which
 * sums the common steps once instead of looking each COST item up by name). Oracle: the cost
 * table (mmu/cost.ts) and KVM's split of port devices between the kernel and the VMM. Each case
 * runs guests/exitloop with N and 2N iterations; the difference is N iterations of the loop
 * alone, so the boot's own exits cancel out (N is chosen so that the checksum the guest prints
 * has as many digits both times: each character is a port exit to the serial port).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { Machine, type MmuMode } from '../../vmm/machine.js';
import type { Vendor } from '../../mmu/kvm/vendor.js';
import { COST } from '../../mmu/cost.js';
import { portInKernel } from '../../mmu/kvm/in-kernel-devices.js';
import { GUESTS } from '../cli/cli.js';

const N = 1000;
const IMAGE = `${GUESTS}exitloop.flat`;

interface LoopRun { readonly instructions: number; readonly cycles: number; readonly stats: Record<string, number> }

function loop(kind: string, iterations: number, mmu: MmuMode, vendor: Vendor): LoopRun {
  const vm = new Machine({ mmu, vendor, serialOut: () => {} });
  vm.loadMultiboot(readFileSync(IMAGE), IMAGE, `${kind} ${iterations}`);
  const r = vm.run();
  expect(r.outcome).toBe('exit');
  expect(r.exitStatus).toBe(1);
  const cpu = vm.vcpus[0];
  return { instructions: r.instructions, cycles: cpu.cycles(), stats: vm.kvm === undefined ? {} : Object.fromEntries(vm.kvm.vcpus[0].stats.entries()) };
}

/** N iterations' worth of every counter, the instructions and the vCPU's modeled cycles. */
function perLoop(kind: string, mmu: MmuMode, vendor: Vendor): LoopRun {
  const a = loop(kind, N, mmu, vendor);
  const b = loop(kind, 2 * N, mmu, vendor);
  const stats: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.stats)) if (v !== a.stats[k]) stats[k] = v - a.stats[k];
  return { instructions: b.instructions - a.instructions, cycles: b.cycles - a.cycles, stats };
}

const EXIT = COST.exitRoundTrip + COST.exitDispatch;
const SIMPLE = EXIT + COST.simpleExitHandler;
/** OUT/IN to port 0x80: no in-kernel device, so KVM_RUN returns to the VMM each time. */
const USERSPACE_PORT = SIMPLE + COST.userspaceExit;

describe('the cost of an exit', () => {
  test.each<[string, MmuMode, Vendor, number, Record<string, number>]>([
    ['cpuid', 'tdp', 'vmx', SIMPLE, { exits: N, cpuid_exits: N }],
    ['cpuid', 'shadow', 'vmx', SIMPLE, { exits: N, cpuid_exits: N }],
    ['cpuid', 'legacy-tdp', 'svm', SIMPLE, { exits: N, cpuid_exits: N }],
    ['out', 'tdp', 'vmx', USERSPACE_PORT, { exits: N, io_exits: N, userspace_exits: N }],
    ['in', 'shadow', 'svm', USERSPACE_PORT, { exits: N, io_exits: N, userspace_exits: N }],
    // SVM intercepts IA32_SYSENTER_CS; VMX's MSR bitmap passes it through without an exit.
    ['wrmsr', 'tdp', 'svm', SIMPLE, { exits: N, msr_exits: N }],
    ['rdmsr', 'legacy-tdp', 'svm', SIMPLE, { exits: N, msr_exits: N }],
    ['wrmsr', 'tdp', 'vmx', 0, {}],
  ])('%s loop, %s, %s: each iteration pays its exit\'s modeled cycles and counts it once', (kind, mmu, vendor, perExit, counters) => {
    const bare = perLoop(kind, 'bare', vendor);
    const r = perLoop(kind, mmu, vendor);
    expect(r.instructions).toBe(bare.instructions);
    expect(r.stats).toEqual(perExit === 0 ? {} : { ...counters, modeled_cycles: N * perExit });
    expect(r.cycles).toBe(bare.cycles + N * perExit);
  });
});

describe('ports KVM emulates in the kernel (portInKernel)', () => {
  test('the PICs, their ELCR, the PIT and the speaker port, and no other port', () => {
    // QEMU's in-kernel irqchip and PIT: i8259 master 0x20-0x21 and slave 0xa0-0xa1, ELCR 0x4d0-0x4d1, i8254 0x40-0x43, port 0x61.
    const kernel = new Set([0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1, 0x40, 0x41, 0x42, 0x43, 0x61]);
    const wrong: number[] = [];
    for (let port = 0; port < 0x10000; port++) if (portInKernel(port) !== kernel.has(port)) wrong.push(port);
    expect(wrong).toEqual([]);
  });
});
