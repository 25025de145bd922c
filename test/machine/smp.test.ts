/**
 * The SMP machine in bare mode: application processors wait for SIPI from power-on, the BSP
 * starts them with INIT and STARTUP through its local APIC, they run real-mode code at the
 * STARTUP vector's page with their own APIC IDs, share memory with the BSP, and the run is
 * deterministic. The code is assembled with the guest toolchain's `as` and loaded directly.
 */
import { describe, expect, test } from 'vitest';
import { MMU_MODES, Machine, type MmuMode } from '../../vmm/machine.js';
import { assemble } from './smp-assemble.js';

const COUNTER = 0x7000;
const SEEN = 0x7010;

/** The BSP: INIT and STARTUP to all but itself, wait until every AP checked in, exit with the count. */
function bspCode(aps: number): Uint8Array {
  return assemble(`
    .code32
    movl $0, 0xfee00310
    movl $0x000c4500, 0xfee00300   /* INIT, level assert, all excluding self */
    movl $0x000c0500, 0xfee00300   /* INIT level de-assert: ignored */
    movl $0x000c4608, 0xfee00300   /* STARTUP, vector 8: 0x8000 */
1:  cmpl $${aps}, ${COUNTER}
    jb 1b
    movl ${COUNTER}, %eax
    outl %eax, $0xf4
    hlt
`, 0x100000);
}

/**
 * An AP in real mode at 0x8000: record its APIC ID from CPUID, count itself in, halt. The record
 * comes first: the BSP exits as soon as the count is full, and an AP whose CPUID exits to KVM may
 * be preempted between the two, as on hardware.
 */
const AP_CODE = assemble(`
    .code16
    movl $1, %eax
    cpuid
    shrl $24, %ebx
    movb $1, ${SEEN}(%bx)
    lock incl ${COUNTER}
    cli
1:  hlt
    jmp 1b
`, 0x8000);

function boot(cpus: number, mmu: MmuMode = 'bare'): { m: Machine; status: number | undefined; outcome: string; instructions: number } {
  const m = new Machine({ cpus, mmu, audit: mmu !== 'bare', memBytes: 16 << 20, serialOut: () => {} });
  m.guestMemory.write(0x8000, AP_CODE);
  m.guestMemory.write(0x100000, bspCode(cpus - 1));
  m.enterProtectedMode(0x100000);
  const r = m.run(50_000_000);
  return { m, status: r.exitStatus, outcome: r.outcome, instructions: r.instructions };
}

describe('SMP machine (bare)', () => {
  test.each([2, 4, 8])('%i CPUs: the BSP starts every AP with INIT and STARTUP', (cpus) => {
    const { m, status, outcome } = boot(cpus);
    expect(outcome).toBe('exit');
    expect(status).toBe(((cpus - 1) << 1) | 1);
    // Each AP saw its own initial APIC ID in CPUID.1:EBX[31:24]; the BSP's slot stays 0.
    expect([...m.readPhysical(SEEN, cpus)]).toEqual([0, ...Array<number>(cpus - 1).fill(1)]);
    for (const cpu of m.vcpus.slice(1)) {
      expect(cpu.halted).toBe(true);
      expect(cpu.waitForSipi).toBe(false);
    }
  });

  test('APs stay in wait-for-SIPI without a STARTUP, and run nothing', () => {
    const m = new Machine({ cpus: 3, memBytes: 16 << 20, serialOut: () => {} });
    m.guestMemory.write(0x100000, assemble('.code32\n movl $1, %eax\n outl %eax, $0xf4\n', 0x100000));
    m.enterProtectedMode(0x100000);
    expect(m.run(1_000_000).outcome).toBe('exit');
    for (const cpu of m.vcpus.slice(1)) {
      expect(cpu.waitForSipi).toBe(true);
      expect(cpu.instructions).toBe(0);
    }
  });

  test('the vCPUs\' clocks stay within a quantum of each other', () => {
    const { m } = boot(4);
    const cycles = m.vcpus.map((c) => c.cycles());
    expect(Math.max(...cycles) - Math.min(...cycles)).toBeLessThan(2 * 1000);
  });

  test('the same machine runs the same way twice', () => {
    const a = boot(4);
    const b = boot(4);
    expect(b.instructions).toBe(a.instructions);
    expect(b.m.vcpus.map((c) => [c.instructions, c.cycles()])).toEqual(a.m.vcpus.map((c) => [c.instructions, c.cycles()]));
  });

  test('every CPU halted with nothing to wake it ends the run as halted', () => {
    const m = new Machine({ cpus: 2, memBytes: 16 << 20, serialOut: () => {} });
    m.guestMemory.write(0x8000, AP_CODE);
    m.guestMemory.write(0x100000, assemble(`
    .code32
    movl $0x000c4500, 0xfee00300
    movl $0x000c4608, 0xfee00300
    cli
    hlt
`, 0x100000));
    m.enterProtectedMode(0x100000);
    const r = m.run(10_000_000);
    expect(r.outcome).toBe('halted');
    expect(r.detail).toMatch(/CPU 0: HLT, IF=0; CPU 1: HLT, IF=0/);
  });

  test.each(MMU_MODES)('under --mmu %s: 4 CPUs start, each with its own KVM vCPU, the checker clean', (mode) => {
    const { m, status, outcome } = boot(4, mode);
    expect(outcome).toBe('exit');
    expect(status).toBe((3 << 1) | 1);
    expect([...m.readPhysical(SEEN, 4)]).toEqual([0, 1, 1, 1]);
    if (mode === 'bare') return;
    const kvm = m.kvm!;
    expect(kvm.violations).toEqual([]);
    expect(kvm.vcpus).toHaveLength(4);
    // Every AP took its INIT through KVM (a context reset) and exits of its own.
    for (const v of kvm.vcpus.slice(1)) {
      expect(v.stats.mmu_reset_context).toBeGreaterThan(0);
      expect(v.stats.exits).toBeGreaterThan(0);
    }
    // The VM's statistics are the sum of the vCPUs'.
    expect(kvm.stats.exits).toBe(kvm.vcpus.reduce((n, v) => n + v.stats.exits, 0));
  });
});
