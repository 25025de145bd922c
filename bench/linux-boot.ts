import { readFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { type MmuMode, MMU_MODES, Machine } from '../vmm/machine.js';
import { cpuModelFromSpec } from '../emulator/cpu/cpu-spec.js';
import { qemuPresent } from './qemu.js';
import { consoleDifference, normalizeConsole, qemuConsoleArgs } from './linux-console.js';

/**
 * `npm run bench`, second part: Linux booted by PVH in every MMU mode and under QEMU TCG on the
 * same vmlinux in the same run, as wall time per mode against QEMU's, with instructions, modeled
 * cycles and what KVM did. Three boots:
 * - the tiny kernel (guests/linux/build-kernel.sh) with its initramfs, to the /init marker;
 * - Debian's cloud kernel (guests/linux/fetch-cloud-kernel.sh), no root file system, to the
 *   "VFS: Unable to mount root fs" panic;
 * - the same kernel with Debian's busybox-static as user space (guests/linux/build-busybox-initramfs.sh:
 *   a shell script that forks, pipes, execs and touches memory) to its last line (issue 17 item 4).
 * Both machines are the legacy PC without a local APIC that test/guests/linux.test.ts uses, so
 * QEMU's microvm with the same CPUID identity takes the same paths. For the busybox boot each
 * mode's console is also compared with QEMU's (one more QEMU run, with -icount so that its guest
 * clock is not the host's), apart from the timing and firmware lines linux-console.ts lists.
 * `BENCH_LINUX=0` skips this part, `BENCH_CLOUD=0` the two cloud-kernel boots, and
 * `BENCH_LINUX_ONLY=TEXT` runs only the boots whose name contains TEXT.
 */
const root = process.cwd();
const repeats = Number(process.env.BENCH_REPEATS ?? '3');

interface LinuxBench {
  readonly name: string;
  readonly vmlinux: string;
  readonly initrd?: string;
  /** The script that builds or fetches the kernel when it is missing. */
  readonly script: string;
  /** The script that builds the initrd; run every time (it is incremental). */
  readonly initrdScript?: string;
  readonly append: string;
  /** Console text that says the boot went as far as it should. */
  readonly reached: string;
  readonly memMiB: number;
  /** Compare each mode's console with QEMU's (linux-console.ts). */
  readonly compareConsole?: boolean;
}

const TSC_APPEND = 'console=ttyS0 earlyprintk=ttyS0 panic=-1 reboot=t tsc_early_khz=1000000';
const KERNELS: readonly LinuxBench[] = [
  {
    name: 'tiny Linux to the /init marker', vmlinux: join(root, 'build/linux/vmlinux'), initrd: join(root, 'build/linux/initramfs.cpio'),
    script: 'guests/linux/build-kernel.sh', append: TSC_APPEND, reached: 'mmulab-init: marker', memMiB: 128,
  },
  {
    name: 'Debian cloud kernel to the root-fs panic', vmlinux: join(root, 'build/linux/cloud/vmlinux'),
    script: 'guests/linux/fetch-cloud-kernel.sh', append: `${TSC_APPEND} cryptomgr.notests`, reached: 'VFS: Unable to mount root fs', memMiB: 256,
  },
  {
    name: 'Debian cloud kernel + busybox to the end of /init', vmlinux: join(root, 'build/linux/cloud/vmlinux'),
    initrd: join(root, 'build/linux/busybox/initramfs.cpio'), script: 'guests/linux/fetch-cloud-kernel.sh',
    // acpi=off: QEMU's microvm has no ACPI tables and mmulab's PC has; without them both consoles
    // are the same apart from timing lines (QEMU with -icount and -cpu ...,-hypervisor,-mtrr).
    initrdScript: 'guests/linux/build-busybox-initramfs.sh', append: `${TSC_APPEND} cryptomgr.notests acpi=off`, reached: 'mmulab-busybox: done', memMiB: 256,
    compareConsole: true,
  },
];

interface ModeRun {
  readonly wallMs: number;
  readonly instructions: number;
  readonly cycles: number;
  readonly exits: number;
  readonly faults: number;
  readonly rootAlloc: number;
  readonly cr3Writes: number;
  readonly console: string;
}

function runMode(k: LinuxBench, mmu: MmuMode, file: Uint8Array, initrd: Uint8Array | undefined): ModeRun {
  const out: Uint8Array[] = [];
  const vm = new Machine({ mmu, memBytes: k.memMiB << 20, model: cpuModelFromSpec('base,-apic'), serialOut: (b) => { out.push(b); } });
  vm.loadPvh(file, k.vmlinux, k.append, initrd);
  const r = vm.run(2e9);
  const console = Buffer.concat(out).toString('latin1');
  if (!console.includes(k.reached)) throw new Error(`${k.name} (${mmu}): not reached: ${r.outcome} ${r.detail}\n${console.slice(-1500)}`);
  const s = vm.kvm?.stats;
  return {
    wallMs: r.wallMs, instructions: r.instructions, cycles: vm.cpu.cycles(),
    exits: s?.exits ?? 0, faults: s?.pf_taken ?? 0, rootAlloc: s?.root_alloc ?? 0, cr3Writes: s?.cr3_writes ?? 0, console,
  };
}

/** One QEMU boot (linux-console.ts's machine): its wall time and console. Timed runs follow the host clock, the reference console counts instructions. */
function runQemu(k: LinuxBench, icount = false): { wallMs: number; console: string } {
  const argv = qemuConsoleArgs(k.vmlinux, k.initrd, k.append, k.memMiB, icount);
  const t0 = performance.now();
  const q = spawnSync('qemu-system-x86_64', argv, { encoding: 'utf8', timeout: 600_000 });
  const wallMs = performance.now() - t0;
  if (!q.stdout.includes(k.reached)) throw new Error(`${k.name}: not reached under QEMU (status ${q.status})`);
  return { wallMs, console: q.stdout };
}

/** "same as QEMU's" or where the normalized consoles first differ. */
function compareWithQemu(console: string, reference: string): { same: boolean; text: string } {
  const ours = normalizeConsole(console), theirs = normalizeConsole(reference);
  const d = consoleDifference(ours, theirs);
  if (d.at < 0) return { same: true, text: `console as QEMU's (${ours.length} lines compared)` };
  return { same: false, text: `console differs from QEMU's at line ${d.at + 1} of ${ours.length}: ours ${JSON.stringify(d.ours)}, QEMU ${JSON.stringify(d.reference)}` };
}

const bestOf = <T extends { wallMs: number }>(n: number, f: () => T): T =>
  Array.from({ length: n }, f).reduce((a, b) => (b.wallMs < a.wallMs ? b : a));

function benchKernel(k: LinuxBench): Record<string, unknown> | undefined {
  const files = [k.vmlinux, ...(k.initrd === undefined ? [] : [k.initrd])];
  if (k.initrdScript !== undefined && spawnSync('bash', [join(root, k.initrdScript)], { stdio: 'inherit' }).status !== 0) {
    console.log(`${k.name}: ${k.initrdScript} failed; not measured`);
    return undefined;
  }
  if (!files.every(existsSync)) {
    const f = spawnSync('bash', [join(root, k.script)], { stdio: 'inherit' });
    if (f.status !== 0 || !files.every(existsSync)) {
      console.log(`${k.name}: ${k.script} could not make ${files.join(' and ')}; not measured`);
      return undefined;
    }
  }
  const file = readFileSync(k.vmlinux);
  const initrd = k.initrd === undefined ? undefined : readFileSync(k.initrd);
  const qemuMs = qemuPresent() ? bestOf(repeats, () => runQemu(k)).wallMs : undefined;
  const reference = k.compareConsole === true && qemuPresent() ? runQemu(k, true).console : undefined;
  const runs = new Map<MmuMode, ModeRun>(MMU_MODES.map((m) => [m, bestOf(repeats, () => runMode(k, m, file, initrd))]));
  const consoles = new Map([...runs].map(([m, r]) => [m, reference === undefined ? undefined : compareWithQemu(r.console, reference)]));
  if (reference !== undefined) {
    // The raw consoles, to look at a difference: build/bench/console-KERNEL-MODE.txt and -qemu.txt.
    const dir = join(root, 'build/bench'), tag = k.name.split(' ').slice(0, 2).join('-').toLowerCase();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `console-${tag}-qemu.txt`), reference);
    for (const [m, r] of runs) writeFileSync(join(dir, `console-${tag}-${m}.txt`), r.console);
  }
  const lines = [`${k.name} (${k.memMiB} MiB, ${k.append}), best of ${repeats}`];
  if (qemuMs !== undefined) lines.push(`  QEMU TCG          ${(qemuMs / 1000).toFixed(2)} s wall`);
  for (const [mode, r] of runs) {
    const ratio = qemuMs === undefined ? '' : `  ${(r.wallMs / qemuMs).toFixed(1)}x QEMU`;
    const kvm = mode === 'bare' ? '' : `; ${r.exits.toLocaleString('en')} exits, ${r.faults.toLocaleString('en')} faults, `
      + `${r.rootAlloc} roots allocated, ${r.cr3Writes.toLocaleString('en')} CR3 exits`;
    lines.push(`  mmulab ${mode.padEnd(10)} ${(r.wallMs / 1000).toFixed(2)} s wall${ratio}, ${r.instructions.toLocaleString('en')} instructions `
      + `(${(r.instructions / r.wallMs / 1000).toFixed(1)} MIPS), ${r.cycles.toLocaleString('en')} modeled cycles${kvm}`);
    const c = consoles.get(mode);
    if (c !== undefined) lines.push(`    ${c.text}`);
  }
  console.log(lines.join('\n'));
  return {
    name: k.name, qemuWallMs: qemuMs ?? null,
    modes: Object.fromEntries([...runs].map(([m, { console: _console, ...r }]) => [m, {
      ...r, vsQemu: qemuMs === undefined ? null : r.wallMs / qemuMs, consoleAsQemu: consoles.get(m)?.same ?? null,
    }])),
  };
}

if (process.env.BENCH_LINUX !== '0') {
  const only = process.env.BENCH_LINUX_ONLY;
  const chosen = (process.env.BENCH_CLOUD === '0' ? KERNELS.slice(0, 1) : KERNELS).filter((k) => only === undefined || k.name.includes(only));
  const results = chosen.map(benchKernel).filter((r) => r !== undefined);
  mkdirSync(join(root, 'build/bench'), { recursive: true });
  writeFileSync(join(root, 'build/bench/linux.json'), JSON.stringify({ linux: results }, null, 2) + '\n');
}
