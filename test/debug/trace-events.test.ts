/**
 * `mmulab run --trace-events` (emulator/debug/trace-*.ts): KVM's tracepoints as `trace-cmd report`
 * prints them. Oracles: lines of a real `trace-cmd report` of KVM (posted to the KVM list), which
 * the line formatter must reproduce byte for byte from their fields; and the run's own statistics
 * (KVM's counters, which the tracepoints sit beside in KVM's code), which every event stream must
 * agree with: kvm_exit by reason against the exit counters, the kvmmmu events against the MMU
 * counters, in every virtualized mode, on both vendors, with two vCPUs. Tracing must not change
 * the run: output, status and every counter equal those of the same run without it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { GUESTS, hasStackTrace, runCli } from '../cli/cli.js';
import { reportLine, traceLine } from '../../emulator/debug/trace-format.js';
import { TRACE_EVENTS, parseEventSelection } from '../../emulator/debug/trace-events.js';

const dir = mkdtempSync(join(tmpdir(), 'mmulab-trace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Lines of real `trace-cmd report` output. Linux's Documentation/trace (the trace-cmd example,
 * indented there by four columns, removed here); an arm64 report posted to LKML (its timer and
 * workqueue events: a name longer than 20 characters gets no padding); and kvm-unit-tests' xsave
 * traced under KVM (Paolo Bonzini on the KVM list, "XSETBV and #UD", the mail's one-column indent
 * removed): qemu-kvm's thread 1637698 on CPU 19.
 */
const REAL = [
  '           <...>-94    [000] 77837.045742: sched_switch:         prev_comm=trace-cmd prev_pid=94 prev_prio=120 prev_state=S ==> next_comm=rcu_sched next_pid=8 next_prio=120',
  '       rcu_sched-8     [000] 77837.046388: sched_switch:         prev_comm=rcu_sched prev_pid=8 prev_prio=120 prev_state=S ==> next_comm=ksoftirqd/0 next_pid=7 next_prio=120',
  '          <idle>-0     [007]    52.135417: sched_wakeup:         comm=kworker/7:3 pid=196 prio=120 target_cpu=007',
  '     kworker/7:3-196   [007]    52.135421: workqueue_execute_start: work struct 0xffffffc011bd5010: function psi_avgs_work',
  '        qemu-kvm-1637698 [019] 758186.750321: kvm_entry:            vcpu 0, rip 0x4028b7',
  '        qemu-kvm-1637698 [019] 758186.750322: kvm_exit:             vcpu 0 reason EXCEPTION_NMI rip 0x40048d info1 0x0000000000000000 info2 0x0000000000000000 intr_info 0x80000306 error_code 0x00000000',
  '        qemu-kvm-1637698 [019] 758186.750325: kvm_inj_exception:    #UD (0x0)',
];

/** task-pid [cpu] secs.usecs: event: text, as trace-cmd's print_event lays it out. */
const LINE = /^(.{16})-(\d+) *\[(\d{3})\] +(\d+)\.(\d{6}): (\w+): (.*)$/;

interface Event { readonly comm: string; readonly pid: number; readonly cpu: number; readonly ns: number; readonly name: string; readonly text: string }

function parse(line: string): Event {
  const m = LINE.exec(line);
  if (m === null) throw new Error(`not a trace-cmd report line: ${line}`);
  const name = m[6];
  const pad = Math.max(0, 20 - name.length);
  expect(m[7].slice(0, pad)).toBe(' '.repeat(pad));
  return { comm: m[1].trim(), pid: Number(m[2]), cpu: Number(m[3]), ns: Number(m[4]) * 1e9 + Number(m[5]) * 1000, name, text: m[7].slice(pad) };
}

describe('the report line', () => {
  test('reproduces real trace-cmd report lines from their fields', () => {
    for (const line of REAL) {
      const e = parse(line);
      expect(reportLine(e.comm, e.pid, e.cpu, e.ns, e.name, e.text)).toBe(line);
    }
    // mmulab's vCPU threads are QEMU's "CPU N/KVM", pid 4000 + N; the time is modeled nanoseconds.
    expect(traceLine(1, 2_500_123_999, 'kvm_exit', 'x')).toBe('       CPU 1/KVM-4001  [001]     2.500123: kvm_exit:             x');
    expect(traceLine(0, 7_000, 'kvm_tdp_mmu_spte_changed', 'y')).toBe('       CPU 0/KVM-4000  [000]     0.000007: kvm_tdp_mmu_spte_changed: y');
  });

  test('event selection as trace-cmd -e spells it', () => {
    const names = (spec: string[]): string[] => {
      const sel = parseEventSelection(spec);
      if (typeof sel === 'string') throw new Error(sel);
      return TRACE_EVENTS.filter((_, i) => sel[i] === 1).map((e) => e[1]);
    };
    expect(names(['kvm:kvm_exit'])).toEqual(['kvm_exit']);
    expect(names(['kvm_exit,kvm_entry'])).toEqual(['kvm_entry', 'kvm_exit']);
    expect(names(['kvmmmu'])).toEqual(TRACE_EVENTS.filter((e) => e[0] === 'kvmmmu').map((e) => e[1]));
    expect(names(['kvm:*', 'fast_page_fault'])).toEqual([...TRACE_EVENTS.filter((e) => e[0] === 'kvm').map((e) => e[1]), 'fast_page_fault']);
    expect(names(['all'])).toHaveLength(TRACE_EVENTS.length);
    expect(parseEventSelection(['kvm:nope'])).toMatch(/^no event matches "kvm:nope"/);
  });
});

interface Traced { readonly events: Event[]; readonly kvm: Record<string, number>; readonly out: string; readonly status: number | null; readonly header: string }

function traced(name: string, args: readonly string[]): Traced {
  const file = join(dir, `${name}.txt`);
  const r = runCli(['run', ...args, '--json', '--trace-events', 'all', '--trace-file', file]);
  const report = JSON.parse(r.stderr.trim().split('\n').pop()!) as { kvm: Record<string, number> };
  const lines = readFileSync(file, 'utf8').split('\n');
  expect(lines.pop()).toBe('');
  const header = lines.shift()!;
  return { events: lines.map(parse), kvm: report.kvm, out: r.stdout, status: r.status, header };
}

const count = (events: readonly Event[], name: string, text?: RegExp): number =>
  events.filter((e) => e.name === name && (text === undefined || text.test(e.text))).length;

const CASES: readonly (readonly [string, readonly string[]])[] = [
  ['smp-shadow', [`${GUESTS}smp.flat`, '--smp', '2', '--mmu', 'shadow']],
  ['smp-legacy-tdp', [`${GUESTS}smp.flat`, '--smp', '2', '--mmu', 'legacy-tdp']],
  ['smp-tdp', [`${GUESTS}smp.flat`, '--smp', '2', '--mmu', 'tdp']],
  ['smp-tdp-svm', [`${GUESTS}smp.flat`, '--smp', '2', '--mmu', 'tdp', '--vendor', 'svm']],
  ['dirty-log-tdp', [`${GUESTS}dirty-log.flat`, '--mmu', 'tdp']],
  ['dirty-log-legacy-tdp', [`${GUESTS}dirty-log.flat`, '--mmu', 'legacy-tdp']],
  ['cr0wp-shadow-svm', [`${GUESTS}cr0wp.flat`, '--mmu', 'shadow', '--vendor', 'svm']],
  ['mmio-cache-tdp', [`${GUESTS}mmio-cache.flat`, '--mmu', 'tdp']],
  ['root-cache-shadow', [`${GUESTS}root-cache.flat`, '--mmu', 'shadow']],
  ['exceptions-shadow', [`${GUESTS}exceptions.flat`, '--mmu', 'shadow']],
  ['pae-32-shadow', [`${GUESTS}pae-32.flat`, '--mmu', 'shadow']],
];

/** Where the flat guests are loaded (guests/Makefile links them there); the image's bytes are the oracle for kvm_exit's rip. */
const FLAT_BASE = 0x400000;

/** IN, OUT (immediate port or DX) and INS/OUTS. */
const IO_OPCODES = [[0xe4], [0xe5], [0xe6], [0xe7], [0xec], [0xed], [0xee], [0xef], [0x6c], [0x6d], [0x6e], [0x6f]];

/**
 * The opcode bytes (after legacy and REX prefixes) an instruction exit's rip must point at, by
 * the VMX reason: the instruction that exited, not the one after it.
 */
const EXIT_OPCODES: Readonly<Record<string, readonly (readonly number[])[]>> = {
  CPUID: [[0x0f, 0xa2]],
  MSR_READ: [[0x0f, 0x32]],
  MSR_WRITE: [[0x0f, 0x30]],
  HLT: [[0xf4]],
  VMCALL: [[0x0f, 0x01, 0xc1]],
  IO_INSTRUCTION: IO_OPCODES,
  io: IO_OPCODES,
  CR_ACCESS: [[0x0f, 0x20], [0x0f, 0x22], [0x0f, 0x06], [0x0f, 0x01]],
  INVLPG: [[0x0f, 0x01]],
  // SVM's names (SVM_EXIT_REASONS).
  cpuid: [[0x0f, 0xa2]],
  msr: [[0x0f, 0x32], [0x0f, 0x30]],
  hlt: [[0xf4]],
  hypercall: [[0x0f, 0x01, 0xd9]],
  invlpg: [[0x0f, 0x01]],
  write_cr0: [[0x0f, 0x22], [0x0f, 0x06], [0x0f, 0x01]],
  write_cr3: [[0x0f, 0x22]],
  write_cr4: [[0x0f, 0x22]],
  read_cr3: [[0x0f, 0x20]],
};

/** Checks the rip of every instruction exit inside the image; returns how many were checked. */
function checkExitRips(events: readonly Event[], image: Buffer, long: boolean): number {
  let checked = 0;
  for (const e of events) {
    if (e.name !== 'kvm_exit') continue;
    const m = / reason (.+?) rip 0x([0-9a-f]+) /.exec(e.text)!;
    const opcodes = EXIT_OPCODES[m[1]];
    const at = parseInt(m[2], 16) - FLAT_BASE;
    if (opcodes === undefined || at < 0 || at >= image.length) continue;
    let i = at;
    while ([0x66, 0x67, 0xf2, 0xf3, 0x2e, 0x3e, 0x26, 0x36, 0x64, 0x65].includes(image[i]) || (long && (image[i] & 0xf0) === 0x40)) i++;
    const hit = opcodes.some((op) => op.every((b, k) => image[i + k] === b));
    if (!hit) throw new Error(`${e.name} ${m[1]} at rip 0x${m[2]}: bytes ${image.subarray(at, at + 4).toString('hex')}`);
    checked++;
  }
  return checked;
}

/**
 * FNAME(walk_addr_generic)'s events under shadow paging: each kvm_mmu_pagetable_walk follows the
 * kvm_page_fault it serves (same address, its error code without RSVD), and is followed by one
 * kvm_mmu_paging_element per level read, from the top down without a gap, then a
 * kvm_mmu_walker_error if the walk failed, whose error code the guest then gets (kvm_inj... is
 * not traced; pf_guest counts those).
 */
function checkWalks(events: readonly Event[]): void {
  const last = new Map<number, Event>();
  for (let n = 0; n < events.length; n++) {
    const e = events[n];
    if (e.name === 'kvm_page_fault') last.set(e.cpu, e);
    if (e.name !== 'kvm_mmu_pagetable_walk') continue;
    const pf = last.get(e.cpu)!;
    const f = /address 0x0*([0-9a-f]+) error_code 0x([0-9a-f]+)$/.exec(pf.text)!;
    expect(e.text).toBe(`addr ${f[1]} pferr ${(parseInt(f[2], 16) & ~8).toString(16)} ${pferrNames(parseInt(f[2], 16) & ~8)}`);
    const mine = events.slice(n + 1).filter((x) => x.cpu === e.cpu);
    let level = Number(/level (\d)$/.exec(mine[0].text)![1]);
    expect([2, 3, 4, 5]).toContain(level);
    let k = 0;
    for (; mine[k].name === 'kvm_mmu_paging_element'; k++, level--) expect(mine[k].text).toMatch(new RegExp(`^pte [0-9a-f]+ level ${level}$`));
    expect(k).toBeGreaterThan(0);
    if (mine[k].name === 'kvm_mmu_walker_error') expect(mine[k].text).toMatch(/^pferr [0-9a-f]+ [A-Z|]*$/);
  }
}

/** __print_flags of kvm_mmu_trace_pferr_flags. */
function pferrNames(code: number): string {
  return [[1, 'P'], [2, 'W'], [4, 'U'], [8, 'RSVD'], [16, 'F']].filter(([b]) => (code & (b as number)) !== 0).map(([, n]) => n).join('|');
}

describe('events against the run\'s statistics', () => {
  for (const [name, args] of CASES) {
    test(name, () => {
      const plain = runCli(['run', ...args, '--json']);
      const t = traced(name, args);
      const k = (n: string): number => t.kvm[n] ?? 0;
      const vmx = !args.includes('svm');
      const smp = args.includes('--smp') ? 2 : 1;
      const ev = t.events;

      // Tracing changes nothing of the run: output, status, every counter and the modeled cycles.
      expect(t.out).toBe(plain.stdout);
      expect(t.status).toBe(plain.status);
      expect(t.kvm).toEqual((JSON.parse(plain.stderr.trim().split('\n').pop()!) as { kvm: Record<string, number> }).kvm);

      expect(t.header).toBe(`cpus=${smp}`);
      expect(ev.length).toBeGreaterThan(100);
      // One task per vCPU, and the merge keeps the report in time order across vCPUs.
      for (const e of ev) expect([e.comm, e.pid]).toEqual([`CPU ${e.cpu}/KVM`, 4000 + e.cpu]);
      expect(new Set(ev.map((e) => e.cpu)).size).toBe(smp);
      for (let i = 1; i < ev.length; i++) if (ev[i].ns < ev[i - 1].ns) throw new Error(`line ${i + 2} goes back in time`);

      // kvm_exit: every exit, by reason as the vendor names it, against the counters.
      const exits = ev.filter((e) => e.name === 'kvm_exit');
      expect(exits.length).toBe(k('exits'));
      const reason = (r: string): number => exits.filter((e) => e.text.includes(` reason ${r} rip `)).length;
      if (vmx) {
        expect(reason('IO_INSTRUCTION')).toBe(k('io_exits'));
        expect(reason('HLT')).toBe(k('halt_exits'));
        expect(reason('CPUID')).toBe(k('cpuid_exits'));
        expect(reason('MSR_READ') + reason('MSR_WRITE')).toBe(k('msr_exits'));
        expect(reason('CR_ACCESS')).toBe(k('cr_exits'));
        expect(reason('VMCALL')).toBe(k('hypercalls'));
        expect(reason('EXTERNAL_INTERRUPT')).toBe(k('irq_exits') + k('irq_injections'));
        expect(reason('EXCEPTION_NMI')).toBe(k('pf_exits'));
        expect(reason('INVLPG')).toBe(k('invlpg_exits'));
        expect(reason('INVPCID')).toBe(k('invpcid_exits'));
        expect(reason('PML_FULL')).toBe(k('pml_full_exits'));
        expect(reason('EPT_VIOLATION') + reason('EPT_MISCONFIG')).toBe(args.includes('shadow') ? 0 : k('pf_taken') + k('mmio_fast_hit'));
      } else {
        expect(reason('io')).toBe(k('io_exits'));
        expect(reason('hlt')).toBe(k('halt_exits'));
        expect(reason('msr')).toBe(k('msr_exits'));
        expect(reason('write_cr0') + reason('write_cr3') + reason('write_cr4') + reason('read_cr3')).toBe(k('cr_exits'));
        expect(reason('read_cr3')).toBe(k('cr3_reads'));
        expect(reason('write_cr3')).toBe(k('cr3_writes'));
        expect(reason('interrupt')).toBe(k('irq_exits') + k('irq_injections'));
        expect(reason('PF excp')).toBe(k('pf_exits'));
        expect(reason('npf')).toBe(args.includes('shadow') ? 0 : k('pf_taken') + k('mmio_fast_hit'));
      }
      // The events the exit handlers trace.
      expect(count(ev, 'kvm_pio')).toBe(k('io_exits'));
      expect(count(ev, 'kvm_msr')).toBe(k('msr_exits'));
      expect(count(ev, 'kvm_cr')).toBe(k('cr_exits'));
      expect(count(ev, 'kvm_inj_virq')).toBe(k('irq_injections'));
      expect(count(ev, 'kvm_page_fault')).toBe(args.includes('shadow') ? k('pf_exits') : vmx ? reason('EPT_VIOLATION') : reason('npf'));
      // Each exit is followed by one entry before the vCPU's next exit; each vCPU entered once first.
      expect(count(ev, 'kvm_entry')).toBeGreaterThanOrEqual(k('exits'));
      expect(count(ev, 'kvm_entry')).toBeLessThanOrEqual(k('exits') + smp);

      // kvm_mmio: every MMIO access KVM emulated once (mmio_exits), a read by the VMM announced
      // first as unsatisfied; in-kernel devices (LAPIC, IOAPIC) complete reads at once.
      expect(count(ev, 'kvm_mmio', /^mmio (read|write) len [1248] gpa 0x[0-9a-f]+ val 0x[0-9a-f]+$/)).toBe(k('mmio_exits'));
      const mmio = ev.filter((e) => e.name === 'kvm_mmio');
      mmio.forEach((e, n) => {
        if (!e.text.startsWith('mmio unsatisfied-read ')) return;
        expect(e.text).toMatch(/ val 0x0$/);
        expect(mmio[n + 1].text.replace(/ val .*/, '')).toBe(e.text.replace('unsatisfied-read', 'read').replace(/ val .*/, ''));
      });
      expect(count(ev, 'kvm_mmio', /^mmio unsatisfied-read len \d+ gpa 0xfe[ce]/)).toBe(0);

      // kvm_exit's rip is the exiting instruction's, read back from the image.
      const image = readFileSync(args[0] as string);
      expect(checkExitRips(ev, image, !args[0].includes('-32'))).toBeGreaterThan(0);

      // kvmmmu against the MMU's counters.
      expect(count(ev, 'handle_mmio_page_fault')).toBe(k('mmio_fast_hit'));
      expect(count(ev, 'mark_mmio_spte')).toBe(k('sptes_installed_mmio'));
      expect(count(ev, 'fast_page_fault', /spurious 1|fixed 1/)).toBe(k('pf_fast'));
      expect(count(ev, 'kvm_mmu_split_huge_page')).toBe(k('huge_pages_split'));
      if (args.includes('tdp') && !args.includes('legacy-tdp')) {
        // Every SPTE change goes through the change path but a split's 512 children, written directly.
        expect(count(ev, 'kvm_tdp_mmu_spte_changed')).toBe(k('sptes_zapped') + k('sptes_installed_nonleaf') + k('sptes_installed_mmio')
          + k('sptes_installed_leaf') - 512 * k('huge_pages_split'));
        expect(count(ev, 'kvm_mmu_spte_requested')).toBe(k('pf_taken') - k('pf_fast'));
      } else {
        // direct_map and FNAME(fetch) request each mapping they then install: a leaf, or an MMIO SPTE
        // (these guests make no fault that maps a write-protected frame read-only and emulates:
        // bench/trace-linux.ts bounds that case by pf_emulate).
        expect(count(ev, 'kvm_mmu_spte_requested')).toBe(k('pf_fixed') + k('pf_spurious') + k('pf_mmio_spte_created'));
        expect(count(ev, 'kvm_mmu_get_page', / new$/)).toBe(k('mmu_cache_miss'));
        expect(count(ev, 'kvm_mmu_prepare_zap_page')).toBe(k('mmu_shadow_zapped'));
        expect(count(ev, 'kvm_mmu_unsync_page')).toBe(k('unsync_marked'));
        expect(count(ev, 'kvm_mmu_sync_page')).toBe(k('sync_page'));
        expect(count(ev, 'kvm_mmu_set_spte')).toBe(k('sptes_installed_leaf'));
      }
      // The guest walker runs only under shadow paging (TDP hardware walks the guest's tables).
      if (args.includes('shadow')) {
        expect(count(ev, 'kvm_mmu_pagetable_walk')).toBeGreaterThan(0);
        expect(count(ev, 'kvm_mmu_walker_error')).toBe(k('pf_guest'));
        checkWalks(ev);
      } else {
        expect(count(ev, 'kvm_mmu_pagetable_walk') + count(ev, 'kvm_mmu_paging_element') + count(ev, 'kvm_mmu_walker_error')).toBe(0);
      }
    });
  }

  test.each([
    ['mmio-cache', 'tdp', 'vmx'],
    ['smp', 'shadow', 'svm'],
  ])('%s under %s (%s): the counts --kvm-stat prints in the same run are the trace\'s', (guest, mmu, vendor) => {
    const file = join(dir, `stat-${guest}-${mmu}.txt`);
    const args = ['run', `${GUESTS}${guest}.flat`, '--mmu', mmu, '--vendor', vendor, ...(guest === 'smp' ? ['--smp', '2'] : [])];
    const r = runCli([...args, '--kvm-stat', '--trace-events', 'all', '--trace-file', file]);
    const fields = new Map(r.stderr.split('\n').filter((l) => l.length === 62).map((l) => [l.slice(0, 42).trim(), Number(l.slice(42, 52))] as const));
    const events = readFileSync(file, 'utf8').trim().split('\n').slice(1).map(parse);
    const kvmEvents = TRACE_EVENTS.filter(([system]) => system === 'kvm').map(([, name]) => name);
    for (const name of kvmEvents) expect([name, fields.get(name)]).toEqual([name, count(events, name)]);
    expect(fields.get('kvm_mmio')).toBeGreaterThan(0);
    // kvm_exit(REASON): kvm_stat's reason tables name VMX exits as the kernel does; its SVM names
    // are upper case, and three differ from the kernel's SVM_EXIT_REASONS.
    const svmNames: Record<string, string> = { INTR: 'interrupt', IOIO: 'io', VMMCALL: 'hypercall' };
    const children = [...fields].filter(([k]) => k.startsWith('kvm_exit('));
    expect(children.length).toBeGreaterThan(1);
    for (const [k, v] of children) {
      const stat = k.slice(9, -1);
      const reason = vendor === 'vmx' ? stat : svmNames[stat] ?? stat.toLowerCase();
      expect([k, v]).toEqual([k, count(events, 'kvm_exit', new RegExp(` reason ${reason} rip `))]);
    }
  });

  test('the same run twice gives the same trace', () => {
    const args = [`${GUESTS}smp.flat`, '--smp', '2', '--mmu', 'shadow'];
    const a = runCli(['run', ...args, '--trace-events', 'all', '--trace-file', join(dir, 'a.txt')]);
    const b = runCli(['run', ...args, '--trace-events', 'all', '--trace-file', join(dir, 'b.txt')]);
    expect(a.status).toBe(b.status);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe(readFileSync(join(dir, 'b.txt'), 'utf8'));
  });

  test('--trace-cpus keeps one vCPU; a system selects only its events', () => {
    const args = [`${GUESTS}smp.flat`, '--smp', '2', '--mmu', 'tdp'];
    runCli(['run', ...args, '--trace-events', 'kvm:kvm_exit', '--trace-cpus', '1', '--trace-file', join(dir, 'cpu1.txt')]);
    const only = readFileSync(join(dir, 'cpu1.txt'), 'utf8').trim().split('\n').slice(1).map(parse);
    expect(only.length).toBeGreaterThan(0);
    expect(new Set(only.map((e) => `${e.cpu} ${e.name}`))).toEqual(new Set(['1 kvm_exit']));
    runCli(['run', ...args, '--trace-events', 'kvmmmu', '--trace-file', join(dir, 'mmu.txt')]);
    const mmu = readFileSync(join(dir, 'mmu.txt'), 'utf8').trim().split('\n').slice(1).map(parse);
    expect(mmu.length).toBeGreaterThan(0);
    for (const e of mmu) expect(TRACE_EVENTS.find((t) => t[1] === e.name)?.[0]).toBe('kvmmmu');
  });
});

describe('bad uses: one line, status 2', () => {
  test.each([
    [['--mmu', 'bare', '--trace-events', 'all'], /^mmulab: --trace-events: KVM's tracepoints and statistics need a virtualized MMU/],
    [['--mmu', 'tdp', '--trace-events', 'kvm:bogus'], /^mmulab: --trace-events: no event matches "kvm:bogus"/],
    [['--mmu', 'tdp', '--trace-cpus', '0'], /^mmulab: --trace-cpus needs --trace-events/],
    [['--mmu', 'tdp', '--trace-file', '/tmp/x'], /^mmulab: --trace-file needs --trace-events/],
    [['--mmu', 'tdp', '--trace-events', 'all', '--trace-cpus', '3'], /^mmulab: --trace-cpus: vCPU 3 is not in 0-0/],
    [['--mmu', 'tdp', '--trace-events', 'all', '--trace-file', '/nonexistent/dir/t.txt'], /^mmulab: --trace-file \/nonexistent\/dir\/t.txt: cannot write it \(ENOENT\)/],
    [['--mmu', 'bare', '--kvm-stat'], /^mmulab: --kvm-stat: KVM's tracepoints and statistics need a virtualized MMU/],
  ])('%j', (extra, message) => {
    const r = runCli(['run', `${GUESTS}hello.flat`, ...extra]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(hasStackTrace(r.stderr)).toBe(false);
  });
});
