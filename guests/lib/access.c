/* The test-page accesses of x86/access.h. */
#include "libcflat.h"
#include "x86/access.h"

void access_read(void *page)
{
	(void)*(volatile u8 *)((unsigned long)page + ACCESS_DATA_OFFSET);
}

void access_write(void *page)
{
	*(volatile u8 *)((unsigned long)page + ACCESS_DATA_OFFSET) = ACCESS_WRITE_VALUE;
}

void access_fetch(void *page)
{
	((void (*)(void))page)();
}

static void (*const access_fn[])(void *) = {
	[ACCESS_READ] = access_read,
	[ACCESS_WRITE] = access_write,
	[ACCESS_FETCH] = access_fetch,
};

bool access_caught(enum access_kind kind, unsigned long page, bool user,
		   struct fault_info *fi)
{
	if (user)
		return run_in_user(access_fn[kind], (void *)page, fi);
	return catch_fault(access_fn[kind], (void *)page, fi);
}
