/*
 * Local APIC and I/O APIC access (SDM Vol. 3 chapter 11), in the style of
 * kvm-unit-tests' lib/x86/apic.h: apic_read/apic_write take the xAPIC MMIO
 * offset of a register and go through the MMIO page or, once
 * enable_x2apic() switched modes, through MSR 0x800 + offset / 16.
 * Portable: the same code serves -m64 and -m32.
 */
#ifndef X86_APIC_H
#define X86_APIC_H

#include <stdbool.h>
#include <stdint.h>

#define APIC_DEFAULT_PHYS_BASE	0xfee00000ul
#define IOAPIC_DEFAULT_PHYS_BASE 0xfec00000ul

/* Register offsets in the xAPIC page. */
#define APIC_ID		0x020
#define APIC_LVR	0x030
#define APIC_TASKPRI	0x080
#define APIC_ARBPRI	0x090
#define APIC_PROCPRI	0x0a0
#define APIC_EOI	0x0b0
#define APIC_RRR	0x0c0
#define APIC_LDR	0x0d0
#define APIC_DFR	0x0e0
#define APIC_SPIV	0x0f0
#define APIC_ISR	0x100
#define APIC_TMR	0x180
#define APIC_IRR	0x200
#define APIC_ESR	0x280
#define APIC_CMCI	0x2f0
#define APIC_ICR	0x300
#define APIC_ICR2	0x310
#define APIC_LVTT	0x320
#define APIC_LVTTHMR	0x330
#define APIC_LVTPC	0x340
#define APIC_LVT0	0x350
#define APIC_LVT1	0x360
#define APIC_LVTERR	0x370
#define APIC_TMICT	0x380
#define APIC_TMCCT	0x390
#define APIC_TDCR	0x3e0
#define APIC_SELF_IPI	0x3f0

/* SPIV. */
#define APIC_SPIV_APIC_ENABLED	(1u << 8)

/* ICR low word. */
#define APIC_DEST_SELF		0x40000u
#define APIC_DEST_ALLINC	0x80000u
#define APIC_DEST_ALLBUT	0xc0000u
#define APIC_ICR_BUSY		0x01000u
#define APIC_DEST_LOGICAL	0x00800u
#define APIC_DEST_PHYSICAL	0x00000u
#define APIC_INT_ASSERT		0x04000u
#define APIC_INT_LEVELTRIG	0x08000u
#define APIC_DM_FIXED		0x00000u
#define APIC_DM_LOWEST		0x00100u
#define APIC_DM_SMI		0x00200u
#define APIC_DM_NMI		0x00400u
#define APIC_DM_INIT		0x00500u
#define APIC_DM_STARTUP		0x00600u
#define APIC_DM_EXTINT		0x00700u
#define APIC_VECTOR_MASK	0x000ffu

/* LVT entries. */
#define APIC_LVT_MASKED		(1u << 16)
#define APIC_LVT_DELIVERY_STATUS (1u << 12)
#define APIC_LVT_TIMER_ONESHOT	(0u << 17)
#define APIC_LVT_TIMER_PERIODIC	(1u << 17)
#define APIC_LVT_TIMER_TSCDEADLINE (2u << 17)
#define APIC_LVT_TIMER_MASK	(3u << 17)

/* Divide configuration values. */
#define APIC_TDCR_DIV1		0xb
#define APIC_TDCR_DIV2		0x0
#define APIC_TDCR_DIV16		0x3

/* ESR bits. */
#define APIC_ESR_SEND_ILLEGAL_VECTOR	(1u << 5)
#define APIC_ESR_RECV_ILLEGAL_VECTOR	(1u << 6)
#define APIC_ESR_ILLEGAL_REGISTER	(1u << 7)

/* IA32_APIC_BASE bits, x2APIC MSR range, TSC deadline. */
#define APIC_BSP		(1u << 8)
#define APIC_EXTD		(1u << 10)
#define APIC_EN			(1u << 11)
#define APIC_BASE_MSR		0x800
#define MSR_IA32_TSCDEADLINE	0x6e0

/* CPUID.1 bits this library looks at. */
#define CPUID_1_EDX_APIC	(1u << 9)
#define CPUID_1_ECX_X2APIC	(1u << 21)
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)

uint32_t apic_read(unsigned reg);
void apic_write(unsigned reg, uint32_t val);
/* Waits for the delivery-status bit (xAPIC), writes ICR2 then ICR. */
void apic_icr_write(uint32_t val, uint32_t dest);
uint32_t apic_id(void);
bool apic_x2apic_mode(void);
/* Bit n of the 256-bit ISR, TMR or IRR starting at reg. */
bool apic_read_bit(unsigned reg, int n);
void eoi(void);

/* TPR as a priority class 0-15 (CR8 on 64-bit, the TPR register on 32-bit). */
uint8_t apic_get_tpr(void);
void apic_set_tpr(uint8_t tpr);

/* IA32_APIC_BASE: EN and EXTD off (xAPIC accessors from now on). */
void disable_apic(void);
/* disable_apic(), then EN back on and SPIV = 0x1ff (upstream's reset_apic). */
void reset_apic(void);
/* SPIV = 0x1ff: software-enabled, spurious vector 0xff. */
void enable_apic(void);
/* If CPUID advertises x2APIC, sets EXTD and switches accessors; returns whether it did. */
bool enable_x2apic(void);
/* Masks every input of both 8259 PICs (OCW1 0xff). */
void mask_pic_interrupts(void);

uint32_t ioapic_read_reg(unsigned reg);
void ioapic_write_reg(unsigned reg, uint32_t value);

#endif
