
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


/*
 * libFuzzer target: ngx_ws_gateway_json_parse().  Input: a byte of
 * limits (nodes, depth, string length, require_object, scratch size;
 * 0 for the most lenient), then the document, parsed from a buffer of
 * exactly its size.
 *
 * Checked on a refusal: a reason, and an offset within the input; no
 * "out of scratch space" when the scratch buffer was as large as the
 * input.  On success: the node count, the links (document order,
 * siblings share a parent, counts), keys exactly on object members,
 * values inside the input or the scratch buffer, the limits (depth,
 * string length), decoded strings valid UTF-8 (by the reference
 * validator) without NUL, no duplicate keys; then the tree is written
 * out again as JSON, which must parse into the same tree, and the
 * document cut before its last byte must be refused (for objects).
 */


#include "fuzz.h"
#include <ngx_ws_gateway_json.h>


#define FUZZ_NODES  64


static void fuzz_json_check(ngx_ws_gateway_json_t *j, const u_char *doc,
    size_t len, const u_char *scratch, size_t size);
static u_char *fuzz_json_write(u_char *d, ngx_ws_gateway_json_t *j,
    ngx_ws_gateway_json_node_t *n);
static u_char *fuzz_json_write_str(u_char *d, ngx_str_t *s);
static void fuzz_json_same(ngx_ws_gateway_json_t *a,
    ngx_ws_gateway_json_t *b);
static ngx_uint_t fuzz_json_str_eq(ngx_str_t *a, ngx_str_t *b);


static ngx_ws_gateway_json_node_t  fuzz_nodes[FUZZ_NODES];
static ngx_ws_gateway_json_node_t  fuzz_nodes2[FUZZ_NODES];


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                 *doc, *scratch, *out, *scratch2, *end;
    size_t                  len, ssize, last;
    ngx_int_t               rc;
    ngx_uint_t              limits;
    ngx_ws_gateway_json_t   j, j2;

    static ngx_uint_t  nodes[] = { FUZZ_NODES, 1, 8, 32 };
    static ngx_uint_t  depths[] = { 16, 1, 2, 4 };
    static size_t      strings[] = { 1024, 0, 4, 16 };

    if (size < 1) {
        return 0;
    }

    /*
     * the limits byte: bits 0-1 nodes, 2-3 depth, 4-5 string length,
     * 6 any root, 7 a scratch buffer of half the input; 0 is lenient
     */

    limits = data[0];
    data++;
    len = size - 1;

    doc = malloc(len ? len : 1);
    memcpy(doc, data, len);

    ssize = (limits & 0x80) ? len / 2 : len;
    scratch = malloc(ssize ? ssize : 1);

    ngx_ws_gateway_json_init(&j, fuzz_nodes, nodes[limits & 0x03], scratch,
                             ssize);

    j.max_depth = depths[(limits >> 2) & 0x03];
    j.max_string = strings[(limits >> 4) & 0x03];
    j.require_object = (limits & 0x40) ? 0 : 1;

    rc = ngx_ws_gateway_json_parse(&j, doc, len);

    fuzz_assert(memcmp(doc, data, len) == 0);

    if (rc != NGX_OK) {
        fuzz_assert(rc == NGX_ERROR);
        fuzz_assert(j.error != NULL);
        fuzz_assert(j.offset <= len);
        fuzz_assert(ssize < len
                    || strcmp(j.error, "out of scratch space") != 0);
        goto done;
    }

    fuzz_assert(j.error == NULL);
    fuzz_json_check(&j, doc, len, scratch, ssize);

    /* written out and parsed again: the same tree */

    out = malloc(6 * len + 16);
    end = fuzz_json_write(out, &j, &j.nodes[0]);

    scratch2 = malloc(end - out);

    ngx_ws_gateway_json_init(&j2, fuzz_nodes2, j.nnodes, scratch2,
                             end - out);
    j2.max_size = end - out;
    j2.max_depth = j.max_depth;
    j2.max_string = j.max_string;
    j2.require_object = j.require_object;

    rc = ngx_ws_gateway_json_parse(&j2, out, end - out);

    if (rc != NGX_OK) {
        fprintf(stderr, "rewritten: %s at %lu: \"%.*s\"\n", j2.error,
                (unsigned long) j2.offset, (int) (end - out), out);
    }

    fuzz_assert(rc == NGX_OK);
    fuzz_json_same(&j, &j2);

    free(scratch2);
    free(out);

    /* an object cut before its closing brace is refused */

    if (j.require_object) {
        for (last = len; doc[last - 1] != '}'; last--) { /* void */ }

        fuzz_assert(ngx_ws_gateway_json_parse(&j, doc, last - 1)
                    == NGX_ERROR);
    }

done:

    free(scratch);
    free(doc);

    return 0;
}


static void
fuzz_json_check(ngx_ws_gateway_json_t *j, const u_char *doc, size_t len,
    const u_char *scratch, size_t size)
{
    size_t                       slen;
    u_char                      *s;
    ngx_uint_t                   i, k, depth, count, complete;
    ngx_ws_gateway_json_node_t  *n, *p, *c;

    fuzz_assert(j->nnodes >= 1 && j->nnodes <= j->max_nodes);

    for (i = 0; i < j->nnodes; i++) {
        n = &j->nodes[i];

        fuzz_assert(n->type >= NGX_WS_GATEWAY_JSON_OBJECT
                    && n->type <= NGX_WS_GATEWAY_JSON_NULL);

        /* links */

        if (i == 0) {
            fuzz_assert(n->parent == NGX_WS_GATEWAY_JSON_NONE);
            fuzz_assert(n->next == NGX_WS_GATEWAY_JSON_NONE);
            fuzz_assert(n->key.len == 0 && n->key.data == NULL);
            fuzz_assert(!j->require_object
                        || n->type == NGX_WS_GATEWAY_JSON_OBJECT);

        } else {
            fuzz_assert(n->parent < i);

            p = &j->nodes[n->parent];

            if (p->type == NGX_WS_GATEWAY_JSON_OBJECT) {
                fuzz_assert(n->key.data != NULL);

            } else {
                fuzz_assert(p->type == NGX_WS_GATEWAY_JSON_ARRAY);
                fuzz_assert(n->key.len == 0 && n->key.data == NULL);
            }
        }

        if (n->next != NGX_WS_GATEWAY_JSON_NONE) {
            fuzz_assert(n->next > i && n->next < j->nnodes);
            fuzz_assert(j->nodes[n->next].parent == n->parent);
        }

        if (n->type != NGX_WS_GATEWAY_JSON_OBJECT
            && n->type != NGX_WS_GATEWAY_JSON_ARRAY)
        {
            fuzz_assert(n->child == NGX_WS_GATEWAY_JSON_NONE);
            fuzz_assert(n->count == 0);
        }

        count = 0;

        for (c = ngx_ws_gateway_json_first(j, n);
             c;
             c = ngx_ws_gateway_json_next(j, c))
        {
            fuzz_assert(c->parent == i);
            count++;
        }

        fuzz_assert(count == n->count);
        fuzz_assert(n->child == NGX_WS_GATEWAY_JSON_NONE
                    || n->child == i + 1);

        /* depth */

        depth = (n->type == NGX_WS_GATEWAY_JSON_OBJECT
                 || n->type == NGX_WS_GATEWAY_JSON_ARRAY);

        for (k = n->parent; k != NGX_WS_GATEWAY_JSON_NONE;
             k = j->nodes[k].parent)
        {
            depth++;
        }

        fuzz_assert(depth <= j->max_depth);

        /* the key and the value: in place, strings valid */

        for (k = 0; k < 2; k++) {
            s = k ? n->value.data : n->key.data;
            slen = k ? n->value.len : n->key.len;

            if (s == NULL) {
                continue;
            }

            fuzz_assert((s >= doc && s + slen <= doc + len)
                        || (s >= scratch && s + slen <= scratch + size));

            if (k == 0 || n->type == NGX_WS_GATEWAY_JSON_STRING) {
                fuzz_assert(slen <= j->max_string);
                fuzz_assert(memchr(s, '\0', slen) == NULL);

                complete = 0;
                fuzz_assert(fuzz_utf8_reference(s, slen, &complete) < 0);
                fuzz_assert(complete);
            }
        }

        fuzz_assert(n->value.data != NULL);

        /* numbers */

        if (n->type == NGX_WS_GATEWAY_JSON_NUMBER) {
            fuzz_assert(n->value.len >= 1
                        && n->value.len <= NGX_WS_GATEWAY_JSON_NUMBER_LEN);
            fuzz_assert(n->number - n->number == 0.0);

            if (n->integral) {
                fuzz_assert(n->integer <= NGX_WS_GATEWAY_JSON_INT_MAX
                            && n->integer >= -NGX_WS_GATEWAY_JSON_INT_MAX);
                fuzz_assert((double) n->integer == n->number);
            }
        }

        /* no duplicate keys */

        if (n->type == NGX_WS_GATEWAY_JSON_OBJECT) {
            for (c = ngx_ws_gateway_json_first(j, n);
                 c;
                 c = ngx_ws_gateway_json_next(j, c))
            {
                fuzz_assert(ngx_ws_gateway_json_get(j, n, c->key.data,
                                                    c->key.len)
                            == c);
            }
        }
    }
}


static u_char *
fuzz_json_write(u_char *d, ngx_ws_gateway_json_t *j,
    ngx_ws_gateway_json_node_t *n)
{
    ngx_ws_gateway_json_node_t  *c;

    switch (n->type) {

    case NGX_WS_GATEWAY_JSON_OBJECT:
    case NGX_WS_GATEWAY_JSON_ARRAY:

        *d++ = (n->type == NGX_WS_GATEWAY_JSON_OBJECT) ? '{' : '[';

        for (c = ngx_ws_gateway_json_first(j, n);
             c;
             c = ngx_ws_gateway_json_next(j, c))
        {
            if (c != ngx_ws_gateway_json_first(j, n)) {
                *d++ = ',';
            }

            if (n->type == NGX_WS_GATEWAY_JSON_OBJECT) {
                d = fuzz_json_write_str(d, &c->key);
                *d++ = ':';
            }

            d = fuzz_json_write(d, j, c);
        }

        *d++ = (n->type == NGX_WS_GATEWAY_JSON_OBJECT) ? '}' : ']';

        return d;

    case NGX_WS_GATEWAY_JSON_STRING:
        return fuzz_json_write_str(d, &n->value);

    default:
        return ngx_cpymem(d, n->value.data, n->value.len);
    }
}


static u_char *
fuzz_json_write_str(u_char *d, ngx_str_t *s)
{
    u_char  ch;
    size_t  i;

    *d++ = '"';

    for (i = 0; i < s->len; i++) {
        ch = s->data[i];

        if (ch == '"' || ch == '\\') {
            *d++ = '\\';
            *d++ = ch;

        } else if (ch < 0x20) {
            d += sprintf((char *) d, "\\u%04x", ch);

        } else {
            *d++ = ch;
        }
    }

    *d++ = '"';

    return d;
}


static void
fuzz_json_same(ngx_ws_gateway_json_t *a, ngx_ws_gateway_json_t *b)
{
    ngx_uint_t                   i;
    ngx_ws_gateway_json_node_t  *x, *y;

    fuzz_assert(a->nnodes == b->nnodes);

    for (i = 0; i < a->nnodes; i++) {
        x = &a->nodes[i];
        y = &b->nodes[i];

        fuzz_assert(x->type == y->type);
        fuzz_assert(x->parent == y->parent);
        fuzz_assert(x->child == y->child);
        fuzz_assert(x->next == y->next);
        fuzz_assert(x->count == y->count);
        fuzz_assert((x->key.data == NULL) == (y->key.data == NULL));
        fuzz_assert(fuzz_json_str_eq(&x->key, &y->key));

        if (x->type == NGX_WS_GATEWAY_JSON_OBJECT
            || x->type == NGX_WS_GATEWAY_JSON_ARRAY)
        {
            continue;
        }

        fuzz_assert(fuzz_json_str_eq(&x->value, &y->value));

        if (x->type == NGX_WS_GATEWAY_JSON_NUMBER) {
            fuzz_assert(x->integral == y->integral);
            fuzz_assert(x->integer == y->integer);
            fuzz_assert(memcmp(&x->number, &y->number, sizeof(double))
                        == 0);
        }
    }
}


static ngx_uint_t
fuzz_json_str_eq(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len
           && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}
