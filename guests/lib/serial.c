/*
 * COM1 console: a 16550 UART at 0x3f8, programmed the way kvm-unit-tests
 * does it (115200 8N1, FIFO off, DTR|RTS), then written by polling LSR.THRE
 * before every byte. Polling instead of trusting a FIFO keeps the guest
 * correct on any 16550 model, at the price of one 'in' per byte.
 */
#include "libcflat.h"
#include "x86/io.h"

#define COM1		0x3f8
#define UART_TX		0	/* transmit holding register (DLAB=0) */
#define UART_DLL	0	/* divisor latch low (DLAB=1) */
#define UART_IER	1	/* interrupt enable (DLAB=0) */
#define UART_DLM	1	/* divisor latch high (DLAB=1) */
#define UART_FCR	2	/* FIFO control */
#define UART_LCR	3	/* line control */
#define UART_MCR	4	/* modem control */
#define UART_LSR	5	/* line status */

#define LCR_DLAB	0x80
#define LCR_8N1		0x03
#define MCR_DTR_RTS	0x03
#define LSR_THRE	0x20

static bool serial_ready;

static void serial_init(void)
{
	u8 lcr = inb(COM1 + UART_LCR);

	outb(lcr | LCR_DLAB, COM1 + UART_LCR);
	outb(1, COM1 + UART_DLL);	/* divisor 1 = 115200 baud */
	outb(0, COM1 + UART_DLM);
	lcr = inb(COM1 + UART_LCR);
	outb(lcr & ~LCR_DLAB, COM1 + UART_LCR);
	outb(0, COM1 + UART_IER);	/* polled, no interrupts */
	outb(LCR_8N1, COM1 + UART_LCR);
	outb(0, COM1 + UART_FCR);
	outb(MCR_DTR_RTS, COM1 + UART_MCR);
	serial_ready = true;
}

/*
 * Initialised on first use rather than only at boot, so that an exception
 * during early boot can still be reported.
 */
void putchar(int c)
{
	if (!serial_ready)
		serial_init();
	while (!(inb(COM1 + UART_LSR) & LSR_THRE))
		;
	outb((u8)c, COM1 + UART_TX);
}

int puts(const char *s)
{
	int n = 0;

	while (*s) {
		putchar(*s++);
		n++;
	}
	return n;
}
