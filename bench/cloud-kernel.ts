import { readFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { type MmuMode, MMU_MODES, Machine } from '../vmm/machine.js';
import { cpuModelFromSpec } from '../emulator/cpu/cpu-spec.js';
import { qemuPresent } from './qemu.js';

/**
 * `npm run bench`, second part: Debian's cloud kernel (guests/linux/fetch-cloud-kernel.sh) booted
 * by PVH with no root file system, to the "VFS: Unable to mount root fs" panic, in every MMU
 * mode, and under QEMU TCG on the same vmlinux in the same run: wall time per mode as a ratio of
 * QEMU's, with instructions, modeled cycles and what KVM did. `BENCH_CLOUD=0` skips it.
 */
const root = process.cwd();
const vmlinux = join(root, 'build/linux/cloud/vmlinux');
const APPEND = 'console=ttyS0 earlyprintk=ttyS0 panic=-1 reboot=t cryptomgr.notests tsc_early_khz=1000000';
const PANIC = 'VFS: Unable to mount root fs';
const MEM_MIB = 256;

interface ModeRun {
  readonly wallMs: number;
  readonly instructions: number;
  readonly cycles: number;
  readonly exits: number;
  readonly faults: number;
  readonly rootAlloc: number;
  readonly cr3Writes: number;
}

function runMode(mmu: MmuMode, file: Uint8Array): ModeRun {
  const out: Uint8Array[] = [];
  const vm = new Machine({ mmu, memBytes: MEM_MIB << 20, model: cpuModelFromSpec('base,-apic'), serialOut: (b) => { out.push(b); } });
  vm.loadPvh(file, vmlinux, APPEND);
  const r = vm.run(2e9);
  const console = Buffer.concat(out).toString('latin1');
  if (!console.includes(PANIC)) throw new Error(`cloud kernel (${mmu}) did not reach the root-fs panic: ${r.outcome} ${r.detail}\n${console.slice(-1500)}`);
  const s = vm.kvm?.stats;
  return {
    wallMs: r.wallMs, instructions: r.instructions, cycles: vm.cpu.cycles(),
    exits: s?.exits ?? 0, faults: s?.pf_taken ?? 0, rootAlloc: s?.root_alloc ?? 0, cr3Writes: s?.cr3_writes ?? 0,
  };
}

function runQemu(): number {
  const argv = [
    '-accel', 'tcg', '-m', String(MEM_MIB), '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot',
    '-M', 'microvm,x-option-roms=off,pit=on,pic=on,rtc=on,isa-serial=on,acpi=off',
    '-cpu', 'qemu64,-apic,+pdpe1gb,vendor=GenuineIntel,family=6,model=85,stepping=4,model-id=mmulab virtual CPU',
    '-kernel', vmlinux, '-append', APPEND,
  ];
  const t0 = performance.now();
  const q = spawnSync('qemu-system-x86_64', argv, { encoding: 'utf8', timeout: 600_000 });
  const wallMs = performance.now() - t0;
  if (!q.stdout.includes(PANIC)) throw new Error(`cloud kernel did not reach the root-fs panic under QEMU (status ${q.status})`);
  return wallMs;
}

export function benchCloudKernel(): Record<string, unknown> | undefined {
  if (process.env.BENCH_CLOUD === '0') return undefined;
  if (!existsSync(vmlinux)) {
    const f = spawnSync('bash', [join(root, 'guests/linux/fetch-cloud-kernel.sh')], { stdio: 'inherit' });
    if (f.status !== 0 || !existsSync(vmlinux)) {
      console.log('cloud kernel: could not be fetched (no network?); skipped');
      return undefined;
    }
  }
  const file = readFileSync(vmlinux);
  const qemuMs = qemuPresent() ? runQemu() : undefined;
  const runs = new Map<MmuMode, ModeRun>(MMU_MODES.map((m) => [m, runMode(m, file)]));
  const lines = [`Debian cloud kernel to the root-fs panic (${MEM_MIB} MiB, ${APPEND})`];
  if (qemuMs !== undefined) lines.push(`  QEMU TCG          ${(qemuMs / 1000).toFixed(1)} s wall`);
  for (const [mode, r] of runs) {
    const ratio = qemuMs === undefined ? '' : `  ${(r.wallMs / qemuMs).toFixed(1)}x QEMU`;
    const kvm = mode === 'bare' ? '' : `; ${r.exits.toLocaleString('en')} exits, ${r.faults.toLocaleString('en')} faults, `
      + `${r.rootAlloc} roots allocated, ${r.cr3Writes.toLocaleString('en')} CR3 exits`;
    lines.push(`  mmulab ${mode.padEnd(10)} ${(r.wallMs / 1000).toFixed(1)} s wall${ratio}, ${r.instructions.toLocaleString('en')} instructions `
      + `(${(r.instructions / r.wallMs / 1000).toFixed(1)} MIPS), ${r.cycles.toLocaleString('en')} modeled cycles${kvm}`);
  }
  console.log(lines.join('\n'));
  return { cloudKernel: { qemuWallMs: qemuMs, modes: Object.fromEntries(runs) } };
}

const result = benchCloudKernel();
if (result !== undefined) {
  mkdirSync(join(root, 'build/bench'), { recursive: true });
  writeFileSync(join(root, 'build/bench/cloud-kernel.json'), JSON.stringify(result, null, 2) + '\n');
}
