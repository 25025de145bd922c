/*
 * access-32: the access matrix with 32-bit paging (2 levels, 4 MiB pages)
 * and PAE paging, from the same source as the 64-bit image; see
 * ../access/access.c (arguments: levels=2 or levels=3 pick one mode).
 */
#include "../access/access.c"
