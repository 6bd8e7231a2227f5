
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <sys/mman.h>

#include "ngx_ws_gateway.h"
#include "ngx_ws_gateway_jwt.h"


/*
 * The work one session gets in a turn: at most this many reads, this
 * many bytes (or one buffer, if it is larger) and, as soon as a read
 * passes it, this many frames.  A session with input left after its turn
 * joins the worker's run queue, which is served once per pass of the
 * event loop, after the events and timers of everyone else
 * (ngx_posted_next_events), in order, until the bytes read in that pass
 * reach NGX_WS_GATEWAY_PASS_BYTES.
 */
#define NGX_WS_GATEWAY_TURN_READS        4
#define NGX_WS_GATEWAY_TURN_BYTES        (16 * 1024)
#define NGX_WS_GATEWAY_TURN_FRAMES       1024
#define NGX_WS_GATEWAY_PASS_BYTES        (128 * 1024)

/* how often, under poll or select, the waiting sessions are asked */
#define NGX_WS_GATEWAY_PROBE_INTERVAL    1000

/* a message being assembled takes pages of its own from this size on */
#define NGX_WS_GATEWAY_MSG_MAP           (64 * 1024)

#define ngx_ws_gateway_msg_held(s)                                           \
    ((s)->message ? (s)->message->held : 0)

/* queue sizes by power of two, for the worker's outbound budget */
#define NGX_WS_GATEWAY_QUEUE_CLASSES     64

/* the first reason a session is ending is the one counted */
#define ngx_ws_gateway_set_end(s, reason)                                    \
    if (!(s)->ended) {                                                       \
        (s)->end = reason;                                                   \
        (s)->ended = 1;                                                      \
    }


static void ngx_ws_gateway_read_handler(ngx_event_t *rev);
static void ngx_ws_gateway_write_handler(ngx_event_t *wev);
static void ngx_ws_gateway_timer(ngx_ws_gateway_session_t *s);
static void ngx_ws_gateway_set_timer(ngx_ws_gateway_session_t *s);
static ngx_int_t ngx_ws_gateway_process(ngx_ws_gateway_session_t *s,
    ngx_buf_t *b);
static ngx_int_t ngx_ws_gateway_data(ngx_ws_gateway_session_t *s,
    ngx_str_t *chunk, ngx_int_t last);
static ngx_int_t ngx_ws_gateway_control(ngx_ws_gateway_session_t *s,
    ngx_str_t *chunk, ngx_int_t last);
static ngx_int_t ngx_ws_gateway_append(ngx_ws_gateway_session_t *s,
    ngx_str_t *chunk);
static ngx_int_t ngx_ws_gateway_message(ngx_ws_gateway_session_t *s,
    ngx_uint_t opcode, u_char *data, size_t len);
static ngx_int_t ngx_ws_gateway_admit(ngx_ws_gateway_session_t *s,
    size_t len);
static void ngx_ws_gateway_delivered(ngx_ws_gateway_session_t *s,
    size_t len);
static void ngx_ws_gateway_subscribe_start(ngx_ws_gateway_session_t *s,
    ngx_ws_gateway_start_t *start);
static ngx_int_t ngx_ws_gateway_queue(ngx_ws_gateway_session_t *s,
    ngx_uint_t opcode, u_char *data, size_t len);
static void ngx_ws_gateway_close(ngx_ws_gateway_session_t *s,
    ngx_uint_t code, char *reason, ngx_uint_t fail);
static ngx_int_t ngx_ws_gateway_send(ngx_ws_gateway_session_t *s);
static void ngx_ws_gateway_send_timeout(ngx_ws_gateway_session_t *s);
static void ngx_ws_gateway_account(ngx_ws_gateway_session_t *s,
    size_t old_out, size_t old_msg);
static void ngx_ws_gateway_run_later(ngx_ws_gateway_session_t *s);
static void ngx_ws_gateway_run(ngx_event_t *ev);
static void ngx_ws_gateway_wait(ngx_ws_gateway_session_t *s);
static void ngx_ws_gateway_wake(void);
static void ngx_ws_gateway_turn(ngx_ws_gateway_session_t *s);
static void ngx_ws_gateway_turn_end(ngx_event_t *ev);
static void ngx_ws_gateway_unexempt(ngx_ws_gateway_session_t *s);
static void ngx_ws_gateway_overload(ngx_event_t *ev);
static ngx_uint_t ngx_ws_gateway_probe(void);
static void ngx_ws_gateway_unqueue(ngx_ws_gateway_session_t *s);
static ngx_ws_gateway_msg_t *ngx_ws_gateway_msg_alloc(size_t size,
    ngx_log_t *log);
static void ngx_ws_gateway_msg_free(ngx_ws_gateway_session_t *s);
static void ngx_ws_gateway_msg_free_mem(ngx_ws_gateway_msg_t *m);
static ngx_int_t ngx_ws_gateway_over_budget(ngx_ws_gateway_session_t *s);
static size_t ngx_ws_gateway_budget_threshold(size_t budget);
static void ngx_ws_gateway_pause(ngx_ws_gateway_session_t *s,
    ngx_uint_t reason);
static void ngx_ws_gateway_resume(ngx_ws_gateway_session_t *s);
static ngx_int_t ngx_ws_gateway_reset(ngx_ws_gateway_session_t *s);
static ngx_int_t ngx_ws_gateway_drain(ngx_ws_gateway_session_t *s);
#if (NGX_HTTP_SSL)
static void ngx_ws_gateway_drain_ssl_handler(ngx_connection_t *c);
#endif
static void ngx_ws_gateway_finalize(ngx_ws_gateway_session_t *s);
static u_char *ngx_ws_gateway_read_buffer(size_t size, ngx_log_t *log);
#if (NGX_WS_GATEWAY_TEST_HOOKS)
static void ngx_ws_gateway_test_hook(ngx_ws_gateway_session_t *s,
    u_char *data, size_t len);
#endif


/* per worker */

static u_char      *ngx_ws_gateway_rbuf;
static size_t       ngx_ws_gateway_rbuf_size;
static uint64_t     ngx_ws_gateway_last_ms;
static ngx_uint_t   ngx_ws_gateway_id_seq;
static ngx_uint_t   ngx_ws_gateway_turn_frames;

/*
 * What the worker's sessions hold for their messages: outbound queues,
 * messages being assembled, and, by what a session holds in all, sizes
 * by class
 */
static size_t       ngx_ws_gateway_queued;
static size_t       ngx_ws_gateway_assembling;
static ngx_uint_t   ngx_ws_gateway_nqueued;     /* sessions holding any */
static size_t       ngx_ws_gateway_class_bytes[NGX_WS_GATEWAY_QUEUE_CLASSES];

/*
 * The worker's memory for them: a shared frame (a fan-out) counts once,
 * though each queue holding it counts it whole against its own cap
 */
#define ngx_ws_gateway_worker_held()                                         \
    ((ngx_ws_gateway_queued + ngx_ws_gateway_assembling                      \
      > ngx_ws_gateway_shared_excess)                                        \
     ? ngx_ws_gateway_queued + ngx_ws_gateway_assembling                     \
       - ngx_ws_gateway_shared_excess                                        \
     : 0)

/* sessions with input left after their turn, and their pass's work */
static ngx_queue_t  ngx_ws_gateway_run_queue;
static ngx_event_t  ngx_ws_gateway_run_event;
static size_t       ngx_ws_gateway_pass_bytes;
static ngx_uint_t   ngx_ws_gateway_runnable;

/*
 * paused for the worker's budget with nothing queued to wake them, what
 * they hold, and the one let go on over the budget so that the worker
 * makes progress when they hold the budget between them: its turn, when
 * it began and last read, and what such turns added to the messages
 * still held
 */
static ngx_queue_t                ngx_ws_gateway_waiting;
static size_t                     ngx_ws_gateway_waiting_bytes;
static ngx_ws_gateway_session_t  *ngx_ws_gateway_exempt;
static ngx_event_t                ngx_ws_gateway_turn_event;
static ngx_msec_t                 ngx_ws_gateway_turn_start;
static ngx_msec_t                 ngx_ws_gateway_turn_read;
static size_t                     ngx_ws_gateway_over;

/*
 * the locations with messages being received (each keeps its own in the
 * order they began), and, while sessions wait for the budget, since
 * when they have, and the timer of the nearest message deadline
 */
static ngx_queue_t                ngx_ws_gateway_receiving;
static ngx_msec_t                 ngx_ws_gateway_overload_start;
static ngx_event_t                ngx_ws_gateway_overload_event;

/* the timers' debug logging takes ev->data for a connection */
static ngx_connection_t           ngx_ws_gateway_timer_conn;


void
ngx_ws_gateway_session_init_process(ngx_cycle_t *cycle)
{
    ngx_queue_init(&ngx_ws_gateway_run_queue);
    ngx_queue_init(&ngx_ws_gateway_waiting);
    ngx_queue_init(&ngx_ws_gateway_receiving);

    ngx_ws_gateway_timer_conn.fd = (ngx_socket_t) -1;

    ngx_ws_gateway_run_event.handler = ngx_ws_gateway_run;
    ngx_ws_gateway_run_event.log = cycle->log;

    ngx_ws_gateway_turn_event.handler = ngx_ws_gateway_turn_end;
    ngx_ws_gateway_turn_event.data = &ngx_ws_gateway_timer_conn;
    ngx_ws_gateway_turn_event.log = cycle->log;
    ngx_ws_gateway_turn_event.cancelable = 1;

    ngx_ws_gateway_overload_event.handler = ngx_ws_gateway_overload;
    ngx_ws_gateway_overload_event.data = &ngx_ws_gateway_timer_conn;
    ngx_ws_gateway_overload_event.log = cycle->log;
    ngx_ws_gateway_overload_event.cancelable = 1;
}


void
ngx_ws_gateway_session_init(ngx_connection_t *c,
    ngx_ws_gateway_loc_conf_t *wlcf, time_t expires, u_char *pipelined,
    size_t len, ngx_ws_gateway_start_t *start)
{
    size_t                     n;
    ngx_buf_t                  b;
    ngx_str_t                  reason;
    ngx_ws_gateway_session_t  *s;

    /*
     * The session is allocated on its own rather than from c->pool: what
     * the connection has already taken of its pool block leaves too
     * little room, and a second block would double the idle footprint.
     * The fields of its OPEN, kept for a re-announce, follow it in the
     * same allocation.
     */

    n = (start->link && start->open) ? start->open_len : 0;

    s = ngx_calloc(sizeof(ngx_ws_gateway_session_t) + n, c->log);
    if (s == NULL) {
        ngx_http_close_connection(c);
        return;
    }

    s->id = start->id ? start->id : ngx_ws_gateway_session_id();

    s->connection = c;
    s->conf = wlcf;

    s->parser.client = 1;
    s->parser.max_frame = wlcf->max_frame_size;
    s->parser.max_message = wlcf->max_message_size;

    s->last_read = ngx_current_msec;
    s->last_message = ngx_current_msec;

    s->expires = ngx_ws_gateway_jwt_expiry32(expires);

    c->data = s;
    c->read->handler = ngx_ws_gateway_read_handler;
    c->write->handler = ngx_ws_gateway_write_handler;
    c->log->action = "serving WebSocket session";

    /*
     * A graceful shutdown calls the read handler with c->close set; a
     * session that starts after the shutdown began (its handshake was
     * on the way) is told at once.
     */

    c->idle = 1;

    if (ngx_exiting || ngx_terminate) {
        c->close = 1;
    }

    if (ngx_ws_gateway_slot) {
        ngx_ws_gateway_metric_inc(handshakes[NGX_WS_GATEWAY_HS_ACCEPTED]);
        ngx_ws_gateway_metric_inc(total.accepts);
        ngx_ws_gateway_slot->active++;
        ngx_ws_gateway_metrics_touch(s);

        /* without receive timestamps, event latency is not sampled */

        (void) ngx_ws_gateway_metrics_stamp(c);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "ws gateway session %uL started", s->id);

    ngx_ws_gateway_set_timer(s);

    if (start->link) {

        /* with approval, what its backend sent since its ACCEPT */

        if (start->out.out) {
            s->out = start->out;
            ngx_ws_gateway_account(s, 0, 0);
        }

        /* what a re-announce says of it (the caller frees the copy) */

        s->open_len = (uint32_t) n;
        ngx_memcpy(ngx_ws_gateway_session_open(s), start->open, n);

        if (ngx_ws_gateway_link_attach(s, start->link) != NGX_OK) {
            ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_ERROR);
            ngx_ws_gateway_close(s, NGX_WS_GATEWAY_CLOSE_INTERNAL, NULL, 1);
            (void) ngx_ws_gateway_send(s);
            return;
        }

        ngx_ws_gateway_subscribe_start(s, start);

        if (start->slow) {

            /* its backend sent more than the session may hold */

            s->slow = 1;
            ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_SEND_TIMEOUT);
            ngx_ws_gateway_close(s, NGX_WS_GATEWAY_CLOSE_TRY_AGAIN,
                                 "slow consumer", 1);

            if (!c->write->posted) {
                ngx_post_event(c->write, &ngx_posted_events);
            }

            return;
        }

        if (start->end_code) {
            reason.data = start->end_reason;
            reason.len = start->end_len;

            ngx_ws_gateway_session_end(s, start->end_code, &reason, 1);
            return;
        }

    } else if (wlcf->target == NGX_WS_GATEWAY_TARGET_UPSTREAM) {

        /* its link went between the handshake and now */

        ngx_ws_gateway_session_lost(s, wlcf->failover_code,
                                    "backend unavailable");
        return;
    }

    if (len) {
        ngx_memzero(&b, sizeof(ngx_buf_t));
        b.pos = pipelined;
        b.last = pipelined + len;

        if (ngx_ws_gateway_process(s, &b) == NGX_DONE) {
            return;
        }

        if (ngx_ws_gateway_send(s) == NGX_DONE) {
            return;
        }

        if (s->draining) {

            /*
             * the pipelined data failed the session: the drain reads on
             * from its own posted event, after NGINX's TLS shutdown if
             * that has to wait (it holds the read handler meanwhile)
             */

            return;
        }
    }

    ngx_ws_gateway_read_handler(c->read);
}


/* the channels of ws_gateway_subscribe, no backend round trip */

static void
ngx_ws_gateway_subscribe_start(ngx_ws_gateway_session_t *s,
    ngx_ws_gateway_start_t *start)
{
    u_char     *p, *end;
    ngx_int_t   rc;

    if (start->channels == NULL) {
        return;
    }

    p = start->channels;
    end = p + start->channels_len;

    while (p < end) {
        rc = ngx_ws_gateway_channel_subscribe(s, p + 1, *p);

        if (rc != 0) {
            ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                          "ws_gateway_subscribe \"%*s\" not done: %s",
                          (size_t) *p, p + 1,
                          (rc == NGX_WS_GATEWAY_REFUSED_MANY)
                          ? "too many channels" : "no memory");
        }

        p += 1 + *p;
    }

    ngx_free(start->channels);
    start->channels = NULL;
}


/*
 * Session ids (docs/protocol.md, 4): the milliseconds since 2026-01-01
 * (41 bits), the worker's process slot (10 bits) and a counter within
 * the millisecond (13 bits); the clock a worker uses never goes back,
 * and a millisecond whose counter is spent borrows the next one.
 */

#define NGX_WS_GATEWAY_ID_EPOCH          1767225600000ULL
#define NGX_WS_GATEWAY_ID_SEQ_BITS       13
#define NGX_WS_GATEWAY_ID_SLOT_BITS      10


uint64_t
ngx_ws_gateway_session_id(void)
{
    uint64_t     ms;
    ngx_time_t  *tp;

    tp = ngx_timeofday();
    ms = (uint64_t) tp->sec * 1000 + tp->msec;
    ms = (ms > NGX_WS_GATEWAY_ID_EPOCH) ? ms - NGX_WS_GATEWAY_ID_EPOCH : 0;

    if (ms > ngx_ws_gateway_last_ms) {
        ngx_ws_gateway_last_ms = ms;
        ngx_ws_gateway_id_seq = 0;

    } else if (++ngx_ws_gateway_id_seq
               >= (1 << NGX_WS_GATEWAY_ID_SEQ_BITS))
    {
        ngx_ws_gateway_last_ms++;
        ngx_ws_gateway_id_seq = 0;
    }

    return (ngx_ws_gateway_last_ms
            << (NGX_WS_GATEWAY_ID_SEQ_BITS + NGX_WS_GATEWAY_ID_SLOT_BITS))
           | ((uint64_t) (ngx_process_slot
                          & ((1 << NGX_WS_GATEWAY_ID_SLOT_BITS) - 1))
              << NGX_WS_GATEWAY_ID_SEQ_BITS)
           | ngx_ws_gateway_id_seq
           | (ngx_ws_gateway_last_ms == 0 && ngx_ws_gateway_id_seq == 0);
}


/*
 * Whether a backend's message of "len" bytes may join the session's
 * queue: NGX_OK, or NGX_DECLINED when it is dropped (counted, and the
 * session closed or told its backend, by the location's policy)
 */

static ngx_int_t
ngx_ws_gateway_admit(ngx_ws_gateway_session_t *s, size_t len)
{
    size_t                       budget, held;
    ngx_connection_t            *c;
    ngx_ws_gateway_main_conf_t  *wmcf;

    c = s->connection;

    if (s->close_sent) {
        ngx_ws_gateway_metric_inc(drops[NGX_WS_GATEWAY_DROP_CLOSING]);
        return NGX_DECLINED;
    }

    wmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_ws_gateway_module);
    budget = wmcf->worker_outbound_limit;
    held = ngx_ws_gateway_worker_held();

    if (budget
        && held + len > budget
        && (s->out.size || held > budget + budget / 8))
    {
        /*
         * The worker's budget: a backend's message that would take the
         * worker past it is dropped, and its session closed, when the
         * session still holds what was sent to it before (its client
         * is not keeping up), or when the worker is an eighth over
         * (every session, then: messages to sessions holding nothing
         * are what takes the worker on past its budget).
         */

        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "worker outbound budget of %uz bytes is spent, a "
                      "backend message dropped, closing with 1013",
                      budget);

        ngx_ws_gateway_metric_inc(drops[NGX_WS_GATEWAY_DROP_OVERLOAD]);

        ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_OVERLOAD);
        ngx_ws_gateway_close(s, NGX_WS_GATEWAY_CLOSE_TRY_AGAIN,
                             "server overloaded", 1);
        return NGX_DECLINED;
    }

    if (s->out.size < s->conf->outbound_limit) {
        return NGX_OK;
    }

    /* the client does not read what the backend sends */

    if (s->conf->outbound_policy == NGX_WS_GATEWAY_POLICY_DROP) {

        /* dropped, counted, and told the backend once the client reads */

        if (s->dropped++ == 0) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "client does not read: %uz bytes queued, "
                          "dropping messages", s->out.size);
        }

        ngx_ws_gateway_metric_inc(drops[NGX_WS_GATEWAY_DROP_SESSION_CAP]);
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "client does not read: %uz bytes queued, closing "
                  "with %ui", s->out.size, s->conf->outbound_code);

    ngx_ws_gateway_metric_inc(drops[NGX_WS_GATEWAY_DROP_SLOW]);

    s->slow = 1;
    ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_SEND_TIMEOUT);
    ngx_ws_gateway_close(s, s->conf->outbound_code, "slow consumer", 1);

    return NGX_DECLINED;
}


static void
ngx_ws_gateway_delivered(ngx_ws_gateway_session_t *s, size_t len)
{
    s->last_message = ngx_current_msec;

    if (ngx_ws_gateway_slot) {
        ngx_ws_gateway_metric_inc(total.messages_out);
        ngx_ws_gateway_metric_add(total.bytes_out, len);
        ngx_ws_gateway_metrics_touch(s);
    }
}


/* a backend's SEND: queued, and written from the session's write event */

void
ngx_ws_gateway_session_deliver(ngx_ws_gateway_session_t *s,
    ngx_uint_t opcode, u_char *data, size_t len)
{
    ngx_connection_t  *c;

    c = s->connection;

    if (ngx_ws_gateway_admit(s, len) == NGX_OK) {

        if (ngx_ws_gateway_queue(s, opcode, data, len) != NGX_OK) {
            c->error = 1;

        } else {
            ngx_ws_gateway_delivered(s, len);
        }
    }

    if (!c->write->posted) {
        ngx_post_event(c->write, &ngx_posted_events);
    }
}


/*
 * A fan-out's frame, shared: the queue takes a reference to it.
 * Returns 1 when it is queued (s may be NULL: the session is gone).
 */

ngx_uint_t
ngx_ws_gateway_session_deliver_shared(ngx_ws_gateway_session_t *s,
    ngx_ws_gateway_shared_t *frame, size_t size)
{
    size_t             old;
    ssize_t            n;
    ngx_uint_t         queued;
    ngx_connection_t  *c;

    if (s == NULL) {
        ngx_ws_gateway_metric_inc(drops[NGX_WS_GATEWAY_DROP_GONE]);
        return 0;
    }

    c = s->connection;
    queued = 0;
    n = 0;

    if (ngx_ws_gateway_admit(s, frame->size) != NGX_OK) {
        goto post;
    }

    if (s->out.out == NULL && c->write->ready && !c->error
#if (NGX_HTTP_SSL)
        && c->ssl == NULL
#endif
       )
    {
        /*
         * Nothing is queued and the socket takes writes: the frame is
         * written now, from where it is shared, and nothing is queued or
         * posted for the session unless the socket takes less.
         */

        n = c->send(c, frame->data, frame->len);

        if (n == NGX_ERROR) {
            c->error = 1;
            goto post;
        }

        if (n == (ssize_t) frame->len) {
            ngx_ws_gateway_delivered(s, size);
            ngx_ws_gateway_metric_inc(fanout.deliveries);
            return 1;
        }

        if (n == NGX_AGAIN) {
            n = 0;
        }
    }

    old = s->out.size;

    if (ngx_ws_gateway_out_shared(&s->out, frame) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, c->log, ngx_errno,
                      "no memory for a shared frame");
        c->error = 1;
        goto post;
    }

    /* what the socket took of it */

    s->out.tail->buf.pos += n;

    ngx_ws_gateway_account(s, old, ngx_ws_gateway_msg_held(s));
    ngx_ws_gateway_delivered(s, size);
    ngx_ws_gateway_metric_inc(fanout.deliveries);
    queued = 1;

post:

    if (!c->write->posted) {
        ngx_post_event(c->write, &ngx_posted_events);
    }

    return queued;
}


/* a backend's CLOSE */

void
ngx_ws_gateway_session_end(ngx_ws_gateway_session_t *s, ngx_uint_t code,
    ngx_str_t *reason, ngx_uint_t backend)
{
    u_char             text[NGX_WS_GATEWAY_REASON_MAX + 1];
    ngx_connection_t  *c;

    c = s->connection;

    ngx_memcpy(text, reason->data, ngx_min(reason->len, sizeof(text) - 1));
    text[ngx_min(reason->len, sizeof(text) - 1)] = '\0';

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "ws gateway backend closes the session: %ui \"%s\"",
                   code, text);

    if (backend) {
        s->by_backend = 1;
        ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_BACKEND_CLOSE);
    }

    ngx_ws_gateway_close(s, code, (char *) text, 0);

    if (!c->write->posted) {
        ngx_post_event(c->write, &ngx_posted_events);
    }
}


/* the session's link went, and no other took it: closed */

void
ngx_ws_gateway_session_lost(ngx_ws_gateway_session_t *s, ngx_uint_t code,
    char *reason)
{
    ngx_connection_t  *c;

    c = s->connection;

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "session closed with %ui: its backend link was lost",
                  code);

    if (s->orphan) {
        ngx_ws_gateway_link_leave(s);
    }

    ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_LINK_LOST);
    ngx_ws_gateway_close(s, code, reason, 0);

    if (!c->write->posted) {
        ngx_post_event(c->write, &ngx_posted_events);
    }
}


/* its link has room again, or it has a link again: it reads on */

void
ngx_ws_gateway_session_read_again(ngx_ws_gateway_session_t *s)
{
    if (s->link_wait) {
        ngx_ws_gateway_unqueue(s);
    }

    /*
     * With frames queued, their writes resume it once there is room;
     * with none, nothing would: it reads, and the read handler pauses it
     * again if it must, waiting for the worker's budget if that is why
     */

    if (s->read_paused && !s->waiting
        && (s->out.out == NULL
            || (s->out.size < s->conf->outbound_limit / 2
                && !ngx_ws_gateway_over_budget(s))))
    {
        ngx_ws_gateway_resume(s);
    }
}


static void
ngx_ws_gateway_read_handler(ngx_event_t *rev)
{
    u_char                     *buf;
    size_t                      size, limit, bytes, turn;
    ssize_t                     n;
    ngx_buf_t                   b;
    ngx_uint_t                  reads;
    ngx_connection_t           *c;
    ngx_ws_gateway_session_t   *s;
    ngx_ws_gateway_loc_conf_t  *wlcf;

    c = rev->data;
    s = c->data;
    wlcf = s->conf;

    if (rev->timedout) {
        rev->timedout = 0;
        ngx_ws_gateway_timer(s);
        return;
    }

    if (c->close) {
        c->close = 0;
        c->idle = 0;

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "ws gateway session: worker is shutting down");

        ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_SHUTDOWN);
        ngx_ws_gateway_close(s, NGX_WS_GATEWAY_CLOSE_GOING_AWAY,
                             "server shutting down", 0);

        if (ngx_ws_gateway_send(s) == NGX_DONE) {
            return;
        }
    }

    if (s->runnable) {

        /*
         * more input, or its report again, while the session waits in
         * the run queue: its turn comes from there, in order
         */

        return;
    }

    if (s->read_paused) {

        if (rev->pending_eof && ngx_ws_gateway_reset(s)) {
            return;
        }

        /* a level-triggered event method must stop reporting input */

        if (ngx_handle_read_event(rev, 0) != NGX_OK) {
            ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_ERROR);
            ngx_ws_gateway_finalize(s);
        }

        return;
    }

    if (s->resumed) {

        /*
         * the data waited because the session paused reading, or for
         * its turn in the run queue, not for the event loop: it is no
         * sample of event latency
         */

        s->resumed = 0;

    } else if (rev->ready) {
        ngx_ws_gateway_metrics_event(c);
    }

    buf = ngx_ws_gateway_read_buffer(wlcf->buffer_size, c->log);
    if (buf == NULL) {
        ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_ERROR);
        ngx_ws_gateway_finalize(s);
        return;
    }

    turn = ngx_max(NGX_WS_GATEWAY_TURN_BYTES, wlcf->buffer_size);
    bytes = 0;
    ngx_ws_gateway_turn_frames = 0;

    for (reads = 0; rev->ready; reads++) {

        if (reads == NGX_WS_GATEWAY_TURN_READS || bytes >= turn
            || ngx_ws_gateway_turn_frames >= NGX_WS_GATEWAY_TURN_FRAMES)
        {
            /*
             * the others get their turn, and the timers theirs: this
             * session goes on from the run queue
             */

            ngx_ws_gateway_run_later(s);
            break;
        }

        size = wlcf->buffer_size;

        if (!s->draining) {

            /*
             * What a message makes the echo queue is never more than the
             * frames that carried it: a read no larger than the room left
             * keeps the queue within its limit, whatever the client sends.
             */

            limit = wlcf->outbound_limit;

            if (ngx_ws_gateway_waits_for_link(s)) {

                /* no link to take what it sends: its TCP window closes */

                ngx_ws_gateway_pause(s, NGX_WS_GATEWAY_PAUSE_NO_LINK);
                break;
            }

            if (s->link && ngx_ws_gateway_link_full(s)) {

                /* its link is at its high watermark: in the link's list */

                ngx_ws_gateway_pause(s, NGX_WS_GATEWAY_PAUSE_LINK);
                break;
            }

            if (s->out.size >= limit) {
                ngx_ws_gateway_pause(s, NGX_WS_GATEWAY_PAUSE_LIMIT);
                break;
            }

            if (ngx_ws_gateway_over_budget(s)) {
                ngx_ws_gateway_pause(s, NGX_WS_GATEWAY_PAUSE_WORKER);

                if (s->out.out == NULL) {

                    /* no write will wake it: the worker's budget will */

                    ngx_ws_gateway_wait(s);
                }

                break;
            }

            size = ngx_min(size, limit - s->out.size);
        }

        n = c->recv(c, buf, size);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "ws gateway recv: %z", n);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            if (n == 0 && !s->close_received && !s->draining) {
                ngx_log_error(NGX_LOG_INFO, c->log, 0,
                              "client closed connection without "
                              "a close frame");
            }

            c->error = (n == NGX_ERROR);
            ngx_ws_gateway_set_end(s, n == 0 ? NGX_WS_GATEWAY_END_EOF
                                             : NGX_WS_GATEWAY_END_ERROR);
            ngx_ws_gateway_finalize(s);
            return;
        }

        bytes += n;
        ngx_ws_gateway_pass_bytes += n;

        if (s == ngx_ws_gateway_exempt) {
            ngx_ws_gateway_turn_read = ngx_current_msec;
        }

        if (s->draining) {
            continue;
        }

        b.pos = buf;
        b.last = buf + n;

        if (ngx_ws_gateway_process(s, &b) == NGX_DONE) {
            return;
        }

        if (s->closing) {
            break;
        }
    }

    if (ngx_ws_gateway_send(s) == NGX_DONE) {
        return;
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_ERROR);
        ngx_ws_gateway_finalize(s);
    }
}


static void
ngx_ws_gateway_write_handler(ngx_event_t *wev)
{
    ngx_connection_t          *c;
    ngx_ws_gateway_session_t  *s;

    c = wev->data;
    s = c->data;

    if (wev->timedout) {
        wev->timedout = 0;
        ngx_ws_gateway_send_timeout(s);
        return;
    }

    (void) ngx_ws_gateway_send(s);
}


static void
ngx_ws_gateway_send_timeout(ngx_ws_gateway_session_t *s)
{
    size_t             old;
    ngx_uint_t         dropped;
    ngx_connection_t  *c;

    c = s->connection;

    if (s->close_sent) {

        /* not even the close frame could be written */

        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "client timed out reading, %uz bytes queued",
                      s->out.size);
        c->timedout = 1;
        ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_SEND_TIMEOUT);
        ngx_ws_gateway_finalize(s);
        return;
    }

    /*
     * A slow consumer: what the client has not been given of its queue
     * is dropped (a frame begun is finished), which frees the memory at
     * once, and the session is closed with 1013 (try again later); the
     * close frame gets ws_gateway_close_timeout to get out.
     */

    old = s->out.size;
    dropped = ngx_ws_gateway_out_cut(&s->out);
    ngx_ws_gateway_account(s, old, ngx_ws_gateway_msg_held(s));

    ngx_ws_gateway_metric_add(drops[NGX_WS_GATEWAY_DROP_SLOW], dropped);

    ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                  "client timed out reading, %ui messages dropped, "
                  "closing with 1013", dropped);

    s->slow = 1;
    ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_SEND_TIMEOUT);
    ngx_ws_gateway_close(s, NGX_WS_GATEWAY_CLOSE_TRY_AGAIN, "slow consumer",
                         1);

    (void) ngx_ws_gateway_send(s);
}


static void
ngx_ws_gateway_timer(ngx_ws_gateway_session_t *s)
{
    ngx_msec_t                  now;
    ngx_connection_t           *c;
    ngx_ws_gateway_expiry_t    *expiry;
    ngx_ws_gateway_loc_conf_t  *wlcf;

    c = s->connection;
    wlcf = s->conf;
    now = ngx_current_msec;

    if (s->close_sent) {
        if ((ngx_msec_int_t) (now - s->close_started)
            >= (ngx_msec_int_t) wlcf->close_timeout)
        {
            ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                          "client timed out in the closing handshake");
            c->timedout = 1;
            ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_CLOSE_TIMEOUT);
            ngx_ws_gateway_finalize(s);
            return;
        }

        ngx_ws_gateway_set_timer(s);
        return;
    }

    if (s->read_paused) {

        /*
         * the client's pongs wait unread behind the input held back
         * while it does not read: send_timeout watches it meanwhile
         */

        s->last_read = now;
        s->ping_sent = 0;
    }

    if (s->ping_sent
        && (ngx_msec_int_t) (now - s->ping_sent)
           >= (ngx_msec_int_t) wlcf->pong_timeout)
    {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "client timed out answering ping");
        c->timedout = 1;
        ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_PING_TIMEOUT);
        ngx_ws_gateway_finalize(s);
        return;
    }

    if (s->expires
        && ngx_ws_gateway_jwt_expiry_left(s->expires, ngx_time()) <= 0)
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "token expired, closing WebSocket session");

        ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_TOKEN_EXPIRED);

        expiry = ngx_ws_gateway_auth_expiry(wlcf->auth);

        ngx_ws_gateway_close(s, expiry->code, expiry->reason, 0);
        (void) ngx_ws_gateway_send(s);
        return;
    }

    if (wlcf->idle_timeout
        && (ngx_msec_int_t) (now - s->last_message)
           >= (ngx_msec_int_t) wlcf->idle_timeout)
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0, "session idle timeout");

        ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_IDLE_TIMEOUT);

        ngx_ws_gateway_close(s, NGX_WS_GATEWAY_CLOSE_NORMAL, "idle timeout",
                             0);
        (void) ngx_ws_gateway_send(s);
        return;
    }

    if (wlcf->ping_interval && s->ping_sent == 0
        && (ngx_msec_int_t) (now - s->last_read)
           >= (ngx_msec_int_t) wlcf->ping_interval)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "ws gateway sends ping");

        if (ngx_ws_gateway_queue(s, NGX_WS_GATEWAY_OP_PING, NULL, 0)
            != NGX_OK)
        {
            ngx_ws_gateway_finalize(s);
            return;
        }

        s->ping_sent = now ? now : 1;

        if (ngx_ws_gateway_send(s) == NGX_DONE) {
            return;
        }
    }

    ngx_ws_gateway_set_timer(s);
}


static void
ngx_ws_gateway_set_timer(ngx_ws_gateway_session_t *s)
{
    int64_t                     secs;
    ngx_msec_t                  deadline, t;
    ngx_event_t                *rev;
    ngx_msec_int_t              left;
    ngx_ws_gateway_loc_conf_t  *wlcf;

    /*
     * One timer per session, on the read event: the nearest of the close
     * deadline, the pong deadline, the next ping, the idle timeout and
     * the token's expiry.
     * Reads only move the marks forward; the timer finds out when it
     * fires, so no timer is touched per frame.
     */

    wlcf = s->conf;
    rev = s->connection->read;
    deadline = 0;

    if (s->close_sent) {
        deadline = s->close_started + wlcf->close_timeout;

    } else {
        if (s->ping_sent) {
            deadline = s->ping_sent + wlcf->pong_timeout;

        } else if (wlcf->ping_interval) {
            deadline = s->last_read + wlcf->ping_interval;
        }

        if (wlcf->idle_timeout) {
            t = s->last_message + wlcf->idle_timeout;

            if (deadline == 0 || (ngx_msec_int_t) (t - deadline) < 0) {
                deadline = t;
            }
        }

        if (s->expires) {

            /*
             * wall-clock seconds; a far expiry is looked at again in a
             * day, which keeps the msec arithmetic from wrapping
             */

            secs = ngx_ws_gateway_jwt_expiry_left(s->expires, ngx_time());
            secs = ngx_max(secs, 0);
            left = (ngx_msec_int_t) ngx_min(secs, 86400);

            t = ngx_current_msec + (ngx_msec_t) left * 1000;

            if (deadline == 0 || (ngx_msec_int_t) (t - deadline) < 0) {
                deadline = t;
            }
        }
    }

    if (deadline == 0) {
        if (rev->timer_set) {
            ngx_del_timer(rev);
        }

        return;
    }

    left = (ngx_msec_int_t) (deadline - ngx_current_msec);

    ngx_add_timer(rev, left > 0 ? (ngx_msec_t) left : 1);
}


static ngx_int_t
ngx_ws_gateway_process(ngx_ws_gateway_session_t *s, ngx_buf_t *b)
{
    ngx_int_t                 rc, last;
    ngx_str_t                 chunk;
    ngx_connection_t         *c;
    ngx_ws_gateway_parser_t  *p;

    c = s->connection;
    p = &s->parser;

    if (s->closing) {
        return NGX_OK;
    }

    s->last_read = ngx_current_msec;

    if (s->ping_sent) {

        /*
         * the ping is answered: the timer, at the pong deadline, moves to
         * the next ping, which may come sooner
         */

        s->ping_sent = 0;
        ngx_ws_gateway_set_timer(s);
    }

    for ( ;; ) {

        if (!s->in_payload) {

            if (b->pos == b->last) {
                return NGX_OK;
            }

            rc = ngx_ws_gateway_parse_frame(p, b);

            if (rc == NGX_AGAIN) {
                return NGX_OK;
            }

            if (rc == NGX_ERROR) {
                ngx_log_error(NGX_LOG_INFO, c->log, 0,
                              "client sent invalid frame: %s", p->error);
                if (p->close_code == NGX_WS_GATEWAY_CLOSE_TOO_BIG) {
                    ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_TOO_BIG);

                } else {
                    ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_PROTOCOL);
                }

                ngx_ws_gateway_close(s, p->close_code, NULL, 1);
                return NGX_OK;
            }

            ngx_log_debug4(NGX_LOG_DEBUG_HTTP, c->log, 0,
                           "ws gateway frame: op:%ui fin:%ui rsv:%ui len:%uL",
                           p->opcode, (ngx_uint_t) p->fin, p->rsv,
                           p->length);

            s->in_payload = 1;
            ngx_ws_gateway_turn_frames++;

            if (!ngx_ws_gateway_op_is_control(p->opcode)) {
                if (p->opcode != NGX_WS_GATEWAY_OP_CONT) {
                    s->opcode = p->opcode;
                    s->utf8 = NGX_WS_GATEWAY_UTF8_ACCEPT;
                }

                s->fin = p->fin;
            }
        }

        last = (ngx_ws_gateway_parse_payload(p, b, &chunk) == NGX_OK);

        if (last) {
            s->in_payload = 0;
        }

        if (ngx_ws_gateway_op_is_control(p->opcode)) {
            rc = ngx_ws_gateway_control(s, &chunk, last);

        } else {
            rc = ngx_ws_gateway_data(s, &chunk, last);
        }

        if (rc == NGX_DONE) {
            return NGX_DONE;
        }

        if (rc == NGX_DECLINED || !last) {

            /*
             * the buffer is exhausted inside a payload, or the session
             * is failing and the rest of the input is ignored
             */

            return NGX_OK;
        }
    }
}


static ngx_int_t
ngx_ws_gateway_data(ngx_ws_gateway_session_t *s, ngx_str_t *chunk,
    ngx_int_t last)
{
    ngx_int_t              rc;
    ngx_ws_gateway_msg_t  *m;

    if (s->close_sent) {

        /* data after our close frame is read and dropped, and counted */

        if (last && s->fin) {
            ngx_ws_gateway_metric_inc(drops[NGX_WS_GATEWAY_DROP_CLOSING]);
        }

        return NGX_OK;
    }

    if (s->opcode == NGX_WS_GATEWAY_OP_TEXT
        && ngx_ws_gateway_utf8_check(&s->utf8, chunk->data, chunk->len)
           != NGX_OK)
    {
        goto invalid_utf8;
    }

    if (s->message == NULL && last && s->fin) {

        /* the whole message is in the read buffer: no copy */

        if (s->opcode == NGX_WS_GATEWAY_OP_TEXT
            && !ngx_ws_gateway_utf8_complete(s->utf8))
        {
            goto invalid_utf8;
        }

        return ngx_ws_gateway_message(s, s->opcode, chunk->data, chunk->len);
    }

    if (chunk->len && ngx_ws_gateway_append(s, chunk) != NGX_OK) {
        ngx_ws_gateway_finalize(s);
        return NGX_DONE;
    }

    if (!(last && s->fin)) {
        return NGX_OK;
    }

    if (s->opcode == NGX_WS_GATEWAY_OP_TEXT
        && !ngx_ws_gateway_utf8_complete(s->utf8))
    {
        goto invalid_utf8;
    }

    m = s->message;

    if (m == NULL) {
        return ngx_ws_gateway_message(s, s->opcode, NULL, 0);
    }

    rc = ngx_ws_gateway_message(s, s->opcode, m->data, m->len);

    /* a message refused closed the session, which freed it */

    if (rc != NGX_DONE && s->message) {
        ngx_ws_gateway_msg_free(s);
    }

    return rc;

invalid_utf8:

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "client sent invalid UTF-8 in a text message");

    ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_INVALID_DATA);
    ngx_ws_gateway_close(s, NGX_WS_GATEWAY_CLOSE_INVALID_DATA, NULL, 1);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_ws_gateway_append(ngx_ws_gateway_session_t *s, ngx_str_t *chunk)
{
    size_t                 size, want, old;
    ngx_ws_gateway_msg_t  *m, *n;

    /*
     * A message grows as its bytes arrive, doubling, so that a client
     * announcing a large frame and sending it slowly does not get the
     * whole announced size up front.  What it takes counts toward the
     * worker's budget, as the outbound queues do: the allocation, or,
     * of pages mapped for it, those it has written (the others take no
     * memory yet).
     */

    m = s->message;
    old = ngx_ws_gateway_msg_held(s);
    want = (m ? m->len : 0) + chunk->len;

    if (m == NULL || want > m->size) {
        size = m ? 2 * m->size : 1024;

        if (size < want) {
            size = want;
        }

        if (size > s->conf->max_message_size) {
            size = ngx_max(want, s->conf->max_message_size);
        }

        n = ngx_ws_gateway_msg_alloc(size, s->connection->log);
        if (n == NULL) {
            return NGX_ERROR;
        }

        n->connection = s->connection;

        if (m) {
            ngx_memcpy(n->data, m->data, m->len);
            n->len = m->len;
            n->over = m->over;
            n->start = m->start;

            ngx_queue_insert_after(&m->queue, &n->queue);
            ngx_queue_remove(&m->queue);

            ngx_ws_gateway_msg_free_mem(m);

        } else {
            n->start = ngx_current_msec;

            if (ngx_queue_empty(&s->conf->messages)) {
                ngx_queue_insert_tail(&ngx_ws_gateway_receiving,
                                      &s->conf->receiving);
            }

            ngx_queue_insert_tail(&s->conf->messages, &n->queue);
        }

        s->message = n;
        m = n;
    }

    ngx_memcpy(m->data + m->len, chunk->data, chunk->len);
    m->len += chunk->len;

    if (m->mapped) {
        m->held = ngx_align(offsetof(ngx_ws_gateway_msg_t, data) + m->len,
                            ngx_pagesize);
    }

    if (m->held != old) {
        ngx_ws_gateway_account(s, s->out.size, old);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_ws_gateway_control(ngx_ws_gateway_session_t *s, ngx_str_t *chunk,
    ngx_int_t last)
{
    u_char            *data;
    size_t             len;
    ngx_str_t          reason;
    ngx_uint_t         code, rc;
    ngx_connection_t  *c;

    c = s->connection;

    if (!last || s->control_len) {

        /* a control payload split across reads: at most 125 bytes */

        if (s->control == NULL) {
            s->control = ngx_alloc(NGX_WS_GATEWAY_CONTROL_MAX, c->log);
            if (s->control == NULL) {
                ngx_ws_gateway_finalize(s);
                return NGX_DONE;
            }
        }

        ngx_memcpy(s->control + s->control_len, chunk->data, chunk->len);
        s->control_len += chunk->len;

        if (!last) {
            return NGX_OK;
        }

        data = s->control;
        len = s->control_len;
        s->control_len = 0;

    } else {
        data = chunk->data;
        len = chunk->len;
    }

    switch (s->parser.opcode) {

    case NGX_WS_GATEWAY_OP_PING:

        if (s->close_sent) {
            break;
        }

        if (ngx_ws_gateway_queue(s, NGX_WS_GATEWAY_OP_PONG, data, len)
            != NGX_OK)
        {
            ngx_ws_gateway_finalize(s);
            return NGX_DONE;
        }

        break;

    case NGX_WS_GATEWAY_OP_PONG:
        break;

    default: /* NGX_WS_GATEWAY_OP_CLOSE */

        s->close_received = 1;

        rc = ngx_ws_gateway_parse_close(data, len, &code, &reason);

        if (rc) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "client sent invalid close frame");
            if (rc == NGX_WS_GATEWAY_CLOSE_INVALID_DATA) {
                ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_INVALID_DATA);

            } else {
                ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_PROTOCOL);
            }

            ngx_ws_gateway_close(s, rc, NULL, 1);
            return NGX_DECLINED;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "ws gateway close received: %ui \"%V\"",
                       code, &reason);

        if (s->link) {
            ngx_ws_gateway_link_closed(s, code, NGX_WS_GATEWAY_BY_CLIENT,
                                       reason.data, reason.len);
        }

        /* answer with the same code; no code is answered with none */

        ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_CLIENT_CLOSE);
        ngx_ws_gateway_close(s, code, NULL, 0);

        return NGX_DECLINED;
    }

    if (s->control) {

        /* split control frames are rare: an idle session keeps nothing */

        ngx_free(s->control);
        s->control = NULL;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_ws_gateway_message(ngx_ws_gateway_session_t *s, ngx_uint_t opcode,
    u_char *data, size_t len)
{
    ngx_int_t  rc;

    s->last_message = ngx_current_msec;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->connection->log, 0,
                   "ws gateway message: op:%ui len:%uz", opcode, len);

    if (ngx_ws_gateway_slot) {
        ngx_ws_gateway_metric_inc(total.messages_in);
        ngx_ws_gateway_metric_add(total.bytes_in, len);
        ngx_ws_gateway_metrics_touch(s);
    }

#if (NGX_WS_GATEWAY_TEST_HOOKS)
    ngx_ws_gateway_test_hook(s, data, len);
#endif

    if (s->link) {
        rc = ngx_ws_gateway_link_message(s, opcode, data, len);

        if (rc == NGX_OK) {
            return NGX_OK;
        }

        if (rc == NGX_ERROR) {
            ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_ERROR);
            ngx_ws_gateway_finalize(s);
            return NGX_DONE;
        }

        ngx_ws_gateway_metric_inc(drops[NGX_WS_GATEWAY_DROP_LINK]);

        if (rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                          "client sent a message of %uz bytes, larger than "
                          "the backend takes", len);
            ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_TOO_BIG);
            ngx_ws_gateway_close(s, NGX_WS_GATEWAY_CLOSE_TOO_BIG,
                                 "message too big for the backend", 1);

        } else {
            ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                          "backend link buffer is full, closing the "
                          "session with 1013");
            ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_OVERLOAD);
            ngx_ws_gateway_close(s, NGX_WS_GATEWAY_CLOSE_TRY_AGAIN,
                                 "backend busy", 1);
        }

        return NGX_DECLINED;
    }

    if (ngx_ws_gateway_waits_for_link(s)) {

        /* held for the next link, up to ws_gateway_failover_hold */

        if (ngx_ws_gateway_link_hold(s, opcode, data, len) != NGX_OK) {
            ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_ERROR);
            ngx_ws_gateway_finalize(s);
            return NGX_DONE;
        }

        return NGX_OK;
    }

    if (s->conf->target == NGX_WS_GATEWAY_TARGET_UPSTREAM) {

        /* its link is gone: the session is closing */

        ngx_ws_gateway_metric_inc(drops[NGX_WS_GATEWAY_DROP_LINK]);
        return NGX_OK;
    }

    /* NGX_WS_GATEWAY_TARGET_ECHO: the message goes back as it came */

    if (ngx_ws_gateway_queue(s, opcode, data, len) != NGX_OK) {
        ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_ERROR);
        ngx_ws_gateway_finalize(s);
        return NGX_DONE;
    }

    if (ngx_ws_gateway_slot) {
        ngx_ws_gateway_metric_inc(total.messages_out);
        ngx_ws_gateway_metric_add(total.bytes_out, len);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_ws_gateway_queue(ngx_ws_gateway_session_t *s, ngx_uint_t opcode,
    u_char *data, size_t len)
{
    size_t  old;

    old = s->out.size;

    if (ngx_ws_gateway_out_frame(&s->out, opcode, NGX_WS_GATEWAY_FIN, data,
                                 len)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, s->connection->log, ngx_errno,
                      "mmap(%uz) failed for an outbound frame",
                      (size_t) NGX_WS_GATEWAY_SLAB_SIZE);
        return NGX_ERROR;
    }

    if (s->out.size != old) {
        ngx_ws_gateway_account(s, old, ngx_ws_gateway_msg_held(s));
    }

    return NGX_OK;
}


static void
ngx_ws_gateway_close(ngx_ws_gateway_session_t *s, ngx_uint_t code,
    char *reason, ngx_uint_t fail)
{
    u_char   payload[NGX_WS_GATEWAY_CONTROL_MAX], *p;
    size_t   len;

    /*
     * Starts the closing handshake, or answers the client's.  "fail" is
     * a protocol violation: the connection is closed once the close frame
     * is out, without waiting for the client's answer.
     */

    if (s->close_sent) {
        s->closing = s->closing || fail || s->close_received;
        return;
    }

    p = payload;

    if (code != NGX_WS_GATEWAY_CLOSE_NO_STATUS) {
        *p++ = (u_char) (code >> 8);
        *p++ = (u_char) code;

        if (reason) {
            len = ngx_min(ngx_strlen(reason), sizeof(payload) - 2);
            p = ngx_cpymem(p, reason, len);
        }
    }

    s->close_sent = 1;
    s->close_code = code;

    if (s->link_wait) {

        /* nothing more goes to the link: it reads on, for the close */

        ngx_ws_gateway_unqueue(s);
        ngx_ws_gateway_resume(s);
    }

    if (ngx_ws_gateway_waits_for_link(s)) {
        ngx_ws_gateway_link_leave(s);

        if (s->read_paused && !s->waiting) {
            ngx_ws_gateway_resume(s);
        }
    }

    if (s->link) {
        ngx_ws_gateway_link_closed(s, code, s->by_backend
                                            ? NGX_WS_GATEWAY_BY_BACKEND
                                            : NGX_WS_GATEWAY_BY_GATEWAY,
                                   (u_char *) reason,
                                   reason ? ngx_strlen(reason) : 0);
    }

    ngx_ws_gateway_metric_inc(draining);
    s->close_started = ngx_current_msec;
    s->closing = fail || s->close_received;
    s->failed = fail;

    if (s->waiting) {

        /*
         * the message it waited for the budget with goes, and no write
         * would resume it: it reads on, for the client's close frame;
         * out of the waiting first, so that the memory going back does
         * not give it a turn over the budget
         */

        ngx_ws_gateway_resume(s);
    }

    if (s->message) {
        ngx_ws_gateway_msg_free(s);
    }

    if (ngx_ws_gateway_queue(s, NGX_WS_GATEWAY_OP_CLOSE, payload,
                             p - payload)
        != NGX_OK)
    {
        s->connection->error = 1;
    }

    ngx_ws_gateway_set_timer(s);
}


static ngx_int_t
ngx_ws_gateway_send(ngx_ws_gateway_session_t *s)
{
    off_t                       sent;
    size_t                      old;
    ngx_event_t                *wev;
    ngx_chain_t                *cl;
    ngx_connection_t           *c;
    ngx_ws_gateway_loc_conf_t  *wlcf;

    c = s->connection;
    wev = c->write;
    wlcf = s->conf;

    if (c->error) {
        ngx_ws_gateway_finalize(s);
        return NGX_DONE;
    }

    sent = c->sent;

    /* a write only when the socket can take one */

    if (s->out.out && wev->ready) {
        cl = c->send_chain(c, s->out.out, 0);

        if (cl == NGX_CHAIN_ERROR) {
            c->error = 1;
            ngx_ws_gateway_finalize(s);
            return NGX_DONE;
        }

        old = s->out.size;
        ngx_ws_gateway_out_sent(&s->out, cl);

        if (s->out.size != old) {
            ngx_ws_gateway_account(s, old, ngx_ws_gateway_msg_held(s));
        }
    }

    if (s->out.out) {

        /*
         * the send deadline runs from the last write that made progress:
         * a client that keeps sending but never reads does not extend it
         */

        if (!wev->timer_set || c->sent != sent) {
            ngx_add_timer(wev, s->close_sent ? wlcf->close_timeout
                                             : wlcf->send_timeout);
        }

        if (s->read_paused && !s->link_wait
            && !ngx_ws_gateway_waits_for_link(s)
            && s->out.size < wlcf->outbound_limit / 2
            && !ngx_ws_gateway_over_budget(s))
        {
            ngx_ws_gateway_resume(s);
        }

    } else {

        if (wev->timer_set) {
            ngx_del_timer(wev);
        }

        if (s->closing) {
            if (s->failed && !s->close_received) {
                return ngx_ws_gateway_drain(s);
            }

            ngx_ws_gateway_finalize(s);
            return NGX_DONE;
        }

        if (s->dropped && s->link) {

            /* its client reads again: the backend learns what it missed */

            ngx_ws_gateway_link_report(s);
        }

        if (s->read_paused && !s->waiting && !s->link_wait
            && !ngx_ws_gateway_waits_for_link(s))
        {
            ngx_ws_gateway_resume(s);
        }
    }

    /*
     * on every pass, as NGINX's own upgraded connections do: with a
     * level-triggered method (poll, select) a write event left active
     * on a writable socket would be reported again and again
     */

    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_ERROR);
        ngx_ws_gateway_finalize(s);
        return NGX_DONE;
    }

    return s->out.out ? NGX_AGAIN : NGX_OK;
}


static void
ngx_ws_gateway_account(ngx_ws_gateway_session_t *s, size_t old_out,
    size_t old_msg)
{
    size_t                       old, now, msg;
    ngx_ws_gateway_pool_stats_t  st;

    /*
     * The session's queue went from "old_out" bytes to what it holds
     * now, or its message being assembled from "old_msg": the worker's
     * totals, its sizes by class and the gauges follow.  Memory going
     * back may let the sessions waiting for the budget go on.
     */

    msg = ngx_ws_gateway_msg_held(s);
    old = old_out + old_msg;
    now = s->out.size + msg;

    if (old) {
        ngx_ws_gateway_class_bytes[63 - __builtin_clzll(old)] -= old;
        ngx_ws_gateway_nqueued--;
    }

    if (now) {
        ngx_ws_gateway_class_bytes[63 - __builtin_clzll(now)] += now;
        ngx_ws_gateway_nqueued++;
    }

    ngx_ws_gateway_queued += s->out.size - old_out;
    ngx_ws_gateway_assembling += msg - old_msg;

    if (s == ngx_ws_gateway_exempt && msg > old_msg) {
        s->message->over += msg - old_msg;
        ngx_ws_gateway_over += msg - old_msg;
    }

    if (s->waiting) {
        ngx_ws_gateway_waiting_bytes += now - old;
    }

    if (now < old) {
        ngx_ws_gateway_wake();
    }

    if (ngx_ws_gateway_slot) {
        ngx_ws_gateway_pool_stats(&st);

        ngx_ws_gateway_slot->queued = ngx_ws_gateway_queued;
        ngx_ws_gateway_slot->assembling = ngx_ws_gateway_assembling;
        ngx_ws_gateway_slot->buffers = st.slabs * NGX_WS_GATEWAY_SLAB_SIZE;
    }
}


static ngx_int_t
ngx_ws_gateway_over_budget(ngx_ws_gateway_session_t *s)
{
    size_t                       budget, share, held;
    ngx_ws_gateway_main_conf_t  *wmcf;

    /*
     * Past ws_gateway_worker_outbound_limit, the sessions holding the
     * most (queued toward the client and being assembled) stop being
     * read first: those holding at least the smallest size class that,
     * with the larger ones, holds the excess, and those holding more
     * than an even share of the budget among the sessions holding
     * anything: when many are alike, the largest class holds the whole
     * excess, and the share is what keeps the sessions below it from
     * growing on.  The sessions holding little or nothing, the clients
     * that read and send small messages, go on.
     */

    held = s->out.size + ngx_ws_gateway_msg_held(s);

    if (held == 0) {
        return 0;
    }

    wmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_ws_gateway_module);
    budget = wmcf->worker_outbound_limit;

    if (budget == 0
        || ngx_ws_gateway_worker_held() <= budget)
    {
        return 0;
    }

    if (s == ngx_ws_gateway_exempt) {

        /* what the turns over the budget add is one message at most */

        return ngx_ws_gateway_over >= s->conf->max_message_size;
    }

    if (ngx_ws_gateway_worker_held()
        > budget + budget / 8)
    {
        /*
         * an eighth over: every session holding more than a block stops,
         * whatever its share, so that the sessions below their shares do
         * not take the worker on to twice its budget between them
         */

        return held > NGX_WS_GATEWAY_BLOCK_SIZE;
    }

    share = ngx_max(budget / ngx_ws_gateway_nqueued,
                    (size_t) NGX_WS_GATEWAY_BLOCK_SIZE);

    return held >= ngx_min(share, ngx_ws_gateway_budget_threshold(budget));
}


static size_t
ngx_ws_gateway_budget_threshold(size_t budget)
{
    size_t      excess, bytes;
    ngx_uint_t  k;

    excess = ngx_ws_gateway_worker_held() - budget;
    bytes = 0;

    for (k = NGX_WS_GATEWAY_QUEUE_CLASSES; k-- > 1; /* void */) {
        bytes += ngx_ws_gateway_class_bytes[k];

        if (bytes >= excess) {
            return (size_t) 1 << k;
        }
    }

    return 1;
}


static void
ngx_ws_gateway_pause(ngx_ws_gateway_session_t *s, ngx_uint_t reason)
{
    /* the client does not read what it is sent: stop reading from it */

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->connection->log, 0,
                   "ws gateway pauses reading, queued:%uz reason:%ui",
                   s->out.size, reason);

    s->read_paused = 1;

    ngx_ws_gateway_metric_inc(paused);
    ngx_ws_gateway_metric_inc(pauses[reason]);
}


static void
ngx_ws_gateway_resume(ngx_ws_gateway_session_t *s)
{
    /* the outbound queue, or the worker, has room again: reading goes on */

    ngx_ws_gateway_unqueue(s);

    s->read_paused = 0;
    s->resumed = 1;
    s->last_read = ngx_current_msec;

    ngx_ws_gateway_metric_add(paused, -1);

    ngx_post_event(s->connection->read, &ngx_posted_events);
}


static void
ngx_ws_gateway_run_later(ngx_ws_gateway_session_t *s)
{
    /* the session has input left after its turn: to the back of the queue */

    s->runnable = 1;
    ngx_queue_insert_tail(&ngx_ws_gateway_run_queue, &s->queue);

    ngx_ws_gateway_runnable++;

    if (ngx_ws_gateway_slot) {
        ngx_ws_gateway_slot->runnable = ngx_ws_gateway_runnable;
    }

    if (!ngx_ws_gateway_run_event.posted) {
        ngx_ws_gateway_pass_bytes = 0;
        ngx_ws_gateway_run_event.log = ngx_cycle->log;
        ngx_post_event(&ngx_ws_gateway_run_event, &ngx_posted_next_events);
    }
}


static void
ngx_ws_gateway_run(ngx_event_t *ev)
{
    ngx_queue_t               *q, *last;
    ngx_ws_gateway_session_t  *s;

    /*
     * Once per pass of the event loop, after everyone's events and
     * timers: the sessions that had input left after their turn get
     * another, in the order they came, until the pass has read
     * NGX_WS_GATEWAY_PASS_BYTES; the others keep their place for the
     * next pass.  One session at least gets its turn, and none gets two:
     * one with input left again goes to the back.  A pass of the loop
     * is bounded by the sessions with new input, each by its own turn,
     * and by this much more, however many clients send as fast as they
     * can.
     */

    if (ngx_queue_empty(&ngx_ws_gateway_run_queue)) {
        return;
    }

    last = ngx_queue_last(&ngx_ws_gateway_run_queue);

    for ( ;; ) {
        q = ngx_queue_head(&ngx_ws_gateway_run_queue);
        s = ngx_queue_data(q, ngx_ws_gateway_session_t, queue);

        ngx_ws_gateway_unqueue(s);

        /* its data waited for the turn, not for the event loop */

        s->resumed = 1;

        ngx_ws_gateway_read_handler(s->connection->read);

        if (q == last
            || ngx_queue_empty(&ngx_ws_gateway_run_queue)
            || ngx_ws_gateway_pass_bytes >= NGX_WS_GATEWAY_PASS_BYTES)
        {
            break;
        }
    }

    ngx_ws_gateway_pass_bytes = 0;

    if (!ngx_queue_empty(&ngx_ws_gateway_run_queue)) {
        ev->log = ngx_cycle->log;
        ngx_post_event(ev, &ngx_posted_next_events);
    }
}


static void
ngx_ws_gateway_wait(ngx_ws_gateway_session_t *s)
{
    /*
     * Paused for the worker's budget with nothing queued, so that no
     * write will resume it: memory going back to the worker will, and
     * ws_gateway_send_timeout bounds the wait (ngx_ws_gateway_overload()).
     */

    if (ngx_queue_empty(&ngx_ws_gateway_waiting)) {
        ngx_ws_gateway_overload_start = ngx_current_msec;

        /* the cycle's log: a reload without a master frees the old one */

        ngx_ws_gateway_overload_event.log = ngx_cycle->log;
        ngx_add_timer(&ngx_ws_gateway_overload_event, 0);
    }

    s->waiting = 1;
    ngx_queue_insert_tail(&ngx_ws_gateway_waiting, &s->queue);
    ngx_ws_gateway_waiting_bytes += s->out.size + ngx_ws_gateway_msg_held(s);

    ngx_ws_gateway_wake();
}


static void
ngx_ws_gateway_wake(void)
{
    size_t                       budget, room;
    ngx_queue_t                 *q;
    ngx_ws_gateway_session_t    *s;
    ngx_ws_gateway_main_conf_t  *wmcf;

    /*
     * Once the worker is an eighth of its budget below it, the sessions
     * waiting for it read again, each until it is over again: some
     * room for each rather than all of it for the first.
     *
     * When the waiting sessions hold that much between them, nothing
     * else going back can wake them: the one that waited longest then
     * reads on over the budget until its message is complete (or its
     * session ends), and the next after it, so that messages are still
     * completed one by one rather than all waiting for the send timeout.
     * The worker holds at most one message more than its budget so.
     */

    if (ngx_queue_empty(&ngx_ws_gateway_waiting)) {
        return;
    }

    wmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_ws_gateway_module);
    budget = wmcf->worker_outbound_limit;
    room = budget - budget / 8;

    if (budget == 0
        || ngx_ws_gateway_worker_held() <= room)
    {
        s = ngx_ws_gateway_exempt;

        if (s && s->waiting) {

            /*
             * the one let go on over the budget waits for earlier
             * turns, its turn's timer stopped: it reads again as the
             * others do, with no deadline to keep
             */

            ngx_ws_gateway_unexempt(s);
        }

        while (!ngx_queue_empty(&ngx_ws_gateway_waiting)) {
            q = ngx_queue_head(&ngx_ws_gateway_waiting);
            s = ngx_queue_data(q, ngx_ws_gateway_session_t, queue);

            ngx_ws_gateway_resume(s);
        }

        return;
    }

    s = ngx_ws_gateway_exempt;

    if (s == NULL) {
        if (ngx_ws_gateway_waiting_bytes <= room) {
            return;
        }

        q = ngx_queue_head(&ngx_ws_gateway_waiting);
        s = ngx_queue_data(q, ngx_ws_gateway_session_t, queue);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->connection->log, 0,
                       "ws gateway reads on over the budget, held:%uz "
                       "over:%uz", s->out.size + ngx_ws_gateway_msg_held(s),
                       ngx_ws_gateway_over);

        ngx_ws_gateway_exempt = s;
        ngx_ws_gateway_turn_start = ngx_current_msec;

        ngx_ws_gateway_turn(s);
        return;
    }

    /* its turn waits while earlier turns hold a message over the budget */

    if (s->waiting && ngx_ws_gateway_over < s->conf->max_message_size) {
        ngx_ws_gateway_turn(s);
    }
}


static void
ngx_ws_gateway_turn(ngx_ws_gateway_session_t *s)
{
    ngx_ws_gateway_turn_read = ngx_current_msec;

    ngx_ws_gateway_turn_event.log = ngx_cycle->log;
    ngx_add_timer(&ngx_ws_gateway_turn_event,
                  ngx_max(s->conf->send_timeout / 8, 1));

    ngx_ws_gateway_resume(s);
}


static void
ngx_ws_gateway_turn_end(ngx_event_t *ev)
{
    ngx_msec_t                 slice, idle, held;
    ngx_ws_gateway_session_t  *s;

    /*
     * The session let go on over the budget keeps its turn while its
     * client sends: one that has sent nothing for an eighth of
     * ws_gateway_send_timeout, or has had a quarter of it without its
     * message complete, passes the turn on to the next waiting, and
     * waits again, its deadline still running.  What it read during its
     * turn stays counted as over the budget until its message goes, so
     * that turns passed on never hold more than one message over it.
     */

    s = ngx_ws_gateway_exempt;

    if (s == NULL || s->waiting) {

        /* none, or it waits for what earlier turns hold: wake() goes on */

        return;
    }

    slice = ngx_max(s->conf->send_timeout / 8, 1);
    idle = ngx_current_msec - ngx_ws_gateway_turn_read;
    held = ngx_current_msec - ngx_ws_gateway_turn_start;

    if (idle < slice && held < 2 * slice) {
        ev->log = ngx_cycle->log;
        ngx_add_timer(ev, ngx_min(slice - idle, 2 * slice - held));
        return;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, s->connection->log, 0,
                   "ws gateway session passes its turn over the budget, "
                   "idle:%M turn:%M over:%uz", idle, held,
                   ngx_ws_gateway_over);

    ngx_ws_gateway_exempt = NULL;

    if (!s->read_paused && ngx_ws_gateway_over_budget(s)) {

        /*
         * a client that sends on has the session in the run queue: it
         * leaves it, paused, its input read when it is resumed
         */

        ngx_ws_gateway_unqueue(s);
        ngx_ws_gateway_pause(s, NGX_WS_GATEWAY_PAUSE_WORKER);

        if (s->out.out == NULL) {

            /* to the back of the waiting, which wakes the next */

            ngx_ws_gateway_wait(s);
            return;
        }

    }

    ngx_ws_gateway_wake();
}


static void
ngx_ws_gateway_unexempt(ngx_ws_gateway_session_t *s)
{
    /* its message is complete, dropped, or its session ends */

    if (s != ngx_ws_gateway_exempt) {
        return;
    }

    ngx_ws_gateway_exempt = NULL;

    if (ngx_ws_gateway_turn_event.timer_set) {
        ngx_del_timer(&ngx_ws_gateway_turn_event);
    }
}


static void
ngx_ws_gateway_overload(ngx_event_t *ev)
{
    ngx_msec_t                  start, due, deadline, timer;
    ngx_uint_t                  level;
    ngx_queue_t                *q;
    ngx_ws_gateway_msg_t       *m, *first;
    ngx_ws_gateway_session_t   *s;
    ngx_ws_gateway_loc_conf_t  *wlcf;

    /*
     * While sessions wait for the worker's budget, every message being
     * received has ws_gateway_send_timeout to be complete, from when it
     * began or the waiting began, whichever is later: the waiting ones,
     * and the others too, those whose clients stopped in the middle
     * within the budget and would otherwise hold it for good.  Those
     * that are not are dropped, in the order of their deadlines (each
     * its location's send timeout), and their sessions closed with
     * 1013, until no session waits any more.
     */

    ev->log = ngx_cycle->log;
    level = ngx_event_flags & NGX_USE_LEVEL_EVENT;

    if (level && ngx_ws_gateway_probe()) {

        /* one ended: the waiting may have changed, the rest again */

        ngx_post_event(ev, &ngx_posted_next_events);
        return;
    }

    while (!ngx_queue_empty(&ngx_ws_gateway_waiting)
           && !ngx_queue_empty(&ngx_ws_gateway_receiving))
    {
        /*
         * A location's messages are in the order they began, and have
         * its send timeout: its first has its nearest deadline.  The
         * nearest of the locations' first ones is dropped when it is
         * due, or the timer is set for it.
         */

        m = NULL;
        deadline = 0;

        for (q = ngx_queue_head(&ngx_ws_gateway_receiving);
             q != ngx_queue_sentinel(&ngx_ws_gateway_receiving);
             q = ngx_queue_next(q))
        {
            wlcf = ngx_queue_data(q, ngx_ws_gateway_loc_conf_t, receiving);
            first = ngx_queue_data(ngx_queue_head(&wlcf->messages),
                                   ngx_ws_gateway_msg_t, queue);

            start = ngx_ws_gateway_overload_start;

            if ((ngx_msec_int_t) (first->start - start) > 0) {
                start = first->start;
            }

            due = start + wlcf->send_timeout;

            if (m == NULL || (ngx_msec_int_t) (due - deadline) < 0) {
                m = first;
                deadline = due;
            }
        }

        if ((ngx_msec_int_t) (deadline - ngx_current_msec) > 0) {
            timer = deadline - ngx_current_msec;

            if (level && timer > NGX_WS_GATEWAY_PROBE_INTERVAL) {
                timer = NGX_WS_GATEWAY_PROBE_INTERVAL;
            }

            ngx_add_timer(ev, timer);
            return;
        }

        s = m->connection->data;

        ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                      "worker over ws_gateway_worker_outbound_limit, "
                      "message of %uz bytes dropped, closing with 1013",
                      m->len);

        ngx_ws_gateway_metric_inc(drops[NGX_WS_GATEWAY_DROP_OVERLOAD]);

        if (s->close_sent) {

            /* closing already: the message goes, the closing goes on */

            ngx_ws_gateway_msg_free(s);
            continue;
        }

        ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_OVERLOAD);
        ngx_ws_gateway_close(s, NGX_WS_GATEWAY_CLOSE_TRY_AGAIN,
                             "server overloaded", 1);

        (void) ngx_ws_gateway_send(s);
    }
}


static ngx_uint_t
ngx_ws_gateway_probe(void)
{
    ngx_queue_t               *q;
    ngx_ws_gateway_session_t  *s;

    /*
     * Under a level-triggered method (poll, select) a paused session's
     * read event leaves the set, or its unread input would be reported
     * again and again; a reset is then not reported either, and the
     * waiting sessions, with nothing queued, have no write to fail: they
     * are asked for a pending socket error instead.
     */

    for (q = ngx_queue_head(&ngx_ws_gateway_waiting);
         q != ngx_queue_sentinel(&ngx_ws_gateway_waiting);
         q = ngx_queue_next(q))
    {
        s = ngx_queue_data(q, ngx_ws_gateway_session_t, queue);

        if (ngx_ws_gateway_reset(s)) {
            return 1;
        }
    }

    return 0;
}


static void
ngx_ws_gateway_unqueue(ngx_ws_gateway_session_t *s)
{
    if (s->runnable) {
        s->runnable = 0;
        ngx_queue_remove(&s->queue);

        ngx_ws_gateway_runnable--;

        if (ngx_ws_gateway_slot) {
            ngx_ws_gateway_slot->runnable = ngx_ws_gateway_runnable;
        }

    } else if (s->link_wait) {
        s->link_wait = 0;
        ngx_queue_remove(&s->queue);

        ngx_ws_gateway_link_unpaused(s);

    } else if (s->waiting) {
        s->waiting = 0;
        ngx_queue_remove(&s->queue);

        ngx_ws_gateway_waiting_bytes -= s->out.size
                                        + ngx_ws_gateway_msg_held(s);

        if (ngx_queue_empty(&ngx_ws_gateway_waiting)
            && ngx_ws_gateway_overload_event.timer_set)
        {
            ngx_del_timer(&ngx_ws_gateway_overload_event);
        }
    }
}


static ngx_ws_gateway_msg_t *
ngx_ws_gateway_msg_alloc(size_t size, ngx_log_t *log)
{
    u_char                *p;
    size_t                 total;
    ngx_ws_gateway_msg_t  *m;

    /*
     * A large message takes pages of its own, which go back to the
     * system when it is freed, whatever malloc() would keep of them.
     */

    total = offsetof(ngx_ws_gateway_msg_t, data) + size;

    if (total < NGX_WS_GATEWAY_MSG_MAP) {
        m = ngx_alloc(total, log);
        if (m == NULL) {
            return NULL;
        }

        m->mapped = 0;

    } else {
        total = ngx_align(total, ngx_pagesize);

        p = mmap(NULL, total, PROT_READ|PROT_WRITE,
                 MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);

        if (p == MAP_FAILED) {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          "mmap(%uz) failed for a message", total);
            return NULL;
        }

        m = (ngx_ws_gateway_msg_t *) p;
        m->mapped = 1;
    }

    m->size = total - offsetof(ngx_ws_gateway_msg_t, data);
    m->len = 0;
    m->held = m->mapped ? ngx_pagesize : total;
    m->over = 0;

    return m;
}


static void
ngx_ws_gateway_msg_free(ngx_ws_gateway_session_t *s)
{
    size_t  old;

    old = s->message->held;
    ngx_ws_gateway_over -= s->message->over;

    ngx_queue_remove(&s->message->queue);

    if (ngx_queue_empty(&s->conf->messages)) {
        ngx_queue_remove(&s->conf->receiving);
    }

    ngx_ws_gateway_msg_free_mem(s->message);
    s->message = NULL;

    /* the message is complete, or dropped: the next may go over */

    ngx_ws_gateway_unexempt(s);

    ngx_ws_gateway_account(s, s->out.size, old);
}


static void
ngx_ws_gateway_msg_free_mem(ngx_ws_gateway_msg_t *m)
{
    if (m->mapped) {
        (void) munmap(m, offsetof(ngx_ws_gateway_msg_t, data) + m->size);

    } else {
        ngx_free(m);
    }
}


static ngx_int_t
ngx_ws_gateway_reset(ngx_ws_gateway_session_t *s)
{
    int                err;
    socklen_t          len;
    ngx_connection_t  *c;

    /*
     * The client of a paused session closed its end.  Its input is not
     * read, and a session with nothing queued does not write: were the
     * connection reset, nothing would notice it before a timeout, and
     * the session would hold its memory until then.  A reset (a pending
     * socket error) ends the session now; a plain half-close does not,
     * as what the client sent before it is still to be read.
     */

    c = s->connection;
    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err == 0) {
        return 0;
    }

    ngx_log_error(NGX_LOG_INFO, c->log, err,
                  "client reset the connection while its reads were paused");

    c->error = 1;
    ngx_ws_gateway_set_end(s, NGX_WS_GATEWAY_END_ERROR);
    ngx_ws_gateway_finalize(s);

    return 1;
}


static ngx_int_t
ngx_ws_gateway_drain(ngx_ws_gateway_session_t *s)
{
    ngx_connection_t  *c;
#if (NGX_HTTP_SSL)
    ngx_int_t          rc;
#endif

    /*
     * The close frame of a failed session is out.  Half-closing lets the
     * client see it before the end of the stream, and reading what the
     * client still sends until its end (or the close timeout) keeps the
     * kernel from resetting the connection over unread data.
     */

    c = s->connection;

    if (s->draining) {
        return NGX_AGAIN;
    }

    s->draining = 1;

    /* it reads on its own from now on, to the end */

    ngx_ws_gateway_unqueue(s);

    if (s->read_paused) {
        s->read_paused = 0;
        ngx_ws_gateway_metric_add(paused, -1);
    }

#if (NGX_HTTP_SSL)

    if (c->ssl) {

        /*
         * TLS: the half-close is a close_notify, sent by NGINX's own
         * shutdown, which waits for a full socket to drain; the session
         * reads on afterwards, as NGINX's lingering close does
         */

        c->ssl->shutdown_without_free = 1;

        rc = ngx_ssl_shutdown(c);

        if (rc == NGX_ERROR) {
            ngx_ws_gateway_finalize(s);
            return NGX_DONE;
        }

        if (rc == NGX_AGAIN) {
            c->ssl->handler = ngx_ws_gateway_drain_ssl_handler;
            return NGX_AGAIN;
        }

        ngx_post_event(c->read, &ngx_posted_events);

        return NGX_AGAIN;
    }

#endif

    if (ngx_shutdown_socket(c->fd, NGX_WRITE_SHUTDOWN) == -1) {
        ngx_connection_error(c, ngx_socket_errno,
                             ngx_shutdown_socket_n " failed");
        ngx_ws_gateway_finalize(s);
        return NGX_DONE;
    }

    ngx_post_event(c->read, &ngx_posted_events);

    return NGX_AGAIN;
}


#if (NGX_HTTP_SSL)

static void
ngx_ws_gateway_drain_ssl_handler(ngx_connection_t *c)
{
    ngx_ws_gateway_session_t  *s;

    /* the close_notify is out (or could not be sent in time) */

    s = c->data;

    c->read->handler = ngx_ws_gateway_read_handler;
    c->write->handler = ngx_ws_gateway_write_handler;

    if (c->timedout || c->error) {
        ngx_ws_gateway_finalize(s);
        return;
    }

    /* ngx_ssl_shutdown() took the read event's timer */

    ngx_ws_gateway_set_timer(s);

    ngx_post_event(c->read, &ngx_posted_events);
}

#endif


static void
ngx_ws_gateway_finalize(ngx_ws_gateway_session_t *s)
{
    size_t                  old;
    ngx_uint_t              code, unsent;
    ngx_connection_t       *c;
    ngx_ws_gateway_slot_t  *slot;

    c = s->connection;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "ws gateway session %uL finalized, close code: %ui",
                   s->id, (ngx_uint_t) s->close_code);

    ngx_ws_gateway_unqueue(s);
    ngx_ws_gateway_unexempt(s);

    if (s->link) {

        /* no close frame either way */

        if (s->ended && s->end == NGX_WS_GATEWAY_END_PING_TIMEOUT) {
            ngx_ws_gateway_link_closed(s, NGX_WS_GATEWAY_CLOSE_ABNORMAL,
                                       NGX_WS_GATEWAY_BY_GATEWAY,
                                       (u_char *) "ping timeout", 12);

        } else if (s->ended && s->end == NGX_WS_GATEWAY_END_SEND_TIMEOUT) {
            ngx_ws_gateway_link_closed(s, NGX_WS_GATEWAY_CLOSE_ABNORMAL,
                                       NGX_WS_GATEWAY_BY_GATEWAY,
                                       (u_char *) "send timeout", 12);

        } else {
            ngx_ws_gateway_link_closed(s, NGX_WS_GATEWAY_CLOSE_ABNORMAL,
                                       NGX_WS_GATEWAY_BY_CLIENT,
                                       (u_char *) "connection lost", 15);
        }
    }

    if (s->message) {
        ngx_ws_gateway_msg_free(s);
    }

    old = s->out.size;
    unsent = ngx_ws_gateway_out_free(&s->out);
    ngx_ws_gateway_account(s, old, 0);

    if (s->read_paused) {
        s->read_paused = 0;
        ngx_ws_gateway_metric_add(paused, -1);
    }

    if (ngx_ws_gateway_slot) {
        slot = ngx_ws_gateway_slot;

        ngx_ws_gateway_count_add(&slot->drops[s->slow
                                              ? NGX_WS_GATEWAY_DROP_SLOW
                                              : NGX_WS_GATEWAY_DROP_UNSENT],
                                 unsent);
        ngx_ws_gateway_count_add(&slot->total.closes, 1);
        slot->active--;
        ngx_ws_gateway_count_add(&slot->ends[s->ended ? s->end
                                             : c->error
                                               ? NGX_WS_GATEWAY_END_ERROR
                                               : NGX_WS_GATEWAY_END_EOF], 1);

        if (s->close_sent) {
            slot->draining--;
        }

        code = s->close_sent ? s->close_code : NGX_WS_GATEWAY_CLOSE_ABNORMAL;

        if (code >= 1000 && code < 1000 + NGX_WS_GATEWAY_CODES) {
            ngx_ws_gateway_count_add(&slot->codes[code - 1000], 1);

        } else {
            ngx_ws_gateway_count_add(&slot->codes[NGX_WS_GATEWAY_CODES], 1);
        }
    }

    /* with a slot or not: the slot may have gone since the session began */

    ngx_ws_gateway_metrics_forget(s);

    if (s->control) {
        ngx_free(s->control);
        s->control = NULL;
    }

    if (s->orphan) {
        ngx_ws_gateway_link_leave(s);
    }

    ngx_ws_gateway_channel_release(s);


#if (NGX_HTTP_SSL)
    if (c->ssl && (c->error || c->timedout)) {
        c->ssl->no_wait_shutdown = 1;
        c->ssl->no_send_shutdown = 1;
    }
#endif

    c->data = NULL;
    ngx_free(s);

    ngx_http_close_connection(c);
}


static u_char *
ngx_ws_gateway_read_buffer(size_t size, ngx_log_t *log)
{
    /*
     * One read buffer per worker, shared by all its sessions: the frame
     * parser keeps partial headers in its state and partial messages are
     * copied out, so an idle session holds no buffer.
     */

    if (ngx_ws_gateway_rbuf_size < size) {
        if (ngx_ws_gateway_rbuf) {
            ngx_free(ngx_ws_gateway_rbuf);
        }

        ngx_ws_gateway_rbuf_size = 0;

        ngx_ws_gateway_rbuf = ngx_alloc(size, log);
        if (ngx_ws_gateway_rbuf == NULL) {
            return NULL;
        }

        ngx_ws_gateway_rbuf_size = size;
    }

    return ngx_ws_gateway_rbuf;
}


#if (NGX_WS_GATEWAY_TEST_HOOKS)

static void
ngx_ws_gateway_test_hook(ngx_ws_gateway_session_t *s, u_char *data,
    size_t len)
{
    ngx_int_t  ms;

    /*
     * Test builds only (scripts/build.sh with TEST_HOOKS=1): a message
     * "ws-gateway-test-stall:N" blocks the worker for N milliseconds, a
     * stall of known length for the metrics tests.
     */

    ngx_ws_gateway_metrics_test_hook(data, len);

    if (len <= sizeof("ws-gateway-test-stall:") - 1
        || ngx_strncmp(data, "ws-gateway-test-stall:",
                       sizeof("ws-gateway-test-stall:") - 1)
           != 0)
    {
        return;
    }

    ms = ngx_atoi(data + sizeof("ws-gateway-test-stall:") - 1,
                  len - (sizeof("ws-gateway-test-stall:") - 1));

    if (ms > 0 && ms <= 10000) {
        ngx_log_error(NGX_LOG_NOTICE, s->connection->log, 0,
                      "ws gateway test stall: %i ms", ms);
        ngx_msleep(ms);
    }
}

#endif


void
ngx_ws_gateway_session_exit_process(void)
{
    /* what the worker kept for reuse goes, so that leak checkers see */

    ngx_ws_gateway_pool_release();

    if (ngx_ws_gateway_rbuf) {
        ngx_free(ngx_ws_gateway_rbuf);
        ngx_ws_gateway_rbuf = NULL;
        ngx_ws_gateway_rbuf_size = 0;
    }
}
