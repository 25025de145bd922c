/**
 * Every guest image runs in mmulab (the bare machine, through the Vm API) to its expected output
 * and exit status, and prints the same output as under QEMU TCG (qemu-system-x86_64 -accel tcg,
 * the options of guests/run-qemu.sh). Without QEMU the comparisons are skipped with a notice.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { Machine } from '../../vmm/machine.js';
import { qemuAvailable, runInQemu } from '../helpers/qemu.js';

const GUESTS = fileURLToPath(new URL('../../build/guests/', import.meta.url));
/** Far above any guest here (sieve with 2 rounds is about 27 million instructions). */
const MAX_INSNS = 1_000_000_000;

interface Guest {
  readonly name: string;
  readonly args: readonly string[];
  /** Checks of the output beyond "no FAIL line" and a SUMMARY line. */
  readonly check: (out: string) => void;
  /**
   * Lines where QEMU 7.2 TCG differs from the hardware, with the reason: left out of the QEMU
   * comparison (mmulab's values are asserted by `check`).
   */
  readonly qemuDiffers?: { readonly lines: RegExp; readonly why: string };
}

const SIEVE_ROUNDS = 2;

const GUEST_LIST: readonly Guest[] = [
  {
    name: 'hello',
    args: [],
    check: (out) => {
      expect(out).toContain('Hello from mmulab guest\n');
      expect(out).toContain('argc = 1\n');
      expect(out).toContain('PASS: hello: argv[0] present\n');
    },
  },
  {
    name: 'sieve',
    args: [String(SIEVE_ROUNDS)], // argv[1]: rounds (the default of 16 is a benchmark)
    check: (out) => {
      expect(out).toContain(`sieve: 78498 primes below 1000000, ${SIEVE_ROUNDS} rounds\n`);
      expect(out).toContain('PASS: sieve: 78498 primes below 1000000 in every round\n');
    },
  },
  {
    name: 'insn-selftest',
    args: [],
    check: (out) => {
      expect(out).toMatch(/^checksum [0-9a-f]+$/m);
      expect(out).toMatch(/^insn \S+: [0-9a-f]+$/m);
    },
  },
  {
    name: 'exceptions',
    args: [],
    check: (out) => {
      // SDM Vol. 3 6.13: an exception caused by an IDT descriptor has the error code
      // vector * 8 + 2 (IDT bit) + EXT, the vector standing where a selector's index would:
      // 0x80 << 3 | 2 = 0x402 for int $0x80 through a DPL0 gate at CPL3.
      expect(out).toMatch(/^INFO: int \$0x80 from CPL3: error code 0x402 /m);
    },
  },
  {
    name: 'root-cache',
    args: ['4'],
    // Without mmulab's hypervisor the KVM counter checks do not run; QEMU -cpu qemu64 has no PCID.
    check: (out) => { expect(out).toMatch(/^PASS: root-cache: 5 spaces round robin: every switch sees its page$/m); },
  },
  {
    name: 'mmio-sizes',
    args: [],
    check: (out) => {
      // Unclaimed physical addresses read as all ones on a PC (a PCI master abort).
      expect(out).toMatch(/^INFO: mmio-sizes: reads: byte 0xff word 0xffff dword 0xffffffff qword 0xffffffffffffffff$/m);
      expect(out).toMatch(/^INFO: mmio-sizes: 8-byte read across the end of RAM: 0xffffffffcafef00d$/m);
    },
    qemuDiffers: {
      lines: /^INFO: mmio-sizes: (reads|8-byte read across|rep movsb)/,
      why: 'QEMU returns 0 for reads of unassigned guest-physical memory; PC hardware returns all ones '
        + '(PCI Local Bus 3.0, 3.3.3.1: a master abort completes a read with all ones), which mmulab gives',
    },
  },
  {
    name: 'memtouch',
    args: ['1'],
    check: (out) => { expect(out).toMatch(/^PASS: memtouch: every page reads back the tag written \(0 wrong\)$/m); },
  },
];

interface Outcome { readonly out: string; readonly status: number | undefined; readonly outcome: string; readonly instructions: number; readonly wallMs: number }

const imagePath = (g: Guest): string => `${GUESTS}${g.name}.flat`;

/** mmulab's run of each guest, once (both describe blocks use it). */
const runs = new Map<string, Outcome>();
function runInMmulab(g: Guest): Outcome {
  let r = runs.get(g.name);
  if (r === undefined) {
    const chunks: Buffer[] = [];
    const vm = new Machine({ serialOut: (bytes) => { chunks.push(Buffer.from(bytes)); } });
    vm.loadMultiboot(readFileSync(imagePath(g)), imagePath(g), g.args.join(' '));
    const result = vm.run(MAX_INSNS);
    r = { out: Buffer.concat(chunks).toString('latin1'), status: result.exitStatus, outcome: result.outcome, instructions: result.instructions, wallMs: result.wallMs };
    runs.set(g.name, r);
  }
  return r;
}

describe('guests run in mmulab to their expected output and status', () => {
  test.each(GUEST_LIST)('$name', (g) => {
    const r = runInMmulab(g);
    console.log(`mmulab ${g.name} ${g.args.join(' ')}: ${r.outcome}, status ${r.status}, ${r.instructions} instructions in ${r.wallMs.toFixed(0)} ms`);
    expect(r.outcome, r.out).toBe('exit');
    expect(r.out).not.toMatch(/^FAIL: /m);
    expect(r.out).toMatch(/^SUMMARY: \d+ tests(, \d+ skipped)?$/m);
    g.check(r.out);
    expect(r.status, r.out).toBe(1);
  });
});

const haveQemu = qemuAvailable();
if (!haveQemu) console.warn('NOTICE: qemu-system-x86_64 is not available: the guest comparisons with QEMU TCG are SKIPPED');

/** The exceptions guest's INFO line with the error code of int $0x80 from CPL3. */
const INT80_INFO = /^INFO: int \$0x80 from CPL3: error code (0x[0-9a-f]+) .*$/m;

describe('guests print the same output under QEMU TCG', () => {
  test.skipIf(!haveQemu).each(GUEST_LIST)('$name', async (g) => {
    const q = await runInQemu(imagePath(g), g.args, { timeoutMs: 60_000 });
    const m = runInMmulab(g);
    console.log(`qemu ${g.name} ${g.args.join(' ')}: status ${q.status} in ${q.wallMs.toFixed(0)} ms`);
    let ours = m.out;
    let theirs = q.stdout;
    if (g.name === 'exceptions') {
      // Known difference: QEMU 7.2 TCG pushes 0x802 (vector * 16 + 2) for int $0x80 through a
      // DPL0 gate from CPL3 in long mode. The SDM's code is the IDT-descriptor form
      // vector * 8 + 2 (IDT) + EXT (Vol. 3 6.13): 0x402, which mmulab must print (checked in
      // the test above); every other line must match exactly.
      expect(ours.match(INT80_INFO)?.[1]).toBe('0x402');
      expect(theirs.match(INT80_INFO)?.[1], q.stdout).toMatch(/^0x[48]02$/);
      ours = ours.replace(INT80_INFO, '<int $0x80 error code>');
      theirs = theirs.replace(INT80_INFO, '<int $0x80 error code>');
    }
    if (g.qemuDiffers !== undefined) {
      const d = g.qemuDiffers;
      console.log(`NOTICE: ${g.name}: lines left out of the QEMU comparison: ${d.why}`);
      expect(theirs.split('\n').some((l) => d.lines.test(l)), `${g.name}: QEMU no longer prints the differing lines`).toBe(true);
      ours = ours.split('\n').filter((l) => !d.lines.test(l)).join('\n');
      theirs = theirs.split('\n').filter((l) => !d.lines.test(l)).join('\n');
    }
    expect(ours.split('\n')).toEqual(theirs.split('\n'));
    expect(m.status).toBe(q.status);
  });
});
