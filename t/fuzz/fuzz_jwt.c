
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


/*
 * libFuzzer target: ngx_ws_gateway_jwt.c.  Input: a mode byte, then
 * the text.  The mode's lowest bit picks what the text is:
 *
 * 0, a token: decoded (every algorithm allowed) from a copy of exactly
 *    its length, into a buffer and nodes of exactly the sizes
 *    ngx_ws_gateway_jwt_buf_size() and ngx_ws_gateway_jwt_nodes() give;
 *    then verified with a fixed key set (an HMAC secret, RSA, P-256 and
 *    Ed25519 keys: those of the examples of RFC 7515 and RFC 8037) and
 *    its claims checked against fixed rules at a fixed time.  Checked:
 *    every result in range, an error text on each refusal, the decoded
 *    parts in the buffer and encoding back to the token's own segments
 *    (base64url is canonical), the node limits, and every top-level
 *    header and claim value rendered whole, into NULL, and cut.
 *
 * 1, a JWKS document (or a single JWK): each of its "keys" loaded with
 *    ngx_ws_gateway_jwt_key_jwk(), with a buffer of exactly the
 *    document's length.  Checked: a reason on each refusal; on success
 *    a family and algorithms that fit the key, and the key then verifies
 *    (or not) a token of its family without harm; each key is freed.
 */


#include "fuzz.h"
#include <ngx_ws_gateway_jwt.h>


#define FUZZ_NOW          1700000000
#define FUZZ_JWK_NODES    256

#define FUZZ_ALL          (((ngx_uint_t) 1 << NGX_WS_GATEWAY_JWT_ALGS) - 1)


static void fuzz_jwt_init(void);
static void fuzz_jwt_token(const u_char *data, size_t len);
static void fuzz_jwt_segment(ngx_str_t *decoded, const u_char *text,
    size_t len);
static void fuzz_jwt_values(ngx_ws_gateway_json_t *json);
static void fuzz_jwt_jwks(const u_char *data, size_t len);
static void fuzz_jwt_key(ngx_ws_gateway_jwt_key_t *key, u_char *buf,
    size_t len);
static ngx_uint_t fuzz_jwt_verify(const char *token,
    ngx_ws_gateway_jwt_key_t *key);
static ngx_uint_t fuzz_jwt_in(void *p, size_t len, void *start,
    size_t size);


/* RFC 7515 A.1: the HMAC secret */

static u_char  fuzz_secret[] = {
    0x03, 0x23, 0x35, 0x4b, 0x2b, 0x0f, 0xa5, 0xbc, 0x83, 0x7e, 0x06, 0x65,
    0x77, 0x7b, 0xa6, 0x8f, 0x5a, 0xb3, 0x28, 0xe6, 0xf0, 0x54, 0xc9, 0x28,
    0xa9, 0x0f, 0x84, 0xb2, 0xd2, 0x50, 0x2e, 0xbf, 0xd3, 0xfb, 0x5a, 0x92,
    0xd2, 0x06, 0x47, 0xef, 0x96, 0x8a, 0xb4, 0xc3, 0x77, 0x62, 0x3d, 0x22,
    0x3d, 0x2e, 0x21, 0x72, 0x05, 0x2e, 0x4f, 0x08, 0xc0, 0xcd, 0x9a, 0xf5,
    0x67, 0xd0, 0x80, 0xa3
};

/* RFC 7515 A.2: the RSA public key */

static const char  fuzz_rsa_jwk[] =
    "{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\""
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw"
    "-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b3269"
    "0r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS"
    "-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aG"
    "hyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXp"
    "oQ\"}";

/* RFC 7515 A.3: the P-256 public key */

static const char  fuzz_p256_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV7\n"
    "6e8Tus9uPHvRVEXH8UTNG72bfocs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\n"
    "-----END PUBLIC KEY-----\n";

/* RFC 8037 A.2: the Ed25519 public key */

static const char  fuzz_ed_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
    "-----END PUBLIC KEY-----\n";

/* a token of each family, for the keys of the JWKS mode: RFC 7515 A.1 */

static const char  fuzz_token_hs256[] =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAi"
    "OjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dB"
    "jftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/* RFC 7515 A.2 */
static const char  fuzz_token_rs256[] =
    "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQog"
    "Imh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80"
    "EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp"
    "5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK"
    "5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwus"
    "C-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98"
    "rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

/* RFC 7515 A.3 */
static const char  fuzz_token_es256[] =
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQog"
    "Imh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAq"
    "OyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

/* ES384, ES512, EdDSA: signatures of the right size and no value */
static const char  fuzz_token_es384[] =
    "eyJhbGciOiJFUzM4NCJ9.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAA";

static const char  fuzz_token_es512[] =
    "eyJhbGciOiJFUzUxMiJ9.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

static const char  fuzz_token_eddsa[] =
    "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJmdXp6In0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

static const char  *fuzz_tokens[NGX_WS_GATEWAY_JWT_KEY_FAMILIES] = {
    fuzz_token_hs256, fuzz_token_rs256, fuzz_token_es256, fuzz_token_es384,
    fuzz_token_es512, fuzz_token_eddsa
};


static ngx_str_t  fuzz_issuers[] = {
    ngx_string("https://issuer.example"),
    ngx_string("joe")
};

static ngx_str_t  fuzz_audiences[] = {
    ngx_string("a"),
    ngx_string("b")
};

static ngx_str_t  fuzz_roles[] = {
    ngx_string("admin"),
    ngx_string("1"),
    ngx_string("true")
};

static ngx_array_t  fuzz_roles_array = {
    fuzz_roles, 3, sizeof(ngx_str_t), 3, NULL
};

static ngx_ws_gateway_jwt_claim_t  fuzz_claims[] = {
    { ngx_string("sub"), NULL },
    { ngx_string("role"), &fuzz_roles_array }
};

static ngx_ws_gateway_jwt_rules_t  fuzz_rules[] = {
    { 0, 0, NULL, 0, NULL, 0, NULL, 0 },
    { 60, 3600, fuzz_issuers, 2, fuzz_audiences, 2, fuzz_claims, 2 }
};


static ngx_ws_gateway_jwt_key_t  fuzz_keys[4];
static ngx_uint_t                fuzz_nkeys;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }

    fuzz_jwt_init();

    if (data[0] & 1) {
        fuzz_jwt_jwks(data + 1, size - 1);

    } else {
        fuzz_jwt_token(data + 1, size - 1);
    }

    return 0;
}


/* the fixed keys, once; kept for the process's life */

static void
fuzz_jwt_init(void)
{
    size_t                       len;
    ngx_int_t                    rc;
    const char                  *reason;
    ngx_ws_gateway_json_t        json;
    ngx_ws_gateway_json_node_t   nodes[8];

    static u_char      *doc, *scratch, *buf;
    static ngx_uint_t   done;

    if (done) {
        return;
    }

    done = 1;

    fuzz_assert(ngx_ws_gateway_jwt_key_secret(&fuzz_keys[0], fuzz_secret,
                                              sizeof(fuzz_secret))
                == NULL);

    /* the RSA key's texts are kept with it */

    len = sizeof(fuzz_rsa_jwk) - 1;
    doc = malloc(len);
    scratch = malloc(len);
    buf = malloc(len);
    memcpy(doc, fuzz_rsa_jwk, len);

    ngx_ws_gateway_json_init(&json, nodes, 8, scratch, len);
    fuzz_assert(ngx_ws_gateway_json_parse(&json, doc, len) == NGX_OK);

    reason = NULL;
    rc = ngx_ws_gateway_jwt_key_jwk(&fuzz_keys[1], &json, &nodes[0], buf,
                                    &reason);
    fuzz_assert(rc == NGX_OK);

    fuzz_assert(ngx_ws_gateway_jwt_key_pem(&fuzz_keys[2],
                                           (u_char *) fuzz_p256_pem,
                                           sizeof(fuzz_p256_pem) - 1)
                == NULL);

    fuzz_assert(ngx_ws_gateway_jwt_key_pem(&fuzz_keys[3],
                                           (u_char *) fuzz_ed_pem,
                                           sizeof(fuzz_ed_pem) - 1)
                == NULL);

    fuzz_nkeys = 4;

    /* the RFC examples verify with their keys */

    fuzz_assert(fuzz_jwt_verify(fuzz_tokens[NGX_WS_GATEWAY_JWT_KEY_HMAC],
                                &fuzz_keys[0])
                == NGX_WS_GATEWAY_JWT_OK);
    fuzz_assert(fuzz_jwt_verify(fuzz_tokens[NGX_WS_GATEWAY_JWT_KEY_RSA],
                                &fuzz_keys[1])
                == NGX_WS_GATEWAY_JWT_OK);
    fuzz_assert(fuzz_jwt_verify(fuzz_tokens[NGX_WS_GATEWAY_JWT_KEY_P256],
                                &fuzz_keys[2])
                == NGX_WS_GATEWAY_JWT_OK);

    /*
     * the EC key gets its kid after: the RFC's token has none, and where
     * keys have kids a kid-less token is tried only with kid-less keys
     */

    ngx_str_set(&fuzz_keys[2].kid, "ec");
}


static void
fuzz_jwt_token(const u_char *data, size_t len)
{
    u_char                *token, *buf, *dot1, *dot2, *out;
    size_t                 size, exp_len;
    ngx_uint_t             n, rc, r, i;
    ngx_ws_gateway_jwt_t   jwt;

    ngx_ws_gateway_json_node_t  *nodes, *root;

    token = malloc(len ? len : 1);
    memcpy(token, data, len);

    size = ngx_ws_gateway_jwt_buf_size(len);
    buf = malloc(size ? size : 1);

    n = ngx_ws_gateway_jwt_nodes(token, len);
    fuzz_assert(n <= NGX_WS_GATEWAY_JWT_HEADER_NODES
                     + NGX_WS_GATEWAY_JWT_CLAIMS_NODES);
    nodes = malloc((n ? n : 1) * sizeof(ngx_ws_gateway_json_node_t));

    ngx_ws_gateway_jwt_init(&jwt, buf, size, nodes, n);

    rc = ngx_ws_gateway_jwt_decode(&jwt, token, len, FUZZ_ALL);

    fuzz_assert(memcmp(token, data, len) == 0);

    if (rc != NGX_WS_GATEWAY_JWT_OK) {
        fuzz_assert(rc == NGX_WS_GATEWAY_JWT_MALFORMED
                    || rc == NGX_WS_GATEWAY_JWT_BAD_ALG
                    || rc == NGX_WS_GATEWAY_JWT_TOO_LARGE);
        fuzz_assert(jwt.error != NULL);
        goto done;
    }

    /* the parts */

    fuzz_assert(jwt.alg < NGX_WS_GATEWAY_JWT_ALGS);
    fuzz_assert(len <= NGX_WS_GATEWAY_JWT_MAX_SIZE);

    dot1 = memchr(token, '.', len);
    fuzz_assert(dot1 != NULL);
    dot2 = memchr(dot1 + 1, '.', token + len - dot1 - 1);
    fuzz_assert(dot2 != NULL);
    fuzz_assert(memchr(dot2 + 1, '.', token + len - dot2 - 1) == NULL);

    fuzz_assert(jwt.signing_input.data == token);
    fuzz_assert(jwt.signing_input.len == (size_t) (dot2 - token));

    fuzz_assert(fuzz_jwt_in(jwt.header_json.data, jwt.header_json.len, buf,
                            size));
    fuzz_assert(fuzz_jwt_in(jwt.payload_json.data, jwt.payload_json.len,
                            buf, size));
    fuzz_assert(fuzz_jwt_in(jwt.signature.data, jwt.signature.len, buf,
                            size));

    fuzz_jwt_segment(&jwt.header_json, token, dot1 - token);
    fuzz_jwt_segment(&jwt.payload_json, dot1 + 1, dot2 - dot1 - 1);
    fuzz_jwt_segment(&jwt.signature, dot2 + 1, token + len - dot2 - 1);

    /* the trees */

    fuzz_assert(jwt.header.nnodes >= 1
                && jwt.header.nnodes <= NGX_WS_GATEWAY_JWT_HEADER_NODES);
    fuzz_assert(jwt.claims.nnodes >= 1
                && jwt.claims.nnodes <= NGX_WS_GATEWAY_JWT_CLAIMS_NODES);
    fuzz_assert(jwt.header.nodes[0].type == NGX_WS_GATEWAY_JSON_OBJECT);
    fuzz_assert(jwt.claims.nodes[0].type == NGX_WS_GATEWAY_JSON_OBJECT);
    fuzz_assert(jwt.header.nodes + jwt.header.nnodes <= jwt.claims.nodes
                || jwt.claims.nodes + jwt.claims.nnodes <= jwt.header.nodes);
    fuzz_assert(jwt.header.nnodes + jwt.claims.nnodes <= n);

    fuzz_assert(ngx_ws_gateway_jwt_header(&jwt, (u_char *) "crit", 4)
                == NULL);

    root = ngx_ws_gateway_jwt_header(&jwt, (u_char *) "alg", 3);
    fuzz_assert(root && root->type == NGX_WS_GATEWAY_JSON_STRING);
    fuzz_assert(ngx_ws_gateway_jwt_alg(root->value.data, root->value.len)
                == jwt.alg);

    root = ngx_ws_gateway_jwt_header(&jwt, (u_char *) "kid", 3);
    fuzz_assert((root != NULL) == jwt.has_kid);

    if (jwt.has_kid) {
        fuzz_assert(root->type == NGX_WS_GATEWAY_JSON_STRING);
        fuzz_assert(jwt.kid.data == root->value.data
                    && jwt.kid.len == root->value.len);
    }

    fuzz_jwt_values(&jwt.header);
    fuzz_jwt_values(&jwt.claims);

    /* the signature */

    jwt.error = NULL;
    r = ngx_ws_gateway_jwt_verify(&jwt, fuzz_keys, fuzz_nkeys);

    fuzz_assert(r == NGX_WS_GATEWAY_JWT_OK
                || r == NGX_WS_GATEWAY_JWT_UNKNOWN_KID
                || r == NGX_WS_GATEWAY_JWT_BAD_SIGNATURE);
    fuzz_assert(r == NGX_WS_GATEWAY_JWT_OK || jwt.error != NULL);

    /* the claims, without rules and with all of them */

    for (i = 0; i < 2; i++) {
        jwt.error = NULL;
        r = ngx_ws_gateway_jwt_check_claims(&jwt, &fuzz_rules[i], FUZZ_NOW);

        fuzz_assert(r == NGX_WS_GATEWAY_JWT_OK
                    || r == NGX_WS_GATEWAY_JWT_MALFORMED
                    || (r >= NGX_WS_GATEWAY_JWT_EXPIRED
                        && r <= NGX_WS_GATEWAY_JWT_BAD_CLAIM));
        fuzz_assert(r == NGX_WS_GATEWAY_JWT_OK || jwt.error != NULL);

        if (r != NGX_WS_GATEWAY_JWT_OK) {
            continue;
        }

        /* an exp kept is one not passed, and within the claim's second */

        root = ngx_ws_gateway_jwt_claim(&jwt, (u_char *) "exp", 3);

        if (root == NULL) {
            fuzz_assert(jwt.exp == 0);

        } else if (jwt.exp) {
            fuzz_assert(root->type == NGX_WS_GATEWAY_JSON_NUMBER);
            fuzz_assert((double) jwt.exp <= root->number
                        && root->number < (double) jwt.exp + 1);
            fuzz_assert(jwt.exp + fuzz_rules[i].leeway + 1 > FUZZ_NOW);
        }

        if (i == 1) {
            /* the rules hold: iss and sub are there */

            fuzz_assert(ngx_ws_gateway_jwt_claim(&jwt, (u_char *) "iss", 3));
            fuzz_assert(ngx_ws_gateway_jwt_claim(&jwt, (u_char *) "sub", 3));
            fuzz_assert(ngx_ws_gateway_jwt_claim(&jwt, (u_char *) "iat", 3));

            root = ngx_ws_gateway_jwt_claim(&jwt, (u_char *) "aud", 3);
            fuzz_assert(root != NULL);

            exp_len = ngx_ws_gateway_jwt_value(&jwt.claims, root, NULL, 0);
            out = malloc(exp_len ? exp_len : 1);
            fuzz_assert(ngx_ws_gateway_jwt_value(&jwt.claims, root, out,
                                                 exp_len)
                        == exp_len);
            free(out);
        }
    }

done:

    free(nodes);
    free(buf);
    free(token);
}


/* a decoded part encodes back to its segment: base64url is canonical */

static void
fuzz_jwt_segment(ngx_str_t *decoded, const u_char *text, size_t len)
{
    u_char    *d, *enc;
    size_t     i;
    uint32_t   v;

    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    fuzz_assert(len == (decoded->len * 4 + 2) / 3);

    enc = malloc(len + 4);
    d = enc;

    for (i = 0; i < decoded->len; i += 3) {
        v = (uint32_t) decoded->data[i] << 16;

        if (i + 1 < decoded->len) {
            v |= (uint32_t) decoded->data[i + 1] << 8;
        }

        if (i + 2 < decoded->len) {
            v |= decoded->data[i + 2];
        }

        *d++ = alphabet[v >> 18];
        *d++ = alphabet[(v >> 12) & 0x3f];
        *d++ = alphabet[(v >> 6) & 0x3f];
        *d++ = alphabet[v & 0x3f];
    }

    fuzz_assert(memcmp(enc, text, len) == 0);

    free(enc);
}


/* every top-level member as a value: its length, whole, and cut */

static void
fuzz_jwt_values(ngx_ws_gateway_json_t *json)
{
    u_char                      *out, *cut;
    size_t                       len, half;
    ngx_ws_gateway_json_node_t  *root, *node;

    root = ngx_ws_gateway_json_root(json);

    for (node = ngx_ws_gateway_json_first(json, root);
         node;
         node = ngx_ws_gateway_json_next(json, node))
    {
        len = ngx_ws_gateway_jwt_value(json, node, NULL, 0);

        out = malloc(len + 1);
        out[len] = 0xa5;

        fuzz_assert(ngx_ws_gateway_jwt_value(json, node, out, len) == len);
        fuzz_assert(out[len] == 0xa5);

        if (node->type == NGX_WS_GATEWAY_JSON_STRING) {
            fuzz_assert(len == node->value.len
                        && memcmp(out, node->value.data, len) == 0);
        }

        if (node->type == NGX_WS_GATEWAY_JSON_OBJECT) {
            fuzz_assert(len == node->value.len);
        }

        half = len / 2;
        cut = malloc(half ? half : 1);

        fuzz_assert(ngx_ws_gateway_jwt_value(json, node, cut, half) == len);
        fuzz_assert(half == 0 || memcmp(cut, out, half) == 0);

        free(cut);
        free(out);
    }
}


static void
fuzz_jwt_jwks(const u_char *data, size_t len)
{
    u_char                      *doc, *scratch, *buf;
    ngx_int_t                    rc;
    ngx_uint_t                   n;
    const char                  *reason;
    ngx_ws_gateway_json_t        json;
    ngx_ws_gateway_jwt_key_t     key;
    ngx_ws_gateway_json_node_t  *root, *keys, *jwk;

    static ngx_ws_gateway_json_node_t  nodes[FUZZ_JWK_NODES];

    doc = malloc(len ? len : 1);
    scratch = malloc(len ? len : 1);
    buf = malloc(len ? len : 1);
    memcpy(doc, data, len);

    ngx_ws_gateway_json_init(&json, nodes, FUZZ_JWK_NODES, scratch, len);

    if (ngx_ws_gateway_json_parse(&json, doc, len) != NGX_OK) {
        goto done;
    }

    root = ngx_ws_gateway_json_root(&json);
    keys = ngx_ws_gateway_json_get(&json, root, (u_char *) "keys", 4);

    if (keys && keys->type == NGX_WS_GATEWAY_JSON_ARRAY) {
        jwk = ngx_ws_gateway_json_first(&json, keys);

    } else {
        jwk = root;
        keys = NULL;
    }

    for (n = 0; jwk; n++) {
        reason = NULL;
        ngx_memset(&key, 0xa5, sizeof(key));

        rc = ngx_ws_gateway_jwt_key_jwk(&key, &json, jwk, buf, &reason);

        if (rc == NGX_OK) {
            fuzz_jwt_key(&key, buf, len);
            ngx_ws_gateway_jwt_key_free(&key);

        } else {
            fuzz_assert(rc == NGX_ERROR || rc == NGX_DECLINED);
            fuzz_assert(reason != NULL);
        }

        jwk = keys ? ngx_ws_gateway_json_next(&json, jwk) : NULL;
    }

done:

    fuzz_assert(memcmp(doc, data, len) == 0);

    free(buf);
    free(scratch);
    free(doc);
}


/* a key loaded from a JWK: sound, and usable on a token of its family */

static void
fuzz_jwt_key(ngx_ws_gateway_jwt_key_t *key, u_char *buf, size_t len)
{
    int         type;
    ngx_uint_t  algs, r;

    fuzz_assert(key->family < NGX_WS_GATEWAY_JWT_KEY_FAMILIES);

    algs = ngx_ws_gateway_jwt_family_algs(key->family);
    fuzz_assert(key->algs != 0 && (key->algs & ~algs) == 0);

    if (key->family == NGX_WS_GATEWAY_JWT_KEY_HMAC) {
        fuzz_assert(key->pkey == NULL);
        fuzz_assert(key->secret.len >= NGX_WS_GATEWAY_JWT_MIN_SECRET);
        fuzz_assert(fuzz_jwt_in(key->secret.data, key->secret.len, buf,
                                len));

    } else {
        fuzz_assert(key->pkey != NULL);

        type = EVP_PKEY_base_id(key->pkey);

        switch (key->family) {

        case NGX_WS_GATEWAY_JWT_KEY_RSA:
            fuzz_assert(type == EVP_PKEY_RSA);
            fuzz_assert(EVP_PKEY_bits(key->pkey)
                        >= NGX_WS_GATEWAY_JWT_MIN_RSA_BITS);
            break;

        case NGX_WS_GATEWAY_JWT_KEY_ED25519:
            fuzz_assert(type == EVP_PKEY_ED25519);
            break;

        default:
            fuzz_assert(type == EVP_PKEY_EC);
            break;
        }
    }

    r = fuzz_jwt_verify(fuzz_tokens[key->family], key);

    fuzz_assert(r == NGX_WS_GATEWAY_JWT_OK
                || r == NGX_WS_GATEWAY_JWT_UNKNOWN_KID
                || r == NGX_WS_GATEWAY_JWT_BAD_SIGNATURE);
}


static ngx_uint_t
fuzz_jwt_verify(const char *token, ngx_ws_gateway_jwt_key_t *key)
{
    u_char                      *copy, *buf;
    size_t                       len, size;
    ngx_uint_t                   n, r;
    ngx_ws_gateway_jwt_t         jwt;
    ngx_ws_gateway_json_node_t  *nodes;

    len = strlen(token);
    copy = malloc(len);
    memcpy(copy, token, len);

    size = ngx_ws_gateway_jwt_buf_size(len);
    buf = malloc(size);
    n = ngx_ws_gateway_jwt_nodes(copy, len);
    nodes = malloc(n * sizeof(ngx_ws_gateway_json_node_t));

    ngx_ws_gateway_jwt_init(&jwt, buf, size, nodes, n);

    r = ngx_ws_gateway_jwt_decode(&jwt, copy, len, FUZZ_ALL);
    fuzz_assert(r == NGX_WS_GATEWAY_JWT_OK);

    r = ngx_ws_gateway_jwt_verify(&jwt, key, 1);

    free(nodes);
    free(buf);
    free(copy);

    return r;
}


static ngx_uint_t
fuzz_jwt_in(void *p, size_t len, void *start, size_t size)
{
    return (len == 0 && p == NULL)
           || ((u_char *) p >= (u_char *) start
               && (u_char *) p + len <= (u_char *) start + size);
}
