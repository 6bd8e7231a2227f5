
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


/*
 * libFuzzer target: ngx_ws_gateway_parse_close() on any payload,
 * against a reference built from RFC 6455 7.4 and the reference UTF-8
 * validator.
 */


#include "fuzz.h"


static ngx_uint_t fuzz_close_expect(const u_char *s, size_t n);


static ngx_uint_t
fuzz_close_expect(const u_char *s, size_t n)
{
    ngx_uint_t  i, code, found, complete;

    static const ngx_uint_t  defined[] = {
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
        1014
    };

    if (n == 0) {
        return 0;
    }

    if (n == 1) {
        return 1002;
    }

    code = (ngx_uint_t) s[0] * 256 + s[1];

    if (code < 3000 || code > 4999) {
        found = 0;

        for (i = 0; i < sizeof(defined) / sizeof(defined[0]); i++) {
            found |= (defined[i] == code);
        }

        if (!found) {
            return 1002;
        }
    }

    complete = 0;

    if (fuzz_utf8_reference(s + 2, n - 2, &complete) >= 0 || !complete) {
        return 1007;
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *copy;
    ngx_str_t    reason;
    ngx_uint_t   rc, code;

    copy = malloc(size + 1);
    memcpy(copy, data, size);

    code = 99999;
    rc = ngx_ws_gateway_parse_close(copy, size, &code, &reason);

    fuzz_assert(rc == fuzz_close_expect(data, size));

    if (size == 0) {
        fuzz_assert(code == 1005 && reason.len == 0);

    } else if (size == 1) {
        fuzz_assert(reason.len == 0);

    } else {
        fuzz_assert(code == (ngx_uint_t) data[0] * 256 + data[1]);
        fuzz_assert(reason.data == copy + 2 && reason.len == size - 2);
    }

    free(copy);

    return 0;
}
