
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_ws_gateway.h"
#include "ngx_ws_gateway_jwt.h"


/*
 * Token auth and origin policy at the handshake, a module of its own in
 * the same object: the origin check runs in the preaccess phase (no
 * "satisfy any" can waive it), the token check in the access phase (it
 * composes with allow, deny, satisfy and auth_request).  See docs/auth.md.
 */


#define NGX_WS_GATEWAY_AUTH_KEY_FILE_MAX  (1024 * 1024)
#define NGX_WS_GATEWAY_AUTH_REDACTED      "REDACTED"

#define NGX_WS_GATEWAY_KEY_AUTO           0
#define NGX_WS_GATEWAY_KEY_JWKS           1
#define NGX_WS_GATEWAY_KEY_PEM            2
#define NGX_WS_GATEWAY_KEY_HMAC           3


typedef struct {
    ngx_str_t                    name;     /* exact, lowercase */
#if (NGX_PCRE)
    ngx_regex_t                 *regex;
#endif
} ngx_ws_gateway_origin_t;


typedef struct {
    ngx_int_t                    enabled;
    ngx_str_t                    realm;
    ngx_http_complex_value_t    *token;    /* NULL: Authorization */
    ngx_array_t                 *token_args; /* of ngx_str_t: $arg_ */
    u_char                      *file;     /* where auth is turned on */
    ngx_uint_t                   line;

    ngx_array_t                 *keys;     /* of ngx_ws_gateway_jwt_key_t */
    ngx_uint_t                   algs;     /* NGX_CONF_UNSET_UINT: none */

    time_t                       leeway;
    time_t                       max_age;
    ngx_array_t                 *issuers;  /* of ngx_str_t */
    ngx_array_t                 *audiences;
    ngx_array_t                 *claims;   /* of ngx_ws_gateway_jwt_claim_t */
    size_t                       max_size;
    ngx_uint_t                   max_rsa_bits;

    ngx_str_t                    protocol_prefix;
    ngx_ws_gateway_expiry_t     *expiry;   /* NULL: sessions do not expire */

    ngx_array_t                 *origins;  /* of ngx_ws_gateway_origin_t */
    ngx_uint_t                   origin_missing;

    ngx_array_t                 *redact;   /* of ngx_str_t */

    ngx_ws_gateway_jwt_rules_t   rules;
} ngx_ws_gateway_auth_conf_t;


typedef struct {
    ngx_ws_gateway_jwt_t         jwt;
    ngx_uint_t                   reason;   /* NGX_WS_GATEWAY_JWT_* */
    unsigned                     checked:1;
    unsigned                     verified:1;
    unsigned                     origin_refused:1;
} ngx_ws_gateway_auth_ctx_t;


/* a variable set from a claim, possibly nested: "a" "b" is a.b */
typedef struct {
    ngx_array_t                 *path;     /* of ngx_str_t */
    ngx_uint_t                   header;
} ngx_ws_gateway_auth_claim_var_t;


static ngx_int_t ngx_ws_gateway_auth_origin_handler(ngx_http_request_t *r);
static ngx_int_t ngx_ws_gateway_auth_handler(ngx_http_request_t *r);
static ngx_int_t ngx_ws_gateway_auth_log_handler(ngx_http_request_t *r);
static ngx_int_t ngx_ws_gateway_auth_token(ngx_http_request_t *r,
    ngx_ws_gateway_auth_conf_t *conf, ngx_str_t *token);
static ngx_uint_t ngx_ws_gateway_auth_verify(ngx_http_request_t *r,
    ngx_ws_gateway_auth_conf_t *conf, ngx_ws_gateway_auth_ctx_t *ctx,
    ngx_str_t *token);
static ngx_int_t ngx_ws_gateway_auth_refuse(ngx_http_request_t *r,
    ngx_ws_gateway_auth_conf_t *conf, ngx_ws_gateway_auth_ctx_t *ctx);
static void ngx_ws_gateway_auth_flush_variables(ngx_http_request_t *r);
static ngx_ws_gateway_auth_ctx_t *ngx_ws_gateway_auth_ctx(
    ngx_http_request_t *r);
static u_char *ngx_ws_gateway_auth_log_request(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len);
static void ngx_ws_gateway_auth_redacted_marker(void *data);
static ngx_int_t ngx_ws_gateway_auth_keep_redacted(ngx_http_request_t *r,
    ngx_ws_gateway_auth_conf_t *conf);
static ngx_str_t *ngx_ws_gateway_auth_kept_redacted(ngx_http_request_t *r);
static ngx_uint_t ngx_ws_gateway_auth_redacted_arg(ngx_array_t *names,
    u_char *name, size_t len);
static ngx_int_t ngx_ws_gateway_auth_find_protocol(ngx_http_request_t *r,
    ngx_str_t *prefix, ngx_str_t *token);

static ngx_int_t ngx_ws_gateway_auth_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_ws_gateway_auth_init(ngx_conf_t *cf);
static void *ngx_ws_gateway_auth_create_conf(ngx_conf_t *cf);
static char *ngx_ws_gateway_auth_merge_conf(ngx_conf_t *cf, void *parent,
    void *child);

static char *ngx_ws_gateway_auth_jwt(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_ws_gateway_auth_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_ws_gateway_auth_load_jwks(ngx_conf_t *cf,
    ngx_ws_gateway_auth_conf_t *acf, ngx_str_t *file, u_char *data,
    size_t len, ngx_str_t *kid);
static char *ngx_ws_gateway_auth_add_key(ngx_conf_t *cf,
    ngx_ws_gateway_auth_conf_t *acf, ngx_ws_gateway_jwt_key_t *key);
static void ngx_ws_gateway_auth_free_key(void *data);
static char *ngx_ws_gateway_auth_alg(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_ws_gateway_auth_values(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_ws_gateway_auth_claim(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_ws_gateway_auth_claim_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_ws_gateway_auth_session_expiry(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_ws_gateway_auth_allow_origin(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_ws_gateway_auth_check_max_size(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_ws_gateway_auth_check_time(ngx_conf_t *cf, void *post,
    void *data);

static ngx_int_t ngx_ws_gateway_auth_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_ws_gateway_auth_claim_set_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_ws_gateway_auth_value(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_ws_gateway_json_t *json,
    ngx_ws_gateway_json_node_t *node);
static ngx_int_t ngx_ws_gateway_auth_payload_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_ws_gateway_auth_error_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_ws_gateway_auth_protocol_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_ws_gateway_auth_redacted_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_ws_gateway_auth_redact(ngx_http_request_t *r,
    ngx_ws_gateway_auth_conf_t *conf, ngx_http_variable_value_t *v);


static ngx_conf_post_handler_pt  ngx_ws_gateway_auth_max_size_post =
    ngx_ws_gateway_auth_check_max_size;

static ngx_conf_post_handler_pt  ngx_ws_gateway_auth_leeway_post =
    ngx_ws_gateway_auth_check_time;


/*
 * An RSA verification costs about the square of the modulus: 4096 bits
 * by default bounds what one forged token costs, a directive raises it.
 */

#define NGX_WS_GATEWAY_AUTH_RSA_BITS      4096

static ngx_conf_num_bounds_t  ngx_ws_gateway_auth_rsa_bits_bounds = {
    ngx_conf_check_num_bounds,
    NGX_WS_GATEWAY_JWT_MIN_RSA_BITS, NGX_WS_GATEWAY_JWT_MAX_RSA_BITS
};


static ngx_conf_enum_t  ngx_ws_gateway_auth_missing[] = {
    { ngx_string("allow"), 0 },
    { ngx_string("deny"), 1 },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_ws_gateway_auth_commands[] = {

    { ngx_string("ws_gateway_auth_jwt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_ws_gateway_auth_jwt,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_gateway_auth_jwt_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_ws_gateway_auth_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_gateway_auth_jwt_alg"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_ws_gateway_auth_alg,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_gateway_auth_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_auth_conf_t, leeway),
      &ngx_ws_gateway_auth_leeway_post },

    { ngx_string("ws_gateway_auth_jwt_max_age"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_auth_conf_t, max_age),
      &ngx_ws_gateway_auth_leeway_post },

    { ngx_string("ws_gateway_auth_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_ws_gateway_auth_values,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_auth_conf_t, issuers),
      NULL },

    { ngx_string("ws_gateway_auth_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_ws_gateway_auth_values,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_auth_conf_t, audiences),
      NULL },

    { ngx_string("ws_gateway_auth_jwt_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_ws_gateway_auth_claim,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_gateway_auth_jwt_claim_set"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_ws_gateway_auth_claim_set,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_gateway_auth_jwt_header_set"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_ws_gateway_auth_claim_set,
      NGX_HTTP_MAIN_CONF_OFFSET,
      1,
      NULL },

    { ngx_string("ws_gateway_auth_jwt_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_auth_conf_t, max_size),
      &ngx_ws_gateway_auth_max_size_post },

    { ngx_string("ws_gateway_auth_jwt_max_rsa_bits"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_auth_conf_t, max_rsa_bits),
      &ngx_ws_gateway_auth_rsa_bits_bounds },

    { ngx_string("ws_gateway_auth_jwt_protocol_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_auth_conf_t, protocol_prefix),
      NULL },

    { ngx_string("ws_gateway_auth_jwt_session_expiry"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_ws_gateway_auth_session_expiry,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_gateway_allow_origin"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_ws_gateway_auth_allow_origin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_gateway_origin_missing"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_auth_conf_t, origin_missing),
      &ngx_ws_gateway_auth_missing },

    { ngx_string("ws_gateway_redact_args"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_ws_gateway_auth_values,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_gateway_auth_conf_t, redact),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_ws_gateway_auth_module_ctx = {
    ngx_ws_gateway_auth_add_variables,     /* preconfiguration */
    ngx_ws_gateway_auth_init,              /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_ws_gateway_auth_create_conf,       /* create location configuration */
    ngx_ws_gateway_auth_merge_conf         /* merge location configuration */
};


ngx_module_t  ngx_ws_gateway_auth_module = {
    NGX_MODULE_V1,
    &ngx_ws_gateway_auth_module_ctx,       /* module context */
    ngx_ws_gateway_auth_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_ws_gateway_auth_vars[] = {

    { ngx_string("ws_gateway_jwt_claim_"), NULL,
      ngx_ws_gateway_auth_claim_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("ws_gateway_jwt_header_"), NULL,
      ngx_ws_gateway_auth_claim_variable, 1,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("ws_gateway_jwt_payload"), NULL,
      ngx_ws_gateway_auth_payload_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_gateway_auth_error"), NULL,
      ngx_ws_gateway_auth_error_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_gateway_protocol_token"), NULL,
      ngx_ws_gateway_auth_protocol_variable, 0, 0, 0 },

    { ngx_string("ws_gateway_redacted_request"), NULL,
      ngx_ws_gateway_auth_redacted_variable, 0, 0, 0 },

      ngx_http_null_variable
};


/* RFC 6750, 3: error_description by reason; "missing" has none */

static char  *ngx_ws_gateway_auth_descriptions[] = {
    NULL,
    NULL,
    "token too large",
    "malformed token",
    "algorithm not allowed",
    "unknown key",
    "invalid signature",
    "token expired",
    "token not yet valid",
    "invalid issuer",
    "invalid audience",
    "required claim missing or invalid"
};


typedef char  ngx_ws_gateway_auth_check_reasons[
    (sizeof(ngx_ws_gateway_auth_descriptions) / sizeof(char *)
     == NGX_WS_GATEWAY_JWT_REASONS
     && NGX_WS_GATEWAY_JWT_REASONS == NGX_WS_GATEWAY_AUTH_REASONS) ? 1 : -1];


/* the handlers */


static ngx_int_t
ngx_ws_gateway_auth_origin_handler(ngx_http_request_t *r)
{
    ngx_str_t                    origin;
    ngx_uint_t                   i, n;
    ngx_table_elt_t             *h;
    ngx_ws_gateway_origin_t     *o;
    ngx_ws_gateway_headers_t     walk;
    ngx_ws_gateway_auth_ctx_t   *ctx;
    ngx_ws_gateway_auth_conf_t  *conf;

    conf = ngx_http_get_module_loc_conf(r, ngx_ws_gateway_auth_module);

    /*
     * Where a token may be in the query, and in every auth location (a
     * client may send one there whatever the location reads), every
     * error-log line of the request shows its line redacted, from here
     * on (the location is known), also after an internal redirect to a
     * location that redacts nothing; NGINX's own handler is back for the
     * next request.
     */

    if ((conf->token_args || conf->redact || conf->enabled == 1)
        && r == r->main
        && r->log_handler != ngx_ws_gateway_auth_log_request)
    {
        if (ngx_ws_gateway_auth_keep_redacted(r, conf) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->log_handler = ngx_ws_gateway_auth_log_request;
    }

    if (conf->origins == NULL || r != r->main) {
        return NGX_DECLINED;
    }

    /* RFC 6454, 7.3: one Origin header, compared as serialized */

    ngx_str_null(&origin);
    n = 0;

    ngx_ws_gateway_headers_init(r, &walk);

    while ((h = ngx_ws_gateway_next_header(&walk, "Origin",
                                           sizeof("Origin") - 1))
           != NULL)
    {
        origin = h->value;
        n++;
    }

    if (n == 0) {
        if (!conf->origin_missing) {
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "WebSocket origin refused: no \"Origin\" header");

        goto refused;
    }

    if (n == 1) {
        o = conf->origins->elts;

        for (i = 0; i < conf->origins->nelts; i++) {

#if (NGX_PCRE)
            if (o[i].regex) {
                if (ngx_regex_exec(o[i].regex, &origin, NULL, 0) >= 0) {
                    return NGX_DECLINED;
                }

                continue;
            }
#endif

            if (o[i].name.len == origin.len
                && ngx_strncasecmp(o[i].name.data, origin.data, origin.len)
                   == 0)
            {
                return NGX_DECLINED;
            }
        }
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "WebSocket origin refused: \"%V\"%s", &origin,
                  n > 1 ? " (more than one \"Origin\" header)" : "");

refused:

    ctx = ngx_ws_gateway_auth_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->origin_refused = 1;

    ngx_ws_gateway_auth_flush_variables(r);

    return NGX_HTTP_FORBIDDEN;
}


static ngx_int_t
ngx_ws_gateway_auth_handler(ngx_http_request_t *r)
{
    ngx_str_t                    token;
    ngx_ws_gateway_auth_ctx_t   *ctx;
    ngx_ws_gateway_auth_conf_t  *conf;

    conf = ngx_http_get_module_loc_conf(r, ngx_ws_gateway_auth_module);

    if (conf->enabled != 1) {
        return NGX_DECLINED;
    }

    ctx = ngx_ws_gateway_auth_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->checked) {
        return ctx->verified ? NGX_OK : ngx_ws_gateway_auth_refuse(r, conf,
                                                                   ctx);
    }

    if (ngx_ws_gateway_auth_token(r, conf, &token) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->reason = ngx_ws_gateway_auth_verify(r, conf, ctx, &token);

    if (ctx->reason == (ngx_uint_t) NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->checked = 1;

    ngx_ws_gateway_auth_flush_variables(r);

    ngx_ws_gateway_metric_inc(auth[ctx->reason]);

    if (ctx->reason == NGX_WS_GATEWAY_JWT_OK) {
        ctx->verified = 1;
        return NGX_OK;
    }

    /* the request line in this line's context is the redacted one */

    if (ctx->reason == NGX_WS_GATEWAY_JWT_MISSING) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "WebSocket token refused: no token");

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "WebSocket token refused: %s, %s",
                      ngx_ws_gateway_auth_descriptions[ctx->reason],
                      ctx->jwt.error ? ctx->jwt.error : "");
    }

    return ngx_ws_gateway_auth_refuse(r, conf, ctx);
}


static ngx_int_t
ngx_ws_gateway_auth_token(ngx_http_request_t *r,
    ngx_ws_gateway_auth_conf_t *conf, ngx_str_t *token)
{
    u_char           *p, *end;
    ngx_table_elt_t  *h;

    if (conf->token) {
        return ngx_http_complex_value(r, conf->token, token);
    }

    /* RFC 6750, 2.1: Authorization: Bearer b64token */

    ngx_str_null(token);

    h = r->headers_in.authorization;

    if (h == NULL
        || h->value.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(h->value.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
    {
        return NGX_OK;
    }

    p = h->value.data + sizeof("Bearer ") - 1;
    end = h->value.data + h->value.len;

    while (p < end && *p == ' ') {
        p++;
    }

    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    token->data = p;
    token->len = end - p;

    return NGX_OK;
}


static ngx_uint_t
ngx_ws_gateway_auth_verify(ngx_http_request_t *r,
    ngx_ws_gateway_auth_conf_t *conf, ngx_ws_gateway_auth_ctx_t *ctx,
    ngx_str_t *token)
{
    u_char                      *buf;
    size_t                       size;
    ngx_uint_t                   rc, n;
    ngx_ws_gateway_json_node_t  *nodes;

    if (token->len == 0) {
        return NGX_WS_GATEWAY_JWT_MISSING;
    }

    if (token->len > conf->max_size) {
        ctx->jwt.error = "larger than ws_gateway_auth_jwt_max_size";
        return NGX_WS_GATEWAY_JWT_TOO_LARGE;
    }

    /*
     * The decoded token and its JSON trees live in the request's pool,
     * for the variables; the pool goes when the session starts.
     */

    size = ngx_ws_gateway_jwt_buf_size(token->len);
    n = ngx_ws_gateway_jwt_nodes(token->data, token->len);

    buf = ngx_pnalloc(r->pool, size);
    nodes = ngx_palloc(r->pool, n * sizeof(ngx_ws_gateway_json_node_t));

    if (buf == NULL || nodes == NULL) {
        return (ngx_uint_t) NGX_ERROR;
    }

    ngx_ws_gateway_jwt_init(&ctx->jwt, buf, size, nodes, n);

    rc = ngx_ws_gateway_jwt_decode(&ctx->jwt, token->data, token->len,
                                   conf->algs);
    if (rc != NGX_WS_GATEWAY_JWT_OK) {
        return rc;
    }

    rc = ngx_ws_gateway_jwt_verify(&ctx->jwt, conf->keys->elts,
                                   conf->keys->nelts);
    if (rc != NGX_WS_GATEWAY_JWT_OK) {
        return rc;
    }

    return ngx_ws_gateway_jwt_check_claims(&ctx->jwt, &conf->rules,
                                           ngx_time());
}


static ngx_int_t
ngx_ws_gateway_auth_refuse(ngx_http_request_t *r,
    ngx_ws_gateway_auth_conf_t *conf, ngx_ws_gateway_auth_ctx_t *ctx)
{
    u_char           *p;
    size_t            len;
    ngx_str_t         value;
    const char       *desc;
    ngx_table_elt_t  *h;

    if (r->headers_out.www_authenticate) {
        return NGX_HTTP_UNAUTHORIZED;
    }

    desc = ngx_ws_gateway_auth_descriptions[ctx->reason];

    len = sizeof("Bearer realm=\"\"") - 1 + conf->realm.len;

    if (desc) {
        len += sizeof(", error=\"invalid_token\", error_description=\"\"") - 1
               + ngx_strlen(desc);
    }

    value.data = ngx_pnalloc(r->pool, len);
    if (value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(value.data, "Bearer realm=\"%V\"", &conf->realm);

    if (desc) {
        p = ngx_sprintf(p, ", error=\"invalid_token\", "
                        "error_description=\"%s\"", desc);
    }

    value.len = p - value.data;

    h = ngx_ws_gateway_add_header(r, "WWW-Authenticate",
                                  sizeof("WWW-Authenticate") - 1, &value);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.www_authenticate = h;

    return NGX_HTTP_UNAUTHORIZED;
}


static ngx_int_t
ngx_ws_gateway_auth_log_handler(ngx_http_request_t *r)
{
    ngx_ws_gateway_auth_ctx_t  *ctx;

    /*
     * Refused handshakes are counted by their final status: under
     * "satisfy any" another module may still have let a request in.
     */

    ctx = ngx_http_get_module_ctx(r, ngx_ws_gateway_auth_module);

    if (ctx == NULL || ngx_ws_gateway_slot == NULL) {
        return NGX_OK;
    }

    if (r->headers_out.status == NGX_HTTP_FORBIDDEN && ctx->origin_refused) {
        ngx_ws_gateway_metric_inc(handshakes[NGX_WS_GATEWAY_HS_FORBIDDEN]);

    } else if (r->headers_out.status == NGX_HTTP_UNAUTHORIZED
               && ctx->checked && !ctx->verified)
    {
        ngx_ws_gateway_metric_inc(handshakes[NGX_WS_GATEWAY_HS_UNAUTHORIZED]);
    }

    return NGX_OK;
}


static void
ngx_ws_gateway_auth_flush_variables(ngx_http_request_t *r)
{
    ngx_uint_t                  i;
    ngx_http_variable_t        *v;
    ngx_http_core_main_conf_t  *cmcf;

    /*
     * The token's variables change now.  What an earlier phase read of
     * them (a "set", a limit_conn key) is cached in the request, and the
     * log module reads cached values as they are: forget them.
     */

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);
    v = cmcf->variables.elts;

    for (i = 0; i < cmcf->variables.nelts; i++) {
        if (v[i].get_handler == ngx_ws_gateway_auth_claim_variable
            || v[i].get_handler == ngx_ws_gateway_auth_claim_set_variable
            || v[i].get_handler == ngx_ws_gateway_auth_payload_variable
            || v[i].get_handler == ngx_ws_gateway_auth_error_variable)
        {
            r->variables[i].valid = 0;
            r->variables[i].not_found = 0;
        }
    }
}


static ngx_ws_gateway_auth_ctx_t *
ngx_ws_gateway_auth_ctx(ngx_http_request_t *r)
{
    ngx_ws_gateway_auth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_ws_gateway_auth_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_ws_gateway_auth_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_ws_gateway_auth_module);
    }

    return ctx;
}


static u_char *
ngx_ws_gateway_auth_log_request(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len)
{
    u_char                    *p;
    ngx_str_t                 *line;
    ngx_http_upstream_t       *u;
    ngx_http_core_srv_conf_t  *cscf;

    /*
     * ngx_http_log_error_handler() with the request line redacted (kept
     * when the handler was set: nothing is allocated here), and of the
     * upstream only its name
     */

    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);

    p = ngx_snprintf(buf, len, ", server: %V", &cscf->server_name);
    len -= p - buf;
    buf = p;

    line = ngx_ws_gateway_auth_kept_redacted(r);

    if (line && line->len) {
        p = ngx_snprintf(buf, len, ", request: \"%V\"", line);
        len -= p - buf;
        buf = p;
    }

    if (sr && sr != r) {
        p = ngx_snprintf(buf, len, ", subrequest: \"%V\"", &sr->uri);
        len -= p - buf;
        buf = p;
    }

    u = sr ? sr->upstream : NULL;

    if (u && u->peer.name) {
        p = ngx_snprintf(buf, len, ", upstream: \"%V%V\"", &u->schema,
                         u->peer.name);
        len -= p - buf;
        buf = p;
    }

    if (r->headers_in.host) {
        p = ngx_snprintf(buf, len, ", host: \"%V\"",
                         &r->headers_in.host->value);
        len -= p - buf;
        buf = p;
    }

    if (r->headers_in.referer) {
        p = ngx_snprintf(buf, len, ", referrer: \"%V\"",
                         &r->headers_in.referer->value);
    }

    return p;
}


static void
ngx_ws_gateway_auth_redacted_marker(void *data)
{
    /* marks the pool cleanup that keeps a request's redacted line */
}


static ngx_int_t
ngx_ws_gateway_auth_keep_redacted(ngx_http_request_t *r,
    ngx_ws_gateway_auth_conf_t *conf)
{
    ngx_str_t                  *line;
    ngx_pool_cleanup_t         *cln;
    ngx_http_variable_value_t   v;

    /*
     * The request line redacted as this location says, kept in the
     * request's pool: the pool and its cleanups survive an internal
     * redirect, the module's context does not.
     */

    ngx_memzero(&v, sizeof(ngx_http_variable_value_t));

    if (ngx_ws_gateway_auth_redact(r, conf, &v) != NGX_OK) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_str_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    line = cln->data;
    line->data = v.data;
    line->len = v.not_found ? 0 : v.len;

    cln->handler = ngx_ws_gateway_auth_redacted_marker;

    return NGX_OK;
}


static ngx_str_t *
ngx_ws_gateway_auth_kept_redacted(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_ws_gateway_auth_redacted_marker) {
            return cln->data;
        }
    }

    return NULL;
}


/* for the handshake and the session */


ngx_str_t *
ngx_ws_gateway_auth_protocol_prefix(ngx_http_request_t *r)
{
    ngx_ws_gateway_auth_conf_t  *conf;

    conf = ngx_http_get_module_loc_conf(r, ngx_ws_gateway_auth_module);

    return conf->protocol_prefix.len ? &conf->protocol_prefix : NULL;
}


time_t
ngx_ws_gateway_auth_expires(ngx_http_request_t *r)
{
    ngx_ws_gateway_auth_ctx_t   *ctx;
    ngx_ws_gateway_auth_conf_t  *conf;

    /* when the session is to be closed, or 0 */

    conf = ngx_http_get_module_loc_conf(r, ngx_ws_gateway_auth_module);
    ctx = ngx_http_get_module_ctx(r, ngx_ws_gateway_auth_module);

    if (conf->expiry == NULL || ctx == NULL || !ctx->verified
        || ctx->jwt.exp == 0)
    {
        return 0;
    }

    return (time_t) ngx_ws_gateway_jwt_session_expires(ctx->jwt.exp,
                                                       conf->leeway,
                                                       NGX_MAX_TIME_T_VALUE);
}


ngx_ws_gateway_expiry_t *
ngx_ws_gateway_auth_expiry(void *conf)
{
    ngx_ws_gateway_auth_conf_t  *acf = conf;

    static ngx_ws_gateway_expiry_t  policy = {
        NGX_WS_GATEWAY_CLOSE_POLICY, "token expired"
    };

    /* a session has an expiry only where the location sets one */

    return (acf && acf->expiry) ? acf->expiry : &policy;
}


static ngx_int_t
ngx_ws_gateway_auth_find_protocol(ngx_http_request_t *r, ngx_str_t *prefix,
    ngx_str_t *token)
{
    u_char                    *p, *end;
    ngx_str_t                  entry;
    ngx_table_elt_t           *h;
    ngx_ws_gateway_headers_t   walk;

    /*
     * the first Sec-WebSocket-Protocol entry that carries a token, by
     * the rule the handshake skips it with when it selects one
     */

    ngx_ws_gateway_headers_init(r, &walk);

    for ( ;; ) {
        h = ngx_ws_gateway_next_header(&walk, "Sec-WebSocket-Protocol",
                                       sizeof("Sec-WebSocket-Protocol") - 1);
        if (h == NULL) {
            break;
        }

        p = h->value.data;
        end = p + h->value.len;

        while (ngx_ws_gateway_next_token(&p, end, &entry) == NGX_OK) {
            if (ngx_ws_gateway_protocol_token(&entry, prefix, token)
                == NGX_OK)
            {
                return NGX_OK;
            }
        }
    }

    return NGX_DECLINED;
}


/* variables */


static ngx_int_t
ngx_ws_gateway_auth_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    size_t                       n;
    ngx_str_t                   *name;
    ngx_ws_gateway_json_t       *json;
    ngx_ws_gateway_auth_ctx_t   *ctx;
    ngx_ws_gateway_json_node_t  *node;

    /* NGX_HTTP_VAR_PREFIX: data is the variable's whole name */

    name = (ngx_str_t *) data;

    ctx = ngx_http_get_module_ctx(r, ngx_ws_gateway_auth_module);

    v->not_found = 1;

    if (ctx == NULL || !ctx->verified) {
        v->no_cacheable = 1;
        return NGX_OK;
    }

    if (name->len > sizeof("ws_gateway_jwt_header_") - 1
        && ngx_strncmp(name->data, "ws_gateway_jwt_header_",
                       sizeof("ws_gateway_jwt_header_") - 1) == 0)
    {
        n = sizeof("ws_gateway_jwt_header_") - 1;
        json = &ctx->jwt.header;
        node = ngx_ws_gateway_jwt_header(&ctx->jwt, name->data + n,
                                         name->len - n);

    } else {
        n = sizeof("ws_gateway_jwt_claim_") - 1;
        json = &ctx->jwt.claims;
        node = ngx_ws_gateway_jwt_claim(&ctx->jwt, name->data + n,
                                        name->len - n);
    }

    if (node == NULL) {
        return NGX_OK;
    }

    return ngx_ws_gateway_auth_value(r, v, json, node);
}


static ngx_int_t
ngx_ws_gateway_auth_claim_set_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_ws_gateway_auth_claim_var_t *cv = (void *) data;

    ngx_str_t                   *path;
    ngx_uint_t                   i;
    ngx_ws_gateway_json_t       *json;
    ngx_ws_gateway_auth_ctx_t   *ctx;
    ngx_ws_gateway_json_node_t  *node;

    ctx = ngx_http_get_module_ctx(r, ngx_ws_gateway_auth_module);

    v->not_found = 1;

    if (ctx == NULL || !ctx->verified) {

        /* not yet known before the access phase */

        v->no_cacheable = 1;
        return NGX_OK;
    }

    json = cv->header ? &ctx->jwt.header : &ctx->jwt.claims;
    node = ngx_ws_gateway_json_root(json);
    path = cv->path->elts;

    for (i = 0; node && i < cv->path->nelts; i++) {
        node = ngx_ws_gateway_json_get(json, node, path[i].data,
                                       path[i].len);
    }

    if (node == NULL) {
        return NGX_OK;
    }

    return ngx_ws_gateway_auth_value(r, v, json, node);
}


static ngx_int_t
ngx_ws_gateway_auth_value(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_ws_gateway_json_t *json,
    ngx_ws_gateway_json_node_t *node)
{
    u_char  *p;
    size_t   len;

    len = ngx_ws_gateway_jwt_value(json, node, NULL, 0);

    if (node->type == NGX_WS_GATEWAY_JSON_ARRAY) {
        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        (void) ngx_ws_gateway_jwt_value(json, node, p, len);

    } else {
        p = node->value.data;
    }

    v->data = p;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_ws_gateway_auth_payload_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_ws_gateway_auth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_ws_gateway_auth_module);

    if (ctx == NULL || !ctx->verified) {
        v->not_found = 1;
        v->no_cacheable = 1;
        return NGX_OK;
    }

    v->data = ctx->jwt.payload_json.data;
    v->len = ctx->jwt.payload_json.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_ws_gateway_auth_error_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    const char                 *name;
    ngx_ws_gateway_auth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_ws_gateway_auth_module);

    if (ctx && ctx->origin_refused) {
        name = "origin";

    } else if (ctx && ctx->checked && !ctx->verified) {
        name = ngx_ws_gateway_jwt_reasons[ctx->reason];

    } else {
        name = "";
    }

    v->data = (u_char *) name;
    v->len = ngx_strlen(name);
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_ws_gateway_auth_protocol_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                    token;
    ngx_ws_gateway_auth_conf_t  *conf;

    conf = ngx_http_get_module_loc_conf(r, ngx_ws_gateway_auth_module);

    if (conf->protocol_prefix.len == 0
        || ngx_ws_gateway_auth_find_protocol(r, &conf->protocol_prefix,
                                             &token)
           != NGX_OK)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = token.data;
    v->len = token.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_uint_t
ngx_ws_gateway_auth_redacted_arg(ngx_array_t *names, u_char *name,
    size_t len)
{
    ngx_str_t   *s;
    ngx_uint_t   i;

    /* as $arg_ compares names: without regard to case */

    if (names == NULL) {
        return 0;
    }

    s = names->elts;

    for (i = 0; i < names->nelts; i++) {
        if (s[i].len == len && ngx_strncasecmp(s[i].data, name, len) == 0) {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_ws_gateway_auth_redacted_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  *line;

    /* as redacted where the token was read, after a redirect too */

    line = ngx_ws_gateway_auth_kept_redacted(r->main);

    if (line) {
        v->data = line->data;
        v->len = line->len;
        v->valid = 1;
        v->no_cacheable = 0;
        v->not_found = (line->len == 0);

        return NGX_OK;
    }

    return ngx_ws_gateway_auth_redact(r,
               ngx_http_get_module_loc_conf(r, ngx_ws_gateway_auth_module),
               v);
}


static ngx_int_t
ngx_ws_gateway_auth_redact(ngx_http_request_t *r,
    ngx_ws_gateway_auth_conf_t *conf, ngx_http_variable_value_t *v)
{
    u_char      *p, *q, *start, *end, *name_end, *out;
    ngx_uint_t   redact, all;

    if (r->request_line.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    /*
     * $request, with the values of the query arguments that may carry
     * tokens replaced: the arguments are found as $arg_ finds them
     */

    start = r->request_line.data;
    end = start + r->request_line.len;

    p = ngx_strlchr(start, end, '?');

    /*
     * an auth location that does not read its token from the query does
     * not know which argument a client put one in: all values go
     */

    all = (conf->enabled == 1 && conf->token_args == NULL);

    if (p == NULL
        || (conf->redact == NULL && conf->token_args == NULL && !all))
    {
        v->data = start;
        v->len = end - start;
        goto done;
    }

    /* at worst every byte an argument of its own, "a=&" */

    out = ngx_pnalloc(r->pool, r->request_line.len
                               + (r->request_line.len / 2 + 1)
                                 * (sizeof(NGX_WS_GATEWAY_AUTH_REDACTED) - 1));
    if (out == NULL) {
        return NGX_ERROR;
    }

    q = ngx_cpymem(out, start, p + 1 - start);
    p++;

    /* the query ends at the first space before the protocol */

    while (p < end && *p != ' ') {
        name_end = p;

        while (name_end < end && *name_end != '=' && *name_end != '&'
               && *name_end != ' ')
        {
            name_end++;
        }

        redact = all
                 || ngx_ws_gateway_auth_redacted_arg(conf->token_args, p,
                                                     name_end - p)
                 || ngx_ws_gateway_auth_redacted_arg(conf->redact, p,
                                                     name_end - p);

        q = ngx_cpymem(q, p, name_end - p);
        p = name_end;

        if (p < end && *p == '=') {
            *q++ = *p++;

            start = p;

            while (p < end && *p != '&' && *p != ' ') {
                p++;
            }

            if (redact) {
                q = ngx_cpymem(q, NGX_WS_GATEWAY_AUTH_REDACTED,
                               sizeof(NGX_WS_GATEWAY_AUTH_REDACTED) - 1);

            } else {
                q = ngx_cpymem(q, start, p - start);
            }
        }

        if (p < end && *p == '&') {
            *q++ = *p++;
        }
    }

    q = ngx_cpymem(q, p, end - p);

    v->data = out;
    v->len = q - out;

done:

    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/* configuration */


static ngx_int_t
ngx_ws_gateway_auth_add_variables(ngx_conf_t *cf)
{
    return ngx_ws_gateway_add_variable_table(cf, ngx_ws_gateway_auth_vars);
}


static ngx_int_t
ngx_ws_gateway_auth_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_ws_gateway_auth_origin_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_ws_gateway_auth_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_ws_gateway_auth_log_handler;

    return NGX_OK;
}


static void *
ngx_ws_gateway_auth_create_conf(ngx_conf_t *cf)
{
    ngx_ws_gateway_auth_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_ws_gateway_auth_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->realm = { 0, NULL };
     *     conf->token_args = NULL;
     *     conf->file = NULL;
     *     conf->line = 0;
     *     conf->protocol_prefix = { 0, NULL };
     *     conf->rules = { 0 };
     */

    conf->enabled = NGX_CONF_UNSET;
    conf->token = NGX_CONF_UNSET_PTR;
    conf->keys = NGX_CONF_UNSET_PTR;
    conf->algs = NGX_CONF_UNSET_UINT;
    conf->leeway = NGX_CONF_UNSET;
    conf->max_age = NGX_CONF_UNSET;
    conf->issuers = NGX_CONF_UNSET_PTR;
    conf->audiences = NGX_CONF_UNSET_PTR;
    conf->claims = NGX_CONF_UNSET_PTR;
    conf->max_size = NGX_CONF_UNSET_SIZE;
    conf->max_rsa_bits = NGX_CONF_UNSET_UINT;
    conf->expiry = NGX_CONF_UNSET_PTR;
    conf->origins = NGX_CONF_UNSET_PTR;
    conf->origin_missing = NGX_CONF_UNSET_UINT;
    conf->redact = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_ws_gateway_auth_merge_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_ws_gateway_auth_conf_t *prev = parent;
    ngx_ws_gateway_auth_conf_t *conf = child;

    ngx_uint_t                 i, k, usable;
    ngx_ws_gateway_jwt_key_t  *keys;

    if (conf->enabled == NGX_CONF_UNSET) {
        conf->enabled = prev->enabled;
        conf->realm = prev->realm;
        conf->token = prev->token;
        conf->token_args = prev->token_args;
        conf->file = prev->file;
        conf->line = prev->line;
    }

    ngx_conf_merge_value(conf->enabled, prev->enabled, 0);
    ngx_conf_merge_ptr_value(conf->token, prev->token, NULL);
    ngx_conf_merge_ptr_value(conf->keys, prev->keys, NULL);
    ngx_conf_merge_uint_value(conf->algs, prev->algs, 0);
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 0);
    ngx_conf_merge_sec_value(conf->max_age, prev->max_age, 0);
    ngx_conf_merge_ptr_value(conf->issuers, prev->issuers, NULL);
    ngx_conf_merge_ptr_value(conf->audiences, prev->audiences, NULL);
    ngx_conf_merge_ptr_value(conf->claims, prev->claims, NULL);
    ngx_conf_merge_size_value(conf->max_size, prev->max_size, 8192);
    ngx_conf_merge_uint_value(conf->max_rsa_bits, prev->max_rsa_bits,
                              NGX_WS_GATEWAY_AUTH_RSA_BITS);
    ngx_conf_merge_str_value(conf->protocol_prefix, prev->protocol_prefix,
                             "");
    ngx_conf_merge_ptr_value(conf->expiry, prev->expiry, NULL);
    ngx_conf_merge_ptr_value(conf->origins, prev->origins, NULL);
    ngx_conf_merge_uint_value(conf->origin_missing, prev->origin_missing, 0);
    ngx_conf_merge_ptr_value(conf->redact, prev->redact, NULL);

    conf->rules.leeway = conf->leeway;
    conf->rules.max_age = conf->max_age;

    if (conf->issuers) {
        conf->rules.issuers = conf->issuers->elts;
        conf->rules.nissuers = conf->issuers->nelts;
    }

    if (conf->audiences) {
        conf->rules.audiences = conf->audiences->elts;
        conf->rules.naudiences = conf->audiences->nelts;
    }

    if (conf->claims) {
        conf->rules.claims = conf->claims->elts;
        conf->rules.nclaims = conf->claims->nelts;
    }

    if (conf->enabled != 1) {
        return NGX_CONF_OK;
    }

    /* what a token could never pass is a configuration error */

    /*
     * The location is complete only now: the error names where auth was
     * turned on, as ngx_http_ssl_module does for its certificates.
     */

    if (conf->algs == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"ws_gateway_auth_jwt\" requires "
                      "\"ws_gateway_auth_jwt_alg\" (the algorithms are "
                      "never taken from the token) in %s:%ui",
                      conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    if (conf->keys == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"ws_gateway_auth_jwt\" requires "
                      "\"ws_gateway_auth_jwt_key_file\" in %s:%ui",
                      conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    keys = conf->keys->elts;

    for (k = 0; k < conf->keys->nelts; k++) {
        if (keys[k].family != NGX_WS_GATEWAY_JWT_KEY_RSA
            || (ngx_uint_t) EVP_PKEY_bits(keys[k].pkey) <= conf->max_rsa_bits)
        {
            continue;
        }

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"ws_gateway_auth_jwt_key_file\" RSA key%s%V%s of "
                      "%d bits is longer than "
                      "\"ws_gateway_auth_jwt_max_rsa_bits\" %ui, for "
                      "\"ws_gateway_auth_jwt\" in %s:%ui",
                      keys[k].kid.len ? " \"" : "", &keys[k].kid,
                      keys[k].kid.len ? "\"" : "",
                      EVP_PKEY_bits(keys[k].pkey), conf->max_rsa_bits,
                      conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < NGX_WS_GATEWAY_JWT_ALGS; i++) {
        if (!(conf->algs & ((ngx_uint_t) 1 << i))) {
            continue;
        }

        usable = 0;

        for (k = 0; k < conf->keys->nelts; k++) {
            if (keys[k].algs & ((ngx_uint_t) 1 << i)) {
                usable = 1;
                break;
            }
        }

        if (!usable) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"ws_gateway_auth_jwt_alg\" allows \"%s\" but "
                          "no \"ws_gateway_auth_jwt_key_file\" key can "
                          "verify it, for \"ws_gateway_auth_jwt\" in %s:%ui",
                          ngx_ws_gateway_jwt_algs[i], conf->file,
                          conf->line);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_auth_jwt(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_gateway_auth_conf_t *acf = conf;

    u_char                            *p, *q;
    ngx_str_t                         *value, v, *name;
    ngx_http_compile_complex_value_t   ccv;

    if (acf->enabled != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no parameters after \"off\"";
        }

        acf->enabled = 0;
        acf->token = NULL;
        return NGX_CONF_OK;
    }

    /* the realm goes into a quoted-string of WWW-Authenticate */

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (*p == '"' || *p == '\\' || *p < 0x20 || *p == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid realm \"%V\" in \"%V\": quotes, "
                               "backslashes and control characters are not "
                               "allowed", &value[1], &value[0]);
            return NGX_CONF_ERROR;
        }
    }

    acf->enabled = 1;
    acf->realm = value[1];
    acf->token = NULL;
    acf->file = cf->conf_file->file.name.data;
    acf->line = cf->conf_file->line;

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[2].data, "token=", 6) != 0 || value[2].len == 6) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\"",
                           &value[2], &value[0]);
        return NGX_CONF_ERROR;
    }

    v.data = value[2].data + 6;
    v.len = value[2].len - 6;

    acf->token = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (acf->token == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &v;
    ccv.complex_value = acf->token;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /*
     * a token in the query is kept out of $ws_gateway_redacted_request
     * and the error log: every $arg_name and ${arg_name} of the value
     */

    acf->token_args = ngx_array_create(cf->pool, 1, sizeof(ngx_str_t));
    if (acf->token_args == NULL) {
        return NGX_CONF_ERROR;
    }

    for (p = v.data; p < v.data + v.len; p++) {
        if (*p != '$') {
            continue;
        }

        q = p + 1;

        if (q < v.data + v.len && *q == '{') {
            q++;
        }

        /* variable names are not case-sensitive: $ARG_x is $arg_x */

        if ((size_t) (v.data + v.len - q) <= sizeof("arg_") - 1
            || ngx_strncasecmp(q, (u_char *) "arg_", sizeof("arg_") - 1)
               != 0)
        {
            continue;
        }

        q += sizeof("arg_") - 1;

        name = ngx_array_push(acf->token_args);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        name->data = q;

        while (q < v.data + v.len
               && ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')
                   || (*q >= '0' && *q <= '9') || *q == '_'))
        {
            q++;
        }

        name->len = q - name->data;
    }

    if (acf->token_args->nelts == 0) {
        acf->token_args = NULL;
    }

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_auth_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_gateway_auth_conf_t *acf = conf;

    u_char                    *data, *end, *p;
    char                      *rv;
    size_t                     len;
    ssize_t                    n;
    ngx_fd_t                   fd;
    ngx_str_t                 *value, file, kid;
    ngx_uint_t                 i, format;
    ngx_file_info_t            fi;
    const char                *err;
    ngx_ws_gateway_jwt_key_t   key;

    value = cf->args->elts;
    format = NGX_WS_GATEWAY_KEY_AUTO;
    ngx_str_null(&kid);

    for (i = 2; i < cf->args->nelts; i++) {

        if (format == NGX_WS_GATEWAY_KEY_AUTO
            && ngx_strcmp(value[i].data, "jwks") == 0)
        {
            format = NGX_WS_GATEWAY_KEY_JWKS;

        } else if (format == NGX_WS_GATEWAY_KEY_AUTO
                   && ngx_strcmp(value[i].data, "pem") == 0)
        {
            format = NGX_WS_GATEWAY_KEY_PEM;

        } else if (format == NGX_WS_GATEWAY_KEY_AUTO
                   && ngx_strcmp(value[i].data, "hmac") == 0)
        {
            format = NGX_WS_GATEWAY_KEY_HMAC;

        } else if (ngx_strncmp(value[i].data, "kid=", 4) == 0
                   && value[i].len > 4 && kid.len == 0)
        {
            kid.data = value[i].data + 4;
            kid.len = value[i].len - 4;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in \"%V\"",
                               &value[i], &value[0]);
            return NGX_CONF_ERROR;
        }
    }

    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%V\": cannot open key file \"%V\"",
                           &value[0], &file);
        return NGX_CONF_ERROR;
    }

    data = NULL;
    len = 0;
    rv = NGX_CONF_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%V\": cannot stat key file \"%V\"",
                           &value[0], &file);
        goto done;
    }

    len = ngx_file_size(&fi);

    if (len == 0 || len > NGX_WS_GATEWAY_AUTH_KEY_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\": key file \"%V\" is %s",
                           &value[0], &file,
                           len ? "larger than 1m" : "empty");
        goto done;
    }

    /* kept for the life of the configuration: secrets and kids point in */

    data = ngx_pnalloc(cf->pool, len + 1);
    if (data == NULL) {
        goto done;
    }

    n = ngx_read_fd(fd, data, len);

    if (n == -1 || (size_t) n != len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%V\": cannot read key file \"%V\"",
                           &value[0], &file);
        goto done;
    }

    data[len] = '\0';

    if (format == NGX_WS_GATEWAY_KEY_AUTO) {
        for (p = data; p < data + len; p++) {
            if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
                break;
            }
        }

        if (p < data + len && *p == '{') {
            format = NGX_WS_GATEWAY_KEY_JWKS;

        } else if ((size_t) (data + len - p) > 10
                   && ngx_strncmp(p, "-----BEGIN", 10) == 0)
        {
            format = NGX_WS_GATEWAY_KEY_PEM;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\": key file \"%V\" is neither a JWKS "
                               "nor a PEM file; add \"hmac\" for a raw "
                               "HMAC secret", &value[0], &file);
            goto done;
        }
    }

    ngx_memzero(&key, sizeof(ngx_ws_gateway_jwt_key_t));

    switch (format) {

    case NGX_WS_GATEWAY_KEY_JWKS:
        rv = ngx_ws_gateway_auth_load_jwks(cf, acf, &file, data, len, &kid);
        goto done;

    case NGX_WS_GATEWAY_KEY_PEM:
        err = ngx_ws_gateway_jwt_key_pem(&key, data, len);
        break;

    default: /* HMAC */

        /* the file's bytes, without the newline an editor adds */

        end = data + len;

        if (end > data && end[-1] == '\n') {
            end--;

            if (end > data && end[-1] == '\r') {
                end--;
            }
        }

        /* a public key taken for a secret: anyone could sign */

        for (p = data; p < end; p++) {
            if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
                break;
            }
        }

        if ((p < end && *p == '{')
            || ((size_t) (end - p) > 10
                && ngx_strncmp(p, "-----BEGIN", 10) == 0))
        {
            err = "a PEM or JWKS file given as a raw HMAC secret (\"hmac\")";

        } else {
            err = ngx_ws_gateway_jwt_key_secret(&key, data, end - data);
        }
    }

    if (err) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\": key file \"%V\": %s",
                           &value[0], &file, err);
        goto done;
    }

    key.kid = kid;

    rv = ngx_ws_gateway_auth_add_key(cf, acf, &key);

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", &file);
    }

    return rv;
}


static char *
ngx_ws_gateway_auth_load_jwks(ngx_conf_t *cf, ngx_ws_gateway_auth_conf_t *acf,
    ngx_str_t *file, u_char *data, size_t len, ngx_str_t *kid)
{
    u_char                      *scratch, *buf;
    char                        *rv;
    ngx_int_t                    rc;
    ngx_uint_t                   n, index, added;
    const char                  *reason;
    ngx_ws_gateway_json_t        json;
    ngx_ws_gateway_jwt_key_t     key;
    ngx_ws_gateway_json_node_t  *nodes, *root, *keys, *jwk;

    if (kid->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ws_gateway_auth_jwt_key_file\": \"kid=\" "
                           "cannot be given to a JWKS key file, its keys "
                           "have their own");
        return NGX_CONF_ERROR;
    }

    /* the tree is temporary; the scratch keeps decoded kids and secrets */

    n = len / 2 + 2;

    nodes = ngx_palloc(cf->temp_pool, n * sizeof(ngx_ws_gateway_json_node_t));
    scratch = ngx_pnalloc(cf->pool, len);

    if (nodes == NULL || scratch == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_ws_gateway_json_init(&json, nodes, n, scratch, len);

    json.max_size = NGX_WS_GATEWAY_AUTH_KEY_FILE_MAX;

    if (ngx_ws_gateway_json_parse(&json, data, len) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ws_gateway_auth_jwt_key_file\": JWKS \"%V\" "
                           "is not valid JSON: %s at offset %uz",
                           file, json.error, json.offset);
        return NGX_CONF_ERROR;
    }

    root = ngx_ws_gateway_json_root(&json);

    /* a JWK Set (RFC 7517, 5), or one JWK */

    keys = ngx_ws_gateway_json_get(&json, root, (u_char *) "keys", 4);

    if (keys == NULL) {
        if (ngx_ws_gateway_json_get(&json, root, (u_char *) "kty", 3)
            == NULL)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"ws_gateway_auth_jwt_key_file\": JWKS "
                               "\"%V\" has no \"keys\" array", file);
            return NGX_CONF_ERROR;
        }

        jwk = root;

    } else if (keys->type != NGX_WS_GATEWAY_JSON_ARRAY) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ws_gateway_auth_jwt_key_file\": JWKS \"%V\": "
                           "\"keys\" is not an array", file);
        return NGX_CONF_ERROR;

    } else {
        jwk = ngx_ws_gateway_json_first(&json, keys);
    }

    index = 0;
    added = 0;

    for ( /* void */ ; jwk; jwk = keys ? ngx_ws_gateway_json_next(&json, jwk)
                                       : NULL)
    {
        buf = ngx_pnalloc(cf->pool, jwk->value.len + 1);
        if (buf == NULL) {
            return NGX_CONF_ERROR;
        }

        reason = NULL;

        rc = ngx_ws_gateway_jwt_key_jwk(&key, &json, jwk, buf, &reason);

        if (rc == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"ws_gateway_auth_jwt_key_file\": JWKS "
                               "\"%V\", key %ui%s%V%s: %s", file, index,
                               key.kid.len ? " \"" : "", &key.kid,
                               key.kid.len ? "\"" : "", reason);
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DECLINED) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "\"ws_gateway_auth_jwt_key_file\": JWKS "
                               "\"%V\", key %ui skipped: %s", file, index,
                               reason);
            index++;
            continue;
        }

        rv = ngx_ws_gateway_auth_add_key(cf, acf, &key);
        if (rv != NGX_CONF_OK) {
            return rv;
        }

        index++;
        added++;
    }

    if (added == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ws_gateway_auth_jwt_key_file\": JWKS \"%V\" "
                           "has no key for verifying signatures", file);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_auth_add_key(ngx_conf_t *cf, ngx_ws_gateway_auth_conf_t *acf,
    ngx_ws_gateway_jwt_key_t *key)
{
    ngx_pool_cleanup_t        *cln;
    ngx_ws_gateway_jwt_key_t  *k;

    if (acf->keys == NGX_CONF_UNSET_PTR) {
        acf->keys = ngx_array_create(cf->pool, 2,
                                     sizeof(ngx_ws_gateway_jwt_key_t));
        if (acf->keys == NULL) {
            ngx_ws_gateway_jwt_key_free(key);
            return NGX_CONF_ERROR;
        }
    }

    k = ngx_array_push(acf->keys);
    if (k == NULL) {
        ngx_ws_gateway_jwt_key_free(key);
        return NGX_CONF_ERROR;
    }

    *k = *key;

    if (k->pkey == NULL) {
        return NGX_CONF_OK;
    }

    /* the EVP_PKEY goes with the configuration */

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ws_gateway_jwt_key_free(k);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_ws_gateway_auth_free_key;
    cln->data = k->pkey;

    return NGX_CONF_OK;
}


static void
ngx_ws_gateway_auth_free_key(void *data)
{
    EVP_PKEY_free(data);
}


static char *
ngx_ws_gateway_auth_alg(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_gateway_auth_conf_t *acf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i, alg;

    if (acf->algs != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    acf->algs = 0;

    for (i = 1; i < cf->args->nelts; i++) {
        alg = ngx_ws_gateway_jwt_alg(value[i].data, value[i].len);

        if (alg == NGX_WS_GATEWAY_JWT_ALG_NONE) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid algorithm \"%V\" in \"%V\"%s",
                               &value[i], &value[0],
                               ngx_strcasecmp(value[i].data,
                                              (u_char *) "none") == 0
                               ? ": unsigned tokens are never accepted"
                               : ", use HS256, HS384, HS512, RS256, RS384, "
                                 "RS512, PS256, PS384, PS512, ES256, ES384, "
                                 "ES512 or EdDSA");
            return NGX_CONF_ERROR;
        }

        acf->algs |= (ngx_uint_t) 1 << alg;
    }

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_auth_values(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t     *value, *s;
    ngx_uint_t     i;
    ngx_array_t  **a;

    /* ngx_conf_set_str_array_slot(), with every argument; repeatable */

    a = (ngx_array_t **) (p + cmd->offset);

    if (*a == NGX_CONF_UNSET_PTR) {
        *a = ngx_array_create(cf->pool, cf->args->nelts - 1,
                              sizeof(ngx_str_t));
        if (*a == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        s = ngx_array_push(*a);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
    }

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_auth_claim(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_gateway_auth_conf_t *acf = conf;

    ngx_str_t                   *value, *s;
    ngx_uint_t                   i;
    ngx_ws_gateway_jwt_claim_t  *claim;

    if (acf->claims == NGX_CONF_UNSET_PTR) {
        acf->claims = ngx_array_create(cf->pool, 2,
                                       sizeof(ngx_ws_gateway_jwt_claim_t));
        if (acf->claims == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    claim = ngx_array_push(acf->claims);
    if (claim == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    claim->name = value[1];
    claim->values = NULL;

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    claim->values = ngx_array_create(cf->pool, cf->args->nelts - 2,
                                     sizeof(ngx_str_t));
    if (claim->values == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        s = ngx_array_push(claim->values);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
    }

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_auth_claim_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t                        *value, *s, name;
    ngx_uint_t                        i;
    ngx_http_variable_t              *var;
    ngx_ws_gateway_auth_claim_var_t  *cv;

    value = cf->args->elts;
    name = value[1];

    if (name.len < 2 || name.data[0] != '$') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid variable name \"%V\" in \"%V\"",
                           &name, &value[0]);
        return NGX_CONF_ERROR;
    }

    name.data++;
    name.len--;

    var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_CHANGEABLE);
    if (var == NULL) {
        return NGX_CONF_ERROR;
    }

    cv = ngx_palloc(cf->pool, sizeof(ngx_ws_gateway_auth_claim_var_t));
    if (cv == NULL) {
        return NGX_CONF_ERROR;
    }

    cv->header = cmd->offset;

    cv->path = ngx_array_create(cf->pool, cf->args->nelts - 2,
                                sizeof(ngx_str_t));
    if (cv->path == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        s = ngx_array_push(cv->path);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
    }

    var->get_handler = ngx_ws_gateway_auth_claim_set_variable;
    var->data = (uintptr_t) cv;

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_auth_session_expiry(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_ws_gateway_auth_conf_t *acf = conf;

    ngx_int_t                 code;
    ngx_str_t                *value;
    ngx_uint_t                state;
    ngx_ws_gateway_expiry_t  *expiry;

    if (acf->expiry != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no reason after \"off\"";
        }

        acf->expiry = NULL;
        return NGX_CONF_OK;
    }

    expiry = ngx_pcalloc(cf->pool, sizeof(ngx_ws_gateway_expiry_t));
    if (expiry == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_strcmp(value[1].data, "on") == 0) {
        code = NGX_WS_GATEWAY_CLOSE_POLICY;

    } else {
        code = ngx_atoi(value[1].data, value[1].len);

        /* codes an endpoint may send (RFC 6455, 7.4) */

        if (code != NGX_WS_GATEWAY_CLOSE_NORMAL
            && code != NGX_WS_GATEWAY_CLOSE_GOING_AWAY
            && code != NGX_WS_GATEWAY_CLOSE_POLICY
            && code != NGX_WS_GATEWAY_CLOSE_INTERNAL
            && code != NGX_WS_GATEWAY_CLOSE_TRY_AGAIN
            && (code < 3000 || code > 4999))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid close code \"%V\" in \"%V\": use "
                               "\"on\", 1000, 1001, 1008, 1011, 1013 or "
                               "3000-4999", &value[1], &value[0]);
            return NGX_CONF_ERROR;
        }
    }

    expiry->code = code;

    if (cf->args->nelts == 3) {
        expiry->reason = (char *) value[2].data;

        state = NGX_WS_GATEWAY_UTF8_ACCEPT;

        if (value[2].len > NGX_WS_GATEWAY_CONTROL_MAX - 2
            || ngx_ws_gateway_utf8_check(&state, value[2].data, value[2].len)
               != NGX_OK
            || !ngx_ws_gateway_utf8_complete(state))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid close reason \"%V\" in \"%V\": at "
                               "most 123 bytes of UTF-8", &value[2],
                               &value[0]);
            return NGX_CONF_ERROR;
        }

    } else {
        expiry->reason = "token expired";
    }

    acf->expiry = expiry;

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_auth_allow_origin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_ws_gateway_auth_conf_t *acf = conf;

    u_char                   *p;
    ngx_str_t                *value;
    ngx_uint_t                i;
    ngx_ws_gateway_origin_t  *o;

#if (NGX_PCRE)
    u_char                    errstr[NGX_MAX_CONF_ERRSTR];
    ngx_regex_compile_t       rc;
#endif

    if (acf->origins == NGX_CONF_UNSET_PTR) {
        acf->origins = ngx_array_create(cf->pool, 4,
                                        sizeof(ngx_ws_gateway_origin_t));
        if (acf->origins == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        o = ngx_array_push(acf->origins);
        if (o == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(o, sizeof(ngx_ws_gateway_origin_t));

        if (value[i].len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty origin in \"%V\"",
                               &value[0]);
            return NGX_CONF_ERROR;
        }

        if (value[i].data[0] != '~') {

            /* scheme "://" host [":" port], or "null" (RFC 6454, 6.1) */

            o->name = value[i];

            p = ngx_strlchr(o->name.data, o->name.data + o->name.len, ':');

            if (!(o->name.len == 4
                  && ngx_strncmp(o->name.data, "null", 4) == 0)
                && (p == NULL || o->name.data + o->name.len - p < 4
                    || p[1] != '/' || p[2] != '/'
                    || ngx_strlchr(p + 3, o->name.data + o->name.len, '/')))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid origin \"%V\" in \"%V\": an "
                                   "origin is scheme://host[:port], without "
                                   "a path", &value[i], &value[0]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

#if (NGX_PCRE)

        ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

        rc.pattern = value[i];
        rc.pattern.data++;
        rc.pattern.len--;

        if (rc.pattern.len && rc.pattern.data[0] == '*') {
            rc.pattern.data++;
            rc.pattern.len--;
            rc.options = NGX_REGEX_CASELESS;
        }

        rc.pool = cf->pool;
        rc.err.len = NGX_MAX_CONF_ERRSTR;
        rc.err.data = errstr;

        if (rc.pattern.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty regex \"%V\" in \"%V\"", &value[i],
                               &value[0]);
            return NGX_CONF_ERROR;
        }

        if (ngx_regex_compile(&rc) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\": %V",
                               &value[0], &rc.err);
            return NGX_CONF_ERROR;
        }

        o->regex = rc.regex;

#else

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "using regex \"%V\" requires PCRE library",
                           &value[i]);
        return NGX_CONF_ERROR;

#endif
    }

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_auth_check_max_size(ngx_conf_t *cf, void *post, void *data)
{
    size_t  *sp = data;

    if (*sp < 64 || *sp > NGX_WS_GATEWAY_JWT_MAX_SIZE) {
        return "must be between 64 and 64k";
    }

    return NGX_CONF_OK;
}


static char *
ngx_ws_gateway_auth_check_time(ngx_conf_t *cf, void *post, void *data)
{
    time_t  *tp = data;

    /* well inside what time_t arithmetic on NumericDates can take */

    if (*tp > 10 * 365 * 86400) {
        return "must not be longer than 10 years";
    }

    return NGX_CONF_OK;
}
