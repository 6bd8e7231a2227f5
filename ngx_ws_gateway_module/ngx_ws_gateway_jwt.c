
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/*
 * OpenSSL 3 builds keys from parameters; 1.1.1 from RSA and EC_KEY
 * objects, deprecated in 3.  NGX_WS_GATEWAY_JWT_LEGACY builds the 1.1.1
 * code against OpenSSL 3, so that the unit tests run both.
 */

#if (OPENSSL_VERSION_NUMBER >= 0x30000000L                                  \
     && !defined NGX_WS_GATEWAY_JWT_LEGACY)
#define NGX_WS_GATEWAY_JWT_OSSL3  1
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#else
#define NGX_WS_GATEWAY_JWT_OSSL3  0
#endif

#include "ngx_ws_gateway_jwt.h"


typedef struct {
    const char                  *name;
    ngx_uint_t                   family;
    ngx_uint_t                   size;     /* digest or ECDSA field bytes */
    unsigned                     pss:1;
} ngx_ws_gateway_jwt_alg_t;


static void ngx_ws_gateway_jwt_b64_init(void);
static ngx_uint_t ngx_ws_gateway_jwt_count(u_char *src, size_t len);
static const EVP_MD *ngx_ws_gateway_jwt_md(ngx_uint_t alg);
static ngx_int_t ngx_ws_gateway_jwt_verify_key(ngx_ws_gateway_jwt_t *jwt,
    ngx_ws_gateway_jwt_key_t *key);
static ngx_int_t ngx_ws_gateway_jwt_verify_pkey(ngx_ws_gateway_jwt_t *jwt,
    EVP_PKEY *pkey, u_char *sig, size_t siglen);
static ngx_int_t ngx_ws_gateway_jwt_segment(ngx_ws_gateway_jwt_t *jwt,
    ngx_ws_gateway_json_t *json, ngx_ws_gateway_json_node_t *nodes,
    ngx_uint_t max_nodes, u_char **p, u_char *src, size_t len,
    ngx_str_t *out);
static ngx_int_t ngx_ws_gateway_jwt_time(ngx_ws_gateway_jwt_t *jwt,
    char *name, size_t len, double *value);
static ngx_int_t ngx_ws_gateway_jwt_match(ngx_ws_gateway_json_t *json,
    ngx_ws_gateway_json_node_t *node, ngx_str_t *values, ngx_uint_t n);
static ngx_int_t ngx_ws_gateway_jwt_equal(ngx_ws_gateway_json_node_t *node,
    ngx_str_t *value);
static ngx_int_t ngx_ws_gateway_jwt_rsa_exponent(EVP_PKEY *pkey);
static ngx_int_t ngx_ws_gateway_jwt_ed25519_point(EVP_PKEY *pkey);
static const char *ngx_ws_gateway_jwt_classify(ngx_ws_gateway_jwt_key_t *key);
static ngx_int_t ngx_ws_gateway_jwt_jwk_supported(ngx_ws_gateway_json_t *json,
    ngx_ws_gateway_json_node_t *jwk, ngx_str_t *kty);
static ngx_uint_t ngx_ws_gateway_jwt_jwk_private(ngx_ws_gateway_json_t *json,
    ngx_ws_gateway_json_node_t *jwk);
static const char *ngx_ws_gateway_jwt_jwk_string(ngx_ws_gateway_json_t *json,
    ngx_ws_gateway_json_node_t *jwk, char *name, ngx_str_t *value);
static const char *ngx_ws_gateway_jwt_jwk_bytes(ngx_ws_gateway_json_t *json,
    ngx_ws_gateway_json_node_t *jwk, char *name, u_char *buf,
    ngx_str_t *value);
static const char *ngx_ws_gateway_jwt_jwk_rsa(ngx_ws_gateway_jwt_key_t *key,
    ngx_ws_gateway_json_t *json, ngx_ws_gateway_json_node_t *jwk,
    u_char *buf);
static const char *ngx_ws_gateway_jwt_jwk_ec(ngx_ws_gateway_jwt_key_t *key,
    ngx_ws_gateway_json_t *json, ngx_ws_gateway_json_node_t *jwk,
    u_char *buf);
static const char *ngx_ws_gateway_jwt_jwk_okp(ngx_ws_gateway_jwt_key_t *key,
    ngx_ws_gateway_json_t *json, ngx_ws_gateway_json_node_t *jwk,
    u_char *buf);


static ngx_ws_gateway_jwt_alg_t  ngx_ws_gateway_jwt_alg_table[] = {
    { "HS256", NGX_WS_GATEWAY_JWT_KEY_HMAC, 32, 0 },
    { "HS384", NGX_WS_GATEWAY_JWT_KEY_HMAC, 48, 0 },
    { "HS512", NGX_WS_GATEWAY_JWT_KEY_HMAC, 64, 0 },
    { "RS256", NGX_WS_GATEWAY_JWT_KEY_RSA, 32, 0 },
    { "RS384", NGX_WS_GATEWAY_JWT_KEY_RSA, 48, 0 },
    { "RS512", NGX_WS_GATEWAY_JWT_KEY_RSA, 64, 0 },
    { "PS256", NGX_WS_GATEWAY_JWT_KEY_RSA, 32, 1 },
    { "PS384", NGX_WS_GATEWAY_JWT_KEY_RSA, 48, 1 },
    { "PS512", NGX_WS_GATEWAY_JWT_KEY_RSA, 64, 1 },
    { "ES256", NGX_WS_GATEWAY_JWT_KEY_P256, 32, 0 },
    { "ES384", NGX_WS_GATEWAY_JWT_KEY_P384, 48, 0 },
    { "ES512", NGX_WS_GATEWAY_JWT_KEY_P521, 66, 0 },
    { "EdDSA", NGX_WS_GATEWAY_JWT_KEY_ED25519, 0, 0 }
};


const char  *ngx_ws_gateway_jwt_algs[] = {
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384",
    "PS512", "ES256", "ES384", "ES512", "EdDSA", NULL
};


const char  *ngx_ws_gateway_jwt_reasons[] = {
    "ok", "missing", "too_large", "malformed", "bad_alg", "unknown_kid",
    "bad_signature", "expired", "not_yet_valid", "bad_issuer",
    "bad_audience", "bad_claim", NULL
};


static u_char  ngx_ws_gateway_jwt_private[] = "PRIVATE KEY-----";

static u_char  ngx_ws_gateway_jwt_b64[256];
static ngx_uint_t  ngx_ws_gateway_jwt_b64_ready;


size_t
ngx_ws_gateway_jwt_buf_size(size_t len)
{
    /* each decoded segment and each JSON scratch: 3/4 of its text */

    return len / 4 * 3 * 2 + len / 4 * 3 + 16;
}


ngx_uint_t
ngx_ws_gateway_jwt_nodes(u_char *token, size_t len)
{
    u_char      *dot1, *dot2, *end;
    ngx_uint_t   header, claims;

    /* as many as the header and the claims set can hold, no more */

    end = token + len;

    dot1 = ngx_strlchr(token, end, '.');
    dot2 = dot1 ? ngx_strlchr(dot1 + 1, end, '.') : NULL;

    if (dot2 == NULL) {
        return 2;
    }

    header = ngx_ws_gateway_jwt_count(token, dot1 - token);
    claims = ngx_ws_gateway_jwt_count(dot1 + 1, dot2 - dot1 - 1);

    return ngx_min(header, NGX_WS_GATEWAY_JWT_HEADER_NODES)
           + ngx_min(claims, NGX_WS_GATEWAY_JWT_CLAIMS_NODES);
}


static ngx_uint_t
ngx_ws_gateway_jwt_count(u_char *src, size_t len)
{
    u_char      b[3];
    size_t      i, k;
    ngx_uint_t  n, c[4], j;

    /*
     * An upper bound of the values in the JSON text of a base64url
     * segment (decoded here, unchecked): the root, and every value after
     * a ':', a ',' or a '['
     */

    n = 1;

    ngx_ws_gateway_jwt_b64_init();

    for (i = 0; i < len; i += 4) {

        for (j = 0; j < 4; j++) {
            c[j] = (i + j < len) ? ngx_ws_gateway_jwt_b64[src[i + j]] : 0;
            c[j] &= 0x3f;
        }

        b[0] = (u_char) (c[0] << 2 | c[1] >> 4);
        b[1] = (u_char) (c[1] << 4 | c[2] >> 2);
        b[2] = (u_char) (c[2] << 6 | c[3]);

        for (k = 0; k < 3; k++) {
            n += (b[k] == ':' || b[k] == ',' || b[k] == '[');
        }
    }

    return n;
}


void
ngx_ws_gateway_jwt_init(ngx_ws_gateway_jwt_t *jwt, u_char *buf,
    size_t buf_size, ngx_ws_gateway_json_node_t *nodes, ngx_uint_t max_nodes)
{
    ngx_memzero(jwt, sizeof(ngx_ws_gateway_jwt_t));

    jwt->buf = buf;
    jwt->buf_size = buf_size;
    jwt->nodes = nodes;
    jwt->max_nodes = max_nodes;
    jwt->alg = NGX_WS_GATEWAY_JWT_ALG_NONE;
}


ngx_uint_t
ngx_ws_gateway_jwt_alg(u_char *name, size_t len)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_WS_GATEWAY_JWT_ALGS; i++) {
        if (ngx_strlen(ngx_ws_gateway_jwt_algs[i]) == len
            && ngx_strncmp(ngx_ws_gateway_jwt_algs[i], name, len) == 0)
        {
            return i;
        }
    }

    return NGX_WS_GATEWAY_JWT_ALG_NONE;
}


ngx_uint_t
ngx_ws_gateway_jwt_family_algs(ngx_uint_t family)
{
    ngx_uint_t  i, algs;

    algs = 0;

    for (i = 0; i < NGX_WS_GATEWAY_JWT_ALGS; i++) {
        if (ngx_ws_gateway_jwt_alg_table[i].family == family) {
            algs |= (ngx_uint_t) 1 << i;
        }
    }

    return algs;
}


static void
ngx_ws_gateway_jwt_b64_init(void)
{
    ngx_uint_t  k;

    if (ngx_ws_gateway_jwt_b64_ready) {
        return;
    }

    ngx_memset(ngx_ws_gateway_jwt_b64, 0xff, sizeof(ngx_ws_gateway_jwt_b64));

    for (k = 0; k < 26; k++) {
        ngx_ws_gateway_jwt_b64['A' + k] = (u_char) k;
        ngx_ws_gateway_jwt_b64['a' + k] = (u_char) (26 + k);
    }

    for (k = 0; k < 10; k++) {
        ngx_ws_gateway_jwt_b64['0' + k] = (u_char) (52 + k);
    }

    ngx_ws_gateway_jwt_b64['-'] = 62;
    ngx_ws_gateway_jwt_b64['_'] = 63;

    ngx_ws_gateway_jwt_b64_ready = 1;
}


ngx_int_t
ngx_ws_gateway_jwt_base64url(u_char *dst, size_t *dst_len, u_char *src,
    size_t len)
{
    u_char  *d, c0, c1, c2, c3;
    size_t   i, full, rest;

    ngx_ws_gateway_jwt_b64_init();

    /* RFC 7515, 2 and appendix C: no padding, no line breaks */

    rest = len % 4;

    if (rest == 1) {
        return NGX_ERROR;
    }

    for (i = 0; i < len; i++) {
        if (ngx_ws_gateway_jwt_b64[src[i]] == 0xff) {
            return NGX_ERROR;
        }
    }

    d = dst;
    full = len - rest;

    for (i = 0; i < full; i += 4) {
        c0 = ngx_ws_gateway_jwt_b64[src[i]];
        c1 = ngx_ws_gateway_jwt_b64[src[i + 1]];
        c2 = ngx_ws_gateway_jwt_b64[src[i + 2]];
        c3 = ngx_ws_gateway_jwt_b64[src[i + 3]];

        *d++ = (u_char) (c0 << 2 | c1 >> 4);
        *d++ = (u_char) (c1 << 4 | c2 >> 2);
        *d++ = (u_char) (c2 << 6 | c3);
    }

    /* the bits the last character carries beyond the data must be 0 */

    if (rest == 2) {
        c0 = ngx_ws_gateway_jwt_b64[src[i]];
        c1 = ngx_ws_gateway_jwt_b64[src[i + 1]];

        if (c1 & 0x0f) {
            return NGX_ERROR;
        }

        *d++ = (u_char) (c0 << 2 | c1 >> 4);

    } else if (rest == 3) {
        c0 = ngx_ws_gateway_jwt_b64[src[i]];
        c1 = ngx_ws_gateway_jwt_b64[src[i + 1]];
        c2 = ngx_ws_gateway_jwt_b64[src[i + 2]];

        if (c2 & 0x03) {
            return NGX_ERROR;
        }

        *d++ = (u_char) (c0 << 2 | c1 >> 4);
        *d++ = (u_char) (c1 << 4 | c2 >> 2);
    }

    *dst_len = d - dst;

    return NGX_OK;
}


ngx_uint_t
ngx_ws_gateway_jwt_decode(ngx_ws_gateway_jwt_t *jwt, u_char *token,
    size_t len, ngx_uint_t allowed)
{
    u_char                      *p, *dot1, *dot2, *end;
    size_t                       n;
    ngx_uint_t                   alg, header_nodes;
    ngx_ws_gateway_json_node_t  *root, *node;

    if (len > NGX_WS_GATEWAY_JWT_MAX_SIZE) {
        jwt->error = "token too large";
        return NGX_WS_GATEWAY_JWT_TOO_LARGE;
    }

    if (jwt->buf_size < ngx_ws_gateway_jwt_buf_size(len)
        || jwt->max_nodes < 2)
    {
        jwt->error = "token too large";
        return NGX_WS_GATEWAY_JWT_TOO_LARGE;
    }

    end = token + len;

    dot1 = ngx_strlchr(token, end, '.');
    dot2 = dot1 ? ngx_strlchr(dot1 + 1, end, '.') : NULL;

    if (dot2 == NULL || ngx_strlchr(dot2 + 1, end, '.') != NULL) {
        jwt->error = "not three segments";
        return NGX_WS_GATEWAY_JWT_MALFORMED;
    }

    if (dot1 == token || dot2 == dot1 + 1) {
        jwt->error = "empty segment";
        return NGX_WS_GATEWAY_JWT_MALFORMED;
    }

    p = jwt->buf;

    /* the JOSE header, its nodes first, the claims set's after them */

    header_nodes = ngx_min(ngx_ws_gateway_jwt_count(token, dot1 - token),
                           NGX_WS_GATEWAY_JWT_HEADER_NODES);
    header_nodes = ngx_min(header_nodes, jwt->max_nodes - 1);

    if (ngx_ws_gateway_jwt_segment(jwt, &jwt->header, jwt->nodes,
                                   header_nodes, &p, token, dot1 - token,
                                   &jwt->header_json)
        != NGX_OK)
    {
        return NGX_WS_GATEWAY_JWT_MALFORMED;
    }

    root = ngx_ws_gateway_json_root(&jwt->header);

    node = ngx_ws_gateway_json_get(&jwt->header, root, (u_char *) "alg", 3);

    if (node == NULL || node->type != NGX_WS_GATEWAY_JSON_STRING) {
        jwt->error = "no \"alg\" string in the header";
        return NGX_WS_GATEWAY_JWT_MALFORMED;
    }

    alg = ngx_ws_gateway_jwt_alg(node->value.data, node->value.len);

    if (alg == NGX_WS_GATEWAY_JWT_ALG_NONE) {
        jwt->error = "unknown algorithm";
        return NGX_WS_GATEWAY_JWT_BAD_ALG;
    }

    if (!(allowed & ((ngx_uint_t) 1 << alg))) {
        jwt->error = ngx_ws_gateway_jwt_algs[alg];
        return NGX_WS_GATEWAY_JWT_BAD_ALG;
    }

    jwt->alg = alg;

    /*
     * No extension is understood, so a "crit" header parameter is always
     * refused (RFC 7515, 4.1.11); "jku", "jwk", "x5u" and "x5c" are never
     * used to find a key: only the configured keys verify.
     */

    if (ngx_ws_gateway_json_get(&jwt->header, root, (u_char *) "crit", 4)) {
        jwt->error = "unsupported \"crit\" header";
        return NGX_WS_GATEWAY_JWT_MALFORMED;
    }

    node = ngx_ws_gateway_json_get(&jwt->header, root, (u_char *) "kid", 3);

    if (node) {
        if (node->type != NGX_WS_GATEWAY_JSON_STRING) {
            jwt->error = "\"kid\" is not a string";
            return NGX_WS_GATEWAY_JWT_MALFORMED;
        }

        jwt->kid = node->value;
        jwt->has_kid = 1;
    }

    /* the claims set */

    if (ngx_ws_gateway_jwt_segment(jwt, &jwt->claims,
                                   jwt->nodes + header_nodes,
                                   jwt->max_nodes - header_nodes, &p,
                                   dot1 + 1, dot2 - dot1 - 1,
                                   &jwt->payload_json)
        != NGX_OK)
    {
        return NGX_WS_GATEWAY_JWT_MALFORMED;
    }

    /* the signature */

    if (dot2 + 1 == end) {
        jwt->error = "no signature";
        return NGX_WS_GATEWAY_JWT_MALFORMED;
    }

    if (ngx_ws_gateway_jwt_base64url(p, &n, dot2 + 1, end - dot2 - 1)
        != NGX_OK)
    {
        jwt->error = "signature is not base64url";
        return NGX_WS_GATEWAY_JWT_MALFORMED;
    }

    jwt->signature.data = p;
    jwt->signature.len = n;

    jwt->signing_input.data = token;
    jwt->signing_input.len = dot2 - token;

    return NGX_WS_GATEWAY_JWT_OK;
}


static ngx_int_t
ngx_ws_gateway_jwt_segment(ngx_ws_gateway_jwt_t *jwt,
    ngx_ws_gateway_json_t *json, ngx_ws_gateway_json_node_t *nodes,
    ngx_uint_t max_nodes, u_char **p, u_char *src, size_t len,
    ngx_str_t *out)
{
    u_char  *data;
    size_t   n;

    data = *p;

    if (ngx_ws_gateway_jwt_base64url(data, &n, src, len) != NGX_OK) {
        jwt->error = (json == &jwt->header) ? "header is not base64url"
                                            : "payload is not base64url";
        return NGX_ERROR;
    }

    out->data = data;
    out->len = n;

    ngx_ws_gateway_json_init(json, nodes, max_nodes, data + n, n);

    json->max_depth = NGX_WS_GATEWAY_JWT_MAX_DEPTH;

    if (ngx_ws_gateway_json_parse(json, data, n) != NGX_OK) {
        jwt->error = (json == &jwt->header) ? "header is not a JSON object"
                                            : "claims are not a JSON object";
        return NGX_ERROR;
    }

    *p = data + 2 * n;

    return NGX_OK;
}


ngx_uint_t
ngx_ws_gateway_jwt_verify(ngx_ws_gateway_jwt_t *jwt,
    ngx_ws_gateway_jwt_key_t *keys, ngx_uint_t nkeys)
{
    ngx_int_t                  rc;
    ngx_uint_t                 i, bit, tried, kids;
    ngx_ws_gateway_jwt_key_t  *key;

    bit = (ngx_uint_t) 1 << jwt->alg;
    tried = 0;

    /*
     * What a forged token costs is bounded: where keys have kids, a
     * token without one is tried with the keys without a kid only, not
     * with every key of its family.
     */

    kids = 0;

    if (!jwt->has_kid) {
        for (i = 0; i < nkeys; i++) {
            if (keys[i].kid.len) {
                kids = 1;
                break;
            }
        }
    }

    for (i = 0; i < nkeys; i++) {
        key = &keys[i];

        if (!(key->algs & bit)) {
            continue;
        }

        /* a key without a kid is tried for any token */

        if (key->kid.len
            && (kids
                || (jwt->has_kid
                    && (key->kid.len != jwt->kid.len
                        || ngx_memcmp(key->kid.data, jwt->kid.data,
                                      jwt->kid.len)
                           != 0))))
        {
            continue;
        }

        tried++;

        rc = ngx_ws_gateway_jwt_verify_key(jwt, key);

        if (rc == NGX_OK) {
            return NGX_WS_GATEWAY_JWT_OK;
        }
    }

    if (tried == 0) {
        jwt->error = jwt->has_kid ? "no key with the token's \"kid\""
                     : kids ? "no \"kid\", and no key without one"
                            : "no key for the algorithm";
        return NGX_WS_GATEWAY_JWT_UNKNOWN_KID;
    }

    jwt->error = "signature does not verify";

    return NGX_WS_GATEWAY_JWT_BAD_SIGNATURE;
}


static const EVP_MD *
ngx_ws_gateway_jwt_md(ngx_uint_t alg)
{
    switch (ngx_ws_gateway_jwt_alg_table[alg].size) {

    case 32:
        return EVP_sha256();

    case 48:
        return EVP_sha384();

    case 64:
    case 66:
        return EVP_sha512();

    default:
        return NULL;
    }
}


static ngx_int_t
ngx_ws_gateway_jwt_verify_key(ngx_ws_gateway_jwt_t *jwt,
    ngx_ws_gateway_jwt_key_t *key)
{
    u_char                     mac[EVP_MAX_MD_SIZE], der[160], *p;
    int                        n;
    BIGNUM                    *r, *s;
    ngx_int_t                  rc;
    ngx_uint_t                 size;
    ECDSA_SIG                 *sig;
    unsigned int               maclen;
    ngx_ws_gateway_jwt_alg_t  *alg;

    alg = &ngx_ws_gateway_jwt_alg_table[jwt->alg];

    switch (alg->family) {

    case NGX_WS_GATEWAY_JWT_KEY_HMAC:

        if (key->secret.len < alg->size) {
            return NGX_DECLINED;
        }

        maclen = 0;

        if (HMAC(ngx_ws_gateway_jwt_md(jwt->alg), key->secret.data,
                 (int) key->secret.len, jwt->signing_input.data,
                 jwt->signing_input.len, mac, &maclen)
            == NULL)
        {
            ERR_clear_error();
            return NGX_ERROR;
        }

        if (jwt->signature.len != maclen
            || CRYPTO_memcmp(mac, jwt->signature.data, maclen) != 0)
        {
            return NGX_DECLINED;
        }

        return NGX_OK;

    case NGX_WS_GATEWAY_JWT_KEY_RSA:
    case NGX_WS_GATEWAY_JWT_KEY_ED25519:

        return ngx_ws_gateway_jwt_verify_pkey(jwt, key->pkey,
                                              jwt->signature.data,
                                              jwt->signature.len);

    default: /* ECDSA */

        /* JWS carries R and S as fixed-size octets (RFC 7518, 3.4) */

        size = alg->size;

        if (jwt->signature.len != 2 * size) {
            return NGX_DECLINED;
        }

        sig = ECDSA_SIG_new();
        r = BN_bin2bn(jwt->signature.data, size, NULL);
        s = BN_bin2bn(jwt->signature.data + size, size, NULL);

        if (sig == NULL || r == NULL || s == NULL
            || ECDSA_SIG_set0(sig, r, s) != 1)
        {
            ECDSA_SIG_free(sig);
            BN_free(r);
            BN_free(s);
            ERR_clear_error();
            return NGX_ERROR;
        }

        n = i2d_ECDSA_SIG(sig, NULL);

        if (n <= 0 || (size_t) n > sizeof(der)) {
            ECDSA_SIG_free(sig);
            ERR_clear_error();
            return NGX_ERROR;
        }

        p = der;
        n = i2d_ECDSA_SIG(sig, &p);

        ECDSA_SIG_free(sig);

        if (n <= 0) {
            ERR_clear_error();
            return NGX_ERROR;
        }

        rc = ngx_ws_gateway_jwt_verify_pkey(jwt, key->pkey, der, n);

        return rc;
    }
}


static ngx_int_t
ngx_ws_gateway_jwt_verify_pkey(ngx_ws_gateway_jwt_t *jwt, EVP_PKEY *pkey,
    u_char *sig, size_t siglen)
{
    int                        ok;
    EVP_MD_CTX                *ctx;
    const EVP_MD              *md;
    EVP_PKEY_CTX              *pctx;
    ngx_ws_gateway_jwt_alg_t  *alg;

    alg = &ngx_ws_gateway_jwt_alg_table[jwt->alg];

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    md = ngx_ws_gateway_jwt_md(jwt->alg);     /* NULL: EdDSA */
    pctx = NULL;
    ok = 0;

    if (EVP_DigestVerifyInit(ctx, &pctx, md, NULL, pkey) != 1) {
        goto done;
    }

    if (alg->pss) {

        /* RFC 7518, 3.5: MGF1 with the same hash, salt of its size */

        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0
            || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST)
               <= 0)
        {
            goto done;
        }
    }

    ok = EVP_DigestVerify(ctx, sig, siglen, jwt->signing_input.data,
                          jwt->signing_input.len);

done:

    EVP_MD_CTX_free(ctx);

    /* a failed verification leaves errors that are not ours to report */

    ERR_clear_error();

    return (ok == 1) ? NGX_OK : NGX_DECLINED;
}


int64_t
ngx_ws_gateway_jwt_exp_time(double exp, int64_t max)
{
    int64_t  t;

    /* beyond the year 33,658 is never, for a session */

    if (exp >= 1e12) {
        return 0;
    }

    /*
     * what the time_t cannot hold is its last (or first) second: for a
     * 32-bit one, a token valid past 2038 is a session that ends then
     */

    if (exp >= (double) max) {
        return max;
    }

    if (exp <= (double) -max) {
        return -max;
    }

    t = (int64_t) exp;

    /* 0 is "never" */

    return (t == 0) ? -1 : t;
}


int64_t
ngx_ws_gateway_jwt_session_expires(int64_t exp, int64_t leeway, int64_t max)
{
    int64_t  t;

    if (exp == 0) {
        return 0;
    }

    /* |exp| <= max and leeway <= 10 years: no overflow in 64 bits */

    t = exp + leeway;

    if (t < 1) {
        return 1;
    }

    return (t > max) ? max : t;
}


uint32_t
ngx_ws_gateway_jwt_expiry32(int64_t expires)
{
    if (expires == 0) {
        return 0;
    }

    if (expires < 1) {
        return 1;
    }

    return (expires > (int64_t) 0xffffffff) ? 0xffffffff
                                            : (uint32_t) expires;
}


int64_t
ngx_ws_gateway_jwt_expiry_left(uint32_t expiry, int64_t now)
{
    return (int64_t) expiry - now;
}


ngx_uint_t
ngx_ws_gateway_jwt_check_claims(ngx_ws_gateway_jwt_t *jwt,
    ngx_ws_gateway_jwt_rules_t *rules, time_t now)
{
    double                       exp, nbf, iat, t, leeway;
    ngx_uint_t                   i;
    ngx_ws_gateway_json_t       *json;
    ngx_ws_gateway_json_node_t  *root, *node, *e;

    json = &jwt->claims;
    root = ngx_ws_gateway_json_root(json);
    t = (double) now;
    leeway = (double) rules->leeway;

    jwt->exp = 0;

    /* the registered time claims: NumericDate values (RFC 7519, 2) */

    switch (ngx_ws_gateway_jwt_time(jwt, "exp", 3, &exp)) {

    case NGX_ERROR:
        return NGX_WS_GATEWAY_JWT_MALFORMED;

    case NGX_OK:

        if (t >= exp + leeway) {
            jwt->error = "\"exp\" has passed";
            return NGX_WS_GATEWAY_JWT_EXPIRED;
        }

        jwt->exp = (time_t) ngx_ws_gateway_jwt_exp_time(exp,
                                                        NGX_MAX_TIME_T_VALUE);

        break;
    }

    switch (ngx_ws_gateway_jwt_time(jwt, "nbf", 3, &nbf)) {

    case NGX_ERROR:
        return NGX_WS_GATEWAY_JWT_MALFORMED;

    case NGX_OK:

        if (nbf > t + leeway) {
            jwt->error = "\"nbf\" is in the future";
            return NGX_WS_GATEWAY_JWT_NOT_YET_VALID;
        }

        break;
    }

    switch (ngx_ws_gateway_jwt_time(jwt, "iat", 3, &iat)) {

    case NGX_ERROR:
        return NGX_WS_GATEWAY_JWT_MALFORMED;

    case NGX_OK:

        if (iat > t + leeway) {
            jwt->error = "\"iat\" is in the future";
            return NGX_WS_GATEWAY_JWT_NOT_YET_VALID;
        }

        if (rules->max_age && t - iat > (double) rules->max_age + leeway) {
            jwt->error = "\"iat\" is older than the maximum age";
            return NGX_WS_GATEWAY_JWT_EXPIRED;
        }

        break;

    default: /* NGX_DECLINED */

        if (rules->max_age) {
            jwt->error = "no \"iat\" for the maximum age";
            return NGX_WS_GATEWAY_JWT_BAD_CLAIM;
        }
    }

    if (rules->nissuers) {
        node = ngx_ws_gateway_json_get_type(json, root, (u_char *) "iss", 3,
                                            NGX_WS_GATEWAY_JSON_STRING);

        if (node == NULL
            || ngx_ws_gateway_jwt_match(json, node, rules->issuers,
                                        rules->nissuers)
               != NGX_OK)
        {
            jwt->error = node ? "\"iss\" is not accepted" : "no \"iss\"";
            return NGX_WS_GATEWAY_JWT_BAD_ISSUER;
        }
    }

    if (rules->naudiences) {
        node = ngx_ws_gateway_json_get(json, root, (u_char *) "aud", 3);

        if (node == NULL) {
            jwt->error = "no \"aud\"";
            return NGX_WS_GATEWAY_JWT_BAD_AUDIENCE;
        }

        if (node->type == NGX_WS_GATEWAY_JSON_ARRAY) {
            for (e = ngx_ws_gateway_json_first(json, node);
                 e;
                 e = ngx_ws_gateway_json_next(json, e))
            {
                if (e->type != NGX_WS_GATEWAY_JSON_STRING) {
                    jwt->error = "\"aud\" holds a value that is not a string";
                    return NGX_WS_GATEWAY_JWT_BAD_AUDIENCE;
                }
            }

        } else if (node->type != NGX_WS_GATEWAY_JSON_STRING) {
            jwt->error = "\"aud\" is not a string or an array";
            return NGX_WS_GATEWAY_JWT_BAD_AUDIENCE;
        }

        if (ngx_ws_gateway_jwt_match(json, node, rules->audiences,
                                     rules->naudiences)
            != NGX_OK)
        {
            jwt->error = "\"aud\" is not accepted";
            return NGX_WS_GATEWAY_JWT_BAD_AUDIENCE;
        }
    }

    for (i = 0; i < rules->nclaims; i++) {
        node = ngx_ws_gateway_json_get(json, root,
                                       rules->claims[i].name.data,
                                       rules->claims[i].name.len);

        if (node == NULL) {
            jwt->error = "a required claim is missing";
            return NGX_WS_GATEWAY_JWT_BAD_CLAIM;
        }

        if (rules->claims[i].values
            && ngx_ws_gateway_jwt_match(json, node,
                                        rules->claims[i].values->elts,
                                        rules->claims[i].values->nelts)
               != NGX_OK)
        {
            jwt->error = "a required claim has another value";
            return NGX_WS_GATEWAY_JWT_BAD_CLAIM;
        }
    }

    return NGX_WS_GATEWAY_JWT_OK;
}


static ngx_int_t
ngx_ws_gateway_jwt_time(ngx_ws_gateway_jwt_t *jwt, char *name, size_t len,
    double *value)
{
    ngx_ws_gateway_json_node_t  *node;

    node = ngx_ws_gateway_json_get(&jwt->claims,
                                   ngx_ws_gateway_json_root(&jwt->claims),
                                   (u_char *) name, len);
    if (node == NULL) {
        return NGX_DECLINED;
    }

    if (node->type != NGX_WS_GATEWAY_JSON_NUMBER) {
        jwt->error = "a time claim is not a number";
        return NGX_ERROR;
    }

    *value = node->number;

    return NGX_OK;
}


static ngx_int_t
ngx_ws_gateway_jwt_match(ngx_ws_gateway_json_t *json,
    ngx_ws_gateway_json_node_t *node, ngx_str_t *values, ngx_uint_t n)
{
    ngx_uint_t                   i;
    ngx_ws_gateway_json_node_t  *e;

    if (node->type == NGX_WS_GATEWAY_JSON_ARRAY) {
        for (e = ngx_ws_gateway_json_first(json, node);
             e;
             e = ngx_ws_gateway_json_next(json, e))
        {
            for (i = 0; i < n; i++) {
                if (ngx_ws_gateway_jwt_equal(e, &values[i]) == NGX_OK) {
                    return NGX_OK;
                }
            }
        }

        return NGX_DECLINED;
    }

    for (i = 0; i < n; i++) {
        if (ngx_ws_gateway_jwt_equal(node, &values[i]) == NGX_OK) {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_ws_gateway_jwt_equal(ngx_ws_gateway_json_node_t *node, ngx_str_t *value)
{
    /* strings decoded, numbers and literals as written */

    if (node->type == NGX_WS_GATEWAY_JSON_OBJECT
        || node->type == NGX_WS_GATEWAY_JSON_ARRAY)
    {
        return NGX_DECLINED;
    }

    if (node->value.len == value->len
        && ngx_memcmp(node->value.data, value->data, value->len) == 0)
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


ngx_ws_gateway_json_node_t *
ngx_ws_gateway_jwt_claim(ngx_ws_gateway_jwt_t *jwt, u_char *name, size_t len)
{
    return ngx_ws_gateway_json_get(&jwt->claims,
                                   ngx_ws_gateway_json_root(&jwt->claims),
                                   name, len);
}


ngx_ws_gateway_json_node_t *
ngx_ws_gateway_jwt_header(ngx_ws_gateway_jwt_t *jwt, u_char *name,
    size_t len)
{
    return ngx_ws_gateway_json_get(&jwt->header,
                                   ngx_ws_gateway_json_root(&jwt->header),
                                   name, len);
}


size_t
ngx_ws_gateway_jwt_value(ngx_ws_gateway_json_t *json,
    ngx_ws_gateway_json_node_t *node, u_char *out, size_t size)
{
    size_t                       len, n;
    ngx_ws_gateway_json_node_t  *e;

    if (node->type != NGX_WS_GATEWAY_JSON_ARRAY) {
        if (out) {
            ngx_memcpy(out, node->value.data, ngx_min(size, node->value.len));
        }

        return node->value.len;
    }

    /* an array of scalars: its elements joined with commas */

    for (e = ngx_ws_gateway_json_first(json, node);
         e;
         e = ngx_ws_gateway_json_next(json, e))
    {
        if (e->type == NGX_WS_GATEWAY_JSON_OBJECT
            || e->type == NGX_WS_GATEWAY_JSON_ARRAY)
        {
            if (out) {
                ngx_memcpy(out, node->value.data,
                           ngx_min(size, node->value.len));
            }

            return node->value.len;
        }
    }

    len = 0;

    for (e = ngx_ws_gateway_json_first(json, node);
         e;
         e = ngx_ws_gateway_json_next(json, e))
    {
        if (len) {
            if (out && len < size) {
                out[len] = ',';
            }

            len++;
        }

        if (out && len < size) {
            n = ngx_min(size - len, e->value.len);
            ngx_memcpy(out + len, e->value.data, n);
        }

        len += e->value.len;
    }

    return len;
}


/* keys */


const char *
ngx_ws_gateway_jwt_key_secret(ngx_ws_gateway_jwt_key_t *key, u_char *data,
    size_t len)
{
    ngx_uint_t  i;

    if (len < NGX_WS_GATEWAY_JWT_MIN_SECRET) {
        return "HMAC secret shorter than 32 bytes";
    }

    ngx_str_null(&key->kid);
    key->family = NGX_WS_GATEWAY_JWT_KEY_HMAC;
    key->secret.data = data;
    key->secret.len = len;
    key->pkey = NULL;

    /* RFC 7518, 3.2: a key at least as long as the hash output */

    key->algs = 0;

    for (i = NGX_WS_GATEWAY_JWT_HS256; i <= NGX_WS_GATEWAY_JWT_HS512; i++) {
        if (len >= ngx_ws_gateway_jwt_alg_table[i].size) {
            key->algs |= (ngx_uint_t) 1 << i;
        }
    }

    return NULL;
}


const char *
ngx_ws_gateway_jwt_key_pem(ngx_ws_gateway_jwt_key_t *key, u_char *data,
    size_t len)
{
    u_char      *p;
    size_t       n;
    BIO         *bio;
    X509        *x509;
    EVP_PKEY    *pkey;
    const char  *reason;

    /* "BEGIN PRIVATE KEY", "BEGIN RSA PRIVATE KEY", "BEGIN EC ..." */

    n = sizeof(ngx_ws_gateway_jwt_private) - 1;

    for (p = data; len >= n && p <= data + len - n; p++) {
        if (ngx_memcmp(p, ngx_ws_gateway_jwt_private, n) == 0) {
            return "a private key: give the public key only";
        }
    }

    bio = BIO_new_mem_buf(data, (int) len);
    if (bio == NULL) {
        ERR_clear_error();
        return "out of memory";
    }

    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);

    if (pkey == NULL) {
        ERR_clear_error();

        (void) BIO_reset(bio);

        x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL);

        if (x509) {
            pkey = X509_get_pubkey(x509);
            X509_free(x509);
        }
    }

    BIO_free(bio);
    ERR_clear_error();

    if (pkey == NULL) {
        return "no PEM public key or certificate";
    }

    ngx_str_null(&key->kid);
    key->pkey = pkey;

    reason = ngx_ws_gateway_jwt_classify(key);

    if (reason) {
        ngx_ws_gateway_jwt_key_free(key);
    }

    return reason;
}


static ngx_int_t
ngx_ws_gateway_jwt_rsa_exponent(EVP_PKEY *pkey)
{
    ngx_int_t      rc;

#if (NGX_WS_GATEWAY_JWT_OSSL3)
    BIGNUM        *e;

    e = NULL;

    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
        ERR_clear_error();
        return NGX_ERROR;
    }
#else
    const RSA     *rsa;
    const BIGNUM  *e;

    rsa = EVP_PKEY_get0_RSA(pkey);
    if (rsa == NULL) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    RSA_get0_key(rsa, NULL, &e, NULL);
#endif

    rc = (e && BN_is_odd(e) && BN_num_bits(e) >= 2 && BN_num_bits(e) <= 64)
         ? NGX_OK : NGX_ERROR;

#if (NGX_WS_GATEWAY_JWT_OSSL3)
    BN_free(e);
#endif

    return rc;
}


static ngx_int_t
ngx_ws_gateway_jwt_ed25519_point(EVP_PKEY *pkey)
{
    u_char      raw[32];
    size_t      len;
    ngx_uint_t  i, k, diff;

    /*
     * The encodings of the points of order 1, 2, 4 and 8, canonical or
     * not, with the sign bit ignored (RFC 8032, 5.1.3; the list of
     * libsodium's crypto_sign_ed25519 checks, written out from the
     * curve's definition).
     */

    static u_char  small[][32] = {
        { 0 },
        { 0x01 },
        { 0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
          0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
          0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05 },
        { 0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
          0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
          0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a },
        { 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
        { 0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
        { 0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f }
    };

    len = sizeof(raw);

    if (EVP_PKEY_get_raw_public_key(pkey, raw, &len) != 1 || len != 32) {
        ERR_clear_error();
        return NGX_ERROR;
    }

    for (k = 0; k < sizeof(small) / sizeof(small[0]); k++) {
        diff = 0;

        for (i = 0; i < 31; i++) {
            diff |= raw[i] ^ small[k][i];
        }

        diff |= (raw[31] & 0x7f) ^ small[k][31];

        if (diff == 0) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static const char *
ngx_ws_gateway_jwt_classify(ngx_ws_gateway_jwt_key_t *key)
{
    int   nid;

#if (NGX_WS_GATEWAY_JWT_OSSL3)
    char  name[64];
#endif

    switch (EVP_PKEY_base_id(key->pkey)) {

    case EVP_PKEY_RSA:

        if (EVP_PKEY_bits(key->pkey) < NGX_WS_GATEWAY_JWT_MIN_RSA_BITS) {
            return "RSA key shorter than 2048 bits";
        }

        if (EVP_PKEY_bits(key->pkey) > NGX_WS_GATEWAY_JWT_MAX_RSA_BITS) {
            return "RSA key longer than 16384 bits";
        }

        /* e = 1 would make a "signature" of anything verify */

        if (ngx_ws_gateway_jwt_rsa_exponent(key->pkey) != NGX_OK) {
            return "RSA public exponent not odd, 3 or more, and 64 bits "
                   "at most";
        }

        key->family = NGX_WS_GATEWAY_JWT_KEY_RSA;
        break;

    case EVP_PKEY_EC:

#if (NGX_WS_GATEWAY_JWT_OSSL3)

        if (EVP_PKEY_get_group_name(key->pkey, name, sizeof(name), NULL)
            != 1)
        {
            ERR_clear_error();
            return "EC key without a named curve";
        }

        nid = OBJ_sn2nid(name);

        if (nid == NID_undef) {
            nid = EC_curve_nist2nid(name);
        }

#else
        {
        const EC_KEY    *ec;
        const EC_GROUP  *group;

        ec = EVP_PKEY_get0_EC_KEY(key->pkey);
        group = ec ? EC_KEY_get0_group(ec) : NULL;
        nid = group ? EC_GROUP_get_curve_name(group) : NID_undef;
        }
#endif

        switch (nid) {

        case NID_X9_62_prime256v1:
            key->family = NGX_WS_GATEWAY_JWT_KEY_P256;
            break;

        case NID_secp384r1:
            key->family = NGX_WS_GATEWAY_JWT_KEY_P384;
            break;

        case NID_secp521r1:
            key->family = NGX_WS_GATEWAY_JWT_KEY_P521;
            break;

        default:
            return "EC key on a curve other than P-256, P-384 or P-521";
        }

        break;

    case EVP_PKEY_ED25519:

        /* a point of small order verifies forged signatures */

        if (ngx_ws_gateway_jwt_ed25519_point(key->pkey) != NGX_OK) {
            return "Ed25519 public key of small order";
        }

        key->family = NGX_WS_GATEWAY_JWT_KEY_ED25519;
        break;

    default:
        return "unsupported key type (RSA, EC, Ed25519 only)";
    }

    key->algs = ngx_ws_gateway_jwt_family_algs(key->family);

    return NULL;
}


ngx_int_t
ngx_ws_gateway_jwt_key_jwk(ngx_ws_gateway_jwt_key_t *key,
    ngx_ws_gateway_json_t *json, ngx_ws_gateway_json_node_t *jwk,
    u_char *buf, const char **reason)
{
    ngx_str_t                    kty, value, kid;
    ngx_uint_t                   alg, verify;
    const char                  *err;
    ngx_ws_gateway_json_node_t  *node, *e;

    ngx_memzero(key, sizeof(ngx_ws_gateway_jwt_key_t));

    if (jwk->type != NGX_WS_GATEWAY_JSON_OBJECT) {
        *reason = "a key is not a JSON object";
        return NGX_ERROR;
    }

    /* a private key never belongs here, whatever else it is */

    if (ngx_ws_gateway_jwt_jwk_private(json, jwk)) {
        *reason = "a private key (\"d\" or another private member): give "
                  "the public key only";
        return NGX_ERROR;
    }

    err = ngx_ws_gateway_jwt_jwk_string(json, jwk, "kty", &kty);
    if (err) {
        *reason = err;
        return NGX_ERROR;
    }

    if (kty.len == 0) {
        *reason = "a key without \"kty\"";
        return NGX_ERROR;
    }

    err = ngx_ws_gateway_jwt_jwk_string(json, jwk, "kid", &key->kid);
    if (err) {
        *reason = err;
        return NGX_ERROR;
    }

    /* keys for encryption, or not for verifying, are left out */

    err = ngx_ws_gateway_jwt_jwk_string(json, jwk, "use", &value);
    if (err) {
        *reason = err;
        return NGX_ERROR;
    }

    if (value.len && !(value.len == 3 && ngx_strncmp(value.data, "sig", 3)
                                         == 0))
    {
        *reason = "a key whose \"use\" is not \"sig\"";
        return NGX_DECLINED;
    }

    node = ngx_ws_gateway_json_get(json, jwk, (u_char *) "key_ops", 7);

    if (node) {
        if (node->type != NGX_WS_GATEWAY_JSON_ARRAY) {
            *reason = "\"key_ops\" is not an array";
            return NGX_ERROR;
        }

        verify = 0;

        for (e = ngx_ws_gateway_json_first(json, node);
             e;
             e = ngx_ws_gateway_json_next(json, e))
        {
            if (e->type == NGX_WS_GATEWAY_JSON_STRING
                && e->value.len == 6
                && ngx_strncmp(e->value.data, "verify", 6) == 0)
            {
                verify = 1;
            }
        }

        if (!verify) {
            *reason = "a key whose \"key_ops\" has no \"verify\"";
            return NGX_DECLINED;
        }
    }

    err = ngx_ws_gateway_jwt_jwk_string(json, jwk, "alg", &value);
    if (err) {
        *reason = err;
        return NGX_ERROR;
    }

    alg = NGX_WS_GATEWAY_JWT_ALG_NONE;

    if (value.len) {
        alg = ngx_ws_gateway_jwt_alg(value.data, value.len);

        if (alg == NGX_WS_GATEWAY_JWT_ALG_NONE) {
            *reason = "a key for an algorithm that does not sign";
            return NGX_DECLINED;
        }
    }

    /*
     * Key types and curves we do not verify with are skipped, so that an
     * issuer that adds one to its set does not break the configuration.
     */

    if (ngx_ws_gateway_jwt_jwk_supported(json, jwk, &kty) != NGX_OK) {
        *reason = "a key of a type or curve not supported (oct, RSA, "
                  "EC P-256, P-384, P-521, OKP Ed25519 only)";
        return NGX_DECLINED;
    }

    if (kty.len == 3 && ngx_strncmp(kty.data, "oct", 3) == 0) {
        err = ngx_ws_gateway_jwt_jwk_bytes(json, jwk, "k", buf, &value);

        if (err == NULL) {
            kid = key->kid;
            err = ngx_ws_gateway_jwt_key_secret(key, value.data, value.len);
            key->kid = kid;
        }

    } else if (kty.len == 3 && ngx_strncmp(kty.data, "RSA", 3) == 0) {
        err = ngx_ws_gateway_jwt_jwk_rsa(key, json, jwk, buf);

    } else if (kty.len == 2 && ngx_strncmp(kty.data, "EC", 2) == 0) {
        err = ngx_ws_gateway_jwt_jwk_ec(key, json, jwk, buf);

    } else if (kty.len == 3 && ngx_strncmp(kty.data, "OKP", 3) == 0) {
        err = ngx_ws_gateway_jwt_jwk_okp(key, json, jwk, buf);

    } else {
        err = "unsupported \"kty\" (oct, RSA, EC, OKP only)";
    }

    if (err) {
        ngx_ws_gateway_jwt_key_free(key);
        *reason = err;
        return NGX_ERROR;
    }

    if (alg != NGX_WS_GATEWAY_JWT_ALG_NONE) {
        if (!(key->algs & ((ngx_uint_t) 1 << alg))) {
            ngx_ws_gateway_jwt_key_free(key);
            *reason = "the key's \"alg\" does not fit its type or size";
            return NGX_ERROR;
        }

        key->algs = (ngx_uint_t) 1 << alg;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_ws_gateway_jwt_jwk_supported(ngx_ws_gateway_json_t *json,
    ngx_ws_gateway_json_node_t *jwk, ngx_str_t *kty)
{
    ngx_ws_gateway_json_node_t  *crv;

    if ((kty->len == 3 && ngx_strncmp(kty->data, "oct", 3) == 0)
        || (kty->len == 3 && ngx_strncmp(kty->data, "RSA", 3) == 0))
    {
        return NGX_OK;
    }

    crv = ngx_ws_gateway_json_get_type(json, jwk, (u_char *) "crv", 3,
                                       NGX_WS_GATEWAY_JSON_STRING);

    if (kty->len == 2 && ngx_strncmp(kty->data, "EC", 2) == 0) {

        /* no "crv": an error for ngx_ws_gateway_jwt_jwk_ec() to tell */

        if (crv == NULL
            || (crv->value.len == 5
                && (ngx_strncmp(crv->value.data, "P-256", 5) == 0
                    || ngx_strncmp(crv->value.data, "P-384", 5) == 0
                    || ngx_strncmp(crv->value.data, "P-521", 5) == 0)))
        {
            return NGX_OK;
        }

        return NGX_DECLINED;
    }

    if (kty->len == 3 && ngx_strncmp(kty->data, "OKP", 3) == 0) {
        if (crv == NULL
            || (crv->value.len == 7
                && ngx_strncmp(crv->value.data, "Ed25519", 7) == 0))
        {
            return NGX_OK;
        }

        return NGX_DECLINED;
    }

    return NGX_DECLINED;
}


static ngx_uint_t
ngx_ws_gateway_jwt_jwk_private(ngx_ws_gateway_json_t *json,
    ngx_ws_gateway_json_node_t *jwk)
{
    ngx_uint_t   i;

    /* the private members of RSA, EC and OKP keys (RFC 7518, 6) */

    static char  *names[] = { "d", "p", "q", "dp", "dq", "qi", "oth" };

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (ngx_ws_gateway_json_get(json, jwk, (u_char *) names[i],
                                    ngx_strlen(names[i])))
        {
            return 1;
        }
    }

    return 0;
}


static const char *
ngx_ws_gateway_jwt_jwk_string(ngx_ws_gateway_json_t *json,
    ngx_ws_gateway_json_node_t *jwk, char *name, ngx_str_t *value)
{
    ngx_ws_gateway_json_node_t  *node;

    node = ngx_ws_gateway_json_get(json, jwk, (u_char *) name,
                                   ngx_strlen(name));

    if (node == NULL) {
        ngx_str_null(value);
        return NULL;
    }

    if (node->type != NGX_WS_GATEWAY_JSON_STRING || node->value.len == 0) {
        return "a key member is not a non-empty string";
    }

    *value = node->value;

    return NULL;
}


static const char *
ngx_ws_gateway_jwt_jwk_bytes(ngx_ws_gateway_json_t *json,
    ngx_ws_gateway_json_node_t *jwk, char *name, u_char *buf,
    ngx_str_t *value)
{
    ngx_str_t    text;
    const char  *err;

    err = ngx_ws_gateway_jwt_jwk_string(json, jwk, name, &text);
    if (err) {
        return err;
    }

    if (text.len == 0) {
        return "a key misses a member its type requires";
    }

    if (ngx_ws_gateway_jwt_base64url(buf, &value->len, text.data, text.len)
        != NGX_OK)
    {
        return "a key member is not base64url";
    }

    value->data = buf;

    return NULL;
}


static const char *
ngx_ws_gateway_jwt_jwk_rsa(ngx_ws_gateway_jwt_key_t *key,
    ngx_ws_gateway_json_t *json, ngx_ws_gateway_json_node_t *jwk,
    u_char *buf)
{
    BIGNUM       *n, *e;
    ngx_str_t     nb, eb;
    const char   *err;
    EVP_PKEY     *pkey;

#if (NGX_WS_GATEWAY_JWT_OSSL3)
    OSSL_PARAM      *params;
    EVP_PKEY_CTX    *ctx;
    OSSL_PARAM_BLD  *bld;
#else
    RSA             *rsa;
#endif

    err = ngx_ws_gateway_jwt_jwk_bytes(json, jwk, "n", buf, &nb);
    if (err) {
        return err;
    }

    err = ngx_ws_gateway_jwt_jwk_bytes(json, jwk, "e", buf + nb.len, &eb);
    if (err) {
        return err;
    }

    if (nb.data[0] == 0 || eb.data[0] == 0) {
        return "an RSA key member has leading zeros";
    }

    n = BN_bin2bn(nb.data, nb.len, NULL);
    e = BN_bin2bn(eb.data, eb.len, NULL);
    pkey = NULL;

    if (n == NULL || e == NULL) {
        goto failed;
    }

#if (NGX_WS_GATEWAY_JWT_OSSL3)

    params = NULL;
    ctx = NULL;

    bld = OSSL_PARAM_BLD_new();

    if (bld == NULL
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1
        || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL
        || (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL
        || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        pkey = NULL;
    }

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);

    BN_free(n);
    BN_free(e);

#else

    rsa = RSA_new();

    if (rsa == NULL || RSA_set0_key(rsa, n, e, NULL) != 1) {
        RSA_free(rsa);
        goto failed;
    }

    pkey = EVP_PKEY_new();

    if (pkey == NULL || EVP_PKEY_assign_RSA(pkey, rsa) != 1) {
        EVP_PKEY_free(pkey);
        RSA_free(rsa);
        pkey = NULL;
    }

#endif

    ERR_clear_error();

    if (pkey == NULL) {
        return "an RSA key OpenSSL does not accept";
    }

    key->pkey = pkey;

    err = ngx_ws_gateway_jwt_classify(key);

    if (err == NULL && key->family != NGX_WS_GATEWAY_JWT_KEY_RSA) {
        err = "not an RSA key";
    }

    return err;

failed:

    BN_free(n);
    BN_free(e);
    ERR_clear_error();

    return "out of memory";
}


static const char *
ngx_ws_gateway_jwt_jwk_ec(ngx_ws_gateway_jwt_key_t *key,
    ngx_ws_gateway_json_t *json, ngx_ws_gateway_json_node_t *jwk,
    u_char *buf)
{
    int          nid;
    size_t       size;
    ngx_str_t    crv, x, y;
    EVP_PKEY    *pkey;
    ngx_uint_t   family;
    const char  *err;

#if (NGX_WS_GATEWAY_JWT_OSSL3)
    u_char          *point;
    const char      *group;
    OSSL_PARAM      *params;
    EVP_PKEY_CTX    *ctx, *check;
    OSSL_PARAM_BLD  *bld;
#else
    BIGNUM          *bx, *by;
    EC_KEY          *ec;
#endif

    err = ngx_ws_gateway_jwt_jwk_string(json, jwk, "crv", &crv);
    if (err) {
        return err;
    }

    if (crv.len == 5 && ngx_strncmp(crv.data, "P-256", 5) == 0) {
        nid = NID_X9_62_prime256v1;
        family = NGX_WS_GATEWAY_JWT_KEY_P256;
        size = 32;

    } else if (crv.len == 5 && ngx_strncmp(crv.data, "P-384", 5) == 0) {
        nid = NID_secp384r1;
        family = NGX_WS_GATEWAY_JWT_KEY_P384;
        size = 48;

    } else if (crv.len == 5 && ngx_strncmp(crv.data, "P-521", 5) == 0) {
        nid = NID_secp521r1;
        family = NGX_WS_GATEWAY_JWT_KEY_P521;
        size = 66;

    } else {
        return "unsupported EC \"crv\" (P-256, P-384, P-521 only)";
    }

    /* x and y: the full size of the field (RFC 7518, 6.2.1.2) */

    err = ngx_ws_gateway_jwt_jwk_bytes(json, jwk, "x", buf + 1, &x);
    if (err) {
        return err;
    }

    if (x.len != size) {
        return "EC \"x\" is not of the curve's size";
    }

    err = ngx_ws_gateway_jwt_jwk_bytes(json, jwk, "y", buf + 1 + size, &y);
    if (err) {
        return err;
    }

    if (y.len != size) {
        return "EC \"y\" is not of the curve's size";
    }

    pkey = NULL;

#if (NGX_WS_GATEWAY_JWT_OSSL3)

    /* the uncompressed point: 04 x y */

    point = buf;
    point[0] = 0x04;

    group = OBJ_nid2sn(nid);
    params = NULL;
    ctx = NULL;
    check = NULL;

    bld = OSSL_PARAM_BLD_new();

    if (bld == NULL
        || OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                           group, 0)
           != 1
        || OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                            point, 1 + 2 * size)
           != 1
        || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL
        || (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL
        || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    {
        pkey = NULL;
    }

    if (pkey) {
        check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);

        if (check == NULL || EVP_PKEY_public_check(check) != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
    }

    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);

#else

    bx = BN_bin2bn(x.data, x.len, NULL);
    by = BN_bin2bn(y.data, y.len, NULL);
    ec = EC_KEY_new_by_curve_name(nid);

    /* checks that the point is on the curve */

    if (bx && by && ec
        && EC_KEY_set_public_key_affine_coordinates(ec, bx, by) == 1)
    {
        pkey = EVP_PKEY_new();

        if (pkey && EVP_PKEY_assign_EC_KEY(pkey, ec) == 1) {
            ec = NULL;

        } else {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
    }

    EC_KEY_free(ec);
    BN_free(bx);
    BN_free(by);

#endif

    ERR_clear_error();

    if (pkey == NULL) {
        return "an EC key that is not a point on its curve";
    }

    key->pkey = pkey;

    err = ngx_ws_gateway_jwt_classify(key);

    if (err == NULL && key->family != family) {
        err = "an EC key of another curve than its \"crv\"";
    }

    return err;
}


static const char *
ngx_ws_gateway_jwt_jwk_okp(ngx_ws_gateway_jwt_key_t *key,
    ngx_ws_gateway_json_t *json, ngx_ws_gateway_json_node_t *jwk,
    u_char *buf)
{
    ngx_str_t    crv, x;
    const char  *err;

    err = ngx_ws_gateway_jwt_jwk_string(json, jwk, "crv", &crv);
    if (err) {
        return err;
    }

    if (!(crv.len == 7 && ngx_strncmp(crv.data, "Ed25519", 7) == 0)) {
        return "unsupported OKP \"crv\" (Ed25519 only)";
    }

    err = ngx_ws_gateway_jwt_jwk_bytes(json, jwk, "x", buf, &x);
    if (err) {
        return err;
    }

    if (x.len != 32) {
        return "Ed25519 \"x\" is not 32 bytes";
    }

    key->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x.data,
                                            x.len);
    ERR_clear_error();

    if (key->pkey == NULL) {
        return "an Ed25519 key OpenSSL does not accept";
    }

    return ngx_ws_gateway_jwt_classify(key);
}


void
ngx_ws_gateway_jwt_key_free(ngx_ws_gateway_jwt_key_t *key)
{
    if (key->pkey) {
        EVP_PKEY_free(key->pkey);
        key->pkey = NULL;
    }
}
