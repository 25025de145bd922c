/*
 * insn-selftest: runs every instruction family, prints one checksum line
 * per family and a total, then known-answer checks as PASS/FAIL lines.
 * The checksum lines are the differential part (compare runs under
 * mmulab, QEMU and the real CPU via build/guests/insn-selftest.native);
 * the PASS lines catch errors without any reference run.
 */
#include "selftest.h"

static void (*const families[])(void) = {
	test_alu, test_unary, test_shift, test_rotate, test_shift_double,
	test_muldiv, test_bitops, test_bitscan, test_cond, test_flagops,
	test_movx, test_lea, test_xchg, test_string, test_stack, test_call,
	test_misc,
};

static void (*const checks[])(void) = {
	check_alu, check_unary, check_shift, check_rotate, check_shift_double,
	check_muldiv, check_bitops, check_bitscan, check_cond, check_flagops,
	check_movx, check_lea, check_xchg, check_string, check_stack, check_call,
	check_misc,
};

int main(int argc, char **argv)
{
	for (unsigned i = 0; i < ARRAY_SIZE(families); i++)
		families[i]();
	printf("checksum %016lx\n", (unsigned long)total_checksum());
	for (unsigned i = 0; i < ARRAY_SIZE(checks); i++)
		checks[i]();
	return report_summary();
}
