import { closeSync, openSync, writeSync } from 'node:fs';
import type { Machine } from '../../vmm/machine.js';
import type { Kvm } from '../../mmu/kvm/kvm.js';
import { unpackRole } from '../../mmu/role.js';
import { mmioInKernel } from '../../mmu/kvm/in-kernel-devices.js';
import type { SpteCodec } from '../../mmu/spte.js';
import { KvmTrace, type KvmTraceHost } from '../debug/trace-kvm.js';
import { TraceSink } from '../debug/trace-sink.js';
import { TRACE_EVENTS, parseCpuSelection } from '../debug/trace-events.js';
import { type KvmStatSample, kvmStatBatch, kvmStatSample, kvmStatScreen } from '../debug/kvm-stat.js';
import { UsageError } from './errors.js';
import type { TraceRunOptions } from './trace-args.js';

/**
 * `--trace-events` and `--kvm-stat` around one run: the KvmTrace put in the VM's MmuContext (KVM's
 * tracepoint sites call it), the report file, kvm_stat's live screen on a TTY (redrawn once a
 * second from the scheduler's per-slice hook, which runs the same slices as without it, so the
 * run is unchanged), and the text printed when the run ends.
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
  if (o.kvmStat === true && o.gdb !== undefined) throw new UsageError('--kvm-stat and --gdb both watch the scheduler; give one of them');
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
  if (o.kvmStat === true && process.stderr.isTTY) liveScreen(vm, sample);
  return {
    trace,
    finish(tty: boolean): string[] {
      trace.finish(vm.vcpus);
      if (fd >= 0) closeSync(fd);
      if (o.kvmStat !== true) return [];
      vm.scheduler.debug = null;
      return tty ? kvmStatScreen(sample(), null, 0) : kvmStatBatch(sample(), null);
    },
  };
}

/** Wall-clock milliseconds between two redraws of the live screen (kvm_stat's default is 3 s, its first 0.25 s). */
const REDRAW_MS = 1000;

/**
 * kvm_stat's screen on stderr, redrawn once a second with the rates of that second, under a
 * progress line (instructions retired, MIPS). It rides on the scheduler's debug hook, asked after
 * every slice; it never pauses the machine.
 */
function liveScreen(vm: Machine, sample: () => KvmStatSample): void {
  const start = performance.now();
  let next = start + REDRAW_MS;
  let last = start;
  let previous: KvmStatSample | null = null;
  vm.scheduler.debug = {
    oneAtATime: false,
    pauseAfter: () => {
      const now = performance.now();
      if (now < next) return false;
      const current = sample();
      const insns = vm.scheduler.instructions();
      const progress = `mmulab: ${insns.toLocaleString('en-US')} instructions, ${(insns / ((now - start) * 1000)).toFixed(1)} MIPS`;
      process.stderr.write(`\x1b[H\x1b[2J${progress}\n${kvmStatScreen(current, previous, (now - last) / 1000).join('\n')}\n`);
      previous = current;
      last = now;
      next = now + REDRAW_MS;
      return false;
    },
  };
}
