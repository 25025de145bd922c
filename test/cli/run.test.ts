/**
 * `mmulab run`: guest output on stdout, the guest's exit status, and the reports for runs that
 * end abnormally (triple fault, unimplemented instruction, instruction limit, halt).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ExitStatus } from '../../emulator/cli/exit-status.js';
import { SERIALIZING_COST } from '../../emulator/cpu/serializing-cost.js';
import { GUESTS, hasStackTrace, runCli } from './cli.js';
import { ENTRY, INT3_OFFSET, haltCode, memUpperCode, modsCountCode, tempDir, tinyElf32, tripleFaultCode, writeImage, x87Code } from './tiny-image.js';

const HELLO = join(GUESTS, 'hello.flat');
/** A trace line: indented address, hex bytes, disassembly. */
const TRACE_LINE = /^ {2}0x[0-9a-f]{8,16} {2}(?:[0-9a-f]{2} )*[0-9a-f]{2} +\S/;

let tripleFault: string;
let x87: string;
let halt: string;
let dir: string;

beforeAll(() => {
  dir = tempDir();
  tripleFault = writeImage(dir, 'triple-fault.elf', tinyElf32(tripleFaultCode()));
  x87 = writeImage(dir, 'x87.elf', tinyElf32(x87Code()));
  halt = writeImage(dir, 'halt.elf', tinyElf32(haltCode()));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('normal runs', () => {
  test('hello prints its greeting on stdout and exits with its status 1', () => {
    const r = runCli(['run', HELLO]);
    expect(r.stdout).toContain('Hello from mmulab guest\n');
    expect(r.stdout).toContain(`argv[0] = "${HELLO}"\n`);
    expect(r.stdout).toContain('PASS: hello: argv[0] present\n');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(1);
  });

  test('--append passes the words after the image name: fail gives status 3', () => {
    const r = runCli(['run', HELLO, '--append', 'fail']);
    expect(r.stdout).toContain('argc = 2\n');
    expect(r.stdout).toContain('argv[1] = "fail"\n');
    expect(r.stdout).toContain('FAIL: hello: deliberate failure\n');
    expect(r.status).toBe(3);
  });

  test('an unhandled guest exception is the guest\'s own verdict: status 127', () => {
    const r = runCli(['run', HELLO, '--append', 'fault']);
    expect(r.status).toBe(127);
  });

  test('--initrd loads multiboot module 0', () => {
    const img = writeImage(dir, 'mods-count.elf', tinyElf32(modsCountCode()));
    expect(runCli(['run', img]).status).toBe(1); // exit(0): no module
    const initrd = writeImage(dir, 'initrd.bin', new Uint8Array(5000).fill(0xab));
    expect(runCli(['run', img, '--initrd', initrd]).status).toBe(3); // exit(1): one module
  });

  test('--mem sets the guest RAM size the loader reports', () => {
    const img = writeImage(dir, 'mem-upper.elf', tinyElf32(memUpperCode()));
    expect(runCli(['run', img, '--mem', '4']).status).toBe((3 << 1) | 1); // 3 MiB above 1 MiB
    expect(runCli(['run', img, '--mem', '2']).status).toBe((1 << 1) | 1);
  });

  test('--stats reports instructions, wall time and MIPS on stderr', () => {
    const r = runCli(['run', HELLO, '--stats']);
    expect(r.status).toBe(1);
    expect(r.stderrLines).toHaveLength(1);
    expect(r.stderrLines[0]).toMatch(/^mmulab: bare: (\d+) instructions in \d+\.\d ms \(\d+\.\d MIPS\), (\d+) modeled cycles$/);
    // Bare mode adds no modeled cost but the serializing instructions' own (serializing-cost.ts):
    // one cycle per instruction, plus hello's boot writing CR4, CR3 and CR0 once each (boot.S).
    const [, insns, cycles] = /(\d+) instructions.*?(\d+) modeled cycles/.exec(r.stderrLines[0])!;
    const crWrites = SERIALIZING_COST.movCr4 - 1 + SERIALIZING_COST.movCr3 - 1 + SERIALIZING_COST.movCr0 - 1;
    expect(Number(cycles)).toBe(Number(insns) + crWrites);
  });

  test('--json reports on stderr as one JSON object', () => {
    const r = runCli(['run', HELLO, '--json']);
    expect(r.status).toBe(1);
    expect(r.stderrLines).toHaveLength(1);
    const report = JSON.parse(r.stderrLines[0]);
    expect(report).toMatchObject({ outcome: 'exit', status: 1, guestStatus: 1, detail: null, stop: null });
    expect(report.instructions).toBeGreaterThan(1000);
  });

  test('--trace N prints nothing after a normal exit, --trace-always does', () => {
    expect(runCli(['run', HELLO, '--trace', '3']).stderr).toBe('');
    const r = runCli(['run', HELLO, '--trace', '3', '--trace-always']);
    expect(r.status).toBe(1);
    expect(r.stderrLines.filter((l) => TRACE_LINE.test(l))).toHaveLength(3);
    // The last instruction is the debug-exit port write.
    expect(r.stderrLines[r.stderrLines.length - 1]).toMatch(/\bout 0xf4, eax$/);
  });
});

describe('abnormal ends', () => {
  test('--max-insns 1000 stops with INSN_LIMIT and one line naming the limit', () => {
    const r = runCli(['run', HELLO, '--max-insns', '1000']);
    expect(r.status).toBe(ExitStatus.INSN_LIMIT);
    expect(r.stderrLines).toHaveLength(1);
    expect(r.stderrLines[0]).toMatch(/^mmulab: stopped: instruction limit of 1000 reached at 0x[0-9a-f]+$/);
  });

  test('--max-insns N retires exactly N instructions', () => {
    for (const n of [1, 1000, 5000]) {
      const r = runCli(['run', HELLO, '--max-insns', String(n), '--json']);
      expect(r.status).toBe(ExitStatus.INSN_LIMIT);
      expect(JSON.parse(r.stderrLines[0]).instructions, `--max-insns ${n}`).toBe(n);
    }
  });

  test('--trace 5 prints the last 5 instructions disassembled, with registers', () => {
    const r = runCli(['run', HELLO, '--max-insns', '1000', '--trace', '5']);
    expect(r.status).toBe(ExitStatus.INSN_LIMIT);
    const lines = r.stderrLines.filter((l) => TRACE_LINE.test(l));
    expect(lines, r.stderr).toHaveLength(5);
    for (const l of lines) expect(l).not.toContain('(bad)');
    // The first line shows every register (64-bit code by now), later lines what changed.
    expect(lines[0]).toMatch(/rax=[0-9a-f]{16} .*r15=[0-9a-f]{16} rflags=[0-9a-f]{8}$/);
    expect(r.stderrLines[0]).toMatch(/^mmulab: trace of the last 5 instructions/);
    expect(r.stderrLines[r.stderrLines.length - 1]).toMatch(/^mmulab: stopped: instruction limit/);
    expect(r.stderrLines).toHaveLength(7);
  });

  test('a triple fault exits TRIPLE_FAULT with one line: the exceptions, address, bytes, disassembly', () => {
    const r = runCli(['run', tripleFault]);
    expect(r.status).toBe(ExitStatus.TRIPLE_FAULT);
    expect(r.stderrLines).toHaveLength(1);
    expect(r.stderrLines[0]).toMatch(/^mmulab: triple fault \(exceptions [0-9, ]+\) at 0x[0-9a-f]{8}: [0-9a-f ]+ \(.+\)$/);
    expect(hasStackTrace(r.stderr)).toBe(false);
  });

  test('a triple fault is reported at the int3 whose delivery failed', () => {
    // INT3 is a trap, but an exception while delivering it is a fault of the INT3 instruction
    // itself (SDM Vol. 3 6.5, 6.15): RIP points back at the int3, not past it.
    const r = runCli(['run', tripleFault]);
    const at = (ENTRY + INT3_OFFSET).toString(16).padStart(8, '0');
    expect(r.stderrLines[0]).toMatch(new RegExp(`^mmulab: triple fault \\(exceptions .*\\) at 0x${at}: cc \\(int3\\)$`));
  });

  test('a triple fault with --trace 5 shows the instructions before it in 32-bit registers', () => {
    const r = runCli(['run', tripleFault, '--trace', '5']);
    expect(r.status).toBe(ExitStatus.TRIPLE_FAULT);
    const lines = r.stderrLines.filter((l) => TRACE_LINE.test(l));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines[0]).toMatch(/lidt .*eax=2badb002/);
    expect(lines[lines.length - 1]).toMatch(/\bint3\b/);
  });

  test('an unimplemented instruction exits UNIMPLEMENTED naming it with address, bytes and disassembly', () => {
    const r = runCli(['run', x87]);
    expect(r.status).toBe(ExitStatus.UNIMPLEMENTED);
    expect(r.stderrLines).toHaveLength(1);
    const at = ENTRY.toString(16).padStart(8, '0');
    expect(r.stderrLines[0]).toBe(`mmulab: unimplemented: instruction "fsin" is not implemented at 0x${at}: d9 fe (fsin)`);
  });

  test('--json describes the stop instruction', () => {
    const r = runCli(['run', x87, '--json', '--trace', '2']);
    expect(r.status).toBe(ExitStatus.UNIMPLEMENTED);
    expect(r.stderrLines).toHaveLength(1);
    const report = JSON.parse(r.stderrLines[0]);
    expect(report).toMatchObject({
      outcome: 'unsupported',
      status: ExitStatus.UNIMPLEMENTED,
      guestStatus: null,
      stop: { address: '0x' + ENTRY.toString(16).padStart(8, '0'), bits: 32, bytes: 'd9 fe', disassembly: 'fsin' },
    });
    expect(report.trace.at(-1)).toMatchObject({ bytes: 'd9 fe', disassembly: 'fsin', bits: 32 });
    expect(report.trace.at(-1).registers.eax).toBe('0x2badb002');
  });

  test('a halt with interrupts disabled exits HALTED with one line', () => {
    const r = runCli(['run', halt]);
    expect(r.status).toBe(ExitStatus.HALTED);
    expect(r.stderrLines).toHaveLength(1);
    expect(r.stderrLines[0]).toMatch(/^mmulab: guest halted: HLT with interrupts disabled \(rip 0x[0-9a-f]{8}\)$/);
  });
});
