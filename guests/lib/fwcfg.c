/* fw_cfg traditional interface (see x86/fwcfg.h). */
#include "libcflat.h"
#include "x86/fwcfg.h"
#include "x86/io.h"

void fwcfg_select(uint16_t key)
{
	outw(key, FW_CFG_PORT_SEL);
}

void fwcfg_read_bytes(void *buf, unsigned n)
{
	uint8_t *b = buf;

	while (n--)
		*b++ = inb(FW_CFG_PORT_DATA);
}

uint64_t fwcfg_get_u(uint16_t key, unsigned bytes)
{
	uint64_t v = 0;

	fwcfg_select(key);
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)inb(FW_CFG_PORT_DATA) << (8 * i);
	return v;
}

unsigned fwcfg_get_nb_cpus(void)
{
	return (unsigned)fwcfg_get_u(FW_CFG_NB_CPUS, 2);
}
