/* report_fault() of x86/fault-check.h. */
#include "libcflat.h"
#include "x86/fault-check.h"

void report_fault(const struct fault_info *fi)
{
	if (fi->vector < 0)
		report_info("  no fault");
	else if (fi->vector == PF_VECTOR)
		report_info("  vector %d error code %#lx cr2 %#lx ip %#lx", fi->vector,
			    fi->error_code, fi->cr2, fi->ip);
	else
		report_info("  vector %d error code %#lx ip %#lx", fi->vector,
			    fi->error_code, fi->ip);
}
