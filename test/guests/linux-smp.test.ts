/**
 * Boots the SMP variant of the tiny Linux guest (guests/linux/build-kernel.sh smp: tinyconfig +
 * tiny.config + smp.config, CONFIG_SMP without ACPI; its /init prints "mmulab-init: cpus N" from
 * /sys/devices/system/cpu/online) with --smp 2 and 4 in the four MMU modes, the virtualized ones
 * with the invariant checker sampled, and compares each console with QEMU TCG's -smp N boot of the
 * same vmlinux and initramfs.
 *
 * The machine keeps its local APICs (--cpu base): the kernel finds the CPUs in the MP table,
 * starts the APs with INIT/SIPI and takes its tick from the APIC timer. QEMU runs microvm without
 * ACPI (qboot writes the MP table) with mmulab's CPUID identity, as test/guests/linux.test.ts does,
 * and one CPU per socket (-smp N,sockets=N,cores=1), the topology mmulab's CPUID describes.
 *
 * Each vCPU keeps its own modeled clock and the scheduler runs them a quantum at a time, but no
 * vCPU reads a TSC behind one another already read (emulator/cpu/tsc-sync.ts): Linux's TSC
 * synchronization check on AP bring-up finds no warp and keeps tsc-early, as under QEMU (before
 * that, it measured up to 14,231 cycles of warp and fell back to refined-jiffies).
 *
 * build/linux-smp is made by guests/linux/build-kernel.sh smp (CI runs it): without it the tests
 * are skipped with a message saying so.
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { CLI, REPO } from '../cli/cli.js';
import { QEMU_BINARY, qemuAvailable } from '../helpers/qemu.js';
import { MMU_MODES } from '../../vmm/machine.js';

const LINUX = join(REPO, 'build/linux-smp');
const VMLINUX = join(LINUX, 'vmlinux');
const INITRAMFS = join(LINUX, 'initramfs.cpio');
const haveKernel = existsSync(VMLINUX) && existsSync(INITRAMFS);
if (!haveKernel) console.log('linux-smp.test: build/linux-smp/vmlinux or initramfs.cpio missing: run guests/linux/build-kernel.sh smp to enable the SMP Linux boot tests');

const APPEND = 'console=ttyS0 earlyprintk=ttyS0 panic=-1 reboot=t tsc_early_khz=1000000';
const MARKER = 'mmulab-init: marker';

/** Console lines that legitimately differ, each with why. */
const IGNORED: ReadonlyArray<[RegExp, string]> = [
  [/^tsc: /, 'timing: TSC calibration, wall clock under QEMU, modeled time in mmulab'],
  [/^sched_clock: /, 'timing: clock offsets at boot'],
  [/^Unpacking initramfs\.\.\.$/, 'timing: printed by asynchronous work, its position depends on scheduling'],
  [/^Freeing initrd memory: /, 'timing: the end of the same asynchronous work'],
  [/BogoMIPS|bogomips/, 'timing: the delay loop calibration measures speed'],
  [/^APIC timer disabled due to verification failure$/, "timing: TCG's APIC timer runs on wall-clock time, the check against the PIT fails under load"],
  [/^calibrate_delay_direct\(\) |^Probably due to long platform interrupts/, 'timing: the direct delay calibration against wall-clock time (its failures and the estimates it drops, under QEMU, vary from run to run)'],
  [/^clocksource: Long readout interval, skipping watchdog check/, 'timing: wall-clock watchdog under QEMU'],
  [/MP-table at|^MPTABLE: OEM ID|^MPTABLE: Product ID|^IOAPIC\[0\]: apic_id/, "firmware: qboot's MP table sits elsewhere, names itself QBOOT and gives the IOAPIC another id and version"],
];

/** What Linux prints when it keeps the TSC, and what it prints when it finds the vCPUs' TSCs apart. */
const TSC_KEPT = 'clocksource: Switched to clocksource tsc-early';
const TSC_WARP = /TSC warp|TSC synchronization|Marking TSC unstable/;

function normalize(console: string): string[] {
  return console.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l !== '' && !IGNORED.some(([re]) => re.test(l)));
}

function qemu(n: number): string {
  const q = spawnSync(QEMU_BINARY, [
    '-accel', 'tcg', '-m', '128', '-smp', `${n},sockets=${n},cores=1`, '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot',
    '-M', 'microvm,x-option-roms=off,pit=on,pic=on,rtc=on,isa-serial=on,acpi=off',
    '-cpu', 'qemu64,+pdpe1gb,vendor=GenuineIntel,family=6,model=85,stepping=4,model-id=mmulab virtual CPU',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4',
    '-kernel', VMLINUX, '-initrd', INITRAMFS, '-append', APPEND,
  ], { encoding: 'utf8', timeout: 60_000 });
  expect(q.status, q.stdout.slice(-2000)).toBe(1);
  return q.stdout;
}

describe.skipIf(!haveKernel || !qemuAvailable())('SMP Linux (PVH vmlinux + initramfs, --smp N)', () => {
  const reference = new Map<number, string>();
  const ref = (n: number): string => {
    if (!reference.has(n)) reference.set(n, qemu(n));
    return reference.get(n)!;
  };

  test.each([2, 4])('QEMU TCG -smp %i: the kernel brings every CPU up and /init counts them', (n) => {
    const out = ref(n);
    expect(normalize(out)).toContain(`mmulab-init: cpus ${n}`);
    expect(out).toContain(MARKER);
  }, 120_000);

  test.each(MMU_MODES.flatMap((mmu) => [2, 4].map((n) => [mmu, n] as const)))('--mmu %s --smp %i: boots to /init, cpus line right, console as QEMU\'s', (mmu, n) => {
    const args = ['run', '--kernel', VMLINUX, '--initrd', INITRAMFS, '--append', APPEND, '--cpu', 'base', '--smp', String(n), '--mmu', mmu, '--stats'];
    if (mmu !== 'bare') args.push('--audit-every', '500');
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd: REPO, encoding: 'utf8', timeout: 600_000 });
    console.log(`${mmu} --smp ${n}: ${r.stderr.trim().split('\n').slice(0, 3).join(' | ')}`);
    expect(r.status, r.stdout.slice(-2000) + r.stderr.slice(-2000)).toBe(1);
    expect(normalize(r.stdout)).toContain(`mmulab-init: cpus ${n}`);
    expect(r.stdout).toContain(MARKER);
    const ours = normalize(r.stdout);
    expect(ours.filter((l) => TSC_WARP.test(l))).toEqual([]);
    expect(ours).toContain(TSC_KEPT);
    expect(ours).toEqual(normalize(ref(n)));
  }, 620_000);
});
