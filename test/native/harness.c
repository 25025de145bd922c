/*
 * Native side of the instruction-semantics differential tests (test/exec, DESIGN.md section 8).
 *
 * Runs instruction snippets on the host CPU at the same addresses the emulator uses
 * (test/helpers/snippet.ts), so address-valued registers agree between the two sides:
 *   CODE  0x200000  4 KiB RWX: the snippet, then an epilogue `jmp *STATE+0x198`
 *   DATA  0x300000  8 KiB RW
 *   STACK 0x400000  4 KiB RW
 *   STATE 0x500000  4 KiB RW: register block used by run.S
 *
 * Protocol (all integers little-endian): stdin is a batch of cases until EOF, each
 *   u32 codeLen, codeLen bytes
 *   u64 regs[16] (RAX..R15), u64 rflags
 *   u32 nDataRuns,  nDataRuns  x (u32 offset, u32 length, length bytes)   initial DATA (rest 0)
 *   u32 nStackRuns, nStackRuns x (u32 offset, u32 length, length bytes)   initial STACK (rest 0)
 * and stdout gets one result per case, in order:
 *   u32 status (0 ran to the end, 1 exception), u32 vector (REG_TRAPNO; 0 when status is 0)
 *   u64 regs[16], u64 rflags (zero after an exception)
 *   u32 nDataRuns,  runs of DATA bytes that differ from the initial image (none after an exception)
 *   u32 nStackRuns, the same for STACK
 *
 * Faults (SIGFPE SIGSEGV SIGBUS SIGILL SIGTRAP) are caught on an alternate signal stack, since
 * the snippet's RSP can be anything, and reported with the hardware vector from the signal
 * context. Snippets must not make system calls or use privileged instructions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define CODE 0x200000UL
#define CODE_SIZE 0x1000UL
#define DATA 0x300000UL
#define DATA_SIZE 0x2000UL
#define STACK 0x400000UL
#define STACK_SIZE 0x1000UL
#define STATE 0x500000UL
#define STATE_SIZE 0x1000UL

/* Epilogue appended to every snippet: jmp qword ptr [STATE+0x198]. */
static const uint8_t EPILOGUE[] = {0xff, 0x24, 0x25, 0x98, 0x01, 0x50, 0x00};

extern void run_case(void);

static sigjmp_buf fault_env;
static volatile sig_atomic_t fault_vector;

static void on_fault(int sig, siginfo_t *si, void *uctx) {
  /* The kernel keeps EFLAGS.AC for the handler; a snippet may have set it (POPF), and glibc's
     misaligned accesses would then raise #AC inside the handler. */
  __asm__ volatile("pushfq; andq $~0x40000, (%%rsp); popfq" ::: "memory", "cc");
  (void)sig;
  (void)si;
  ucontext_t *uc = uctx;
  fault_vector = (sig_atomic_t)uc->uc_mcontext.gregs[REG_TRAPNO];
  siglongjmp(fault_env, 1);
}

static void die(const char *what) {
  fprintf(stderr, "native harness: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void map_fixed(unsigned long addr, unsigned long size, int prot) {
  void *p = mmap((void *)addr, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED || p != (void *)addr) die("mmap of a fixed snippet page failed");
}

/* Input reading over a fully buffered stdin. */
static uint8_t *in_buf;
static size_t in_len, in_pos;

static void read_all_input(void) {
  size_t cap = 1 << 20;
  in_buf = malloc(cap);
  if (!in_buf) die("malloc");
  for (;;) {
    if (in_len == cap) {
      cap *= 2;
      in_buf = realloc(in_buf, cap);
      if (!in_buf) die("realloc");
    }
    ssize_t n = read(0, in_buf + in_len, cap - in_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("read");
    }
    if (n == 0) break;
    in_len += (size_t)n;
  }
}

static void need(size_t n) {
  if (in_pos + n > in_len) {
    fprintf(stderr, "native harness: truncated input at byte %zu\n", in_pos);
    exit(2);
  }
}

static uint32_t get32(void) {
  uint32_t v;
  need(4);
  memcpy(&v, in_buf + in_pos, 4);
  in_pos += 4;
  return v;
}

static uint64_t get64(void) {
  uint64_t v;
  need(8);
  memcpy(&v, in_buf + in_pos, 8);
  in_pos += 8;
  return v;
}

static void get_runs(uint8_t *dst, size_t size) {
  uint32_t n = get32();
  for (uint32_t k = 0; k < n; k++) {
    uint32_t off = get32(), len = get32();
    if ((size_t)off + len > size) {
      fprintf(stderr, "native harness: run %u+%u outside a %zu-byte area\n", off, len, size);
      exit(2);
    }
    need(len);
    memcpy(dst + off, in_buf + in_pos, len);
    in_pos += len;
  }
}

/* Output buffering. */
static uint8_t *out_buf;
static size_t out_len, out_cap;

static void put(const void *p, size_t n) {
  if (out_len + n > out_cap) {
    out_cap = out_cap ? out_cap * 2 : 1 << 20;
    while (out_len + n > out_cap) out_cap *= 2;
    out_buf = realloc(out_buf, out_cap);
    if (!out_buf) die("realloc");
  }
  memcpy(out_buf + out_len, p, n);
  out_len += n;
}

static void put32(uint32_t v) { put(&v, 4); }

/* Writes the runs of bytes where `now` differs from `before`. */
static void put_diff(const uint8_t *before, const uint8_t *now, size_t size) {
  size_t count_pos = out_len;
  uint32_t n = 0;
  put32(0);
  if (memcmp(before, now, size) == 0) return;
  size_t i = 0;
  while (i < size) {
    if (before[i] == now[i]) {
      i++;
      continue;
    }
    /* A run ends after 8 equal bytes in a row. */
    size_t last = i, j = i + 1;
    while (j < size && j - last <= 8) {
      if (before[j] != now[j]) last = j;
      j++;
    }
    put32((uint32_t)i);
    put32((uint32_t)(last + 1 - i));
    put(now + i, last + 1 - i);
    n++;
    i = last + 1;
  }
  memcpy(out_buf + count_pos, &n, 4);
}

int main(void) {
  map_fixed(CODE, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC);
  map_fixed(DATA, DATA_SIZE, PROT_READ | PROT_WRITE);
  map_fixed(STACK, STACK_SIZE, PROT_READ | PROT_WRITE);
  map_fixed(STATE, STATE_SIZE, PROT_READ | PROT_WRITE);

  static uint8_t altstack[1 << 16];
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) die("sigaltstack");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  const int sigs[] = {SIGFPE, SIGSEGV, SIGBUS, SIGILL, SIGTRAP};
  for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++)
    if (sigaction(sigs[k], &sa, NULL) != 0) die("sigaction");
  alarm(120); /* a snippet that never reaches its end must not hang the test run */

  read_all_input();
  uint64_t *state = (uint64_t *)STATE;
  uint8_t *code = (uint8_t *)CODE, *data = (uint8_t *)DATA, *stack = (uint8_t *)STACK;
  static uint8_t data0[DATA_SIZE], stack0[STACK_SIZE];

  while (in_pos < in_len) {
    uint32_t code_len = get32();
    if (code_len + sizeof EPILOGUE > CODE_SIZE) {
      fprintf(stderr, "native harness: snippet of %u bytes is too long\n", code_len);
      exit(2);
    }
    need(code_len);
    memcpy(code, in_buf + in_pos, code_len);
    in_pos += code_len;
    memcpy(code + code_len, EPILOGUE, sizeof EPILOGUE);
    for (int r = 0; r < 16; r++) state[r] = get64();
    /* IF must read as 1 in user mode; TF would trap on every instruction. */
    state[0x80 / 8] = (get64() | 0x202) & ~(uint64_t)0x100;
    memset(data0, 0, DATA_SIZE);
    get_runs(data0, DATA_SIZE);
    memset(stack0, 0, STACK_SIZE);
    get_runs(stack0, STACK_SIZE);
    memcpy(data, data0, DATA_SIZE);
    memcpy(stack, stack0, STACK_SIZE);
    state[0x190 / 8] = CODE;

    if (sigsetjmp(fault_env, 1) == 0) {
      run_case();
      put32(0);
      put32(0);
      put(&state[0x100 / 8], 16 * 8);
      put(&state[0x180 / 8], 8);
      put_diff(data0, data, DATA_SIZE);
      put_diff(stack0, stack, STACK_SIZE);
    } else {
      static const uint8_t zeros[17 * 8];
      put32(1);
      put32((uint32_t)fault_vector);
      put(zeros, sizeof zeros);
      put32(0);
      put32(0);
    }
  }

  size_t done = 0;
  while (done < out_len) {
    ssize_t n = write(1, out_buf + done, out_len - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    done += (size_t)n;
  }
  return 0;
}
