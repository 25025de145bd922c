/*
 * 64-bit descriptor tables: the TSS (RSP0 and IST stacks) and its 16-byte
 * GDT descriptor. The IDT is lib/idt.c, the context hooks of fault.c
 * lib/context.c.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/segments.h"

struct tss64 {
	u32 reserved0;
	u64 rsp[3];		/* rsp[0]: stack for events from CPL3 */
	u64 reserved1;
	u64 ist[7];		/* ist[0] is IST1 */
	u64 reserved2;
	u16 reserved3;
	u16 iomap_base;		/* >= limit: no I/O permission bitmap */
} __attribute__((packed));

#define TSS_AVAILABLE	0x89	/* present, 64-bit available TSS */

static struct tss64 tss __aligned(16);
static u8 rsp0_stack[16384] __aligned(16);
static u8 df_stack[8192] __aligned(16);

extern u64 gdt[GDT_ENTRIES];

void setup_tss(void)
{
	u64 base = (unsigned long)&tss;
	u64 limit = sizeof(tss) - 1;

	tss.rsp[0] = (unsigned long)(rsp0_stack + sizeof(rsp0_stack));
	tss.ist[DF_IST - 1] = (unsigned long)(df_stack + sizeof(df_stack));
	tss.iomap_base = sizeof(tss);

	/* System descriptors are 16 bytes in long mode: base 63:32 in the 2nd. */
	gdt[TSS_SEL / 8] = (limit & 0xffff) | (base & 0xffffff) << 16 |
			   (u64)TSS_AVAILABLE << 40 | ((limit >> 16) & 0xf) << 48 |
			   ((base >> 24) & 0xff) << 56;
	gdt[TSS_SEL / 8 + 1] = base >> 32;
	ltr(TSS_SEL);
}

void set_tss_rsp0(unsigned long rsp0)
{
	tss.rsp[0] = rsp0;
}

unsigned long get_tss_rsp0(void)
{
	return tss.rsp[0];
}

void set_tss_ist(int n, unsigned long sp)
{
	tss.ist[n - 1] = sp;
}

unsigned long get_tss_ist(int n)
{
	return tss.ist[n - 1];
}
