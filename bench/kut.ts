import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { type MmuMode, MMU_MODES, Machine } from '../vmm/machine.js';
import { cpuModelFromSpec } from '../emulator/cpu/cpu-spec.js';
import { qemuPresent, timeQemu } from './qemu.js';

/**
 * `npm run bench`, third part: the two kvm-unit-tests workloads that take longest, from our port
 * (kvm-unit-tests-port), in every MMU mode and under QEMU TCG on the same image in the same run.
 * - vmexit's CPUID sub-test calibrated as upstream calibrates it: the iteration count doubles
 *   until one round takes 2^30 TSC ticks (`goal=`). In bare mode that is about 2 * 10^9
 *   instructions, which is why upstream's vmexit entries time out in mmulab; under KVM each CPUID
 *   exit costs thousands of modeled cycles, so far fewer iterations reach the goal.
 * - access: an evenly spread sample of the matrix (`stride=`), as cases per second.
 * `BENCH_KUT=0` skips this part; BENCH_VMEXIT_GOAL and BENCH_ACCESS_STRIDE change the sizes.
 */
const root = process.cwd();
const repeats = Number(process.env.BENCH_REPEATS ?? '3');
const goal = process.env.BENCH_VMEXIT_GOAL ?? String(2 ** 30);
const stride = process.env.BENCH_ACCESS_STRIDE ?? '211';
/**
 * The table's CPU for access. (QEMU 7.2 TCG with `-cpu max,-pku,-la57` prints the header and then
 * runs no case in minutes; with `max` the same sample takes seconds.)
 */
const ACCESS_CPU = 'max';

interface KutRun { readonly wallMs: number; readonly instructions: number; readonly console: string }

function runPort(image: string, append: string, mmu: MmuMode, cpu?: string): KutRun {
  const path = join(root, 'build/kvm-unit-tests', image);
  const out: Uint8Array[] = [];
  const vm = new Machine({ mmu, serialOut: (b) => { out.push(b); }, ...(cpu === undefined ? {} : { model: cpuModelFromSpec(cpu) }) });
  vm.loadMultiboot(readFileSync(path), path, append);
  const r = vm.run();
  const console = Buffer.concat(out).toString('latin1');
  if (r.outcome !== 'exit' || r.exitStatus !== 1) throw new Error(`${image} ${append} (${mmu}): ${r.outcome} ${r.detail}\n${console.slice(-1500)}`);
  return { wallMs: r.wallMs, instructions: r.instructions, console };
}

const bestOf = <T extends { wallMs: number }>(n: number, f: () => T): T =>
  Array.from({ length: n }, f).reduce((a, b) => (b.wallMs < a.wallMs ? b : a));

/** The access guest's own count: "N cases, M failures" per paging mode. */
function accessCases(console: string): number {
  let n = 0;
  for (const m of console.matchAll(/^(\d+) cases, \d+ failures/gm)) n += Number(m[1]);
  if (n === 0) throw new Error(`access printed no case count:\n${console.slice(-1000)}`);
  return n;
}

/** vmexit cpuid to upstream's goal. Bare mode runs once: it is 10^9 instructions. */
function benchVmexit(lines: string[]): Record<string, unknown> {
  const append = `cpuid goal=${goal}`;
  const cycles = (c: string): string => /^cpuid (\d+)/m.exec(c)?.[1] ?? '?';
  const q = qemuPresent() ? bestOf(repeats, () => timeQemu(join(root, 'build/kvm-unit-tests/vmexit.flat'), [append])) : undefined;
  lines.push(`vmexit ${append} (upstream's calibration), best of ${repeats} (bare: one run)`);
  if (q !== undefined) lines.push(`  QEMU TCG          ${(q.wallMs / 1000).toFixed(2)} s wall, ${cycles(q.stdout)} cycles per CPUID`);
  const modes: Record<string, unknown> = {};
  for (const mmu of MMU_MODES) {
    const r = bestOf(mmu === 'bare' ? 1 : repeats, () => runPort('vmexit.flat', append, mmu));
    const vsQemu = q === undefined ? null : r.wallMs / q.wallMs;
    lines.push(`  mmulab ${mmu.padEnd(10)} ${(r.wallMs / 1000).toFixed(2)} s wall${vsQemu === null ? '' : `  ${vsQemu.toFixed(1)}x QEMU`}, `
      + `${r.instructions.toLocaleString('en')} instructions (${(r.instructions / r.wallMs / 1000).toFixed(1)} MIPS), ${cycles(r.console)} cycles per CPUID`);
    modes[mmu] = { wallMs: r.wallMs, instructions: r.instructions, cyclesPerCpuid: Number(cycles(r.console)), vsQemu };
  }
  return { append, qemuWallMs: q?.wallMs ?? null, modes };
}

/** access: a sample of the 4-level matrix, cases per second. maxfail=0: QEMU fails thousands of
 * reserved-bit cases, and printing each would time the serial port. */
function benchAccess(lines: string[]): Record<string, unknown> {
  const append = `stride=${stride} levels=4 maxfail=0`;
  lines.push(`access ${append} (--cpu ${ACCESS_CPU}), cases per second, best of ${repeats}`);
  const q = qemuPresent() ? bestOf(repeats, () => timeQemu(join(root, 'build/kvm-unit-tests/access.flat'), [append], ACCESS_CPU)) : undefined;
  // QEMU TCG fails the reserved-bit cases (see kvm-unit-tests-port/README.md), so its status is
  // not 1; its own case count is still printed.
  const qCases = q === undefined ? undefined : accessCases(q.stdout);
  if (q !== undefined) lines.push(`  QEMU TCG          ${qCases!.toLocaleString('en')} cases in ${(q.wallMs / 1000).toFixed(2)} s = ${Math.round(qCases! / q.wallMs * 1000).toLocaleString('en')} cases/s (process start included)`);
  const modes: Record<string, unknown> = {};
  for (const mmu of MMU_MODES) {
    const r = bestOf(repeats, () => runPort('access.flat', append, mmu, ACCESS_CPU));
    const cases = accessCases(r.console);
    const perS = cases / r.wallMs * 1000;
    const qPerS = q === undefined ? undefined : qCases! / q.wallMs * 1000;
    lines.push(`  mmulab ${mmu.padEnd(10)} ${cases.toLocaleString('en')} cases in ${(r.wallMs / 1000).toFixed(2)} s = ${Math.round(perS).toLocaleString('en')} cases/s`
      + (qPerS === undefined ? '' : ` (${(qPerS / perS).toFixed(1)}x slower than QEMU)`));
    modes[mmu] = { wallMs: r.wallMs, cases, casesPerSecond: perS, qemuOverMmulab: qPerS === undefined ? null : qPerS / perS };
  }
  return { append, cpu: ACCESS_CPU, qemu: q === undefined ? null : { wallMs: q.wallMs, cases: qCases }, modes };
}

if (process.env.BENCH_KUT !== '0') {
  const lines: string[] = [];
  const result = { vmexitCalibration: benchVmexit(lines), access: benchAccess(lines) };
  console.log(lines.join('\n'));
  mkdirSync(join(root, 'build/bench'), { recursive: true });
  writeFileSync(join(root, 'build/bench/kvm-unit-tests.json'), JSON.stringify(result, null, 2) + '\n');
}
