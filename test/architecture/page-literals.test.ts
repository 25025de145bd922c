/**
 * Page arithmetic in mmu/ goes through the named constants and helpers of emulator/arch/address.ts
 * (PAGE_SIZE, PAGE_SHIFT, PTE_SIZE, gfnToGpa, sptepIndex ...), not a literal 4096. The files below
 * still hold some, each for a stated reason; a count may only go down, and a file not listed must
 * have none.
 */
import { describe, expect, test } from 'vitest';
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative, resolve } from 'node:path';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** File -> the literal 4096s it may still hold, and why. */
const ALLOWED: Readonly<Record<string, { readonly count: number; readonly why: string }>> = {
  // Empty since the shadow-page cache, map.ts and the KVM files took the named helpers (issue 11
  // item 3): a file that needs a literal 4096 again must be listed here with its reason.
};

/** Occurrences of the literal 4096 in code (line comments and doc-comment lines left out). */
function countIn(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) {
    const code = line.replace(/\/\/.*$/, '');
    if (/^\s*(\*|\/\*\*?)/.test(code)) continue;
    n += (code.match(/\b4096\b/g) ?? []).length;
  }
  return n;
}

/** Literal 4096s per .ts file under mmu/. */
function literalCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  const visit = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) { visit(path); continue; }
      if (!name.endsWith('.ts')) continue;
      const n = countIn(readFileSync(path, 'utf8'));
      if (n > 0) counts.set(relative(repo, path), n);
    }
  };
  visit(join(repo, 'mmu'));
  return counts;
}

describe('page-size literals in mmu/', () => {
  const counts = literalCounts();

  test('no file holds more literal 4096s than the allow-list grants', () => {
    const over: string[] = [];
    for (const [file, n] of counts) {
      const allowed = ALLOWED[file]?.count ?? 0;
      if (n > allowed) over.push(`${file}: ${n} literal 4096 (allowed ${allowed}); use PAGE_SIZE / gfnToGpa / sptepIndex from emulator/arch/address.ts`);
    }
    expect(over).toEqual([]);
  });

  test('the allow-list names existing files, each with a reason', () => {
    for (const [file, entry] of Object.entries(ALLOWED)) {
      expect(existsSync(join(repo, file)), file).toBe(true);
      expect(entry.why.length).toBeGreaterThan(20);
    }
  });

  test('the scan counts code and skips comments', () => {
    expect(countIn('const size = 4096; // 4096\n/** 4096 */\n * 4096\nx = a % 4096 + 40960;')).toBe(2);
  });
});
