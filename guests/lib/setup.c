/*
 * The C half of boot: everything main() may rely on, in dependency order.
 * The boot stub calls lib_init() in 64-bit (or later 32-bit) mode with the
 * stack and paging ready, then main(__argc, __argv), then exit().
 */
#include "libcflat.h"
#include "multiboot.h"
#include "x86/desc.h"

void setup_args(const struct multiboot_info *mbi);

void lib_init(void)
{
	setup_idt();	/* first: a fault from here on is reported, not a triple fault */
	setup_tss();
	setup_args((const struct multiboot_info *)(unsigned long)mb_info_phys);
}
