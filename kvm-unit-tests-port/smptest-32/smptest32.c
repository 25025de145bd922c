/*
 * smptest built -m32 (upstream builds it for i386 too): the APs go from
 * real mode to 32-bit protected mode only (lib/i386/trampoline.S).
 */
#include "../smptest/smptest.c"
