
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#ifndef _NGX_WS_GATEWAY_JSON_H_INCLUDED_
#define _NGX_WS_GATEWAY_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * A strict, bounded JSON parser for JWT headers, claims sets and JWKS
 * documents (RFC 8259 with the I-JSON rules of RFC 7493, see
 * docs/json.md).  Pure: no I/O, no logging, no allocation.  A document
 * is parsed in one call into a flat, read-only tree of nodes in an array
 * the caller provides; nodes are in document order, the root is node 0.
 *
 * Strings without escapes point into the input; strings with escapes
 * are decoded into a scratch buffer the caller provides (len bytes of
 * scratch always suffice for an input of len bytes).  Numbers, literals
 * and containers point into the input as written.  The input and the
 * scratch buffer must outlive the tree; the input is never written to.
 */


#define NGX_WS_GATEWAY_JSON_OBJECT          1
#define NGX_WS_GATEWAY_JSON_ARRAY           2
#define NGX_WS_GATEWAY_JSON_STRING          3
#define NGX_WS_GATEWAY_JSON_NUMBER          4
#define NGX_WS_GATEWAY_JSON_TRUE            5
#define NGX_WS_GATEWAY_JSON_FALSE           6
#define NGX_WS_GATEWAY_JSON_NULL            7

#define NGX_WS_GATEWAY_JSON_NONE            ((ngx_uint_t) -1)

/* defaults set by ngx_ws_gateway_json_init() */
#define NGX_WS_GATEWAY_JSON_MAX_SIZE        65536
#define NGX_WS_GATEWAY_JSON_MAX_DEPTH       16
#define NGX_WS_GATEWAY_JSON_MAX_STRING      16384

/* the longest number accepted, in characters as written */
#define NGX_WS_GATEWAY_JSON_NUMBER_LEN      64

/* 2^53 - 1: the largest integer every double holds exactly */
#define NGX_WS_GATEWAY_JSON_INT_MAX         9007199254740991LL


typedef struct {
    ngx_uint_t                type;

    /* the member name, decoded; empty for array elements and the root */
    ngx_str_t                 key;

    /*
     * a string: its decoded bytes (UTF-8, never a NUL); a number: its
     * text as written; true, false, null: the literal; an object or an
     * array: its text from the opening to the closing bracket
     */
    ngx_str_t                 value;

    /* node indices, or NGX_WS_GATEWAY_JSON_NONE */
    ngx_uint_t                parent;
    ngx_uint_t                child;           /* the first member */
    ngx_uint_t                next;            /* the next sibling */

    ngx_uint_t                count;           /* members or elements */

    /*
     * a number's value; when it is an integer of at most 2^53 - 1 in
     * magnitude ("1e3" and "5.0" included), integral is set and integer
     * holds it exactly
     */
    double                    number;
    int64_t                   integer;
    unsigned                  integral:1;
} ngx_ws_gateway_json_node_t;


typedef struct {
    /* set by ngx_ws_gateway_json_init(), the limits may then be changed */
    ngx_ws_gateway_json_node_t  *nodes;
    ngx_uint_t                   max_nodes;
    u_char                      *scratch;
    size_t                       scratch_size;

    size_t                       max_size;     /* input bytes */
    ngx_uint_t                   max_depth;    /* nested containers */
    size_t                       max_string;   /* decoded bytes */
    unsigned                     require_object:1;

    /* results: the node count, or on NGX_ERROR a static reason and where */
    ngx_uint_t                   nnodes;
    const char                  *error;
    size_t                       offset;
} ngx_ws_gateway_json_t;


#define ngx_ws_gateway_json_root(j)                                          \
    ((j)->nnodes ? &(j)->nodes[0] : NULL)

#define ngx_ws_gateway_json_node(j, i)                                       \
    ((i) == NGX_WS_GATEWAY_JSON_NONE ? NULL : &(j)->nodes[i])

/* iteration over the members of an object or the elements of an array */
#define ngx_ws_gateway_json_first(j, n)                                      \
    ngx_ws_gateway_json_node(j, (n)->child)
#define ngx_ws_gateway_json_next(j, n)                                       \
    ngx_ws_gateway_json_node(j, (n)->next)

#define ngx_ws_gateway_json_is_integer(n)                                    \
    ((n)->type == NGX_WS_GATEWAY_JSON_NUMBER && (n)->integral)


/*
 * Prepares a parser over the caller's node array and scratch buffer,
 * with the default limits and require_object set.
 */
void ngx_ws_gateway_json_init(ngx_ws_gateway_json_t *j,
    ngx_ws_gateway_json_node_t *nodes, ngx_uint_t max_nodes,
    u_char *scratch, size_t scratch_size);

/*
 * Parses a whole document.  NGX_OK: j->nnodes nodes were filled in.
 * NGX_ERROR: j->error says why ("duplicate key", "too deep", ...) and
 * j->offset at which input byte (j->offset == len: at the end); the
 * nodes then hold nothing of use.  A parser may be used again.
 */
ngx_int_t ngx_ws_gateway_json_parse(ngx_ws_gateway_json_t *j,
    u_char *data, size_t len);

/*
 * The member of an object with the given name, or NULL (also when obj
 * is not an object).  The name is compared with the decoded key.
 */
ngx_ws_gateway_json_node_t *ngx_ws_gateway_json_get(ngx_ws_gateway_json_t *j,
    ngx_ws_gateway_json_node_t *obj, u_char *name, size_t len);

/* the same, or NULL when the member is not of the given type */
ngx_ws_gateway_json_node_t *ngx_ws_gateway_json_get_type(
    ngx_ws_gateway_json_t *j, ngx_ws_gateway_json_node_t *obj, u_char *name,
    size_t len, ngx_uint_t type);


#endif /* _NGX_WS_GATEWAY_JSON_H_INCLUDED_ */
