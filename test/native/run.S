/*
 * Register switch for the native differential harness (see harness.c).
 *
 * The state block lives at the fixed address STATE = 0x500000 (mapped by harness.c), so every
 * access below is an absolute 32-bit address and needs no register:
 *   STATE+0x000  in.regs[16]   RAX..R15 loaded before the jump
 *   STATE+0x080  in.rflags
 *   STATE+0x100  out.regs[16]  saved by save_all
 *   STATE+0x180  out.rflags
 *   STATE+0x188  host RSP while the snippet runs
 *   STATE+0x190  address the snippet starts at (CODE)
 *   STATE+0x198  address of save_all (the epilogue after the snippet is `jmp *STATE+0x198`)
 *   STATE+0xff0  top of a scratch stack used only by save_all for PUSHFQ
 */
        .set STATE, 0x500000

        .text
        .globl run_case
        .type run_case, @function
/* void run_case(void): runs one snippet; returns when the epilogue has saved the state. */
run_case:
        push %rbx
        push %rbp
        push %r12
        push %r13
        push %r14
        push %r15
        mov %rsp, STATE+0x188
        lea save_all(%rip), %rax
        mov %rax, STATE+0x198
        pushq STATE+0x080
        popfq
        /* MOV does not change flags, so RFLAGS is exactly the input from here on. */
        mov STATE+0x000, %rax
        mov STATE+0x008, %rcx
        mov STATE+0x010, %rdx
        mov STATE+0x018, %rbx
        mov STATE+0x028, %rbp
        mov STATE+0x030, %rsi
        mov STATE+0x038, %rdi
        mov STATE+0x040, %r8
        mov STATE+0x048, %r9
        mov STATE+0x050, %r10
        mov STATE+0x058, %r11
        mov STATE+0x060, %r12
        mov STATE+0x068, %r13
        mov STATE+0x070, %r14
        mov STATE+0x078, %r15
        mov STATE+0x020, %rsp
        jmp *STATE+0x190

/* Reached by `jmp *STATE+0x198` right after the snippet; every register is still the snippet's. */
save_all:
        mov %rax, STATE+0x100
        mov %rcx, STATE+0x108
        mov %rdx, STATE+0x110
        mov %rbx, STATE+0x118
        mov %rsp, STATE+0x120
        mov %rbp, STATE+0x128
        mov %rsi, STATE+0x130
        mov %rdi, STATE+0x138
        mov %r8, STATE+0x140
        mov %r9, STATE+0x148
        mov %r10, STATE+0x150
        mov %r11, STATE+0x158
        mov %r12, STATE+0x160
        mov %r13, STATE+0x168
        mov %r14, STATE+0x170
        mov %r15, STATE+0x178
        mov $STATE+0xff0, %rsp
        pushfq
        pop %rax
        mov %rax, STATE+0x180
        /* Back to a clean RFLAGS for the C code (DF and AC clear). */
        pushq $0x202
        popfq
        mov STATE+0x188, %rsp
        pop %r15
        pop %r14
        pop %r13
        pop %r12
        pop %rbp
        pop %rbx
        ret
        .size run_case, .-run_case

        .section .note.GNU-stack,"",@progbits
