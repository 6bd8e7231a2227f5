
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_ws_gateway_parse.h>
#include <ngx_ws_gateway_record.h>


/* who may send a type */
#define NGX_WS_GATEWAY_REC_BOTH      0
#define NGX_WS_GATEWAY_REC_EVENT     1    /* gateway to backend */
#define NGX_WS_GATEWAY_REC_COMMAND   2    /* backend to gateway */

/* no bound on the rest of the body */
#define NGX_WS_GATEWAY_REC_ANY       0xffffffff


/*
 * A type's shape: the fixed part of its body and the bounds of the rest;
 * a rest_max of 0 makes the length exact.  too_long names what is past
 * rest_max.
 */

typedef struct {
    ngx_uint_t                type;
    const char               *name;
    ngx_uint_t                from;
    ngx_uint_t                flags;        /* the bits defined */
    uint32_t                  fixed;
    uint32_t                  rest_min;
    uint32_t                  rest_max;
    const char               *too_long;
    unsigned                  session:1;    /* a u64 session comes first */
} ngx_ws_gateway_record_type_t;


static ngx_ws_gateway_record_type_t *ngx_ws_gateway_record_type(
    ngx_uint_t type);
static ngx_int_t ngx_ws_gateway_record_bounds(
    ngx_ws_gateway_record_parser_t *p, ngx_ws_gateway_record_type_t *t);
static ngx_int_t ngx_ws_gateway_record_fixed(
    ngx_ws_gateway_record_parser_t *p, ngx_ws_gateway_record_type_t *t);
static ngx_uint_t ngx_ws_gateway_record_close_code_valid(ngx_uint_t code);


static ngx_ws_gateway_record_type_t  ngx_ws_gateway_record_types[] = {

    { NGX_WS_GATEWAY_REC_HELLO, "HELLO", NGX_WS_GATEWAY_REC_BOTH, 0,
      10, 0, NGX_WS_GATEWAY_REC_ANY, NULL, 0 },

    { NGX_WS_GATEWAY_REC_PING, "PING", NGX_WS_GATEWAY_REC_BOTH, 0,
      8, 0, 0, NULL, 0 },

    { NGX_WS_GATEWAY_REC_PONG, "PONG", NGX_WS_GATEWAY_REC_BOTH, 0,
      8, 0, 0, NULL, 0 },

    { NGX_WS_GATEWAY_REC_ERROR, "ERROR", NGX_WS_GATEWAY_REC_BOTH, 0,
      2, 0, NGX_WS_GATEWAY_ERROR_TEXT_MAX, "error text too long", 0 },

    { NGX_WS_GATEWAY_REC_OPEN, "OPEN", NGX_WS_GATEWAY_REC_EVENT,
      NGX_WS_GATEWAY_REC_REANNOUNCE|NGX_WS_GATEWAY_REC_APPROVE,
      8, 0, NGX_WS_GATEWAY_REC_ANY, NULL, 1 },

    { NGX_WS_GATEWAY_REC_MESSAGE, "MESSAGE", NGX_WS_GATEWAY_REC_EVENT,
      NGX_WS_GATEWAY_REC_BINARY,
      8, 0, NGX_WS_GATEWAY_REC_ANY, NULL, 1 },

    { NGX_WS_GATEWAY_REC_CLOSE, "CLOSE", NGX_WS_GATEWAY_REC_EVENT, 0,
      11, 0, NGX_WS_GATEWAY_REASON_MAX, "close reason too long", 1 },

    { NGX_WS_GATEWAY_REC_GONE, "GONE", NGX_WS_GATEWAY_REC_EVENT, 0,
      9, 0, 0, NULL, 1 },

    { NGX_WS_GATEWAY_REC_REFUSED, "REFUSED", NGX_WS_GATEWAY_REC_EVENT, 0,
      10, 0, 0, NULL, 1 },

    { NGX_WS_GATEWAY_REC_DROPPED, "DROPPED", NGX_WS_GATEWAY_REC_EVENT, 0,
      12, 0, 0, NULL, 1 },

    { NGX_WS_GATEWAY_REC_SEND, "SEND", NGX_WS_GATEWAY_REC_COMMAND,
      NGX_WS_GATEWAY_REC_BINARY,
      8, 0, NGX_WS_GATEWAY_REC_ANY, NULL, 1 },

    { NGX_WS_GATEWAY_REC_END, "CLOSE", NGX_WS_GATEWAY_REC_COMMAND, 0,
      10, 0, NGX_WS_GATEWAY_REASON_MAX, "close reason too long", 1 },

    { NGX_WS_GATEWAY_REC_ACCEPT, "ACCEPT", NGX_WS_GATEWAY_REC_COMMAND, 0,
      8, 0, 0, NULL, 1 },

    { NGX_WS_GATEWAY_REC_REJECT, "REJECT", NGX_WS_GATEWAY_REC_COMMAND, 0,
      10, 0, NGX_WS_GATEWAY_ERROR_TEXT_MAX, "reject text too long", 1 },

    { NGX_WS_GATEWAY_REC_SUBSCRIBE, "SUBSCRIBE", NGX_WS_GATEWAY_REC_COMMAND,
      0, 8, 1, NGX_WS_GATEWAY_CHANNEL_MAX, "channel too long", 1 },

    { NGX_WS_GATEWAY_REC_UNSUBSCRIBE, "UNSUBSCRIBE",
      NGX_WS_GATEWAY_REC_COMMAND,
      0, 8, 1, NGX_WS_GATEWAY_CHANNEL_MAX, "channel too long", 1 },

    { NGX_WS_GATEWAY_REC_PUBLISH, "PUBLISH", NGX_WS_GATEWAY_REC_COMMAND,
      NGX_WS_GATEWAY_REC_BINARY,
      2, 0, NGX_WS_GATEWAY_REC_ANY, NULL, 0 },

    { NGX_WS_GATEWAY_REC_BROADCAST, "BROADCAST", NGX_WS_GATEWAY_REC_COMMAND,
      NGX_WS_GATEWAY_REC_BINARY,
      0, 0, NGX_WS_GATEWAY_REC_ANY, NULL, 0 },

    { 0, NULL, 0, 0, 0, 0, 0, NULL, 0 }
};


ngx_int_t
ngx_ws_gateway_record_parse(ngx_ws_gateway_record_parser_t *p,
    ngx_buf_t *b)
{
    size_t                         n;
    ngx_uint_t                     ch;
    ngx_ws_gateway_record_type_t  *t;
    enum {
        sw_start = 0,
        sw_length,
        sw_type,
        sw_flags,
        sw_fixed,
        sw_error
    };

    if (p->state == sw_error) {
        return NGX_ERROR;
    }

    for ( ;; ) {

        if (b->pos == b->last) {
            return NGX_AGAIN;
        }

        switch (p->state) {

        case sw_start:

            p->have = 0;
            p->need = 4;
            p->length = 0;
            p->type = 0;
            p->flags = 0;
            p->session = 0;
            p->version = 0;
            p->capabilities = 0;
            p->peer_max_record = 0;
            p->opaque = 0;
            p->code = 0;
            p->by = 0;
            p->channel_len = 0;
            p->left = 0;

            p->state = sw_length;

            /* fall through */

        case sw_length:

            n = ngx_min((size_t) (b->last - b->pos), p->need - p->have);
            ngx_memcpy(p->head + p->have, b->pos, n);
            b->pos += n;
            p->have += n;

            if (p->have < p->need) {
                break;
            }

            p->length = ngx_ws_gateway_parse_uint32(p->head);

            if (p->length < 2) {
                p->error = "record length below 2";
                goto malformed;
            }

            if (p->length > p->max_record) {
                p->error = "record too large";
                p->error_code = NGX_WS_GATEWAY_LINK_ERR_TOO_LARGE;
                goto failed;
            }

            p->state = sw_type;
            break;

        case sw_type:

            ch = *b->pos++;
            p->head[p->have++] = (u_char) ch;
            p->type = ch;

            t = ngx_ws_gateway_record_type(ch);

            if (t == NULL) {
                p->error = "unknown record type";
                goto unknown;
            }

            if (t->from == (p->commands ? NGX_WS_GATEWAY_REC_EVENT
                                        : NGX_WS_GATEWAY_REC_COMMAND))
            {
                p->error = "record type of the other direction";
                goto unknown;
            }

            if (ngx_ws_gateway_record_bounds(p, t) != NGX_OK) {
                goto malformed;
            }

            p->need = NGX_WS_GATEWAY_REC_MIN + t->fixed;
            p->state = sw_flags;
            break;

        case sw_flags:

            ch = *b->pos++;
            p->head[p->have++] = (u_char) ch;
            p->flags = ch;

            t = ngx_ws_gateway_record_type(p->type);

            if (ch & ~t->flags) {
                p->error = "undefined record flags";
                goto malformed;
            }

            if (t->fixed == 0) {
                goto done;
            }

            p->state = sw_fixed;
            break;

        case sw_fixed:

            n = ngx_min((size_t) (b->last - b->pos), p->need - p->have);
            ngx_memcpy(p->head + p->have, b->pos, n);
            b->pos += n;
            p->have += n;

            if (p->have < p->need) {
                break;
            }

            t = ngx_ws_gateway_record_type(p->type);
            goto done;
        }
    }

done:

    /* the head is complete: t is the record's type */

    if (ngx_ws_gateway_record_fixed(p, t) != NGX_OK) {
        goto malformed;
    }

    p->left = p->length - 2 - t->fixed;
    p->state = sw_start;

    return NGX_OK;

malformed:

    p->error_code = NGX_WS_GATEWAY_LINK_ERR_MALFORMED;
    goto failed;

unknown:

    p->error_code = NGX_WS_GATEWAY_LINK_ERR_UNKNOWN;

failed:

    p->left = 0;
    p->state = sw_error;

    return NGX_ERROR;
}


static ngx_ws_gateway_record_type_t *
ngx_ws_gateway_record_type(ngx_uint_t type)
{
    ngx_ws_gateway_record_type_t  *t;

    for (t = ngx_ws_gateway_record_types; t->name; t++) {
        if (t->type == type) {
            return t;
        }
    }

    return NULL;
}


/* the length against the type's bounds, as soon as the type is known */

static ngx_int_t
ngx_ws_gateway_record_bounds(ngx_ws_gateway_record_parser_t *p,
    ngx_ws_gateway_record_type_t *t)
{
    uint32_t  body;

    body = p->length - 2;

    if (t->rest_max == 0) {
        if (body != t->fixed) {
            p->error = "bad record length";
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (body < t->fixed) {
        p->error = "record too short";
        return NGX_ERROR;
    }

    body -= t->fixed;

    if (body < t->rest_min) {
        /* only channels have a minimum */
        p->error = "empty channel";
        return NGX_ERROR;
    }

    if (body > t->rest_max) {
        p->error = t->too_long;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the values of the fixed part, in p->head after the flags */

static ngx_int_t
ngx_ws_gateway_record_fixed(ngx_ws_gateway_record_parser_t *p,
    ngx_ws_gateway_record_type_t *t)
{
    u_char  *f;

    f = p->head + NGX_WS_GATEWAY_REC_MIN;

    if (t->session) {
        p->session = ngx_ws_gateway_parse_uint64(f);

        if (p->session == 0) {
            p->error = "session 0";
            return NGX_ERROR;
        }

        f += 8;
    }

    switch (p->type) {

    case NGX_WS_GATEWAY_REC_HELLO:

        p->version = ngx_ws_gateway_parse_uint16(f);
        p->capabilities = ngx_ws_gateway_parse_uint32(f + 2);
        p->peer_max_record = ngx_ws_gateway_parse_uint32(f + 6);

        if (p->commands
            && p->peer_max_record < NGX_WS_GATEWAY_MAX_RECORD_MIN)
        {
            p->error = "max_record below 1024";
            return NGX_ERROR;
        }

        break;

    case NGX_WS_GATEWAY_REC_PING:
    case NGX_WS_GATEWAY_REC_PONG:
        p->opaque = ngx_ws_gateway_parse_uint64(f);
        break;

    case NGX_WS_GATEWAY_REC_ERROR:
        p->code = ngx_ws_gateway_parse_uint16(f);
        break;

    case NGX_WS_GATEWAY_REC_CLOSE:

        p->code = ngx_ws_gateway_parse_uint16(f);
        p->by = f[2];

        if (p->by > NGX_WS_GATEWAY_BY_BACKEND) {
            p->error = "bad closed by";
            return NGX_ERROR;
        }

        break;

    case NGX_WS_GATEWAY_REC_GONE:
        p->code = f[0];
        break;

    case NGX_WS_GATEWAY_REC_END:

        p->code = ngx_ws_gateway_parse_uint16(f);

        if (!ngx_ws_gateway_record_close_code_valid(p->code)) {
            p->error = "bad close code";
            return NGX_ERROR;
        }

        break;

    case NGX_WS_GATEWAY_REC_REJECT:

        p->code = ngx_ws_gateway_parse_uint16(f);

        if (p->code < 400 || p->code > 599) {
            p->error = "bad reject status";
            return NGX_ERROR;
        }

        break;

    case NGX_WS_GATEWAY_REC_SUBSCRIBE:
    case NGX_WS_GATEWAY_REC_UNSUBSCRIBE:
        p->channel_len = p->length - 2 - t->fixed;
        break;

    case NGX_WS_GATEWAY_REC_PUBLISH:

        p->channel_len = ngx_ws_gateway_parse_uint16(f);

        if (p->channel_len == 0) {
            p->error = "empty channel";
            return NGX_ERROR;
        }

        if (p->channel_len > NGX_WS_GATEWAY_CHANNEL_MAX) {
            p->error = "channel too long";
            return NGX_ERROR;
        }

        if (p->channel_len > p->length - 2 - t->fixed) {
            p->error = "channel past the record";
            return NGX_ERROR;
        }

        break;

    default: /* OPEN, MESSAGE, SEND, ACCEPT, BROADCAST */
        break;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_ws_gateway_record_close_code_valid(ngx_uint_t code)
{
    /*
     * docs/protocol.md 6.2: 1000, 1001, 1003, 1007-1014 and 3000-4999;
     * not 1002 (the gateway's own protocol errors), nor 1004-1006, which
     * are reserved or never sent
     */

    if (code >= 3000) {
        return code <= 4999;
    }

    if (code >= 1007) {
        return code <= 1014;
    }

    return code == 1000 || code == 1001 || code == 1003;
}


ngx_int_t
ngx_ws_gateway_record_body(ngx_ws_gateway_record_parser_t *p,
    ngx_buf_t *b, ngx_str_t *chunk)
{
    size_t  n;

    n = b->last - b->pos;

    if (n > p->left) {
        n = p->left;
    }

    chunk->data = b->pos;
    chunk->len = n;

    b->pos += n;
    p->left -= n;

    return p->left ? NGX_AGAIN : NGX_OK;
}


ngx_int_t
ngx_ws_gateway_record_field(u_char **pos, u_char *end, ngx_uint_t *type,
    ngx_str_t *value)
{
    u_char  *f;
    size_t   n;

    f = *pos;

    if (f == end) {
        return NGX_DONE;
    }

    if (end - f < NGX_WS_GATEWAY_FIELD_HEAD) {
        return NGX_ERROR;
    }

    n = ngx_ws_gateway_parse_uint16(f + 1);

    if ((size_t) (end - f) - NGX_WS_GATEWAY_FIELD_HEAD < n) {
        return NGX_ERROR;
    }

    *type = f[0];
    value->data = f + NGX_WS_GATEWAY_FIELD_HEAD;
    value->len = n;

    *pos = f + NGX_WS_GATEWAY_FIELD_HEAD + n;

    return NGX_OK;
}


u_char *
ngx_ws_gateway_record_write(u_char *dst, ngx_uint_t type, ngx_uint_t flags,
    size_t body_len)
{
    dst = ngx_ws_gateway_write_uint32(dst, body_len + 2);
    *dst++ = (u_char) type;
    *dst++ = (u_char) flags;

    return dst;
}


u_char *
ngx_ws_gateway_record_write_field(u_char *dst, ngx_uint_t type,
    u_char *value, size_t len)
{
    *dst++ = (u_char) type;
    dst = ngx_ws_gateway_write_uint16(dst, len);

    if (value == NULL || len == 0) {

        /* the caller writes the value (or there is none) */

        return dst;
    }

    return ngx_cpymem(dst, value, len);
}


const char *
ngx_ws_gateway_record_name(ngx_uint_t type)
{
    ngx_ws_gateway_record_type_t  *t;

    t = ngx_ws_gateway_record_type(type);

    return t ? t->name : NULL;
}
