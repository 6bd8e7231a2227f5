
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_ws_gateway.h"

#include <openssl/rand.h>


/*
 * Channels of a worker: a hash table of names with chained buckets, each
 * channel with the list of its subscriptions, new ones at the head.
 * Subscriptions and channels are allocated one by one: what they take
 * goes back when the session ends or the channel empties.
 *
 * A fan-out delivers a shared frame to its recipients.  What a pass of
 * the event loop may deliver, all fan-outs together, is the slice
 * (ws_gateway_fanout_slice).  A fan-out that does not fit in what is
 * left of the slice copies the ids of its recipients (8 bytes each, for
 * as long as it runs) and waits in the worker's queue of fan-outs, run
 * in order, a slice per pass, from an event posted for the next pass:
 * other connections' events come between two slices.  Recipients that
 * end meanwhile are not found by their id, and sessions that subscribe
 * meanwhile are not in the list: a fan-out goes to the subscribers of
 * the moment it was published.
 *
 * Channel names come from backends and, through ws_gateway_subscribe,
 * may come from clients: they are hashed with SipHash-2-4 under a key
 * drawn at random by each worker, so that nobody can choose names that
 * share a bucket.
 */


#define NGX_WS_GATEWAY_CHANNELS_MIN     64


struct ngx_ws_gateway_fanout_s {
    ngx_queue_t                   queue;
    ngx_ws_gateway_link_t        *link;       /* waits for it; or NULL */
    ngx_ws_gateway_shared_t      *frame;
    size_t                        size;       /* of the payload */
    uint64_t                     *ids;
    ngx_uint_t                    n;
    ngx_uint_t                    next;
    uint64_t                      start_us;
};


typedef struct {
    ngx_ws_gateway_channel_t    **buckets;
    ngx_uint_t                    size;       /* a power of 2, or 0 */
    ngx_uint_t                    count;
    ngx_uint_t                    slice;
    ngx_uint_t                    spent;      /* of the slice, this pass */
    ngx_event_t                   pass;       /* the next pass */
    ngx_event_t                   run;        /* fan-outs waiting */
    ngx_queue_t                   fanouts;
    ngx_uint_t                    running;
} ngx_ws_gateway_channels_t;


static ngx_ws_gateway_channel_t *ngx_ws_gateway_channel_find(u_char *name,
    size_t len, uint32_t hash);
static ngx_ws_gateway_channel_t *ngx_ws_gateway_channel_add(u_char *name,
    size_t len, uint32_t hash);
static void ngx_ws_gateway_channel_free(ngx_ws_gateway_channel_t *ch);
static void ngx_ws_gateway_channel_unlink(ngx_ws_gateway_sub_t *sub);
static ngx_int_t ngx_ws_gateway_channel_grow(void);
static void ngx_ws_gateway_channel_pass(ngx_event_t *ev);
static void ngx_ws_gateway_channel_run(ngx_event_t *ev);
static void ngx_ws_gateway_fanout_done(ngx_ws_gateway_fanout_t *f);
static void ngx_ws_gateway_fanout_took(uint64_t slice_us, uint64_t all_us);


static ngx_ws_gateway_channels_t  ngx_ws_gateway_channels;
static uint64_t                   ngx_ws_gateway_channel_key[2];


#define ngx_ws_gateway_channel_hash(name, len)                               \
    ((uint32_t) ngx_ws_gateway_siphash(ngx_ws_gateway_channel_key, name, len))


void
ngx_ws_gateway_channel_init_process(ngx_uint_t slice)
{
    ngx_ws_gateway_channels_t  *chs;

    chs = &ngx_ws_gateway_channels;

    ngx_memzero(chs, sizeof(ngx_ws_gateway_channels_t));

    chs->slice = slice;
    ngx_queue_init(&chs->fanouts);

    if (RAND_bytes((u_char *) ngx_ws_gateway_channel_key,
                   sizeof(ngx_ws_gateway_channel_key))
        != 1)
    {
        /* no entropy from OpenSSL: what the worker has */

        ngx_ws_gateway_channel_key[0] = ((uint64_t) ngx_random() << 32)
                                        ^ (uint64_t) ngx_pid
                                        ^ (uint64_t) ngx_time();
        ngx_ws_gateway_channel_key[1] = ((uint64_t) ngx_random() << 32)
                                        ^ (uint64_t) ngx_random()
                                        ^ (uint64_t) (uintptr_t) chs;
    }

    chs->pass.handler = ngx_ws_gateway_channel_pass;
    chs->pass.log = ngx_cycle->log;
    chs->run.handler = ngx_ws_gateway_channel_run;
    chs->run.log = ngx_cycle->log;
}


void
ngx_ws_gateway_channel_exit_process(void)
{
    ngx_queue_t              *q;
    ngx_ws_gateway_fanout_t  *f;

    /* the sessions' subscriptions went with them */

    while (!ngx_queue_empty(&ngx_ws_gateway_channels.fanouts)) {
        q = ngx_queue_head(&ngx_ws_gateway_channels.fanouts);
        f = ngx_queue_data(q, ngx_ws_gateway_fanout_t, queue);
        f->link = NULL;
        ngx_ws_gateway_fanout_done(f);
    }

    if (ngx_ws_gateway_channels.buckets) {
        ngx_free(ngx_ws_gateway_channels.buckets);
        ngx_ws_gateway_channels.buckets = NULL;
    }
}


ngx_int_t
ngx_ws_gateway_channel_subscribe(ngx_ws_gateway_session_t *s, u_char *name,
    size_t len)
{
    uint32_t                   hash;
    ngx_ws_gateway_sub_t      *sub;
    ngx_ws_gateway_channel_t  *ch;

    if (s->conf->session_channels == 0) {
        return NGX_WS_GATEWAY_REFUSED_OFF;
    }

    if (len > s->conf->channel_max_length) {
        return NGX_WS_GATEWAY_REFUSED_LENGTH;
    }

    for (sub = s->subs; sub; sub = sub->next) {
        if (sub->channel->len == len
            && ngx_memcmp(sub->channel->name, name, len) == 0)
        {
            return 0;
        }
    }

    if (s->nsubs >= s->conf->session_channels) {
        return NGX_WS_GATEWAY_REFUSED_MANY;
    }

    hash = ngx_ws_gateway_channel_hash(name, len);

    ch = ngx_ws_gateway_channel_find(name, len, hash);

    if (ch == NULL) {
        ch = ngx_ws_gateway_channel_add(name, len, hash);
        if (ch == NULL) {
            return NGX_ERROR;
        }
    }

    sub = ngx_alloc(sizeof(ngx_ws_gateway_sub_t), ngx_cycle->log);
    if (sub == NULL) {
        if (ch->count == 0) {
            ngx_ws_gateway_channel_free(ch);
        }

        return NGX_ERROR;
    }

    sub->session = s;
    sub->channel = ch;
    sub->next = s->subs;
    s->subs = sub;
    s->nsubs++;

    ngx_queue_insert_head(&ch->subs, &sub->queue);
    ch->count++;

    if (ngx_ws_gateway_slot) {
        ngx_ws_gateway_slot->fanout.subscriptions++;
    }

    return 0;
}


ngx_int_t
ngx_ws_gateway_channel_unsubscribe(ngx_ws_gateway_session_t *s,
    u_char *name, size_t len)
{
    ngx_ws_gateway_sub_t  *sub, **prev;

    for (prev = &s->subs; *prev; prev = &(*prev)->next) {
        sub = *prev;

        if (sub->channel->len == len
            && ngx_memcmp(sub->channel->name, name, len) == 0)
        {
            *prev = sub->next;
            s->nsubs--;
            ngx_ws_gateway_channel_unlink(sub);
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


void
ngx_ws_gateway_channel_release(ngx_ws_gateway_session_t *s)
{
    ngx_ws_gateway_sub_t  *sub;

    while (s->subs) {
        sub = s->subs;
        s->subs = sub->next;
        ngx_ws_gateway_channel_unlink(sub);
    }

    s->nsubs = 0;
}


static void
ngx_ws_gateway_channel_unlink(ngx_ws_gateway_sub_t *sub)
{
    ngx_ws_gateway_channel_t  *ch;

    ch = sub->channel;

    ngx_queue_remove(&sub->queue);
    ngx_free(sub);

    if (ngx_ws_gateway_slot) {
        ngx_ws_gateway_slot->fanout.subscriptions--;
    }

    if (--ch->count == 0) {
        ngx_ws_gateway_channel_free(ch);
    }
}


static ngx_ws_gateway_channel_t *
ngx_ws_gateway_channel_find(u_char *name, size_t len, uint32_t hash)
{
    ngx_ws_gateway_channel_t  *ch;

    if (ngx_ws_gateway_channels.size == 0) {
        return NULL;
    }

    ch = ngx_ws_gateway_channels.buckets[hash
                                         & (ngx_ws_gateway_channels.size
                                            - 1)];

    for ( /* void */ ; ch; ch = ch->next) {
        if (ch->hash == hash && ch->len == len
            && ngx_memcmp(ch->name, name, len) == 0)
        {
            return ch;
        }
    }

    return NULL;
}


static ngx_ws_gateway_channel_t *
ngx_ws_gateway_channel_add(u_char *name, size_t len, uint32_t hash)
{
    ngx_uint_t                 i;
    ngx_ws_gateway_channel_t  *ch;

    if (ngx_ws_gateway_channels.count >= ngx_ws_gateway_channels.size
        && ngx_ws_gateway_channel_grow() != NGX_OK
        && ngx_ws_gateway_channels.size == 0)
    {
        return NULL;
    }

    ch = ngx_alloc(offsetof(ngx_ws_gateway_channel_t, name) + len,
                   ngx_cycle->log);
    if (ch == NULL) {
        return NULL;
    }

    ngx_queue_init(&ch->subs);
    ch->count = 0;
    ch->hash = hash;
    ch->len = (u_char) len;
    ngx_memcpy(ch->name, name, len);

    i = hash & (ngx_ws_gateway_channels.size - 1);
    ch->next = ngx_ws_gateway_channels.buckets[i];
    ngx_ws_gateway_channels.buckets[i] = ch;
    ngx_ws_gateway_channels.count++;

    if (ngx_ws_gateway_slot) {
        ngx_ws_gateway_slot->fanout.channels = ngx_ws_gateway_channels.count;
    }

    return ch;
}


static void
ngx_ws_gateway_channel_free(ngx_ws_gateway_channel_t *ch)
{
    ngx_ws_gateway_channel_t  **prev;

    prev = &ngx_ws_gateway_channels.buckets[ch->hash
                                            & (ngx_ws_gateway_channels.size
                                               - 1)];

    while (*prev != ch) {
        prev = &(*prev)->next;
    }

    *prev = ch->next;
    ngx_free(ch);

    ngx_ws_gateway_channels.count--;

    if (ngx_ws_gateway_slot) {
        ngx_ws_gateway_slot->fanout.channels = ngx_ws_gateway_channels.count;
    }
}


static ngx_int_t
ngx_ws_gateway_channel_grow(void)
{
    ngx_uint_t                  size, i, j;
    ngx_ws_gateway_channel_t  **buckets, *ch, *next;

    size = ngx_ws_gateway_channels.size
           ? ngx_ws_gateway_channels.size * 2 : NGX_WS_GATEWAY_CHANNELS_MIN;

    buckets = ngx_calloc(size * sizeof(ngx_ws_gateway_channel_t *),
                         ngx_cycle->log);
    if (buckets == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < ngx_ws_gateway_channels.size; i++) {
        for (ch = ngx_ws_gateway_channels.buckets[i]; ch; ch = next) {
            next = ch->next;
            j = ch->hash & (size - 1);
            ch->next = buckets[j];
            buckets[j] = ch;
        }
    }

    if (ngx_ws_gateway_channels.buckets) {
        ngx_free(ngx_ws_gateway_channels.buckets);
    }

    ngx_ws_gateway_channels.buckets = buckets;
    ngx_ws_gateway_channels.size = size;

    return NGX_OK;
}


/* fan-out */

ngx_uint_t
ngx_ws_gateway_channel_budget(void)
{
    ngx_ws_gateway_channels_t  *chs;

    chs = &ngx_ws_gateway_channels;

    return (chs->spent < chs->slice) ? chs->slice - chs->spent : 0;
}


void
ngx_ws_gateway_channel_spend(ngx_uint_t n)
{
    ngx_ws_gateway_channels_t  *chs;

    chs = &ngx_ws_gateway_channels;

    chs->spent += n;

    /* the slice is the pass's: it is given again when the pass ends */

    if (!chs->pass.posted) {
        ngx_post_event(&chs->pass, &ngx_posted_next_events);
    }
}


static void
ngx_ws_gateway_channel_pass(ngx_event_t *ev)
{
    ngx_ws_gateway_channels.spent = 0;
}


ngx_int_t
ngx_ws_gateway_channel_publish(ngx_ws_gateway_link_t *link,
    ngx_ws_gateway_lupstream_t *lup, u_char *name, size_t len,
    ngx_uint_t opcode, u_char *data, size_t size)
{
    uint32_t                    hash;
    uint64_t                    us, *ids;
    ngx_uint_t                  n, i, budget;
    ngx_queue_t                *q;
    ngx_ws_gateway_sub_t       *sub;
    ngx_ws_gateway_fanout_t    *f;
    ngx_ws_gateway_shared_t    *frame;
    ngx_ws_gateway_channel_t   *ch;
    ngx_ws_gateway_channels_t  *chs;

    chs = &ngx_ws_gateway_channels;
    ch = NULL;

    if (lup) {
        ngx_ws_gateway_metric_inc(fanout.broadcasts);
        n = ngx_ws_gateway_link_sessions_of(lup, NULL);

    } else {
        ngx_ws_gateway_metric_inc(fanout.publishes);
        hash = ngx_ws_gateway_channel_hash(name, len);
        ch = ngx_ws_gateway_channel_find(name, len, hash);
        n = ch ? ch->count : 0;
    }

    if (n == 0) {
        ngx_ws_gateway_metric_inc(fanout.unrouted);
        return NGX_OK;
    }

    frame = ngx_ws_gateway_shared_frame(opcode, data, size);
    if (frame == NULL) {
        return NGX_ERROR;
    }

    us = ngx_ws_gateway_now_us();
    budget = ngx_ws_gateway_channel_budget();

    if (n <= budget && ngx_queue_empty(&chs->fanouts)) {

        /* all of it now */

        if (lup) {
            ids = ngx_alloc(n * sizeof(uint64_t), ngx_cycle->log);
            if (ids == NULL) {
                ngx_ws_gateway_shared_release(frame);
                return NGX_ERROR;
            }

            n = ngx_ws_gateway_link_sessions_of(lup, ids);

            for (i = 0; i < n; i++) {
                ngx_ws_gateway_session_deliver_shared(
                    ngx_ws_gateway_link_session(ids[i]), frame, size);
            }

            ngx_free(ids);

        } else {

            /*
             * a delivery does not end a session there and then (its
             * write is posted), so the list stays as it is meanwhile
             */

            for (q = ngx_queue_head(&ch->subs);
                 q != ngx_queue_sentinel(&ch->subs);
                 q = ngx_queue_next(q))
            {
                sub = ngx_queue_data(q, ngx_ws_gateway_sub_t, queue);
                ngx_ws_gateway_session_deliver_shared(sub->session, frame,
                                                      size);
            }
        }

        ngx_ws_gateway_channel_spend(n);
        ngx_ws_gateway_shared_release(frame);

        /* one slice, and the whole fan-out */

        us = ngx_ws_gateway_now_us() - us;
        ngx_ws_gateway_fanout_took(ngx_max(us, 1), us);

        return NGX_OK;
    }

    /* later: the recipients of now, by id */

    f = ngx_alloc(sizeof(ngx_ws_gateway_fanout_t) + n * sizeof(uint64_t),
                  ngx_cycle->log);
    if (f == NULL) {
        ngx_ws_gateway_shared_release(frame);
        return NGX_ERROR;
    }

    f->ids = (uint64_t *) &f[1];

    if (lup) {
        n = ngx_ws_gateway_link_sessions_of(lup, f->ids);

    } else {
        i = 0;

        for (q = ngx_queue_head(&ch->subs);
             q != ngx_queue_sentinel(&ch->subs);
             q = ngx_queue_next(q))
        {
            sub = ngx_queue_data(q, ngx_ws_gateway_sub_t, queue);
            f->ids[i++] = sub->session->id;
        }
    }

    f->link = link;
    f->frame = frame;
    f->size = size;
    f->n = n;
    f->next = 0;
    f->start_us = us;

    ngx_queue_insert_tail(&chs->fanouts, &f->queue);
    chs->running++;

    if (ngx_ws_gateway_slot) {
        ngx_ws_gateway_slot->fanout.running = chs->running;
    }

    if (!chs->run.posted) {
        ngx_post_event(&chs->run, budget ? &ngx_posted_events
                                         : &ngx_posted_next_events);
    }

    return NGX_AGAIN;
}


static void
ngx_ws_gateway_channel_run(ngx_event_t *ev)
{
    uint64_t                    us;
    ngx_uint_t                  budget, n;
    ngx_queue_t                *q;
    ngx_ws_gateway_fanout_t    *f;
    ngx_ws_gateway_channels_t  *chs;

    chs = &ngx_ws_gateway_channels;
    budget = ngx_ws_gateway_channel_budget();
    us = ngx_ws_gateway_now_us();
    n = 0;

    while (budget && !ngx_queue_empty(&chs->fanouts)) {
        q = ngx_queue_head(&chs->fanouts);
        f = ngx_queue_data(q, ngx_ws_gateway_fanout_t, queue);

        while (budget && f->next < f->n) {
            ngx_ws_gateway_session_deliver_shared(
                ngx_ws_gateway_link_session(f->ids[f->next++]), f->frame,
                f->size);
            budget--;
            n++;
        }

        if (f->next == f->n) {
            ngx_ws_gateway_fanout_done(f);
        }
    }

    ngx_ws_gateway_channel_spend(n);

    if (n) {
        ngx_ws_gateway_fanout_took(ngx_max(ngx_ws_gateway_now_us() - us, 1),
                                   0);
    }

    if (!ngx_queue_empty(&chs->fanouts)) {
        ngx_post_event(ev, &ngx_posted_next_events);
    }
}


/* a slice took slice_us, a whole fan-out all_us (0: not known yet) */

static void
ngx_ws_gateway_fanout_took(uint64_t slice_us, uint64_t all_us)
{
    ngx_ws_gateway_fanout_metrics_t  *m;

    if (ngx_ws_gateway_slot == NULL) {
        return;
    }

    m = &ngx_ws_gateway_slot->fanout;

    if (slice_us) {
        ngx_ws_gateway_count_add(&m->slices, 1);

        if (slice_us > m->slice_max_us) {
            ngx_ws_gateway_count_set(&m->slice_max_us, slice_us);
        }
    }

    if (all_us > m->max_us) {
        ngx_ws_gateway_count_set(&m->max_us, all_us);
    }
}


static void
ngx_ws_gateway_fanout_done(ngx_ws_gateway_fanout_t *f)
{
    ngx_ws_gateway_link_t      *link;
    ngx_ws_gateway_channels_t  *chs;

    chs = &ngx_ws_gateway_channels;

    ngx_queue_remove(&f->queue);
    chs->running--;

    if (ngx_ws_gateway_slot) {
        ngx_ws_gateway_slot->fanout.running = chs->running;
    }

    ngx_ws_gateway_fanout_took(0, ngx_ws_gateway_now_us() - f->start_us);

    link = f->link;

    ngx_ws_gateway_shared_release(f->frame);
    ngx_free(f);

    if (link) {
        ngx_ws_gateway_link_fanout_done(link);
    }
}
