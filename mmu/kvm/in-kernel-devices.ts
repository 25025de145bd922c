import { PAGE_SIZE, type Gpa } from '../../emulator/arch/address.js';

/**
 * Which of the PC's devices KVM emulates itself and which it leaves to the VMM (QEMU). With
 * QEMU's default in-kernel irqchip on x86, KVM holds the local APIC, the IOAPIC, the two 8259 PICs
 * with their ELCR and the 8254 PIT with the speaker port (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2);
 * everything else (serial, RTC, ACPI PM timer, fw_cfg, PCI configuration, the debug exit, and any
 * unassigned port or address) makes KVM_RUN return to userspace and QEMU handle the access before
 * it enters the guest again. That round trip is what kvm-unit-tests' vmexit inl_from_qemu measures
 * against inl_from_kernel.
 */

/** Port ranges, inclusive: PIC master and slave, ELCR, PIT, speaker (PIT channel 2 gate). */
const IN_KERNEL_PORTS: readonly (readonly [number, number])[] = [
  [0x20, 0x21], [0xa0, 0xa1], [0x4d0, 0x4d1], [0x40, 0x43], [0x61, 0x61],
];

/** The local APIC's page at its default base and the IOAPIC's window. */
const LAPIC_PAGE = 0xfee00000;
const IOAPIC_BASE = 0xfec00000;
const IOAPIC_SIZE = 0x100;

/** One byte per port, 1 where KVM emulates it: every port exit looks its port up here. */
const PORT_IN_KERNEL = new Uint8Array(0x10000);
for (const [first, last] of IN_KERNEL_PORTS) PORT_IN_KERNEL.fill(1, first, last + 1);

export function portInKernel(port: number): boolean {
  return PORT_IN_KERNEL[port & 0xffff] === 1;
}

export function mmioInKernel(gpa: Gpa): boolean {
  return (gpa >= LAPIC_PAGE && gpa < LAPIC_PAGE + PAGE_SIZE) || (gpa >= IOAPIC_BASE && gpa < IOAPIC_BASE + IOAPIC_SIZE);
}
