/**
 * What scripts/bundle-cli.mjs does for mmulab's start-up time: string-width's costly module-level
 * objects built on first use (scripts/lazy-init.mjs), and the bundle run through V8's code cache by
 * scripts/cli-loader.js with its dynamic imports going through the loader.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, test } from 'vitest';
// @ts-expect-error: a build script in plain JavaScript, without declarations
import { LAZY_INIT_SOURCE, deferCostlyInit } from '../../scripts/lazy-init.mjs';
import { CLI, GUESTS, REPO, runCli } from './cli.js';

type LazyInit = <T extends object>(make: () => T) => T;
const lazyInit = new Function(`${LAZY_INIT_SOURCE as string}\nreturn lazyInit;`)() as LazyInit;

describe('deferred module-level objects', () => {
  test('every copy of string-width yargs bundles still has declarations to defer', () => {
    const copies = ['node_modules/string-width/index.js', 'node_modules/cliui/node_modules/string-width/index.js',
      'node_modules/wrap-ansi/node_modules/string-width/index.js'].filter((f) => existsSync(REPO + f));
    expect(copies.length).toBeGreaterThan(0);
    for (const f of copies) {
      const { source, count } = (deferCostlyInit as (s: string) => { source: string; count: number })(readFileSync(REPO + f, 'utf8'));
      expect(count, f).toBeGreaterThan(0);
      expect(source, f).not.toMatch(/^(const|let|var) \w+ = new Intl\.Segmenter/m);
    }
  });

  test('a deferred object is built once, on first use, and behaves as the eager one', () => {
    let built = 0;
    const seg = lazyInit(() => { built++; return new Intl.Segmenter(); });
    expect(built).toBe(0);
    const text = 'a\u{1F44D}\u{1F3FD}b e\u0301';
    expect([...seg.segment(text)].map((s) => s.segment)).toEqual([...new Intl.Segmenter().segment(text)].map((s) => s.segment));
    expect([...seg.segment(text)]).toHaveLength(5);
    expect(built).toBe(1);
    // A global pattern keeps its state in the real object; the String methods reach it via Symbol.match etc.
    const eager = /\p{Extended_Pictographic}/gu;
    const lazy = lazyInit(() => /\p{Extended_Pictographic}/gu);
    const s = 'x\u{1F600}y\u{1F680}z';
    expect(s.match(lazy)).toEqual(s.match(eager));
    expect(s.search(lazy)).toBe(s.search(eager));
    expect(s.replace(lazy, '*')).toBe(s.replace(eager, '*'));
    expect(s.split(lazyInit(() => /y/u))).toEqual(['x\u{1F600}', '\u{1F680}z']);
    expect(lazy.exec(s)?.index).toBe(eager.exec(s)?.index);
    expect(lazy.lastIndex).toBe(eager.lastIndex);
    expect(lazy.lastIndex).toBeGreaterThan(0);
    lazy.lastIndex = 0;
    expect(lazy.lastIndex).toBe(0);
    expect(lazyInit(() => new RegExp('^\\p{RGI_Emoji}$', 'v')).test('\u{1F44D}\u{1F3FD}')).toBe(true);
    expect(lazyInit(() => new RegExp('^\\p{RGI_Emoji}$', 'v')).test('a')).toBe(false);
  });
});

describe('the CLI through the code cache', () => {
  const dir = dirname(CLI);
  const bundle = readFileSync(join(dir, 'main.bundle.cjs'), 'utf8');

  test('the bundle builds no Intl.Segmenter at load and has no dynamic import()', () => {
    expect(bundle).not.toMatch(/^(const|let|var) \w+ = new Intl\.Segmenter/m);
    expect(bundle).toMatch(/= lazyInit\d* ?\(\(\) => new Intl\.Segmenter\(\)\)/);
    expect(bundle).not.toMatch(/(?<![\w.$])import\(/);
  });

  test('a start from the cache runs as the first: disassembly (a dynamic import) included', () => {
    const args = ['run', `${GUESTS}hello.flat`, '--trace', '3', '--trace-always'];
    const first = runCli(args);
    const caches = readdirSync(dir).filter((n) => /^main\.bundle\.[0-9a-f]+\.cache$/.test(n));
    expect(caches).toHaveLength(1);
    const second = runCli(args);
    for (const r of [first, second]) {
      expect(r.stdout).toContain('Hello from mmulab guest');
      expect(r.stderr).toMatch(/e7 f4 +out 0xf4, eax$/m);
    }
    expect(second.stdout).toBe(first.stdout);
    expect(second.stderr).toBe(first.stderr);
    expect(second.status).toBe(first.status);
  });
});
