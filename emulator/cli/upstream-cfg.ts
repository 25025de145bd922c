import { readFileSync } from 'node:fs';
import { UsageError, fileError } from './errors.js';

/**
 * kvm-unit-tests' unittests.cfg (upstream's x86/unittests.cfg), read the way its
 * scripts/common.bash reads it: `[name]` starts an entry; `key = value` lines set file, smp,
 * test_args, qemu_params (or its older name extra_params; a value may span lines between `"""`),
 * groups, arch, machine, check, accel, timeout, disabled_if; anything else (comments, unknown keys)
 * is ignored, as upstream ignores it. Values are kept as written (quotes included): they are shell
 * words, split by upstream-line.ts.
 */

export interface UpstreamEntry {
  readonly name: string;
  /** The image, relative to the test folder (x86/). */
  readonly file: string;
  /** `smp` as written (default 1). */
  readonly smp: string;
  /** The guest's arguments as shell words (empty: no -append). */
  readonly testArgs: string;
  /** More QEMU options as shell words. */
  readonly qemuParams: string;
  readonly groups: readonly string[];
  /** i386 or x86_64; empty for both. */
  readonly arch: string;
  readonly machine: string;
  /** `path=value` words: the entry runs only when each file holds its value. */
  readonly check: readonly string[];
  /** An accelerator the entry needs (kvm, tcg), or empty. */
  readonly accel: string;
  /** Timeout as written (e.g. 30, 90s, 2m); empty for upstream's default. */
  readonly timeout: string;
  readonly disabledIf: string;
}

const KEYS: Readonly<Record<string, keyof Omit<UpstreamEntry, 'name' | 'groups' | 'check'> | 'groups' | 'check'>> = {
  file: 'file', smp: 'smp', test_args: 'testArgs', qemu_params: 'qemuParams', extra_params: 'qemuParams', groups: 'groups',
  arch: 'arch', machine: 'machine', check: 'check', accel: 'accel', timeout: 'timeout', disabled_if: 'disabledIf',
};

type Draft = { -readonly [K in keyof UpstreamEntry]: UpstreamEntry[K] };

function fresh(name: string): Draft {
  return { name, file: '', smp: '1', testArgs: '', qemuParams: '', groups: [], arch: '', machine: '', check: [], accel: '', timeout: '', disabledIf: '' };
}

const words = (v: string): string[] => v.split(/\s+/).filter((w) => w !== '');

/** Parses unittests.cfg text. */
export function parseUnittestsCfg(text: string): UpstreamEntry[] {
  const lines = text.split('\n');
  const entries: UpstreamEntry[] = [];
  let cur: Draft | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    const section = /^\[(.*)\]$/.exec(line);
    if (section !== null) {
      if (cur !== undefined) entries.push(cur);
      cur = fresh(section[1]);
      continue;
    }
    const kv = /^([a-z_]+) *= *(.*)$/.exec(line);
    if (cur === undefined || kv === null || !(kv[1] in KEYS)) continue;
    const field = KEYS[kv[1]];
    let value = kv[2];
    if (field === 'qemuParams' && value.startsWith('"""')) {
      // A multi-line value runs to the line ending in """; a trailing backslash joins lines.
      const parts: string[] = [];
      let rest = value.slice(3);
      for (;;) {
        const end = rest.indexOf('"""');
        if (end >= 0) { parts.push(rest.slice(0, end)); break; }
        parts.push(rest.replace(/\\$/, ''));
        if (++i >= lines.length) break;
        rest = lines[i];
      }
      value = parts.join(' ');
    }
    if (field === 'groups') cur.groups = words(value);
    else if (field === 'check') cur.check = words(value);
    else cur[field] = value;
  }
  if (cur !== undefined) entries.push(cur);
  return entries.filter((e) => e.name !== '');
}

export function loadUnittestsCfg(path: string): UpstreamEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw fileError('unittests.cfg', path, err);
  }
  return parseUnittestsCfg(text);
}

/** A duration as upstream writes one (`90`, `90s`, `1.5m`, `2h`, `1d`; timeout(1)'s syntax) in ms, or undefined. */
function durationMs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(text.trim());
  if (m === null) return undefined;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2]] ?? 1;
  return Math.round(Number(m[1]) * unit * 1000);
}

/** Upstream's timeout value (`90`, `90s`, `2m`, `1h`) in milliseconds; its default is 90 s. */
export function timeoutMs(text: string): number {
  return durationMs(text) ?? 90_000;
}

/** The longest --timeout accepted: a day of CPU (access, the longest entry, takes about half an hour). */
const MAX_TIMEOUT_MS = 86_400_000;

/**
 * `mmulab test --upstream --timeout T`: every entry's CPU limit in place of its unittests.cfg
 * `timeout` (or the 90 s default), in the same syntax; undefined when the option is absent.
 */
export function timeoutOption(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const ms = typeof value === 'string' || typeof value === 'number' ? durationMs(String(value)) : undefined;
  if (ms === undefined || ms < 1000 || ms > MAX_TIMEOUT_MS) {
    throw new UsageError(`--timeout: expected seconds of CPU from 1 to 86400, optionally with a unit (90, 90s, 10m, 2h), got ${JSON.stringify(value)}`);
  }
  return ms;
}
