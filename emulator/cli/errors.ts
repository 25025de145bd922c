import { ImageError } from '../machine/elf.js';
import { ExitStatus } from './exit-status.js';

/**
 * The error classes the command line turns into exit statuses, and the one-line message of any
 * error. Nothing the user can cause prints a stack trace: usage errors and bad images are
 * expected, and anything else is reported as an internal error in one line (with the stack only
 * when MMULAB_DEBUG=1).
 */

/** A command-line error (unknown option or command, missing argument, bad value). */
export class UsageError extends Error {}

/** The image (or another input file) cannot be read or is not a bootable image. */
export class InputError extends Error {}

/**
 * An image of this project (build/guests/, build/kvm-unit-tests/, build/linux/) that is not built
 * and could not be built here: the message names the command that builds it.
 */
export class ImageNotBuiltError extends Error {}

/** A file-system error from reading `path`, as one line: "cannot read image x: no such file or directory". */
export function fileError(what: string, path: string, err: unknown): InputError {
  const e = err as NodeJS.ErrnoException;
  let reason: string;
  switch (e?.code) {
    case 'ENOENT': reason = 'no such file or directory'; break;
    case 'EISDIR': reason = 'is a directory'; break;
    case 'EACCES': reason = 'permission denied'; break;
    case 'ENOTDIR': reason = 'a component of the path is not a directory'; break;
    case 'ERR_FS_FILE_TOO_LARGE': reason = 'file is too large'; break;
    default: {
      // Node's messages look like "EIO: i/o error, read": keep the description.
      const m = /^[A-Z0-9_]+: ([^,]+)/.exec(e?.message ?? '');
      reason = m !== null ? m[1] : oneLine(e?.message ?? String(err));
    }
  }
  return new InputError(`cannot read ${what} ${path}: ${reason}`);
}

/** Whether `err` is an error from the file system (it carries a string `code`). */
export function isFileSystemError(err: unknown): boolean {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
}

/** Collapses whitespace and line breaks so a message fits on one line. */
export function oneLine(text: string): string {
  const lines = text.split('\n').map((l) => l.replace(/\s+/g, ' ').trim()).filter((l) => l !== '');
  return lines.reduce((out, l) => (out === '' ? l : out.endsWith(':') ? `${out} ${l}` : `${out}; ${l}`), '');
}

export interface Failure {
  readonly status: ExitStatus;
  /** Short machine-readable kind for --json. */
  readonly kind: 'usage' | 'bad-image' | 'not-built' | 'internal';
  /** One line, without the "mmulab: " prefix. */
  readonly message: string;
}

/** How an exception that ended a command is reported. */
export function classify(err: unknown): Failure {
  if (err instanceof UsageError) return { status: ExitStatus.USAGE, kind: 'usage', message: `${oneLine(err.message)} (see mmulab --help)` };
  if (err instanceof ImageNotBuiltError) return { status: ExitStatus.IMAGE_NOT_BUILT, kind: 'not-built', message: oneLine(err.message) };
  if (err instanceof InputError || err instanceof ImageError) return { status: ExitStatus.BAD_IMAGE, kind: 'bad-image', message: oneLine(err.message) };
  const text = err instanceof Error ? `${err.name === 'Error' ? '' : err.name + ': '}${err.message}` : String(err);
  return { status: ExitStatus.INTERNAL, kind: 'internal', message: `internal error: ${oneLine(text)}` };
}

/** The stack to print after an internal error, only when MMULAB_DEBUG=1. */
export function debugStack(err: unknown): string | undefined {
  if (process.env.MMULAB_DEBUG !== '1') return undefined;
  return err instanceof Error ? err.stack : undefined;
}
