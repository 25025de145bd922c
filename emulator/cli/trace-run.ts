import { closeSync, openSync, writeSync } from 'node:fs';
import type { Machine } from '../../vmm/machine.js';
import type { Kvm } from '../../mmu/kvm/kvm.js';
import { unpackRole } from '../../mmu/role.js';
import { mmioInKernel } from '../../mmu/kvm/in-kernel-devices.js';
import type { SpteCodec } from '../../mmu/spte.js';
import { KvmTrace, type KvmTraceHost } from '../debug/trace-kvm.js';
import { TraceSink } from '../debug/trace-sink.js';
import { TRACE_EVENTS, parseCpuSelection } from '../debug/trace-events.js';
import { type KvmStatSample, kvmStatBatch, kvmStatLogBanner, kvmStatLogKeys, kvmStatLogLine, kvmStatSample, kvmStatScreen } from '../debug/kvm-stat.js';
import { UsageError } from './errors.js';
import type { TraceRunOptions } from './trace-args.js';

/**
 * `--trace-events` and `--kvm-stat` around one run: the KvmTrace put in the VM's MmuContext (KVM's
 * tracepoint sites call it), the report file, kvm_stat's live screen on a TTY (redrawn once a
 * second from the tracer's exit hook, so the run is unchanged), and the text printed when the run ends.
 */
export interface TraceRun {
  readonly trace: KvmTrace;
  /** Writes out what is buffered and closes the file; returns the lines kvm_stat prints at the end (empty without --kvm-stat). */
  finish(tty: boolean): string[];
}

/** The `kvm` system's events, which kvm_stat counts. */
function kvmSystem(): Uint8Array {
  return Uint8Array.from(TRACE_EVENTS, ([system]) => (system === 'kvm' ? 1 : 0));
}

/** What a KvmTrace asks of `vm`, from its KVM's codec and roles. */
export function traceHost(vm: Machine, kvm: Kvm): KvmTraceHost {
  const codec = kvm.codec;
  return {
    vmx: kvm.cfg.vendor === 'vmx',
    cpus: vm.vcpus.length,
    running: () => kvm.running.cpu,
    unpackRole,
    mmioSpte: (lo, hi) => (codec.isMmio(lo, hi) ? { gfn: codec.mmioGfn(lo, hi), access: codec.mmioAccess(lo), gen: codec.mmioGeneration(lo, hi) } : null),
    spteLetters: (lo, hi) => spteLetters(codec, lo, hi),
    mmioInKernel,
  };
}

/**
 * kvm_mmu_set_spte's letters: r (shadow_present_mask, or the present bit), w (bit 1), x
 * (is_executable_pte), and u only where the format has a user bit (x86, not EPT).
 */
function spteLetters(codec: SpteCodec, lo: number, hi: number): string {
  const ept = codec.config.format === 'ept';
  const r = !ept || (lo & 1) !== 0 ? 'r' : '-';
  const w = (lo & 2) !== 0 ? 'w' : '-';
  const x = codec.isExecutable(lo, hi) ? 'x' : '-';
  const u = ept ? '' : (lo & 4) !== 0 ? 'u' : '-';
  return r + w + x + u;
}

/** The run's tracer, or null when neither option is given. Throws UsageError for a bad combination. */
export function attachTrace(vm: Machine, o: TraceRunOptions & { readonly mmu: string; readonly gdb?: unknown }): TraceRun | null {
  if (o.traceEvents === undefined && o.kvmStat !== true) return null;
  const kvm = vm.kvm;
  const option = o.traceEvents !== undefined ? '--trace-events' : '--kvm-stat';
  if (kvm === undefined) throw new UsageError(`${option}: KVM's tracepoints and statistics need a virtualized MMU (--mmu shadow, legacy-tdp or tdp), not --mmu ${o.mmu}`);
  let cpus: Uint8Array | null = null;
  if (o.traceCpus !== undefined) {
    const sel = parseCpuSelection(o.traceCpus, vm.vcpus.length);
    if (typeof sel === 'string') throw new UsageError(`--trace-cpus: ${sel}`);
    cpus = sel;
  }
  let fd = -1;
  let sink: TraceSink | null = null;
  const written = o.traceEvents ?? new Uint8Array(TRACE_EVENTS.length);
  if (o.traceEvents !== undefined) {
    try {
      fd = openSync(o.traceFile!, 'w');
    } catch (err) {
      throw new UsageError(`--trace-file ${o.traceFile}: cannot write it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    writeSync(fd, `cpus=${vm.vcpus.length}\n`);
    sink = new TraceSink((text) => writeSync(fd, text), vm.vcpus.length, (c) => vm.vcpus[c].cycles());
  }
  const counted = written.slice();
  if (o.kvmStat === true) kvmSystem().forEach((on, i) => { if (on) counted[i] = 1; });
  const trace = new KvmTrace(traceHost(vm, kvm), counted, written, cpus, sink);
  kvm.mmuContext.trace = trace;
  for (const cpu of vm.vcpus) cpu.paging.mmioTrace = trace;
  const vmx = kvm.cfg.vendor === 'vmx';
  const sample = (): KvmStatSample => kvmStatSample(new Map(kvm.stats.entries()), trace.counts, trace.exits, vmx);
  if (o.kvmStat === true) {
    if (process.stderr.isTTY) liveScreen(vm, trace, sample);
    else logRecords(trace, sample, kvmStatLogKeys(new Map(kvm.stats.entries()), vmx));
  }
  return {
    trace,
    finish(tty: boolean): string[] {
      trace.finish(vm.vcpus);
      if (fd >= 0) closeSync(fd);
      if (o.kvmStat !== true) return [];
      return tty ? kvmStatScreen(sample(), null, 0) : kvmStatBatch(sample(), null);
    },
  };
}

/** Wall-clock milliseconds between two redraws of the live screen (kvm_stat's default is 3 s, its first 0.25 s). */
const REDRAW_MS = 1000;

/**
 * kvm_stat's screen on stderr, redrawn once a second with the rates of that second, under a
 * progress line (instructions retired, MIPS). It rides on the tracer's exit hook (the clock is
 * read every EXITS_PER_CLOCK exits), so it never touches the scheduler: the run is the one
 * without it. A stretch without exits changes no counter and is not redrawn.
 */
function liveScreen(vm: Machine, trace: KvmTrace, sample: () => KvmStatSample): void {
  const start = performance.now();
  let next = start + REDRAW_MS;
  let last = start;
  let previous: KvmStatSample | null = null;
  let exits = 0;
  trace.onExit = () => {
    if ((++exits & (EXITS_PER_CLOCK - 1)) !== 0) return;
    const now = performance.now();
    if (now < next) return;
    const current = sample();
    const insns = vm.scheduler.instructions();
    const progress = `mmulab: ${insns.toLocaleString('en-US')} instructions, ${(insns / ((now - start) * 1000)).toFixed(1)} MIPS`;
    process.stderr.write(`\x1b[H\x1b[2J${progress}\n${kvmStatScreen(current, previous, (now - last) / 1000).join('\n')}\n`);
    previous = current;
    last = now;
    next = now + REDRAW_MS;
  };
}

/** Exits between two looks at the wall clock (a power of two). */
const EXITS_PER_CLOCK = 64;


/** Modeled nanoseconds (cycles) between two records of the log; kvm_stat -l's delay is in seconds too. */
export const LOG_INTERVAL_NS = 1e9;

/** kvm_stat -l repeats its banner every this many records. */
const BANNER_REPEAT = 20;

/**
 * Not on a TTY: kvm_stat's logging mode (`kvm_stat -l`) on stderr, a record for each modeled
 * second of the run (the running vCPU's cycles; one cycle is one nanosecond, as in the trace),
 * checked at every exit: KVM's counters change only in exits, so no change is missed, and a
 * second with no exit gets no record (as `kvm_stat -l -z` skips empty ones). Modeled rather than
 * wall time, so the same run writes the same records; the batch lines still end the run. It
 * rides on the tracer's exit hook, not the scheduler's debugger hook, which would change how
 * slices cut short by a device deadline continue.
 */
function logRecords(trace: KvmTrace, sample: () => KvmStatSample, keys: readonly string[]): void {
  let next = LOG_INTERVAL_NS;
  let records = 0;
  let previous: KvmStatSample | null = null;
  trace.onExit = () => {
    const now = trace.runningCycles();
    if (now < next) return;
    const boundary = Math.floor(now / LOG_INTERVAL_NS) * LOG_INTERVAL_NS;
    const current = sample();
    const banner = records % BANNER_REPEAT === 0 ? `${kvmStatLogBanner(keys)}\n` : '';
    process.stderr.write(`${banner}${kvmStatLogLine(boundary, keys, current, previous)}\n`);
    records++;
    previous = current;
    next = boundary + LOG_INTERVAL_NS;
  };
}
