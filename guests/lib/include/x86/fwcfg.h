/*
 * QEMU's fw_cfg through the traditional I/O interface (as kvm-unit-tests'
 * lib/x86/fwcfg.c uses it): a 16-bit OUT of the key to port 0x510 selects
 * an item and rewinds it, byte INs from 0x511 read it (little-endian
 * integers). Portable (-m32).
 */
#ifndef X86_FWCFG_H
#define X86_FWCFG_H

#include <stdint.h>

#define FW_CFG_PORT_SEL		0x510
#define FW_CFG_PORT_DATA	0x511

#define FW_CFG_SIGNATURE	0x00
#define FW_CFG_ID		0x01
#define FW_CFG_UUID		0x02
#define FW_CFG_RAM_SIZE		0x03
#define FW_CFG_NOGRAPHIC	0x04
#define FW_CFG_NB_CPUS		0x05
#define FW_CFG_MACHINE_ID	0x06
#define FW_CFG_MAX_CPUS		0x0f

void fwcfg_select(uint16_t key);
/* The next `n` bytes of the selected item. */
void fwcfg_read_bytes(void *buf, unsigned n);
/* Selects `key` and reads a little-endian integer of `bytes` bytes. */
uint64_t fwcfg_get_u(uint16_t key, unsigned bytes);
unsigned fwcfg_get_nb_cpus(void);

#endif
