import type { Machine } from '../../vmm/machine.js';
import { KvmTrace } from '../debug/trace-kvm.js';
import { TRACE_EVENTS } from '../debug/trace-events.js';
import { traceHost } from './trace-run.js';

/**
 * Counters over a run for the HTML report's time series, from KVM's event stream: a KvmTrace that
 * counts and writes nothing but looks at every exit (KVM's counters change only in exits), taking
 * a sample at the first exit after each step of vCPU 0's modeled time. When a run outgrows the
 * sample budget, every other sample is dropped and the step doubles. Tracing changes nothing of
 * the run, so the samples are the same every time.
 */

/** The counters sampled. */
export const SERIES_COUNTERS = ['pf_taken', 'root_alloc', 'exits'] as const;

export interface SeriesPoint {
  /** Modeled cycles of vCPU 0. */
  readonly t: number;
  readonly values: readonly number[];
}

const FIRST_STEP = 1_000;
const MAX_POINTS = 400;

export interface SeriesSampler {
  /** The samples, with a last one at the end of the run. */
  finish(): SeriesPoint[];
}

/** Starts sampling `vm`; null for the bare machine (no KVM). */
export function sampleSeries(vm: Machine): SeriesSampler | null {
  const kvm = vm.kvm;
  if (kvm === undefined) return null;
  const points: SeriesPoint[] = [];
  let step = FIRST_STEP;
  let next = 0;
  const take = (t: number): void => {
    const stats = new Map(kvm.stats.entries());
    points.push({ t, values: SERIES_COUNTERS.map((c) => stats.get(c) ?? 0) });
  };
  const none = new Uint8Array(TRACE_EVENTS.length);
  const trace = new KvmTrace(traceHost(vm, kvm), none, none, null, null);
  trace.onExit = () => {
    const t = vm.vcpus[0].cycles();
    if (t < next) return;
    take(t);
    next = t + step;
    if (points.length > MAX_POINTS) {
      for (let i = 1; i < points.length / 2; i++) points[i] = points[2 * i];
      points.length = Math.ceil(points.length / 2);
      step *= 2;
    }
  };
  kvm.mmuContext.trace = trace;
  return {
    finish(): SeriesPoint[] {
      kvm.mmuContext.trace = null;
      take(vm.vcpus[0].cycles());
      return points;
    },
  };
}
