/**
 * Host-CPU side of the instruction-semantics differential tests: runs the same snippets as
 * runSnippet (test/helpers/snippet.ts) natively, through the small C harness in test/native/.
 *
 * The harness is compiled with gcc into build/native/harness on first use, and again only when
 * a source file is newer than the binary. It maps CODE, DATA and STACK at the addresses the
 * emulator side uses, so address-valued registers agree; the protocol is documented at the top
 * of test/native/harness.c. One process runs a whole batch of cases.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DATA_SIZE, STACK_SIZE, type SnippetInput, type SnippetOutput } from './snippet.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCES = [join(ROOT, 'test/native/harness.c'), join(ROOT, 'test/native/run.S')];
export const NATIVE_HARNESS = join(ROOT, 'build/native/harness');

let built = false;

/** Builds the harness if it is missing or older than its sources; returns its path. */
export function ensureNativeHarness(): string {
  if (built) return NATIVE_HARNESS;
  const newest = Math.max(...SOURCES.map((s) => statSync(s).mtimeMs));
  if (!existsSync(NATIVE_HARNESS) || statSync(NATIVE_HARNESS).mtimeMs < newest) {
    mkdirSync(dirname(NATIVE_HARNESS), { recursive: true });
    // Test files run in parallel workers: build under a private name, then rename atomically.
    const tmp = `${NATIVE_HARNESS}.${process.pid}.tmp`;
    execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-fPIE', '-pie', '-o', tmp, ...SOURCES], { stdio: 'pipe' });
    renameSync(tmp, NATIVE_HARNESS);
  }
  built = true;
  return NATIVE_HARNESS;
}

class Writer {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (this.len + n > cap) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
    this.view = new DataView(b.buffer);
  }
  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.len, v >>> 0, true);
    this.len += 4;
  }
  u64(v: bigint): void {
    this.room(8);
    this.view.setBigUint64(this.len, BigInt.asUintN(64, v), true);
    this.len += 8;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  /** An area as runs of non-zero bytes (short zero gaps merged). */
  runs(area: Uint8Array | undefined, size: number): void {
    if (area === undefined) {
      this.u32(0);
      return;
    }
    const a = area.subarray(0, size);
    const found: [number, number][] = [];
    let i = 0;
    while (i < a.length) {
      if (a[i] === 0) { i++; continue; }
      let last = i;
      let j = i + 1;
      while (j < a.length && j - last <= 16) {
        if (a[j] !== 0) last = j;
        j++;
      }
      found.push([i, last + 1]);
      i = last + 1;
    }
    this.u32(found.length);
    for (const [s, e] of found) {
      this.u32(s);
      this.u32(e - s);
      this.bytes(a.subarray(s, e));
    }
  }
  result(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

/** Runs every case on the host CPU; results have the same shape as runSnippet's. */
export function runNative(cases: readonly SnippetInput[]): SnippetOutput[] {
  const exe = ensureNativeHarness();
  const w = new Writer();
  for (const c of cases) {
    w.u32(c.code.length);
    w.bytes(c.code);
    for (let r = 0; r < 16; r++) w.u64(c.regs[r] ?? 0n);
    w.u64(c.rflags);
    w.runs(c.data, DATA_SIZE);
    w.runs(c.stack, STACK_SIZE);
  }
  const res = spawnSync(exe, [], { input: w.result(), maxBuffer: 1 << 30 });
  if (res.error) throw res.error;
  if (res.status !== 0) {
    throw new Error(`native harness exited with status ${res.status} signal ${res.signal}: ${res.stderr.toString()}`);
  }
  const out = res.stdout;
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let pos = 0;
  const u32 = (): number => { const v = view.getUint32(pos, true); pos += 4; return v; };
  const u64 = (): bigint => { const v = view.getBigUint64(pos, true); pos += 8; return v; };
  // One allocation for all result areas: per-case 12 KiB arrays make the GC the bottleneck.
  const areas = new Uint8Array(cases.length * (DATA_SIZE + STACK_SIZE));
  let areaPos = 0;
  const applyRuns = (base: Uint8Array | undefined, size: number): Uint8Array => {
    const area = areas.subarray(areaPos, areaPos + size);
    areaPos += size;
    if (base !== undefined) area.set(base.subarray(0, size));
    const n = u32();
    for (let k = 0; k < n; k++) {
      const off = u32();
      const len = u32();
      area.set(out.subarray(pos, pos + len), off);
      pos += len;
    }
    return area;
  };
  const results: SnippetOutput[] = [];
  for (const c of cases) {
    const status = u32();
    const vector = u32();
    const regs: bigint[] = [];
    for (let r = 0; r < 16; r++) regs.push(u64());
    const rflags = u64();
    const data = applyRuns(c.data, DATA_SIZE);
    const stack = applyRuns(c.stack, STACK_SIZE);
    results.push({ regs, rflags, data, stack, exception: status === 0 ? null : vector });
  }
  if (pos !== out.length) throw new Error(`native harness: ${out.length - pos} unexpected trailing bytes`);
  return results;
}
