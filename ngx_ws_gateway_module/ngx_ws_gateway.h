
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#ifndef _NGX_WS_GATEWAY_H_INCLUDED_
#define _NGX_WS_GATEWAY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_ws_gateway_parse.h"
#include "ngx_ws_gateway_out.h"
#include "ngx_ws_gateway_metrics.h"
#include "ngx_ws_gateway_link.h"
#include "ngx_ws_gateway_channel.h"


#define NGX_WS_GATEWAY_VERSION           "0.10"


#define NGX_WS_GATEWAY_TARGET_UNSET      0
#define NGX_WS_GATEWAY_TARGET_ECHO       1
#define NGX_WS_GATEWAY_TARGET_UPSTREAM   2

#define NGX_WS_GATEWAY_POLICY_CLOSE      0
#define NGX_WS_GATEWAY_POLICY_DROP       1


typedef struct {
    ngx_flag_t                 metrics;
    ngx_msec_t                 idle_window;
    ngx_msec_t                 log_interval;
    size_t                     worker_outbound_limit;
    ngx_uint_t                 fanout_slice;
    ngx_uint_t                 slots;            /* the directive */
    ngx_uint_t                 nslots;
    ngx_shm_zone_t            *zone;

    /* of ngx_ws_gateway_lupstream_t: the upstreams ws_gateway_pass names */
    ngx_array_t               *upstreams;
} ngx_ws_gateway_main_conf_t;


typedef struct {
    ngx_uint_t                 target;
    ngx_ws_gateway_lupstream_t *upstream;        /* TARGET_UPSTREAM */
    ngx_uint_t                 upstream_index;   /* in the main conf's */
    ngx_array_t               *params;           /* of ngx_ws_gateway_
                                                    param_t */
    ngx_array_t               *subprotocols;     /* of ngx_str_t */
    ngx_flag_t                 approve;          /* the backend's verdict
                                                    before the 101 */
    ngx_msec_t                 approve_timeout;

    /* where ws_gateway_pass is, for errors found when merging */
    ngx_str_t                  pass_file;
    ngx_uint_t                 pass_line;

    size_t                     max_frame_size;
    size_t                     max_frame_conf;   /* as set, or unset */
    size_t                     max_message_size;
    size_t                     buffer_size;
    size_t                     outbound_limit;
    ngx_uint_t                 outbound_policy;  /* NGX_WS_GATEWAY_POLICY_* */
    ngx_uint_t                 outbound_code;    /* of "close" */

    /* channels */
    ngx_uint_t                 session_channels;
    ngx_uint_t                 channel_max_length;
    ngx_array_t               *subscribe;        /* of ngx_http_complex_
                                                    value_t */

    /* sessions whose link is lost */
    ngx_msec_t                 failover_timeout;
    ngx_uint_t                 failover_code;
    ngx_msec_t                 failover_window;
    size_t                     failover_hold;

    ngx_msec_t                 ping_interval;
    ngx_msec_t                 pong_timeout;
    ngx_msec_t                 idle_timeout;
    ngx_msec_t                 send_timeout;
    ngx_msec_t                 close_timeout;

    /* this location's ngx_ws_gateway_auth_module configuration */
    void                      *auth;

    /*
     * in a worker: its messages being received, in the order they
     * began (one send_timeout, so in the order of their deadlines), and
     * the link among the locations that have any
     */
    ngx_queue_t                messages;
    ngx_queue_t                receiving;
} ngx_ws_gateway_loc_conf_t;


/* a walk over the request's headers, ngx_ws_gateway_next_header() */

typedef struct {
    ngx_list_part_t           *part;
    ngx_uint_t                 i;
} ngx_ws_gateway_headers_t;


/* what a session whose token expires is sent */

typedef struct {
    ngx_uint_t                 code;
    char                      *reason;          /* NUL-terminated */
} ngx_ws_gateway_expiry_t;


/* a message being reassembled from fragments */

typedef struct {
    ngx_queue_t                queue;            /* the worker's, by start */
    ngx_connection_t          *connection;       /* of its session */
    ngx_msec_t                 start;
    size_t                     size;             /* of data[] */
    size_t                     len;
    size_t                     held;             /* allocated, in all */
    size_t                     over;             /* of it, over the budget */
    ngx_uint_t                 mapped;           /* by mmap(), not malloc() */
    u_char                     data[1];
} ngx_ws_gateway_msg_t;


struct ngx_ws_gateway_session_s {
    ngx_connection_t          *connection;
    ngx_ws_gateway_loc_conf_t *conf;

    ngx_ws_gateway_parser_t    parser;
    ngx_uint_t                 utf8;             /* UTF-8 validator state */

    ngx_ws_gateway_msg_t      *message;          /* data being assembled */
    u_char                    *control;          /* control payload, split */

    ngx_ws_gateway_out_t       out;              /* frames to send */

    ngx_ws_gateway_link_t     *link;             /* to its backend */
    ngx_ws_gateway_orphan_t   *orphan;           /* its link lost: waits
                                                    for another (no link),
                                                    or its re-announce is
                                                    not confirmed yet */
    ngx_ws_gateway_sub_t      *subs;             /* its channels */

    /* in the worker's run queue, or among the sessions waiting for room */
    ngx_queue_t                queue;

    ngx_msec_t                 last_read;        /* any frame from client */
    ngx_msec_t                 last_message;     /* data either way */
    ngx_msec_t                 ping_sent;        /* 0 when no ping pending */
    ngx_msec_t                 close_started;

    uint64_t                   id;
    time_t                     message_sec;      /* for idle metrics */

    uint32_t                   expires;          /* of the token; 0: never */
    uint32_t                   open_len;
    uint32_t                   dropped;          /* messages to it dropped,
                                                    not told its backend */
    uint16_t                   nsubs;

    /*
     * its messages to the link in the link's heartbeat epoch msg_epoch
     * and the one before: those the backend may not have read
     */
    uint32_t                   msg_epoch;
    uint32_t                   msg_cur;
    uint32_t                   msg_prev;

    uint16_t                   close_code;       /* of the handshake */
    u_char                     control_len;      /* at most 125 */
    u_char                     opcode;           /* of the data message */
    u_char                     end;              /* NGX_WS_GATEWAY_END_* */

    unsigned                   in_payload:1;
    unsigned                   fin:1;            /* of the data frame */
    unsigned                   close_sent:1;
    unsigned                   close_received:1;
    unsigned                   closing:1;        /* close after flush */
    unsigned                   failed:1;         /* protocol violation */
    unsigned                   draining:1;       /* reading to the end */
    unsigned                   read_paused:1;    /* outbound over limit */
    unsigned                   slow:1;           /* closed for not reading */
    unsigned                   resumed:1;        /* reading again */
    unsigned                   ended:1;          /* end reason is set */
    unsigned                   stamped:1;        /* SO_TIMESTAMP is on */
    unsigned                   runnable:1;       /* in the run queue */
    unsigned                   by_backend:1;     /* its CLOSE command */
    unsigned                   waiting:1;        /* paused, nothing queued:
                                                    waits for the worker's
                                                    budget */
    unsigned                   link_wait:1;      /* paused, in its link's
                                                    list: the link is at
                                                    its high watermark */
};


/* the fields of its first OPEN, after the session in its allocation */
#define ngx_ws_gateway_session_open(s)  ((u_char *) ((s) + 1))


/* its link was lost and no other has taken it yet */
#define ngx_ws_gateway_waits_for_link(s)                                     \
    ((s)->orphan != NULL && (s)->link == NULL)


ngx_int_t ngx_ws_gateway_handshake(ngx_http_request_t *r);
void ngx_ws_gateway_handshake_approved(ngx_http_request_t *r);
ngx_int_t ngx_ws_gateway_next_token(u_char **pos, u_char *end,
    ngx_str_t *token);
ngx_table_elt_t *ngx_ws_gateway_add_header(ngx_http_request_t *r,
    char *name, size_t len, ngx_str_t *value);
void ngx_ws_gateway_headers_init(ngx_http_request_t *r,
    ngx_ws_gateway_headers_t *walk);
ngx_table_elt_t *ngx_ws_gateway_next_header(ngx_ws_gateway_headers_t *walk,
    char *name, size_t len);
ngx_int_t ngx_ws_gateway_protocol_token(ngx_str_t *entry, ngx_str_t *prefix,
    ngx_str_t *token);
ngx_int_t ngx_ws_gateway_add_variable_table(ngx_conf_t *cf,
    ngx_http_variable_t *vars);
ngx_int_t ngx_ws_gateway_status_handler(ngx_http_request_t *r);

void ngx_ws_gateway_session_init(ngx_connection_t *c,
    ngx_ws_gateway_loc_conf_t *wlcf, time_t expires, u_char *pipelined,
    size_t len, ngx_ws_gateway_start_t *start);
uint64_t ngx_ws_gateway_session_id(void);
void ngx_ws_gateway_session_deliver(ngx_ws_gateway_session_t *s,
    ngx_uint_t opcode, u_char *data, size_t len);
void ngx_ws_gateway_session_end(ngx_ws_gateway_session_t *s,
    ngx_uint_t code, ngx_str_t *reason, ngx_uint_t backend);
void ngx_ws_gateway_session_lost(ngx_ws_gateway_session_t *s,
    ngx_uint_t code, char *reason);
ngx_uint_t ngx_ws_gateway_session_deliver_shared(ngx_ws_gateway_session_t *s,
    ngx_ws_gateway_shared_t *frame, size_t size);
void ngx_ws_gateway_session_read_again(ngx_ws_gateway_session_t *s);

ngx_int_t ngx_ws_gateway_link_attach(ngx_ws_gateway_session_t *s,
    ngx_ws_gateway_link_t *link);
ngx_int_t ngx_ws_gateway_link_message(ngx_ws_gateway_session_t *s,
    ngx_uint_t opcode, u_char *data, size_t len);
ngx_int_t ngx_ws_gateway_link_hold(ngx_ws_gateway_session_t *s,
    ngx_uint_t opcode, u_char *data, size_t len);
ngx_int_t ngx_ws_gateway_link_full(ngx_ws_gateway_session_t *s);
void ngx_ws_gateway_link_report(ngx_ws_gateway_session_t *s);
void ngx_ws_gateway_link_leave(ngx_ws_gateway_session_t *s);
void ngx_ws_gateway_link_unpaused(ngx_ws_gateway_session_t *s);
void ngx_ws_gateway_link_closed(ngx_ws_gateway_session_t *s,
    ngx_uint_t code, ngx_uint_t by, u_char *reason, size_t len);

void ngx_ws_gateway_session_init_process(ngx_cycle_t *cycle);
void ngx_ws_gateway_session_exit_process(void);


void ngx_ws_gateway_metrics_event(ngx_connection_t *c);
ngx_int_t ngx_ws_gateway_metrics_stamp(ngx_connection_t *c);
ngx_int_t ngx_ws_gateway_slot_live(ngx_ws_gateway_slot_t *slot);
void ngx_ws_gateway_metrics_touch(ngx_ws_gateway_session_t *s);
void ngx_ws_gateway_metrics_forget(ngx_ws_gateway_session_t *s);


ngx_str_t *ngx_ws_gateway_auth_protocol_prefix(ngx_http_request_t *r);
time_t ngx_ws_gateway_auth_expires(ngx_http_request_t *r);
ngx_ws_gateway_expiry_t *ngx_ws_gateway_auth_expiry(void *conf);


extern ngx_module_t  ngx_ws_gateway_module;
extern ngx_module_t  ngx_ws_gateway_auth_module;


#endif /* _NGX_WS_GATEWAY_H_INCLUDED_ */
