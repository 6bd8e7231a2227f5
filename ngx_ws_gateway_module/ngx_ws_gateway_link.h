
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
} ngx_ws_gateway_link_conf_t;


typedef struct ngx_ws_gateway_link_s      ngx_ws_gateway_link_t;
typedef struct ngx_ws_gateway_lserver_s   ngx_ws_gateway_lserver_t;
typedef struct ngx_ws_gateway_lupstream_s ngx_ws_gateway_lupstream_t;


/* an upstream that ws_gateway_pass names, and its worker's links */

struct ngx_ws_gateway_lupstream_s {
    ngx_http_upstream_srv_conf_t  *upstream;
    ngx_ws_gateway_link_conf_t    *conf;

    /* in a worker */
    ngx_ws_gateway_lserver_t      *servers;
    ngx_uint_t                     nservers;
    uintptr_t                     *tried;
    ngx_uint_t                     ready;         /* links ready */
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
    ngx_uint_t flags);

/* a handshake's link, chosen once and kept in its context */
ngx_ws_gateway_link_t *ngx_ws_gateway_link_choose(ngx_http_request_t *r,
    ngx_ws_gateway_lupstream_t *lup);
ngx_ws_gateway_link_t *ngx_ws_gateway_link_chosen(ngx_http_request_t *r,
    ngx_uint_t approve, ngx_ws_gateway_start_t *start);

/* with ws_gateway_link_approve: the OPEN, and the request waits */
ngx_int_t ngx_ws_gateway_link_approve(ngx_http_request_t *r,
    ngx_array_t *params, ngx_msec_t timeout);

#endif /* _NGX_WS_GATEWAY_LINK_H_INCLUDED_ */
