/*
 * Starting and using the other CPUs (see x86/smp.h for the model).
 *
 * Boot of an AP: the STARTUP IPI starts it in real mode at
 * SMP_TRAMPOLINE_ADDR (CS = addr >> 4, IP = 0). The trampoline
 * ($ARCH/trampoline.S) loads the GDT whose pointer smp_init() patched into
 * the copy, sets CR0.PE and jumps into the image's 32-bit code, which
 * restores the BSP's paging (CR4, CR3, EFER, CR0 from smp_boot_*), takes a
 * stack slot with an atomic add and calls smp_ap_main() below.
 *
 * Work hand-off: each CPU's slot has fn/data and two counters, queued (by
 * senders) and done (by the CPU). A sender takes the slot's lock, waits for
 * fn to be consumed, stores data then fn, bumps queued and sends the wake
 * IPI; the AP's idle loop checks fn with interrupts off and otherwise does
 * STI; HLT, so a wake IPI can never fall between the check and the halt.
 */
#include "libcflat.h"
#include "x86/acpi.h"
#include "x86/apic.h"
#include "x86/desc.h"
#include "x86/fwcfg.h"
#include "x86/processor.h"
#include "x86/smp.h"

struct cpu_slot {
	struct spinlock lock;		/* senders of work to this CPU */
	void (*volatile fn)(void *);
	void *volatile data;
	volatile unsigned queued, done;
	volatile bool online;
	bool in_idle_loop;		/* an AP: runs its work in ap_idle() */
	bool in_handler;		/* running work from wake_isr() */
};

/* Indexed by APIC ID. */
static struct cpu_slot slots[SMP_MAX_CPUS];
/* CPU number -> APIC ID, in increasing APIC ID order. */
static uint32_t id_map[SMP_MAX_CPUS];
static int nr_cpus = 1;
static volatile int nr_online;
/* Set once APs may run: from then on the console lock is taken. */
static volatile bool smp_started;

/* Read by the trampoline's 32-bit code and by smp_ap_main(). */
unsigned long smp_boot_cr0, smp_boot_cr3, smp_boot_cr4;
uint64_t smp_boot_efer;
unsigned long smp_ap_stacks;	/* stack slot k's top: smp_ap_stacks + (k + 1) * size */
int smp_ap_slot;
static struct descriptor_table_ptr boot_gdtr, boot_idtr;
static bool boot_x2apic;

extern const char smp_trampoline_start[], smp_trampoline_end[], smp_trampoline_gdtr[];
extern char end[];

/*
 * smp_id() is called for every printf and on_cpu(), so in 64-bit mode it
 * reads the CPU's tag through GS (upstream keeps its per-CPU data there
 * too) instead of executing CPUID, which exits to the hypervisor. A test
 * that reloads GS (user mode) or swaps it leaves a base without the magic,
 * and then CPUID answers; the 32-bit build always asks CPUID.
 */
#define PERCPU_MAGIC 0x55504353u

static struct percpu_tag {
	uint32_t magic, apic_id;
} tags[SMP_MAX_CPUS];

static int initial_apic_id(void)
{
	return (int)(cpuid(1).b >> 24);
}

int smp_id(void)
{
#ifdef __x86_64__
	uint32_t magic, id;

	asm volatile("movl %%gs:0, %0; movl %%gs:4, %1" : "=r"(magic), "=r"(id));
	if (magic == PERCPU_MAGIC)
		return (int)id;
#endif
	return initial_apic_id();
}

static void set_percpu_tag(int id)
{
	tags[id].magic = PERCPU_MAGIC;
	tags[id].apic_id = (uint32_t)id;
#ifdef __x86_64__
	wrmsr(MSR_GS_BASE, (unsigned long)&tags[id]);
#endif
}

int cpu_count(void)
{
	return nr_cpus;
}

uint32_t smp_apic_id(int cpu)
{
	assert(cpu >= 0 && cpu < nr_cpus);
	return id_map[cpu];
}

int smp_cpu_of(uint32_t apic_id)
{
	for (int i = 0; i < nr_cpus; i++)
		if (id_map[i] == apic_id)
			return i;
	return -1;
}

/*
 * The console lock (printf, report): recursive per CPU, so that a report()
 * line built from several printf calls, or a handler printing while its CPU
 * holds the lock, cannot deadlock. A no-op until APs exist, so one-CPU
 * guests execute exactly what they did before SMP support.
 */
static volatile int console_owner = -1;
static int console_depth;

void console_lock(void)
{
	int me, free_owner = -1;

	if (!smp_started)
		return;
	me = smp_id();
	if (console_owner == me) {
		console_depth++;
		return;
	}
	while (!__atomic_compare_exchange_n(&console_owner, &free_owner, me, false,
					    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		free_owner = -1;
		pause();
	}
	console_depth = 1;
}

void console_unlock(void)
{
	if (!smp_started || console_owner != smp_id())
		return;
	if (--console_depth == 0)
		__atomic_store_n(&console_owner, -1, __ATOMIC_RELEASE);
}

static struct cpu_slot *slot_of(int cpu)
{
	return &slots[smp_apic_id(cpu)];
}

static unsigned queue_work(int cpu, void (*fn)(void *), void *data)
{
	struct cpu_slot *s = slot_of(cpu);
	unsigned ticket;

	spin_lock(&s->lock);
	while (s->fn)
		pause();
	s->data = data;
	__atomic_store_n(&s->fn, fn, __ATOMIC_RELEASE);
	ticket = __atomic_add_fetch(&s->queued, 1, __ATOMIC_ACQ_REL);
	apic_icr_write(APIC_INT_ASSERT | APIC_DEST_PHYSICAL | APIC_DM_FIXED | SMP_WAKE_VECTOR,
		       smp_apic_id(cpu));
	spin_unlock(&s->lock);
	return ticket;
}

void on_cpu(int cpu, void (*fn)(void *), void *data)
{
	struct cpu_slot *s;
	unsigned ticket;

	if (smp_apic_id(cpu) == (uint32_t)smp_id()) {
		fn(data);
		return;
	}
	s = slot_of(cpu);
	ticket = queue_work(cpu, fn, data);
	while ((int)(s->done - ticket) < 0)
		pause();
}

void on_cpu_async(int cpu, void (*fn)(void *), void *data)
{
	if (smp_apic_id(cpu) == (uint32_t)smp_id()) {
		fn(data);
		return;
	}
	queue_work(cpu, fn, data);
}

int cpus_active(void)
{
	int n = 1;

	for (int i = 0; i < nr_cpus; i++) {
		struct cpu_slot *s = slot_of(i);

		if (s->queued != s->done)
			n++;
	}
	return n;
}

void on_cpus(void (*fn)(void *), void *data)
{
	int me = smp_cpu_of((uint32_t)smp_id());

	for (int i = 0; i < nr_cpus; i++)
		if (i != me)
			on_cpu_async(i, fn, data);
	fn(data);
	while (cpus_active() > 1)
		pause();
}

/* Takes the slot's work, if any, and runs it (interrupts as the caller has them). */
static bool run_pending(struct cpu_slot *s)
{
	void (*fn)(void *) = __atomic_load_n(&s->fn, __ATOMIC_ACQUIRE);
	void *data;

	if (!fn)
		return false;
	data = s->data;
	__atomic_store_n(&s->fn, NULL, __ATOMIC_RELEASE);
	fn(data);
	__atomic_add_fetch(&s->done, 1, __ATOMIC_RELEASE);
	return true;
}

/*
 * An AP runs its work in ap_idle(), so here it only acknowledges. A CPU
 * that is not in that loop (the BSP) runs the work in the handler, as
 * upstream runs every on_cpu() function, when it has interrupts on; never
 * nested in work it is already running.
 */
static void wake_isr(struct ex_regs *regs)
{
	struct cpu_slot *s = &slots[smp_id()];

	(void)regs;
	eoi();
	if (s->in_idle_loop || s->in_handler)
		return;
	s->in_handler = true;
	/* Work queued while earlier work ran (with interrupts on) is run too. */
	do
		asm volatile("cli" ::: "memory");
	while (run_pending(s));
	s->in_handler = false;
}

static void __noreturn ap_idle(struct cpu_slot *s)
{
	s->in_idle_loop = true;
	for (;;) {
		asm volatile("cli" ::: "memory");
		/* STI's one-instruction shadow: a wake IPI can only arrive in HLT. */
		if (!run_pending(s))
			asm volatile("sti; hlt" ::: "memory");
	}
}

void __noreturn smp_ap_main(void);

void smp_ap_main(void)
{
	struct cpu_slot *s;
	int id;

	/* The trampoline loaded the GDT with a 32-bit base: reload it whole. */
	lgdt(&boot_gdtr);
	lidt(&boot_idtr);
#ifdef __x86_64__
	/* PCIDE and CR3's PCID bits can only be set now, in IA-32e mode. */
	write_cr4(smp_boot_cr4);
	write_cr3(smp_boot_cr3);
#endif
	if (boot_x2apic)
		enable_x2apic();
	apic_write(APIC_SPIV, APIC_SPIV_APIC_ENABLED | 0xff);
	id = initial_apic_id();
	if (id >= SMP_MAX_CPUS) {
		printf("smp: APIC ID %d is not below %d\n", id, SMP_MAX_CPUS);
		abort();
	}
	set_percpu_tag(id);
	s = &slots[id];
	__atomic_store_n(&s->online, true, __ATOMIC_RELEASE);
	__atomic_add_fetch(&nr_online, 1, __ATOMIC_RELEASE);
	ap_idle(s);
}

static int count_madt_cpus(void)
{
	struct madt_descriptor *madt = find_acpi_table_addr(MADT_SIGNATURE);
	int n = 0;

	if (!madt)
		return 1;
	for (uint8_t *e = madt->entries; e + 2 <= (uint8_t *)madt + madt->header.length && e[1];
	     e += e[1])
		if (e[0] == MADT_LOCAL_APIC && e[1] >= 8 && (e[4] & 1))
			n++;
	return n ? n : 1;
}

static int count_cpus(void)
{
	unsigned n = fwcfg_get_nb_cpus();

	/* Without fw_cfg the data port reads all ones. */
	if (n == 0 || n == 0xffff)
		return count_madt_cpus();
	return (int)n;
}

static void save_boot_state(void)
{
	smp_boot_cr0 = read_cr0();
	smp_boot_cr3 = read_cr3();
	smp_boot_cr4 = read_cr4();
	smp_boot_efer = 0;
#ifdef __x86_64__
	smp_boot_efer = rdmsr(MSR_EFER);
#else
	/* EFER exists with long mode or NX; the APs need it only for NX under PAE. */
	if (cpuid_checked(0x80000001, 0).d & ((1u << 20) | (1u << 29)))
		smp_boot_efer = rdmsr(MSR_EFER);
#endif
	sgdt(&boot_gdtr);
	sidt(&boot_idtr);
	boot_x2apic = apic_x2apic_mode();
	smp_ap_stacks = ((unsigned long)end + 4095) & ~4095ul;
	smp_ap_slot = 0;
}

static void copy_trampoline(void)
{
	unsigned long size = (unsigned long)(smp_trampoline_end - smp_trampoline_start);
	char *dst = (char *)SMP_TRAMPOLINE_ADDR;
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) gdtr32 = { boot_gdtr.limit, (uint32_t)boot_gdtr.base };

	memcpy(dst, smp_trampoline_start, size);
	memcpy(dst + (smp_trampoline_gdtr - smp_trampoline_start), &gdtr32, sizeof(gdtr32));
}

static void start_aps(void)
{
	const uint32_t all_but_me = APIC_DEST_ALLBUT | APIC_DEST_PHYSICAL;
	const uint32_t sipi = all_but_me | APIC_DM_STARTUP | APIC_INT_ASSERT |
			      (SMP_TRAMPOLINE_ADDR >> 12);

	apic_icr_write(all_but_me | APIC_DM_INIT | APIC_INT_ASSERT, 0);
	/* The level de-assert exists in xAPIC only (x2APIC made it reserved). */
	if (!apic_x2apic_mode())
		apic_icr_write(all_but_me | APIC_DM_INIT | APIC_INT_LEVELTRIG, 0);
	/* Twice, as the MP spec says: an AP already started ignores the second. */
	apic_icr_write(sipi, 0);
	apic_icr_write(sipi, 0);
}

/* A bound on waiting, so a machine that never starts an AP is reported, not hung. */
#define ONLINE_SPINS 50000000ul

int smp_init(void)
{
	static bool done;
	int want, bsp = initial_apic_id(), n = 0;

	/* Once only: a second INIT would reset APs that are running. */
	if (done)
		return nr_cpus;
	done = true;
	want = count_cpus();
	if (bsp >= SMP_MAX_CPUS || want > SMP_MAX_CPUS) {
		printf("smp: BSP APIC ID %d or %d CPUs beyond the limit of %d\n", bsp, want,
		       SMP_MAX_CPUS);
		abort();
	}
	set_percpu_tag(bsp);
	slots[bsp].online = true;
	nr_online = 1;
	/* The BSP also takes fixed IPIs (tests send them to CPU 0). */
	apic_write(APIC_SPIV, APIC_SPIV_APIC_ENABLED | 0xff);
	if (want > 1) {
		handle_exception(SMP_WAKE_VECTOR, wake_isr);
		save_boot_state();
		copy_trampoline();
		smp_started = true;
		start_aps();
		for (unsigned long i = 0; i < ONLINE_SPINS && nr_online < want; i++)
			pause();
		if (nr_online != want)
			printf("smp: %d of %d CPUs came online\n", nr_online, want);
	}
	for (int id = 0; id < SMP_MAX_CPUS; id++)
		if (__atomic_load_n(&slots[id].online, __ATOMIC_ACQUIRE))
			id_map[n++] = (uint32_t)id;
	nr_cpus = n;
	return n;
}
