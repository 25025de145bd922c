/*
 * argv from the multiboot command line. QEMU passes "<kernel> <append...>",
 * so argv[0] is the image name and argv[1..] the -append words, exactly as
 * kvm-unit-tests sees them. The string is copied because the loader's copy
 * lives in memory the guest does not own.
 */
#include "libcflat.h"
#include "multiboot.h"

#define MAX_ARGS 64
#define MAX_CMDLINE 1024

int __argc;
char *__argv[MAX_ARGS + 1];
static char cmdline[MAX_CMDLINE];

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void setup_args(const struct multiboot_info *mbi)
{
	const char *src = "";
	size_t n = 0;

	if (mbi && (mbi->flags & MULTIBOOT_INFO_CMDLINE) && mbi->cmdline)
		src = (const char *)(unsigned long)mbi->cmdline;
	while (src[n] && n < MAX_CMDLINE - 1) {
		cmdline[n] = src[n];
		n++;
	}
	cmdline[n] = '\0';

	/* Split in place on blanks; no quoting, like upstream. */
	__argc = 0;
	for (char *p = cmdline; *p && __argc < MAX_ARGS;) {
		while (is_space(*p))
			*p++ = '\0';
		if (!*p)
			break;
		__argv[__argc++] = p;
		while (*p && !is_space(*p))
			p++;
	}
	__argv[__argc] = NULL;
}
