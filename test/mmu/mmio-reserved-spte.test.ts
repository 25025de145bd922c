/**
 * lkml (e): with b14e28f37e9b's layout the MMIO generation's low field still covered bit 11, which
 * that commit made the MMU-present bit. Once the memslot generation has its bit 8 set, an MMIO
 * SPTE looks shadow-present, get_mmio_spte finds reserved bits in it and KVM_RUN fails with
 * -EINVAL ("kvm run failed Invalid argument", Tom Lendacky's report). The mmio-cache guest adds and
 * removes a memslot each round, 4 generations a round: 80 rounds pass 256, 12 do not.
 */
import { describe, expect, test } from 'vitest';
import { runCli, GUESTS } from '../cli/cli.js';
import { ExitStatus } from '../../emulator/cli/exit-status.js';

const run = (rounds: number, mmu: string, vendor: string, layout: string) =>
  runCli(['run', `${GUESTS}mmio-cache.flat`, '--append', String(rounds), '--mmu', mmu, '--vendor', vendor, '--knob', `spteLayout=${layout}`]);

describe('get_mmio_spte\'s reserved-bit check (lkml (e))', () => {
  test.each([
    ['tdp', 'svm'], ['tdp', 'vmx'], ['legacy-tdp', 'svm'], ['shadow', 'vmx'],
  ])('%s on %s: b14e28f37e9b fails KVM_RUN once the generation reaches bit 11; the fixed layout passes', (mmu, vendor) => {
    const broken = run(80, mmu, vendor, 'b14e28f37e9b');
    expect(broken.status).toBe(ExitStatus.KVM_ERROR);
    // KVM's own words, with the walk ending at an MMIO SPTE whose bit 11 (0x800) is set.
    expect(broken.stderrLines.at(-1)).toMatch(
      /^mmulab: KVM_RUN failed: Invalid argument \(get_mmio_spte: detect reserved bits on spte, addr 0x10000000, dump hierarchy: (spte 0x[0-9a-f]+ level \d, )+spte 0x[0-9a-f]*[89a-f][0-9a-f]{2} level 1\)$/);
    expect(broken.stdout).toMatch(/PASS: memslot added over the address/);
    expect(run(12, mmu, vendor, 'b14e28f37e9b').status).toBe(1);
    expect(run(80, mmu, vendor, 'current').status).toBe(1);
  }, 120_000);
});
