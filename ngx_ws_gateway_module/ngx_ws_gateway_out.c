
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <sys/mman.h>

#include "ngx_ws_gateway_parse.h"
#include "ngx_ws_gateway_out.h"


#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NGX_WS_GATEWAY_ASAN  1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__) && !defined(NGX_WS_GATEWAY_ASAN)
#define NGX_WS_GATEWAY_ASAN  1
#endif

#if (NGX_WS_GATEWAY_ASAN)
#include <sanitizer/asan_interface.h>
#define ngx_ws_gateway_poison(p, n)    ASAN_POISON_MEMORY_REGION(p, n)
#define ngx_ws_gateway_unpoison(p, n)  ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define ngx_ws_gateway_poison(p, n)
#define ngx_ws_gateway_unpoison(p, n)
#endif


/*
 * A slab's header lives outside its mapping, so that each block is one
 * page of its own: a free block's page can go back to the system while
 * the other blocks of its slab are in use.  Which blocks are free is a
 * bit mask, not a list through the blocks, for the same reason.
 */

struct ngx_ws_gateway_slab_s {
    ngx_queue_t                 queue;     /* partial, full or empty */
    u_char                     *base;      /* the mapping */
    uint32_t                    free;      /* a bit per free block */
    uint32_t                    cold;      /* free, page not resident */
    ngx_uint_t                  used;
};


#define NGX_WS_GATEWAY_BLOCK_STRIDE                                           \
    (NGX_WS_GATEWAY_SLAB_SIZE / NGX_WS_GATEWAY_SLAB_BLOCKS)

#define NGX_WS_GATEWAY_SLAB_ALL                                               \
    ((uint32_t) ((1U << NGX_WS_GATEWAY_SLAB_BLOCKS) - 1))

/*
 * Free blocks of slabs in use whose pages stay resident, for reuse
 * without a page fault, per worker (1 MB); the pages of other free
 * blocks go back to the system as the blocks are freed.
 */
#define NGX_WS_GATEWAY_WARM_MAX        256

#define NGX_WS_GATEWAY_BLOCK_DATA                                             \
    (NGX_WS_GATEWAY_BLOCK_STRIDE - offsetof(ngx_ws_gateway_block_t, data))

#define ngx_ws_gateway_block(cl)     ((ngx_ws_gateway_block_t *) (cl))
#define ngx_ws_gateway_next(b)       ngx_ws_gateway_block((b)->chain.next)


/* a place in a queue's stream */

typedef struct {
    ngx_ws_gateway_block_t     *block;
    u_char                     *p;
} ngx_ws_gateway_pos_t;


typedef struct {
    ngx_queue_t                 partial;   /* some blocks free */
    ngx_queue_t                 full;
    ngx_queue_t                 empty;     /* kept mapped */
    ngx_uint_t                  nslabs;
    ngx_uint_t                  nempty;
    ngx_uint_t                  used;      /* blocks */
    ngx_uint_t                  warm;      /* free and resident blocks
                                              of partial slabs */
    ngx_uint_t                  init;
} ngx_ws_gateway_pool_t;


static ngx_int_t ngx_ws_gateway_out_pong(ngx_ws_gateway_out_t *q,
    u_char *hdr, size_t hlen, u_char *data, size_t len);
static ngx_int_t ngx_ws_gateway_out_write(ngx_ws_gateway_out_t *q,
    u_char *hdr, size_t hlen, u_char *data, size_t len, ngx_uint_t is_data);
static void ngx_ws_gateway_out_append(ngx_ws_gateway_out_t *q,
    ngx_ws_gateway_block_t *b);
static ngx_int_t ngx_ws_gateway_out_header(ngx_ws_gateway_pos_t *pos,
    ngx_uint_t *opcode, uint64_t *total);
static ngx_int_t ngx_ws_gateway_out_advance(ngx_ws_gateway_pos_t *pos,
    uint64_t n);
static void ngx_ws_gateway_out_boundary(ngx_ws_gateway_out_t *q,
    u_char *point, ngx_ws_gateway_pos_t *bound, ngx_uint_t *straddle);
static ngx_uint_t ngx_ws_gateway_out_count(ngx_ws_gateway_pos_t *from);
static void ngx_ws_gateway_out_release(ngx_ws_gateway_out_t *q,
    ngx_ws_gateway_block_t *b);
static ngx_ws_gateway_slab_t *ngx_ws_gateway_slab_map(void);
static void ngx_ws_gateway_slab_unmap(ngx_ws_gateway_slab_t *slab);
static void ngx_ws_gateway_pool_init(void);


static ngx_ws_gateway_pool_t  ngx_ws_gateway_pool;

size_t  ngx_ws_gateway_shared_excess;


/* references: a free list of headers, at most this many kept */

#define NGX_WS_GATEWAY_REFS_KEPT       4096

static ngx_ws_gateway_block_t  *ngx_ws_gateway_refs_free;
static ngx_uint_t               ngx_ws_gateway_refs_kept;
static ngx_uint_t               ngx_ws_gateway_refs_used;


ngx_int_t
ngx_ws_gateway_out_frame(ngx_ws_gateway_out_t *q, ngx_uint_t opcode,
    ngx_uint_t flags, u_char *data, size_t len)
{
    u_char  hdr[NGX_WS_GATEWAY_SERVER_HEADER_MAX];
    size_t  hlen;

    hlen = ngx_ws_gateway_write_frame_header(hdr, opcode, flags, len) - hdr;

    if (opcode == NGX_WS_GATEWAY_OP_PONG) {
        return ngx_ws_gateway_out_pong(q, hdr, hlen, data, len);
    }

    return ngx_ws_gateway_out_write(q, hdr, hlen, data, len,
                                    !ngx_ws_gateway_op_is_control(opcode));
}


ngx_int_t
ngx_ws_gateway_out_record(ngx_ws_gateway_out_t *q, u_char *head,
    size_t hlen, u_char *data, size_t len)
{
    return ngx_ws_gateway_out_write(q, head, hlen, data, len, 0);
}


static ngx_int_t
ngx_ws_gateway_out_write(ngx_ws_gateway_out_t *q, u_char *hdr, size_t hlen,
    u_char *data, size_t len, ngx_uint_t is_data)
{
    u_char                  *src;
    size_t                   room, left, part;
    uint64_t                 total;
    ngx_uint_t               nblocks, i;
    ngx_ws_gateway_block_t  *b, *nb, *first, *last;

    /* the frame goes on in the last block, then in as many as it needs */

    b = q->tail;
    room = (b && !b->sealed) ? (size_t) (b->buf.end - b->buf.last) : 0;
    total = hlen + len;

    nblocks = (total > room)
              ? (total - room + NGX_WS_GATEWAY_BLOCK_DATA - 1)
                / NGX_WS_GATEWAY_BLOCK_DATA
              : 0;

    first = NULL;
    last = NULL;

    for (i = 0; i < nblocks; i++) {
        nb = ngx_ws_gateway_block_alloc();

        if (nb == NULL) {
            while (first) {
                nb = first;
                first = ngx_ws_gateway_next(nb);
                ngx_ws_gateway_block_free(nb);
            }

            return NGX_ERROR;
        }

        if (last) {
            last->chain.next = &nb->chain;

        } else {
            first = nb;
        }

        last = nb;
    }

    if (room == 0) {
        b = first;
    }

    if (first) {
        if (q->tail) {
            q->tail->chain.next = &first->chain;

        } else {
            q->out = &first->chain;
        }

        q->tail = last;
        q->size += nblocks * NGX_WS_GATEWAY_BLOCK_SIZE;
    }

    if (b->first == NGX_WS_GATEWAY_NO_FRAME) {
        b->first = (uint32_t) (b->buf.last - b->buf.start);
    }

    /* the header, then the payload, across blocks */

    src = hdr;
    left = hlen;

    for (i = 0; i < 2; i++) {

        while (left) {
            if (b->buf.last == b->buf.end) {
                b = ngx_ws_gateway_next(b);
                b->in_data = is_data;
            }

            part = ngx_min(left, (size_t) (b->buf.end - b->buf.last));
            b->buf.last = ngx_cpymem(b->buf.last, src, part);
            src += part;
            left -= part;
        }

        src = data;
        left = len;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_ws_gateway_out_pong(ngx_ws_gateway_out_t *q, u_char *hdr, size_t hlen,
    u_char *data, size_t len)
{
    u_char                  *p;
    ngx_ws_gateway_block_t  *b;

    /*
     * A pong that the transport has not been given answers the latest
     * ping instead: RFC 6455, 5.5.3 allows answering the most recent
     * ping only.
     */

    b = q->pong;

    if (b == NULL
        || (q->out == &b->chain
            && (b->flight || b->buf.pos != b->buf.start)))
    {
        b = ngx_ws_gateway_block_alloc();
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->sealed = 1;
        b->first = 0;

        ngx_ws_gateway_out_append(q, b);
        q->pong = b;
    }

    p = ngx_cpymem(b->buf.start, hdr, hlen);

    if (len) {
        p = ngx_cpymem(p, data, len);
    }

    b->buf.last = p;

    return NGX_OK;
}


ngx_ws_gateway_shared_t *
ngx_ws_gateway_shared_frame(ngx_uint_t opcode, u_char *data, size_t len)
{
    u_char                    hdr[NGX_WS_GATEWAY_SERVER_HEADER_MAX], *p;
    size_t                    hlen, size;
    ngx_ws_gateway_shared_t  *sh;

    hlen = ngx_ws_gateway_write_frame_header(hdr, opcode, NGX_WS_GATEWAY_FIN,
                                             len)
           - hdr;

    size = offsetof(ngx_ws_gateway_shared_t, data) + hlen + len;

    sh = malloc(size);
    if (sh == NULL) {
        return NULL;
    }

    sh->refs = 1;
    sh->queued = 0;
    sh->size = size;
    sh->len = hlen + len;

    p = ngx_cpymem(sh->data, hdr, hlen);

    if (len) {
        ngx_memcpy(p, data, len);
    }

    return sh;
}


void
ngx_ws_gateway_shared_release(ngx_ws_gateway_shared_t *sh)
{
    if (--sh->refs == 0) {
        free(sh);
    }
}


ngx_int_t
ngx_ws_gateway_out_shared(ngx_ws_gateway_out_t *q,
    ngx_ws_gateway_shared_t *sh)
{
    ngx_ws_gateway_block_t  *b;

    b = ngx_ws_gateway_refs_free;

    if (b) {
        ngx_ws_gateway_refs_free = ngx_ws_gateway_next(b);
        ngx_ws_gateway_refs_kept--;

    } else {
        b = malloc(NGX_WS_GATEWAY_REF_SIZE);
        if (b == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_ws_gateway_refs_used++;

    ngx_memzero(b, NGX_WS_GATEWAY_REF_SIZE);

    sh->refs++;

    if (sh->queued++) {
        ngx_ws_gateway_shared_excess += sh->size;
    }

    b->shared = sh;
    b->chain.buf = &b->buf;
    b->first = 0;
    b->in_data = 1;
    b->sealed = 1;

    b->buf.start = sh->data;
    b->buf.pos = sh->data;
    b->buf.last = sh->data + sh->len;
    b->buf.end = b->buf.last;
    b->buf.memory = 1;

    if (q->tail) {
        q->tail->chain.next = &b->chain;

    } else {
        q->out = &b->chain;
    }

    q->tail = b;
    q->size += NGX_WS_GATEWAY_REF_SIZE + sh->size;

    return NGX_OK;
}


void
ngx_ws_gateway_out_splice(ngx_ws_gateway_out_t *dst,
    ngx_ws_gateway_out_t *src)
{
    if (src->out == NULL) {
        return;
    }

    if (dst->tail) {
        dst->tail->chain.next = src->out;

    } else {
        dst->out = src->out;
    }

    dst->tail = src->tail;
    dst->size += src->size;

    ngx_memzero(src, sizeof(ngx_ws_gateway_out_t));
}


void
ngx_ws_gateway_out_unsent(ngx_ws_gateway_out_t *q,
    void (*handler)(u_char *head, size_t n, void *data), void *data)
{
    u_char                   head[14], *point;
    size_t                   n;
    uint32_t                 length;
    ngx_ws_gateway_pos_t     pos, end;
    ngx_ws_gateway_block_t  *first, *b;

    if (q->out == NULL) {
        return;
    }

    first = ngx_ws_gateway_block(q->out);
    point = ngx_max(first->buf.pos, first->buf.start + first->flight);

    /* the first record that starts in a block held */

    for (b = first; b; b = ngx_ws_gateway_next(b)) {
        if (b->first != NGX_WS_GATEWAY_NO_FRAME) {
            break;
        }
    }

    if (b == NULL) {
        return;
    }

    pos.block = b;
    pos.p = b->buf.start + b->first;

    for ( ;; ) {

        /* the head, across blocks */

        end = pos;

        for (n = 0; n < sizeof(head); n++) {
            while (end.p == end.block->buf.last) {
                if (end.block->chain.next == NULL) {
                    break;
                }

                end.block = ngx_ws_gateway_next(end.block);
                end.p = end.block->buf.start;
            }

            if (end.p == end.block->buf.last) {
                break;
            }

            head[n] = *end.p++;
        }

        if (n < 6) {
            return;
        }

        length = ((uint32_t) head[0] << 24) | ((uint32_t) head[1] << 16)
                 | ((uint32_t) head[2] << 8) | head[3];

        end = pos;

        if (ngx_ws_gateway_out_advance(&end, (uint64_t) 4 + length)
            != NGX_OK)
        {
            /* cut short: not given whole */

            handler(head, ngx_min(n, (size_t) 4 + length), data);
            return;
        }

        if (end.block != first || end.p > point) {
            handler(head, ngx_min(n, (size_t) 4 + length), data);
        }

        pos = end;

        while (pos.p == pos.block->buf.last) {
            if (pos.block->chain.next == NULL) {
                return;
            }

            pos.block = ngx_ws_gateway_next(pos.block);
            pos.p = pos.block->buf.start;
        }
    }
}


void
ngx_ws_gateway_refs_stats(ngx_uint_t *used, ngx_uint_t *kept)
{
    *used = ngx_ws_gateway_refs_used;
    *kept = ngx_ws_gateway_refs_kept;
}


static void
ngx_ws_gateway_out_append(ngx_ws_gateway_out_t *q, ngx_ws_gateway_block_t *b)
{
    if (q->tail) {
        q->tail->chain.next = &b->chain;

    } else {
        q->out = &b->chain;
    }

    q->tail = b;
    q->size += NGX_WS_GATEWAY_BLOCK_SIZE;
}


void
ngx_ws_gateway_out_sent(ngx_ws_gateway_out_t *q, ngx_chain_t *cl)
{
    ngx_ws_gateway_block_t  *b;

    while (q->out != cl) {
        b = ngx_ws_gateway_block(q->out);
        q->out = b->chain.next;
        ngx_ws_gateway_out_release(q, b);
    }

    if (cl == NULL) {
        q->tail = NULL;
        return;
    }

    /*
     * what was given to the transport is committed: TLS may hold a part
     * of it, to be written again from the same place
     */

    b = ngx_ws_gateway_block(cl);
    b->flight = (uint32_t) (b->buf.last - b->buf.start);
}


ngx_uint_t
ngx_ws_gateway_out_cut(ngx_ws_gateway_out_t *q)
{
    u_char                  *point;
    ngx_uint_t               straddle, dropped;
    ngx_ws_gateway_pos_t     bound;
    ngx_ws_gateway_block_t  *head, *b, *next, *prev;

    if (q->out == NULL) {
        return 0;
    }

    head = ngx_ws_gateway_block(q->out);
    point = ngx_max(head->buf.pos, head->buf.start + head->flight);

    ngx_ws_gateway_out_boundary(q, point, &bound, &straddle);

    dropped = ngx_ws_gateway_out_count(&bound);

    b = bound.block;
    b->buf.last = bound.p;

    for (next = ngx_ws_gateway_next(b); next; /* void */) {
        b = next;
        next = ngx_ws_gateway_next(b);
        ngx_ws_gateway_out_release(q, b);
    }

    b = bound.block;
    b->chain.next = NULL;
    q->tail = b;

    if (b->buf.last > b->buf.start || b->flight) {
        return dropped;
    }

    /* the block is left empty: it goes too */

    if (b == head) {
        q->out = NULL;
        q->tail = NULL;
        ngx_ws_gateway_out_release(q, b);
        return dropped;
    }

    for (prev = head; ngx_ws_gateway_next(prev) != b; /* void */) {
        prev = ngx_ws_gateway_next(prev);
    }

    prev->chain.next = NULL;
    q->tail = prev;
    ngx_ws_gateway_out_release(q, b);

    return dropped;
}


ngx_uint_t
ngx_ws_gateway_out_free(ngx_ws_gateway_out_t *q)
{
    ngx_uint_t               straddle, n;
    ngx_ws_gateway_pos_t     bound;
    ngx_ws_gateway_block_t  *b;

    if (q->out == NULL) {
        return 0;
    }

    b = ngx_ws_gateway_block(q->out);

    ngx_ws_gateway_out_boundary(q, b->buf.pos, &bound, &straddle);

    n = straddle + ngx_ws_gateway_out_count(&bound);

    while (q->out) {
        b = ngx_ws_gateway_block(q->out);
        q->out = b->chain.next;
        ngx_ws_gateway_out_release(q, b);
    }

    q->tail = NULL;

    return n;
}


static void
ngx_ws_gateway_out_release(ngx_ws_gateway_out_t *q, ngx_ws_gateway_block_t *b)
{
    if (q->pong == b) {
        q->pong = NULL;
    }

    if (b->shared) {
        q->size -= NGX_WS_GATEWAY_REF_SIZE + b->shared->size;

        if (--b->shared->queued) {
            ngx_ws_gateway_shared_excess -= b->shared->size;
        }

        ngx_ws_gateway_shared_release(b->shared);
        ngx_ws_gateway_refs_used--;

        if (ngx_ws_gateway_refs_kept < NGX_WS_GATEWAY_REFS_KEPT) {
            b->shared = NULL;
            b->chain.next = (ngx_chain_t *) ngx_ws_gateway_refs_free;
            ngx_ws_gateway_refs_free = b;
            ngx_ws_gateway_refs_kept++;

        } else {
            free(b);
        }

        return;
    }

    q->size -= NGX_WS_GATEWAY_BLOCK_SIZE;

    ngx_ws_gateway_block_free(b);
}


static void
ngx_ws_gateway_out_boundary(ngx_ws_gateway_out_t *q, u_char *point,
    ngx_ws_gateway_pos_t *bound, ngx_uint_t *straddle)
{
    uint64_t                 total;
    ngx_uint_t               opcode;
    ngx_ws_gateway_pos_t     pos, end;
    ngx_ws_gateway_block_t  *head, *b;

    /*
     * The first frame boundary at or after "point" (a place in the first
     * block); *straddle: a data frame runs across the point.
     */

    head = ngx_ws_gateway_block(q->out);

    if (head->first == NGX_WS_GATEWAY_NO_FRAME
        || head->buf.start + head->first > point)
    {
        /* the point is inside a frame begun in a block already freed */

        *straddle = head->in_data;

        if (head->first != NGX_WS_GATEWAY_NO_FRAME) {
            bound->block = head;
            bound->p = head->buf.start + head->first;
            return;
        }

        for (b = ngx_ws_gateway_next(head); b; b = ngx_ws_gateway_next(b)) {
            if (b->first != NGX_WS_GATEWAY_NO_FRAME) {
                bound->block = b;
                bound->p = b->buf.start + b->first;
                return;
            }
        }

        bound->block = q->tail;
        bound->p = q->tail->buf.last;
        return;
    }

    pos.block = head;
    pos.p = head->buf.start + head->first;

    while (pos.block == head && pos.p < point) {

        if (ngx_ws_gateway_out_header(&pos, &opcode, &total) != NGX_OK) {
            break;
        }

        end = pos;

        if (ngx_ws_gateway_out_advance(&end, total) != NGX_OK) {
            break;
        }

        if (end.block != head || end.p > point) {
            *straddle = !ngx_ws_gateway_op_is_control(opcode);
            *bound = end;
            return;
        }

        pos = end;
    }

    *straddle = 0;
    *bound = pos;
}


static ngx_uint_t
ngx_ws_gateway_out_count(ngx_ws_gateway_pos_t *from)
{
    uint64_t              total;
    ngx_uint_t            n, opcode;
    ngx_ws_gateway_pos_t  pos;

    /* the data frames that start at "from" or later */

    n = 0;
    pos = *from;

    for ( ;; ) {
        while (pos.p == pos.block->buf.last) {
            if (pos.block->chain.next == NULL) {
                return n;
            }

            pos.block = ngx_ws_gateway_next(pos.block);
            pos.p = pos.block->buf.start;
        }

        if (ngx_ws_gateway_out_header(&pos, &opcode, &total) != NGX_OK
            || ngx_ws_gateway_out_advance(&pos, total) != NGX_OK)
        {
            return n;
        }

        if (!ngx_ws_gateway_op_is_control(opcode)) {
            n++;
        }
    }
}


static ngx_int_t
ngx_ws_gateway_out_header(ngx_ws_gateway_pos_t *pos, ngx_uint_t *opcode,
    uint64_t *total)
{
    u_char                  hdr[NGX_WS_GATEWAY_SERVER_HEADER_MAX], *p;
    size_t                  n, want;
    uint64_t                len;
    ngx_ws_gateway_block_t  *b;

    /* our own frame header at pos, which may run into the next block */

    b = pos->block;
    p = pos->p;
    want = 2;

    for (n = 0; n < want; n++) {

        while (p == b->buf.last) {
            b = ngx_ws_gateway_next(b);

            if (b == NULL) {
                return NGX_ERROR;
            }

            p = b->buf.start;
        }

        hdr[n] = *p++;

        if (n == 1) {
            len = hdr[1] & 0x7f;
            want = (len == 126) ? 4 : (len == 127) ? 10 : 2;
        }
    }

    len = hdr[1] & 0x7f;

    if (len == 126) {
        len = ngx_ws_gateway_parse_uint16(&hdr[2]);

    } else if (len == 127) {
        len = ngx_ws_gateway_parse_uint64(&hdr[2]);
    }

    *opcode = hdr[0] & 0x0f;
    *total = want + len;

    return NGX_OK;
}


static ngx_int_t
ngx_ws_gateway_out_advance(ngx_ws_gateway_pos_t *pos, uint64_t n)
{
    uint64_t  avail;

    for ( ;; ) {
        avail = pos->block->buf.last - pos->p;

        if (n <= avail) {
            pos->p += n;
            return NGX_OK;
        }

        n -= avail;

        if (pos->block->chain.next == NULL) {
            return NGX_ERROR;
        }

        pos->block = ngx_ws_gateway_next(pos->block);
        pos->p = pos->block->buf.start;
    }
}


ngx_ws_gateway_block_t *
ngx_ws_gateway_block_alloc(void)
{
    uint32_t                 mask, bit;
    ngx_queue_t             *q;
    ngx_ws_gateway_slab_t   *slab;
    ngx_ws_gateway_block_t  *b;

    if (!ngx_ws_gateway_pool.init) {
        ngx_ws_gateway_pool_init();
    }

    if (!ngx_queue_empty(&ngx_ws_gateway_pool.partial)) {
        q = ngx_queue_head(&ngx_ws_gateway_pool.partial);
        slab = ngx_queue_data(q, ngx_ws_gateway_slab_t, queue);

    } else if (!ngx_queue_empty(&ngx_ws_gateway_pool.empty)) {
        q = ngx_queue_head(&ngx_ws_gateway_pool.empty);
        ngx_queue_remove(q);
        ngx_queue_insert_head(&ngx_ws_gateway_pool.partial, q);
        ngx_ws_gateway_pool.nempty--;
        slab = ngx_queue_data(q, ngx_ws_gateway_slab_t, queue);

        ngx_ws_gateway_pool.warm += __builtin_popcount(slab->free
                                                       & ~slab->cold);

    } else {

        /* memory grows: the references kept for fan-outs go back first */

        while (ngx_ws_gateway_refs_free) {
            b = ngx_ws_gateway_refs_free;
            ngx_ws_gateway_refs_free = ngx_ws_gateway_next(b);
            free(b);
        }

        ngx_ws_gateway_refs_kept = 0;

        slab = ngx_ws_gateway_slab_map();
        if (slab == NULL) {
            return NULL;
        }

        ngx_queue_insert_head(&ngx_ws_gateway_pool.partial, &slab->queue);
    }

    /* a resident block first: no page fault */

    mask = slab->free & ~slab->cold;

    if (mask == 0) {
        mask = slab->free;

    } else {
        ngx_ws_gateway_pool.warm--;
    }

    bit = mask & -mask;

    slab->free &= ~bit;
    slab->cold &= ~bit;

    b = (ngx_ws_gateway_block_t *) (slab->base
                                    + __builtin_ctz(bit)
                                      * NGX_WS_GATEWAY_BLOCK_STRIDE);
    ngx_ws_gateway_unpoison(b, NGX_WS_GATEWAY_BLOCK_STRIDE);

    slab->used++;
    ngx_ws_gateway_pool.used++;

    if (slab->free == 0) {
        ngx_queue_remove(&slab->queue);
        ngx_queue_insert_head(&ngx_ws_gateway_pool.full, &slab->queue);
    }

    ngx_memzero(b, offsetof(ngx_ws_gateway_block_t, data));

    b->slab = slab;
    b->chain.buf = &b->buf;
    b->first = NGX_WS_GATEWAY_NO_FRAME;

    b->buf.start = b->data;
    b->buf.pos = b->data;
    b->buf.last = b->data;
    b->buf.end = b->data + NGX_WS_GATEWAY_BLOCK_DATA;
    b->buf.temporary = 1;

    return b;
}


void
ngx_ws_gateway_block_free(ngx_ws_gateway_block_t *b)
{
    uint32_t                bit;
    ngx_ws_gateway_slab_t  *slab;

    slab = b->slab;
    bit = 1U << (((u_char *) b - slab->base) / NGX_WS_GATEWAY_BLOCK_STRIDE);

    if (slab->free == 0) {

        /* it was full */

        ngx_queue_remove(&slab->queue);
        ngx_queue_insert_head(&ngx_ws_gateway_pool.partial, &slab->queue);
    }

    slab->used--;
    ngx_ws_gateway_pool.used--;

    ngx_ws_gateway_poison(b, NGX_WS_GATEWAY_BLOCK_STRIDE);

    if (slab->used) {
        slab->free |= bit;

        if (ngx_ws_gateway_pool.warm < NGX_WS_GATEWAY_WARM_MAX) {
            ngx_ws_gateway_pool.warm++;
            return;
        }

        /*
         * The block's page goes back to the system: a block in use
         * must not keep the rest of its slab resident.  (Where pages
         * are larger than a block, madvise() fails and the page stays.)
         */

        if (madvise(b, NGX_WS_GATEWAY_BLOCK_STRIDE, MADV_DONTNEED) == 0) {
            slab->cold |= bit;

        } else {
            ngx_ws_gateway_pool.warm++;
        }

        return;
    }

    /* the slab is empty: its warm blocks are no longer counted as such */

    ngx_ws_gateway_pool.warm -= __builtin_popcount(slab->free & ~slab->cold);
    slab->free |= bit;

    ngx_queue_remove(&slab->queue);

    if (ngx_ws_gateway_pool.nempty < NGX_WS_GATEWAY_SLABS_KEPT) {
        ngx_queue_insert_head(&ngx_ws_gateway_pool.empty, &slab->queue);
        ngx_ws_gateway_pool.nempty++;
        return;
    }

    /* the memory goes back to the system */

    ngx_ws_gateway_slab_unmap(slab);
}


static ngx_ws_gateway_slab_t *
ngx_ws_gateway_slab_map(void)
{
    u_char                 *p;
    ngx_ws_gateway_slab_t  *slab;

    slab = malloc(sizeof(ngx_ws_gateway_slab_t));
    if (slab == NULL) {
        return NULL;
    }

    p = mmap(NULL, NGX_WS_GATEWAY_SLAB_SIZE, PROT_READ|PROT_WRITE,
             MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        ngx_free(slab);
        return NULL;
    }

    /* pages never touched are not resident: every block starts cold */

    slab->base = p;
    slab->free = NGX_WS_GATEWAY_SLAB_ALL;
    slab->cold = NGX_WS_GATEWAY_SLAB_ALL;
    slab->used = 0;

    ngx_ws_gateway_poison(p, NGX_WS_GATEWAY_SLAB_SIZE);

    ngx_ws_gateway_pool.nslabs++;

    return slab;
}


static void
ngx_ws_gateway_slab_unmap(ngx_ws_gateway_slab_t *slab)
{
    ngx_ws_gateway_unpoison(slab->base, NGX_WS_GATEWAY_SLAB_SIZE);
    (void) munmap(slab->base, NGX_WS_GATEWAY_SLAB_SIZE);
    ngx_free(slab);

    ngx_ws_gateway_pool.nslabs--;
}


static void
ngx_ws_gateway_pool_init(void)
{
    ngx_queue_init(&ngx_ws_gateway_pool.partial);
    ngx_queue_init(&ngx_ws_gateway_pool.full);
    ngx_queue_init(&ngx_ws_gateway_pool.empty);

    ngx_ws_gateway_pool.init = 1;
}


void
ngx_ws_gateway_pool_stats(ngx_ws_gateway_pool_stats_t *st)
{
    st->slabs = ngx_ws_gateway_pool.nslabs;
    st->empty = ngx_ws_gateway_pool.nempty;
    st->blocks = ngx_ws_gateway_pool.used;
}


void
ngx_ws_gateway_pool_release(void)
{
    ngx_uint_t               i;
    ngx_queue_t             *lists[3], *q;
    ngx_ws_gateway_slab_t   *slab;
    ngx_ws_gateway_block_t  *b;

    while (ngx_ws_gateway_refs_free) {
        b = ngx_ws_gateway_refs_free;
        ngx_ws_gateway_refs_free = ngx_ws_gateway_next(b);
        free(b);
    }

    ngx_ws_gateway_refs_kept = 0;

    if (!ngx_ws_gateway_pool.init) {
        return;
    }

    lists[0] = &ngx_ws_gateway_pool.partial;
    lists[1] = &ngx_ws_gateway_pool.full;
    lists[2] = &ngx_ws_gateway_pool.empty;

    for (i = 0; i < 3; i++) {
        while (!ngx_queue_empty(lists[i])) {
            q = ngx_queue_head(lists[i]);
            ngx_queue_remove(q);

            slab = ngx_queue_data(q, ngx_ws_gateway_slab_t, queue);

            ngx_ws_gateway_slab_unmap(slab);
        }
    }

    ngx_ws_gateway_pool.nslabs = 0;
    ngx_ws_gateway_pool.nempty = 0;
    ngx_ws_gateway_pool.used = 0;
    ngx_ws_gateway_pool.warm = 0;
}
