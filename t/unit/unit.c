
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#include "unit.h"


static int unit_hexval(char c);


ngx_uint_t  unit_passed;
ngx_uint_t  unit_failed;


int
unit_done(const char *name)
{
    printf("%s: %lu passed, %lu failed\n", name,
           (unsigned long) unit_passed, (unsigned long) unit_failed);

    return unit_failed ? 1 : 0;
}


static int
unit_hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/* "81 7e 00 05": hex digits in pairs, spaces ignored; returns the length */

size_t
unit_hex(u_char *dst, const char *hex)
{
    int      hi, lo;
    size_t   n;

    for (n = 0; *hex; hex++) {

        if (*hex == ' ') {
            continue;
        }

        hi = unit_hexval(hex[0]);
        lo = (hi < 0) ? -1 : unit_hexval(hex[1]);

        if (hi < 0 || lo < 0) {
            printf("bad hex in test table: \"%s\"\n", hex);
            exit(2);
        }

        dst[n++] = (u_char) (hi << 4 | lo);
        hex++;
    }

    return n;
}


void
unit_hexdump(char *dst, u_char *data, size_t len)
{
    size_t  i;

    for (i = 0; i < len && i < 32; i++) {
        dst += sprintf(dst, "%s%02x", i ? " " : "", data[i]);
    }

    if (i < len) {
        sprintf(dst, " ...");
    }
}


/* splitmix64: reproducible pseudo-random numbers */

uint64_t
unit_random(uint64_t *seed)
{
    uint64_t  z;

    z = (*seed += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}
