
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#ifndef _NGX_WS_GATEWAY_OUT_H_INCLUDED_
#define _NGX_WS_GATEWAY_OUT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * Outbound queues and the blocks they are made of.  Pure code: no
 * request, no connection, no logging; memory comes from mmap().
 *
 * A worker's outbound frames live in blocks of about 4 KB, taken from
 * slabs of 64 KB that the worker maps, and that it unmaps as soon as
 * all their blocks are free (a few empty slabs are kept for reuse), and
 * a free block's page goes back while its slab is in use:
 * memory a burst of queued data took goes back to the system when the
 * data is sent or dropped, whatever malloc() would have done with it.
 *
 * A queue is a byte stream of frames written across its blocks: small
 * frames share a block, a large frame spans as many as it needs.  What a
 * queue holds is counted in whole blocks (q->size), the memory it really
 * takes, not in wire bytes.  A pong is kept alone in a block of its own
 * and, as long as the transport has not been handed it, a later pong
 * replaces it in place (RFC 6455, 5.5.3): a client that floods pings
 * without reading makes a queue hold at most two pongs.
 *
 * The queue's links are the blocks' own ngx_chain_t, ready for
 * c->send_chain(); ngx_ws_gateway_out_sent() takes what it returns.
 */


#define NGX_WS_GATEWAY_SLAB_SIZE       (64 * 1024)
#define NGX_WS_GATEWAY_SLAB_BLOCKS     16

/* what a block counts for: its share of a slab */
#define NGX_WS_GATEWAY_BLOCK_SIZE                                             \
    (NGX_WS_GATEWAY_SLAB_SIZE / NGX_WS_GATEWAY_SLAB_BLOCKS)

/* empty slabs kept mapped for reuse, per worker (1 MB) */
#define NGX_WS_GATEWAY_SLABS_KEPT      16

#define NGX_WS_GATEWAY_NO_FRAME        0xffffffff


typedef struct ngx_ws_gateway_slab_s   ngx_ws_gateway_slab_t;
typedef struct ngx_ws_gateway_block_s  ngx_ws_gateway_block_t;


/*
 * A frame framed once and shared by the queues of many sessions (a
 * fan-out): each queue holds a reference, a block header of its own
 * whose buffer points into the shared frame, and the frame is freed when
 * the last reference goes.  A queue counts a reference as the header's
 * size plus the whole frame's allocation: what a session's reference
 * keeps alive, whoever else holds it.
 */

typedef struct {
    ngx_uint_t                  refs;
    ngx_uint_t                  queued;    /* of them, queues' */
    size_t                      size;      /* allocated, in all */
    size_t                      len;       /* of the frame in data[] */
    u_char                      data[1];
} ngx_ws_gateway_shared_t;


struct ngx_ws_gateway_block_s {
    ngx_chain_t                 chain;     /* first: the block's link */
    ngx_buf_t                   buf;
    ngx_ws_gateway_slab_t      *slab;      /* NULL: a reference */
    ngx_ws_gateway_shared_t    *shared;    /* a reference's frame */

    /* where frames start and end in the stream, for drops and cuts */
    uint32_t                    first;     /* offset of the first frame
                                              that starts here */
    uint32_t                    flight;    /* end of what the transport
                                              was last given */
    unsigned                    in_data:1; /* starts inside a data frame */
    unsigned                    sealed:1;  /* a pong or a reference,
                                              alone */

    u_char                      data[1];
};

/* what a queue counts for a reference, besides its frame */
#define NGX_WS_GATEWAY_REF_SIZE                                               \
    (offsetof(ngx_ws_gateway_block_t, data))


/*
 * What the queues count of shared frames beyond the one allocation each
 * really is: the sum, over the frames in queues, of their size times the
 * queues holding them less one.  The worker's memory is what the queues
 * count less this.
 */
extern size_t  ngx_ws_gateway_shared_excess;


typedef struct {
    ngx_chain_t                *out;       /* the first block, or NULL */
    ngx_ws_gateway_block_t     *tail;
    ngx_ws_gateway_block_t     *pong;      /* a pong that can be replaced */
    size_t                      size;      /* bytes of the blocks held */
} ngx_ws_gateway_out_t;


typedef struct {
    ngx_uint_t                  slabs;     /* mapped */
    ngx_uint_t                  empty;     /* mapped, every block free */
    ngx_uint_t                  blocks;    /* in use */
} ngx_ws_gateway_pool_stats_t;


/*
 * Appends a frame (header and payload, flags NGX_WS_GATEWAY_FIN |
 * NGX_WS_GATEWAY_RSV*) to the queue.  NGX_ERROR: no memory (errno set
 * by mmap()), and the queue is as it was.  A pong may replace one that
 * is queued, as said above.
 */
ngx_int_t ngx_ws_gateway_out_frame(ngx_ws_gateway_out_t *q,
    ngx_uint_t opcode, ngx_uint_t flags, u_char *data, size_t len);

/*
 * Appends bytes that are not a WebSocket frame (a link record: its head,
 * then its data) to a queue that holds no frames; as out_frame().
 */
ngx_int_t ngx_ws_gateway_out_record(ngx_ws_gateway_out_t *q, u_char *head,
    size_t hlen, u_char *data, size_t len);

/*
 * A data frame (opcode, FIN) framed once, with one reference taken by
 * the caller; NULL: no memory.
 */
ngx_ws_gateway_shared_t *ngx_ws_gateway_shared_frame(ngx_uint_t opcode,
    u_char *data, size_t len);
void ngx_ws_gateway_shared_release(ngx_ws_gateway_shared_t *sh);

/*
 * Appends a reference to the shared frame to the queue (the frame's
 * count grows by one); NGX_ERROR: no memory, the queue is as it was.
 */
ngx_int_t ngx_ws_gateway_out_shared(ngx_ws_gateway_out_t *q,
    ngx_ws_gateway_shared_t *sh);

/* appends what src holds to dst, and src is left empty */
void ngx_ws_gateway_out_splice(ngx_ws_gateway_out_t *dst,
    ngx_ws_gateway_out_t *src);

/*
 * For a queue of link records: calls handler with the head (length,
 * type, flags and up to 8 bytes more, n bytes in all) of each record that
 * the transport has not been given whole, and that starts in a block the
 * queue still holds.
 */
void ngx_ws_gateway_out_unsent(ngx_ws_gateway_out_t *q,
    void (*handler)(u_char *head, size_t n, void *data), void *data);

/* references kept for reuse and in use, per worker */
void ngx_ws_gateway_refs_stats(ngx_uint_t *used, ngx_uint_t *kept);

/*
 * After c->send_chain(c, q->out, ...) returned cl (not NGX_CHAIN_ERROR):
 * frees the blocks sent and notes what the transport holds of the first
 * one left.
 */
void ngx_ws_gateway_out_sent(ngx_ws_gateway_out_t *q, ngx_chain_t *cl);

/*
 * Drops every frame that the transport has not been given, or that it
 * has not been given a part of (a frame begun is kept to its end, so the
 * stream stays valid and a close frame can follow).  Returns the data
 * frames dropped.
 */
ngx_uint_t ngx_ws_gateway_out_cut(ngx_ws_gateway_out_t *q);

/* frees the whole queue; returns the data frames not completely sent */
ngx_uint_t ngx_ws_gateway_out_free(ngx_ws_gateway_out_t *q);


ngx_ws_gateway_block_t *ngx_ws_gateway_block_alloc(void);
void ngx_ws_gateway_block_free(ngx_ws_gateway_block_t *b);
void ngx_ws_gateway_pool_stats(ngx_ws_gateway_pool_stats_t *st);

/* unmaps every slab; for the exit of a worker, blocks in use included */
void ngx_ws_gateway_pool_release(void);


#endif /* _NGX_WS_GATEWAY_OUT_H_INCLUDED_ */
