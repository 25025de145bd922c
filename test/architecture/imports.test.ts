/**
 * The layering of ARCHITECTURE.md, enforced: the hardware (emulator/) never imports the hypervisor
 * (mmu/) or the VMM that assembles the two (vmm/), the hypervisor never imports the VMM, and no
 * two files import each other, directly or through others.
 */
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { importCycles, readImportGraph } from './import-graph.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const graph = readImportGraph(repo);

/** Folders a file in the first folder may not import from. The CLI is the top of the stack. */
const FORBIDDEN: readonly { readonly from: string; readonly except?: string; readonly to: readonly string[]; readonly why: string }[] = [
  { from: 'emulator/', except: 'emulator/cli/', to: ['mmu/', 'vmm/', 'bench/'], why: 'the hardware knows no hypervisor: KVM attaches through the ports the hardware declares' },
  { from: 'mmu/', to: ['vmm/', 'emulator/cli/', 'bench/'], why: 'KVM is assembled into a machine by the VMM, not the other way round' },
  { from: 'vmm/', to: ['emulator/cli/', 'bench/'], why: 'the VMM serves the CLI, tests and benchmarks' },
];

function violations(): string[] {
  const found: string[] = [];
  for (const [file, targets] of graph.edges) {
    for (const rule of FORBIDDEN) {
      if (!file.startsWith(rule.from) || (rule.except !== undefined && file.startsWith(rule.except))) continue;
      for (const t of targets) if (rule.to.some((p) => t.startsWith(p))) found.push(`${file} imports ${t} (${rule.why})`);
    }
  }
  return found.sort();
}

describe('import rules', () => {
  it('reads the whole source tree', () => {
    expect(graph.edges.size).toBeGreaterThan(100);
    expect([...graph.edges.keys()].some((f) => f.startsWith('mmu/'))).toBe(true);
  });

  it('keeps the layers one-way', () => {
    expect(violations()).toEqual([]);
  });

  it('has no import cycles between files', () => {
    expect(importCycles(graph)).toEqual([]);
  });

  it('finds a cycle and a forbidden edge when one exists (the checker itself)', () => {
    const edges = new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']]]);
    expect(importCycles({ edges })).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });
});
