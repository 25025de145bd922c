/*
 * exitloop: tight loops of one exit-type instruction, for measuring how fast the emulator runs
 * instructions a hypervisor intercepts (issue 14: they should run at the interpreter's normal
 * rate in bare mode). Usage: exitloop KIND [N]; KIND is one of
 *   alu      add/xor/dec only (the reference rate)
 *   cpuid    CPUID leaf 0
 *   rdmsr    RDMSR of IA32_SYSENTER_CS (plain storage)
 *   wrmsr    WRMSR of IA32_SYSENTER_CS
 *   out      OUT to port 0x80 (the POST port, nothing decodes it)
 *   in       IN from port 0x80
 *   crread   MOV from CR0 and CR3
 *   crwrite  MOV to CR0 of its own value
 *   invlpg   INVLPG of address 4095 (not used by the loop), as upstream vmexit's invlpg test
 *   cr0wp    MOV to CR0 toggling WP, as upstream vmexit's toggle_cr0_wp
 *   cr4pge   MOV to CR4 toggling PGE (a whole-TLB flush), as upstream vmexit's toggle_cr4_pge
 * N (default 1,000,000) iterations of a five-instruction loop body, so the instruction
 * count is the same for every KIND. Prints a checksum so the loop cannot be left out.
 */
#include "libcflat.h"

#define DEFAULT_ITERATIONS 1000000

static unsigned long loop(const char *kind, unsigned long n)
{
	unsigned long acc = 0;

	if (!strcmp(kind, "alu")) {
		asm volatile("1: add $3, %0\n\txor $1, %0\n\tadd $5, %0\n\tdec %1\n\tjnz 1b"
			     : "+r"(acc), "+r"(n) : : "cc");
	} else if (!strcmp(kind, "cpuid")) {
		asm volatile("1: xor %%eax, %%eax\n\txor %%ecx, %%ecx\n\tcpuid\n\tdec %1\n\tjnz 1b"
			     : "+S"(acc), "+D"(n) : : "rax", "rbx", "rcx", "rdx", "cc");
		acc = 0;
	} else if (!strcmp(kind, "rdmsr")) {
		asm volatile("1: mov $0x174, %%ecx\n\trdmsr\n\tadd %%eax, %k0\n\tdec %1\n\tjnz 1b"
			     : "+S"(acc), "+D"(n) : : "rax", "rcx", "rdx", "cc");
	} else if (!strcmp(kind, "wrmsr")) {
		asm volatile("1: mov $0x174, %%ecx\n\txor %%edx, %%edx\n\twrmsr\n\tdec %1\n\tjnz 1b"
			     : "+a"(acc), "+D"(n) : : "rcx", "rdx", "cc");
	} else if (!strcmp(kind, "out")) {
		asm volatile("1: mov $0x80, %%edx\n\tout %%al, %%dx\n\tadd $1, %0\n\tdec %1\n\tjnz 1b"
			     : "+a"(acc), "+D"(n) : : "rdx", "cc");
	} else if (!strcmp(kind, "in")) {
		asm volatile("1: mov $0x80, %%edx\n\tin %%dx, %%al\n\tadd %%rax, %0\n\tdec %1\n\tjnz 1b"
			     : "+S"(acc), "+D"(n) : : "rax", "rdx", "cc");
	} else if (!strcmp(kind, "crread")) {
		asm volatile("1: mov %%cr0, %%rax\n\tmov %%cr3, %%rdx\n\tadd %%rax, %0\n\tdec %1\n\tjnz 1b"
			     : "+S"(acc), "+D"(n) : : "rax", "rdx", "cc");
	} else if (!strcmp(kind, "crwrite")) {
		asm volatile("mov %%cr0, %%rax\n1: mov %%rax, %%cr0\n\tadd $1, %0\n\tadd $1, %0\n\tdec %1\n\tjnz 1b"
			     : "+S"(acc), "+D"(n) : : "rax", "cc");
	} else if (!strcmp(kind, "cr0wp")) {
		asm volatile("mov %%cr0, %%rax\n1: xor $0x10000, %%rax\n\tmov %%rax, %%cr0\n\tadd $1, %0\n\tdec %1\n\tjnz 1b"
			     : "+S"(acc), "+D"(n) : : "rax", "cc");
	} else if (!strcmp(kind, "cr4pge")) {
		asm volatile("mov %%cr4, %%rax\n1: xor $0x80, %%rax\n\tmov %%rax, %%cr4\n\tadd $1, %0\n\tdec %1\n\tjnz 1b"
			     : "+S"(acc), "+D"(n) : : "rax", "cc");
	} else if (!strcmp(kind, "invlpg")) {
		/* As upstream vmexit's invlpg test: an address the loop never touches. */
		asm volatile("1: invlpg (%2)\n\tadd $1, %0\n\tadd $1, %0\n\tdec %1\n\tjnz 1b"
			     : "+S"(acc), "+D"(n) : "r"(4095UL) : "memory", "cc");
	} else {
		printf("exitloop: unknown kind '%s'\n", kind);
		abort();
	}
	return acc;
}

int main(int argc, char **argv)
{
	const char *kind = argc > 1 ? argv[1] : "cpuid";
	unsigned long n = argc > 2 ? atol(argv[2]) : DEFAULT_ITERATIONS;

	if (n < 1)
		n = 1;
	unsigned long acc = loop(kind, n);
	printf("exitloop: %s x %lu, checksum %lu\n", kind, n, acc);
	report(true, "exitloop: %s", kind);
	return report_summary();
}
