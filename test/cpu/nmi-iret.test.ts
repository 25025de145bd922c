/**
 * NMI blocking ends at IRET (SDM Vol. 3 6.7.1): an NMI that arrives while the handler of another
 * runs is held, and is taken right after the handler's IRET, before the instruction IRET returns
 * to. kvm-unit-tests' eventinj depends on it (its nested self-NMI: a late delivery lands inside
 * printf with the console lock held and deadlocks). QEMU TCG passes eventinj; this is the same
 * rule in a two-CPU machine: the BSP sends the AP two NMIs, the second while the AP is in the
 * first handler, and the second handler records whether the instruction after the IRET ran.
 */
import { describe, expect, test } from 'vitest';
import { Machine, type MmuMode } from '../../vmm/machine.js';
import { assemble } from '../machine/smp-assemble.js';

const STATE = 0x7000; // 1: the AP waits for its first NMI; 2: it is in the first handler
const SENT = 0x7004; // the BSP sent the second NMI
const AFTER = 0x7008; // the instruction after the first handler's IRET ran
const SEEN = 0x700c; // AFTER as the second handler found it (+ 0x10: the handler ran)

const NMI_TO_AP = `
    movl $0x01000000, 0xfee00310
    movl $0x00000400, 0xfee00300`;

function bspCode(): Uint8Array {
  return assemble(`
    .code32
    movl $0, 0xfee00310
    movl $0x000c4500, 0xfee00300
    movl $0x000c4608, 0xfee00300
1:  cmpl $1, ${STATE}
    jne 1b
    ${NMI_TO_AP}
2:  cmpl $2, ${STATE}
    jne 2b
    ${NMI_TO_AP}
    movl $1, ${SENT}
3:  cmpl $0, ${SEEN}
    je 3b
    movl ${SEEN}, %eax
    outl %eax, $0xf4
    hlt
`, 0x100000);
}

/** The AP, in real mode at 0x8000. The first handler returns through its own frame to `after`. */
const AP_CODE = assemble(`
    .code16
    movw $first, 0x8
    movw $0, 0xa
    movl $1, ${STATE}
1:  jmp 1b
first:
    movw $second, 0x8
    movl $2, ${STATE}
2:  cmpl $0, ${SENT}
    je 2b
    pushf
    pushw $0
    pushw $after
    iret
after:
    movl $1, ${AFTER}
3:  hlt
    jmp 3b
second:
    movl ${AFTER}, %eax
    addl $0x10, %eax
    movl %eax, ${SEEN}
    iret
`, 0x8000);

function run(mmu: MmuMode): number | undefined {
  const m = new Machine({ cpus: 2, mmu, memBytes: 16 << 20, serialOut: () => {} });
  m.guestMemory.write(0x8000, AP_CODE);
  m.guestMemory.write(0x100000, bspCode());
  m.enterProtectedMode(0x100000);
  return m.run(50_000_000).exitStatus;
}

describe('NMI held during an NMI handler', () => {
  test.each(['bare', 'tdp'] as const)('%s: taken right after IRET, before the next instruction', (mmu) => {
    // SEEN = 0x10 | AFTER, and the exit status is (SEEN << 1) | 1 in its low byte
    expect(run(mmu)).toBe(((0x10 << 1) | 1) & 0xff);
  });
});
