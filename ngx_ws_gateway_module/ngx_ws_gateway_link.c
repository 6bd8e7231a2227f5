
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_ws_gateway.h"


/*
 * Backend links.  A worker opens, when it starts, ws_gateway_links links
 * to every server of every upstream that a ws_gateway_pass names (none
 * to a server marked "down"), with ngx_event_connect_peer().  A link
 * says HELLO and waits for the backend's; then it is ready and new
 * sessions are given to it: the upstream's weighted round robin
 * (ngx_http_upstream_get_round_robin_peer(), which honours weight,
 * max_fails and fail_timeout, backup and down) picks a server, and the
 * server's ready link with the fewest sessions takes the session.
 *
 * Records to a link are appended to its queue (blocks of the worker's
 * outbound pool) and written once per pass of the event loop, from a
 * posted event.  Records from a link are parsed by the record codec as
 * they come; a record whose body is not whole in the read buffer is
 * gathered in a buffer of its own, at most max_record bytes.
 *
 * One timer per link: the backoff before a connect, the connect and
 * HELLO deadline, and then the next of: the heartbeat, the read deadline
 * and, while records wait, the send deadline.
 */


#define NGX_WS_GATEWAY_LINK_IDLE        0   /* waits for its backoff */
#define NGX_WS_GATEWAY_LINK_CONNECTING  1
#define NGX_WS_GATEWAY_LINK_HELLO       2   /* waits for the backend's */
#define NGX_WS_GATEWAY_LINK_READY       3

#define NGX_WS_GATEWAY_LINK_BUFFER      (64 * 1024)

/* what a link reads in one turn of the event loop */
#define NGX_WS_GATEWAY_LINK_TURN        (4 * NGX_WS_GATEWAY_LINK_BUFFER)

/* what the gateway announces above ws_gateway_link_max_message */
#define NGX_WS_GATEWAY_LINK_SLACK       512

/* the backend must take records of this size at least */
#define NGX_WS_GATEWAY_LINK_PEER_MIN    1024


struct ngx_ws_gateway_link_s {
    ngx_peer_connection_t          pc;
    ngx_log_t                      log;          /* its connection's */
    ngx_ws_gateway_lserver_t      *server;
    ngx_uint_t                     index;
    ngx_uint_t                     state;

    ngx_event_t                    timer;
    ngx_event_t                    flush;        /* posted: write */

    ngx_ws_gateway_out_t           out;          /* records to write */
    ngx_ws_gateway_record_parser_t parser;
    ngx_buf_t                      in;
    u_char                        *body;         /* a record gathered */
    size_t                         body_len;
    unsigned                       in_body:1;
    unsigned                       been_ready:1; /* since the start */

    ngx_uint_t                     failures;     /* in a row */
    ngx_msec_t                     started;      /* connect began */
    ngx_msec_t                     last_read;
    ngx_msec_t                     last_ping;
    ngx_msec_t                     progress;     /* of the writes */
    uint64_t                       ping;         /* opaque in flight */
    ngx_msec_t                     ping_sent;

    uint32_t                       peer_max_record;
    uint32_t                       acked;        /* the last heartbeat
                                                    answered */
    ngx_uint_t                     sessions;
    ngx_queue_t                    approvals;    /* handshakes waiting */
    ngx_queue_t                    paused;       /* sessions waiting for
                                                    room, at the high
                                                    watermark */
    ngx_queue_t                    announced;    /* orphans re-announced
                                                    here, not confirmed
                                                    yet, in epoch order */
    unsigned                       fanout:1;     /* reads nothing until
                                                    its fan-out is done */

    uint64_t                       ping_us;      /* when it was sent */
};


struct ngx_ws_gateway_lserver_s {
    ngx_ws_gateway_lupstream_t    *up;
    ngx_http_upstream_rr_peers_t  *peers;        /* its list */
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_str_t                      name;
    ngx_ws_gateway_link_t         *links;
    ngx_uint_t                     nlinks;
    ngx_uint_t                     next;         /* where a pick starts */
    ngx_ws_gateway_link_metrics_t *m;            /* its worker's slot's */
};


/* a handshake that waits for its backend's ACCEPT or REJECT */

typedef struct {
    ngx_queue_t                    queue;        /* its link's */
    ngx_http_request_t            *request;
    ngx_ws_gateway_link_t         *link;
    uint64_t                       id;
    ngx_event_t                    timer;

    /* accepted, until its session starts: what its backend sends */
    ngx_ws_gateway_start_t         start;
    size_t                         limit;

    /* its connection's, while it waits */
    ngx_event_handler_pt           read_handler;

    unsigned                       waiting:1;
    unsigned                       accepted:1;
    unsigned                       starting:1;   /* in the link's list */
} ngx_ws_gateway_approval_t;


typedef struct {
    ngx_ws_gateway_session_t     **slots;
    ngx_uint_t                     size;         /* a power of 2, or 0 */
    ngx_uint_t                     used;
} ngx_ws_gateway_sessions_t;


static ngx_ws_gateway_link_metrics_t *ngx_ws_gateway_link_metrics(
    ngx_ws_gateway_lserver_t *server, ngx_uint_t n);
static void ngx_ws_gateway_link_state(ngx_ws_gateway_link_t *link,
    ngx_uint_t state);
static void ngx_ws_gateway_link_connect(ngx_ws_gateway_link_t *link);
static ngx_int_t ngx_ws_gateway_link_connected(ngx_ws_gateway_link_t *link);
static ngx_int_t ngx_ws_gateway_link_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_ws_gateway_link_timer(ngx_event_t *ev);
static void ngx_ws_gateway_link_set_timer(ngx_ws_gateway_link_t *link);
static void ngx_ws_gateway_link_read_handler(ngx_event_t *rev);
static void ngx_ws_gateway_link_write_handler(ngx_event_t *wev);
static void ngx_ws_gateway_link_flush_handler(ngx_event_t *ev);
static ngx_int_t ngx_ws_gateway_link_write(ngx_ws_gateway_link_t *link);
static ngx_int_t ngx_ws_gateway_link_record(ngx_ws_gateway_link_t *link,
    u_char *body, size_t len);
static ngx_int_t ngx_ws_gateway_link_hello(ngx_ws_gateway_link_t *link,
    u_char *body, size_t len);
static ngx_int_t ngx_ws_gateway_link_queue(ngx_ws_gateway_link_t *link,
    u_char *head, size_t hlen, u_char *data, size_t len);
static ngx_int_t ngx_ws_gateway_link_close_event(ngx_ws_gateway_link_t *link,
    uint64_t id, ngx_uint_t code, ngx_uint_t by, u_char *reason, size_t len);
static void ngx_ws_gateway_link_say_hello(ngx_ws_gateway_link_t *link);
static void ngx_ws_gateway_link_gone(ngx_ws_gateway_link_t *link,
    uint64_t id, ngx_uint_t type);
static void ngx_ws_gateway_link_fail(ngx_ws_gateway_link_t *link,
    ngx_uint_t code, const char *fmt, ...);
static void ngx_ws_gateway_link_reset(ngx_ws_gateway_link_t *link,
    ngx_uint_t failed);
static void ngx_ws_gateway_link_peer_state(ngx_ws_gateway_link_t *link,
    ngx_uint_t state);
static ngx_ws_gateway_approval_t *ngx_ws_gateway_approval_find(
    ngx_ws_gateway_link_t *link, uint64_t id);
static void ngx_ws_gateway_approval_done(ngx_ws_gateway_approval_t *a);
static void ngx_ws_gateway_approval_timeout(ngx_event_t *ev);
static void ngx_ws_gateway_approval_read_handler(ngx_event_t *rev);
static void ngx_ws_gateway_approval_cleanup(void *data);
static void ngx_ws_gateway_approval_refuse(ngx_http_request_t *r,
    ngx_uint_t status);
static ngx_int_t ngx_ws_gateway_link_parse(ngx_ws_gateway_link_t *link);
static void ngx_ws_gateway_link_join(ngx_ws_gateway_session_t *s,
    ngx_ws_gateway_link_t *link);
static ngx_int_t ngx_ws_gateway_link_channel(ngx_ws_gateway_link_t *link,
    u_char *body, size_t len);
static ngx_int_t ngx_ws_gateway_start_channel(ngx_ws_gateway_approval_t *a,
    ngx_uint_t type, u_char *name, size_t len);
static void ngx_ws_gateway_link_refused(ngx_ws_gateway_link_t *link,
    uint64_t id, ngx_uint_t type, ngx_uint_t code);
static void ngx_ws_gateway_link_unpause(ngx_ws_gateway_link_t *link);
static void ngx_ws_gateway_link_orphan(ngx_ws_gateway_link_t *link);
static void ngx_ws_gateway_link_unsent(u_char *head, size_t n, void *data);
static void ngx_ws_gateway_link_confirmed(ngx_ws_gateway_link_t *link);
static void ngx_ws_gateway_link_adopt(ngx_event_t *ev);
static ngx_int_t ngx_ws_gateway_link_reannounce(ngx_ws_gateway_session_t *s,
    ngx_ws_gateway_link_t *link);
static void ngx_ws_gateway_link_expire(ngx_event_t *ev);
static void ngx_ws_gateway_link_expire_timer(ngx_ws_gateway_lupstream_t *lup);
static ngx_int_t ngx_ws_gateway_sessions_add(ngx_ws_gateway_session_t *s);
static ngx_ws_gateway_session_t *ngx_ws_gateway_sessions_find(uint64_t id);
static void ngx_ws_gateway_sessions_del(ngx_ws_gateway_session_t *s);


/* per worker */

static ngx_ws_gateway_sessions_t   ngx_ws_gateway_sessions;
static ngx_array_t                *ngx_ws_gateway_lupstreams;
static ngx_str_t                   ngx_ws_gateway_link_software =
    ngx_string("ngx_ws_gateway_module/" NGX_WS_GATEWAY_VERSION
               " nginx/" NGINX_VERSION);


/* configuration */

char *
ngx_ws_gateway_link_pass(ngx_conf_t *cf, ngx_str_t *name, ngx_uint_t *index)
{
    ngx_url_t                      u;
    ngx_uint_t                     i;
    ngx_ws_gateway_lupstream_t    *lup;
    ngx_ws_gateway_main_conf_t    *wmcf;
    ngx_http_upstream_srv_conf_t  *uscf;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *name;
    u.no_resolve = 1;

    uscf = ngx_http_upstream_add(cf, &u, 0);
    if (uscf == NULL) {
        return NGX_CONF_ERROR;
    }

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_ws_gateway_module);

    if (wmcf->upstreams == NULL) {
        wmcf->upstreams = ngx_array_create(cf->pool, 4,
                                           sizeof(ngx_ws_gateway_lupstream_t));
        if (wmcf->upstreams == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    lup = wmcf->upstreams->elts;

    for (i = 0; i < wmcf->upstreams->nelts; i++) {
        if (lup[i].upstream == uscf) {

            /* an index: the array may move while it grows */

            *index = i;
            return NGX_CONF_OK;
        }
    }

    lup = ngx_array_push(wmcf->upstreams);
    if (lup == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(lup, sizeof(ngx_ws_gateway_lupstream_t));
    lup->upstream = uscf;

    *index = wmcf->upstreams->nelts - 1;

    return NGX_CONF_OK;
}


void *
ngx_ws_gateway_link_create_conf(ngx_conf_t *cf)
{
    ngx_ws_gateway_link_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_ws_gateway_link_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->links = NGX_CONF_UNSET_UINT;
    conf->connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->send_timeout = NGX_CONF_UNSET_MSEC;
    conf->read_timeout = NGX_CONF_UNSET_MSEC;
    conf->heartbeat = NGX_CONF_UNSET_MSEC;
    conf->backoff_min = NGX_CONF_UNSET_MSEC;
    conf->backoff_max = NGX_CONF_UNSET_MSEC;
    conf->max_message = NGX_CONF_UNSET_SIZE;
    conf->buffer = NGX_CONF_UNSET_SIZE;
    conf->high_watermark = NGX_CONF_UNSET_SIZE;
    conf->low_watermark = NGX_CONF_UNSET_SIZE;

    return conf;
}


char *
ngx_ws_gateway_link_backoff(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_gateway_link_conf_t *lcf = conf;

    ngx_str_t   *value;
    ngx_msec_t   min, max;

    if (lcf->backoff_min != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    min = ngx_parse_time(&value[1], 0);

    if (min == (ngx_msec_t) NGX_ERROR || min < 10 || min > 3600000) {
        return "has an invalid minimum: from 10ms to 1h";
    }

    max = min * 100;

    if (cf->args->nelts == 3) {
        max = ngx_parse_time(&value[2], 0);

        if (max == (ngx_msec_t) NGX_ERROR || max > 3600000) {
            return "has an invalid maximum: at most 1h";
        }

        if (max < min) {
            return "has a maximum below its minimum";
        }
    }

    lcf->backoff_min = min;
    lcf->backoff_max = ngx_min(max, 3600000);

    return NGX_CONF_OK;
}


char *
ngx_ws_gateway_link_watermark(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_gateway_link_conf_t *lcf = conf;

    char  *rv;

    rv = ngx_conf_set_size_slot(cf, cmd, conf);

    if (rv == NGX_CONF_OK) {
        lcf->wm_file = cf->conf_file->file.name.data;
        lcf->wm_line = cf->conf_file->line;
    }

    return rv;
}


/*
 * After the configuration is read: the upstreams' link settings (from
 * their upstream{} blocks, defaults for an upstream that ws_gateway_pass
 * made of an address) and the indices that ws_gateway_pass left become
 * pointers.
 */

ngx_int_t
ngx_ws_gateway_link_init_conf(ngx_conf_t *cf)
{
    ngx_uint_t                     i;
    ngx_ws_gateway_lupstream_t    *lup;
    ngx_ws_gateway_link_conf_t    *lcf;
    ngx_ws_gateway_main_conf_t    *wmcf;
    ngx_http_upstream_srv_conf_t  *uscf;

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_ws_gateway_module);

    if (wmcf->upstreams == NULL) {
        return NGX_OK;
    }

    lup = wmcf->upstreams->elts;

    for (i = 0; i < wmcf->upstreams->nelts; i++) {
        uscf = lup[i].upstream;

        if (uscf->srv_conf) {
            lcf = uscf->srv_conf[ngx_ws_gateway_module.ctx_index];

        } else {
            lcf = ngx_ws_gateway_link_create_conf(cf);
            if (lcf == NULL) {
                return NGX_ERROR;
            }
        }

        ngx_conf_init_uint_value(lcf->links, 2);
        ngx_conf_init_msec_value(lcf->connect_timeout, 5000);
        ngx_conf_init_msec_value(lcf->send_timeout, 10000);
        ngx_conf_init_msec_value(lcf->read_timeout, 15000);
        ngx_conf_init_msec_value(lcf->heartbeat, 5000);
        ngx_conf_init_msec_value(lcf->backoff_min, 100);
        ngx_conf_init_msec_value(lcf->backoff_max, 10000);
        ngx_conf_init_size_value(lcf->max_message, 1024 * 1024);
        ngx_conf_init_size_value(lcf->buffer, 4 * 1024 * 1024);
        ngx_conf_init_size_value(lcf->high_watermark,
                                 ngx_min(1024 * 1024, lcf->buffer / 2));
        ngx_conf_init_size_value(lcf->low_watermark,
                                 lcf->high_watermark / 4);

        if (lcf->low_watermark >= lcf->high_watermark
            || lcf->high_watermark > lcf->buffer)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "upstream \"%V\": "
                          "\"ws_gateway_link_low_watermark\" %uz must be "
                          "below \"ws_gateway_link_high_watermark\" %uz, "
                          "and that at most \"ws_gateway_link_buffer\" "
                          "%uz, in %s:%ui", &uscf->host, lcf->low_watermark,
                          lcf->high_watermark, lcf->buffer,
                          lcf->wm_file ? lcf->wm_file : uscf->file_name,
                          lcf->wm_file ? lcf->wm_line : uscf->line);
            return NGX_ERROR;
        }

        if (lcf->backoff_max < lcf->backoff_min) {
            lcf->backoff_max = lcf->backoff_min;
        }

        lup[i].conf = lcf;
    }

    return NGX_OK;
}


ngx_ws_gateway_lupstream_t *
ngx_ws_gateway_link_upstream(ngx_conf_t *cf, ngx_uint_t index)
{
    ngx_ws_gateway_main_conf_t  *wmcf;

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_ws_gateway_module);

    return (ngx_ws_gateway_lupstream_t *) wmcf->upstreams->elts + index;
}


/* a worker starts: its links */

ngx_int_t
ngx_ws_gateway_link_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i, j, k, n, nlinks, nmetrics;
    ngx_ws_gateway_link_t         *link;
    ngx_ws_gateway_lserver_t      *server;
    ngx_ws_gateway_lupstream_t    *lup;
    ngx_ws_gateway_main_conf_t    *wmcf;
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_upstream_rr_peers_t  *peers, *list;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ws_gateway_module);

    if (wmcf == NULL || wmcf->upstreams == NULL) {
        return NGX_OK;
    }

    ngx_ws_gateway_lupstreams = wmcf->upstreams;

    lup = wmcf->upstreams->elts;
    nmetrics = 0;

    for (i = 0; i < wmcf->upstreams->nelts; i++) {
        peers = lup[i].upstream->peer.data;

        if (peers == NULL) {
            continue;
        }

        k = peers->next ? peers->next->number : 0;
        n = peers->number + k;
        k = ngx_max(peers->number, k);

        lup[i].tried = ngx_calloc((k + 8 * sizeof(uintptr_t) - 1)
                                  / (8 * sizeof(uintptr_t))
                                  * sizeof(uintptr_t), cycle->log);
        lup[i].servers = ngx_calloc(n * sizeof(ngx_ws_gateway_lserver_t),
                                    cycle->log);

        if (lup[i].tried == NULL || lup[i].servers == NULL) {
            return NGX_ERROR;
        }

        n = 0;

        for (list = peers; list; list = list->next) {

            ngx_http_upstream_rr_peers_rlock(list);

            for (peer = list->peer; peer; peer = peer->next) {
                server = &lup[i].servers[n++];

                server->up = &lup[i];
                server->peers = list;
                server->peer = peer;

                server->name.data = ngx_alloc(peer->name.len, cycle->log);
                if (server->name.data == NULL) {
                    ngx_http_upstream_rr_peers_unlock(list);
                    return NGX_ERROR;
                }

                ngx_memcpy(server->name.data, peer->name.data,
                           peer->name.len);
                server->name.len = peer->name.len;

                nlinks = peer->down ? 0 : lup[i].conf->links;

                server->links = ngx_calloc(nlinks
                                           * sizeof(ngx_ws_gateway_link_t),
                                           cycle->log);
                if (nlinks && server->links == NULL) {
                    ngx_http_upstream_rr_peers_unlock(list);
                    return NGX_ERROR;
                }

                server->nlinks = nlinks;
            }

            ngx_http_upstream_rr_peers_unlock(list);
        }

        lup[i].nservers = n;

        ngx_queue_init(&lup[i].orphans);
        ngx_rbtree_init(&lup[i].deadlines, &lup[i].sentinel,
                        ngx_rbtree_insert_timer_value);

        lup[i].adopt.handler = ngx_ws_gateway_link_adopt;
        lup[i].adopt.data = &lup[i];
        lup[i].adopt.log = cycle->log;
        lup[i].adopt.cancelable = 1;

        lup[i].expire.handler = ngx_ws_gateway_link_expire;
        lup[i].expire.data = &lup[i];
        lup[i].expire.log = cycle->log;
        lup[i].expire.cancelable = 1;

        for (j = 0; j < n; j++) {
            lup[i].servers[j].m = ngx_ws_gateway_link_metrics(
                                      &lup[i].servers[j], nmetrics++);

            /* a link starts down, waiting for its first connect */

            lup[i].servers[j].m->down += lup[i].servers[j].nlinks;
            lup[i].servers[j].m->high_watermark = lup[i].conf->high_watermark;
            lup[i].servers[j].m->low_watermark = lup[i].conf->low_watermark;
        }

        for (j = 0; j < n; j++) {
            server = &lup[i].servers[j];

            for (k = 0; k < server->nlinks; k++) {
                link = &server->links[k];

                link->server = server;
                link->index = j * lup[i].conf->links + k;
                ngx_queue_init(&link->approvals);
                ngx_queue_init(&link->paused);
                ngx_queue_init(&link->announced);

                link->timer.handler = ngx_ws_gateway_link_timer;
                link->timer.data = link;
                link->timer.log = cycle->log;
                link->timer.cancelable = 1;

                link->flush.handler = ngx_ws_gateway_link_flush_handler;
                link->flush.data = link;
                link->flush.log = cycle->log;

                link->in.start = ngx_alloc(NGX_WS_GATEWAY_LINK_BUFFER,
                                           cycle->log);
                if (link->in.start == NULL) {
                    return NGX_ERROR;
                }

                link->in.pos = link->in.start;
                link->in.last = link->in.start;
                link->in.end = link->in.start + NGX_WS_GATEWAY_LINK_BUFFER;

                ngx_ws_gateway_link_connect(link);
            }
        }
    }

    return NGX_OK;
}


void
ngx_ws_gateway_link_exit_process(void)
{
    ngx_uint_t                   i, j, k;
    ngx_ws_gateway_link_t       *link;
    ngx_ws_gateway_lserver_t    *server;
    ngx_ws_gateway_lupstream_t  *lup;

    if (ngx_ws_gateway_lupstreams == NULL) {
        return;
    }

    lup = ngx_ws_gateway_lupstreams->elts;

    for (i = 0; i < ngx_ws_gateway_lupstreams->nelts; i++) {
        for (j = 0; j < lup[i].nservers; j++) {
            server = &lup[i].servers[j];

            for (k = 0; k < server->nlinks; k++) {
                link = &server->links[k];

                if (link->pc.connection) {
                    ngx_close_connection(link->pc.connection);
                    link->pc.connection = NULL;
                }

                (void) ngx_ws_gateway_out_free(&link->out);

                if (link->body) {
                    ngx_free(link->body);
                    link->body = NULL;
                }

                ngx_free(link->in.start);
                link->in.start = NULL;
            }

            if (server->links) {
                ngx_free(server->links);
            }

            ngx_free(server->name.data);
        }

        if (lup[i].adopt.posted) {
            ngx_delete_posted_event(&lup[i].adopt);
        }

        if (lup[i].adopt.timer_set) {
            ngx_del_timer(&lup[i].adopt);
        }

        if (lup[i].expire.timer_set) {
            ngx_del_timer(&lup[i].expire);
        }

        ngx_free(lup[i].servers);
        ngx_free(lup[i].tried);
        lup[i].servers = NULL;
        lup[i].tried = NULL;
        lup[i].nservers = 0;
    }

    /* what init_process and the sessions allocated: for leak checkers */

    if (ngx_ws_gateway_sessions.slots) {
        ngx_free(ngx_ws_gateway_sessions.slots);
        ngx_ws_gateway_sessions.slots = NULL;
        ngx_ws_gateway_sessions.size = 0;
        ngx_ws_gateway_sessions.used = 0;
    }

    ngx_ws_gateway_lupstreams = NULL;
}


/* the gauges of links by state follow a link's state */

static void
ngx_ws_gateway_link_state(ngx_ws_gateway_link_t *link, ngx_uint_t state)
{
    ngx_ws_gateway_link_metrics_t  *m;

    m = link->server->m;

    switch (link->state) {
    case NGX_WS_GATEWAY_LINK_IDLE:
        m->down--;
        break;
    case NGX_WS_GATEWAY_LINK_READY:
        m->ready--;
        break;
    default:
        m->connecting--;
    }

    switch (state) {
    case NGX_WS_GATEWAY_LINK_IDLE:
        m->down++;
        break;
    case NGX_WS_GATEWAY_LINK_READY:
        m->ready++;
        break;
    default:
        m->connecting++;
    }

    link->state = state;
}


/*
 * A server's entry in the worker's slot: its own for the first ones, a
 * shared "(other)" for the rest; without a slot, one that nobody reads.
 */

static ngx_ws_gateway_link_metrics_t *
ngx_ws_gateway_link_metrics(ngx_ws_gateway_lserver_t *server, ngx_uint_t n)
{
    size_t                          len;
    ngx_str_t                      *host;
    ngx_ws_gateway_link_metrics_t  *m;

    static ngx_ws_gateway_link_metrics_t  unreported;

    if (ngx_ws_gateway_slot == NULL) {
        return &unreported;
    }

    if (n >= NGX_WS_GATEWAY_LINK_SERVERS - 1) {
        m = &ngx_ws_gateway_slot->links[NGX_WS_GATEWAY_LINK_SERVERS - 1];

        if (n > NGX_WS_GATEWAY_LINK_SERVERS - 1) {
            (void) ngx_cpystrn(m->upstream, (u_char *) "(other)",
                               sizeof(m->upstream));
            (void) ngx_cpystrn(m->server, (u_char *) "(other)",
                               sizeof(m->server));
            return m;
        }

    } else {
        m = &ngx_ws_gateway_slot->links[n];
    }

    host = &server->up->upstream->host;

    len = ngx_min(host->len, sizeof(m->upstream) - 1);
    ngx_memcpy(m->upstream, host->data, len);
    m->upstream[len] = '\0';

    len = ngx_min(server->name.len, sizeof(m->server) - 1);
    ngx_memcpy(m->server, server->name.data, len);
    m->server[len] = '\0';

    if (ngx_ws_gateway_slot->nlinks < n + 1) {

        /* the names before the count (ngx_ws_gateway_status.c) */

        ngx_memory_barrier();
        ngx_ws_gateway_slot->nlinks = n + 1;
    }

    return m;
}


/* connecting */

static void
ngx_ws_gateway_link_connect(ngx_ws_gateway_link_t *link)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_memzero(&link->pc, sizeof(ngx_peer_connection_t));

    link->log = *ngx_cycle->log;
    link->log.action = "talking to a ws gateway link";

    link->pc.get = ngx_ws_gateway_link_get_peer;
    link->pc.data = link;
    link->pc.log = &link->log;
    link->pc.log_error = NGX_ERROR_ERR;
    link->pc.tries = 1;

    ngx_ws_gateway_link_state(link, NGX_WS_GATEWAY_LINK_CONNECTING);
    link->started = ngx_current_msec;
    link->server->m->connects++;

    rc = ngx_event_connect_peer(&link->pc);

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, ngx_cycle->log, 0,
                   "ws gateway link to %V: connect: %i",
                   &link->server->name, rc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {

        /* ngx_event_connect_peer() logged why */

        if (link->pc.connection) {
            ngx_close_connection(link->pc.connection);
            link->pc.connection = NULL;
        }

        ngx_ws_gateway_link_reset(link, 1);
        return;
    }

    c = link->pc.connection;

    c->data = link;
    c->log_error = NGX_ERROR_INFO;     /* the reset says it, once */
    c->read->handler = ngx_ws_gateway_link_read_handler;
    c->write->handler = ngx_ws_gateway_link_write_handler;

    link->parser.commands = 1;
    link->parser.max_record = link->server->up->conf->max_message
                              + NGX_WS_GATEWAY_LINK_SLACK;

    ngx_ws_gateway_link_say_hello(link);

    ngx_add_timer(&link->timer, link->server->up->conf->connect_timeout);

    if (rc == NGX_OK) {
        ngx_ws_gateway_link_write_handler(c->write);
    }
}


static ngx_int_t
ngx_ws_gateway_link_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_ws_gateway_link_t *link = data;

    ngx_http_upstream_rr_peer_t  *peer;

    peer = link->server->peer;

    pc->sockaddr = peer->sockaddr;
    pc->socklen = peer->socklen;
    pc->name = &link->server->name;

    return NGX_OK;
}


static void
ngx_ws_gateway_link_say_hello(ngx_ws_gateway_link_t *link)
{
    u_char                      *p;
    size_t                       name_len;
    u_char                       buf[NGX_WS_GATEWAY_REC_MIN + 10 + 512];
    ngx_ws_gateway_link_conf_t  *lcf;

    lcf = link->server->up->conf;

    name_len = ngx_min(ngx_cycle->hostname.len, 255);

    p = ngx_ws_gateway_record_write(buf, NGX_WS_GATEWAY_REC_HELLO, 0,
                                    10 + NGX_WS_GATEWAY_FIELD_HEAD * 5
                                    + name_len
                                    + ngx_ws_gateway_link_software.len
                                    + 6 + 4 + 4);

    p = ngx_ws_gateway_write_uint16(p, NGX_WS_GATEWAY_LINK_VERSION);
    p = ngx_ws_gateway_write_uint32(p, NGX_WS_GATEWAY_CAP_CHANNELS);
    p = ngx_ws_gateway_write_uint32(p, lcf->max_message
                                       + NGX_WS_GATEWAY_LINK_SLACK);

    p = ngx_ws_gateway_record_write_field(p, NGX_WS_GATEWAY_FIELD_NAME,
                                          ngx_cycle->hostname.data, name_len);
    p = ngx_ws_gateway_record_write_field(p, NGX_WS_GATEWAY_FIELD_SOFTWARE,
                                          ngx_ws_gateway_link_software.data,
                                          ngx_ws_gateway_link_software.len);

    p = ngx_ws_gateway_record_write_field(p, NGX_WS_GATEWAY_FIELD_WORKER,
                                          NULL, 6);
    p = ngx_ws_gateway_write_uint32(p, ngx_pid);
    p = ngx_ws_gateway_write_uint16(p, ngx_process_slot);

    p = ngx_ws_gateway_record_write_field(p, NGX_WS_GATEWAY_FIELD_HEARTBEAT,
                                          NULL, 4);
    p = ngx_ws_gateway_write_uint32(p, lcf->heartbeat);

    p = ngx_ws_gateway_record_write_field(p, NGX_WS_GATEWAY_FIELD_LINK,
                                          NULL, 4);
    p = ngx_ws_gateway_write_uint32(p, link->index);

    (void) ngx_ws_gateway_link_queue(link, buf, p - buf, NULL, 0);
}


/* the link's one timer */

static void
ngx_ws_gateway_link_timer(ngx_event_t *ev)
{
    ngx_msec_t                   now;
    ngx_ws_gateway_link_t       *link;
    ngx_ws_gateway_link_conf_t  *lcf;
    u_char                       buf[NGX_WS_GATEWAY_REC_MIN + 8], *p;

    link = ev->data;
    lcf = link->server->up->conf;
    now = ngx_current_msec;

    switch (link->state) {

    case NGX_WS_GATEWAY_LINK_IDLE:

        if (link->fanout) {

            /*
             * the fan-out of its last connection still runs: the next
             * connects once it is done (a link holds one at a time)
             */

            return;
        }

        ngx_ws_gateway_link_connect(link);
        return;

    case NGX_WS_GATEWAY_LINK_CONNECTING:
        ngx_ws_gateway_link_fail(link, 0, "connect timed out after %Mms",
                                 lcf->connect_timeout);
        return;

    case NGX_WS_GATEWAY_LINK_HELLO:
        ngx_ws_gateway_link_fail(link, 0,
                                 "no HELLO from the backend within %Mms",
                                 lcf->connect_timeout);
        return;
    }

    /* NGX_WS_GATEWAY_LINK_READY */

    if (link->fanout) {

        /* it reads nothing while its fan-out goes on: not its silence */

        link->last_read = now;
    }

    if ((ngx_msec_int_t) (now - link->last_read)
        >= (ngx_msec_int_t) lcf->read_timeout)
    {
        ngx_ws_gateway_link_fail(link, 0, "nothing received for %Mms",
                                 lcf->read_timeout);
        return;
    }

    if (link->out.out
        && (ngx_msec_int_t) (now - link->progress)
           >= (ngx_msec_int_t) lcf->send_timeout)
    {
        ngx_ws_gateway_link_fail(link, 0,
                                 "writes made no progress for %Mms, "
                                 "%uz bytes queued",
                                 lcf->send_timeout, link->out.size);
        return;
    }

    if ((ngx_msec_int_t) (now - link->last_ping)
        >= (ngx_msec_int_t) lcf->heartbeat)
    {
        link->last_ping = now;

        if (link->ping_sent == 0) {
            link->ping++;
            link->ping_sent = now ? now : 1;
            link->ping_us = ngx_ws_gateway_now_us();
        }

        p = ngx_ws_gateway_record_write(buf, NGX_WS_GATEWAY_REC_PING, 0, 8);
        p = ngx_ws_gateway_write_uint64(p, link->ping);

        if (ngx_ws_gateway_link_queue(link, buf, p - buf, NULL, 0)
            != NGX_OK)
        {
            ngx_ws_gateway_link_fail(link, 0, "no memory for a PING");
            return;
        }
    }

    ngx_ws_gateway_link_set_timer(link);
}


static void
ngx_ws_gateway_link_set_timer(ngx_ws_gateway_link_t *link)
{
    ngx_msec_t                   now, next, t;
    ngx_ws_gateway_link_conf_t  *lcf;

    lcf = link->server->up->conf;
    now = ngx_current_msec;

    next = link->last_ping + lcf->heartbeat;

    t = link->last_read + lcf->read_timeout;

    if ((ngx_msec_int_t) (t - next) < 0) {
        next = t;
    }

    if (link->out.out) {
        t = link->progress + lcf->send_timeout;

        if ((ngx_msec_int_t) (t - next) < 0) {
            next = t;
        }
    }

    t = ((ngx_msec_int_t) (next - now) > 0) ? next - now : 1;

    ngx_add_timer(&link->timer, t);
}


/* reading */

static void
ngx_ws_gateway_link_read_handler(ngx_event_t *rev)
{
    size_t                  room, total;
    ssize_t                 n;
    ngx_int_t               rc;
    ngx_buf_t              *b;
    ngx_connection_t       *c;
    ngx_ws_gateway_link_t  *link;

    c = rev->data;
    link = c->data;
    b = &link->in;

    if (link->state == NGX_WS_GATEWAY_LINK_CONNECTING) {

        /* a refused connect may be reported to the read handler first */

        if (ngx_ws_gateway_link_connected(link) != NGX_OK) {
            return;
        }
    }

    if (link->fanout) {

        /*
         * its fan-out goes on: the records after it wait, and a level-
         * triggered event method must stop reporting them meanwhile
         */

        if (ngx_handle_read_event(rev, 0) != NGX_OK) {
            ngx_ws_gateway_link_fail(link, 0, "read event failed");
        }

        return;
    }

    /* what was read before a fan-out held the link */

    if (b->pos < b->last) {
        rc = ngx_ws_gateway_link_parse(link);

        if (rc != NGX_OK) {
            return;
        }
    }

    total = 0;

    for ( ;; ) {

        if (total >= NGX_WS_GATEWAY_LINK_TURN) {

            /*
             * a backend that sends without end does not keep the worker:
             * the link reads on after everyone else's events
             */

            ngx_post_event(rev, &ngx_posted_next_events);
            return;
        }

        if (b->pos == b->last) {
            b->pos = b->start;
            b->last = b->start;
        }

        room = b->end - b->last;

        if (room == 0) {

            /* what is left is a record's head, taken into the parser */

            b->pos = b->start;
            b->last = b->start;
            room = b->end - b->start;
        }

        n = c->recv(c, b->last, room);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_ws_gateway_link_fail(link, 0, n == 0
                                     ? "the backend closed the link"
                                     : "read failed");
            return;
        }

        b->last += n;
        total += n;
        link->last_read = ngx_current_msec;
        link->server->m->bytes_in += n;

        rc = ngx_ws_gateway_link_parse(link);

        if (rc != NGX_OK) {
            return;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_ws_gateway_link_fail(link, 0, "read event failed");
    }
}


/*
 * The records in the read buffer: NGX_OK when it is used up, NGX_DONE
 * when the link was reset, NGX_AGAIN when a fan-out holds the link (the
 * rest of the buffer waits for it)
 */

static ngx_int_t
ngx_ws_gateway_link_parse(ngx_ws_gateway_link_t *link)
{
    ngx_int_t                        rc;
    ngx_str_t                        chunk;
    ngx_buf_t                       *b;
    ngx_connection_t                *c;
    ngx_ws_gateway_record_parser_t  *p;

    c = link->pc.connection;
    b = &link->in;
    p = &link->parser;

    while (b->pos < b->last) {

        if (!link->in_body) {
            rc = ngx_ws_gateway_record_parse(p, b);

            if (rc == NGX_AGAIN) {
                break;
            }

            if (rc == NGX_ERROR) {
                ngx_ws_gateway_link_fail(link, p->error_code, "%s",
                                         p->error);
                return NGX_DONE;
            }

            link->in_body = 1;
            link->body_len = 0;

            if ((size_t) (b->last - b->pos) >= p->left) {

                /* the body is whole in the buffer: no copy */

                (void) ngx_ws_gateway_record_body(p, b, &chunk);
                link->in_body = 0;

                rc = ngx_ws_gateway_link_record(link, chunk.data, chunk.len);

                if (link->pc.connection != c) {

                    /* reset, by the record or by what it did */

                    return NGX_DONE;
                }

                if (rc != NGX_OK) {
                    return rc;
                }

                continue;
            }

            if (p->left) {
                link->body = ngx_alloc(p->left, ngx_cycle->log);
                if (link->body == NULL) {
                    ngx_ws_gateway_link_fail(link, 0,
                                             "no memory for a record");
                    return NGX_DONE;
                }
            }
        }

        rc = ngx_ws_gateway_record_body(p, b, &chunk);

        ngx_memcpy(link->body + link->body_len, chunk.data, chunk.len);
        link->body_len += chunk.len;

        if (rc == NGX_AGAIN) {
            break;
        }

        link->in_body = 0;

        rc = ngx_ws_gateway_link_record(link, link->body, link->body_len);

        if (link->body) {
            ngx_free(link->body);
            link->body = NULL;
        }

        if (link->pc.connection != c) {
            return NGX_DONE;
        }

        if (rc != NGX_OK) {
            return rc;
        }
    }

    return NGX_OK;
}


/* one record, whole: NGX_OK, or NGX_DONE when the link was reset */

static ngx_int_t
ngx_ws_gateway_link_record(ngx_ws_gateway_link_t *link, u_char *body,
    size_t len)
{
    u_char                          *p, buf[NGX_WS_GATEWAY_REC_MIN + 8];
    ngx_uint_t                       state, level, opcode;
    ngx_str_t                        reason;
    ngx_http_request_t              *r;
    ngx_ws_gateway_approval_t       *a;
    ngx_ws_gateway_session_t        *s;
    ngx_ws_gateway_record_parser_t  *rp;

    rp = &link->parser;
    link->server->m->records_in++;

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, ngx_cycle->log, 0,
                   "ws gateway link record %s session:%uL len:%uz",
                   ngx_ws_gateway_record_name(rp->type), rp->session, len);

    if (link->state == NGX_WS_GATEWAY_LINK_HELLO) {

        if (rp->type != NGX_WS_GATEWAY_REC_HELLO
            && rp->type != NGX_WS_GATEWAY_REC_ERROR)
        {
            ngx_ws_gateway_link_fail(link, NGX_WS_GATEWAY_LINK_ERR_NOT_NOW,
                                     "%s before the backend's HELLO",
                                     ngx_ws_gateway_record_name(rp->type));
            return NGX_DONE;
        }

        if (rp->type == NGX_WS_GATEWAY_REC_HELLO) {
            return ngx_ws_gateway_link_hello(link, body, len);
        }
    }

    switch (rp->type) {

    case NGX_WS_GATEWAY_REC_SEND:

        a = NULL;
        s = ngx_ws_gateway_sessions_find(rp->session);

        if (s == NULL || s->link != link) {
            a = ngx_ws_gateway_approval_find(link, rp->session);

            if (a == NULL || !a->starting) {
                ngx_ws_gateway_metric_inc(drops[NGX_WS_GATEWAY_DROP_GONE]);
                ngx_ws_gateway_link_gone(link, rp->session, rp->type);
                return NGX_OK;
            }
        }

        if (!(rp->flags & NGX_WS_GATEWAY_REC_BINARY)) {
            state = 0;

            if (ngx_ws_gateway_utf8_check(&state, body, len) != NGX_OK
                || !ngx_ws_gateway_utf8_complete(state))
            {
                ngx_ws_gateway_link_fail(link,
                                         NGX_WS_GATEWAY_LINK_ERR_MALFORMED,
                                         "text SEND is not UTF-8");
                return NGX_DONE;
            }
        }

        opcode = (rp->flags & NGX_WS_GATEWAY_REC_BINARY)
                 ? NGX_WS_GATEWAY_OP_BINARY : NGX_WS_GATEWAY_OP_TEXT;

        if (s && s->link == link) {
            ngx_ws_gateway_session_deliver(s, opcode, body, len);
            return NGX_OK;
        }

        /* accepted, not started yet: kept for its start */

        if (a->start.end_code) {
            ngx_ws_gateway_metric_inc(drops[NGX_WS_GATEWAY_DROP_CLOSING]);

        } else {
            if (a->start.out.size >= a->limit) {
                ngx_ws_gateway_metric_inc(drops[NGX_WS_GATEWAY_DROP_SLOW]);

                a->start.end_code = NGX_WS_GATEWAY_CLOSE_TRY_AGAIN;
                a->start.slow = 1;
                a->start.end_len = ngx_cpymem(a->start.end_reason,
                                              "slow consumer", 13)
                                   - a->start.end_reason;

            } else if (ngx_ws_gateway_out_frame(&a->start.out, opcode,
                                                NGX_WS_GATEWAY_FIN, body,
                                                len)
                       != NGX_OK)
            {
                ngx_ws_gateway_link_fail(link, 0, "no memory for a SEND");
                return NGX_DONE;
            }
        }

        return NGX_OK;

    case NGX_WS_GATEWAY_REC_END:

        /* the code was checked by the codec */

        state = 0;

        if (ngx_ws_gateway_utf8_check(&state, body, len) != NGX_OK
            || !ngx_ws_gateway_utf8_complete(state))
        {
            ngx_ws_gateway_link_fail(link, NGX_WS_GATEWAY_LINK_ERR_MALFORMED,
                                     "CLOSE reason is not UTF-8");
            return NGX_DONE;
        }

        s = ngx_ws_gateway_sessions_find(rp->session);

        if (s == NULL || s->link != link) {
            a = ngx_ws_gateway_approval_find(link, rp->session);

            if (a == NULL || !a->starting) {
                ngx_ws_gateway_link_gone(link, rp->session, rp->type);
                return NGX_OK;
            }

            if (a->start.end_code == 0) {
                a->start.end_code = rp->code;
                len = ngx_min(len, NGX_WS_GATEWAY_REASON_MAX);
                a->start.end_len = len;
                ngx_memcpy(a->start.end_reason, body, len);
            }

            return NGX_OK;
        }

        reason.data = body;
        reason.len = len;

        ngx_ws_gateway_session_end(s, rp->code, &reason, 1);
        return NGX_OK;

    case NGX_WS_GATEWAY_REC_ACCEPT:
    case NGX_WS_GATEWAY_REC_REJECT:

        a = ngx_ws_gateway_approval_find(link, rp->session);

        if (a == NULL) {
            ngx_ws_gateway_link_gone(link, rp->session, rp->type);
            return NGX_OK;
        }

        if (!a->waiting) {

            /* accepted already, and starting */

            ngx_ws_gateway_link_gone(link, rp->session, rp->type);
            return NGX_OK;
        }

        r = a->request;
        ngx_ws_gateway_approval_done(a);

        if (rp->type == NGX_WS_GATEWAY_REC_ACCEPT) {
            link->server->m->approved++;
            a->accepted = 1;

            /* what its backend sends now is kept until the session starts */

            a->starting = 1;
            ngx_queue_insert_tail(&link->approvals, &a->queue);

            ngx_ws_gateway_handshake_approved(r);
            return NGX_OK;
        }

        link->server->m->rejected++;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "backend refused the WebSocket handshake with %ui: "
                      "\"%*s\"", rp->code,
                      ngx_min(len, NGX_WS_GATEWAY_ERROR_TEXT_MAX), body);

        ngx_ws_gateway_approval_refuse(r, rp->code);
        return NGX_OK;

    case NGX_WS_GATEWAY_REC_PING:

        if (link->out.size > link->server->up->conf->buffer) {
            ngx_ws_gateway_link_fail(link, 0, "the backend does not read its "
                                     "PONGs, %uz bytes queued",
                                     link->out.size);
            return NGX_DONE;
        }

        p = ngx_ws_gateway_record_write(buf, NGX_WS_GATEWAY_REC_PONG, 0, 8);
        p = ngx_ws_gateway_write_uint64(p, rp->opaque);

        if (ngx_ws_gateway_link_queue(link, buf, p - buf, NULL, 0)
            != NGX_OK)
        {
            ngx_ws_gateway_link_fail(link, 0, "no memory for a PONG");
            return NGX_DONE;
        }

        return NGX_OK;

    case NGX_WS_GATEWAY_REC_PONG:

        if (link->ping_sent && rp->opaque == link->ping) {
            link->server->m->rtt_us = ngx_ws_gateway_now_us()
                                      - link->ping_us;
            link->ping_sent = 0;

            /* what was queued before the PING, the backend has read */

            link->acked = (uint32_t) link->ping;

            ngx_ws_gateway_link_confirmed(link);
        }

        return NGX_OK;

    case NGX_WS_GATEWAY_REC_ERROR:

        level = (rp->code == NGX_WS_GATEWAY_LINK_ERR_GOING_AWAY)
                ? NGX_LOG_WARN : NGX_LOG_ERR;

        ngx_log_error(level, ngx_cycle->log, 0,
                      "ws gateway link to %V (upstream \"%V\") got ERROR %ui "
                      "from the backend%s: \"%*s\"",
                      &link->server->name,
                      &link->server->up->upstream->host, rp->code,
                      (link->state == NGX_WS_GATEWAY_LINK_HELLO)
                      ? " before its HELLO" : "",
                      ngx_min(len, NGX_WS_GATEWAY_ERROR_TEXT_MAX), body);

        ngx_ws_gateway_link_reset(link, 1);
        return NGX_DONE;

    case NGX_WS_GATEWAY_REC_HELLO:
        ngx_ws_gateway_link_fail(link, NGX_WS_GATEWAY_LINK_ERR_NOT_NOW,
                                 "a second HELLO");
        return NGX_DONE;

    default:

        /* SUBSCRIBE, UNSUBSCRIBE, PUBLISH, BROADCAST */

        return ngx_ws_gateway_link_channel(link, body, len);
    }
}


/* the channel commands: NGX_OK, NGX_AGAIN (a fan-out holds the link) */

static ngx_int_t
ngx_ws_gateway_link_channel(ngx_ws_gateway_link_t *link, u_char *body,
    size_t len)
{
    ngx_int_t                        rc;
    ngx_uint_t                       state, opcode;
    ngx_ws_gateway_session_t        *s;
    ngx_ws_gateway_approval_t       *a;
    ngx_ws_gateway_record_parser_t  *rp;

    rp = &link->parser;

    switch (rp->type) {

    case NGX_WS_GATEWAY_REC_SUBSCRIBE:
    case NGX_WS_GATEWAY_REC_UNSUBSCRIBE:

        s = ngx_ws_gateway_sessions_find(rp->session);

        if (s == NULL || s->link != link) {

            /* accepted, not started yet: kept for its start */

            a = ngx_ws_gateway_approval_find(link, rp->session);

            if (a && a->starting) {
                rc = ngx_ws_gateway_start_channel(a, rp->type, body, len);

            } else {
                ngx_ws_gateway_link_gone(link, rp->session, rp->type);
                return NGX_OK;
            }

        } else if (rp->type == NGX_WS_GATEWAY_REC_SUBSCRIBE) {
            rc = ngx_ws_gateway_channel_subscribe(s, body, len);

        } else {
            if (ngx_ws_gateway_channel_unsubscribe(s, body, len)
                != NGX_OK)
            {
                ngx_ws_gateway_metric_inc(fanout.unsubscribed_unknown);
            }

            rc = 0;
        }

        if (rc == NGX_ERROR) {
            ngx_ws_gateway_link_fail(link, 0, "no memory for a SUBSCRIBE");
            return NGX_DONE;
        }

        if (rc) {
            ngx_ws_gateway_metric_inc(fanout.refused);
            ngx_ws_gateway_link_refused(link, rp->session, rp->type, rc);
        }

        return NGX_OK;

    default: /* PUBLISH, BROADCAST */

        opcode = (rp->flags & NGX_WS_GATEWAY_REC_BINARY)
                 ? NGX_WS_GATEWAY_OP_BINARY : NGX_WS_GATEWAY_OP_TEXT;

        if (rp->type == NGX_WS_GATEWAY_REC_PUBLISH) {
            body += rp->channel_len;
            len -= rp->channel_len;
        }

        if (opcode == NGX_WS_GATEWAY_OP_TEXT) {
            state = 0;

            if (ngx_ws_gateway_utf8_check(&state, body, len) != NGX_OK
                || !ngx_ws_gateway_utf8_complete(state))
            {
                ngx_ws_gateway_link_fail(link,
                                         NGX_WS_GATEWAY_LINK_ERR_MALFORMED,
                                         "text %s is not UTF-8",
                                         ngx_ws_gateway_record_name(
                                             rp->type));
                return NGX_DONE;
            }
        }

        if (rp->type == NGX_WS_GATEWAY_REC_PUBLISH) {
            rc = ngx_ws_gateway_channel_publish(link, NULL,
                                                body - rp->channel_len,
                                                rp->channel_len, opcode,
                                                body, len);

        } else {
            rc = ngx_ws_gateway_channel_publish(link, link->server->up, NULL,
                                                0, opcode, body, len);
        }

        if (rc == NGX_ERROR) {
            ngx_ws_gateway_link_fail(link, 0, "no memory for a %s",
                                     ngx_ws_gateway_record_name(rp->type));
            return NGX_DONE;
        }

        if (rc == NGX_AGAIN) {
            link->fanout = 1;
            return NGX_AGAIN;
        }

        return NGX_OK;
    }
}


/*
 * A channel command for a handshake accepted and not started yet: its
 * channels are kept with it (u8 length, name, ...) for its start
 */

static ngx_int_t
ngx_ws_gateway_start_channel(ngx_ws_gateway_approval_t *a, ngx_uint_t type,
    u_char *name, size_t len)
{
    u_char                     *p, *end, *buf;
    ngx_uint_t                  n;
    ngx_ws_gateway_start_t     *st;
    ngx_ws_gateway_loc_conf_t  *wlcf;

    st = &a->start;
    wlcf = ngx_http_get_module_loc_conf(a->request, ngx_ws_gateway_module);

    n = 0;
    p = st->channels;
    end = p + st->channels_len;

    for ( /* void */ ; p && p < end; p += 1 + *p, n++) {
        if (*p == len && ngx_memcmp(p + 1, name, len) == 0) {
            break;
        }
    }

    if (type == NGX_WS_GATEWAY_REC_UNSUBSCRIBE) {
        if (p && p < end) {
            ngx_memmove(p, p + 1 + *p, end - (p + 1 + *p));
            st->channels_len -= 1 + len;

        } else {
            ngx_ws_gateway_metric_inc(fanout.unsubscribed_unknown);
        }

        return 0;
    }

    if (p && p < end) {
        return 0;
    }

    if (wlcf->session_channels == 0) {
        return NGX_WS_GATEWAY_REFUSED_OFF;
    }

    if (len > wlcf->channel_max_length) {
        return NGX_WS_GATEWAY_REFUSED_LENGTH;
    }

    if (n >= wlcf->session_channels) {
        return NGX_WS_GATEWAY_REFUSED_MANY;
    }

    buf = ngx_alloc(st->channels_len + 1 + len, ngx_cycle->log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    if (st->channels) {
        ngx_memcpy(buf, st->channels, st->channels_len);
        ngx_free(st->channels);
    }

    buf[st->channels_len] = (u_char) len;
    ngx_memcpy(buf + st->channels_len + 1, name, len);

    st->channels = buf;
    st->channels_len += 1 + len;

    return 0;
}


static void
ngx_ws_gateway_link_refused(ngx_ws_gateway_link_t *link, uint64_t id,
    ngx_uint_t type, ngx_uint_t code)
{
    u_char  buf[NGX_WS_GATEWAY_REC_MIN + 10], *p;

    if (link->out.size > link->server->up->conf->buffer) {
        ngx_ws_gateway_link_fail(link, 0, "the backend does not read its "
                                 "answers, %uz bytes queued", link->out.size);
        return;
    }

    p = ngx_ws_gateway_record_write(buf, NGX_WS_GATEWAY_REC_REFUSED, 0, 10);
    p = ngx_ws_gateway_write_uint64(p, id);
    *p++ = (u_char) type;
    *p++ = (u_char) code;

    if (ngx_ws_gateway_link_queue(link, buf, p - buf, NULL, 0) != NGX_OK) {
        ngx_ws_gateway_link_fail(link, 0, "no memory for a REFUSED");
    }
}


/* the session's drops, told its backend */

void
ngx_ws_gateway_link_report(ngx_ws_gateway_session_t *s)
{
    u_char                  buf[NGX_WS_GATEWAY_REC_MIN + 12], *p;
    ngx_ws_gateway_link_t  *link;

    link = s->link;

    p = ngx_ws_gateway_record_write(buf, NGX_WS_GATEWAY_REC_DROPPED, 0, 12);
    p = ngx_ws_gateway_write_uint64(p, s->id);
    p = ngx_ws_gateway_write_uint32(p, s->dropped);

    s->dropped = 0;

    if (ngx_ws_gateway_link_queue(link, buf, p - buf, NULL, 0) != NGX_OK) {
        ngx_ws_gateway_link_fail(link, 0, "no memory for a DROPPED");
    }
}


/* a link's fan-out is done: the records after it are read */

void
ngx_ws_gateway_link_fanout_done(ngx_ws_gateway_link_t *link)
{
    link->fanout = 0;

    if (link->pc.connection) {
        ngx_post_event(link->pc.connection->read, &ngx_posted_events);
        return;
    }

    if (link->state == NGX_WS_GATEWAY_LINK_IDLE && !link->timer.timer_set
        && !ngx_exiting && !ngx_terminate && !ngx_quit)
    {
        /* lost during it, past its backoff: it connects now */

        ngx_ws_gateway_link_connect(link);
    }
}


static ngx_int_t
ngx_ws_gateway_link_hello(ngx_ws_gateway_link_t *link, u_char *body,
    size_t len)
{
    ngx_ws_gateway_record_parser_t  *rp;

    rp = &link->parser;

    if (rp->version != NGX_WS_GATEWAY_LINK_VERSION) {
        ngx_ws_gateway_link_fail(link, NGX_WS_GATEWAY_LINK_ERR_VERSION,
                                 "the backend chose version %ui",
                                 rp->version);
        return NGX_DONE;
    }

    if (rp->peer_max_record < NGX_WS_GATEWAY_LINK_PEER_MIN) {
        ngx_ws_gateway_link_fail(link, NGX_WS_GATEWAY_LINK_ERR_MALFORMED,
                                 "the backend's max_record %uD is below %d",
                                 rp->peer_max_record,
                                 NGX_WS_GATEWAY_LINK_PEER_MIN);
        return NGX_DONE;
    }

    link->peer_max_record = rp->peer_max_record;

    if (link->timer.timer_set) {
        ngx_del_timer(&link->timer);
    }

    ngx_ws_gateway_link_state(link, NGX_WS_GATEWAY_LINK_READY);
    link->failures = 0;
    link->last_read = ngx_current_msec;
    link->last_ping = ngx_current_msec;
    link->progress = ngx_current_msec;
    link->ping_sent = 0;
    link->server->up->ready++;

    /* up again after a loss, not the first time up of a link */

    if (link->been_ready) {
        link->server->m->reconnects++;
    }

    link->been_ready = 1;

    ngx_ws_gateway_link_peer_state(link, 0);

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "ws gateway link to %V (upstream \"%V\") is up",
                  &link->server->name, &link->server->up->upstream->host);

    /* sessions waiting for a link have one */

    if (!ngx_queue_empty(&link->server->up->orphans)
        && !link->server->up->adopt.posted)
    {
        ngx_post_event(&link->server->up->adopt, &ngx_posted_events);
    }

    ngx_ws_gateway_link_set_timer(link);

    return NGX_OK;
}


/* writing */

static ngx_int_t
ngx_ws_gateway_link_queue(ngx_ws_gateway_link_t *link, u_char *head,
    size_t hlen, u_char *data, size_t len)
{
    size_t  old;

    old = link->out.size;

    if (old == 0) {

        /* the send deadline runs from now */

        link->progress = ngx_current_msec;
    }

    if (ngx_ws_gateway_out_record(&link->out, head, hlen, data, len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    link->server->m->queued += link->out.size - old;

    link->server->m->records_out++;

    if (!link->flush.posted && link->pc.connection) {
        ngx_post_event(&link->flush, &ngx_posted_events);
    }

    return NGX_OK;
}


static void
ngx_ws_gateway_link_flush_handler(ngx_event_t *ev)
{
    ngx_ws_gateway_link_t  *link = ev->data;

    if (link->pc.connection && link->pc.connection->write->ready) {
        (void) ngx_ws_gateway_link_write(link);
    }
}


static void
ngx_ws_gateway_link_write_handler(ngx_event_t *wev)
{
    ngx_connection_t       *c;
    ngx_ws_gateway_link_t  *link;

    c = wev->data;
    link = c->data;

    if (link->state == NGX_WS_GATEWAY_LINK_CONNECTING) {

        if (ngx_ws_gateway_link_connected(link) != NGX_OK) {
            return;
        }

        if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
            ngx_ws_gateway_link_fail(link, 0, "read event failed");
            return;
        }
    }

    (void) ngx_ws_gateway_link_write(link);
}


static ngx_int_t
ngx_ws_gateway_link_write(ngx_ws_gateway_link_t *link)
{
    off_t              sent;
    size_t             old;
    ngx_chain_t       *cl;
    ngx_connection_t  *c;

    c = link->pc.connection;

    if (link->out.out) {
        sent = c->sent;

        cl = c->send_chain(c, link->out.out, 0);

        if (cl == NGX_CHAIN_ERROR) {
            ngx_ws_gateway_link_fail(link, 0, "write failed");
            return NGX_DONE;
        }

        old = link->out.size;
        ngx_ws_gateway_out_sent(&link->out, cl);
        link->server->m->queued -= old - link->out.size;

        if (c->sent != sent) {
            link->progress = ngx_current_msec;
            link->server->m->bytes_out += c->sent - sent;
        }

        if (link->out.size < link->server->up->conf->low_watermark) {

            if (!ngx_queue_empty(&link->paused)) {
                ngx_ws_gateway_link_unpause(link);
            }

            /* sessions waiting for a link: this one has room again */

            if (!ngx_queue_empty(&link->server->up->orphans)
                && !link->server->up->adopt.posted)
            {
                ngx_post_event(&link->server->up->adopt, &ngx_posted_events);
            }
        }
    }

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        ngx_ws_gateway_link_fail(link, 0, "write event failed");
        return NGX_DONE;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_ws_gateway_link_connected(ngx_ws_gateway_link_t *link)
{
    int                err;
    socklen_t          len;
    ngx_connection_t  *c;

    c = link->pc.connection;

#if (NGX_HAVE_KQUEUE)

    if (ngx_event_flags & NGX_USE_KQUEUE_EVENT) {
        err = 0;

        if (c->write->pending_eof || c->read->pending_eof) {
            err = c->write->pending_eof ? c->write->kq_errno
                                        : c->read->kq_errno;
        }

    } else

#endif
    {
        err = 0;
        len = sizeof(int);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len)
            == -1)
        {
            err = ngx_socket_errno;
        }
    }

    if (err) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, err,
                      "ws gateway link to %V (upstream \"%V\"): "
                      "connect() failed", &link->server->name,
                      &link->server->up->upstream->host);

        ngx_ws_gateway_link_reset(link, 1);
        return NGX_ERROR;
    }

    ngx_ws_gateway_link_state(link, NGX_WS_GATEWAY_LINK_HELLO);
    link->progress = ngx_current_msec;

    return NGX_OK;
}


static void
ngx_ws_gateway_link_gone(ngx_ws_gateway_link_t *link, uint64_t id,
    ngx_uint_t type)
{
    u_char  buf[NGX_WS_GATEWAY_REC_MIN + 9], *p;

    link->server->m->unknown++;

    if (link->out.size > link->server->up->conf->buffer) {
        ngx_ws_gateway_link_fail(link, 0, "the backend does not read its "
                                 "answers, %uz bytes queued", link->out.size);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, ngx_cycle->log, 0,
                   "ws gateway link: %s for unknown session %uL",
                   ngx_ws_gateway_record_name(type), id);

    p = ngx_ws_gateway_record_write(buf, NGX_WS_GATEWAY_REC_GONE, 0, 9);
    p = ngx_ws_gateway_write_uint64(p, id);
    *p++ = (u_char) type;

    if (ngx_ws_gateway_link_queue(link, buf, p - buf, NULL, 0) != NGX_OK) {
        ngx_ws_gateway_link_fail(link, 0, "no memory for a GONE");
    }
}


/*
 * A fault of the backend or of the link: one line, an ERROR record when
 * the code is one (written if the socket takes it now), and the reset.
 */

static void
ngx_ws_gateway_link_fail(ngx_ws_gateway_link_t *link, ngx_uint_t code,
    const char *fmt, ...)
{
    u_char             *p, *last;
    u_char              text[NGX_WS_GATEWAY_ERROR_TEXT_MAX];
    u_char              buf[NGX_WS_GATEWAY_REC_MIN + 2
                            + NGX_WS_GATEWAY_ERROR_TEXT_MAX];
    va_list             args;
    ngx_connection_t   *c;

    va_start(args, fmt);
    last = ngx_vslprintf(text, text + sizeof(text), fmt, args);
    va_end(args);

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "ws gateway link to %V (upstream \"%V\") reset: %*s",
                  &link->server->name, &link->server->up->upstream->host,
                  last - text, text);

    c = link->pc.connection;

    if (code && c && link->state != NGX_WS_GATEWAY_LINK_CONNECTING) {
        p = ngx_ws_gateway_record_write(buf, NGX_WS_GATEWAY_REC_ERROR, 0,
                                        2 + (last - text));
        p = ngx_ws_gateway_write_uint16(p, code);
        p = ngx_cpymem(p, text, last - text);

        /* the records before it would be cut: it goes alone, or not */

        if (link->out.out == NULL && c->write->ready) {
            (void) c->send(c, buf, p - buf);
        }
    }

    ngx_ws_gateway_link_reset(link, 1);
}


/*
 * Closes the link, closes its sessions with 1011 and waits for the
 * backoff: from backoff_min, doubling with every failure in a row, up to
 * backoff_max, less a random part of up to a half.
 */

static void
ngx_ws_gateway_link_reset(ngx_ws_gateway_link_t *link, ngx_uint_t failed)
{
    ngx_msec_t                   delay;
    ngx_uint_t                   i, was_ready;
    ngx_http_request_t          *r;
    ngx_ws_gateway_approval_t   *a;
    ngx_ws_gateway_link_conf_t  *lcf;

    lcf = link->server->up->conf;
    was_ready = (link->state == NGX_WS_GATEWAY_LINK_READY);

    if (link->pc.connection) {
        ngx_close_connection(link->pc.connection);
        link->pc.connection = NULL;
    }

    if (link->flush.posted) {
        ngx_delete_posted_event(&link->flush);
    }

    if (link->timer.timer_set) {
        ngx_del_timer(&link->timer);
    }

    /*
     * its fan-out, if one runs, goes on without it; it stays the link's
     * until done, so that a link that keeps failing during fan-outs does
     * not pile them up
     */

    if (was_ready) {
        link->server->up->ready--;
    }

    /*
     * its sessions wait for another link, knowing from its queue what
     * never reached the backend
     */

    ngx_ws_gateway_link_orphan(link);

    link->server->m->queued -= link->out.size;
    (void) ngx_ws_gateway_out_free(&link->out);

    if (link->body) {
        ngx_free(link->body);
        link->body = NULL;
    }

    link->in_body = 0;
    link->in.pos = link->in.start;
    link->in.last = link->in.start;
    ngx_memzero(&link->parser, sizeof(ngx_ws_gateway_record_parser_t));

    link->server->m->resets++;

    if (!was_ready && failed) {
        ngx_ws_gateway_link_peer_state(link, NGX_PEER_FAILED);
    }

    ngx_ws_gateway_link_state(link, NGX_WS_GATEWAY_LINK_IDLE);

    /* handshakes waiting for a verdict get a 503 */

    while (!ngx_queue_empty(&link->approvals)) {
        a = ngx_queue_data(ngx_queue_head(&link->approvals),
                           ngx_ws_gateway_approval_t, queue);

        if (a->starting) {

            /* its 101 is on the way: the session starts lost */

            ngx_ws_gateway_approval_done(a);
            a->starting = 0;
            (void) ngx_ws_gateway_out_free(&a->start.out);
            continue;
        }

        r = a->request;
        ngx_ws_gateway_approval_done(a);
        ngx_ws_gateway_approval_refuse(r, NGX_HTTP_SERVICE_UNAVAILABLE);
    }

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    delay = lcf->backoff_min;

    for (i = 0; i < link->failures && delay < lcf->backoff_max; i++) {
        delay *= 2;
    }

    delay = ngx_min(delay, lcf->backoff_max);
    delay -= (ngx_msec_t) (ngx_random() % (delay / 2 + 1));

    if (!was_ready || failed) {
        link->failures++;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, ngx_cycle->log, 0,
                   "ws gateway link to %V: reconnect in %Mms",
                   &link->server->name, delay);

    ngx_add_timer(&link->timer, delay ? delay : 1);
}


/*
 * What a link's connect tells the upstream's balancer about its server:
 * NGINX's own accounting (fails, max_fails, fail_timeout) runs on it, as
 * for a request's connection.
 */

static void
ngx_ws_gateway_link_peer_state(ngx_ws_gateway_link_t *link,
    ngx_uint_t state)
{
    ngx_peer_connection_t              pc;
    ngx_http_upstream_rr_peer_t       *peer;
    ngx_http_upstream_rr_peers_t      *peers;
    ngx_http_upstream_rr_peer_data_t   rrp;

    peers = link->server->peers;
    peer = link->server->peer;

    ngx_http_upstream_rr_peers_rlock(peers);
    ngx_http_upstream_rr_peer_lock(peers, peer);
    peer->conns++;
    ngx_http_upstream_rr_peer_unlock(peers, peer);
    ngx_http_upstream_rr_peers_unlock(peers);

    ngx_memzero(&rrp, sizeof(ngx_http_upstream_rr_peer_data_t));
    rrp.peers = peers;
    rrp.current = peer;

    ngx_memzero(&pc, sizeof(ngx_peer_connection_t));
    pc.log = ngx_cycle->log;
    pc.name = &link->server->name;
    pc.tries = 1;

    ngx_http_upstream_free_round_robin_peer(&pc, &rrp, state);
}


/* a new session's link */

ngx_ws_gateway_link_t *
ngx_ws_gateway_link_pick(ngx_ws_gateway_lupstream_t *lup)
{
    ngx_int_t                          rc;
    ngx_uint_t                         i, j, k, n, tries;
    ngx_peer_connection_t              pc;
    ngx_ws_gateway_link_t             *link, *best;
    ngx_ws_gateway_lserver_t          *server;
    ngx_http_upstream_rr_peer_t       *peer, *last;
    ngx_http_upstream_rr_peers_t      *peers;
    ngx_http_upstream_rr_peer_data_t   rrp;

    if (lup->ready == 0 || lup->servers == NULL) {
        return NULL;
    }

    peers = lup->upstream->peer.data;

    n = peers->next ? peers->next->number : 0;
    n = ngx_max(peers->number, n);
    ngx_memzero(lup->tried, (n + 8 * sizeof(uintptr_t) - 1)
                            / (8 * sizeof(uintptr_t)) * sizeof(uintptr_t));

    ngx_memzero(&rrp, sizeof(ngx_http_upstream_rr_peer_data_t));
    rrp.peers = peers;
    rrp.tried = lup->tried;

    ngx_memzero(&pc, sizeof(ngx_peer_connection_t));
    pc.log = ngx_cycle->log;

    last = NULL;
    tries = lup->nservers + 1;

    while (tries--) {
        pc.tries = 1;

        rc = ngx_http_upstream_get_round_robin_peer(&pc, &rrp);

        if (rc != NGX_OK) {
            return NULL;
        }

        /* a session holds no connection of the server's */

        peer = rrp.current;

        ngx_http_upstream_rr_peers_rlock(rrp.peers);
        ngx_http_upstream_rr_peer_lock(rrp.peers, peer);
        peer->conns--;
        ngx_http_upstream_rr_peer_unlock(rrp.peers, peer);
        ngx_http_upstream_rr_peers_unlock(rrp.peers);

        if (peer == last) {

            /* a single server is given again and again */

            return NULL;
        }

        last = peer;

        server = NULL;

        for (i = 0; i < lup->nservers; i++) {
            if (lup->servers[i].peer == peer) {
                server = &lup->servers[i];
                break;
            }
        }

        if (server == NULL) {
            continue;
        }

        /*
         * from the link after the last one chosen: a burst of handshakes,
         * whose sessions are counted only when they start, is spread
         */

        best = NULL;

        for (k = 0; k < server->nlinks; k++) {
            j = (server->next + k) % server->nlinks;
            link = &server->links[j];

            if (link->state == NGX_WS_GATEWAY_LINK_READY
                && link->out.size < lup->conf->buffer
                && (best == NULL || link->sessions < best->sessions))
            {
                best = link;
            }
        }

        if (best) {
            server->next = (best - server->links + 1) % server->nlinks;
            return best;
        }
    }

    return NULL;
}


/* the session's OPEN, built from its request */

ngx_int_t
ngx_ws_gateway_link_open(ngx_http_request_t *r, ngx_ws_gateway_link_t *link,
    uint64_t id, ngx_array_t *params, ngx_uint_t flags,
    ngx_ws_gateway_start_t *start)
{
    u_char                   *p, *buf;
    size_t                    len, plen;
    ngx_str_t                 protocol, *values;
    ngx_uint_t                i, n;
    ngx_connection_t         *c;
    ngx_table_elt_t          *h;
    ngx_list_part_t          *part;
    ngx_ws_gateway_param_t   *param;
    u_char                    remote[NGX_SOCKADDR_STRLEN];

    c = r->connection;

    /* the chosen subprotocol is the one in the 101 */

    ngx_str_null(&protocol);

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash && h[i].key.len == sizeof("Sec-WebSocket-Protocol") - 1
            && ngx_strncasecmp(h[i].key.data,
                               (u_char *) "Sec-WebSocket-Protocol",
                               h[i].key.len)
               == 0)
        {
            protocol = h[i].value;
            break;
        }
    }

    if (c->sockaddr->sa_family == AF_UNIX) {
        plen = ngx_cpymem(remote, "unix:", 5) - remote;

    } else {
        plen = ngx_sock_ntop(c->sockaddr, c->socklen, remote,
                             NGX_SOCKADDR_STRLEN, 1);
    }

    len = 8 + NGX_WS_GATEWAY_FIELD_HEAD + plen
          + NGX_WS_GATEWAY_FIELD_HEAD + ngx_min(r->unparsed_uri.len,
                                                NGX_WS_GATEWAY_FIELD_MAX);

    if (protocol.len) {
        len += NGX_WS_GATEWAY_FIELD_HEAD + protocol.len;
    }

    n = params ? params->nelts : 0;
    values = NULL;

    if (n) {
        values = ngx_palloc(r->pool, n * sizeof(ngx_str_t));
        if (values == NULL) {
            return NGX_ERROR;
        }

        param = params->elts;

        for (i = 0; i < n; i++) {
            if (ngx_http_complex_value(r, &param[i].value, &values[i])
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            values[i].len = ngx_min(values[i].len,
                                    NGX_WS_GATEWAY_FIELD_MAX - 1
                                    - param[i].name.len);

            len += NGX_WS_GATEWAY_FIELD_HEAD + 1 + param[i].name.len
                   + values[i].len;
        }
    }

    if (len + 2 > link->peer_max_record) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "ws gateway OPEN of %uz bytes is larger than the "
                      "backend takes (%uD)", len + 2, link->peer_max_record);
        return NGX_ERROR;
    }

    buf = ngx_pnalloc(r->pool, NGX_WS_GATEWAY_REC_MIN + len);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = ngx_ws_gateway_record_write(buf, NGX_WS_GATEWAY_REC_OPEN, flags, len);
    p = ngx_ws_gateway_write_uint64(p, id);
    p = ngx_ws_gateway_record_write_field(p, NGX_WS_GATEWAY_FIELD_REMOTE,
                                          remote, plen);
    p = ngx_ws_gateway_record_write_field(p, NGX_WS_GATEWAY_FIELD_URI,
                                          r->unparsed_uri.data,
                                          ngx_min(r->unparsed_uri.len,
                                                  NGX_WS_GATEWAY_FIELD_MAX));

    if (protocol.len) {
        p = ngx_ws_gateway_record_write_field(p,
                                              NGX_WS_GATEWAY_FIELD_SUBPROTOCOL,
                                              protocol.data, protocol.len);
    }

    for (i = 0; i < n; i++) {
        p = ngx_ws_gateway_record_write_field(p, NGX_WS_GATEWAY_FIELD_PARAM,
                                              NULL,
                                              1 + param[i].name.len
                                              + values[i].len);
        *p++ = (u_char) param[i].name.len;
        p = ngx_cpymem(p, param[i].name.data, param[i].name.len);
        p = ngx_cpymem(p, values[i].data, values[i].len);
    }

    /* its fields are kept with the session, for a re-announce */

    start->open_len = p - (buf + NGX_WS_GATEWAY_REC_MIN + 8);
    start->open = ngx_alloc(start->open_len, c->log);
    if (start->open == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(start->open, buf + NGX_WS_GATEWAY_REC_MIN + 8,
               start->open_len);

    return ngx_ws_gateway_link_queue(link, buf, p - buf, NULL, 0);
}


/* the session is the link's */

ngx_int_t
ngx_ws_gateway_link_attach(ngx_ws_gateway_session_t *s,
    ngx_ws_gateway_link_t *link)
{
    s->link = link;

    if (ngx_ws_gateway_sessions_add(s) != NGX_OK) {
        s->link = NULL;
        return NGX_ERROR;
    }

    ngx_ws_gateway_link_join(s, link);

    return NGX_OK;
}


/* the session is counted on the link, its heartbeat epochs begin there */

static void
ngx_ws_gateway_link_join(ngx_ws_gateway_session_t *s,
    ngx_ws_gateway_link_t *link)
{
    s->link = link;
    link->sessions++;
    link->server->m->sessions++;

    s->msg_epoch = (uint32_t) link->ping;
    s->msg_cur = 0;
    s->msg_prev = 0;
}


/*
 * A client's message to the backend: NGX_OK, NGX_DECLINED when it is
 * larger than the backend takes (1009), NGX_BUSY when the link holds its
 * ws_gateway_link_buffer (1013), NGX_ERROR for no memory
 */

ngx_int_t
ngx_ws_gateway_link_message(ngx_ws_gateway_session_t *s, ngx_uint_t opcode,
    u_char *data, size_t len)
{
    u_char                  head[NGX_WS_GATEWAY_REC_MIN + 8], *p;
    uint32_t                epoch;
    ngx_ws_gateway_link_t  *link;

    link = s->link;

    if (link->state != NGX_WS_GATEWAY_LINK_READY) {

        /* a lost link's sessions leave it at once: this is a bug */

        ngx_log_error(NGX_LOG_ALERT, s->connection->log, 0,
                      "ws gateway session %uL is on a link that is not "
                      "ready", s->id);
        return NGX_BUSY;
    }

    if (len + 10 > link->peer_max_record) {
        return NGX_DECLINED;
    }

    if (link->out.size + len > link->server->up->conf->buffer) {
        return NGX_BUSY;
    }

    p = ngx_ws_gateway_record_write(head, NGX_WS_GATEWAY_REC_MESSAGE,
                                    (opcode == NGX_WS_GATEWAY_OP_BINARY)
                                    ? NGX_WS_GATEWAY_REC_BINARY : 0,
                                    8 + len);
    p = ngx_ws_gateway_write_uint64(p, s->id);

    if (ngx_ws_gateway_link_queue(link, head, p - head, data, len) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * the heartbeat epoch of the message: the backend has read it once
     * it answers the PING of the next epoch
     */

    epoch = (uint32_t) link->ping;

    if (s->msg_epoch != epoch) {
        s->msg_prev = (s->msg_epoch + 1 == epoch) ? s->msg_cur : 0;
        s->msg_cur = 0;
        s->msg_epoch = epoch;
    }

    s->msg_cur++;

    return NGX_OK;
}


/* the session's CLOSE: the last record of it, and it leaves its link */

void
ngx_ws_gateway_link_closed(ngx_ws_gateway_session_t *s, ngx_uint_t code,
    ngx_uint_t by, u_char *reason, size_t len)
{
    ngx_ws_gateway_link_t  *link;

    link = s->link;

    if (s->dropped) {
        ngx_ws_gateway_link_report(s);

        if (s->link == NULL) {

            /* the link failed on it: the session was left waiting */

            return;
        }
    }

    if (s->link_wait) {
        ngx_ws_gateway_session_read_again(s);
    }

    if (s->orphan) {

        /* its re-announce, not confirmed yet: the CLOSE follows it */

        ngx_ws_gateway_link_leave(s);
    }

    ngx_ws_gateway_sessions_del(s);
    s->link = NULL;
    link->sessions--;
    link->server->m->sessions--;

    if (ngx_ws_gateway_link_close_event(link, s->id, code, by, reason, len)
        != NGX_OK)
    {
        ngx_ws_gateway_link_fail(link, 0, "no memory for a CLOSE");
    }
}


/* a CLOSE event, for a session or for a handshake that never became one */

static ngx_int_t
ngx_ws_gateway_link_close_event(ngx_ws_gateway_link_t *link, uint64_t id,
    ngx_uint_t code, ngx_uint_t by, u_char *reason, size_t len)
{
    u_char  head[NGX_WS_GATEWAY_REC_MIN + 11], *p;

    len = ngx_min(len, NGX_WS_GATEWAY_REASON_MAX);

    p = ngx_ws_gateway_record_write(head, NGX_WS_GATEWAY_REC_CLOSE, 0,
                                    11 + len);
    p = ngx_ws_gateway_write_uint64(p, id);
    p = ngx_ws_gateway_write_uint16(p, code);
    *p++ = (u_char) by;

    return ngx_ws_gateway_link_queue(link, head, p - head, reason, len);
}


/* the worker's sessions on links, by id: open addressing */

#define ngx_ws_gateway_sessions_hash(id, mask)                               \
    ((ngx_uint_t) (((id) * 0x9e3779b97f4a7c15ULL) >> 32) & (mask))


static ngx_int_t
ngx_ws_gateway_sessions_add(ngx_ws_gateway_session_t *s)
{
    ngx_uint_t                  i, j, size, mask;
    ngx_ws_gateway_session_t  **slots, *o;

    if ((ngx_ws_gateway_sessions.used + 1) * 2
        > ngx_ws_gateway_sessions.size)
    {
        size = ngx_ws_gateway_sessions.size
               ? ngx_ws_gateway_sessions.size * 2 : 64;

        slots = ngx_calloc(size * sizeof(ngx_ws_gateway_session_t *),
                           ngx_cycle->log);
        if (slots == NULL) {
            return NGX_ERROR;
        }

        mask = size - 1;

        for (i = 0; i < ngx_ws_gateway_sessions.size; i++) {
            o = ngx_ws_gateway_sessions.slots[i];

            if (o == NULL) {
                continue;
            }

            for (j = ngx_ws_gateway_sessions_hash(o->id, mask);
                 slots[j];
                 j = (j + 1) & mask)
            { /* void */ }

            slots[j] = o;
        }

        if (ngx_ws_gateway_sessions.slots) {
            ngx_free(ngx_ws_gateway_sessions.slots);
        }

        ngx_ws_gateway_sessions.slots = slots;
        ngx_ws_gateway_sessions.size = size;
    }

    mask = ngx_ws_gateway_sessions.size - 1;
    slots = ngx_ws_gateway_sessions.slots;

    for (j = ngx_ws_gateway_sessions_hash(s->id, mask);
         slots[j];
         j = (j + 1) & mask)
    { /* void */ }

    slots[j] = s;
    ngx_ws_gateway_sessions.used++;

    return NGX_OK;
}


static ngx_ws_gateway_session_t *
ngx_ws_gateway_sessions_find(uint64_t id)
{
    ngx_uint_t                  j, mask;
    ngx_ws_gateway_session_t  **slots;

    if (ngx_ws_gateway_sessions.size == 0) {
        return NULL;
    }

    mask = ngx_ws_gateway_sessions.size - 1;
    slots = ngx_ws_gateway_sessions.slots;

    for (j = ngx_ws_gateway_sessions_hash(id, mask);
         slots[j];
         j = (j + 1) & mask)
    {
        if (slots[j]->id == id) {
            return slots[j];
        }
    }

    return NULL;
}


static void
ngx_ws_gateway_sessions_del(ngx_ws_gateway_session_t *s)
{
    ngx_uint_t                  i, j, k, mask;
    ngx_ws_gateway_session_t  **slots;

    mask = ngx_ws_gateway_sessions.size - 1;
    slots = ngx_ws_gateway_sessions.slots;

    for (i = ngx_ws_gateway_sessions_hash(s->id, mask);
         slots[i] != s;
         i = (i + 1) & mask)
    {
        if (slots[i] == NULL) {
            return;
        }
    }

    slots[i] = NULL;
    ngx_ws_gateway_sessions.used--;

    /* the entries after it move back where their probe allows */

    for (j = (i + 1) & mask; slots[j]; j = (j + 1) & mask) {
        k = ngx_ws_gateway_sessions_hash(slots[j]->id, mask);

        if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
            slots[i] = slots[j];
            slots[j] = NULL;
            i = j;
        }
    }
}


/*
 * Approval (ws_gateway_link_approve): the handshake's OPEN goes with the
 * APPROVE flag, and the request waits, its connection watched for the
 * client going away, until the backend's ACCEPT (the 101 goes out),
 * REJECT (the status it chose), the deadline (503), or the loss of the
 * link (503).
 */

/*
 * A handshake's link is chosen once, when it is checked, and kept in the
 * request's context: choosing moves the round robin on.
 */

ngx_ws_gateway_link_t *
ngx_ws_gateway_link_choose(ngx_http_request_t *r,
    ngx_ws_gateway_lupstream_t *lup)
{
    ngx_ws_gateway_link_t      *link;
    ngx_ws_gateway_approval_t  *a;

    link = ngx_ws_gateway_link_pick(lup);

    if (link == NULL) {
        return NULL;
    }

    a = ngx_pcalloc(r->pool, sizeof(ngx_ws_gateway_approval_t));
    if (a == NULL) {
        return NULL;
    }

    a->request = r;
    a->link = link;

    ngx_http_set_ctx(r, a, ngx_ws_gateway_module);

    return link;
}


ngx_int_t
ngx_ws_gateway_link_approve(ngx_http_request_t *r, ngx_array_t *params,
    ngx_msec_t timeout)
{
    ngx_pool_cleanup_t         *cln;
    ngx_ws_gateway_approval_t  *a;

    a = ngx_http_get_module_ctx(r, ngx_ws_gateway_module);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    a->id = ngx_ws_gateway_session_id();
    a->limit = ((ngx_ws_gateway_loc_conf_t *)
                   ngx_http_get_module_loc_conf(r, ngx_ws_gateway_module))
               ->outbound_limit;

    if (ngx_ws_gateway_link_open(r, a->link, a->id, params,
                                 NGX_WS_GATEWAY_REC_APPROVE, &a->start)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_queue_insert_tail(&a->link->approvals, &a->queue);
    a->waiting = 1;

    cln->handler = ngx_ws_gateway_approval_cleanup;
    cln->data = a;

    a->timer.handler = ngx_ws_gateway_approval_timeout;
    a->timer.data = a;
    a->timer.log = r->connection->log;

    ngx_add_timer(&a->timer, timeout);

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    /*
     * a graceful shutdown calls the read handler of idle connections
     * with c->close set: the handshake does not wait for its verdict then
     */

    a->read_handler = r->connection->read->handler;
    r->connection->read->handler = ngx_ws_gateway_approval_read_handler;
    r->connection->idle = 1;

    r->main->count++;

    return NGX_DONE;
}


/*
 * The link a session starts on, when its request goes: the one chosen
 * (and, with approval, the id its OPEN had), if it is still ready; or,
 * without approval, another one; NULL when none is left
 */

ngx_ws_gateway_link_t *
ngx_ws_gateway_link_chosen(ngx_http_request_t *r, ngx_uint_t approve,
    ngx_ws_gateway_start_t *start)
{
    ngx_ws_gateway_approval_t  *a;
    ngx_ws_gateway_loc_conf_t  *wlcf;

    a = ngx_http_get_module_ctx(r, ngx_ws_gateway_module);

    ngx_memzero(start, sizeof(ngx_ws_gateway_start_t));

    if (approve) {
        if (a == NULL || !a->accepted) {
            return NULL;
        }

        start->id = a->id;

        if (!a->starting) {

            /* its link went */

            return NULL;
        }

        /* what its backend sent since the ACCEPT goes to the session */

        ngx_ws_gateway_approval_done(a);
        a->starting = 0;

        *start = a->start;
        start->link = a->link;
        start->id = a->id;
        ngx_memzero(&a->start.out, sizeof(ngx_ws_gateway_out_t));
        a->start.open = NULL;
        a->start.channels = NULL;

        return start->link;
    }

    wlcf = ngx_http_get_module_loc_conf(r, ngx_ws_gateway_module);

    start->link = (a && a->link->state == NGX_WS_GATEWAY_LINK_READY)
                  ? a->link : ngx_ws_gateway_link_pick(wlcf->upstream);

    return start->link;
}


static ngx_ws_gateway_approval_t *
ngx_ws_gateway_approval_find(ngx_ws_gateway_link_t *link, uint64_t id)
{
    ngx_queue_t                *q;
    ngx_ws_gateway_approval_t  *a;

    for (q = ngx_queue_head(&link->approvals);
         q != ngx_queue_sentinel(&link->approvals);
         q = ngx_queue_next(q))
    {
        a = ngx_queue_data(q, ngx_ws_gateway_approval_t, queue);

        if (a->id == id) {
            return a;
        }
    }

    return NULL;
}


static void
ngx_ws_gateway_approval_done(ngx_ws_gateway_approval_t *a)
{
    ngx_connection_t  *c;

    ngx_queue_remove(&a->queue);

    if (a->waiting) {
        c = a->request->connection;
        c->read->handler = a->read_handler;
        c->idle = 0;
    }

    a->waiting = 0;

    if (a->timer.timer_set) {
        ngx_del_timer(&a->timer);
    }
}


static void
ngx_ws_gateway_approval_timeout(ngx_event_t *ev)
{
    ngx_http_request_t         *r;
    ngx_ws_gateway_approval_t  *a;

    a = ev->data;
    r = a->request;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "ws gateway link to %V (upstream \"%V\") gave no verdict "
                  "on a handshake in time",
                  &a->link->server->name,
                  &a->link->server->up->upstream->host);

    a->link->server->m->approve_timeouts++;

    ngx_ws_gateway_approval_done(a);

    (void) ngx_ws_gateway_link_close_event(a->link, a->id,
                                           NGX_WS_GATEWAY_CLOSE_INTERNAL,
                                           NGX_WS_GATEWAY_BY_GATEWAY,
                                           (u_char *) "approval timeout",
                                           sizeof("approval timeout") - 1);

    ngx_ws_gateway_approval_refuse(r, NGX_HTTP_SERVICE_UNAVAILABLE);
}


static void
ngx_ws_gateway_approval_read_handler(ngx_event_t *rev)
{
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_ws_gateway_approval_t  *a;

    c = rev->data;
    r = c->data;
    a = ngx_http_get_module_ctx(r, ngx_ws_gateway_module);

    /* the handler is the connection's only while its approval waits */

    if (!c->close) {
        a->read_handler(rev);
        return;
    }

    /* the worker is shutting down: a 503, as for any late handshake */

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "worker is shutting down: a handshake waiting for its "
                  "backend's verdict is answered 503");

    ngx_ws_gateway_approval_done(a);

    (void) ngx_ws_gateway_link_close_event(a->link, a->id,
                                           NGX_WS_GATEWAY_CLOSE_GOING_AWAY,
                                           NGX_WS_GATEWAY_BY_GATEWAY,
                                           (u_char *) "server shutting down",
                                           sizeof("server shutting down") - 1);

    ngx_ws_gateway_approval_refuse(r, NGX_HTTP_SERVICE_UNAVAILABLE);
}


static void
ngx_ws_gateway_approval_cleanup(void *data)
{
    ngx_ws_gateway_approval_t *a = data;

    /* what its session would have kept */

    if (a->start.open) {
        ngx_free(a->start.open);
        a->start.open = NULL;
    }

    if (a->start.channels) {
        ngx_free(a->start.channels);
        a->start.channels = NULL;
    }

    if (a->starting) {

        /* accepted, and the client went before its session started */

        a->starting = 0;
        (void) ngx_ws_gateway_out_free(&a->start.out);

    } else if (!a->waiting) {
        return;
    }

    /* the client went while the backend thought it over */

    ngx_ws_gateway_approval_done(a);

    (void) ngx_ws_gateway_link_close_event(a->link, a->id,
                                           NGX_WS_GATEWAY_CLOSE_ABNORMAL,
                                           NGX_WS_GATEWAY_BY_CLIENT,
                                           (u_char *) "connection lost",
                                           sizeof("connection lost") - 1);
}


static void
ngx_ws_gateway_approval_refuse(ngx_http_request_t *r, ngx_uint_t status)
{
    ngx_str_t          value;
    ngx_uint_t         i;
    ngx_list_part_t   *part;
    ngx_table_elt_t   *h;
    ngx_connection_t  *c;

    c = r->connection;

    /* the 101 made ready in the check is not sent: its headers go */

    r->header_only = 0;

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if ((h[i].key.len == sizeof("Upgrade") - 1
             && ngx_strncasecmp(h[i].key.data, (u_char *) "Upgrade",
                                h[i].key.len) == 0)
            || (h[i].key.len > sizeof("Sec-WebSocket-") - 1
                && ngx_strncasecmp(h[i].key.data,
                                   (u_char *) "Sec-WebSocket-",
                                   sizeof("Sec-WebSocket-") - 1) == 0))
        {
            h[i].hash = 0;
        }
    }

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE) {
        ngx_str_set(&value, "1");

        if (ngx_ws_gateway_add_header(r, "Retry-After",
                                      sizeof("Retry-After") - 1, &value)
            == NULL)
        {
            status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_ws_gateway_metric_inc(
            handshakes[NGX_WS_GATEWAY_HS_UNAVAILABLE]);

    } else {
        ngx_ws_gateway_metric_inc(handshakes[NGX_WS_GATEWAY_HS_REFUSED]);
    }

    r->keepalive = 0;

    ngx_http_finalize_request(r, status);

    /*
     * called from a link's or a timer's event, not the request's: what
     * the finalization posted (NGINX terminates 408, 444 and 499, and a
     * response whose write fails) runs now, or never
     */

    ngx_http_run_posted_requests(c);
}


/* backpressure toward the backend: its link at the high watermark */

ngx_int_t
ngx_ws_gateway_link_full(ngx_ws_gateway_session_t *s)
{
    ngx_ws_gateway_link_t  *link;

    link = s->link;

    if (link->out.size < link->server->up->conf->high_watermark) {
        return 0;
    }

    /* the session reads on when the queue is below the low watermark */

    s->link_wait = 1;
    ngx_queue_insert_tail(&link->paused, &s->queue);

    link->server->m->sessions_paused++;
    link->server->m->pauses++;

    return 1;
}


void
ngx_ws_gateway_link_unpaused(ngx_ws_gateway_session_t *s)
{
    if (s->link) {
        s->link->server->m->sessions_paused--;
    }
}


static void
ngx_ws_gateway_link_unpause(ngx_ws_gateway_link_t *link)
{
    ngx_queue_t               *q;
    ngx_ws_gateway_session_t  *s;

    /* each leaves the list, and reads on if nothing else holds it */

    while (!ngx_queue_empty(&link->paused)) {
        q = ngx_queue_head(&link->paused);
        s = ngx_queue_data(q, ngx_ws_gateway_session_t, queue);

        ngx_ws_gateway_session_read_again(s);
    }
}


/*
 * Failover.  The sessions of a lost link leave it at once and wait, as
 * orphans of its upstream, for another ready link: each is re-announced
 * there (OPEN with REANNOUNCE), a slice per pass of the event loop.
 * Meanwhile an orphan does not read its client (what the client sends
 * waits in TCP), and a message it completes from what it had read is
 * held, up to ws_gateway_failover_hold bytes; past the location's
 * ws_gateway_failover_timeout it is closed.
 */

typedef struct {
    ngx_ws_gateway_link_t         *link;
} ngx_ws_gateway_unsent_ctx_t;


static void
ngx_ws_gateway_link_orphan(ngx_ws_gateway_link_t *link)
{
    ngx_uint_t                   i, n, acked;
    ngx_ws_gateway_orphan_t     *o;
    ngx_ws_gateway_session_t    *s, **list;
    ngx_ws_gateway_lupstream_t  *lup;
    ngx_ws_gateway_unsent_ctx_t  ctx;

    n = link->sessions;

    if (n == 0) {
        return;
    }

    lup = link->server->up;

    list = ngx_alloc(n * sizeof(ngx_ws_gateway_session_t *), ngx_cycle->log);

    if (list == NULL) {

        /* no memory to move them: each is closed (the table may move) */

        for (i = 0; i < ngx_ws_gateway_sessions.size; /* void */) {
            s = ngx_ws_gateway_sessions.slots[i];

            if (s == NULL || s->link != link) {
                i++;
                continue;
            }

            ngx_ws_gateway_sessions_del(s);
            s->link = NULL;
            link->sessions--;
            link->server->m->sessions--;
            ngx_ws_gateway_session_lost(s, s->conf->failover_code,
                                        "backend unavailable");
            i = 0;
        }

        return;
    }

    for (i = 0; i < ngx_ws_gateway_sessions.size && n; i++) {
        s = ngx_ws_gateway_sessions.slots[i];

        if (s && s->link == link) {
            list[--n] = s;
        }
    }

    n = link->sessions;

    for (i = 0; i < n; i++) {
        s = list[i];

        if (s->link_wait) {
            ngx_ws_gateway_session_read_again(s);
        }

        o = s->orphan;

        if (o) {

            /*
             * re-announced on this link, and the backend has not
             * confirmed it: what it said is said again
             */

            ngx_queue_remove(&o->queue);
            o->link = NULL;

        } else {
            o = ngx_calloc(sizeof(ngx_ws_gateway_orphan_t), ngx_cycle->log);
        }

        if (o) {

            /* its messages that the backend may not have read */

            acked = link->acked;

            if ((int32_t) (acked - s->msg_epoch) < 1) {
                o->unconfirmed += s->msg_cur;
            }

            if ((int32_t) (acked - (s->msg_epoch - 1)) < 1) {
                o->unconfirmed += s->msg_prev;
            }

            o->session = s;
            ngx_queue_insert_tail(&lup->orphans, &o->queue);

            o->node.key = ngx_current_msec + s->conf->failover_timeout;
            ngx_rbtree_insert(&lup->deadlines, &o->node);

            ngx_ws_gateway_metric_inc(fanout.orphaned);
        }

        s->orphan = o;
        s->link = NULL;

        if (o == NULL) {

            /* with no memory, it is closed: out of the table first */

            ngx_ws_gateway_sessions_del(s);
        }
    }

    if (!ngx_queue_empty(&link->announced)) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "ws gateway link lost with re-announces of sessions "
                      "not on it");
        ngx_queue_init(&link->announced);
    }

    link->sessions = 0;
    link->server->m->sessions -= n;
    link->server->m->lost += n;
    ngx_ws_gateway_metric_add(fanout.lost, n);

    /* what its queue still held of theirs never reached the backend */

    ctx.link = link;
    ngx_ws_gateway_out_unsent(&link->out, ngx_ws_gateway_link_unsent, &ctx);

    for (i = 0; i < n; i++) {
        s = list[i];
        o = s->orphan;

        if (o) {
            o->unconfirmed = ngx_max(o->unconfirmed, o->unsent);
        }

        if (o == NULL || s->conf->failover_timeout == 0 || ngx_exiting
            || ngx_terminate || ngx_quit)
        {
            ngx_ws_gateway_session_lost(s, s->conf->failover_code,
                                        "backend unavailable");
        }
    }

    ngx_free(list);

    if (!ngx_queue_empty(&lup->orphans)) {
        if (lup->ready && !lup->adopt.posted) {
            ngx_post_event(&lup->adopt, &ngx_posted_events);
        }

        ngx_ws_gateway_link_expire_timer(lup);
    }
}


static void
ngx_ws_gateway_link_unsent(u_char *head, size_t n, void *data)
{
    uint64_t                   id;
    ngx_ws_gateway_session_t  *s;

    if (n < NGX_WS_GATEWAY_REC_MIN + 8
        || head[4] != NGX_WS_GATEWAY_REC_MESSAGE)
    {
        return;
    }

    id = ngx_ws_gateway_parse_uint64(head + NGX_WS_GATEWAY_REC_MIN);

    s = ngx_ws_gateway_sessions_find(id);

    if (s && s->orphan) {
        s->orphan->unsent++;
    }
}


/* a client's message while its session has no link: held, or dropped */

ngx_int_t
ngx_ws_gateway_link_hold(ngx_ws_gateway_session_t *s, ngx_uint_t opcode,
    u_char *data, size_t len)
{
    size_t                    old;
    u_char                    head[NGX_WS_GATEWAY_REC_MIN + 8], *p;
    ngx_ws_gateway_orphan_t  *o;

    o = s->orphan;

    if (o->held.size + len > s->conf->failover_hold) {
        o->unsent++;
        o->unconfirmed++;
        ngx_ws_gateway_metric_inc(drops[NGX_WS_GATEWAY_DROP_NO_LINK]);
        return NGX_OK;
    }

    p = ngx_ws_gateway_record_write(head, NGX_WS_GATEWAY_REC_MESSAGE,
                                    (opcode == NGX_WS_GATEWAY_OP_BINARY)
                                    ? NGX_WS_GATEWAY_REC_BINARY : 0,
                                    8 + len);
    p = ngx_ws_gateway_write_uint64(p, s->id);

    old = o->held.size;

    if (ngx_ws_gateway_out_record(&o->held, head, p - head, data, len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    o->held_n++;
    ngx_ws_gateway_metric_add(fanout.held, o->held.size - old);

    return NGX_OK;
}


/* the session leaves its waiting for a link: it ends */

void
ngx_ws_gateway_link_leave(ngx_ws_gateway_session_t *s)
{
    ngx_ws_gateway_orphan_t  *o;

    o = s->orphan;

    ngx_queue_remove(&o->queue);
    s->orphan = NULL;

    if (o->link) {

        /* re-announced: it leaves its link as any session does */

        ngx_free(o);
        return;
    }

    ngx_rbtree_delete(&s->conf->upstream->deadlines, &o->node);

    /* what it held for the backend is lost */

    ngx_ws_gateway_metric_add(fanout.held, -(ngx_atomic_int_t) o->held.size);
    ngx_ws_gateway_metric_add(drops[NGX_WS_GATEWAY_DROP_NO_LINK], o->held_n);
    (void) ngx_ws_gateway_out_free(&o->held);

    ngx_free(o);

    ngx_ws_gateway_metric_add(fanout.orphaned, -1);

    ngx_ws_gateway_sessions_del(s);
}


/* a PONG came: the re-announces written before its PING were read */

static void
ngx_ws_gateway_link_confirmed(ngx_ws_gateway_link_t *link)
{
    ngx_queue_t              *q;
    ngx_ws_gateway_orphan_t  *o;

    while (!ngx_queue_empty(&link->announced)) {
        q = ngx_queue_head(&link->announced);
        o = ngx_queue_data(q, ngx_ws_gateway_orphan_t, queue);

        if ((int32_t) (link->acked - o->epoch) < 1) {
            return;
        }

        ngx_queue_remove(q);
        o->session->orphan = NULL;
        ngx_free(o);
    }
}


static void
ngx_ws_gateway_link_adopt(ngx_event_t *ev)
{
    ngx_uint_t                   n, slice;
    ngx_queue_t                 *q;
    ngx_ws_gateway_link_t       *link;
    ngx_ws_gateway_orphan_t     *o;
    ngx_ws_gateway_session_t    *s;
    ngx_ws_gateway_lupstream_t  *lup;
    ngx_ws_gateway_main_conf_t  *wmcf;

    lup = ev->data;

    wmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_ws_gateway_module);
    slice = wmcf->fanout_slice;

    for (n = 0; n < slice && !ngx_queue_empty(&lup->orphans); n++) {

        link = ngx_ws_gateway_link_pick(lup);

        if (link == NULL) {

            /*
             * the ready links are full: a drained one posts this again,
             * and a short timer makes sure of it
             */

            if (lup->ready && !ev->timer_set) {
                ngx_add_timer(ev, 20);
            }

            return;
        }

        q = ngx_queue_head(&lup->orphans);
        o = ngx_queue_data(q, ngx_ws_gateway_orphan_t, queue);
        s = o->session;

        if (ngx_ws_gateway_link_reannounce(s, link) != NGX_OK) {
            ngx_ws_gateway_session_lost(s, s->conf->failover_code,
                                        "backend unavailable");
        }
    }

    if (!ngx_queue_empty(&lup->orphans) && lup->ready) {
        ngx_post_event(ev, &ngx_posted_next_events);
    }
}


/*
 * OPEN with REANNOUNCE: the fields of its first OPEN, its channels, and
 * what may have been lost; then the messages held meanwhile
 */

static ngx_int_t
ngx_ws_gateway_link_reannounce(ngx_ws_gateway_session_t *s,
    ngx_ws_gateway_link_t *link)
{
    u_char                   *buf, *p;
    size_t                    len, old;
    ngx_ws_gateway_sub_t     *sub;
    ngx_ws_gateway_orphan_t  *o;

    o = s->orphan;

    len = 8 + s->open_len + 3 * (NGX_WS_GATEWAY_FIELD_HEAD + 4);

    for (sub = s->subs; sub; sub = sub->next) {
        len += NGX_WS_GATEWAY_FIELD_HEAD + sub->channel->len;
    }

    if (len + 2 > link->peer_max_record) {
        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "ws gateway re-announce of %uz bytes is larger than "
                      "the backend takes (%uD)", len + 2,
                      link->peer_max_record);
        return NGX_ERROR;
    }

    buf = ngx_alloc(NGX_WS_GATEWAY_REC_MIN + len, ngx_cycle->log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = ngx_ws_gateway_record_write(buf, NGX_WS_GATEWAY_REC_OPEN,
                                    NGX_WS_GATEWAY_REC_REANNOUNCE, len);
    p = ngx_ws_gateway_write_uint64(p, s->id);

    if (s->open_len) {
        p = ngx_cpymem(p, ngx_ws_gateway_session_open(s), s->open_len);
    }

    for (sub = s->subs; sub; sub = sub->next) {
        p = ngx_ws_gateway_record_write_field(p, NGX_WS_GATEWAY_FIELD_CHANNEL,
                                              sub->channel->name,
                                              sub->channel->len);
    }

    /* the drops an earlier re-announce told, if it was never confirmed */

    o->dropped += s->dropped;

    p = ngx_ws_gateway_record_write_field(p, NGX_WS_GATEWAY_FIELD_DROPPED,
                                          NULL, 4);
    p = ngx_ws_gateway_write_uint32(p, o->dropped);
    p = ngx_ws_gateway_record_write_field(p, NGX_WS_GATEWAY_FIELD_UNSENT,
                                          NULL, 4);
    p = ngx_ws_gateway_write_uint32(p, o->unsent);
    p = ngx_ws_gateway_record_write_field(p,
                                          NGX_WS_GATEWAY_FIELD_UNCONFIRMED,
                                          NULL, 4);
    p = ngx_ws_gateway_write_uint32(p, o->unconfirmed);

    if (ngx_ws_gateway_link_queue(link, buf, p - buf, NULL, 0) != NGX_OK) {
        ngx_free(buf);
        return NGX_ERROR;
    }

    ngx_free(buf);

    s->dropped = 0;

    /* the messages it held go after it, as they were */

    if (o->held.out) {
        old = o->held.size;
        ngx_ws_gateway_out_splice(&link->out, &o->held);
        link->server->m->queued += old;
        ngx_ws_gateway_metric_add(fanout.held, -(ngx_atomic_int_t) old);
    }

    ngx_ws_gateway_metric_add(fanout.orphaned, -1);
    ngx_ws_gateway_metric_inc(fanout.reannounced);

    ngx_ws_gateway_link_join(s, link);

    /* its held messages are of this epoch, as if sent now */

    s->msg_cur = (uint32_t) o->held_n;
    o->held_n = 0;

    /* kept until the backend confirms the re-announce */

    ngx_rbtree_delete(&link->server->up->deadlines, &o->node);
    ngx_queue_remove(&o->queue);
    o->link = link;
    o->epoch = s->msg_epoch;
    ngx_queue_insert_tail(&link->announced, &o->queue);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, s->connection->log, 0,
                   "ws gateway session %uL re-announced to %V",
                   s->id, &link->server->name);

    ngx_ws_gateway_session_read_again(s);

    return NGX_OK;
}


/* the orphans past their location's ws_gateway_failover_timeout */

static void
ngx_ws_gateway_link_expire(ngx_event_t *ev)
{
    u_char                       reason[NGX_WS_GATEWAY_REASON_MAX + 1];
    ngx_uint_t                   n, slice;
    ngx_msec_t                   window;
    ngx_rbtree_node_t           *node;
    ngx_ws_gateway_orphan_t     *o;
    ngx_ws_gateway_session_t    *s;
    ngx_ws_gateway_lupstream_t  *lup;
    ngx_ws_gateway_main_conf_t  *wmcf;

    lup = ev->data;

    wmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_ws_gateway_module);
    slice = wmcf->fanout_slice;

    for (n = 0; n < slice; n++) {

        if (lup->deadlines.root == lup->deadlines.sentinel) {
            break;
        }

        node = ngx_rbtree_min(lup->deadlines.root, lup->deadlines.sentinel);

        if ((ngx_msec_int_t) (node->key - ngx_current_msec) > 0) {
            break;
        }

        o = (ngx_ws_gateway_orphan_t *)
                ((u_char *) node - offsetof(ngx_ws_gateway_orphan_t, node));
        s = o->session;

        /* a hint that spreads the clients' reconnects over the window */

        window = s->conf->failover_window;

        (void) ngx_snprintf(reason, sizeof(reason) - 1,
                            "backend unavailable, retry in %M ms%Z",
                            window ? (ngx_msec_t) ngx_random() % (window + 1)
                                   : (ngx_msec_t) 0);
        reason[sizeof(reason) - 1] = '\0';

        ngx_ws_gateway_metric_inc(fanout.failover_closed);

        /* it leaves the tree */

        ngx_ws_gateway_session_lost(s, s->conf->failover_code,
                                    (char *) reason);
    }

    ngx_ws_gateway_link_expire_timer(lup);

    if (n == slice && lup->expire.timer_set) {

        /* more may be due: after the others' events */

        ngx_del_timer(&lup->expire);
        ngx_add_timer(&lup->expire, 1);
    }
}


/* the nearest deadline of the upstream's waiting sessions */

static void
ngx_ws_gateway_link_expire_timer(ngx_ws_gateway_lupstream_t *lup)
{
    ngx_msec_int_t      left;
    ngx_rbtree_node_t  *node;

    if (lup->expire.timer_set) {
        ngx_del_timer(&lup->expire);
    }

    if (lup->deadlines.root == lup->deadlines.sentinel) {
        return;
    }

    node = ngx_rbtree_min(lup->deadlines.root, lup->deadlines.sentinel);
    left = (ngx_msec_int_t) (node->key - ngx_current_msec);

    ngx_add_timer(&lup->expire, left > 0 ? (ngx_msec_t) left : 1);
}


/* the worker's sessions on links */

ngx_ws_gateway_session_t *
ngx_ws_gateway_link_session(uint64_t id)
{
    return ngx_ws_gateway_sessions_find(id);
}


ngx_uint_t
ngx_ws_gateway_link_sessions_of(ngx_ws_gateway_lupstream_t *lup,
    uint64_t *ids)
{
    ngx_uint_t                 i, n;
    ngx_ws_gateway_session_t  *s;

    n = 0;

    for (i = 0; i < ngx_ws_gateway_sessions.size; i++) {
        s = ngx_ws_gateway_sessions.slots[i];

        if (s && s->conf->upstream == lup) {
            if (ids) {
                ids[n] = s->id;
            }

            n++;
        }
    }

    return n;
}


/* the channels of ws_gateway_subscribe, while the request is here */

ngx_int_t
ngx_ws_gateway_link_channels(ngx_http_request_t *r, ngx_array_t *subscribe,
    ngx_uint_t max, ngx_ws_gateway_start_t *start)
{
    u_char                    *p;
    size_t                     len;
    ngx_str_t                 *values;
    ngx_uint_t                 i;
    ngx_http_complex_value_t  *cv;

    cv = subscribe->elts;

    values = ngx_palloc(r->pool, subscribe->nelts * sizeof(ngx_str_t));
    if (values == NULL) {
        return NGX_ERROR;
    }

    len = start->channels_len;

    for (i = 0; i < subscribe->nelts; i++) {
        if (ngx_http_complex_value(r, &cv[i], &values[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        if (values[i].len > max) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "ws_gateway_subscribe \"%V\" is longer than "
                          "ws_gateway_channel_max_length %ui, not done",
                          &values[i], max);
            values[i].len = 0;
        }

        if (values[i].len) {
            len += 1 + values[i].len;
        }
    }

    if (len == start->channels_len) {
        return NGX_OK;
    }

    p = ngx_alloc(len, r->connection->log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (start->channels) {
        ngx_memcpy(p, start->channels, start->channels_len);
        ngx_free(start->channels);
    }

    start->channels = p;
    p += start->channels_len;

    for (i = 0; i < subscribe->nelts; i++) {
        if (values[i].len) {
            *p++ = (u_char) values[i].len;
            p = ngx_cpymem(p, values[i].data, values[i].len);
        }
    }

    start->channels_len = len;

    return NGX_OK;
}
