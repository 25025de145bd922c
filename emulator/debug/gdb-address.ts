/**
 * Where the gdb server listens, in QEMU's -gdb syntax: `tcp::PORT` (every local address),
 * `tcp:HOST:PORT`, or `tcp:[IPv6]:PORT`; `-s` is `tcp::1234`.
 */
export interface GdbListen {
  /** Host to bind; '::' or '0.0.0.0' style wildcard when the spec leaves it empty. */
  readonly host: string | undefined;
  readonly port: number;
  /** The spec as given, for messages. */
  readonly text: string;
}

export const DEFAULT_GDB = 'tcp::1234';

/** The listen address of a -gdb spec, or a one-line reason it is not one. */
export function parseGdbAddress(text: string): GdbListen | string {
  const m = /^tcp:(\[[0-9a-fA-F:.]+\]|[^:[\]]*):([0-9]+)$/.exec(text);
  if (m === null) return `expected tcp::PORT or tcp:HOST:PORT (as QEMU's -gdb), got "${text}"`;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `port must be 1-65535, got "${m[2]}"`;
  const host = m[1] === '' ? undefined : m[1].replace(/^\[(.*)\]$/, '$1');
  return { host, port, text };
}
