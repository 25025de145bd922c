/*
 * 32-bit descriptor tables: the 32-bit TSS and its GDT descriptor. The IDT
 * is lib/idt.c, the context hooks of fault.c lib/context.c.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/segments.h"

struct tss32 {
	u32 prev;
	u32 esp0, ss0;		/* stack for events from CPL3 */
	u32 esp1, ss1, esp2, ss2;
	u32 cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
	u32 es, cs, ss, ds, fs, gs, ldt;
	u16 trap;
	u16 iomap_base;		/* >= limit: no I/O permission bitmap */
} __attribute__((packed));

#define TSS_AVAILABLE	0x89	/* present, 32-bit available TSS */

static struct tss32 tss __aligned(16);
static u8 rsp0_stack[16384] __aligned(16);

void setup_tss(void)
{
	u32 base = (unsigned long)&tss;
	u32 limit = sizeof(tss) - 1;

	tss.esp0 = (unsigned long)(rsp0_stack + sizeof(rsp0_stack));
	tss.ss0 = KERNEL_DS;
	tss.iomap_base = sizeof(tss);
	gdt[TSS_SEL / 8] = gdt_code_data(base, limit, TSS_AVAILABLE, 0);
	ltr(TSS_SEL);
}

void set_tss_rsp0(unsigned long rsp0)
{
	tss.esp0 = rsp0;
}

unsigned long get_tss_rsp0(void)
{
	return tss.esp0;
}
