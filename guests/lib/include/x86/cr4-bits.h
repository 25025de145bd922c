/*
 * The CR4 feature bits and the CPUID flags that make them settable, as
 * one report line per bit (lib/cr4-bits.c): absent -> #GP(0) and CR4
 * unchanged; present and safe to toggle here -> accepted, reads back,
 * cleared again; present but not safe -> SKIP (the feature guests cover
 * those); already set -> SKIP. The same rule holds in and outside IA-32e
 * mode, so cr-rules and cr-rules-32 both run it.
 */
#ifndef X86_CR4_BITS_H
#define X86_CR4_BITS_H

void report_cr4_feature_bits(void);

#endif
