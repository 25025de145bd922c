/*
 * mmulab's test device (ports 0x5e0-0x5ff): memslot changes at run time and KVM counters, for
 * guests that test the MMU from inside. Absent under QEMU: mmulab_present() says whether it is.
 */
#ifndef X86_MMULAB_H
#define X86_MMULAB_H

#include <stdbool.h>
#include <stdint.h>
#include "x86/io.h"

#define MMULAB_COUNTER_SELECT	0x5e0
#define MMULAB_COUNTER_VALUE	0x5e4
#define MMULAB_COMMAND		0x5f0
#define MMULAB_SLOT_ID		0x5f4
#define MMULAB_SLOT_GPA		0x5f8
#define MMULAB_SLOT_PAGES	0x5fc
#define MMULAB_SIGNATURE	0x424c4d4d

/* Counter indexes, as listed by the device. */
enum mmulab_counter {
	MMULAB_PF_MMIO_SPTE_CREATED, MMULAB_MMIO_FAST_HIT, MMULAB_MMIO_GEN_MISMATCH,
	MMULAB_MMIO_GEN_WRAP_ZAPS, MMULAB_ROOT_ALLOC, MMULAB_ROOT_FREED, MMULAB_ROOT_REUSE,
	MMULAB_EXITS, MMULAB_PF_FIXED, MMULAB_MMIO_EXITS, MMULAB_MEMSLOT_UPDATES,
	MMULAB_INVARIANT_VIOLATIONS, MMULAB_CR3_WRITES, MMULAB_FAST_PGD_SWITCH_HIT,
	MMULAB_FAST_PGD_SWITCH_MISS, MMULAB_REQ_MMU_SYNC, MMULAB_UNSYNC_MARKED,
	MMULAB_UNSYNC_TO_SYNC, MMULAB_SYNC_PAGE, MMULAB_INVLPG,
	MMULAB_NR_COUNTERS,
};

static inline bool mmulab_present(void)
{
	return inl(MMULAB_COMMAND) == MMULAB_SIGNATURE;
}

/* A KVM counter, or 0xffffffff when no hypervisor runs the guest (bare mode). */
static inline uint32_t mmulab_counter(enum mmulab_counter c)
{
	outl(c, MMULAB_COUNTER_SELECT);
	return inl(MMULAB_COUNTER_VALUE);
}

static inline bool mmulab_hypervisor(void)
{
	return mmulab_counter(MMULAB_EXITS) != 0xffffffff;
}

static inline bool mmulab_slot_add(uint32_t id, uint32_t gpa, uint32_t pages)
{
	outl(id, MMULAB_SLOT_ID);
	outl(gpa, MMULAB_SLOT_GPA);
	outl(pages, MMULAB_SLOT_PAGES);
	outl(1, MMULAB_COMMAND);
	return inl(MMULAB_SLOT_ID) == 0;
}

static inline bool mmulab_slot_remove(uint32_t id)
{
	outl(id, MMULAB_SLOT_ID);
	outl(2, MMULAB_COMMAND);
	return inl(MMULAB_SLOT_ID) == 0;
}

static inline bool mmulab_slot_move(uint32_t id, uint32_t gpa)
{
	outl(id, MMULAB_SLOT_ID);
	outl(gpa, MMULAB_SLOT_GPA);
	outl(3, MMULAB_COMMAND);
	return inl(MMULAB_SLOT_ID) == 0;
}

/*
 * The VMM moves the slot to new host memory: copies it, deletes and re-creates the slot over the
 * copy, and poisons the old host pages (0x6b bytes).
 */
static inline bool mmulab_slot_reback(uint32_t id)
{
	outl(id, MMULAB_SLOT_ID);
	outl(9, MMULAB_COMMAND);
	return inl(MMULAB_SLOT_ID) == 0;
}

#endif
