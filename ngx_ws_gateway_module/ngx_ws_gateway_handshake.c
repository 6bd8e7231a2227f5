
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_sha1.h>

#include "ngx_ws_gateway.h"


#define NGX_WS_GATEWAY_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define NGX_WS_GATEWAY_KEY_LEN      16
#define NGX_WS_GATEWAY_ACCEPT_LEN   28   /* base64 of a SHA-1 digest */

#define NGX_WS_GATEWAY_UPGRADE_REQUIRED  426

/* no link to a backend: a 503, counted where it is refused */
#define NGX_WS_GATEWAY_UNAVAILABLE       1503


typedef struct {
    ngx_str_t                  key;
    ngx_str_t                  version;
    ngx_str_t                  protocol;      /* the one selected */
    ngx_uint_t                 nkeys;
    ngx_uint_t                 nversions;
    unsigned                   upgrade:1;     /* Upgrade: websocket */
    unsigned                   has_upgrade:1; /* any Upgrade header */
    unsigned                   connection:1;  /* Connection: upgrade */
} ngx_ws_gateway_handshake_t;


static ngx_int_t ngx_ws_gateway_check(ngx_http_request_t *r);
static void ngx_ws_gateway_handshake_done(void *data);
static ngx_int_t ngx_ws_gateway_scan_headers(ngx_http_request_t *r,
    ngx_ws_gateway_handshake_t *hs);
static ngx_int_t ngx_ws_gateway_has_token(ngx_str_t *value, char *token,
    size_t len);
static void ngx_ws_gateway_select_protocol(ngx_http_request_t *r,
    ngx_ws_gateway_loc_conf_t *wlcf, ngx_str_t *value,
    ngx_ws_gateway_handshake_t *hs);
static ngx_int_t ngx_ws_gateway_check_key(ngx_str_t *key);
static ngx_int_t ngx_ws_gateway_upgrade_required(ngx_http_request_t *r,
    ngx_uint_t version);
static void ngx_ws_gateway_flush_handler(ngx_http_request_t *r);
static void ngx_ws_gateway_handover(ngx_http_request_t *r);
static void ngx_ws_gateway_takeover_handler(ngx_event_t *ev);
static void ngx_ws_gateway_idle_handler(ngx_event_t *ev);


static ngx_str_t  ngx_ws_gateway_websocket = ngx_string("websocket");

static u_char  ngx_ws_gateway_426_body[] =
    "This is a WebSocket endpoint: connect with a WebSocket client"
    " (RFC 6455)." CRLF;


ngx_int_t
ngx_ws_gateway_handshake(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_uint_t           result;
    ngx_pool_cleanup_t  *cln;

    /* a handshake is in progress until its request is released */

    if (ngx_ws_gateway_slot) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cln->handler = ngx_ws_gateway_handshake_done;
        cln->data = r;

        ngx_ws_gateway_slot->handshaking++;
    }

    rc = ngx_ws_gateway_check(r);

    switch (rc) {

    case NGX_DONE:

        /* counted when the session starts, or as failed on the way */

        return rc;

    case NGX_HTTP_NOT_ALLOWED:
        result = NGX_WS_GATEWAY_HS_BAD_METHOD;
        break;

    case NGX_HTTP_BAD_REQUEST:
        result = NGX_WS_GATEWAY_HS_BAD_REQUEST;
        break;

    case NGX_WS_GATEWAY_UNAVAILABLE:

        /* counted where it is refused */

        return NGX_HTTP_SERVICE_UNAVAILABLE;

    default:

        /* a 426 is counted where it is sent */

        if (r->headers_out.status == NGX_WS_GATEWAY_UPGRADE_REQUIRED) {
            return rc;
        }

        result = NGX_WS_GATEWAY_HS_FAILED;
    }

    ngx_ws_gateway_metric_inc(handshakes[result]);

    return rc;
}


static void
ngx_ws_gateway_handshake_done(void *data)
{
    ngx_ws_gateway_metric_add(handshaking, -1);
}


static ngx_int_t
ngx_ws_gateway_check(ngx_http_request_t *r)
{
    u_char                      digest[20], *p;
    ngx_int_t                   rc;
    ngx_str_t                   accept, src, value;
    ngx_sha1_t                  sha1;
    ngx_connection_t           *c;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_ws_gateway_loc_conf_t  *wlcf;
    ngx_ws_gateway_handshake_t  hs;

    c = r->connection;

    if (r != r->main) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "ws gateway location cannot serve a subrequest");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!(r->method & NGX_HTTP_GET)) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "client sent %V request to a WebSocket location",
                      &r->method_name);

        ngx_str_set(&value, "GET");

        if (ngx_ws_gateway_add_header(r, "Allow", sizeof("Allow") - 1,
                                      &value)
            == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_HTTP_NOT_ALLOWED;
    }

    /*
     * RFC 6455, 4.1: "HTTP/1.1 or higher"; a later HTTP/1.x is 1.1 to
     * us (RFC 7230, 2.6), HTTP/2 and HTTP/3 need RFC 8441 and RFC 9220
     */

    if (r->http_version < NGX_HTTP_VERSION_11
        || r->http_version >= NGX_HTTP_VERSION_20)
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "client sent WebSocket handshake over %V, "
                      "HTTP/1.1 required", &r->http_protocol);
        return NGX_HTTP_BAD_REQUEST;
    }

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "client sent WebSocket handshake with a body");
        return NGX_HTTP_BAD_REQUEST;
    }

    ngx_memzero(&hs, sizeof(ngx_ws_gateway_handshake_t));

    rc = ngx_ws_gateway_scan_headers(r, &hs);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!hs.upgrade) {
        if (hs.has_upgrade) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "client sent \"Upgrade\" header without "
                          "\"websocket\"");
        } else {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "client sent plain HTTP request "
                          "to a WebSocket location");
        }

        return ngx_ws_gateway_upgrade_required(r, 0);
    }

    if (!hs.connection) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "client sent \"Connection\" header without "
                      "\"upgrade\"");
        return NGX_HTTP_BAD_REQUEST;
    }

    if (hs.nversions != 1 || hs.version.len != 2
        || hs.version.data[0] != '1' || hs.version.data[1] != '3')
    {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "client sent unsupported \"Sec-WebSocket-Version\": "
                      "\"%V\"", &hs.version);
        return ngx_ws_gateway_upgrade_required(r, 1);
    }

    if (hs.nkeys != 1 || ngx_ws_gateway_check_key(&hs.key) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "client sent invalid \"Sec-WebSocket-Key\": \"%V\"",
                      &hs.key);
        return NGX_HTTP_BAD_REQUEST;
    }

    if (r->headers_in.host == NULL) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "client sent WebSocket handshake without \"Host\"");
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_exiting || ngx_terminate) {

        /*
         * the worker is draining: a new session would outlive the close
         * its sessions were sent; the client is to come back to another
         */

        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "WebSocket handshake refused: worker is shutting down");

        ngx_str_set(&value, "1");

        if (ngx_ws_gateway_add_header(r, "Retry-After",
                                      sizeof("Retry-After") - 1, &value)
            == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    wlcf = ngx_http_get_module_loc_conf(r, ngx_ws_gateway_module);

    if (wlcf->target == NGX_WS_GATEWAY_TARGET_UPSTREAM
        && ngx_ws_gateway_link_choose(r, wlcf->upstream) == NULL)
    {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "no live ws gateway links in upstream \"%V\"",
                      &wlcf->upstream->upstream->host);

        ngx_ws_gateway_metric_inc(handshakes[NGX_WS_GATEWAY_HS_UNAVAILABLE]);

        ngx_str_set(&value, "1");

        if (ngx_ws_gateway_add_header(r, "Retry-After",
                                      sizeof("Retry-After") - 1, &value)
            == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_WS_GATEWAY_UNAVAILABLE;
    }

    /* Sec-WebSocket-Accept: base64(SHA-1(key + GUID)) */

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, hs.key.data, hs.key.len);
    ngx_sha1_update(&sha1, NGX_WS_GATEWAY_GUID,
                    sizeof(NGX_WS_GATEWAY_GUID) - 1);
    ngx_sha1_final(digest, &sha1);

    p = ngx_pnalloc(r->pool, NGX_WS_GATEWAY_ACCEPT_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    src.data = digest;
    src.len = sizeof(digest);
    accept.data = p;

    ngx_encode_base64(&accept, &src);

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    ngx_str_set(&r->headers_out.status_line, "101 Switching Protocols");
    r->headers_out.content_length_n = -1;
    r->header_only = 1;
    r->keepalive = 0;

    if (ngx_ws_gateway_add_header(r, "Upgrade", sizeof("Upgrade") - 1,
                                  &ngx_ws_gateway_websocket)
        == NULL
        || ngx_ws_gateway_add_header(r, "Sec-WebSocket-Accept",
                                     sizeof("Sec-WebSocket-Accept") - 1,
                                     &accept)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (hs.protocol.len
        && ngx_ws_gateway_add_header(r, "Sec-WebSocket-Protocol",
                                     sizeof("Sec-WebSocket-Protocol") - 1,
                                     &hs.protocol)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

#if (NGX_HTTP_SSL)

    /*
     * a session must not keep NGINX's 16k TLS write buffer: frames are
     * written to OpenSSL one by one instead
     */

    if (c->ssl) {
        c->ssl->buffer = 0;
    }

#endif

    /*
     * frames are small and interactive: TCP_NODELAY where the location's
     * tcp_nodelay says so (as NGINX's upgraded proxy and keepalive do)
     */

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->tcp_nodelay && ngx_tcp_nodelay(c) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "ws gateway handshake accepted, protocol: \"%V\", "
                   "pipelined: %uz", &hs.protocol,
                   (size_t) (r->header_in->last - r->header_in->pos));

    if (wlcf->target == NGX_WS_GATEWAY_TARGET_UPSTREAM && wlcf->approve) {

        /* the 101 waits for the backend's verdict */

        return ngx_ws_gateway_link_approve(r, wlcf->params,
                                           wlcf->approve_timeout);
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    r->main->count++;

    ngx_ws_gateway_flush_handler(r);

    return NGX_DONE;
}


/* the backend accepted the handshake: the 101 goes out */

void
ngx_ws_gateway_handshake_approved(ngx_http_request_t *r)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    c = r->connection;

    r->read_event_handler = ngx_http_block_reading;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        ngx_ws_gateway_metric_inc(handshakes[NGX_WS_GATEWAY_HS_FAILED]);
        ngx_http_finalize_request(r, rc);

    } else {
        ngx_ws_gateway_flush_handler(r);
    }

    /* from a link's event: what a failed finalization posted runs now */

    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_ws_gateway_scan_headers(ngx_http_request_t *r,
    ngx_ws_gateway_handshake_t *hs)
{
    ngx_table_elt_t            *h;
    ngx_ws_gateway_headers_t    walk;
    ngx_ws_gateway_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_ws_gateway_module);

    ngx_ws_gateway_headers_init(r, &walk);

    while ((h = ngx_ws_gateway_next_header(&walk, NULL, 0)) != NULL) {

        if (h->key.len == sizeof("Upgrade") - 1
            && ngx_strncasecmp(h->key.data, (u_char *) "Upgrade",
                               h->key.len) == 0)
        {
            hs->has_upgrade = 1;

            if (ngx_ws_gateway_has_token(&h->value, "websocket",
                                         sizeof("websocket") - 1))
            {
                hs->upgrade = 1;
            }

            continue;
        }

        if (h->key.len == sizeof("Connection") - 1
            && ngx_strncasecmp(h->key.data, (u_char *) "Connection",
                               h->key.len) == 0)
        {
            if (ngx_ws_gateway_has_token(&h->value, "upgrade",
                                         sizeof("upgrade") - 1))
            {
                hs->connection = 1;
            }

            continue;
        }

        if (h->key.len < sizeof("Sec-WebSocket-") - 1
            || ngx_strncasecmp(h->key.data, (u_char *) "Sec-WebSocket-",
                               sizeof("Sec-WebSocket-") - 1) != 0)
        {
            continue;
        }

        if (h->key.len == sizeof("Sec-WebSocket-Key") - 1
            && ngx_strncasecmp(h->key.data + 14, (u_char *) "Key", 3) == 0)
        {
            hs->key = h->value;
            hs->nkeys++;

        } else if (h->key.len == sizeof("Sec-WebSocket-Version") - 1
                   && ngx_strncasecmp(h->key.data + 14,
                                      (u_char *) "Version", 7) == 0)
        {
            hs->version = h->value;
            hs->nversions++;

        } else if (h->key.len == sizeof("Sec-WebSocket-Protocol") - 1
                   && ngx_strncasecmp(h->key.data + 14,
                                      (u_char *) "Protocol", 8) == 0)
        {
            if (hs->protocol.len == 0 && wlcf->subprotocols) {
                ngx_ws_gateway_select_protocol(r, wlcf, &h->value, hs);
            }
        }
    }

    return NGX_OK;
}


static void
ngx_ws_gateway_select_protocol(ngx_http_request_t *r,
    ngx_ws_gateway_loc_conf_t *wlcf, ngx_str_t *value,
    ngx_ws_gateway_handshake_t *hs)
{
    u_char      *pos;
    ngx_str_t    token, *s, *prefix;
    ngx_uint_t   i;

    /*
     * The first protocol the client offers that we support; an entry
     * that carries a token is never one, so it is never echoed.
     */

    pos = value->data;
    s = wlcf->subprotocols->elts;
    prefix = ngx_ws_gateway_auth_protocol_prefix(r);

    while (ngx_ws_gateway_next_token(&pos, value->data + value->len, &token)
           == NGX_OK)
    {
        if (prefix
            && ngx_ws_gateway_protocol_token(&token, prefix, NULL) == NGX_OK)
        {
            continue;
        }

        for (i = 0; i < wlcf->subprotocols->nelts; i++) {
            if (s[i].len == token.len
                && ngx_strncmp(s[i].data, token.data, token.len) == 0)
            {
                hs->protocol = s[i];
                return;
            }
        }
    }
}


ngx_int_t
ngx_ws_gateway_next_token(u_char **pos, u_char *end, ngx_str_t *token)
{
    u_char  *p, *start;

    /* an element of a comma-separated list, optional white space trimmed */

    for (p = *pos; p < end; p++) {
        if (*p != ' ' && *p != '\t' && *p != ',') {
            break;
        }
    }

    if (p == end) {
        *pos = p;
        return NGX_DONE;
    }

    start = p;

    while (p < end && *p != ',') {
        p++;
    }

    *pos = p;

    while (p > start && (p[-1] == ' ' || p[-1] == '\t')) {
        p--;
    }

    token->data = start;
    token->len = p - start;

    return NGX_OK;
}


ngx_int_t
ngx_ws_gateway_protocol_token(ngx_str_t *entry, ngx_str_t *prefix,
    ngx_str_t *token)
{
    /*
     * The one rule of a Sec-WebSocket-Protocol entry that carries a token
     * (ws_gateway_auth_jwt_protocol_prefix): the prefix and at least one
     * byte more.  Such an entry is never selected; the prefix alone is a
     * name like any other.
     */

    if (entry->len <= prefix->len
        || ngx_strncmp(entry->data, prefix->data, prefix->len) != 0)
    {
        return NGX_DECLINED;
    }

    if (token) {
        token->data = entry->data + prefix->len;
        token->len = entry->len - prefix->len;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_ws_gateway_has_token(ngx_str_t *value, char *name, size_t len)
{
    u_char     *pos;
    ngx_str_t   token;

    pos = value->data;

    while (ngx_ws_gateway_next_token(&pos, value->data + value->len, &token)
           == NGX_OK)
    {
        if (token.len == len
            && ngx_strncasecmp(token.data, (u_char *) name, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_ws_gateway_check_key(ngx_str_t *key)
{
    u_char     buf[NGX_WS_GATEWAY_KEY_LEN + 2];
    ngx_str_t  decoded;

    /* 16 bytes in base64 are 24 characters ending in "==" */

    if (key->len != 24 || key->data[22] != '=' || key->data[23] != '=') {
        return NGX_ERROR;
    }

    decoded.data = buf;

    if (ngx_decode_base64(&decoded, key) != NGX_OK
        || decoded.len != NGX_WS_GATEWAY_KEY_LEN)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_table_elt_t *
ngx_ws_gateway_add_header(ngx_http_request_t *r, char *name, size_t len,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    /* a response header; NULL on an allocation failure */

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.data = (u_char *) name;
    h->key.len = len;
    h->value = *value;

    return h;
}


void
ngx_ws_gateway_headers_init(ngx_http_request_t *r,
    ngx_ws_gateway_headers_t *walk)
{
    walk->part = &r->headers_in.headers.part;
    walk->i = 0;
}


ngx_table_elt_t *
ngx_ws_gateway_next_header(ngx_ws_gateway_headers_t *walk, char *name,
    size_t len)
{
    ngx_table_elt_t  *h;

    /*
     * The next request header, of the name if one is given (without
     * regard to case), in the order received; NULL at the end.  Every
     * walk over the request's headers is this one.  None is skipped
     * (not even one whose hash is 0): what decides access sees them all.
     */

    for ( ;; ) {

        if (walk->i >= walk->part->nelts) {
            if (walk->part->next == NULL) {
                return NULL;
            }

            walk->part = walk->part->next;
            walk->i = 0;
            continue;
        }

        h = (ngx_table_elt_t *) walk->part->elts + walk->i++;

        if (name == NULL
            || (h->key.len == len
                && ngx_strncasecmp(h->key.data, (u_char *) name, len) == 0))
        {
            return h;
        }
    }
}


static ngx_int_t
ngx_ws_gateway_upgrade_required(ngx_http_request_t *r, ngx_uint_t version)
{
    ngx_int_t     rc;
    ngx_str_t     v;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    /* 426: the client must switch to WebSocket, version 13 */

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_ws_gateway_metric_inc(handshakes[version
                                         ? NGX_WS_GATEWAY_HS_BAD_VERSION
                                         : NGX_WS_GATEWAY_HS_NOT_WEBSOCKET]);

    /*
     * RFC 7230, 6.7: a server that sends Upgrade sends "upgrade" in
     * Connection too; NGINX writes its own Connection line (keep-alive
     * or close) beside it, which a client reads as one list
     */

    ngx_str_set(&v, "upgrade");

    if (ngx_ws_gateway_add_header(r, "Upgrade", sizeof("Upgrade") - 1,
                                  &ngx_ws_gateway_websocket)
        == NULL
        || ngx_ws_gateway_add_header(r, "Connection",
                                     sizeof("Connection") - 1, &v)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&v, "13");

    if (version
        && ngx_ws_gateway_add_header(r, "Sec-WebSocket-Version",
                                     sizeof("Sec-WebSocket-Version") - 1,
                                     &v)
           == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_WS_GATEWAY_UPGRADE_REQUIRED;
    ngx_str_set(&r->headers_out.status_line, "426 Upgrade Required");
    r->headers_out.content_length_n = sizeof(ngx_ws_gateway_426_body) - 1;
    ngx_str_set(&r->headers_out.content_type, "text/plain");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = ngx_ws_gateway_426_body;
    b->last = b->pos + sizeof(ngx_ws_gateway_426_body) - 1;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static void
ngx_ws_gateway_flush_handler(ngx_http_request_t *r)
{
    ngx_event_t               *wev;
    ngx_connection_t          *c;
    ngx_ws_gateway_loc_conf_t *wlcf;

    c = r->connection;
    wev = c->write;

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "client timed out receiving the WebSocket handshake");
        c->timedout = 1;
        ngx_ws_gateway_metric_inc(handshakes[NGX_WS_GATEWAY_HS_FAILED]);
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    if (ngx_http_output_filter(r, NULL) == NGX_ERROR) {
        ngx_ws_gateway_metric_inc(handshakes[NGX_WS_GATEWAY_HS_FAILED]);
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    if (r->out || c->buffered) {
        wlcf = ngx_http_get_module_loc_conf(r, ngx_ws_gateway_module);

        r->write_event_handler = ngx_ws_gateway_flush_handler;

        if (!wev->delayed) {
            ngx_add_timer(wev, wlcf->send_timeout);
        }

        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_ws_gateway_metric_inc(handshakes[NGX_WS_GATEWAY_HS_FAILED]);
            ngx_http_finalize_request(r, NGX_ERROR);
        }

        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    ngx_ws_gateway_handover(r);
}


static void
ngx_ws_gateway_handover(ngx_http_request_t *r)
{
    ngx_connection_t  *c;

    /*
     * The 101 is out.  The request is released from a posted event of
     * its own, outside the HTTP request handlers that are on the stack
     * now and that expect c->data to be a request when they return.
     */

    c = r->connection;

    c->read->handler = ngx_ws_gateway_idle_handler;
    c->write->handler = ngx_ws_gateway_takeover_handler;

    ngx_post_event(c->write, &ngx_posted_events);
}


static void
ngx_ws_gateway_idle_handler(ngx_event_t *ev)
{
    /* input waits until the session takes the connection over */
}


static void
ngx_ws_gateway_takeover_handler(ngx_event_t *ev)
{
    u_char                     *data;
    size_t                      len;
    time_t                      expires;
    ngx_ws_gateway_link_t      *link;
    ngx_ws_gateway_start_t      start;
    ngx_buf_t                  *b;
    ngx_chain_t                *cl, *ln;
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_connection_t      *hc;
    ngx_ws_gateway_loc_conf_t  *wlcf;

    c = ev->data;
    r = c->data;
    hc = r->http_connection;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_ws_gateway_module);

    ngx_memzero(&start, sizeof(ngx_ws_gateway_start_t));
    link = NULL;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "ws gateway takes the connection over");

    if (r->count != 1 || r->blocked) {

        /*
         * something else in the location (a mirror, say) still uses the
         * request: it cannot be released under it
         */

        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "WebSocket session cannot start: the request is still "
                      "in use (count:%d blocked:%d), is \"mirror\" or "
                      "another module active in this location?",
                      r->count, r->blocked);

        ngx_ws_gateway_metric_inc(handshakes[NGX_WS_GATEWAY_HS_FAILED]);

        /* the request ends as NGINX ends it once its users are done */

        c->write->handler = ngx_ws_gateway_idle_handler;
        c->error = 1;

        ngx_http_finalize_request(r, NGX_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    /*
     * Bytes the client pipelined after the handshake are rare and short
     * (at most a header buffer): they are copied aside, so that all the
     * header buffers can be freed now, as NGINX frees them for an idle
     * keepalive connection.
     */

    b = r->header_in;
    len = b->last - b->pos;
    data = NULL;

    if (len) {
        data = ngx_alloc(len, c->log);
        if (data == NULL) {
            goto failed;
        }

        ngx_memcpy(data, b->pos, len);
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    /* what the session keeps of the token: when it expires */

    expires = ngx_ws_gateway_auth_expires(r);

    /* its backend's OPEN, while the request is here to say what it holds */

    if (wlcf->target == NGX_WS_GATEWAY_TARGET_UPSTREAM) {
        link = ngx_ws_gateway_link_chosen(r, wlcf->approve, &start);

        if (link && start.id == 0) {
            start.id = ngx_ws_gateway_session_id();

            if (ngx_ws_gateway_link_open(r, link, start.id, wlcf->params, 0,
                                         &start)
                != NGX_OK)
            {
                if (data) {
                    ngx_free(data);
                }

                goto failed;
            }
        }
    }

    if (link && wlcf->subscribe
        && ngx_ws_gateway_link_channels(r, wlcf->subscribe,
                                        wlcf->channel_max_length, &start)
           != NGX_OK)
    {
        if (data) {
            ngx_free(data);
        }

        goto failed;
    }

    r->keepalive = 0;

    ngx_http_free_request(r, 0);

    c->data = NULL;
    c->destroyed = 0;
    c->sent = 0;

    b = c->buffer;

    if (b && b->start && ngx_pfree(c->pool, b->start) == NGX_OK) {
        b->start = NULL;
        b->pos = NULL;
        b->last = NULL;
        b->end = NULL;
    }

    for (cl = hc->free; cl; /* void */) {
        ln = cl;
        cl = cl->next;
        ngx_pfree(c->pool, ln->buf->start);
        ngx_free_chain(c->pool, ln);
    }

    hc->free = NULL;

    for (cl = hc->busy; cl; /* void */) {
        ln = cl;
        cl = cl->next;
        ngx_pfree(c->pool, ln->buf->start);
        ngx_free_chain(c->pool, ln);
    }

    hc->busy = NULL;
    hc->nbusy = 0;

#if (NGX_HTTP_SSL)

    if (c->ssl) {
        ngx_ssl_free_buffer(c);
    }

#endif

    ngx_ws_gateway_session_init(c, wlcf, expires, data, len, &start);

    if (data) {
        ngx_free(data);
    }

    /* what the session did not take */

    if (start.open) {
        ngx_free(start.open);
    }

    if (start.channels) {
        ngx_free(start.channels);
    }

    return;

failed:

    /* the 101 is out: nothing is left to say in HTTP */

    if (start.open) {
        ngx_free(start.open);
    }

    if (start.channels) {
        ngx_free(start.channels);
    }

    ngx_ws_gateway_metric_inc(handshakes[NGX_WS_GATEWAY_HS_FAILED]);

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    r->keepalive = 0;
    c->error = 1;

    ngx_http_free_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    ngx_http_close_connection(c);
}
