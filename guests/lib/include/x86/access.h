/*
 * One memory access of each kind to a test page, for paging tests: a byte
 * read and a byte write at page + ACCESS_DATA_OFFSET, and an instruction
 * fetch at the page itself (which must hold a 'ret', 0xc3, at offset 0).
 * The functions take the page as their void * argument so that
 * catch_fault() and run_in_user() can run them directly; they touch no
 * global, so they also work from the user alias of a 32-bit image.
 */
#ifndef X86_ACCESS_H
#define X86_ACCESS_H

#include <stdbool.h>
#include "x86/desc.h"

#define ACCESS_DATA_OFFSET	0x800
#define ACCESS_WRITE_VALUE	0x5a	/* what access_write() stores */

enum access_kind { ACCESS_READ, ACCESS_WRITE, ACCESS_FETCH };

void access_read(void *page);
void access_write(void *page);
void access_fetch(void *page);

/* The address the access of `kind` to page touches: the CR2 of its #PF. */
static inline unsigned long access_addr(enum access_kind kind, unsigned long page)
{
	return page + (kind == ACCESS_FETCH ? 0 : ACCESS_DATA_OFFSET);
}

/*
 * Run the access of `kind` to page through catch_fault (user false) or
 * run_in_user (user true); returns true with *fi filled if it faulted.
 */
bool access_caught(enum access_kind kind, unsigned long page, bool user,
		   struct fault_info *fi);

#endif
