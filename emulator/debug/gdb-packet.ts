/**
 * The framing of GDB's remote serial protocol (gdb/Remote-Protocol "Overview"): packets are
 * `$payload#cc` with cc the modulo-256 sum of the payload bytes in two hex digits; the receiver
 * answers `+` (or `-` to ask again) until both sides agree on no-ack mode (QStartNoAckMode). A
 * lone 0x03 outside a packet is the user's Ctrl-C. `}` escapes `#`, `$`, `}` and `*` by XOR 0x20
 * inside binary data (X packets, qXfer replies).
 *
 * Payloads are handled as latin1 strings: one character per byte, so binary data survives.
 */

export type GdbInput =
  | { readonly kind: 'packet'; readonly payload: string }
  | { readonly kind: 'interrupt' }
  | { readonly kind: 'bad-checksum' };

const enum ReadState { IDLE, BODY, SUM1, SUM2 }

/** Splits the byte stream from gdb into packets, interrupts and acks (acks are dropped). */
export class PacketReader {
  private state = ReadState.IDLE;
  private body: number[] = [];
  private sum = 0;
  private given = 0;

  /** A new connection starts outside any packet. */
  reset(): void {
    this.state = ReadState.IDLE;
  }

  /** Feeds bytes; returns what they completed, in order. */
  feed(bytes: Uint8Array): GdbInput[] {
    const out: GdbInput[] = [];
    for (const b of bytes) {
      switch (this.state) {
        case ReadState.IDLE:
          if (b === 0x24) { this.state = ReadState.BODY; this.body = []; this.sum = 0; }
          else if (b === 0x03) out.push({ kind: 'interrupt' });
          // '+' and '-' acknowledge our replies; we never resend, gdb's TCP link does not lose bytes.
          break;
        case ReadState.BODY:
          if (b === 0x23) this.state = ReadState.SUM1;
          else { this.body.push(b); this.sum = (this.sum + b) & 0xff; }
          break;
        case ReadState.SUM1:
          this.given = hexDigit(b) << 4;
          this.state = ReadState.SUM2;
          break;
        case ReadState.SUM2: {
          this.given |= hexDigit(b);
          this.state = ReadState.IDLE;
          out.push(this.given === this.sum ? { kind: 'packet', payload: String.fromCharCode(...this.body) } : { kind: 'bad-checksum' });
          break;
        }
      }
    }
    return out;
  }
}

function hexDigit(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10;
  return 0x100; // never matches a checksum
}

/** `$payload#cc`, with the characters the framing reserves escaped. */
export function framePacket(payload: string): Buffer {
  let body = '';
  let sum = 0;
  for (let i = 0; i < payload.length; i++) {
    let c = payload.charCodeAt(i);
    if (c === 0x23 || c === 0x24 || c === 0x7d || c === 0x2a) {
      body += '}';
      sum += 0x7d;
      c ^= 0x20;
    }
    body += String.fromCharCode(c);
    sum += c;
  }
  return Buffer.from(`$${body}#${(sum & 0xff).toString(16).padStart(2, '0')}`, 'latin1');
}

/** Undoes the `}` escaping of binary data (the body of an X packet). */
export function unescapeBinary(data: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const c = data.charCodeAt(i);
    if (c === 0x7d && i + 1 < data.length) out.push(data.charCodeAt(++i) ^ 0x20);
    else out.push(c & 0xff);
  }
  return Uint8Array.from(out);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Bytes from an even-length hex string, or undefined if it is not one. */
export function fromHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return undefined;
  return Uint8Array.from(Buffer.from(text, 'hex'));
}

/** A hex number as gdb writes addresses and lengths (up to 64 bits), or undefined. */
export function parseHexBig(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F]{1,16}$/.test(text)) return undefined;
  return BigInt(`0x${text}`);
}

/** ASCII text as hex (qRcmd output, O packets). */
export function textToHex(text: string): string {
  return Buffer.from(text, 'utf8').toString('hex');
}
