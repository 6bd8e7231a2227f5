
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_ws_gateway_parse.h>


#define NGX_WS_GATEWAY_RSV                                                   \
    (NGX_WS_GATEWAY_RSV1|NGX_WS_GATEWAY_RSV2|NGX_WS_GATEWAY_RSV3)

#define NGX_WS_GATEWAY_WORD         sizeof(uint64_t)
#define ngx_ws_gateway_aligned(p)                                            \
    (((uintptr_t) (p) & (NGX_WS_GATEWAY_WORD - 1)) == 0)

#define NGX_WS_GATEWAY_ASCII_MASK   0x8080808080808080ULL


/*
 * A UTF-8 state other than ACCEPT is the number of continuation bytes
 * still expected (bits 0-1) and the range allowed for the next one:
 * its lowest (bits 8-15) and highest (bits 16-23) value.  The range of
 * the first continuation byte is what rules out overlong forms,
 * surrogates and code points above U+10FFFF as soon as it is seen.
 * REJECT's range is empty: once failed, the state fails every byte.
 */

#define ngx_ws_gateway_utf8_expect(n, lo, hi)                                \
    ((ngx_uint_t) (n) | (ngx_uint_t) (lo) << 8 | (ngx_uint_t) (hi) << 16)

#define ngx_ws_gateway_utf8_left(s)     ((s) & 0x03)
#define ngx_ws_gateway_utf8_lo(s)       (((s) >> 8) & 0xff)
#define ngx_ws_gateway_utf8_hi(s)       (((s) >> 16) & 0xff)

#define NGX_WS_GATEWAY_UTF8_REJECT      ngx_ws_gateway_utf8_expect(1, 0xff, 0)


static ngx_int_t ngx_ws_gateway_parse_opcode(ngx_ws_gateway_parser_t *p);
static ngx_int_t ngx_ws_gateway_parse_limits(ngx_ws_gateway_parser_t *p);
static ngx_uint_t ngx_ws_gateway_close_code_valid(ngx_uint_t code);


ngx_int_t
ngx_ws_gateway_parse_frame(ngx_ws_gateway_parser_t *p, ngx_buf_t *b)
{
    u_char  ch;
    enum {
        sw_start = 0,
        sw_length,
        sw_length_16,
        sw_length_64,
        sw_length_ext,
        sw_mask_1,
        sw_mask_2,
        sw_mask_3,
        sw_mask_4
    };

    for ( ;; ) {

        if (b->pos == b->last) {
            return NGX_AGAIN;
        }

        switch (p->state) {

        case sw_start:

            ch = *b->pos++;

            p->fin = (ch & NGX_WS_GATEWAY_FIN) ? 1 : 0;
            p->rsv = ch & NGX_WS_GATEWAY_RSV;
            p->opcode = ch & 0x0f;
            p->masked = 0;
            p->length = 0;
            p->left = 0;
            p->mask_offset = 0;
            p->length_bytes = 0;

            if (ngx_ws_gateway_parse_opcode(p) != NGX_OK) {
                return NGX_ERROR;
            }

            p->state = sw_length;
            break;

        case sw_length:

            ch = *b->pos++;

            p->masked = (ch & 0x80) ? 1 : 0;

            if (p->masked != p->client) {
                p->error = p->client ? "unmasked frame" : "masked frame";
                goto invalid;
            }

            ch &= 0x7f;

            if (ngx_ws_gateway_op_is_control(p->opcode)
                && ch > NGX_WS_GATEWAY_CONTROL_MAX)
            {
                p->error = "control frame too long";
                goto invalid;
            }

            /*
             * A length in a longer form than needed (say, 5 in 16 bits)
             * breaks the RFC's "minimal number of bytes MUST be used",
             * but it is harmless and common practice is to accept it,
             * so it is accepted here too.
             */

            if (ch == 126) {
                p->state = sw_length_16;
                break;
            }

            if (ch == 127) {
                p->state = sw_length_64;
                break;
            }

            p->length = ch;
            goto length;

        case sw_length_16:

            if (b->last - b->pos >= 2) {
                p->length = ngx_ws_gateway_parse_uint16(b->pos);
                b->pos += 2;
                goto length;
            }

            p->length_bytes = 2;
            p->state = sw_length_ext;
            break;

        case sw_length_64:

            /* the most significant bit of a 64-bit length must be 0 */

            if (*b->pos & 0x80) {
                p->error = "invalid length";
                goto invalid;
            }

            if (b->last - b->pos >= 8) {
                p->length = ngx_ws_gateway_parse_uint64(b->pos);
                b->pos += 8;
                goto length;
            }

            p->length_bytes = 8;
            p->state = sw_length_ext;
            break;

        case sw_length_ext:

            p->length = (p->length << 8) | *b->pos++;

            if (--p->length_bytes) {
                break;
            }

            goto length;

        case sw_mask_1:

            if (b->last - b->pos >= 4) {
                ngx_memcpy(p->mask, b->pos, 4);
                b->pos += 4;
                goto done;
            }

            p->mask[0] = *b->pos++;
            p->state = sw_mask_2;
            break;

        case sw_mask_2:

            p->mask[1] = *b->pos++;
            p->state = sw_mask_3;
            break;

        case sw_mask_3:

            p->mask[2] = *b->pos++;
            p->state = sw_mask_4;
            break;

        case sw_mask_4:

            p->mask[3] = *b->pos++;
            goto done;
        }

        continue;

    length:

        /* the length is complete: limits are checked before any payload */

        if (ngx_ws_gateway_parse_limits(p) != NGX_OK) {
            return NGX_ERROR;
        }

        if (!p->masked) {
            goto done;
        }

        p->state = sw_mask_1;
    }

done:

    p->left = p->length;
    p->mask_offset = 0;

    if (!ngx_ws_gateway_op_is_control(p->opcode)) {

        if (p->opcode != NGX_WS_GATEWAY_OP_CONT) {
            p->message_opcode = p->opcode;
            p->message_rsv = p->rsv;
            p->message_size = 0;
        }

        p->message_size += p->length;
    }

    p->state = sw_start;

    return NGX_OK;

invalid:

    p->close_code = NGX_WS_GATEWAY_CLOSE_PROTOCOL;

    return NGX_ERROR;
}


static ngx_int_t
ngx_ws_gateway_parse_opcode(ngx_ws_gateway_parser_t *p)
{
    if (p->rsv & ~p->rsv_allowed) {
        p->error = "RSV bits set";
        goto invalid;
    }

    switch (p->opcode) {

    case NGX_WS_GATEWAY_OP_CONT:

        if (p->message_opcode == 0) {
            p->error = "unexpected continuation frame";
            goto invalid;
        }

        /* RFC 7692: RSV1 marks a message, not a frame */

        if (p->rsv & NGX_WS_GATEWAY_RSV1) {
            p->error = "RSV1 set on a continuation frame";
            goto invalid;
        }

        return NGX_OK;

    case NGX_WS_GATEWAY_OP_TEXT:
    case NGX_WS_GATEWAY_OP_BINARY:

        if (p->message_opcode) {
            p->error = "data frame inside a fragmented message";
            goto invalid;
        }

        return NGX_OK;

    case NGX_WS_GATEWAY_OP_CLOSE:
    case NGX_WS_GATEWAY_OP_PING:
    case NGX_WS_GATEWAY_OP_PONG:

        if (!p->fin) {
            p->error = "fragmented control frame";
            goto invalid;
        }

        if (p->rsv & NGX_WS_GATEWAY_RSV1) {
            p->error = "RSV1 set on a control frame";
            goto invalid;
        }

        return NGX_OK;

    default:
        p->error = "reserved opcode";
        goto invalid;
    }

invalid:

    p->close_code = NGX_WS_GATEWAY_CLOSE_PROTOCOL;

    return NGX_ERROR;
}


static ngx_int_t
ngx_ws_gateway_parse_limits(ngx_ws_gateway_parser_t *p)
{
    uint64_t  size;

    /*
     * a control frame is bounded by RFC 6455's 125 bytes alone (checked
     * with its header): a smaller frame limit would break pings and the
     * closing handshake
     */

    if (ngx_ws_gateway_op_is_control(p->opcode)) {
        return NGX_OK;
    }

    if (p->max_frame && p->length > p->max_frame) {
        p->error = "frame too big";
        goto too_big;
    }

    if (p->max_message == 0) {
        return NGX_OK;
    }

    size = (p->opcode == NGX_WS_GATEWAY_OP_CONT) ? p->message_size : 0;

    /* size + length > max_message, without overflow */

    if (size > p->max_message || p->length > p->max_message - size) {
        p->error = "message too big";
        goto too_big;
    }

    return NGX_OK;

too_big:

    p->close_code = NGX_WS_GATEWAY_CLOSE_TOO_BIG;

    return NGX_ERROR;
}


ngx_int_t
ngx_ws_gateway_parse_payload(ngx_ws_gateway_parser_t *p, ngx_buf_t *b,
    ngx_str_t *chunk)
{
    size_t      n;
    ngx_uint_t  offset;

    n = b->last - b->pos;

    if ((uint64_t) n > p->left) {
        n = (size_t) p->left;
    }

    chunk->data = b->pos;
    chunk->len = n;

    if (p->masked) {
        offset = p->mask_offset;
        ngx_ws_gateway_unmask(b->pos, n, p->mask, &offset);
        p->mask_offset = (u_char) offset;
    }

    b->pos += n;
    p->left -= n;

    if (p->left) {
        return NGX_AGAIN;
    }

    if (p->fin && !ngx_ws_gateway_op_is_control(p->opcode)) {
        p->message_opcode = 0;
        p->message_rsv = 0;
        p->message_size = 0;
    }

    return NGX_OK;
}


void
ngx_ws_gateway_unmask(u_char *data, size_t n, u_char *mask,
    ngx_uint_t *offset)
{
    u_char      *last, key[NGX_WS_GATEWAY_WORD];
    uint64_t     word, *w;
    ngx_uint_t   i, k;

    k = *offset & 3;
    last = data + n;

    while (data < last && !ngx_ws_gateway_aligned(data)) {
        *data++ ^= mask[k];
        k = (k + 1) & 3;
    }

    if ((size_t) (last - data) >= NGX_WS_GATEWAY_WORD) {

        /*
         * the key rotated to the current offset, twice, in memory order:
         * a word is a whole number of keys, so k stays as it is
         */

        for (i = 0; i < NGX_WS_GATEWAY_WORD; i++) {
            key[i] = mask[(k + i) & 3];
        }

        ngx_memcpy(&word, key, NGX_WS_GATEWAY_WORD);

        for (w = (uint64_t *) data;
             (size_t) (last - (u_char *) w) >= NGX_WS_GATEWAY_WORD;
             w++)
        {
            *w ^= word;
        }

        data = (u_char *) w;
    }

    while (data < last) {
        *data++ ^= mask[k];
        k = (k + 1) & 3;
    }

    *offset = k;
}


u_char *
ngx_ws_gateway_write_frame_header(u_char *dst, ngx_uint_t opcode,
    ngx_uint_t flags, uint64_t length)
{
    *dst++ = (u_char) ((flags & (NGX_WS_GATEWAY_FIN|NGX_WS_GATEWAY_RSV))
                       | (opcode & 0x0f));

    if (length < 126) {
        *dst++ = (u_char) length;
        return dst;
    }

    if (length <= 0xffff) {
        *dst++ = 126;
        return ngx_ws_gateway_write_uint16(dst, length);
    }

    *dst++ = 127;

    return ngx_ws_gateway_write_uint64(dst, length);
}


ngx_uint_t
ngx_ws_gateway_parse_close(u_char *data, size_t len, ngx_uint_t *code,
    ngx_str_t *reason)
{
    ngx_uint_t  state;

    reason->len = 0;
    reason->data = data;

    if (len == 0) {
        *code = NGX_WS_GATEWAY_CLOSE_NO_STATUS;
        return 0;
    }

    if (len == 1) {
        *code = 0;
        return NGX_WS_GATEWAY_CLOSE_PROTOCOL;
    }

    *code = ngx_ws_gateway_parse_uint16(data);

    reason->len = len - 2;
    reason->data = data + 2;

    if (!ngx_ws_gateway_close_code_valid(*code)) {
        return NGX_WS_GATEWAY_CLOSE_PROTOCOL;
    }

    state = NGX_WS_GATEWAY_UTF8_ACCEPT;

    if (ngx_ws_gateway_utf8_check(&state, reason->data, reason->len)
        != NGX_OK
        || !ngx_ws_gateway_utf8_complete(state))
    {
        return NGX_WS_GATEWAY_CLOSE_INVALID_DATA;
    }

    return 0;
}


static ngx_uint_t
ngx_ws_gateway_close_code_valid(ngx_uint_t code)
{
    /*
     * RFC 6455 7.4: 3000-4999 are for libraries, frameworks and
     * applications; below that only the codes defined for the wire are
     * allowed: 1000-1003, 1007-1011 and the IANA-registered 1012 (service
     * restart), 1013 (try again later) and 1014 (bad gateway).  1004 is
     * reserved, 1005, 1006 and 1015 must never be sent.
     */

    if (code >= 3000) {
        return code <= 4999;
    }

    if (code < 1000 || code > 1014) {
        return 0;
    }

    return code < 1004 || code > 1006;
}


ngx_int_t
ngx_ws_gateway_utf8_check(ngx_uint_t *state, u_char *data, size_t n)
{
    u_char      c, *pos, *last;
    ngx_uint_t  s;

    s = *state;
    pos = data;
    last = data + n;

    while (pos < last) {

        if (s != NGX_WS_GATEWAY_UTF8_ACCEPT) {

            /* a continuation byte */

            c = *pos++;

            if (c < ngx_ws_gateway_utf8_lo(s)
                || c > ngx_ws_gateway_utf8_hi(s))
            {
                goto invalid;
            }

            s = ngx_ws_gateway_utf8_left(s) - 1;

            if (s) {
                s = ngx_ws_gateway_utf8_expect(s, 0x80, 0xbf);
            }

            continue;
        }

        /* ASCII: bytes up to a word boundary, then words, then bytes */

        while (pos < last && *pos < 0x80 && !ngx_ws_gateway_aligned(pos)) {
            pos++;
        }

        if (ngx_ws_gateway_aligned(pos)) {
            while ((size_t) (last - pos) >= NGX_WS_GATEWAY_WORD
                   && (*(uint64_t *) pos & NGX_WS_GATEWAY_ASCII_MASK) == 0)
            {
                pos += NGX_WS_GATEWAY_WORD;
            }
        }

        while (pos < last && *pos < 0x80) {
            pos++;
        }

        if (pos == last) {
            break;
        }

        /* a lead byte */

        c = *pos++;

        if (c < 0xc2) {
            /* a continuation byte, or C0 and C1, which can only be overlong */
            goto invalid;
        }

        if (c < 0xe0) {
            s = ngx_ws_gateway_utf8_expect(1, 0x80, 0xbf);

        } else if (c == 0xe0) {
            /* no overlong 3-byte forms: at least U+0800 */
            s = ngx_ws_gateway_utf8_expect(2, 0xa0, 0xbf);

        } else if (c == 0xed) {
            /* no surrogates: U+D800 to U+DFFF */
            s = ngx_ws_gateway_utf8_expect(2, 0x80, 0x9f);

        } else if (c < 0xf0) {
            s = ngx_ws_gateway_utf8_expect(2, 0x80, 0xbf);

        } else if (c == 0xf0) {
            /* no overlong 4-byte forms: at least U+10000 */
            s = ngx_ws_gateway_utf8_expect(3, 0x90, 0xbf);

        } else if (c < 0xf4) {
            s = ngx_ws_gateway_utf8_expect(3, 0x80, 0xbf);

        } else if (c == 0xf4) {
            /* at most U+10FFFF */
            s = ngx_ws_gateway_utf8_expect(3, 0x80, 0x8f);

        } else {
            goto invalid;
        }
    }

    *state = s;

    return NGX_OK;

invalid:

    *state = NGX_WS_GATEWAY_UTF8_REJECT;

    return NGX_ERROR;
}


#define ngx_ws_gateway_rotl64(x, b)  (((x) << (b)) | ((x) >> (64 - (b))))

#define ngx_ws_gateway_sip_round(v0, v1, v2, v3)                             \
    v0 += v1; v1 = ngx_ws_gateway_rotl64(v1, 13); v1 ^= v0;                   \
    v0 = ngx_ws_gateway_rotl64(v0, 32);                                       \
    v2 += v3; v3 = ngx_ws_gateway_rotl64(v3, 16); v3 ^= v2;                   \
    v0 += v3; v3 = ngx_ws_gateway_rotl64(v3, 21); v3 ^= v0;                   \
    v2 += v1; v1 = ngx_ws_gateway_rotl64(v1, 17); v1 ^= v2;                   \
    v2 = ngx_ws_gateway_rotl64(v2, 32)


/* SipHash-2-4 (Aumasson and Bernstein, 2012) of a name, under the key */

uint64_t
ngx_ws_gateway_siphash(const uint64_t key[2], u_char *p, size_t len)
{
    u_char    *end;
    uint64_t   v0, v1, v2, v3, m, b;
    ngx_uint_t i;

    v0 = key[0] ^ 0x736f6d6570736575ULL;
    v1 = key[1] ^ 0x646f72616e646f6dULL;
    v2 = key[0] ^ 0x6c7967656e657261ULL;
    v3 = key[1] ^ 0x7465646279746573ULL;

    b = (uint64_t) len << 56;
    end = p + (len & ~(size_t) 7);

    for ( /* void */ ; p != end; p += 8) {
        m = 0;

        for (i = 0; i < 8; i++) {
            m |= (uint64_t) p[i] << (8 * i);
        }

        v3 ^= m;
        ngx_ws_gateway_sip_round(v0, v1, v2, v3);
        ngx_ws_gateway_sip_round(v0, v1, v2, v3);
        v0 ^= m;
    }

    for (i = 0; i < (len & 7); i++) {
        b |= (uint64_t) p[i] << (8 * i);
    }

    v3 ^= b;
    ngx_ws_gateway_sip_round(v0, v1, v2, v3);
    ngx_ws_gateway_sip_round(v0, v1, v2, v3);
    v0 ^= b;

    v2 ^= 0xff;
    ngx_ws_gateway_sip_round(v0, v1, v2, v3);
    ngx_ws_gateway_sip_round(v0, v1, v2, v3);
    ngx_ws_gateway_sip_round(v0, v1, v2, v3);
    ngx_ws_gateway_sip_round(v0, v1, v2, v3);

    return v0 ^ v1 ^ v2 ^ v3;
}
