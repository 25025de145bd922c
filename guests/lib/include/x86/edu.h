/*
 * QEMU's educational PCI device (hw/misc/edu.c, docs/specs/edu.txt): its
 * IDs, BAR0 registers and a DMA through its 4 KiB buffer, as the edu and
 * vtd port tests drive it. Portable (-m32).
 */
#ifndef X86_EDU_H
#define X86_EDU_H

#include <stdint.h>
#include "x86/processor.h"

#define EDU_VENDOR		0x1234
#define EDU_DEVICE		0x11e8

#define EDU_ID			0x00
#define EDU_ALIVE		0x04
#define EDU_FACTORIAL		0x08
#define EDU_STATUS		0x20
#define EDU_INTR_STATUS		0x24
#define EDU_INTR_RAISE		0x60
#define EDU_INTR_ACK		0x64
#define EDU_DMA_SRC		0x80
#define EDU_DMA_DST		0x88
#define EDU_DMA_COUNT		0x90
#define EDU_DMA_CMD		0x98
#define EDU_CMD_START		0x1
#define EDU_CMD_TO_RAM		0x2
#define EDU_CMD_IRQ		0x4
#define EDU_DMA_BUF		0x40000
#define EDU_DMA_IRQ		0x100

/*
 * One DMA of `count` bytes from `src` to `dst` (one of them in the device's
 * buffer at EDU_DMA_BUF, which EDU_CMD_TO_RAM says), waiting until the
 * device clears the start bit.
 */
static inline void edu_dma(volatile uint8_t *regs, uint64_t src, uint64_t dst, uint32_t count, uint32_t cmd)
{
	*(volatile uint64_t *)(regs + EDU_DMA_SRC) = src;
	*(volatile uint64_t *)(regs + EDU_DMA_DST) = dst;
	*(volatile uint64_t *)(regs + EDU_DMA_COUNT) = count;
	*(volatile uint32_t *)(regs + EDU_DMA_CMD) = cmd | EDU_CMD_START;
	while (*(volatile uint32_t *)(regs + EDU_DMA_CMD) & EDU_CMD_START)
		pause();
}

#endif
