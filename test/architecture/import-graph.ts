/**
 * The project's import graph, read from the sources: one node per .ts file under the source folders,
 * one edge per relative import (type-only imports included: they tie the files' designs together
 * even when the compiler erases them).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export const SOURCE_ROOTS = ['emulator', 'mmu', 'vmm', 'bench'] as const;

export interface ImportGraph {
  /** Repository-relative path (posix) to the files it imports. */
  readonly edges: ReadonlyMap<string, readonly string[]>;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/g;

function listTs(dir: string, out: string[]): void {
  let names: string[];
  try { names = readdirSync(dir); } catch { return; }
  for (const name of names) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) listTs(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
}

export function readImportGraph(repo: string): ImportGraph {
  const files: string[] = [];
  for (const root of SOURCE_ROOTS) listTs(join(repo, root), files);
  const edges = new Map<string, string[]>();
  for (const file of files) {
    const from = relative(repo, file).split('\\').join('/');
    const targets: string[] = [];
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = m[1];
      if (!spec.startsWith('.')) continue;
      const target = relative(repo, resolve(dirname(file), spec.replace(/\.js$/, '.ts'))).split('\\').join('/');
      targets.push(target);
    }
    edges.set(from, targets);
  }
  return { edges };
}

/** Strongly connected components with more than one file (Tarjan): each is an import cycle. */
export function importCycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.edges.get(v) ?? []) {
      if (!graph.edges.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const v of [...graph.edges.keys()].sort()) if (!index.has(v)) visit(v);
  return cycles;
}
