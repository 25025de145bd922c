/* guests/smp built -m32, on 32-bit paging (see the comment there). */
#include "../smp/smp.c"
