/*
 * Memory and string helpers. gcc emits calls to memset/memcpy/memmove/
 * memcmp on its own (struct copies, loop idioms), so they must exist.
 * The bulk operations use rep stosb/movsb: short code, correct for any
 * alignment, and a single instruction for an emulator to run. They are
 * written in asm also so that gcc cannot turn a C loop in memset back
 * into a call to memset.
 */
#include "libcflat.h"

void *memset(void *s, int c, size_t n)
{
	void *d = s;

	asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return s;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;

	asm volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
	return dst;
}

/* Overlap-safe: copy backwards (DF=1) when dst is above src. */
void *memmove(void *dst, const void *src, size_t n)
{
	if (dst <= src || (const char *)src + n <= (char *)dst)
		return memcpy(dst, src, n);
	if (n) {
		void *d = (char *)dst + n - 1;
		const void *sp = (const char *)src + n - 1;

		asm volatile("std; rep movsb; cld"
			     : "+D"(d), "+S"(sp), "+c"(n) : : "memory");
	}
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *p = a, *q = b;

	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			break;
	}
	return 0;
}

char *strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}

long atol(const char *s)
{
	bool neg = false;
	unsigned base = 10;
	unsigned long v = 0;

	if (*s == '-') {
		neg = true;
		s++;
	}
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (;; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		v = v * base + d;
	}
	return neg ? -(long)v : (long)v;
}
