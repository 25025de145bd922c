/**
 * Comparing a Linux console from mmulab with QEMU TCG's for the same kernel, initramfs and command
 * line (issue 17 item 4: "the console equal to QEMU TCG's apart from timing lines"). Used by
 * test/guests/linux-busybox.test.ts (tiny kernel, in CI) and bench/linux-boot.ts (Debian's cloud
 * kernel, in every MMU mode).
 */

/** Console lines that legitimately differ, each with why. */
export const IGNORED_CONSOLE_LINES: ReadonlyArray<readonly [RegExp, string]> = [
  [/^tsc: Detected [0-9.]+ MHz processor$/, 'timing: the PIT calibration; under a hypervisor its exits cost modeled time (1000.052 MHz against 1000.007)'],
  [/^sched_clock: Marking stable/, 'timing: clock offsets at boot'],
  [/^Unpacking initramfs\.\.\.$|^Freeing initrd memory: /, 'timing: asynchronous work whose position depends on scheduling'],
  [/^found SMP MP-table at |^MPTABLE: |APIC version mismatch|^IOAPIC\[/, "firmware: QEMU's qboot and mmulab each write their own MP table"],
];

/** printk's timestamp prefix (CONFIG_PRINTK_TIME): timing, whatever the line says. */
const PRINTK_TIME = /^\[ *[0-9]+\.[0-9]+\] /;
/** The audit subsystem's event time (seconds.milliseconds since the epoch) inside a line: timing. */
const AUDIT_TIME = /audit\([0-9]+\.[0-9]+:/;

/** The console's lines without carriage returns, printk timestamps, empty lines and the ignored ones. */
export function normalizeConsole(console: string): string[] {
  return console.split('\n').map((l) => l.replace(/\r$/, '').replace(PRINTK_TIME, '').replace(AUDIT_TIME, 'audit(TIME:'))
    .filter((l) => l !== '' && !IGNORED_CONSOLE_LINES.some(([re]) => re.test(l)));
}

/** Where two normalized consoles first differ (-1: equal), with a few lines of each from there. */
export function consoleDifference(ours: readonly string[], reference: readonly string[]): { at: number; ours: string[]; reference: string[] } {
  const n = Math.max(ours.length, reference.length);
  for (let i = 0; i < n; i++) {
    if (ours[i] !== reference[i]) return { at: i, ours: ours.slice(i, i + 3), reference: reference.slice(i, i + 3) };
  }
  return { at: -1, ours: [], reference: [] };
}

/**
 * QEMU's arguments for the reference console: microvm with PIT, PICs, RTC and the ISA serial, no
 * APIC, no ACPI, the CPUID identity mmulab's `base,-apic` model gives (no hypervisor bit, no MTRRs:
 * with them Linux prints "CPU MTRRs all blank - virtualized system." and, the hypervisor bit
 * without ARCH_CAPABILITIES.ITS_NO, takes the ITS mitigation), its RTC starting at mmulab's date
 * (rtc.ts START_DATE) on the guest's clock. -icount shift=0,sleep=off:
 * QEMU's guest clock counts one nanosecond per instruction, like mmulab's 1 GHz modeled clock in
 * bare mode, instead of following the host's wall clock, so a loaded host does not make the guest
 * see stalls (clocksource watchdog lines, failed TSC calibration), which are not what is compared.
 */
export function qemuConsoleArgs(vmlinux: string, initrd: string | undefined, append: string, memMiB: number, icount: boolean): string[] {
  const argv = [
    '-accel', 'tcg', ...(icount ? ['-icount', 'shift=0,sleep=off'] : []), '-m', String(memMiB), '-nodefaults', '-no-user-config',
    '-display', 'none', '-serial', 'stdio', '-no-reboot',
    '-M', 'microvm,x-option-roms=off,pit=on,pic=on,rtc=on,isa-serial=on,acpi=off',
    '-cpu', 'qemu64,-apic,+pdpe1gb,-hypervisor,-mtrr,vendor=GenuineIntel,family=6,model=85,stepping=4,model-id=mmulab virtual CPU',
    '-rtc', 'base=2025-01-01T00:00:00,clock=vm',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4',
    '-kernel', vmlinux, '-append', append,
  ];
  if (initrd !== undefined) argv.push('-initrd', initrd);
  return argv;
}
