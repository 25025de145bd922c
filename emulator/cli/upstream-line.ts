import { join } from 'node:path';
import type { UpstreamEntry } from './upstream-cfg.js';
import type { MmuMode } from '../../vmm/machine.js';
import type { KvmOptions } from './kvm-args.js';
import { type Knobs, resolveKnobs } from '../../mmu/knobs.js';

/**
 * The QEMU command line upstream's run_tests.sh would give an entry (x86/run's fixed options, then
 * `-kernel FILE -smp N [-append TEST_ARGS] QEMU_PARAMS`), for `mmulab qemu`, with the MMU mode and
 * the hypervisor's settings as accelerator properties after `-machine accel=tcg` (what run_tests.sh
 * passes when ACCEL is `tcg,mmu=MODE,...`).
 */

/** x86/run's options before -machine (scripts/arch-run.bash, x86/run), with pc-testdev. */
export const X86_RUN_OPTIONS: readonly string[] = ['--no-reboot', '-nodefaults', '-global', 'kvm-pit.lost_tick_policy=discard',
  '-device', 'pc-testdev', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x4', '-display', 'none', '-serial', 'stdio'];

export class ShellWordsError extends Error {}

/**
 * Splits text into words as the shell does for the cfg's values: blanks separate words, '...'
 * and "..." quote, a backslash escapes. Command substitution and variables (`...`, $...) are
 * refused: their value depends on the shell that runs them.
 */
export function shellWords(text: string): string[] {
  const out: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '`' || c === '$') throw new ShellWordsError(`shell expansion (${c}) in "${text}" is not evaluated`);
    if (c === '\'') {
      const end = text.indexOf('\'', i + 1);
      if (end < 0) throw new ShellWordsError(`unclosed ' in "${text}"`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '`' || text[j] === '$') throw new ShellWordsError(`shell expansion (${text[j]}) in "${text}" is not evaluated`);
        if (text[j] === '\\' && j + 1 < text.length && '"\\`$'.includes(text[j + 1])) j++;
        word += text[j];
      }
      if (j >= text.length) throw new ShellWordsError(`unclosed " in "${text}"`);
      inWord = true;
      i = j;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) out.push(word);
  return out;
}

/**
 * The accelerator value for a mode and the hypervisor's settings (mmulab qemu's -accel
 * properties): the preset, and each knob that differs from it.
 */
export function accelValue(mode: MmuMode, o: KvmOptions): string {
  const props = ['tcg', `mmu=${mode}`, `vendor=${o.vendor}`, `preset=${o.preset}`, `backing=${o.backing}`];
  const preset = resolveKnobs(o.preset);
  for (const [name, value] of Object.entries(o.knobs)) {
    if (preset[name as keyof Knobs] !== value) props.push(`knob=${name}=${String(value)}`);
  }
  if (o.audit) props.push(o.auditEvery > 1 ? `audit-every=${o.auditEvery}` : 'audit=on');
  return props.join(',');
}

/** The whole argument list for one entry in one mode; ShellWordsError when its values need a shell. */
export function upstreamArgs(entry: UpstreamEntry, testDir: string, mode: MmuMode, o: KvmOptions, envFile: string): string[] {
  const accel = accelValue(mode, o);
  const tail = shellWords(`-smp ${entry.smp}${entry.testArgs === '' ? '' : ` -append ${entry.testArgs}`} ${entry.qemuParams}`);
  return [...X86_RUN_OPTIONS, '-machine', `accel=${accel}`, '-kernel', join(testDir, entry.file), ...tail, '-initrd', envFile];
}
