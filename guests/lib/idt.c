/*
 * The IDT, the same in both builds: 256 interrupt gates to the entry stubs
 * (isr_stub_table, lib/ARCH/isr.S) and the gate editing of x86/desc.h. A
 * gate is 8 bytes in the 32-bit build (a 32-bit interrupt gate) and 16 in
 * the 64-bit build, which adds offset bits 63:32 and the IST index.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/segments.h"

struct idt_gate {
	u16 offset0;
	u16 selector;
	u8 ist;			/* 64-bit: bits 0-2 IST index, 0 = none; 32-bit: reserved (0) */
	u8 type_attr;		/* P | DPL << 5 | type */
	u16 offset1;
#ifdef __x86_64__
	u32 offset2;
	u32 reserved;
#endif
} __attribute__((packed));

#define GATE_PRESENT	0x80

#ifdef __x86_64__
#define GATE_CS		KERNEL_CS64
#else
#define GATE_CS		KERNEL_CS32
#endif

static struct idt_gate idt[256] __aligned(16);

extern void *isr_stub_table[256];

static void set_gate(u8 vector, void *addr, int dpl, int ist)
{
	unsigned long a = (unsigned long)addr;
	struct idt_gate *g = &idt[vector];

	g->offset0 = a & 0xffff;
	g->selector = GATE_CS;
	g->ist = ist;
	g->type_attr = GATE_PRESENT | (dpl & 3) << 5 | GATE_TYPE_INTERRUPT;
	g->offset1 = (a >> 16) & 0xffff;
#ifdef __x86_64__
	g->offset2 = a >> 32;
	g->reserved = 0;
#endif
}

/* #DF runs on its own IST stack in the 64-bit build: it survives a blown stack. */
static int default_ist(int v)
{
#ifdef __x86_64__
	return v == DF_VECTOR ? DF_IST : 0;
#else
	return 0;
#endif
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

#ifdef __x86_64__
void set_idt_ist(u8 vector, int ist)
{
	idt[vector].ist = ist & 7;
}
#endif

static int default_dpl(int v)
{
	return v == BP_VECTOR || v == OF_VECTOR || v == USER_RET_VECTOR ? 3 : 0;
}

void restore_idt_entry(u8 vector)
{
	set_gate(vector, isr_stub_table[vector], default_dpl(vector), default_ist(vector));
}

void setup_idt(void)
{
	static struct descriptor_table_ptr idtr;

	/*
	 * int3 and into are meant to be usable from user mode (the user-return
	 * vector gets DPL 3 when run_in_user first installs it).
	 */
	for (int v = 0; v < 256; v++)
		set_gate(v, isr_stub_table[v], v == BP_VECTOR || v == OF_VECTOR ? 3 : 0,
			 default_ist(v));
	idtr.limit = sizeof(idt) - 1;
	idtr.base = (unsigned long)idt;
	lidt(&idtr);
}
