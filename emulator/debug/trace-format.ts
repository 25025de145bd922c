/**
 * The text of one event as `trace-cmd report` prints it (trace-cmd's print_event: the
 * "%16s-%-5d [%03d]" task column, the time as seconds.microseconds, the event name followed by
 * ": " and padded so names up to 20 characters line up, then the event's TP_printk text), and the
 * printf conversions KVM's TP_printk formats use, for 64-bit values held as two 32-bit halves.
 * Only reached while tracing: nothing here is on a path that runs with tracing off.
 */

/** The QEMU vCPU thread's name (qemu_thread_create's "CPU %d/KVM"), which trace-cmd shows as the task. */
export function vcpuComm(cpu: number): string {
  return `CPU ${cpu}/KVM`;
}

/** mmulab's stand-in for the vCPU thread's pid: fixed per vCPU, so traces are deterministic. */
export const VCPU_PID_BASE = 4000;

/**
 * Nanoseconds as trace-cmd prints them: seconds right-aligned in five columns, a dot, six digits
 * of microseconds (as in real reports: "[007]    52.135417", "[000] 77837.045742").
 */
export function traceTime(ns: number): string {
  const secs = Math.floor(ns / 1e9);
  const usecs = Math.floor((ns - secs * 1e9) / 1000);
  return `${String(secs).padStart(5)}.${String(usecs).padStart(6, '0')}`;
}

/** One report line (without the newline) of task `comm` with thread id `pid`. */
export function reportLine(comm: string, pid: number, cpu: number, ns: number, event: string, text: string): string {
  const task = `${comm.padStart(16)}-${String(pid).padEnd(5)} [${String(cpu).padStart(3, '0')}]`;
  const pad = event.length < 20 ? ' '.repeat(20 - event.length) : '';
  return `${task} ${traceTime(ns)}: ${event}: ${pad}${text}`;
}

/** One report line of vCPU `cpu`'s thread. */
export function traceLine(cpu: number, ns: number, event: string, text: string): string {
  return reportLine(vcpuComm(cpu), VCPU_PID_BASE + cpu, cpu, ns, event, text);
}

/** %llx of the 64-bit value hi:lo (halves as int32 or uint32). */
export function hex64(lo: number, hi: number): string {
  const h = hi >>> 0;
  const l = lo >>> 0;
  return h === 0 ? l.toString(16) : h.toString(16) + l.toString(16).padStart(8, '0');
}

/** %llx of a non-negative integer below 2^53 (addresses, frame numbers). */
export function hex(n: number): string {
  return n.toString(16);
}

/** %0Nllx. */
export function hexPad(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** %#llx: "0x..." except for zero, which is "0". */
export function altHex64(lo: number, hi: number): string {
  return (lo | hi) === 0 ? '0' : `0x${hex64(lo, hi)}`;
}

/** KVM's kvm_mmu_trace_pferr_flags, printed with __print_flags(..., "|", ...). */
const PFERR_FLAGS: readonly (readonly [number, string])[] = [[1, 'P'], [2, 'W'], [4, 'U'], [8, 'RSVD'], [16, 'F']];

/** __print_flags of a page-fault error code: the names joined by "|", any unnamed rest as 0x... */
export function pferrFlags(code: number): string {
  const names: string[] = [];
  let rest = code >>> 0;
  for (const [bit, name] of PFERR_FLAGS) {
    if ((rest & bit) === 0) continue;
    names.push(name);
    rest &= ~bit;
  }
  if (rest !== 0) names.push(`0x${rest.toString(16)}`);
  return names.join('|');
}
