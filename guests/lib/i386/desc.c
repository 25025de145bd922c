/*
 * 32-bit descriptor tables: IDT of 8-byte 32-bit gates, the 32-bit TSS
 * and its GDT descriptor, and the arch hooks of fault.c.
 */
#include "libcflat.h"
#include "x86/context.h"
#include "x86/desc.h"
#include "x86/segments.h"

struct idt_gate {
	u16 offset0;
	u16 selector;
	u8 reserved;
	u8 type_attr;		/* P | DPL << 5 | type */
	u16 offset1;
} __attribute__((packed));

struct tss32 {
	u32 prev;
	u32 esp0, ss0;		/* stack for events from CPL3 */
	u32 esp1, ss1, esp2, ss2;
	u32 cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
	u32 es, cs, ss, ds, fs, gs, ldt;
	u16 trap;
	u16 iomap_base;		/* >= limit: no I/O permission bitmap */
} __attribute__((packed));

#define GATE_PRESENT	0x80
#define TSS_AVAILABLE	0x89	/* present, 32-bit available TSS */

static struct idt_gate idt[256] __aligned(16);
static struct tss32 tss __aligned(16);
static u8 rsp0_stack[16384] __aligned(16);
static u8 user_stack[16384] __aligned(16);

extern void *isr_stub_table[256];

static int default_dpl(int v)
{
	return v == BP_VECTOR || v == OF_VECTOR || v == USER_RET_VECTOR ? 3 : 0;
}

static void set_gate(u8 vector, void *addr, int dpl)
{
	unsigned long a = (unsigned long)addr;
	struct idt_gate *g = &idt[vector];

	g->offset0 = a & 0xffff;
	g->selector = KERNEL_CS32;
	g->reserved = 0;
	g->type_attr = GATE_PRESENT | (dpl & 3) << 5 | GATE_TYPE_INTERRUPT;
	g->offset1 = a >> 16;
}

void set_idt_entry(u8 vector, void *addr, int dpl)
{
	set_gate(vector, addr, dpl);
}

void set_idt_dpl(u8 vector, int dpl)
{
	idt[vector].type_attr = (idt[vector].type_attr & ~0x60) | (dpl & 3) << 5;
}

void set_idt_type(u8 vector, int type)
{
	idt[vector].type_attr = (idt[vector].type_attr & ~0x0f) | (type & 0x0f);
}

void set_idt_sel(u8 vector, u16 sel)
{
	idt[vector].selector = sel;
}

void set_idt_present(u8 vector, bool present)
{
	if (present)
		idt[vector].type_attr |= GATE_PRESENT;
	else
		idt[vector].type_attr &= ~GATE_PRESENT;
}

void restore_idt_entry(u8 vector)
{
	set_gate(vector, isr_stub_table[vector], default_dpl(vector));
}

void setup_idt(void)
{
	static struct descriptor_table_ptr idtr;

	/* int3 and into are meant to be usable from user mode. */
	for (int v = 0; v < 256; v++)
		set_gate(v, isr_stub_table[v], v == BP_VECTOR || v == OF_VECTOR ? 3 : 0);
	idtr.limit = sizeof(idt) - 1;
	idtr.base = (unsigned long)idt;
	lidt(&idtr);
}

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

void resume_context(struct ex_regs *regs, const struct saved_context *ctx,
		    unsigned long value)
{
	regs->bx = ctx->bx;
	regs->bp = ctx->bp;
	regs->si = ctx->si;
	regs->di = ctx->di;
	regs->sp = ctx->sp;
	regs->ip = ctx->ip;
	regs->flags = ctx->flags;
	regs->cs = ctx->cs;
	regs->ss = ctx->ss;
	regs->ax = value;
}

void restore_kernel_segments(void)
{
	asm volatile("mov %k0, %%ds; mov %k0, %%es; mov %k0, %%fs; mov %k0, %%gs"
		     : : "r"(KERNEL_DS));
}

unsigned long user_stack_top(void)
{
	return (unsigned long)(user_stack + sizeof(user_stack));
}
