
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


/*
 * libFuzzer target: ngx_ws_gateway_parse_frame() and
 * ngx_ws_gateway_parse_payload() over a stream cut into chunks.
 *
 * Input: 5 bytes of setup, then the stream.
 *   [0]     bit 0: frames from a server (client = 0), bit 1: RSV1
 *           negotiated, bit 2: RSV2 and RSV3 negotiated
 *   [1]     max_frame (0: none)
 *   [2]     max_message / 2 (0: none)
 *   [3..4]  the seed of the chunk sizes
 *
 * Every chunk is copied into a buffer of exactly its size, so that any
 * read past b->last is caught by AddressSanitizer.  Each header the
 * parser returns, and each error, is compared with a reference decoder
 * that reads the whole remaining stream at once; unmasked payload is
 * compared with the stream XOR the key; the parser's message state with
 * a model of it; b->pos must only move forward, within the buffer.
 */


#include "fuzz.h"


#define FUZZ_AGAIN   0
#define FUZZ_OK      1
#define FUZZ_ERROR   2


typedef struct {
    /* setup */
    unsigned      client:1;
    ngx_uint_t    rsv_allowed;
    uint64_t      max_frame;
    uint64_t      max_message;

    /* the model of the message state */
    ngx_uint_t    open;
    ngx_uint_t    open_rsv;
    uint64_t      size;

    /* the frame decoded */
    ngx_uint_t    code;
    ngx_uint_t    opcode;
    ngx_uint_t    rsv;
    ngx_uint_t    fin;
    ngx_uint_t    masked;
    uint64_t      length;
    size_t        header;
    u_char        mask[4];
} fuzz_ref_t;


static ngx_uint_t fuzz_ref_header(fuzz_ref_t *r, const u_char *s, size_t n);
static size_t fuzz_chunk(uint64_t *seed);


/* the reference: a plain decoder of a whole header, in RFC order */

static ngx_uint_t
fuzz_ref_header(fuzz_ref_t *r, const u_char *s, size_t n)
{
    uint64_t  len, before;
    size_t    i;

    if (n < 1) {
        return FUZZ_AGAIN;
    }

    r->fin = s[0] >> 7;
    r->rsv = s[0] & 0x70;
    r->opcode = s[0] & 0x0f;

    if (r->rsv & ~r->rsv_allowed) {
        goto protocol;
    }

    if (r->opcode == 0) {
        if (!r->open || (r->rsv & 0x40)) {
            goto protocol;
        }

    } else if (r->opcode == 1 || r->opcode == 2) {
        if (r->open) {
            goto protocol;
        }

    } else if (r->opcode >= 8 && r->opcode <= 10) {
        if (!r->fin || (r->rsv & 0x40)) {
            goto protocol;
        }

    } else {
        goto protocol;
    }

    if (n < 2) {
        return FUZZ_AGAIN;
    }

    r->masked = s[1] >> 7;

    if (r->masked != r->client) {
        goto protocol;
    }

    len = s[1] & 0x7f;

    if (r->opcode >= 8 && len > 125) {
        goto protocol;
    }

    r->header = 2;

    if (len == 126) {
        if (n < 4) {
            return FUZZ_AGAIN;
        }

        len = (uint64_t) s[2] << 8 | s[3];
        r->header = 4;

    } else if (len == 127) {
        if (n < 3) {
            return FUZZ_AGAIN;
        }

        if (s[2] >= 0x80) {
            goto protocol;
        }

        if (n < 10) {
            return FUZZ_AGAIN;
        }

        len = 0;

        for (i = 2; i < 10; i++) {
            len = len * 256 + s[i];
        }

        r->header = 10;
    }

    r->length = len;

    /* control frames are bounded by the 125 bytes above alone */

    if (r->max_frame && r->opcode < 8 && len > r->max_frame) {
        goto too_big;
    }

    if (r->max_message && r->opcode < 8) {
        before = (r->opcode == 0) ? r->size : 0;

        /* both below 2^63: no overflow */

        if (before + len > r->max_message) {
            goto too_big;
        }
    }

    if (r->masked) {
        if (n < r->header + 4) {
            return FUZZ_AGAIN;
        }

        memcpy(r->mask, s + r->header, 4);
        r->header += 4;
    }

    return FUZZ_OK;

protocol:

    r->code = 1002;
    return FUZZ_ERROR;

too_big:

    r->code = 1009;
    return FUZZ_ERROR;
}


static size_t
fuzz_chunk(uint64_t *seed)
{
    *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;

    switch ((*seed >> 60) & 3) {
    case 0:
        return 1;
    case 1:
        return 1 + (*seed >> 33) % 4;
    case 2:
        return 1 + (*seed >> 33) % 16;
    default:
        return 1 + (*seed >> 33) % 300;
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                   *buf, *pos, *start;
    size_t                    n, len, from, frame, payload, i;
    uint64_t                  seed, taken;
    ngx_int_t                 rc;
    ngx_str_t                 chunk;
    ngx_buf_t                 b;
    fuzz_ref_t                r;
    ngx_uint_t                in_payload, ref, done;
    const u_char             *s;
    ngx_ws_gateway_parser_t   p;

    if (size < 5) {
        return 0;
    }

    ngx_memzero(&p, sizeof(ngx_ws_gateway_parser_t));
    ngx_memzero(&r, sizeof(fuzz_ref_t));

    p.client = (data[0] & 1) ? 0 : 1;
    p.rsv_allowed = ((data[0] & 2) ? NGX_WS_GATEWAY_RSV1 : 0)
                    | ((data[0] & 4) ? (NGX_WS_GATEWAY_RSV2
                                        |NGX_WS_GATEWAY_RSV3) : 0);
    p.max_frame = data[1];
    p.max_message = (uint64_t) data[2] * 2;

    r.client = p.client;
    r.rsv_allowed = p.rsv_allowed;
    r.max_frame = p.max_frame;
    r.max_message = p.max_message;

    seed = (uint64_t) data[3] << 8 | data[4];

    s = data + 5;
    len = size - 5;

    from = 0;          /* the stream offset of the next chunk */
    frame = 0;         /* where the frame being parsed starts */
    payload = 0;       /* where its payload starts */
    taken = 0;         /* payload bytes taken */
    in_payload = 0;
    done = 0;

    while (from < len && !done) {

        n = fuzz_chunk(&seed);

        if (n > len - from) {
            n = len - from;
        }

        buf = malloc(n);
        memcpy(buf, s + from, n);

        ngx_memzero(&b, sizeof(ngx_buf_t));
        b.start = buf;
        b.pos = buf;
        b.last = buf + n;
        b.end = b.last;

        for ( ;; ) {

            if (!in_payload) {
                pos = b.pos;
                rc = ngx_ws_gateway_parse_frame(&p, &b);

                fuzz_assert(b.pos >= pos && b.pos <= b.last);

                if (rc == NGX_AGAIN) {
                    fuzz_assert(b.pos == b.last);
                    break;
                }

                ref = fuzz_ref_header(&r, s + frame, len - frame);

                if (rc == NGX_ERROR) {
                    fuzz_assert(ref == FUZZ_ERROR);
                    fuzz_assert(p.close_code == r.code);
                    fuzz_assert(p.error != NULL);
                    done = 1;
                    break;
                }

                fuzz_assert(rc == NGX_OK);
                fuzz_assert(ref == FUZZ_OK);

                /* the header ends where the reference says */

                fuzz_assert(from + (b.pos - buf) == frame + r.header);

                fuzz_assert(p.opcode == r.opcode);
                fuzz_assert(p.fin == r.fin);
                fuzz_assert(p.rsv == r.rsv);
                fuzz_assert(p.masked == r.masked);
                fuzz_assert(p.length == r.length);
                fuzz_assert(p.left == p.length);
                fuzz_assert(p.length < 0x8000000000000000ULL);
                fuzz_assert(p.state == 0);

                if (p.masked) {
                    fuzz_assert(memcmp(p.mask, r.mask, 4) == 0);
                }

                if (ngx_ws_gateway_op_is_control(p.opcode)) {
                    fuzz_assert(p.length <= NGX_WS_GATEWAY_CONTROL_MAX);
                    fuzz_assert(p.fin);

                } else {
                    if (p.opcode != NGX_WS_GATEWAY_OP_CONT) {
                        r.open = p.opcode;
                        r.open_rsv = p.rsv;
                        r.size = 0;
                    }

                    r.size += p.length;
                }

                fuzz_assert(p.message_opcode == r.open);
                fuzz_assert(p.message_rsv == r.open_rsv);
                fuzz_assert(p.message_size == r.size);
                fuzz_assert(p.max_message == 0 || p.message_size
                                                  <= p.max_message);

                in_payload = 1;
                payload = frame + r.header;
                taken = 0;
            }

            start = b.pos;
            rc = ngx_ws_gateway_parse_payload(&p, &b, &chunk);

            fuzz_assert(chunk.data == start);
            fuzz_assert(b.pos == start + chunk.len);
            fuzz_assert(b.pos <= b.last);
            fuzz_assert(taken + chunk.len + p.left == p.length);

            for (i = 0; i < chunk.len; i++) {
                fuzz_assert(chunk.data[i]
                            == (s[payload + taken + i]
                                ^ (p.masked ? r.mask[(taken + i) & 3] : 0)));
            }

            taken += chunk.len;

            if (rc == NGX_AGAIN) {
                fuzz_assert(b.pos == b.last && p.left > 0);
                break;
            }

            fuzz_assert(rc == NGX_OK && p.left == 0);

            if (p.fin && !ngx_ws_gateway_op_is_control(p.opcode)) {
                r.open = 0;
                r.open_rsv = 0;
                r.size = 0;
            }

            fuzz_assert(p.message_opcode == r.open);
            fuzz_assert(p.message_size == r.size);

            in_payload = 0;
            frame = payload + taken;
        }

        free(buf);
        from += n;
    }

    /* the stream ended inside a header: the reference must agree */

    if (!done && !in_payload) {
        fuzz_assert(fuzz_ref_header(&r, s + frame, len - frame)
                    == FUZZ_AGAIN);
    }

    return 0;
}
