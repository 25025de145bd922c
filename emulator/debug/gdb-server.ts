import { createServer, type Server, type Socket } from 'node:net';
import type { RunResult, Vm } from '../machine/vm.js';
import { type GdbArch } from './gdb-registers.js';
import { GdbStub, type MonitorHandler } from './gdb-stub.js';
import { type GdbInput, PacketReader, framePacket } from './gdb-packet.js';
import type { StopInfo } from './gdb-target.js';
import type { GdbListen } from './gdb-address.js';

/**
 * The gdb server: a TCP listener (one debugger at a time), and the run loop while it exists. The
 * machine runs in Vm.run calls that the debug target pauses at a breakpoint, a watchpoint, the end
 * of a step, or every YIELD_MS of wall time; between them the event loop delivers gdb's bytes, so
 * Ctrl-C (0x03) and a new connection stop the machine within that time. A stopped machine waits
 * for packets. When the guest's run ends, gdb gets W (exit status) and the server closes.
 *
 * Like QEMU's gdbstub, a connection stops the machine (gdb asks `?` first), detaching clears every
 * breakpoint and lets the guest run on, and another debugger may connect later.
 */

/** Wall time the machine runs between looks at gdb's input while it continues. */
const YIELD_MS = 20;

export class GdbError extends Error {}

export interface GdbServerOptions {
  readonly listen: GdbListen;
  /** -S: the machine starts stopped, waiting for gdb. */
  readonly waitForGdb: boolean;
  readonly maxInsns: number;
  readonly arch: GdbArch;
  readonly monitor: MonitorHandler;
  /** The process exit status the run will have, for gdb's W packet. */
  readonly exitStatus: (result: RunResult) => number;
  /** One line for the user (stderr), e.g. where the server listens. */
  readonly log: (line: string) => void;
}

/** The run's result, or 'killed' when gdb killed the machine (k). */
export type GdbRunEnd = RunResult | 'killed';

export async function runWithGdb(vm: Vm, o: GdbServerOptions): Promise<GdbRunEnd> {
  const server = createServer();
  const link = new Link();
  server.on('connection', (socket) => link.accept(socket));
  await listen(server, o.listen);
  o.log(`mmulab: gdb: listening on ${o.listen.text}${o.waitForGdb ? ', the machine waits for a connection' : ''}`);
  try {
    return await debugLoop(vm, o, link);
  } finally {
    link.close();
    server.close();
  }
}

function listen(server: Server, at: GdbListen): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'the address is in use' : err.code === 'EACCES' ? 'permission denied' : err.code ?? err.message;
      reject(new GdbError(`--gdb ${at.text}: cannot listen: ${why}`));
    });
    server.listen(at.port, at.host, () => resolve());
  });
}

async function debugLoop(vm: Vm, o: GdbServerOptions, link: Link): Promise<GdbRunEnd> {
  const stub = new GdbStub(vm, o.arch, o.monitor);
  const target = stub.target;
  vm.scheduler.debug = target;
  let stop: StopInfo | undefined = o.waitForGdb ? { kind: 'attach', cpu: 0 } : undefined;
  let wallMs = 0;
  try {
    for (;;) {
      if (stop !== undefined) {
        const input = await link.next();
        if (input === 'connected') { connected(stub); continue; }
        if (input === 'closed') { target.clear(); stop = undefined; continue; }
        if (input.kind !== 'packet') { if (input.kind === 'bad-checksum') link.send('-'); continue; }
        if (!stub.noAck) link.send('+');
        const action = stub.handle(input.payload, stop);
        switch (action.kind) {
          case 'reply': link.sendPacket(action.payload); break;
          case 'resume':
            target.resume(action.step);
            stop = undefined;
            break;
          case 'detach':
            link.sendPacket('OK');
            link.drop();
            target.clear();
            stop = undefined;
            break;
          case 'kill':
            link.drop();
            return 'killed';
        }
        continue;
      }
      target.beginRun(YIELD_MS);
      const result = vm.run(o.maxInsns);
      wallMs += result.wallMs;
      if (target.stop !== undefined) {
        stop = target.stop;
        link.sendPacket(stub.stopReply(stop));
        continue;
      }
      if (!target.paused) {
        link.sendPacket(`W${(o.exitStatus(result) & 0xff).toString(16).padStart(2, '0')}`);
        return { ...result, wallMs };
      }
      // Paused only to look at gdb's input.
      await new Promise((resolve) => setImmediate(resolve));
      const pending = link.takeAttention();
      if (pending === 'connected') connected(stub);
      if (pending !== undefined) {
        stop = { kind: pending === 'connected' ? 'attach' : 'interrupt', cpu: vm.running.index };
        if (pending === 'interrupt') link.sendPacket(stub.stopReply(stop));
      }
    }
  } finally {
    vm.scheduler.debug = null;
  }
}

/** A new debugger: acknowledgements on again, and nothing of the last one's breakpoints. */
function connected(stub: GdbStub): void {
  stub.noAck = false;
  stub.target.clear();
}

/**
 * The connection to gdb: bytes in as packets, interrupts and connection events, packets out. At
 * most one gdb at a time; a second connection is closed at once.
 */
class Link {
  private socket: Socket | null = null;
  private readonly reader = new PacketReader();
  private readonly queue: (GdbInput | 'connected' | 'closed')[] = [];
  private wake: (() => void) | null = null;

  accept(socket: Socket): void {
    if (this.socket !== null) { socket.destroy(); return; }
    this.socket = socket;
    this.reader.reset();
    socket.setNoDelay(true);
    this.push('connected');
    socket.on('data', (bytes: Buffer) => { for (const i of this.reader.feed(bytes)) this.push(i); });
    socket.on('error', () => { /* a reset connection ends like a closed one */ });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.push('closed');
    });
  }

  private push(item: GdbInput | 'connected' | 'closed'): void {
    this.queue.push(item);
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** The next input, waiting for one. */
  async next(): Promise<GdbInput | 'connected' | 'closed'> {
    while (this.queue.length === 0) await new Promise<void>((resolve) => { this.wake = resolve; });
    return this.queue.shift()!;
  }

  /**
   * While the machine runs: whether gdb wants it stopped (a Ctrl-C, or a new connection, which
   * stops the machine like QEMU's). Anything else that came meanwhile stays queued.
   */
  takeAttention(): 'interrupt' | 'connected' | undefined {
    const i = this.queue.findIndex((x) => x === 'connected' || (typeof x === 'object' && x.kind === 'interrupt'));
    if (i < 0) {
      // A gdb that left while the machine ran needs nothing more.
      if (this.queue.length > 0 && this.queue.every((x) => x === 'closed')) this.queue.length = 0;
      return undefined;
    }
    const [x] = this.queue.splice(i, 1);
    return x === 'connected' ? 'connected' : 'interrupt';
  }

  send(text: string): void {
    this.socket?.write(text, 'latin1');
  }

  sendPacket(payload: string): void {
    this.socket?.write(framePacket(payload));
  }

  /** Ends this connection (detach, kill); the server stays open for the next. */
  drop(): void {
    const s = this.socket;
    this.socket = null;
    this.queue.length = 0;
    s?.end();
  }

  /** The run is over: gdb has its last packet; the socket goes once it is sent (or soon anyway). */
  close(): void {
    const s = this.socket;
    this.socket = null;
    if (s === null) return;
    s.end();
    setTimeout(() => s.destroy(), 1000).unref();
  }
}
