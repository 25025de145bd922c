/*
 * access: the page-table access matrix of kvm-unit-tests' x86/access.c,
 * written for mmulab's guest library. The 64-bit image (this folder) runs
 * it with 4-level paging and, when CPUID.7.0:ECX.LA57 is set, again with
 * 5-level paging; the -m32 image (../access-32, which includes this file)
 * runs it with 32-bit 2-level paging (4 MiB pages) and with PAE paging.
 *
 * One case is a set of flags (enum below; the bit order is upstream's, so
 * a case number printed here names the same case there): the bits of the
 * PTE and PDE that map one test address (P, R/W, U/S, A, D, XD, PS, a
 * reserved bit: 51, 36 or, in a large PDE, 13), R/W=0 in the PDPTE, the
 * protection key and PKRU's AD/WD bits for it, the access (read, write or
 * fetch; supervisor or user; optionally after a supervisor read) and the
 * CPU state (EFER.NXE, CR0.WP, CR4.PKE). The matrix is every combination
 * that is meaningful (ac_illegal() below prunes the rest the way upstream
 * does: no fetch+write, PKRU bits only with CR4.PKE, the large-page
 * reserved bit only with PS, at most one reserved bit, CR4.SMEP never).
 *
 * For each case the guest writes the entries, computes what the SDM says
 * must happen (ac_expect(): fault or not, the error code, CR2 and the A/D
 * bits of the PTE and PDE afterwards; Vol. 3 4.6-4.8), INVLPGs the address,
 * sets the CPU state, performs the access (ac_access(), in access64.S /
 * ../access-32/access32.S: a raw #PF handler records error code and CR2 and
 * resumes after the access; CPL3 accesses enter user mode with IRET and
 * come back through a DPL-3 interrupt gate) and compares. A failing case
 * prints its flags, expected and actual result and the entries of the
 * walk; at the end, failures are grouped by (expected, actual) result.
 *
 * In the 32-bit modes the flags that cannot be expressed are left out:
 * protection keys and PDPTE R/W (PAE PDPTEs have neither), and in 32-bit
 * paging XD and bits 51/36 too; "pde.13" there sets bit 21 of a 4 MiB PDE
 * (bits 20:13 hold physical-address bits with PSE-36) and is named pde.21.
 * CR4.PKE stays in the matrix: outside IA-32e mode it must change nothing,
 * so the guest sets PKRU to disable every key then. The forced-emulation
 * flag (fep) needs KVM's forced emulation prefix and is never set here.
 *
 * After the matrix, the special cases upstream checks, adapted to each
 * paging mode: the error code for an access through a PTE that a shadow
 * MMU may have prefetched, large-page aliases and their D bits with
 * CR0.WP=0 and =1, SMEP after a CR0.WP=0 write, CR0.WP toggled with
 * stale MMU state, and effective permissions of page tables reached
 * through entries with different rights.
 *
 * Arguments (after the image name; all optional):
 *   stride=N offset=K  run only the cases whose counter is K modulo N
 *   from=A to=B        run only counters A <= c < B
 *   case=0xFLAGS       run one case (no special cases)
 *   levels=L           one paging mode: 4 or 5 (64-bit), 2 or 3 (-m32)
 *   nospecial          skip the special cases
 *   count              count the cases only, run nothing
 *   maxfail=N          print at most N failing cases in full (default 20)
 *   verbose            print every case
 * The counter enumerates the valid flag combinations in upstream's order
 * (flags that cannot be expressed, e.g. bit 36 with MAXPHYADDR > 36, are
 * left out of it), so stride/offset and from/to select evenly spread or
 * contiguous parts of the same matrix.
 */
#include "libcflat.h"
#include "x86/desc.h"
#include "x86/processor.h"
#include "x86/vm.h"

enum {
	AC_PTE_WRITABLE_BIT, AC_PTE_USER_BIT, AC_PTE_ACCESSED_BIT,
	AC_PTE_DIRTY_BIT, AC_PTE_NX_BIT, AC_PTE_PRESENT_BIT,
	AC_PTE_BIT51_BIT, AC_PTE_BIT36_BIT,
	AC_PDE_WRITABLE_BIT, AC_PDE_USER_BIT, AC_PDE_ACCESSED_BIT,
	AC_PDE_DIRTY_BIT, AC_PDE_PSE_BIT, AC_PDE_NX_BIT, AC_PDE_PRESENT_BIT,
	AC_PDE_BIT51_BIT, AC_PDE_BIT36_BIT, AC_PDE_BIT13_BIT,
	AC_PDPTE_NO_WRITABLE_BIT,
	AC_PKU_AD_BIT, AC_PKU_WD_BIT, AC_PKU_PKEY_BIT,
	AC_ACCESS_USER_BIT, AC_ACCESS_WRITE_BIT, AC_ACCESS_FETCH_BIT,
	AC_ACCESS_TWICE_BIT,
	AC_CPU_EFER_NX_BIT, AC_CPU_CR0_WP_BIT, AC_CPU_CR4_SMEP_BIT,
	AC_CPU_CR4_PKE_BIT,
	AC_FEP_BIT,
	AC_NR_FLAGS
};

#define F_(b)		(1u << AC_##b##_BIT)
#define PTE_W		F_(PTE_WRITABLE)
#define PTE_U		F_(PTE_USER)
#define PTE_A		F_(PTE_ACCESSED)
#define PTE_D		F_(PTE_DIRTY)
#define PTE_NX		F_(PTE_NX)
#define PTE_P		F_(PTE_PRESENT)
#define PTE_51		F_(PTE_BIT51)
#define PTE_36		F_(PTE_BIT36)
#define PDE_W		F_(PDE_WRITABLE)
#define PDE_U		F_(PDE_USER)
#define PDE_A		F_(PDE_ACCESSED)
#define PDE_D		F_(PDE_DIRTY)
#define PDE_PS		F_(PDE_PSE)
#define PDE_NX		F_(PDE_NX)
#define PDE_P		F_(PDE_PRESENT)
#define PDE_51		F_(PDE_BIT51)
#define PDE_36		F_(PDE_BIT36)
#define PDE_13		F_(PDE_BIT13)
#define PDPTE_RO	F_(PDPTE_NO_WRITABLE)
#define PKU_AD		F_(PKU_AD)
#define PKU_WD		F_(PKU_WD)
#define PKU_KEY		F_(PKU_PKEY)
#define ACC_USER	F_(ACCESS_USER)
#define ACC_WRITE	F_(ACCESS_WRITE)
#define ACC_FETCH	F_(ACCESS_FETCH)
#define ACC_TWICE	F_(ACCESS_TWICE)
#define CPU_NX		F_(CPU_EFER_NX)
#define CPU_WP		F_(CPU_CR0_WP)
#define CPU_SMEP	F_(CPU_CR4_SMEP)
#define CPU_PKE		F_(CPU_CR4_PKE)
#define FEP		F_(FEP)

static const char *flag_names[AC_NR_FLAGS] = {
	"pte.rw", "pte.user", "pte.a", "pte.d", "pte.nx", "pte.p", "pte.51",
	"pte.36", "pde.rw", "pde.user", "pde.a", "pde.d", "pde.pse", "pde.nx",
	"pde.p", "pde.51", "pde.36", "pde.13", "pdpte.ro", "pkru.ad", "pkru.wd",
	"pkey=1", "user", "write", "fetch", "twice", "efer.nx", "cr0.wp",
	"cr4.smep", "cr4.pke", "fep",
};

/* Paging-entry bits (the same positions in 4- and 8-byte entries). */
#define E_P	0x001ull
#define E_RW	0x002ull
#define E_US	0x004ull
#define E_A	0x020ull
#define E_D	0x040ull
#define E_PS	0x080ull
#define E_XD	(1ull << 63)
#define E_KEY(k) ((u64)(k) << 59)
#define TABLE_ADDR(e) ((unsigned long)((e) & 0xfffff000ull))

/*
 * Physical memory the test owns (identity-mapped in every mode, like
 * upstream's): the page every test address maps (a 'ret' at offset 0 for
 * fetches), and the pool of its private paging structures, which lies
 * inside the large page that maps the data page.
 */
#define DATA_PHYS	0x2000000ul
#define POOL_PHYS	0x2100000ul
#define POOL_PAGES	16

/* Access kinds for ac_access(). */
#define KIND_READ	0
#define KIND_WRITE	1
#define KIND_FETCH	2
#define KIND_USER	4

/* access64.S / access32.S */
int ac_access(unsigned long va, unsigned kind);
extern u32 ac_pf_error;
extern unsigned long ac_pf_cr2;
extern char ac_pf_entry[], ac_kernel_entry[];
extern char etext[];
#define KERNEL_ENTRY_VECTOR 0x20

/* The paging mode under test. */
static struct {
	const char *name;
	int levels;		/* 2 (32-bit), 3 (PAE), 4, 5 */
	int esize;		/* bytes per entry */
	int idx_bits;		/* index bits per level */
	unsigned long large;	/* size of a large page at level 2 */
	int large_rsvd_bit;	/* the reserved bit "pde.13" sets in a large PDE */
	bool xd;		/* entries have an XD bit */
	bool pk;		/* protection keys exist (IA-32e paging) */
	bool pae_pdpte;		/* the top level is PAE's 4 PDPTEs */
	unsigned long root;	/* physical address of the top-level table */
} pm;

/* Test addresses, per paging mode (see set_addresses()). */
static struct {
	unsigned long matrix;
	unsigned long huge[2];		/* two top-level entries, one large page */
	unsigned long prefetch[2];	/* PTEs 0 and 1 of one page table */
	unsigned long dirty[2];		/* two top-level entries, one large page */
	unsigned long smep;
	unsigned long wp;
	unsigned long eff[4];		/* shared tables reached with different rights */
} va;

static unsigned maxphy;
static bool have_nx, have_smep, have_pku, have_la57;
static unsigned long cur_cr0, cur_cr4;
static u64 cur_efer;
static u32 cur_pkru;
static bool pkru_known;
static u32 invalid;		/* flags this CPU / paging mode cannot express */

/* Arguments. */
static unsigned long long opt_stride = 1, opt_offset, opt_from, opt_to = ~0ull;
static long opt_case = -1;
static int opt_levels;
static bool opt_count, opt_verbose, opt_nospecial;
static unsigned long opt_maxfail = 20;

/* Result counters of one paging mode. */
static unsigned long long n_cases, n_failed, n_printed, n_rsvd_expected;
static unsigned long dots;

struct ac_test {
	u32 flags;
	unsigned long virt;
	u64 tables[6];		/* tables[l]: table a level-l entry points to */
	unsigned long pte_addr;	/* 0 when the PDE maps a large page */
	unsigned long pde_addr;
	/* What the SDM says must happen. */
	bool fault;
	u32 error;
	u64 pte, pde;		/* entries after the access */
	u64 pde_ignore;		/* bits of the PDE that may go either way */
};

/* ---- paging structures ------------------------------------------------ */

static inline unsigned idx(unsigned long v, int level)
{
	return (v >> (12 + pm.idx_bits * (level - 1))) & ((1u << pm.idx_bits) - 1);
}

static inline u64 ent_read(unsigned long a)
{
	if (pm.esize == 8)
		return *(volatile u64 *)a;
	return *(volatile u32 *)a;
}

static inline void ent_write(unsigned long a, u64 v)
{
	if (pm.esize == 8)
		*(volatile u64 *)a = v;
	else
		*(volatile u32 *)a = (u32)v;
}

static inline unsigned long ent_addr(unsigned long table, unsigned long v, int level)
{
	return table + idx(v, level) * pm.esize;
}

static unsigned pool_used;

static u64 pool_alloc(void)
{
	unsigned long pa;

	assert(pool_used < POOL_PAGES);
	pa = POOL_PHYS + pool_used++ * PAGE_SIZE;
	memset((void *)pa, 0, PAGE_SIZE);
	return pa;
}

/* ---- CPU state, changed only when it differs ---------------------------- */

static void set_cr0_wp(bool wp)
{
	unsigned long v = wp ? cur_cr0 | X86_CR0_WP : cur_cr0 & ~X86_CR0_WP;

	if (v != cur_cr0) {
		write_cr0(v);
		cur_cr0 = v;
	}
}

static void set_efer_nx(bool nx)
{
	u64 v = nx ? cur_efer | EFER_NX : cur_efer & ~EFER_NX;

	if (v != cur_efer) {
		wrmsr(MSR_EFER, v);
		cur_efer = v;
	}
}

static void wrpkru(u32 v)
{
	if (pkru_known && v == cur_pkru)
		return;
	asm volatile("wrpkru" : : "a"(v), "c"(0), "d"(0) : "memory");
	cur_pkru = v;
	pkru_known = true;
}

static int write_cr4_checked(unsigned long v)
{
	asm volatile(ASM_TRY("1f") "mov %0, %%cr4\n\t1:" : : "r"(v) : "memory");
	return exception_vector();
}

static void set_cr4_pke(bool pke)
{
	unsigned long v = pke ? cur_cr4 | X86_CR4_PKE : cur_cr4 & ~X86_CR4_PKE;

	if (v == cur_cr4)
		return;
	/*
	 * Leave every key but 0 access-disabled while CR4.PKE=0: the pages
	 * with key 1 must then be accessible anyway.
	 */
	if (!pke)
		wrpkru(0xfffffffcu);
	write_cr4(v);
	cur_cr4 = v;
}

/*
 * The identity map's leaves that hold the code get U/S=0 while CR4.SMEP is
 * set (only supervisor accesses run then), as upstream does.
 */
static void code_user(bool user)
{
	for (unsigned long a = 0x400000; a < (unsigned long)etext;) {
		unsigned long table = pm.root;
		int l;

		for (l = pm.levels; l >= 1; l--) {
			unsigned long ea = ent_addr(table, a, l);
			u64 e = ent_read(ea);

			assert(e & E_P);
			if (l == 1 || (l == 2 && (e & E_PS))) {
				ent_write(ea, user ? e | E_US : e & ~E_US);
				break;
			}
			table = TABLE_ADDR(e);
		}
		a = (a | ((1ul << (12 + pm.idx_bits * (l - 1))) - 1)) + 1;
	}
	write_cr3(read_cr3());
}

/* Returns the vector of the MOV to CR4 (-1: none). */
static int set_cr4_smep(bool smep)
{
	unsigned long v = smep ? cur_cr4 | X86_CR4_SMEP : cur_cr4 & ~X86_CR4_SMEP;
	int vec;

	if (v == cur_cr4)
		return -1;
	if (smep)
		code_user(false);
	vec = write_cr4_checked(v);
	if (vec >= 0 || !smep)
		code_user(true);
	if (vec < 0)
		cur_cr4 = v;
	return vec;
}

/* ---- building the walk of one test address ------------------------------ */

static void ac_init(struct ac_test *at, unsigned long virt, const struct ac_test *buddy)
{
	assert(idx(virt, pm.levels) != idx((unsigned long)ac_init, pm.levels));
	if (have_nx)
		set_efer_nx(true);
	set_cr0_wp(true);
	memset(at, 0, sizeof(*at));
	at->virt = virt;
	/* A fresh top-level entry: nothing of an earlier walk is reused. */
	ent_write(ent_addr(pm.root, virt, pm.levels), 0);
	if (pm.pae_pdpte)
		write_cr3(read_cr3());
	/*
	 * Below the top, a buddy's table is shared where the index at that
	 * level is the same: the special cases use this to make walks meet.
	 */
	for (int l = pm.levels; l > 1; l--)
		at->tables[l] = buddy && idx(virt, l) == idx(buddy->virt, l) ?
				buddy->tables[l] : pool_alloc();
}

static void check_table(const struct ac_test *at, int l, u64 e)
{
	if ((e & E_P) && !(l == 2 && (e & E_PS)) && TABLE_ADDR(e) != at->tables[l]) {
		printf("\naccess: level-%d entry for %#lx points to %#lx, not to %#llx\n",
		       l, at->virt, TABLE_ADDR(e), (unsigned long long)at->tables[l]);
		abort();
	}
}

static void ac_expect(struct ac_test *at, bool flush);

static void ac_setup(struct ac_test *at)
{
	u32 f = at->flags;
	unsigned long table = pm.root;
	bool pdpte_changed = false;

	at->pte_addr = 0;
	for (int l = pm.levels; l >= 1; l--) {
		unsigned long a = ent_addr(table, at->virt, l);
		u64 old = ent_read(a), e;

		if (l >= 3) {
			check_table(at, l, old);
			if (pm.pae_pdpte) {
				e = at->tables[l] | E_P;	/* PDPTEs have no rights */
			} else {
				/* Keep A/D: no write when nothing else changes. */
				e = at->tables[l] | (old & (E_A | E_D)) | E_P | E_US | E_RW;
				if (l == 3 && (f & PDPTE_RO))
					e &= ~E_RW;
			}
		} else if (l == 2) {
			if (f & PDE_PS) {
				e = (DATA_PHYS & ~(pm.large - 1)) | E_PS;
				if (f & PKU_KEY)
					e |= E_KEY(1);
				if (f & PDE_13)
					e |= 1ull << pm.large_rsvd_bit;
			} else {
				check_table(at, l, old);
				e = at->tables[l] | (old & (E_A | E_D));
				/* A key in a non-leaf entry means nothing. */
				if (f & PKU_KEY)
					e |= E_KEY(2);
			}
			if (f & PDE_P)
				e |= E_P;
			if (f & PDE_W)
				e |= E_RW;
			if (f & PDE_U)
				e |= E_US;
			if (f & PDE_A)
				e |= E_A;
			if (f & PDE_D)
				e |= E_D;
			if (f & PDE_NX)
				e |= E_XD;
			if (f & PDE_51)
				e |= 1ull << 51;
			if (f & PDE_36)
				e |= 1ull << 36;
			at->pde_addr = a;
		} else {
			e = DATA_PHYS;
			if (f & PKU_KEY)
				e |= E_KEY(1);
			if (f & PTE_P)
				e |= E_P;
			if (f & PTE_W)
				e |= E_RW;
			if (f & PTE_U)
				e |= E_US;
			if (f & PTE_A)
				e |= E_A;
			if (f & PTE_D)
				e |= E_D;
			if (f & PTE_NX)
				e |= E_XD;
			if (f & PTE_51)
				e |= 1ull << 51;
			if (f & PTE_36)
				e |= 1ull << 36;
			at->pte_addr = a;
		}
		if (e != old) {
			ent_write(a, e);
			if (pm.pae_pdpte && l == 3)
				pdpte_changed = true;
		}
		if (l == 2 && (f & PDE_PS))
			break;
		table = at->tables[l];
	}
	/* PAE: PDPTEs are read at MOV CR3 only (SDM 4.4.1). */
	if (pdpte_changed)
		write_cr3(read_cr3());
	ac_expect(at, true);
}

/* ---- the SDM's rules ------------------------------------------------------ */

/*
 * One access of kind 'f' (its ACC_* and CPU_* flags; the entries come from
 * at->flags) through the walk, as SDM Vol. 3 4.6-4.8 define it: a non-present
 * or reserved entry ends the walk; rights are ANDed over the levels
 * (PDPTE R/W, then PDE, then PTE); U/S, R/W with CR0.WP, XD with EFER.NXE,
 * SMEP, protection keys (IA-32e paging, user pages, data accesses: AD, or
 * WD for writes that CR0.WP or CPL3 make subject to it). Updates the model
 * of the PTE/PDE: A on success at every level used, D on the leaf for a
 * successful write. Returns whether it faults; *err gets the error code.
 */
static bool model_access(struct ac_test *at, u32 f, u32 *err)
{
	u32 e = at->flags;
	bool user = f & ACC_USER, write = f & ACC_WRITE, fetch = f & ACC_FETCH;
	bool nxe = (f & CPU_NX) && pm.xd, wp = f & CPU_WP;
	bool smep = f & CPU_SMEP, pke = (f & CPU_PKE) && pm.pk;
	/* Without EFER.NXE, bit 63 is reserved (PAE and IA-32e paging). */
	bool xd_rsvd = pm.xd && !nxe;
	bool w, u, x, fault = false;

	*err = PFERR_PRESENT;
	if (user)
		*err |= PFERR_USER;
	if (write)
		*err |= PFERR_WRITE;
	/* I/D: with PAE/IA-32e paging and NXE, or with SMEP (SDM 4.7). */
	if (fetch && (nxe || smep))
		*err |= PFERR_FETCH;

	if (!(e & PDE_P)) {
		*err &= ~PFERR_PRESENT;
		return true;
	}
	if ((e & (PDE_51 | PDE_36 | PDE_13)) || (xd_rsvd && (e & PDE_NX))) {
		*err |= PFERR_RSVD;
		return true;
	}
	w = !(e & PDPTE_RO) && (e & PDE_W);
	u = e & PDE_U;
	x = !(e & PDE_NX);
	if (!(e & PDE_PS)) {
		if (!(e & PTE_P)) {
			*err &= ~PFERR_PRESENT;
			return true;
		}
		if ((e & (PTE_51 | PTE_36)) || (xd_rsvd && (e & PTE_NX))) {
			*err |= PFERR_RSVD;
			return true;
		}
		w = w && (e & PTE_W);
		u = u && (e & PTE_U);
		x = x && !(e & PTE_NX);
	}

	if (user && !u)
		fault = true;
	if (write && !w && (user || wp))
		fault = true;
	if (fetch && !x)
		fault = true;
	if (fetch && !user && u && smep)
		fault = true;
	if (pke && u && !fetch && (e & PKU_KEY)) {
		if ((e & PKU_AD) || (write && (e & PKU_WD) && (user || wp))) {
			fault = true;
			*err |= PFERR_PK;
		}
	}
	if (fault)
		return true;

	if (e & PDE_PS) {
		at->pde |= E_A | (write ? E_D : 0);
	} else {
		at->pde |= E_A;
		at->pte |= E_A | (write ? E_D : 0);
	}
	return false;
}

static void ac_expect(struct ac_test *at, bool flush)
{
	u32 f = at->flags;

	if (flush)
		invlpg((void *)at->virt);
	at->pte = at->pte_addr ? ent_read(at->pte_addr) : 0;
	at->pde = ent_read(at->pde_addr);
	at->pde_ignore = 0;
	/* "twice": a supervisor read first; only its A bits matter. */
	if (f & ACC_TWICE)
		model_access(at, f & ~(ACC_USER | ACC_WRITE | ACC_FETCH), &at->error);
	at->fault = model_access(at, f, &at->error);
	/* A faulting walk may or may not have set A in the PDE it used. */
	if (at->fault)
		at->pde_ignore = E_A;
}

/* ---- running one case ------------------------------------------------------- */

static void show_flags(u32 f)
{
	printf("test %#x", f);
	for (int i = 0; i < AC_NR_FLAGS; i++)
		if (f & (1u << i))
			printf(" %s", flag_names[i]);
}

static void dump_walk(const struct ac_test *at)
{
	unsigned long table = pm.root;

	printf("  walk of %#lx:", at->virt);
	for (int l = pm.levels; l >= 1; l--) {
		unsigned long a = ent_addr(table, at->virt, l);
		u64 e = ent_read(a);

		printf(" L%d[%u]=%#llx", l, idx(at->virt, l), (unsigned long long)e);
		if (!(e & E_P) || (l == 2 && (e & E_PS)))
			break;
		table = TABLE_ADDR(e);
	}
	printf("\n");
}

/* Failures grouped by what was expected and what happened. */
struct fail_class {
	const char *what;
	bool exp_fault, got_fault;
	u32 exp_error, got_error;
	u32 first_flags;
	unsigned long long count;
};
static struct fail_class classes[32];
static unsigned n_classes;

static void count_class(const char *what, const struct ac_test *at, bool got_fault, u32 got_error)
{
	struct fail_class *c;
	u32 ee = at->fault ? at->error : 0, ge = got_fault ? got_error : 0;

	for (c = classes; c < classes + n_classes; c++)
		if (c->what == what && c->exp_fault == at->fault && c->got_fault == got_fault &&
		    c->exp_error == ee && c->got_error == ge) {
			c->count++;
			return;
		}
	if (n_classes == ARRAY_SIZE(classes))
		c = &classes[n_classes - 1];	/* the last class collects the overflow */
	else
		c = &classes[n_classes++];
	*c = (struct fail_class){ what, at->fault, got_fault, ee, ge, at->flags, 1 };
}

static bool ac_check(const struct ac_test *at, bool fault, u32 error, unsigned long cr2)
{
	u64 pte = at->pte_addr ? ent_read(at->pte_addr) : 0;
	u64 pde = ent_read(at->pde_addr);
	const char *what = NULL;
	char why[160];

	if (fault && !at->fault) {
		what = "unexpected fault";
		snprintf(why, sizeof(why), "unexpected fault, error code %#x", error);
	} else if (!fault && at->fault) {
		what = "unexpected access";
		snprintf(why, sizeof(why), "unexpected access, expected error code %#x", at->error);
	} else if (fault && error != at->error) {
		what = "error code";
		snprintf(why, sizeof(why), "error code %#x expected %#x", error, at->error);
	} else if (fault && cr2 != at->virt) {
		what = "cr2";
		snprintf(why, sizeof(why), "cr2 %#lx expected %#lx", cr2, at->virt);
	} else if (at->pte_addr && pte != at->pte) {
		what = "pte";
		snprintf(why, sizeof(why), "pte %#llx expected %#llx",
			 (unsigned long long)pte, (unsigned long long)at->pte);
	} else if ((pde & ~at->pde_ignore) != (at->pde & ~at->pde_ignore)) {
		what = "pde";
		snprintf(why, sizeof(why), "pde %#llx expected %#llx",
			 (unsigned long long)pde, (unsigned long long)at->pde);
	}
	if (!what) {
		if (opt_verbose) {
			show_flags(at->flags);
			printf(": PASS (%s %#x)\n", at->fault ? "#PF" : "no fault",
			       at->fault ? at->error : 0);
		}
		return true;
	}
	count_class(what, at, fault, error);
	if (n_printed++ < opt_maxfail || opt_verbose) {
		printf("\n");
		show_flags(at->flags);
		printf(": FAIL: %s\n", why);
		printf("  expected: %s error %#x pte %#llx pde %#llx (ignoring %#llx); got: %s error %#x cr2 %#lx\n",
		       at->fault ? "#PF" : "no fault", at->fault ? at->error : 0,
		       (unsigned long long)at->pte, (unsigned long long)at->pde,
		       (unsigned long long)at->pde_ignore, fault ? "#PF" : "no fault",
		       fault ? error : 0, fault ? cr2 : 0);
		dump_walk(at);
	} else if (n_printed == opt_maxfail + 1) {
		printf("\n(more failures are only counted; maxfail=N prints more)\n");
	}
	return false;
}

static unsigned access_kind(u32 f)
{
	unsigned k = f & ACC_FETCH ? KIND_FETCH : f & ACC_WRITE ? KIND_WRITE : KIND_READ;

	return f & ACC_USER ? k | KIND_USER : k;
}

static bool ac_do(struct ac_test *at)
{
	u32 f = at->flags;
	bool fault;

	*(volatile u8 *)DATA_PHYS = 0xc3;	/* ret, for fetches */
	set_cr0_wp(f & CPU_WP);
	if (have_nx)
		set_efer_nx(f & CPU_NX);
	if (have_pku) {
		set_cr4_pke(f & CPU_PKE);
		/*
		 * Key 0 (everything else) open; key 1 (the test page with
		 * pkey=1) per the flags; keys 2-15, among them the key in a
		 * non-leaf PDE, access- and write-disabled. Outside IA-32e
		 * mode there are no keys: all keys disabled must not matter.
		 */
		if (f & CPU_PKE)
			wrpkru(!pm.pk ? 0xffffffffu :
			       0xfffffff0u | (f & PKU_WD ? 8 : 0) | (f & PKU_AD ? 4 : 0));
	}
	if (have_smep)
		set_cr4_smep(f & CPU_SMEP);
	if (f & ACC_TWICE)
		ac_access(at->virt, KIND_READ);
	fault = ac_access(at->virt, access_kind(f));
	return ac_check(at, fault, ac_pf_error, ac_pf_cr2);
}

static bool ac_run_case(struct ac_test *at)
{
	ac_setup(at);
	if (at->fault && (at->error & PFERR_RSVD))
		n_rsvd_expected++;
	if (++n_cases % 65536 == 0) {
		putchar('.');
		dots++;
	}
	return ac_do(at);
}

/* ---- the matrix ------------------------------------------------------------- */

/*
 * -1 if f is a case, else the lowest bit position p such that every value
 * with f's bits at p and above is no case either (so the enumeration can
 * skip them all).
 */
static int ac_illegal(u32 f)
{
	int p = -1;
	u32 rsvd;

	if (f & CPU_SMEP)		/* set only by the special cases */
		p = AC_CPU_CR4_SMEP_BIT;
	if ((f & ACC_FETCH) && (f & ACC_WRITE) && p < AC_ACCESS_WRITE_BIT)
		p = AC_ACCESS_WRITE_BIT;
	if (!(f & CPU_PKE) && (f & (PKU_AD | PKU_WD))) {
		int q = f & PKU_WD ? AC_PKU_WD_BIT : AC_PKU_AD_BIT;

		if (p < q)
			p = q;
	}
	/* The large-page reserved bit needs a large page. */
	if ((f & PDE_13) && !(f & PDE_PS) && p < AC_PDE_PSE_BIT)
		p = AC_PDE_PSE_BIT;
	/* At most one reserved bit (XD counts without EFER.NXE). */
	rsvd = f & (PTE_51 | PTE_36 | PDE_51 | PDE_36 | PDE_13);
	if (!(f & CPU_NX))
		rsvd |= f & (PTE_NX | PDE_NX);
	if (rsvd & (rsvd - 1)) {
		int hi = 31 - __builtin_clz(rsvd);
		int second = 31 - __builtin_clz(rsvd & ~(1u << hi));

		if (p < second)
			p = second;
	}
	return p;
}

/* The counter <-> flags maps: the valid flags, packed (pdep/pext by bytes). */
static u32 dep_tab[4][256], ext_tab[4][256];
static unsigned n_valid;

/* How many valid flags lie below bit 'bit'. */
static int rank(int bit)
{
	int n = 0;

	for (int b = 0; b < bit; b++)
		n += !(invalid & (1u << b));
	return n;
}

static void init_counter(void)
{
	int pos[32];

	n_valid = 0;
	for (int b = 0; b < AC_NR_FLAGS; b++)
		if (!(invalid & (1u << b)))
			pos[n_valid++] = b;
	for (int k = 0; k < 4; k++)
		for (int v = 0; v < 256; v++) {
			u32 d = 0, x = 0;

			for (int j = 0; j < 8; j++) {
				int bit = 8 * k + j;

				if (!(v & (1 << j)))
					continue;
				if (bit < (int)n_valid)
					d |= 1u << pos[bit];
				if (bit < AC_NR_FLAGS && !(invalid & (1u << bit)))
					x |= 1u << rank(bit);
			}
			dep_tab[k][v] = d;
			ext_tab[k][v] = x;
		}
}

static inline u32 deposit(u32 c)
{
	return dep_tab[0][c & 0xff] | dep_tab[1][(c >> 8) & 0xff] |
	       dep_tab[2][(c >> 16) & 0xff] | dep_tab[3][c >> 24];
}

static inline u32 extract(u32 f)
{
	return ext_tab[0][f & 0xff] | ext_tab[1][(f >> 8) & 0xff] |
	       ext_tab[2][(f >> 16) & 0xff] | ext_tab[3][f >> 24];
}

/* The first counter >= c that the stride and offset select. */
static unsigned long long align_counter(unsigned long long c)
{
	unsigned long long r;

	if (opt_stride == 1)
		return c;
	r = c % opt_stride;
	return c + (opt_offset + opt_stride - r) % opt_stride;
}

static void run_matrix(void)
{
	struct ac_test at;
	unsigned long long end = 1ull << n_valid, c;

	if (opt_to < end)
		end = opt_to;
	pool_used = 0;
	ac_init(&at, va.matrix, NULL);
	for (c = align_counter(opt_from); c < end;) {
		u32 f = deposit((u32)c);
		int p = ac_illegal(f);

		if (p < 0) {
			if (opt_count) {
				u32 err;

				/* The model alone: how many cases expect RSVD. */
				at.flags = f;
				n_cases++;
				if (model_access(&at, f, &err) && (err & PFERR_RSVD))
					n_rsvd_expected++;
			} else {
				at.flags = f;
				if (!ac_run_case(&at))
					n_failed++;
			}
			c += opt_stride;
			continue;
		}
		/* Skip every value that agrees with f from bit p up. */
		{
			unsigned long long next = ((unsigned long long)(f | invalid | ((1u << p) - 1))) + 1;

			if (next >> AC_NR_FLAGS)
				break;
			c = align_counter(extract((u32)next & ~invalid));
		}
	}
	if (dots)
		printf("\n");
}

/* ---- the special cases ------------------------------------------------------- */

/* Set up, or re-expect after changing only the access, then run: true if it behaved. */
static bool step(struct ac_test *at, u32 flags, bool setup)
{
	at->flags = flags;
	if (setup)
		ac_setup(at);
	else
		ac_expect(at, true);
	return ac_do(at);
}

/*
 * Two top-level entries whose walks end in large PDEs mapping the same
 * page, one read-only (CR0.WP=1), one writable: reads through both, a write
 * through the writable one, then a write through the read-only one must
 * fault. (A shadow MMU that shares the "direct" shadow page of the large
 * page between the two gets this wrong; upstream's corrupt_hugepage_trigger.)
 */
static bool special_huge_alias(void)
{
	struct ac_test a1, a2;
	u32 base = CPU_WP | PDE_PS | PDE_P;

	ac_init(&a1, va.huge[0], NULL);
	ac_init(&a2, va.huge[1], &a1);
	return step(&a2, base, true) &&
	       step(&a1, base | PDE_W, true) &&
	       step(&a1, base | PDE_W | ACC_WRITE, false) &&
	       step(&a2, base | ACC_WRITE, false);
}

/*
 * Two neighbouring PTEs, the second with a reserved bit (XD without
 * EFER.NXE; in 32-bit paging, which has no reserved PTE bits, U/S=0 with a
 * CPL3 access instead): after an access through the first (which lets a
 * shadow MMU prefetch the second), an access through the second must give
 * the second's own error code. Upstream's check_pfec_on_prefetch_pte, but
 * with A set and the two PTEs first in their group of 8, so that KVM's
 * prefetch (accessed PTEs only, stopping at the first invalid one) does
 * reach the second.
 */
static bool special_prefetch(void)
{
	struct ac_test a1, a2;
	/* A=1: KVM prefetches only accessed guest PTEs. */
	u32 base = PDE_P | PDE_A | PTE_P | PTE_A;

	ac_init(&a1, va.prefetch[0], NULL);
	ac_init(&a2, va.prefetch[1], &a1);
	if (pm.xd) {
		a1.flags = base;
		ac_setup(&a1);
		a2.flags = base | PTE_NX;
	} else {
		a1.flags = base | PDE_U | PTE_U;
		ac_setup(&a1);
		a2.flags = base | PDE_U | ACC_USER;
	}
	ac_setup(&a2);
	return ac_do(&a1) && ac_do(&a2);
}

/*
 * Two large-page aliases, read-only, CR0.WP=0: a supervisor write through
 * each must succeed and set D in the PDE it went through, also after the
 * other alias was written (upstream's check_large_pte_dirty_for_nowp).
 */
static bool special_large_dirty(void)
{
	struct ac_test a1, a2;
	u32 base = PDE_P | PDE_PS;

	ac_init(&a1, va.dirty[0], NULL);
	ac_init(&a2, va.dirty[1], &a1);
	return step(&a2, base, true) &&
	       step(&a1, base | ACC_WRITE, true) &&
	       step(&a2, base | ACC_WRITE, false);
}

/*
 * SMEP with CR0.WP=0: a supervisor write to a read-only user page succeeds
 * (a shadow MMU maps it writable and supervisor-only then), after which a
 * supervisor fetch from it must still fault for SMEP. Then the same with
 * CR0.WP=1 (the write faults), as upstream's check_smep_andnot_wp.
 */
static bool special_smep_andnot_wp(void)
{
	struct ac_test a;
	u32 base = PDE_P | PTE_P | PDE_U | PTE_U | PDE_A | PTE_A | CPU_SMEP;
	bool ok;

	ac_init(&a, va.smep, NULL);
	ok = step(&a, base | ACC_WRITE, true) &&
	     step(&a, base | ACC_FETCH, false) &&
	     step(&a, base | CPU_WP | ACC_WRITE, false) &&
	     step(&a, base | CPU_WP | ACC_FETCH, false);
	set_cr4_smep(false);
	return ok;
}

/*
 * CR0.WP toggled: a supervisor write to a read-only page, with CR0.WP
 * first set to the opposite value and EFER.NXE toggled (which makes KVM
 * rebuild its MMU context with the stale CR0.WP), then CR0.WP set: the
 * write succeeds with WP=0 and faults with WP=1. No INVLPG in between:
 * CR0.WP applies to cached translations too. Upstream's check_toggle_cr0_wp.
 */
static bool special_toggle_wp(void)
{
	struct ac_test a;
	u32 base = PDE_P | PDE_A | PTE_P | PTE_A | ACC_WRITE;
	bool ok = true;

	ac_init(&a, va.wp, NULL);
	a.flags = base;
	ac_setup(&a);
	for (int wp = 0; wp < 2; wp++) {
		a.flags = base | (wp ? CPU_WP : 0);
		ac_expect(&a, false);
		set_cr0_wp(!wp);
		if (have_nx) {
			set_efer_nx(true);
			set_efer_nx(false);
		}
		if (!ac_do(&a)) {
			printf("  supervisor write with CR0.WP=%d did not %s\n", wp,
			       wp ? "fault" : "succeed");
			ok = false;
		}
	}
	return ok;
}

/*
 * One table reached through two entries with different R/W: what is
 * writable through one must not become writable through the other (a
 * shadow MMU keeps the rights of the path in each shadow page's role).
 * IA-32e paging, as upstream's check_effective_sp_permissions: two PDPTEs
 * (R/W=1, R/W=0) point to one page directory. PAE PDPTEs have no R/W, so
 * in 32-bit and PAE paging two PDEs (R/W=1, R/W=0) point to one page table.
 * Through the read-only entry a read must work and a CPL3 write to a page
 * that is writable through the other entry must fault.
 */
static bool special_effective(void)
{
	struct ac_test a1, a2, a3, a4;
	int shared = pm.pae_pdpte || pm.levels == 2 ? 2 : 3;
	u32 ro = shared == 3 ? PDPTE_RO : 0;
	u32 f1, f2;

	if (shared == 3) {
		f1 = PDE_P | PTE_P | PDE_U | PTE_U | PDE_A | PTE_A | PTE_W | ACC_USER;
		f2 = f1 | PDE_W | PTE_D | ACC_WRITE;
	} else {
		/* The shared table's entries differ (PTE R/W), the PDEs by R/W. */
		f1 = PDE_P | PTE_P | PDE_U | PTE_U | PDE_A | PTE_A | PDE_W | ACC_USER;
		f2 = f1 | PTE_W | PTE_D | ACC_WRITE;
	}
	ac_init(&a1, va.eff[0], NULL);
	a1.flags = f1;
	ac_setup(&a1);
	ac_init(&a2, va.eff[1], &a1);
	a2.flags = f2;
	ac_setup(&a2);
	ac_init(&a3, va.eff[2], &a1);
	a3.tables[shared] = a1.tables[shared];
	a3.flags = shared == 3 ? f1 | ro : f1 & ~PDE_W;
	ac_setup(&a3);
	ac_init(&a4, va.eff[3], &a2);
	a4.tables[shared] = a1.tables[shared];
	a4.flags = shared == 3 ? f2 | ro : f2 & ~PDE_W;
	ac_setup(&a4);
	return ac_do(&a1) && ac_do(&a2) && ac_do(&a3) && ac_do(&a4);
}

static void run_special(const char *name, bool (*fn)(void))
{
	n_printed = 0;
	pool_used = 0;
	report(fn(), "%s", name);
}

/* ---- one paging mode ---------------------------------------------------- */

static void set_addresses(void)
{
#ifdef __x86_64__
	if (pm.levels >= 4) {
		/* Upstream's addresses: PML4 slots 292 and 460 (PML5 slot 511). */
		va.matrix = 0xffff923400000000ul;
		va.huge[0] = va.matrix;
		va.huge[1] = 0xffffe66600000000ul;
		va.prefetch[0] = 0xffff923406000000ul;
		va.prefetch[1] = 0xffff923406001000ul;
		va.dirty[0] = 0xffff923403000000ul;
		va.dirty[1] = 0xffffe66606000000ul;
		va.smep = 0xffff923406001000ul;
		va.wp = 0xffff923042007000ul;
		va.eff[0] = 0xffff923480000000ul;
		va.eff[1] = va.eff[0] + (2ul << 20);
		va.eff[2] = va.eff[0] + (1ul << 30);
		va.eff[3] = va.eff[2] + (2ul << 20);
		return;
	}
#endif
	{
		/* 32-bit addresses above 2 GiB; the code lives below 1 GiB. */
		va.matrix = 0xc0000000ul;
		va.huge[0] = va.matrix;
		va.huge[1] = 0x80000000ul;
		va.prefetch[0] = 0xc0000000ul;
		va.prefetch[1] = 0xc0001000ul;
		va.dirty[0] = pm.levels == 3 ? 0xc0600000ul : 0xc0400000ul;
		va.dirty[1] = pm.levels == 3 ? 0x80c00000ul : 0x80800000ul;
		va.smep = 0xc0001000ul;
		va.wp = pm.levels == 3 ? 0xc2007000ul : 0xc0807000ul;
		/* Two PDEs, each with two 4 KiB pages of the shared table. */
		va.eff[0] = 0xc1000000ul;
		va.eff[1] = va.eff[0] + PAGE_SIZE;
		va.eff[2] = va.eff[0] + pm.large;
		va.eff[3] = va.eff[2] + PAGE_SIZE;
	}
}

static void print_classes(void)
{
	for (struct fail_class *c = classes; c < classes + n_classes; c++) {
		printf("  %llu failed (%s): expected %s %#x, got %s %#x; first: ", c->count, c->what,
		       c->exp_fault ? "#PF" : "no fault", c->exp_error,
		       c->got_fault ? "#PF" : "no fault", c->got_error);
		show_flags(c->first_flags);
		printf("\n");
	}
}

static void run_mode(void)
{
	unsigned long cr4 = read_cr4();

	report_prefix_push(pm.name);
	printf("%s paging, MAXPHYADDR %u, NX %s, SMEP %s, PKU %s\n", pm.name, maxphy,
	       have_nx ? "yes" : "no", have_smep ? "yes" : "no", have_pku ? "yes" : "no");
	set_addresses();

	/* No forced-emulation prefix here; SMEP only in the special cases. */
	invalid = FEP | CPU_SMEP;
	if (maxphy >= 52 || !pm.xd)
		invalid |= PTE_51 | PDE_51;
	if (maxphy >= 37 || !pm.xd)
		invalid |= PTE_36 | PDE_36;
	if (!pm.xd)
		invalid |= PTE_NX | PDE_NX;
	if (!have_nx)
		invalid |= CPU_NX;
	if (pm.levels <= 3)
		invalid |= PDPTE_RO | PKU_AD | PKU_WD | PKU_KEY;
	if (!have_pku)
		invalid |= PKU_AD | PKU_WD | PKU_KEY | CPU_PKE;
	if (!have_smep)
		invalid |= CPU_SMEP;

	if (!opt_count) {
		if (!have_pku)
			report(write_cr4_checked(cr4 | X86_CR4_PKE) == GP_VECTOR,
			       "CR4.PKE without CPUID.7.0:ECX.PKU: #GP");
		if (!have_smep)
			report(write_cr4_checked(cr4 | X86_CR4_SMEP) == GP_VECTOR,
			       "CR4.SMEP without CPUID.7.0:EBX.SMEP: #GP");
		if (have_la57 && pm.levels >= 4) {
			report(write_cr4_checked(cr4 ^ X86_CR4_LA57) == GP_VECTOR,
			       "toggling CR4.LA57 in IA-32e mode: #GP");
			report(write_cr4_checked(cr4 ^ (X86_CR4_LA57 | X86_CR4_PSE)) == GP_VECTOR,
			       "toggling CR4.LA57 and CR4.PSE in IA-32e mode: #GP");
		}
		cur_cr4 = read_cr4();
	}

	init_counter();
	n_cases = n_failed = n_printed = n_rsvd_expected = 0;
	n_classes = 0;
	dots = 0;
	if (opt_case >= 0) {
		struct ac_test at;

		if ((opt_case & invalid) || ac_illegal(opt_case) >= 0) {
			report(false, "case %#lx is not in this mode's matrix", opt_case);
		} else {
			pool_used = 0;
			ac_init(&at, va.matrix, NULL);
			at.flags = opt_case;
			if (!ac_run_case(&at))
				n_failed++;
		}
	} else {
		run_matrix();
	}
	if (opt_count) {
		printf("%s: %llu cases (counter 2^%u", pm.name, n_cases, n_valid);
		if (opt_stride > 1)
			printf(", stride %llu offset %llu", opt_stride, opt_offset);
		printf("), %llu expect a reserved-bit fault\n", n_rsvd_expected);
		report_prefix_pop();
		return;
	}
	printf("%llu cases, %llu failures; %llu expected a reserved-bit fault\n",
	       n_cases, n_failed, n_rsvd_expected);
	print_classes();
	report(n_failed == 0 && n_cases > 0, "%llu cases%s", n_cases,
	       opt_stride > 1 || opt_from || opt_to != ~0ull || opt_case >= 0 ?
	       " (part of the matrix)" : "");

	if (!opt_nospecial && opt_case < 0) {
		run_special("error code through a prefetched PTE", special_prefetch);
		run_special("large-page aliases with CR0.WP=1", special_huge_alias);
		run_special("large-page aliases with CR0.WP=0: D bits", special_large_dirty);
		if (have_smep)
			run_special("SMEP with CR0.WP=0", special_smep_andnot_wp);
		else
			report_skip("SMEP with CR0.WP=0: no SMEP");
		run_special("CR0.WP toggled behind the MMU's back", special_toggle_wp);
		run_special("effective permissions of shared tables", special_effective);
	}
	/* Leave the CPU as the mode found it (PKE off, WP on, NXE on). */
	if (have_pku)
		set_cr4_pke(false);
	set_cr0_wp(true);
	if (have_nx)
		set_efer_nx(true);
	report_prefix_pop();
}

/* ---- arguments, features ---------------------------------------------------- */

static unsigned long long parse_num(const char *s)
{
	unsigned long long v = 0;
	int base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (; *s; s++) {
		int d = *s >= '0' && *s <= '9' ? *s - '0' :
			*s >= 'a' && *s <= 'f' ? *s - 'a' + 10 :
			*s >= 'A' && *s <= 'F' ? *s - 'A' + 10 : 99;

		if (d >= base) {
			printf("access: bad number '%s'\n", s);
			exit(2);
		}
		v = v * base + d;
	}
	return v;
}

static bool arg_is(const char *a, const char *key, const char **val)
{
	size_t n = strlen(key);

	if (strncmp(a, key, n) || a[n] != '=')
		return false;
	*val = a + n + 1;
	return true;
}

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;

		if (arg_is(a, "stride", &v))
			opt_stride = parse_num(v);
		else if (arg_is(a, "offset", &v))
			opt_offset = parse_num(v);
		else if (arg_is(a, "from", &v))
			opt_from = parse_num(v);
		else if (arg_is(a, "to", &v))
			opt_to = parse_num(v);
		else if (arg_is(a, "case", &v))
			opt_case = parse_num(v);
		else if (arg_is(a, "levels", &v))
			opt_levels = parse_num(v);
		else if (arg_is(a, "maxfail", &v))
			opt_maxfail = parse_num(v);
		else if (!strcmp(a, "count"))
			opt_count = true;
		else if (!strcmp(a, "verbose"))
			opt_verbose = true;
		else if (!strcmp(a, "nospecial"))
			opt_nospecial = true;
		else {
			printf("access: unknown argument '%s'\n", a);
			exit(2);
		}
	}
	if (opt_stride == 0)
		opt_stride = 1;
	opt_offset %= opt_stride;
}

static void detect_features(void)
{
	struct cpuid c7 = cpuid_checked(7, 0);
	struct cpuid e8 = cpuid_checked(0x80000008, 0);

	have_smep = c7.b & (1u << 7);
	have_pku = c7.c & (1u << 3);
	have_la57 = c7.c & (1u << 16);
	have_nx = cpuid_checked(0x80000001, 0).d & (1u << 20);
	maxphy = e8.a ? (e8.a & 0xff) : 36;
	cur_cr0 = read_cr0();
	cur_cr4 = read_cr4();
	cur_efer = rdmsr(MSR_EFER);
	pkru_known = false;
}

static void install_handlers(bool on)
{
	if (on) {
		set_idt_entry(PF_VECTOR, ac_pf_entry, 0);
		set_idt_entry(KERNEL_ENTRY_VECTOR, ac_kernel_entry, 3);
	} else {
		restore_idt_entry(PF_VECTOR);
		restore_idt_entry(KERNEL_ENTRY_VECTOR);
	}
}

#ifdef __x86_64__

/* access64.S: leave IA-32e mode, load CR4 (set, then clear) and CR3, re-enter. */
void ac_switch_paging(unsigned long cr3, unsigned long cr4_set, unsigned long cr4_clear);

static u64 pml5[512] __aligned(4096);

static void set_mode(int levels)
{
	pm.name = levels == 5 ? "5-level" : "4-level";
	pm.levels = levels;
	pm.esize = 8;
	pm.idx_bits = 9;
	pm.large = 2ul << 20;
	pm.large_rsvd_bit = 13;
	pm.xd = true;
	pm.pk = true;
	pm.pae_pdpte = false;
	pm.root = read_cr3() & 0xfffff000ul;
}

int main(int argc, char **argv)
{
	unsigned long root4 = read_cr3() & 0xfffff000ul;

	parse_args(argc, argv);
	detect_features();
	printf("access: %s, kvm-unit-tests' access matrix\n", opt_count ? "counting" : "running");
	install_handlers(true);
	if (opt_levels == 0 || opt_levels == 4) {
		set_mode(4);
		run_mode();
	}
	if (opt_levels == 0 || opt_levels == 5) {
		if (!have_la57) {
			if (opt_levels == 5)
				report_skip("5-level: CPUID.7.0:ECX.LA57 = 0");
		} else {
			/* Upstream's way in: compatibility mode, paging off, LA57, paging on. */
			pml5[0] = root4 | E_P | E_RW | E_US;
			ac_switch_paging((unsigned long)pml5, X86_CR4_LA57, X86_CR4_PCIDE);
			cur_cr4 = read_cr4();
			set_mode(5);
			run_mode();
			ac_switch_paging(root4, 0, X86_CR4_LA57);
			cur_cr4 = read_cr4();
		}
	}
	install_handlers(false);
	return report_summary();
}

#else /* the -m32 image */

/* 32-bit paging: 4 MiB pages for 0-1 GiB. PAE: 2 MiB pages for 0-1 GiB. */
static u32 pd32[1024] __aligned(4096);
static u64 pdpt_page[512] __aligned(4096);
static u64 pae_pd0[512] __aligned(4096);

static void paging_off(void)
{
	write_cr0(read_cr0() & ~X86_CR0_PG);
}

static void set_mode(int levels)
{
	unsigned long cr4 = read_cr4();

	paging_off();
	pm.levels = levels;
	pm.xd = levels == 3;
	pm.pk = false;
	pm.pae_pdpte = levels == 3;
	if (levels == 2) {
		pm.name = "32-bit";
		flag_names[AC_PDE_BIT13_BIT] = "pde.21";
		pm.esize = 4;
		pm.idx_bits = 10;
		pm.large = 4ul << 20;
		pm.large_rsvd_bit = 21;		/* PSE-36 uses 20:13 */
		for (int i = 0; i < 256; i++)
			pd32[i] = (i << 22) | E_P | E_RW | E_US | E_PS;
		pm.root = (unsigned long)pd32;
		write_cr4((cr4 & ~X86_CR4_PAE) | X86_CR4_PSE);
	} else {
		pm.name = "PAE";
		flag_names[AC_PDE_BIT13_BIT] = "pde.13";
		pm.esize = 8;
		pm.idx_bits = 9;
		pm.large = 2ul << 20;
		pm.large_rsvd_bit = 13;
		for (int i = 0; i < 512; i++)
			pae_pd0[i] = ((u64)i << 21) | E_P | E_RW | E_US | E_PS;
		pdpt_page[0] = (unsigned long)pae_pd0 | E_P;
		pm.root = (unsigned long)pdpt_page;
		write_cr4(cr4 | X86_CR4_PAE | X86_CR4_PSE);
	}
	write_cr3(pm.root);
	write_cr0(read_cr0() | X86_CR0_PG | X86_CR0_WP);
	cur_cr0 = read_cr0();
	cur_cr4 = read_cr4();
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	detect_features();
	printf("access: %s, kvm-unit-tests' access matrix (32-bit paging modes)\n",
	       opt_count ? "counting" : "running");
	install_handlers(true);
	if (opt_levels == 0 || opt_levels == 2) {
		set_mode(2);
		run_mode();
	}
	if (opt_levels == 0 || opt_levels == 3) {
		set_mode(3);
		run_mode();
	}
	paging_off();
	install_handlers(false);
	return report_summary();
}

#endif
