/**
 * `mmulab run --kvm-stat` (emulator/debug/kvm-stat.ts): kvm_stat's batch lines at the end of a run
 * (stderr is not a TTY here). Oracles: the run's own KVM counters in its JSON report, under KVM's
 * stat names; the kvm_exit tracepoint count equal to the exits counter and its children
 * kvm_exit(REASON) adding up to it where kvm_stat's reason table names every exit; and kvm_stat's
 * printf layouts ("%-42s%10d%10d" batch, "%-40s %10d%7.1f %8s" screen). On a TTY the screen is
 * redrawn during the run; elsewhere kvm_stat's logging mode (`kvm_stat -l`) writes a record per
 * modeled second. The run itself must be the one without --kvm-stat.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { CLI, GUESTS, runCli } from '../cli/cli.js';
import { kvmStatBatch, kvmStatScreen } from '../../emulator/debug/kvm-stat.js';

/** kvm_stat --once: name, value, change. */
const BATCH = /^(\S+) +(\d+) +(\d+)$/;

function kvmStat(args: readonly string[]): { fields: Map<string, number>; kvm: Record<string, number>; out: string; status: number | null } {
  const r = runCli(['run', ...args, '--kvm-stat']);
  const lines = r.stderr.split('\n').filter((l) => l.length === 62 && BATCH.test(l));
  const fields = new Map(lines.map((l) => {
    const m = BATCH.exec(l)!;
    expect(m[2]).toBe(m[3]); // one sample at the end: the change is the whole run
    return [m[1], Number(m[2])] as const;
  }));
  const json = runCli(['run', ...args, '--json']);
  const kvm = (JSON.parse(json.stderr.trim().split('\n').pop()!) as { kvm: Record<string, number> }).kvm;
  expect(r.stdout).toBe(json.stdout);
  expect(r.status).toBe(json.status);
  return { fields, kvm, out: r.stdout, status: r.status };
}

describe('mmulab run --kvm-stat', () => {
  test.each([
    ['tdp', 'vmx'], ['shadow', 'vmx'], ['legacy-tdp', 'svm'], ['shadow', 'svm'],
  ])('smp guest, 2 vCPUs, --mmu %s --vendor %s: KVM\'s counters and kvm_exit by reason', (mmu, vendor) => {
    const { fields, kvm } = kvmStat([`${GUESTS}smp.flat`, '--smp', '2', '--mmu', mmu, '--vendor', vendor]);
    const k = (n: string): number => kvm[n] ?? 0;
    // Sorted by name, as kvm_stat prints them.
    expect([...fields.keys()]).toEqual([...fields.keys()].sort());
    for (const name of ['exits', 'io_exits', 'pf_fixed', 'pf_taken', 'tlb_flush', 'remote_tlb_flush', 'mmu_shadow_zapped', 'pages_4k', 'pages_2m', 'halt_exits']) {
      expect(fields.get(name), name).toBe(k(name));
    }
    // Model counters are not KVM's: not listed.
    for (const name of ['root_alloc', 'modeled_cycles', 'pf_exits']) expect(fields.has(name)).toBe(false);
    expect(fields.get('kvm_exit')).toBe(k('exits'));
    expect(fields.get('kvm_pio')).toBe(k('io_exits'));
    expect(fields.get('kvm_msr')).toBe(k('msr_exits'));
    const children = [...fields].filter(([n]) => n.startsWith('kvm_exit('));
    const sum = children.reduce((s, [, v]) => s + v, 0);
    if (vendor === 'vmx') {
      expect(sum).toBe(k('exits'));
      expect(fields.get('kvm_exit(IO_INSTRUCTION)')).toBe(k('io_exits'));
      expect(fields.get('kvm_exit(HLT)')).toBe(k('halt_exits'));
    } else {
      // kvm_stat's SVM table has no entry for the #PF intercept (EXCP_BASE + 14).
      expect(sum).toBe(k('exits') - k('pf_exits'));
      expect(fields.get('kvm_exit(IOIO)')).toBe(k('io_exits'));
      expect(fields.get('kvm_exit(MSR)')).toBe(k('msr_exits'));
    }
  });
});

describe('layouts', () => {
  const sample = new Map([['exits', 300], ['kvm_exit', 300], ['kvm_exit(HLT)', 100], ['kvm_exit(IO_INSTRUCTION)', 200], ['pf_fixed', 0]]);
  const previous = new Map([['exits', 100], ['kvm_exit', 100], ['kvm_exit(HLT)', 100], ['kvm_exit(IO_INSTRUCTION)', 0], ['pf_fixed', 0]]);

  test('batch: %-42s%10d%10d by name', () => {
    expect(kvmStatBatch(sample, previous)).toEqual([
      'exits                                            300       200',
      'kvm_exit                                         300       200',
      'kvm_exit(HLT)                                    100         0',
      'kvm_exit(IO_INSTRUCTION)                         200       200',
      'pf_fixed                                           0         0',
    ]);
  });

  test('screen: by change then value, %Total over parents, CurAvg/s, Total', () => {
    expect(kvmStatScreen(sample, previous, 2)).toEqual([
      'kvm statistics - summary',
      ' Event                                         Total %Total CurAvg/s',
      ' exits                                           300   50.0      100',
      ' kvm_exit                                        300   50.0      100',
      ' kvm_exit(IO_INSTRUCTION)                        200   33.3      100',
      ' kvm_exit(HLT)                                   100   16.7         ',
      ' Total                                           600             200',
    ]);
  });
});

describe('on a TTY', () => {
  test('the screen is redrawn while the guest runs, and the run is the same as without it', () => {
    // 128 rounds: several seconds even translated (32 rounds take under one, one redraw at most).
    const args = ['run', `${GUESTS}sieve.flat`, '--append', '128', '--mmu', 'shadow', '--stats'];
    // script(1) gives the child a pseudo-terminal, as an interactive shell would.
    const cmd = [process.execPath, CLI, ...args, '--kvm-stat'].map((a) => `'${a}'`).join(' ');
    const tty = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 300_000 });
    const text = tty.stdout.replace(/\r/g, '');
    const screens = text.split('kvm statistics - summary').length - 1;
    expect(screens).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/\x1b\[H\x1b\[2Jmmulab: [\d,]+ instructions, [\d.]+ MIPS\n/);
    const report = (s: string): string[] => s.split('\n').filter((l) => /^mmulab: (shadow|kvm):/.test(l)).map((l) => l.replace(/ in [\d.]+ ms \([\d.]+ MIPS\)/, ''));
    const plain = runCli(args);
    expect(report(text)).toEqual(report(plain.stderr));
    expect(report(text).length).toBeGreaterThan(2);
  });
});

describe('not on a TTY', () => {
  test('kvm_stat -l records, one per modeled second, the same each run, adding up to the counters', () => {
    // 1.5 M CPUID exits: about 3.2 modeled seconds (each exit costs the same modeled cycles).
    const args = ['run', `${GUESTS}exitloop.flat`, '--append', 'cpuid 1500000', '--mmu', 'tdp', '--json'];
    const a = runCli([...args, '--kvm-stat']);
    const b = runCli([...args, '--kvm-stat']);
    const plain = runCli(args);
    const report = (s: string): Record<string, number> => (JSON.parse(s.trim().split('\n').pop()!) as { kvm: Record<string, number> }).kvm;
    const kvm = report(a.stderr);
    expect(kvm).toEqual(report(plain.stderr));
    expect(a.stdout).toBe(plain.stdout);

    const log = (s: string): string[] => s.split('\n').filter((l) => l.startsWith('1970-01-01 ') || l.startsWith('exits '));
    const lines = log(a.stderr);
    expect(lines).toEqual(log(b.stderr));
    // StdFormat's banner (each field and a space), then "%Y-%m-%d %H:%M:%S" and " %9d" per field.
    const keys = lines[0].split(' ').slice(0, -1);
    expect(lines[0]).toBe(keys.map((k) => `${k} `).join(''));
    expect(keys).toEqual([...keys].sort());
    expect(keys).toEqual(expect.arrayContaining(['exits', 'kvm_exit', 'kvm_exit(CPUID)', 'kvm_entry', 'pf_fixed']));
    const records = lines.slice(1);
    expect(records.length).toBeGreaterThanOrEqual(2);
    const cyclesPerExit = (kvm.modeled_cycles + JSON.parse(a.stderr.trim().split('\n').pop()!).instructions) / kvm.exits;
    const total = new Map(keys.map((k) => [k, 0]));
    records.forEach((r, n) => {
      expect(r.slice(0, 19)).toBe(`1970-01-01 00:00:${String(n + 1).padStart(2, '0')}`);
      expect(r.length).toBe(19 + 10 * keys.length);
      const v = new Map(keys.map((k, i) => [k, Number(r.slice(19 + 10 * i, 29 + 10 * i))]));
      expect(v.get('kvm_exit')).toBe(v.get('exits'));
      expect(keys.filter((k) => k.startsWith('kvm_exit(')).reduce((s, k) => s + v.get(k)!, 0)).toBe(v.get('kvm_exit'));
      for (const k of keys) total.set(k, total.get(k)! + v.get(k)!);
      // Taken at the first slice end past each modeled second: the exits so far took that long.
      const elapsed = total.get('exits')! * cyclesPerExit;
      expect(elapsed).toBeGreaterThanOrEqual((n + 1) * 1e9 * 0.99);
      expect(elapsed).toBeLessThan((n + 2) * 1e9);
    });
    for (const [k, sum] of total) if (kvm[k] !== undefined) expect(sum).toBeLessThanOrEqual(kvm[k]);
  });
});
