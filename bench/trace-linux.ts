import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * `node dist/bench/trace-linux.js [MODE]`: the tiny Linux boot (build/linux, guests/linux/
 * build-kernel.sh) traced with `--trace-events all --kvm-stat` under tdp (or MODE), too long for
 * the test suite (about 5 s of CPU idle, 25 s at load 8 on 2 cores). It checks that the run reaches
 * /init as without tracing, that every line of the report is a trace-cmd report line (task-pid,
 * [cpu], seconds.microseconds, event name padded to 20) in time order, and that the event counts
 * agree with the counters of the same run: the `kvm` events with kvm_stat's tracepoint fields
 * (kvm_exit(REASON) with the exit lines by reason), the kvmmmu events with KVM's statistics in the
 * JSON report. Prints the count of each event and exits 1 on any disagreement.
 */
const root = process.cwd();
const mode = process.argv[2] ?? 'tdp';
const vmlinux = join(root, 'build/linux/vmlinux');
const initrd = join(root, 'build/linux/initramfs.cpio');
const APPEND = 'console=ttyS0 earlyprintk=ttyS0 panic=-1 reboot=t tsc_early_khz=1000000';
const MARKER = 'mmulab-init: marker';

if (!existsSync(vmlinux) || !existsSync(initrd)) {
  console.error(`trace-linux: ${vmlinux} or its initramfs is missing (guests/linux/build-kernel.sh builds them)`);
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'mmulab-trace-linux-'));
const file = join(dir, 'trace.txt');
const cli = (extra: readonly string[]): { stdout: string; stderr: string; status: number | null; ms: number } => {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(root, 'dist/emulator/cli/main.js'), 'run', '--kernel', vmlinux, '--initrd', initrd,
    '--cpu', 'base,-apic', '--mmu', mode, '--append', APPEND, ...extra], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status, ms: performance.now() - t0 };
};

// The JSON report of a run without tracing; the traced run prints kvm_stat's lines instead, whose
// statistics must equal that report's (tracing changes nothing of the run).
const plain = cli(['--json']);
const traced = cli(['--trace-events', 'all', '--trace-file', file, '--kvm-stat']);
const problems: string[] = [];
const check = (ok: boolean, what: string): void => { if (!ok) problems.push(what); };

check(plain.stdout.includes(MARKER), `the boot without tracing did not reach "${MARKER}"`);
check(traced.stdout === plain.stdout && traced.status === plain.status, 'tracing changed the console or the exit status');
const kvm = (JSON.parse(plain.stderr.trim().split('\n').pop()!) as { kvm: Record<string, number> }).kvm;
const k = (name: string): number => kvm[name] ?? 0;

// kvm_stat --once's lines ("%-42s%10d%10d") of the same run.
const stat = new Map(traced.stderr.split('\n').filter((l) => l.length === 62 && /^\S+ +\d+ +\d+$/.test(l))
  .map((l) => [l.slice(0, 42).trim(), Number(l.slice(42, 52))] as const));
check(stat.size > 0, 'no kvm_stat lines at the end of the traced run');
for (const [name, v] of stat) if (!name.startsWith('kvm_')) check(v === k(name), `tracing changed ${name}: ${v}, ${k(name)} without`);

// trace-cmd report's print_event layout, as test/debug/trace-events.test.ts checks it against real reports.
const LINE = /^ *CPU (\d+)\/KVM-(\d+) +\[(\d{3})\] +(\d+)\.(\d{6}): (\w+): (.*)$/;
const lines = readFileSync(file, 'utf8').split('\n');
check(lines.pop() === '', 'the report does not end with a newline');
check(/^cpus=\d+$/.test(lines[0]), `the first line is "${lines[0]}", not cpus=N`);
const counts = new Map<string, number>();
const exitsBy = new Map<string, number>();
let last = 0;
for (let n = 1; n < lines.length; n++) {
  const m = LINE.exec(lines[n]);
  if (m === null || Number(m[2]) !== 4000 + Number(m[1]) || Number(m[3]) !== Number(m[1])) {
    check(false, `line ${n + 1} is not a report line: ${lines[n]}`);
    continue;
  }
  const name = m[6];
  const pad = Math.max(0, 20 - name.length);
  check(m[7].startsWith(' '.repeat(pad)) && m[7][pad] !== ' ', `line ${n + 1}: the event text is not aligned`);
  const us = Number(m[4]) * 1e6 + Number(m[5]);
  check(us >= last, `line ${n + 1} goes back in time`);
  last = us;
  counts.set(name, (counts.get(name) ?? 0) + 1);
  if (name === 'kvm_exit') {
    const reason = / reason (.+?) rip /.exec(m[7])![1];
    exitsBy.set(reason, (exitsBy.get(reason) ?? 0) + 1);
  }
}
const c = (name: string): number => counts.get(name) ?? 0;

const agree: (readonly [string, number, number])[] = [];
const expectEqual = (what: string, traced: number, counter: number): void => { agree.push([what, traced, counter]); check(traced === counter, `${what}: ${traced} in the trace, ${counter} counted`); };
for (const [name, v] of stat) {
  if (/^kvm_[a-z_]+$/.test(name)) expectEqual(`${name} / kvm_stat`, c(name), v);
  const child = /^kvm_exit\((\w+)\)$/.exec(name);
  if (child !== null) expectEqual(`${name} / kvm_stat`, exitsBy.get(child[1]) ?? 0, v);
}
expectEqual('kvm_exit / exits', c('kvm_exit'), k('exits'));
expectEqual('kvm_pio / io_exits', c('kvm_pio'), k('io_exits'));
expectEqual('kvm_mmio read+write / mmio_exits', (counts.get('kvm_mmio') ?? 0) - countText('kvm_mmio', 'mmio unsatisfied-read'), k('mmio_exits'));
expectEqual('handle_mmio_page_fault / mmio_fast_hit', c('handle_mmio_page_fault'), k('mmio_fast_hit'));
expectEqual('mark_mmio_spte / sptes_installed_mmio', c('mark_mmio_spte'), k('sptes_installed_mmio'));
expectEqual('kvm_mmu_split_huge_page / huge_pages_split', c('kvm_mmu_split_huge_page'), k('huge_pages_split'));
if (mode === 'tdp') {
  expectEqual('kvm_mmu_spte_requested / pf_taken - pf_fast', c('kvm_mmu_spte_requested'), k('pf_taken') - k('pf_fast'));
  expectEqual('kvm_tdp_mmu_spte_changed / SPTE changes', c('kvm_tdp_mmu_spte_changed'),
    k('sptes_zapped') + k('sptes_installed_nonleaf') + k('sptes_installed_mmio') + k('sptes_installed_leaf') - 512 * k('huge_pages_split'));
} else {
  // Each request ends in a leaf (fixed or spurious), an MMIO SPTE, or a read-only leaf for a write
  // to a write-protected frame, which is then emulated (pf_emulate, with the MMIO emulations).
  const requested = c('kvm_mmu_spte_requested');
  const least = k('pf_fixed') + k('pf_spurious') + k('pf_mmio_spte_created');
  const most = k('pf_fixed') + k('pf_spurious') + k('pf_emulate');
  agree.push(['kvm_mmu_spte_requested in [pf_fixed + pf_spurious + pf_mmio_spte_created, ... + pf_emulate]', requested, requested < least ? least : requested > most ? most : requested]);
  check(requested >= least && requested <= most, `kvm_mmu_spte_requested: ${requested}, not within ${least}-${most}`);
  expectEqual('kvm_mmu_get_page new / mmu_cache_miss', countText('kvm_mmu_get_page', ' new'), k('mmu_cache_miss'));
  expectEqual('kvm_mmu_prepare_zap_page / mmu_shadow_zapped', c('kvm_mmu_prepare_zap_page'), k('mmu_shadow_zapped'));
  expectEqual('kvm_mmu_set_spte / sptes_installed_leaf', c('kvm_mmu_set_spte'), k('sptes_installed_leaf'));
}
if (mode === 'shadow') expectEqual('kvm_mmu_walker_error / pf_guest', c('kvm_mmu_walker_error'), k('pf_guest'));

function countText(name: string, text: string): number {
  let n = 0;
  for (const l of lines) if (l.includes(` ${name}: `) && l.includes(text)) n++;
  return n;
}

console.log(`tiny Linux under ${mode}, traced: ${lines.length - 1} events, ${traced.ms.toFixed(0)} ms (${plain.ms.toFixed(0)} ms without tracing)`);
for (const [name, n] of [...counts].sort()) console.log(`  ${name.padEnd(28)}${String(n).padStart(10)}`);
console.log('agreement:');
for (const [what, t, v] of agree) console.log(`  ${t === v ? 'ok     ' : 'DIFFERS'} ${what.padEnd(70)}${String(t).padStart(10)}${String(v).padStart(10)}`);
rmSync(dir, { recursive: true, force: true });
if (problems.length > 0) {
  for (const p of problems.slice(0, 20)) console.error(`trace-linux: ${p}`);
  process.exit(1);
}
