import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type MmuMode, MMU_MODES, Machine } from '../vmm/machine.js';
import { qemuPresent, timeQemu } from './qemu.js';
import { EXIT_LOOP_IMAGE, bestExitLoops } from './exit-loop.js';
import { RSS_GUEST_MIB, peakRssMiB } from './rss.js';

/**
 * `npm run bench`: guest speed, always against an anchor measured in the same run.
 *
 * - The sieve guest in mmulab (every MMU mode) and under QEMU TCG with the same image and round
 *   count. mmulab's figure is MIPS (retired guest instructions per wall-clock microsecond, the
 *   boot included); the comparison is the ratio of wall times.
 * - Loops of exit-type instructions (guests/exitloop: CPUID, OUT to port 0x80) against a loop of
 *   ALU instructions of the same length, in bare mode, and the same images under QEMU TCG.
 * - Peak RSS of a process running a 128 MiB guest that touches all of it, per mode.
 * Each time is the best of several runs, since this 2-core machine is shared and noise only ever
 * adds time. Everything printed is also in build/bench/results.json.
 */
const root = process.cwd();
const image = join(root, 'build/guests/sieve.flat');
const rounds = process.env.BENCH_SIEVE_ROUNDS ?? '32';
const repeats = Number(process.env.BENCH_REPEATS ?? '3');
const loopIterations = Number(process.env.BENCH_EXIT_ITERATIONS ?? '4000000');
const LOOP_KINDS = ['alu', 'cpuid', 'out'] as const;

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

/** QEMU TCG's best wall time for an image and arguments, or undefined without QEMU. */
function qemuWall(path: string, args: readonly string[], what: string): number | undefined {
  if (!qemuPresent()) return undefined;
  const q = best(Array.from({ length: repeats }, () => timeQemu(path, args)));
  if (q.status !== 1) throw new Error(`${what} did not pass under QEMU (status ${q.status})`);
  return q.wallMs;
}

const lines: string[] = [];
const ratio = (ms: number, qemuMs: number | undefined): number | null => (qemuMs === undefined ? null : ms / qemuMs);

// The sieve in every mode.
const runs = new Map<MmuMode, MmulabRun>(MMU_MODES.map((m) => [m, best(Array.from({ length: repeats }, () => runMmulab(m)))]));
const mm = runs.get('bare')!;
const sieveQemu = qemuWall(image, [rounds], 'sieve');
lines.push(`sieve guest, ${rounds} rounds, best of ${repeats}`);
for (const [mode, r] of runs) {
  const vsBare = mode === 'bare' ? '' : `  (${(r.mips / mm.mips).toFixed(2)} of bare)`;
  lines.push(`  mmulab ${mode.padEnd(10)} ${r.instructions.toLocaleString('en')} instructions in ${(r.wallMs / 1000).toFixed(2)} s = ${r.mips.toFixed(1)} MIPS${vsBare}`);
}
if (sieveQemu !== undefined) {
  lines.push(`  QEMU TCG          ${(sieveQemu / 1000).toFixed(2)} s wall (process start and firmware included)`);
  lines.push(`  mmulab bare / QEMU wall time: ${(mm.wallMs / sieveQemu).toFixed(1)}x`);
} else {
  lines.push('  QEMU TCG:    not installed, no anchor measured');
}
const sieve = {
  guest: 'sieve', rounds: Number(rounds),
  modes: Object.fromEntries([...runs].map(([m, r]) => [m, { ...r, ofBare: r.mips / mm.mips, vsQemu: ratio(r.wallMs, sieveQemu) }])),
  qemuWallMs: sieveQemu ?? null,
};

// Exit-type instruction loops, bare mode.
const loops = bestExitLoops(LOOP_KINDS, loopIterations, repeats);
const loopImage = join(root, EXIT_LOOP_IMAGE);
const alu = loops.get('alu')!;
lines.push(`exit-type loops (guests/exitloop, ${loopIterations.toLocaleString('en')} iterations of 5 instructions), bare, best of ${repeats}`);
const exitLoops: Record<string, unknown> = {};
for (const [kind, r] of loops) {
  const q = qemuWall(loopImage, [kind, String(loopIterations)], `exitloop ${kind}`);
  const vsQemu = ratio(r.wallMs, q);
  lines.push(`  ${kind.padEnd(6)} ${r.mips.toFixed(1)} MIPS (${(r.mips / alu.mips).toFixed(2)} of the ALU loop)` +
    (q === undefined ? '' : `; QEMU TCG ${(q / 1000).toFixed(2)} s, mmulab ${(r.wallMs / 1000).toFixed(2)} s = ${vsQemu!.toFixed(1)}x`));
  exitLoops[kind] = { ...r, ofAlu: r.mips / alu.mips, qemuWallMs: q ?? null, vsQemu };
}

// Peak RSS of a 128 MiB guest.
const rss = Object.fromEntries(MMU_MODES.map((m) => [m, peakRssMiB(m, root)]));
lines.push(`peak RSS, ${RSS_GUEST_MIB} MiB guest touching 8-126 MiB (memtouch 1 pass), one process per mode: ` +
  MMU_MODES.map((m) => `${m} ${rss[m].toFixed(0)} MiB`).join(', '));

console.log(lines.join('\n'));
const result = { sieve, exitLoops: { iterations: loopIterations, kinds: exitLoops }, peakRssMiB: { guestMiB: RSS_GUEST_MIB, modes: rss } };
mkdirSync(join(root, 'build/bench'), { recursive: true });
writeFileSync(join(root, 'build/bench/results.json'), JSON.stringify(result, null, 2) + '\n');
