import type { Vcpu } from '../emulator/cpu/vcpu.js';
import type { MonitorHandler } from '../emulator/debug/gdb-stub.js';
import { DebugMemory } from '../emulator/debug/gdb-memory.js';
import { PagingMode } from '../emulator/paging/format.js';
import { TdpFormat } from '../emulator/hw/tdp-walk.js';
import { formatRole } from '../mmu/role.js';
import type { SpteCodec } from '../mmu/spte.js';
import type { Machine } from './machine.js';

/**
 * gdb's `monitor` commands (qRcmd): KVM's state as a KVM developer would dump it with the
 * tracepoints and debugfs. They live here, where the machine and KVM meet; the stub in
 * emulator/debug only passes the line through.
 *
 *   info roots       each vCPU's loaded root, then the VM's roots (TDP MMU list or root shadow pages)
 *   spte ADDR        the walk of KVM's structures for linear address ADDR of the selected vCPU: the
 *                    guest's translation to a GPA, then the SPTE at each level (TDP root for the
 *                    GPA; shadow root for the linear address itself)
 *   spte gpa ADDR    the TDP walk for a guest-physical address
 *   stats            retired instructions and modeled cycles per vCPU, and KVM's non-zero counters
 */

const HELP = [
  'info roots      the loaded root of each vCPU and the VM\'s roots',
  'spte ADDR       guest walk of linear ADDR (hex), then the SPTE at each level in the current MMU mode',
  'spte gpa ADDR   the TDP walk of a guest-physical address (legacy-tdp, tdp)',
  'stats           instructions and cycles per vCPU, KVM\'s non-zero counters',
];

export function gdbMonitor(vm: Machine, kvmStatsLines: (stats: ReadonlyArray<[string, number]>, violations: readonly string[]) => string[]): MonitorHandler {
  const memory = new DebugMemory(vm);
  return (line, cpu) => {
    const words = line.split(/\s+/).filter((w) => w !== '');
    let out: string[] | undefined;
    if (words.length === 0 || words[0] === 'help') out = HELP;
    else if (words[0] === 'info' && words[1] === 'roots' && words.length === 2) out = roots(vm);
    else if (words[0] === 'spte') out = spte(vm, memory, cpu, words.slice(1));
    else if (words[0] === 'stats' && words.length === 1) out = stats(vm, kvmStatsLines);
    if (out === undefined) return undefined;
    return out.join('\n') + '\n';
  };
}

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

function roots(vm: Machine): string[] {
  const kvm = vm.kvm;
  if (kvm === undefined) return ['bare mode: no KVM, the hardware walks the guest\'s tables (CR3 of each vCPU):', ...vm.vcpus.map((c) => `CPU ${c.index}: cr3 ${hex(cr3(c))}`)];
  const lines = kvm.vcpus.map((v, i) => {
    const root = v.mmu.currentRoot();
    return `CPU ${i}: ${v.mmu.name} root ${root < 0 ? 'none' : hex(root)}, guest cr3 ${hex(cr3(vm.vcpus[i]))}`;
  });
  lines.push(`valid roots: ${kvm.mmu.validRoots()}`);
  for (const r of kvm.shared.tdpRoots?.roots ?? []) {
    lines.push(`  tdp root ${hex(r.hpa)} refs ${r.refs}${r.invalid ? ' invalid' : ''} role ${formatRole(r.role)}`);
  }
  for (const sp of kvm.shared.cache?.byHpa.values() ?? []) {
    if (sp.rootCount > 0) lines.push(`  root page ${hex(sp.hpa)} gfn ${hex(sp.gfn)} root_count ${sp.rootCount}${sp.invalid ? ' invalid' : ''} role ${formatRole(sp.role)}`);
  }
  return lines;
}

function cr3(c: Vcpu): bigint {
  return (BigInt(c.cr3Hi >>> 0) << 32n) | BigInt(c.cr3Lo >>> 0);
}

function parseAddress(text: string | undefined): bigint | undefined {
  if (text === undefined || !/^(0x)?[0-9a-fA-F]{1,16}$/.test(text)) return undefined;
  return BigInt(text.startsWith('0x') ? text : `0x${text}`);
}

function spte(vm: Machine, memory: DebugMemory, cpu: Vcpu, args: string[]): string[] {
  const physical = args[0] === 'gpa';
  const addr = parseAddress(physical ? args[1] : args[0]);
  if (addr === undefined || args.length !== (physical ? 2 : 1)) return ['usage: spte ADDR | spte gpa ADDR (hex)'];
  const v = vm.kvm?.vcpus[cpu.index];
  const lines: string[] = [];
  let gpa = physical ? Number(addr) : -1;
  if (!physical) {
    gpa = memory.translate(cpu, Number(addr & 0xffffffffn) | 0, Number(addr >> 32n) | 0);
    lines.push(`CPU ${cpu.index} guest walk: ${hex(addr)} -> ${gpa < 0 ? 'not mapped' : `gpa ${hex(gpa)}`}`);
  }
  if (v === undefined) {
    lines.push('bare mode: no SPTEs');
    return lines;
  }
  if (v.hardware !== null) {
    if (gpa < 0) return lines;
    const root = v.hardware.root;
    lines.push(`${v.mmu.name} root ${root < 0 ? 'none' : hex(root)} (${v.hardware.config.levels}-level ${v.hardware.config.format === TdpFormat.EPT ? 'EPT' : 'NPT'})`);
    if (root >= 0) walkSptes(vm, v.codec, root, v.hardware.config.levels, BigInt(gpa), false, lines);
    return lines;
  }
  if (physical) return [...lines, 'shadow paging maps linear addresses: spte ADDR'];
  const hw = v.shadowHardware!;
  const root = hw.ctx.root;
  const pae = hw.ctx.format.mode === PagingMode.PAE;
  lines.push(`shadow root ${root < 0 ? 'none' : hex(root)} (${pae ? 'PAE through pae_root' : `${hw.ctx.format.levels}-level`})`);
  if (root >= 0) walkSptes(vm, v.codec, root, pae ? 3 : hw.ctx.format.levels, addr, pae, lines);
  return lines;
}

/** Reads the SPTE at each level from `root` for `addr` until a leaf or a non-present entry. */
function walkSptes(vm: Machine, codec: SpteCodec, root: number, levels: number, addr: bigint, pae: boolean, lines: string[]): void {
  const view = vm.arena.view;
  let table = root;
  for (let level = levels; level >= 1; level--) {
    const paeTop = pae && level === 3;
    const index = paeTop ? Number((addr >> 30n) & 3n) : Number((addr >> BigInt(12 + 9 * (level - 1))) & 0x1ffn);
    const at = table + 8 * index;
    const lo = view.getInt32(at, true);
    const hi = view.getInt32(at + 4, true);
    const value = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    const head = `  level ${level} [${index}] sptep ${hex(at)} spte ${hex(value)}`;
    if (paeTop) {
      // pae_root entries are PDPTEs: present in bit 0, the table in bits 51:12.
      if ((lo & 1) === 0) { lines.push(`${head} not present`); return; }
      lines.push(`${head} pae_root entry`);
      table = (hi & 0xfffff) * 4294967296 + ((lo & 0xfffff000) >>> 0);
      continue;
    }
    if (codec.isMmio(lo, hi)) { lines.push(`${head} mmio`); return; }
    if (!codec.isShadowPresent(lo, hi)) { lines.push(`${head} not present`); return; }
    const pfn = codec.pfn(lo, hi);
    if (codec.isLeaf(lo, hi, level)) {
      lines.push(`${head} leaf pfn ${hex(pfn)}${codec.isWritable(lo) ? ' writable' : ''}`);
      return;
    }
    lines.push(`${head} table ${hex(pfn * 4096)}`);
    table = pfn * 4096;
  }
}

function stats(vm: Machine, kvmStatsLines: (stats: ReadonlyArray<[string, number]>, violations: readonly string[]) => string[]): string[] {
  const lines = vm.vcpus.map((c) => `CPU ${c.index}: ${c.instructions} instructions, ${c.cycles()} cycles`);
  if (vm.kvm === undefined) return [...lines, 'bare mode: no KVM statistics'];
  return [...lines, ...kvmStatsLines(vm.kvm.stats.entries().filter(([, n]) => n !== 0), vm.kvm.violations)];
}
