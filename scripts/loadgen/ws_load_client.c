
/*
 * Copyright (C) ngx_ws_gateway_module authors
 */


/*
 * One client process: a single-threaded, edge-triggered epoll loop over
 * this process's share of the connections.
 *
 * A connection goes WAITING (in the connect queue) -> CONNECTING ->
 * HANDSHAKE (request sent, reading the 101) -> OPEN -> CLOSING (a close
 * frame sent or received; waiting for the other close frame and the
 * server's TCP close) -> DONE, or back to WAITING in churn mode.
 *
 * Every deadline (the next connect, the next open-loop send, the end of
 * the run, the periodic timeout sweep and progress report) is served by
 * one timerfd armed at the earliest of them.
 */


#include "ws_load.h"
#include "ws_load_frame.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/timerfd.h>


#define WSL_ST_WAITING         0
#define WSL_ST_CONNECTING      1
#define WSL_ST_HANDSHAKE       2
#define WSL_ST_OPEN            3
#define WSL_ST_CLOSING         4
#define WSL_ST_DONE            5

#define WSL_PHASE_RUN          0
#define WSL_PHASE_CLOSING      1

#define WSL_READ_BUF           65536
#define WSL_EVENTS             512
#define WSL_SWEEP_US           100000
#define WSL_PROGRESS_US        1000000
#define WSL_RETRY_US           100000

/* bytes queued for one connection beyond which a send is refused */
#define WSL_WBUF_MAX           (4 * 1024 * 1024)

/* free a flushed write buffer larger than this */
#define WSL_WBUF_KEEP          16384

/* flood: bytes one connection may send before the others get a turn */
#define WSL_FLOOD_BURST        (256 * 1024)

/* messages awaiting their echo on one connection */
#define WSL_RING_MAX           65536

#define WSL_CLOSE_NORMAL       1000

/* echo --samples: at most this many pairs kept per process */
#define WSL_SAMPLES_MAX        (16 * 1024 * 1024)


typedef struct wsl_conn_s  wsl_conn_t;


/* handshake state, allocated only while the handshake runs */

typedef struct {
    char                accept[WSL_ACCEPT_LEN + 1];
    size_t              len;
    char                buf[WSL_MAX_HEADERS];
} wsl_hs_t;


struct wsl_conn_s {
    int                 fd;
    unsigned            state:3;
    unsigned            writable:1;
    unsigned            tried:1;          /* first attempt resolved */
    unsigned            close_sent:1;
    unsigned            close_received:1;
    unsigned            echoed:1;         /* churn: round trip done */
    unsigned            in_ready:1;       /* in the flood ready list */

    uint64_t            fan_seen;         /* fan-out sequences read */

    uint32_t            src;              /* network byte order */
    uint64_t            since;            /* connect() time, us */
    uint64_t            deadline;         /* handshake/close, 0: none */
    uint64_t            retry_at;         /* not before, in the queue */

    wsl_hs_t           *hs;

    unsigned char      *wbuf;
    size_t              wpos;
    size_t              wlen;
    size_t              wcap;

    uint64_t           *ring;             /* intended send times, FIFO */
    uint32_t            rhead;
    uint32_t            rcount;
    uint32_t            rcap;

    size_t              foff;             /* flood: sent of the frame */

    wsl_conn_t         *next;             /* in the connect queue */
    wsl_conn_t         *ready_next;       /* in the flood ready list */

    wsl_frame_parser_t  fp;
};


typedef struct {
    const wsl_conf_t   *conf;
    wsl_worker_t       *w;
    wsl_result_t       *res;

    wsl_conn_t         *conns;
    long                n;

    int                 ep;
    int                 tfd;
    uint64_t            armed;

    wsl_conn_t         *head;             /* connect queue */
    wsl_conn_t         *tail;

    long                pending;          /* connecting or handshaking */
    long                open;             /* with an fd, after the 101 */
    long                resolved;         /* first attempts finished */

    int                 phase;
    uint64_t            start;
    uint64_t            end;
    uint64_t            close_end;
    uint64_t            last_sweep;
    uint64_t            last_progress;

    double              next_connect;     /* us */
    double              connect_interval;

    unsigned            ready:1;
    unsigned            messaging:1;
    uint64_t            msg_start;
    uint64_t            warmup;           /* us, not measured */
    double              msg_interval;     /* us, open loop */
    uint64_t            msg_k;
    long                rr;

    uint64_t            rng;
    uint64_t            errnos[4];        /* errno values already told */
    unsigned char      *payload;
    unsigned char      *flood;            /* the flood frame, masked */
    size_t              flood_len;
    wsl_conn_t         *flood_ready;      /* writable, burst used up */
    unsigned char      *rbuf;
    char               *request;          /* request minus the key line */
    size_t              request_len;

    uint64_t           *samples;          /* echo: intended, latency */
    size_t              nsamples;         /* pairs */
    size_t              samples_cap;
} wsl_proc_t;


static int wsl_proc_init(wsl_proc_t *p);
static void wsl_proc_free(wsl_proc_t *p);
static void wsl_build_request(wsl_proc_t *p);
static void wsl_queue_push(wsl_proc_t *p, wsl_conn_t *c, uint64_t at);
static void wsl_start_connects(wsl_proc_t *p, uint64_t now);
static void wsl_connect(wsl_proc_t *p, wsl_conn_t *c, uint64_t now);
static void wsl_event(wsl_proc_t *p, wsl_conn_t *c, uint32_t events,
    uint64_t now);
static void wsl_connected(wsl_proc_t *p, wsl_conn_t *c, uint64_t now);
static void wsl_read(wsl_proc_t *p, wsl_conn_t *c, uint64_t now);
static void wsl_handshake_data(wsl_proc_t *p, wsl_conn_t *c,
    const unsigned char *data, size_t len, uint64_t now);
static void wsl_opened(wsl_proc_t *p, wsl_conn_t *c, uint64_t now);
static void wsl_frames(wsl_proc_t *p, wsl_conn_t *c,
    const unsigned char *data, size_t len, uint64_t now);
static void wsl_frame(wsl_proc_t *p, wsl_conn_t *c, uint64_t now);
static void wsl_message(wsl_proc_t *p, wsl_conn_t *c, uint64_t now);
static void wsl_fan_message(wsl_proc_t *p, wsl_conn_t *c, uint64_t now);
static void wsl_sample(wsl_proc_t *p, uint64_t intended, uint64_t lat);
static void wsl_write_samples(wsl_proc_t *p);
static void wsl_eof(wsl_proc_t *p, wsl_conn_t *c, uint64_t now);
static int wsl_send_frame(wsl_proc_t *p, wsl_conn_t *c, unsigned opcode,
    const unsigned char *data, size_t len);
static int wsl_send_message(wsl_proc_t *p, wsl_conn_t *c,
    uint64_t intended);
static void wsl_send_close(wsl_proc_t *p, wsl_conn_t *c,
    const unsigned char *payload, size_t len, uint64_t now);
static int wsl_append(wsl_conn_t *c, size_t len);
static int wsl_flush(wsl_proc_t *p, wsl_conn_t *c);
static ssize_t wsl_send(wsl_proc_t *p, wsl_conn_t *c,
    const unsigned char *buf, size_t len);
static int wsl_flooding(wsl_proc_t *p, wsl_conn_t *c);
static void wsl_ready_push(wsl_proc_t *p, wsl_conn_t *c);
static void wsl_ready_run(wsl_proc_t *p);
static void wsl_gone(wsl_proc_t *p, wsl_conn_t *c, uint64_t now);
static void wsl_reset(wsl_proc_t *p, wsl_conn_t *c);
static void wsl_fail(wsl_proc_t *p, wsl_conn_t *c, int err, uint64_t now);
static void wsl_fail_errno(wsl_proc_t *p, wsl_conn_t *c, int err,
    const char *call, uint64_t now);
static void wsl_drop(wsl_proc_t *p, wsl_conn_t *c, int err, uint64_t now);
static void wsl_finish(wsl_proc_t *p, wsl_conn_t *c, int clean,
    uint64_t now);
static void wsl_close_fd(wsl_conn_t *c);
static void wsl_sweep(wsl_proc_t *p, uint64_t now);
static void wsl_check_ready(wsl_proc_t *p, uint64_t now);
static void wsl_start_messaging(wsl_proc_t *p, uint64_t now);
static void wsl_start_flood(wsl_proc_t *p, uint64_t now);
static uint64_t wsl_open_loop(wsl_proc_t *p, uint64_t now);
static void wsl_begin_closing(wsl_proc_t *p, uint64_t now);
static void wsl_progress(wsl_proc_t *p, uint32_t type);
static void wsl_arm(wsl_proc_t *p, uint64_t at);
static uint64_t wsl_random(wsl_proc_t *p);
static int wsl_errno_kind(int err);
static void wsl_on_signal(int signo);


static volatile sig_atomic_t  wsl_stop;


uint64_t
wsl_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


int
wsl_write_record(int fd, uint32_t type, const void *data, size_t size)
{
    size_t             done, total;
    ssize_t            n;
    unsigned char     *buf;
    wsl_rec_header_t   h;

    h.type = type;
    h.size = (uint32_t) size;

    total = sizeof(h) + size;

    buf = malloc(total);
    if (buf == NULL) {
        return WSL_ERROR;
    }

    memcpy(buf, &h, sizeof(h));
    memcpy(buf + sizeof(h), data, size);

    for (done = 0; done < total; done += n) {
        n = write(fd, buf + done, total - done);

        if (n == -1) {
            if (errno == EINTR) {
                n = 0;
                continue;
            }

            free(buf);
            return WSL_ERROR;
        }
    }

    free(buf);

    return WSL_OK;
}


int
wsl_worker_run(const wsl_conf_t *conf, wsl_worker_t *w, wsl_result_t *res)
{
    int                 i, nev;
    uint64_t            now, at, t;
    wsl_conn_t         *c;
    wsl_proc_t          proc, *p;
    struct sigaction    sa;
    struct epoll_event  events[WSL_EVENTS];

    p = &proc;
    memset(p, 0, sizeof(wsl_proc_t));

    p->ep = -1;
    p->tfd = -1;

    p->conf = conf;
    p->w = w;
    p->res = res;
    p->n = w->nconns;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = wsl_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (wsl_proc_init(p) != WSL_OK) {
        wsl_proc_free(p);
        return WSL_ERROR;
    }

    now = wsl_now();

    p->start = now;
    p->end = now + (uint64_t) (conf->duration * 1e6);
    p->last_sweep = now;
    p->last_progress = now;
    p->next_connect = (double) now;

    if (w->connect_rate > 0) {
        p->connect_interval = 1e6 / w->connect_rate;
    }

    for ( ;; ) {
        now = wsl_now();

        if (p->phase == WSL_PHASE_RUN && (now >= p->end || wsl_stop)) {
            wsl_begin_closing(p, now);
        }

        if (p->phase == WSL_PHASE_CLOSING
            && (p->open == 0 || now >= p->close_end))
        {
            break;
        }

        if (p->phase == WSL_PHASE_RUN) {
            wsl_start_connects(p, now);
        }

        if (now - p->last_sweep >= WSL_SWEEP_US) {
            p->last_sweep = now;
            wsl_sweep(p, now);
        }

        if (now - p->last_progress >= WSL_PROGRESS_US) {
            p->last_progress = now;
            wsl_progress(p, WSL_REC_PROGRESS);
        }

        /* the earliest deadline */

        at = (p->phase == WSL_PHASE_RUN) ? p->end : p->close_end;

        t = p->last_sweep + WSL_SWEEP_US;
        if (t < at) {
            at = t;
        }

        t = p->last_progress + WSL_PROGRESS_US;
        if (t < at) {
            at = t;
        }

        if (p->phase == WSL_PHASE_RUN
            && p->head
            && p->pending < conf->max_pending)
        {
            t = (uint64_t) p->next_connect;

            if (p->head->retry_at > t) {
                t = p->head->retry_at;
            }

            if (t < at) {
                at = t;
            }
        }

        if (p->messaging && w->msg_rate > 0 && p->phase == WSL_PHASE_RUN) {
            t = wsl_open_loop(p, now);
            if (t < at) {
                at = t;
            }
        }

        if (at <= now) {
            at = now + 1;
        }

        wsl_arm(p, at);

        /* connections that used up their burst go on without waiting */

        nev = epoll_wait(p->ep, events, WSL_EVENTS, p->flood_ready ? 0 : -1);

        if (nev == -1) {
            if (errno == EINTR) {
                continue;
            }

            fprintf(stderr, "ws-load: epoll_wait() failed: %s\n",
                    strerror(errno));
            break;
        }

        now = wsl_now();

        for (i = 0; i < nev; i++) {
            c = events[i].data.ptr;

            if (c == NULL) {
                uint64_t  expirations;

                if (read(p->tfd, &expirations, sizeof(expirations)) == -1) {
                    /* EAGAIN: the timer was re-armed meanwhile */
                }

                p->armed = 0;
                continue;
            }

            wsl_event(p, c, events[i].events, now);
        }

        wsl_ready_run(p);
    }

    /* the close grace period is over: cut what is left */

    now = wsl_now();

    for (i = 0; i < p->n; i++) {
        c = &p->conns[i];

        if (c->fd == -1) {
            continue;
        }

        if (c->state == WSL_ST_CLOSING || c->state == WSL_ST_OPEN) {
            res->errors[WSL_E_CLOSE_TIMEOUT]++;
        }

        wsl_close_fd(c);
    }

    if (conf->samples) {
        wsl_write_samples(p);
    }

    wsl_proc_free(p);

    /* this process's rates; the parent adds them up */

    res->children = 1;

    if (res->measure > 0) {
        res->rate_msgs = (double) res->win_msgs / res->measure;
        res->rate_bytes = (double) res->win_bytes / res->measure;
    }

    if (conf->mode == WSL_MODE_CHURN) {
        if (res->measure > 0) {
            res->rate_handshakes =
                        (double) res->counters[WSL_C_ESTABLISHED]
                        / res->measure;
        }

    } else if (res->ramp > 0) {
        res->rate_handshakes = (double) res->counters[WSL_C_ESTABLISHED]
                               / res->ramp;
    }

    return WSL_OK;
}


static int
wsl_proc_init(wsl_proc_t *p)
{
    long                i, k, nsrc;
    size_t              j;
    wsl_conn_t         *c;
    struct epoll_event  ev;

    p->conns = calloc(p->n ? p->n : 1, sizeof(wsl_conn_t));
    p->rbuf = malloc(WSL_READ_BUF);
    p->payload = malloc(p->conf->msg_size ? p->conf->msg_size : 1);

    if (p->conns == NULL || p->rbuf == NULL || p->payload == NULL) {
        fprintf(stderr, "ws-load: out of memory\n");
        return WSL_ERROR;
    }

    if (getrandom(&p->rng, sizeof(p->rng), 0) != sizeof(p->rng)
        || p->rng == 0)
    {
        p->rng = wsl_now() | 1;
    }

    for (j = 0; j < p->conf->msg_size; j++) {
        p->payload[j] = p->conf->binary ? (unsigned char) (j * 131 + 7)
                                        : (unsigned char) ('a' + j % 26);
    }

    if (p->conf->mode == WSL_MODE_FLOOD) {
        uint64_t       r;
        unsigned char  mask[4];

        /*
         * Every flood message is the same frame, masked once with one
         * key per process and sent from this buffer by every session:
         * the server unmasks each frame, the generator does not.
         */

        p->flood = malloc(WSL_FRAME_HEADER_MAX + p->conf->msg_size);
        if (p->flood == NULL) {
            fprintf(stderr, "ws-load: out of memory\n");
            return WSL_ERROR;
        }

        r = wsl_random(p);
        memcpy(mask, &r, 4);

        p->flood_len = wsl_frame_build(p->flood,
                                       p->conf->binary ? WSL_OP_BINARY
                                                       : WSL_OP_TEXT,
                                       p->payload, p->conf->msg_size, mask);
    }

    wsl_build_request(p);

    if (p->request == NULL) {
        fprintf(stderr, "ws-load: out of memory\n");
        return WSL_ERROR;
    }

    p->ep = epoll_create1(EPOLL_CLOEXEC);
    if (p->ep == -1) {
        fprintf(stderr, "ws-load: epoll_create1() failed: %s\n",
                strerror(errno));
        return WSL_ERROR;
    }

    p->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (p->tfd == -1) {
        fprintf(stderr, "ws-load: timerfd_create() failed: %s\n",
                strerror(errno));
        return WSL_ERROR;
    }

    ev.events = EPOLLIN;
    ev.data.ptr = NULL;

    if (epoll_ctl(p->ep, EPOLL_CTL_ADD, p->tfd, &ev) == -1) {
        fprintf(stderr, "ws-load: epoll_ctl() failed: %s\n",
                strerror(errno));
        return WSL_ERROR;
    }

    /* source addresses round-robin by global connection index */

    nsrc = (long) (p->conf->src_last - p->conf->src_first) + 1;

    for (i = 0; i < p->n; i++) {
        c = &p->conns[i];
        k = (p->w->first + i) % nsrc;

        c->fd = -1;
        c->src = htonl(p->conf->src_first + (uint32_t) k);

        wsl_queue_push(p, c, 0);
    }

    if (p->w->msg_rate > 0) {
        p->msg_interval = 1e6 / p->w->msg_rate;
    }

    p->warmup = (uint64_t) (p->conf->warmup * 1e6);

    return WSL_OK;
}


static void
wsl_proc_free(wsl_proc_t *p)
{
    long         i;
    wsl_conn_t  *c;

    if (p->conns) {
        for (i = 0; i < p->n; i++) {
            c = &p->conns[i];
            free(c->hs);
            free(c->wbuf);
            free(c->ring);
        }

        free(p->conns);
    }

    if (p->ep != -1) {
        close(p->ep);
    }

    if (p->tfd != -1) {
        close(p->tfd);
    }

    free(p->rbuf);
    free(p->payload);
    free(p->flood);
    free(p->request);
    free(p->samples);
}


/* the request up to the key; the key and the trailer are added per try */

static void
wsl_build_request(wsl_proc_t *p)
{
    int                 n;
    char                host[300];
    size_t              size;
    const wsl_conf_t   *conf;

    conf = p->conf;

    if (ntohs(conf->target.sin_port) == 80) {
        snprintf(host, sizeof(host), "%s", conf->host);

    } else {
        snprintf(host, sizeof(host), "%s:%u", conf->host,
                 ntohs(conf->target.sin_port));
    }

    size = strlen(conf->path) + strlen(host) + conf->extra_len + 256;

    p->request = malloc(size);
    if (p->request == NULL) {
        return;
    }

    n = snprintf(p->request, size,
                 "GET %s HTTP/1.1\r\n"
                 "Host: %s\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Version: 13\r\n"
                 "%s"
                 "Sec-WebSocket-Key: ",
                 conf->path, host,
                 conf->extra_headers ? conf->extra_headers : "");

    p->request_len = (size_t) n;
}


static void
wsl_queue_push(wsl_proc_t *p, wsl_conn_t *c, uint64_t at)
{
    c->state = WSL_ST_WAITING;
    c->retry_at = at;
    c->next = NULL;

    if (p->tail) {
        p->tail->next = c;

    } else {
        p->head = c;
    }

    p->tail = c;
}


/* connects from the queue, within the rate and the handshake cap */

static void
wsl_start_connects(wsl_proc_t *p, uint64_t now)
{
    wsl_conn_t  *c;

    while (p->head
           && p->pending < p->conf->max_pending
           && p->head->retry_at <= now
           && p->next_connect <= (double) now)
    {
        c = p->head;
        p->head = c->next;

        if (p->head == NULL) {
            p->tail = NULL;
        }

        c->next = NULL;

        p->next_connect += p->connect_interval;

        /* do not make up for more than 100 ms of lag in one burst */

        if (p->next_connect < (double) now - 100000) {
            p->next_connect = (double) now;
        }

        wsl_connect(p, c, now);
    }
}


static void
wsl_connect(wsl_proc_t *p, wsl_conn_t *c, uint64_t now)
{
    int                 fd, one;
    struct sockaddr_in  sin;
    struct epoll_event  ev;

    p->res->counters[WSL_C_ATTEMPTS]++;
    p->pending++;

    c->state = WSL_ST_CONNECTING;
    c->since = now;
    c->deadline = now + (uint64_t) (p->conf->handshake_timeout * 1e6);
    c->writable = 0;
    c->close_sent = 0;
    c->close_received = 0;
    c->echoed = 0;
    c->fan_seen = 0;
    c->foff = 0;
    c->wpos = 0;
    c->wlen = 0;
    c->rhead = 0;
    c->rcount = 0;
    memset(&c->fp, 0, offsetof(wsl_frame_parser_t, ctrl));

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        wsl_fail_errno(p, c, errno, "socket()", now);
        return;
    }

    c->fd = fd;

    one = 1;

    /*
     * Bind the source address but let connect() pick the port, so that
     * a port is only needed per distinct (source, destination) pair.
     */

#ifdef IP_BIND_ADDRESS_NO_PORT
    (void) setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                      sizeof(one));
#endif

    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = c->src;
    sin.sin_port = 0;

    if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) == -1) {
        wsl_fail_errno(p, c, errno, "bind()", now);
        return;
    }

    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c;

    if (epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
        wsl_fail_errno(p, c, errno, "epoll_ctl()", now);
        return;
    }

    if (connect(fd, (struct sockaddr *) &p->conf->target,
                sizeof(struct sockaddr_in))
        == -1
        && errno != EINPROGRESS)
    {
        wsl_fail_errno(p, c, errno, "connect()", now);
        return;
    }

    /* completion, immediate or not, is reported by EPOLLOUT */
}


static void
wsl_event(wsl_proc_t *p, wsl_conn_t *c, uint32_t events, uint64_t now)
{
    int        err;
    socklen_t  len;

    if (c->fd == -1) {
        return;
    }

    if (c->state == WSL_ST_CONNECTING) {

        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            return;
        }

        err = 0;
        len = sizeof(err);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
            err = errno;
        }

        if (err) {
            wsl_fail_errno(p, c, err, "connect()", now);
            return;
        }

        c->writable = 1;
        wsl_connected(p, c, now);
        return;
    }

    if (events & EPOLLOUT) {
        c->writable = 1;

        if (wsl_flush(p, c) != WSL_OK) {
            return;
        }
    }

    if (p->conf->no_read
        && (c->state == WSL_ST_OPEN || c->state == WSL_ST_CLOSING))
    {
        /* a flooder that never reads: only the server's close counts */

        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            wsl_gone(p, c, now);
        }

        return;
    }

    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        wsl_read(p, c, now);
    }
}


/* TCP is up: send the upgrade request */

static void
wsl_connected(wsl_proc_t *p, wsl_conn_t *c, uint64_t now)
{
    char      key[WSL_KEY_LEN + 1];
    size_t    len;
    wsl_hs_t  *hs;

    if (c->hs == NULL) {
        c->hs = malloc(sizeof(wsl_hs_t));
        if (c->hs == NULL) {
            wsl_fail(p, c, WSL_E_SOCKET, now);
            return;
        }
    }

    hs = c->hs;
    hs->len = 0;

    if (wsl_handshake_key(key, hs->accept) != WSL_OK) {
        wsl_fail(p, c, WSL_E_SOCKET, now);
        return;
    }

    len = p->request_len + WSL_KEY_LEN + 4;

    if (wsl_append(c, len) != WSL_OK) {
        wsl_fail(p, c, WSL_E_SOCKET, now);
        return;
    }

    memcpy(c->wbuf + c->wlen, p->request, p->request_len);
    memcpy(c->wbuf + c->wlen + p->request_len, key, WSL_KEY_LEN);
    memcpy(c->wbuf + c->wlen + p->request_len + WSL_KEY_LEN, "\r\n\r\n", 4);
    c->wlen += len;

    c->state = WSL_ST_HANDSHAKE;

    (void) wsl_flush(p, c);
}


static void
wsl_read(wsl_proc_t *p, wsl_conn_t *c, uint64_t now)
{
    ssize_t  n;

    while (c->fd != -1) {
        n = read(c->fd, p->rbuf, WSL_READ_BUF);

        if (n > 0) {
            /*
             * A fresh time per read: an echo of a message sent while
             * handling the previous read may already be in this one.
             */

            now = wsl_now();

            if (c->state == WSL_ST_HANDSHAKE) {
                wsl_handshake_data(p, c, p->rbuf, (size_t) n, now);

            } else {
                wsl_frames(p, c, p->rbuf, (size_t) n, now);
            }

            continue;
        }

        if (n == 0) {
            wsl_eof(p, c, now);
            return;
        }

        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        }

        if (errno == EINTR) {
            continue;
        }

        if (c->state == WSL_ST_HANDSHAKE) {
            wsl_fail_errno(p, c, errno, "read()", now);

        } else {
            wsl_drop(p, c, WSL_E_RESET, now);
        }

        return;
    }
}


static void
wsl_handshake_data(wsl_proc_t *p, wsl_conn_t *c, const unsigned char *data,
    size_t len, uint64_t now)
{
    int        status;
    char      *end;
    size_t     from, old, copy, hlen;
    wsl_hs_t  *hs;

    hs = c->hs;
    old = hs->len;

    copy = sizeof(hs->buf) - old;
    if (copy > len) {
        copy = len;
    }

    from = old > 3 ? old - 3 : 0;

    memcpy(hs->buf + old, data, copy);
    hs->len += copy;

    end = memmem(hs->buf + from, hs->len - from, "\r\n\r\n", 4);

    if (end == NULL) {
        if (hs->len == sizeof(hs->buf)) {
            wsl_fail(p, c, WSL_E_HS_INVALID, now);
        }

        return;
    }

    hlen = end + 4 - hs->buf;

    if (wsl_handshake_check(hs->buf, hlen, hs->accept, &status) != WSL_OK) {

        if (status != 101 && status != 0) {
            p->res->status[status]++;
            wsl_fail(p, c, WSL_E_HS_STATUS, now);

        } else {
            wsl_fail(p, c, WSL_E_HS_INVALID, now);
        }

        return;
    }

    /* frames pipelined behind the 101 start here in this read's data */

    from = hlen - old;

    wsl_opened(p, c, now);

    if (c->fd != -1 && from < len) {
        wsl_frames(p, c, data + from, len - from, now);
    }
}


static void
wsl_opened(wsl_proc_t *p, wsl_conn_t *c, uint64_t now)
{
    free(c->hs);
    c->hs = NULL;

    p->pending--;
    p->open++;

    p->res->counters[WSL_C_ESTABLISHED]++;
    wsl_hist_add(&p->res->handshake, now - c->since);

    c->state = WSL_ST_OPEN;
    c->deadline = 0;

    if (!c->tried) {
        c->tried = 1;
        p->resolved++;
        wsl_check_ready(p, now);
    }

    switch (p->conf->mode) {

    case WSL_MODE_ECHO:
        /* closed loop, joining late (the ramp's end may have sent one) */
        if (p->messaging && p->w->msg_rate == 0 && c->rcount == 0) {
            (void) wsl_send_message(p, c, now);
        }
        break;

    case WSL_MODE_CHURN:
        (void) wsl_send_message(p, c, now);
        break;

    case WSL_MODE_FLOOD:
        /* joining late: the others flood already */
        if (p->messaging) {
            (void) wsl_flush(p, c);
        }
        break;

    default:
        break;
    }
}


static void
wsl_frames(wsl_proc_t *p, wsl_conn_t *c, const unsigned char *data,
    size_t len, uint64_t now)
{
    int                   rc;
    const unsigned char  *pos, *last;

    pos = data;
    last = data + len;

    while (pos < last && c->fd != -1) {
        rc = wsl_frame_parse(&c->fp, &pos, last);

        if (rc == WSL_AGAIN) {
            return;
        }

        if (rc != WSL_DONE) {
            if (!p->conf->quiet) {
                fprintf(stderr, "ws-load: server sent a bad frame: %s\n",
                        wsl_frame_strerror(rc));
            }

            wsl_drop(p, c, WSL_E_PROTOCOL, now);
            return;
        }

        wsl_frame(p, c, now);
    }
}


/* a complete frame is in c->fp */

static void
wsl_frame(wsl_proc_t *p, wsl_conn_t *c, uint64_t now)
{
    wsl_frame_parser_t  *fp;

    fp = &c->fp;

    switch (fp->opcode) {

    case WSL_OP_CONT:
    case WSL_OP_TEXT:
    case WSL_OP_BINARY:
        if (fp->fin) {
            wsl_message(p, c, now);
        }

        return;

    case WSL_OP_PING:
        p->res->counters[WSL_C_PINGS]++;

        if (!c->close_sent) {
            if (wsl_send_frame(p, c, WSL_OP_PONG, fp->ctrl, fp->ctrl_len)
                == WSL_OK)
            {
                p->res->counters[WSL_C_PONGS]++;
            }
        }

        return;

    case WSL_OP_PONG:
        return;

    default: /* WSL_OP_CLOSE */
        break;
    }

    c->close_received = 1;

    if (c->close_sent) {
        /* our close is answered: wait for the server's TCP close */
        return;
    }

    /* the server started the close: count it, echo its code */

    if (p->phase == WSL_PHASE_RUN && c->state == WSL_ST_OPEN) {
        p->res->errors[WSL_E_SERVER_CLOSE]++;
        p->res->counters[WSL_C_DROPPED]++;
    }

    wsl_send_close(p, c, fp->ctrl, fp->ctrl_len >= 2 ? 2 : 0, now);
}


/* a complete data message: an echo, if one is awaited */

static void
wsl_message(wsl_proc_t *p, wsl_conn_t *c, uint64_t now)
{
    uint64_t            intended;
    wsl_result_t       *res;
    wsl_frame_parser_t  *fp;

    res = p->res;
    fp = &c->fp;

    res->counters[WSL_C_MSGS_RECEIVED]++;
    res->counters[WSL_C_BYTES_RECEIVED] += fp->msg_len;

    if (p->conf->mode == WSL_MODE_SUBSCRIBE) {
        wsl_fan_message(p, c, now);
        return;
    }

    if (c->rcount == 0) {
        /* not an answer to anything we sent, or a flood's echo */

        if (p->conf->mode == WSL_MODE_FLOOD && p->messaging
            && p->phase == WSL_PHASE_RUN)
        {
            res->win_msgs++;
            res->win_bytes += fp->msg_len;
        }

        return;
    }

    intended = c->ring[c->rhead];
    c->rhead = (c->rhead + 1) % c->rcap;
    c->rcount--;

    if (fp->msg_len != p->conf->msg_size
        || fp->msg_opcode != (p->conf->binary ? WSL_OP_BINARY : WSL_OP_TEXT))
    {
        res->errors[WSL_E_ECHO_MISMATCH]++;
    }

    if (p->phase != WSL_PHASE_RUN) {
        return;
    }

    /* a message due in the warm-up is answered, not counted */

    if (intended >= p->msg_start + p->warmup) {
        res->win_msgs++;
        res->win_bytes += fp->msg_len;

        wsl_hist_add(&res->latency, now > intended ? now - intended : 0);

        if (p->conf->samples) {
            wsl_sample(p, intended, now > intended ? now - intended : 0);
        }
    }

    if (c->state != WSL_ST_OPEN) {
        return;
    }

    switch (p->conf->mode) {

    case WSL_MODE_ECHO:
        if (p->w->msg_rate == 0) {
            (void) wsl_send_message(p, c, now);
        }
        break;

    case WSL_MODE_CHURN:
        c->echoed = 1;
        wsl_send_close(p, c, NULL, 0, now);
        break;

    default:
        break;
    }
}


/*
 * Subscribe mode: a message read at "now" (the time of its read()).  A
 * fan-out message ("fanout SEQ T0 ...") is filed under its sequence
 * number: how many sessions read it, the first and the last read, and
 * the delay from the publisher's write (T0) in the histogram.
 */

static void
wsl_fan_message(wsl_proc_t *p, wsl_conn_t *c, uint64_t now)
{
    size_t               len, i, n;
    uint64_t             v[2], bit;
    wsl_fan_t           *f;
    wsl_result_t        *res;
    const unsigned char  *h;

    res = p->res;

    len = c->fp.msg_len < WSL_HEAD_MAX ? c->fp.msg_len : WSL_HEAD_MAX;
    h = c->fp.head;
    i = sizeof(WSL_FAN_PREFIX) - 1;

    if (len < i || memcmp(h, WSL_FAN_PREFIX, i) != 0) {
        res->fan_other++;
        return;
    }

    /* two decimal numbers, each followed by a space */

    for (n = 0; n < 2; n++) {
        v[n] = 0;

        if (i == len || h[i] < '0' || h[i] > '9') {
            res->fan_other++;
            return;
        }

        while (i < len && h[i] >= '0' && h[i] <= '9'
               && v[n] < 1000000000000000000ULL)
        {
            v[n] = v[n] * 10 + (h[i++] - '0');
        }

        if (i == len || h[i++] != ' ') {
            res->fan_other++;
            return;
        }
    }

    if (v[0] == 0 || v[0] >= WSL_FAN_MAX) {
        res->fan_other++;
        return;
    }

    bit = (uint64_t) 1 << v[0];

    if (c->fan_seen & bit) {
        res->fan_dups++;
        return;
    }

    c->fan_seen |= bit;

    f = &res->fan[v[0]];

    if (f->count == 0 || now < f->first) {
        f->first = now;
    }

    if (now > f->last) {
        f->last = now;
    }

    f->t0 = v[1];
    f->count++;

    wsl_hist_add(&res->fanout, now > v[1] ? now - v[1] : 0);
}


/* echo --samples: one (intended send time, latency) pair per echo */

static void
wsl_sample(wsl_proc_t *p, uint64_t intended, uint64_t lat)
{
    size_t     cap;
    uint64_t  *s;

    if (p->nsamples == p->samples_cap) {
        cap = p->samples_cap ? p->samples_cap * 2 : 65536;

        if (cap > WSL_SAMPLES_MAX) {
            return;
        }

        s = realloc(p->samples, cap * 2 * sizeof(uint64_t));
        if (s == NULL) {
            return;
        }

        p->samples = s;
        p->samples_cap = cap;
    }

    p->samples[2 * p->nsamples] = intended;
    p->samples[2 * p->nsamples + 1] = lat;
    p->nsamples++;
}


/*
 * The samples as text, "INTENDED_US LATENCY_US" a line (CLOCK_MONOTONIC
 * microseconds), to the --samples file (process 0) or FILE.N (process
 * N), written once the run is over.
 */

static void
wsl_write_samples(wsl_proc_t *p)
{
    char    name[4096];
    FILE   *f;
    size_t  i;

    if (p->w->index == 0) {
        snprintf(name, sizeof(name), "%s", p->conf->samples);

    } else {
        snprintf(name, sizeof(name), "%s.%d", p->conf->samples,
                 p->w->index);
    }

    f = fopen(name, "w");
    if (f == NULL) {
        fprintf(stderr, "ws-load: cannot open \"%s\": %s\n", name,
                strerror(errno));
        return;
    }

    for (i = 0; i < p->nsamples; i++) {
        fprintf(f, "%llu %llu\n",
                (unsigned long long) p->samples[2 * i],
                (unsigned long long) p->samples[2 * i + 1]);
    }

    if (fclose(f) != 0) {
        fprintf(stderr, "ws-load: cannot write \"%s\": %s\n", name,
                strerror(errno));
    }
}


/* the server closed TCP */

static void
wsl_eof(wsl_proc_t *p, wsl_conn_t *c, uint64_t now)
{
    switch (c->state) {

    case WSL_ST_HANDSHAKE:
        wsl_fail(p, c, WSL_E_HS_EOF, now);
        return;

    case WSL_ST_OPEN:
        wsl_drop(p, c, WSL_E_EOF, now);
        return;

    default: /* WSL_ST_CLOSING */

        if (c->close_received && c->close_sent) {
            wsl_finish(p, c, 1, now);
            return;
        }

        p->res->errors[WSL_E_EOF]++;
        wsl_finish(p, c, 0, now);
        return;
    }
}


static int
wsl_send_frame(wsl_proc_t *p, wsl_conn_t *c, unsigned opcode,
    const unsigned char *data, size_t len)
{
    size_t         hlen;
    uint64_t       r;
    unsigned char  mask[4], *pos;

    if (wsl_append(c, WSL_FRAME_HEADER_MAX + len) != WSL_OK) {
        p->res->errors[WSL_E_SEND_BACKLOG]++;
        return WSL_ERROR;
    }

    r = wsl_random(p);
    memcpy(mask, &r, 4);

    pos = c->wbuf + c->wlen;
    hlen = wsl_frame_header(pos, 1, opcode, len, mask);
    wsl_frame_mask(pos + hlen, data, len, mask);

    c->wlen += hlen + len;

    return wsl_flush(p, c);
}


/* one echo request, answered at "intended" or later */

static int
wsl_send_message(wsl_proc_t *p, wsl_conn_t *c, uint64_t intended)
{
    uint32_t   cap, i;
    uint64_t  *ring;

    if (c->rcount == c->rcap) {
        cap = c->rcap ? c->rcap * 2 : 4;

        if (cap > WSL_RING_MAX) {
            p->res->errors[WSL_E_SEND_BACKLOG]++;
            return WSL_ERROR;
        }

        ring = malloc(cap * sizeof(uint64_t));
        if (ring == NULL) {
            p->res->errors[WSL_E_SEND_BACKLOG]++;
            return WSL_ERROR;
        }

        for (i = 0; i < c->rcount; i++) {
            ring[i] = c->ring[(c->rhead + i) % c->rcap];
        }

        free(c->ring);
        c->ring = ring;
        c->rcap = cap;
        c->rhead = 0;
    }

    if (wsl_send_frame(p, c, p->conf->binary ? WSL_OP_BINARY : WSL_OP_TEXT,
                       p->payload, p->conf->msg_size)
        != WSL_OK)
    {
        return WSL_ERROR;
    }

    c->ring[(c->rhead + c->rcount) % c->rcap] = intended;
    c->rcount++;

    p->res->counters[WSL_C_MSGS_SENT]++;
    p->res->counters[WSL_C_BYTES_SENT] += p->conf->msg_size;

    return WSL_OK;
}


static void
wsl_send_close(wsl_proc_t *p, wsl_conn_t *c, const unsigned char *payload,
    size_t len, uint64_t now)
{
    unsigned char  code[2];

    if (payload == NULL) {
        code[0] = WSL_CLOSE_NORMAL >> 8;
        code[1] = WSL_CLOSE_NORMAL & 0xff;
        payload = code;
        len = 2;
    }

    c->close_sent = 1;
    c->state = WSL_ST_CLOSING;

    if (p->phase == WSL_PHASE_RUN) {
        c->deadline = now + (uint64_t) (p->conf->close_timeout * 1e6);

    } else {
        c->deadline = p->close_end;
    }

    (void) wsl_send_frame(p, c, WSL_OP_CLOSE, payload, len);
}


/* room for len more bytes at c->wbuf + c->wlen */

static int
wsl_append(wsl_conn_t *c, size_t len)
{
    size_t          cap;
    unsigned char  *buf;

    if (c->wpos == c->wlen) {
        c->wpos = 0;
        c->wlen = 0;
    }

    if (c->wlen - c->wpos + len > WSL_WBUF_MAX + WSL_MAX_MSG_SIZE) {
        return WSL_ERROR;
    }

    if (c->wlen + len <= c->wcap) {
        return WSL_OK;
    }

    if (c->wpos) {
        memmove(c->wbuf, c->wbuf + c->wpos, c->wlen - c->wpos);
        c->wlen -= c->wpos;
        c->wpos = 0;

        if (c->wlen + len <= c->wcap) {
            return WSL_OK;
        }
    }

    cap = c->wcap ? c->wcap : 512;

    while (cap < c->wlen + len) {
        cap *= 2;
    }

    buf = realloc(c->wbuf, cap);
    if (buf == NULL) {
        return WSL_ERROR;
    }

    c->wbuf = buf;
    c->wcap = cap;

    return WSL_OK;
}


/*
 * Sends what is queued.  A flooding session sends its frames after
 * the queue, and queued control frames wait for the end of the frame
 * in progress; after WSL_FLOOD_BURST bytes the session goes to the
 * ready list, so that one fast session cannot starve the others.
 */

static int
wsl_flush(wsl_proc_t *p, wsl_conn_t *c)
{
    size_t   burst;
    ssize_t  n;

    burst = 0;

    while (c->writable) {

        if (c->foff == 0 && c->wpos < c->wlen) {
            n = wsl_send(p, c, c->wbuf + c->wpos, c->wlen - c->wpos);
            if (n == -1) {
                return WSL_ERROR;
            }

            c->wpos += n;
            continue;
        }

        if (c->foff == 0 && !wsl_flooding(p, c)) {
            break;
        }

        if (burst >= WSL_FLOOD_BURST) {
            wsl_ready_push(p, c);
            break;
        }

        n = wsl_send(p, c, p->flood + c->foff, p->flood_len - c->foff);
        if (n == -1) {
            return WSL_ERROR;
        }

        c->foff += n;
        burst += n;

        if (c->foff == p->flood_len) {
            c->foff = 0;
            p->res->counters[WSL_C_MSGS_SENT]++;
            p->res->counters[WSL_C_BYTES_SENT] += p->conf->msg_size;
        }
    }

    if (c->wpos == c->wlen) {
        c->wpos = 0;
        c->wlen = 0;

        /* idle sessions keep no buffer; big buffers are not kept */

        if (p->conf->mode == WSL_MODE_IDLE
            || p->conf->mode == WSL_MODE_SUBSCRIBE
            || c->wcap > WSL_WBUF_KEEP)
        {
            free(c->wbuf);
            c->wbuf = NULL;
            c->wcap = 0;
        }
    }

    return WSL_OK;
}


/* one send(): the bytes sent, 0 when the socket is full, -1 on error */

static ssize_t
wsl_send(wsl_proc_t *p, wsl_conn_t *c, const unsigned char *buf,
    size_t len)
{
    ssize_t  n;

    for ( ;; ) {
        n = send(c->fd, buf, len, MSG_NOSIGNAL);

        if (n >= 0) {
            return n;
        }

        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->writable = 0;
            return 0;
        }

        if (errno != EINTR) {
            break;
        }
    }

    if (c->state == WSL_ST_HANDSHAKE) {
        wsl_fail_errno(p, c, errno, "send()", wsl_now());

    } else if (c->state == WSL_ST_OPEN) {
        wsl_drop(p, c, WSL_E_RESET, wsl_now());

    } else {
        p->res->errors[WSL_E_RESET]++;
        wsl_finish(p, c, 0, wsl_now());
    }

    return -1;
}


/* a flood session starts another frame while the run lasts */

static int
wsl_flooding(wsl_proc_t *p, wsl_conn_t *c)
{
    return p->conf->mode == WSL_MODE_FLOOD
           && c->state == WSL_ST_OPEN
           && p->phase == WSL_PHASE_RUN;
}


static void
wsl_ready_push(wsl_proc_t *p, wsl_conn_t *c)
{
    if (c->in_ready) {
        return;
    }

    c->in_ready = 1;
    c->ready_next = p->flood_ready;
    p->flood_ready = c;
}


/* the sessions that were still writable after their burst go on */

static void
wsl_ready_run(wsl_proc_t *p)
{
    wsl_conn_t  *c, *next;

    c = p->flood_ready;
    p->flood_ready = NULL;

    for ( /* void */ ; c; c = next) {
        next = c->ready_next;
        c->ready_next = NULL;
        c->in_ready = 0;

        if (c->fd != -1 && c->writable) {
            (void) wsl_flush(p, c);
        }
    }
}


/* a session that does not read saw the server close the connection */

static void
wsl_gone(wsl_proc_t *p, wsl_conn_t *c, uint64_t now)
{
    if (c->state == WSL_ST_OPEN) {
        wsl_drop(p, c, WSL_E_EOF, now);
        return;
    }

    /* closing: its close frame was answered or not, it cannot tell */

    wsl_finish(p, c, 0, now);
}


/*
 * Closes with SO_LINGER 0: the kernel sends a reset and drops what the
 * socket still holds, in both directions, instead of keeping unsent
 * data of a session that the server does not read.
 */

static void
wsl_reset(wsl_proc_t *p, wsl_conn_t *c)
{
    struct linger  l;

    l.l_onoff = 1;
    l.l_linger = 0;

    (void) setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));

    wsl_close_fd(c);

    p->open--;
    p->res->counters[WSL_C_RESET_AT_END]++;

    c->state = WSL_ST_DONE;
}


/* an attempt failed before the 101 */

static void
wsl_fail(wsl_proc_t *p, wsl_conn_t *c, int err, uint64_t now)
{
    wsl_close_fd(c);

    free(c->hs);
    c->hs = NULL;

    p->pending--;

    p->res->counters[WSL_C_FAILED]++;
    p->res->errors[err]++;

    if (!c->tried) {
        c->tried = 1;
        p->resolved++;
        wsl_check_ready(p, now);
    }

    if (p->conf->mode == WSL_MODE_CHURN && p->phase == WSL_PHASE_RUN) {
        wsl_queue_push(p, c, now + WSL_RETRY_US);
        return;
    }

    c->state = WSL_ST_DONE;
}


/* a failed system call: counted by kind, each errno told once */

static void
wsl_fail_errno(wsl_proc_t *p, wsl_conn_t *c, int err, const char *call,
    uint64_t now)
{
    if (err > 0 && err < 256 && !(p->errnos[err / 64] >> (err % 64) & 1)) {
        p->errnos[err / 64] |= (uint64_t) 1 << (err % 64);

        if (!p->conf->quiet) {
            fprintf(stderr, "ws-load: process %d: %s failed: %s "
                    "(reported once per process)\n", p->w->index, call,
                    strerror(err));
        }
    }

    wsl_fail(p, c, wsl_errno_kind(err), now);
}


/* an open session ended abnormally */

static void
wsl_drop(wsl_proc_t *p, wsl_conn_t *c, int err, uint64_t now)
{
    p->res->errors[err]++;

    if (p->phase == WSL_PHASE_RUN && c->state == WSL_ST_OPEN) {
        p->res->counters[WSL_C_DROPPED]++;
    }

    wsl_finish(p, c, 0, now);
}


/* an open session is over: close the socket, reconnect if churning */

static void
wsl_finish(wsl_proc_t *p, wsl_conn_t *c, int clean, uint64_t now)
{
    wsl_close_fd(c);

    p->open--;

    if (clean) {
        p->res->counters[WSL_C_CLOSED_CLEAN]++;
    }

    if (p->conf->mode == WSL_MODE_CHURN && p->phase == WSL_PHASE_RUN) {

        if (clean && c->echoed) {
            p->res->counters[WSL_C_CYCLES]++;
        }

        wsl_queue_push(p, c, clean ? now : now + WSL_RETRY_US);
        return;
    }

    c->state = WSL_ST_DONE;
}


static void
wsl_close_fd(wsl_conn_t *c)
{
    if (c->fd != -1) {
        close(c->fd);
        c->fd = -1;
    }

    c->writable = 0;
    c->deadline = 0;
    c->foff = 0;
    c->wpos = 0;
    c->wlen = 0;

    if (c->wcap > WSL_WBUF_KEEP) {
        free(c->wbuf);
        c->wbuf = NULL;
        c->wcap = 0;
    }
}


/* handshake and close deadlines */

static void
wsl_sweep(wsl_proc_t *p, uint64_t now)
{
    long         i;
    wsl_conn_t  *c;

    for (i = 0; i < p->n; i++) {
        c = &p->conns[i];

        if (c->fd == -1 || c->deadline == 0 || now < c->deadline) {
            continue;
        }

        switch (c->state) {

        case WSL_ST_CONNECTING:
        case WSL_ST_HANDSHAKE:
            wsl_fail(p, c, WSL_E_HS_TIMEOUT, now);
            break;

        case WSL_ST_CLOSING:
            p->res->errors[WSL_E_CLOSE_TIMEOUT]++;
            wsl_finish(p, c, 0, now);
            break;

        default:
            break;
        }
    }
}


/* every connection has been tried once: the ramp is over */

static void
wsl_check_ready(wsl_proc_t *p, uint64_t now)
{
    if (p->ready || p->resolved < p->n) {
        return;
    }

    p->ready = 1;
    p->res->ramp = (double) (now - p->start) / 1e6;

    wsl_progress(p, WSL_REC_READY);

    if (p->conf->mode == WSL_MODE_ECHO && p->phase == WSL_PHASE_RUN) {
        wsl_start_messaging(p, now);
    }

    if (p->conf->mode == WSL_MODE_FLOOD && p->phase == WSL_PHASE_RUN) {
        wsl_start_flood(p, now);
    }
}


static void
wsl_start_messaging(wsl_proc_t *p, uint64_t now)
{
    long         i;
    wsl_conn_t  *c;

    p->messaging = 1;
    p->msg_start = now;

    if (p->w->msg_rate > 0) {
        return;
    }

    /* closed loop: one message in flight per open connection */

    for (i = 0; i < p->n; i++) {
        c = &p->conns[i];

        if (c->state == WSL_ST_OPEN && c->rcount == 0) {
            (void) wsl_send_message(p, c, now);
        }
    }
}


/*
 * Flood sessions start sending once every session of the process has
 * been tried, so that the sends do not slow the handshakes down.
 */

static void
wsl_start_flood(wsl_proc_t *p, uint64_t now)
{
    long         i;
    wsl_conn_t  *c;

    p->messaging = 1;
    p->msg_start = now;

    for (i = 0; i < p->n; i++) {
        c = &p->conns[i];

        if (c->state == WSL_ST_OPEN) {
            (void) wsl_flush(p, c);
        }
    }
}


/*
 * Open loop: message k of this process is due at msg_start + k / rate,
 * on the next open connection in turn, and its latency is measured
 * from that due time, so a slow server cannot hide its delays by
 * slowing the generator down.  Returns when the next one is due.
 */

static uint64_t
wsl_open_loop(wsl_proc_t *p, uint64_t now)
{
    long         i;
    uint64_t     due;
    wsl_conn_t  *c;

    for ( ;; ) {
        due = p->msg_start + (uint64_t) ((double) p->msg_k * p->msg_interval);

        if (due > now) {
            return due;
        }

        c = NULL;

        for (i = 0; i < p->n; i++) {
            c = &p->conns[p->rr];
            p->rr = (p->rr + 1) % p->n;

            if (c->state == WSL_ST_OPEN) {
                break;
            }

            c = NULL;
        }

        if (c == NULL) {
            /* nothing open: the message waits, its due time kept */
            return now + 1000;
        }

        p->msg_k++;

        (void) wsl_send_message(p, c, due);
    }
}


/* the run is over: close every session cleanly, abandon the rest */

static void
wsl_begin_closing(wsl_proc_t *p, uint64_t now)
{
    long         i;
    wsl_conn_t  *c;

    p->phase = WSL_PHASE_CLOSING;
    p->close_end = now + (uint64_t) (p->conf->close_timeout * 1e6);

    if (p->messaging) {
        p->res->measure = (double) (now - p->msg_start) / 1e6
                          - p->conf->warmup;

        if (p->res->measure < 0) {
            p->res->measure = 0;
        }

    } else if (p->conf->mode == WSL_MODE_ECHO) {
        p->res->measure = 0;

    } else if ((p->conf->mode == WSL_MODE_IDLE
                || p->conf->mode == WSL_MODE_SUBSCRIBE)
               && p->ready)
    {
        p->res->measure = (double) (now - p->start) / 1e6 - p->res->ramp;

    } else {
        p->res->measure = (double) (now - p->start) / 1e6;
    }

    p->head = NULL;
    p->tail = NULL;

    for (i = 0; i < p->n; i++) {
        c = &p->conns[i];

        switch (c->state) {

        case WSL_ST_WAITING:
            c->state = WSL_ST_DONE;
            break;

        case WSL_ST_CONNECTING:
        case WSL_ST_HANDSHAKE:
            /* cut short by the end of the run: not a failure */
            wsl_close_fd(c);
            free(c->hs);
            c->hs = NULL;
            p->pending--;
            c->state = WSL_ST_DONE;
            break;

        case WSL_ST_OPEN:
            p->res->counters[WSL_C_OPEN_AT_END]++;
            p->res->counters[WSL_C_OUTSTANDING] += c->rcount;

            if (p->conf->reset_at_end) {
                wsl_reset(p, c);
                break;
            }

            wsl_send_close(p, c, NULL, 0, now);
            break;

        case WSL_ST_CLOSING:
            if (p->conf->reset_at_end) {
                wsl_reset(p, c);
                break;
            }

            c->deadline = p->close_end;
            break;

        default:
            break;
        }
    }

    if (!p->conf->quiet && p->w->index == 0) {
        fprintf(stderr, "ws-load: run over, closing sessions\n");
    }
}


static void
wsl_progress(wsl_proc_t *p, uint32_t type)
{
    wsl_progress_t  pr;

    memcpy(pr.counters, p->res->counters, sizeof(pr.counters));
    memcpy(pr.errors, p->res->errors, sizeof(pr.errors));

    /* the parent reads "open" from the OPEN_AT_END slot while running */

    pr.counters[WSL_C_OPEN_AT_END] = (uint64_t) p->open;

    (void) wsl_write_record(p->w->pipe_fd, type, &pr, sizeof(pr));
}


static void
wsl_arm(wsl_proc_t *p, uint64_t at)
{
    struct itimerspec  its;

    if (p->armed == at) {
        return;
    }

    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = at / 1000000;
    its.it_value.tv_nsec = (at % 1000000) * 1000;

    if (timerfd_settime(p->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0) {
        p->armed = at;
    }
}


/* xorshift64*: mask keys need not be cryptographic, only varied */

static uint64_t
wsl_random(wsl_proc_t *p)
{
    p->rng ^= p->rng >> 12;
    p->rng ^= p->rng << 25;
    p->rng ^= p->rng >> 27;

    return p->rng * 0x2545f4914f6cdd1dULL;
}


static int
wsl_errno_kind(int err)
{
    switch (err) {

    case EADDRNOTAVAIL:
    case EADDRINUSE:
        return WSL_E_ADDR;

    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        return WSL_E_SOCKET;

    case ECONNRESET:
    case EPIPE:
        return WSL_E_RESET;

    case ETIMEDOUT:
        return WSL_E_HS_TIMEOUT;

    default:
        return WSL_E_CONNECT;
    }
}


static void
wsl_on_signal(int signo)
{
    (void) signo;

    wsl_stop = 1;
}
