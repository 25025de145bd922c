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

export function portInKernel(port: number): boolean {
  for (const [first, last] of IN_KERNEL_PORTS) if (port >= first && port <= last) return true;
  return false;
}

export function mmioInKernel(gpa: number): boolean {
  return (gpa >= LAPIC_PAGE && gpa < LAPIC_PAGE + 4096) || (gpa >= IOAPIC_BASE && gpa < IOAPIC_BASE + IOAPIC_SIZE);
}
