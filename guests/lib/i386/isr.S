/*
 * IDT entry stubs, 32-bit build. One stub per vector, as in the 64-bit
 * build: a 0 error code where the CPU pushes none, the vector number,
 * then isr_common.
 *
 * The 32-bit CPU frame has ESP/SS only after a privilege change, while
 * struct ex_regs always has sp and ss. So isr_common builds a complete
 * struct ex_regs copy below the raw frame (sp = the interrupted ESP,
 * computed for a same-privilege event), lets do_handle_exception() edit
 * it, and returns by building a fresh iret frame from the copy: on the
 * stack regs->sp names when going back to CPL0 (so a handler may move
 * the stack, as resume_context() does), or a 5-word frame when going to
 * CPL3. DS and ES are switched to KERNEL_DS for the C code (tests load
 * odd data segments) and restored from the interrupted values on the way
 * out.
 */

#include "x86/segments.h"

#define HAS_ERROR_CODE(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || \
			   (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

/* struct ex_regs offsets (14 dwords). */
#define R_VECTOR	28
#define R_IP		36
#define R_CS		40
#define R_FLAGS		44
#define R_SP		48
#define R_SS		52
#define R_SIZE		56

	.data
	.balign 4
	.globl isr_stub_table
isr_stub_table:

	.text
	vector = 0
	.rept 256
	.text
1:	endbr32
	.if !HAS_ERROR_CODE(vector)
	push $0
	.endif
	push $vector
	jmp isr_common
	.pushsection .data
	.long 1b
	.popsection
	vector = vector + 1
	.endr

isr_common:
	push %edi
	push %esi
	push %ebp
	push %ebx
	push %edx
	push %ecx
	push %eax
	cld
	mov %esp, %ebx			/* raw frame: 7 registers, vector, error, CPU frame */
	/* The interrupted DS/ES may be anything: run the C code on KERNEL_DS. */
	mov %ds, %ecx
	mov %es, %edx
	mov $KERNEL_DS, %eax
	mov %eax, %ds
	mov %eax, %es
	sub $R_SIZE, %esp
	push %edx			/* saved ES */
	push %ecx			/* saved DS */
	lea 8(%esp), %edi
	mov %ebx, %esi
	mov $12, %ecx			/* registers, vector, error code, ip, cs, flags */
	rep movsl
	testb $3, R_CS(%ebx)
	jz 1f
	mov R_SP(%ebx), %eax		/* from CPL3: the CPU pushed ESP and SS */
	mov %eax, 8 + R_SP(%esp)
	mov R_SS(%ebx), %eax
	mov %eax, 8 + R_SS(%esp)
	jmp 2f
1:	lea R_SP(%ebx), %eax		/* same privilege: ESP before the event */
	mov %eax, 8 + R_SP(%esp)
	xor %eax, %eax
	mov %ss, %ax
	mov %eax, 8 + R_SS(%esp)
2:	lea 8(%esp), %eax
	push %eax
	call do_handle_exception
	add $4, %esp
	pop %ecx			/* saved DS */
	pop %edx			/* saved ES */

	mov %esp, %esi			/* the (edited) struct ex_regs */
	testb $3, R_CS(%esi)
	jnz 3f
	/* Back to CPL0: DS, ES, 7 registers and EIP/CS/EFLAGS at regs->sp - 48. */
	mov R_SP(%esi), %edi
	sub $48, %edi
	mov %edi, %ebx
	mov %ecx, (%edi)
	mov %edx, 4(%edi)
	add $8, %edi
	mov $7, %ecx
	rep movsl
	lea R_IP(%esp), %esi
	mov $3, %ecx
	rep movsl
	mov %ebx, %esp
	jmp 4f
	/* To CPL3: DS, ES, 7 registers and EIP/CS/EFLAGS/ESP/SS just below regs. */
3:	lea -56(%esi), %edi
	mov %edi, %ebx
	mov %ecx, (%edi)
	mov %edx, 4(%edi)
	add $8, %edi
	mov $7, %ecx
	rep movsl
	lea R_IP(%esp), %esi
	mov $5, %ecx
	rep movsl
	mov %ebx, %esp
4:	pop %ds
	pop %es
	pop %eax
	pop %ecx
	pop %edx
	pop %ebx
	pop %ebp
	pop %esi
	pop %edi
	iret

	.section .note.GNU-stack, "", @progbits
