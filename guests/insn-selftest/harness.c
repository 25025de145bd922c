/*
 * Checksums and input tables shared by the families. The hash is a
 * 64-bit multiply-xorshift mix: cheap, order-sensitive, and it uses only
 * instructions whose results are fully defined (imul, xor, shr).
 */
#include "selftest.h"

const u64 flag_inputs[2] = { FL_CLEAR, FL_SET };

const u64 vals[] = {
	0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff,
	0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ull,
	0x7fffffffffffffffull, 0x8000000000000000ull, 0xffffffffffffffffull,
	0x0123456789abcdefull, 0xfedcba9876543210ull, 0x5555aaaa33cc0ff0ull,
	0xdeadbeefcafebabeull, 0x00000000fffffffeull,
};
const int nr_vals = ARRAY_SIZE(vals);

const int size_bits[4] = { 8, 16, 32, 64 };

#define HASH_SEED 0xcbf29ce484222325ull

static const char *family_name;
static u64 family_hash, total_hash = HASH_SEED;

static u64 mix(u64 h, u64 v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15ull;
	h ^= h >> 29;
	return h;
}

void fold(u64 v)
{
	family_hash = mix(family_hash, v);
}

void fold_buf(const void *p, size_t n)
{
	const u8 *b = p;

	for (size_t i = 0; i < n; i++)
		fold(b[i]);
}

void family_begin(const char *name)
{
	family_name = name;
	family_hash = HASH_SEED;
}

void family_end(void)
{
	printf("insn %s: %016lx\n", family_name, (unsigned long)family_hash);
	total_hash = mix(total_hash, family_hash);
}

u64 total_checksum(void)
{
	return total_hash;
}
