import type { Bus } from './bus.js';

/**
 * The state a PC BIOS leaves behind when it hands over to a kernel, as QEMU's SeaBIOS leaves it
 * for `-kernel` (multiboot and PVH go through its option ROMs). mmulab has no firmware: a machine
 * starts with the devices at their power-on state and low memory zero, which is what our own
 * guests and the Linux PVH boots were written against. Guests run the way QEMU runs them (the
 * `mmulab qemu` front end, and through it `mmulab test --upstream`) get this state instead;
 * kvm-unit-tests' realmode.flat relies on it: its "sti inhibit" case halts with interrupts enabled
 * and is woken by the BIOS's 18.2 Hz timer tick, through the real-mode IVT.
 *
 * What is set, each value read back from SeaBIOS under QEMU 7.2 TCG (-nodefaults) by
 * test/machine/bios-state.test.ts's probe:
 *   8259 PICs   initialized (ICW1-ICW4) with vector bases 0x08 and 0x70, cascade on IR2, 8086
 *               mode; IMRs 0xB8 and 0x8E (IRQ0 timer, 1 keyboard, 2 cascade, 6 floppy, 8 RTC,
 *               12 mouse, 13 FPU, 14 disk unmasked); ELCR 0x00, 0x0C (IRQ10, 11 level: PCI)
 *   8254 PIT    channel 0 in mode 2, lobyte/hibyte, count 0 (65536): IRQ0 at 18.2 Hz
 *   IVT         every vector at F000:FF53 (an IRET), except 0x08 at F000:FEA5 (the timer
 *               handler, both at the IBM PC's fixed addresses), the other master IRQs 0x09-0x0F
 *               and the slave IRQs 0x70-0x77 at handlers that only send the EOI. SeaBIOS's BIOS
 *               services (INT 10h, 13h, 15h, ...) are not modeled: those vectors return at once.
 *   BDA         COM1 at 0x3F8, EBDA segment 0x9FC0, equipment word 0x0206 (x87, mouse, one serial
 *               port), 639 KiB of base memory, the keyboard buffer pointers, COM1's timeout, the
 *               101-key keyboard flag, and the tick count since midnight (0: the RTC starts at
 *               midnight, rtc.ts START_DATE)
 *   EBDA        its size (1 KiB) in its first byte
 * The timer handler counts ticks at 0x46C, wraps at midnight (0x1800B0 ticks, setting the
 * rollover byte 0x470), chains INT 1Ch and sends the EOI, as SeaBIOS's handle_08 does.
 */

/** Where the handlers live: the F segment (reserved in the e820 map; the MP table is at its start). */
const F_SEGMENT = 0xf000;
const TIMER_HANDLER = 0xfea5;
const IRET_HANDLER = 0xff53;
/** Two small EOI handlers in the F segment's free space below the timer handler's IBM address. */
const MASTER_EOI_HANDLER = 0xfe00;
const SLAVE_EOI_HANDLER = 0xfe10;

const TIMER_CODE = [
  0x50, // push ax
  0x1e, // push ds
  0x31, 0xc0, // xor ax, ax
  0x8e, 0xd8, // mov ds, ax
  0x83, 0x06, 0x6c, 0x04, 0x01, // add word [0x46c], 1
  0x83, 0x16, 0x6e, 0x04, 0x00, // adc word [0x46e], 0
  0x83, 0x3e, 0x6e, 0x04, 0x18, // cmp word [0x46e], 0x18   (0x1800b0 ticks = 24 hours)
  0x72, 0x1a, // jb chain
  0x77, 0x08, // ja midnight
  0x81, 0x3e, 0x6c, 0x04, 0xb0, 0x00, // cmp word [0x46c], 0xb0
  0x72, 0x10, // jb chain
  0xc7, 0x06, 0x6c, 0x04, 0x00, 0x00, // midnight: mov word [0x46c], 0
  0xc7, 0x06, 0x6e, 0x04, 0x00, 0x00, // mov word [0x46e], 0
  0xfe, 0x06, 0x70, 0x04, // inc byte [0x470]
  0xcd, 0x1c, // chain: int 0x1c (the user timer tick)
  0xb0, 0x20, // mov al, 0x20 (non-specific EOI)
  0xe6, 0x20, // out 0x20, al
  0x1f, // pop ds
  0x58, // pop ax
  0xcf, // iret
];
const MASTER_EOI_CODE = [0x50, 0xb0, 0x20, 0xe6, 0x20, 0x58, 0xcf]; // push ax; mov al,0x20; out 0x20,al; pop ax; iret
const SLAVE_EOI_CODE = [0x50, 0xb0, 0x20, 0xe6, 0xa0, 0xe6, 0x20, 0x58, 0xcf]; // ... out 0xa0,al; out 0x20,al ...

/** The port writes SeaBIOS's pic_setup, its IRQ enables and pit_setup make, in order. */
const PORT_WRITES: ReadonlyArray<readonly [port: number, value: number]> = [
  [0x20, 0x11], [0xa0, 0x11], // ICW1: edge, cascade, ICW4 follows
  [0x21, 0x08], [0xa1, 0x70], // ICW2: vector bases
  [0x21, 0x04], [0xa1, 0x02], // ICW3: slave on IR2, slave ID 2
  [0x21, 0x01], [0xa1, 0x01], // ICW4: 8086 mode
  [0x21, 0xb8], [0xa1, 0x8e], // OCW1: the IRQs SeaBIOS handles unmasked
  [0x4d0, 0x00], [0x4d1, 0x0c], // ELCR: PCI's IRQ10 and IRQ11 level-triggered
  [0x43, 0x34], [0x40, 0x00], [0x40, 0x00], // PIT channel 0: mode 2, lobyte/hibyte, count 65536
];

/** BDA words and bytes SeaBIOS sets that a kernel may read (offsets from 0x400). */
const BDA_WORDS: ReadonlyArray<readonly [offset: number, value: number]> = [
  [0x00, 0x3f8], // COM1 base
  [0x0e, 0x9fc0], // EBDA segment
  [0x10, 0x0206], // equipment list
  [0x13, 0x27f], // base memory in KiB
  [0x1a, 0x1e], [0x1c, 0x1e], // keyboard buffer head and tail
  [0x80, 0x1e], [0x82, 0x3e], // keyboard buffer start and end
];
const BDA_BYTES: ReadonlyArray<readonly [offset: number, value: number]> = [
  [0x7c, 0x0a], // COM1 timeout
  [0x96, 0x10], // 101/102-key keyboard installed
];

const EBDA = 0x9fc00;
const IRQ0_VECTOR = 0x08;
const IRQ8_VECTOR = 0x70;

/** Sets the devices (through their ports, as the firmware does) and low memory to the BIOS's handover state. */
export function applyBiosState(bus: Bus, writePhysical: (gpa: number, bytes: Uint8Array) => void): void {
  for (const [port, value] of PORT_WRITES) bus.ioWrite(port, 1, value);

  const ivt = new DataView(new ArrayBuffer(256 * 4));
  const vector = (n: number, offset: number): void => ivt.setUint32(n * 4, (F_SEGMENT << 16) | offset, true);
  for (let n = 0; n < 256; n++) vector(n, IRET_HANDLER);
  vector(IRQ0_VECTOR, TIMER_HANDLER);
  for (let irq = 1; irq < 8; irq++) vector(IRQ0_VECTOR + irq, MASTER_EOI_HANDLER);
  for (let irq = 0; irq < 8; irq++) vector(IRQ8_VECTOR + irq, SLAVE_EOI_HANDLER);
  writePhysical(0, new Uint8Array(ivt.buffer));

  const bda = new DataView(new ArrayBuffer(256));
  for (const [offset, value] of BDA_WORDS) bda.setUint16(offset, value, true);
  for (const [offset, value] of BDA_BYTES) bda.setUint8(offset, value);
  writePhysical(0x400, new Uint8Array(bda.buffer));
  writePhysical(EBDA, Uint8Array.of(1));

  const f = F_SEGMENT << 4;
  writePhysical(f + TIMER_HANDLER, Uint8Array.from(TIMER_CODE));
  writePhysical(f + IRET_HANDLER, Uint8Array.of(0xcf));
  writePhysical(f + MASTER_EOI_HANDLER, Uint8Array.from(MASTER_EOI_CODE));
  writePhysical(f + SLAVE_EOI_HANDLER, Uint8Array.from(SLAVE_EOI_CODE));
}
