/*
 * Host side of test/exec/segment-query.test.ts: runs a block of machine code in this user
 * process (CPL 3, the host kernel's GDT) and prints what it wrote.
 *
 *   segment-query OUT_BYTES < CODE
 *
 * CODE (at most 1 MiB) is copied to an executable page and called as void code(void *out) with
 * a zeroed buffer of OUT_BYTES (at most 1 MiB); the buffer then goes to stdout. The test's code
 * runs LAR, LSL, VERR and VERW on selectors of the host's GDT and stores results and RFLAGS.
 * The process pins itself to the first CPU it may run on: Linux's per-CPU segment (GDT entry 15)
 * has the CPU number as its limit, so two runs on different CPUs would disagree.
 * Status 2 for bad arguments or input, 1 if the host refuses the mapping or the pinning.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define LIMIT 0x100000

int main(int argc, char **argv) {
  long outBytes = argc == 2 ? strtol(argv[1], NULL, 0) : -1;
  if (outBytes <= 0 || outBytes > LIMIT) {
    fprintf(stderr, "usage: segment-query OUT_BYTES (1-1048576) < CODE\n");
    return 2;
  }
  static unsigned char code[LIMIT];
  size_t len = fread(code, 1, sizeof code, stdin);
  if (len == 0 || !feof(stdin)) {
    fprintf(stderr, "segment-query: code must be 1 byte to 1 MiB\n");
    return 2;
  }
  void *page = mmap(NULL, LIMIT, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  unsigned char *out = calloc(1, (size_t)outBytes);
  if (page == MAP_FAILED || out == NULL) {
    perror("segment-query");
    return 1;
  }
  cpu_set_t allowed, one;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
    perror("segment-query: sched_getaffinity");
    return 1;
  }
  CPU_ZERO(&one);
  for (int c = 0; c < CPU_SETSIZE; c++) {
    if (CPU_ISSET(c, &allowed)) {
      CPU_SET(c, &one);
      break;
    }
  }
  if (sched_setaffinity(0, sizeof one, &one) != 0) {
    perror("segment-query: sched_setaffinity");
    return 1;
  }
  memcpy(page, code, len);
  ((void (*)(void *))page)(out);
  fwrite(out, 1, (size_t)outBytes, stdout);
  return 0;
}
