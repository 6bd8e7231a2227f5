
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


/*
 * A reference UTF-8 validator, written differently from the one under
 * test: it decodes the code point bits seen so far and, after every
 * byte of a sequence, asks whether any completion of it can still be a
 * valid scalar value of that length (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF).  The first byte for which none
 * can is the first invalid byte.
 */


#include "fuzz.h"


static ngx_uint_t fuzz_utf8_possible(uint32_t bits, ngx_uint_t seen,
    ngx_uint_t len);


static ngx_uint_t
fuzz_utf8_possible(uint32_t bits, ngx_uint_t seen, ngx_uint_t len)
{
    uint32_t    lo, hi, min;
    ngx_uint_t  shift;

    /* the code points the missing continuation bytes can still give */

    shift = 6 * (len - seen);
    lo = bits << shift;
    hi = lo | ((1u << shift) - 1);

    min = (len == 2) ? 0x80 : (len == 3) ? 0x800 : 0x10000;

    if (hi < min || lo > 0x10ffff) {
        return 0;
    }

    if (len == 3 && lo >= 0xd800 && hi <= 0xdfff) {
        return 0;
    }

    return 1;
}


ssize_t
fuzz_utf8_reference(const u_char *s, size_t n, ngx_uint_t *complete)
{
    size_t      i;
    uint32_t    bits;
    ngx_uint_t  len, seen;

    len = 0;
    seen = 0;
    bits = 0;

    for (i = 0; i < n; i++) {

        if (seen == len) {

            /* a new character */

            if (s[i] < 0x80) {
                len = 0;
                seen = 0;
                continue;
            }

            if ((s[i] & 0xe0) == 0xc0) {
                len = 2;
                bits = s[i] & 0x1f;

            } else if ((s[i] & 0xf0) == 0xe0) {
                len = 3;
                bits = s[i] & 0x0f;

            } else if ((s[i] & 0xf8) == 0xf0) {
                len = 4;
                bits = s[i] & 0x07;

            } else {
                return i;
            }

            seen = 1;

        } else {

            if ((s[i] & 0xc0) != 0x80) {
                return i;
            }

            bits = bits << 6 | (s[i] & 0x3f);
            seen++;
        }

        if (!fuzz_utf8_possible(bits, seen, len)) {
            return i;
        }
    }

    *complete = (seen == len);

    return -1;
}
