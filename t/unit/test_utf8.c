
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


/*
 * ngx_ws_gateway_utf8_check(): each row is fed whole, byte by byte and
 * split at every position; it must fail exactly at the expected byte,
 * whatever the split, or end complete (or incomplete) as expected.
 */


#include "unit.h"


#define VALID        -1
#define INCOMPLETE   -2


typedef struct {
    const char  *name;
    const char  *hex;
    ngx_int_t    expect;      /* VALID, INCOMPLETE or the bad byte */
} test_utf8_t;


static void test_table(void);
static ngx_int_t test_feed(u_char *data, size_t len, size_t *splits,
    ngx_uint_t nsplits, ngx_uint_t *state);
static void test_ascii_fast_path(void);
static void test_sticky(void);


static test_utf8_t  test_utf8_table[] = {

    /* valid */

    { "empty", "", VALID },
    { "ascii", "48 65 6c 6c 6f 2c 20 77 6f 72 6c 64 21", VALID },
    { "nul and del", "00 7f", VALID },
    { "U+0080", "c2 80", VALID },
    { "U+00E9", "c3 a9", VALID },
    { "U+07FF", "df bf", VALID },
    { "U+0800", "e0 a0 80", VALID },
    { "U+20AC", "e2 82 ac", VALID },
    { "U+D7FF", "ed 9f bf", VALID },
    { "U+E000", "ee 80 80", VALID },
    { "U+FFFD", "ef bf bd", VALID },
    { "U+FFFF", "ef bf bf", VALID },
    { "U+10000", "f0 90 80 80", VALID },
    { "U+1F600", "f0 9f 98 80", VALID },
    { "U+FFFFF", "f3 bf bf bf", VALID },
    { "U+100000", "f4 80 80 80", VALID },
    { "U+10FFFF", "f4 8f bf bf", VALID },
    { "kosme", "ce ba e1 bd b9 cf 83 ce bc ce b5", VALID },
    { "mixed", "48 c3 a9 e2 82 ac f0 9f 98 80 21 c2 80 41", VALID },

    /* overlong forms */

    { "overlong NUL, 2 bytes", "c0 80", 0 },
    { "overlong 2 bytes", "c1 bf", 0 },
    { "overlong NUL, 3 bytes", "e0 80 80", 1 },
    { "overlong U+07FF, 3 bytes", "e0 9f bf", 1 },
    { "overlong NUL, 4 bytes", "f0 80 80 80", 1 },
    { "overlong U+FFFF, 4 bytes", "f0 8f bf bf", 1 },
    { "overlong after ascii", "41 42 e0 80 80", 3 },

    /* surrogates */

    { "U+D800", "ed a0 80", 1 },
    { "U+DBFF", "ed af bf", 1 },
    { "U+DC00", "ed b0 80", 1 },
    { "U+DFFF", "ed bf bf", 1 },
    { "surrogate pair", "ed a0 bd ed b2 a9", 1 },

    /* above U+10FFFF and bytes never allowed */

    { "U+110000", "f4 90 80 80", 1 },
    { "U+13FFFF", "f4 bf bf bf", 1 },
    { "f5", "f5 80 80 80", 0 },
    { "f7", "f7 bf bf bf", 0 },
    { "f8", "f8 88 80 80 80", 0 },
    { "fc", "fc 84 80 80 80 80", 0 },
    { "fe", "fe", 0 },
    { "ff", "41 ff", 1 },

    /* continuation bytes out of place */

    { "lone 80", "80", 0 },
    { "lone bf", "bf", 0 },
    { "continuation after ascii", "41 80", 1 },
    { "continuation after a character", "c3 a9 a9", 2 },
    { "ascii inside 2 bytes", "c2 41", 1 },
    { "ascii inside 3 bytes", "e2 82 41", 2 },
    { "ascii inside 4 bytes", "f0 9f 98 41", 3 },
    { "lead inside 3 bytes", "e2 c3 a9", 1 },
    { "lead inside 4 bytes", "f0 9f f0 9f 98 80", 2 },

    /* truncated at the end of the message */

    { "truncated 2 bytes", "c3", INCOMPLETE },
    { "truncated 3 bytes, 1", "e2", INCOMPLETE },
    { "truncated 3 bytes, 2", "e2 82", INCOMPLETE },
    { "truncated 4 bytes, 1", "f0", INCOMPLETE },
    { "truncated 4 bytes, 2", "f0 9f", INCOMPLETE },
    { "truncated 4 bytes, 3", "f0 9f 98", INCOMPLETE },
    { "truncated after text", "48 65 6c 6c 6f c3 a9 f4 8f bf", INCOMPLETE },

    /* the Autobahn 6.4 kind: valid text, then a failure mid-character */

    { "kosme then U+110000",
      "ce ba e1 bd b9 cf 83 ce bc ce b5 f4 90 80 80 65 64 69 74 65 64",
      12 },
    { "kosme then a surrogate",
      "ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64",
      12 },
    { "long ascii then f5",
      "30 31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36 37 38 39 "
      "30 31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36 37 38 39 f5",
      40 },
    { "long ascii then an overlong",
      "30 31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36 37 38 39 "
      "30 31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36 37 e0 9f",
      39 },

    { NULL, NULL, 0 }
};


int
main(void)
{
    test_table();
    test_ascii_fast_path();
    test_sticky();

    return unit_done("utf8");
}


/*
 * Feeds the chunks; returns the index of the byte the check failed at
 * (found by refeeding the failing chunk a byte at a time) or VALID.
 */

static ngx_int_t
test_feed(u_char *data, size_t len, size_t *splits, ngx_uint_t nsplits,
    ngx_uint_t *state)
{
    u_char      *buf;
    size_t       from, to, i;
    ngx_int_t    rc;
    ngx_uint_t   k, before;

    *state = NGX_WS_GATEWAY_UTF8_ACCEPT;
    from = 0;

    for (k = 0; k <= nsplits; k++) {

        to = (k < nsplits) ? splits[k] : len;

        /* a buffer of its own for every chunk, for AddressSanitizer */

        buf = malloc(to - from + 1);
        ngx_memcpy(buf, data + from, to - from);

        before = *state;
        rc = ngx_ws_gateway_utf8_check(state, buf, to - from);

        if (rc == NGX_ERROR) {

            /* where exactly: the same chunk, a byte at a time */

            *state = before;

            for (i = 0; i < to - from; i++) {
                if (ngx_ws_gateway_utf8_check(state, buf + i, 1)
                    != NGX_OK)
                {
                    free(buf);
                    return from + i;
                }
            }

            free(buf);
            return -100;
        }

        free(buf);

        if (rc != NGX_OK) {
            return -101;
        }

        from = to;
    }

    return VALID;
}


static void
test_table(void)
{
    u_char        data[256];
    size_t        len, i, splits[256];
    ngx_int_t     got;
    ngx_uint_t    state, bad;
    test_utf8_t  *t;

    for (t = test_utf8_table; t->name; t++) {

        len = unit_hex(data, t->hex);

        /* whole */

        got = test_feed(data, len, NULL, 0, &state);

        if (got == VALID && !ngx_ws_gateway_utf8_complete(state)) {
            got = INCOMPLETE;
        }

        unit_check(got == t->expect, "\"%s\" whole: %ld, expected %ld",
                   t->name, (long) got, (long) t->expect);

        /* byte by byte: the failing call is the one with the bad byte */

        for (i = 0; i + 1 < len; i++) {
            splits[i] = i + 1;
        }

        got = test_feed(data, len, splits, len ? len - 1 : 0, &state);

        if (got == VALID && !ngx_ws_gateway_utf8_complete(state)) {
            got = INCOMPLETE;
        }

        unit_check(got == t->expect, "\"%s\" byte by byte: %ld, expected %ld",
                   t->name, (long) got, (long) t->expect);

        /* split at every position */

        bad = 0;

        for (i = 0; i <= len; i++) {
            splits[0] = i;
            got = test_feed(data, len, splits, 1, &state);

            if (got == VALID && !ngx_ws_gateway_utf8_complete(state)) {
                got = INCOMPLETE;
            }

            if (got != t->expect) {
                unit_check(0, "\"%s\" split at %lu: %ld, expected %ld",
                           t->name, (unsigned long) i, (long) got,
                           (long) t->expect);
                bad = 1;
                break;
            }
        }

        if (!bad) {
            unit_pass();
        }
    }
}


/*
 * The word-at-a-time ASCII path: a bad byte, or a valid 2-byte
 * character, at every position of ASCII runs at every alignment.
 */

static void
test_ascii_fast_path(void)
{
    u_char      *buf, *data;
    size_t       len, align, pos, size;
    ngx_int_t    rc, rc2;
    ngx_uint_t   state, state2, bad;

    size = 20000;
    buf = malloc(size + 16);

    for (align = 0; align < 8; align++) {
        for (len = 1; len <= 80; len++) {

            bad = 0;
            data = ngx_align_ptr(buf, 8) + align;

            for (pos = 0; pos < len; pos++) {
                ngx_memset(data, 'x', len);

                /* a bad byte at pos: fails, and the prefix is valid */

                data[pos] = (pos & 1) ? 0x80 : 0xff;

                state = NGX_WS_GATEWAY_UTF8_ACCEPT;
                rc = ngx_ws_gateway_utf8_check(&state, data, len);

                state2 = NGX_WS_GATEWAY_UTF8_ACCEPT;
                rc2 = ngx_ws_gateway_utf8_check(&state2, data, pos);

                bad |= (rc != NGX_ERROR || rc2 != NGX_OK
                        || !ngx_ws_gateway_utf8_complete(state2));

                /* a valid U+00E9 at pos */

                if (pos + 1 < len) {
                    data[pos] = 0xc3;
                    data[pos + 1] = 0xa9;

                    state = NGX_WS_GATEWAY_UTF8_ACCEPT;
                    rc = ngx_ws_gateway_utf8_check(&state, data, len);

                    bad |= (rc != NGX_OK
                            || !ngx_ws_gateway_utf8_complete(state));
                }
            }

            unit_check(!bad, "ascii run of %lu at alignment %lu",
                       (unsigned long) len, (unsigned long) align);
        }
    }

    /* a long run, with the bad byte last, then all valid */

    ngx_memset(buf, 'y', size);
    buf[size - 1] = 0xc0;

    state = NGX_WS_GATEWAY_UTF8_ACCEPT;
    rc = ngx_ws_gateway_utf8_check(&state, buf, size);
    unit_check(rc == NGX_ERROR, "long ascii run, bad last byte: %ld",
               (long) rc);

    buf[size - 1] = 'y';

    state = NGX_WS_GATEWAY_UTF8_ACCEPT;
    rc = ngx_ws_gateway_utf8_check(&state, buf + 3, size - 3);
    unit_check(rc == NGX_OK && ngx_ws_gateway_utf8_complete(state),
               "long ascii run: %ld", (long) rc);

    free(buf);
}


static void
test_sticky(void)
{
    ngx_int_t   rc;
    ngx_uint_t  state;

    state = NGX_WS_GATEWAY_UTF8_ACCEPT;

    rc = ngx_ws_gateway_utf8_check(&state, (u_char *) "a\xc0" "a", 3);
    unit_check(rc == NGX_ERROR, "c0: %ld", (long) rc);

    rc = ngx_ws_gateway_utf8_check(&state, (u_char *) "abc", 3);
    unit_check(rc == NGX_ERROR, "valid text after a failure: %ld", (long) rc);

    rc = ngx_ws_gateway_utf8_check(&state, (u_char *) "\xc3\xa9", 2);
    unit_check(rc == NGX_ERROR, "a character after a failure: %ld",
               (long) rc);

    rc = ngx_ws_gateway_utf8_check(&state, (u_char *) "", 0);
    unit_check(rc == NGX_OK && !ngx_ws_gateway_utf8_complete(state),
               "nothing after a failure: %ld, complete %d", (long) rc,
               (int) ngx_ws_gateway_utf8_complete(state));
}
