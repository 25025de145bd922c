#!/usr/bin/env node
import { classify, debugStack } from './errors.js';
import { ExitStatus } from './exit-status.js';
import { guardOutputStreams, writeErr } from './output.js';
import { runQemu } from './qemu-command.js';

/**
 * The executable behind scripts/qemu-system-x86_64 (QEMU=... for kvm-unit-tests): `mmulab qemu`
 * without mmulab's own command parser, so `-h` and `--help` give QEMU's answer (the first line is
 * the version line upstream reads). Failures are one line and a status, as in main.ts.
 */

function fail(err: unknown): number {
  const f = classify(err);
  writeErr(`mmulab: ${f.message.replace(/ \(see mmulab --help\)$/, ' (see mmulab qemu -h)')}`);
  const stack = f.status === ExitStatus.INTERNAL ? debugStack(err) : undefined;
  if (stack !== undefined) writeErr(stack);
  return f.status;
}

guardOutputStreams();
runQemu(process.argv.slice(2)).then((status) => { process.exitCode = status; }, (err: unknown) => { process.exitCode = fail(err); });
