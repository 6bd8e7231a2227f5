
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_ws_gateway.h"


static ngx_int_t ngx_ws_gateway_content_handler(ngx_http_request_t *r);
static ngx_int_t ngx_ws_gateway_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_ws_gateway_postconfiguration(ngx_conf_t *cf);
static void *ngx_ws_gateway_create_main_conf(ngx_conf_t *cf);
static char *ngx_ws_gateway_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_ws_gateway_create_loc_conf(ngx_conf_t *cf);
static char *ngx_ws_gateway_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_ws_gateway_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_ws_gateway_subprotocols(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_ws_gateway_link_param(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_ws_gateway_outbound_policy(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_ws_gateway_subscribe(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_ws_gateway_failover_close(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_ws_gateway_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_ws_gateway_worker_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_ws_gateway_check_size(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_ws_gateway_check_slots(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_ws_gateway_check_num(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_ws_gateway_check_window(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_ws_gateway_check_msec(ngx_conf_t *cf, void *post,
    void *data);
static ngx_int_t ngx_ws_gateway_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_ws_gateway_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_ws_gateway_init_process(ngx_cycle_t *cycle);
static void ngx_ws_gateway_exit_process(ngx_cycle_t *cycle);


typedef struct {
    ngx_conf_post_handler_pt  post_handler;
    size_t                    min;
    size_t                    max;
} ngx_ws_gateway_size_bounds_t;


static ngx_ws_gateway_size_bounds_t  ngx_ws_gateway_frame_size_bounds = {
    ngx_ws_gateway_check_size, 1, NGX_MAX_SIZE_T_VALUE / 2
};

static ngx_ws_gateway_size_bounds_t  ngx_ws_gateway_buffer_size_bounds = {
    ngx_ws_gateway_check_size, 256, 16 * 1024 * 1024
};

static ngx_ws_gateway_size_bounds_t  ngx_ws_gateway_outbound_bounds = {
    ngx_ws_gateway_check_size, 1024, NGX_MAX_SIZE_T_VALUE / 2
};


typedef struct {
    ngx_conf_post_handler_pt  post_handler;
    ngx_msec_t                min;
    ngx_msec_t                max;
    ngx_uint_t                off;           /* 0 turns it off */
} ngx_ws_gateway_msec_bounds_t;


/*
 * Timers: from 100ms (a session's timer is one NGINX timer, and less is
 * a busy loop for nothing) to 7 days (their arithmetic is ngx_msec_int_t)
 */

#define NGX_WS_GATEWAY_MSEC_MIN   100
#define NGX_WS_GATEWAY_MSEC_MAX   (7 * 86400 * 1000)


static ngx_ws_gateway_msec_bounds_t  ngx_ws_gateway_timer_bounds = {
    ngx_ws_gateway_check_msec, NGX_WS_GATEWAY_MSEC_MIN,
    NGX_WS_GATEWAY_MSEC_MAX, 0
};

static ngx_ws_gateway_msec_bounds_t  ngx_ws_gateway_timer_off_bounds = {
    ngx_ws_gateway_check_msec, NGX_WS_GATEWAY_MSEC_MIN,
    NGX_WS_GATEWAY_MSEC_MAX, 1
};

static ngx_ws_gateway_msec_bounds_t  ngx_ws_gateway_log_bounds = {
    ngx_ws_gateway_check_msec, 1000, NGX_WS_GATEWAY_MSEC_MAX, 1
};

static ngx_conf_post_handler_pt  ngx_ws_gateway_slots_post =
    ngx_ws_gateway_check_slots;


static ngx_conf_post_handler_pt  ngx_ws_gateway_window_post =
    ngx_ws_gateway_check_window;

static ngx_ws_gateway_size_bounds_t  ngx_ws_gateway_links_bounds = {
    ngx_ws_gateway_check_num, 1, 64
};

static ngx_ws_gateway_size_bounds_t  ngx_ws_gateway_link_message_bounds = {
    ngx_ws_gateway_check_size, 1024, 1024 * 1024 * 1024
};

static ngx_ws_gateway_size_bounds_t  ngx_ws_gateway_link_buffer_bounds = {
    ngx_ws_gateway_check_size, 64 * 1024, NGX_MAX_SIZE_T_VALUE / 2
};

static ngx_ws_gateway_size_bounds_t  ngx_ws_gateway_watermark_bounds = {
    ngx_ws_gateway_check_size, 4 * 1024, NGX_MAX_SIZE_T_VALUE / 2
};

static ngx_ws_gateway_size_bounds_t  ngx_ws_gateway_slice_bounds = {
    ngx_ws_gateway_check_num, 1, 1000000
};

static ngx_ws_gateway_size_bounds_t  ngx_ws_gateway_session_channels_bounds = {
    ngx_ws_gateway_check_num, 0, 65535
};

static ngx_ws_gateway_size_bounds_t  ngx_ws_gateway_channel_length_bounds = {
    ngx_ws_gateway_check_num, 1, NGX_WS_GATEWAY_CHANNEL_MAX
};

static ngx_ws_gateway_size_bounds_t  ngx_ws_gateway_hold_bounds = {
    ngx_ws_gateway_check_size, 0, 1024 * 1024 * 1024
};

static ngx_ws_gateway_msec_bounds_t  ngx_ws_gateway_failover_bounds = {
    ngx_ws_gateway_check_msec, NGX_WS_GATEWAY_MSEC_MIN, 3600000, 1
};


static ngx_command_t  ngx_ws_gateway_commands[] = {

    { ngx_string("ws_gateway_metrics"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_ws_gateway_main_conf_t, metrics),
      NULL },

    { ngx_string("ws_gateway_metrics_slots"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_ws_gateway_main_conf_t, slots),
      &ngx_ws_gateway_slots_post },

    { ngx_string("ws_gateway_idle_window"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_ws_gateway_main_conf_t, idle_window),
      &ngx_ws_gateway_window_post },

    { ngx_string("ws_gateway_status_log"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_ws_gateway_main_conf_t, log_interval),
      &ngx_ws_gateway_log_bounds },

    { ngx_string("ws_gateway_worker_outbound_limit"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_ws_gateway_worker_limit,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_ws_gateway_main_conf_t, worker_outbound_limit),
      NULL },

    { ngx_string("ws_gateway_fanout_slice"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_ws_gateway_main_conf_t, fanout_slice),
      &ngx_ws_gateway_slice_bounds },

    { ngx_string("ws_gateway_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_ws_gateway_status,
      0,
      0,
      NULL },

    { ngx_string("ws_gateway_pass"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_ws_gateway_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_gateway_subprotocols"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_ws_gateway_subprotocols,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_gateway_max_frame_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_loc_conf_t, max_frame_conf),
      &ngx_ws_gateway_frame_size_bounds },

    { ngx_string("ws_gateway_max_message_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_loc_conf_t, max_message_size),
      &ngx_ws_gateway_frame_size_bounds },

    { ngx_string("ws_gateway_buffer_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_loc_conf_t, buffer_size),
      &ngx_ws_gateway_buffer_size_bounds },

    { ngx_string("ws_gateway_outbound_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_loc_conf_t, outbound_limit),
      &ngx_ws_gateway_outbound_bounds },

    { ngx_string("ws_gateway_outbound_policy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_ws_gateway_outbound_policy,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_gateway_subscribe"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_ws_gateway_subscribe,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_gateway_session_channels"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_loc_conf_t, session_channels),
      &ngx_ws_gateway_session_channels_bounds },

    { ngx_string("ws_gateway_channel_max_length"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_loc_conf_t, channel_max_length),
      &ngx_ws_gateway_channel_length_bounds },

    { ngx_string("ws_gateway_failover_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_loc_conf_t, failover_timeout),
      &ngx_ws_gateway_failover_bounds },

    { ngx_string("ws_gateway_failover_close"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_ws_gateway_failover_close,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_gateway_failover_hold"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_loc_conf_t, failover_hold),
      &ngx_ws_gateway_hold_bounds },

    { ngx_string("ws_gateway_ping_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_loc_conf_t, ping_interval),
      &ngx_ws_gateway_timer_off_bounds },

    { ngx_string("ws_gateway_pong_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_loc_conf_t, pong_timeout),
      &ngx_ws_gateway_timer_bounds },

    { ngx_string("ws_gateway_idle_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_loc_conf_t, idle_timeout),
      &ngx_ws_gateway_timer_off_bounds },

    { ngx_string("ws_gateway_send_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_loc_conf_t, send_timeout),
      &ngx_ws_gateway_timer_bounds },

    { ngx_string("ws_gateway_close_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_loc_conf_t, close_timeout),
      &ngx_ws_gateway_timer_bounds },

    { ngx_string("ws_gateway_link_param"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_ws_gateway_link_param,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_gateway_link_approve"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_loc_conf_t, approve),
      NULL },

    { ngx_string("ws_gateway_link_approve_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_loc_conf_t, approve_timeout),
      &ngx_ws_gateway_timer_bounds },

    { ngx_string("ws_gateway_links"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_ws_gateway_link_conf_t, links),
      &ngx_ws_gateway_links_bounds },

    { ngx_string("ws_gateway_link_connect_timeout"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_ws_gateway_link_conf_t, connect_timeout),
      &ngx_ws_gateway_timer_bounds },

    { ngx_string("ws_gateway_link_send_timeout"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_ws_gateway_link_conf_t, send_timeout),
      &ngx_ws_gateway_timer_bounds },

    { ngx_string("ws_gateway_link_read_timeout"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_ws_gateway_link_conf_t, read_timeout),
      &ngx_ws_gateway_timer_bounds },

    { ngx_string("ws_gateway_link_heartbeat"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_ws_gateway_link_conf_t, heartbeat),
      &ngx_ws_gateway_timer_bounds },

    { ngx_string("ws_gateway_link_backoff"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE12,
      ngx_ws_gateway_link_backoff,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_gateway_link_max_message"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_ws_gateway_link_conf_t, max_message),
      &ngx_ws_gateway_link_message_bounds },

    { ngx_string("ws_gateway_link_buffer"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_ws_gateway_link_conf_t, buffer),
      &ngx_ws_gateway_link_buffer_bounds },

    { ngx_string("ws_gateway_link_high_watermark"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_ws_gateway_link_watermark,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_ws_gateway_link_conf_t, high_watermark),
      &ngx_ws_gateway_watermark_bounds },

    { ngx_string("ws_gateway_link_low_watermark"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE1,
      ngx_ws_gateway_link_watermark,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_ws_gateway_link_conf_t, low_watermark),
      &ngx_ws_gateway_watermark_bounds },

      ngx_null_command
};


static ngx_http_module_t  ngx_ws_gateway_module_ctx = {
    ngx_ws_gateway_add_variables,          /* preconfiguration */
    ngx_ws_gateway_postconfiguration,      /* postconfiguration */

    ngx_ws_gateway_create_main_conf,       /* create main configuration */
    ngx_ws_gateway_init_main_conf,         /* init main configuration */

    ngx_ws_gateway_link_create_conf,       /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_ws_gateway_create_loc_conf,        /* create location configuration */
    ngx_ws_gateway_merge_loc_conf          /* merge location configuration */
};


ngx_module_t  ngx_ws_gateway_module = {
    NGX_MODULE_V1,
    &ngx_ws_gateway_module_ctx,            /* module context */
    ngx_ws_gateway_commands,               /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_ws_gateway_init_module,            /* init module */
    ngx_ws_gateway_init_process,           /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_ws_gateway_exit_process,           /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* gauges summed over the live workers */

static ngx_http_variable_t  ngx_ws_gateway_vars[] = {

    { ngx_string("ws_gateway_active"), NULL, ngx_ws_gateway_variable,
      offsetof(ngx_ws_gateway_slot_t, active), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_gateway_idle"), NULL, ngx_ws_gateway_variable,
      offsetof(ngx_ws_gateway_slot_t, idle), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_gateway_handshaking"), NULL, ngx_ws_gateway_variable,
      offsetof(ngx_ws_gateway_slot_t, handshaking),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_gateway_draining"), NULL, ngx_ws_gateway_variable,
      offsetof(ngx_ws_gateway_slot_t, draining), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("ws_gateway_queued_bytes"), NULL, ngx_ws_gateway_variable,
      offsetof(ngx_ws_gateway_slot_t, queued), NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_ws_gateway_content_handler(ngx_http_request_t *r)
{
    return ngx_ws_gateway_handshake(r);
}


static ngx_int_t
ngx_ws_gateway_add_variables(ngx_conf_t *cf)
{
    return ngx_ws_gateway_add_variable_table(cf, ngx_ws_gateway_vars);
}


ngx_int_t
ngx_ws_gateway_add_variable_table(ngx_conf_t *cf, ngx_http_variable_t *vars)
{
    ngx_http_variable_t  *var, *v;

    /* a module's table of variables, ended by ngx_http_null_variable */

    for (v = vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_ws_gateway_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                 *p;
    ngx_uint_t              i;
    ngx_atomic_uint_t       sum;
    ngx_ws_gateway_slot_t  *slot;

    if (ngx_ws_gateway_shm == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    sum = 0;

    for (i = 0; i < ngx_ws_gateway_shm->nslots; i++) {
        slot = &ngx_ws_gateway_shm->slots[i];

        if (ngx_ws_gateway_slot_live(slot)) {
            sum += *(ngx_atomic_t *) ((u_char *) slot + data);
        }
    }

    p = ngx_pnalloc(r->pool, NGX_ATOMIC_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%uA", sum) - p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


static ngx_int_t
ngx_ws_gateway_postconfiguration(ngx_conf_t *cf)
{
    ngx_ws_gateway_main_conf_t  *wmcf;

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_ws_gateway_module);

    if (ngx_ws_gateway_link_init_conf(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (!wmcf->metrics) {
        return NGX_OK;
    }

    return ngx_ws_gateway_metrics_init_conf(cf);
}


static void *
ngx_ws_gateway_create_main_conf(ngx_conf_t *cf)
{
    ngx_ws_gateway_main_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_ws_gateway_main_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->nslots = 0;
     *     conf->zone = NULL;
     */

    conf->metrics = NGX_CONF_UNSET;
    conf->slots = NGX_CONF_UNSET_UINT;
    conf->idle_window = NGX_CONF_UNSET_MSEC;
    conf->log_interval = NGX_CONF_UNSET_MSEC;
    conf->worker_outbound_limit = NGX_CONF_UNSET_SIZE;
    conf->fanout_slice = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_ws_gateway_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_ws_gateway_main_conf_t *wmcf = conf;

    ngx_conf_init_value(wmcf->metrics, 1);
    ngx_conf_init_msec_value(wmcf->idle_window, 60000);
    ngx_conf_init_msec_value(wmcf->log_interval, 0);
    ngx_conf_init_size_value(wmcf->worker_outbound_limit,
                             256 * 1024 * 1024);
    ngx_conf_init_uint_value(wmcf->fanout_slice, 256);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_ws_gateway_init_module(ngx_cycle_t *cycle)
{
    return ngx_ws_gateway_metrics_init_module(cycle);
}


static ngx_int_t
ngx_ws_gateway_init_process(ngx_cycle_t *cycle)
{
    ngx_ws_gateway_main_conf_t  *wmcf;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ws_gateway_module);

    ngx_ws_gateway_session_init_process(cycle);
    ngx_ws_gateway_channel_init_process(wmcf ? wmcf->fanout_slice : 256);

    if (ngx_ws_gateway_metrics_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_ws_gateway_link_init_process(cycle);
}


static void
ngx_ws_gateway_exit_process(ngx_cycle_t *cycle)
{
    ngx_ws_gateway_link_exit_process();
    ngx_ws_gateway_channel_exit_process();
    ngx_ws_gateway_metrics_exit_process(cycle);
    ngx_ws_gateway_session_exit_process();
}


static void *
ngx_ws_gateway_create_loc_conf(ngx_conf_t *cf)
{
    ngx_ws_gateway_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_ws_gateway_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->target = NGX_WS_GATEWAY_TARGET_UNSET;
     *     conf->pass_file = { 0, NULL };
     *     conf->pass_line = 0;
     */

    conf->subprotocols = NGX_CONF_UNSET_PTR;
    conf->params = NGX_CONF_UNSET_PTR;
    conf->approve = NGX_CONF_UNSET;
    conf->approve_timeout = NGX_CONF_UNSET_MSEC;

    conf->max_frame_conf = NGX_CONF_UNSET_SIZE;
    conf->max_message_size = NGX_CONF_UNSET_SIZE;
    conf->buffer_size = NGX_CONF_UNSET_SIZE;
    conf->outbound_limit = NGX_CONF_UNSET_SIZE;
    conf->outbound_policy = NGX_CONF_UNSET_UINT;
    conf->outbound_code = NGX_CONF_UNSET_UINT;
    conf->session_channels = NGX_CONF_UNSET_UINT;
    conf->channel_max_length = NGX_CONF_UNSET_UINT;
    conf->subscribe = NGX_CONF_UNSET_PTR;
    conf->failover_timeout = NGX_CONF_UNSET_MSEC;
    conf->failover_code = NGX_CONF_UNSET_UINT;
    conf->failover_window = NGX_CONF_UNSET_MSEC;
    conf->failover_hold = NGX_CONF_UNSET_SIZE;

    conf->ping_interval = NGX_CONF_UNSET_MSEC;
    conf->pong_timeout = NGX_CONF_UNSET_MSEC;
    conf->idle_timeout = NGX_CONF_UNSET_MSEC;
    conf->send_timeout = NGX_CONF_UNSET_MSEC;
    conf->close_timeout = NGX_CONF_UNSET_MSEC;

    /* the worker's messages of this location being received */
    ngx_queue_init(&conf->messages);

    return conf;
}


static char *
ngx_ws_gateway_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_ws_gateway_loc_conf_t *prev = parent;
    ngx_ws_gateway_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t  *clcf;

    /*
     * A content handler set after ws_gateway_pass (proxy_pass,
     * fastcgi_pass, ...) replaced ours: that location would never be a
     * WebSocket endpoint.  "return" is not a content handler (it runs in
     * the rewrite phase, often under "if"), and is left alone as NGINX
     * leaves it beside proxy_pass.
     */

    clcf = ((ngx_http_conf_ctx_t *) cf->ctx)
               ->loc_conf[ngx_http_core_module.ctx_index];

    if (conf->target != NGX_WS_GATEWAY_TARGET_UNSET
        && clcf->handler != ngx_ws_gateway_content_handler)
    {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"ws_gateway_pass\" conflicts with another content "
                      "handler (\"proxy_pass\", \"ws_gateway_status\", ...) "
                      "in the same location in %V:%ui",
                      &conf->pass_file, conf->pass_line);
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_ptr_value(conf->subprotocols, prev->subprotocols, NULL);
    ngx_conf_merge_ptr_value(conf->params, prev->params, NULL);
    ngx_conf_merge_value(conf->approve, prev->approve, 0);
    ngx_conf_merge_msec_value(conf->approve_timeout, prev->approve_timeout,
                              5000);

    if (conf->target == NGX_WS_GATEWAY_TARGET_UPSTREAM
        && conf->upstream == NULL)
    {
        conf->upstream = ngx_ws_gateway_link_upstream(cf,
                                                      conf->upstream_index);
    }

    /*
     * the auth module's configuration of the same location, where a
     * session finds what to send when its token expires
     */

    conf->auth = ((ngx_http_conf_ctx_t *) cf->ctx)
                     ->loc_conf[ngx_ws_gateway_auth_module.ctx_index];

    ngx_conf_merge_size_value(conf->max_message_size, prev->max_message_size,
                              1024 * 1024);

    /*
     * the frame limit follows the message limit of the same level unless
     * this level or an outer one sets it
     */

    ngx_conf_merge_size_value(conf->max_frame_conf, prev->max_frame_conf,
                              NGX_CONF_UNSET_SIZE);

    conf->max_frame_size = (conf->max_frame_conf == NGX_CONF_UNSET_SIZE)
                           ? conf->max_message_size : conf->max_frame_conf;

    ngx_conf_merge_size_value(conf->buffer_size, prev->buffer_size,
                              16 * 1024);
    ngx_conf_merge_size_value(conf->outbound_limit, prev->outbound_limit,
                              1024 * 1024);

    if (conf->outbound_policy == NGX_CONF_UNSET_UINT) {
        conf->outbound_policy = (prev->outbound_policy == NGX_CONF_UNSET_UINT)
                                ? NGX_WS_GATEWAY_POLICY_CLOSE
                                : prev->outbound_policy;
        conf->outbound_code = (prev->outbound_code == NGX_CONF_UNSET_UINT)
                              ? NGX_WS_GATEWAY_CLOSE_TRY_AGAIN
                              : prev->outbound_code;
    }

    ngx_conf_merge_uint_value(conf->session_channels, prev->session_channels,
                              32);
    ngx_conf_merge_uint_value(conf->channel_max_length,
                              prev->channel_max_length, 128);
    ngx_conf_merge_ptr_value(conf->subscribe, prev->subscribe, NULL);
    ngx_conf_merge_msec_value(conf->failover_timeout, prev->failover_timeout,
                              10000);

    if (conf->failover_code == NGX_CONF_UNSET_UINT) {
        conf->failover_code = (prev->failover_code == NGX_CONF_UNSET_UINT)
                              ? NGX_WS_GATEWAY_CLOSE_TRY_AGAIN
                              : prev->failover_code;
        conf->failover_window = (prev->failover_window
                                 == NGX_CONF_UNSET_MSEC)
                                ? 10000 : prev->failover_window;
    }

    ngx_conf_merge_size_value(conf->failover_hold, prev->failover_hold,
                              64 * 1024);

    if (conf->subscribe && conf->session_channels < conf->subscribe->nelts) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%ui \"ws_gateway_subscribe\" channels are more "
                           "than \"ws_gateway_session_channels\" %ui allows",
                           conf->subscribe->nelts, conf->session_channels);
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_msec_value(conf->ping_interval, prev->ping_interval,
                              30000);
    ngx_conf_merge_msec_value(conf->pong_timeout, prev->pong_timeout, 10000);
    ngx_conf_merge_msec_value(conf->idle_timeout, prev->idle_timeout, 0);
    ngx_conf_merge_msec_value(conf->send_timeout, prev->send_timeout, 60000);
    ngx_conf_merge_msec_value(conf->close_timeout, prev->close_timeout,
                              5000);

    if (conf->max_frame_size > conf->max_message_size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ws_gateway_max_frame_size\" %uz must not be "
                           "greater than \"ws_gateway_max_message_size\" %uz",
                           conf->max_frame_size, conf->max_message_size);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_gateway_loc_conf_t *wlcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    if (wlcf->target != NGX_WS_GATEWAY_TARGET_UNSET) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "conflicts with another content handler (\"proxy_pass\", "
               "\"ws_gateway_status\", ...) in the same location";
    }

    value = cf->args->elts;

    /*
     * "builtin:echo" cannot be the name of an upstream: an upstream{}
     * block's name with a colon is an address, and "echo" is no port
     */

    if (ngx_strcmp(value[1].data, "builtin:echo") == 0) {
        wlcf->target = NGX_WS_GATEWAY_TARGET_ECHO;

    } else if (ngx_strncmp(value[1].data, "builtin:", 8) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown built-in target \"%V\" in \"%V\" "
                           "directive, only \"builtin:echo\" exists",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;

    } else {
        if (ngx_ws_gateway_link_pass(cf, &value[1], &wlcf->upstream_index)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }

        wlcf->target = NGX_WS_GATEWAY_TARGET_UPSTREAM;
    }

    wlcf->pass_file = cf->conf_file->file.name;
    wlcf->pass_line = cf->conf_file->line;

    clcf->handler = ngx_ws_gateway_content_handler;

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_link_param(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_gateway_loc_conf_t *wlcf = conf;

    ngx_str_t                         *value;
    ngx_uint_t                         i;
    ngx_ws_gateway_param_t            *param;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > 255) {
        return "has a name that is empty or longer than 255 bytes";
    }

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] <= 0x20 || value[1].data[i] >= 0x7f) {
            return "has a name with a space, a control character or a byte "
                   "that is not ASCII";
        }
    }

    if (wlcf->params == NGX_CONF_UNSET_PTR) {
        wlcf->params = ngx_array_create(cf->pool, 4,
                                        sizeof(ngx_ws_gateway_param_t));
        if (wlcf->params == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    param = wlcf->params->elts;

    for (i = 0; i < wlcf->params->nelts; i++) {
        if (param[i].name.len == value[1].len
            && ngx_strncmp(param[i].name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate \"%V\" parameter \"%V\"",
                               &value[0], &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    param = ngx_array_push(wlcf->params);
    if (param == NULL) {
        return NGX_CONF_ERROR;
    }

    param->name = value[1];

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[2];
    ccv.complex_value = &param->value;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_outbound_policy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_ws_gateway_loc_conf_t *wlcf = conf;

    ngx_str_t   *value;
    ngx_int_t    code;

    if (wlcf->outbound_policy != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "drop") == 0 && cf->args->nelts == 2) {
        wlcf->outbound_policy = NGX_WS_GATEWAY_POLICY_DROP;
        wlcf->outbound_code = NGX_WS_GATEWAY_CLOSE_TRY_AGAIN;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "close") != 0) {
        return "takes \"drop\" or \"close [1008|1013]\"";
    }

    code = NGX_WS_GATEWAY_CLOSE_TRY_AGAIN;

    if (cf->args->nelts == 3) {
        code = ngx_atoi(value[2].data, value[2].len);

        if (code != 1008 && code != 1013) {
            return "takes a close code of 1008 or 1013 after \"close\"";
        }
    }

    wlcf->outbound_policy = NGX_WS_GATEWAY_POLICY_CLOSE;
    wlcf->outbound_code = code;

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_failover_close(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_ws_gateway_loc_conf_t *wlcf = conf;

    ngx_str_t   *value;
    ngx_int_t    code;
    ngx_msec_t   window;

    if (wlcf->failover_code != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    code = ngx_atoi(value[1].data, value[1].len);

    if (code != 1011 && code != 1013) {
        return "takes a close code of 1011 or 1013";
    }

    window = 10000;

    if (cf->args->nelts == 3) {
        window = ngx_parse_time(&value[2], 0);

        if (window == (ngx_msec_t) NGX_ERROR || window > 3600000) {
            return "takes a reconnect window of 0 to 1h after the code";
        }
    }

    wlcf->failover_code = code;
    wlcf->failover_window = window;

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_subscribe(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_gateway_loc_conf_t *wlcf = conf;

    ngx_str_t                         *value;
    ngx_http_complex_value_t          *cv;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "has an empty channel";
    }

    if (value[1].len > NGX_WS_GATEWAY_CHANNEL_MAX
        && ngx_http_script_variables_count(&value[1]) == 0)
    {
        return "has a channel longer than 255 bytes";
    }

    if (wlcf->subscribe == NGX_CONF_UNSET_PTR) {
        wlcf->subscribe = ngx_array_create(cf->pool, 2,
                                           sizeof(ngx_http_complex_value_t));
        if (wlcf->subscribe == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    cv = ngx_array_push(wlcf->subscribe);
    if (cv == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = cv;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_subprotocols(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_gateway_loc_conf_t *wlcf = conf;

    u_char      *p;
    ngx_str_t   *value, *s;
    ngx_uint_t   i, j;

    if (wlcf->subprotocols != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    wlcf->subprotocols = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                          sizeof(ngx_str_t));
    if (wlcf->subprotocols == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        /* a subprotocol is an RFC 7230 token */

        for (p = value[i].data; p < value[i].data + value[i].len; p++) {
            if (*p <= 0x20 || *p >= 0x7f
                || ngx_strchr("()<>@,;:\\\"/[]?={}", *p) != NULL)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid subprotocol \"%V\" in \"%V\" "
                                   "directive: not an HTTP token",
                                   &value[i], &value[0]);
                return NGX_CONF_ERROR;
            }
        }

        s = wlcf->subprotocols->elts;

        for (j = 0; j < wlcf->subprotocols->nelts; j++) {
            if (s[j].len == value[i].len
                && ngx_strncmp(s[j].data, value[i].data, s[j].len) == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate subprotocol \"%V\" in "
                                   "\"%V\" directive", &value[i], &value[0]);
                return NGX_CONF_ERROR;
            }
        }

        s = ngx_array_push(wlcf->subprotocols);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
    }

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_ws_gateway_status_handler) {
        return "is duplicate";
    }

    if (clcf->handler) {
        return "conflicts with another content handler (\"proxy_pass\", "
               "\"ws_gateway_pass\", ...) in the same location";
    }

    clcf->handler = ngx_ws_gateway_status_handler;

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_worker_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_gateway_main_conf_t *wmcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (wmcf->worker_outbound_limit != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        wmcf->worker_outbound_limit = 0;
        return NGX_CONF_OK;
    }

    size = ngx_parse_size(&value[1]);

    /* at least a slab's worth for each of a few sessions */

    if (size == NGX_ERROR || size < 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"off\" or a size of at least 1m",
                           &value[1], &value[0]);
        return NGX_CONF_ERROR;
    }

    wmcf->worker_outbound_limit = (size_t) size;

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_check_slots(ngx_conf_t *cf, void *post, void *data)
{
    ngx_int_t  *np = data;

    ngx_str_t  *value;

    /*
     * a slot is about 125 KB: the bound keeps the zone within 64 MB
     * (16 MB on 32-bit platforms), whatever the value
     */

    if (*np < 1 || *np > NGX_WS_GATEWAY_MAX_SLOTS) {
        value = cf->args->elts;

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V %V\": the number of slots must be from 1 "
                           "to %d (a slot is %uz bytes)",
                           &value[0], &value[1], NGX_WS_GATEWAY_MAX_SLOTS,
                           sizeof(ngx_ws_gateway_slot_t));
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_check_window(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *mp = data;

    ngx_str_t  *value;

    if (*mp < 1000 || *mp > 86400000 || *mp % 1000) {
        value = cf->args->elts;

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must be whole seconds, "
                           "from 1s to 1d", &value[0]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_check_msec(ngx_conf_t *cf, void *post, void *data)
{
    ngx_ws_gateway_msec_bounds_t  *bounds = post;
    ngx_msec_t                    *mp = data;

    ngx_str_t  *value;

    if (*mp == 0 && bounds->off) {
        return NGX_CONF_OK;
    }

    value = cf->args->elts;

    /* a deadline of 0 would end every session at once */

    if (*mp == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must be greater than 0", &value[0]);
        return NGX_CONF_ERROR;
    }

    if (*mp < bounds->min || *mp > bounds->max) {

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must be %sfrom %Mms to %Mms",
                           &value[0], bounds->off ? "0 (off) or " : "",
                           bounds->min, bounds->max);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_check_num(ngx_conf_t *cf, void *post, void *data)
{
    ngx_ws_gateway_size_bounds_t  *bounds = post;
    ngx_uint_t                    *np = data;

    ngx_str_t  *value;

    if (*np < bounds->min || *np > bounds->max) {
        value = cf->args->elts;

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must be between %uz and %uz",
                           &value[0], bounds->min, bounds->max);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_check_size(ngx_conf_t *cf, void *post, void *data)
{
    ngx_ws_gateway_size_bounds_t  *bounds = post;
    size_t                        *sp = data;

    ngx_str_t  *value;

    if (*sp < bounds->min || *sp > bounds->max) {
        value = cf->args->elts;

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must be between %uz and %uz",
                           &value[0], bounds->min, bounds->max);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
