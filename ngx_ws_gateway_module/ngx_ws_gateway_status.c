
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_ws_gateway.h"


/*
 * The ws_gateway_status handler: every live metrics slot, as JSON, as
 * Prometheus text exposition 0.0.4, or as an HTML dashboard that polls
 * the JSON.  The slots are copied first, so that the totals and every
 * format agree with one another; the response is printed twice, once to
 * count its exact size and once into a buffer of that size.
 */


#define NGX_WS_GATEWAY_STATUS_JSON        0
#define NGX_WS_GATEWAY_STATUS_PROMETHEUS  1
#define NGX_WS_GATEWAY_STATUS_HTML        2
#define NGX_WS_GATEWAY_STATUS_TEXT        3  /* the 503 */

#define NGX_WS_GATEWAY_STATUS_WINDOWS     3
#define NGX_WS_GATEWAY_STATUS_STATES      6
#define NGX_WS_GATEWAY_STATUS_BATCHES     8
#define NGX_WS_GATEWAY_STATUS_COUNTERS                                       \
    (sizeof(ngx_ws_gateway_counters_t) / sizeof(ngx_ws_gateway_count_t))

/* the longest text that one ngx_ws_gateway_status_print() may produce */
#define NGX_WS_GATEWAY_STATUS_PRINT_MAX   512

/*
 * a links entry: the gauges from "ready" on, the counters from
 * "connects" on, then the backpressure gauges from "high_watermark" on
 * and the "pauses" counter
 */
#define NGX_WS_GATEWAY_STATUS_LINK_GAUGES    6
#define NGX_WS_GATEWAY_STATUS_LINK_COUNTERS  12
#define NGX_WS_GATEWAY_STATUS_LINK_FLOW      3
#define NGX_WS_GATEWAY_STATUS_LINK_VALUES                                    \
    (NGX_WS_GATEWAY_STATUS_LINK_GAUGES + NGX_WS_GATEWAY_STATUS_LINK_COUNTERS \
     + NGX_WS_GATEWAY_STATUS_LINK_FLOW + 1)
#define NGX_WS_GATEWAY_STATUS_LINK_RTT    5  /* the values that are no */
#define NGX_WS_GATEWAY_STATUS_LINK_HIGH   18 /* sum: of those the max */
#define NGX_WS_GATEWAY_STATUS_LINK_LOW    19

/*
 * channels, fan-out and failover: the "channels" object, then the
 * "failover" one
 */
#define NGX_WS_GATEWAY_STATUS_CHANNELS    12
#define NGX_WS_GATEWAY_STATUS_FAILOVER    5
#define NGX_WS_GATEWAY_STATUS_FANOUT                                         \
    (NGX_WS_GATEWAY_STATUS_CHANNELS + NGX_WS_GATEWAY_STATUS_FAILOVER)
#define NGX_WS_GATEWAY_STATUS_SLICE_MAX   10 /* the values that are no */
#define NGX_WS_GATEWAY_STATUS_FANOUT_MAX  11 /* sum: of those the max */

/* a name escaped: at most 6 bytes for one (\u00XX, \ufffd), and the NUL */
#define NGX_WS_GATEWAY_STATUS_NAME_MAX                                       \
    (6 * sizeof(((ngx_ws_gateway_link_metrics_t *) 0)->server) + 1)


typedef struct {
    u_char                      *pos;        /* NULL: count only */
    u_char                      *end;
    size_t                       size;       /* counted */
    ngx_uint_t                   overflow;   /* a print was cut */
} ngx_ws_gateway_status_out_t;


/* a links entry, copied: names as NUL-terminated bytes, unescaped */

typedef struct {
    u_char                       upstream[sizeof(
                                     ((ngx_ws_gateway_link_metrics_t *) 0)
                                     ->upstream)];
    u_char                       server[sizeof(
                                     ((ngx_ws_gateway_link_metrics_t *) 0)
                                     ->server)];
    uint64_t                     values[NGX_WS_GATEWAY_STATUS_LINK_VALUES];
} ngx_ws_gateway_status_link_t;


/* a live slot, copied */

typedef struct {
    uint64_t                     pid;
    uint64_t                     worker;
    uint64_t                     generation;
    uint64_t                     started;
    uint64_t                     updated;
    uint64_t                     exiting;
    uint64_t                     sessions[NGX_WS_GATEWAY_STATUS_STATES];
    uint64_t                     queued;
    uint64_t                     assembling;
    uint64_t                     buffers;
    uint64_t                     counters[NGX_WS_GATEWAY_STATUS_COUNTERS];
    uint64_t                     handshakes[NGX_WS_GATEWAY_HS_LAST];
    uint64_t                     ends[NGX_WS_GATEWAY_END_LAST];
    uint64_t                     codes[NGX_WS_GATEWAY_CODES + 1];
    uint64_t                     drops[NGX_WS_GATEWAY_DROP_LAST];
    uint64_t                     pauses[NGX_WS_GATEWAY_PAUSE_LAST];
    uint64_t                     auth[NGX_WS_GATEWAY_AUTH_REASONS];
    uint64_t                     fanout[NGX_WS_GATEWAY_STATUS_FANOUT];
    uint64_t                     batch_max;
    uint64_t                     batch[NGX_WS_GATEWAY_STATUS_BATCHES];
    uint64_t                     event_count;   /* then the sum */
    uint64_t                     event_sum;     /* us */
    uint64_t                     lag_count;     /* then the sum */
    uint64_t                     lag_sum;
    ngx_ws_gateway_window_t      windows[NGX_WS_GATEWAY_STATUS_WINDOWS];
    ngx_uint_t                   nlinks;
    ngx_ws_gateway_status_link_t  *links;
} ngx_ws_gateway_status_worker_t;


typedef struct {
    ngx_pool_t                      *pool;
    ngx_uint_t                       format;
    ngx_uint_t                       nworkers;
    ngx_uint_t                       unmetered;  /* workers without a
                                                    slot */
    ngx_ws_gateway_status_worker_t  *workers;
    ngx_ws_gateway_status_worker_t   total;
} ngx_ws_gateway_status_t;


typedef struct {
    ngx_str_t                    type;
    size_t                       len;        /* of the media type */
} ngx_ws_gateway_status_type_t;


typedef struct {
    ngx_str_t                    type;
    ngx_uint_t                   format;
} ngx_ws_gateway_status_accept_t;


/* a Prometheus family of one value per worker */

typedef struct {
    char                        *name;
    char                        *type;
    char                        *help;
} ngx_ws_gateway_status_family_t;


static ngx_int_t ngx_ws_gateway_status_format(ngx_http_request_t *r,
    ngx_uint_t *format);
static ngx_uint_t ngx_ws_gateway_status_accept(ngx_http_request_t *r);
static ngx_int_t ngx_ws_gateway_status_collect(ngx_ws_gateway_status_t *st);
static void ngx_ws_gateway_status_copy(ngx_ws_gateway_slot_t *slot,
    ngx_ws_gateway_status_worker_t *w);
static ngx_int_t ngx_ws_gateway_status_copy_links(ngx_ws_gateway_slot_t *slot,
    ngx_ws_gateway_status_worker_t *w, ngx_pool_t *pool);
static void ngx_ws_gateway_status_link_add(ngx_ws_gateway_status_link_t *links,
    ngx_uint_t *n, ngx_ws_gateway_status_link_t *l);
static ngx_int_t ngx_ws_gateway_status_sum(ngx_ws_gateway_status_t *st);
static u_char *ngx_ws_gateway_status_escape(u_char *dst, u_char *src,
    ngx_uint_t json);
static void ngx_ws_gateway_status_print(ngx_ws_gateway_status_out_t *o,
    const char *fmt, ...);
static void ngx_ws_gateway_status_json(ngx_ws_gateway_status_out_t *o,
    ngx_ws_gateway_status_t *st);
static void ngx_ws_gateway_status_json_worker(
    ngx_ws_gateway_status_out_t *o, ngx_ws_gateway_status_worker_t *w,
    ngx_uint_t total);
static void ngx_ws_gateway_status_json_object(
    ngx_ws_gateway_status_out_t *o, char *key, char **names,
    uint64_t *values, ngx_uint_t n, ngx_uint_t nonzero);
static void ngx_ws_gateway_status_json_quantiles(
    ngx_ws_gateway_status_out_t *o, char *key, uint64_t count,
    uint64_t *us, ngx_uint_t total);
static void ngx_ws_gateway_status_json_links(ngx_ws_gateway_status_out_t *o,
    ngx_ws_gateway_status_worker_t *w);
static void ngx_ws_gateway_status_prometheus(
    ngx_ws_gateway_status_out_t *o, ngx_ws_gateway_status_t *st);
static void ngx_ws_gateway_status_prom_head(ngx_ws_gateway_status_out_t *o,
    char *name, char *type, char *help);
static void ngx_ws_gateway_status_prom_values(
    ngx_ws_gateway_status_out_t *o, ngx_ws_gateway_status_t *st,
    char *name, char *type, char *help, char *label, char **names,
    ngx_uint_t n, size_t offset);
static void ngx_ws_gateway_status_prom_summary(
    ngx_ws_gateway_status_out_t *o, ngx_ws_gateway_status_t *st,
    char *name, char *help, size_t quantiles, size_t count);
static void ngx_ws_gateway_status_prom_windows(
    ngx_ws_gateway_status_out_t *o, ngx_ws_gateway_status_t *st);
static void ngx_ws_gateway_status_prom_fanout(
    ngx_ws_gateway_status_out_t *o, ngx_ws_gateway_status_t *st);
static void ngx_ws_gateway_status_prom_links(ngx_ws_gateway_status_out_t *o,
    ngx_ws_gateway_status_t *st);
static ngx_int_t ngx_ws_gateway_status_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_uint_t format, ngx_buf_t *b);


static ngx_ws_gateway_status_type_t  ngx_ws_gateway_status_types[] = {
    { ngx_string("application/json"), sizeof("application/json") - 1 },
    { ngx_string("text/plain; version=0.0.4; charset=utf-8"),
      sizeof("text/plain") - 1 },
    { ngx_string("text/html; charset=utf-8"), sizeof("text/html") - 1 },
    { ngx_string("text/plain; charset=utf-8"), sizeof("text/plain") - 1 }
};


/* media types in Accept, the first one listed wins */

static ngx_ws_gateway_status_accept_t  ngx_ws_gateway_status_accepts[] = {
    { ngx_string("application/json"), NGX_WS_GATEWAY_STATUS_JSON },
    { ngx_string("text/html"), NGX_WS_GATEWAY_STATUS_HTML },
    { ngx_string("text/plain"), NGX_WS_GATEWAY_STATUS_PROMETHEUS },
    { ngx_string("application/openmetrics-text"),
      NGX_WS_GATEWAY_STATUS_PROMETHEUS }
};


static char  *ngx_ws_gateway_status_states[] = {
    "active", "idle", "handshaking", "draining", "paused", "runnable"
};

static char  *ngx_ws_gateway_status_counters[] = {
    "accepts", "closes", "messages_in", "messages_out", "bytes_in",
    "bytes_out", "events", "iterations"
};

static char  *ngx_ws_gateway_status_handshakes[] = {
    "accepted", "not_websocket", "bad_version", "bad_request",
    "bad_method", "failed", "unauthorized", "forbidden", "unavailable",
    "refused"
};

static char  *ngx_ws_gateway_status_ends[] = {
    "client_close", "server_close", "protocol_error", "invalid_data",
    "too_big", "idle_timeout", "ping_timeout", "send_timeout",
    "close_timeout", "shutdown", "eof", "error", "token_expired",
    "overload", "backend_close", "link_lost"
};

static char  *ngx_ws_gateway_status_codes[] = {
    "1000", "1001", "1002", "1003", "1004", "1005", "1006", "1007",
    "1008", "1009", "1010", "1011", "1012", "1013", "1014", "1015",
    "other"
};

static char  *ngx_ws_gateway_status_drops[] = {
    "closing", "unsent", "slow", "overload", "link", "session_cap",
    "no_link", "gone"
};

static char  *ngx_ws_gateway_status_pauses[] = {
    "limit", "worker", "link", "no_link"
};

static char  *ngx_ws_gateway_status_auth[] = {
    "ok", "missing", "too_large", "malformed", "bad_alg", "unknown_kid",
    "bad_signature", "expired", "not_yet_valid", "bad_issuer",
    "bad_audience", "bad_claim"
};

static char  *ngx_ws_gateway_status_batches[] = {
    "1", "2-3", "4-7", "8-15", "16-31", "32-63", "64-127", "128+"
};

static char  *ngx_ws_gateway_status_directions[] = {
    "in", "out"
};

static char  *ngx_ws_gateway_status_link_states[] = {
    "ready", "connecting", "down"
};

/* the JSON keys of a links entry after its "links" object */

static char  *ngx_ws_gateway_status_link_keys[] = {
    "sessions", "queued_bytes", "rtt_us", "connects", "reconnects",
    "resets", "records_in", "records_out", "bytes_in", "bytes_out",
    "unknown_session", "sessions_lost", "approved", "rejected",
    "approve_timeouts", "high_watermark", "low_watermark",
    "sessions_paused", "pauses"
};

/* the JSON keys of "channels", then of "failover" */

static char  *ngx_ws_gateway_status_fanout[] = {
    "channels", "subscriptions", "fanouts_running", "publishes",
    "broadcasts", "unrouted", "deliveries", "refused",
    "unsubscribed_unknown", "fanout_slices", "fanout_slice_max_us",
    "fanout_max_us",
    "orphaned", "held_bytes", "sessions_lost_link", "reannounced",
    "failover_closed"
};

static char  *ngx_ws_gateway_status_approvals[] = {
    "approved", "rejected", "timeout"
};

/* the Prometheus families of "channels" and "failover", in their order */

static ngx_ws_gateway_status_family_t  ngx_ws_gateway_status_families[] = {

    { "channels", "gauge",
      "Channels with at least one subscriber in the worker." },

    { "channels_subscriptions", "gauge",
      "Subscriptions of the worker's sessions to channels." },

    { "channels_fanouts_running", "gauge",
      "PUBLISH or BROADCAST deliveries under way (sliced)." },

    { "channels_publishes_total", "counter",
      "PUBLISH records received from backends." },

    { "channels_broadcasts_total", "counter",
      "BROADCAST records received from backends." },

    { "channels_unrouted_total", "counter",
      "PUBLISH records for a channel with no subscriber in the "
      "worker." },

    { "channels_deliveries_total", "counter",
      "Messages of PUBLISH or BROADCAST queued to a session." },

    { "channels_refused_total", "counter",
      "SUBSCRIBE records answered with REFUSED." },

    { "channels_unsubscribed_unknown_total", "counter",
      "UNSUBSCRIBE records for a channel the session did not hold." },

    { "channels_fanout_slices_total", "counter",
      "Event-loop passes that delivered a part of a fan-out." },

    { "channels_fanout_slice_max_seconds", "gauge",
      "The longest slice of a fan-out since the worker started." },

    { "channels_fanout_max_seconds", "gauge",
      "The longest fan-out, first delivery to last, since the worker "
      "started." },

    { "failover_orphaned_sessions", "gauge",
      "Sessions whose link was lost, waiting for another one." },

    { "failover_held_bytes", "gauge",
      "Client messages held by those sessions, in bytes." },

    { "failover_sessions_lost_link_total", "counter",
      "Sessions whose link was lost (they fail over, or wait)." },

    { "failover_reannounced_total", "counter",
      "Sessions announced again on another link (OPEN with "
      "REANNOUNCE)." },

    { "failover_closed_total", "counter",
      "Sessions closed after ws_gateway_failover_timeout without a "
      "link." }
};

static ngx_uint_t  ngx_ws_gateway_status_seconds[] = { 1, 10, 60 };

static char  *ngx_ws_gateway_status_windows[] = { "1s", "10s", "60s" };

static char  *ngx_ws_gateway_status_quantile_keys[] = {
    "p50", "p90", "p99", "p99_9", "max"
};

static char  *ngx_ws_gateway_status_quantiles[] = {
    "0.5", "0.9", "0.99", "0.999", "1"
};


/* the name tables follow the enums of ngx_ws_gateway_metrics.h */

#define ngx_ws_gateway_status_check(a, n)                                    \
    typedef char  ngx_ws_gateway_status_check_##a[                           \
        (sizeof(ngx_ws_gateway_status_##a) / sizeof(char *) == (n)) ? 1 : -1]

ngx_ws_gateway_status_check(counters, NGX_WS_GATEWAY_STATUS_COUNTERS);
ngx_ws_gateway_status_check(handshakes, NGX_WS_GATEWAY_HS_LAST);
ngx_ws_gateway_status_check(ends, NGX_WS_GATEWAY_END_LAST);
ngx_ws_gateway_status_check(codes, NGX_WS_GATEWAY_CODES + 1);
ngx_ws_gateway_status_check(drops, NGX_WS_GATEWAY_DROP_LAST);
ngx_ws_gateway_status_check(pauses, NGX_WS_GATEWAY_PAUSE_LAST);
ngx_ws_gateway_status_check(auth, NGX_WS_GATEWAY_AUTH_REASONS);
ngx_ws_gateway_status_check(batches, sizeof(((ngx_ws_gateway_slot_t *) 0)
                                             ->batch) / sizeof(uint64_t));
ngx_ws_gateway_status_check(quantiles, NGX_WS_GATEWAY_QUANTILES);
ngx_ws_gateway_status_check(link_keys, NGX_WS_GATEWAY_STATUS_LINK_VALUES - 3);
ngx_ws_gateway_status_check(fanout, NGX_WS_GATEWAY_STATUS_FANOUT);

typedef char  ngx_ws_gateway_status_check_families[
    (sizeof(ngx_ws_gateway_status_families)
     / sizeof(ngx_ws_gateway_status_families[0])
     == NGX_WS_GATEWAY_STATUS_FANOUT) ? 1 : -1];

/* the gauges and the counters of a links entry are copied as arrays */

typedef char  ngx_ws_gateway_status_check_link_gauges[
    (offsetof(ngx_ws_gateway_link_metrics_t, rtt_us)
     - offsetof(ngx_ws_gateway_link_metrics_t, ready)
     == (NGX_WS_GATEWAY_STATUS_LINK_GAUGES - 1) * sizeof(ngx_atomic_t))
    ? 1 : -1];

typedef char  ngx_ws_gateway_status_check_link_counters[
    (offsetof(ngx_ws_gateway_link_metrics_t, approve_timeouts)
     - offsetof(ngx_ws_gateway_link_metrics_t, connects)
     == (NGX_WS_GATEWAY_STATUS_LINK_COUNTERS - 1)
        * sizeof(ngx_ws_gateway_count_t))
    ? 1 : -1];

typedef char  ngx_ws_gateway_status_check_link_flow[
    (offsetof(ngx_ws_gateway_link_metrics_t, sessions_paused)
     - offsetof(ngx_ws_gateway_link_metrics_t, high_watermark)
     == (NGX_WS_GATEWAY_STATUS_LINK_FLOW - 1) * sizeof(ngx_atomic_t))
    ? 1 : -1];

typedef char  ngx_ws_gateway_status_check_link_high[
    (NGX_WS_GATEWAY_STATUS_LINK_HIGH
     == NGX_WS_GATEWAY_STATUS_LINK_GAUGES + NGX_WS_GATEWAY_STATUS_LINK_COUNTERS)
    ? 1 : -1];


static u_char  ngx_ws_gateway_status_off[] =
    "ws_gateway metrics are off" CRLF;


/* the dashboard: the JSON every second, drawn on canvases */

static u_char  ngx_ws_gateway_status_page[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width\">\n"
    "<title>ws_gateway status</title>\n"
    "<link rel=\"icon\" href=\"data:,\">\n"
    "<style>\n"
    "body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222;\n"
    "background:#f5f5f5}\n"
    "h1{font-size:17px;margin:0 0 10px}\n"
    "h1 small{color:#666;font-weight:400;margin-left:8px}\n"
    "#err{color:#b00020}\n"
    ".grid{display:grid;gap:12px;margin-bottom:12px;\n"
    "grid-template-columns:repeat(auto-fill,minmax(440px,1fr))}\n"
    ".card{background:#fff;border:1px solid #ddd;border-radius:6px;\n"
    "padding:8px 10px}\n"
    "h2{font-size:13px;margin:0 0 4px}\n"
    "canvas{display:block;width:100%;height:170px}\n"
    "table{border-collapse:collapse;background:#fff;width:100%}\n"
    "th,td{padding:3px 8px;border:1px solid #e3e3e3;text-align:right;\n"
    "font-variant-numeric:tabular-nums}\n"
    "th:first-child,td:first-child{text-align:left}\n"
    ".key{font-size:11px;color:#555;min-height:15px}\n"
    ".key b{display:inline-block;width:14px;height:3px;\n"
    "margin:0 4px 3px 10px;vertical-align:middle}\n"
    "</style></head><body>\n"
    "<h1>ws_gateway<small id=\"info\"></small><small id=\"err\"></small></h1>\n"
    "<div class=\"grid\">\n"
    "<div class=\"card\"><table id=\"totals\"></table></div>\n"
    "<div class=\"card\"><table id=\"workers\"></table></div>\n"
    "</div>\n"
    "<div class=\"card\" style=\"margin-bottom:12px\">\n"
    "<h2>backend links, per upstream server (all workers)</h2>\n"
    "<table id=\"links\"></table></div>\n"
    "<div class=\"card\" style=\"margin-bottom:12px\">\n"
    "<h2>channels and failover (all workers)</h2>\n"
    "<table id=\"chan\"></table></div>\n"
    "<div class=\"grid\">\n"
    "<div class=\"card\"><h2>sessions: active (solid), idle (dashed)</h2>\n"
    "<canvas id=\"c0\"></canvas><div class=\"key\" id=\"k0\"></div></div>\n"
    "<div class=\"card\"><h2>churn, 1 s window: accepts/s (solid),\n"
    "closes/s (dashed)</h2>\n"
    "<canvas id=\"c1\"></canvas><div class=\"key\" id=\"k1\"></div></div>\n"
    "<div class=\"card\"><h2>event latency p99, 10 s window, ms</h2>\n"
    "<canvas id=\"c2\"></canvas><div class=\"key\" id=\"k2\"></div></div>\n"
    "<div class=\"card\"><h2>loop lag p99, 10 s window, ms</h2>\n"
    "<canvas id=\"c3\"></canvas><div class=\"key\" id=\"k3\"></div></div>\n"
    "</div>\n"
    "<script>\n"
    "'use strict';\n"
    "var SPAN = 120, GAP = 3.5, hist = {}, ncolor = 0, lrec = {}, crec,\n"
    "    url = location.pathname + '?format=json',\n"
    "    colors = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd',\n"
    "              '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'],\n"
    "    /* per chart: [index in a point, dashed] */\n"
    "    defs = [[[1, 0], [2, 1]], [[3, 0], [4, 1]], [[5, 0]], [[6, 0]]];\n"
    "\n"
    "function $(id) { return document.getElementById(id); }\n"
    "\n"
    "function num(v) {\n"
    "  if (v >= 1e9) return (v / 1e9).toFixed(1) + 'G';\n"
    "  if (v >= 1e6) return (v / 1e6).toFixed(1) + 'M';\n"
    "  if (v >= 1e4) return (v / 1e3).toFixed(1) + 'k';\n"
    "  return String(Math.round(v * 100) / 100);\n"
    "}\n"
    "\n"
    "function nice(v) {\n"
    "  var e, m;\n"
    "  if (!(v > 0)) return 1;\n"
    "  e = Math.pow(10, Math.floor(Math.log10(v)));\n"
    "  for (m of [1, 2, 2.5, 5, 10]) if (m * e >= v) return m * e;\n"
    "  return 10 * e;\n"
    "}\n"
    "\n"
    "/* names are operator text */\n"
    "function esc(s) {\n"
    "  return String(s).replace(/[&<>\"']/g, function (c) {\n"
    "    return '&#' + c.charCodeAt(0) + ';';\n"
    "  });\n"
    "}\n"
    "\n"
    "function row(cells, tag) {\n"
    "  return '<tr>' + cells.map(function (c) {\n"
    "    return '<' + tag + '>' + c + '</' + tag + '>';\n"
    "  }).join('') + '</tr>';\n"
    "}\n"
    "\n"
    "function tables(j) {\n"
    "  var t = j.totals, s = t.sessions, ws = ['1s', '10s', '60s'],\n"
    "      h = row(['totals', '1 s', '10 s', '60 s'], 'th'),\n"
    "      rates = [['accepts/s', 'accepts_per_s'], ['closes/s', 'closes_per_s'"
    "],\n"
    "               ['churn/s', 'churn_per_s'],\n"
    "               ['messages in/s', 'messages_in_per_s'],\n"
    "               ['messages out/s', 'messages_out_per_s']];\n"
    "  rates.forEach(function (r) {\n"
    "    h += row([r[0]].concat(ws.map(function (w) {\n"
    "      return num(t.windows[w][r[1]]);\n"
    "    })), 'td');\n"
    "  });\n"
    "  h += row(['event latency max, ms'].concat(ws.map(function (w) {\n"
    "    return num(t.windows[w].event_latency_us.max / 1000);\n"
    "  })), 'td');\n"
    "  h += row(['loop lag max, ms'].concat(ws.map(function (w) {\n"
    "    return num(t.windows[w].loop_lag_us.max / 1000);\n"
    "  })), 'td');\n"
    "  $('totals').innerHTML = h;\n"
    "  $('info').textContent = j.workers.length + ' workers, ' + s.active +\n"
    "    ' active, ' + s.idle + ' idle, ' + s.handshaking + ' handshaking, ' +"
    "\n"
    "    s.draining + ' draining, ' + num(t.queued_bytes) + ' B queued' +\n"
    "    ', generation ' + j.generation + ', idle after ' + j.idle_window + ' s"
    "';\n"
    "  h = row(['worker', 'pid', 'gen', 'active', 'idle', 'acc/s', 'close/s',\n"
    "           'ev/iter', 'event p99', 'lag p99'], 'th');\n"
    "  j.workers.forEach(function (w) {\n"
    "    var x = w.windows['10s'];\n"
    "    h += row([w.worker + (w.exiting ? ' (exiting)' : ''), w.pid,\n"
    "              w.generation, w.sessions.active, w.sessions.idle,\n"
    "              num(x.accepts_per_s), num(x.closes_per_s),\n"
    "              num(x.events_per_iteration),\n"
    "              num(x.event_latency_us.p99 / 1000) + ' ms',\n"
    "              num(x.loop_lag_us.p99 / 1000) + ' ms'], 'td');\n"
    "  });\n"
    "  $('workers').innerHTML = h;\n"
    "}\n"
    "\n"
    "/* records/s from the totals of two polls */\n"
    "function links(j, now) {\n"
    "  var seen = {}, ls = j.totals.links || [],\n"
    "      h = row(['upstream', 'server', 'ready', 'connecting', 'down',\n"
    "               'sessions', 'queued', 'rtt, ms', 'records in/s',\n"
    "               'records out/s', 'resets'], 'th');\n"
    "  ls.forEach(function (l) {\n"
    "    var k = JSON.stringify([l.upstream, l.server]), p = lrec[k],\n"
    "        dt = p ? now - p[0] : 0;\n"
    "    function rate(v, i) {\n"
    "      return dt > 0 && v >= p[i] ? num((v - p[i]) / dt) : '-';\n"
    "    }\n"
    "    h += row([esc(l.upstream), esc(l.server), l.links.ready,\n"
    "              l.links.connecting, l.links.down, l.sessions,\n"
    "              num(l.queued_bytes), num(l.rtt_us / 1000),\n"
    "              rate(l.records_in, 1), rate(l.records_out, 2), l.resets],\n"
    "             'td');\n"
    "    seen[k] = [now, l.records_in, l.records_out];\n"
    "  });\n"
    "  if (!ls.length) {\n"
    "    h += '<tr><td colspan=\"11\">no backend links</td></tr>';\n"
    "  }\n"
    "  lrec = seen;\n"
    "  $('links').innerHTML = h;\n"
    "}\n"
    "\n"
    "/* publishes, broadcasts, deliveries per second from two polls */\n"
    "function chan(j, now) {\n"
    "  var c = j.totals.channels, f = j.totals.failover, p = crec,\n"
    "      dt = p ? now - p[0] : 0,\n"
    "      v = [c.publishes, c.broadcasts, c.deliveries];\n"
    "  function rate(i) {\n"
    "    return dt > 0 && v[i] >= p[i + 1] ? num((v[i] - p[i + 1]) / dt)"
    " : '-';\n"
    "  }\n"
    "  $('chan').innerHTML =\n"
    "    row(['channels', 'subscriptions', 'fan-outs running',\n"
    "         'publishes/s', 'broadcasts/s', 'deliveries/s',\n"
    "         'waiting for a link', 'held'], 'th') +\n"
    "    row([c.channels, c.subscriptions, c.fanouts_running, rate(0),\n"
    "         rate(1), rate(2), f.orphaned, num(f.held_bytes)], 'td');\n"
    "  crec = [now].concat(v);\n"
    "}\n"
    "\n"
    "function draw(k, now) {\n"
    "  var cv = $('c' + k), g = cv.getContext('2d'),\n"
    "      r = window.devicePixelRatio || 1,\n"
    "      w = cv.clientWidth, h = cv.clientHeight,\n"
    "      L = 50, R = 10, T = 8, B = 18, pw = w - L - R, ph = h - T - B,\n"
    "      t0 = now - SPAN, max = 0, key = '', i, y, pid;\n"
    "  if (cv.width !== Math.round(w * r) || cv.height !== Math.round(h * r)) {"
    "\n"
    "    cv.width = Math.round(w * r);\n"
    "    cv.height = Math.round(h * r);\n"
    "  }\n"
    "  g.setTransform(r, 0, 0, r, 0, 0);\n"
    "  g.clearRect(0, 0, w, h);\n"
    "  for (pid in hist) {\n"
    "    hist[pid].pts.forEach(function (p) {\n"
    "      defs[k].forEach(function (d) { max = Math.max(max, p[d[0]]); });\n"
    "    });\n"
    "  }\n"
    "  max = nice(max);\n"
    "  g.font = '10px system-ui,sans-serif';\n"
    "  g.lineWidth = 1;\n"
    "  g.setLineDash([]);\n"
    "  for (i = 0; i <= 4; i++) {\n"
    "    y = Math.round(T + ph - ph * i / 4) + 0.5;\n"
    "    g.strokeStyle = '#e8e8e8';\n"
    "    g.beginPath(); g.moveTo(L, y); g.lineTo(L + pw, y); g.stroke();\n"
    "    g.fillStyle = '#777';\n"
    "    g.textAlign = 'right';\n"
    "    g.fillText(num(max * i / 4), L - 5, y + 3);\n"
    "    g.textAlign = i === 0 ? 'left' : i === 4 ? 'right' : 'center';\n"
    "    g.fillText(i === 4 ? 'now' : (SPAN * i / 4 - SPAN) + ' s',\n"
    "               L + pw * i / 4, h - 4);\n"
    "  }\n"
    "  g.lineWidth = 1.5;\n"
    "  for (pid in hist) {\n"
    "    var s = hist[pid];\n"
    "    defs[k].forEach(function (d) {\n"
    "      var last = 0;\n"
    "      g.strokeStyle = s.color;\n"
    "      g.setLineDash(d[1] ? [5, 3] : []);\n"
    "      g.beginPath();\n"
    "      s.pts.forEach(function (p) {\n"
    "        var x = L + pw * (p[0] - t0) / SPAN, y = T + ph - ph * p[d[0]] / m"
    "ax;\n"
    "        if (p[0] - last > GAP) g.moveTo(x, y); else g.lineTo(x, y);\n"
    "        last = p[0];\n"
    "      });\n"
    "      g.stroke();\n"
    "    });\n"
    "    key += '<b style=\"background:' + s.color + '\"></b>' + s.label;\n"
    "  }\n"
    "  $('k' + k).innerHTML = key;\n"
    "}\n"
    "\n"
    "function update(j) {\n"
    "  var now = Date.now() / 1000, pid;\n"
    "  j.workers.forEach(function (w) {\n"
    "    var a = w.windows['1s'], b = w.windows['10s'], s = hist[w.pid];\n"
    "    if (!s) {\n"
    "      s = hist[w.pid] = {color: colors[ncolor++ % colors.length], pts: []}"
    ";\n"
    "    }\n"
    "    s.label = 'worker ' + w.worker + ', pid ' + w.pid +\n"
    "              (w.exiting ? ', exiting' : '');\n"
    "    s.pts.push([now, w.sessions.active, w.sessions.idle, a.accepts_per_s,"
    "\n"
    "                a.closes_per_s, b.event_latency_us.p99 / 1000,\n"
    "                b.loop_lag_us.p99 / 1000]);\n"
    "  });\n"
    "  /* workers that are gone scroll out, then leave */\n"
    "  for (pid in hist) {\n"
    "    while (hist[pid].pts.length && hist[pid].pts[0][0] < now - SPAN) {\n"
    "      hist[pid].pts.shift();\n"
    "    }\n"
    "    if (!hist[pid].pts.length) delete hist[pid];\n"
    "  }\n"
    "  tables(j);\n"
    "  links(j, now);\n"
    "  chan(j, now);\n"
    "  for (var k = 0; k < defs.length; k++) draw(k, now);\n"
    "}\n"
    "\n"
    "function poll() {\n"
    "  fetch(url, {cache: 'no-store'}).then(function (r) {\n"
    "    if (!r.ok) throw new Error(url + ': HTTP ' + r.status);\n"
    "    return r.json();\n"
    "  }).then(function (j) {\n"
    "    update(j);\n"
    "    $('err').textContent = '';\n"
    "  }).catch(function (e) {\n"
    "    $('err').textContent = String(e);\n"
    "  }).then(function () {\n"
    "    setTimeout(poll, 1000);\n"
    "  });\n"
    "}\n"
    "\n"
    "poll();\n"
    "</script>\n"
    "</body></html>\n";


ngx_int_t
ngx_ws_gateway_status_handler(ngx_http_request_t *r)
{
    size_t                        size;
    ngx_int_t                     rc;
    ngx_buf_t                    *b;
    ngx_uint_t                    format;
    ngx_ws_gateway_status_t       st;
    ngx_ws_gateway_status_out_t   o;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_ws_gateway_status_format(r, &format);

    if (rc != NGX_OK) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_ws_gateway_shm == NULL) {
        b->pos = ngx_ws_gateway_status_off;
        b->last = b->pos + sizeof(ngx_ws_gateway_status_off) - 1;
        b->memory = 1;

        return ngx_ws_gateway_status_send(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          NGX_WS_GATEWAY_STATUS_TEXT, b);
    }

    if (format == NGX_WS_GATEWAY_STATUS_HTML) {
        b->pos = ngx_ws_gateway_status_page;
        b->last = b->pos + sizeof(ngx_ws_gateway_status_page) - 1;
        b->memory = 1;

        return ngx_ws_gateway_status_send(r, NGX_HTTP_OK, format, b);
    }

    st.pool = r->pool;
    st.format = format;
    st.workers = ngx_palloc(r->pool, ngx_ws_gateway_shm->nslots
                                     * sizeof(ngx_ws_gateway_status_worker_t));
    if (st.workers == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_ws_gateway_status_collect(&st) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the first pass counts, the second one prints */

    ngx_memzero(&o, sizeof(ngx_ws_gateway_status_out_t));

    if (format == NGX_WS_GATEWAY_STATUS_JSON) {
        ngx_ws_gateway_status_json(&o, &st);

    } else {
        ngx_ws_gateway_status_prometheus(&o, &st);
    }

    if (o.overflow) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "ws gateway status: a line is over %d bytes",
                      NGX_WS_GATEWAY_STATUS_PRINT_MAX);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    size = o.size;

    /* one byte more: a longer second pass would reach the end */

    b = ngx_create_temp_buf(r->pool, size + 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    o.pos = b->last;
    o.end = b->end;

    if (format == NGX_WS_GATEWAY_STATUS_JSON) {
        ngx_ws_gateway_status_json(&o, &st);

    } else {
        ngx_ws_gateway_status_prometheus(&o, &st);
    }

    b->last = o.pos;

    if ((size_t) (b->last - b->pos) != size) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "ws gateway status: %uz bytes printed, %uz counted",
                      (size_t) (b->last - b->pos), size);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_ws_gateway_status_send(r, NGX_HTTP_OK, format, b);
}


static ngx_int_t
ngx_ws_gateway_status_format(ngx_http_request_t *r, ngx_uint_t *format)
{
    ngx_str_t  value;

    if (ngx_http_arg(r, (u_char *) "format", sizeof("format") - 1, &value)
        != NGX_OK)
    {
        *format = ngx_ws_gateway_status_accept(r);
        return NGX_OK;
    }

    if (value.len == sizeof("json") - 1
        && ngx_strncmp(value.data, "json", value.len) == 0)
    {
        *format = NGX_WS_GATEWAY_STATUS_JSON;

    } else if (value.len == sizeof("prometheus") - 1
               && ngx_strncmp(value.data, "prometheus", value.len) == 0)
    {
        *format = NGX_WS_GATEWAY_STATUS_PROMETHEUS;

    } else if (value.len == sizeof("html") - 1
               && ngx_strncmp(value.data, "html", value.len) == 0)
    {
        *format = NGX_WS_GATEWAY_STATUS_HTML;

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "client requested unknown status format \"%V\"",
                      &value);
        return NGX_HTTP_BAD_REQUEST;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_ws_gateway_status_accept(ngx_http_request_t *r)
{
    u_char                    *p, *first;
    ngx_str_t                 *type;
    ngx_uint_t                 i, format;
    ngx_table_elt_t           *accept;
    ngx_ws_gateway_headers_t   walk;

    ngx_ws_gateway_headers_init(r, &walk);

    accept = ngx_ws_gateway_next_header(&walk, "Accept",
                                        sizeof("Accept") - 1);
    if (accept == NULL) {
        return NGX_WS_GATEWAY_STATUS_JSON;
    }

    /* the media type named first, of those we serve; q-values are ignored */

    first = NULL;
    format = NGX_WS_GATEWAY_STATUS_JSON;

    for (i = 0; i < sizeof(ngx_ws_gateway_status_accepts)
                    / sizeof(ngx_ws_gateway_status_accept_t); i++)
    {
        type = &ngx_ws_gateway_status_accepts[i].type;

        p = ngx_strlcasestrn(accept->value.data,
                             accept->value.data + accept->value.len,
                             type->data, type->len - 1);

        if (p && (first == NULL || p < first)) {
            first = p;
            format = ngx_ws_gateway_status_accepts[i].format;
        }
    }

    return format;
}


static ngx_int_t
ngx_ws_gateway_status_collect(ngx_ws_gateway_status_t *st)
{
    ngx_uint_t                       i, n, nslots, live;
    uint64_t                         pid, generation;
    ngx_ws_gateway_slot_t           *slot;
    ngx_ws_gateway_status_worker_t  *w;

    nslots = ngx_ws_gateway_shm->nslots;
    generation = ngx_ws_gateway_metrics_generation();
    n = 0;
    live = 0;

    for (i = 0; i < nslots; i++) {
        slot = &ngx_ws_gateway_shm->slots[i];
        pid = slot->pid;

        if (!ngx_ws_gateway_slot_live(slot)) {
            continue;
        }

        w = &st->workers[n];

        ngx_ws_gateway_status_copy(slot, w);

        if (ngx_ws_gateway_status_copy_links(slot, w, st->pool) != NGX_OK) {
            return NGX_ERROR;
        }

        /* a slot freed or claimed again while it was being copied */

        if (slot->pid != pid) {
            continue;
        }

        w->pid = pid;
        n++;

        if (w->generation == generation) {
            live++;
        }
    }

    st->nworkers = n;
    st->unmetered = ngx_ws_gateway_metrics_unmetered(live);

    return ngx_ws_gateway_status_sum(st);
}


static void
ngx_ws_gateway_status_copy(ngx_ws_gateway_slot_t *slot,
    ngx_ws_gateway_status_worker_t *w)
{
    ngx_uint_t                        i;
    ngx_ws_gateway_count_t           *c;
    ngx_ws_gateway_fanout_metrics_t  *f;

    /* counters are loaded whole (ngx_ws_gateway_count_get()) */

    w->worker = slot->worker;
    w->generation = slot->generation;
    w->started = slot->started;
    w->updated = slot->updated;
    w->exiting = slot->exiting;

    w->sessions[0] = slot->active;
    w->sessions[1] = slot->idle;
    w->sessions[2] = slot->handshaking;
    w->sessions[3] = slot->draining;
    w->sessions[4] = slot->paused;
    w->sessions[5] = slot->runnable;
    w->queued = slot->queued;
    w->assembling = slot->assembling;
    w->buffers = slot->buffers;

    c = &slot->total.accepts;

    for (i = 0; i < NGX_WS_GATEWAY_STATUS_COUNTERS; i++) {
        w->counters[i] = ngx_ws_gateway_count_get(&c[i]);
    }

    for (i = 0; i < NGX_WS_GATEWAY_HS_LAST; i++) {
        w->handshakes[i] = ngx_ws_gateway_count_get(&slot->handshakes[i]);
    }

    for (i = 0; i < NGX_WS_GATEWAY_END_LAST; i++) {
        w->ends[i] = ngx_ws_gateway_count_get(&slot->ends[i]);
    }

    for (i = 0; i < NGX_WS_GATEWAY_CODES + 1; i++) {
        w->codes[i] = ngx_ws_gateway_count_get(&slot->codes[i]);
    }

    for (i = 0; i < NGX_WS_GATEWAY_DROP_LAST; i++) {
        w->drops[i] = ngx_ws_gateway_count_get(&slot->drops[i]);
    }

    for (i = 0; i < NGX_WS_GATEWAY_PAUSE_LAST; i++) {
        w->pauses[i] = ngx_ws_gateway_count_get(&slot->pauses[i]);
    }

    for (i = 0; i < NGX_WS_GATEWAY_AUTH_REASONS; i++) {
        w->auth[i] = ngx_ws_gateway_count_get(&slot->auth[i]);
    }

    f = &slot->fanout;

    w->fanout[0] = f->channels;
    w->fanout[1] = f->subscriptions;
    w->fanout[2] = f->running;
    w->fanout[3] = ngx_ws_gateway_count_get(&f->publishes);
    w->fanout[4] = ngx_ws_gateway_count_get(&f->broadcasts);
    w->fanout[5] = ngx_ws_gateway_count_get(&f->unrouted);
    w->fanout[6] = ngx_ws_gateway_count_get(&f->deliveries);
    w->fanout[7] = ngx_ws_gateway_count_get(&f->refused);
    w->fanout[8] = ngx_ws_gateway_count_get(&f->unsubscribed_unknown);
    w->fanout[9] = ngx_ws_gateway_count_get(&f->slices);
    w->fanout[10] = ngx_ws_gateway_count_get(&f->slice_max_us);
    w->fanout[11] = ngx_ws_gateway_count_get(&f->max_us);
    w->fanout[12] = f->orphaned;
    w->fanout[13] = f->held;
    w->fanout[14] = ngx_ws_gateway_count_get(&f->lost);
    w->fanout[15] = ngx_ws_gateway_count_get(&f->reannounced);
    w->fanout[16] = ngx_ws_gateway_count_get(&f->failover_closed);

    w->batch_max = slot->batch_max;

    for (i = 0; i < NGX_WS_GATEWAY_STATUS_BATCHES; i++) {
        w->batch[i] = ngx_ws_gateway_count_get(&slot->batch[i]);
    }

    w->event_count = ngx_ws_gateway_count_get(&slot->event.count);
    w->event_sum = ngx_ws_gateway_count_get(&slot->event.sum);
    w->lag_count = ngx_ws_gateway_count_get(&slot->lag.count);
    w->lag_sum = ngx_ws_gateway_count_get(&slot->lag.sum);

    for (i = 0; i < NGX_WS_GATEWAY_STATUS_WINDOWS; i++) {
        ngx_ws_gateway_metrics_window(slot, ngx_ws_gateway_status_seconds[i],
                                      &w->windows[i]);
    }
}


static ngx_int_t
ngx_ws_gateway_status_copy_links(ngx_ws_gateway_slot_t *slot,
    ngx_ws_gateway_status_worker_t *w, ngx_pool_t *pool)
{
    ngx_uint_t                      i, k, n;
    ngx_atomic_t                   *g;
    ngx_ws_gateway_count_t         *c;
    ngx_ws_gateway_status_link_t    l;
    ngx_ws_gateway_link_metrics_t  *m;

    /*
     * An entry's names are written before nlinks counts it, once, when
     * the worker starts (ngx_ws_gateway_link_metrics()); a copy made
     * while the slot is claimed again may hold bytes of two names, and is
     * cut to its size and dropped by the caller's pid check.  Entries of
     * the same names are merged, so that no two series are alike.
     */

    n = slot->nlinks;
    ngx_memory_barrier();

    n = ngx_min(n, NGX_WS_GATEWAY_LINK_SERVERS);

    w->nlinks = 0;
    w->links = NULL;

    if (n == 0) {
        return NGX_OK;
    }

    w->links = ngx_palloc(pool, n * sizeof(ngx_ws_gateway_status_link_t));
    if (w->links == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        m = &slot->links[i];

        ngx_memcpy(l.upstream, m->upstream, sizeof(l.upstream));
        l.upstream[sizeof(l.upstream) - 1] = '\0';
        ngx_memcpy(l.server, m->server, sizeof(l.server));
        l.server[sizeof(l.server) - 1] = '\0';

        g = &m->ready;

        for (k = 0; k < NGX_WS_GATEWAY_STATUS_LINK_GAUGES; k++) {
            l.values[k] = g[k];
        }

        c = &m->connects;

        for (k = 0; k < NGX_WS_GATEWAY_STATUS_LINK_COUNTERS; k++) {
            l.values[NGX_WS_GATEWAY_STATUS_LINK_GAUGES + k] =
                                             ngx_ws_gateway_count_get(&c[k]);
        }

        g = &m->high_watermark;

        for (k = 0; k < NGX_WS_GATEWAY_STATUS_LINK_FLOW; k++) {
            l.values[NGX_WS_GATEWAY_STATUS_LINK_HIGH + k] = g[k];
        }

        l.values[NGX_WS_GATEWAY_STATUS_LINK_VALUES - 1] =
                                    ngx_ws_gateway_count_get(&m->pauses);

        ngx_ws_gateway_status_link_add(w->links, &w->nlinks, &l);
    }

    return NGX_OK;
}


static void
ngx_ws_gateway_status_link_add(ngx_ws_gateway_status_link_t *links,
    ngx_uint_t *n, ngx_ws_gateway_status_link_t *l)
{
    ngx_uint_t                     i, k;
    ngx_ws_gateway_status_link_t  *t;

    /*
     * sums per (upstream, server); of the round trips and of the
     * watermarks (configuration values) the largest
     */

    for (i = 0; i < *n; i++) {
        t = &links[i];

        if (ngx_strcmp(t->upstream, l->upstream) != 0
            || ngx_strcmp(t->server, l->server) != 0)
        {
            continue;
        }

        for (k = 0; k < NGX_WS_GATEWAY_STATUS_LINK_VALUES; k++) {

            if (k == NGX_WS_GATEWAY_STATUS_LINK_RTT
                || k == NGX_WS_GATEWAY_STATUS_LINK_HIGH
                || k == NGX_WS_GATEWAY_STATUS_LINK_LOW)
            {
                t->values[k] = ngx_max(t->values[k], l->values[k]);

            } else {
                t->values[k] += l->values[k];
            }
        }

        return;
    }

    links[(*n)++] = *l;
}


static ngx_int_t
ngx_ws_gateway_status_sum(ngx_ws_gateway_status_t *st)
{
    ngx_uint_t                        i, k, q, n;
    ngx_ws_gateway_window_t          *tw, *ww;
    ngx_ws_gateway_status_worker_t   *t, *w;

    /*
     * Sums of the gauges, counters and rates; of the quantiles only the
     * max, the largest of the workers' (quantiles do not add up), and of
     * the longest fan-outs and slices the longest.
     */

    t = &st->total;
    ngx_memzero(t, sizeof(ngx_ws_gateway_status_worker_t));

    q = NGX_WS_GATEWAY_QUANTILES - 1;

    for (k = 0; k < st->nworkers; k++) {
        w = &st->workers[k];

        for (i = 0; i < NGX_WS_GATEWAY_STATUS_STATES; i++) {
            t->sessions[i] += w->sessions[i];
        }

        t->queued += w->queued;
        t->assembling += w->assembling;
        t->buffers += w->buffers;

        for (i = 0; i < NGX_WS_GATEWAY_STATUS_COUNTERS; i++) {
            t->counters[i] += w->counters[i];
        }

        for (i = 0; i < NGX_WS_GATEWAY_HS_LAST; i++) {
            t->handshakes[i] += w->handshakes[i];
        }

        for (i = 0; i < NGX_WS_GATEWAY_END_LAST; i++) {
            t->ends[i] += w->ends[i];
        }

        for (i = 0; i < NGX_WS_GATEWAY_CODES + 1; i++) {
            t->codes[i] += w->codes[i];
        }

        for (i = 0; i < NGX_WS_GATEWAY_DROP_LAST; i++) {
            t->drops[i] += w->drops[i];
        }

        for (i = 0; i < NGX_WS_GATEWAY_PAUSE_LAST; i++) {
            t->pauses[i] += w->pauses[i];
        }

        for (i = 0; i < NGX_WS_GATEWAY_AUTH_REASONS; i++) {
            t->auth[i] += w->auth[i];
        }

        for (i = 0; i < NGX_WS_GATEWAY_STATUS_FANOUT; i++) {

            if (i == NGX_WS_GATEWAY_STATUS_SLICE_MAX
                || i == NGX_WS_GATEWAY_STATUS_FANOUT_MAX)
            {
                t->fanout[i] = ngx_max(t->fanout[i], w->fanout[i]);

            } else {
                t->fanout[i] += w->fanout[i];
            }
        }

        t->batch_max = ngx_max(t->batch_max, w->batch_max);

        for (i = 0; i < NGX_WS_GATEWAY_STATUS_BATCHES; i++) {
            t->batch[i] += w->batch[i];
        }

        t->event_count += w->event_count;
        t->event_sum += w->event_sum;
        t->lag_count += w->lag_count;
        t->lag_sum += w->lag_sum;

        for (i = 0; i < NGX_WS_GATEWAY_STATUS_WINDOWS; i++) {
            tw = &t->windows[i];
            ww = &w->windows[i];

            tw->seconds = ww->seconds;
            tw->accepts_rate += ww->accepts_rate;
            tw->closes_rate += ww->closes_rate;
            tw->messages_in_rate += ww->messages_in_rate;
            tw->messages_out_rate += ww->messages_out_rate;
            tw->event_count += ww->event_count;
            tw->event_us[q] = ngx_max(tw->event_us[q], ww->event_us[q]);
            tw->lag_count += ww->lag_count;
            tw->lag_us[q] = ngx_max(tw->lag_us[q], ww->lag_us[q]);
        }
    }

    /* the links, per (upstream, server), in the order first seen */

    n = 0;

    for (k = 0; k < st->nworkers; k++) {
        n += st->workers[k].nlinks;
    }

    if (n == 0) {
        return NGX_OK;
    }

    t->links = ngx_palloc(st->pool, n * sizeof(ngx_ws_gateway_status_link_t));
    if (t->links == NULL) {
        return NGX_ERROR;
    }

    for (k = 0; k < st->nworkers; k++) {
        w = &st->workers[k];

        for (i = 0; i < w->nlinks; i++) {
            ngx_ws_gateway_status_link_add(t->links, &t->nlinks,
                                           &w->links[i]);
        }
    }

    return NGX_OK;
}


static u_char *
ngx_ws_gateway_status_escape(u_char *dst, u_char *src, ngx_uint_t json)
{
    size_t       len, k;
    ngx_uint_t   state;

    static u_char  hex[] = "0123456789abcdef";

    /*
     * A name for a JSON string or a Prometheus label value: '"' and '\\'
     * escaped, control characters as \u00XX in JSON and LF as \n in
     * Prometheus; what is not UTF-8 (a byte sequence that is invalid, or
     * one that the cut to the slot's size left incomplete) becomes
     * U+FFFD, so that the output stays UTF-8.  NUL-terminated.
     */

    while (*src) {

        if (*src < 0x80) {

            if (*src == '"' || *src == '\\') {
                *dst++ = '\\';
                *dst++ = *src;

            } else if (*src < 0x20 && json) {
                *dst++ = '\\';
                *dst++ = 'u';
                *dst++ = '0';
                *dst++ = '0';
                *dst++ = hex[*src >> 4];
                *dst++ = hex[*src & 0xf];

            } else if (*src == '\n') {
                *dst++ = '\\';
                *dst++ = 'n';

            } else {
                *dst++ = *src;
            }

            src++;
            continue;
        }

        len = (*src >= 0xc2 && *src <= 0xdf) ? 2
              : (*src >= 0xe0 && *src <= 0xef) ? 3
              : (*src >= 0xf0 && *src <= 0xf4) ? 4 : 0;

        for (k = 1; k < len && src[k]; k++) { /* void */ }

        state = NGX_WS_GATEWAY_UTF8_ACCEPT;

        if (len && k == len
            && ngx_ws_gateway_utf8_check(&state, src, len) == NGX_OK
            && ngx_ws_gateway_utf8_complete(state))
        {
            dst = ngx_cpymem(dst, src, len);
            src += len;
            continue;
        }

        dst = json ? ngx_cpymem(dst, "\\ufffd", 6)
                   : ngx_cpymem(dst, "\xef\xbf\xbd", 3);
        src++;
    }

    *dst = '\0';

    return dst;
}


static void
ngx_ws_gateway_status_print(ngx_ws_gateway_status_out_t *o,
    const char *fmt, ...)
{
    u_char   *p, buf[NGX_WS_GATEWAY_STATUS_PRINT_MAX];
    va_list   args;

    va_start(args, fmt);

    if (o->pos == NULL) {
        p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);

        if (p == buf + sizeof(buf)) {
            o->overflow = 1;
        }

        o->size += p - buf;

    } else {
        o->pos = ngx_vslprintf(o->pos, o->end, fmt, args);
    }

    va_end(args);
}


static void
ngx_ws_gateway_status_json(ngx_ws_gateway_status_out_t *o,
    ngx_ws_gateway_status_t *st)
{
    ngx_uint_t  i;

    ngx_ws_gateway_status_print(o,
        "{\"version\":1,\"time\":%T,\"nslots\":%uA,\"generation\":%uA,"
        "\"idle_window\":%uA,\"unmetered_workers\":%ui,"
        "\"totals\":{\"workers\":%ui",
        ngx_time(), ngx_ws_gateway_shm->nslots,
        ngx_ws_gateway_shm->generation, ngx_ws_gateway_shm->idle_window,
        st->unmetered, st->nworkers);

    ngx_ws_gateway_status_json_worker(o, &st->total, 1);

    ngx_ws_gateway_status_print(o, ",\n\"workers\":[");

    for (i = 0; i < st->nworkers; i++) {
        ngx_ws_gateway_status_print(o, i ? ",\n" : "\n");
        ngx_ws_gateway_status_json_worker(o, &st->workers[i], 0);
    }

    ngx_ws_gateway_status_print(o, "]}\n");
}


static void
ngx_ws_gateway_status_json_worker(ngx_ws_gateway_status_out_t *o,
    ngx_ws_gateway_status_worker_t *w, ngx_uint_t total)
{
    ngx_uint_t                i;
    ngx_ws_gateway_window_t  *win;

    /* the totals' opening brace and count are printed by the caller */

    if (!total) {
        ngx_ws_gateway_status_print(o,
            "{\"pid\":%uL,\"worker\":%uL,\"generation\":%uL,"
            "\"started\":%uL,\"updated\":%uL,\"exiting\":%s",
            w->pid, w->worker, w->generation, w->started, w->updated,
            w->exiting ? "true" : "false");
    }

    ngx_ws_gateway_status_json_object(o, "sessions",
                                      ngx_ws_gateway_status_states,
                                      w->sessions,
                                      NGX_WS_GATEWAY_STATUS_STATES, 0);

    ngx_ws_gateway_status_print(o, ",\"queued_bytes\":%uL,"
                                "\"assembling_bytes\":%uL,"
                                "\"buffer_bytes\":%uL",
                                w->queued, w->assembling, w->buffers);

    ngx_ws_gateway_status_json_object(o, "counters",
                                      ngx_ws_gateway_status_counters,
                                      w->counters,
                                      NGX_WS_GATEWAY_STATUS_COUNTERS, 0);
    ngx_ws_gateway_status_json_object(o, "handshakes",
                                      ngx_ws_gateway_status_handshakes,
                                      w->handshakes,
                                      NGX_WS_GATEWAY_HS_LAST, 0);
    ngx_ws_gateway_status_json_object(o, "ends",
                                      ngx_ws_gateway_status_ends,
                                      w->ends, NGX_WS_GATEWAY_END_LAST, 0);
    ngx_ws_gateway_status_json_object(o, "close_codes",
                                      ngx_ws_gateway_status_codes,
                                      w->codes, NGX_WS_GATEWAY_CODES + 1, 1);
    ngx_ws_gateway_status_json_object(o, "drops",
                                      ngx_ws_gateway_status_drops,
                                      w->drops, NGX_WS_GATEWAY_DROP_LAST, 0);
    ngx_ws_gateway_status_json_object(o, "pauses",
                                      ngx_ws_gateway_status_pauses,
                                      w->pauses, NGX_WS_GATEWAY_PAUSE_LAST,
                                      0);
    ngx_ws_gateway_status_json_object(o, "auth",
                                      ngx_ws_gateway_status_auth,
                                      w->auth, NGX_WS_GATEWAY_AUTH_REASONS,
                                      0);

    ngx_ws_gateway_status_json_object(o, "channels",
                                      ngx_ws_gateway_status_fanout,
                                      w->fanout,
                                      NGX_WS_GATEWAY_STATUS_CHANNELS, 0);
    ngx_ws_gateway_status_json_object(o, "failover",
        ngx_ws_gateway_status_fanout + NGX_WS_GATEWAY_STATUS_CHANNELS,
        w->fanout + NGX_WS_GATEWAY_STATUS_CHANNELS,
        NGX_WS_GATEWAY_STATUS_FAILOVER, 0);

    ngx_ws_gateway_status_json_links(o, w);

    ngx_ws_gateway_status_print(o, ",\"batch\":{\"max_last_second\":%uL",
                                w->batch_max);
    ngx_ws_gateway_status_json_object(o, "histogram",
                                      ngx_ws_gateway_status_batches,
                                      w->batch,
                                      NGX_WS_GATEWAY_STATUS_BATCHES, 0);

    ngx_ws_gateway_status_print(o, "},\"windows\":{");

    for (i = 0; i < NGX_WS_GATEWAY_STATUS_WINDOWS; i++) {
        win = &w->windows[i];

        ngx_ws_gateway_status_print(o,
            "%s\"%s\":{\"accepts_per_s\":%.3f,\"closes_per_s\":%.3f,"
            "\"churn_per_s\":%.3f,\"messages_in_per_s\":%.3f,"
            "\"messages_out_per_s\":%.3f",
            i ? "," : "", ngx_ws_gateway_status_windows[i],
            win->accepts_rate, win->closes_rate,
            win->accepts_rate + win->closes_rate,
            win->messages_in_rate, win->messages_out_rate);

        if (!total) {
            ngx_ws_gateway_status_print(o, ",\"events_per_iteration\":%.3f",
                                        win->events_per_iteration);
        }

        ngx_ws_gateway_status_json_quantiles(o, "event_latency_us",
                                             win->event_count, win->event_us,
                                             total);
        ngx_ws_gateway_status_json_quantiles(o, "loop_lag_us",
                                             win->lag_count, win->lag_us,
                                             total);

        ngx_ws_gateway_status_print(o, "}");
    }

    ngx_ws_gateway_status_print(o, "}}");
}


static void
ngx_ws_gateway_status_json_object(ngx_ws_gateway_status_out_t *o,
    char *key, char **names, uint64_t *values, ngx_uint_t n,
    ngx_uint_t nonzero)
{
    char        *sep;
    ngx_uint_t   i;

    ngx_ws_gateway_status_print(o, ",\"%s\":{", key);

    sep = "";

    for (i = 0; i < n; i++) {

        if (nonzero && values[i] == 0) {
            continue;
        }

        ngx_ws_gateway_status_print(o, "%s\"%s\":%uL", sep, names[i],
                                    values[i]);
        sep = ",";
    }

    ngx_ws_gateway_status_print(o, "}");
}


static void
ngx_ws_gateway_status_json_quantiles(ngx_ws_gateway_status_out_t *o,
    char *key, uint64_t count, uint64_t *us, ngx_uint_t total)
{
    ngx_uint_t  i;

    ngx_ws_gateway_status_print(o, ",\"%s\":{\"count\":%uL", key, count);

    for (i = total ? NGX_WS_GATEWAY_QUANTILES - 1 : 0;
         i < NGX_WS_GATEWAY_QUANTILES;
         i++)
    {
        ngx_ws_gateway_status_print(o, ",\"%s\":%uL",
                                    ngx_ws_gateway_status_quantile_keys[i],
                                    us[i]);
    }

    ngx_ws_gateway_status_print(o, "}");
}


static void
ngx_ws_gateway_status_json_links(ngx_ws_gateway_status_out_t *o,
    ngx_ws_gateway_status_worker_t *w)
{
    u_char                         name[NGX_WS_GATEWAY_STATUS_NAME_MAX];
    uint64_t                      *v;
    ngx_uint_t                     i, k;
    ngx_ws_gateway_status_link_t  *l;

    ngx_ws_gateway_status_print(o, ",\"links\":[");

    for (i = 0; i < w->nlinks; i++) {
        l = &w->links[i];
        v = l->values;

        (void) ngx_ws_gateway_status_escape(name, l->upstream, 1);
        ngx_ws_gateway_status_print(o, "%s{\"upstream\":\"%s\"",
                                    i ? "," : "", name);

        (void) ngx_ws_gateway_status_escape(name, l->server, 1);
        ngx_ws_gateway_status_print(o, ",\"server\":\"%s\"", name);

        ngx_ws_gateway_status_print(o,
            ",\"links\":{\"ready\":%uL,\"connecting\":%uL,\"down\":%uL}",
            v[0], v[1], v[2]);

        for (k = 3; k < NGX_WS_GATEWAY_STATUS_LINK_VALUES; k++) {
            ngx_ws_gateway_status_print(o, ",\"%s\":%uL",
                                        ngx_ws_gateway_status_link_keys[k - 3],
                                        v[k]);
        }

        ngx_ws_gateway_status_print(o, "}");
    }

    ngx_ws_gateway_status_print(o, "]");
}


static void
ngx_ws_gateway_status_prometheus(ngx_ws_gateway_status_out_t *o,
    ngx_ws_gateway_status_t *st)
{
    ngx_ws_gateway_status_prom_head(o, "metrics_slots", "gauge",
        "Slots in the metrics zone, one per worker process.");
    ngx_ws_gateway_status_print(o, "ws_gateway_metrics_slots %uA\n",
                                ngx_ws_gateway_shm->nslots);

    ngx_ws_gateway_status_prom_head(o, "config_generation", "gauge",
        "Configuration reloads since the metrics zone was created.");
    ngx_ws_gateway_status_print(o, "ws_gateway_config_generation %uA\n",
                                ngx_ws_gateway_shm->generation);

    ngx_ws_gateway_status_prom_head(o, "idle_window_seconds", "gauge",
        "Time without a data message after which a session is idle.");
    ngx_ws_gateway_status_print(o, "ws_gateway_idle_window_seconds %uA\n",
                                ngx_ws_gateway_shm->idle_window);

    ngx_ws_gateway_status_prom_head(o, "workers", "gauge",
        "Worker processes with a metrics slot, exiting ones included.");
    ngx_ws_gateway_status_print(o, "ws_gateway_workers %ui\n", st->nworkers);

    ngx_ws_gateway_status_prom_head(o, "unmetered_workers", "gauge",
        "Worker processes of this configuration without a metrics slot.");
    ngx_ws_gateway_status_print(o, "ws_gateway_unmetered_workers %ui\n",
                                st->unmetered);

    ngx_ws_gateway_status_prom_values(o, st, "worker_generation", "gauge",
        "Configuration generation the worker was started with.",
        NULL, NULL, 1,
        offsetof(ngx_ws_gateway_status_worker_t, generation));
    ngx_ws_gateway_status_prom_values(o, st, "worker_start_time_seconds",
        "gauge", "When the worker started, seconds since the epoch.",
        NULL, NULL, 1, offsetof(ngx_ws_gateway_status_worker_t, started));
    ngx_ws_gateway_status_prom_values(o, st, "worker_update_time_seconds",
        "gauge", "The worker's last once-a-second tick, seconds since "
        "the epoch.",
        NULL, NULL, 1, offsetof(ngx_ws_gateway_status_worker_t, updated));
    ngx_ws_gateway_status_prom_values(o, st, "worker_exiting", "gauge",
        "1 when the worker is shutting down gracefully.",
        NULL, NULL, 1, offsetof(ngx_ws_gateway_status_worker_t, exiting));

    ngx_ws_gateway_status_prom_values(o, st, "sessions", "gauge",
        "Sessions by state; idle, paused and runnable sessions are also "
        "counted as active.",
        "state", ngx_ws_gateway_status_states,
        NGX_WS_GATEWAY_STATUS_STATES,
        offsetof(ngx_ws_gateway_status_worker_t, sessions));
    ngx_ws_gateway_status_prom_values(o, st, "queued_bytes", "gauge",
        "Memory held by the frames queued toward clients, in bytes.",
        NULL, NULL, 1, offsetof(ngx_ws_gateway_status_worker_t, queued));
    ngx_ws_gateway_status_prom_values(o, st, "assembling_bytes", "gauge",
        "Memory held by messages being received from clients, in bytes.",
        NULL, NULL, 1,
        offsetof(ngx_ws_gateway_status_worker_t, assembling));
    ngx_ws_gateway_status_prom_values(o, st, "buffer_bytes", "gauge",
        "Memory mapped for outbound frames, in use or kept for reuse.",
        NULL, NULL, 1, offsetof(ngx_ws_gateway_status_worker_t, buffers));

    ngx_ws_gateway_status_prom_values(o, st, "accepts_total", "counter",
        "Sessions started (handshakes completed).",
        NULL, NULL, 1, offsetof(ngx_ws_gateway_status_worker_t, counters));
    ngx_ws_gateway_status_prom_values(o, st, "closes_total", "counter",
        "Sessions ended.",
        NULL, NULL, 1, offsetof(ngx_ws_gateway_status_worker_t, counters)
                       + 1 * sizeof(uint64_t));
    ngx_ws_gateway_status_prom_values(o, st, "messages_total", "counter",
        "Data messages received from (in) and sent to (out) clients.",
        "direction", ngx_ws_gateway_status_directions, 2,
        offsetof(ngx_ws_gateway_status_worker_t, counters)
        + 2 * sizeof(uint64_t));
    ngx_ws_gateway_status_prom_values(o, st, "bytes_total", "counter",
        "Payload bytes of data messages, from and to clients.",
        "direction", ngx_ws_gateway_status_directions, 2,
        offsetof(ngx_ws_gateway_status_worker_t, counters)
        + 4 * sizeof(uint64_t));
    ngx_ws_gateway_status_prom_values(o, st, "events_total", "counter",
        "Read events handled by the module.",
        NULL, NULL, 1, offsetof(ngx_ws_gateway_status_worker_t, counters)
                       + 6 * sizeof(uint64_t));
    ngx_ws_gateway_status_prom_values(o, st, "loop_iterations_total",
        "counter", "Event loop iterations that handled module events.",
        NULL, NULL, 1, offsetof(ngx_ws_gateway_status_worker_t, counters)
                       + 7 * sizeof(uint64_t));

    ngx_ws_gateway_status_prom_values(o, st, "handshakes_total", "counter",
        "WebSocket handshakes by result.",
        "result", ngx_ws_gateway_status_handshakes, NGX_WS_GATEWAY_HS_LAST,
        offsetof(ngx_ws_gateway_status_worker_t, handshakes));
    ngx_ws_gateway_status_prom_values(o, st, "session_ends_total",
        "counter", "Sessions ended, by reason.",
        "reason", ngx_ws_gateway_status_ends, NGX_WS_GATEWAY_END_LAST,
        offsetof(ngx_ws_gateway_status_worker_t, ends));
    ngx_ws_gateway_status_prom_values(o, st, "close_codes_total", "counter",
        "Sessions ended, by the close code sent (1006: no close frame).",
        "code", ngx_ws_gateway_status_codes, NGX_WS_GATEWAY_CODES + 1,
        offsetof(ngx_ws_gateway_status_worker_t, codes));
    ngx_ws_gateway_status_prom_values(o, st, "drops_total", "counter",
        "Messages dropped, by reason.",
        "reason", ngx_ws_gateway_status_drops, NGX_WS_GATEWAY_DROP_LAST,
        offsetof(ngx_ws_gateway_status_worker_t, drops));
    ngx_ws_gateway_status_prom_values(o, st, "pauses_total", "counter",
        "Times a session stopped being read because its queue was full "
        "(limit), the worker's budget was spent (worker), its link was at "
        "its high watermark (link) or it waited for a link (no_link).",
        "reason", ngx_ws_gateway_status_pauses, NGX_WS_GATEWAY_PAUSE_LAST,
        offsetof(ngx_ws_gateway_status_worker_t, pauses));
    ngx_ws_gateway_status_prom_values(o, st, "auth_total", "counter",
        "Tokens checked at the handshake, by result.",
        "result", ngx_ws_gateway_status_auth, NGX_WS_GATEWAY_AUTH_REASONS,
        offsetof(ngx_ws_gateway_status_worker_t, auth));

    ngx_ws_gateway_status_prom_fanout(o, st);

    ngx_ws_gateway_status_prom_values(o, st, "loop_batch_max", "gauge",
        "Most module events handled in one loop iteration, last second.",
        NULL, NULL, 1, offsetof(ngx_ws_gateway_status_worker_t, batch_max));
    ngx_ws_gateway_status_prom_values(o, st, "loop_batches_total",
        "counter", "Loop iterations by the number of module events "
        "handled in them.",
        "events", ngx_ws_gateway_status_batches,
        NGX_WS_GATEWAY_STATUS_BATCHES,
        offsetof(ngx_ws_gateway_status_worker_t, batch));

    ngx_ws_gateway_status_prom_windows(o, st);

    ngx_ws_gateway_status_prom_links(o, st);
}


static void
ngx_ws_gateway_status_prom_head(ngx_ws_gateway_status_out_t *o, char *name,
    char *type, char *help)
{
    ngx_ws_gateway_status_print(o,
                                "# HELP ws_gateway_%s %s\n"
                                "# TYPE ws_gateway_%s %s\n",
                                name, help, name, type);
}


static void
ngx_ws_gateway_status_prom_values(ngx_ws_gateway_status_out_t *o,
    ngx_ws_gateway_status_t *st, char *name, char *type, char *help,
    char *label, char **names, ngx_uint_t n, size_t offset)
{
    ngx_uint_t                       i, k;
    uint64_t                        *values;
    ngx_ws_gateway_status_worker_t  *w;

    /* a family: per worker, one value, or n values told apart by label */

    ngx_ws_gateway_status_prom_head(o, name, type, help);

    for (k = 0; k < st->nworkers; k++) {
        w = &st->workers[k];
        values = (uint64_t *) ((u_char *) w + offset);

        for (i = 0; i < n; i++) {

            if (label) {
                ngx_ws_gateway_status_print(o,
                    "ws_gateway_%s{%s=\"%s\",worker=\"%uL\",pid=\"%uL\"}"
                    " %uL\n",
                    name, label, names[i], w->worker, w->pid, values[i]);

            } else {
                ngx_ws_gateway_status_print(o,
                    "ws_gateway_%s{worker=\"%uL\",pid=\"%uL\"} %uL\n",
                    name, w->worker, w->pid, values[i]);
            }
        }
    }
}


static void
ngx_ws_gateway_status_prom_windows(ngx_ws_gateway_status_out_t *o,
    ngx_ws_gateway_status_t *st)
{
    double                           rates[5];
    ngx_uint_t                       i, j, k;
    ngx_ws_gateway_window_t         *win;
    ngx_ws_gateway_status_worker_t  *w;

    static char  *whats[] = {
        "accepts", "closes", "churn", "messages_in", "messages_out"
    };

    ngx_ws_gateway_status_prom_head(o, "rate", "gauge",
        "Per second over the window: sessions started (accepts), ended "
        "(closes), both (churn), data messages in and out.");

    for (k = 0; k < st->nworkers; k++) {
        w = &st->workers[k];

        for (j = 0; j < NGX_WS_GATEWAY_STATUS_WINDOWS; j++) {
            win = &w->windows[j];

            rates[0] = win->accepts_rate;
            rates[1] = win->closes_rate;
            rates[2] = win->accepts_rate + win->closes_rate;
            rates[3] = win->messages_in_rate;
            rates[4] = win->messages_out_rate;

            for (i = 0; i < 5; i++) {
                ngx_ws_gateway_status_print(o,
                    "ws_gateway_rate{what=\"%s\",window=\"%s\","
                    "worker=\"%uL\",pid=\"%uL\"} %.3f\n",
                    whats[i], ngx_ws_gateway_status_windows[j],
                    w->worker, w->pid, rates[i]);
            }
        }
    }

    ngx_ws_gateway_status_prom_head(o, "events_per_iteration", "gauge",
        "Module events per loop iteration that had any, over the window.");

    for (k = 0; k < st->nworkers; k++) {
        w = &st->workers[k];

        for (j = 0; j < NGX_WS_GATEWAY_STATUS_WINDOWS; j++) {
            ngx_ws_gateway_status_print(o,
                "ws_gateway_events_per_iteration{window=\"%s\","
                "worker=\"%uL\",pid=\"%uL\"} %.3f\n",
                ngx_ws_gateway_status_windows[j], w->worker, w->pid,
                w->windows[j].events_per_iteration);
        }
    }

    ngx_ws_gateway_status_prom_summary(o, st, "event_latency_seconds",
        "Kernel receive to handler start, sampled 1 in 8; quantiles over "
        "the window (1: the max), sum and count since the worker started.",
        offsetof(ngx_ws_gateway_window_t, event_us),
        offsetof(ngx_ws_gateway_status_worker_t, event_count));

    ngx_ws_gateway_status_prom_head(o, "event_latency_window_samples",
        "gauge", "Event latency samples in the window.");

    for (k = 0; k < st->nworkers; k++) {
        w = &st->workers[k];

        for (j = 0; j < NGX_WS_GATEWAY_STATUS_WINDOWS; j++) {
            ngx_ws_gateway_status_print(o,
                "ws_gateway_event_latency_window_samples{window=\"%s\","
                "worker=\"%uL\",pid=\"%uL\"} %uL\n",
                ngx_ws_gateway_status_windows[j], w->worker, w->pid,
                w->windows[j].event_count);
        }
    }

    ngx_ws_gateway_status_prom_summary(o, st, "loop_lag_seconds",
        "Lateness of a 100 ms timer; quantiles over the window (1: the "
        "max), sum and count since the worker started.",
        offsetof(ngx_ws_gateway_window_t, lag_us),
        offsetof(ngx_ws_gateway_status_worker_t, lag_count));

    ngx_ws_gateway_status_prom_head(o, "loop_lag_window_samples", "gauge",
        "Loop lag probes in the window.");

    for (k = 0; k < st->nworkers; k++) {
        w = &st->workers[k];

        for (j = 0; j < NGX_WS_GATEWAY_STATUS_WINDOWS; j++) {
            ngx_ws_gateway_status_print(o,
                "ws_gateway_loop_lag_window_samples{window=\"%s\","
                "worker=\"%uL\",pid=\"%uL\"} %uL\n",
                ngx_ws_gateway_status_windows[j], w->worker, w->pid,
                w->windows[j].lag_count);
        }
    }
}


static void
ngx_ws_gateway_status_prom_fanout(ngx_ws_gateway_status_out_t *o,
    ngx_ws_gateway_status_t *st)
{
    uint64_t                         v;
    ngx_uint_t                       f, k;
    ngx_ws_gateway_status_family_t  *fam;
    ngx_ws_gateway_status_worker_t  *w;

    for (f = 0; f < NGX_WS_GATEWAY_STATUS_FANOUT; f++) {
        fam = &ngx_ws_gateway_status_families[f];

        ngx_ws_gateway_status_prom_head(o, fam->name, fam->type, fam->help);

        for (k = 0; k < st->nworkers; k++) {
            w = &st->workers[k];
            v = w->fanout[f];

            ngx_ws_gateway_status_print(o,
                "ws_gateway_%s{worker=\"%uL\",pid=\"%uL\"} ",
                fam->name, w->worker, w->pid);

            if (f == NGX_WS_GATEWAY_STATUS_SLICE_MAX
                || f == NGX_WS_GATEWAY_STATUS_FANOUT_MAX)
            {
                ngx_ws_gateway_status_print(o, "%.6f\n",
                                            (double) v / 1000000);

            } else {
                ngx_ws_gateway_status_print(o, "%uL\n", v);
            }
        }
    }
}


static void
ngx_ws_gateway_status_prom_links(ngx_ws_gateway_status_out_t *o,
    ngx_ws_gateway_status_t *st)
{
    u_char                           upstream[NGX_WS_GATEWAY_STATUS_NAME_MAX];
    u_char                           server[NGX_WS_GATEWAY_STATUS_NAME_MAX];
    uint64_t                         v;
    ngx_uint_t                       f, i, j, k;
    ngx_ws_gateway_status_link_t    *l;
    ngx_ws_gateway_status_worker_t  *w;

    /* a family per value or run of values told apart by a label */

    static struct {
        char        *name;
        char        *type;
        char        *help;
        char        *label;
        char       **names;
        ngx_uint_t   n;
        ngx_uint_t   value;
    } families[] = {

        { "link_connections", "gauge",
          "Links to the upstream server by state: ready, connecting "
          "(TCP connect or HELLO), down (waiting to reconnect).",
          "state", ngx_ws_gateway_status_link_states, 3, 0 },

        { "link_sessions", "gauge",
          "Sessions carried by the links to the upstream server.",
          NULL, NULL, 1, 3 },

        { "link_queued_bytes", "gauge",
          "Memory held by the records queued toward the upstream server, "
          "in bytes.",
          NULL, NULL, 1, 4 },

        { "link_rtt_seconds", "gauge",
          "Round trip of the last heartbeat answered by the upstream "
          "server (0: none yet).",
          NULL, NULL, 1, 5 },

        { "link_connects_total", "counter",
          "Connects to the upstream server tried.",
          NULL, NULL, 1, 6 },

        { "link_reconnects_total", "counter",
          "Links to the upstream server up again after a loss.",
          NULL, NULL, 1, 7 },

        { "link_resets_total", "counter",
          "Links to the upstream server lost, or failed to connect.",
          NULL, NULL, 1, 8 },

        { "link_records_total", "counter",
          "Link records received from (in) and sent to (out) the upstream "
          "server.",
          "direction", ngx_ws_gateway_status_directions, 2, 9 },

        { "link_bytes_total", "counter",
          "Link bytes received from (in) and sent to (out) the upstream "
          "server, record headers included.",
          "direction", ngx_ws_gateway_status_directions, 2, 11 },

        { "link_unknown_session_total", "counter",
          "Commands from the upstream server for a session it no longer "
          "has, answered with GONE.",
          NULL, NULL, 1, 13 },

        { "link_sessions_lost_total", "counter",
          "Sessions closed with 1011 because their link was lost.",
          NULL, NULL, 1, 14 },

        { "link_approvals_total", "counter",
          "Handshakes the upstream server was asked to approve, by "
          "verdict: approved (ACCEPT), rejected (REJECT), timeout.",
          "result", ngx_ws_gateway_status_approvals, 3, 15 },

        { "link_high_watermark_bytes", "gauge",
          "ws_gateway_link_high_watermark of the upstream: at or above "
          "it, a link's sessions stop reading their clients.",
          NULL, NULL, 1, 18 },

        { "link_low_watermark_bytes", "gauge",
          "ws_gateway_link_low_watermark of the upstream: below it, they "
          "read again.",
          NULL, NULL, 1, 19 },

        { "link_sessions_paused", "gauge",
          "Sessions not read because their link to the upstream server "
          "is at its high watermark.",
          NULL, NULL, 1, 20 },

        { "link_pauses_total", "counter",
          "Sessions paused at the high watermark of their link to the "
          "upstream server.",
          NULL, NULL, 1, 21 }
    };

    for (k = 0; k < st->nworkers; k++) {
        if (st->workers[k].nlinks) {
            break;
        }
    }

    if (k == st->nworkers) {
        return;
    }

    for (f = 0; f < sizeof(families) / sizeof(families[0]); f++) {

        ngx_ws_gateway_status_prom_head(o, families[f].name,
                                        families[f].type, families[f].help);

        for (k = 0; k < st->nworkers; k++) {
            w = &st->workers[k];

            for (i = 0; i < w->nlinks; i++) {
                l = &w->links[i];

                (void) ngx_ws_gateway_status_escape(upstream, l->upstream, 0);
                (void) ngx_ws_gateway_status_escape(server, l->server, 0);

                for (j = 0; j < families[f].n; j++) {
                    v = l->values[families[f].value + j];

                    if (families[f].label) {
                        ngx_ws_gateway_status_print(o,
                            "ws_gateway_%s{%s=\"%s\",", families[f].name,
                            families[f].label, families[f].names[j]);

                    } else {
                        ngx_ws_gateway_status_print(o, "ws_gateway_%s{",
                                                    families[f].name);
                    }

                    ngx_ws_gateway_status_print(o,
                        "worker=\"%uL\",pid=\"%uL\",upstream=\"%s\","
                        "server=\"%s\"} ",
                        w->worker, w->pid, upstream, server);

                    if (families[f].value == NGX_WS_GATEWAY_STATUS_LINK_RTT) {
                        ngx_ws_gateway_status_print(o, "%.6f\n",
                                                    (double) v / 1000000);

                    } else {
                        ngx_ws_gateway_status_print(o, "%uL\n", v);
                    }
                }
            }
        }
    }
}


static void
ngx_ws_gateway_status_prom_summary(ngx_ws_gateway_status_out_t *o,
    ngx_ws_gateway_status_t *st, char *name, char *help, size_t quantiles,
    size_t count)
{
    uint64_t                        *us;
    ngx_uint_t                       i, j, k;
    uint64_t                        *cs;
    ngx_ws_gateway_status_worker_t  *w;

    /*
     * A summary as Prometheus clients keep one: quantiles over a recent
     * window, _sum and _count since the start, here repeated for each
     * window; "cs" points to the count, followed by the sum.
     */

    ngx_ws_gateway_status_prom_head(o, name, "summary", help);

    for (k = 0; k < st->nworkers; k++) {
        w = &st->workers[k];
        cs = (uint64_t *) ((u_char *) w + count);

        for (j = 0; j < NGX_WS_GATEWAY_STATUS_WINDOWS; j++) {
            us = (uint64_t *) ((u_char *) &w->windows[j] + quantiles);

            for (i = 0; i < NGX_WS_GATEWAY_QUANTILES; i++) {
                ngx_ws_gateway_status_print(o,
                    "ws_gateway_%s{quantile=\"%s\",window=\"%s\","
                    "worker=\"%uL\",pid=\"%uL\"} %.6f\n",
                    name, ngx_ws_gateway_status_quantiles[i],
                    ngx_ws_gateway_status_windows[j], w->worker, w->pid,
                    (double) us[i] / 1000000);
            }

            ngx_ws_gateway_status_print(o,
                "ws_gateway_%s_sum{window=\"%s\",worker=\"%uL\","
                "pid=\"%uL\"} %.6f\n"
                "ws_gateway_%s_count{window=\"%s\",worker=\"%uL\","
                "pid=\"%uL\"} %uL\n",
                name, ngx_ws_gateway_status_windows[j], w->worker, w->pid,
                (double) cs[1] / 1000000,
                name, ngx_ws_gateway_status_windows[j], w->worker, w->pid,
                cs[0]);
        }
    }
}


static ngx_int_t
ngx_ws_gateway_status_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_uint_t format, ngx_buf_t *b)
{
    ngx_int_t     rc;
    ngx_str_t     value;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_type = ngx_ws_gateway_status_types[format].type;
    r->headers_out.content_type_len = ngx_ws_gateway_status_types[format].len;
    r->headers_out.content_length_n = b->last - b->pos;

    ngx_str_set(&value, "no-store");

    if (ngx_ws_gateway_add_header(r, "Cache-Control",
                                  sizeof("Cache-Control") - 1, &value)
        == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
