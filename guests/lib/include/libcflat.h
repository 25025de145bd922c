/*
 * libcflat: the portable part of the guest library (console output, test
 * reporting, exit, string helpers). Nothing here depends on the CPU mode,
 * so the same header serves the 64-bit build and the later -m32 build.
 */
#ifndef LIBCFLAT_H
#define LIBCFLAT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define __noreturn __attribute__((noreturn))
#define __printf(f, a) __attribute__((format(printf, f, a)))
#define __aligned(n) __attribute__((aligned(n)))
#define __unused __attribute__((unused))

/* Console (serial.c, printf.c). Output goes to COM1; '\n' is sent as is. */
void putchar(int c);
int puts(const char *s);		/* no newline appended */
int printf(const char *fmt, ...) __printf(1, 2);
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
/*
 * Console lock (smp.c): printf and report() hold it so that lines from
 * several CPUs do not interleave. Recursive per CPU; a no-op until
 * smp_init() has started other CPUs.
 */
#ifdef NATIVE	/* insn-selftest's Linux twin: one thread */
static inline void console_lock(void) {}
static inline void console_unlock(void) {}
#else
void console_lock(void);
void console_unlock(void);
#endif

/*
 * exit(code) stops the machine through isa-debug-exit: the host sees
 * status (code << 1) | 1. abort() is exit(63), i.e. status 127.
 */
void __noreturn exit(int code);
void __noreturn abort(void);

#define assert(cond)							\
	do {								\
		if (!(cond)) {						\
			printf("%s:%d: assert failed: %s\n",		\
			       __FILE__, __LINE__, #cond);		\
			abort();					\
		}							\
	} while (0)

/*
 * Test reporting (report.c), same text as kvm-unit-tests' libcflat:
 *   "PASS: [prefix: ]name", "FAIL: ...", "XFAIL: ...", "XPASS: ...",
 *   "SKIP: ...", "INFO: ...", and
 *   "SUMMARY: N tests[, M unexpected failures][, X expected failures][, K skipped]".
 * report_summary() returns what main() should return: 1 if anything failed
 * unexpectedly, 38 if every test was skipped (38 -> QEMU status 77, the
 * harness' SKIP), else 0.
 */
bool report(bool pass, const char *fmt, ...) __printf(2, 3);
bool report_xfail(bool xfail, bool pass, const char *fmt, ...) __printf(3, 4);
void report_skip(const char *fmt, ...) __printf(1, 2);
void report_info(const char *fmt, ...) __printf(1, 2);
void report_prefix_push(const char *prefix);
void report_prefix_pop(void);
int report_summary(void);

/* Command line (argv.c): argv[0] is the kernel name QEMU puts first. */
extern int __argc;
extern char *__argv[];

/* String and memory helpers (string.c); gcc -O2 may emit calls to these. */
void *memset(void *s, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
long atol(const char *s);		/* decimal or 0x-hex, optional '-' */

#endif
