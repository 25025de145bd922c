/**
 * The CLI as `npm run build` leaves it (scripts/bundle-cli.mjs): dist/emulator/cli/main.js is one
 * file holding every module of ours and yargs, so starting `mmulab` loads no other module of the
 * project. The other CLI tests run this bundle; this one checks that it is one, and that paths it
 * finds from its own location (package.json for --version) still resolve.
 */
import { readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { describe, expect, test } from 'vitest';
import { CLI, REPO, runCli } from './cli.js';

describe('the bundled CLI', () => {
  test('main.js imports only Node built-ins (after npm run build; tsc alone leaves it unbundled)', () => {
    const source = readFileSync(CLI, 'utf8');
    const specifiers = [...source.matchAll(/^import\b[^;]*?["']([^"']+)["'];?$/gm)].map((m) => m[1]);
    expect(specifiers.length).toBeGreaterThan(0);
    expect(specifiers.filter((s) => !isBuiltin(s))).toEqual([]);
  });

  test('--version reads package.json from where the bundle is', () => {
    const pkg = JSON.parse(readFileSync(`${REPO}package.json`, 'utf8')) as { version: string };
    const r = runCli(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });
});
