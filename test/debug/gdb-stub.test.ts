/**
 * The stub's packets against the machine itself, without a socket: what a debugger reads must
 * equal the machine's state, and looking must change nothing (no A/D bit, TLB entry, walk, KVM
 * counter or decoded block), in every MMU mode. Oracles: the vCPU's own fields, the ELF's bytes
 * and symbols, and bare mode for the guest's output.
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { Machine, type MmuMode } from '../../vmm/machine.js';
import { GdbStub } from '../../emulator/debug/gdb-stub.js';
import { gdbMonitor } from '../../vmm/gdb-monitor.js';
import type { StopInfo } from '../../emulator/debug/gdb-target.js';
import { GUESTS } from '../cli/cli.js';
import { Access, WalkResult, walk } from '../../emulator/paging/walker.js';

const MODES: readonly MmuMode[] = ['bare', 'shadow', 'legacy-tdp', 'tdp'];
const HELLO = `${GUESTS}hello.flat`;
const ELF = `${GUESTS}hello.elf`;

function symbol(name: string): number {
  const line = spawnSync('nm', [ELF], { encoding: 'utf8' }).stdout.split('\n').find((l) => l.endsWith(` ${name}`))!;
  return Number.parseInt(line.split(' ')[0], 16);
}

function machine(mode: MmuMode, out: string[]): { vm: Machine; stub: GdbStub } {
  const vm = new Machine({ mmu: mode, serialOut: (b) => out.push(Buffer.from(b).toString('latin1')) });
  vm.loadMultiboot(readFileSync(HELLO), HELLO, '');
  const stub = new GdbStub(vm, 'x86-64', gdbMonitor(vm, (s) => s.map(([n, v]) => `${n}=${v}`)));
  vm.scheduler.debug = stub.target;
  return { vm, stub };
}

/** Sends a packet; a resume runs the machine until the target stops it (or the run ends). */
function send(vm: Machine, stub: GdbStub, stop: StopInfo, packet: string): { reply?: string; stop?: StopInfo } {
  const a = stub.handle(packet, stop);
  if (a.kind === 'reply') return { reply: a.payload };
  if (a.kind !== 'resume') throw new Error(`unexpected ${a.kind}`);
  stub.target.resume(a.step);
  for (;;) {
    stub.target.beginRun(60_000);
    vm.run();
    if (stub.target.stop !== undefined) return { stop: stub.target.stop };
    if (!stub.target.paused) return {};
  }
}

/** Every translation the TLB (and under TDP the guest-physical TLB) holds, with permissions and host address. */
function tlbState(paging: Machine['cpu']['paging']): string {
  const tlb = paging.tlb;
  const gpa = paging.tdp?.gpaTlb;
  const arrays = [tlb.vpn, tlb.host, tlb.perm, tlb.supRead, tlb.supWrite, tlb.userRead, ...(gpa === undefined ? [] : [gpa.gfn, gpa.host, gpa.allowed])];
  return arrays.map((a) => Buffer.from(a.buffer).toString('base64')).join('|');
}

const le64 = (hex: string, at: number): bigint => Buffer.from(hex.slice(at * 2, at * 2 + 16), 'hex').readBigUInt64LE();

describe.each(MODES)('stub in %s mode', (mode) => {
  test('break at main, registers and memory equal the machine\'s, reading changes nothing, step, continue to the same end', () => {
    const out: string[] = [];
    const { vm, stub } = machine(mode, out);
    let stop: StopInfo = { kind: 'attach', cpu: 0 };
    const main = symbol('main');
    expect(send(vm, stub, stop, `Z0,${main.toString(16)},1`).reply).toBe('OK');
    const hit = send(vm, stub, stop, 'c').stop!;
    expect(hit).toEqual({ kind: 'sw-break', cpu: 0 });
    stop = hit;
    const cpu = vm.cpu;
    expect(cpu.ripLo).toBe(main);

    // g: rip at byte 16*8, rsp at 7*8 in gdb's amd64 order.
    const g = send(vm, stub, stop, 'g').reply!;
    expect(le64(g, 16 * 8)).toBe(BigInt(main));
    expect(le64(g, 7 * 8)).toBe((BigInt(cpu.hi[4] >>> 0) << 32n) | BigInt(cpu.lo[4] >>> 0));
    const cr3 = stub.regs.indexOf('cr3');
    expect(BigInt(`0x${Buffer.from(send(vm, stub, stop, `p${cr3.toString(16)}`).reply!, 'hex').reverse().toString('hex')}`)).toBe(BigInt(cpu.cr3Lo >>> 0));

    // Reads of mapped and unmapped memory leave guest tables, TLB, walks and KVM counters as they were.
    // The guest library presets A in its entries; clear it along the path of a page the guest
    // never touched, so a walk that set A bits would show in guest RAM.
    const path = new WalkResult();
    expect(walk(cpu.paging.ctx, cpu.paging, 0x7e00000, 0, Access.PROBE, path)).toBe(true);
    for (let level = 4; level >= path.level; level--) {
      const entry = vm.readPhysical(path.pteAddr[level], 1);
      vm.writePhysical(path.pteAddr[level], Uint8Array.of(entry[0] & ~0x20));
    }
    const ram = () => Buffer.from(vm.readPhysical(0, 8 << 20)).toString('base64');
    const before = { ram: ram(), walks: cpu.paging.walks, tlb: tlbState(cpu.paging), stats: JSON.stringify(vm.kvm?.stats.entries()) };
    const bytes = send(vm, stub, stop, `m${main.toString(16)},10`).reply!;
    const image = readFileSync(ELF);
    expect(image.includes(Buffer.from(bytes, 'hex'))).toBe(true);
    expect(send(vm, stub, stop, 'mffff800000000000,4').reply).toBe('E0e');
    // High in the identity map, a page the guest never touched: its entries' A bits are clear.
    expect(send(vm, stub, stop, 'm7e00000,4').reply).toMatch(/^[0-9a-f]{8}$/);
    expect(send(vm, stub, stop, 'qRcmd,' + Buffer.from(`spte ${main.toString(16)}`).toString('hex')).reply).not.toBe('');
    expect({ ram: ram(), walks: cpu.paging.walks, tlb: tlbState(cpu.paging), stats: JSON.stringify(vm.kvm?.stats.entries()) }).toEqual(before);

    // G writes back what g read (no change); P sets RAX; a single step retires one instruction.
    expect(send(vm, stub, stop, `G${g}`).reply).toBe('OK');
    const rax = cpu.lo[0];
    expect(send(vm, stub, stop, 'P0=efbeadde00000000').reply).toBe('OK');
    expect(cpu.lo[0] >>> 0).toBe(0xdeadbeef);
    cpu.lo[0] = rax;
    const n = cpu.instructions;
    stop = send(vm, stub, stop, 'vCont;s:1;c').stop!;
    expect(stop.kind).toBe('step');
    expect(cpu.instructions).toBe(n + 1);
    expect(send(vm, stub, stop, `z0,${main.toString(16)},1`).reply).toBe('OK');
    expect(send(vm, stub, stop, 'c')).toEqual({});

    const plain: string[] = [];
    const ref = new Machine({ mmu: mode, serialOut: (b) => plain.push(Buffer.from(b).toString('latin1')) });
    ref.loadMultiboot(readFileSync(HELLO), HELLO, '');
    ref.run();
    expect(out.join('')).toBe(plain.join(''));
  });
});

test('target.xml comes in chunks that add up to one description; qSupported, threads, unknown packets', () => {
  const { vm, stub } = machine('bare', []);
  const stop: StopInfo = { kind: 'attach', cpu: 0 };
  expect(send(vm, stub, stop, 'qSupported:multiprocess+;swbreak+;hwbreak+').reply).toContain('qXfer:features:read+');
  let xml = '';
  for (;;) {
    const r = send(vm, stub, stop, `qXfer:features:read:target.xml:${xml.length.toString(16)},40`).reply!;
    xml += r.slice(1);
    if (r[0] === 'l') break;
    expect(r).toMatch(/^m.{64}$/s);
  }
  expect(xml).toBe(stub.regs.targetXml());
  expect(xml).toContain('<architecture>i386:x86-64</architecture>');
  for (const name of ['rip', 'fs_base', 'gs_base', 'cr0', 'cr2', 'cr3', 'cr4', 'efer', 'xmm15', 'st7', 'mxcsr']) expect(xml).toContain(`name="${name}"`);
  expect(send(vm, stub, stop, 'qfThreadInfo').reply).toBe('m1');
  expect(send(vm, stub, stop, 'Hg2').reply).toBe('E02');
  expect(send(vm, stub, stop, 'qC').reply).toBe('QC1');
  expect(send(vm, stub, stop, 'vMustReplyEmpty').reply).toBe('');
  expect(send(vm, stub, stop, 'Z3,1000,9').reply).toBe('E16');
  expect(send(vm, stub, stop, 'Z5,1000,4').reply).toBe('E16');
  expect(send(vm, stub, stop, '?').reply).toBe('T05thread:1;');
  expect(new GdbStub(vm, 'i386', () => undefined).regs.targetXml()).toContain('<architecture>i386</architecture><feature name="org.gnu.gdb.i386.core">');
});
