import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type MmuMode, Machine } from '../vmm/machine.js';
import { qemuPresent, timeQemu } from './qemu.js';

/**
 * `npm run bench`: guest speed, always against an anchor measured in the same run.
 *
 * The sieve guest runs in mmulab (bare mode) and under QEMU TCG with the same image and round
 * count. mmulab's figure is MIPS (retired guest instructions per wall-clock microsecond, the
 * boot included); the comparison is the ratio of wall times. Each is the best of several runs,
 * since this 2-core machine is shared and noise only ever adds time.
 */
const root = process.cwd();
const image = join(root, 'build/guests/sieve.flat');
const rounds = process.env.BENCH_SIEVE_ROUNDS ?? '32';
const repeats = Number(process.env.BENCH_REPEATS ?? '3');

interface MmulabRun { wallMs: number; instructions: number; mips: number; status: number | undefined }

function runMmulab(mmu: MmuMode): MmulabRun {
  const out: Uint8Array[] = [];
  const vm = new Machine({ serialOut: (b) => { out.push(b); }, mmu });
  vm.loadMultiboot(readFileSync(image), image, rounds);
  const r = vm.run();
  if (r.outcome !== 'exit' || r.exitStatus !== 1) {
    throw new Error(`sieve did not pass in mmulab: ${r.outcome} ${r.detail} ${Buffer.concat(out).toString()}`);
  }
  return { wallMs: r.wallMs, instructions: r.instructions, mips: r.instructions / r.wallMs / 1000, status: r.exitStatus };
}

function best<T extends { wallMs: number }>(runs: T[]): T {
  return runs.reduce((a, b) => (b.wallMs < a.wallMs ? b : a));
}

const MODES: readonly MmuMode[] = ['bare', 'shadow', 'legacy-tdp', 'tdp'];
const runs = new Map<MmuMode, MmulabRun>(MODES.map((m) => [m, best(Array.from({ length: repeats }, () => runMmulab(m)))]));
const mm = runs.get('bare')!;
const lines: string[] = [];
lines.push(`sieve guest, ${rounds} rounds, best of ${repeats}`);
for (const [mode, r] of runs) {
  const vsBare = mode === 'bare' ? '' : `  (${(r.mips / mm.mips).toFixed(2)} of bare)`;
  lines.push(`  mmulab ${mode.padEnd(10)} ${r.instructions.toLocaleString('en')} instructions in ${(r.wallMs / 1000).toFixed(2)} s = ${r.mips.toFixed(1)} MIPS${vsBare}`);
}
const result: Record<string, unknown> = { guest: 'sieve', rounds: Number(rounds), mmulab: Object.fromEntries(runs) };
if (qemuPresent()) {
  const q = best(Array.from({ length: repeats }, () => timeQemu(image, [rounds])));
  if (q.status !== 1) throw new Error(`sieve did not pass under QEMU (status ${q.status})`);
  const ratio = mm.wallMs / q.wallMs;
  lines.push(`  QEMU TCG          ${(q.wallMs / 1000).toFixed(2)} s wall (process start and firmware included)`);
  lines.push(`  mmulab bare / QEMU wall time: ${ratio.toFixed(1)}x`);
  result.qemu = { wallMs: q.wallMs, ratio };
} else {
  lines.push('  QEMU TCG:    not installed, no anchor measured');
}
console.log(lines.join('\n'));
mkdirSync(join(root, 'build/bench'), { recursive: true });
writeFileSync(join(root, 'build/bench/results.json'), JSON.stringify(result, null, 2) + '\n');
