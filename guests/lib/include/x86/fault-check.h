/*
 * Checking and describing a caught fault (struct fault_info from
 * catch_fault, run_in_user or ex_last): the predicates tests build their
 * verdicts from, and the one line a failed verdict prints about the fault.
 */
#ifndef X86_FAULT_CHECK_H
#define X86_FAULT_CHECK_H

#include <stdbool.h>
#include "x86/desc.h"

/* fi is the exception `vector` with error code ec. */
static inline bool fault_is(const struct fault_info *fi, int vector, unsigned long ec)
{
	return fi->vector == vector && fi->error_code == ec;
}

/* fi is a #PF with error code ec and CR2 = cr2. */
static inline bool fault_is_pf(const struct fault_info *fi, unsigned long ec,
			       unsigned long cr2)
{
	return fault_is(fi, PF_VECTOR, ec) && fi->cr2 == cr2;
}

/*
 * An INFO line: "  no fault", or the vector, error code, CR2 (for #PF
 * only) and the RIP in the exception frame.
 */
void report_fault(const struct fault_info *fi);

/* report(ok, ...), and the fault described when the verdict is FAIL. */
#define REPORT_FI(ok, fi, ...) \
	do { if (!report((ok), __VA_ARGS__)) report_fault(fi); } while (0)

#endif
