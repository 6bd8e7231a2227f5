
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#ifndef _NGX_WS_GATEWAY_LINK_H_INCLUDED_
#define _NGX_WS_GATEWAY_LINK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_ws_gateway_record.h"
#include "ngx_ws_gateway_out.h"
#include "ngx_ws_gateway_metrics.h"


/*
 * Backend links (docs/protocol.md): every worker keeps, for each
 * upstream that a ws_gateway_pass names, ws_gateway_links persistent
 * connections to each of its servers, multiplexing the sessions
 * assigned to them.
 */


/* the settings of an upstream's links: its upstream{} block's */

typedef struct {
    ngx_uint_t                     links;
    ngx_msec_t                     connect_timeout;
    ngx_msec_t                     send_timeout;
    ngx_msec_t                     read_timeout;
    ngx_msec_t                     heartbeat;
    ngx_msec_t                     backoff_min;
    ngx_msec_t                     backoff_max;
    size_t                         max_message;
    size_t                         buffer;
    size_t                         high_watermark;
    size_t                         low_watermark;

    /* where a watermark was set, for errors found later */
    u_char                        *wm_file;
    ngx_uint_t                     wm_line;
} ngx_ws_gateway_link_conf_t;


typedef struct ngx_ws_gateway_link_s      ngx_ws_gateway_link_t;
typedef struct ngx_ws_gateway_lserver_s   ngx_ws_gateway_lserver_t;
typedef struct ngx_ws_gateway_lupstream_s ngx_ws_gateway_lupstream_t;
typedef struct ngx_ws_gateway_orphan_s    ngx_ws_gateway_orphan_t;
typedef struct ngx_ws_gateway_session_s   ngx_ws_gateway_session_t;


/* an upstream that ws_gateway_pass names, and its worker's links */

struct ngx_ws_gateway_lupstream_s {
    ngx_http_upstream_srv_conf_t  *upstream;
    ngx_ws_gateway_link_conf_t    *conf;

    /* in a worker */
    ngx_ws_gateway_lserver_t      *servers;
    ngx_uint_t                     nservers;
    uintptr_t                     *tried;
    ngx_uint_t                     ready;         /* links ready */

    /* sessions whose link was lost, waiting for another, in order */
    ngx_queue_t                    orphans;
    ngx_rbtree_t                   deadlines;     /* theirs, to close */
    ngx_rbtree_node_t              sentinel;
    ngx_event_t                    adopt;         /* posted: re-announce */
    ngx_event_t                    expire;        /* the nearest deadline */
};


/*
 * A session whose link was lost, until another takes it; then, on the
 * link that took it, until the backend has read its re-announce (a PONG
 * of the epoch after it came back): should that link be lost too, what
 * the re-announce said is said again, with what was lost since.
 */

struct ngx_ws_gateway_orphan_s {
    ngx_queue_t                    queue;         /* its upstream's, then
                                                     its new link's */
    ngx_rbtree_node_t              node;          /* its deadline, while
                                                     it waits */
    ngx_ws_gateway_session_t      *session;
    ngx_ws_gateway_link_t         *link;          /* re-announced there;
                                                     NULL: it waits */
    uint32_t                       unsent;        /* its messages lost */
    uint32_t                       unconfirmed;   /* and perhaps lost */
    uint32_t                       dropped;       /* told in the
                                                     re-announce */
    uint32_t                       epoch;         /* of the re-announce */
    ngx_uint_t                     held_n;        /* messages held */
    ngx_ws_gateway_out_t           held;          /* MESSAGE records */
};


typedef struct {
    ngx_str_t                      name;
    ngx_http_complex_value_t       value;
} ngx_ws_gateway_param_t;


/*
 * What a session starts with: its link and id and, with approval, what
 * its backend sent between its ACCEPT and the start (frames, a CLOSE)
 */

typedef struct {
    ngx_ws_gateway_link_t         *link;
    uint64_t                       id;
    ngx_ws_gateway_out_t           out;
    u_char                        *open;         /* the OPEN's fields */
    size_t                         open_len;
    u_char                        *channels;     /* to subscribe: u8
                                                    length, name, ... */
    size_t                         channels_len;
    ngx_uint_t                     end_code;     /* 0: none */
    size_t                         end_len;
    u_char                         end_reason[NGX_WS_GATEWAY_REASON_MAX];
    unsigned                       slow:1;       /* the end is the
                                                    gateway's: over the
                                                    outbound limit */
} ngx_ws_gateway_start_t;


char *ngx_ws_gateway_link_pass(ngx_conf_t *cf, ngx_str_t *name,
    ngx_uint_t *index);
void *ngx_ws_gateway_link_create_conf(ngx_conf_t *cf);
char *ngx_ws_gateway_link_backoff(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_ws_gateway_link_init_conf(ngx_conf_t *cf);
ngx_ws_gateway_lupstream_t *ngx_ws_gateway_link_upstream(ngx_conf_t *cf,
    ngx_uint_t index);

ngx_int_t ngx_ws_gateway_link_init_process(ngx_cycle_t *cycle);
void ngx_ws_gateway_link_exit_process(void);

/* a ready link for a new session of the upstream, or NULL */
ngx_ws_gateway_link_t *ngx_ws_gateway_link_pick(
    ngx_ws_gateway_lupstream_t *lup);

/* the session's OPEN, from its request, before the request goes */
ngx_int_t ngx_ws_gateway_link_open(ngx_http_request_t *r,
    ngx_ws_gateway_link_t *link, uint64_t id, ngx_array_t *params,
    ngx_uint_t flags, ngx_ws_gateway_start_t *start);

/* the channels of ws_gateway_subscribe, from the request */
ngx_int_t ngx_ws_gateway_link_channels(ngx_http_request_t *r,
    ngx_array_t *subscribe, ngx_uint_t max, ngx_ws_gateway_start_t *start);

/* the worker's sessions on links, by id; of an upstream (ids NULL: count) */
ngx_ws_gateway_session_t *ngx_ws_gateway_link_session(uint64_t id);
ngx_uint_t ngx_ws_gateway_link_sessions_of(ngx_ws_gateway_lupstream_t *lup,
    uint64_t *ids);

/* a link's fan-out is done: it reads on */
void ngx_ws_gateway_link_fanout_done(ngx_ws_gateway_link_t *link);
char *ngx_ws_gateway_link_watermark(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* a handshake's link, chosen once and kept in its context */
ngx_ws_gateway_link_t *ngx_ws_gateway_link_choose(ngx_http_request_t *r,
    ngx_ws_gateway_lupstream_t *lup);
ngx_ws_gateway_link_t *ngx_ws_gateway_link_chosen(ngx_http_request_t *r,
    ngx_uint_t approve, ngx_ws_gateway_start_t *start);

/* with ws_gateway_link_approve: the OPEN, and the request waits */
ngx_int_t ngx_ws_gateway_link_approve(ngx_http_request_t *r,
    ngx_array_t *params, ngx_msec_t timeout);

#endif /* _NGX_WS_GATEWAY_LINK_H_INCLUDED_ */
