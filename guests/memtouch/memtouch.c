/*
 * memtouch: writes a tag to every 4 KiB page of guest-physical 8-126 MiB (identity mapped),
 * then reads every tag back, for a few passes with different tags. On any CPU the tags read are
 * the tags written. Under a hypervisor the working set is large: with 4 KiB host backing KVM needs
 * a shadow or TDP page per 2 MiB, more than a small KVM_SET_NR_MMU_PAGES limit, so the shadow and
 * legacy TDP MMUs must recycle pages as it runs, and the data must survive that.
 * Argument: passes (default 3).
 */
#include "libcflat.h"

#define START	(8ul << 20)
#define END	(126ul << 20)

int main(int argc, char **argv)
{
	int passes = argc > 1 ? atol(argv[1]) : 3;
	unsigned long wrong = 0;

	report_prefix_push("memtouch");
	for (int p = 0; p < passes; p++) {
		unsigned long seed = 0x9e3779b97f4a7c15ul * (p + 1);

		for (unsigned long a = START; a < END; a += 4096) *(volatile unsigned long *)a = a ^ seed;
		for (unsigned long a = START; a < END; a += 4096) {
			if (*(volatile unsigned long *)a != (a ^ seed)) wrong++;
		}
	}
	report_info("%d passes over %lu pages", passes, (END - START) / 4096);
	report(wrong == 0, "every page reads back the tag written (%lu wrong)", wrong);
	report_prefix_pop();
	return report_summary();
}
