/*
 * hello: the smallest useful guest. Proves boot, serial output, argv from
 * the multiboot command line, report() and the exit status path
 * (report_summary() == 0 -> exit(0) -> QEMU status 1).
 *
 * Arguments select extra outcomes, so runners can test their verdict
 * mapping on a known image:
 *   fail   add a FAIL line        -> status 3
 *   skip   add a SKIP line        -> status 1 (the PASS line still counts)
 *   abort  call abort()           -> status 127
 *   fault  unhandled #UD (ud2)    -> register dump, status 127
 */
#include "libcflat.h"

int main(int argc, char **argv)
{
	printf("Hello from mmulab guest\n");
	printf("argc = %d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d] = \"%s\"\n", i, argv[i]);

	report(argc >= 1, "hello: argv[0] present");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "fail"))
			report(false, "hello: deliberate failure");
		else if (!strcmp(argv[i], "skip"))
			report_skip("hello: deliberate skip");
		else if (!strcmp(argv[i], "abort"))
			abort();
		else if (!strcmp(argv[i], "fault"))
			asm volatile("ud2");
	}
	return report_summary();
}
