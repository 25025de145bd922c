/*
 * Test verdicts in kvm-unit-tests' libcflat text format, so that the same
 * tooling (and people's eyes) read our guests' output and upstream's alike.
 */
#include "libcflat.h"

static int tests, failures, xfailures, skipped;

/* Prefixes are kept as one "a: b: " string, like upstream. */
static char prefixes[256];

void report_prefix_push(const char *prefix)
{
	size_t used = strlen(prefixes);

	snprintf(prefixes + used, sizeof(prefixes) - used, "%s: ", prefix);
}

void report_prefix_pop(void)
{
	size_t n = strlen(prefixes);

	if (n < 2)
		return;
	/* Drop the trailing ": ", then everything after the previous one. */
	n -= 2;
	while (n > 0 && !(prefixes[n - 1] == ' ' && n >= 2 && prefixes[n - 2] == ':'))
		n--;
	prefixes[n] = '\0';
}

/* Under the console lock: one whole line, and the counters, per CPU at a time. */
static void print_line(const char *verdict, const char *fmt, va_list ap)
{
	printf("%s: %s", verdict, prefixes);
	vprintf(fmt, ap);
	putchar('\n');
}

static bool va_report(bool xfail, bool pass, const char *fmt, va_list ap)
{
	const char *verdict;

	console_lock();
	tests++;
	if (pass) {
		verdict = xfail ? "XPASS" : "PASS";
		if (xfail)
			failures++;	/* an unexpected pass is a failure */
	} else if (xfail) {
		verdict = "XFAIL";
		xfailures++;
	} else {
		verdict = "FAIL";
		failures++;
	}
	print_line(verdict, fmt, ap);
	console_unlock();
	return pass;
}

bool report(bool pass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	va_report(false, pass, fmt, ap);
	va_end(ap);
	return pass;
}

bool report_xfail(bool xfail, bool pass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	va_report(xfail, pass, fmt, ap);
	va_end(ap);
	return pass;
}

void report_skip(const char *fmt, ...)
{
	va_list ap;

	console_lock();
	tests++;
	skipped++;
	va_start(ap, fmt);
	print_line("SKIP", fmt, ap);
	va_end(ap);
	console_unlock();
}

void report_info(const char *fmt, ...)
{
	va_list ap;

	console_lock();
	va_start(ap, fmt);
	print_line("INFO", fmt, ap);
	va_end(ap);
	console_unlock();
}

int report_summary(void)
{
	printf("SUMMARY: %d tests", tests);
	if (failures)
		printf(", %d unexpected failures", failures);
	if (xfailures)
		printf(", %d expected failures", xfailures);
	if (skipped)
		printf(", %d skipped", skipped);
	putchar('\n');

	if (failures)
		return 1;
	/* 77 is the harness' SKIP status; QEMU reports (38 << 1) | 1 = 77. */
	if (tests == skipped)
		return 77 >> 1;
	return 0;
}
