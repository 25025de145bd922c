/**
 * Boots the tiny Linux guest (guests/linux: tinyconfig vmlinux by PVH, initramfs with a static
 * /init) in bare mode to the /init marker, and compares the console with QEMU TCG on the same
 * vmlinux and initramfs.
 *
 * The machine is the legacy PC Linux needs least of (linux-boot.md's "P1"): a CPU without a local
 * APIC (--cpu base,-apic), so the 8259 delivers the PIT tick and the UART's IRQ4. QEMU runs the
 * same devices (microvm with PIT, PIC, RTC, ISA serial, no ACPI) and is given mmulab's CPUID
 * identity (vendor, family/model/stepping, brand string, 1 GiB pages), so the kernel takes the
 * same paths. What still differs is listed in IGNORED with the reason for each line.
 *
 * build/linux is made by guests/linux/build-kernel.sh (a few minutes; CI runs it): without it
 * the tests are skipped with a message saying so.
 */
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { REPO, runCli } from '../cli/cli.js';
import { QEMU_BINARY, qemuAvailable } from '../helpers/qemu.js';
import { type MmuMode, Machine } from '../../vmm/machine.js';
import { cpuModelFromSpec } from '../../emulator/cpu/cpu-spec.js';
import { resolveKnobs } from '../../mmu/knobs.js';

const LINUX = join(REPO, 'build/linux');
const VMLINUX = join(LINUX, 'vmlinux');
const INITRAMFS = join(LINUX, 'initramfs.cpio');
const haveKernel = existsSync(VMLINUX) && existsSync(INITRAMFS);
if (!haveKernel) console.log('linux.test: build/linux/vmlinux or initramfs.cpio missing: run guests/linux/build-kernel.sh to enable the Linux boot tests');

/** A known TSC rate for both (mmulab's TSC counts 1 GHz modeled cycles). */
const APPEND = 'console=ttyS0 earlyprintk=ttyS0 panic=-1 reboot=t tsc_early_khz=1000000';
const MARKER = 'mmulab-init: marker';

/** Console lines that legitimately differ, each with why. */
const IGNORED: ReadonlyArray<[RegExp, string]> = [
  [/^tsc: /, 'timing: TSC calibration against the PIT, wall clock under QEMU, modeled time in mmulab'],
  [/^sched_clock: /, 'timing: clock offsets at boot'],
  [/^Unpacking initramfs\.\.\.$/, 'timing: printed by asynchronous work, its position depends on scheduling'],
  [/^Freeing initrd memory: /, 'timing: the end of the same asynchronous work; under a hypervisor exits cost modeled time, so it lands elsewhere'],
  [/MP-table|MultiProcessor Specification|^MPTABLE: |^Processor #|APIC version mismatch|^IOAPIC\[|^Processors: /, "firmware: QEMU's qboot writes an MP table, mmulab has none"],
  [/^No local APIC present$|^APIC: disable apic facility$|^APIC: switched to apic NOOP$/, 'firmware: without an MP table the kernel reports the missing APIC itself'],
  [/^NR_IRQS: /, "firmware: qboot's MP table lists an IOAPIC, which adds interrupt numbers"],
];

function normalize(console: string): string[] {
  return console.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l !== '' && !IGNORED.some(([re]) => re.test(l)));
}

describe.skipIf(!haveKernel)('tiny Linux (PVH vmlinux + initramfs)', () => {
  let mmulab: ReturnType<typeof runCli> | undefined;
  const boot = (): ReturnType<typeof runCli> => (mmulab ??= runCli(['run', '--kernel', VMLINUX, '--initrd', INITRAMFS, '--append', APPEND, '--cpu', 'base,-apic', '--stats']));

  test('boots to the /init marker in bare mode and powers off through the debug-exit port (status 1)', () => {
    const r = boot();
    console.log(r.stderr.trim());
    expect(r.stdout).toContain('Run /init as init process');
    expect(r.stdout).toContain('mmulab-init: user space reached, pid 1, 1/3 = 0.333333');
    expect(r.stdout).toContain(MARKER);
    expect(r.status).toBe(1);
  }, 120_000);

  /**
   * The same boot under KVM's three MMUs, in-process, with the invariant checker every 500 exits
   * and once at the end (after every exit it would take minutes): same console as bare, apart
   * from the timing lines, and the guest's status 1.
   */
  test.each(['shadow', 'legacy-tdp', 'tdp'] as MmuMode[])('boots under --mmu %s to the same console, checker clean', (mmu) => {
    const out: Uint8Array[] = [];
    const vm = new Machine({ mmu, audit: true, auditEvery: 500, model: cpuModelFromSpec('base,-apic'), serialOut: (b) => { out.push(b); } });
    vm.loadPvh(readFileSync(VMLINUX), VMLINUX, APPEND, readFileSync(INITRAMFS));
    const r = vm.run(1e9);
    const kvm = vm.kvm!;
    kvm.audit();
    const stdout = Buffer.concat(out).toString('latin1');
    const s = kvm.stats;
    console.log(`${mmu}: ${r.instructions} instructions in ${r.wallMs.toFixed(0)} ms, ${s.modeled_cycles} modeled cycles in KVM, `
      + `${s.exits} exits, ${s.pf_taken} faults, ${s.root_alloc} roots allocated, ${s.cr3_writes} CR3 writes`);
    expect(r.exitStatus, stdout.slice(-2000)).toBe(1);
    expect(stdout).toContain(MARKER);
    expect(kvm.violations).toEqual([]);
    if (mmu === 'shadow') {
      // Linux clears freed page-table pages with REP STOSB: KVM unprotects them and retries the
      // instruction instead of emulating every store; writes by page-table writers are emulated.
      expect(s.pf_unprotect_retry).toBeGreaterThan(0);
      expect(s.insn_emulation).toBeGreaterThan(0);
      expect(s.unsync_marked).toBeGreaterThan(0);
      // reset_early_page_tables clears the live top-level table with one REP STOSL of 1,022
      // dwords: KVM retries once, then its emulator runs the whole REP in one exit (write flooding
      // zaps the re-shadowed root), so roots stay in the tens; one exit per store made 1,032.
      expect(s.root_alloc).toBeLessThan(30);
      expect(s.pf_emulate).toBeLessThan(1000);
      // Without TDP, MOV from CR3 exits (CR3-store exiting; SVM's CR3 read intercept).
      expect(s.cr3_reads).toBeGreaterThan(0);
    } else {
      expect(s.cr3_reads).toBe(0);
    }
    expect(normalize(stdout)).toEqual(normalize(boot().stdout));
  }, 180_000);

  /**
   * lkml (c): Sean forced kvm_mmu_reset_context on every exit but page faults. With the root
   * lifetime before 6.4 each reset frees the TDP root, so roots are allocated in proportion to
   * exits and the working set faults in again; with persistent roots one root serves the boot.
   */
  test('lkml (c): forced resets allocate a root per exit before 6.4, one root with persistent roots', () => {
    const boot4k = (lifetime: string) => {
      const out: Uint8Array[] = [];
      const vm = new Machine({
        mmu: 'tdp', backing: '4k', model: cpuModelFromSpec('base,-apic'), serialOut: (b) => { out.push(b); },
        knobs: resolveKnobs('current', [`tdpRootLifetime=${lifetime}`, 'forceResetContextOnEveryExit=true']),
      });
      vm.loadPvh(readFileSync(VMLINUX), VMLINUX, APPEND, readFileSync(INITRAMFS));
      const r = vm.run(1e9);
      expect(r.exitStatus).toBe(1);
      expect(Buffer.concat(out).toString('latin1')).toContain(MARKER);
      return { s: vm.kvm!.stats, cycles: vm.cpu.cycles() };
    };
    const before = boot4k('vcpu-refcount');
    const after = boot4k('persistent');
    console.log(`lkml (c) tdp --backing 4k, reset on every non-fault exit: vcpu-refcount ${before.s.root_alloc} roots, `
      + `${before.s.pf_taken} faults, ${before.cycles} cycles; persistent ${after.s.root_alloc} roots, ${after.s.pf_taken} faults, ${after.cycles} cycles`);
    // One root per forced reset before 6.4 (every non-fault exit), one in all with persistent roots.
    expect(before.s.root_alloc).toBeGreaterThan(1000);
    expect(before.s.root_alloc).toBeGreaterThanOrEqual(before.s.mmu_reset_context - 10);
    expect(after.s.root_alloc).toBe(1);
    expect(after.s.mmu_reset_context).toBeGreaterThan(1000);
    expect(before.cycles / after.cycles).toBeGreaterThan(2);
  }, 240_000);

  test.skipIf(!qemuAvailable())('prints the same console as QEMU TCG, apart from timing and firmware lines', () => {
    const started = performance.now();
    const q = spawnSync(QEMU_BINARY, [
      '-accel', 'tcg', '-m', '128', '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot',
      '-M', 'microvm,x-option-roms=off,pit=on,pic=on,rtc=on,isa-serial=on,acpi=off',
      '-cpu', 'qemu64,-apic,+pdpe1gb,vendor=GenuineIntel,family=6,model=85,stepping=4,model-id=mmulab virtual CPU',
      '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4',
      '-kernel', VMLINUX, '-initrd', INITRAMFS, '-append', APPEND,
    ], { encoding: 'utf8', timeout: 60_000 });
    console.log(`qemu: status ${q.status} in ${Math.round(performance.now() - started)} ms`);
    expect(q.stdout).toContain(MARKER);
    expect(q.status).toBe(1);
    const r = boot();
    expect(normalize(r.stdout)).toEqual(normalize(q.stdout));
  }, 120_000);
});
