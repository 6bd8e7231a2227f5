
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#ifndef _NGX_WS_GATEWAY_JWT_H_INCLUDED_
#define _NGX_WS_GATEWAY_JWT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/evp.h>

#include "ngx_ws_gateway_json.h"


/*
 * JSON Web Tokens (RFC 7519) in the JWS compact serialization (RFC 7515),
 * verified with OpenSSL, and their keys (raw secrets, PEM public keys,
 * JWKs of RFC 7517 and RFC 8037).  No I/O, no logging, no NGINX pools:
 * the caller gives the memory, which makes the code testable on its own
 * (t/unit/test_jwt.c, t/fuzz/fuzz_jwt.c).  See docs/auth.md.
 */


/* algorithms, RFC 7518 and RFC 8037; a bit each in an allow-list */
enum {
    NGX_WS_GATEWAY_JWT_HS256 = 0,
    NGX_WS_GATEWAY_JWT_HS384,
    NGX_WS_GATEWAY_JWT_HS512,
    NGX_WS_GATEWAY_JWT_RS256,
    NGX_WS_GATEWAY_JWT_RS384,
    NGX_WS_GATEWAY_JWT_RS512,
    NGX_WS_GATEWAY_JWT_PS256,
    NGX_WS_GATEWAY_JWT_PS384,
    NGX_WS_GATEWAY_JWT_PS512,
    NGX_WS_GATEWAY_JWT_ES256,
    NGX_WS_GATEWAY_JWT_ES384,
    NGX_WS_GATEWAY_JWT_ES512,
    NGX_WS_GATEWAY_JWT_EDDSA,
    NGX_WS_GATEWAY_JWT_ALGS
};

#define NGX_WS_GATEWAY_JWT_ALG_NONE       ((ngx_uint_t) -1)


/* key families: which algorithms a key may ever be used with */
enum {
    NGX_WS_GATEWAY_JWT_KEY_HMAC = 0,     /* HS* */
    NGX_WS_GATEWAY_JWT_KEY_RSA,          /* RS*, PS* */
    NGX_WS_GATEWAY_JWT_KEY_P256,         /* ES256 */
    NGX_WS_GATEWAY_JWT_KEY_P384,         /* ES384 */
    NGX_WS_GATEWAY_JWT_KEY_P521,         /* ES512 */
    NGX_WS_GATEWAY_JWT_KEY_ED25519,      /* EdDSA */
    NGX_WS_GATEWAY_JWT_KEY_FAMILIES
};


/* why a token was refused; the names are in ngx_ws_gateway_jwt_reasons */
enum {
    NGX_WS_GATEWAY_JWT_OK = 0,
    NGX_WS_GATEWAY_JWT_MISSING,          /* no token */
    NGX_WS_GATEWAY_JWT_TOO_LARGE,
    NGX_WS_GATEWAY_JWT_MALFORMED,        /* segments, base64url, JSON */
    NGX_WS_GATEWAY_JWT_BAD_ALG,          /* none, unknown, not allowed */
    NGX_WS_GATEWAY_JWT_UNKNOWN_KID,      /* no key for the kid or alg */
    NGX_WS_GATEWAY_JWT_BAD_SIGNATURE,
    NGX_WS_GATEWAY_JWT_EXPIRED,          /* exp, or iat too old */
    NGX_WS_GATEWAY_JWT_NOT_YET_VALID,    /* nbf, or iat in the future */
    NGX_WS_GATEWAY_JWT_BAD_ISSUER,
    NGX_WS_GATEWAY_JWT_BAD_AUDIENCE,
    NGX_WS_GATEWAY_JWT_BAD_CLAIM,        /* a required claim */
    NGX_WS_GATEWAY_JWT_REASONS
};


/* the largest token and the most JSON values in its header and claims */
#define NGX_WS_GATEWAY_JWT_MAX_SIZE       65536
#define NGX_WS_GATEWAY_JWT_HEADER_NODES   32
#define NGX_WS_GATEWAY_JWT_CLAIMS_NODES   512
#define NGX_WS_GATEWAY_JWT_MAX_DEPTH      8

/* the shortest HMAC secret accepted, in bytes (RFC 7518, 3.2) */
#define NGX_WS_GATEWAY_JWT_MIN_SECRET     32
/* the smallest RSA modulus accepted, in bits (RFC 7518, 3.3) */
#define NGX_WS_GATEWAY_JWT_MIN_RSA_BITS   2048
#define NGX_WS_GATEWAY_JWT_MAX_RSA_BITS   16384


typedef struct {
    ngx_str_t                    kid;      /* empty: no "kid" */
    ngx_uint_t                   family;   /* NGX_WS_GATEWAY_JWT_KEY_* */
    ngx_uint_t                   algs;     /* bits it may verify */
    ngx_str_t                    secret;   /* HMAC */
    EVP_PKEY                    *pkey;     /* the others */
} ngx_ws_gateway_jwt_key_t;


typedef struct {
    ngx_str_t                    name;     /* the claim */
    ngx_array_t                 *values;   /* of ngx_str_t; NULL: any */
} ngx_ws_gateway_jwt_claim_t;


/* the checks of the claims set, from the configuration */
typedef struct {
    time_t                       leeway;
    time_t                       max_age;  /* 0: iat not checked for age */
    ngx_str_t                   *issuers;
    ngx_uint_t                   nissuers;
    ngx_str_t                   *audiences;
    ngx_uint_t                   naudiences;
    ngx_ws_gateway_jwt_claim_t  *claims;
    ngx_uint_t                   nclaims;
} ngx_ws_gateway_jwt_rules_t;


typedef struct {
    /* input, by ngx_ws_gateway_jwt_init() */
    u_char                      *buf;      /* decoded segments */
    size_t                       buf_size;
    ngx_ws_gateway_json_node_t  *nodes;    /* header, then claims */
    ngx_uint_t                   max_nodes;

    /* by ngx_ws_gateway_jwt_decode() */
    ngx_str_t                    signing_input;  /* header.payload */
    ngx_str_t                    header_json;
    ngx_str_t                    payload_json;
    ngx_str_t                    signature;
    ngx_uint_t                   alg;
    ngx_str_t                    kid;
    unsigned                     has_kid:1;

    ngx_ws_gateway_json_t        header;
    ngx_ws_gateway_json_t        claims;

    /*
     * by ngx_ws_gateway_jwt_check_claims(): exp as
     * ngx_ws_gateway_jwt_exp_time() gives it; 0 without one or with one
     * of 10^12 or more (the year 33,658: never, for a session)
     */
    time_t                       exp;

    /* the reason's detail for the log: static text */
    const char                  *error;
} ngx_ws_gateway_jwt_t;


extern const char  *ngx_ws_gateway_jwt_algs[];
extern const char  *ngx_ws_gateway_jwt_reasons[];


/*
 * The bytes of buf a token of len bytes needs, and the JSON nodes this
 * token's header and claims set can need at most (from a quick count of
 * their separators, so that a small token takes little memory).
 */
size_t ngx_ws_gateway_jwt_buf_size(size_t len);
ngx_uint_t ngx_ws_gateway_jwt_nodes(u_char *token, size_t len);

void ngx_ws_gateway_jwt_init(ngx_ws_gateway_jwt_t *jwt, u_char *buf,
    size_t buf_size, ngx_ws_gateway_json_node_t *nodes,
    ngx_uint_t max_nodes);

/*
 * Splits a compact JWS, decodes its three segments and parses the
 * header and the claims set.  NGX_WS_GATEWAY_JWT_OK, _MALFORMED,
 * _TOO_LARGE (over NGX_WS_GATEWAY_JWT_MAX_SIZE, or more than buf
 * holds), or _BAD_ALG when the header names an algorithm not in
 * "allowed" (a bit mask of NGX_WS_GATEWAY_JWT_*), "none" included;
 * jwt->error says why.
 */
ngx_uint_t ngx_ws_gateway_jwt_decode(ngx_ws_gateway_jwt_t *jwt,
    u_char *token, size_t len, ngx_uint_t allowed);

/*
 * Verifies the signature of a decoded token with the keys: those of its
 * "kid" and those without a kid if it has one; without one, the keys
 * without a kid where any key has one, all else; only keys that may
 * verify its algorithm (family, and size for HMAC).
 * _OK, _UNKNOWN_KID (no key that may verify it) or _BAD_SIGNATURE.
 */
ngx_uint_t ngx_ws_gateway_jwt_verify(ngx_ws_gateway_jwt_t *jwt,
    ngx_ws_gateway_jwt_key_t *keys, ngx_uint_t nkeys);

/* checks the registered claims and the rules at the time "now" */
ngx_uint_t ngx_ws_gateway_jwt_check_claims(ngx_ws_gateway_jwt_t *jwt,
    ngx_ws_gateway_jwt_rules_t *rules, time_t now);

/*
 * Times, for time_t of 32 or 64 bits: "max" is NGX_MAX_TIME_T_VALUE in
 * the module, and a parameter so that the tests cover both widths.
 *
 * ngx_ws_gateway_jwt_exp_time(): an "exp" in whole seconds, 0 for never
 * (10^12 or more), within -max .. max (a 32-bit time_t ends in 2038: a
 * later exp is its last second, not never); an exp that truncates to 0
 * is -1.
 *
 * ngx_ws_gateway_jwt_session_expires(): when a session of a token of
 * that exp closes, exp + leeway, within 1 .. max; 0 (never) for exp 0.
 *
 * ngx_ws_gateway_jwt_expiry32(): that time as the session keeps it, in
 * 32 bits without sign (the year 2106 at most), 0 for never.
 *
 * ngx_ws_gateway_jwt_expiry_left(): the seconds from "now" to such an
 * expiry, 0 or less when it is due; computed in 64 bits.
 */
int64_t ngx_ws_gateway_jwt_exp_time(double exp, int64_t max);
int64_t ngx_ws_gateway_jwt_session_expires(int64_t exp, int64_t leeway,
    int64_t max);
uint32_t ngx_ws_gateway_jwt_expiry32(int64_t expires);
int64_t ngx_ws_gateway_jwt_expiry_left(uint32_t expiry, int64_t now);

/* a top-level member of the claims set or of the header, or NULL */
ngx_ws_gateway_json_node_t *ngx_ws_gateway_jwt_claim(
    ngx_ws_gateway_jwt_t *jwt, u_char *name, size_t len);
ngx_ws_gateway_json_node_t *ngx_ws_gateway_jwt_header(
    ngx_ws_gateway_jwt_t *jwt, u_char *name, size_t len);

/*
 * A JSON value as text: a string decoded, an array of strings and
 * numbers joined with commas, anything else as written.  Returns the
 * length, at most "size" bytes are written to "out" (out may be NULL to
 * learn the length).
 */
size_t ngx_ws_gateway_jwt_value(ngx_ws_gateway_json_t *json,
    ngx_ws_gateway_json_node_t *node, u_char *out, size_t size);

/* an algorithm by name, or NGX_WS_GATEWAY_JWT_ALG_NONE */
ngx_uint_t ngx_ws_gateway_jwt_alg(u_char *name, size_t len);

/* the algorithms a key family may verify, as bits */
ngx_uint_t ngx_ws_gateway_jwt_family_algs(ngx_uint_t family);


/*
 * Keys.  Each returns NULL on success, or a static reason; on success
 * the key holds an EVP_PKEY reference (ngx_ws_gateway_jwt_key_free()).
 * A secret is referenced, not copied.
 */
const char *ngx_ws_gateway_jwt_key_secret(ngx_ws_gateway_jwt_key_t *key,
    u_char *data, size_t len);
const char *ngx_ws_gateway_jwt_key_pem(ngx_ws_gateway_jwt_key_t *key,
    u_char *data, size_t len);

/*
 * One JWK of a parsed JWKS document (its "keys" element).  Decoded key
 * bytes ("k" of an "oct" key) are written to buf, of at least the
 * document's length.  NGX_DECLINED: a key to skip ("use" other than
 * "sig", "key_ops" without "verify"), *reason says why.
 */
ngx_int_t ngx_ws_gateway_jwt_key_jwk(ngx_ws_gateway_jwt_key_t *key,
    ngx_ws_gateway_json_t *json, ngx_ws_gateway_json_node_t *jwk,
    u_char *buf, const char **reason);

void ngx_ws_gateway_jwt_key_free(ngx_ws_gateway_jwt_key_t *key);

/* strict base64url without padding; NGX_ERROR on anything else */
ngx_int_t ngx_ws_gateway_jwt_base64url(u_char *dst, size_t *dst_len,
    u_char *src, size_t len);


#endif /* _NGX_WS_GATEWAY_JWT_H_INCLUDED_ */
