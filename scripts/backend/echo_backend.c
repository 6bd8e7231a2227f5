
/*
 * Copyright (C) ngx_ws_gateway_module authors
 */


/*
 * echo-backend: a backend of the link protocol, version 1
 * (docs/protocol.md), that echoes every MESSAGE back to its session as a
 * SEND with the same flags and payload.
 *
 *   echo-backend HOST:PORT
 *
 * One process, one epoll loop (level-triggered), non-blocking sockets,
 * any number of links.  The records one read brings are answered into one
 * output buffer that is written once; a link whose output is over
 * EB_OUT_HIGH is not read until it is below EB_OUT_LOW.
 */


#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>


/* the largest length we accept: 1 MiB of payload and 512 of headers */
#define EB_MAX_RECORD          (1024 * 1024 + 512)

#define EB_IN_SIZE             (64 * 1024)
#define EB_OUT_SIZE            (64 * 1024)
#define EB_OUT_KEEP            (16 * EB_OUT_SIZE)
#define EB_OUT_HIGH            (4 * 1024 * 1024)
#define EB_OUT_LOW             (1024 * 1024)

/* reads per readiness event before other links get their turn */
#define EB_READS_PER_EVENT     8

/* how long a link that was sent ERROR is drained before it is closed */
#define EB_LINGER_MS           2000

#define EB_EVENTS              256

#define EB_HELLO               0x01
#define EB_PING                0x02
#define EB_PONG                0x03
#define EB_ERROR               0x04
#define EB_OPEN                0x10
#define EB_MESSAGE             0x11
#define EB_CLOSE_EVENT         0x12
#define EB_GONE                0x13
#define EB_SEND                0x20
#define EB_CLOSE               0x21
#define EB_ACCEPT              0x22

#define EB_FLAG_BINARY         0x01
#define EB_FLAG_REANNOUNCE     0x01
#define EB_FLAG_APPROVE        0x02

#define EB_ERR_MALFORMED       1
#define EB_ERR_VERSION         2
#define EB_ERR_TOO_LARGE       3
#define EB_ERR_UNKNOWN_TYPE    4
#define EB_ERR_NOT_NOW         5
#define EB_ERR_GOING_AWAY      6

#define eb_parse_uint16(p)     ((uint16_t) ((p)[0] << 8 | (p)[1]))
#define eb_parse_uint32(p)                                                    \
    ((uint32_t) (p)[0] << 24 | (uint32_t) (p)[1] << 16                        \
     | (uint32_t) (p)[2] << 8 | (uint32_t) (p)[3])

#define eb_write_uint16(p, s)                                                 \
    ((p)[0] = (u_char) ((s) >> 8), (p)[1] = (u_char) (s), (p) + 2)
#define eb_write_uint32(p, s)                                                 \
    ((p)[0] = (u_char) ((s) >> 24), (p)[1] = (u_char) ((s) >> 16),            \
     (p)[2] = (u_char) ((s) >> 8), (p)[3] = (u_char) (s), (p) + 4)


typedef struct eb_link_s  eb_link_t;

struct eb_link_s {
    eb_link_t          *prev;
    eb_link_t          *next;

    u_char             *in;
    size_t              in_size;
    size_t              in_len;

    u_char             *out;
    size_t              out_size;
    size_t              out_pos;
    size_t              out_len;

    uint64_t            opens;
    uint64_t            messages;
    uint64_t            linger_until;    /* ms, while closing */
    uint32_t            peer_max_record;
    unsigned long       id;
    int                 fd;
    uint32_t            events;          /* in the epoll set */

    unsigned            hello:1;         /* both HELLOs done */
    unsigned            closing:1;       /* ERROR queued, no more reading */
    unsigned            shut:1;          /* write side shut down */
};


static int eb_listen(const char *addr);
static void eb_accept(void);
static void eb_link_event(eb_link_t *l, uint32_t events);
static void eb_link_read(eb_link_t *l);
static int eb_link_parse(eb_link_t *l);
static int eb_link_header(eb_link_t *l, u_char *p, uint32_t len);
static int eb_link_record(eb_link_t *l, u_char *p, uint32_t len);
static int eb_link_hello(eb_link_t *l, u_char *p, uint32_t len);
static int eb_check_fields(u_char *p, u_char *last, int open);
static void eb_link_error_in(eb_link_t *l, u_char *p, uint32_t len);
static u_char *eb_link_reserve(eb_link_t *l, size_t n);
static void eb_link_fail(eb_link_t *l, unsigned code, const char *text);
static int eb_link_write(eb_link_t *l);
static int eb_link_update(eb_link_t *l);
static void eb_link_linger(eb_link_t *l);
static void eb_link_close(eb_link_t *l);
static void eb_linger_timers(void);
static void eb_shutdown(void);
static uint64_t eb_now_ms(void);
static void eb_on_signal(int signo);


static int                    eb_epfd = -1;
static int                    eb_lfd = -1;
static int                    eb_listener_paused;
static uint64_t               eb_listener_resume;
static volatile sig_atomic_t  eb_quit;
static eb_link_t              eb_links;          /* list sentinel */
static unsigned long          eb_link_ids;
static unsigned long          eb_lingering;
static u_char                 eb_discard[16384];

/* the listener's epoll data: any address that is not a link */
static int                    eb_listener_tag;


int
main(int argc, char **argv)
{
    int                 i, n, timeout;
    uint64_t            now;
    sigset_t            block, orig;
    eb_link_t          *l;
    struct sigaction    sa;
    struct epoll_event  ev[EB_EVENTS];

    if (argc != 2) {
        fprintf(stderr, "usage: echo-backend HOST:PORT\n");
        return 2;
    }

    eb_links.next = &eb_links;
    eb_links.prev = &eb_links;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    sa.sa_handler = eb_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    /* the signals are taken only inside epoll_pwait(): no lost wakeup */

    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &orig);
    sigdelset(&orig, SIGTERM);
    sigdelset(&orig, SIGINT);

    eb_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (eb_epfd == -1) {
        fprintf(stderr, "echo-backend: epoll_create1() failed: %s\n",
                strerror(errno));
        return 1;
    }

    if (eb_listen(argv[1]) != 0) {
        return 1;
    }

    while (!eb_quit) {

        timeout = (eb_lingering || eb_listener_paused) ? 100 : -1;

        n = epoll_pwait(eb_epfd, ev, EB_EVENTS, timeout, &orig);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            fprintf(stderr, "echo-backend: epoll_pwait() failed: %s\n",
                    strerror(errno));
            return 1;
        }

        for (i = 0; i < n; i++) {
            if (ev[i].data.ptr == &eb_listener_tag) {
                eb_accept();
                continue;
            }

            l = ev[i].data.ptr;
            eb_link_event(l, ev[i].events);
        }

        if (eb_lingering) {
            eb_linger_timers();
        }

        if (eb_listener_paused) {
            now = eb_now_ms();

            if (now >= eb_listener_resume) {
                struct epoll_event  lev;

                lev.events = EPOLLIN;
                lev.data.ptr = &eb_listener_tag;

                if (epoll_ctl(eb_epfd, EPOLL_CTL_ADD, eb_lfd, &lev) == 0) {
                    eb_listener_paused = 0;
                }
            }
        }
    }

    eb_shutdown();

    return 0;
}


static int
eb_listen(const char *addr)
{
    int                      fd, rc, one;
    char                     host[256], port[16], shown[300];
    size_t                   hlen;
    const char              *colon, *h;
    socklen_t                slen;
    struct addrinfo          hints, *res;
    struct epoll_event       ev;
    struct sockaddr_storage  ss;

    colon = strrchr(addr, ':');
    if (colon == NULL || colon[1] == '\0' || strlen(colon + 1) >= 16) {
        fprintf(stderr, "echo-backend: \"%s\" is not HOST:PORT\n", addr);
        return -1;
    }

    h = addr;
    hlen = colon - addr;

    /* [::1]:port */
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }

    if (hlen == 0 || hlen >= sizeof(host)) {
        fprintf(stderr, "echo-backend: \"%s\" is not HOST:PORT\n", addr);
        return -1;
    }

    memcpy(host, h, hlen);
    host[hlen] = '\0';
    strcpy(port, colon + 1);

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;

    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "echo-backend: %s: %s\n", addr, gai_strerror(rc));
        return -1;
    }

    fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK
                | SOCK_CLOEXEC, res->ai_protocol);
    if (fd == -1) {
        fprintf(stderr, "echo-backend: socket() failed: %s\n",
                strerror(errno));
        freeaddrinfo(res);
        return -1;
    }

    one = 1;
    (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));

    if (bind(fd, res->ai_addr, res->ai_addrlen) == -1) {
        fprintf(stderr, "echo-backend: bind() to %s failed: %s\n", addr,
                strerror(errno));
        freeaddrinfo(res);
        close(fd);
        return -1;
    }

    freeaddrinfo(res);

    if (listen(fd, 511) == -1) {
        fprintf(stderr, "echo-backend: listen() failed: %s\n",
                strerror(errno));
        close(fd);
        return -1;
    }

    ev.events = EPOLLIN;
    ev.data.ptr = &eb_listener_tag;

    if (epoll_ctl(eb_epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
        fprintf(stderr, "echo-backend: epoll_ctl() failed: %s\n",
                strerror(errno));
        close(fd);
        return -1;
    }

    eb_lfd = fd;

    /* with port 0, show the port the kernel chose */

    snprintf(shown, sizeof(shown), "%s", addr);

    if (strcmp(port, "0") == 0) {
        slen = sizeof(ss);

        if (getsockname(fd, (struct sockaddr *) &ss, &slen) == 0) {
            snprintf(shown, sizeof(shown), "%.*s:%u", (int) (colon - addr),
                     addr, ss.ss_family == AF_INET6
                     ? ntohs(((struct sockaddr_in6 *) &ss)->sin6_port)
                     : ntohs(((struct sockaddr_in *) &ss)->sin_port));
        }
    }

    printf("echo-backend: listening on %s\n", shown);
    fflush(stdout);

    return 0;
}


static void
eb_accept(void)
{
    int                 fd, one;
    eb_link_t          *l;
    struct epoll_event  ev;

    for ( ;; ) {
        fd = accept4(eb_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
                || errno == ECONNABORTED)
            {
                return;
            }

            fprintf(stderr, "echo-backend: accept4() failed: %s\n",
                    strerror(errno));

            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS
                || errno == ENOMEM)
            {
                /* no accepting for a while, or the loop would spin */
                (void) epoll_ctl(eb_epfd, EPOLL_CTL_DEL, eb_lfd, NULL);
                eb_listener_paused = 1;
                eb_listener_resume = eb_now_ms() + 100;
            }

            return;
        }

        one = 1;
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

        l = calloc(1, sizeof(eb_link_t));
        if (l == NULL) {
            fprintf(stderr, "echo-backend: out of memory\n");
            close(fd);
            return;
        }

        l->fd = fd;
        l->id = ++eb_link_ids;
        l->peer_max_record = EB_MAX_RECORD;
        l->events = EPOLLIN;

        ev.events = EPOLLIN;
        ev.data.ptr = l;

        if (epoll_ctl(eb_epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
            fprintf(stderr, "echo-backend: epoll_ctl() failed: %s\n",
                    strerror(errno));
            close(fd);
            free(l);
            return;
        }

        l->next = eb_links.next;
        l->prev = &eb_links;
        eb_links.next->prev = l;
        eb_links.next = l;
    }
}


static void
eb_link_event(eb_link_t *l, uint32_t events)
{
    if (l->closing) {
        if (l->out_pos < l->out_len
            && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        {
            eb_link_write(l);
            return;
        }

        if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            eb_link_linger(l);
        }

        return;
    }

    if ((events & EPOLLOUT) && eb_link_write(l) != 0) {
        return;
    }

    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        eb_link_read(l);
    }
}


static void
eb_link_read(eb_link_t *l)
{
    int       i;
    size_t    room;
    ssize_t   n;
    u_char   *p;

    for (i = 0; i < EB_READS_PER_EVENT; i++) {

        if (l->in == NULL) {
            l->in = malloc(EB_IN_SIZE);
            if (l->in == NULL) {
                fprintf(stderr, "echo-backend: link %lu: out of memory\n",
                        l->id);
                eb_link_close(l);
                return;
            }

            l->in_size = EB_IN_SIZE;
        }

        room = l->in_size - l->in_len;

        n = read(l->fd, l->in + l->in_len, room);

        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }

            if (errno == EINTR) {
                continue;
            }

            fprintf(stderr, "echo-backend: link %lu: read() failed: %s\n",
                    l->id, strerror(errno));
            eb_link_close(l);
            return;
        }

        if (n == 0) {
            if (l->in_len) {
                fprintf(stderr, "echo-backend: link %lu: closed in the "
                        "middle of a record\n", l->id);
            }

            eb_link_close(l);
            return;
        }

        l->in_len += n;

        if (eb_link_parse(l) != 0) {
            /* closed, or ERROR queued */
            return;
        }

        if ((size_t) n < room
            || l->out_len - l->out_pos >= EB_OUT_HIGH)
        {
            break;
        }
    }

    /* a buffer grown for a large record goes when it is empty */

    if (l->in_len == 0 && l->in_size > EB_IN_SIZE) {
        p = realloc(l->in, EB_IN_SIZE);
        if (p != NULL) {
            l->in = p;
            l->in_size = EB_IN_SIZE;
        }
    }

    if (l->out_pos < l->out_len && !(l->events & EPOLLOUT)) {
        (void) eb_link_write(l);
        return;
    }

    (void) eb_link_update(l);
}


/*
 * Takes every whole record of l->in; keeps the rest at the start of the
 * buffer, grown to hold the record it begins.  Returns 0, or -1 when the
 * link was closed or failed.
 */

static int
eb_link_parse(eb_link_t *l)
{
    size_t     avail, need;
    u_char    *p, *last, *np;
    uint32_t   len;

    p = l->in;
    last = l->in + l->in_len;

    for ( ;; ) {
        avail = last - p;

        if (avail < 4) {
            break;
        }

        len = eb_parse_uint32(p);

        if (len < 2) {
            eb_link_fail(l, EB_ERR_MALFORMED, "record length below 2");
            return -1;
        }

        if (len > EB_MAX_RECORD) {
            eb_link_fail(l, EB_ERR_TOO_LARGE, "record too large");
            return -1;
        }

        /* type and flags are checked as soon as they are here */

        if (avail < 6) {
            break;
        }

        if (eb_link_header(l, p, len) != 0) {
            return -1;
        }

        if (avail < 4 + (size_t) len) {
            break;
        }

        if (eb_link_record(l, p, len) != 0) {
            return -1;
        }

        p += 4 + (size_t) len;
    }

    avail = last - p;

    if (avail == 0) {
        l->in_len = 0;
        return 0;
    }

    if (p != l->in) {
        memmove(l->in, p, avail);
    }

    l->in_len = avail;

    if (avail >= 4) {
        need = 4 + (size_t) eb_parse_uint32(l->in);

        if (need > l->in_size) {
            np = realloc(l->in, need);
            if (np == NULL) {
                fprintf(stderr, "echo-backend: link %lu: out of memory\n",
                        l->id);
                eb_link_close(l);
                return -1;
            }

            l->in = np;
            l->in_size = need;
        }
    }

    return 0;
}


/* checks what the first 6 bytes tell: type, flags, length bounds */

static int
eb_link_header(eb_link_t *l, u_char *p, uint32_t len)
{
    int     exact;
    u_char  type, flags, allowed;
    size_t  min;

    type = p[4];
    flags = p[5];
    exact = 0;
    allowed = 0;

    switch (type) {

    case EB_HELLO:
        min = 12;
        break;

    case EB_PING:
    case EB_PONG:
        min = 10;
        exact = 1;
        break;

    case EB_ERROR:
        min = 4;
        break;

    case EB_OPEN:
        min = 10;
        allowed = EB_FLAG_REANNOUNCE | EB_FLAG_APPROVE;
        break;

    case EB_MESSAGE:
        min = 10;
        allowed = EB_FLAG_BINARY;
        break;

    case EB_CLOSE_EVENT:
        min = 13;
        break;

    case EB_GONE:
        min = 11;
        exact = 1;
        break;

    default:
        if (type >= 0x40 && type <= 0x4f) {
            /* flow control: reserved, and we did not ask for FLOW */
            eb_link_fail(l, EB_ERR_NOT_NOW, "flow control not negotiated");

        } else {
            /* unknown, or a command of the backend's direction */
            eb_link_fail(l, EB_ERR_UNKNOWN_TYPE, "unknown record type");
        }

        return -1;
    }

    if (!l->hello && type != EB_HELLO) {
        eb_link_fail(l, EB_ERR_NOT_NOW, "record before HELLO");
        return -1;
    }

    if (l->hello && type == EB_HELLO) {
        eb_link_fail(l, EB_ERR_NOT_NOW, "second HELLO");
        return -1;
    }

    if (flags & ~allowed) {
        eb_link_fail(l, EB_ERR_MALFORMED, "undefined flag bits");
        return -1;
    }

    if (len < min || (exact && len != min)) {
        eb_link_fail(l, EB_ERR_MALFORMED, "bad length for the type");
        return -1;
    }

    /* a CLOSE reason is at most 123 bytes */

    if (type == EB_CLOSE_EVENT && len > 13 + 123) {
        eb_link_fail(l, EB_ERR_MALFORMED, "CLOSE reason over 123 bytes");
        return -1;
    }

    return 0;
}


/* one whole record, its header already checked */

static int
eb_link_record(eb_link_t *l, u_char *p, uint32_t len)
{
    u_char  *o;

    switch (p[4]) {

    case EB_MESSAGE:

        if (eb_parse_uint32(p + 6) == 0 && eb_parse_uint32(p + 10) == 0) {
            eb_link_fail(l, EB_ERR_MALFORMED, "session id 0");
            return -1;
        }

        l->messages++;

        if (len > l->peer_max_record) {
            /* cannot be echoed: the gateway would refuse it */

            o = eb_link_reserve(l, 4 + 27);
            if (o == NULL) {
                return -1;
            }

            o = eb_write_uint32(o, 27);
            *o++ = EB_CLOSE;
            *o++ = 0;
            memcpy(o, p + 6, 8);
            o += 8;
            o = eb_write_uint16(o, 1009);
            memcpy(o, "message too big", 15);
            l->out_len += 4 + 27;

            return 0;
        }

        /* the SEND is the MESSAGE with the other type */

        o = eb_link_reserve(l, 4 + (size_t) len);
        if (o == NULL) {
            return -1;
        }

        memcpy(o, p, 4 + (size_t) len);
        o[4] = EB_SEND;
        l->out_len += 4 + (size_t) len;

        return 0;

    case EB_PING:

        o = eb_link_reserve(l, 14);
        if (o == NULL) {
            return -1;
        }

        memcpy(o, p, 14);
        o[4] = EB_PONG;
        l->out_len += 14;

        return 0;

    case EB_PONG:
    case EB_GONE:
        return 0;

    case EB_OPEN:

        if (eb_parse_uint32(p + 6) == 0 && eb_parse_uint32(p + 10) == 0) {
            eb_link_fail(l, EB_ERR_MALFORMED, "session id 0");
            return -1;
        }

        if (eb_check_fields(p + 14, p + 4 + len, 1) != 0) {
            eb_link_fail(l, EB_ERR_MALFORMED, "bad OPEN field");
            return -1;
        }

        l->opens++;

        if (p[5] & EB_FLAG_APPROVE) {
            o = eb_link_reserve(l, 14);
            if (o == NULL) {
                return -1;
            }

            o = eb_write_uint32(o, 10);
            *o++ = EB_ACCEPT;
            *o++ = 0;
            memcpy(o, p + 6, 8);
            l->out_len += 14;
        }

        return 0;

    case EB_CLOSE_EVENT:

        if (p[16] > 2) {
            eb_link_fail(l, EB_ERR_MALFORMED, "bad CLOSE \"by\"");
            return -1;
        }

        return 0;

    case EB_ERROR:
        eb_link_error_in(l, p, len);
        return -1;

    default: /* EB_HELLO */
        return eb_link_hello(l, p, len);
    }
}


static int
eb_link_hello(eb_link_t *l, u_char *p, uint32_t len)
{
    u_char    *o;
    uint16_t   version;
    uint32_t   max;

    version = eb_parse_uint16(p + 6);
    max = eb_parse_uint32(p + 12);

    if (eb_check_fields(p + 16, p + 4 + len, 0) != 0) {
        eb_link_fail(l, EB_ERR_MALFORMED, "bad HELLO field");
        return -1;
    }

    if (version < 1) {
        eb_link_fail(l, EB_ERR_VERSION, "version 1 only");
        return -1;
    }

    if (max < 2) {
        eb_link_fail(l, EB_ERR_MALFORMED, "max_record below 2");
        return -1;
    }

    l->peer_max_record = max;

    /* ours: version 1, no capabilities, max_record, NAME "echo-backend" */

    o = eb_link_reserve(l, 4 + 12 + 3 + 12);
    if (o == NULL) {
        return -1;
    }

    o = eb_write_uint32(o, 12 + 3 + 12);
    *o++ = EB_HELLO;
    *o++ = 0;
    o = eb_write_uint16(o, 1);
    o = eb_write_uint32(o, 0);
    o = eb_write_uint32(o, EB_MAX_RECORD);
    *o++ = 0x01;
    o = eb_write_uint16(o, 12);
    memcpy(o, "echo-backend", 12);

    l->out_len += 4 + 12 + 3 + 12;
    l->hello = 1;

    return 0;
}


/* fields run to the end of the record; a PARAM holds its name length */

static int
eb_check_fields(u_char *p, u_char *last, int open)
{
    size_t  n;

    while (p < last) {
        if (last - p < 3) {
            return -1;
        }

        n = eb_parse_uint16(p + 1);

        if ((size_t) (last - p - 3) < n) {
            return -1;
        }

        if (open && p[0] == 0x13 && (n == 0 || p[3] > n - 1)) {
            return -1;
        }

        p += 3 + n;
    }

    return 0;
}


static void
eb_link_error_in(eb_link_t *l, u_char *p, uint32_t len)
{
    char    text[1025];
    size_t  i, n;

    n = len - 4;
    if (n > 1024) {
        n = 1024;
    }

    for (i = 0; i < n; i++) {
        text[i] = (p[8 + i] >= 0x20 && p[8 + i] < 0x7f) ? p[8 + i] : '?';
    }

    text[n] = '\0';

    fprintf(stderr, "echo-backend: link %lu: gateway sent ERROR %u: %s\n",
            l->id, (unsigned) eb_parse_uint16(p + 6), text);

    eb_link_close(l);
}


/* room for n more bytes at l->out + l->out_len; NULL: the link is closed */

static u_char *
eb_link_reserve(eb_link_t *l, size_t n)
{
    size_t   size, pending;
    u_char  *p;

    if (l->out_len + n <= l->out_size) {
        return l->out + l->out_len;
    }

    pending = l->out_len - l->out_pos;

    if (l->out_pos) {
        memmove(l->out, l->out + l->out_pos, pending);
        l->out_pos = 0;
        l->out_len = pending;

        if (pending + n <= l->out_size) {
            return l->out + l->out_len;
        }
    }

    size = l->out_size ? l->out_size : EB_OUT_SIZE;

    while (size < pending + n) {
        size *= 2;
    }

    p = realloc(l->out, size);
    if (p == NULL) {
        fprintf(stderr, "echo-backend: link %lu: out of memory\n", l->id);
        eb_link_close(l);
        return NULL;
    }

    l->out = p;
    l->out_size = size;

    return l->out + l->out_len;
}


/*
 * A bad record: ERROR after what was already answered, then the link is
 * written out, shut down and drained until the gateway closes it.
 */

static void
eb_link_fail(eb_link_t *l, unsigned code, const char *text)
{
    size_t   n;
    u_char  *o;

    fprintf(stderr, "echo-backend: link %lu: ERROR %u: %s\n", l->id, code,
            text);

    n = strlen(text);

    o = eb_link_reserve(l, 8 + n);
    if (o == NULL) {
        return;
    }

    o = eb_write_uint32(o, 4 + n);
    *o++ = EB_ERROR;
    *o++ = 0;
    o = eb_write_uint16(o, code);
    memcpy(o, text, n);
    l->out_len += 8 + n;

    l->closing = 1;
    l->in_len = 0;
    l->linger_until = eb_now_ms() + EB_LINGER_MS;
    eb_lingering++;

    (void) eb_link_write(l);
}


/* returns -1 when the link was closed (and freed) */

static int
eb_link_write(eb_link_t *l)
{
    u_char   *p;
    ssize_t   n;

    while (l->out_pos < l->out_len) {
        n = send(l->fd, l->out + l->out_pos, l->out_len - l->out_pos,
                 MSG_NOSIGNAL);

        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }

            if (errno == EINTR) {
                continue;
            }

            if (errno != EPIPE && errno != ECONNRESET) {
                fprintf(stderr, "echo-backend: link %lu: send() failed: "
                        "%s\n", l->id, strerror(errno));
            }

            eb_link_close(l);
            return -1;
        }

        l->out_pos += n;
    }

    if (l->out_pos == l->out_len) {
        l->out_pos = 0;
        l->out_len = 0;

        /*
         * a buffer a burst grew is kept up to EB_OUT_KEEP: shrinking it
         * after every write cost a realloc() per batch at 4 KB messages
         */

        if (l->out_size > EB_OUT_KEEP) {
            p = realloc(l->out, EB_OUT_SIZE);
            if (p != NULL) {
                l->out = p;
                l->out_size = EB_OUT_SIZE;
            }
        }

        if (l->closing && !l->shut) {
            (void) shutdown(l->fd, SHUT_WR);
            l->shut = 1;
        }
    }

    return eb_link_update(l);
}


/*
 * The epoll interest that follows from the state of the link; returns -1
 * when the link was closed (and freed).
 */

static int
eb_link_update(eb_link_t *l)
{
    size_t              pending;
    uint32_t            want;
    struct epoll_event  ev;

    pending = l->out_len - l->out_pos;
    want = 0;

    if (pending) {
        want |= EPOLLOUT;
    }

    if (l->closing) {
        if (!pending) {
            want |= EPOLLIN;
        }

    } else if (pending < EB_OUT_HIGH
               && ((l->events & EPOLLIN) || pending < EB_OUT_LOW))
    {
        want |= EPOLLIN;
    }

    if (want == l->events) {
        return 0;
    }

    ev.events = want;
    ev.data.ptr = l;

    if (epoll_ctl(eb_epfd, EPOLL_CTL_MOD, l->fd, &ev) == -1) {
        fprintf(stderr, "echo-backend: link %lu: epoll_ctl() failed: %s\n",
                l->id, strerror(errno));
        eb_link_close(l);
        return -1;
    }

    l->events = want;

    return 0;
}


/* after ERROR: read and drop until the gateway closes, or the deadline */

static void
eb_link_linger(eb_link_t *l)
{
    ssize_t  n;

    for ( ;; ) {
        n = read(l->fd, eb_discard, sizeof(eb_discard));

        if (n > 0) {
            continue;
        }

        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }

        if (n == -1 && errno == EINTR) {
            continue;
        }

        eb_link_close(l);
        return;
    }
}


static void
eb_link_close(eb_link_t *l)
{
    if (l->fd == -1) {
        return;
    }

    if (l->closing) {
        eb_lingering--;
    }

    close(l->fd);
    l->fd = -1;

    l->prev->next = l->next;
    l->next->prev = l->prev;

    free(l->in);
    free(l->out);

    /*
     * freed at once: epoll reports an fd at most once per epoll_pwait(),
     * and no caller touches a link after a call that may have closed it
     */

    free(l);
}


static void
eb_linger_timers(void)
{
    uint64_t    now;
    eb_link_t  *l, *next;

    now = eb_now_ms();

    for (l = eb_links.next; l != &eb_links; l = next) {
        next = l->next;

        if (l->closing && now >= l->linger_until) {
            eb_link_close(l);
        }
    }
}


/* SIGTERM, SIGINT: ERROR 6 to every link, as far as it can be written */

static void
eb_shutdown(void)
{
    u_char      rec[4 + 4 + 13], *o;
    eb_link_t  *l, *next;

    o = eb_write_uint32(rec, 4 + 13);
    *o++ = EB_ERROR;
    *o++ = 0;
    o = eb_write_uint16(o, EB_ERR_GOING_AWAY);
    memcpy(o, "shutting down", 13);

    for (l = eb_links.next; l != &eb_links; l = next) {
        next = l->next;

        if (l->hello && !l->closing && l->out_pos == l->out_len) {
            (void) send(l->fd, rec, sizeof(rec), MSG_NOSIGNAL);
        }

        eb_link_close(l);
    }

    close(eb_lfd);
    close(eb_epfd);
}


static uint64_t
eb_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
eb_on_signal(int signo)
{
    (void) signo;

    eb_quit = 1;
}
