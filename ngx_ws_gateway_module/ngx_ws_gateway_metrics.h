
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#ifndef _NGX_WS_GATEWAY_METRICS_H_INCLUDED_
#define _NGX_WS_GATEWAY_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/*
 * Scheduler-style metrics, one slot per worker process in a shared zone.
 *
 * A slot has one writer, its worker, which updates it with plain stores
 * (no locks, no atomic read-modify-write on hot paths); any worker reads
 * every slot for the status handler.  Slots are claimed by pid, so the
 * workers of an old generation keep theirs while they drain after a
 * reload, next to the new workers' slots.  A slot is its worker's while
 * the worker beats (every 100 ms); a slot that stopped beating is its
 * worker's as long as a process with the slot's pid exists, is not a
 * zombie, and started at the time the slot recorded (so a pid reused by
 * any other process, of any user, does not keep a dead worker's slot).
 */


/*
 * Log-linear histogram of microseconds: values below 16 have a bucket
 * each; above, every power of two is split into 8 buckets (12.5 %
 * resolution), up to 2^32 us (about 71 minutes).
 */
#define NGX_WS_GATEWAY_HIST_SUB           8
#define NGX_WS_GATEWAY_HIST_BUCKETS       (16 + (32 - 4) * 8)

/* per-second history, for rates and for windowed histograms */
#define NGX_WS_GATEWAY_SECONDS            61

#define NGX_WS_GATEWAY_LAG_PROBE          100  /* ms between lag probes */


/* why a session ended */
enum {
    NGX_WS_GATEWAY_END_CLIENT_CLOSE = 0,   /* closing handshake, client */
    NGX_WS_GATEWAY_END_SERVER_CLOSE,       /* closing handshake, gateway */
    NGX_WS_GATEWAY_END_PROTOCOL,           /* 1002: invalid frame */
    NGX_WS_GATEWAY_END_INVALID_DATA,       /* 1007: UTF-8 */
    NGX_WS_GATEWAY_END_TOO_BIG,            /* 1009 */
    NGX_WS_GATEWAY_END_IDLE_TIMEOUT,
    NGX_WS_GATEWAY_END_PING_TIMEOUT,
    NGX_WS_GATEWAY_END_SEND_TIMEOUT,       /* slow consumer */
    NGX_WS_GATEWAY_END_CLOSE_TIMEOUT,
    NGX_WS_GATEWAY_END_SHUTDOWN,           /* worker exiting, 1001 */
    NGX_WS_GATEWAY_END_EOF,                /* no close frame, 1006 */
    NGX_WS_GATEWAY_END_ERROR,              /* I/O or memory error */
    NGX_WS_GATEWAY_END_TOKEN_EXPIRED,      /* the token's exp passed */
    NGX_WS_GATEWAY_END_OVERLOAD,           /* waited for the worker's
                                              budget too long, 1013 */
    NGX_WS_GATEWAY_END_BACKEND_CLOSE,      /* the backend's CLOSE */
    NGX_WS_GATEWAY_END_LINK_LOST,          /* its link went, 1011 */
    NGX_WS_GATEWAY_END_LAST
};

/* why a message was dropped */
enum {
    NGX_WS_GATEWAY_DROP_CLOSING = 0,       /* arrived after our close */
    NGX_WS_GATEWAY_DROP_UNSENT,            /* queued when the session died */
    NGX_WS_GATEWAY_DROP_SLOW,              /* cut for a client that does
                                              not read (send timeout) */
    NGX_WS_GATEWAY_DROP_OVERLOAD,          /* being received when the
                                              worker's budget closed its
                                              session */
    NGX_WS_GATEWAY_DROP_LINK,              /* a client's message that its
                                              link could not take (too
                                              large for the backend, the
                                              link's buffer full) */
    NGX_WS_GATEWAY_DROP_SESSION_CAP,       /* a backend's message to a
                                              session at its outbound
                                              limit, policy "drop" */
    NGX_WS_GATEWAY_DROP_NO_LINK,           /* a client's message while no
                                              link was there, past what
                                              the session may hold */
    NGX_WS_GATEWAY_DROP_GONE,              /* a backend's command for a
                                              session not on that link */
    NGX_WS_GATEWAY_DROP_LAST
};

/* why a session stopped reading from its client */
enum {
    NGX_WS_GATEWAY_PAUSE_LIMIT = 0,        /* ws_gateway_outbound_limit */
    NGX_WS_GATEWAY_PAUSE_WORKER,           /* the worker's budget */
    NGX_WS_GATEWAY_PAUSE_LINK,             /* its link at its high
                                              watermark */
    NGX_WS_GATEWAY_PAUSE_NO_LINK,          /* waiting for a link */
    NGX_WS_GATEWAY_PAUSE_LAST
};

/* handshakes by result */
enum {
    NGX_WS_GATEWAY_HS_ACCEPTED = 0,        /* 101 */
    NGX_WS_GATEWAY_HS_NOT_WEBSOCKET,       /* 426, plain HTTP */
    NGX_WS_GATEWAY_HS_BAD_VERSION,         /* 426 */
    NGX_WS_GATEWAY_HS_BAD_REQUEST,         /* 400 */
    NGX_WS_GATEWAY_HS_BAD_METHOD,          /* 405 */
    NGX_WS_GATEWAY_HS_FAILED,              /* 5xx, or the 101 not sent */
    NGX_WS_GATEWAY_HS_UNAUTHORIZED,        /* 401, token refused */
    NGX_WS_GATEWAY_HS_FORBIDDEN,           /* 403, origin refused */
    NGX_WS_GATEWAY_HS_UNAVAILABLE,         /* 503, no backend link, or
                                              no verdict from it */
    NGX_WS_GATEWAY_HS_REFUSED,             /* the backend's REJECT */
    NGX_WS_GATEWAY_HS_LAST
};

/* token verdicts: ok, then the reasons of ngx_ws_gateway_jwt.h */
#define NGX_WS_GATEWAY_AUTH_REASONS       12

/* close codes counted one by one: 1000-1015; others are "other" */
#define NGX_WS_GATEWAY_CODES              16


/*
 * Counters are 64-bit on every platform (ngx_atomic_t wraps at 4 GiB on
 * 32-bit builds).  A counter has one writer, its worker, which stores
 * it whole; readers load it whole: on 64-bit platforms a plain access,
 * on 32-bit ones an 8-byte atomic access, so that no reader sees the
 * halves of two values.  Gauges stay ngx_atomic_t.
 */

typedef uint64_t  ngx_ws_gateway_count_t __attribute__((aligned(8)));

#define ngx_ws_gateway_count_get(p)                                          \
    __atomic_load_n((p), __ATOMIC_RELAXED)

#define ngx_ws_gateway_count_set(p, v)                                       \
    __atomic_store_n((p), (v), __ATOMIC_RELAXED)

#define ngx_ws_gateway_count_add(p, n)                                       \
    ngx_ws_gateway_count_set(p, *(p) + (n))


/*
 * The per-second ring keeps the histograms' buckets as their low 32 bits,
 * which halves a slot (the ring is most of it): a window's count in a
 * bucket is the difference of two of them modulo 2^32, exact as long as
 * a bucket gains fewer than 2^32 samples in the 60 s of the ring (a
 * worker samples one read event in eight, and ten lag probes a second).
 * A 32-bit value is stored and loaded whole on every platform.
 */

typedef uint32_t  ngx_ws_gateway_count32_t;


/*
 * ws_gateway_metrics_slots at most: with a slot of about 125 KB, a zone
 * of at most 64 MB on 64-bit platforms, 16 MB on 32-bit ones (of an
 * address space of 4 GB at most); the default is bounded by it too
 */
#if (NGX_PTR_SIZE == 8)
#define NGX_WS_GATEWAY_MAX_SLOTS          512
#else
#define NGX_WS_GATEWAY_MAX_SLOTS          128
#endif


typedef struct {
    ngx_ws_gateway_count_t      count;
    ngx_ws_gateway_count_t      sum;          /* us */
    ngx_ws_gateway_count_t      bucket[NGX_WS_GATEWAY_HIST_BUCKETS];
} ngx_ws_gateway_hist_t;


/* cumulative counters, also kept once a second for rates */
typedef struct {
    ngx_ws_gateway_count_t      accepts;      /* sessions started */
    ngx_ws_gateway_count_t      closes;       /* sessions ended */
    ngx_ws_gateway_count_t      messages_in;
    ngx_ws_gateway_count_t      messages_out;
    ngx_ws_gateway_count_t      bytes_in;     /* payload bytes */
    ngx_ws_gateway_count_t      bytes_out;
    ngx_ws_gateway_count_t      events;       /* handler runs */
    ngx_ws_gateway_count_t      iterations;   /* loop iterations */
} ngx_ws_gateway_counters_t;


/*
 * The state at the start of a second: the cumulative counters and
 * histograms, and the largest values seen during that second.  The
 * worker rewrites the oldest second of the ring as each second starts,
 * while other workers may be reading it: "seq" is odd while it is being
 * written, and readers copy a second between two equal, even reads of
 * it (a sequence lock), or do without it.
 */
typedef struct {
    ngx_atomic_t                seq;
    time_t                      sec;
    ngx_ws_gateway_count_t      event_max;    /* us, in that second */
    ngx_ws_gateway_count_t      lag_max;
    ngx_ws_gateway_counters_t   counters;
    ngx_ws_gateway_count32_t    event[NGX_WS_GATEWAY_HIST_BUCKETS];
    ngx_ws_gateway_count32_t    lag[NGX_WS_GATEWAY_HIST_BUCKETS];
} ngx_ws_gateway_second_t;


/*
 * A worker's links to one upstream server (docs/metrics.md): the first
 * NGX_WS_GATEWAY_LINK_SERVERS - 1 servers of the upstreams that
 * ws_gateway_pass names, in configuration order, have an entry each; the
 * rest share the last one, named "(other)".
 */

#define NGX_WS_GATEWAY_LINK_SERVERS       12

typedef struct {
    u_char                      upstream[32]; /* NUL-terminated, cut */
    u_char                      server[48];

    /* gauges */
    ngx_atomic_t                ready;        /* links by state */
    ngx_atomic_t                connecting;   /* TCP connect or HELLO */
    ngx_atomic_t                down;         /* waiting to reconnect */
    ngx_atomic_t                sessions;
    ngx_atomic_t                queued;       /* bytes toward the backend,
                                                 as allocated */
    ngx_atomic_t                rtt_us;       /* the last heartbeat's */

    ngx_ws_gateway_count_t      connects;     /* attempts */
    ngx_ws_gateway_count_t      reconnects;   /* up again after a loss */
    ngx_ws_gateway_count_t      resets;       /* links lost or failed */
    ngx_ws_gateway_count_t      records_in;
    ngx_ws_gateway_count_t      records_out;
    ngx_ws_gateway_count_t      bytes_in;
    ngx_ws_gateway_count_t      bytes_out;
    ngx_ws_gateway_count_t      unknown;      /* commands answered GONE */
    ngx_ws_gateway_count_t      lost;         /* sessions closed, 1011 */
    ngx_ws_gateway_count_t      approved;
    ngx_ws_gateway_count_t      rejected;
    ngx_ws_gateway_count_t      approve_timeouts;

    /* backpressure toward the backend */
    ngx_atomic_t                high_watermark;
    ngx_atomic_t                low_watermark;
    ngx_atomic_t                sessions_paused;  /* gauge */
    ngx_ws_gateway_count_t      pauses;       /* sessions paused at the
                                                 high watermark */
} ngx_ws_gateway_link_metrics_t;


/* channels, fan-out and failover (docs/metrics.md) */

typedef struct {
    /* gauges */
    ngx_atomic_t                channels;
    ngx_atomic_t                subscriptions;
    ngx_atomic_t                running;      /* fan-outs under way */
    ngx_atomic_t                orphaned;     /* sessions waiting for a
                                                 link */
    ngx_atomic_t                held;         /* bytes they hold */

    ngx_ws_gateway_count_t      publishes;
    ngx_ws_gateway_count_t      broadcasts;
    ngx_ws_gateway_count_t      unrouted;     /* to no one */
    ngx_ws_gateway_count_t      deliveries;
    ngx_ws_gateway_count_t      refused;      /* SUBSCRIBEs refused */
    ngx_ws_gateway_count_t      unsubscribed_unknown;
    ngx_ws_gateway_count_t      slices;
    ngx_ws_gateway_count_t      slice_max_us; /* the longest slice */
    ngx_ws_gateway_count_t      max_us;       /* the longest fan-out */
    ngx_ws_gateway_count_t      lost;         /* sessions whose link went */
    ngx_ws_gateway_count_t      reannounced;
    ngx_ws_gateway_count_t      failover_closed;
} ngx_ws_gateway_fanout_metrics_t;


typedef struct {
    ngx_atomic_t                pid;          /* 0: free */
    ngx_atomic_t                start_ticks;  /* the process's start time,
                                                 /proc/<pid>/stat; 0: not
                                                 known */
    ngx_atomic_t                beat;         /* ngx_current_msec (the
                                                 monotonic clock) at the
                                                 last lag probe */
    ngx_atomic_t                worker;       /* ngx_worker */
    ngx_atomic_t                generation;   /* reload count */
    ngx_atomic_t                started;      /* unix time */
    ngx_atomic_t                updated;      /* last tick, unix time */
    ngx_atomic_t                exiting;

    /* gauges */
    ngx_atomic_t                active;       /* sessions open */
    ngx_atomic_t                idle;         /* no message in the window */
    ngx_atomic_t                handshaking;
    ngx_atomic_t                draining;     /* closing handshake */
    ngx_atomic_t                queued;       /* bytes toward clients,
                                                 as allocated */
    ngx_atomic_t                paused;       /* sessions not read */
    ngx_atomic_t                buffers;      /* bytes of outbound slabs
                                                 mapped */
    ngx_atomic_t                assembling;   /* bytes of messages being
                                                 received, as allocated */
    ngx_atomic_t                runnable;     /* sessions in the run
                                                 queue */

    ngx_ws_gateway_counters_t   total;

    ngx_ws_gateway_count_t      handshakes[NGX_WS_GATEWAY_HS_LAST];
    ngx_ws_gateway_count_t      ends[NGX_WS_GATEWAY_END_LAST];
    ngx_ws_gateway_count_t      codes[NGX_WS_GATEWAY_CODES + 1];
    ngx_ws_gateway_count_t      drops[NGX_WS_GATEWAY_DROP_LAST];
    ngx_ws_gateway_count_t      pauses[NGX_WS_GATEWAY_PAUSE_LAST];
    ngx_ws_gateway_count_t      auth[NGX_WS_GATEWAY_AUTH_REASONS];

    /* events handled per loop iteration, the run-queue analogue */
    ngx_atomic_t                batch_max;    /* in the last second */
    ngx_ws_gateway_count_t      batch[8];     /* 1, 2-3, 4-7, ... 128+ */

    ngx_ws_gateway_hist_t       event;        /* readiness to handler */
    ngx_ws_gateway_hist_t       lag;          /* timer lateness */

    ngx_ws_gateway_second_t     seconds[NGX_WS_GATEWAY_SECONDS];

    ngx_ws_gateway_fanout_metrics_t  fanout;

    ngx_atomic_t                nlinks;       /* entries of links[] */
    ngx_ws_gateway_link_metrics_t  links[NGX_WS_GATEWAY_LINK_SERVERS];
} ngx_ws_gateway_slot_t;


typedef struct {
    ngx_atomic_t                nslots;
    ngx_atomic_t                generation;
    ngx_atomic_t                idle_window;  /* seconds */
    ngx_ws_gateway_slot_t       slots[1];
} ngx_ws_gateway_shm_t;


/*
 * What the status handler reports for one slot and one window, derived
 * from the shared data by ngx_ws_gateway_metrics_window().
 */

#define NGX_WS_GATEWAY_QUANTILES          5   /* p50 p90 p99 p99.9 max */

typedef struct {
    ngx_uint_t                  seconds;      /* 1, 10 or 60 */
    double                      accepts_rate; /* per second */
    double                      closes_rate;
    double                      messages_in_rate;
    double                      messages_out_rate;
    double                      events_per_iteration;
    uint64_t                    event_count;
    uint64_t                    event_us[NGX_WS_GATEWAY_QUANTILES];
    uint64_t                    lag_count;
    uint64_t                    lag_us[NGX_WS_GATEWAY_QUANTILES];
} ngx_ws_gateway_window_t;


extern ngx_ws_gateway_shm_t       *ngx_ws_gateway_shm;
extern ngx_ws_gateway_slot_t      *ngx_ws_gateway_slot;


ngx_int_t ngx_ws_gateway_metrics_init_conf(ngx_conf_t *cf);
ngx_int_t ngx_ws_gateway_metrics_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_ws_gateway_metrics_init_process(ngx_cycle_t *cycle);
void ngx_ws_gateway_metrics_exit_process(ngx_cycle_t *cycle);
uint64_t ngx_ws_gateway_metrics_generation(void);
ngx_uint_t ngx_ws_gateway_metrics_unmetered(ngx_uint_t live);

void ngx_ws_gateway_metrics_window(ngx_ws_gateway_slot_t *slot,
    ngx_uint_t seconds, ngx_ws_gateway_window_t *w);
void ngx_ws_gateway_hist_add(ngx_ws_gateway_hist_t *h, uint64_t us);
uint64_t ngx_ws_gateway_hist_value(ngx_uint_t bucket);
uint64_t ngx_ws_gateway_now_us(void);

#if (NGX_WS_GATEWAY_TEST_HOOKS)
void ngx_ws_gateway_metrics_test_hook(u_char *data, size_t len);
#endif


#define ngx_ws_gateway_metric_add(field, n)                                  \
    if (ngx_ws_gateway_slot) {                                               \
        ngx_ws_gateway_count_add(&ngx_ws_gateway_slot->field, n);            \
    }

#define ngx_ws_gateway_metric_inc(field)  ngx_ws_gateway_metric_add(field, 1)


#endif /* _NGX_WS_GATEWAY_METRICS_H_INCLUDED_ */
