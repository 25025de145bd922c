/**
 * KVM's hypercalls as mmulab's KVM answers them (mmu/kvm/hypercalls.ts), against KVM's documented
 * ABI (Documentation/virt/kvm/x86/hypercalls.rst, kvm_pv_send_ipi): a two-CPU machine whose BSP,
 * in 32-bit protected mode, sends KVM_HC_SEND_IPI to the AP and checks what the AP received and
 * what RAX says. Bare mode has no hypervisor (VMCALL is #UD), so only the virtualized modes run.
 */
import { describe, expect, test } from 'vitest';
import { Machine, type MmuMode } from '../../vmm/machine.js';
import { assemble } from '../machine/smp-assemble.js';

const AP_UP = 0x7000;
const NMIS = 0x7004;
const RESULTS = 0x7010;

/**
 * The BSP: start the AP, then four hypercalls, each result stored in turn:
 *   0  SEND_IPI, NMI to APIC ID 1 (bit 1 of the low bitmap, min 0): 1 CPU
 *   1  SEND_IPI with min 1 and bit 0 of the high bitmap: APIC ID 1 + 32 (a 32-bit caller's
 *      cluster is 32 IDs), beyond the VM: 0
 *   2  SEND_IPI with a logical destination in the ICR: -KVM_EINVAL
 *   3  an unknown number (0x7fff): -KVM_ENOSYS
 */
function bspCode(): Uint8Array {
  return assemble(`
    .code32
    movl $0, 0xfee00310
    movl $0x000c4500, 0xfee00300
    movl $0x000c4608, 0xfee00300
1:  cmpl $1, ${AP_UP}
    jb 1b
    movl $10, %eax
    movl $2, %ebx
    xorl %ecx, %ecx
    xorl %edx, %edx
    movl $0x400, %esi
    vmcall
    movl %eax, ${RESULTS}
2:  cmpl $1, ${NMIS}
    jb 2b
    movl $10, %eax
    xorl %ebx, %ebx
    movl $1, %ecx
    movl $1, %edx
    movl $0x400, %esi
    vmcall
    movl %eax, ${RESULTS + 4}
    movl $10, %eax
    movl $2, %ebx
    xorl %ecx, %ecx
    xorl %edx, %edx
    movl $0xc00, %esi
    vmcall
    movl %eax, ${RESULTS + 8}
    movl $0x7fff, %eax
    vmcall
    movl %eax, ${RESULTS + 12}
    movl ${NMIS}, %eax
    outl %eax, $0xf4
    hlt
`, 0x100000);
}

/** The AP in real mode at 0x8000: an NMI handler in the IVT that counts, then halt for good. */
const AP_CODE = assemble(`
    .code16
    movw $nmi, 0x8
    movw $0, 0xa
    lock incl ${AP_UP}
1:  hlt
    jmp 1b
nmi:
    lock incl ${NMIS}
    iret
`, 0x8000);

function run(mmu: MmuMode): { status: number | undefined; results: number[] } {
  const m = new Machine({ cpus: 2, mmu, memBytes: 16 << 20, serialOut: () => {} });
  m.guestMemory.write(0x8000, AP_CODE);
  m.guestMemory.write(0x100000, bspCode());
  m.enterProtectedMode(0x100000);
  const r = m.run(50_000_000);
  const bytes = m.readPhysical(RESULTS, 16);
  const view = new DataView(bytes.buffer, bytes.byteOffset, 16);
  return { status: r.exitStatus, results: [0, 4, 8, 12].map((o) => view.getInt32(o, true)) };
}

describe('KVM_HC_SEND_IPI and the hypercall ABI', () => {
  test.each(['tdp', 'shadow'] as const)('%s: one NMI delivered to the AP; cluster beyond the VM, bad ICR and unknown number', (mmu) => {
    const { status, results } = run(mmu);
    expect(status).toBe((1 << 1) | 1); // the AP took exactly one NMI
    expect(results).toEqual([1, 0, -22, -1000]);
  });
});
