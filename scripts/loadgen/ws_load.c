
/*
 * Copyright (C) ngx_ws_gateway_module authors
 */


/*
 * ws-load: options, the split of the load over client processes, the
 * collection of their results over pipes, and the one-line JSON report.
 */


#include "ws_load.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/wait.h>


#define WSL_MAX_PROCESSES      256
#define WSL_MAX_CONNECTIONS    10000000L

/* how long children may overrun duration + close timeout */
#define WSL_WATCHDOG_SLACK     10.0


typedef struct {
    pid_t               pid;
    int                 fd;              /* read end of its pipe, or -1 */
    int                 ready;
    int                 result_seen;
    size_t              have;
    unsigned char      *buf;
    wsl_progress_t      progress;
    wsl_result_t        result;
} wsl_child_t;


static void wsl_usage(FILE *f);
static int wsl_parse_args(int argc, char **argv, wsl_conf_t *conf);
static int wsl_parse_mode(const char *s, int *mode);
static int wsl_parse_url(const char *url, wsl_conf_t *conf, char **path);
static int wsl_parse_long(const char *s, long min, long max, long *out,
    const char *what);
static int wsl_parse_double(const char *s, double min, double max,
    double *out, const char *what);
static int wsl_parse_ipv4(const char *s, uint32_t *addr);
static int wsl_parse_src_range(const char *s, wsl_conf_t *conf);
static int wsl_resolve(wsl_conf_t *conf);
static int wsl_add_header(wsl_conf_t *conf, const char *h);
static int wsl_check_path(const char *path);
static int wsl_check_limits(wsl_conf_t *conf);
static int wsl_run(wsl_conf_t *conf);
static void wsl_child_main(wsl_conf_t *conf, wsl_worker_t *w);
static void wsl_collect(wsl_conf_t *conf, wsl_child_t *ch, int n);
static int wsl_child_read(wsl_conf_t *conf, wsl_child_t *ch, int n,
    int i, double elapsed);
static void wsl_report(wsl_conf_t *conf, wsl_child_t *ch, int n,
    int failed);
static void wsl_print_hist(const char *name, const wsl_hist_t *h);
static void wsl_print_fanout(const wsl_result_t *r);
static void wsl_print_string(const char *s);
static void wsl_on_parent_signal(int signo);


static const char  *wsl_mode_names[] = {
    "idle", "echo", "churn", "flood", "subscribe"
};

static volatile sig_atomic_t  wsl_parent_stop;


static struct option  wsl_long_options[] = {
    { "mode",              required_argument, NULL, 'm' },
    { "url",               required_argument, NULL, 'u' },
    { "host",              required_argument, NULL, 1000 },
    { "port",              required_argument, NULL, 'p' },
    { "path",              required_argument, NULL, 1001 },
    { "connections",       required_argument, NULL, 'c' },
    { "processes",         required_argument, NULL, 'P' },
    { "duration",          required_argument, NULL, 'd' },
    { "connect-rate",      required_argument, NULL, 'r' },
    { "rate",              required_argument, NULL, 'R' },
    { "size",              required_argument, NULL, 's' },
    { "header",            required_argument, NULL, 'H' },
    { "text",              no_argument,       NULL, 1002 },
    { "binary",            no_argument,       NULL, 1003 },
    { "src-range",         required_argument, NULL, 1004 },
    { "handshake-timeout", required_argument, NULL, 1005 },
    { "close-timeout",     required_argument, NULL, 1006 },
    { "max-pending",       required_argument, NULL, 1007 },
    { "no-read",           no_argument,       NULL, 1008 },
    { "reset-at-end",      no_argument,       NULL, 1009 },
    { "warmup",            required_argument, NULL, 1010 },
    { "samples",           required_argument, NULL, 1011 },
    { "quiet",             no_argument,       NULL, 'q' },
    { "help",              no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};


int
main(int argc, char **argv)
{
    wsl_conf_t  conf;

    memset(&conf, 0, sizeof(conf));

    conf.mode = -1;
    conf.connections = 1;
    conf.processes = 1;
    conf.duration = 10;
    conf.msg_size = 32;
    conf.handshake_timeout = 10;
    conf.close_timeout = 2;
    conf.max_pending = 256;
    conf.src_first = 0x7f000002;
    conf.src_last = 0x7f0000fa;

    if (wsl_parse_args(argc, argv, &conf) != WSL_OK) {
        return 1;
    }

    if (wsl_check_limits(&conf) != WSL_OK) {
        return 1;
    }

    return wsl_run(&conf);
}


static void
wsl_usage(FILE *f)
{
    fprintf(f,
"usage: ws-load MODE [options] [ws://HOST[:PORT][/PATH]]\n"
"\n"
"A WebSocket (RFC 6455) load generator for loopback targets only.\n"
"Prints one JSON line on stdout; progress goes to stderr.\n"
"\n"
"modes:\n"
"  idle   open -c sessions at -r connects/s, hold them until -d ends,\n"
"         then close them cleanly\n"
"  echo   each session sends a -s byte message and waits for its echo\n"
"         (closed loop), or -R messages/s are sent over all sessions\n"
"         (open loop, latency from the intended send time)\n"
"  churn  -c slots, each: connect, one echo round trip, close, reconnect\n"
"  flood  after the ramp, each session sends -s byte messages as fast\n"
"         as its socket takes them, reading the echoes (or, with\n"
"         --no-read, never reading)\n"
"  subscribe  as idle, and every message read is timed: a fan-out\n"
"         message (payload \"fanout SEQ T0 ...\", T0 the publisher's\n"
"         CLOCK_MONOTONIC us) is filed by SEQ (1-%d): sessions that\n"
"         read it, first and last read, delay from T0\n"
"\n"
"target (the host must be in 127.0.0.0/8):\n"
"  -u, --url URL            ws://HOST[:PORT][/PATH]\n"
"      --host HOST          default 127.0.0.1\n"
"  -p, --port PORT          default 80\n"
"      --path PATH          default /\n"
"  -H, --header 'N: V'      extra request header (repeatable)\n"
"\n"
"load:\n"
"  -m, --mode MODE          idle, echo, churn, flood or subscribe (or "
"as an\n"
"                           argument)\n"
"  -c, --connections N      sessions in total (default 1)\n"
"  -P, --processes N        client processes (default 1)\n"
"  -d, --duration SEC       run time, a hard bound (default 10)\n"
"  -r, --connect-rate N     connects/s in total, 0: unlimited (default)\n"
"  -R, --rate N             echo messages/s in total, 0: closed loop\n"
"  -s, --size BYTES         message payload size (default 32)\n"
"      --text | --binary    message type (default text)\n"
"      --src-range A-B      source addresses, default "
"127.0.0.2-127.0.0.250\n"
"      --handshake-timeout SEC   default 10\n"
"      --close-timeout SEC       grace for closing at the end, "
"default 2\n"
"      --max-pending N      handshakes in flight per process "
"(default 256)\n"
"      --no-read            flood: never read once the session is open\n"
"      --warmup SEC         echo: messages due in the first SEC seconds\n"
"                           of messaging are answered but not measured\n"
"      --samples FILE       echo: write every measured echo to FILE\n"
"                           (FILE.N for process N > 0) at the end, a\n"
"                           line \"INTENDED_US LATENCY_US\" each\n"
"                           (CLOCK_MONOTONIC microseconds)\n"
"      --reset-at-end       end the sessions with a TCP reset (SO_LINGER\n"
"                           0) instead of a close handshake, so that no\n"
"                           unsent data stays in the kernel\n"
"  -q, --quiet              no progress lines\n"
"  -h, --help               this text\n"
"\n"
"Each process gets an even share of -c, -r and -R.  A process may hold\n"
"at most RLIMIT_NOFILE - %d sessions; use more processes beyond that.\n",
        WSL_FAN_MAX - 1, WSL_FD_RESERVE);
}


static int
wsl_parse_args(int argc, char **argv, wsl_conf_t *conf)
{
    int    ch, have_url, port_set;
    long   v;
    char  *url_path, *path, *host;

    have_url = 0;
    port_set = 0;
    url_path = NULL;
    path = NULL;
    host = NULL;

    while ((ch = getopt_long(argc, argv, "m:u:p:c:P:d:r:R:s:H:qh",
                             wsl_long_options, NULL))
           != -1)
    {
        switch (ch) {

        case 'm':
            if (wsl_parse_mode(optarg, &conf->mode) != WSL_OK) {
                return WSL_ERROR;
            }
            break;

        case 'u':
            if (wsl_parse_url(optarg, conf, &url_path) != WSL_OK) {
                return WSL_ERROR;
            }
            have_url = 1;
            break;

        case 1000:
            host = optarg;
            break;

        case 'p':
            if (wsl_parse_long(optarg, 1, 65535, &v, "port") != WSL_OK) {
                return WSL_ERROR;
            }
            conf->target.sin_port = htons((uint16_t) v);
            port_set = 1;
            break;

        case 1001:
            path = optarg;
            break;

        case 'c':
            if (wsl_parse_long(optarg, 1, WSL_MAX_CONNECTIONS,
                               &conf->connections, "connections")
                != WSL_OK)
            {
                return WSL_ERROR;
            }
            break;

        case 'P':
            if (wsl_parse_long(optarg, 1, WSL_MAX_PROCESSES, &v,
                               "processes")
                != WSL_OK)
            {
                return WSL_ERROR;
            }
            conf->processes = (int) v;
            break;

        case 'd':
            if (wsl_parse_double(optarg, 0.1, 86400, &conf->duration,
                                 "duration")
                != WSL_OK)
            {
                return WSL_ERROR;
            }
            break;

        case 'r':
            if (wsl_parse_double(optarg, 0, 1e7, &conf->connect_rate,
                                 "connect rate")
                != WSL_OK)
            {
                return WSL_ERROR;
            }
            break;

        case 'R':
            if (wsl_parse_double(optarg, 0, 1e8, &conf->msg_rate,
                                 "message rate")
                != WSL_OK)
            {
                return WSL_ERROR;
            }
            break;

        case 's':
            if (wsl_parse_long(optarg, 0, WSL_MAX_MSG_SIZE, &v,
                               "message size")
                != WSL_OK)
            {
                return WSL_ERROR;
            }
            conf->msg_size = (size_t) v;
            break;

        case 'H':
            if (wsl_add_header(conf, optarg) != WSL_OK) {
                return WSL_ERROR;
            }
            break;

        case 1002:
            conf->binary = 0;
            break;

        case 1003:
            conf->binary = 1;
            break;

        case 1004:
            if (wsl_parse_src_range(optarg, conf) != WSL_OK) {
                return WSL_ERROR;
            }
            break;

        case 1005:
            if (wsl_parse_double(optarg, 0.01, 3600,
                                 &conf->handshake_timeout,
                                 "handshake timeout")
                != WSL_OK)
            {
                return WSL_ERROR;
            }
            break;

        case 1006:
            if (wsl_parse_double(optarg, 0.01, 600, &conf->close_timeout,
                                 "close timeout")
                != WSL_OK)
            {
                return WSL_ERROR;
            }
            break;

        case 1007:
            if (wsl_parse_long(optarg, 1, 1000000, &v, "max pending")
                != WSL_OK)
            {
                return WSL_ERROR;
            }
            conf->max_pending = (int) v;
            break;

        case 1008:
            conf->no_read = 1;
            break;

        case 1009:
            conf->reset_at_end = 1;
            break;

        case 1010:
            if (wsl_parse_double(optarg, 0, 86400, &conf->warmup,
                                 "warm-up")
                != WSL_OK)
            {
                return WSL_ERROR;
            }
            break;

        case 1011:
            conf->samples = optarg;
            break;

        case 'q':
            conf->quiet = 1;
            break;

        case 'h':
            wsl_usage(stdout);
            exit(0);

        default:
            wsl_usage(stderr);
            return WSL_ERROR;
        }
    }

    /* operands: the mode and the URL, in any order */

    for ( /* void */ ; optind < argc; optind++) {

        if (strncmp(argv[optind], "ws://", 5) == 0
            || strncmp(argv[optind], "wss://", 6) == 0)
        {
            if (have_url) {
                fprintf(stderr, "ws-load: more than one URL\n");
                return WSL_ERROR;
            }

            if (wsl_parse_url(argv[optind], conf, &url_path) != WSL_OK) {
                return WSL_ERROR;
            }

            have_url = 1;
            continue;
        }

        if (conf->mode == -1) {
            if (wsl_parse_mode(argv[optind], &conf->mode) != WSL_OK) {
                return WSL_ERROR;
            }

            continue;
        }

        fprintf(stderr, "ws-load: unexpected argument \"%s\"\n",
                argv[optind]);
        return WSL_ERROR;
    }

    if (conf->mode == -1) {
        fprintf(stderr, "ws-load: no mode given (idle, echo, churn, "
                "flood or subscribe); see --help\n");
        return WSL_ERROR;
    }

    if (host) {
        if (strlen(host) >= sizeof(conf->host) || host[0] == '\0') {
            fprintf(stderr, "ws-load: invalid host \"%s\"\n", host);
            return WSL_ERROR;
        }

        strcpy(conf->host, host);

    } else if (!have_url) {
        strcpy(conf->host, "127.0.0.1");
    }

    if (!have_url && !port_set) {
        conf->target.sin_port = htons(80);
    }

    conf->path = path ? path : (url_path ? url_path : "/");

    if (wsl_check_path(conf->path) != WSL_OK) {
        fprintf(stderr, "ws-load: invalid path \"%s\": it must start "
                "with \"/\" and hold printable ASCII only\n", conf->path);
        return WSL_ERROR;
    }

    if (wsl_resolve(conf) != WSL_OK) {
        return WSL_ERROR;
    }

    if (conf->processes > conf->connections) {
        fprintf(stderr, "ws-load: %d processes for %ld connections: "
                "use at most one process per connection\n",
                conf->processes, conf->connections);
        return WSL_ERROR;
    }

    if (conf->msg_rate > 0 && conf->mode != WSL_MODE_ECHO) {
        fprintf(stderr, "ws-load: -R applies to the echo mode only\n");
        return WSL_ERROR;
    }

    if (conf->warmup >= conf->duration) {
        fprintf(stderr, "ws-load: --warmup must be shorter than -d\n");
        return WSL_ERROR;
    }

    if (conf->samples && conf->mode != WSL_MODE_ECHO) {
        fprintf(stderr, "ws-load: --samples applies to the echo mode "
                "only\n");
        return WSL_ERROR;
    }

    if (conf->no_read && conf->mode != WSL_MODE_FLOOD) {
        fprintf(stderr, "ws-load: --no-read applies to the flood mode "
                "only\n");
        return WSL_ERROR;
    }

    return WSL_OK;
}


static int
wsl_parse_mode(const char *s, int *mode)
{
    int  i;

    for (i = 0; i < WSL_MODE_N; i++) {
        if (strcmp(s, wsl_mode_names[i]) == 0) {
            *mode = i;
            return WSL_OK;
        }
    }

    fprintf(stderr, "ws-load: unknown mode \"%s\": use idle, echo, churn, "
            "flood or subscribe\n", s);

    return WSL_ERROR;
}


/* ws://HOST[:PORT][/PATH]; the path is returned in *path (static) */

static int
wsl_parse_url(const char *url, wsl_conf_t *conf, char **path)
{
    long         v;
    size_t       len;
    const char  *p, *host, *colon, *slash;
    static char  port[8], *copy;

    if (strncmp(url, "wss://", 6) == 0) {
        fprintf(stderr, "ws-load: wss:// is not supported\n");
        return WSL_ERROR;
    }

    if (strncmp(url, "ws://", 5) != 0) {
        fprintf(stderr, "ws-load: invalid URL \"%s\": expected "
                "ws://HOST[:PORT][/PATH]\n", url);
        return WSL_ERROR;
    }

    host = url + 5;

    slash = strchr(host, '/');
    if (slash == NULL) {
        slash = host + strlen(host);
    }

    colon = memchr(host, ':', slash - host);

    p = colon ? colon : slash;
    len = p - host;

    if (len == 0 || len >= sizeof(conf->host)) {
        fprintf(stderr, "ws-load: invalid host in URL \"%s\"\n", url);
        return WSL_ERROR;
    }

    memcpy(conf->host, host, len);
    conf->host[len] = '\0';

    if (colon) {
        len = slash - colon - 1;

        if (len == 0 || len >= sizeof(port)) {
            fprintf(stderr, "ws-load: invalid port in URL \"%s\"\n", url);
            return WSL_ERROR;
        }

        memcpy(port, colon + 1, len);
        port[len] = '\0';

        if (wsl_parse_long(port, 1, 65535, &v, "port") != WSL_OK) {
            return WSL_ERROR;
        }

    } else {
        v = 80;
    }

    conf->target.sin_port = htons((uint16_t) v);

    free(copy);
    copy = strdup(*slash ? slash : "/");

    if (copy == NULL) {
        fprintf(stderr, "ws-load: out of memory\n");
        return WSL_ERROR;
    }

    *path = copy;

    return WSL_OK;
}


static int
wsl_parse_long(const char *s, long min, long max, long *out,
    const char *what)
{
    long   v;
    char  *end;

    errno = 0;
    v = strtol(s, &end, 10);

    if (errno || end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "ws-load: invalid %s \"%s\": expected an integer "
                "from %ld to %ld\n", what, s, min, max);
        return WSL_ERROR;
    }

    *out = v;

    return WSL_OK;
}


static int
wsl_parse_double(const char *s, double min, double max, double *out,
    const char *what)
{
    char    *end;
    double   v;

    errno = 0;
    v = strtod(s, &end);

    if (errno || end == s || *end != '\0' || !isfinite(v)
        || v < min || v > max)
    {
        fprintf(stderr, "ws-load: invalid %s \"%s\": expected a number "
                "from %g to %g\n", what, s, min, max);
        return WSL_ERROR;
    }

    *out = v;

    return WSL_OK;
}


/* a dotted quad inside 127.0.0.0/8, in host byte order */

static int
wsl_parse_ipv4(const char *s, uint32_t *addr)
{
    struct in_addr  in;

    if (inet_pton(AF_INET, s, &in) != 1) {
        return WSL_ERROR;
    }

    *addr = ntohl(in.s_addr);

    if ((*addr >> 24) != 127) {
        return WSL_ERROR;
    }

    return WSL_OK;
}


static int
wsl_parse_src_range(const char *s, wsl_conf_t *conf)
{
    char        buf[64], *dash;
    uint32_t    first, last;

    if (strlen(s) >= sizeof(buf)) {
        goto invalid;
    }

    strcpy(buf, s);

    dash = strchr(buf, '-');

    if (dash) {
        *dash++ = '\0';

    } else {
        dash = buf;
    }

    if (wsl_parse_ipv4(buf, &first) != WSL_OK
        || wsl_parse_ipv4(dash, &last) != WSL_OK
        || first > last)
    {
        goto invalid;
    }

    conf->src_first = first;
    conf->src_last = last;

    return WSL_OK;

invalid:

    fprintf(stderr, "ws-load: invalid --src-range \"%s\": expected "
            "A-B, two loopback addresses (127.x.y.z) with A <= B\n", s);

    return WSL_ERROR;
}


/* the target must resolve to a loopback address; nothing else is hit */

static int
wsl_resolve(wsl_conf_t *conf)
{
    int               rc;
    uint32_t          addr;
    const char       *p;
    struct addrinfo   hints, *ai;

    for (p = conf->host; *p; p++) {
        if (!isalnum((unsigned char) *p) && strchr(".-_", *p) == NULL) {
            fprintf(stderr, "ws-load: invalid host \"%s\"\n", conf->host);
            return WSL_ERROR;
        }
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;

    rc = getaddrinfo(conf->host, NULL, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "ws-load: cannot resolve \"%s\" to an IPv4 "
                "address: %s\n", conf->host, gai_strerror(rc));
        return WSL_ERROR;
    }

    addr = ntohl(((struct sockaddr_in *) ai->ai_addr)->sin_addr.s_addr);
    freeaddrinfo(ai);

    if ((addr >> 24) != 127) {
        fprintf(stderr, "ws-load: refusing target \"%s\": only loopback "
                "addresses (127.0.0.0/8) may be targeted\n", conf->host);
        return WSL_ERROR;
    }

    conf->target.sin_family = AF_INET;
    conf->target.sin_addr.s_addr = htonl(addr);

    return WSL_OK;
}


static int
wsl_add_header(wsl_conf_t *conf, const char *h)
{
    size_t       i, len, nlen;
    char        *p;
    const char  *colon;

    static const char  *reserved[] = {
        "host", "upgrade", "connection", "sec-websocket-key",
        "sec-websocket-version", "sec-websocket-extensions", NULL
    };

    len = strlen(h);
    colon = strchr(h, ':');

    if (colon == NULL || colon == h) {
        goto invalid;
    }

    nlen = colon - h;

    for (i = 0; i < nlen; i++) {
        if (!isalnum((unsigned char) h[i])
            && strchr("!#$%&'*+-.^_`|~", h[i]) == NULL)
        {
            goto invalid;
        }
    }

    for (i = nlen; i < len; i++) {
        if ((unsigned char) h[i] < 0x20 && h[i] != '\t') {
            goto invalid;
        }
    }

    for (i = 0; reserved[i]; i++) {
        if (strlen(reserved[i]) == nlen
            && strncasecmp(h, reserved[i], nlen) == 0)
        {
            fprintf(stderr, "ws-load: header \"%s\" is set by ws-load "
                    "itself and cannot be given with -H\n", reserved[i]);
            return WSL_ERROR;
        }
    }

    p = realloc(conf->extra_headers, conf->extra_len + len + 3);
    if (p == NULL) {
        fprintf(stderr, "ws-load: out of memory\n");
        return WSL_ERROR;
    }

    memcpy(p + conf->extra_len, h, len);
    memcpy(p + conf->extra_len + len, "\r\n", 3);

    conf->extra_headers = p;
    conf->extra_len += len + 2;

    if (conf->extra_len > WSL_MAX_HEADERS / 2) {
        fprintf(stderr, "ws-load: extra headers too long\n");
        return WSL_ERROR;
    }

    return WSL_OK;

invalid:

    fprintf(stderr, "ws-load: invalid header \"%s\": expected "
            "\"Name: value\" without control characters\n", h);

    return WSL_ERROR;
}


static int
wsl_check_path(const char *path)
{
    const char  *p;

    if (path[0] != '/' || strlen(path) > 2048) {
        return WSL_ERROR;
    }

    for (p = path; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            return WSL_ERROR;
        }
    }

    return WSL_OK;
}


/*
 * Raise RLIMIT_NOFILE to its hard limit, and make sure each process's
 * share of connections fits, as well as the source ports.
 */

static int
wsl_check_limits(wsl_conf_t *conf)
{
    int            fd;
    long           per_proc, need, limit, lo, hi, ports, nsrc, min_p;
    char           buf[64];
    ssize_t        n;
    struct rlimit  rl;

    per_proc = (conf->connections + conf->processes - 1) / conf->processes;
    need = per_proc + WSL_FD_RESERVE;

    if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
        fprintf(stderr, "ws-load: getrlimit() failed: %s\n",
                strerror(errno));
        return WSL_ERROR;
    }

    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;

        if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
            fprintf(stderr, "ws-load: setrlimit(RLIMIT_NOFILE, %llu) "
                    "failed: %s\n", (unsigned long long) rl.rlim_cur,
                    strerror(errno));
            (void) getrlimit(RLIMIT_NOFILE, &rl);
        }
    }

    limit = (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 100000000)
            ? 100000000 : (long) rl.rlim_cur;

    if (need > limit) {
        min_p = (conf->connections + (limit - WSL_FD_RESERVE) - 1)
                / (limit - WSL_FD_RESERVE);

        fprintf(stderr, "ws-load: %ld connections over %d process(es) "
                "need %ld open files per process, but the limit "
                "(RLIMIT_NOFILE) is %ld: use -P %ld or more\n",
                conf->connections, conf->processes, need, limit, min_p);
        return WSL_ERROR;
    }

    /* each source address has one ephemeral port range per target */

    lo = 32768;
    hi = 60999;

    fd = open("/proc/sys/net/ipv4/ip_local_port_range", O_RDONLY);
    if (fd != -1) {
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);

        if (n > 0) {
            buf[n] = '\0';
            if (sscanf(buf, "%ld %ld", &lo, &hi) != 2 || hi < lo) {
                lo = 32768;
                hi = 60999;
            }
        }
    }

    ports = hi - lo + 1;
    nsrc = (long) (conf->src_last - conf->src_first) + 1;

    if (conf->connections > ports * nsrc) {
        fprintf(stderr, "ws-load: %ld connections from %ld source "
                "address(es) with %ld ephemeral ports each: widen "
                "--src-range to at least %ld addresses\n",
                conf->connections, nsrc, ports,
                (conf->connections + ports - 1) / ports);
        return WSL_ERROR;
    }

    return WSL_OK;
}


static int
wsl_run(wsl_conf_t *conf)
{
    int                 i, n, fds[2], failed, status;
    long                base, extra, first;
    pid_t               pid;
    wsl_child_t        *ch;
    wsl_worker_t        w;
    struct sigaction    sa;

    n = conf->processes;

    ch = calloc(n, sizeof(wsl_child_t));
    if (ch == NULL) {
        fprintf(stderr, "ws-load: out of memory\n");
        return 1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    base = conf->connections / n;
    extra = conf->connections % n;
    first = 0;

    if (!conf->quiet) {
        fprintf(stderr, "ws-load: %s ws://%s:%u%s, %ld connections, "
                "%d process(es), %.1f s\n",
                wsl_mode_names[conf->mode], conf->host,
                ntohs(conf->target.sin_port), conf->path,
                conf->connections, n, conf->duration);
    }

    for (i = 0; i < n; i++) {
        ch[i].fd = -1;
        ch[i].buf = malloc(sizeof(wsl_rec_header_t) + sizeof(wsl_result_t));

        if (ch[i].buf == NULL) {
            fprintf(stderr, "ws-load: out of memory\n");
            return 1;
        }
    }

    for (i = 0; i < n; i++) {
        memset(&w, 0, sizeof(w));

        w.index = i;
        w.first = first;
        w.nconns = base + (i < extra ? 1 : 0);
        w.connect_rate = conf->connect_rate * w.nconns / conf->connections;
        w.msg_rate = conf->msg_rate * w.nconns / conf->connections;

        first += w.nconns;

        if (pipe2(fds, O_CLOEXEC) == -1) {
            fprintf(stderr, "ws-load: pipe() failed: %s\n",
                    strerror(errno));
            break;
        }

        fflush(stdout);
        fflush(stderr);

        pid = fork();

        if (pid == -1) {
            fprintf(stderr, "ws-load: fork() failed: %s\n",
                    strerror(errno));
            close(fds[0]);
            close(fds[1]);
            break;
        }

        if (pid == 0) {
            int  j;

            close(fds[0]);

            for (j = 0; j < i; j++) {
                close(ch[j].fd);
            }

            w.pipe_fd = fds[1];
            wsl_child_main(conf, &w);

            /* not reached */
        }

        close(fds[1]);

        (void) fcntl(fds[0], F_SETFL, O_NONBLOCK);

        ch[i].pid = pid;
        ch[i].fd = fds[0];
    }

    if (i < n) {
        /* could not start them all: stop those that run */

        for (n = i, i = 0; i < n; i++) {
            kill(ch[i].pid, SIGKILL);
            waitpid(ch[i].pid, NULL, 0);
        }

        return 1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = wsl_on_parent_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    wsl_collect(conf, ch, n);

    failed = 0;

    for (i = 0; i < n; i++) {
        if (waitpid(ch[i].pid, &status, 0) == -1
            || !WIFEXITED(status)
            || WEXITSTATUS(status) != 0
            || !ch[i].result_seen)
        {
            failed++;
            fprintf(stderr, "ws-load: client process %d (pid %d) failed\n",
                    i, (int) ch[i].pid);
        }
    }

    wsl_report(conf, ch, n, failed);

    return failed ? 2 : 0;
}


static void
wsl_child_main(wsl_conf_t *conf, wsl_worker_t *w)
{
    int            rc;
    wsl_result_t  *res;

    res = malloc(sizeof(wsl_result_t));
    if (res == NULL) {
        fprintf(stderr, "ws-load: out of memory\n");
        _exit(1);
    }

    wsl_result_init(res);

    rc = wsl_worker_run(conf, w, res);

    if (wsl_write_record(w->pipe_fd, WSL_REC_RESULT, res,
                         sizeof(wsl_result_t))
        != WSL_OK)
    {
        fprintf(stderr, "ws-load: cannot send results to the parent: %s\n",
                strerror(errno));
        _exit(1);
    }

    fflush(stderr);

    _exit(rc == WSL_OK ? 0 : 1);
}


/*
 * Reads every child's records until all pipes are closed, printing
 * progress once a second, and kills children that overrun the run by
 * far (the run is bounded in time whatever the server does).
 */

static void
wsl_collect(wsl_conf_t *conf, wsl_child_t *ch, int n)
{
    int             i, live, forwarded, killed, rc;
    double          elapsed, last_print, deadline;
    uint64_t        start, open, est, failed, msgs, errs;
    unsigned        j;
    struct pollfd  *pfd;

    pfd = calloc(n, sizeof(struct pollfd));
    if (pfd == NULL) {
        fprintf(stderr, "ws-load: out of memory\n");
        return;
    }

    start = wsl_now();
    deadline = conf->duration + conf->close_timeout + WSL_WATCHDOG_SLACK;
    last_print = 0.25;      /* a little after the children's reports */
    forwarded = 0;
    killed = 0;

    for ( ;; ) {
        live = 0;

        for (i = 0; i < n; i++) {
            pfd[i].fd = ch[i].fd;
            pfd[i].events = POLLIN;
            pfd[i].revents = 0;

            if (ch[i].fd != -1) {
                live++;
            }
        }

        if (live == 0) {
            break;
        }

        rc = poll(pfd, n, 200);

        elapsed = (double) (wsl_now() - start) / 1e6;

        if (wsl_parent_stop && !forwarded) {
            forwarded = 1;

            for (i = 0; i < n; i++) {
                kill(ch[i].pid, SIGTERM);
            }
        }

        if (elapsed > deadline && !killed) {
            killed = 1;
            fprintf(stderr, "ws-load: client processes overran the run, "
                    "killing them\n");

            for (i = 0; i < n; i++) {
                if (ch[i].fd != -1) {
                    kill(ch[i].pid, SIGKILL);
                }
            }
        }

        if (rc > 0) {
            for (i = 0; i < n; i++) {
                if (pfd[i].revents && ch[i].fd != -1) {
                    (void) wsl_child_read(conf, ch, n, i, elapsed);
                }
            }
        }

        if (conf->quiet || elapsed - last_print < 1.0) {
            continue;
        }

        last_print = elapsed;

        open = est = failed = msgs = errs = 0;

        for (i = 0; i < n; i++) {
            open += ch[i].progress.counters[WSL_C_OPEN_AT_END];
            est += ch[i].progress.counters[WSL_C_ESTABLISHED];
            failed += ch[i].progress.counters[WSL_C_FAILED];
            msgs += ch[i].progress.counters[WSL_C_MSGS_RECEIVED];

            for (j = 0; j < WSL_E_N; j++) {
                errs += ch[i].progress.errors[j];
            }
        }

        fprintf(stderr, "ws-load: %.0fs open=%llu established=%llu "
                "failed=%llu messages=%llu errors=%llu\n", elapsed,
                (unsigned long long) open, (unsigned long long) est,
                (unsigned long long) failed, (unsigned long long) msgs,
                (unsigned long long) errs);
    }

    free(pfd);
}


static int
wsl_child_read(wsl_conf_t *conf, wsl_child_t *ch, int n, int i,
    double elapsed)
{
    int                i2, all;
    size_t             cap, need;
    ssize_t            r;
    uint64_t           est, failed;
    wsl_child_t       *c;
    wsl_rec_header_t   h;

    c = &ch[i];
    cap = sizeof(wsl_rec_header_t) + sizeof(wsl_result_t);

    for ( ;; ) {
        r = read(c->fd, c->buf + c->have, cap - c->have);

        if (r == 0) {
            close(c->fd);
            c->fd = -1;
            return WSL_OK;
        }

        if (r == -1) {
            if (errno == EINTR) {
                continue;
            }

            if (errno == EAGAIN) {
                return WSL_OK;
            }

            close(c->fd);
            c->fd = -1;
            return WSL_ERROR;
        }

        c->have += r;

        /* whole records at the front of the buffer */

        while (c->have >= sizeof(h)) {
            memcpy(&h, c->buf, sizeof(h));

            need = sizeof(h) + h.size;

            if (need > cap
                || (h.type == WSL_REC_RESULT
                    && h.size != sizeof(wsl_result_t))
                || (h.type != WSL_REC_RESULT
                    && h.size != sizeof(wsl_progress_t)))
            {
                fprintf(stderr, "ws-load: bad record from process %d\n",
                        i);
                close(c->fd);
                c->fd = -1;
                return WSL_ERROR;
            }

            if (c->have < need) {
                break;
            }

            if (h.type == WSL_REC_RESULT) {
                memcpy(&c->result, c->buf + sizeof(h), h.size);
                c->result_seen = 1;

            } else {
                memcpy(&c->progress, c->buf + sizeof(h), h.size);

                if (h.type == WSL_REC_READY && !c->ready) {
                    c->ready = 1;

                    for (all = 1, i2 = 0; i2 < n; i2++) {
                        all = all && ch[i2].ready;
                    }

                    if (all) {
                        for (est = failed = 0, i2 = 0; i2 < n; i2++) {
                            est += ch[i2].progress
                                       .counters[WSL_C_ESTABLISHED];
                            failed += ch[i2].progress
                                       .counters[WSL_C_FAILED];
                        }

                        /* always printed: scripts wait for this line */

                        fprintf(stderr, "ws-load: ready: established=%llu "
                                "failed=%llu requested=%ld after=%.3fs\n",
                                (unsigned long long) est,
                                (unsigned long long) failed,
                                conf->connections, elapsed);
                    }
                }
            }

            memmove(c->buf, c->buf + need, c->have - need);
            c->have -= need;
        }
    }
}


static void
wsl_report(wsl_conf_t *conf, wsl_child_t *ch, int n, int failed)
{
    int            i, first;
    unsigned       j;
    uint64_t       total;
    wsl_result_t  *r;

    r = malloc(sizeof(wsl_result_t));
    if (r == NULL) {
        fprintf(stderr, "ws-load: out of memory\n");
        return;
    }

    wsl_result_init(r);

    for (i = 0; i < n; i++) {
        if (ch[i].result_seen) {
            wsl_result_merge(r, &ch[i].result);
        }
    }

    printf("{\"mode\":\"%s\",\"target\":", wsl_mode_names[conf->mode]);

    {
        char  url[2600];

        snprintf(url, sizeof(url), "ws://%s:%u%s", conf->host,
                 ntohs(conf->target.sin_port), conf->path);
        wsl_print_string(url);
    }

    printf(",\"connections\":%ld,\"processes\":%d,\"duration_s\":%.3f,"
           "\"ramp_s\":%.3f,\"measure_s\":%.3f,",
           conf->connections, n, conf->duration, r->ramp,
           r->children ? r->measure / r->children : 0.0);

    printf("\"message_size\":%zu,\"message_type\":\"%s\","
           "\"connect_rate\":%g,\"message_rate\":%g,"
           "\"no_read\":%s,\"reset_at_end\":%s,",
           conf->msg_size, conf->binary ? "binary" : "text",
           conf->connect_rate, conf->msg_rate,
           conf->no_read ? "true" : "false",
           conf->reset_at_end ? "true" : "false");

    printf("\"counters\":{");

    for (j = 0; j < WSL_C_N; j++) {
        printf("%s\"%s\":%llu", j ? "," : "", wsl_counter_names[j],
               (unsigned long long) r->counters[j]);
    }

    printf("},\"rates\":{\"handshakes_per_s\":%.1f,"
           "\"messages_per_s\":%.1f,\"bytes_per_s\":%.1f},",
           r->rate_handshakes, r->rate_msgs, r->rate_bytes);

    wsl_print_hist("latency_us", &r->latency);
    printf(",");
    wsl_print_hist("handshake_us", &r->handshake);

    printf(",\"errors\":{");

    total = 0;

    for (j = 0; j < WSL_E_N; j++) {
        printf("\"%s\":%llu,", wsl_error_names[j],
               (unsigned long long) r->errors[j]);
        total += r->errors[j];
    }

    printf("\"total\":%llu},\"http_status\":{", (unsigned long long) total);

    first = 1;

    for (j = 0; j < WSL_STATUS_MAX; j++) {
        if (r->status[j]) {
            printf("%s\"%u\":%llu", first ? "" : ",", j,
                   (unsigned long long) r->status[j]);
            first = 0;
        }
    }

    printf("}");

    if (conf->mode == WSL_MODE_SUBSCRIBE) {
        wsl_print_fanout(r);
    }

    printf(",\"processes_failed\":%d}\n", failed);

    fflush(stdout);
    free(r);
}


static void
wsl_print_hist(const char *name, const wsl_hist_t *h)
{
    printf("\"%s\":{\"count\":%llu,\"min\":%llu,\"mean\":%llu,"
           "\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p99.9\":%llu,"
           "\"max\":%llu}",
           name,
           (unsigned long long) h->count,
           (unsigned long long) (h->count ? h->min : 0),
           (unsigned long long) (h->count ? h->sum / h->count : 0),
           (unsigned long long) wsl_hist_percentile(h, 0.50),
           (unsigned long long) wsl_hist_percentile(h, 0.90),
           (unsigned long long) wsl_hist_percentile(h, 0.99),
           (unsigned long long) wsl_hist_percentile(h, 0.999),
           (unsigned long long) h->max);
}


/*
 * ,"fanout":{...}: the messages that were not fan-out messages, reads
 * of a sequence a session had read already, the delays of every read
 * from its T0, and per sequence read: its T0, the sessions that read
 * it, and the first and the last read, in us after T0 (CLOCK_MONOTONIC)
 */

static void
wsl_print_fanout(const wsl_result_t *r)
{
    int               first;
    unsigned          i;
    const wsl_fan_t  *f;

    printf(",\"fanout\":{\"other\":%llu,\"duplicates\":%llu,",
           (unsigned long long) r->fan_other,
           (unsigned long long) r->fan_dups);

    wsl_print_hist("delay_us", &r->fanout);

    printf(",\"messages\":[");

    first = 1;

    for (i = 1; i < WSL_FAN_MAX; i++) {
        f = &r->fan[i];

        if (f->count == 0) {
            continue;
        }

        printf("%s{\"seq\":%u,\"t0_us\":%llu,\"count\":%llu,"
               "\"first_us\":%lld,\"last_us\":%lld}",
               first ? "" : ",", i,
               (unsigned long long) f->t0, (unsigned long long) f->count,
               (long long) (f->first - f->t0),
               (long long) (f->last - f->t0));

        first = 0;
    }

    printf("]}");
}


static void
wsl_print_string(const char *s)
{
    putchar('"');

    for ( /* void */ ; *s; s++) {
        if (*s == '"' || *s == '\\') {
            putchar('\\');
        }

        putchar(*s);
    }

    putchar('"');
}


static void
wsl_on_parent_signal(int signo)
{
    (void) signo;

    wsl_parent_stop = 1;
}
