/**
 * Writing to stdout (guest serial output) and stderr (reports). A closed pipe (`mmulab run x |
 * head`) must not turn into an 'error' event and a stack trace: after EPIPE further output to that
 * stream is dropped and the run goes on to its normal exit status.
 */

let stdoutClosed = false;
let stderrClosed = false;
let installed = false;

/** Installs the EPIPE guards on process.stdout and process.stderr (once). */
export function guardOutputStreams(): void {
  if (installed) return;
  installed = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    stdoutClosed = true;
    if (err.code !== 'EPIPE') writeErr(`mmulab: cannot write to stdout: ${err.message}`);
  });
  process.stderr.on('error', () => { stderrClosed = true; });
}

/** Guest serial output: the serial device hands over whole lines (or 256-byte pieces). */
export function writeOut(bytes: Uint8Array): void {
  if (!stdoutClosed) process.stdout.write(bytes);
}

/** One report line (or several joined lines) to stderr; a newline is appended. */
export function writeErr(text: string): void {
  if (!stderrClosed) process.stderr.write(text.endsWith('\n') ? text : text + '\n');
}
