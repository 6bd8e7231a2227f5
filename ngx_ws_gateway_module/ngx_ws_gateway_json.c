
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_ws_gateway_json.h>


/*
 * The parser is a loop over one state, without recursion: the node of
 * the innermost open container ("cur") and its last complete child
 * ("prev") are all it needs, as every node knows its parent.  Depth is
 * a policy, not a stack size.
 */


typedef struct {
    ngx_ws_gateway_json_t    *j;
    u_char                   *start;
    u_char                   *pos;
    u_char                   *end;
    u_char                   *out;             /* scratch, next free byte */
    size_t                    out_left;
} ngx_ws_gateway_json_ctx_t;


#define ngx_ws_gateway_json_space(ch)                                        \
    ((ch) == ' ' || (ch) == '\t' || (ch) == '\n' || (ch) == '\r')

#define ngx_ws_gateway_json_digit(ch)   ((ch) >= '0' && (ch) <= '9')

/* RFC 7493 2.1: no noncharacters (the surrogates never get this far) */
#define ngx_ws_gateway_json_nonchar(cp)                                      \
    (((cp) >= 0xfdd0 && (cp) <= 0xfdef) || ((cp) & 0xfffe) == 0xfffe)

/* false for infinities and NaN, without <math.h> */
#define ngx_ws_gateway_json_finite(d)   ((d) - (d) == 0.0)


static ngx_int_t ngx_ws_gateway_json_string(ngx_ws_gateway_json_ctx_t *cx,
    ngx_str_t *s);
static ngx_int_t ngx_ws_gateway_json_put(ngx_ws_gateway_json_ctx_t *cx,
    u_char *at, u_char *src, size_t n);
static ssize_t ngx_ws_gateway_json_escape(ngx_ws_gateway_json_ctx_t *cx,
    u_char *p, uint32_t *cp);
static ngx_int_t ngx_ws_gateway_json_hex4(ngx_ws_gateway_json_ctx_t *cx,
    u_char *esc, u_char *p, uint32_t *v);
static ssize_t ngx_ws_gateway_json_utf8(ngx_ws_gateway_json_ctx_t *cx,
    u_char *p, uint32_t *cp);
static ngx_int_t ngx_ws_gateway_json_number(ngx_ws_gateway_json_ctx_t *cx,
    ngx_ws_gateway_json_node_t *n);
static ngx_int_t ngx_ws_gateway_json_literal(ngx_ws_gateway_json_ctx_t *cx,
    ngx_ws_gateway_json_node_t *n);
static ngx_uint_t ngx_ws_gateway_json_duplicate(ngx_ws_gateway_json_t *j,
    ngx_uint_t obj, ngx_str_t *key);
static ngx_int_t ngx_ws_gateway_json_digits(ngx_ws_gateway_json_ctx_t *cx,
    u_char **pp);
static ngx_int_t ngx_ws_gateway_json_error(ngx_ws_gateway_json_ctx_t *cx,
    u_char *p, const char *error);


static ngx_str_t  ngx_ws_gateway_json_true = ngx_string("true");
static ngx_str_t  ngx_ws_gateway_json_false = ngx_string("false");
static ngx_str_t  ngx_ws_gateway_json_null = ngx_string("null");


void
ngx_ws_gateway_json_init(ngx_ws_gateway_json_t *j,
    ngx_ws_gateway_json_node_t *nodes, ngx_uint_t max_nodes,
    u_char *scratch, size_t scratch_size)
{
    ngx_memzero(j, sizeof(ngx_ws_gateway_json_t));

    j->nodes = nodes;
    j->max_nodes = max_nodes;
    j->scratch = scratch;
    j->scratch_size = scratch_size;

    j->max_size = NGX_WS_GATEWAY_JSON_MAX_SIZE;
    j->max_depth = NGX_WS_GATEWAY_JSON_MAX_DEPTH;
    j->max_string = NGX_WS_GATEWAY_JSON_MAX_STRING;
    j->require_object = 1;
}


ngx_int_t
ngx_ws_gateway_json_parse(ngx_ws_gateway_json_t *j, u_char *data, size_t len)
{
    u_char                       ch, *p;
    ngx_str_t                    key;
    ngx_uint_t                   cur, prev, depth, i;
    ngx_ws_gateway_json_ctx_t    cx;
    ngx_ws_gateway_json_node_t  *n;
    enum {
        sw_value = 0,
        sw_first_member,
        sw_member,
        sw_colon,
        sw_first_element,
        sw_after_value
    } state;

    j->nnodes = 0;
    j->error = NULL;
    j->offset = 0;

    if (len > j->max_size) {
        j->error = "document too long";
        j->offset = j->max_size;
        return NGX_ERROR;
    }

    if (len == 0) {
        j->error = "unexpected end";
        return NGX_ERROR;
    }

    cx.j = j;
    cx.start = data;
    cx.end = data + len;
    cx.out = j->scratch;
    cx.out_left = j->scratch ? j->scratch_size : 0;

    p = data;
    cur = NGX_WS_GATEWAY_JSON_NONE;
    prev = NGX_WS_GATEWAY_JSON_NONE;
    depth = 0;
    ngx_str_null(&key);
    state = sw_value;

    for ( ;; ) {

        while (p < cx.end && ngx_ws_gateway_json_space(*p)) {
            p++;
        }

        if (p == cx.end) {

            if (state == sw_after_value && cur == NGX_WS_GATEWAY_JSON_NONE) {
                return NGX_OK;
            }

            return ngx_ws_gateway_json_error(&cx, p, "unexpected end");
        }

        ch = *p;

        switch (state) {

        case sw_value:

            if (j->nnodes == j->max_nodes) {
                return ngx_ws_gateway_json_error(&cx, p, "too many values");
            }

            if (cur == NGX_WS_GATEWAY_JSON_NONE
                && j->require_object
                && ch != '{')
            {
                return ngx_ws_gateway_json_error(&cx, p, "not an object");
            }

            i = j->nnodes++;
            n = &j->nodes[i];

            ngx_memzero(n, sizeof(ngx_ws_gateway_json_node_t));

            n->key = key;
            n->parent = cur;
            n->child = NGX_WS_GATEWAY_JSON_NONE;
            n->next = NGX_WS_GATEWAY_JSON_NONE;

            ngx_str_null(&key);

            if (cur != NGX_WS_GATEWAY_JSON_NONE) {

                if (prev == NGX_WS_GATEWAY_JSON_NONE) {
                    j->nodes[cur].child = i;

                } else {
                    j->nodes[prev].next = i;
                }

                j->nodes[cur].count++;
            }

            cx.pos = p;

            switch (ch) {

            case '{':
            case '[':

                if (depth == j->max_depth) {
                    return ngx_ws_gateway_json_error(&cx, p, "too deep");
                }

                depth++;

                n->value.data = p++;
                cur = i;
                prev = NGX_WS_GATEWAY_JSON_NONE;

                if (ch == '{') {
                    n->type = NGX_WS_GATEWAY_JSON_OBJECT;
                    state = sw_first_member;

                } else {
                    n->type = NGX_WS_GATEWAY_JSON_ARRAY;
                    state = sw_first_element;
                }

                continue;

            case '"':
                n->type = NGX_WS_GATEWAY_JSON_STRING;

                if (ngx_ws_gateway_json_string(&cx, &n->value) != NGX_OK) {
                    return NGX_ERROR;
                }

                break;

            case '-':
            case '0': case '1': case '2': case '3': case '4':
            case '5': case '6': case '7': case '8': case '9':
                n->type = NGX_WS_GATEWAY_JSON_NUMBER;

                if (ngx_ws_gateway_json_number(&cx, n) != NGX_OK) {
                    return NGX_ERROR;
                }

                break;

            case 't':
            case 'f':
            case 'n':
                if (ngx_ws_gateway_json_literal(&cx, n) != NGX_OK) {
                    return NGX_ERROR;
                }

                break;

            default:
                return ngx_ws_gateway_json_error(&cx, p,
                                                 "unexpected character");
            }

            /* a string, a number or a literal, up to cx.pos */

            p = cx.pos;
            prev = i;
            state = sw_after_value;
            continue;

        case sw_first_member:

            if (ch == '}') {
                goto close;
            }

            /* fall through */

        case sw_member:

            if (ch != '"') {
                return ngx_ws_gateway_json_error(&cx, p,
                                                 "unexpected character");
            }

            cx.pos = p;

            if (ngx_ws_gateway_json_string(&cx, &key) != NGX_OK) {
                return NGX_ERROR;
            }

            if (ngx_ws_gateway_json_duplicate(j, cur, &key)) {
                return ngx_ws_gateway_json_error(&cx, p, "duplicate key");
            }

            p = cx.pos;
            state = sw_colon;
            continue;

        case sw_colon:

            if (ch != ':') {
                return ngx_ws_gateway_json_error(&cx, p,
                                                 "unexpected character");
            }

            p++;
            state = sw_value;
            continue;

        case sw_first_element:

            if (ch == ']') {
                goto close;
            }

            state = sw_value;
            continue;

        case sw_after_value:

            if (cur == NGX_WS_GATEWAY_JSON_NONE) {
                return ngx_ws_gateway_json_error(&cx, p, "trailing data");
            }

            n = &j->nodes[cur];

            if (ch == ',') {
                p++;
                state = (n->type == NGX_WS_GATEWAY_JSON_OBJECT) ? sw_member
                                                                : sw_value;
                continue;
            }

            if ((n->type == NGX_WS_GATEWAY_JSON_OBJECT && ch == '}')
                || (n->type == NGX_WS_GATEWAY_JSON_ARRAY && ch == ']'))
            {
                goto close;
            }

            return ngx_ws_gateway_json_error(&cx, p, "unexpected character");
        }

    close:

        /* the bracket at p closes cur */

        n = &j->nodes[cur];
        n->value.len = ++p - n->value.data;

        prev = cur;
        cur = n->parent;
        depth--;
        state = sw_after_value;
    }
}


/* cx->pos is at the opening quote; on success it is past the closing one */

static ngx_int_t
ngx_ws_gateway_json_string(ngx_ws_gateway_json_ctx_t *cx, ngx_str_t *s)
{
    u_char    ch, *p, *start, *out, utf[4];
    ssize_t   n;
    uint32_t  cp;

    start = cx->pos + 1;
    out = NULL;
    p = start;

    for ( ;; ) {

        if (p == cx->end) {
            return ngx_ws_gateway_json_error(cx, p, "unexpected end");
        }

        ch = *p;

        if (ch == '"') {
            break;
        }

        if (ch == '\\') {

            if (out == NULL) {

                /* the first escape: what came before goes to scratch */

                out = cx->out;

                if (ngx_ws_gateway_json_put(cx, p, start, p - start)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }

            n = ngx_ws_gateway_json_escape(cx, p, &cp);

            if (n == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (cp < 0x80) {
                utf[0] = (u_char) cp;

                if (ngx_ws_gateway_json_put(cx, p, utf, 1) != NGX_OK) {
                    return NGX_ERROR;
                }

            } else if (cp < 0x800) {
                utf[0] = (u_char) (0xc0 | (cp >> 6));
                utf[1] = (u_char) (0x80 | (cp & 0x3f));

                if (ngx_ws_gateway_json_put(cx, p, utf, 2) != NGX_OK) {
                    return NGX_ERROR;
                }

            } else if (cp < 0x10000) {
                utf[0] = (u_char) (0xe0 | (cp >> 12));
                utf[1] = (u_char) (0x80 | ((cp >> 6) & 0x3f));
                utf[2] = (u_char) (0x80 | (cp & 0x3f));

                if (ngx_ws_gateway_json_put(cx, p, utf, 3) != NGX_OK) {
                    return NGX_ERROR;
                }

            } else {
                utf[0] = (u_char) (0xf0 | (cp >> 18));
                utf[1] = (u_char) (0x80 | ((cp >> 12) & 0x3f));
                utf[2] = (u_char) (0x80 | ((cp >> 6) & 0x3f));
                utf[3] = (u_char) (0x80 | (cp & 0x3f));

                if (ngx_ws_gateway_json_put(cx, p, utf, 4) != NGX_OK) {
                    return NGX_ERROR;
                }
            }

            p += n;
            continue;
        }

        if (ch < 0x20) {
            return ngx_ws_gateway_json_error(cx, p, "control character");
        }

        if (ch < 0x80) {
            n = 1;

        } else {
            n = ngx_ws_gateway_json_utf8(cx, p, &cp);

            if (n == NGX_ERROR) {
                return NGX_ERROR;
            }
        }

        if (out && ngx_ws_gateway_json_put(cx, p, p, n) != NGX_OK) {
            return NGX_ERROR;
        }

        p += n;
    }

    if (out) {
        s->data = out;
        s->len = cx->out - out;

    } else {
        s->data = start;
        s->len = p - start;
    }

    if (s->len > cx->j->max_string) {
        return ngx_ws_gateway_json_error(cx, cx->pos, "string too long");
    }

    cx->pos = p + 1;

    return NGX_OK;
}


static ngx_int_t
ngx_ws_gateway_json_put(ngx_ws_gateway_json_ctx_t *cx, u_char *at,
    u_char *src, size_t n)
{
    if (n == 0) {
        return NGX_OK;
    }

    if (n > cx->out_left) {
        return ngx_ws_gateway_json_error(cx, at, "out of scratch space");
    }

    cx->out = ngx_cpymem(cx->out, src, n);
    cx->out_left -= n;

    return NGX_OK;
}


/*
 * An escape at p (the backslash): returns the number of input bytes it
 * takes and sets *cp to the code point, which is never NUL, a surrogate
 * or a noncharacter.
 */

static ssize_t
ngx_ws_gateway_json_escape(ngx_ws_gateway_json_ctx_t *cx, u_char *p,
    uint32_t *cp)
{
    uint32_t  hi, lo;

    if (p + 1 == cx->end) {
        return ngx_ws_gateway_json_error(cx, cx->end, "unexpected end");
    }

    switch (p[1]) {

    case '"':
    case '\\':
    case '/':
        *cp = p[1];
        return 2;

    case 'b':
        *cp = '\b';
        return 2;

    case 'f':
        *cp = '\f';
        return 2;

    case 'n':
        *cp = '\n';
        return 2;

    case 'r':
        *cp = '\r';
        return 2;

    case 't':
        *cp = '\t';
        return 2;

    case 'u':
        break;

    default:
        return ngx_ws_gateway_json_error(cx, p, "invalid escape");
    }

    if (ngx_ws_gateway_json_hex4(cx, p, p + 2, &hi) != NGX_OK) {
        return NGX_ERROR;
    }

    if (hi == 0) {
        return ngx_ws_gateway_json_error(cx, p, "escaped NUL");
    }

    if (hi >= 0xdc00 && hi <= 0xdfff) {
        return ngx_ws_gateway_json_error(cx, p, "invalid surrogate");
    }

    if (hi < 0xd800 || hi > 0xdbff) {

        if (ngx_ws_gateway_json_nonchar(hi)) {
            return ngx_ws_gateway_json_error(cx, p, "noncharacter");
        }

        *cp = hi;
        return 6;
    }

    /* a high surrogate: a low one must follow, escaped */

    if (p + 6 == cx->end || p + 7 == cx->end) {
        return ngx_ws_gateway_json_error(cx, cx->end, "unexpected end");
    }

    if (p[6] != '\\' || p[7] != 'u') {
        return ngx_ws_gateway_json_error(cx, p, "invalid surrogate");
    }

    if (ngx_ws_gateway_json_hex4(cx, p + 6, p + 8, &lo) != NGX_OK) {
        return NGX_ERROR;
    }

    if (lo < 0xdc00 || lo > 0xdfff) {
        return ngx_ws_gateway_json_error(cx, p, "invalid surrogate");
    }

    *cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);

    if (ngx_ws_gateway_json_nonchar(*cp)) {
        return ngx_ws_gateway_json_error(cx, p, "noncharacter");
    }

    return 12;
}


static ngx_int_t
ngx_ws_gateway_json_hex4(ngx_ws_gateway_json_ctx_t *cx, u_char *esc,
    u_char *p, uint32_t *v)
{
    u_char      ch;
    ngx_uint_t  i;

    *v = 0;

    for (i = 0; i < 4; i++) {

        if (p + i == cx->end) {
            return ngx_ws_gateway_json_error(cx, cx->end, "unexpected end");
        }

        ch = p[i];

        if (ch >= '0' && ch <= '9') {
            ch -= '0';

        } else {
            ch |= 0x20;

            if (ch < 'a' || ch > 'f') {
                return ngx_ws_gateway_json_error(cx, esc, "invalid escape");
            }

            ch -= 'a' - 10;
        }

        *v = *v << 4 | ch;
    }

    return NGX_OK;
}


/*
 * A UTF-8 sequence at p (its lead byte is not ASCII): returns its length
 * and sets *cp.  RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF; RFC 7493 2.1: no noncharacters.
 */

static ssize_t
ngx_ws_gateway_json_utf8(ngx_ws_gateway_json_ctx_t *cx, u_char *p,
    uint32_t *cp)
{
    u_char      ch, lo, hi;
    ngx_uint_t  n, i;

    ch = *p;

    if (ch < 0xc2 || ch > 0xf4) {
        return ngx_ws_gateway_json_error(cx, p, "invalid UTF-8");
    }

    if (ch < 0xe0) {
        n = 2;
        *cp = ch & 0x1f;
        lo = 0x80;
        hi = 0xbf;

    } else if (ch < 0xf0) {
        n = 3;
        *cp = ch & 0x0f;
        lo = (ch == 0xe0) ? 0xa0 : 0x80;
        hi = (ch == 0xed) ? 0x9f : 0xbf;

    } else {
        n = 4;
        *cp = ch & 0x07;
        lo = (ch == 0xf0) ? 0x90 : 0x80;
        hi = (ch == 0xf4) ? 0x8f : 0xbf;
    }

    for (i = 1; i < n; i++) {

        if (p + i == cx->end) {
            return ngx_ws_gateway_json_error(cx, cx->end, "unexpected end");
        }

        ch = p[i];

        if (ch < lo || ch > hi) {
            return ngx_ws_gateway_json_error(cx, p + i, "invalid UTF-8");
        }

        *cp = *cp << 6 | (ch & 0x3f);
        lo = 0x80;
        hi = 0xbf;
    }

    if (ngx_ws_gateway_json_nonchar(*cp)) {
        return ngx_ws_gateway_json_error(cx, p, "noncharacter");
    }

    return n;
}


/*
 * RFC 8259 6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, what
 * follows is for the caller to judge ("1x" fails there).  Integers of up
 * to 16 digits are converted here, exactly; the others by strtod() on a
 * NUL-terminated copy, which must take all of it: under a locale whose
 * decimal point is not '.' the number is refused, never misread.
 */

static ngx_int_t
ngx_ws_gateway_json_number(ngx_ws_gateway_json_ctx_t *cx,
    ngx_ws_gateway_json_node_t *n)
{
    char        *e;
    u_char      *p, *start, buf[NGX_WS_GATEWAY_JSON_NUMBER_LEN + 1];
    size_t       len;
    double       d;
    int64_t      v;
    ngx_uint_t   integer, minus;

    p = cx->pos;
    start = p;
    integer = 1;
    minus = 0;

    if (*p == '-') {
        minus = 1;
        p++;
    }

    if (p == cx->end) {
        return ngx_ws_gateway_json_error(cx, p, "unexpected end");
    }

    if (*p == '0') {
        p++;

        if (p < cx->end && ngx_ws_gateway_json_digit(*p)) {
            return ngx_ws_gateway_json_error(cx, p, "invalid number");
        }

    } else if (ngx_ws_gateway_json_digit(*p)) {

        while (p < cx->end && ngx_ws_gateway_json_digit(*p)) {
            p++;
        }

    } else {
        return ngx_ws_gateway_json_error(cx, p, "invalid number");
    }

    if (p < cx->end && *p == '.') {
        integer = 0;
        p++;

        if (ngx_ws_gateway_json_digits(cx, &p) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (p < cx->end && (*p == 'e' || *p == 'E')) {
        integer = 0;
        p++;

        if (p < cx->end && (*p == '+' || *p == '-')) {
            p++;
        }

        if (ngx_ws_gateway_json_digits(cx, &p) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    len = p - start;

    if (len > NGX_WS_GATEWAY_JSON_NUMBER_LEN) {
        return ngx_ws_gateway_json_error(cx, start, "number too long");
    }

    n->value.data = start;
    n->value.len = len;

    if (integer && len - minus <= 16) {

        for (v = 0, p = start + minus; p < start + len; p++) {
            v = v * 10 + (*p - '0');
        }

        if (v <= NGX_WS_GATEWAY_JSON_INT_MAX) {
            n->integer = minus ? -v : v;
            n->number = (double) n->integer;
            n->integral = 1;

            cx->pos = start + len;
            return NGX_OK;
        }
    }

    ngx_memcpy(buf, start, len);
    buf[len] = '\0';

    d = strtod((char *) buf, &e);

    if (e != (char *) buf + len) {
        return ngx_ws_gateway_json_error(cx, start, "invalid number");
    }

    if (!ngx_ws_gateway_json_finite(d)) {
        return ngx_ws_gateway_json_error(cx, start, "number out of range");
    }

    n->number = d;

    if (d >= (double) -NGX_WS_GATEWAY_JSON_INT_MAX
        && d <= (double) NGX_WS_GATEWAY_JSON_INT_MAX
        && (double) (int64_t) d == d)
    {
        n->integer = (int64_t) d;
        n->integral = 1;
    }

    cx->pos = start + len;

    return NGX_OK;
}


static ngx_int_t
ngx_ws_gateway_json_literal(ngx_ws_gateway_json_ctx_t *cx,
    ngx_ws_gateway_json_node_t *n)
{
    u_char      *p;
    ngx_str_t   *lit;
    ngx_uint_t   i;

    p = cx->pos;

    switch (*p) {

    case 't':
        n->type = NGX_WS_GATEWAY_JSON_TRUE;
        lit = &ngx_ws_gateway_json_true;
        break;

    case 'f':
        n->type = NGX_WS_GATEWAY_JSON_FALSE;
        lit = &ngx_ws_gateway_json_false;
        break;

    default: /* 'n' */
        n->type = NGX_WS_GATEWAY_JSON_NULL;
        lit = &ngx_ws_gateway_json_null;
        break;
    }

    for (i = 1; i < lit->len; i++) {

        if (p + i == cx->end) {
            return ngx_ws_gateway_json_error(cx, cx->end, "unexpected end");
        }

        if (p[i] != lit->data[i]) {
            return ngx_ws_gateway_json_error(cx, p + i, "invalid literal");
        }
    }

    n->value.data = p;
    n->value.len = lit->len;

    cx->pos = p + lit->len;

    return NGX_OK;
}


/* whether obj already has a member of that name: O(members), see docs */

static ngx_uint_t
ngx_ws_gateway_json_duplicate(ngx_ws_gateway_json_t *j, ngx_uint_t obj,
    ngx_str_t *key)
{
    ngx_uint_t                   i;
    ngx_ws_gateway_json_node_t  *n;

    for (i = j->nodes[obj].child; i != NGX_WS_GATEWAY_JSON_NONE; i = n->next)
    {
        n = &j->nodes[i];

        if (n->key.len == key->len
            && (key->len == 0
                || ngx_memcmp(n->key.data, key->data, key->len) == 0))
        {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_ws_gateway_json_digits(ngx_ws_gateway_json_ctx_t *cx, u_char **pp)
{
    u_char  *p;

    /* the digits of a fraction or an exponent: at least one */

    p = *pp;

    if (p == cx->end) {
        return ngx_ws_gateway_json_error(cx, p, "unexpected end");
    }

    if (!ngx_ws_gateway_json_digit(*p)) {
        return ngx_ws_gateway_json_error(cx, p, "invalid number");
    }

    while (p < cx->end && ngx_ws_gateway_json_digit(*p)) {
        p++;
    }

    *pp = p;

    return NGX_OK;
}


static ngx_int_t
ngx_ws_gateway_json_error(ngx_ws_gateway_json_ctx_t *cx, u_char *p,
    const char *error)
{
    cx->j->error = error;
    cx->j->offset = p - cx->start;

    return NGX_ERROR;
}


ngx_ws_gateway_json_node_t *
ngx_ws_gateway_json_get(ngx_ws_gateway_json_t *j,
    ngx_ws_gateway_json_node_t *obj, u_char *name, size_t len)
{
    ngx_uint_t                   i;
    ngx_ws_gateway_json_node_t  *n;

    if (obj == NULL || obj->type != NGX_WS_GATEWAY_JSON_OBJECT) {
        return NULL;
    }

    for (i = obj->child; i != NGX_WS_GATEWAY_JSON_NONE; i = n->next) {
        n = &j->nodes[i];

        if (n->key.len == len
            && (len == 0 || ngx_memcmp(n->key.data, name, len) == 0))
        {
            return n;
        }
    }

    return NULL;
}


ngx_ws_gateway_json_node_t *
ngx_ws_gateway_json_get_type(ngx_ws_gateway_json_t *j,
    ngx_ws_gateway_json_node_t *obj, u_char *name, size_t len,
    ngx_uint_t type)
{
    ngx_ws_gateway_json_node_t  *n;

    n = ngx_ws_gateway_json_get(j, obj, name, len);

    if (n == NULL || n->type != type) {
        return NULL;
    }

    return n;
}
