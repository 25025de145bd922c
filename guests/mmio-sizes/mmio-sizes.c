/*
 * mmio-sizes: accesses of every size to guest-physical addresses no memslot backs (above the
 * 128 MiB of RAM, inside the boot identity map): 1-, 2-, 4- and 8-byte reads and writes, an
 * 8-byte access that straddles the end of RAM (half RAM, half unbacked), a string copy out of the
 * hole, and RAM still intact after all of it. Nothing answers there, so reads return what the bus
 * gives for unassigned space and writes vanish; the guest prints what it read, which must be the
 * same in every mmulab mode and under QEMU. Under a hypervisor each access is an MMIO exit
 * (an MMIO SPTE after the first), so this exercises the emulation of odd sizes and split accesses.
 */
#include "libcflat.h"

#define HOLE	0x10000000ul		/* 256 MiB */
#define RAM_END	(128ul << 20)

static u8 copy[16];

int main(void)
{
	volatile u8 *b = (volatile u8 *)HOLE;
	volatile u16 *w = (volatile u16 *)(HOLE + 0x10);
	volatile u32 *d = (volatile u32 *)(HOLE + 0x20);
	volatile u64 *q = (volatile u64 *)(HOLE + 0x30);
	volatile u64 *split = (volatile u64 *)(RAM_END - 4);
	volatile u32 *last = (volatile u32 *)(RAM_END - 4);

	report_prefix_push("mmio-sizes");
	*b = 0x12; *w = 0x3456; *d = 0x789abcde; *q = 0x0123456789abcdeful;
	report_info("reads: byte %#x word %#x dword %#x qword %#lx", *b, *w, *d, *q);
	report(*b == *b && *w == *w && *d == *d && *q == *q, "reads of the hole are repeatable");

	*last = 0xcafef00d;
	u64 s = *split;
	report_info("8-byte read across the end of RAM: %#lx", s);
	report((u32)s == 0xcafef00d, "the RAM half of a split read is RAM");
	*split = 0x1111111122222222ul;
	report(*last == 0x22222222, "the RAM half of a split write reaches RAM");

	asm volatile("rep movsb" : : "S"(HOLE + 0x100), "D"(copy), "c"(sizeof(copy)) : "memory");
	report_info("rep movsb from the hole: %02x %02x ... %02x", copy[0], copy[1], copy[15]);
	report(copy[0] == *(volatile u8 *)(HOLE + 0x100), "a string copy reads what single reads read");

	report_prefix_pop();
	return report_summary();
}
