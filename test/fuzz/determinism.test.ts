import { describe, expect, test } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runChild } from '../helpers/spawn.js';
import { CLI, REPO } from '../cli/cli.js';

/**
 * Determinism (issue 18 item 4): the same image and options give byte-identical guest output and
 * the same statistics twice, in every MMU mode: `mmulab run IMAGE --json` with the host's wall
 * time and the MIPS derived from it left out, everything else (instructions, modeled cycles,
 * every KVM counter) compared as is.
 */

const MODES = ['bare', 'shadow', 'legacy-tdp', 'tdp'] as const;
const GUESTS: ReadonlyArray<{ name: string; args: string[] }> = [
  { name: 'memtouch', args: [join(REPO, 'build/guests/memtouch.flat'), '--append', '1', '--backing', '4k'] },
  { name: 'kvm-unit-tests pcid', args: [join(REPO, 'build/kvm-unit-tests/pcid.flat'), '--cpu', 'base,+pcid,+invpcid'] },
];

/** The report without the fields that measure the host: wall time and MIPS. */
function withoutHostTime(json: string): unknown {
  return JSON.parse(json, (key, value: unknown) => (/^(wallMs|mips|wall.*|.*Ms)$/.test(key) ? undefined : value));
}

async function runTwice(args: string[]): Promise<Array<{ out: string; report: unknown; status: number }>> {
  const runs = await Promise.all([0, 1].map(() => runChild(process.execPath, [CLI, 'run', ...args, '--json'], 120_000)));
  return runs.map((r) => ({ out: r.out, report: withoutHostTime(r.err.trim().split('\n').pop() ?? ''), status: r.status }));
}

describe('two runs of a guest give the same output and statistics', () => {
  for (const g of GUESTS) {
    test.each(MODES)(`${g.name}, %s`, async (mode) => {
      expect(existsSync(g.args[0]), `${g.args[0]} is built by npm run build:guests`).toBe(true);
      const [a, b] = await runTwice([...g.args, '--mmu', mode]);
      expect(a.status).toBe(1); // the guest's PASS through the debug-exit port
      expect(a.out).toMatch(/PASS/);
      expect(b.out).toBe(a.out);
      expect(b.status).toBe(a.status);
      expect(b.report).toEqual(a.report);
      // The comparison saw the statistics that matter: instructions and, virtualized, KVM's counters.
      expect((a.report as { instructions: number }).instructions).toBeGreaterThan(0);
      if (mode !== 'bare') expect(Object.keys((a.report as { kvm: object }).kvm).length).toBeGreaterThan(5);
    });
  }
});
