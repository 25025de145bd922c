/**
 * Where trace lines go: one buffer per vCPU, merged by timestamp as `trace-cmd report` merges its
 * per-CPU buffers. vCPUs take turns, each running ahead in its own modeled time, so lines arrive
 * out of global order; a line is written once no vCPU can still produce an earlier one (every
 * vCPU's clock has passed it). A line may be reserved and filled in later (a RDMSR's value is
 * known only after the instruction); the merge waits for it.
 */

/** Lines held before the sink tries to write some out. */
const FLUSH_AT = 16384;

export class TraceSink {
  private readonly times: number[][] = [];
  private readonly lines: (string | null)[][] = [];
  /** Lines of each vCPU already written (line sequence numbers minus this are buffer indices). */
  private readonly written: number[] = [];
  private held = 0;
  /** Lines written so far. */
  count = 0;

  /**
   * `write` takes a chunk of text (whole lines); `clockOf(cpu)` is that vCPU's modeled time now,
   * the earliest any of its later lines can carry.
   */
  constructor(private readonly write: (text: string) => void, cpus: number, private readonly clockOf: (cpu: number) => number) {
    for (let c = 0; c < cpus; c++) {
      this.times.push([]);
      this.lines.push([]);
      this.written.push(0);
    }
  }

  /** Adds a line of vCPU `cpu` at time `ns` (null: reserved, see fill); returns its sequence number. */
  add(cpu: number, ns: number, line: string | null): number {
    const times = this.times[cpu];
    times.push(ns);
    this.lines[cpu].push(line);
    if (++this.held >= FLUSH_AT) this.flush(false);
    return this.written[cpu] + times.length - 1;
  }

  /** Fills a reserved line. */
  fill(cpu: number, seq: number, line: string): void {
    this.lines[cpu][seq - this.written[cpu]] = line;
  }

  /** Writes what can be ordered now, or (`all`) everything; reserved lines still empty must be filled first. */
  flush(all: boolean): void {
    let limit = Number.POSITIVE_INFINITY;
    if (!all) for (let c = 0; c < this.times.length; c++) limit = Math.min(limit, this.clockOf(c));
    const heads = this.times.map(() => 0);
    const out: string[] = [];
    for (;;) {
      let best = -1;
      for (let c = 0; c < heads.length; c++) {
        const i = heads[c];
        const t = this.times[c];
        if (i >= t.length || t[i] > limit || this.lines[c][i] === null) continue;
        if (best < 0 || t[i] < this.times[best][heads[best]]) best = c;
      }
      // A reserved line stops its vCPU's merge, and so everything later than it.
      const blocked = this.times.some((t, c) => heads[c] < t.length && this.lines[c][heads[c]] === null && t[heads[c]] <= limit);
      if (best < 0 || (blocked && this.times[best][heads[best]] > this.earliestBlocked(heads))) break;
      out.push(this.lines[best][heads[best]]!);
      heads[best]++;
    }
    for (let c = 0; c < heads.length; c++) {
      this.times[c].splice(0, heads[c]);
      this.lines[c].splice(0, heads[c]);
      this.written[c] += heads[c];
    }
    this.held -= out.length;
    this.count += out.length;
    if (out.length > 0) this.write(`${out.join('\n')}\n`);
  }

  private earliestBlocked(heads: readonly number[]): number {
    let t = Number.POSITIVE_INFINITY;
    for (let c = 0; c < heads.length; c++) {
      const i = heads[c];
      if (i < this.times[c].length && this.lines[c][i] === null) t = Math.min(t, this.times[c][i]);
    }
    return t;
  }
}
