
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_ws_gateway.h"


/*
 * Seconds on the monotonic clock, for the idle window: a step of the
 * wall clock must not move sessions in or out of "idle"; never 0, which
 * marks a session not counted.
 */
#define ngx_ws_gateway_mono_sec()   ((time_t) (ngx_current_msec / 1000) + 1)

/*
 * A slot whose worker has not beaten for this long is checked against
 * the process table; ten lag probes are due in that time.
 */
#define NGX_WS_GATEWAY_BEAT_STALE   2000   /* ms */

/*
 * Receive timestamps: on for the first sessions of a worker that are open
 * at once, and for one session in so many after; see
 * ngx_ws_gateway_metrics_stamp()
 */
#define NGX_WS_GATEWAY_STAMP_ALWAYS 64
#define NGX_WS_GATEWAY_STAMP_EVERY  8

/*
 * How many times in a pass the event that ends the batch goes back behind
 * events posted after it; see ngx_ws_gateway_batch_handler()
 */
#define NGX_WS_GATEWAY_BATCH_DEFER  64

/* slots when neither ws_gateway_metrics_slots nor the zone in use say */
#define NGX_WS_GATEWAY_MIN_SLOTS    32


/* what ngx_ws_gateway_second_read() copies */
#define NGX_WS_GATEWAY_SECOND_ALL     sizeof(ngx_ws_gateway_second_t)
#define NGX_WS_GATEWAY_SECOND_MAXIMA  offsetof(ngx_ws_gateway_second_t, event)


static size_t ngx_ws_gateway_zone_size(ngx_uint_t nslots);
static ngx_uint_t ngx_ws_gateway_zone_slots(ngx_cycle_t *cycle);
static ngx_int_t ngx_ws_gateway_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_ws_gateway_metrics_start(ngx_cycle_t *cycle,
    ngx_ws_gateway_shm_t *shm);
static ngx_int_t ngx_ws_gateway_claim_slot(ngx_ws_gateway_shm_t *shm);
static ngx_uint_t ngx_ws_gateway_slot_dead(ngx_ws_gateway_slot_t *slot);
static ngx_int_t ngx_ws_gateway_proc_start(ngx_pid_t pid,
    ngx_atomic_uint_t *ticks);
static void ngx_ws_gateway_lag_handler(ngx_event_t *ev);
static void ngx_ws_gateway_tick(time_t now);
static void ngx_ws_gateway_snapshot(time_t sec);
static void ngx_ws_gateway_idle_advance(time_t now);
static void ngx_ws_gateway_batch_handler(ngx_event_t *ev);
static ngx_uint_t ngx_ws_gateway_hist_bucket(uint64_t us);
static ngx_int_t ngx_ws_gateway_second_read(ngx_ws_gateway_slot_t *slot,
    time_t t, ngx_ws_gateway_second_t *copy, size_t size);
static void ngx_ws_gateway_hist_quantiles(ngx_ws_gateway_count32_t *now,
    ngx_ws_gateway_count32_t *then, uint64_t *count, uint64_t *q);
static void ngx_ws_gateway_log_line(time_t now);


ngx_ws_gateway_shm_t         *ngx_ws_gateway_shm;
ngx_ws_gateway_slot_t        *ngx_ws_gateway_slot;


/* per worker */

static ngx_event_t            ngx_ws_gateway_lag_event;
static ngx_connection_t       ngx_ws_gateway_lag_conn;    /* for logs */
static uint64_t               ngx_ws_gateway_lag_due;     /* us */
static time_t                 ngx_ws_gateway_last_tick;
static time_t                 ngx_ws_gateway_last_log;
static ngx_uint_t             ngx_ws_gateway_running;     /* init_process
                                                             ran */
static ngx_uint_t             ngx_ws_gateway_batch;       /* events now */
static ngx_uint_t             ngx_ws_gateway_sample;
static ngx_uint_t             ngx_ws_gateway_armed;       /* a sample is
                                                             due */
static ngx_uint_t             ngx_ws_gateway_stamps;      /* sessions with
                                                             SO_TIMESTAMP */
static ngx_uint_t             ngx_ws_gateway_stamp_seq;
static ngx_atomic_uint_t      ngx_ws_gateway_generation;  /* this process
                                                             started with */
#if (NGX_WS_GATEWAY_TEST_HOOKS)
static ngx_msec_t             ngx_ws_gateway_test_slow;   /* ms */
static char *ngx_ws_gateway_test_actions(void);
static ngx_uint_t ngx_ws_gateway_test_stamped(void);
#endif
static ngx_event_t            ngx_ws_gateway_batch_event; /* ends one */
static ngx_uint_t             ngx_ws_gateway_batch_defer; /* times it went
                                                             to the back */

/*
 * Idle sessions: sessions count in the ring slot of the second of their
 * last message; as seconds leave the idle window, their counts move to
 * "idle".  Both ends are O(1) per message and per second.
 */
static ngx_uint_t            *ngx_ws_gateway_idle_ring;
static time_t                 ngx_ws_gateway_idle_sec;    /* advanced to */
static ngx_uint_t             ngx_ws_gateway_idle_size;   /* window + 1 */
static ngx_uint_t             ngx_ws_gateway_idle_count;


static ngx_str_t  ngx_ws_gateway_zone_name = ngx_string("ws_gateway_metrics");

/* the configuration being read warned of too few slots already */
static ngx_uint_t  ngx_ws_gateway_slots_warned;


ngx_int_t
ngx_ws_gateway_metrics_init_conf(ngx_conf_t *cf)
{
    ngx_int_t                   n;
    ngx_uint_t                  nslots, old;
    ngx_shm_zone_t             *shm_zone;
    ngx_core_conf_t            *ccf;
    ngx_ws_gateway_main_conf_t *wmcf;

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_ws_gateway_module);

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    /* worker_processes may come after the http block: the CPU count */

    n = ccf->worker_processes;

    if (n == NGX_CONF_UNSET || n <= 0) {
        n = ngx_ncpu;
    }

    /*
     * NGINX keeps a zone over a reload only if its size is the same, so
     * the size must not follow worker_processes: without
     * ws_gateway_metrics_slots, the zone has slots for four generations
     * of workers (the current one and those draining after reloads),
     * rounded up to a power of two, at least 32.  A reload keeps the zone
     * in use as long as it has slots for two generations of the new
     * count (the new workers, and as many draining), so that a few more
     * workers (16 -> 17: 64 slots, not 68) do not cost every running
     * worker its metrics; the default never shrinks the zone.
     */

    old = ngx_ws_gateway_zone_slots(cf->cycle->old_cycle);

    ngx_ws_gateway_slots_warned = 0;

    if (wmcf->slots != NGX_CONF_UNSET_UINT) {
        nslots = wmcf->slots;

        if (nslots < (ngx_uint_t) n) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "ws_gateway_metrics_slots %ui is fewer than "
                               "the %i worker processes: some workers "
                               "will not be reported", nslots, n);

            ngx_ws_gateway_slots_warned = 1;
        }

    } else if (old >= 2 * (ngx_uint_t) n) {
        nslots = old;

    } else {
        nslots = NGX_WS_GATEWAY_MIN_SLOTS;

        while (nslots < 4 * (ngx_uint_t) n) {
            nslots *= 2;
        }

        nslots = ngx_max(nslots, old);
        nslots = ngx_min(nslots, NGX_WS_GATEWAY_MAX_SLOTS);
    }

    if (old && old != nslots) {
        ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                           "ws_gateway_metrics zone resized from %ui to %ui "
                           "slots: the metrics of running workers restart",
                           old, nslots);
    }

    wmcf->nslots = nslots;

    shm_zone = ngx_shared_memory_add(cf, &ngx_ws_gateway_zone_name,
                                     ngx_ws_gateway_zone_size(nslots),
                                     &ngx_ws_gateway_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_ws_gateway_metrics_init_zone;
    shm_zone->data = wmcf;

    wmcf->zone = shm_zone;

    return NGX_OK;
}


static size_t
ngx_ws_gateway_zone_size(ngx_uint_t nslots)
{
    size_t      size;
    ngx_uint_t  pages;

    /*
     * The slots are one allocation of whole pages from the zone's slab
     * pool; the pool keeps a descriptor (ngx_slab_page_t) per page of the
     * zone, its header and per-size tables before them, and aligns its
     * first page: a descriptor per page, plus three pages for the rest,
     * whatever the number of slots.
     */

    size = offsetof(ngx_ws_gateway_shm_t, slots)
           + nslots * sizeof(ngx_ws_gateway_slot_t);

    pages = (size + ngx_pagesize - 1) / ngx_pagesize;

    return pages * (ngx_pagesize + sizeof(ngx_slab_page_t))
           + 3 * ngx_pagesize;
}


static ngx_uint_t
ngx_ws_gateway_zone_slots(ngx_cycle_t *cycle)
{
    ngx_uint_t             i;
    ngx_list_part_t       *part;
    ngx_shm_zone_t        *zone;
    ngx_ws_gateway_shm_t  *shm;

    /* the slots of the zone the running configuration has, or 0 */

    if (cycle == NULL || cycle->shared_memory.part.elts == NULL) {
        return 0;
    }

    part = &cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].tag != &ngx_ws_gateway_module
            || zone[i].shm.addr == NULL
            || zone[i].shm.name.len != ngx_ws_gateway_zone_name.len
            || ngx_strncmp(zone[i].shm.name.data,
                           ngx_ws_gateway_zone_name.data,
                           ngx_ws_gateway_zone_name.len)
               != 0)
        {
            continue;
        }

        shm = zone[i].data;

        return shm ? (ngx_uint_t) shm->nslots : 0;
    }
}


static ngx_int_t
ngx_ws_gateway_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_ws_gateway_shm_t  *oshm = data;

    size_t                       size;
    ngx_uint_t                   i;
    ngx_slab_pool_t             *shpool;
    ngx_ws_gateway_shm_t        *shm;
    ngx_ws_gateway_main_conf_t  *wmcf;

    wmcf = shm_zone->data;

    if (oshm) {

        /* a reload: the workers of the old generation keep their slots */

        shm_zone->data = oshm;
        oshm->generation++;
        oshm->idle_window = wmcf->idle_window / 1000;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    size = offsetof(ngx_ws_gateway_shm_t, slots)
           + wmcf->nslots * sizeof(ngx_ws_gateway_slot_t);

    /*
     * not ngx_slab_calloc(): the pages of a new zone are zeros already,
     * and a page is made resident only when a worker takes its slot
     */

    shm = ngx_slab_alloc(shpool, size);
    if (shm == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(shm, offsetof(ngx_ws_gateway_shm_t, slots));

    for (i = 0; i < wmcf->nslots; i++) {
        shm->slots[i].pid = 0;
    }

    shm->nslots = wmcf->nslots;
    shm->idle_window = wmcf->idle_window / 1000;

    shpool->data = shm;
    shm_zone->data = shm;

    shpool->log_ctx = (u_char *) " in ws_gateway_metrics zone";

    return NGX_OK;
}


ngx_int_t
ngx_ws_gateway_metrics_init_process(ngx_cycle_t *cycle)
{
    ngx_ws_gateway_main_conf_t  *wmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    ngx_ws_gateway_running = 1;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ws_gateway_module);

    if (wmcf == NULL || !wmcf->metrics || wmcf->zone == NULL) {
        return NGX_OK;
    }

    return ngx_ws_gateway_metrics_start(cycle, wmcf->zone->data);
}


ngx_int_t
ngx_ws_gateway_metrics_init_module(ngx_cycle_t *cycle)
{
    ngx_int_t                    n;
    ngx_core_conf_t             *ccf;
    ngx_ws_gateway_shm_t        *shm;
    ngx_ws_gateway_slot_t       *old;
    ngx_ws_gateway_main_conf_t  *wmcf;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ws_gateway_module);

    /*
     * The zone was sized when the http block was read; worker_processes,
     * a main-level directive, may come after it, when the CPU count stood
     * in for it.  Now the whole configuration is known: a warning, once,
     * if the workers outnumber the slots (those without one serve, and
     * are not reported; the status output counts them as unmetered).
     */

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    n = ccf->master ? ccf->worker_processes : 1;

    if (wmcf && wmcf->metrics && wmcf->zone
        && wmcf->nslots < (ngx_uint_t) n && !ngx_ws_gateway_slots_warned)
    {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "ws gateway: %i worker processes and %ui metrics "
                      "slots, %i workers will not be reported (the zone is "
                      "sized by ws_gateway_metrics_slots, or by "
                      "worker_processes if it comes before the http "
                      "block)",
                      n, wmcf->nslots, n - (ngx_int_t) wmcf->nslots);
    }

    ngx_ws_gateway_slots_warned = 0;

    /*
     * Without a master process, a reload runs in the process that serves:
     * the new cycle is committed, and the zone of the old one, if NGINX
     * did not keep it (its size changed), is about to be unmapped.  The
     * slot moves to the new zone with what it counted; a master process
     * and the first start do nothing here (init_process has not run).
     */

    if (!ngx_ws_gateway_running) {
        return NGX_OK;
    }

    shm = NULL;

    if (wmcf && wmcf->metrics && wmcf->zone) {
        shm = wmcf->zone->data;
    }

    if (shm == ngx_ws_gateway_shm) {
        return NGX_OK;
    }

    old = ngx_ws_gateway_slot;

    ngx_ws_gateway_shm = shm;
    ngx_ws_gateway_slot = NULL;

    /* the old cycle's log is closed soon */

    ngx_ws_gateway_lag_event.log = cycle->log;
    ngx_ws_gateway_batch_event.log = cycle->log;

    if (shm == NULL) {
        return NGX_OK;
    }

    if (old == NULL) {

        /*
         * metrics were off: the sessions open now were not counted, and
         * would be taken from gauges that never had them
         */

        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "ws gateway: without a master process, the metrics "
                      "of this process are reported after a restart");
        return NGX_OK;
    }

    if (ngx_ws_gateway_claim_slot(shm) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "ws gateway: no free metrics slot for this process, "
                      "its metrics are not reported");
        return NGX_OK;
    }

    ngx_memcpy((u_char *) ngx_ws_gateway_slot + sizeof(ngx_atomic_t),
               (u_char *) old + sizeof(ngx_atomic_t),
               sizeof(ngx_ws_gateway_slot_t) - sizeof(ngx_atomic_t));

    ngx_ws_gateway_slot->generation = shm->generation;
    ngx_ws_gateway_generation = shm->generation;

    return NGX_OK;
}


static ngx_int_t
ngx_ws_gateway_metrics_start(ngx_cycle_t *cycle, ngx_ws_gateway_shm_t *shm)
{
    time_t  now;

    /* the other workers' metrics are readable even without a slot */

    ngx_ws_gateway_shm = shm;
    ngx_ws_gateway_generation = shm->generation;

    if (ngx_ws_gateway_claim_slot(shm) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "ws gateway: no free metrics slot for this worker, "
                      "its metrics are not reported");
        return NGX_OK;
    }

    if (ngx_ws_gateway_idle_ring == NULL) {
        ngx_ws_gateway_idle_size = shm->idle_window + 1;

        ngx_ws_gateway_idle_ring = ngx_calloc(ngx_ws_gateway_idle_size
                                              * sizeof(ngx_uint_t),
                                              cycle->log);
        if (ngx_ws_gateway_idle_ring == NULL) {
            return NGX_ERROR;
        }

        ngx_ws_gateway_idle_sec = ngx_ws_gateway_mono_sec();
    }

    now = ngx_time();

    ngx_ws_gateway_last_tick = now;
    ngx_ws_gateway_last_log = now;

    ngx_ws_gateway_slot->started = now;
    ngx_ws_gateway_slot->updated = now;

    ngx_ws_gateway_snapshot(now);

    if (ngx_ws_gateway_lag_event.timer_set) {
        return NGX_OK;
    }

    /* the loop lag probe, which also runs the once-a-second tick */

    ngx_ws_gateway_lag_event.handler = ngx_ws_gateway_lag_handler;
    ngx_ws_gateway_lag_event.log = cycle->log;

    /* timer debug logging takes ev->data for a connection */

    ngx_ws_gateway_lag_conn.fd = (ngx_socket_t) -1;
    ngx_ws_gateway_lag_event.data = &ngx_ws_gateway_lag_conn;
    ngx_ws_gateway_lag_event.cancelable = 1;

    ngx_ws_gateway_lag_due = ngx_ws_gateway_now_us()
                             + NGX_WS_GATEWAY_LAG_PROBE * 1000;
    ngx_add_timer(&ngx_ws_gateway_lag_event, NGX_WS_GATEWAY_LAG_PROBE);

    /*
     * the end of a loop iteration's module events, for events per
     * iteration: see ngx_ws_gateway_metrics_event()
     */

    ngx_ws_gateway_batch_event.handler = ngx_ws_gateway_batch_handler;
    ngx_ws_gateway_batch_event.log = cycle->log;
    ngx_ws_gateway_batch_event.data = &ngx_ws_gateway_lag_conn;

    return NGX_OK;
}


void
ngx_ws_gateway_metrics_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_ws_gateway_batch_event.posted) {
        ngx_delete_posted_event(&ngx_ws_gateway_batch_event);
    }

    if (ngx_ws_gateway_slot == NULL) {
        return;
    }

    /*
     * the slot is free for a later worker; its start time goes first, so
     * that a reader never sees the next owner's pid with this one's start
     * (see ngx_ws_gateway_claim_slot())
     */

    ngx_ws_gateway_slot->start_ticks = 0;
    ngx_memory_barrier();
    ngx_ws_gateway_slot->pid = 0;
    ngx_ws_gateway_slot = NULL;

    if (ngx_ws_gateway_idle_ring) {
        ngx_free(ngx_ws_gateway_idle_ring);
        ngx_ws_gateway_idle_ring = NULL;
    }
}


static ngx_int_t
ngx_ws_gateway_claim_slot(ngx_ws_gateway_shm_t *shm)
{
    ngx_pid_t               pid;
    ngx_uint_t              i;
    ngx_atomic_uint_t       ticks;
    ngx_ws_gateway_slot_t  *slot;

    if (ngx_ws_gateway_proc_start(ngx_pid, &ticks) != NGX_OK) {
        ticks = 0;
    }

    for (i = 0; i < shm->nslots; i++) {
        slot = &shm->slots[i];
        pid = (ngx_pid_t) slot->pid;

        /* a slot left behind by a process that is gone is free again */

        if (pid != 0 && !ngx_ws_gateway_slot_dead(slot)) {
            continue;
        }

        /*
         * a reader that saw this pid with the dead owner's start time
         * would take the new owner for dead and free its slot: the start
         * time is cleared first (0: kill(pid, 0) decides, until it is
         * set below)
         */

        if (pid != 0) {
            slot->start_ticks = 0;
            ngx_memory_barrier();
        }

        if (!ngx_atomic_cmp_set(&slot->pid, (ngx_atomic_uint_t) pid,
                                (ngx_atomic_uint_t) ngx_pid))
        {
            continue;
        }

        ngx_memzero((u_char *) slot + sizeof(ngx_atomic_t),
                    sizeof(ngx_ws_gateway_slot_t) - sizeof(ngx_atomic_t));

        slot->start_ticks = ticks;
        slot->beat = ngx_current_msec;
        slot->worker = ngx_worker;
        slot->generation = shm->generation;

        ngx_ws_gateway_slot = slot;

        return NGX_OK;
    }

    return NGX_DECLINED;
}


uint64_t
ngx_ws_gateway_metrics_generation(void)
{
    return ngx_ws_gateway_generation;
}


ngx_uint_t
ngx_ws_gateway_metrics_unmetered(ngx_uint_t live)
{
    ngx_uint_t        want;
    ngx_core_conf_t  *ccf;

    /*
     * Worker processes of this process's generation that have no slot:
     * as many as the configuration starts, less the "live" slots of that
     * generation a reader found (a worker that found no free slot, or
     * started when worker_processes, after the http block, outnumbered
     * the slots)
     */

    ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                           ngx_core_module);

    want = (ngx_process == NGX_PROCESS_SINGLE)
           ? 1 : (ngx_uint_t) ccf->worker_processes;

    return want > live ? want - live : 0;
}


ngx_int_t
ngx_ws_gateway_slot_live(ngx_ws_gateway_slot_t *slot)
{
    ngx_atomic_uint_t  pid;

    pid = slot->pid;

    if (pid == 0) {
        return 0;
    }

    if (!ngx_ws_gateway_slot_dead(slot)) {
        return 1;
    }

    /*
     * a reader that found the slot's worker gone frees the slot: later
     * readers skip it without a look at /proc, and a worker that starts
     * takes it at once; unless a worker claimed it meanwhile
     */

    (void) ngx_atomic_cmp_set(&slot->pid, pid, 0);

    return 0;
}


static ngx_uint_t
ngx_ws_gateway_slot_dead(ngx_ws_gateway_slot_t *slot)
{
    ngx_int_t          rc;
    ngx_pid_t          pid;
    ngx_atomic_uint_t  ticks;

    /*
     * A slot in use whose worker is gone: killed, or crashed, without
     * freeing it.  A worker beats every 100 ms, so only a slot that
     * stopped beating (variables may be read for every request) costs a
     * look at the process table.
     */

    pid = (ngx_pid_t) slot->pid;

    if (slot == ngx_ws_gateway_slot) {
        return 0;
    }

    if (pid == ngx_pid) {
        /* this process has the pid of the slot's dead owner */
        return 1;
    }

    if ((ngx_msec_int_t) (ngx_current_msec - (ngx_msec_t) slot->beat)
        <= NGX_WS_GATEWAY_BEAT_STALE)
    {
        return 0;
    }

    if (slot->start_ticks == 0) {

        /*
         * no /proc when the slot was claimed: the process exists, and is
         * one this worker may signal (workers share a user)
         */

        return kill(pid, 0) != 0;
    }

    rc = ngx_ws_gateway_proc_start(pid, &ticks);

    if (rc == NGX_DECLINED) {
        return 1;
    }

    if (rc != NGX_OK) {

        /*
         * /proc could not say (EMFILE, a failed or short read): a slot is
         * taken from its worker only when no process has its pid; EPERM
         * is a process of another user, or a live worker: not known dead
         */

        return kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH;
    }

    /* a live process that started at another time: the pid was reused */

    return ticks != slot->start_ticks;
}


static ngx_int_t
ngx_ws_gateway_proc_start(ngx_pid_t pid, ngx_atomic_uint_t *ticks)
{
    int         fd;
    u_char     *p, *last, *field;
    ssize_t     n;
    ngx_err_t   err;
    ngx_uint_t  i;
    u_char      buf[1024];

    /*
     * The start time of a process, in clock ticks after boot: field 22
     * of /proc/<pid>/stat, which with the pid names one process for the
     * life of the system.  NGX_DECLINED: no such process, or a zombie
     * (killed, not yet reaped).  NGX_ERROR: not known (no /proc, EMFILE,
     * a failed or short read); elsewhere than Linux, always.
     */

    *ticks = 0;

    p = ngx_sprintf(buf, "/proc/%P/stat%Z", pid);

    fd = open((char *) buf, O_RDONLY);

    if (fd == -1) {
        return (ngx_errno == NGX_ENOENT || ngx_errno == NGX_ESRCH)
               ? NGX_DECLINED : NGX_ERROR;
    }

    n = read(fd, buf, sizeof(buf) - 1);

    if (n == -1) {
        err = ngx_errno;
        (void) close(fd);

        /* the process was reaped after the open */

        return (err == NGX_ESRCH) ? NGX_DECLINED : NGX_ERROR;
    }

    (void) close(fd);

    if (n == 0) {
        return NGX_ERROR;
    }

    last = buf + n;

    /* the command, field 2, is in parentheses and may hold anything */

    for (p = last; p > buf && p[-1] != ')'; p--) { /* void */ }

    if (p == buf) {
        return NGX_ERROR;
    }

    /* p: " S ppid ...", from field 3, the state, to 22, the start */

    field = NULL;

    for (i = 3; i <= 22; i++) {

        while (p < last && *p == ' ') {
            p++;
        }

        if (p == last) {
            return NGX_ERROR;
        }

        field = p;

        while (p < last && *p != ' ') {
            p++;
        }

        if (i == 3 && (*field == 'Z' || *field == 'X' || *field == 'x')) {
            return NGX_DECLINED;
        }
    }

    /* field 23 follows: the read did not stop within the start time */

    if (p == last) {
        return NGX_ERROR;
    }

    for (/* void */; field < p; field++) {
        if (*field < '0' || *field > '9') {
            return NGX_ERROR;
        }

        *ticks = *ticks * 10 + (*field - '0');
    }

    return NGX_OK;
}


uint64_t
ngx_ws_gateway_now_us(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


static void
ngx_ws_gateway_lag_handler(ngx_event_t *ev)
{
    time_t                    now;
    uint64_t                  us, lag;
    ngx_ws_gateway_second_t  *sec;

    /*
     * A timer due every 100 ms: how late it runs is the event loop's
     * lag, as NGINX sees its own timers fire.
     */

    us = ngx_ws_gateway_now_us();
    lag = us > ngx_ws_gateway_lag_due ? us - ngx_ws_gateway_lag_due : 0;

    if (ngx_ws_gateway_slot) {
        ngx_ws_gateway_slot->beat = ngx_current_msec;
        ngx_ws_gateway_hist_add(&ngx_ws_gateway_slot->lag, lag);

        /*
         * the idle window runs on its own (monotonic) seconds: followed
         * at every probe, a session turns idle within 100 ms of its time
         */

        ngx_ws_gateway_idle_advance(ngx_ws_gateway_mono_sec());

        now = ngx_time();

        if (now != ngx_ws_gateway_last_tick) {
            ngx_ws_gateway_tick(now);
        }

        sec = &ngx_ws_gateway_slot->seconds[now % NGX_WS_GATEWAY_SECONDS];

        if (lag > sec->lag_max) {
            ngx_ws_gateway_count_set(&sec->lag_max, lag);
        }
    }

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        if (ngx_ws_gateway_slot) {
            ngx_ws_gateway_slot->exiting = 1;
        }
    }

    ngx_ws_gateway_lag_due = ngx_ws_gateway_now_us()
                             + NGX_WS_GATEWAY_LAG_PROBE * 1000;
    ngx_add_timer(ev, NGX_WS_GATEWAY_LAG_PROBE);
}


static void
ngx_ws_gateway_tick(time_t now)
{
    ngx_uint_t              i;
    ngx_ws_gateway_slot_t  *slot;

    slot = ngx_ws_gateway_slot;

    /*
     * the second that starts now gets the counters as they stand, for
     * rates; seconds skipped by a stall get the same values, so that a
     * window's rate spreads over the time that really passed
     */

    if (now - ngx_ws_gateway_last_tick > NGX_WS_GATEWAY_SECONDS) {

        /* a stall longer than the ring: only its last seconds matter */

        ngx_ws_gateway_last_tick = now - NGX_WS_GATEWAY_SECONDS;
    }

    for (i = 0; ngx_ws_gateway_last_tick < now && i < NGX_WS_GATEWAY_SECONDS;
         i++)
    {
        ngx_ws_gateway_snapshot(++ngx_ws_gateway_last_tick);
    }

    ngx_ws_gateway_last_tick = now;

    /* a reader that sees the new "updated" finds its second written */

    ngx_memory_barrier();

    slot->updated = now;
    slot->batch_max = 0;

    ngx_ws_gateway_log_line(now);
}


static void
ngx_ws_gateway_snapshot(time_t t)
{
    ngx_uint_t                i;
    ngx_ws_gateway_slot_t    *slot;
    ngx_ws_gateway_second_t  *sec;

    slot = ngx_ws_gateway_slot;

    sec = &slot->seconds[t % NGX_WS_GATEWAY_SECONDS];

    /* odd while written: see ngx_ws_gateway_second_read() */

    sec->seq++;
    ngx_memory_barrier();

    sec->counters = slot->total;
    sec->event_max = 0;
    sec->lag_max = 0;

#if (NGX_WS_GATEWAY_TEST_HOOKS)
    if (ngx_ws_gateway_test_slow) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "ws gateway test slow snapshot: %M ms",
                      ngx_ws_gateway_test_slow);
        ngx_msleep(ngx_ws_gateway_test_slow);
        ngx_ws_gateway_test_slow = 0;
    }
#endif

    for (i = 0; i < NGX_WS_GATEWAY_HIST_BUCKETS; i++) {
        sec->event[i] = (uint32_t) slot->event.bucket[i];
        sec->lag[i] = (uint32_t) slot->lag.bucket[i];
    }

    sec->sec = t;

    ngx_memory_barrier();
    sec->seq++;
}


static void
ngx_ws_gateway_log_line(time_t now)
{
    double                       p99;
    ngx_ws_gateway_slot_t       *slot;
    ngx_ws_gateway_window_t      w;
    ngx_ws_gateway_main_conf_t  *wmcf;

    wmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_ws_gateway_module);

    if (wmcf == NULL || wmcf->log_interval == 0
        || (ngx_msec_t) (now - ngx_ws_gateway_last_log) * 1000
           < wmcf->log_interval)
    {
        return;
    }

    ngx_ws_gateway_last_log = now;
    slot = ngx_ws_gateway_slot;

    ngx_ws_gateway_metrics_window(slot, 10, &w);

    p99 = (double) w.event_us[2] / 1000;

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "ws_gateway: worker=%ui active=%uA idle=%uA "
                  "handshaking=%uA draining=%uA event_p99=%.3fms "
                  "lag_p99=%.3fms accepts=%.1f/s closes=%.1f/s",
                  (ngx_uint_t) slot->worker, slot->active, slot->idle,
                  slot->handshaking, slot->draining, p99,
                  (double) w.lag_us[2] / 1000,
                  w.accepts_rate, w.closes_rate);
}


static void
ngx_ws_gateway_batch_handler(ngx_event_t *ev)
{
    ngx_uint_t              n, b;
    ngx_ws_gateway_slot_t  *slot;

    /*
     * The batch ends with the pass of the event loop, at the end of its
     * posted events: NGINX runs them until none is left, and one posted
     * after this event (a failed session reading on to its end, a
     * session taking its connection over) may run module events in the
     * same pass, which would start a second batch, and count a second
     * iteration, in that pass.  While other events wait behind it, this
     * one goes to the back again; the bound keeps it from passing the
     * turn back and forth forever with another event that wants to be
     * last too.
     */

    if (!ngx_queue_empty(&ngx_posted_events)
        && ngx_ws_gateway_batch_defer < NGX_WS_GATEWAY_BATCH_DEFER)
    {
        ngx_ws_gateway_batch_defer++;
        ngx_post_event(ev, &ngx_posted_events);
        return;
    }

    ngx_ws_gateway_batch_defer = 0;

    /* the module events of the iteration that ends: a run-queue length */

    n = ngx_ws_gateway_batch;
    slot = ngx_ws_gateway_slot;

    ngx_ws_gateway_batch = 0;

    if (n == 0 || slot == NULL) {
        return;
    }

    for (b = 0; n >> (b + 1) && b < 7; b++) { /* void */ }

    ngx_ws_gateway_count_add(&slot->batch[b], 1);
    ngx_ws_gateway_count_add(&slot->total.iterations, 1);

    if (n > slot->batch_max) {
        slot->batch_max = n;
    }
}


void
ngx_ws_gateway_metrics_event(ngx_connection_t *c)
{
    int                         fd;
    u_char                      byte;
    uint64_t                    us, now;
    struct iovec                iov;
    struct msghdr               msg;
    struct timeval             *tv;
    struct cmsghdr             *cm;
    ngx_ws_gateway_count_t     *max;
    ngx_ws_gateway_session_t   *s;
    union {
        struct cmsghdr          cm;
        u_char                  buf[CMSG_SPACE(sizeof(struct timeval))];
    } control;

    /*
     * Event latency: from the moment the kernel received the data the
     * handler is about to read (its receive timestamp, SO_TIMESTAMP) to
     * the moment the handler starts.  One read event in eight is
     * sampled: the timestamp takes a peek at the socket, a system call.
     * Every eighth event arms the sampler, and the next event of a
     * session with timestamps takes the sample.
     */

    if (ngx_ws_gateway_slot == NULL) {
        return;
    }

    s = c->data;

    /*
     * Events per loop iteration, without wrapping the event module's
     * process_events: the first module event of an iteration posts an
     * event that runs after the iteration's I/O handlers and timers, as
     * the last of its posted events, and closes the batch.
     */

    if (ngx_ws_gateway_batch++ == 0) {
        ngx_post_event(&ngx_ws_gateway_batch_event, &ngx_posted_events);
    }

    ngx_ws_gateway_count_add(&ngx_ws_gateway_slot->total.events, 1);

    if ((++ngx_ws_gateway_sample & 7) == 0) {
        ngx_ws_gateway_armed = 1;
    }

    if (!ngx_ws_gateway_armed || !s->stamped) {
        return;
    }

    ngx_ws_gateway_armed = 0;

    fd = c->fd;

    iov.iov_base = &byte;
    iov.iov_len = 1;

    ngx_memzero(&msg, sizeof(struct msghdr));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = &control;
    msg.msg_controllen = sizeof(control);

    if (recvmsg(fd, &msg, MSG_PEEK|MSG_DONTWAIT) <= 0) {
        return;
    }

    for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {

        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMP) {
            continue;
        }

        tv = (struct timeval *) CMSG_DATA(cm);

        us = (uint64_t) tv->tv_sec * 1000000 + tv->tv_usec;

        ngx_gettimeofday(tv);
        now = (uint64_t) tv->tv_sec * 1000000 + tv->tv_usec;

        us = now > us ? now - us : 0;

        ngx_ws_gateway_hist_add(&ngx_ws_gateway_slot->event, us);

        /* the second is started (and its max reset) before it is used */

        if (ngx_time() != ngx_ws_gateway_last_tick) {
            ngx_ws_gateway_tick(ngx_time());
        }

        max = &ngx_ws_gateway_slot->seconds[ngx_time()
                                            % NGX_WS_GATEWAY_SECONDS].event_max;

        if (us > *max) {
            ngx_ws_gateway_count_set(max, us);
        }

        return;
    }
}


ngx_int_t
ngx_ws_gateway_metrics_stamp(ngx_connection_t *c)
{
    int                        on;
    ngx_ws_gateway_session_t  *s;

    /*
     * SO_TIMESTAMP costs a setsockopt() per session (about 1.2 us here)
     * and, while any socket has it, a receive timestamp on every packet
     * the kernel takes in; the flag itself adds nothing measurable to a
     * recv() (docs/metrics.md).  The sampler needs only some sessions
     * with it: the first 64 open at once, so that a worker with few
     * sessions always has samples, and one in eight after.
     */

    s = c->data;

    if (ngx_ws_gateway_slot == NULL
        || (ngx_ws_gateway_stamps >= NGX_WS_GATEWAY_STAMP_ALWAYS
            && ++ngx_ws_gateway_stamp_seq % NGX_WS_GATEWAY_STAMP_EVERY))
    {
        return NGX_OK;
    }

    on = 1;

    if (setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMP, (const void *) &on,
                   sizeof(int))
        == -1)
    {
        ngx_log_error(NGX_LOG_ALERT, c->log, ngx_socket_errno,
                      "setsockopt(SO_TIMESTAMP) failed");
        return NGX_ERROR;
    }

    s->stamped = 1;
    ngx_ws_gateway_stamps++;

    return NGX_OK;
}


void
ngx_ws_gateway_metrics_touch(ngx_ws_gateway_session_t *s)
{
    time_t  now;

    /* a message passed: the session is (again) active for the window */

    now = ngx_ws_gateway_mono_sec();

    if (ngx_ws_gateway_slot == NULL || s->message_sec == now) {
        return;
    }

    if (now > ngx_ws_gateway_idle_sec) {
        ngx_ws_gateway_idle_advance(now);
    }

    if (s->message_sec) {
        if (s->message_sec + (time_t) ngx_ws_gateway_idle_size
            <= ngx_ws_gateway_idle_sec)
        {
            ngx_ws_gateway_idle_count--;

        } else {
            ngx_ws_gateway_idle_ring[s->message_sec
                                     % ngx_ws_gateway_idle_size]--;
        }
    }

    ngx_ws_gateway_idle_ring[now % ngx_ws_gateway_idle_size]++;
    s->message_sec = now;

    ngx_ws_gateway_slot->idle = ngx_ws_gateway_idle_count;
}


void
ngx_ws_gateway_metrics_forget(ngx_ws_gateway_session_t *s)
{
    /*
     * Called for every session that ends, with a slot or not: a session
     * stamped while the process had a slot may end after a reload took
     * it (metrics off, or no free slot in a new zone), and the count of
     * stamped sessions, which is the process's own, must follow it.
     */

    if (s->stamped) {
        s->stamped = 0;
        ngx_ws_gateway_stamps--;
    }

    if (ngx_ws_gateway_slot == NULL || s->message_sec == 0) {
        return;
    }

    if (s->message_sec + (time_t) ngx_ws_gateway_idle_size
        <= ngx_ws_gateway_idle_sec)
    {
        ngx_ws_gateway_idle_count--;

    } else {
        ngx_ws_gateway_idle_ring[s->message_sec % ngx_ws_gateway_idle_size]--;
    }

    s->message_sec = 0;

    ngx_ws_gateway_slot->idle = ngx_ws_gateway_idle_count;
}


static void
ngx_ws_gateway_idle_advance(time_t now)
{
    ngx_uint_t  *slot;

    /*
     * each second that begins takes the ring slot of the second that
     * leaves the window: the sessions counted there become idle
     */

    while (ngx_ws_gateway_idle_sec < now) {
        ngx_ws_gateway_idle_sec++;

        slot = &ngx_ws_gateway_idle_ring[ngx_ws_gateway_idle_sec
                                         % ngx_ws_gateway_idle_size];
        ngx_ws_gateway_idle_count += *slot;
        *slot = 0;
    }

    ngx_ws_gateway_slot->idle = ngx_ws_gateway_idle_count;
}


void
ngx_ws_gateway_hist_add(ngx_ws_gateway_hist_t *h, uint64_t us)
{
    ngx_ws_gateway_count_add(&h->count, 1);
    ngx_ws_gateway_count_add(&h->sum, us);
    ngx_ws_gateway_count_add(&h->bucket[ngx_ws_gateway_hist_bucket(us)], 1);
}


static ngx_uint_t
ngx_ws_gateway_hist_bucket(uint64_t us)
{
    ngx_uint_t  k;

    if (us < 16) {
        return (ngx_uint_t) us;
    }

    if (us >> 32) {
        return NGX_WS_GATEWAY_HIST_BUCKETS - 1;
    }

    /* k: the power of two below us, 4 to 31 */

    k = 63 - __builtin_clzll(us);

    return 16 + (k - 4) * NGX_WS_GATEWAY_HIST_SUB
           + ((us >> (k - 3)) & (NGX_WS_GATEWAY_HIST_SUB - 1));
}


uint64_t
ngx_ws_gateway_hist_value(ngx_uint_t bucket)
{
    ngx_uint_t  k, sub;

    /* the upper bound of a bucket: a quantile is never understated */

    if (bucket < 16) {
        return bucket;
    }

    k = 4 + (bucket - 16) / NGX_WS_GATEWAY_HIST_SUB;
    sub = (bucket - 16) % NGX_WS_GATEWAY_HIST_SUB;

    return ((uint64_t) (NGX_WS_GATEWAY_HIST_SUB + sub + 1) << (k - 3)) - 1;
}


void
ngx_ws_gateway_metrics_window(ngx_ws_gateway_slot_t *slot,
    ngx_uint_t seconds, ngx_ws_gateway_window_t *w)
{
    time_t                   now, then, t;
    uint64_t                 events, iterations, emax, lmax, e, l;
    ngx_uint_t               span, i;
    ngx_ws_gateway_second_t  cur, old;

    /*
     * A window is the whole seconds between the snapshot "seconds" ago
     * and the last one, taken at the start of the current second; for a
     * worker younger than that it starts when the worker did.  A second
     * that cannot be read whole (the worker is rewriting it: it is the
     * oldest of the ring) gives way to the next one, and the window is
     * one second shorter.
     */

    ngx_memzero(w, sizeof(ngx_ws_gateway_window_t));
    w->seconds = seconds;

    now = (time_t) slot->updated;
    then = now - seconds;

    if (then < (time_t) slot->started) {
        then = slot->started;
    }

    ngx_memory_barrier();

    if (now <= then
        || ngx_ws_gateway_second_read(slot, now, &cur,
                                      NGX_WS_GATEWAY_SECOND_ALL)
           != NGX_OK)
    {
        return;
    }

    while (then < now
           && ngx_ws_gateway_second_read(slot, then, &old,
                                         NGX_WS_GATEWAY_SECOND_ALL)
              != NGX_OK)
    {
        then++;
    }

    if (then == now) {
        return;
    }

    span = now - then;

    w->accepts_rate = (double) (cur.counters.accepts
                                - old.counters.accepts) / span;
    w->closes_rate = (double) (cur.counters.closes
                               - old.counters.closes) / span;
    w->messages_in_rate = (double) (cur.counters.messages_in
                                    - old.counters.messages_in) / span;
    w->messages_out_rate = (double) (cur.counters.messages_out
                                     - old.counters.messages_out) / span;

    events = cur.counters.events - old.counters.events;
    iterations = cur.counters.iterations - old.counters.iterations;

    w->events_per_iteration = iterations ? (double) events / iterations : 0;

    ngx_ws_gateway_hist_quantiles(cur.event, old.event, &w->event_count,
                                  w->event_us);
    ngx_ws_gateway_hist_quantiles(cur.lag, old.lag, &w->lag_count,
                                  w->lag_us);

    /* the max: the largest of the window's seconds */

    emax = 0;
    lmax = 0;

    for (i = 0; i < span; i++) {
        t = then + i;

        /* the head of the second only, into what served as "old" */

        if (ngx_ws_gateway_second_read(slot, t, &old,
                                       NGX_WS_GATEWAY_SECOND_MAXIMA)
            != NGX_OK)
        {
            continue;
        }

        e = ngx_ws_gateway_count_get(&old.event_max);
        l = ngx_ws_gateway_count_get(&old.lag_max);

        emax = ngx_max(emax, e);
        lmax = ngx_max(lmax, l);
    }

    /* a quantile is a bucket's upper bound: never above the max seen */

    for (i = 0; i < NGX_WS_GATEWAY_QUANTILES - 1; i++) {
        w->event_us[i] = ngx_min(w->event_us[i], emax);
        w->lag_us[i] = ngx_min(w->lag_us[i], lmax);
    }

    w->event_us[NGX_WS_GATEWAY_QUANTILES - 1] = emax;
    w->lag_us[NGX_WS_GATEWAY_QUANTILES - 1] = lmax;
}


static ngx_int_t
ngx_ws_gateway_second_read(ngx_ws_gateway_slot_t *slot, time_t t,
    ngx_ws_gateway_second_t *copy, size_t size)
{
    ngx_uint_t                i;
    ngx_atomic_uint_t         seq;
    ngx_ws_gateway_second_t  *sec;

    /*
     * A copy of second t, between two equal, even reads of its sequence
     * number: the worker did not write it meanwhile.  A few tries, not a
     * spin: a worker blocked in the middle of a write must not block its
     * readers.  "size": the whole second, or only its head (the second
     * and its maxima).  NGX_DECLINED: being written, or not second t (any
     * more).
     */

    sec = &slot->seconds[t % NGX_WS_GATEWAY_SECONDS];

    for (i = 0; i < 4; i++) {
        seq = sec->seq;

        if (seq & 1) {
            ngx_cpu_pause();
            continue;
        }

        ngx_memory_barrier();

        ngx_memcpy(copy, sec, size);

        ngx_memory_barrier();

        if (sec->seq == seq) {
            return copy->sec == t ? NGX_OK : NGX_DECLINED;
        }
    }

    return NGX_DECLINED;
}


static void
ngx_ws_gateway_hist_quantiles(ngx_ws_gateway_count32_t *now,
    ngx_ws_gateway_count32_t *then, uint64_t *count, uint64_t *q)
{
    uint64_t    total, seen, target, d[NGX_WS_GATEWAY_HIST_BUCKETS];
    ngx_uint_t  i, j;

    static const uint64_t  per_mille[] = { 500, 900, 990, 999 };

    total = 0;

    for (i = 0; i < NGX_WS_GATEWAY_HIST_BUCKETS; i++) {

        /* the low 32 bits of two counts: their difference modulo 2^32 */

        d[i] = (uint32_t) (now[i] - then[i]);
        total += d[i];
    }

    *count = total;

    if (total == 0) {
        return;
    }

    for (j = 0; j < 4; j++) {
        target = (total * per_mille[j] + 999) / 1000;
        seen = 0;

        for (i = 0; i < NGX_WS_GATEWAY_HIST_BUCKETS; i++) {
            seen += d[i];

            if (seen >= target) {
                break;
            }
        }

        q[j] = ngx_ws_gateway_hist_value(i);
    }
}


#if (NGX_WS_GATEWAY_TEST_HOOKS)

static ngx_uint_t
ngx_ws_gateway_test_stamped(void)
{
    int            on;
    socklen_t      len;
    ngx_uint_t     n;
    ngx_socket_t   fd;
    struct rlimit  rlmt;

    /*
     * sockets of this process with SO_TIMESTAMP on, asked of the kernel;
     * every descriptor, not the cycle's connections: after a reload
     * without a master process, ngx_cycle has none (the sessions are in
     * the old cycle's)
     */

    if (getrlimit(RLIMIT_NOFILE, &rlmt) == -1) {
        return 0;
    }

    n = 0;

    for (fd = 0; (rlim_t) fd < rlmt.rlim_cur && fd < 1024 * 1024; fd++) {

        on = 0;
        len = sizeof(int);

        if (getsockopt(fd, SOL_SOCKET, SO_TIMESTAMP, &on, &len) == 0 && on) {
            n++;
        }
    }

    return n;
}


static char *
ngx_ws_gateway_test_actions(void)
{
    ngx_uint_t            i;
    ngx_event_conf_t     *ecf;
    ngx_event_module_t   *m;

    /* whose ngx_event_actions.process_events runs: the event module's? */

    ecf = ngx_event_get_conf(ngx_cycle->conf_ctx, ngx_event_core_module);

    for (i = 0; ngx_cycle->modules[i]; i++) {

        if (ngx_cycle->modules[i]->type != NGX_EVENT_MODULE
            || ngx_cycle->modules[i]->ctx_index != ecf->use)
        {
            continue;
        }

        m = ngx_cycle->modules[i]->ctx;

        return m->actions.process_events == ngx_event_actions.process_events
               ? "the event module's" : "replaced";
    }

    return "unknown";
}


void
ngx_ws_gateway_metrics_test_hook(u_char *data, size_t len)
{
    time_t      now, t;
    ngx_int_t   n;
    ngx_uint_t  i;

    static struct {
        ngx_str_t   prefix;
        ngx_int_t   max;
    }  hooks[] = {
        { ngx_string("ws-gateway-test-age:"), NGX_WS_GATEWAY_SECONDS - 1 },
        { ngx_string("ws-gateway-test-slow-snapshot:"), 10000 }
    };

    /*
     * Test builds only: "ws-gateway-test-age:N" makes the worker's slot
     * look N seconds old (the ring filled with the counters as they are),
     * so that the 60 s window is whole at once; the next snapshot after
     * "ws-gateway-test-slow-snapshot:MS" blocks the worker for MS
     * milliseconds in the middle of its write, for the readers' test.
     */

    if (len == sizeof("ws-gateway-test-actions") - 1
        && ngx_strncmp(data, "ws-gateway-test-actions", len) == 0)
    {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "ws gateway test: process_events is %s",
                      ngx_ws_gateway_test_actions());
        return;
    }

    if (len == sizeof("ws-gateway-test-stamped") - 1
        && ngx_strncmp(data, "ws-gateway-test-stamped", len) == 0)
    {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "ws gateway test: %ui sockets with SO_TIMESTAMP, "
                      "%ui counted", ngx_ws_gateway_test_stamped(),
                      ngx_ws_gateway_stamps);
        return;
    }

    if (ngx_ws_gateway_slot == NULL) {
        return;
    }

    for (i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {

        if (len <= hooks[i].prefix.len
            || ngx_strncmp(data, hooks[i].prefix.data, hooks[i].prefix.len)
               != 0)
        {
            continue;
        }

        n = ngx_atoi(data + hooks[i].prefix.len, len - hooks[i].prefix.len);

        if (n <= 0 || n > hooks[i].max) {
            return;
        }

        if (i == 1) {
            ngx_ws_gateway_test_slow = (ngx_msec_t) n;
            return;
        }

        now = ngx_time();

        for (t = now - n; t <= now; t++) {
            ngx_ws_gateway_snapshot(t);
        }

        ngx_ws_gateway_slot->started = now - n;

        return;
    }
}

#endif
