/*
 * sieve: CPU-bound benchmark guest. Sieves a 1,000,000-byte array (primes
 * below 10^6) N times; N = argv[1] (default DEFAULT_ROUNDS). Every round
 * does identical work, so guest work scales linearly with N and the output
 * is deterministic. The benchmark runs it under mmulab and under QEMU TCG
 * with the same N and compares wall time.
 *
 * One round is about 14 million guest instructions at -O2: ~2.1 M
 * marking iterations of 4 instructions, a 10^6-iteration counting loop of
 * 5, and a rep stosb over 10^6 bytes (one instruction, 10^6 iterations).
 * The default of 16 rounds is therefore about 225 million instructions.
 */
#include "libcflat.h"

#define SIEVE_SIZE	1000000
#define PRIMES_BELOW_1M	78498
#define DEFAULT_ROUNDS	16

/* In .bss: the image stays small; memory traffic is 1 MB per pass. */
static u8 composite[SIEVE_SIZE];

static unsigned sieve_once(void)
{
	unsigned count = 0;

	memset(composite, 0, sizeof(composite));
	for (unsigned long i = 2; i * i < SIEVE_SIZE; i++) {
		if (composite[i])
			continue;
		for (unsigned long j = i * i; j < SIEVE_SIZE; j += i)
			composite[j] = 1;
	}
	for (unsigned long i = 2; i < SIEVE_SIZE; i++)
		count += !composite[i];
	return count;
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : DEFAULT_ROUNDS;
	unsigned primes = 0;
	bool consistent = true;

	if (rounds < 1)
		rounds = 1;
	for (long r = 0; r < rounds; r++) {
		unsigned n = sieve_once();

		if (r > 0 && n != primes)
			consistent = false;
		primes = n;
	}
	printf("sieve: %u primes below %u, %ld rounds\n", primes, SIEVE_SIZE, rounds);
	report(primes == PRIMES_BELOW_1M && consistent,
	       "sieve: %d primes below 1000000 in every round", PRIMES_BELOW_1M);
	return report_summary();
}
