/*
 * 64-bit descriptor tables: IDT gates (16 bytes each), the TSS and its
 * 16-byte GDT descriptor, and the arch hooks of fault.c (resuming a saved
 * context through an iret frame, the user-mode stack).
 */
#include "libcflat.h"
#include "x86/context.h"
#include "x86/desc.h"
#include "x86/segments.h"

struct idt_gate {
	u16 offset0;
	u16 selector;
	u8 ist;			/* bits 0-2: IST index, 0 = no stack switch by IST */
	u8 type_attr;		/* P | DPL << 5 | type */
	u16 offset1;
	u32 offset2;
	u32 reserved;
} __attribute__((packed));

struct tss64 {
	u32 reserved0;
	u64 rsp[3];		/* rsp[0]: stack for events from CPL3 */
	u64 reserved1;
	u64 ist[7];		/* ist[0] is IST1 */
	u64 reserved2;
	u16 reserved3;
	u16 iomap_base;		/* >= limit: no I/O permission bitmap */
} __attribute__((packed));

#define GATE_PRESENT	0x80
#define GATE_INTERRUPT	0x0e	/* 64-bit interrupt gate: clears IF */
#define TSS_AVAILABLE	0x89	/* present, 64-bit available TSS */
#define IST_DF		1	/* #DF gets its own stack: survives a blown stack */

static struct idt_gate idt[256] __aligned(16);
static struct tss64 tss __aligned(16);
static u8 rsp0_stack[16384] __aligned(16);
static u8 df_stack[8192] __aligned(16);
static u8 user_stack[16384] __aligned(16);

extern void *isr_stub_table[256];
extern u64 gdt[GDT_ENTRIES];

static void set_gate(u8 vector, void *addr, int dpl, int ist)
{
	unsigned long a = (unsigned long)addr;
	struct idt_gate *g = &idt[vector];

	g->offset0 = a & 0xffff;
	g->selector = KERNEL_CS64;
	g->ist = ist;
	g->type_attr = GATE_PRESENT | (dpl & 3) << 5 | GATE_INTERRUPT;
	g->offset1 = (a >> 16) & 0xffff;
	g->offset2 = a >> 32;
	g->reserved = 0;
}

void set_idt_entry(u8 vector, void *addr, int dpl)
{
	set_gate(vector, addr, dpl, 0);
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

void set_idt_ist(u8 vector, int ist)
{
	idt[vector].ist = ist & 7;
}

static int default_dpl(int v)
{
	return v == BP_VECTOR || v == OF_VECTOR || v == USER_RET_VECTOR ? 3 : 0;
}

void restore_idt_entry(u8 vector)
{
	set_gate(vector, isr_stub_table[vector], default_dpl(vector),
		 vector == DF_VECTOR ? IST_DF : 0);
}

void set_tss_ist(int n, unsigned long sp)
{
	tss.ist[n - 1] = sp;
}

unsigned long get_tss_ist(int n)
{
	return tss.ist[n - 1];
}

void setup_idt(void)
{
	static struct descriptor_table_ptr idtr;

	/* int3 and into are meant to be usable from user mode. */
	for (int v = 0; v < 256; v++)
		set_gate(v, isr_stub_table[v], v == BP_VECTOR || v == OF_VECTOR ? 3 : 0,
			 v == DF_VECTOR ? IST_DF : 0);

	idtr.limit = sizeof(idt) - 1;
	idtr.base = (unsigned long)idt;
	lidt(&idtr);
}

void setup_tss(void)
{
	u64 base = (unsigned long)&tss;
	u64 limit = sizeof(tss) - 1;

	tss.rsp[0] = (unsigned long)(rsp0_stack + sizeof(rsp0_stack));
	tss.ist[IST_DF - 1] = (unsigned long)(df_stack + sizeof(df_stack));
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

void resume_context(struct ex_regs *regs, const struct saved_context *ctx,
		    unsigned long value)
{
	regs->bx = ctx->bx;
	regs->bp = ctx->bp;
	regs->r12 = ctx->r12;
	regs->r13 = ctx->r13;
	regs->r14 = ctx->r14;
	regs->r15 = ctx->r15;
	regs->sp = ctx->sp;
	regs->ip = ctx->ip;
	regs->flags = ctx->flags;
	regs->cs = ctx->cs;
	regs->ss = ctx->ss;
	regs->ax = value;
}

void restore_kernel_segments(void)
{
	/* iretq to CPL3 nulls FS/GS (they held DPL0 selectors): reload all. */
	asm volatile("mov %k0, %%ds; mov %k0, %%es; mov %k0, %%fs; mov %k0, %%gs"
		     : : "r"(KERNEL_DS));
}

unsigned long user_stack_top(void)
{
	return (unsigned long)(user_stack + sizeof(user_stack));
}
