
/*
 * Copyright (C) ngx_ws_gateway_module authors
 */


#ifndef _WS_LOAD_H_INCLUDED_
#define _WS_LOAD_H_INCLUDED_


#define _GNU_SOURCE

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <netinet/in.h>


/*
 * ws-load: a WebSocket load generator for loopback benchmarks.
 *
 * Files:
 *   ws_load.c         options, process fan-out, aggregation, JSON report
 *   ws_load_client.c  per-process epoll loop and connection state machine
 *   ws_load_frame.c   RFC 6455 framing and the client handshake
 *   ws_load_stats.c   log-linear latency histograms and counters
 */


#define WSL_OK                 0
#define WSL_ERROR             -1
#define WSL_AGAIN             -2
#define WSL_DONE              -3


#define WSL_MODE_IDLE          0
#define WSL_MODE_ECHO          1
#define WSL_MODE_CHURN         2
#define WSL_MODE_FLOOD         3
#define WSL_MODE_SUBSCRIBE     4
#define WSL_MODE_N             5


/* file descriptors a process keeps besides its connections */
#define WSL_FD_RESERVE         32

#define WSL_MAX_MSG_SIZE       (16 * 1024 * 1024)
#define WSL_MAX_HEADERS        8192


typedef struct {
    int                 mode;

    char                host[256];       /* as given, for "Host:" */
    struct sockaddr_in  target;
    char               *path;
    char               *extra_headers;   /* "Name: value\r\n" lines */
    size_t              extra_len;

    uint32_t            src_first;       /* host byte order */
    uint32_t            src_last;

    long                connections;
    int                 processes;
    double              duration;        /* seconds, hard bound */
    double              connect_rate;    /* per second, 0: unlimited */
    double              msg_rate;        /* per second, 0: closed loop */
    size_t              msg_size;
    int                 binary;
    int                 no_read;         /* flood: never read once open */
    int                 reset_at_end;    /* SO_LINGER 0 close at the end */

    double              handshake_timeout;
    double              close_timeout;
    double              warmup;          /* s of echoes not measured */
    int                 max_pending;     /* handshakes in flight/process */
    int                 quiet;
    char               *samples;         /* echo: latency samples file */
} wsl_conf_t;


/* the share of the load one client process runs */

typedef struct {
    int                 index;
    long                first;           /* global index of first conn */
    long                nconns;
    double              connect_rate;
    double              msg_rate;
    int                 pipe_fd;         /* towards the parent */
} wsl_worker_t;


/* counters, summed over processes */

enum {
    WSL_C_ATTEMPTS = 0,
    WSL_C_ESTABLISHED,
    WSL_C_FAILED,
    WSL_C_DROPPED,
    WSL_C_OPEN_AT_END,
    WSL_C_CLOSED_CLEAN,
    WSL_C_CYCLES,
    WSL_C_MSGS_SENT,
    WSL_C_MSGS_RECEIVED,
    WSL_C_BYTES_SENT,
    WSL_C_BYTES_RECEIVED,
    WSL_C_OUTSTANDING,
    WSL_C_PINGS,
    WSL_C_PONGS,
    WSL_C_RESET_AT_END,
    WSL_C_N
};


/* errors by kind */

enum {
    WSL_E_CONNECT = 0,
    WSL_E_ADDR,
    WSL_E_SOCKET,
    WSL_E_HS_TIMEOUT,
    WSL_E_HS_STATUS,
    WSL_E_HS_INVALID,
    WSL_E_HS_EOF,
    WSL_E_EOF,
    WSL_E_RESET,
    WSL_E_PROTOCOL,
    WSL_E_SERVER_CLOSE,
    WSL_E_ECHO_MISMATCH,
    WSL_E_CLOSE_TIMEOUT,
    WSL_E_SEND_BACKLOG,
    WSL_E_N
};


/*
 * Log-linear histogram of microsecond values: values below 128 have a
 * bucket each; above, every power of two is split into 64 linear
 * sub-buckets, so a bucket is at most 1/64 (1.6%) of its value wide.
 * Values up to 2^40 us (12 days) are kept; larger ones are clamped.
 */

#define WSL_HIST_SUB_BITS      6
#define WSL_HIST_SUB           (1 << WSL_HIST_SUB_BITS)
#define WSL_HIST_MAX_BIT       40
#define WSL_HIST_BUCKETS                                                      \
    (2 * WSL_HIST_SUB + (WSL_HIST_MAX_BIT - WSL_HIST_SUB_BITS - 1)           \
                        * WSL_HIST_SUB)

typedef struct {
    uint64_t            count;
    uint64_t            sum;
    uint64_t            min;
    uint64_t            max;
    uint64_t            buckets[WSL_HIST_BUCKETS];
} wsl_hist_t;


#define WSL_STATUS_MAX         600


/*
 * Subscribe mode: a fan-out message is a data message whose payload
 * starts with "fanout SEQ T0 " (decimal; T0 the CLOCK_MONOTONIC
 * microsecond at which the publisher wrote it, a clock that every
 * process of the machine shares).  Sequence numbers 1 to
 * WSL_FAN_MAX - 1 are kept apart; the others count as "other".
 */

#define WSL_FAN_MAX            64
#define WSL_FAN_PREFIX         "fanout "

typedef struct {
    uint64_t            t0;              /* the publisher's write, us */
    uint64_t            count;           /* sessions that read it */
    uint64_t            first;           /* monotonic us, first read */
    uint64_t            last;            /* monotonic us, last read */
} wsl_fan_t;

typedef struct {
    uint64_t            counters[WSL_C_N];
    uint64_t            errors[WSL_E_N];
    uint64_t            status[WSL_STATUS_MAX];   /* non-101 responses */
    double              ramp;            /* s until all conns tried */
    double              measure;         /* s of the measured window */
    double              rate_msgs;       /* per s; summed by the parent */
    double              rate_bytes;
    double              rate_handshakes;
    uint64_t            win_msgs;        /* echoes in the window */
    uint64_t            win_bytes;
    uint64_t            children;        /* results merged */
    wsl_hist_t          latency;         /* echo round trips, us */
    wsl_hist_t          handshake;       /* connect() to 101, us */
    wsl_hist_t          fanout;          /* publish to read, us */
    uint64_t            fan_other;       /* other messages received */
    uint64_t            fan_dups;        /* a sequence read twice */
    wsl_fan_t           fan[WSL_FAN_MAX];
} wsl_result_t;


/* records a child writes to the parent's pipe */

#define WSL_REC_PROGRESS       1
#define WSL_REC_READY          2
#define WSL_REC_RESULT         3

typedef struct {
    uint32_t            type;
    uint32_t            size;            /* bytes following the header */
} wsl_rec_header_t;

typedef struct {
    uint64_t            counters[WSL_C_N];
    uint64_t            errors[WSL_E_N];
} wsl_progress_t;


extern const char  *wsl_counter_names[WSL_C_N];
extern const char  *wsl_error_names[WSL_E_N];


/* ws_load_client.c */
int wsl_worker_run(const wsl_conf_t *conf, wsl_worker_t *w,
    wsl_result_t *res);
int wsl_write_record(int fd, uint32_t type, const void *data, size_t size);
uint64_t wsl_now(void);

/* ws_load_stats.c */
void wsl_hist_init(wsl_hist_t *h);
void wsl_hist_add(wsl_hist_t *h, uint64_t v);
void wsl_hist_merge(wsl_hist_t *dst, const wsl_hist_t *src);
uint64_t wsl_hist_percentile(const wsl_hist_t *h, double p);
void wsl_result_init(wsl_result_t *r);
void wsl_result_merge(wsl_result_t *dst, const wsl_result_t *src);


#endif /* _WS_LOAD_H_INCLUDED_ */
