
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


/*
 * libFuzzer target: ngx_ws_gateway_record_parse(),
 * ngx_ws_gateway_record_body() and ngx_ws_gateway_record_field() over a
 * stream of link records cut into chunks.
 *
 * Input: 4 bytes of setup, then the stream.
 *   [0]     bit 0: commands (records a backend sends), else events
 *   [1]     max_record: NGX_WS_GATEWAY_REC_HEAD_MAX + 8 * [1], 255: 2^32-1
 *   [2..3]  the seed of the chunk sizes
 *
 * Every chunk is copied into a buffer of exactly its size, so that any
 * read past b->last is caught by AddressSanitizer.  Each head the parser
 * returns, and each error with its ERROR code, is compared with a
 * reference that reads the whole remaining stream at once; the body's
 * chunks must be the stream's bytes and p->left must account for every
 * byte; the fields of HELLO and OPEN are walked; after an error the
 * parser must keep returning NGX_ERROR without taking a byte.
 */


#include "fuzz.h"
#include <ngx_ws_gateway_record.h>


#define FUZZ_AGAIN   0
#define FUZZ_OK      1
#define FUZZ_ERROR   2


typedef struct {
    unsigned      commands:1;
    uint32_t      max_record;

    /* the record decoded */
    ngx_uint_t    code;          /* the ERROR code on FUZZ_ERROR */
    uint32_t      length;
    ngx_uint_t    type;
    ngx_uint_t    flags;
    size_t        head;          /* bytes before the rest of the body */
} fuzz_ref_t;


static ngx_uint_t fuzz_ref_head(fuzz_ref_t *r, const u_char *s, size_t n);
static size_t fuzz_chunk(uint64_t *seed);


/* the reference: the rules of docs/protocol.md, over a whole head */

static ngx_uint_t
fuzz_ref_head(fuzz_ref_t *r, const u_char *s, size_t n)
{
    size_t      fixed, body, rest, k, min, max;
    uint64_t    session;
    ngx_uint_t  flags, event, has_session, code, i;

    if (n < 4) {
        return FUZZ_AGAIN;
    }

    r->length = (uint32_t) s[0] << 24 | s[1] << 16 | s[2] << 8 | s[3];

    if (r->length < 2) {
        goto malformed;
    }

    if (r->length > r->max_record) {
        r->code = 3;
        return FUZZ_ERROR;
    }

    if (n < 5) {
        return FUZZ_AGAIN;
    }

    r->type = s[4];
    body = r->length - 2;
    min = 0;
    max = (size_t) -1;
    flags = 0;
    event = 2;                    /* both ways */
    has_session = 1;

    switch (r->type) {
    case 0x01: fixed = 10; has_session = 0; break;
    case 0x02:
    case 0x03: fixed = 8; max = 0; has_session = 0; break;
    case 0x04: fixed = 2; max = 1024; has_session = 0; break;
    case 0x10: fixed = 8; flags = 3; event = 1; break;
    case 0x11: fixed = 8; flags = 1; event = 1; break;
    case 0x12: fixed = 11; max = 123; event = 1; break;
    case 0x13: fixed = 9; max = 0; event = 1; break;
    case 0x14: fixed = 10; max = 0; event = 1; break;
    case 0x15: fixed = 12; max = 0; event = 1; break;
    case 0x20: fixed = 8; flags = 1; event = 0; break;
    case 0x21: fixed = 10; max = 123; event = 0; break;
    case 0x22: fixed = 8; max = 0; event = 0; break;
    case 0x23: fixed = 10; max = 1024; event = 0; break;
    case 0x30:
    case 0x31: fixed = 8; min = 1; max = 255; event = 0; break;
    case 0x32: fixed = 2; flags = 1; event = 0; has_session = 0; break;
    case 0x33: fixed = 0; flags = 1; event = 0; has_session = 0; break;
    default:
        r->code = 4;
        return FUZZ_ERROR;
    }

    if (event != 2 && event == r->commands) {
        r->code = 4;
        return FUZZ_ERROR;
    }

    if (body < fixed + min || body - fixed > max) {
        goto malformed;
    }

    if (n < 6) {
        return FUZZ_AGAIN;
    }

    r->flags = s[5];

    if (r->flags & ~flags) {
        goto malformed;
    }

    r->head = 6 + fixed;

    if (n < r->head) {
        return FUZZ_AGAIN;
    }

    s += 6;

    if (has_session) {
        session = 0;

        for (i = 0; i < 8; i++) {
            session = session << 8 | s[i];
        }

        if (session == 0) {
            goto malformed;
        }
    }

    rest = body - fixed;

    switch (r->type) {

    case 0x01:
        if (r->commands
            && ((uint32_t) s[6] << 24 | s[7] << 16 | s[8] << 8 | s[9]) < 1024)
        {
            goto malformed;
        }
        break;

    case 0x12:
        if (s[10] > 2) {
            goto malformed;
        }
        break;

    case 0x21:
        code = s[8] << 8 | s[9];
        if (!(code == 1000 || code == 1001 || code == 1003
              || (code >= 1007 && code <= 1014)
              || (code >= 3000 && code <= 4999)))
        {
            goto malformed;
        }
        break;

    case 0x23:
        code = s[8] << 8 | s[9];
        if (code < 400 || code > 599) {
            goto malformed;
        }
        break;

    case 0x32:
        k = s[0] << 8 | s[1];
        if (k == 0 || k > 255 || k > rest) {
            goto malformed;
        }
        break;
    }

    return FUZZ_OK;

malformed:

    r->code = 1;
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
        return 1 + (*seed >> 33) % 20;
    default:
        return 1 + (*seed >> 33) % 400;
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                          *buf, *pos, *start, *fpos, *body;
    size_t                           n, len, from, rec, rest, taken, left;
    uint64_t                         seed;
    ngx_int_t                        rc;
    ngx_str_t                        chunk, value;
    ngx_buf_t                        b;
    fuzz_ref_t                       r;
    ngx_uint_t                       in_body, ref, done, type, fields;
    const u_char                    *s;
    ngx_ws_gateway_record_parser_t   p;

    if (size < 4) {
        return 0;
    }

    ngx_memzero(&p, sizeof(ngx_ws_gateway_record_parser_t));
    ngx_memzero(&r, sizeof(fuzz_ref_t));

    p.commands = data[0] & 1;
    p.max_record = (data[1] == 255) ? 0xffffffff
                   : NGX_WS_GATEWAY_REC_HEAD_MAX + 8 * (uint32_t) data[1];

    r.commands = p.commands;
    r.max_record = p.max_record;

    seed = (uint64_t) data[2] << 8 | data[3];

    s = data + 4;
    len = size - 4;

    from = 0;          /* the stream offset of the next chunk */
    rec = 0;           /* where the record being parsed starts */
    rest = 0;          /* where the rest of its body starts */
    taken = 0;         /* body bytes taken */
    in_body = 0;
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

            if (!in_body) {
                pos = b.pos;
                rc = ngx_ws_gateway_record_parse(&p, &b);

                fuzz_assert(b.pos >= pos && b.pos <= b.last);

                if (rc == NGX_AGAIN) {
                    fuzz_assert(b.pos == b.last);
                    fuzz_assert(p.have <= p.need);
                    fuzz_assert(p.need <= NGX_WS_GATEWAY_REC_HEAD_MAX);
                    break;
                }

                ref = fuzz_ref_head(&r, s + rec, len - rec);

                if (rc == NGX_ERROR) {
                    fuzz_assert(ref == FUZZ_ERROR);
                    fuzz_assert(p.error != NULL);
                    fuzz_assert(p.error_code == r.code);
                    fuzz_assert(p.left == 0);

                    /* sticky: no byte taken, on any buffer */

                    pos = b.pos;
                    fuzz_assert(ngx_ws_gateway_record_parse(&p, &b)
                                == NGX_ERROR);
                    fuzz_assert(b.pos == pos);

                    b.pos = buf;
                    fuzz_assert(ngx_ws_gateway_record_parse(&p, &b)
                                == NGX_ERROR);
                    fuzz_assert(b.pos == buf);

                    done = 1;
                    break;
                }

                fuzz_assert(rc == NGX_OK);
                fuzz_assert(ref == FUZZ_OK);

                /* the head ends where the reference says */

                fuzz_assert(from + (b.pos - buf) == rec + r.head);

                fuzz_assert(p.state == 0);
                fuzz_assert(p.length == r.length);
                fuzz_assert(p.type == r.type);
                fuzz_assert(p.flags == r.flags);
                fuzz_assert(p.length >= 2 && p.length <= p.max_record);
                fuzz_assert(p.left == (size_t) p.length + 4 - r.head);
                fuzz_assert(ngx_ws_gateway_record_name(p.type) != NULL);

                if (p.type == NGX_WS_GATEWAY_REC_PUBLISH) {
                    fuzz_assert(p.channel_len >= 1
                                && p.channel_len
                                   <= NGX_WS_GATEWAY_CHANNEL_MAX
                                && p.channel_len <= p.left);
                }

                in_body = 1;
                rest = rec + r.head;
                taken = 0;
            }

            start = b.pos;
            left = p.left;
            rc = ngx_ws_gateway_record_body(&p, &b, &chunk);

            fuzz_assert(chunk.data == start);
            fuzz_assert(b.pos == start + chunk.len);
            fuzz_assert(b.pos <= b.last);
            fuzz_assert(chunk.len + p.left == left);
            fuzz_assert(memcmp(chunk.data, s + rest + taken, chunk.len)
                        == 0);

            taken += chunk.len;

            if (rc == NGX_AGAIN) {
                fuzz_assert(b.pos == b.last && p.left > 0);
                break;
            }

            fuzz_assert(rc == NGX_OK && p.left == 0);
            fuzz_assert(rest + taken == rec + 4 + r.length);

            /* the fields of a whole HELLO or OPEN body, from a copy */

            if (p.type == NGX_WS_GATEWAY_REC_HELLO
                || p.type == NGX_WS_GATEWAY_REC_OPEN)
            {
                body = malloc(taken + 1);
                memcpy(body, s + rest, taken);
                fpos = body;

                for (fields = 0; /* void */; fields++) {
                    pos = fpos;
                    rc = ngx_ws_gateway_record_field(&fpos, body + taken,
                                                     &type, &value);

                    if (rc != NGX_OK) {
                        fuzz_assert(rc == NGX_DONE || rc == NGX_ERROR);
                        fuzz_assert(fpos == pos);
                        fuzz_assert(rc == NGX_ERROR
                                    || fpos == body + taken);
                        break;
                    }

                    fuzz_assert(value.data == pos + NGX_WS_GATEWAY_FIELD_HEAD);
                    fuzz_assert(fpos == value.data + value.len);
                    fuzz_assert(fpos <= body + taken);
                    fuzz_assert(type == *pos);
                }

                free(body);
            }

            in_body = 0;
            rec = rest + taken;
        }

        free(buf);
        from += n;
    }

    /* the stream ended inside a head: the reference must agree */

    if (!done && !in_body) {
        fuzz_assert(fuzz_ref_head(&r, s + rec, len - rec) == FUZZ_AGAIN);
    }

    return 0;
}
