
/*
 * Copyright (C) ngx_ws_gateway_module authors
 */


/*
 * ws-fanout-floor: the floor of fanout-bench.sh.  The least a user-space
 * WebSocket server can do to fan one message out: one write() per
 * subscriber, in a tight loop, the frame built beforehand.  It serves the
 * same `ws-load subscribe` clients as the gateway, on the same CPUs, so
 * the gateway's fan-out time can be read as a multiple of this one.
 *
 *   ws-fanout-floor --listen 127.0.0.1:PORT --control FIFO [--procs N]
 *       [--size 64] [--max-time 900]
 *
 * N worker processes (default 1), each with its own SO_REUSEPORT
 * listening socket on PORT and one level-triggered epoll loop over
 * nonblocking sockets: each accepts, answers the upgrade request with a
 * 101 (or a 400 and a close), then holds the session, reading and
 * discarding what the client sends (a close frame is answered with one,
 * then the connection is closed).
 *
 * The parent reads commands from the control FIFO, one a line, and
 * passes them to the workers over pipes:
 *
 *   publish SEQ [OFFSET_MS]  at the next whole second of the wall clock
 *                            plus OFFSET_MS (without it: 20 ms from
 *                            now), every worker writes one unmasked text
 *                            frame of --size payload bytes, "fanout SEQ
 *                            T0 xxx...", to each of its open sessions,
 *                            one write() each.  T0 is that instant in
 *                            CLOCK_MONOTONIC microseconds, the same in
 *                            every worker: the parent maps the wall clock
 *                            instant to CLOCK_MONOTONIC.  Once every
 *                            worker reported, prints "published seq=SEQ
 *                            t0_us=T0 realtime=... workers=N links=N
 *                            write_us=... sessions=... bytes=... short=K
 *                            errors=E late_us=L" (write_us: the longest
 *                            worker's write loop; short: writes that
 *                            took less than the frame, the session is
 *                            then shut down; errors: failed writes;
 *                            late_us: the latest loop start after T0)
 *   status                   prints "status sessions=TOTAL handshaking=H
 *                            per_worker=pid:n,..."
 *   quit                     every process exits
 *
 * Prints "fanout-floor: listening on HOST:PORT" once every worker
 * listens.  Every process exits by itself after --max-time seconds, and
 * the workers when the parent dies (PR_SET_PDEATHSIG).  RLIMIT_NOFILE is
 * raised to its hard limit: one worker holds at most that many sessions.
 */


#include "ws_load.h"
#include "ws_load_frame.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>


#define WFF_MAX_PROCS          64
#define WFF_MAX_SIZE           (1024 * 1024)
#define WFF_BACKLOG            4096
#define WFF_EVENTS             512
#define WFF_READ_BUF           16384
#define WFF_CTL_BUF            4096

/* publish without an offset: this far ahead, for every worker to get it */
#define WFF_SOON_US            20000

/* the workers sleep in epoll until this close to T0, then in nanosleep */
#define WFF_NAP_US             2000

/* ... until this close, then spin (yielding) to the instant */
#define WFF_SPIN_US            200

/* the workers outlive --max-time by this much: the parent ends first */
#define WFF_WORKER_SLACK_US    2000000

/* accept() out of files: the listening socket rests this long */
#define WFF_ACCEPT_REST_US     100000

#define WFF_FREE               0
#define WFF_HANDSHAKE          1
#define WFF_OPEN               2

/* parent -> worker */
#define WFF_CMD_PUBLISH        1
#define WFF_CMD_STATUS         2
#define WFF_CMD_QUIT           3

/* worker -> parent */
#define WFF_REP_LISTENING      1
#define WFF_REP_PUBLISHED      2
#define WFF_REP_STATUS         3

#define WFF_RESPONSE_101                                                      \
    "HTTP/1.1 101 Switching Protocols\r\n"                                    \
    "Upgrade: websocket\r\n"                                                  \
    "Connection: Upgrade\r\n"                                                 \
    "Sec-WebSocket-Accept: "

#define WFF_RESPONSE_400                                                      \
    "HTTP/1.1 400 Bad Request\r\n"                                            \
    "Content-Length: 0\r\n"                                                   \
    "Connection: close\r\n\r\n"


typedef struct {
    uint32_t            type;
    uint32_t            pad;
    uint64_t            seq;
    uint64_t            t0;               /* CLOCK_MONOTONIC us */
} wff_cmd_t;


typedef struct {
    uint32_t            type;
    int32_t             pid;
    uint64_t            seq;
    uint64_t            sessions;         /* written to, or open */
    uint64_t            handshaking;
    uint64_t            bytes;
    uint64_t            shorts;
    uint64_t            errors;
    uint64_t            loop_us;
    uint64_t            late_us;
} wff_report_t;


/* one connection of a worker, indexed by its fd */

typedef struct {
    unsigned            state:2;
    unsigned            opcode:4;         /* of the client frame read */
    unsigned            hdr_len:4;        /* its header bytes so far */
    unsigned            hdr_need:4;       /* its header's length */
    uint32_t            index;            /* in the open list */
    uint64_t            left;             /* its payload bytes to skip */
    char               *req;              /* a partial request, or NULL */
    size_t              req_len;
    unsigned char       hdr[WSL_FRAME_HEADER_MAX];
} wff_sess_t;


typedef struct {
    struct sockaddr_in  addr;
    char               *listen;
    char               *control;
    long                procs;
    long                size;
    double              max_time;
} wff_conf_t;


typedef struct {
    const wff_conf_t   *conf;
    int                 lfd;
    int                 ep;
    int                 cmd_fd;           /* from the parent */
    int                 rep_fd;           /* to the parent */
    int                 listening;        /* lfd in the epoll set */
    uint64_t            rest_until;       /* lfd out of it until then */
    uint64_t            deadline;

    wff_sess_t         *sess;
    long                nsess;            /* the size of sess[] */
    int                *open;             /* fds of the open sessions */
    uint32_t            nopen;
    uint32_t            handshaking;

    int                 pending;          /* a publish awaits T0 */
    uint64_t            seq;
    uint64_t            t0;
    unsigned char      *frame;
    size_t              frame_len;

    unsigned char       cmd_buf[sizeof(wff_cmd_t)];
    size_t              cmd_have;
} wff_worker_t;


typedef struct {
    pid_t               pid;
    int                 cmd_fd;           /* to the worker */
    int                 rep_fd;           /* from it */
    int                 listening;
    uint64_t            sessions;         /* its last status */
    uint64_t            handshaking;
    size_t              have;
    unsigned char       buf[sizeof(wff_report_t)];
} wff_child_t;


typedef struct {
    const wff_conf_t   *conf;
    wff_child_t        *ch;
    int                 ctl;
    char                ctl_buf[WFF_CTL_BUF];
    size_t              ctl_have;

    int                 pub_wait;         /* reports still to come */
    uint64_t            pub_seq;
    uint64_t            pub_t0;
    uint64_t            pub_real;         /* CLOCK_REALTIME us */
    wff_report_t        pub_sum;          /* maxima for loop_us, late_us */

    int                 status_wait;
} wff_parent_t;


static void wff_usage(FILE *f);
static int wff_parse_args(int argc, char **argv, wff_conf_t *conf);
static int wff_raise_nofile(long *limit);
static int wff_port_free(const wff_conf_t *conf);
static uint64_t wff_now(clockid_t clock);
static int wff_write_all(int fd, const void *buf, size_t len);
static void wff_write_last(int fd, const void *buf, size_t len);

static int wff_parent(const wff_conf_t *conf, long nofile);
static int wff_parent_start(wff_parent_t *pa);
static void wff_parent_command(wff_parent_t *pa, char *line);
static void wff_parent_publish(wff_parent_t *pa, uint64_t seq,
    long offset_ms);
static int wff_parent_report(wff_parent_t *pa, int i);
static void wff_parent_tell(wff_parent_t *pa, uint32_t type, uint64_t seq,
    uint64_t t0);
static void wff_parent_end(wff_parent_t *pa);

static void wff_worker_main(const wff_conf_t *conf, long nofile,
    int cmd_fd, int rep_fd, pid_t parent);
static int wff_worker_listen(wff_worker_t *w);
static void wff_worker_loop(wff_worker_t *w);
static void wff_worker_command(wff_worker_t *w);
static void wff_build_frame(wff_worker_t *w, uint64_t seq, uint64_t t0);
static void wff_wait_until(uint64_t t0);
static void wff_publish(wff_worker_t *w);
static void wff_accept(wff_worker_t *w);
static void wff_readable(wff_worker_t *w, int fd);
static void wff_handshake(wff_worker_t *w, int fd, wff_sess_t *s,
    const char *data, size_t n);
static int wff_upgrade(wff_worker_t *w, int fd, wff_sess_t *s,
    const char *req, size_t len);
static int wff_client_bytes(wff_sess_t *s, const unsigned char *p,
    size_t n);
static void wff_close(wff_worker_t *w, int fd);


static struct option  wff_long_options[] = {
    { "listen",            required_argument, NULL, 'l' },
    { "control",           required_argument, NULL, 'C' },
    { "procs",             required_argument, NULL, 'P' },
    { "size",              required_argument, NULL, 's' },
    { "max-time",          required_argument, NULL, 't' },
    { "help",              no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


int
main(int argc, char **argv)
{
    long        nofile;
    wff_conf_t  conf;

    memset(&conf, 0, sizeof(conf));

    conf.procs = 1;
    conf.size = 64;
    conf.max_time = 900;

    if (wff_parse_args(argc, argv, &conf) != WSL_OK) {
        return 2;
    }

    if (wff_raise_nofile(&nofile) != WSL_OK || wff_port_free(&conf) != WSL_OK)
    {
        return 1;
    }

    signal(SIGPIPE, SIG_IGN);

    return wff_parent(&conf, nofile);
}


static void
wff_usage(FILE *f)
{
    fprintf(f,
"usage: ws-fanout-floor --listen 127.0.0.1:PORT --control FIFO\n"
"           [--procs N] [--size BYTES] [--max-time SEC]\n"
"\n"
"The floor of a WebSocket fan-out: N processes (SO_REUSEPORT) accept\n"
"WebSocket sessions and hold them; told so on the control FIFO, each\n"
"writes one frame to each of its sessions, one write() per session.\n"
"\n"
"  -l, --listen ADDR:PORT   where to listen (127.0.0.0/8 only)\n"
"  -C, --control FIFO       the control FIFO (commands, one a line)\n"
"  -P, --procs N            worker processes (default 1, at most %d)\n"
"  -s, --size BYTES         the payload of a published frame (default 64)\n"
"  -t, --max-time SEC       every process exits after SEC (default 900)\n"
"  -h, --help               this text\n"
"\n"
"commands:\n"
"  publish SEQ [OFFSET_MS]  at the next whole second plus OFFSET_MS\n"
"                           (without it: in 20 ms), \"fanout SEQ T0 x...\"\n"
"                           to every session; prints \"published ...\"\n"
"  status                   prints \"status sessions=... per_worker=...\"\n"
"  quit                     every process exits\n",
        WFF_MAX_PROCS);
}


static int
wff_parse_args(int argc, char **argv, wff_conf_t *conf)
{
    int    ch;
    long   port;
    char  *colon, *end;

    while ((ch = getopt_long(argc, argv, "l:C:P:s:t:h", wff_long_options,
                             NULL))
           != -1)
    {
        switch (ch) {

        case 'l':
            conf->listen = optarg;
            break;

        case 'C':
            conf->control = optarg;
            break;

        case 'P':
            conf->procs = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || conf->procs < 1
                || conf->procs > WFF_MAX_PROCS)
            {
                fprintf(stderr, "fanout-floor: invalid --procs \"%s\"\n",
                        optarg);
                return WSL_ERROR;
            }
            break;

        case 's':
            conf->size = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || conf->size < 1
                || conf->size > WFF_MAX_SIZE)
            {
                fprintf(stderr, "fanout-floor: invalid --size \"%s\"\n",
                        optarg);
                return WSL_ERROR;
            }
            break;

        case 't':
            conf->max_time = strtod(optarg, &end);
            if (*optarg == '\0' || *end != '\0' || !(conf->max_time > 0)
                || conf->max_time > 86400)
            {
                fprintf(stderr, "fanout-floor: invalid --max-time \"%s\"\n",
                        optarg);
                return WSL_ERROR;
            }
            break;

        case 'h':
            wff_usage(stdout);
            exit(0);

        default:
            wff_usage(stderr);
            return WSL_ERROR;
        }
    }

    if (optind != argc || conf->listen == NULL || conf->control == NULL) {
        wff_usage(stderr);
        return WSL_ERROR;
    }

    /* 127.x.x.x:PORT */

    colon = strrchr(conf->listen, ':');
    if (colon == NULL) {
        fprintf(stderr, "fanout-floor: --listen needs ADDR:PORT\n");
        return WSL_ERROR;
    }

    *colon = '\0';
    port = strtol(colon + 1, &end, 10);

    conf->addr.sin_family = AF_INET;

    if (inet_pton(AF_INET, conf->listen, &conf->addr.sin_addr) != 1
        || (ntohl(conf->addr.sin_addr.s_addr) >> 24) != 127
        || colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535)
    {
        fprintf(stderr, "fanout-floor: invalid --listen \"%s:%s\" "
                "(127.0.0.0/8 only)\n", conf->listen, colon + 1);
        return WSL_ERROR;
    }

    *colon = ':';
    conf->addr.sin_port = htons((uint16_t) port);

    return WSL_OK;
}


/* RLIMIT_NOFILE to its hard limit; *limit: what it is then */

static int
wff_raise_nofile(long *limit)
{
    struct rlimit  rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
        fprintf(stderr, "fanout-floor: getrlimit() failed: %s\n",
                strerror(errno));
        return WSL_ERROR;
    }

    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;

        if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
            fprintf(stderr, "fanout-floor: setrlimit(RLIMIT_NOFILE, %llu) "
                    "failed: %s\n", (unsigned long long) rl.rlim_cur,
                    strerror(errno));
            (void) getrlimit(RLIMIT_NOFILE, &rl);
        }
    }

    *limit = (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1048576)
             ? 1048576 : (long) rl.rlim_cur;

    return WSL_OK;
}


/*
 * SO_REUSEPORT would let the workers share the port with a server that
 * still listens there (an NGINX with reuseport, say): a bind without it
 * fails then, and so does this start.
 */

static int
wff_port_free(const wff_conf_t *conf)
{
    int  fd, on, rc;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        fprintf(stderr, "fanout-floor: socket() failed: %s\n",
                strerror(errno));
        return WSL_ERROR;
    }

    on = 1;
    (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));

    rc = bind(fd, (struct sockaddr *) &conf->addr, sizeof(conf->addr));
    if (rc == -1) {
        fprintf(stderr, "fanout-floor: %s: %s\n", conf->listen,
                strerror(errno));
    }

    close(fd);

    return rc == -1 ? WSL_ERROR : WSL_OK;
}


static uint64_t
wff_now(clockid_t clock)
{
    struct timespec  ts;

    clock_gettime(clock, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


/* a small message on a pipe (at most PIPE_BUF: written whole, at once) */

static int
wff_write_all(int fd, const void *buf, size_t len)
{
    ssize_t  n;

    do {
        n = write(fd, buf, len);
    } while (n == -1 && errno == EINTR);

    return n == (ssize_t) len ? WSL_OK : WSL_ERROR;
}


/* the last bytes of a connection about to be closed: no matter if lost */

static void
wff_write_last(int fd, const void *buf, size_t len)
{
    ssize_t  n;

    n = write(fd, buf, len);
    (void) n;
}


/* the parent: the workers, the control FIFO, the output lines */

static int
wff_parent(const wff_conf_t *conf, long nofile)
{
    int            i, n, rc, cmd[2], rep[2];
    long           k;
    pid_t          pid, parent;
    ssize_t        got;
    uint64_t       end, now;
    wff_parent_t   pa;
    struct pollfd  pfd[WFF_MAX_PROCS + 1];

    memset(&pa, 0, sizeof(pa));

    pa.conf = conf;
    pa.ctl = -1;

    pa.ch = calloc(conf->procs, sizeof(wff_child_t));
    if (pa.ch == NULL) {
        fprintf(stderr, "fanout-floor: out of memory\n");
        return 1;
    }

    end = wff_now(CLOCK_MONOTONIC) + (uint64_t) (conf->max_time * 1e6);

    for (k = 0; k < conf->procs; k++) {

        if (pipe2(cmd, O_CLOEXEC) == -1) {
            fprintf(stderr, "fanout-floor: pipe() failed: %s\n",
                    strerror(errno));
            wff_parent_end(&pa);
            return 1;
        }

        if (pipe2(rep, O_CLOEXEC) == -1) {
            fprintf(stderr, "fanout-floor: pipe() failed: %s\n",
                    strerror(errno));
            close(cmd[0]);
            close(cmd[1]);
            wff_parent_end(&pa);
            return 1;
        }

        parent = getpid();

        pid = fork();

        if (pid == -1) {
            fprintf(stderr, "fanout-floor: fork() failed: %s\n",
                    strerror(errno));
            close(cmd[0]);
            close(cmd[1]);
            close(rep[0]);
            close(rep[1]);
            wff_parent_end(&pa);
            return 1;
        }

        if (pid == 0) {
            /* the other workers' pipe ends are not this one's */

            for (i = 0; i < k; i++) {
                close(pa.ch[i].cmd_fd);
                close(pa.ch[i].rep_fd);
            }

            close(cmd[1]);
            close(rep[0]);

            wff_worker_main(conf, nofile, cmd[0], rep[1], parent);
            _exit(0);
        }

        close(cmd[0]);
        close(rep[1]);

        pa.ch[k].pid = pid;
        pa.ch[k].cmd_fd = cmd[1];
        pa.ch[k].rep_fd = rep[0];
    }

    if (wff_parent_start(&pa) != WSL_OK) {
        wff_parent_end(&pa);
        return 1;
    }

    /* read-write: the FIFO always has a writer, no EOF between commands */

    pa.ctl = open(conf->control, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (pa.ctl == -1) {
        fprintf(stderr, "fanout-floor: %s: %s\n", conf->control,
                strerror(errno));
        wff_parent_end(&pa);
        return 1;
    }

    printf("fanout-floor: listening on %s\n", conf->listen);
    fflush(stdout);

    rc = 0;

    for ( ;; ) {
        now = wff_now(CLOCK_MONOTONIC);

        if (now >= end) {
            fprintf(stderr, "fanout-floor: --max-time reached, exiting\n");
            break;
        }

        pfd[0].fd = pa.ctl;
        pfd[0].events = POLLIN;

        for (k = 0; k < conf->procs; k++) {
            pfd[k + 1].fd = pa.ch[k].rep_fd;
            pfd[k + 1].events = POLLIN;
        }

        n = poll(pfd, conf->procs + 1,
                 (end - now) / 1000 < 1000 ? (int) ((end - now) / 1000 + 1)
                                           : 1000);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            fprintf(stderr, "fanout-floor: poll() failed: %s\n",
                    strerror(errno));
            rc = 1;
            break;
        }

        for (k = 0; k < conf->procs; k++) {
            if (pfd[k + 1].revents
                && wff_parent_report(&pa, (int) k) != WSL_OK)
            {
                rc = 1;
                goto done;
            }
        }

        if (!(pfd[0].revents & POLLIN)) {
            continue;
        }

        got = read(pa.ctl, pa.ctl_buf + pa.ctl_have,
                   sizeof(pa.ctl_buf) - 1 - pa.ctl_have);

        if (got <= 0) {
            continue;
        }

        pa.ctl_have += got;
        pa.ctl_buf[pa.ctl_have] = '\0';

        for ( ;; ) {
            char  *nl;

            nl = memchr(pa.ctl_buf, '\n', pa.ctl_have);

            if (nl == NULL) {
                if (pa.ctl_have == sizeof(pa.ctl_buf) - 1) {
                    fprintf(stderr, "fanout-floor: control line too long\n");
                    pa.ctl_have = 0;
                }

                break;
            }

            *nl = '\0';

            if (strcmp(pa.ctl_buf, "quit") == 0) {
                goto done;
            }

            wff_parent_command(&pa, pa.ctl_buf);

            pa.ctl_have -= nl + 1 - pa.ctl_buf;
            memmove(pa.ctl_buf, nl + 1, pa.ctl_have);
            pa.ctl_buf[pa.ctl_have] = '\0';
        }
    }

done:

    wff_parent_end(&pa);

    return rc;
}


/* until every worker listens (at most 10 s) */

static int
wff_parent_start(wff_parent_t *pa)
{
    int            n;
    long           k, listening;
    uint64_t       end, now;
    struct pollfd  pfd[WFF_MAX_PROCS];

    end = wff_now(CLOCK_MONOTONIC) + 10000000;

    for ( ;; ) {
        listening = 0;

        for (k = 0; k < pa->conf->procs; k++) {
            listening += pa->ch[k].listening;
            pfd[k].fd = pa->ch[k].rep_fd;
            pfd[k].events = POLLIN;
        }

        if (listening == pa->conf->procs) {
            return WSL_OK;
        }

        now = wff_now(CLOCK_MONOTONIC);

        if (now >= end) {
            fprintf(stderr, "fanout-floor: the workers do not listen\n");
            return WSL_ERROR;
        }

        n = poll(pfd, pa->conf->procs, (int) ((end - now) / 1000 + 1));

        if (n == -1 && errno != EINTR) {
            fprintf(stderr, "fanout-floor: poll() failed: %s\n",
                    strerror(errno));
            return WSL_ERROR;
        }

        for (k = 0; n > 0 && k < pa->conf->procs; k++) {
            if (pfd[k].revents && wff_parent_report(pa, (int) k) != WSL_OK) {
                return WSL_ERROR;
            }
        }
    }
}


static void
wff_parent_command(wff_parent_t *pa, char *line)
{
    int            words;
    long           offset;
    char           verb[16], extra[2];
    unsigned long  seq;

    offset = -1;
    words = sscanf(line, "%15s %lu %ld %1s", verb, &seq, &offset, extra);

    if (words < 1) {
        return;
    }

    if (strcmp(verb, "publish") == 0
        && (words == 2 || (words == 3 && offset >= 0 && offset < 60000)))
    {
        if (pa->pub_wait) {
            fprintf(stderr, "fanout-floor: publish %lu ignored: publish %llu "
                    "is under way\n", seq,
                    (unsigned long long) pa->pub_seq);
            return;
        }

        wff_parent_publish(pa, seq, words == 3 ? offset : -1);
        return;
    }

    if (strcmp(verb, "status") == 0 && words == 1) {
        if (pa->status_wait == 0) {
            pa->status_wait = (int) pa->conf->procs;
            wff_parent_tell(pa, WFF_CMD_STATUS, 0, 0);
        }

        return;
    }

    fprintf(stderr, "fanout-floor: unknown command \"%s\"\n", line);
}


/*
 * T0, the instant of the writes: the next whole second of CLOCK_REALTIME
 * plus offset_ms (or WFF_SOON_US from now), and the same instant in
 * CLOCK_MONOTONIC, which the workers wait on and put in the payload.
 */

static void
wff_parent_publish(wff_parent_t *pa, uint64_t seq, long offset_ms)
{
    uint64_t  m0, m1, real, due;

    m0 = wff_now(CLOCK_MONOTONIC);
    real = wff_now(CLOCK_REALTIME);
    m1 = wff_now(CLOCK_MONOTONIC);

    if (offset_ms >= 0) {
        due = (real / 1000000 + 1) * 1000000 + (uint64_t) offset_ms * 1000;

    } else {
        due = real + WFF_SOON_US;
    }

    pa->pub_seq = seq;
    pa->pub_real = due;
    pa->pub_t0 = m0 + (m1 - m0) / 2 + (due - real);
    pa->pub_wait = (int) pa->conf->procs;

    memset(&pa->pub_sum, 0, sizeof(pa->pub_sum));

    wff_parent_tell(pa, WFF_CMD_PUBLISH, seq, pa->pub_t0);
}


static void
wff_parent_tell(wff_parent_t *pa, uint32_t type, uint64_t seq, uint64_t t0)
{
    long       k;
    wff_cmd_t  cmd;

    memset(&cmd, 0, sizeof(cmd));

    cmd.type = type;
    cmd.seq = seq;
    cmd.t0 = t0;

    for (k = 0; k < pa->conf->procs; k++) {
        if (pa->ch[k].pid == 0) {
            /* not started */
            continue;
        }

        if (wff_write_all(pa->ch[k].cmd_fd, &cmd, sizeof(cmd)) != WSL_OK) {
            fprintf(stderr, "fanout-floor: cannot reach worker %d\n",
                    (int) pa->ch[k].pid);
        }
    }
}


/* a report from worker i is readable; WSL_ERROR if the worker is gone */

static int
wff_parent_report(wff_parent_t *pa, int i)
{
    long           k;
    ssize_t        n;
    wff_child_t   *c;
    wff_report_t   r, *s;

    c = &pa->ch[i];

    n = read(c->rep_fd, c->buf + c->have, sizeof(c->buf) - c->have);

    if (n == -1 && (errno == EINTR || errno == EAGAIN)) {
        return WSL_OK;
    }

    if (n <= 0) {
        fprintf(stderr, "fanout-floor: worker %d exited\n", (int) c->pid);
        return WSL_ERROR;
    }

    c->have += n;

    if (c->have < sizeof(c->buf)) {
        return WSL_OK;
    }

    c->have = 0;
    memcpy(&r, c->buf, sizeof(r));

    switch (r.type) {

    case WFF_REP_LISTENING:
        c->listening = 1;
        return WSL_OK;

    case WFF_REP_STATUS:
        c->sessions = r.sessions;
        c->handshaking = r.handshaking;

        if (pa->status_wait == 0 || --pa->status_wait > 0) {
            return WSL_OK;
        }

        r.sessions = 0;
        r.handshaking = 0;

        for (k = 0; k < pa->conf->procs; k++) {
            r.sessions += pa->ch[k].sessions;
            r.handshaking += pa->ch[k].handshaking;
        }

        printf("status sessions=%llu handshaking=%llu per_worker=",
               (unsigned long long) r.sessions,
               (unsigned long long) r.handshaking);

        for (k = 0; k < pa->conf->procs; k++) {
            printf("%s%d:%llu", k ? "," : "", (int) pa->ch[k].pid,
                   (unsigned long long) pa->ch[k].sessions);
        }

        printf("\n");
        fflush(stdout);

        return WSL_OK;

    case WFF_REP_PUBLISHED:
        if (pa->pub_wait == 0 || r.seq != pa->pub_seq) {
            return WSL_OK;
        }

        s = &pa->pub_sum;

        s->sessions += r.sessions;
        s->bytes += r.bytes;
        s->shorts += r.shorts;
        s->errors += r.errors;

        if (r.loop_us > s->loop_us) {
            s->loop_us = r.loop_us;
        }

        if (r.late_us > s->late_us) {
            s->late_us = r.late_us;
        }

        if (--pa->pub_wait > 0) {
            return WSL_OK;
        }

        printf("published seq=%llu t0_us=%llu realtime=%llu.%06llu "
               "workers=%ld links=%ld write_us=%llu sessions=%llu bytes=%llu "
               "short=%llu errors=%llu late_us=%llu\n",
               (unsigned long long) pa->pub_seq,
               (unsigned long long) pa->pub_t0,
               (unsigned long long) (pa->pub_real / 1000000),
               (unsigned long long) (pa->pub_real % 1000000),
               pa->conf->procs, pa->conf->procs,
               (unsigned long long) s->loop_us,
               (unsigned long long) s->sessions,
               (unsigned long long) s->bytes,
               (unsigned long long) s->shorts,
               (unsigned long long) s->errors,
               (unsigned long long) s->late_us);
        fflush(stdout);

        return WSL_OK;

    default:
        return WSL_OK;
    }
}


/* quit: every worker is told, then waited for (killed after 5 s) */

static void
wff_parent_end(wff_parent_t *pa)
{
    int       status, alive;
    long      k, i;
    pid_t     pid;

    wff_parent_tell(pa, WFF_CMD_QUIT, 0, 0);

    for (k = 0; k < pa->conf->procs; k++) {
        if (pa->ch[k].pid) {
            close(pa->ch[k].cmd_fd);
        }
    }

    for (i = 0; i < 500; i++) {
        alive = 0;

        for (k = 0; k < pa->conf->procs; k++) {
            if (pa->ch[k].pid == 0) {
                continue;
            }

            pid = waitpid(pa->ch[k].pid, &status, WNOHANG);

            if (pid == 0) {
                alive++;

            } else {
                pa->ch[k].pid = 0;
            }
        }

        if (alive == 0) {
            break;
        }

        usleep(10000);
    }

    for (k = 0; k < pa->conf->procs; k++) {
        if (pa->ch[k].pid) {
            kill(pa->ch[k].pid, SIGKILL);
            (void) waitpid(pa->ch[k].pid, &status, 0);
        }
    }

    if (pa->ctl != -1) {
        close(pa->ctl);
    }

    free(pa->ch);
    pa->ch = NULL;
}


/* a worker: its listening socket, its sessions, its writes */

static void
wff_worker_main(const wff_conf_t *conf, long nofile, int cmd_fd,
    int rep_fd, pid_t parent)
{
    wff_worker_t        w;
    wff_report_t        r;
    struct epoll_event  ev;

    /* the parent's death ends this one (and a parent gone already) */

    if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent) {
        _exit(1);
    }

    /* nanosleep to T0 - WFF_SPIN_US is close to exact */

    (void) prctl(PR_SET_TIMERSLACK, 1UL);

    memset(&w, 0, sizeof(w));

    w.conf = conf;
    w.cmd_fd = cmd_fd;
    w.rep_fd = rep_fd;
    w.nsess = nofile;
    w.deadline = wff_now(CLOCK_MONOTONIC) + (uint64_t) (conf->max_time * 1e6)
                 + WFF_WORKER_SLACK_US;

    w.sess = calloc(nofile, sizeof(wff_sess_t));
    w.open = calloc(nofile, sizeof(int));
    w.frame = malloc(WFF_MAX_SIZE + WSL_FRAME_HEADER_MAX);

    if (w.sess == NULL || w.open == NULL || w.frame == NULL) {
        fprintf(stderr, "fanout-floor: out of memory\n");
        _exit(1);
    }

    w.ep = epoll_create1(EPOLL_CLOEXEC);
    if (w.ep == -1) {
        fprintf(stderr, "fanout-floor: epoll_create1() failed: %s\n",
                strerror(errno));
        _exit(1);
    }

    if (wff_worker_listen(&w) != WSL_OK) {
        _exit(1);
    }

    ev.events = EPOLLIN;
    ev.data.fd = cmd_fd;

    if (epoll_ctl(w.ep, EPOLL_CTL_ADD, cmd_fd, &ev) == -1) {
        fprintf(stderr, "fanout-floor: epoll_ctl() failed: %s\n",
                strerror(errno));
        _exit(1);
    }

    memset(&r, 0, sizeof(r));
    r.type = WFF_REP_LISTENING;
    r.pid = getpid();

    if (wff_write_all(rep_fd, &r, sizeof(r)) != WSL_OK) {
        _exit(1);
    }

    wff_worker_loop(&w);
}


static int
wff_worker_listen(wff_worker_t *w)
{
    int                 on;
    struct epoll_event  ev;

    w->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (w->lfd == -1) {
        fprintf(stderr, "fanout-floor: socket() failed: %s\n",
                strerror(errno));
        return WSL_ERROR;
    }

    on = 1;

    if (setsockopt(w->lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1
        || setsockopt(w->lfd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on))
           == -1)
    {
        fprintf(stderr, "fanout-floor: setsockopt() failed: %s\n",
                strerror(errno));
        return WSL_ERROR;
    }

    if (bind(w->lfd, (struct sockaddr *) &w->conf->addr,
             sizeof(w->conf->addr))
        == -1)
    {
        fprintf(stderr, "fanout-floor: bind(%s) failed: %s\n",
                w->conf->listen, strerror(errno));
        return WSL_ERROR;
    }

    if (listen(w->lfd, WFF_BACKLOG) == -1) {
        fprintf(stderr, "fanout-floor: listen() failed: %s\n",
                strerror(errno));
        return WSL_ERROR;
    }

    ev.events = EPOLLIN;
    ev.data.fd = w->lfd;

    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->lfd, &ev) == -1) {
        fprintf(stderr, "fanout-floor: epoll_ctl() failed: %s\n",
                strerror(errno));
        return WSL_ERROR;
    }

    w->listening = 1;

    return WSL_OK;
}


static void
wff_worker_loop(wff_worker_t *w)
{
    int                 i, n, timeout;
    uint64_t            now, t;
    struct epoll_event  ev, events[WFF_EVENTS];

    for ( ;; ) {
        now = wff_now(CLOCK_MONOTONIC);

        if (now >= w->deadline) {
            fprintf(stderr, "fanout-floor: worker %d: --max-time reached, "
                    "exiting\n", (int) getpid());
            _exit(0);
        }

        if (w->pending && w->t0 <= now + WFF_NAP_US) {
            wff_wait_until(w->t0);
            wff_publish(w);
            continue;
        }

        if (!w->listening && now >= w->rest_until) {
            ev.events = EPOLLIN;
            ev.data.fd = w->lfd;

            if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->lfd, &ev) == 0) {
                w->listening = 1;
            }
        }

        t = w->deadline - now;

        if (w->pending && w->t0 - WFF_NAP_US - now < t) {
            t = w->t0 - WFF_NAP_US - now;
        }

        if (!w->listening && w->rest_until - now < t) {
            t = w->rest_until - now;
        }

        timeout = t >= 1000000 ? 1000 : (int) ((t + 999) / 1000);

        n = epoll_wait(w->ep, events, WFF_EVENTS, timeout);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            fprintf(stderr, "fanout-floor: epoll_wait() failed: %s\n",
                    strerror(errno));
            _exit(1);
        }

        for (i = 0; i < n; i++) {
            if (events[i].data.fd == w->lfd) {
                wff_accept(w);

            } else if (events[i].data.fd == w->cmd_fd) {
                wff_worker_command(w);

            } else {
                wff_readable(w, events[i].data.fd);
            }
        }
    }
}


static void
wff_worker_command(wff_worker_t *w)
{
    ssize_t       n;
    wff_cmd_t     cmd;
    wff_report_t  r;

    n = read(w->cmd_fd, w->cmd_buf + w->cmd_have,
             sizeof(w->cmd_buf) - w->cmd_have);

    if (n == -1 && (errno == EINTR || errno == EAGAIN)) {
        return;
    }

    if (n <= 0) {
        /* the parent is gone */
        _exit(0);
    }

    w->cmd_have += n;

    if (w->cmd_have < sizeof(w->cmd_buf)) {
        return;
    }

    w->cmd_have = 0;
    memcpy(&cmd, w->cmd_buf, sizeof(cmd));

    switch (cmd.type) {

    case WFF_CMD_PUBLISH:
        wff_build_frame(w, cmd.seq, cmd.t0);
        w->pending = 1;
        w->seq = cmd.seq;
        w->t0 = cmd.t0;
        return;

    case WFF_CMD_STATUS:
        memset(&r, 0, sizeof(r));
        r.type = WFF_REP_STATUS;
        r.pid = getpid();
        r.sessions = w->nopen;
        r.handshaking = w->handshaking;

        if (wff_write_all(w->rep_fd, &r, sizeof(r)) != WSL_OK) {
            _exit(1);
        }

        return;

    default: /* WFF_CMD_QUIT */
        _exit(0);
    }
}


/*
 * One unmasked text frame, fin set: "fanout SEQ T0 " padded with 'x' to
 * --size bytes (longer if the head does not fit), as fanout_backend.py
 * publishes it.
 */

static void
wff_build_frame(wff_worker_t *w, uint64_t seq, uint64_t t0)
{
    int             head;
    size_t          len, hlen;
    unsigned char  *p;
    char            buf[64];

    head = snprintf(buf, sizeof(buf), WSL_FAN_PREFIX "%llu %llu ",
                    (unsigned long long) seq, (unsigned long long) t0);

    len = (size_t) w->conf->size > (size_t) head ? (size_t) w->conf->size
                                                 : (size_t) head;

    p = w->frame;

    *p++ = 0x80 | WSL_OP_TEXT;

    if (len < 126) {
        *p++ = (unsigned char) len;

    } else if (len <= 0xffff) {
        *p++ = 126;
        *p++ = (unsigned char) (len >> 8);
        *p++ = (unsigned char) len;

    } else {
        *p++ = 127;
        memset(p, 0, 4);
        p += 4;
        *p++ = (unsigned char) (len >> 24);
        *p++ = (unsigned char) (len >> 16);
        *p++ = (unsigned char) (len >> 8);
        *p++ = (unsigned char) len;
    }

    hlen = p - w->frame;

    memcpy(p, buf, head);
    memset(p + head, 'x', len - head);

    w->frame_len = hlen + len;
}


/* from WFF_NAP_US before t0: nanosleep, then the last bit spun */

static void
wff_wait_until(uint64_t t0)
{
    struct timespec  ts;

    if (t0 > WFF_SPIN_US) {
        ts.tv_sec = (t0 - WFF_SPIN_US) / 1000000;
        ts.tv_nsec = (long) ((t0 - WFF_SPIN_US) % 1000000) * 1000;

        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)
               == EINTR)
        {
            /* again */
        }
    }

    /* yielding: the other workers may share this CPU */

    while (wff_now(CLOCK_MONOTONIC) < t0) {
        sched_yield();
    }
}


/*
 * The floor itself: one write() per open session, nothing else in the
 * loop.  A short write is counted and its session shut down (its stream
 * would be cut mid-frame); a failed one is counted, the session closes
 * when epoll reports it.
 */

static void
wff_publish(wff_worker_t *w)
{
    int           fd;
    ssize_t       n;
    uint32_t      i;
    uint64_t      start, end, written, shorts, errors;
    wff_report_t  r;

    written = 0;
    shorts = 0;
    errors = 0;

    start = wff_now(CLOCK_MONOTONIC);

    for (i = 0; i < w->nopen; i++) {
        fd = w->open[i];

        n = write(fd, w->frame, w->frame_len);

        if (n == (ssize_t) w->frame_len) {
            written++;

        } else if (n >= 0 || errno == EAGAIN) {
            shorts++;

            if (n > 0) {
                (void) shutdown(fd, SHUT_RDWR);
            }

        } else {
            errors++;
        }
    }

    end = wff_now(CLOCK_MONOTONIC);

    w->pending = 0;

    memset(&r, 0, sizeof(r));

    r.type = WFF_REP_PUBLISHED;
    r.pid = getpid();
    r.seq = w->seq;
    r.sessions = written;
    r.bytes = written * w->frame_len;
    r.shorts = shorts;
    r.errors = errors;
    r.loop_us = end - start;
    r.late_us = start > w->t0 ? start - w->t0 : 0;

    if (wff_write_all(w->rep_fd, &r, sizeof(r)) != WSL_OK) {
        _exit(1);
    }
}


static void
wff_accept(wff_worker_t *w)
{
    int                 fd, on, k;
    wff_sess_t         *s;
    struct epoll_event  ev;

    for (k = 0; k < WFF_EVENTS; k++) {
        fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd == -1) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS
                || errno == ENOMEM)
            {
                /* out of files: the queue waits, and so does epoll */

                fprintf(stderr, "fanout-floor: worker %d: accept() failed: "
                        "%s (%u open)\n", (int) getpid(), strerror(errno),
                        w->nopen);

                if (epoll_ctl(w->ep, EPOLL_CTL_DEL, w->lfd, NULL) == 0) {
                    w->listening = 0;
                    w->rest_until = wff_now(CLOCK_MONOTONIC)
                                    + WFF_ACCEPT_REST_US;
                }
            }

            return;
        }

        if (fd >= w->nsess) {
            close(fd);
            continue;
        }

        on = 1;
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));

        s = &w->sess[fd];
        memset(s, 0, sizeof(*s));
        s->state = WFF_HANDSHAKE;
        s->hdr_need = 2;

        ev.events = EPOLLIN;
        ev.data.fd = fd;

        if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
            s->state = WFF_FREE;
            close(fd);
            continue;
        }

        w->handshaking++;
    }
}


static void
wff_readable(wff_worker_t *w, int fd)
{
    ssize_t        n;
    wff_sess_t    *s;
    unsigned char  buf[WFF_READ_BUF];

    static const unsigned char  close_frame[] = {
        0x80 | WSL_OP_CLOSE, 2, 0x03, 0xe8
    };

    s = &w->sess[fd];

    if (s->state == WFF_FREE) {
        return;
    }

    n = read(fd, buf, sizeof(buf));

    if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }

    if (n <= 0) {
        /* EOF, a reset, or a shut down session */
        wff_close(w, fd);
        return;
    }

    if (s->state == WFF_HANDSHAKE) {
        wff_handshake(w, fd, s, (const char *) buf, n);
        return;
    }

    if (wff_client_bytes(s, buf, n)) {
        /* the client's close: answered with 1000, then the TCP close */
        wff_write_last(fd, close_frame, sizeof(close_frame));
        wff_close(w, fd);
    }
}


/*
 * Request bytes: the header block is looked for in what this read
 * brought, copied aside only when it comes in several reads.
 */

static void
wff_handshake(wff_worker_t *w, int fd, wff_sess_t *s, const char *data,
    size_t n)
{
    size_t       from, len;
    const char  *req, *eoh;

    if (s->req == NULL) {
        req = data;
        len = n;
        from = 0;

    } else {
        if (n > WSL_MAX_HEADERS - s->req_len) {
            n = WSL_MAX_HEADERS - s->req_len;
        }

        memcpy(s->req + s->req_len, data, n);
        from = s->req_len > 3 ? s->req_len - 3 : 0;
        s->req_len += n;
        req = s->req;
        len = s->req_len;
    }

    /* at most WSL_MAX_HEADERS of request */

    eoh = memmem(req + from,
                 (len < WSL_MAX_HEADERS ? len : WSL_MAX_HEADERS) - from,
                 "\r\n\r\n", 4);

    if (eoh == NULL) {
        if (len >= WSL_MAX_HEADERS) {
            wff_write_last(fd, WFF_RESPONSE_400,
                           sizeof(WFF_RESPONSE_400) - 1);
            wff_close(w, fd);
            return;
        }

        if (s->req == NULL) {
            s->req = malloc(WSL_MAX_HEADERS);
            if (s->req == NULL) {
                wff_close(w, fd);
                return;
            }

            memcpy(s->req, data, n);
            s->req_len = n;
        }

        return;
    }

    if (wff_upgrade(w, fd, s, req, eoh + 4 - req) != WSL_OK) {
        return;
    }

    /* bytes after the request are the client's first frames */

    if (wff_client_bytes(s, (const unsigned char *) eoh + 4,
                         req + len - (eoh + 4)))
    {
        wff_close(w, fd);
        return;
    }

    free(s->req);
    s->req = NULL;
}


/* a complete request: the 101 and an open session, or a 400 and close */

static int
wff_upgrade(wff_worker_t *w, int fd, wff_sess_t *s, const char *req,
    size_t len)
{
    size_t  rlen;
    char    key[WSL_KEY_LEN + 1], accept[WSL_ACCEPT_LEN + 1];
    char    resp[sizeof(WFF_RESPONSE_101) + WSL_ACCEPT_LEN + 4];

    if (wsl_handshake_request(req, len, key) != WSL_OK) {
        wff_write_last(fd, WFF_RESPONSE_400,
                           sizeof(WFF_RESPONSE_400) - 1);
        wff_close(w, fd);
        return WSL_ERROR;
    }

    wsl_handshake_accept(key, accept);

    rlen = sizeof(WFF_RESPONSE_101) - 1;
    memcpy(resp, WFF_RESPONSE_101, rlen);
    memcpy(resp + rlen, accept, WSL_ACCEPT_LEN);
    rlen += WSL_ACCEPT_LEN;
    memcpy(resp + rlen, "\r\n\r\n", 4);
    rlen += 4;

    /* an idle new socket takes 129 bytes at once, or it is broken */

    if (write(fd, resp, rlen) != (ssize_t) rlen) {
        wff_close(w, fd);
        return WSL_ERROR;
    }

    w->handshaking--;

    s->state = WFF_OPEN;
    s->index = w->nopen;
    w->open[w->nopen++] = fd;

    return WSL_OK;
}


/*
 * Client frames, skipped: only their headers are read (2 to 14 bytes,
 * the mask included), their payloads counted off.  Returns 1 once a
 * close frame is complete.
 */

static int
wff_client_bytes(wff_sess_t *s, const unsigned char *p, size_t n)
{
    int       i, ext;
    size_t    k;
    uint64_t  len;

    while (n) {

        if (s->hdr_len == s->hdr_need) {
            /* in a payload */

            k = s->left < n ? (size_t) s->left : n;
            s->left -= k;
            p += k;
            n -= k;

            if (s->left == 0) {
                if (s->opcode == WSL_OP_CLOSE) {
                    return 1;
                }

                s->hdr_len = 0;
                s->hdr_need = 2;
            }

            continue;
        }

        s->hdr[s->hdr_len++] = *p++;
        n--;

        if (s->hdr_len == 2) {
            len = s->hdr[1] & 0x7f;
            ext = len == 126 ? 2 : (len == 127 ? 8 : 0);
            s->hdr_need = 2 + ext + ((s->hdr[1] & 0x80) ? 4 : 0);
        }

        if (s->hdr_len < 2 || s->hdr_len < s->hdr_need) {
            continue;
        }

        /* the header is complete */

        len = s->hdr[1] & 0x7f;

        if (len >= 126) {
            ext = len == 126 ? 2 : 8;
            len = 0;

            for (i = 0; i < ext; i++) {
                len = len << 8 | s->hdr[2 + i];
            }
        }

        s->opcode = s->hdr[0] & 0x0f;
        s->left = len;

        if (len == 0) {
            if (s->opcode == WSL_OP_CLOSE) {
                return 1;
            }

            s->hdr_len = 0;
            s->hdr_need = 2;
        }
    }

    return 0;
}


static void
wff_close(wff_worker_t *w, int fd)
{
    int          last;
    wff_sess_t  *s;

    s = &w->sess[fd];

    if (s->state == WFF_OPEN) {
        /* the last open session takes its place in the list */

        last = w->open[--w->nopen];
        w->open[s->index] = last;
        w->sess[last].index = s->index;

    } else if (s->state == WFF_HANDSHAKE) {
        w->handshaking--;
    }

    free(s->req);
    s->req = NULL;
    s->state = WFF_FREE;

    close(fd);
}
