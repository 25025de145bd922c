/**
 * The shape of lkml thread (a) in the vmexit port's toggle_cr0_wp (two CR0 writes per iteration,
 * WP off then on): before (a) and (c) (presets kvm-5.17 and kvm-6.3) the TDP MMU throws its root
 * away at every write and rebuilds it, so tdp costs at least 5 times legacy-tdp and shadow, which
 * find their roots in the shadow-page hash; with KVM 6.4 (roots kept across a CR0.WP change), or
 * with Paolo's keep-roots proposal, the three are within 20% of each other. Current KVM on VMX
 * lets the guest own CR0.WP, so with TDP the writes do not exit at all; on SVM they still do, and
 * the three modes agree as with 6.4.
 *
 * The host is backed with 4 KiB pages as in the README's replay: with 2 MiB pages a rebuilt root
 * needs few faults and the gap is smaller (checked too).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { type Backing, type MmuMode, Machine } from '../../vmm/machine.js';
import type { Vendor } from '../../mmu/kvm/vendor.js';
import { resolveKnobs } from '../../mmu/knobs.js';
import { cpuModelFromSpec } from '../../emulator/cpu/cpu-spec.js';
import { guestValues } from '../../emulator/cli/guest-values.js';
import { DEFAULT_IMAGES, repoPath } from '../../emulator/cli/test-table.js';

const IMAGE = join(repoPath(DEFAULT_IMAGES), 'vmexit.flat');
const ITERATIONS = 100;

interface Toggle {
  /** Cycles per iteration of toggle_cr0_wp. */
  readonly cr0wp: number;
  readonly cr4pge: number;
  /** Roots allocated in the whole run, boot included, and per iteration of the loop. */
  readonly roots: number;
  readonly rootsPerIteration: number;
}

const cache = new Map<string, Toggle>();

function toggle(mode: MmuMode, preset: string, vendor: Vendor = 'vmx', backing: Backing = '4k'): Toggle {
  const key = [mode, preset, vendor, backing].join(' ');
  let t = cache.get(key);
  if (t !== undefined) return t;
  const out: Uint8Array[] = [];
  const vm = new Machine({
    mmu: mode, vendor, backing, audit: true, knobs: resolveKnobs(preset), model: cpuModelFromSpec('max'),
    serialOut: (b) => { out.push(Uint8Array.from(b)); },
  });
  vm.loadMultiboot(readFileSync(IMAGE), IMAGE, `toggle_cr0_wp iterations=${ITERATIONS}`);
  const before = vm.kvm?.stats.root_alloc ?? 0;
  const r = vm.run(1e8);
  const output = Buffer.concat(out).toString('latin1');
  expect(r.exitStatus, output).toBe(1);
  expect(vm.kvm?.violations ?? []).toEqual([]);
  const values = guestValues(output);
  const roots = (vm.kvm?.stats.root_alloc ?? 0) - before;
  // toggle_cr4_pge is measured separately so the root count above is CR0.WP's alone.
  const pge = new Machine({ mmu: mode, vendor, backing, knobs: resolveKnobs(preset), model: cpuModelFromSpec('max'), serialOut: (b) => { out.push(Uint8Array.from(b)); } });
  out.length = 0;
  pge.loadMultiboot(readFileSync(IMAGE), IMAGE, `toggle_cr4_pge iterations=${ITERATIONS}`);
  pge.run(1e8);
  t = {
    cr0wp: values.get('toggle_cr0_wp')!,
    cr4pge: guestValues(Buffer.concat(out).toString('latin1')).get('toggle_cr4_pge')!,
    roots,
    rootsPerIteration: roots / (ITERATIONS + 1),
  };
  cache.set(key, t);
  return t;
}

const spread = (xs: number[]): number => Math.max(...xs) / Math.min(...xs);

describe('toggle_cr0_wp before lkml (a): tdp at least 5x legacy-tdp and shadow', () => {
  test.each(['kvm-6.3', 'kvm-5.17'])('%s (VMX, 4 KiB backing)', (preset) => {
    const shadow = toggle('shadow', preset);
    const legacy = toggle('legacy-tdp', preset);
    const tdp = toggle('tdp', preset);
    console.log(`toggle_cr0_wp ${preset}: shadow ${shadow.cr0wp}, legacy-tdp ${legacy.cr0wp}, tdp ${tdp.cr0wp}`);
    expect(tdp.cr0wp).toBeGreaterThanOrEqual(5 * legacy.cr0wp);
    expect(tdp.cr0wp).toBeGreaterThanOrEqual(5 * shadow.cr0wp);
    // The TDP MMU allocates a root for each write; the others find theirs in the hash (the few
    // they allocate are the boot's: paging off, the boot tables, the test's).
    expect(tdp.rootsPerIteration).toBeGreaterThanOrEqual(1.95);
    expect(legacy.roots).toBeLessThan(10);
    expect(shadow.roots).toBeLessThan(10);
  });

  test('with 2 MiB host pages the rebuilt root needs fewer faults: tdp still costs more, by less', () => {
    const legacy = toggle('legacy-tdp', 'kvm-6.3', 'vmx', '2m');
    const tdp = toggle('tdp', 'kvm-6.3', 'vmx', '2m');
    expect(tdp.cr0wp).toBeGreaterThan(2 * legacy.cr0wp);
    expect(tdp.cr0wp).toBeLessThan(toggle('tdp', 'kvm-6.3').cr0wp);
  });
});

describe('toggle_cr0_wp after lkml (a): the three modes within 20%', () => {
  test.each([
    ['kvm-6.4', 'svm'], // on VMX with EPT, 6.4 does not exit on CR0.WP (fb509f76acc8)
    ['lkml-a', 'vmx'],
    ['current', 'svm'],
  ] as const)('%s on %s', (preset, vendor) => {
    const t = (['shadow', 'legacy-tdp', 'tdp'] as const).map((m) => toggle(m, preset, vendor));
    console.log(`toggle_cr0_wp ${preset} ${vendor}: ${t.map((x) => x.cr0wp).join(' / ')}`);
    expect(spread(t.map((x) => x.cr0wp))).toBeLessThanOrEqual(1.2);
    expect(toggle('tdp', preset, vendor).roots).toBeLessThan(10);
  });

  test.each(['current', 'kvm-6.4'])('%s on VMX: CR0.WP is guest-owned with EPT (fb509f76acc8, 6.4), so legacy-tdp and tdp do not exit; shadow paging does', (preset) => {
    const bare = toggle('bare', preset);
    expect(toggle('legacy-tdp', preset).cr0wp).toBe(bare.cr0wp);
    expect(toggle('tdp', preset).cr0wp).toBe(bare.cr0wp);
    expect(toggle('shadow', preset).cr0wp).toBeGreaterThan(2 * 1800);
  });

  test('toggle_cr4_pge: PGE is guest-owned with EPT (no exit); shadow paging and SVM intercept it, with no root rebuilt', () => {
    expect(toggle('tdp', 'kvm-6.3').cr4pge).toBe(toggle('bare', 'kvm-6.3').cr4pge);
    expect(toggle('shadow', 'kvm-6.3').cr4pge).toBeGreaterThan(2 * 1800);
    const svm = (['shadow', 'legacy-tdp', 'tdp'] as const).map((m) => toggle(m, 'kvm-6.3', 'svm').cr4pge);
    expect(spread(svm)).toBeLessThanOrEqual(1.2);
  });
});
