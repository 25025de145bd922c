import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type MmuMode, Machine } from '../vmm/machine.js';

/**
 * Peak resident set of one mmulab process running a 128 MiB guest that touches nearly all of its
 * memory (guests/memtouch: a tag in every 4 KiB page of 8-126 MiB). Measured in a child process
 * (process.resourceUsage().maxRSS), so nothing else the bench did counts.
 */
export const RSS_GUEST_MIB = 128;

/** Child side: `node dist/bench/rss.js MODE` runs memtouch once and prints {"maxRssKiB": N}. */
function child(mode: MmuMode, root: string): void {
  const image = join(root, 'build/guests/memtouch.flat');
  const vm = new Machine({ mmu: mode, memBytes: RSS_GUEST_MIB << 20, serialOut: () => {} });
  vm.loadMultiboot(readFileSync(image), image, '1');
  const r = vm.run();
  if (r.outcome !== 'exit' || r.exitStatus !== 1) throw new Error(`memtouch did not pass in ${mode}: ${r.outcome} ${r.detail}`);
  process.stdout.write(JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS }) + '\n');
}

/** Peak RSS in MiB of a child process running the 128 MiB guest in `mode`. */
export function peakRssMiB(mode: MmuMode, root = process.cwd()): number {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), mode], { cwd: root, encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`RSS child (${mode}) failed with status ${r.status}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { maxRssKiB: number }).maxRssKiB / 1024;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) child((process.argv[2] ?? 'bare') as MmuMode, process.cwd());
