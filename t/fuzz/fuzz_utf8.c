
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


/*
 * libFuzzer target: ngx_ws_gateway_utf8_check() against the reference
 * validator of ref_utf8.c.  Input: a byte seeding the chunk sizes,
 * then the text.  Checked: the verdict and completeness of a whole-text
 * call; with the text in chunks, that the call holding the first
 * invalid byte is the one that fails; that the text up to that byte is
 * accepted, and that byte alone then refused.
 */


#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *copy;
    size_t       len, from, n;
    ssize_t      bad;
    uint64_t     seed;
    ngx_int_t    rc;
    ngx_uint_t   state, complete;

    if (size < 1) {
        return 0;
    }

    seed = data[0] | 1;
    data++;
    len = size - 1;

    complete = 0;
    bad = fuzz_utf8_reference(data, len, &complete);

    /* whole */

    copy = malloc(len + 1);
    memcpy(copy, data, len);

    state = NGX_WS_GATEWAY_UTF8_ACCEPT;
    rc = ngx_ws_gateway_utf8_check(&state, copy, len);

    if (bad >= 0) {
        fuzz_assert(rc == NGX_ERROR);

    } else {
        fuzz_assert(rc == NGX_OK);
        fuzz_assert(ngx_ws_gateway_utf8_complete(state) == complete);
    }

    free(copy);

    /* in chunks, each in a buffer of its own size */

    state = NGX_WS_GATEWAY_UTF8_ACCEPT;

    for (from = 0; from < len; from += n) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        n = 1 + (seed >> 33) % ((seed >> 62) ? 7 : 64);

        if (n > len - from) {
            n = len - from;
        }

        copy = malloc(n);
        memcpy(copy, data + from, n);
        rc = ngx_ws_gateway_utf8_check(&state, copy, n);
        free(copy);

        if (bad >= 0 && (size_t) bad < from + n) {
            fuzz_assert(rc == NGX_ERROR);

            /* and it stays failed */

            rc = ngx_ws_gateway_utf8_check(&state, (u_char *) "a", 1);
            fuzz_assert(rc == NGX_ERROR);
            break;
        }

        fuzz_assert(rc == NGX_OK);
    }

    if (bad < 0) {
        fuzz_assert(ngx_ws_gateway_utf8_complete(state) == complete);
        return 0;
    }

    /* the prefix is valid, the first invalid byte is refused alone */

    copy = malloc(bad + 1);
    memcpy(copy, data, bad + 1);

    state = NGX_WS_GATEWAY_UTF8_ACCEPT;
    fuzz_assert(ngx_ws_gateway_utf8_check(&state, copy, bad) == NGX_OK);
    fuzz_assert(ngx_ws_gateway_utf8_check(&state, copy + bad, 1)
                == NGX_ERROR);

    free(copy);

    return 0;
}
