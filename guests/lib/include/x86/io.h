/*
 * Port I/O. The same source works for -m64 and -m32: only 'in'/'out' with
 * the port in DX are used, so any 16-bit port number is allowed.
 */
#ifndef X86_IO_H
#define X86_IO_H

#include <stdint.h>

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	asm volatile("inb %w1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	asm volatile("inw %w1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	asm volatile("inl %w1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void outb(uint8_t v, uint16_t port)
{
	asm volatile("outb %0, %w1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t v, uint16_t port)
{
	asm volatile("outw %0, %w1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint32_t v, uint16_t port)
{
	asm volatile("outl %0, %w1" : : "a"(v), "Nd"(port));
}

#endif
