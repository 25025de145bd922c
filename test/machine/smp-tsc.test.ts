/**
 * The TSC across vCPUs (emulator/cpu/tsc-sync.ts). Each vCPU keeps its own modeled clock and the
 * scheduler runs them a quantum apart, yet no vCPU may read a TSC lower than one another vCPU
 * read before it (Linux's check_tsc_warp), and a vCPU whose clock caught up to such a read sees
 * its TSC-deadline timer fired for every deadline at or below what it read.
 *
 * Both CPUs run the warp check: read the last TSC value any CPU stored, read the TSC, count a warp
 * if it is lower, store it. The AP, in real mode with its x2APIC in TSC-deadline mode and IF=0,
 * also arms IA32_TSC_DEADLINE just below the last value stored: when the BSP stored it, that is
 * ahead of the AP's own clock, so the deadline is armed, and the AP's next TSC read, caught up to
 * the BSP's, lands past it. Reading IA32_TSC_DEADLINE back then must give 0 (fired); still armed
 * at or below the TSC just read is the inconsistency. The guest counts how often its TSC read
 * reached an armed deadline, so the case is known to occur. The oracle for "the check
 * can fail" is the same guest with the AP given a high-water mark of its own (the TSC as it was
 * before): it then sees warps.
 */
import { describe, expect, test } from 'vitest';
import { MMU_MODES, Machine, type MmuMode } from '../../vmm/machine.js';
import { assemble } from './smp-assemble.js';
import { cpuModelFromSpec } from '../../emulator/cpu/cpu-spec.js';
import { TscSync } from '../../emulator/cpu/tsc-sync.js';

const LAST = 0x7000;
const WARPS = 0x7010; // one dword per CPU
const DONE = 0x7020;
const LATE = 0x7030; // AP: deadline still armed at or below the TSC read
const REACHED = 0x7034; // AP: TSC read at or past the deadline
const ITERATIONS = 1000;

/** One round of the warp check for CPU `cpu` (the test's TSC values stay below 2^32). */
const warpCheck = (cpu: number) => `
    movl ${LAST}, %esi
    rdtsc
    cmpl %esi, %eax
    jae 9f
    incl ${WARPS + 4 * cpu}
9:  movl %eax, ${LAST}
`;

/** The BSP starts the AP, runs the warp check until the AP is done, and exits. */
const BSP = assemble(`
    .code32
    movl $0x000c4500, 0xfee00300   /* INIT to all but self */
    movl $0x000c4608, 0xfee00300   /* STARTUP at 0x8000 */
1:  ${warpCheck(0)}
    cmpl $0, ${DONE}
    je 1b
    movl $0, %eax
    outl %eax, $0xf4
    hlt
`, 0x100000);

/** The AP: x2APIC on, timer in TSC-deadline mode (vector 0x40, IF=0), then the checks. */
const AP = assemble(`
    .code16
    cli
    movl $0x1b, %ecx
    rdmsr
    orl $0xc00, %eax                /* IA32_APIC_BASE: enable, x2APIC */
    wrmsr
    movl $0x80f, %ecx
    movl $0x1ff, %eax               /* SVR: software enable */
    xorl %edx, %edx
    wrmsr
    movl $0x832, %ecx
    movl $0x40040, %eax             /* LVT timer: TSC-deadline mode, vector 0x40 */
    wrmsr
    movl $${ITERATIONS}, %ebp
1:  movl ${LAST}, %eax
    subl $10, %eax
    xorl %edx, %edx
    movl $0x6e0, %ecx
    wrmsr                           /* IA32_TSC_DEADLINE = the last TSC stored, less 10 */
    movl %eax, %edi
    rdmsr
    testl %eax, %eax
    jz 3f                           /* already due (the AP stored it): fired at once */
    ${warpCheck(1)}
    cmpl %edi, %eax
    jb 3f                           /* the TSC read is still below the deadline */
    incl ${REACHED}
    movl $0x6e0, %ecx
    rdmsr                           /* 0 once the deadline fired */
    testl %eax, %eax
    jz 3f
    incl ${LATE}
3:  movl $0x6e0, %ecx
    xorl %eax, %eax
    xorl %edx, %edx
    wrmsr                           /* disarm */
    decl %ebp
    jnz 1b
    movl $1, ${DONE}
4:  hlt
    jmp 4b
`, 0x8000);

interface Outcome { warps: number[]; late: number; reached: number; outcome: string }

function run(mmu: MmuMode, ownClockForAp = false): Outcome {
  const m = new Machine({ cpus: 2, mmu, model: cpuModelFromSpec('base,+x2apic,+tsc-deadline'), memBytes: 16 << 20, serialOut: () => {} });
  m.guestMemory.write(0x8000, AP);
  m.guestMemory.write(0x100000, BSP);
  m.enterProtectedMode(0x100000);
  if (ownClockForAp) m.vcpus[1].tscSync = new TscSync();
  const r = m.run(20_000_000);
  const v = new DataView(m.readPhysical(WARPS, 0x28).buffer);
  return { warps: [v.getUint32(0, true), v.getUint32(4, true)], late: v.getUint32(LATE - WARPS, true), reached: v.getUint32(REACHED - WARPS, true), outcome: r.outcome };
}

describe('the TSC across vCPUs', () => {
  test.each(MMU_MODES)('--mmu %s: no CPU reads a TSC behind one another CPU read before', (mmu) => {
    const r = run(mmu);
    expect(r.outcome).toBe('exit');
    expect(r.warps).toEqual([0, 0]);
  });

  // In bare mode the AP trails the BSP (the BSP's turn comes first); in the virtualized modes the
  // AP's MSR exits put its clock ahead, so only bare mode catches the AP up past a deadline.
  test('a vCPU whose TSC read caught up past its armed deadline finds the deadline fired', () => {
    const r = run('bare');
    expect(r.reached).toBeGreaterThan(0);
    expect(r.late).toBe(0);
  });

  test('with its own high-water mark, the AP reads TSC values behind the BSP\'s', () => {
    const r = run('bare', true);
    expect(r.outcome).toBe('exit');
    expect(r.warps[1]).toBeGreaterThan(0);
  });
});
