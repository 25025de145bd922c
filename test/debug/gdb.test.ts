/**
 * mmulab's gdb stub (`run --gdb`, `-s`, `-S`) driven by Debian's real gdb (scripts/setup-host.sh
 * installs it): connect to a stopped machine, break at a guest function by its symbol, step, read
 * registers and memory, use the KVM monitor commands, and continue to the guest's exit, in every
 * MMU mode and with two vCPUs. The oracles: the symbol table (nm) and disassembly (objdump) of the
 * guest's ELF for addresses and bytes, the guest's own output for the registers it set, and the
 * same run without gdb for the output and exit status, which a debugger must not change.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { describe, expect, test } from 'vitest';
import { CLI, GUESTS, REPO, hasStackTrace, runCli } from '../cli/cli.js';
import { runChild } from '../helpers/spawn.js';
import { PacketReader, framePacket, unescapeBinary } from '../../emulator/debug/gdb-packet.js';

const MODES = ['bare', 'shadow', 'legacy-tdp', 'tdp'] as const;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Finished { readonly out: string; readonly err: string; readonly status: number | null }

/** Starts `mmulab run ARGS` (or another command); resolves once the gdb server listens, with the run's end to await. */
function startMmulab(args: readonly string[], command = 'run'): Promise<{ done: Promise<Finished> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, command, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let listening = false;
    const done = new Promise<Finished>((res) => child.on('close', (status) => res({ out, err, status })));
    child.stdout.on('data', (b: Buffer) => { out += b.toString('latin1'); });
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString('latin1');
      if (!listening && err.includes('mmulab: gdb: listening on')) { listening = true; resolve({ done }); }
    });
    child.on('error', reject);
    void done.then((f) => { if (!listening) reject(new Error(`mmulab ended before listening: ${f.err}`)); });
    setTimeout(() => { if (!listening) { child.kill('SIGKILL'); reject(new Error('mmulab did not listen within 30 s')); } }, 30_000);
  });
}

async function gdbSession(elf: string, port: number, commands: readonly string[]): Promise<string> {
  const argv = ['-batch', '-nx', elf, '-ex', `target remote 127.0.0.1:${port}`];
  for (const c of commands) argv.push('-ex', c);
  const r = await runChild('gdb', argv, 120_000);
  return r.out + r.err;
}

/** A symbol's address from nm. */
function symbol(elf: string, name: string): bigint {
  const r = spawnSync('nm', [elf], { encoding: 'utf8' });
  const line = r.stdout.split('\n').find((l) => l.endsWith(` ${name}`));
  if (line === undefined) throw new Error(`${name} not in ${elf}`);
  return BigInt(`0x${line.split(' ')[0]}`);
}

/** The first instruction at `addr` from objdump: its bytes and the address of the next one. */
function firstInstruction(elf: string, addr: bigint): { bytes: number[]; next: bigint } {
  const r = spawnSync('objdump', ['-d', `--start-address=0x${addr.toString(16)}`, `--stop-address=0x${(addr + 32n).toString(16)}`, elf], { encoding: 'utf8' });
  const insns = r.stdout.split('\n').map((l) => /^\s*([0-9a-f]+):\t((?:[0-9a-f]{2} )+)/.exec(l)).filter((m) => m !== null);
  return { bytes: insns[0]![2].trim().split(' ').map((b) => Number.parseInt(b, 16)), next: BigInt(`0x${insns[1]![1]}`) };
}

const hex = (n: bigint): string => `0x${n.toString(16)}`;

/** The --stats report without wall time and MIPS, and without the gdb server's own line. */
function statsLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('mmulab: ') && !l.startsWith('mmulab: gdb:'))
    .map((l) => l.replace(/ in [\d.]+ ms \([\d.]+ MIPS\)/, ''));
}

describe('gdb against a 64-bit guest', () => {
  const elf = `${GUESTS}hello.elf`;
  const main = symbol(elf, 'main');
  const first = firstInstruction(elf, main);

  for (const mode of MODES) {
    for (const smp of [1, 2]) {
      test(`${mode}, --smp ${smp}: break main by symbol, stepi, registers, memory, monitor, continue to exit`, async () => {
        const plain = runCli(['run', `${GUESTS}hello.flat`, '--mmu', mode, '--smp', String(smp), '--stats']);
        const port = await freePort();
        const run = await startMmulab([`${GUESTS}hello.flat`, '--mmu', mode, '--smp', String(smp), '--stats', '-S', '--gdb', `tcp::${port}`]);
        const text = await gdbSession(elf, port, [
          'break main', 'continue', 'info threads', 'stepi', 'info registers rip rdi', 'x/4xb main',
          'set {int}0x40d000 = 0x12345678', 'x/1xw 0x40d000', 'info registers cr0 efer fs_base gs_base',
          `monitor spte ${hex(main)}`, 'monitor info roots', 'monitor stats', 'continue',
        ]);
        const end = await run.done;
        expect(text).toContain(`Breakpoint 1 at ${hex(main)}`);
        expect(text).toMatch(new RegExp(`Breakpoint 1, ${hex(main).replace('0x', '0x0*')} in main \\(\\)`));
        // Threads are vCPUs; the APs of the 2-vCPU machine still wait for their STARTUP IPI.
        const threads = text.split('\n').filter((l) => /^\*?\s+\d+\s+Thread \d+ \(CPU \d/.test(l));
        expect(threads).toHaveLength(smp);
        expect(text).toMatch(new RegExp(`rip\\s+${hex(first.next)}\\s+${hex(first.next)} <main\\+${Number(first.next - main)}>`));
        // argc in RDI, the value the guest's startup code passed and printed.
        const argc = /argc = (\d+)/.exec(plain.stdout)![1];
        expect(text).toMatch(new RegExp(`rdi\\s+0x${Number(argc).toString(16)}\\s`));
        expect(text).toContain(`${hex(main)} <main>:\t${first.bytes.slice(0, 4).map((b) => `0x${b.toString(16).padStart(2, '0')}`).join('\t')}`);
        expect(text).toMatch(/0x40d000( <boot_stack>)?:\t0x12345678/);
        // Long mode with paging: CR0.PG|PE, EFER.LMA|LME.
        expect(text).toMatch(/cr0\s+0x8\w+\s/);
        expect(text).toMatch(/efer\s+0x5\d\d\s/);
        expect(text).toMatch(/fs_base\s+0x0\s/);
        expect(text).toContain(`CPU 0 guest walk: ${hex(main)} -> gpa ${hex(main)}`);
        if (mode === 'bare') {
          expect(text).toContain('bare mode: no SPTEs');
          expect(text).toContain('bare mode: no KVM statistics');
        } else {
          expect(text).toMatch(/level 1 \[\d+\] sptep 0x[0-9a-f]+ spte 0x[0-9a-f]+ leaf pfn|level 2 \[\d+\] sptep 0x[0-9a-f]+ spte 0x[0-9a-f]+ leaf pfn/);
          expect(text).toMatch(new RegExp(`CPU 0: ${mode} root 0x[0-9a-f]+`));
          expect(text).toMatch(/mmulab: kvm: .*exits=\d+/);
        }
        expect(text).toMatch(/CPU 0: \d+ instructions, \d+ cycles/);
        expect(text).toContain(`exited with code 0${plain.status}]`);
        expect(end.out).toBe(plain.stdout);
        expect(end.status).toBe(plain.status);
        // Instructions, modeled cycles and every KVM counter as without gdb (wall time aside).
        expect(statsLines(end.err)).toEqual(statsLines(plain.stderr));
        expect(statsLines(end.err).join('\n')).toMatch(/instructions, \d+ modeled cycles[^]*mmulab: kvm: |mmulab: bare: /);
      });
    }
  }

  // Every instruction that names __argc (objdump): the address of the instruction after it, and
  // whether it reads the variable (memory is the source operand). Long instructions continue on a
  // second line without a mnemonic, so the next instruction is the next line that has one.
  const insnLines = spawnSync('objdump', ['-d', elf], { encoding: 'utf8' }).stdout.split('\n')
    .map((l) => /^\s*([0-9a-f]+):\t(?:[0-9a-f]{2} )+\s*\t(\S+)(?:\s+(\S+))?(.*)$/.exec(l)).filter((m) => m !== null)
    .map((m) => ({ addr: BigInt(`0x${m![1]}`), operands: m![3] ?? '', argc: m![4].includes('<__argc>') }));
  const argcRefs = insnLines.flatMap((l, i) => (l.argc && i + 1 < insnLines.length
    ? [{ next: insnLines[i + 1].addr, reads: /^[^,]*\(%rip\),/.test(l.operands) }] : []));

  for (const mode of ['shadow', 'tdp'] as const) {
    test(`${mode}: access and read watchpoints stop right after the instructions that touch the variable`, async () => {
      const plain = runCli(['run', `${GUESTS}hello.flat`, '--mmu', mode]);
      const argc = symbol(elf, '__argc');
      const port = await freePort();
      const run = await startMmulab([`${GUESTS}hello.flat`, '--mmu', mode, '-S', '--gdb', `tcp::${port}`]);
      const text = await gdbSession(elf, port, [
        `awatch *(int*)${hex(argc)}`, 'continue', 'info registers rip', 'delete',
        `rwatch *(int*)${hex(argc)}`, 'continue', 'info registers rip', 'delete', 'continue',
      ]);
      const end = await run.done;
      const rips = [...text.matchAll(/^rip\s+(0x[0-9a-f]+)/gm)].map((m) => BigInt(m[1]));
      expect(rips).toHaveLength(2);
      // The first access is the first write (the guest clears __argc before it counts), then the read.
      expect(text).toContain(`Hardware access (read/write) watchpoint 1: *(int*)${hex(argc)}`);
      expect(argcRefs.some((r) => r.next === rips[0] && !r.reads)).toBe(true);
      expect(text).toContain(`Hardware read watchpoint 2: *(int*)${hex(argc)}`);
      expect(argcRefs.some((r) => r.next === rips[1] && r.reads)).toBe(true);
      expect(text).toMatch(/Value = 1/);
      expect(end.out).toBe(plain.stdout);
      expect(end.status).toBe(plain.status);
    });
  }

  test('tdp: a watchpoint on the upper bytes of __argc stops at the accesses of the whole int', async () => {
    // The guest only reads and writes __argc as a 4-byte int: every access starts at its first
    // byte, below the watched ones, and must still be seen (a data breakpoint matches any byte).
    const plain = runCli(['run', `${GUESTS}hello.flat`, '--mmu', 'tdp']);
    const argc = symbol(elf, '__argc');
    const port = await freePort();
    const run = await startMmulab([`${GUESTS}hello.flat`, '--mmu', 'tdp', '-S', '--gdb', `tcp::${port}`]);
    const text = await gdbSession(elf, port, [
      `awatch *(char*)${hex(argc + 1n)}`, 'continue', 'info registers rip', 'delete',
      `rwatch *(short*)${hex(argc + 2n)}`, 'continue', 'info registers rip', 'delete', 'continue',
    ]);
    const end = await run.done;
    const rips = [...text.matchAll(/^rip\s+(0x[0-9a-f]+)/gm)].map((m) => BigInt(m[1]));
    expect(rips).toHaveLength(2);
    expect(text).toContain(`Hardware access (read/write) watchpoint 1: *(char*)${hex(argc + 1n)}`);
    expect(argcRefs.some((r) => r.next === rips[0] && !r.reads)).toBe(true);
    expect(text).toContain(`Hardware read watchpoint 2: *(short*)${hex(argc + 2n)}`);
    expect(argcRefs.some((r) => r.next === rips[1] && r.reads)).toBe(true);
    expect(end.out).toBe(plain.stdout);
    expect(end.status).toBe(plain.status);
  });

  test('detach lets the guest run on; kill ends mmulab with status 0', async () => {
    const plain = runCli(['run', `${GUESTS}hello.flat`, '--mmu', 'tdp']);
    let port = await freePort();
    let run = await startMmulab([`${GUESTS}hello.flat`, '--mmu', 'tdp', '-S', '--gdb', `tcp:127.0.0.1:${port}`]);
    await gdbSession(elf, port, ['break main', 'continue', 'detach']);
    let end = await run.done;
    expect(end.out).toBe(plain.stdout);
    expect(end.status).toBe(plain.status);

    port = await freePort();
    run = await startMmulab([`${GUESTS}hello.flat`, '-S', '--gdb', `tcp::${port}`]);
    await gdbSession(elf, port, ['kill']);
    end = await run.done;
    expect(end.out).toBe('');
    expect(end.err).toContain('mmulab: gdb: the debugger killed the machine');
    expect(end.status).toBe(0);
  });

  test('mmulab qemu takes QEMU\'s -S and -gdb: break at main, then the run ends as without gdb', async () => {
    const qemuLine = ['-kernel', `${GUESTS}hello.flat`, '-accel', 'kvm', '-display', 'none', '-serial', 'stdio'];
    const plain = runCli(['qemu', ...qemuLine]);
    const port = await freePort();
    const run = await startMmulab([...qemuLine, '-S', '-gdb', `tcp::${port}`], 'qemu');
    const text = await gdbSession(elf, port, ['break main', 'continue', 'info registers rip', 'continue']);
    const end = await run.done;
    const rip = /^rip\s+(0x[0-9a-f]+)/m.exec(text);
    expect(rip).not.toBeNull();
    expect(BigInt(rip![1])).toBe(symbol(elf, 'main'));
    expect(end.out).toBe(plain.stdout);
    expect(end.status).toBe(plain.status);
  });
});

describe('gdb against a 32-bit guest (i386 description with --cpu base,-lm)', () => {
  const elf = `${GUESTS}elf32/paging-32.elf`;
  const main = symbol(elf, 'main');
  const argcAddr = symbol(elf, '__argc');
  const first = firstInstruction(elf, main);

  for (const mode of ['bare', 'shadow', 'tdp'] as const) {
    test(`${mode}: a write watchpoint, then break main, stepi, eip, memory`, async () => {
      const plain = runCli(['run', `${GUESTS}paging-32.flat`, '--cpu', 'base,-lm', '--mmu', mode]);
      const port = await freePort();
      const run = await startMmulab([`${GUESTS}paging-32.flat`, '--cpu', 'base,-lm', '--mmu', mode, '-S', '--gdb', `tcp::${port}`]);
      const text = await gdbSession(elf, port, [
        `watch *(int*)${hex(argcAddr)}`, 'continue', 'delete', 'break main', 'continue', 'stepi', 'info registers eip', 'x/4xb main', 'continue',
      ]);
      const end = await run.done;
      const argc = /^argc = (\d+)/m.exec(plain.stdout)?.[1] ?? '1';
      expect(text).toContain(`Hardware watchpoint 1: *(int*)${hex(argcAddr)}`);
      expect(text).toMatch(new RegExp(`Old value = 0\\s+New value = ${argc}`));
      expect(text).toMatch(new RegExp(`Breakpoint 2, ${hex(main).replace('0x', '0x0*')} in main \\(\\)`));
      expect(text).toMatch(new RegExp(`eip\\s+${hex(first.next)}\\s`));
      expect(text).toContain(`${hex(main)} <main>:\t${first.bytes.slice(0, 4).map((b) => `0x${b.toString(16).padStart(2, '0')}`).join('\t')}`);
      expect(text).toContain(`exited with code 0${plain.status}]`);
      expect(end.out).toBe(plain.stdout);
      expect(end.status).toBe(plain.status);
    });
  }
});

describe('the remote protocol without gdb', () => {
  test('packets: checksums, escapes, interrupts', () => {
    expect(framePacket('OK').toString('latin1')).toBe('$OK#9a');
    expect(framePacket('a#b').toString('latin1')).toBe('$a}\x03b#' + ((0x61 + 0x7d + 0x03 + 0x62) & 0xff).toString(16));
    const r = new PacketReader();
    expect(r.feed(Buffer.from('+$g#67\x03$g#00', 'latin1'))).toEqual([{ kind: 'packet', payload: 'g' }, { kind: 'interrupt' }, { kind: 'bad-checksum' }]);
    expect(Array.from(unescapeBinary('a}\x03}]'))).toEqual([0x61, 0x23, 0x7d]);
  });

  test('a connection stops a running machine; Ctrl-C stops it again after continue (T02)', async () => {
    const port = await freePort();
    const run = await startMmulab([`${GUESTS}sieve.flat`, '--gdb', `tcp::${port}`]);
    const socket = connect(port, '127.0.0.1');
    const reader = new PacketReader();
    const packets: string[] = [];
    let wake: (() => void) | null = null;
    socket.on('data', (b: Buffer) => { for (const i of reader.feed(b)) if (i.kind === 'packet') { packets.push(i.payload); wake?.(); } });
    const next = async (): Promise<string> => {
      while (packets.length === 0) await new Promise<void>((r) => { wake = r; });
      return packets.shift()!;
    };
    socket.write(framePacket('?'));
    expect(await next()).toMatch(/^T05thread:1;/);
    socket.write(framePacket('c'));
    await new Promise((r) => setTimeout(r, 300));
    socket.write('\x03');
    expect(await next()).toMatch(/^T02thread:1;/);
    socket.write(framePacket('k'));
    const end = await run.done;
    socket.destroy();
    expect(end.status).toBe(0);
  });

  const bad: [string[], RegExp][] = [
    [['--gdb', 'tcp:1234'], /--gdb: expected tcp::PORT or tcp:HOST:PORT/],
    [['--gdb', 'udp::1234'], /--gdb: expected tcp::PORT/],
    [['--gdb', 'tcp::0'], /--gdb: port must be 1-65535/],
    [['--gdb', 'tcp::70000'], /--gdb: port must be 1-65535/],
    [['-S'], /-S waits for gdb: it needs --gdb tcp::PORT or -s/],
    [['-s', '--gdb', 'tcp::1234'], /give --gdb or -s/],
    [['--gdb'], /option --gdb needs a value/],
  ];
  for (const [args, message] of bad) {
    test(`bad: ${args.join(' ')}`, () => {
      const r = runCli(['run', `${GUESTS}hello.flat`, ...args]);
      expect(r.status).toBe(2);
      expect(r.stderrLines[0]).toMatch(message);
      expect(r.stderrLines.filter((l) => l.startsWith('mmulab:'))).toHaveLength(1);
      expect(hasStackTrace(r.stderr)).toBe(false);
    });
  }

  test('a port in use: one line, usage status', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as { port: number }).port;
    const r = await runChild(process.execPath, [CLI, 'run', `${GUESTS}hello.flat`, '--gdb', `tcp:127.0.0.1:${port}`], 30_000);
    holder.close();
    expect(r.status).toBe(2);
    expect(r.err).toMatch(new RegExp(`^mmulab: --gdb tcp:127.0.0.1:${port}: cannot listen: the address is in use`));
    expect(r.out).toBe('');
    expect(hasStackTrace(r.err)).toBe(false);
  });
});
