
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#include "unit.h"


/*
 * SipHash-2-4 against the reference test vectors of its authors (key
 * 00 01 .. 0f, message 00 01 .. of each length: the 64-bit result, as
 * the little-endian number of its eight bytes), then the property the
 * channel table relies on: another key, another hash.
 */


typedef struct {
    size_t     len;
    uint64_t   hash;
} test_vector_t;


static test_vector_t  test_vectors[] = {
    { 0,  0x726fdb47dd0e0e31ULL },
    { 1,  0x74f839c593dc67fdULL },
    { 2,  0x0d6c8009d9a94f5aULL },
    { 3,  0x85676696d7fb7e2dULL },
    { 8,  0x93f5f5799a932462ULL },
    { 15, 0xa129ca6149be45e5ULL },
};


int
main(void)
{
    u_char      msg[64];
    uint64_t    key[2], other[2], h;
    ngx_uint_t  i, same;

    for (i = 0; i < sizeof(msg); i++) {
        msg[i] = (u_char) i;
    }

    /* the key's bytes 00 .. 0f, read as two little-endian words */

    key[0] = 0x0706050403020100ULL;
    key[1] = 0x0f0e0d0c0b0a0908ULL;

    for (i = 0; i < sizeof(test_vectors) / sizeof(test_vectors[0]); i++) {
        h = ngx_ws_gateway_siphash(key, msg, test_vectors[i].len);
        unit_check(h == test_vectors[i].hash,
                   "length %d: %016llx, want %016llx",
                   (int) test_vectors[i].len, (unsigned long long) h,
                   (unsigned long long) test_vectors[i].hash);
    }

    /* every length up to 64 depends on every byte and on the key */

    other[0] = key[0] ^ 1;
    other[1] = key[1];
    same = 0;

    for (i = 1; i <= sizeof(msg); i++) {
        h = ngx_ws_gateway_siphash(key, msg, i);

        msg[i - 1] ^= 0x80;
        same += (ngx_ws_gateway_siphash(key, msg, i) == h);
        msg[i - 1] ^= 0x80;

        same += (ngx_ws_gateway_siphash(other, msg, i) == h);
        same += (ngx_ws_gateway_siphash(key, msg, i - 1) == h);
    }

    unit_check(same == 0, "%d of 192 changed inputs hash the same",
               (int) same);

    return unit_done("siphash");
}
