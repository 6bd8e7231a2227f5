
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


/*
 * The slot liveness code of ngx_ws_gateway_metrics.c, compiled into the
 * test with the system calls it makes stubbed: open() and read() of
 * /proc/<pid>/stat and kill(pid, 0) answer what a table says, so that
 * the answers of the process table that a live system rarely gives (a
 * failed read, EMFILE, EPERM) can be tried.  The NGINX globals and
 * functions the file refers to are stubs below.
 */


#include "unit.h"
#include <ngx_http.h>


int unit_open(const char *path, int flags, ...);
ssize_t unit_read(int fd, void *buf, size_t len);
int unit_kill(pid_t pid, int sig);

#define open  unit_open
#define read  unit_read
#define kill  unit_kill

#include "../../ngx_ws_gateway_module/ngx_ws_gateway_metrics.c"

#undef open
#undef read
#undef kill


#define TEST_FD  1000


/* what the stubbed system calls answer */

static struct {
    ngx_pid_t       pid;          /* the process in the table, or 0 */
    ngx_err_t       open_err;     /* open() fails with it */
    ngx_err_t       read_err;     /* read() fails with it */
    ngx_int_t       read_len;     /* bytes read(); -1: the whole line,
                                     -2: to the middle of field 22 */
    char            state;
    unsigned long   start;        /* field 22 */
    ngx_err_t       kill_err;     /* kill() fails with it; 0: succeeds */
    ngx_uint_t      opens;
    ngx_uint_t      kills;
} sys;


/* NGINX globals and functions metrics.c refers to */

volatile ngx_time_t      *ngx_cached_time;
volatile ngx_msec_t       ngx_current_msec;
volatile ngx_cycle_t     *ngx_cycle;
ngx_rbtree_t              ngx_event_timer_rbtree;
ngx_queue_t               ngx_posted_events;
ngx_uint_t                ngx_pagesize = 4096;
ngx_int_t                 ngx_ncpu = 4;
ngx_pid_t                 ngx_pid;
ngx_uint_t                ngx_worker;
ngx_uint_t                ngx_process;
sig_atomic_t              ngx_quit;
sig_atomic_t              ngx_terminate;
ngx_uint_t                ngx_exiting;
ngx_module_t              ngx_core_module;
ngx_module_t              ngx_http_module;
ngx_module_t              ngx_ws_gateway_module;

static ngx_time_t         test_time;
static ngx_log_t          test_log;
static ngx_cycle_t        test_cycle;


static void test_proc_failures(void);
static void test_release(void);
static void test_ring(void);
static ngx_ws_gateway_shm_t *test_shm(ngx_uint_t nslots);
static void test_reset(ngx_pid_t pid);


int
main(void)
{
    test_time.sec = 1800000000;
    ngx_cached_time = &test_time;
    ngx_current_msec = 1000000;

    test_log.log_level = NGX_LOG_WARN;
    test_cycle.log = &test_log;
    ngx_cycle = &test_cycle;

    ngx_pid = 100;

    test_proc_failures();
    test_release();
    test_ring();

    return unit_done("metrics");
}


static void
test_proc_failures(void)
{
    ngx_uint_t              i;
    ngx_ws_gateway_shm_t   *shm;
    ngx_ws_gateway_slot_t  *slot;

    static const struct {
        const char   *what;
        ngx_err_t     open_err;
        ngx_err_t     read_err;
        ngx_int_t     read_len;
        char          state;
        unsigned long start;
        ngx_err_t     kill_err;
        ngx_uint_t    dead;
    }  cases[] = {

        /* /proc says: alive, started when recorded */
        { "alive", 0, 0, -1, 'S', 777, 0, 0 },
        { "pid reused (other start)", 0, 0, -1, 'S', 778, 0, 1 },
        { "zombie", 0, 0, -1, 'Z', 777, 0, 1 },
        { "gone (ENOENT)", NGX_ENOENT, 0, -1, 'S', 777, NGX_ESRCH, 1 },

        /* /proc cannot say: kill(pid, 0) decides, ESRCH only is dead */
        { "EMFILE, alive", NGX_EMFILE, 0, -1, 'S', 777, 0, 0 },
        { "EMFILE, EPERM", NGX_EMFILE, 0, -1, 'S', 777, NGX_EPERM, 0 },
        { "EMFILE, ESRCH", NGX_EMFILE, 0, -1, 'S', 777, NGX_ESRCH, 1 },
        { "EACCES, alive", NGX_EACCES, 0, -1, 'S', 777, 0, 0 },
        { "read EIO, alive", 0, EIO, -1, 'S', 777, 0, 0 },
        { "read EIO, ESRCH", 0, EIO, -1, 'S', 777, NGX_ESRCH, 1 },
        { "empty read, alive", 0, 0, 0, 'S', 777, 0, 0 },
        { "short read, alive", 0, 0, 30, 'S', 777, 0, 0 },
        { "short read, EPERM", 0, 0, 30, 'S', 777, NGX_EPERM, 0 },
        { "short read, ESRCH", 0, 0, 30, 'S', 777, NGX_ESRCH, 1 },
        { "read cut in field 22, alive", 0, 0, -2, 'S', 777, 0, 0 }
    };

    shm = test_shm(2);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        test_reset(200);

        sys.open_err = cases[i].open_err;
        sys.read_err = cases[i].read_err;
        sys.read_len = cases[i].read_len;
        sys.state = cases[i].state;
        sys.start = cases[i].start;
        sys.kill_err = cases[i].kill_err;

        /* slot 0: worker 200, started at 777, no beat for 5 s */

        slot = &shm->slots[0];
        ngx_memzero(slot, sizeof(ngx_ws_gateway_slot_t));
        slot->pid = 200;
        slot->start_ticks = 777;
        slot->beat = ngx_current_msec - 5000;

        ngx_memzero(&shm->slots[1], sizeof(ngx_ws_gateway_slot_t));

        ngx_ws_gateway_slot = NULL;

        unit_check(ngx_ws_gateway_slot_dead(slot) == cases[i].dead,
                   "%s: slot_dead() %s, want %s", cases[i].what,
                   cases[i].dead ? "alive" : "dead",
                   cases[i].dead ? "dead" : "alive");

        /* a worker that starts takes a free slot, not a live one's */

        slot->pid = 200;

        unit_check(ngx_ws_gateway_claim_slot(shm) == NGX_OK,
                   "%s: claim_slot() found no slot", cases[i].what);

        unit_check(ngx_ws_gateway_slot
                   == &shm->slots[cases[i].dead ? 0 : 1],
                   "%s: claimed slot %d, want %d", cases[i].what,
                   (int) (ngx_ws_gateway_slot - shm->slots),
                   cases[i].dead ? 0 : 1);

        if (!cases[i].dead) {
            unit_check(slot->pid == 200, "%s: the live worker's slot "
                       "changed hands (pid %d)", cases[i].what,
                       (int) slot->pid);
        }
    }

    /* a slot that beats costs no look at the process table */

    test_reset(200);
    shm->slots[0].pid = 200;
    shm->slots[0].start_ticks = 777;
    shm->slots[0].beat = ngx_current_msec - 100;
    ngx_ws_gateway_slot = NULL;

    unit_check(!ngx_ws_gateway_slot_dead(&shm->slots[0])
               && sys.opens == 0 && sys.kills == 0,
               "a beating slot: dead or looked up (%d opens, %d kills)",
               (int) sys.opens, (int) sys.kills);

    ngx_free(shm);
    ngx_ws_gateway_slot = NULL;
}


static void
test_release(void)
{
    ngx_uint_t              opens;
    ngx_ws_gateway_shm_t   *shm;
    ngx_ws_gateway_slot_t  *slot;

    /*
     * A reader (the status handler, the variables) that finds a slot dead
     * frees it: the next reader does not look at /proc again, and the
     * next claim takes it without a look.
     */

    shm = test_shm(2);
    ngx_ws_gateway_slot = NULL;

    test_reset(0);
    sys.open_err = NGX_ENOENT;
    sys.kill_err = NGX_ESRCH;

    slot = &shm->slots[0];
    slot->pid = 300;
    slot->start_ticks = 555;
    slot->beat = ngx_current_msec - 5000;

    unit_check(!ngx_ws_gateway_slot_live(slot),
               "release: a dead slot reported live");
    unit_check(slot->pid == 0, "release: the dead slot kept pid %d",
               (int) slot->pid);

    opens = sys.opens;

    unit_check(!ngx_ws_gateway_slot_live(slot) && sys.opens == opens,
               "release: the released slot was looked up again");

    /* a live slot that does not beat is kept */

    test_reset(301);
    sys.start = 556;
    slot = &shm->slots[1];
    slot->pid = 301;
    slot->start_ticks = 556;
    slot->beat = ngx_current_msec - 5000;

    unit_check(ngx_ws_gateway_slot_live(slot) && slot->pid == 301,
               "release: a live slot was released (pid %d)",
               (int) slot->pid);

    /* /proc cannot say, the process exists: kept */

    sys.open_err = NGX_EMFILE;
    sys.kill_err = NGX_EPERM;

    unit_check(ngx_ws_gateway_slot_live(slot) && slot->pid == 301,
               "release: a slot /proc could not tell about was released "
               "(pid %d)", (int) slot->pid);

    /* the claim takes the released slot 0 */

    test_reset(301);
    sys.start = 556;

    unit_check(ngx_ws_gateway_claim_slot(shm) == NGX_OK
               && ngx_ws_gateway_slot == &shm->slots[0],
               "release: the released slot was not claimed");

    ngx_free(shm);
    ngx_ws_gateway_slot = NULL;
}


static void
test_ring(void)
{
    time_t                  t;
    uint64_t                base;
    ngx_ws_gateway_shm_t   *shm;
    ngx_ws_gateway_slot_t  *slot;
    ngx_ws_gateway_window_t w;

    /*
     * A slot, of which the 61-second ring is most, is about 125 KB: the
     * largest zone ws_gateway_metrics_slots allows stays within 64 MB
     * (16 MB on 32-bit platforms).
     */

    unit_check(sizeof(ngx_ws_gateway_slot_t) <= 128 * 1024,
               "ring: a slot is %zu bytes, more than 128 KB",
               sizeof(ngx_ws_gateway_slot_t));

    unit_check((uint64_t) NGX_WS_GATEWAY_MAX_SLOTS
               * sizeof(ngx_ws_gateway_slot_t)
               <= (NGX_PTR_SIZE == 8 ? 64 : 16) * 1024 * 1024,
               "ring: %d slots of %zu bytes are more than the zone's bound",
               NGX_WS_GATEWAY_MAX_SLOTS, sizeof(ngx_ws_gateway_slot_t));

    /*
     * The ring keeps the low 32 bits of the histograms' buckets: a window
     * across a bucket's 2^32 boundary still counts what it gained.
     */

    shm = test_shm(1);
    slot = &shm->slots[0];
    ngx_ws_gateway_slot = slot;

    t = test_time.sec;
    base = ((uint64_t) 1 << 32) - 3;

    slot->event.bucket[40] = base;
    slot->lag.bucket[20] = 7;
    ngx_ws_gateway_snapshot(t - 1);

    slot->event.bucket[40] = base + 10;
    slot->event.bucket[41] = 5;
    slot->lag.bucket[20] = 9;
    ngx_ws_gateway_snapshot(t);

    slot->seconds[(t - 1) % NGX_WS_GATEWAY_SECONDS].event_max = 1000000;
    slot->seconds[(t - 1) % NGX_WS_GATEWAY_SECONDS].lag_max = 1000000;
    slot->started = t - 1;
    slot->updated = t;

    ngx_ws_gateway_metrics_window(slot, 1, &w);

    unit_check(w.event_count == 15, "ring: %llu event samples in the "
               "window across 2^32, want 15",
               (unsigned long long) w.event_count);
    unit_check(w.event_us[0] == ngx_ws_gateway_hist_value(40)
               && w.event_us[2] == ngx_ws_gateway_hist_value(41),
               "ring: event p50 %llu, p99 %llu, want %llu, %llu",
               (unsigned long long) w.event_us[0],
               (unsigned long long) w.event_us[2],
               (unsigned long long) ngx_ws_gateway_hist_value(40),
               (unsigned long long) ngx_ws_gateway_hist_value(41));
    unit_check(w.lag_count == 2, "ring: %llu lag samples, want 2",
               (unsigned long long) w.lag_count);

    ngx_free(shm);
    ngx_ws_gateway_slot = NULL;
}


static ngx_ws_gateway_shm_t *
test_shm(ngx_uint_t nslots)
{
    ngx_ws_gateway_shm_t  *shm;

    shm = calloc(1, offsetof(ngx_ws_gateway_shm_t, slots)
                    + nslots * sizeof(ngx_ws_gateway_slot_t));
    if (shm == NULL) {
        printf("out of memory\n");
        exit(2);
    }

    shm->nslots = nslots;

    return shm;
}


static void
test_reset(ngx_pid_t pid)
{
    ngx_memzero(&sys, sizeof(sys));

    sys.pid = pid;
    sys.read_len = -1;
    sys.state = 'S';
    sys.start = 777;
}


/* the stubbed system calls */

int
unit_open(const char *path, int flags, ...)
{
    int  pid;

    sys.opens++;

    if (sscanf(path, "/proc/%d/stat", &pid) != 1) {
        errno = ENOENT;
        return -1;
    }

    /* this process's own stat, for the claim: always there */

    if (pid == ngx_pid) {
        return TEST_FD + 1;
    }

    if (sys.open_err) {
        errno = sys.open_err;
        return -1;
    }

    if (pid != sys.pid) {
        errno = ENOENT;
        return -1;
    }

    return TEST_FD;
}


ssize_t
unit_read(int fd, void *buf, size_t len)
{
    int     n;
    char    line[512];

    n = snprintf(line, sizeof(line),
                 "%d (nginx: worker) %c 1 1 1 0 -1 4194624 1 0 0 0 0 0 0 0 "
                 "20 0 1 0 %lu 100000 100 18446744073709551615",
                 (int) (fd == TEST_FD ? sys.pid : ngx_pid),
                 fd == TEST_FD ? sys.state : 'S',
                 fd == TEST_FD ? sys.start : 999UL);

    if (fd == TEST_FD && sys.read_err) {
        errno = sys.read_err;
        return -1;
    }

    if (fd == TEST_FD && sys.read_len >= 0) {
        n = (int) sys.read_len;
    }

    if (fd == TEST_FD && sys.read_len == -2) {

        /* "... 0 77": within field 22, the start time */

        n = (int) (strstr(line, " 0 777 ") - line) + 5;
    }

    if ((size_t) n > len) {
        n = (int) len;
    }

    memcpy(buf, line, n);

    return n;
}


int
unit_kill(pid_t pid, int sig)
{
    sys.kills++;

    if (pid != sys.pid) {
        errno = ESRCH;
        return -1;
    }

    if (sys.kill_err) {
        errno = sys.kill_err;
        return -1;
    }

    return 0;
}


/* NGINX functions */

void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
}


void
ngx_conf_log_error(ngx_uint_t level, ngx_conf_t *cf, ngx_err_t err,
    const char *fmt, ...)
{
}


void *
ngx_calloc(size_t size, ngx_log_t *log)
{
    return calloc(1, size);
}


void *
ngx_slab_alloc(ngx_slab_pool_t *pool, size_t size)
{
    return calloc(1, size);
}


ngx_shm_zone_t *
ngx_shared_memory_add(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    void *tag)
{
    return NULL;
}


void
ngx_rbtree_insert(ngx_rbtree_t *tree, ngx_rbtree_node_t *node)
{
}


void
ngx_rbtree_delete(ngx_rbtree_t *tree, ngx_rbtree_node_t *node)
{
}


u_char *
ngx_sprintf(u_char *buf, const char *fmt, ...)
{
    va_list  args;

    /* the one format metrics.c prints with: "/proc/%P/stat%Z" */

    va_start(args, fmt);

    if (strcmp(fmt, "/proc/%P/stat%Z") == 0) {
        buf += sprintf((char *) buf, "/proc/%d/stat",
                       (int) va_arg(args, ngx_pid_t));
        *buf++ = '\0';

    } else {
        printf("ngx_sprintf stub: unexpected format \"%s\"\n", fmt);
        exit(2);
    }

    va_end(args);

    return buf;
}
