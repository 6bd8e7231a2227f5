
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#include "unit.h"
#include <ngx_ws_gateway_out.h>


/*
 * Outbound queues against a model: random frames are queued, random
 * parts "sent" as writev() or TLS would take them, queues cut and freed;
 * the bytes left in the blocks, the frames counted as dropped and the
 * memory held must be what the model says.
 */


#define TEST_FRAMES_MAX  4096
#define TEST_STREAM_MAX  (4 * 1024 * 1024)


typedef struct {
    uint64_t     start;      /* in the stream */
    uint64_t     end;
    ngx_uint_t   opcode;
} test_frame_t;


typedef struct {
    ngx_ws_gateway_out_t  q;
    test_frame_t          frames[TEST_FRAMES_MAX];
    ngx_uint_t            nframes;
    ngx_uint_t            first;      /* first frame not wholly sent */
    u_char               *stream;     /* every byte ever queued */
    uint64_t              len;        /* stream length */
    uint64_t              sent;       /* stream bytes sent */
    uint64_t              committed;  /* sent, or given to "TLS" */
} test_model_t;


static void test_basics(void);
static void test_pongs(void);
static void test_cut_examples(void);
static void test_random(uint64_t seed, ngx_uint_t rounds);
static void test_pool(void);
static void test_message_bound(void);
static void model_init(test_model_t *m);
static void model_frame(test_model_t *m, ngx_uint_t opcode, size_t len,
    uint64_t *seed);
static void model_send(test_model_t *m, uint64_t n, ngx_uint_t tls);
static void model_cut(test_model_t *m);
static void model_free(test_model_t *m);
static void model_check(test_model_t *m, const char *what);
static uint64_t model_header_len(size_t len);


static u_char  payload[70000];


int
main(void)
{
    ngx_uint_t  i;
    uint64_t    seed;

    for (i = 0; i < sizeof(payload); i++) {
        payload[i] = (u_char) (i * 7 + 3);
    }

    test_basics();
    test_pongs();
    test_cut_examples();

    seed = 0x9e3779b97f4a7c15ULL;

    for (i = 0; i < 300; i++) {
        test_random(unit_random(&seed), 200);
    }

    test_pool();
    test_message_bound();

    return unit_done("out");
}


static void
test_basics(void)
{
    ngx_uint_t                   n;
    ngx_ws_gateway_out_t         q;
    ngx_ws_gateway_block_t      *b;
    ngx_ws_gateway_pool_stats_t  st;

    ngx_memzero(&q, sizeof(ngx_ws_gateway_out_t));

    /* a thousand 3-byte echoes share one block */

    for (n = 0; n < 1000; n++) {
        unit_check(ngx_ws_gateway_out_frame(&q, NGX_WS_GATEWAY_OP_TEXT,
                                            NGX_WS_GATEWAY_FIN,
                                            (u_char *) "x", 1) == NGX_OK,
                   "frame %lu", (unsigned long) n);
    }

    unit_check(q.size == NGX_WS_GATEWAY_BLOCK_SIZE,
               "1000 small frames hold %lu bytes", (unsigned long) q.size);

    b = (ngx_ws_gateway_block_t *) q.out;
    unit_check(b->buf.last - b->buf.pos == 3000, "3000 wire bytes, got %ld",
               (long) (b->buf.last - b->buf.pos));
    unit_check(b->buf.pos[0] == 0x81 && b->buf.pos[1] == 1
               && b->buf.pos[2] == 'x', "a text frame header");

    /* 1 MB: 264 blocks or so, counted as such */

    unit_check(ngx_ws_gateway_out_frame(&q, NGX_WS_GATEWAY_OP_BINARY,
                                        NGX_WS_GATEWAY_FIN, payload, 65536)
               == NGX_OK, "64 KB frame");

    unit_check(q.size >= 17 * NGX_WS_GATEWAY_BLOCK_SIZE
               && q.size <= 19 * NGX_WS_GATEWAY_BLOCK_SIZE,
               "3000 + 65546 wire bytes hold %lu", (unsigned long) q.size);

    ngx_ws_gateway_pool_stats(&st);
    unit_check(st.blocks == q.size / NGX_WS_GATEWAY_BLOCK_SIZE,
               "the pool counts the blocks of the queue: %lu",
               (unsigned long) st.blocks);

    n = ngx_ws_gateway_out_free(&q);
    unit_check(n == 1001, "1001 messages unsent, got %lu", (unsigned long) n);
    unit_check(q.size == 0 && q.out == NULL && q.tail == NULL,
               "an empty queue after free");

    ngx_ws_gateway_pool_stats(&st);
    unit_check(st.blocks == 0, "no block in use");
}


static void
test_pongs(void)
{
    u_char                 ping[125];
    ngx_uint_t             i, n;
    ngx_ws_gateway_out_t   q;
    ngx_ws_gateway_block_t *b;

    ngx_memzero(&q, sizeof(ngx_ws_gateway_out_t));

    /* a flood of pings, nothing read: the queue holds at most two pongs */

    for (i = 0; i < 100000; i++) {
        ngx_memset(ping, (int) (i & 0xff), sizeof(ping));

        unit_check(ngx_ws_gateway_out_frame(&q, NGX_WS_GATEWAY_OP_PONG,
                                            NGX_WS_GATEWAY_FIN, ping,
                                            i % 126)
                   == NGX_OK, "pong %lu", (unsigned long) i);

        if (i == 10) {

            /* the first pong is given to the transport, which takes none */

            ngx_ws_gateway_out_sent(&q, q.out);
        }
    }

    unit_check(q.size == 2 * NGX_WS_GATEWAY_BLOCK_SIZE,
               "a ping flood holds two pong blocks: %lu",
               (unsigned long) q.size);

    b = (ngx_ws_gateway_block_t *) q.out;
    unit_check(b->buf.last - b->buf.pos == 2 + 10
               && b->buf.pos[2] == 10, "the pong given stays as it was");

    b = (ngx_ws_gateway_block_t *) b->chain.next;
    i = 99999;
    unit_check(b == q.pong && b->buf.pos[0] == 0x8a
               && (size_t) (b->buf.last - b->buf.pos) == 2 + i % 126
               && b->buf.pos[1] == i % 126
               && b->buf.pos[2] == (u_char) (i & 0xff),
               "the pending pong answers the last ping");

    /* frames after a pong do not go into its block */

    unit_check(ngx_ws_gateway_out_frame(&q, NGX_WS_GATEWAY_OP_BINARY,
                                        NGX_WS_GATEWAY_FIN, payload, 10)
               == NGX_OK, "a frame after the pong");
    unit_check(q.size == 3 * NGX_WS_GATEWAY_BLOCK_SIZE
               && q.tail != q.pong, "a block of its own");

    /* the pong is still replaceable: it is not first */

    unit_check(ngx_ws_gateway_out_frame(&q, NGX_WS_GATEWAY_OP_PONG,
                                        NGX_WS_GATEWAY_FIN, ping, 3)
               == NGX_OK && q.size == 3 * NGX_WS_GATEWAY_BLOCK_SIZE
               && q.pong->buf.last - q.pong->buf.pos == 5,
               "replaced in place, in the middle of the queue");

    n = ngx_ws_gateway_out_free(&q);
    unit_check(n == 1, "pongs are not messages: %lu dropped",
               (unsigned long) n);
}


static void
test_cut_examples(void)
{
    ngx_uint_t             n;
    ngx_ws_gateway_out_t   q;
    ngx_ws_gateway_block_t *b;

    ngx_memzero(&q, sizeof(ngx_ws_gateway_out_t));

    /* a large frame begun is kept to its end, what follows goes */

    (void) ngx_ws_gateway_out_frame(&q, NGX_WS_GATEWAY_OP_BINARY,
                                    NGX_WS_GATEWAY_FIN, payload, 20000);
    (void) ngx_ws_gateway_out_frame(&q, NGX_WS_GATEWAY_OP_TEXT,
                                    NGX_WS_GATEWAY_FIN, payload, 5);
    (void) ngx_ws_gateway_out_frame(&q, NGX_WS_GATEWAY_OP_TEXT,
                                    NGX_WS_GATEWAY_FIN, payload, 5000);

    b = (ngx_ws_gateway_block_t *) q.out;
    b->buf.pos += 100;

    n = ngx_ws_gateway_out_cut(&q);
    unit_check(n == 2, "two messages cut, got %lu", (unsigned long) n);

    n = 0;

    for (b = (ngx_ws_gateway_block_t *) q.out; b;
         b = (ngx_ws_gateway_block_t *) b->chain.next)
    {
        n += b->buf.last - b->buf.pos;
    }

    unit_check(n == 20004 - 100, "the large frame stays: %lu bytes",
               (unsigned long) n);

    /* a close frame can follow */

    unit_check(ngx_ws_gateway_out_frame(&q, NGX_WS_GATEWAY_OP_CLOSE,
                                        NGX_WS_GATEWAY_FIN,
                                        (u_char *) "\x03\xf5", 2)
               == NGX_OK, "close after the cut");
    unit_check(q.tail->buf.last[-4] == 0x88 && q.tail->buf.last[-1] == 0xf5,
               "the close frame ends the stream");

    n = ngx_ws_gateway_out_free(&q);
    unit_check(n == 1, "the large frame is unsent at free: %lu",
               (unsigned long) n);

    /* nothing given yet: everything goes */

    (void) ngx_ws_gateway_out_frame(&q, NGX_WS_GATEWAY_OP_TEXT,
                                    NGX_WS_GATEWAY_FIN, payload, 5);
    n = ngx_ws_gateway_out_cut(&q);
    unit_check(n == 1 && q.out == NULL && q.size == 0,
               "a cut of nothing sent empties the queue");
}


static void
test_random(uint64_t seed, ngx_uint_t rounds)
{
    size_t         len;
    uint64_t       r;
    ngx_uint_t     i, op;
    test_model_t  *m;

    static ngx_uint_t  opcodes[] = {
        NGX_WS_GATEWAY_OP_TEXT, NGX_WS_GATEWAY_OP_BINARY,
        NGX_WS_GATEWAY_OP_PING, NGX_WS_GATEWAY_OP_PONG,
        NGX_WS_GATEWAY_OP_CLOSE
    };

    m = calloc(1, sizeof(test_model_t));
    m->stream = malloc(TEST_STREAM_MAX);

    model_init(m);

    for (i = 0; i < rounds; i++) {
        r = unit_random(&seed);

        switch (r % 10) {

        case 0: case 1: case 2: case 3: case 4:
            op = opcodes[(r >> 8) % 5];

            switch ((r >> 16) % 6) {
            case 0:  len = (r >> 24) % 4; break;
            case 1:  len = (r >> 24) % 126; break;
            case 2:  len = 3900 + (r >> 24) % 200; break;
            case 3:  len = (r >> 24) % 70000; break;
            default: len = (r >> 24) % 40; break;
            }

            if (ngx_ws_gateway_op_is_control(op)) {
                len %= 126;
            }

            if (m->len + len + 10 > TEST_STREAM_MAX
                || m->nframes == TEST_FRAMES_MAX)
            {
                model_free(m);
                model_init(m);
            }

            model_frame(m, op, len, &seed);
            break;

        case 5: case 6: case 7:
            model_send(m, (r >> 8) % ((r & 0x100) ? 50 : 20000),
                       (r >> 20) & 1);
            break;

        case 8:
            if ((r >> 8) % 4 == 0) {
                model_cut(m);
            }
            break;

        default:
            if ((r >> 8) % 8 == 0) {
                model_free(m);
                model_init(m);
            }
            break;
        }

        model_check(m, "random");
    }

    model_free(m);

    free(m->stream);
    free(m);
}


static void
model_init(test_model_t *m)
{
    ngx_memzero(&m->q, sizeof(ngx_ws_gateway_out_t));
    m->nframes = 0;
    m->first = 0;
    m->len = 0;
    m->sent = 0;
    m->committed = 0;
}


static uint64_t
model_header_len(size_t len)
{
    return (len < 126) ? 2 : (len <= 0xffff) ? 4 : 10;
}


static void
model_frame(test_model_t *m, ngx_uint_t opcode, size_t len, uint64_t *seed)
{
    u_char                 *p;
    size_t                  i;
    uint64_t                hlen;
    test_frame_t           *f;
    ngx_ws_gateway_block_t *pong, *head;

    for (i = 0; i < len; i++) {
        payload[i] = (u_char) unit_random(seed);
    }

    pong = m->q.pong;
    head = (ngx_ws_gateway_block_t *) m->q.out;

    unit_check(ngx_ws_gateway_out_frame(&m->q, opcode, NGX_WS_GATEWAY_FIN,
                                        payload, len)
               == NGX_OK, "frame queued");

    hlen = model_header_len(len);

    if (opcode == NGX_WS_GATEWAY_OP_PONG && pong
        && !(pong == head
             && (pong->flight || pong->buf.pos != pong->buf.start)))
    {

        /* the pending pong, always the last pong frame, is replaced */

        for (i = m->nframes; i-- > m->first; /* void */) {
            if (m->frames[i].opcode == NGX_WS_GATEWAY_OP_PONG) {
                break;
            }
        }

        unit_check(i != (size_t) -1 && i >= m->first
                   && m->frames[i].opcode == NGX_WS_GATEWAY_OP_PONG,
                   "a pong to replace in the model");

        f = &m->frames[i];

        /* the stream is rewritten from that frame on */

        {
        u_char      *tail;
        uint64_t     old, tail_len, delta;
        ngx_uint_t   j;

        old = f->end - f->start;
        tail_len = m->len - f->end;
        tail = malloc(tail_len + 1);
        ngx_memcpy(tail, m->stream + f->end, tail_len);

        p = m->stream + f->start;
        *p++ = 0x8a;
        *p++ = (u_char) len;
        p = ngx_cpymem(p, payload, len);
        ngx_memcpy(p, tail, tail_len);
        free(tail);

        delta = hlen + len - old;   /* modulo 2^64 */
        f->end = f->start + hlen + len;

        for (j = i + 1; j < m->nframes; j++) {
            m->frames[j].start += delta;
            m->frames[j].end += delta;
        }

        m->len += delta;
        }

        return;
    }

    f = &m->frames[m->nframes++];
    f->opcode = opcode;
    f->start = m->len;
    f->end = m->len + hlen + len;

    p = ngx_ws_gateway_write_frame_header(m->stream + m->len, opcode,
                                          NGX_WS_GATEWAY_FIN, len);
    ngx_memcpy(p, payload, len);

    m->len = f->end;
}


static void
model_send(test_model_t *m, uint64_t n, ngx_uint_t tls)
{
    uint64_t      size;
    ngx_chain_t  *cl;

    if (m->q.out == NULL) {
        return;
    }

    if (tls) {

        /* the transport takes nothing but holds the first buffer */

        cl = m->q.out;
        size = cl->buf->last - cl->buf->start;
        ngx_ws_gateway_out_sent(&m->q, cl);

        m->committed = ngx_max(m->committed,
                               m->sent + (uint64_t) (cl->buf->last
                                                     - cl->buf->pos));
        (void) size;
        return;
    }

    /* as writev() would: n bytes from the first buffers */

    for (cl = m->q.out; cl && n; /* void */) {
        size = cl->buf->last - cl->buf->pos;

        if (n < size) {
            cl->buf->pos += n;
            m->sent += n;
            n = 0;
            break;
        }

        cl->buf->pos += size;
        m->sent += size;
        n -= size;
        cl = cl->next;
    }

    while (cl && cl->buf->pos == cl->buf->last) {
        cl = cl->next;
    }

    ngx_ws_gateway_out_sent(&m->q, cl);

    if (cl) {
        m->committed = ngx_max(m->committed,
                               m->sent + (uint64_t) (cl->buf->last
                                                     - cl->buf->pos));
    } else {
        m->committed = m->sent;
    }

    while (m->first < m->nframes && m->frames[m->first].end <= m->sent) {
        m->first++;
    }
}


static void
model_cut(test_model_t *m)
{
    uint64_t    point;
    ngx_uint_t  i, n, dropped;

    /*
     * the frames begun before the committed point (sent, or given to
     * the transport) stay to their end; the others go
     */

    point = ngx_max(m->sent, m->committed);

    for (n = m->first; n < m->nframes; n++) {
        if (m->frames[n].start >= point) {
            break;
        }
    }

    dropped = 0;

    for (i = n; i < m->nframes; i++) {
        if (!ngx_ws_gateway_op_is_control(m->frames[i].opcode)) {
            dropped++;
        }
    }

    i = ngx_ws_gateway_out_cut(&m->q);

    unit_check(i == dropped, "cut: %lu dropped, the model says %lu",
               (unsigned long) i, (unsigned long) dropped);

    m->nframes = n;
    m->len = (n > m->first) ? m->frames[n - 1].end : m->sent;

    if (m->q.out == NULL) {
        m->committed = m->sent;
    }
}


static void
model_free(test_model_t *m)
{
    ngx_uint_t  i, unsent;

    unsent = 0;

    for (i = m->first; i < m->nframes; i++) {
        if (m->frames[i].end > m->sent
            && !ngx_ws_gateway_op_is_control(m->frames[i].opcode))
        {
            unsent++;
        }
    }

    i = ngx_ws_gateway_out_free(&m->q);

    unit_check(i == unsent, "free: %lu unsent, the model says %lu",
               (unsigned long) i, (unsigned long) unsent);
    unit_check(m->q.size == 0 && m->q.out == NULL, "empty after free");
}


static void
model_check(test_model_t *m, const char *what)
{
    uint64_t                 at, nblocks, npong, wire;
    ngx_chain_t             *cl;
    ngx_ws_gateway_block_t  *b;

    /* the queue's bytes are the stream from what was sent to its end */

    at = m->sent;
    nblocks = 0;
    npong = 0;
    wire = 0;

    for (cl = m->q.out; cl; cl = cl->next) {
        b = (ngx_ws_gateway_block_t *) cl;
        nblocks++;
        npong += b->sealed;

        if (!b->sealed) {
            wire += cl->buf->last - (nblocks == 1 ? cl->buf->start
                                                  : cl->buf->pos);
        }

        if (at + (cl->buf->last - cl->buf->pos) > m->len
            || ngx_memcmp(cl->buf->pos, m->stream + at,
                          cl->buf->last - cl->buf->pos) != 0)
        {
            unit_check(0, "%s: queue bytes differ from the stream at %lu",
                       what, (unsigned long) at);
            return;
        }

        at += cl->buf->last - cl->buf->pos;

        if (cl->next == NULL) {
            unit_check(m->q.tail == b, "%s: tail", what);
        }
    }

    unit_check(at == m->len, "%s: queue ends at %lu, the stream at %lu",
               what, (unsigned long) at, (unsigned long) m->len);

    unit_check(m->q.size == nblocks * NGX_WS_GATEWAY_BLOCK_SIZE,
               "%s: size %lu for %lu blocks", what,
               (unsigned long) m->q.size, (unsigned long) nblocks);

    /* memory: the bytes, rounded up to blocks, and a block or two more */

    unit_check(npong <= 2, "%s: %lu pong blocks", what,
               (unsigned long) npong);
    unit_check(nblocks <= wire / 3900 + 2 + 2 * npong,
               "%s: %lu blocks for %lu wire bytes", what,
               (unsigned long) nblocks, (unsigned long) wire);

    if (m->q.out == NULL) {
        unit_check(m->q.tail == NULL && m->q.pong == NULL,
                   "%s: empty queue pointers", what);
    }
}


static void
test_pool(void)
{
    ngx_uint_t                   i;
    ngx_ws_gateway_block_t      *blocks[1000];
    ngx_ws_gateway_pool_stats_t  st;

    /* slabs are unmapped once empty, but for a few kept */

    for (i = 0; i < 1000; i++) {
        blocks[i] = ngx_ws_gateway_block_alloc();
        unit_check(blocks[i] != NULL, "block %lu", (unsigned long) i);
        ngx_memset(blocks[i]->buf.start, 0xa5,
                   blocks[i]->buf.end - blocks[i]->buf.start);
    }

    ngx_ws_gateway_pool_stats(&st);
    unit_check(st.blocks == 1000 && st.slabs == (1000 + 15) / 16,
               "1000 blocks in %lu slabs", (unsigned long) st.slabs);

    for (i = 0; i < 1000; i += 2) {
        ngx_ws_gateway_block_free(blocks[i]);
    }

    ngx_ws_gateway_pool_stats(&st);
    unit_check(st.blocks == 500 && st.slabs == (1000 + 15) / 16,
               "half free: every slab still used");

    for (i = 1; i < 1000; i += 2) {
        ngx_ws_gateway_block_free(blocks[i]);
    }

    ngx_ws_gateway_pool_stats(&st);
    unit_check(st.blocks == 0 && st.slabs == NGX_WS_GATEWAY_SLABS_KEPT
               && st.empty == NGX_WS_GATEWAY_SLABS_KEPT,
               "all free: %lu slabs kept mapped", (unsigned long) st.slabs);

    /* reuse of kept slabs maps nothing */

    for (i = 0; i < 16 * NGX_WS_GATEWAY_SLABS_KEPT; i++) {
        blocks[i] = ngx_ws_gateway_block_alloc();
    }

    ngx_ws_gateway_pool_stats(&st);
    unit_check(st.slabs == NGX_WS_GATEWAY_SLABS_KEPT && st.empty == 0,
               "kept slabs reused: %lu", (unsigned long) st.slabs);

    for (i = 0; i < 16 * NGX_WS_GATEWAY_SLABS_KEPT; i++) {
        ngx_ws_gateway_block_free(blocks[i]);
    }

    ngx_ws_gateway_pool_release();

    ngx_ws_gateway_pool_stats(&st);
    unit_check(st.slabs == 0 && st.blocks == 0, "released");
}


static void
test_message_bound(void)
{
    u_char                *big;
    size_t                 len;
    ngx_ws_gateway_out_t   q;

    /*
     * docs/ngx_ws_gateway_module.md, ws_gateway_outbound_limit: a session
     * holds at most the limit, plus the last message it completed (up to
     * ws_gateway_max_message_size, queued whole), plus the one it is
     * receiving, plus 12 KB; a message takes up to 1/32 more than its
     * size in blocks (a block counts for 4096 bytes and carries 4096
     * less its header).  A message of the default 1m, queued whole, must
     * not take more than that and a partly filled block.
     */

    len = 1024 * 1024;

    big = malloc(len);
    unit_check(big != NULL, "malloc");

    if (big == NULL) {
        return;
    }

    ngx_memset(big, 'm', len);
    ngx_memzero(&q, sizeof(ngx_ws_gateway_out_t));

    unit_check(ngx_ws_gateway_out_frame(&q, NGX_WS_GATEWAY_OP_BINARY,
                                        NGX_WS_GATEWAY_FIN, big, len)
               == NGX_OK, "1 MB frame");

    unit_check(q.size <= len + len / 32 + 4096,
               "a 1 MB message queued whole holds %lu bytes, the documented "
               "bound is %lu", (unsigned long) q.size,
               (unsigned long) (len + len / 32 + 4096));

    (void) ngx_ws_gateway_out_free(&q);
    free(big);
}
