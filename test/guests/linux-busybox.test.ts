/**
 * Issue 17 item 4, the CI variant: Debian's busybox-static as user space
 * (guests/linux/build-busybox-initramfs.sh: /init is guests/linux/busybox-init.sh, a shell script
 * that forks, pipes, execs and touches memory) booted in all four MMU modes, each console compared
 * with QEMU TCG's on the same kernel, initramfs and command line apart from timing and firmware
 * lines. The run ends with the script's `reboot -f`, a triple fault with reboot=t.
 *
 * The kernel here is the tiny one CI builds (guests/linux/build-kernel.sh): Debian's cloud kernel
 * with the same initramfs needs about 1.4 G instructions, minutes per mode, so it is measured in all
 * four modes by `npm run bench` (bench/linux-boot.ts) instead. The tiny kernel has no script
 * binfmt, so busybox's shell is init (rdinit=/bin/sh) and gets /init as its argument.
 *
 * QEMU's machine, its -icount clock and the console lines that may differ are in
 * bench/linux-console.ts, which npm run bench also uses for the cloud kernel.
 *
 * Missing images are built here by the project's scripts; a build that fails fails the tests.
 */
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { REPO } from '../cli/cli.js';
import { QEMU_BINARY, qemuAvailable } from '../helpers/qemu.js';
import { MMU_MODES, type MmuMode, Machine } from '../../vmm/machine.js';
import { cpuModelFromSpec } from '../../emulator/cpu/cpu-spec.js';
import { normalizeConsole, qemuConsoleArgs } from '../../bench/linux-console.js';

const VMLINUX = join(REPO, 'build/linux/vmlinux');
const INITRAMFS = join(REPO, 'build/linux/busybox/initramfs.cpio');
const APPEND = 'console=ttyS0 earlyprintk=ttyS0 panic=-1 reboot=t tsc_early_khz=1000000 rdinit=/bin/sh -- /init';
const DONE = 'mmulab-busybox: done';

/** The lines the script prints, in order: each step must have run, in every mode and in QEMU. */
const STEPS = [
  'mmulab-busybox: init started, pid 1',
  'mmulab-busybox: fork: 8 children wrote their files',
  'mmulab-busybox: pipe+exec: ',
  'mmulab-busybox: exec: nested shell, parent N',
  'mmulab-busybox: memory: 1048576 bytes, md5 b6d81b360a5672d80c27430f39153e2c',
  'mmulab-busybox: heap string of 65536 bytes',
  DONE,
];

const normalize = normalizeConsole;

function build(script: string): void {
  const r = spawnSync('bash', [join(REPO, script)], { encoding: 'utf8', timeout: 900_000 });
  expect(r.status, `${script} failed:\n${r.stderr}`).toBe(0);
}

let qemuConsole = '';

beforeAll(() => {
  if (!existsSync(VMLINUX)) build('guests/linux/build-kernel.sh');
  // Incremental: rebuilds the archive only when the script, /init or the cpio writer changed.
  build('guests/linux/build-busybox-initramfs.sh');
  expect(qemuAvailable(), `${QEMU_BINARY} is needed as the reference (scripts/setup-host.sh installs it)`).toBe(true);
  const started = performance.now();
  const q = spawnSync(QEMU_BINARY, qemuConsoleArgs(VMLINUX, INITRAMFS, APPEND, 128, true), { encoding: 'utf8', timeout: 120_000 });
  console.log(`qemu: status ${q.status} in ${Math.round(performance.now() - started)} ms`);
  // -no-reboot: the guest's reboot ends QEMU with status 0.
  expect(q.status, q.stderr).toBe(0);
  qemuConsole = q.stdout;
}, 1_200_000);

describe('Debian busybox-static as user space (tiny kernel + busybox initramfs)', () => {
  test('QEMU runs every step of the script', () => {
    let at = 0;
    for (const step of STEPS) {
      at = qemuConsole.indexOf(step, at);
      expect(at, `QEMU's console lacks "${step}":\n${qemuConsole.slice(-1500)}`).toBeGreaterThanOrEqual(0);
    }
  });

  test.each(MMU_MODES as MmuMode[])('--mmu %s: the script runs to its end, console as QEMU\'s', (mmu) => {
    const out: Uint8Array[] = [];
    const vm = new Machine({ mmu, model: cpuModelFromSpec('base,-apic'), serialOut: (b) => { out.push(b); } });
    vm.loadPvh(readFileSync(VMLINUX), VMLINUX, APPEND, readFileSync(INITRAMFS));
    const r = vm.run(1e9);
    const console = Buffer.concat(out).toString('latin1');
    const s = vm.kvm?.stats;
    globalThis.console.log(`${mmu}: ${r.instructions} instructions in ${r.wallMs.toFixed(0)} ms`
      + (s === undefined ? '' : `, ${s.exits} exits, ${s.pf_taken} faults, ${s.root_alloc} roots allocated, ${s.cr3_writes} CR3 writes`));
    // reboot=t: the restart is a triple fault, which ends the run.
    expect(r.outcome, console.slice(-1500)).toBe('triple-fault');
    expect(console).toContain(DONE);
    if (vm.kvm !== undefined) {
      vm.kvm.audit();
      expect(vm.kvm.violations).toEqual([]);
    }
    expect(normalize(console)).toEqual(normalize(qemuConsole));
  }, 900_000);
});
