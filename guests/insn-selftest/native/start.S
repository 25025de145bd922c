/*
 * Entry of the Linux twin of insn-selftest (see linux.c): the kernel
 * starts us with argc at (%rsp) and argv right above it.
 */
	.text
	.globl _start
_start:
	endbr64
	xor %ebp, %ebp
	mov (%rsp), %rdi
	lea 8(%rsp), %rsi
	and $-16, %rsp
	call main
	mov %eax, %edi
	call exit
	ud2

	.section .note.GNU-stack, "", @progbits
