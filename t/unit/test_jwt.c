
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


/*
 * ngx_ws_gateway_jwt.c: strict base64url, algorithm names, decoding,
 * signature verification, the claims checks, value rendering and keys.
 *
 * Signatures are checked against the examples of RFC 7515 appendix A
 * (HS256, RS256, ES256, ES512) and RFC 8037 appendix A (Ed25519), and
 * against tokens signed once, when this file was written, with the keys
 * below (RSA 2048 and P-384 generated for it, P-521 and Ed25519 the keys
 * of the RFC examples, the certificate self-signed with the RFC 7515
 * A.3 key).  HMAC tokens are signed here, with OpenSSL's HMAC().  Keys
 * that let anyone sign (RSA of exponent 1, Ed25519 of small order) must
 * be refused, and tokens forged for them must not verify.
 *
 * The time claims, as the tables show: a token is valid while
 * now < exp + leeway; nbf and iat may be at most now + leeway; with
 * max_age, iat is required (bad_claim without) and now - iat may be at
 * most max_age + leeway (expired beyond).
 *
 * Every token is decoded from a copy of exactly its length, into a
 * buffer and a node array of exactly the sizes that
 * ngx_ws_gateway_jwt_buf_size() and ngx_ws_gateway_jwt_nodes() give;
 * PEM and JSON key texts are read from copies of exactly their length:
 * under ASan, a byte read past any of them fails, and every EVP_PKEY
 * must be freed (the leak check).
 *
 * In the JSON texts of the tables, ' stands for ".
 */


#include "unit.h"
#include <ngx_ws_gateway_jwt.h>

#include <openssl/hmac.h>


#define TEST_NOW          1000000
#define TEST_TOKEN_MAX    (NGX_WS_GATEWAY_JWT_MAX_SIZE + 1024)
#define TEST_JWK_NODES    64

#define TEST_S(s)         ((s) ? (s) : "(none)")
#define TEST_ALL          (((ngx_uint_t) 1 << NGX_WS_GATEWAY_JWT_ALGS) - 1)
#define TEST_BIT(alg)     ((ngx_uint_t) 1 << NGX_WS_GATEWAY_JWT_##alg)

#define TEST_HS           (TEST_BIT(HS256) | TEST_BIT(HS384)                 \
                           | TEST_BIT(HS512))
#define TEST_RS           (TEST_BIT(RS256) | TEST_BIT(RS384)                 \
                           | TEST_BIT(RS512) | TEST_BIT(PS256)               \
                           | TEST_BIT(PS384) | TEST_BIT(PS512))


/* RFC 7515 A.1: HS256, with a 64-byte secret */

#define TEST_A1_K                                                            \
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4h"   \
    "cgUuTwjAzZr1Z9CAow"

#define TEST_A1_HEADER    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"

/* {"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true} */
#define TEST_A_PAYLOAD                                                       \
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"       \
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ"

#define TEST_A1_TOKEN                                                        \
    TEST_A1_HEADER "." TEST_A_PAYLOAD                                        \
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

/* RFC 7515 A.2: RS256 */

#define TEST_A2_N                                                            \
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw"   \
    "-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b3269"   \
    "0r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS"   \
    "-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aG"   \
    "hyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXp"   \
    "oQ"

#define TEST_A2_TOKEN                                                        \
    "eyJhbGciOiJSUzI1NiJ9." TEST_A_PAYLOAD                                   \
    ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuH"  \
    "Im4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdi"   \
    "uB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN"   \
    "9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2"   \
    "w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77"   \
    "Rw"

/* RFC 7515 A.3: ES256 */

#define TEST_A3_X         "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define TEST_A3_Y         "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
/* the same y with its last bit flipped: a point off the curve */
#define TEST_A3_Y_OFF     "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5aw"

#define TEST_A3_TOKEN                                                        \
    "eyJhbGciOiJFUzI1NiJ9." TEST_A_PAYLOAD                                   \
    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQ"  \
    "xfKTUJqPP3-Kg6NU1Q"

/* RFC 7515 A.4: ES512 over the payload "Payload", not a claims set */

#define TEST_A4_X                                                            \
    "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1j"   \
    "SfS9tsz4qUxcWceqwQGk"
#define TEST_A4_Y                                                            \
    "ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0A"   \
    "ZMaZmh9ubmf63e3kyMj2"

#define TEST_A4_TOKEN                                                        \
    "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA"                                        \
    ".AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2"  \
    "SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqO"   \
    "gzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn"

/* RFC 8037 A.2 and A.4: Ed25519 over "Example of Ed25519 signing" */

#define TEST_ED_X         "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"

#define TEST_ED_TOKEN                                                        \
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"               \
    ".hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsP"  \
    "t9g7sVvpAr_MuM0KAg"

/* an RSA 2048 key */

#define TEST_RSA_N                                                           \
    "q08ZlNGMLxViRBMcFP8YP9m0BKvLktoN6WwBp1w5UFGBCXFubn6hPZSTXKH0OBez3c9M"   \
    "yndDMHn9zI9HYiIy5DeBp_qcixQ4tpzGLF-ALEYJud_iwvZWcpkChw4R_UTr4VfFIJ9h"   \
    "19F7t4dzk612HuekfNJWGGiegVwxfA5rgCpuLZqiRZC8m_0GI56-Gt4hYuhNiK-lKYLO"   \
    "J_4FGeAOWuTIGHqnupa81XruO6kbx9YBD4q7_QktthIXmWgbNTwIYMoj_4j4_0QHG8t1"   \
    "lM-AB6pvVVPqCDdV7aanU7z1_BAYpUz790bTENT_tfRRWyxEIR3c9COl90HZFpTItTBG"   \
    "Ow"

static const char  test_rsa_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAq08ZlNGMLxViRBMcFP8Y\n"
    "P9m0BKvLktoN6WwBp1w5UFGBCXFubn6hPZSTXKH0OBez3c9MyndDMHn9zI9HYiIy\n"
    "5DeBp/qcixQ4tpzGLF+ALEYJud/iwvZWcpkChw4R/UTr4VfFIJ9h19F7t4dzk612\n"
    "HuekfNJWGGiegVwxfA5rgCpuLZqiRZC8m/0GI56+Gt4hYuhNiK+lKYLOJ/4FGeAO\n"
    "WuTIGHqnupa81XruO6kbx9YBD4q7/QktthIXmWgbNTwIYMoj/4j4/0QHG8t1lM+A\n"
    "B6pvVVPqCDdV7aanU7z1/BAYpUz790bTENT/tfRRWyxEIR3c9COl90HZFpTItTBG\n"
    "OwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

/* the same in PKCS #1 */
static const char  test_rsa_pkcs1_pem[] =
    "-----BEGIN RSA PUBLIC KEY-----\n"
    "MIIBCgKCAQEAq08ZlNGMLxViRBMcFP8YP9m0BKvLktoN6WwBp1w5UFGBCXFubn6h\n"
    "PZSTXKH0OBez3c9MyndDMHn9zI9HYiIy5DeBp/qcixQ4tpzGLF+ALEYJud/iwvZW\n"
    "cpkChw4R/UTr4VfFIJ9h19F7t4dzk612HuekfNJWGGiegVwxfA5rgCpuLZqiRZC8\n"
    "m/0GI56+Gt4hYuhNiK+lKYLOJ/4FGeAOWuTIGHqnupa81XruO6kbx9YBD4q7/Qkt\n"
    "thIXmWgbNTwIYMoj/4j4/0QHG8t1lM+AB6pvVVPqCDdV7aanU7z1/BAYpUz790bT\n"
    "ENT/tfRRWyxEIR3c9COl90HZFpTItTBGOwIDAQAB\n"
    "-----END RSA PUBLIC KEY-----\n";

/* an RSA 1024 key, too short */

#define TEST_RSA1024_N                                                       \
    "lapcS4YrXhncF3lGsQEcht76qAGIsNKciR86BdOjpx4v3Eb9syvC7fpFFBZ9q5jVnOmY"   \
    "M20o57MYfAykvzPaZDyQftGmptfMk3SlPqOc0onJq3o-CLxsyqOlB3B1iXWfV-1koZIA"   \
    "ru4T-3IcHU8jyB1AjFoWkF2sazvrzu8sLg0"

static const char  test_rsa1024_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCVqlxLhiteGdwXeUaxARyG3vqo\n"
    "AYiw0pyJHzoF06OnHi/cRv2zK8Lt+kUUFn2rmNWc6ZgzbSjnsxh8DKS/M9pkPJB+\n"
    "0aam18yTdKU+o5zSicmrej4IvGzKo6UHcHWJdZ9X7WShkgCu7hP7chwdTyPIHUCM\n"
    "WhaQXaxrO+vO7ywuDQIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

/* the modulus of RFC 7515 A.2 with the exponent 1: no key at all */

static const char  test_rsa_e1_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIDANBgkqhkiG9w0BAQEFAAOCAQ0AMIIBCAKCAQEAofgWCuLjybRlzo0tZWJj\n"
    "NiuSfb4p4fAkd/wWJcyQoTbji9k0l8W26mPddxHmfHQp+Vaw+4qPCJrcS2mJPMEz\n"
    "P1Pt0Bm4d4QlL+yRT+SFd2lZS+pCgNMsD1W/YpRPEwOWvG6b32690r2jZ47soMZo\n"
    "9wGzjb/7OMg0LOL+bSf63kpaSHSXndS5z5rexMdbBYUsLA9e+KXBdQOS+UTo7WTB\n"
    "EMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6/I5IhlJH7aGhyxX\n"
    "FvUK+DWNmoudF8NAco9/h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXp\n"
    "oQIBAQ==\n"
    "-----END PUBLIC KEY-----\n";


/* the Ed25519 point of order 1 (the neutral element): no key at all */

#define TEST_ED_X_NEUTRAL "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static const char  test_ed_neutral_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    "-----END PUBLIC KEY-----\n";


/* P-256: the key of RFC 7515 A.3 */

static const char  test_p256_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV7\n"
    "6e8Tus9uPHvRVEXH8UTNG72bfocs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\n"
    "-----END PUBLIC KEY-----\n";

/* a self-signed certificate of it */
static const char  test_p256_cert[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBEjCBuaADAgECAgEBMAoGCCqGSM49BAMCMBMxETAPBgNVBAMMCGp3dCB0ZXN0\n"
    "MB4XDTI2MDEwMTAwMDAwMFoXDTQ2MDEwMTAwMDAwMFowEzERMA8GA1UEAwwIand0\n"
    "IHRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAR/zc4ncPbEXUGDy+5v20t7\n"
    "WAczNXvp7xO6z248e9FURcfxRM0bvZt+hyzf7bnuufSzaV1uqQskrYpGIyiFiOWt\n"
    "MAoGCCqGSM49BAMCA0gAMEUCIQCt6FXXWcE2amXIrE/MCszPaqa+pJAjf15o1KeF\n"
    "lphFoAIgD1yCAzHRJzHAtKTp/ieLEYDWzOWcQ7N0ABerynktSAg=\n"
    "-----END CERTIFICATE-----\n";

/* its private key, PKCS #8 and SEC 1 */
static const char  test_p256_private_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgjpsQnnGQmL+YBIff\n"
    "H1136cspYG6+0iY7X1fCE9+E9LKhRANCAAR/zc4ncPbEXUGDy+5v20t7WAczNXvp\n"
    "7xO6z248e9FURcfxRM0bvZt+hyzf7bnuufSzaV1uqQskrYpGIyiFiOWt\n"
    "-----END PRIVATE KEY-----\n";

static const char  test_p256_ec_private_pem[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEII6bEJ5xkJi/mASH3x9dd+nLKWBuvtImO19XwhPfhPSyoAoGCCqGSM49\n"
    "AwEHoUQDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEXH8UTNG72b\n"
    "focs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\n"
    "-----END EC PRIVATE KEY-----\n";

/* a P-384 key */

#define TEST_P384_X                                                          \
    "iG5dk6HnS_Jcz4_GVkEKGxFODm7__LPwLpgfx6LGj0S2Up-UKuWGdm4LCmq4jXKU"
#define TEST_P384_Y                                                          \
    "lB8aAhbAuuEeHZs_sKAZqZb6EDC2aqSdQBTVxEE13whPV485zVabgQ_7Rq4KURKQ"

static const char  test_p384_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEiG5dk6HnS/Jcz4/GVkEKGxFODm7//LPw\n"
    "Lpgfx6LGj0S2Up+UKuWGdm4LCmq4jXKUlB8aAhbAuuEeHZs/sKAZqZb6EDC2aqSd\n"
    "QBTVxEE13whPV485zVabgQ/7Rq4KURKQ\n"
    "-----END PUBLIC KEY-----\n";

/* P-521: the key of RFC 7515 A.4 */

static const char  test_p521_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQB6SkFDxJPxrxVx9U5M2Xfne9KsMIs\n"
    "sleY+TTrBOPGuuNwGlenkQ6dgb82MVno68sVXWNJ9L22zPipTFxZx6rBAaQANKZE\n"
    "DjdnUNI3H9G9wsjztx0vTuXqNDLIFcyjFWD+XZOH7HdLVYOGMOXLv1qMvgqR3QBk\n"
    "xpmaH25uZ/rd7eTIyPY=\n"
    "-----END PUBLIC KEY-----\n";

/* Ed25519: the key of RFC 8037 A.1 */

static const char  test_ed_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
    "-----END PUBLIC KEY-----\n";

static const char  test_ed_private_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";

/* keys of no JWS algorithm: secp256k1 and X25519 */
static const char  test_k1_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAE8uneu+loOshSh0WFyUNvrh3XWpxRTYv0\n"
    "GIcJuRxlcJ/3u28GCD4cJ3Z4ytsb+Ie/jHRWzlHJSVIaNh7lXZe/NQ==\n"
    "-----END PUBLIC KEY-----\n";

static const char  test_x25519_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VuAyEAo770J9edEs1wXhqD2j0P9WLTgNoTWUm5HG+6uTUii3I=\n"
    "-----END PUBLIC KEY-----\n";

/*
 * tokens signed with the keys above; header {"alg":ALG,"kid":"k1"},
 * payload {"iss":"joe","exp":1300819380}
 */

static const char  test_token_rs256[] =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJqb2UiLCJleHAiOjEzMDA4"
    "MTkzODB9.PUu4884NwbJ_EUI2Gzn2NSeeg0c-nGgVs87NQLDgeEZpyXBq2NcWSFjBqqv"
    "fBwmCkeegojZSOrvucnj72KDKwmpaqIdEqUS2C94MaMlENxj2nNIuDCm5eOUWiNcSqUt"
    "_BlxUsjQVAofOw_Ro1bnlRmECJr7H_Jd9dPKPN0mgJXgBF_xFGm5hmOMbm1udkJmZA4Y"
    "Yti7P0MavhO8TUiwJz0wagETz4iSdcK57Yastpxy4bDVuUJ0Pxz_XmEUf9kVDsCgdVNp"
    "srm5gdZLprDLjq1JO8InsvXEO8c1BtYLVOwqf2j-CQ9b4q7adc0Jj9JssqyQ-ANK8mSs"
    "keE-mwdmGXg";

static const char  test_token_rs384[] =
    "eyJhbGciOiJSUzM4NCIsImtpZCI6ImsxIn0.eyJpc3MiOiJqb2UiLCJleHAiOjEzMDA4"
    "MTkzODB9.AbkZrSC0eNX3CdEzeNQboYzVvx1H2jAlGBkzzRrQWH4rqgLrgyPFVuMbVvv"
    "0wUp6aJYwFH2c4XvGjQFdxdo1LOr3H57U7JhbtC4Xk-j-CsYDyopJFUtaanp_XxX0i7H"
    "Q8FiiAnjfUKHb2rryxuAqlHoE276bMDag1Nu3thUpNNAFvo7ewF7MsrFuahdIAx-nZZK"
    "zoZfhhv42AQtY7XsTu1Z2abw-ofz1T4Ln4spv7RGK8tVkhfio_nJ-s3BGbbf2T_rFwQG"
    "93x_33lYShsmsgl0q74A7EqJk_IRO_H3tI9mJzgyh8YxXwLTmcjjc7Auf3OX6KBXggr-"
    "p_sW8n5CnRg";

static const char  test_token_rs512[] =
    "eyJhbGciOiJSUzUxMiIsImtpZCI6ImsxIn0.eyJpc3MiOiJqb2UiLCJleHAiOjEzMDA4"
    "MTkzODB9.czFFo8UiwoPvnJUBNoG_1Jeqac7AM7f02epw3TkaxhBCXDy4V7m3moOLqL_"
    "wj3GpiywKQvtxGIZ7o7PusQO5uPFWL-M8hx_zd4Yn5AH_awOEGdCm_Skq_lLmKIeMLrK"
    "qpthdkze0zcwZqvajAn6zWvgFyvI6Zpa14fyCBQhWACd9r_bJ2UhJavr_JHZOco9x7z4"
    "m9fn_9A1m54rep_eTplqsgi67uUgwAU0SYFSnsLy2rpbceDnsphWW8bW-4uJgte2sSZL"
    "a2Q4Ajwy91Yu81w8PuvCpU0FAlai5Cuhg11sKT2Qy06jvyvE_pyE_Z1V-sA6ganlb4KD"
    "0z0FBRZAwDQ";

static const char  test_token_ps256[] =
    "eyJhbGciOiJQUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJqb2UiLCJleHAiOjEzMDA4"
    "MTkzODB9.hMmyvhkzTplzr-zvR7Uzas5OD2JS7GUGS-0j1ZfHXF0DEPGrX_JZcHEwE5H"
    "wmJKqrQGqa8CSOwmqXMicJJ9NnZ_Jo1JCjuoqQt8Hxh4Ug0UDls2IbACb1yIfiK6akzr"
    "Kl9LbJK7ChZaLnvhxi3BxjokHc69uvPfsZysnD6NU7tR7btVGaG1O2h8Kq-BDlPk3u6R"
    "P-eSlRslF9XZFuIUhYlUc4qY0gcHnDzSIkDTDHEngYc5Q1c_suGXQ8VfuivyMRAxXXPX"
    "7ldCuDNMj9aWHNmzgGHjWRmn1NijrpfNIy4HzNQVW0-1qBbFL78PSK5oL52yB00XOGU8"
    "wK3okGvYMgQ";

static const char  test_token_ps384[] =
    "eyJhbGciOiJQUzM4NCIsImtpZCI6ImsxIn0.eyJpc3MiOiJqb2UiLCJleHAiOjEzMDA4"
    "MTkzODB9.MYrsKARxC4-b5wvLtTfd1AK7P8SOmk17x2ujBCExjGZVcgRn01L-1itTswU"
    "W770TDPaY8KqXRPDt3RHcfL1ZzGGf_dRFDd_kapKX1l377sgLR_1Lk8jyr-72sKbRQT6"
    "_x-lC07ePJ3-3hxOkOsCLPGJSAAeEic9lggeFKz5Oxlr-uVNrmxpxNLhW93hfcln1K7L"
    "u1dRW08VRGGI-ebTnuxdAOzZtMDPfNoqUAhzhKV9rz5FRvxrZH5TgZS46MvsvBtAevLi"
    "Y7uFlACQVhlVsbSD-uNujYI3DDo5xoTFa9eH0y0Za8jTcgxaApUpaGpNw77AWzJa0Avt"
    "ZdMVLjmVsvg";

static const char  test_token_ps512[] =
    "eyJhbGciOiJQUzUxMiIsImtpZCI6ImsxIn0.eyJpc3MiOiJqb2UiLCJleHAiOjEzMDA4"
    "MTkzODB9.AgfBRZhomy9cpn4eBzrKgr5fuoAGeCRGBDwRU6o7q2-2zg8D5sQP43t7BcQ"
    "tjsOqRcEkS-So-UlGa0kkZpmn_v1LJ3mvcYcV_wNYCs6jyZgT2AgSus7ao6_yW3nnPH8"
    "dtNFnOkrJF-ioZ4GTKOW0hv-e3L6-rk_qPQeeDiAp-EYXKpdMrJap-uNZssB4M_qzKYk"
    "iVGEc7FrTCYfL0PL6Q2fa2yVVqlJ8jxWTSUXZB7I9QyiAhpNRsbz278I7Txe2CYrax_a"
    "tAgPtDCnxbBygmSxUZAMGnj-5k7YGZNgULtW7nx1NaLBGXzOc7-SYxI74JHF_j4xTPvX"
    "oP0y70WN7pA";

static const char  test_token_es256[] =
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJqb2UiLCJleHAiOjEzMDA4"
    "MTkzODB9.w9zCK_A2d5dWmQ9QZ4c8BMJ5xH2caByzH4JPLHpL0qAcbrIGxUo7PveZLp7"
    "1A_xM9_myNFY9ro7KjgURriRnPA";

static const char  test_token_es384[] =
    "eyJhbGciOiJFUzM4NCIsImtpZCI6ImsxIn0.eyJpc3MiOiJqb2UiLCJleHAiOjEzMDA4"
    "MTkzODB9.yEiZ4BXVFTEvieQhJLyS3bLSMSy-AOmUtHUFiZ2wthQK2lJo9N_INPao11R"
    "FaOJd93OfARrNkvU3w5UDuYNlbNg3lCuazZfgEcc2h87tJDMScGCkv_bdBGLLhn58SgD"
    "E";

static const char  test_token_es512[] =
    "eyJhbGciOiJFUzUxMiIsImtpZCI6ImsxIn0.eyJpc3MiOiJqb2UiLCJleHAiOjEzMDA4"
    "MTkzODB9.AGDKlkFf1oE7J1qG_O7vL2sskRvD9UHMLzxcdAggFFlrPgERMtCnxi1Gt70"
    "Y5so4KyxBcve-I8-X55NLrEvH0CsZAA4sPmLY4N3KA-Tbwtd8OBKPWTHaZNTyo41A62A"
    "jzOgsJIdjWfYXEZD-KKT1xOSZGKzk2kT7AgmnwKKE6JlfOfLF";

static const char  test_token_eddsa[] =
    "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJpc3MiOiJqb2UiLCJleHAiOjEzMDA4"
    "MTkzODB9.44sZg37RiCZwz-S8O3SOot-DpmdV0S6wEeMSmiaqttX9l7kdu_d4DFo9DIl"
    "fMNK7xLNzAZbM50JUoc6x8bYgCQ";

/* ES256 with a DER signature (JWS wants R || S): {"alg":"ES256"} */
static const char  test_token_es256_der[] =
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLCJleHAiOjEzMDA4MTkzODB9.MEYCIQ"
    "CIwCt72JdpPKYdiLKlGzacCC6-RMYYpC0RiH1wfsWTvgIhAPxRH4E5olFy0dygitfvzH"
    "UD1I5leJKHCIlNC8u_Cu-l";


typedef struct {
    u_char                      *token;
    size_t                       len;
    u_char                      *buf;
    ngx_ws_gateway_json_node_t  *nodes;
    ngx_ws_gateway_jwt_t         jwt;
} test_tok_t;


typedef struct {
    u_char                      *doc;
    u_char                      *scratch;
    u_char                      *buf;
    ngx_ws_gateway_json_t        json;
    ngx_ws_gateway_json_node_t   nodes[TEST_JWK_NODES];
} test_jwk_t;


typedef struct {
    const char                  *name;
    const char                  *header;   /* JSON, ' for " */
    const char                  *payload;  /* JSON, ' for " */
    const char                  *raw;      /* else: the token as is */
    ngx_uint_t                   allowed;
    ngx_uint_t                   expect;
} test_decode_t;


typedef struct {
    const char                  *name;
    const char                  *payload;  /* JSON, ' for " */
    ngx_uint_t                   rules;
    ngx_uint_t                   expect;
} test_claims_t;


typedef struct {
    const char                  *name;
    const char                  *jwk;      /* JSON, ' for " */
    ngx_int_t                    rc;
    ngx_uint_t                   family;
    ngx_uint_t                   algs;
} test_key_jwk_t;


static size_t test_text(u_char *dst, const char *text);
static size_t test_b64u(u_char *dst, u_char *src, size_t len);
static size_t test_unb64u(u_char *dst, const char *src, size_t len);
static size_t test_make(u_char *dst, const char *header,
    const char *payload, u_char *sig, size_t sig_len);
static size_t test_make_hs(u_char *dst, const char *header,
    const char *payload, u_char *secret, size_t secret_len);
static ngx_uint_t test_decode(test_tok_t *t, u_char *token, size_t len,
    ngx_uint_t allowed);
static ngx_uint_t test_decode_str(test_tok_t *t, const char *token,
    ngx_uint_t allowed);
static void test_release(test_tok_t *t);
static ngx_uint_t test_verify_str(const char *token,
    ngx_ws_gateway_jwt_key_t *keys, ngx_uint_t nkeys);
static ngx_uint_t test_verify_raw(const char *token, ngx_uint_t alg,
    ngx_ws_gateway_jwt_key_t *keys, ngx_uint_t nkeys, ngx_uint_t flip);
static const char *test_pem(ngx_ws_gateway_jwt_key_t *key, const char *pem);
static ngx_int_t test_jwk(test_jwk_t *t, ngx_ws_gateway_jwt_key_t *key,
    const char *jwk, const char **reason);
static void test_jwk_release(test_jwk_t *t);
static const char *test_reason(ngx_uint_t rc);

static void test_base64url(void);
static void test_names(void);
static void test_decode_table(void);
static void test_decode_fields(void);
static void test_limits(void);
static void test_rfc_examples(void);
static void test_signed(void);
static void test_bit_flips(void);
static void test_flip(const char *name, const char *token,
    ngx_ws_gateway_jwt_key_t *key);
static void test_signatures(void);
static void test_kids(void);
static void test_claims_table(void);
static void test_claims_exp(void);
static void test_times(void);
static void test_values(void);
static void test_keys_secret(void);
static void test_keys_pem(void);
static void test_keys_jwk(void);
static void test_keys_weak_rsa(void);
static void test_keys_weak_ed25519(void);
static void test_mutations(void);


static const char  test_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static u_char  test_a1_secret[64];
static size_t  test_a1_secret_len;


#define H_HS256           "{'alg':'HS256'}"
#define P_EMPTY           "{}"

static test_decode_t  test_decode_rows[] = {

    /* the structure */

    { "RFC 7515 A.1", NULL, NULL, TEST_A1_TOKEN, TEST_ALL,
      NGX_WS_GATEWAY_JWT_OK },
    { "empty", NULL, NULL, "", TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "one segment", NULL, NULL, "eyJhbGciOiJIUzI1NiJ9", TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "two segments", NULL, NULL, "eyJhbGciOiJIUzI1NiJ9.e30", TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "four segments", NULL, NULL, "eyJhbGciOiJIUzI1NiJ9.e30.c2ln.c2ln",
      TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "four segments, the last empty", NULL, NULL,
      "eyJhbGciOiJIUzI1NiJ9.e30.c2ln.", TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "five segments (a JWE)", NULL, NULL,
      "eyJhbGciOiJIUzI1NiJ9.e30.c2ln.c2ln.c2ln", TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "dots only", NULL, NULL, "..", TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "empty header", NULL, NULL, ".e30.c2ln", TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "empty payload", NULL, NULL, "eyJhbGciOiJIUzI1NiJ9..c2ln", TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "padded payload", NULL, NULL, "eyJhbGciOiJIUzI1NiJ9.e30=.c2ln",
      TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "padded header", NULL, NULL, "eyJhbGciOiJIUzI1NiJ9=.e30.c2ln",
      TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "padded signature", NULL, NULL, "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbg==",
      TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "+ in the signature", NULL, NULL, "eyJhbGciOiJIUzI1NiJ9.e30.c2l+",
      TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "/ in the signature", NULL, NULL, "eyJhbGciOiJIUzI1NiJ9.e30.c2l/",
      TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "non-canonical signature", NULL, NULL,
      "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbh", TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "signature of 4n+1 characters", NULL, NULL,
      "eyJhbGciOiJIUzI1NiJ9.e30.c2lnb", TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "space in the token", NULL, NULL, "eyJhbGciOiJIUzI1NiJ9. e30.c2ln",
      TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "trailing new line", NULL, NULL, "eyJhbGciOiJIUzI1NiJ9.e30.c2ln\n",
      TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "Bearer prefix", NULL, NULL, "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
      TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "shortest", H_HS256, P_EMPTY, NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_OK },

    /* the header */

    { "header not JSON", "abc", P_EMPTY, NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "header an array", "['HS256']", P_EMPTY, NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "header a string", "'HS256'", P_EMPTY, NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "header a number", "1", P_EMPTY, NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "header null", "null", P_EMPTY, NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "header cut", "{'alg':'HS256'", P_EMPTY, NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "header with trailing data", "{'alg':'HS256'}x", P_EMPTY, NULL,
      TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "header with white space", " {\r\n 'alg' : 'HS256' }\n", P_EMPTY,
      NULL, TEST_ALL, NGX_WS_GATEWAY_JWT_OK },
    { "header with a duplicate alg", "{'alg':'HS256','alg':'HS256'}",
      P_EMPTY, NULL, TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "header with a duplicate alg, escaped",
      "{'alg':'none','\\u0061lg':'HS256'}", P_EMPTY, NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "header with a duplicate kid", "{'alg':'HS256','kid':'a','kid':'b'}",
      P_EMPTY, NULL, TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "header with crit", "{'alg':'HS256','crit':['exp'],'exp':1}",
      P_EMPTY, NULL, TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "header with an empty crit", "{'alg':'HS256','crit':[]}", P_EMPTY,
      NULL, TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "header with crit b64 (RFC 7797)",
      "{'alg':'HS256','b64':false,'crit':['b64']}", P_EMPTY, NULL,
      TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "header with an escaped NUL", "{'alg':'HS256','kid':'a\\u0000'}",
      P_EMPTY, NULL, TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "header with invalid UTF-8", "{'alg':'HS256','kid':'\xc3'}",
      P_EMPTY, NULL, TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "header with other members",
      "{'typ':'JWT','alg':'HS256','cty':'x','x5t':'abc','jku':'http://x/'}",
      P_EMPTY, NULL, TEST_ALL, NGX_WS_GATEWAY_JWT_OK },

    /* the algorithm */

    { "alg none", "{'alg':'none'}", P_EMPTY, NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_BAD_ALG },
    { "alg none, no signature", NULL, NULL, "eyJhbGciOiJub25lIn0.e30.",
      TEST_ALL, NGX_WS_GATEWAY_JWT_BAD_ALG },
    { "alg None", "{'alg':'None'}", P_EMPTY, NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_BAD_ALG },
    { "alg NONE", "{'alg':'NONE'}", P_EMPTY, NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_BAD_ALG },
    { "alg hs256", "{'alg':'hs256'}", P_EMPTY, NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_BAD_ALG },
    { "alg empty", "{'alg':''}", P_EMPTY, NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_BAD_ALG },
    { "alg HS256 with a space", "{'alg':'HS256 '}", P_EMPTY, NULL,
      TEST_ALL, NGX_WS_GATEWAY_JWT_BAD_ALG },
    { "alg RSA-OAEP (a JWE one)", "{'alg':'RSA-OAEP'}", P_EMPTY, NULL,
      TEST_ALL, NGX_WS_GATEWAY_JWT_BAD_ALG },
    { "alg Ed25519 (RFC 9864)", "{'alg':'Ed25519'}", P_EMPTY, NULL,
      TEST_ALL, NGX_WS_GATEWAY_JWT_BAD_ALG },
    { "alg escaped", "{'alg':'HS\\u0032\\u0035\\u0036'}", P_EMPTY, NULL,
      TEST_ALL, NGX_WS_GATEWAY_JWT_OK },
    { "alg not allowed", H_HS256, P_EMPTY, NULL,
      TEST_ALL & ~TEST_BIT(HS256), NGX_WS_GATEWAY_JWT_BAD_ALG },
    { "alg not allowed, none allowed", H_HS256, P_EMPTY, NULL, 0,
      NGX_WS_GATEWAY_JWT_BAD_ALG },
    { "alg allowed alone", "{'alg':'PS384'}", P_EMPTY, NULL,
      TEST_BIT(PS384), NGX_WS_GATEWAY_JWT_OK },
    { "alg EdDSA", "{'alg':'EdDSA'}", P_EMPTY, NULL, TEST_BIT(EDDSA),
      NGX_WS_GATEWAY_JWT_OK },
    { "alg none, nothing allowed", "{'alg':'none'}", P_EMPTY, NULL, 0,
      NGX_WS_GATEWAY_JWT_BAD_ALG },

    /* the claims set */

    { "payload not JSON", H_HS256, "joe", NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "payload an array", H_HS256, "[]", NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "payload a string", H_HS256, "'x'", NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "payload a number", H_HS256, "1300819380", NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "payload null", H_HS256, "null", NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "payload with a duplicate claim", H_HS256, "{'sub':'a','sub':'b'}",
      NULL, TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "payload with a duplicate exp", H_HS256,
      "{'exp':1,'sub':'a','exp':9999999999}", NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "payload with a duplicate nested key", H_HS256,
      "{'x':{'a':1,'a':2}}", NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "payload with trailing data", H_HS256, "{}{}", NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "payload with a trailing comma", H_HS256, "{'a':1,}", NULL,
      TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "payload with an escaped NUL", H_HS256, "{'sub':'a\\u0000b'}",
      NULL, TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "payload with a lone surrogate", H_HS256, "{'sub':'\\ud800'}", NULL,
      TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "payload 8 deep", H_HS256, "{'a':[[[[[[[1]]]]]]]}", NULL, TEST_ALL,
      NGX_WS_GATEWAY_JWT_OK },
    { "payload 9 deep", H_HS256, "{'a':[[[[[[[[1]]]]]]]]}", NULL,
      TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "header 8 deep", "{'alg':'HS256','a':[[[[[[{}]]]]]]}", P_EMPTY,
      NULL, TEST_ALL, NGX_WS_GATEWAY_JWT_OK },
    { "header 9 deep", "{'alg':'HS256','a':[[[[[[[{}]]]]]]]}", P_EMPTY,
      NULL, TEST_ALL, NGX_WS_GATEWAY_JWT_MALFORMED },

    { NULL, NULL, NULL, NULL, 0, 0 }
};


/* the rules of the claims table, now is TEST_NOW */

enum {
    R_NONE = 0,
    R_LEEWAY,          /* leeway 30 */
    R_AGE,             /* max_age 600 */
    R_AGE_LEEWAY,      /* max_age 600, leeway 30 */
    R_ISS,             /* iss "https://a.example" or "b" */
    R_AUD,             /* aud "x" or "y" */
    R_ROLE,            /* role "admin" or "ops" */
    R_SUB,             /* sub present */
    R_LEVEL,           /* level "3" or "4.5" */
    R_FLAG,            /* flag "true" */
    R_ALL,             /* iss, aud, role, sub, leeway 30 */
    R_RULES
};


static ngx_str_t  test_issuers[] = {
    ngx_string("https://a.example"),
    ngx_string("b")
};

static ngx_str_t  test_audiences[] = {
    ngx_string("x"),
    ngx_string("y")
};

static ngx_str_t  test_roles[] = {
    ngx_string("admin"),
    ngx_string("ops")
};

static ngx_str_t  test_levels[] = {
    ngx_string("3"),
    ngx_string("4.5")
};

static ngx_str_t  test_flags[] = {
    ngx_string("true")
};

static ngx_array_t  test_roles_array = {
    test_roles, 2, sizeof(ngx_str_t), 2, NULL
};

static ngx_array_t  test_levels_array = {
    test_levels, 2, sizeof(ngx_str_t), 2, NULL
};

static ngx_array_t  test_flags_array = {
    test_flags, 1, sizeof(ngx_str_t), 1, NULL
};

static ngx_ws_gateway_jwt_claim_t  test_role_claim[] = {
    { ngx_string("role"), &test_roles_array }
};

static ngx_ws_gateway_jwt_claim_t  test_sub_claim[] = {
    { ngx_string("sub"), NULL }
};

static ngx_ws_gateway_jwt_claim_t  test_level_claim[] = {
    { ngx_string("level"), &test_levels_array }
};

static ngx_ws_gateway_jwt_claim_t  test_flag_claim[] = {
    { ngx_string("flag"), &test_flags_array }
};

static ngx_ws_gateway_jwt_claim_t  test_all_claims[] = {
    { ngx_string("role"), &test_roles_array },
    { ngx_string("sub"), NULL }
};


static ngx_ws_gateway_jwt_rules_t  test_rules[R_RULES] = {

    /* R_NONE */
    { 0, 0, NULL, 0, NULL, 0, NULL, 0 },
    /* R_LEEWAY */
    { 30, 0, NULL, 0, NULL, 0, NULL, 0 },
    /* R_AGE */
    { 0, 600, NULL, 0, NULL, 0, NULL, 0 },
    /* R_AGE_LEEWAY */
    { 30, 600, NULL, 0, NULL, 0, NULL, 0 },
    /* R_ISS */
    { 0, 0, test_issuers, 2, NULL, 0, NULL, 0 },
    /* R_AUD */
    { 0, 0, NULL, 0, test_audiences, 2, NULL, 0 },
    /* R_ROLE */
    { 0, 0, NULL, 0, NULL, 0, test_role_claim, 1 },
    /* R_SUB */
    { 0, 0, NULL, 0, NULL, 0, test_sub_claim, 1 },
    /* R_LEVEL */
    { 0, 0, NULL, 0, NULL, 0, test_level_claim, 1 },
    /* R_FLAG */
    { 0, 0, NULL, 0, NULL, 0, test_flag_claim, 1 },
    /* R_ALL */
    { 30, 0, test_issuers, 2, test_audiences, 2, test_all_claims, 2 }
};


/*
 * The time claims, at now = TEST_NOW = 1000000.  What the rows show:
 * a token is valid while now < exp + leeway (at exp + leeway it has
 * expired); nbf and iat may be at most now + leeway; with max_age, iat
 * is required and now - iat may be at most max_age + leeway.
 */

static test_claims_t  test_claims_rows[] = {

    { "no claims", "{}", R_NONE, NGX_WS_GATEWAY_JWT_OK },

    /* exp */

    { "exp in a second", "{'exp':1000001}", R_NONE,
      NGX_WS_GATEWAY_JWT_OK },
    { "exp now", "{'exp':1000000}", R_NONE, NGX_WS_GATEWAY_JWT_EXPIRED },
    { "exp a second ago", "{'exp':999999}", R_NONE,
      NGX_WS_GATEWAY_JWT_EXPIRED },
    { "exp zero", "{'exp':0}", R_NONE, NGX_WS_GATEWAY_JWT_EXPIRED },
    { "exp negative", "{'exp':-1}", R_NONE, NGX_WS_GATEWAY_JWT_EXPIRED },
    { "exp far", "{'exp':9007199254740991}", R_NONE,
      NGX_WS_GATEWAY_JWT_OK },
    { "exp written 1.000001e6", "{'exp':1.000001e6}", R_NONE,
      NGX_WS_GATEWAY_JWT_OK },
    { "exp leeway + 1 s ago", "{'exp':999971}", R_LEEWAY,
      NGX_WS_GATEWAY_JWT_OK },
    { "exp leeway ago", "{'exp':999970}", R_LEEWAY,
      NGX_WS_GATEWAY_JWT_EXPIRED },
    { "exp a string", "{'exp':'1000001'}", R_NONE,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "exp true", "{'exp':true}", R_NONE, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "exp null", "{'exp':null}", R_NONE, NGX_WS_GATEWAY_JWT_MALFORMED },
    { "exp an array", "{'exp':[1000001]}", R_NONE,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "exp an object", "{'exp':{}}", R_NONE,
      NGX_WS_GATEWAY_JWT_MALFORMED },

    /* nbf */

    { "nbf now", "{'nbf':1000000}", R_NONE, NGX_WS_GATEWAY_JWT_OK },
    { "nbf past", "{'nbf':1}", R_NONE, NGX_WS_GATEWAY_JWT_OK },
    { "nbf in a second", "{'nbf':1000001}", R_NONE,
      NGX_WS_GATEWAY_JWT_NOT_YET_VALID },
    { "nbf in leeway", "{'nbf':1000030}", R_LEEWAY,
      NGX_WS_GATEWAY_JWT_OK },
    { "nbf in leeway + 1 s", "{'nbf':1000031}", R_LEEWAY,
      NGX_WS_GATEWAY_JWT_NOT_YET_VALID },
    { "nbf a string", "{'nbf':'1'}", R_NONE,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "nbf false", "{'nbf':false}", R_NONE,
      NGX_WS_GATEWAY_JWT_MALFORMED },
    { "nbf and exp valid", "{'nbf':999000,'exp':1001000}", R_NONE,
      NGX_WS_GATEWAY_JWT_OK },

    /* iat */

    { "iat now", "{'iat':1000000}", R_NONE, NGX_WS_GATEWAY_JWT_OK },
    { "iat long ago, no max_age", "{'iat':1}", R_NONE,
      NGX_WS_GATEWAY_JWT_OK },
    { "iat in a second", "{'iat':1000001}", R_NONE,
      NGX_WS_GATEWAY_JWT_NOT_YET_VALID },
    { "iat in leeway", "{'iat':1000030}", R_LEEWAY,
      NGX_WS_GATEWAY_JWT_OK },
    { "iat in leeway + 1 s", "{'iat':1000031}", R_LEEWAY,
      NGX_WS_GATEWAY_JWT_NOT_YET_VALID },
    { "iat a string", "{'iat':'1000000'}", R_NONE,
      NGX_WS_GATEWAY_JWT_MALFORMED },

    /* max_age */

    { "max_age, iat now", "{'iat':1000000}", R_AGE,
      NGX_WS_GATEWAY_JWT_OK },
    { "max_age, iat max_age ago", "{'iat':999400}", R_AGE,
      NGX_WS_GATEWAY_JWT_OK },
    { "max_age, iat max_age + 1 s ago", "{'iat':999399}", R_AGE,
      NGX_WS_GATEWAY_JWT_EXPIRED },
    { "max_age and leeway, iat max_age + leeway ago", "{'iat':999370}",
      R_AGE_LEEWAY, NGX_WS_GATEWAY_JWT_OK },
    { "max_age and leeway, iat max_age + leeway + 1 s ago",
      "{'iat':999369}", R_AGE_LEEWAY, NGX_WS_GATEWAY_JWT_EXPIRED },
    { "max_age, iat in the future", "{'iat':1000001}", R_AGE,
      NGX_WS_GATEWAY_JWT_NOT_YET_VALID },
    { "max_age, no iat", "{'exp':1000001}", R_AGE,
      NGX_WS_GATEWAY_JWT_BAD_CLAIM },
    { "max_age, iat a string", "{'iat':'1000000'}", R_AGE,
      NGX_WS_GATEWAY_JWT_MALFORMED },

    /* iss */

    { "iss, first", "{'iss':'https://a.example'}", R_ISS,
      NGX_WS_GATEWAY_JWT_OK },
    { "iss, second", "{'iss':'b'}", R_ISS, NGX_WS_GATEWAY_JWT_OK },
    { "iss, escaped", "{'iss':'\\u0062'}", R_ISS, NGX_WS_GATEWAY_JWT_OK },
    { "iss, escaped solidus", "{'iss':'https:\\/\\/a.example'}", R_ISS,
      NGX_WS_GATEWAY_JWT_OK },
    { "iss, other", "{'iss':'c'}", R_ISS, NGX_WS_GATEWAY_JWT_BAD_ISSUER },
    { "iss, other case", "{'iss':'B'}", R_ISS,
      NGX_WS_GATEWAY_JWT_BAD_ISSUER },
    { "iss, longer", "{'iss':'bb'}", R_ISS,
      NGX_WS_GATEWAY_JWT_BAD_ISSUER },
    { "iss, prefix", "{'iss':'https://a.exampl'}", R_ISS,
      NGX_WS_GATEWAY_JWT_BAD_ISSUER },
    { "iss, empty", "{'iss':''}", R_ISS, NGX_WS_GATEWAY_JWT_BAD_ISSUER },
    { "iss, missing", "{'sub':'b'}", R_ISS,
      NGX_WS_GATEWAY_JWT_BAD_ISSUER },
    { "iss, an array", "{'iss':['b']}", R_ISS,
      NGX_WS_GATEWAY_JWT_BAD_ISSUER },
    { "iss, not checked", "{'iss':'c'}", R_NONE, NGX_WS_GATEWAY_JWT_OK },

    /* aud */

    { "aud, a string", "{'aud':'x'}", R_AUD, NGX_WS_GATEWAY_JWT_OK },
    { "aud, the other string", "{'aud':'y'}", R_AUD,
      NGX_WS_GATEWAY_JWT_OK },
    { "aud, an array", "{'aud':['z','y']}", R_AUD, NGX_WS_GATEWAY_JWT_OK },
    { "aud, an array of one", "{'aud':['x']}", R_AUD,
      NGX_WS_GATEWAY_JWT_OK },
    { "aud, escaped", "{'aud':['\\u0078']}", R_AUD,
      NGX_WS_GATEWAY_JWT_OK },
    { "aud, other", "{'aud':'z'}", R_AUD, NGX_WS_GATEWAY_JWT_BAD_AUDIENCE },
    { "aud, other case", "{'aud':'X'}", R_AUD,
      NGX_WS_GATEWAY_JWT_BAD_AUDIENCE },
    { "aud, an array of others", "{'aud':['z','w']}", R_AUD,
      NGX_WS_GATEWAY_JWT_BAD_AUDIENCE },
    { "aud, an empty array", "{'aud':[]}", R_AUD,
      NGX_WS_GATEWAY_JWT_BAD_AUDIENCE },
    { "aud, concatenated", "{'aud':'xy'}", R_AUD,
      NGX_WS_GATEWAY_JWT_BAD_AUDIENCE },
    { "aud, nested array", "{'aud':[['x']]}", R_AUD,
      NGX_WS_GATEWAY_JWT_BAD_AUDIENCE },
    { "aud, an array with a number", "{'aud':['x',1]}", R_AUD,
      NGX_WS_GATEWAY_JWT_BAD_AUDIENCE },
    { "aud, a number", "{'aud':1}", R_AUD,
      NGX_WS_GATEWAY_JWT_BAD_AUDIENCE },
    { "aud, missing", "{'sub':'x'}", R_AUD,
      NGX_WS_GATEWAY_JWT_BAD_AUDIENCE },
    { "aud, not checked", "{'aud':'z'}", R_NONE, NGX_WS_GATEWAY_JWT_OK },

    /* required claims with values */

    { "role, first", "{'role':'admin'}", R_ROLE, NGX_WS_GATEWAY_JWT_OK },
    { "role, second", "{'role':'ops'}", R_ROLE, NGX_WS_GATEWAY_JWT_OK },
    { "role, escaped", "{'role':'\\u0061dmin'}", R_ROLE,
      NGX_WS_GATEWAY_JWT_OK },
    { "role, in an array", "{'role':['user','ops']}", R_ROLE,
      NGX_WS_GATEWAY_JWT_OK },
    { "role, other", "{'role':'user'}", R_ROLE,
      NGX_WS_GATEWAY_JWT_BAD_CLAIM },
    { "role, other case", "{'role':'Admin'}", R_ROLE,
      NGX_WS_GATEWAY_JWT_BAD_CLAIM },
    { "role, prefix", "{'role':'adm'}", R_ROLE,
      NGX_WS_GATEWAY_JWT_BAD_CLAIM },
    { "role, an array of others", "{'role':['user','guest']}", R_ROLE,
      NGX_WS_GATEWAY_JWT_BAD_CLAIM },
    { "role, an empty array", "{'role':[]}", R_ROLE,
      NGX_WS_GATEWAY_JWT_BAD_CLAIM },
    { "role, joined", "{'role':'admin,ops'}", R_ROLE,
      NGX_WS_GATEWAY_JWT_BAD_CLAIM },
    { "role, missing", "{'sub':'admin'}", R_ROLE,
      NGX_WS_GATEWAY_JWT_BAD_CLAIM },
    { "role, null", "{'role':null}", R_ROLE, NGX_WS_GATEWAY_JWT_BAD_CLAIM },
    { "role, nested", "{'x':{'role':'admin'}}", R_ROLE,
      NGX_WS_GATEWAY_JWT_BAD_CLAIM },
    { "level, a number", "{'level':3}", R_LEVEL, NGX_WS_GATEWAY_JWT_OK },
    { "level, a fraction", "{'level':4.5}", R_LEVEL,
      NGX_WS_GATEWAY_JWT_OK },
    { "level, a string", "{'level':'3'}", R_LEVEL, NGX_WS_GATEWAY_JWT_OK },
    { "level, in an array", "{'level':[1,3]}", R_LEVEL,
      NGX_WS_GATEWAY_JWT_OK },
    { "level, written 3.0", "{'level':3.0}", R_LEVEL,
      NGX_WS_GATEWAY_JWT_BAD_CLAIM },
    { "level, written 3e0", "{'level':3e0}", R_LEVEL,
      NGX_WS_GATEWAY_JWT_BAD_CLAIM },
    { "level, other", "{'level':30}", R_LEVEL,
      NGX_WS_GATEWAY_JWT_BAD_CLAIM },
    { "flag, true", "{'flag':true}", R_FLAG, NGX_WS_GATEWAY_JWT_OK },
    { "flag, the string true", "{'flag':'true'}", R_FLAG,
      NGX_WS_GATEWAY_JWT_OK },
    { "flag, true in an array", "{'flag':[false,true]}", R_FLAG,
      NGX_WS_GATEWAY_JWT_OK },
    { "flag, false", "{'flag':false}", R_FLAG,
      NGX_WS_GATEWAY_JWT_BAD_CLAIM },
    { "flag, missing", "{}", R_FLAG, NGX_WS_GATEWAY_JWT_BAD_CLAIM },

    /* required claims without values */

    { "sub, a string", "{'sub':'x'}", R_SUB, NGX_WS_GATEWAY_JWT_OK },
    { "sub, empty", "{'sub':''}", R_SUB, NGX_WS_GATEWAY_JWT_OK },
    { "sub, a number", "{'sub':1}", R_SUB, NGX_WS_GATEWAY_JWT_OK },
    { "sub, an object", "{'sub':{}}", R_SUB, NGX_WS_GATEWAY_JWT_OK },
    { "sub, missing", "{'Sub':'x'}", R_SUB, NGX_WS_GATEWAY_JWT_BAD_CLAIM },

    /* all together */

    { "all", "{'iss':'b','aud':['y'],'role':'ops','sub':'u',"
      "'exp':999980,'nbf':1000020,'iat':1000020}", R_ALL,
      NGX_WS_GATEWAY_JWT_OK },
    { "all, bad role", "{'iss':'b','aud':['y'],'role':'x','sub':'u'}",
      R_ALL, NGX_WS_GATEWAY_JWT_BAD_CLAIM },
    { "all, no sub", "{'iss':'b','aud':['y'],'role':'ops'}", R_ALL,
      NGX_WS_GATEWAY_JWT_BAD_CLAIM },
    { "all, bad audience", "{'iss':'b','aud':'z','role':'ops','sub':'u'}",
      R_ALL, NGX_WS_GATEWAY_JWT_BAD_AUDIENCE },

    { NULL, NULL, 0, 0 }
};


#define F_HMAC            NGX_WS_GATEWAY_JWT_KEY_HMAC
#define F_RSA             NGX_WS_GATEWAY_JWT_KEY_RSA
#define F_P256            NGX_WS_GATEWAY_JWT_KEY_P256
#define F_P384            NGX_WS_GATEWAY_JWT_KEY_P384
#define F_P521            NGX_WS_GATEWAY_JWT_KEY_P521
#define F_ED25519         NGX_WS_GATEWAY_JWT_KEY_ED25519

#define J_A2              "'kty':'RSA','n':'" TEST_A2_N "','e':'AQAB'"
#define J_A3              "'kty':'EC','crv':'P-256','x':'" TEST_A3_X "',"    \
                          "'y':'" TEST_A3_Y "'"
#define J_ED              "'kty':'OKP','crv':'Ed25519','x':'" TEST_ED_X "'"

/* NGX_ERROR or NGX_DECLINED */
#define TEST_REFUSED      99

/* 32 and 31 bytes: 01 02 ... 20 and 01 02 ... 1f */
#define TEST_K32          "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"
#define TEST_K31          "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHw"


static test_key_jwk_t  test_jwk_rows[] = {

    /* accepted */

    { "oct, RFC 7515 A.1", "{'kty':'oct','k':'" TEST_A1_K "'}", NGX_OK,
      F_HMAC, TEST_HS },
    { "oct, 32 bytes: HS256 only", "{'kty':'oct','k':'" TEST_K32 "'}",
      NGX_OK, F_HMAC, TEST_BIT(HS256) },
    { "oct, alg HS384", "{'kty':'oct','alg':'HS384','k':'" TEST_A1_K "'}",
      NGX_OK, F_HMAC, TEST_BIT(HS384) },
    { "RSA, RFC 7515 A.2", "{" J_A2 "}", NGX_OK, F_RSA, TEST_RS },
    { "RSA, use sig", "{" J_A2 ",'use':'sig','kid':'r'}", NGX_OK, F_RSA,
      TEST_RS },
    { "RSA, key_ops verify", "{" J_A2 ",'key_ops':['verify']}", NGX_OK,
      F_RSA, TEST_RS },
    { "RSA, key_ops sign and verify",
      "{" J_A2 ",'key_ops':['sign','verify']}", NGX_OK, F_RSA, TEST_RS },
    { "RSA, alg RS256", "{" J_A2 ",'alg':'RS256'}", NGX_OK, F_RSA,
      TEST_BIT(RS256) },
    { "RSA, alg PS512", "{" J_A2 ",'alg':'PS512'}", NGX_OK, F_RSA,
      TEST_BIT(PS512) },
    { "RSA, generated", "{'kty':'RSA','e':'AQAB','n':'" TEST_RSA_N "'}",
      NGX_OK, F_RSA, TEST_RS },
    { "RSA, with x5c and other members",
      "{" J_A2 ",'x5c':['MIIB'],'x5t':'abc','ext':true,'extra':{'a':[1]}}",
      NGX_OK, F_RSA, TEST_RS },
    { "EC P-256, RFC 7515 A.3", "{" J_A3 "}", NGX_OK, F_P256,
      TEST_BIT(ES256) },
    { "EC P-256, alg ES256", "{" J_A3 ",'alg':'ES256'}", NGX_OK, F_P256,
      TEST_BIT(ES256) },
    { "EC P-384", "{'kty':'EC','crv':'P-384','x':'" TEST_P384_X "',"
      "'y':'" TEST_P384_Y "'}", NGX_OK, F_P384, TEST_BIT(ES384) },
    { "EC P-521, RFC 7515 A.4", "{'kty':'EC','crv':'P-521',"
      "'x':'" TEST_A4_X "','y':'" TEST_A4_Y "'}", NGX_OK, F_P521,
      TEST_BIT(ES512) },
    { "OKP Ed25519, RFC 8037 A.2", "{" J_ED "}", NGX_OK, F_ED25519,
      TEST_BIT(EDDSA) },
    { "OKP Ed25519, alg EdDSA", "{" J_ED ",'alg':'EdDSA'}", NGX_OK,
      F_ED25519, TEST_BIT(EDDSA) },

    /* skipped */

    { "RSA, use enc", "{" J_A2 ",'use':'enc'}", NGX_DECLINED, 0, 0 },
    { "EC, use enc", "{" J_A3 ",'use':'enc'}", NGX_DECLINED, 0, 0 },
    { "RSA, key_ops encrypt", "{" J_A2 ",'key_ops':['encrypt']}",
      NGX_DECLINED, 0, 0 },
    { "RSA, key_ops sign", "{" J_A2 ",'key_ops':['sign']}", NGX_DECLINED,
      0, 0 },
    { "RSA, key_ops empty", "{" J_A2 ",'key_ops':[]}", NGX_DECLINED, 0,
      0 },

    /* refused */

    { "not an object", "{'keys':['x']}", NGX_ERROR, 0, 0 },
    { "no kty", "{'n':'" TEST_A2_N "','e':'AQAB'}", NGX_ERROR, 0, 0 },
    { "kty a number", "{'kty':1,'k':'" TEST_K32 "'}", NGX_ERROR, 0, 0 },
    { "kty unknown", "{'kty':'DSA','k':'" TEST_K32 "'}", TEST_REFUSED, 0, 0 },
    { "kty lower case", "{'kty':'rsa','n':'" TEST_A2_N "','e':'AQAB'}",
      TEST_REFUSED, 0, 0 },
    { "oct, 31 bytes", "{'kty':'oct','k':'" TEST_K31 "'}", NGX_ERROR, 0,
      0 },
    { "oct, no k", "{'kty':'oct'}", NGX_ERROR, 0, 0 },
    { "oct, k empty", "{'kty':'oct','k':''}", NGX_ERROR, 0, 0 },
    { "oct, k padded", "{'kty':'oct','k':'" TEST_K32 "='}", NGX_ERROR, 0,
      0 },
    { "oct, k a number", "{'kty':'oct','k':12345}", NGX_ERROR, 0, 0 },
    { "oct, 32 bytes, alg HS384",
      "{'kty':'oct','alg':'HS384','k':'" TEST_K32 "'}", NGX_ERROR, 0, 0 },
    { "oct, alg RS256", "{'kty':'oct','alg':'RS256','k':'" TEST_K32 "'}",
      TEST_REFUSED, 0, 0 },
    { "RSA, private (d)", "{" J_A2 ",'d':'AQAB'}", NGX_ERROR, 0, 0 },
    { "RSA, 1024 bits", "{'kty':'RSA','e':'AQAB','n':'" TEST_RSA1024_N
      "'}", NGX_ERROR, 0, 0 },
    { "RSA, no e", "{'kty':'RSA','n':'" TEST_A2_N "'}", NGX_ERROR, 0, 0 },
    { "RSA, e 1", "{'kty':'RSA','e':'AQ','n':'" TEST_A2_N "'}", NGX_ERROR,
      0, 0 },
    { "RSA, e even", "{'kty':'RSA','e':'Ag','n':'" TEST_A2_N "'}",
      NGX_ERROR, 0, 0 },
    { "RSA, no n", "{'kty':'RSA','e':'AQAB'}", NGX_ERROR, 0, 0 },
    { "RSA, n not base64url", "{'kty':'RSA','e':'AQAB','n':'" TEST_A2_N
      "+'}", NGX_ERROR, 0, 0 },
    { "RSA, alg ES256", "{" J_A2 ",'alg':'ES256'}", TEST_REFUSED, 0, 0 },
    { "RSA, alg none", "{" J_A2 ",'alg':'none'}", TEST_REFUSED, 0, 0 },
    { "EC, private (d)",
      "{" J_A3 ",'d':'jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI'}",
      NGX_ERROR, 0, 0 },
    { "EC, x of 31 bytes", "{'kty':'EC','crv':'P-256',"
      "'x':'zc4ncPbEXUGDy-5v20t7WAczNXvp7xO6z248e9FURQ',"
      "'y':'" TEST_A3_Y "'}", NGX_ERROR, 0, 0 },
    { "EC, y of 33 bytes", "{'kty':'EC','crv':'P-256','x':'" TEST_A3_X
      "','y':'AMfxRM0bvZt-hyzf7bnuufSzaV1uqQskrYpGIyiFiOWt'}", NGX_ERROR,
      0, 0 },
    { "EC, a point not on the curve", "{'kty':'EC','crv':'P-256',"
      "'x':'" TEST_A3_X "','y':'" TEST_A3_Y_OFF "'}", NGX_ERROR, 0, 0 },
    { "EC, P-384 coordinates for P-256", "{'kty':'EC','crv':'P-256',"
      "'x':'" TEST_P384_X "','y':'" TEST_P384_Y "'}", NGX_ERROR, 0, 0 },
    { "EC, P-256 coordinates for P-384", "{'kty':'EC','crv':'P-384',"
      "'x':'" TEST_A3_X "','y':'" TEST_A3_Y "'}", NGX_ERROR, 0, 0 },
    { "EC, no y", "{'kty':'EC','crv':'P-256','x':'" TEST_A3_X "'}",
      NGX_ERROR, 0, 0 },
    { "EC, no crv", "{'kty':'EC','x':'" TEST_A3_X "','y':'" TEST_A3_Y
      "'}", NGX_ERROR, 0, 0 },
    { "EC, secp256k1", "{'kty':'EC','crv':'secp256k1','x':'" TEST_A3_X
      "','y':'" TEST_A3_Y "'}", NGX_DECLINED, 0, 0 },
    { "EC, alg ES384", "{" J_A3 ",'alg':'ES384'}", TEST_REFUSED, 0, 0 },
    { "OKP, private (d)",
      "{" J_ED ",'d':'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A'}",
      NGX_ERROR, 0, 0 },
    { "OKP, x of 31 bytes", "{'kty':'OKP','crv':'Ed25519',"
      "'x':'WpgBgrEKt9VL_tPJZAc6DuFy89qmIyWvAhpo9wdRGg'}", NGX_ERROR, 0,
      0 },
    { "OKP, no x", "{'kty':'OKP','crv':'Ed25519'}", NGX_ERROR, 0, 0 },
    { "OKP, X25519", "{'kty':'OKP','crv':'X25519','x':'" TEST_ED_X "'}",
      NGX_DECLINED, 0, 0 },
    { "OKP, Ed448", "{'kty':'OKP','crv':'Ed448','x':'" TEST_ED_X "'}",
      NGX_DECLINED, 0, 0 },
    { "RSA, private (p without d)", "{" J_A2 ",'p':'AQAB'}", NGX_ERROR, 0,
      0 },
    { "kty unknown", "{'kty':'XYZ','x':'AQAB'}", NGX_DECLINED, 0, 0 },

    { NULL, NULL, 0, 0, 0 }
};


int
main(void)
{
    test_a1_secret_len = test_unb64u(test_a1_secret, TEST_A1_K,
                                     sizeof(TEST_A1_K) - 1);

    test_base64url();
    test_names();
    test_decode_table();
    test_decode_fields();
    test_limits();
    test_rfc_examples();
    test_signed();
    test_bit_flips();
    test_signatures();
    test_kids();
    test_claims_table();
    test_claims_exp();
    test_times();
    test_values();
    test_keys_secret();
    test_keys_pem();
    test_keys_jwk();
    test_keys_weak_rsa();
    test_keys_weak_ed25519();
    test_mutations();

    return unit_done("jwt");
}


/* a JSON text with ' for " */

static size_t
test_text(u_char *dst, const char *text)
{
    size_t  n;

    for (n = 0; text[n]; n++) {
        dst[n] = (text[n] == '\'') ? '"' : (u_char) text[n];
    }

    return n;
}


/* base64url without padding, the reference for the tests */

static size_t
test_b64u(u_char *dst, u_char *src, size_t len)
{
    u_char    *d;
    size_t     i;
    uint32_t   v;

    d = dst;

    for (i = 0; i + 2 < len; i += 3) {
        v = (uint32_t) src[i] << 16 | (uint32_t) src[i + 1] << 8 | src[i + 2];
        *d++ = test_alphabet[v >> 18];
        *d++ = test_alphabet[(v >> 12) & 0x3f];
        *d++ = test_alphabet[(v >> 6) & 0x3f];
        *d++ = test_alphabet[v & 0x3f];
    }

    if (len - i == 1) {
        v = (uint32_t) src[i] << 16;
        *d++ = test_alphabet[v >> 18];
        *d++ = test_alphabet[(v >> 12) & 0x3f];

    } else if (len - i == 2) {
        v = (uint32_t) src[i] << 16 | (uint32_t) src[i + 1] << 8;
        *d++ = test_alphabet[v >> 18];
        *d++ = test_alphabet[(v >> 12) & 0x3f];
        *d++ = test_alphabet[(v >> 6) & 0x3f];
    }

    return d - dst;
}


/* a lenient decoder of the fixtures, for the tests */

static size_t
test_unb64u(u_char *dst, const char *src, size_t len)
{
    int       c, bits;
    size_t    i, n;
    uint32_t  v;

    n = 0;
    v = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        c = src[i];

        if (c >= 'A' && c <= 'Z') {
            c -= 'A';

        } else if (c >= 'a' && c <= 'z') {
            c = c - 'a' + 26;

        } else if (c >= '0' && c <= '9') {
            c = c - '0' + 52;

        } else if (c == '-') {
            c = 62;

        } else if (c == '_') {
            c = 63;

        } else {
            printf("bad base64url in a fixture: \"%.*s\"\n", (int) len, src);
            exit(2);
        }

        v = v << 6 | c;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            dst[n++] = (u_char) (v >> bits);
        }
    }

    return n;
}


/* header.payload.signature from JSON texts with ' for " */

static size_t
test_make(u_char *dst, const char *header, const char *payload,
    u_char *sig, size_t sig_len)
{
    u_char  *d, *json;
    size_t   len;

    json = malloc(TEST_TOKEN_MAX);

    if (json == NULL) {
        printf("malloc() failed\n");
        exit(2);
    }

    d = dst;

    len = test_text(json, header);
    d += test_b64u(d, json, len);
    *d++ = '.';

    len = test_text(json, payload);
    d += test_b64u(d, json, len);
    *d++ = '.';

    d += test_b64u(d, sig, sig_len);
    *d = '\0';

    free(json);

    return d - dst;
}


/* the same, signed with HMAC and the header's hash */

static size_t
test_make_hs(u_char *dst, const char *header, const char *payload,
    u_char *secret, size_t secret_len)
{
    u_char         *p;
    size_t          len;
    unsigned int    md_len;
    const EVP_MD   *md;
    u_char          mac[EVP_MAX_MD_SIZE];

    md = strstr(header, "HS384") ? EVP_sha384()
         : strstr(header, "HS512") ? EVP_sha512() : EVP_sha256();

    len = test_make(dst, header, payload, (u_char *) "", 0);
    len--;

    if (HMAC(md, secret, (int) secret_len, dst, len, mac, &md_len) == NULL) {
        printf("HMAC() failed\n");
        exit(2);
    }

    p = dst + len + 1;
    p += test_b64u(p, mac, md_len);
    *p = '\0';

    return p - dst;
}


/*
 * Decodes a copy of exactly len bytes into a buffer and nodes of
 * exactly the sizes the API gives; test_release() frees them.
 */

static ngx_uint_t
test_decode(test_tok_t *t, u_char *token, size_t len, ngx_uint_t allowed)
{
    size_t      size;
    ngx_uint_t  n, rc;

    t->len = len;
    t->token = malloc(len ? len : 1);

    size = ngx_ws_gateway_jwt_buf_size(len);
    t->buf = malloc(size ? size : 1);

    if (t->token == NULL || t->buf == NULL) {
        printf("malloc() failed\n");
        exit(2);
    }

    ngx_memcpy(t->token, token, len);

    n = ngx_ws_gateway_jwt_nodes(t->token, len);
    t->nodes = malloc((n ? n : 1) * sizeof(ngx_ws_gateway_json_node_t));

    if (t->nodes == NULL) {
        printf("malloc() failed\n");
        exit(2);
    }

    ngx_ws_gateway_jwt_init(&t->jwt, t->buf, size, t->nodes, n);

    rc = ngx_ws_gateway_jwt_decode(&t->jwt, t->token, len, allowed);

    if (ngx_memcmp(t->token, token, len) != 0) {
        unit_check(0, "decode changed the token");
    }

    return rc;
}


static ngx_uint_t
test_decode_str(test_tok_t *t, const char *token, ngx_uint_t allowed)
{
    return test_decode(t, (u_char *) token, strlen(token), allowed);
}


static void
test_release(test_tok_t *t)
{
    free(t->token);
    free(t->buf);
    free(t->nodes);
}


/* decode (every algorithm allowed) and verify */

static ngx_uint_t
test_verify_str(const char *token, ngx_ws_gateway_jwt_key_t *keys,
    ngx_uint_t nkeys)
{
    ngx_uint_t  rc;
    test_tok_t  t;

    rc = test_decode_str(&t, token, TEST_ALL);

    if (rc == NGX_WS_GATEWAY_JWT_OK) {
        rc = ngx_ws_gateway_jwt_verify(&t.jwt, keys, nkeys);
    }

    test_release(&t);

    return rc;
}


/* a PEM text from a copy of exactly its length, without its NUL */

static const char *
test_pem(ngx_ws_gateway_jwt_key_t *key, const char *pem)
{
    u_char      *copy;
    size_t       len;
    const char  *reason;

    len = strlen(pem);
    copy = malloc(len ? len : 1);

    if (copy == NULL) {
        printf("malloc() failed\n");
        exit(2);
    }

    ngx_memcpy(copy, pem, len);
    ngx_memzero(key, sizeof(ngx_ws_gateway_jwt_key_t));

    reason = ngx_ws_gateway_jwt_key_pem(key, copy, len);

    free(copy);

    return reason;
}


/*
 * A JWK (' for "), parsed from a copy of exactly its length; the first
 * element of its "keys" if it has them, else the document.  The texts
 * must stay until the key is freed: test_jwk_release().
 */

static ngx_int_t
test_jwk(test_jwk_t *t, ngx_ws_gateway_jwt_key_t *key, const char *jwk,
    const char **reason)
{
    size_t                       len;
    ngx_ws_gateway_json_node_t  *root, *keys;

    len = strlen(jwk);

    t->doc = malloc(len);
    t->scratch = malloc(len);
    t->buf = malloc(len);

    if (t->doc == NULL || t->scratch == NULL || t->buf == NULL) {
        printf("malloc() failed\n");
        exit(2);
    }

    test_text(t->doc, jwk);

    ngx_ws_gateway_json_init(&t->json, t->nodes, TEST_JWK_NODES, t->scratch,
                             len);

    ngx_memzero(key, sizeof(ngx_ws_gateway_jwt_key_t));
    *reason = NULL;

    if (ngx_ws_gateway_json_parse(&t->json, t->doc, len) != NGX_OK) {
        printf("bad JSON in a fixture: %s at %lu: %s\n", t->json.error,
               (unsigned long) t->json.offset, jwk);
        exit(2);
    }

    root = ngx_ws_gateway_json_root(&t->json);
    keys = ngx_ws_gateway_json_get_type(&t->json, root, (u_char *) "keys",
                                        4, NGX_WS_GATEWAY_JSON_ARRAY);
    if (keys && keys->count) {
        root = ngx_ws_gateway_json_first(&t->json, keys);
    }

    return ngx_ws_gateway_jwt_key_jwk(key, &t->json, root, t->buf, reason);
}


static void
test_jwk_release(test_jwk_t *t)
{
    free(t->doc);
    free(t->scratch);
    free(t->buf);
}


static const char *
test_reason(ngx_uint_t rc)
{
    static char  unknown[32];

    if (rc < NGX_WS_GATEWAY_JWT_REASONS && ngx_ws_gateway_jwt_reasons[rc]) {
        return ngx_ws_gateway_jwt_reasons[rc];
    }

    sprintf(unknown, "(reason %lu)", (unsigned long) rc);

    return unknown;
}


static void
test_base64url(void)
{
    u_char      *src, *dst;
    size_t       len, n, dst_len;
    uint64_t     seed;
    ngx_int_t    rc;
    ngx_uint_t   i, c, ok;
    u_char       bytes[64], enc[96], text[8];

    static struct {
        const char  *src;
        const char  *expect;       /* hex, or NULL: refused */
    } rows[] = {
        { "", "" },
        { "QQ", "41" },
        { "QUI", "41 42" },
        { "QUJD", "41 42 43" },
        { "QUJDRA", "41 42 43 44" },
        { "-_-_", "fb ff bf" },
        { "__8", "ff ff" },
        { "AAAA", "00 00 00" },
        { "Q", NULL },
        { "QUJDR", NULL },
        { "QQ==", NULL },
        { "QQ=", NULL },
        { "QUI=", NULL },
        { "QUJD====", NULL },
        { "=", NULL },
        { "+/+/", NULL },
        { "Q+I", NULL },
        { "Q/I", NULL },
        { "QR", NULL },
        { "QUJ", NULL },
        { "QUJDRB", NULL },
        { "__9", NULL },
        { "Q I", NULL },
        { "QUJD\n", NULL },
        { " QUJD", NULL },
        { "QU.D", NULL },
        { "QU\xc3\xa9", NULL },
        { NULL, NULL }
    };

    for (i = 0; rows[i].src; i++) {
        len = strlen(rows[i].src);
        src = malloc(len ? len : 1);
        ngx_memcpy(src, rows[i].src, len);

        /* at most 3 bytes per 4 characters */
        n = len * 3 / 4;
        dst = malloc(n ? n : 1);

        dst_len = (size_t) -1;
        rc = ngx_ws_gateway_jwt_base64url(dst, &dst_len, src, len);

        if (rows[i].expect == NULL) {
            unit_check(rc == NGX_ERROR, "base64url \"%s\": rc %ld, expected"
                       " NGX_ERROR", rows[i].src, (long) rc);

        } else {
            n = unit_hex(bytes, rows[i].expect);
            unit_check(rc == NGX_OK && dst_len == n
                       && (n == 0 || ngx_memcmp(dst, bytes, n) == 0),
                       "base64url \"%s\": rc %ld, %lu bytes, expected %s",
                       rows[i].src, (long) rc, (unsigned long) dst_len,
                       rows[i].expect);
        }

        free(src);
        free(dst);
    }

    /* every byte value alone, in a group of four: only 64 are digits */

    ok = 0;

    for (c = 0; c < 256; c++) {
        ngx_memcpy(text, "QUJD", 4);
        text[2] = (u_char) c;

        rc = ngx_ws_gateway_jwt_base64url(bytes, &dst_len, text, 4);

        if ((rc == NGX_OK)
            != ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            unit_check(0, "base64url: byte %02lx: rc %ld",
                       (unsigned long) c, (long) rc);

        } else {
            ok++;
        }
    }

    unit_check(ok == 256, "base64url: %lu of 256 byte values right",
               (unsigned long) ok);

    /*
     * random bytes of every length from 0 to 64 round-trip, into a
     * buffer of exactly their length; then each length plus one
     * character (4n + 1) is refused, and so is a change of the last
     * character's unused bits
     */

    seed = 7;
    ok = 0;

    for (len = 0; len <= 64; len++) {
        for (i = 0; i < len; i++) {
            bytes[i] = (u_char) unit_random(&seed);
        }

        n = test_b64u(enc, bytes, len);

        dst = malloc(len ? len : 1);
        rc = ngx_ws_gateway_jwt_base64url(dst, &dst_len, enc, n);

        if (rc != NGX_OK || dst_len != len
            || (len && ngx_memcmp(dst, bytes, len) != 0))
        {
            unit_check(0, "base64url: %lu random bytes do not round-trip",
                       (unsigned long) len);
        } else {
            ok++;
        }

        free(dst);

        if (n % 4 == 0) {
            enc[n] = 'A';
            dst = malloc(len + 1);
            rc = ngx_ws_gateway_jwt_base64url(dst, &dst_len, enc, n + 1);
            unit_check(rc == NGX_ERROR, "base64url: %lu characters: rc %ld",
                       (unsigned long) n + 1, (long) rc);
            free(dst);

        } else {
            /* the lowest bit of the last digit is never used */
            c = strchr(test_alphabet, enc[n - 1]) - test_alphabet;
            enc[n - 1] = test_alphabet[c ^ 1];
            dst = malloc(len);
            rc = ngx_ws_gateway_jwt_base64url(dst, &dst_len, enc, n);
            unit_check(rc == NGX_ERROR, "base64url: %lu bytes, trailing"
                       " bits set (\"%c\"): rc %ld", (unsigned long) len,
                       enc[n - 1], (long) rc);
            free(dst);
        }
    }

    unit_check(ok == 65, "base64url: %lu of 65 lengths round-trip",
               (unsigned long) ok);
}


static void
test_names(void)
{
    size_t      len;
    ngx_uint_t  i, alg, algs, f;

    static const char  *names[] = {
        "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256",
        "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
    };

    static const char  *unknown[] = {
        "none", "None", "NONE", "hs256", "Hs256", "HS", "HS2", "HS25",
        "HS2560", "HS256 ", " HS256", "HS257", "HS1", "RS1", "ES256K",
        "EDDSA", "eddsa", "Ed25519", "Ed448", "RSA-OAEP", "dir", "A128KW",
        "HS256\0", ""
    };

    static const ngx_uint_t  families[] = {
        TEST_HS, TEST_RS, TEST_BIT(ES256), TEST_BIT(ES384),
        TEST_BIT(ES512), TEST_BIT(EDDSA)
    };

    static const char  *reasons[] = {
        NULL, "missing", "too_large", "malformed", "bad_alg", "unknown_kid",
        "bad_signature", "expired", "not_yet_valid", "bad_issuer",
        "bad_audience", "bad_claim"
    };

    unit_check(NGX_WS_GATEWAY_JWT_ALGS == 13, "13 algorithms");

    for (i = 0; i < NGX_WS_GATEWAY_JWT_ALGS; i++) {
        alg = ngx_ws_gateway_jwt_alg((u_char *) names[i], strlen(names[i]));
        unit_check(alg == i, "alg \"%s\": %ld, expected %lu", names[i],
                   (long) alg, (unsigned long) i);

        unit_check(ngx_ws_gateway_jwt_algs[i]
                   && strcmp(ngx_ws_gateway_jwt_algs[i], names[i]) == 0,
                   "ngx_ws_gateway_jwt_algs[%lu] is \"%s\", expected %s",
                   (unsigned long) i,
                   ngx_ws_gateway_jwt_algs[i] ? ngx_ws_gateway_jwt_algs[i]
                                              : "NULL", names[i]);
    }

    for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        len = strlen(unknown[i]);

        if (ngx_strcmp(unknown[i], "HS256") == 0) {
            len++;
        }

        alg = ngx_ws_gateway_jwt_alg((u_char *) unknown[i], len);
        unit_check(alg == NGX_WS_GATEWAY_JWT_ALG_NONE,
                   "alg \"%s\" (%lu bytes): %ld, expected none", unknown[i],
                   (unsigned long) len, (long) alg);
    }

    /* a name cut short, from a longer buffer */

    alg = ngx_ws_gateway_jwt_alg((u_char *) "HS2560", 5);
    unit_check(alg == NGX_WS_GATEWAY_JWT_HS256, "alg \"HS256\" of \"HS2560\"");

    alg = ngx_ws_gateway_jwt_alg((u_char *) "EdDSA", 4);
    unit_check(alg == NGX_WS_GATEWAY_JWT_ALG_NONE, "alg \"EdDS\"");

    alg = ngx_ws_gateway_jwt_alg(NULL, 0);
    unit_check(alg == NGX_WS_GATEWAY_JWT_ALG_NONE, "alg of nothing");

    /* the families */

    algs = 0;

    for (f = 0; f < NGX_WS_GATEWAY_JWT_KEY_FAMILIES; f++) {
        unit_check(ngx_ws_gateway_jwt_family_algs(f) == families[f],
                   "family %lu: algs %lx, expected %lx", (unsigned long) f,
                   (unsigned long) ngx_ws_gateway_jwt_family_algs(f),
                   (unsigned long) families[f]);

        unit_check((algs & families[f]) == 0, "families overlap");
        algs |= families[f];
    }

    unit_check(algs == TEST_ALL, "every algorithm has a family");
    unit_check(ngx_ws_gateway_jwt_family_algs(NGX_WS_GATEWAY_JWT_KEY_FAMILIES)
               == 0, "no family past the last");
    unit_check(ngx_ws_gateway_jwt_family_algs((ngx_uint_t) -1) == 0,
               "no family -1");

    /* the reasons */

    unit_check(ngx_ws_gateway_jwt_reasons[0] != NULL, "reason of OK");

    for (i = 1; i < NGX_WS_GATEWAY_JWT_REASONS; i++) {
        unit_check(ngx_ws_gateway_jwt_reasons[i]
                   && strcmp(ngx_ws_gateway_jwt_reasons[i], reasons[i]) == 0,
                   "reason %lu is \"%s\", expected \"%s\"", (unsigned long) i,
                   ngx_ws_gateway_jwt_reasons[i]
                   ? ngx_ws_gateway_jwt_reasons[i] : "NULL", reasons[i]);
    }
}


static void
test_decode_table(void)
{
    u_char          *token;
    size_t           len;
    ngx_uint_t       rc;
    test_tok_t       t;
    test_decode_t   *row;

    token = malloc(TEST_TOKEN_MAX);

    for (row = test_decode_rows; row->name; row++) {

        if (row->raw) {
            len = strlen(row->raw);
            ngx_memcpy(token, row->raw, len);

        } else {
            len = test_make(token, row->header, row->payload,
                            (u_char *) "sig", 3);
        }

        rc = test_decode(&t, token, len, row->allowed);

        unit_check(rc == row->expect, "decode \"%s\": %s, expected %s",
                   row->name, test_reason(rc), test_reason(row->expect));

        if (rc == NGX_WS_GATEWAY_JWT_OK) {
            unit_check(t.jwt.alg < NGX_WS_GATEWAY_JWT_ALGS
                       && (row->allowed & ((ngx_uint_t) 1 << t.jwt.alg)),
                       "decode \"%s\": alg %lu", row->name,
                       (unsigned long) t.jwt.alg);

        } else {
            unit_check(t.jwt.error != NULL, "decode \"%s\": no error text",
                       row->name);
        }

        test_release(&t);
    }

    free(token);
}


static void
test_decode_fields(void)
{
    u_char                      *token;
    size_t                       len, at;
    ngx_uint_t                   rc, bad;
    test_tok_t                   t;
    ngx_ws_gateway_jwt_key_t     key;
    ngx_ws_gateway_json_node_t  *n;

    static const char  header[] = "{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}";
    static const char  payload[] = "{\"iss\":\"joe\",\r\n \"exp\":1300819380,"
                                   "\r\n \"http://example.com/is_root\":true}";

    token = malloc(TEST_TOKEN_MAX);

    /* RFC 7515 A.1: the segments, decoded */

    rc = test_decode_str(&t, TEST_A1_TOKEN, TEST_BIT(HS256));

    unit_check(rc == NGX_WS_GATEWAY_JWT_OK, "A.1: %s", test_reason(rc));
    unit_check(t.jwt.alg == NGX_WS_GATEWAY_JWT_HS256, "A.1: alg");
    unit_check(!t.jwt.has_kid && t.jwt.kid.len == 0, "A.1: no kid");
    unit_check(t.jwt.signing_input.data == t.token
               && t.jwt.signing_input.len
                  == sizeof(TEST_A1_HEADER "." TEST_A_PAYLOAD) - 1,
               "A.1: signing input");
    unit_check(t.jwt.header_json.len == sizeof(header) - 1
               && ngx_memcmp(t.jwt.header_json.data, header,
                             sizeof(header) - 1) == 0,
               "A.1: header \"%.*s\"", (int) t.jwt.header_json.len,
               t.jwt.header_json.data);
    unit_check(t.jwt.payload_json.len == sizeof(payload) - 1
               && ngx_memcmp(t.jwt.payload_json.data, payload,
                             sizeof(payload) - 1) == 0,
               "A.1: payload \"%.*s\"", (int) t.jwt.payload_json.len,
               t.jwt.payload_json.data);
    unit_check(t.jwt.signature.len == 32
               && t.jwt.signature.data[0] == 0x74
               && t.jwt.signature.data[31] == 0x79,
               "A.1: signature of %lu bytes",
               (unsigned long) t.jwt.signature.len);

    n = ngx_ws_gateway_jwt_header(&t.jwt, (u_char *) "typ", 3);
    unit_check(n && n->type == NGX_WS_GATEWAY_JSON_STRING
               && n->value.len == 3
               && ngx_memcmp(n->value.data, "JWT", 3) == 0, "A.1: typ");

    n = ngx_ws_gateway_jwt_claim(&t.jwt, (u_char *) "iss", 3);
    unit_check(n && n->value.len == 3
               && ngx_memcmp(n->value.data, "joe", 3) == 0, "A.1: iss");

    n = ngx_ws_gateway_jwt_claim(&t.jwt,
                                 (u_char *) "http://example.com/is_root", 26);
    unit_check(n && n->type == NGX_WS_GATEWAY_JSON_TRUE, "A.1: is_root");

    unit_check(ngx_ws_gateway_jwt_claim(&t.jwt, (u_char *) "typ", 3) == NULL,
               "A.1: typ is not a claim");
    unit_check(ngx_ws_gateway_jwt_header(&t.jwt, (u_char *) "iss", 3)
               == NULL, "A.1: iss is not in the header");
    unit_check(ngx_ws_gateway_jwt_claim(&t.jwt, (u_char *) "is", 2) == NULL,
               "A.1: no claim \"is\"");

    test_release(&t);

    /* the kid, decoded */

    len = test_make(token, "{'alg':'ES256','kid':'a\\u0062'}", "{}",
                    (u_char *) "sig", 3);
    rc = test_decode(&t, token, len, TEST_ALL);
    unit_check(rc == NGX_WS_GATEWAY_JWT_OK && t.jwt.has_kid
               && t.jwt.kid.len == 2
               && ngx_memcmp(t.jwt.kid.data, "ab", 2) == 0,
               "kid: %s, \"%.*s\"", test_reason(rc), (int) t.jwt.kid.len,
               t.jwt.kid.data);
    unit_check(t.jwt.alg == NGX_WS_GATEWAY_JWT_ES256, "kid: alg");
    test_release(&t);

    /* a kid must be a string */

    len = test_make(token, "{'alg':'ES256','kid':1}", "{}",
                    (u_char *) "sig", 3);
    rc = test_decode(&t, token, len, TEST_ALL);
    unit_check(rc == NGX_WS_GATEWAY_JWT_MALFORMED, "kid a number: %s",
               test_reason(rc));
    test_release(&t);

    len = test_make(token, "{'alg':'ES256','kid':['a']}", "{}",
                    (u_char *) "sig", 3);
    rc = test_decode(&t, token, len, TEST_ALL);
    unit_check(rc == NGX_WS_GATEWAY_JWT_MALFORMED, "kid an array: %s",
               test_reason(rc));
    test_release(&t);

    /* an alg missing or not a string: malformed */

    len = test_make(token, "{'typ':'JWT'}", "{}", (u_char *) "sig", 3);
    rc = test_decode(&t, token, len, TEST_ALL);
    unit_check(rc == NGX_WS_GATEWAY_JWT_MALFORMED, "no alg: %s",
               test_reason(rc));
    test_release(&t);

    len = test_make(token, "{'alg':256}", "{}", (u_char *) "sig", 3);
    rc = test_decode(&t, token, len, TEST_ALL);
    unit_check(rc == NGX_WS_GATEWAY_JWT_MALFORMED, "alg a number: %s",
               test_reason(rc));
    test_release(&t);

    len = test_make(token, "{'alg':null}", "{}", (u_char *) "sig", 3);
    rc = test_decode(&t, token, len, TEST_ALL);
    unit_check(rc == NGX_WS_GATEWAY_JWT_MALFORMED, "alg null: %s",
               test_reason(rc));
    test_release(&t);

    /* a NUL byte anywhere */

    bad = 0;
    len = sizeof(TEST_A1_TOKEN) - 1;

    for (at = 0; at < len; at++) {
        ngx_memcpy(token, TEST_A1_TOKEN, len);
        token[at] = '\0';

        rc = test_decode(&t, token, len, TEST_ALL);

        if (rc != NGX_WS_GATEWAY_JWT_MALFORMED) {
            unit_check(0, "NUL at %lu: %s", (unsigned long) at,
                       test_reason(rc));
            bad++;
        }

        test_release(&t);
    }

    unit_check(bad == 0, "a NUL at every byte is malformed");

    /* A.1 cut at every length: never valid */

    if (ngx_ws_gateway_jwt_key_secret(&key, test_a1_secret,
                                      test_a1_secret_len)
        != NULL)
    {
        unit_check(0, "A.1 secret refused");
        free(token);
        return;
    }

    bad = 0;

    for (at = 0; at < len; at++) {
        rc = test_decode(&t, (u_char *) TEST_A1_TOKEN, at, TEST_ALL);

        if (rc == NGX_WS_GATEWAY_JWT_OK) {
            rc = ngx_ws_gateway_jwt_verify(&t.jwt, &key, 1);
        }

        if (rc == NGX_WS_GATEWAY_JWT_OK) {
            unit_check(0, "A.1 cut at %lu: accepted", (unsigned long) at);
            bad++;
        }

        test_release(&t);
    }

    unit_check(bad == 0, "A.1 cut at every length is refused");

    ngx_ws_gateway_jwt_key_free(&key);

    free(token);
}


static void
test_limits(void)
{
    u_char      *token, *json, *p;
    size_t       len;
    ngx_uint_t   rc, i, n, members;
    test_tok_t   t;

    token = malloc(TEST_TOKEN_MAX);
    json = malloc(TEST_TOKEN_MAX);

    /* header: NGX_WS_GATEWAY_JWT_HEADER_NODES values, and one more */

    for (i = 0; i < 2; i++) {
        members = NGX_WS_GATEWAY_JWT_HEADER_NODES - 1 + i;

        p = ngx_cpymem(json, "{'alg':'HS256'", 14);

        for (n = 1; n < members; n++) {
            p += sprintf((char *) p, ",'h%lu':%lu", (unsigned long) n,
                         (unsigned long) n);
        }

        *p++ = '}';
        *p = '\0';

        len = test_make(token, (char *) json, "{}", (u_char *) "sig", 3);
        rc = test_decode(&t, token, len, TEST_ALL);

        unit_check(rc == (i ? NGX_WS_GATEWAY_JWT_MALFORMED
                            : NGX_WS_GATEWAY_JWT_OK),
                   "header of %lu values: %s", (unsigned long) members + 1,
                   test_reason(rc));

        test_release(&t);
    }

    /* claims: NGX_WS_GATEWAY_JWT_CLAIMS_NODES values, and one more */

    for (i = 0; i < 2; i++) {
        members = NGX_WS_GATEWAY_JWT_CLAIMS_NODES - 1 + i;

        p = ngx_cpymem(json, "{'c0':0", 7);

        for (n = 1; n < members; n++) {
            p += sprintf((char *) p, ",'c%lu':%lu", (unsigned long) n,
                         (unsigned long) n);
        }

        *p++ = '}';
        *p = '\0';

        len = test_make(token, "{'alg':'HS256'}", (char *) json,
                        (u_char *) "sig", 3);
        rc = test_decode(&t, token, len, TEST_ALL);

        unit_check(rc == (i ? NGX_WS_GATEWAY_JWT_MALFORMED
                            : NGX_WS_GATEWAY_JWT_OK),
                   "claims of %lu values: %s", (unsigned long) members + 1,
                   test_reason(rc));

        test_release(&t);
    }

    /* claims in an array: 1 + 1 + 510 values, and one more */

    for (i = 0; i < 2; i++) {
        members = NGX_WS_GATEWAY_JWT_CLAIMS_NODES - 2 + i;

        p = ngx_cpymem(json, "{'a':[0", 7);

        for (n = 1; n < members; n++) {
            p = ngx_cpymem(p, ",0", 2);
        }

        p = ngx_cpymem(p, "]}", 2);
        *p = '\0';

        len = test_make(token, "{'alg':'HS256'}", (char *) json,
                        (u_char *) "sig", 3);
        rc = test_decode(&t, token, len, TEST_ALL);

        unit_check(rc == (i ? NGX_WS_GATEWAY_JWT_MALFORMED
                            : NGX_WS_GATEWAY_JWT_OK),
                   "claims array of %lu values: %s",
                   (unsigned long) members + 2, test_reason(rc));

        test_release(&t);
    }

    /* a large token, near the largest size: 40 strings of 1000 bytes */

    p = ngx_cpymem(json, "{'c0':'", 7);

    for (n = 0; n < 40; n++) {
        if (n) {
            p += sprintf((char *) p, "','c%lu':'", (unsigned long) n);
        }

        ngx_memset(p, 'a' + n % 26, 1000);
        p += 1000;
    }

    p = ngx_cpymem(p, "'}", 2);
    *p = '\0';

    len = test_make(token, "{'alg':'HS256'}", (char *) json,
                    (u_char *) "sig", 3);
    rc = test_decode(&t, token, len, TEST_ALL);

    unit_check(len > 50000 && len <= NGX_WS_GATEWAY_JWT_MAX_SIZE
               && rc == NGX_WS_GATEWAY_JWT_OK,
               "a token of %lu bytes: %s", (unsigned long) len,
               test_reason(rc));
    n = ngx_ws_gateway_jwt_nodes(token, len);
    unit_check(n <= NGX_WS_GATEWAY_JWT_HEADER_NODES
                    + NGX_WS_GATEWAY_JWT_CLAIMS_NODES,
               "nodes of a token of %lu bytes: %lu", (unsigned long) len,
               (unsigned long) n);

    test_release(&t);

    /* one byte over the largest size: never accepted */

    ngx_memset(token + len, 'A', TEST_TOKEN_MAX - len);
    len = NGX_WS_GATEWAY_JWT_MAX_SIZE + 1;

    rc = test_decode(&t, token, len, TEST_ALL);
    unit_check(rc != NGX_WS_GATEWAY_JWT_OK, "a token of %lu bytes: %s",
               (unsigned long) len, test_reason(rc));
    test_release(&t);

    free(json);
    free(token);
}


/*
 * Verifies a JWS whose payload is not a claims set (so that
 * ngx_ws_gateway_jwt_decode() refuses it) by filling in what decode
 * would have: the signing input, the signature and the algorithm.
 */

static ngx_uint_t
test_verify_raw(const char *token, ngx_uint_t alg,
    ngx_ws_gateway_jwt_key_t *keys, ngx_uint_t nkeys, ngx_uint_t flip)
{
    u_char                      *dot, *sig, *buf;
    size_t                       len;
    ngx_uint_t                   rc;
    ngx_ws_gateway_jwt_t         jwt;
    ngx_ws_gateway_json_node_t   nodes[4];

    len = strlen(token);
    dot = (u_char *) strrchr(token, '.');

    buf = malloc(len);
    sig = malloc(len);

    ngx_ws_gateway_jwt_init(&jwt, buf, len, nodes, 4);

    jwt.signing_input.data = (u_char *) token;
    jwt.signing_input.len = dot - (u_char *) token;
    jwt.signature.data = sig;
    jwt.signature.len = test_unb64u(sig, (char *) dot + 1,
                                    len - (dot + 1 - (u_char *) token));
    jwt.alg = alg;
    jwt.has_kid = 0;
    ngx_str_null(&jwt.kid);

    if (flip) {
        sig[(flip - 1) / 8] ^= 1 << ((flip - 1) % 8);
    }

    rc = ngx_ws_gateway_jwt_verify(&jwt, keys, nkeys);

    free(buf);
    free(sig);

    return rc;
}


static void
test_rfc_examples(void)
{
    ngx_int_t                 rc;
    ngx_uint_t                r;
    test_tok_t                t;
    test_jwk_t                j;
    const char               *reason;
    ngx_ws_gateway_jwt_key_t  key;

    /* A.1: HS256, the key built from the JWK's "k" */

    unit_check(test_a1_secret_len == 64, "A.1: a secret of %lu bytes",
               (unsigned long) test_a1_secret_len);

    reason = ngx_ws_gateway_jwt_key_secret(&key, test_a1_secret,
                                           test_a1_secret_len);
    unit_check(reason == NULL, "A.1: key: %s", TEST_S(reason));

    r = test_decode_str(&t, TEST_A1_TOKEN, TEST_BIT(HS256));
    unit_check(r == NGX_WS_GATEWAY_JWT_OK, "A.1: decode: %s",
               test_reason(r));

    r = ngx_ws_gateway_jwt_verify(&t.jwt, &key, 1);
    unit_check(r == NGX_WS_GATEWAY_JWT_OK, "A.1: verify: %s",
               test_reason(r));

    r = ngx_ws_gateway_jwt_check_claims(&t.jwt, &test_rules[R_NONE],
                                        1300819379);
    unit_check(r == NGX_WS_GATEWAY_JWT_OK && t.jwt.exp == 1300819380,
               "A.1: claims a second before exp: %s, exp %ld",
               test_reason(r), (long) t.jwt.exp);

    r = ngx_ws_gateway_jwt_check_claims(&t.jwt, &test_rules[R_NONE],
                                        1300819380);
    unit_check(r == NGX_WS_GATEWAY_JWT_EXPIRED, "A.1: claims at exp: %s",
               test_reason(r));

    test_release(&t);
    ngx_ws_gateway_jwt_key_free(&key);

    /* A.1 with the JWK itself */

    rc = test_jwk(&j, &key, "{'kty':'oct','k':'" TEST_A1_K "'}", &reason);
    unit_check(rc == NGX_OK, "A.1: JWK: %s", TEST_S(reason));

    if (rc == NGX_OK) {
        r = test_verify_str(TEST_A1_TOKEN, &key, 1);
        unit_check(r == NGX_WS_GATEWAY_JWT_OK, "A.1: JWK verify: %s",
                   test_reason(r));
        ngx_ws_gateway_jwt_key_free(&key);
    }

    test_jwk_release(&j);

    /* A.2: RS256 */

    rc = test_jwk(&j, &key, "{" J_A2 "}", &reason);
    unit_check(rc == NGX_OK, "A.2: JWK: %s", TEST_S(reason));

    if (rc == NGX_OK) {
        r = test_verify_str(TEST_A2_TOKEN, &key, 1);
        unit_check(r == NGX_WS_GATEWAY_JWT_OK, "A.2: verify: %s",
                   test_reason(r));
        ngx_ws_gateway_jwt_key_free(&key);
    }

    test_jwk_release(&j);

    /* A.3: ES256, with the JWK and with the same key in PEM */

    rc = test_jwk(&j, &key, "{" J_A3 "}", &reason);
    unit_check(rc == NGX_OK, "A.3: JWK: %s", TEST_S(reason));

    if (rc == NGX_OK) {
        r = test_verify_str(TEST_A3_TOKEN, &key, 1);
        unit_check(r == NGX_WS_GATEWAY_JWT_OK, "A.3: verify: %s",
                   test_reason(r));
        ngx_ws_gateway_jwt_key_free(&key);
    }

    test_jwk_release(&j);

    reason = test_pem(&key, test_p256_pem);
    unit_check(reason == NULL, "A.3: PEM: %s", TEST_S(reason));

    if (reason == NULL) {
        r = test_verify_str(TEST_A3_TOKEN, &key, 1);
        unit_check(r == NGX_WS_GATEWAY_JWT_OK, "A.3: PEM verify: %s",
                   test_reason(r));
        ngx_ws_gateway_jwt_key_free(&key);
    }

    /* A.4: ES512 over "Payload", not a claims set */

    r = test_decode_str(&t, TEST_A4_TOKEN, TEST_ALL);
    unit_check(r == NGX_WS_GATEWAY_JWT_MALFORMED, "A.4: decode: %s",
               test_reason(r));
    test_release(&t);

    rc = test_jwk(&j, &key, "{'kty':'EC','crv':'P-521','x':'" TEST_A4_X
                  "','y':'" TEST_A4_Y "'}", &reason);
    unit_check(rc == NGX_OK, "A.4: JWK: %s", TEST_S(reason));

    if (rc == NGX_OK) {
        r = test_verify_raw(TEST_A4_TOKEN, NGX_WS_GATEWAY_JWT_ES512, &key, 1,
                            0);
        unit_check(r == NGX_WS_GATEWAY_JWT_OK, "A.4: verify: %s",
                   test_reason(r));

        r = test_verify_raw(TEST_A4_TOKEN, NGX_WS_GATEWAY_JWT_ES512, &key, 1,
                            100);
        unit_check(r == NGX_WS_GATEWAY_JWT_BAD_SIGNATURE,
                   "A.4: verify, a bit flipped: %s", test_reason(r));

        r = test_verify_raw(TEST_A4_TOKEN, NGX_WS_GATEWAY_JWT_ES384, &key, 1,
                            0);
        unit_check(r == NGX_WS_GATEWAY_JWT_UNKNOWN_KID,
                   "A.4: verify as ES384: %s", test_reason(r));

        ngx_ws_gateway_jwt_key_free(&key);
    }

    test_jwk_release(&j);

    reason = test_pem(&key, test_p521_pem);
    unit_check(reason == NULL, "A.4: PEM: %s", TEST_S(reason));

    if (reason == NULL) {
        r = test_verify_raw(TEST_A4_TOKEN, NGX_WS_GATEWAY_JWT_ES512, &key, 1,
                            0);
        unit_check(r == NGX_WS_GATEWAY_JWT_OK, "A.4: PEM verify: %s",
                   test_reason(r));
        ngx_ws_gateway_jwt_key_free(&key);
    }

    /* RFC 8037 A.4: Ed25519 over a sentence, not a claims set */

    r = test_decode_str(&t, TEST_ED_TOKEN, TEST_ALL);
    unit_check(r == NGX_WS_GATEWAY_JWT_MALFORMED, "RFC 8037: decode: %s",
               test_reason(r));
    test_release(&t);

    rc = test_jwk(&j, &key, "{" J_ED "}", &reason);
    unit_check(rc == NGX_OK, "RFC 8037: JWK: %s", TEST_S(reason));

    if (rc == NGX_OK) {
        r = test_verify_raw(TEST_ED_TOKEN, NGX_WS_GATEWAY_JWT_EDDSA, &key, 1,
                            0);
        unit_check(r == NGX_WS_GATEWAY_JWT_OK, "RFC 8037: verify: %s",
                   test_reason(r));

        r = test_verify_raw(TEST_ED_TOKEN, NGX_WS_GATEWAY_JWT_EDDSA, &key, 1,
                            512);
        unit_check(r == NGX_WS_GATEWAY_JWT_BAD_SIGNATURE,
                   "RFC 8037: verify, a bit flipped: %s", test_reason(r));

        ngx_ws_gateway_jwt_key_free(&key);
    }

    test_jwk_release(&j);

    reason = test_pem(&key, test_ed_pem);
    unit_check(reason == NULL, "RFC 8037: PEM: %s", TEST_S(reason));

    if (reason == NULL) {
        r = test_verify_raw(TEST_ED_TOKEN, NGX_WS_GATEWAY_JWT_EDDSA, &key, 1,
                            0);
        unit_check(r == NGX_WS_GATEWAY_JWT_OK, "RFC 8037: PEM verify: %s",
                   test_reason(r));
        ngx_ws_gateway_jwt_key_free(&key);
    }
}


/* the tokens signed with the generated keys, by PEM and by JWK */

static void
test_signed(void)
{
    ngx_int_t                 rc;
    ngx_uint_t                i, k, r, nkeys;
    test_jwk_t                j;
    const char               *reason;
    ngx_ws_gateway_jwt_key_t  key, keys[8];

    static struct {
        const char  *token;
        const char  *pem;
    } rows[] = {
        { test_token_rs256, test_rsa_pem },
        { test_token_rs384, test_rsa_pem },
        { test_token_rs512, test_rsa_pem },
        { test_token_ps256, test_rsa_pem },
        { test_token_ps384, test_rsa_pem },
        { test_token_ps512, test_rsa_pem },
        { test_token_es256, test_p256_pem },
        { test_token_es256, test_p256_cert },
        { test_token_es384, test_p384_pem },
        { test_token_es512, test_p521_pem },
        { test_token_eddsa, test_ed_pem },
        { NULL, NULL }
    };

    static const char  *pems[] = {
        test_rsa_pem, test_p256_pem, test_p384_pem, test_p521_pem,
        test_ed_pem
    };

    for (i = 0; rows[i].token; i++) {
        reason = test_pem(&key, rows[i].pem);

        if (reason) {
            unit_check(0, "signed %lu: PEM: %s", (unsigned long) i, reason);
            continue;
        }

        /*
         * the tokens carry "kid":"k1": a key without a kid may verify
         * them, a key of another kid not
         */

        r = test_verify_str(rows[i].token, &key, 1);
        unit_check(r == NGX_WS_GATEWAY_JWT_OK,
                   "signed %lu: a key without a kid: %s", (unsigned long) i,
                   test_reason(r));

        ngx_str_set(&key.kid, "k2");

        r = test_verify_str(rows[i].token, &key, 1);
        unit_check(r == NGX_WS_GATEWAY_JWT_UNKNOWN_KID,
                   "signed %lu: a key of kid k2: %s", (unsigned long) i,
                   test_reason(r));

        ngx_str_set(&key.kid, "k1");

        r = test_verify_str(rows[i].token, &key, 1);
        unit_check(r == NGX_WS_GATEWAY_JWT_OK, "signed %lu: verify: %s",
                   (unsigned long) i, test_reason(r));

        ngx_ws_gateway_jwt_key_free(&key);
    }

    /* all the keys at once, all of kid "k1": each token finds its own */

    nkeys = 0;

    for (k = 0; k < sizeof(pems) / sizeof(pems[0]); k++) {
        reason = test_pem(&keys[nkeys], pems[k]);

        if (reason == NULL) {
            ngx_str_set(&keys[nkeys].kid, "k1");
            nkeys++;
        }
    }

    unit_check(nkeys == 5, "5 keys");

    for (i = 0; rows[i].token; i++) {
        r = test_verify_str(rows[i].token, keys, nkeys);
        unit_check(r == NGX_WS_GATEWAY_JWT_OK, "signed %lu, 5 keys: %s",
                   (unsigned long) i, test_reason(r));
    }

    /* ES256 with a DER signature */

    for (k = 0; k < nkeys; k++) {
        ngx_str_null(&keys[k].kid);
    }

    r = test_verify_str(test_token_es256_der, keys, nkeys);
    unit_check(r == NGX_WS_GATEWAY_JWT_BAD_SIGNATURE, "ES256, DER: %s",
               test_reason(r));

    r = test_verify_str(TEST_A3_TOKEN, keys, nkeys);
    unit_check(r == NGX_WS_GATEWAY_JWT_OK, "A.3, 5 keys: %s",
               test_reason(r));

    /* HS256 against keys of no HMAC family */

    r = test_verify_str(TEST_A1_TOKEN, keys, nkeys);
    unit_check(r == NGX_WS_GATEWAY_JWT_UNKNOWN_KID, "A.1, 5 keys: %s",
               test_reason(r));

    for (k = 0; k < nkeys; k++) {
        ngx_ws_gateway_jwt_key_free(&keys[k]);
    }

    /* the RSA key as a JWK */

    rc = test_jwk(&j, &key, "{'kty':'RSA','kid':'k1','e':'AQAB',"
                  "'n':'" TEST_RSA_N "'}", &reason);
    unit_check(rc == NGX_OK && key.kid.len == 2
               && ngx_memcmp(key.kid.data, "k1", 2) == 0,
               "RSA JWK: %s", TEST_S(reason));

    if (rc == NGX_OK) {
        for (i = 0; i < 6; i++) {
            r = test_verify_str(rows[i].token, &key, 1);
            unit_check(r == NGX_WS_GATEWAY_JWT_OK, "signed %lu, JWK: %s",
                       (unsigned long) i, test_reason(r));
        }

        ngx_ws_gateway_jwt_key_free(&key);
    }

    test_jwk_release(&j);

    /* narrowed by "alg": RS256 only */

    rc = test_jwk(&j, &key, "{'kty':'RSA','kid':'k1','alg':'RS256',"
                  "'e':'AQAB','n':'" TEST_RSA_N "'}", &reason);
    unit_check(rc == NGX_OK, "RSA JWK, alg RS256: %s", TEST_S(reason));

    if (rc == NGX_OK) {
        for (i = 0; i < 6; i++) {
            r = test_verify_str(rows[i].token, &key, 1);
            unit_check(r == (i ? NGX_WS_GATEWAY_JWT_UNKNOWN_KID
                               : NGX_WS_GATEWAY_JWT_OK),
                       "signed %lu, JWK of alg RS256: %s", (unsigned long) i,
                       test_reason(r));
        }

        ngx_ws_gateway_jwt_key_free(&key);
    }

    test_jwk_release(&j);
}


/*
 * Every bit of the signature flipped, one at a time, then the claims
 * changed under the same signature: each must be a bad signature.
 */

static void
test_flip(const char *name, const char *token, ngx_ws_gateway_jwt_key_t *key)
{
    u_char      *p, *t, *sig, *payload, *dot1, *dot2;
    size_t       len, sig_len, prefix, payload_len;
    ngx_uint_t   bit, r, bad;

    len = strlen(token);
    dot1 = (u_char *) strchr(token, '.');
    dot2 = (u_char *) strrchr(token, '.');
    prefix = dot2 - (u_char *) token;

    sig = malloc(len);
    payload = malloc(len);
    t = malloc(2 * len);

    sig_len = test_unb64u(sig, (char *) dot2 + 1, len - prefix - 1);

    r = test_verify_str(token, key, 1);
    unit_check(r == NGX_WS_GATEWAY_JWT_OK, "%s: verify: %s", name,
               test_reason(r));

    bad = 0;

    for (bit = 0; bit < sig_len * 8; bit++) {
        sig[bit / 8] ^= (u_char) (1 << (bit % 8));

        p = ngx_cpymem(t, token, prefix + 1);
        p += test_b64u(p, sig, sig_len);
        *p = '\0';

        sig[bit / 8] ^= (u_char) (1 << (bit % 8));

        r = test_verify_str((char *) t, key, 1);

        if (r != NGX_WS_GATEWAY_JWT_BAD_SIGNATURE) {
            unit_check(0, "%s: bit %lu flipped: %s", name,
                       (unsigned long) bit, test_reason(r));
            bad++;
        }
    }

    unit_check(bad == 0, "%s: %lu bits flipped, %lu not refused", name,
               (unsigned long) sig_len * 8, (unsigned long) bad);

    /* "joe" changed to "jox" in the claims */

    payload_len = test_unb64u(payload, (char *) dot1 + 1,
                              dot2 - dot1 - 1);
    for (p = payload; p + 3 <= payload + payload_len; p++) {
        if (ngx_memcmp(p, "joe", 3) == 0) {
            break;
        }
    }

    if (p + 3 > payload + payload_len) {
        unit_check(0, "%s: no \"joe\" in the claims", name);

    } else {
        p[2] = 'x';

        p = ngx_cpymem(t, token, dot1 + 1 - (u_char *) token);
        p += test_b64u(p, payload, payload_len);
        p = ngx_cpymem(p, dot2, len - prefix);
        *p = '\0';

        r = test_verify_str((char *) t, key, 1);
        unit_check(r == NGX_WS_GATEWAY_JWT_BAD_SIGNATURE,
                   "%s: claims changed: %s", name, test_reason(r));
    }

    free(sig);
    free(payload);
    free(t);
}


static void
test_bit_flips(void)
{
    ngx_int_t                 rc;
    ngx_uint_t                i;
    test_jwk_t                j;
    const char               *reason;
    ngx_ws_gateway_jwt_key_t  key;

    static struct {
        const char  *name;
        const char  *token;
        const char  *pem;
    } rows[] = {
        { "RS384", test_token_rs384, test_rsa_pem },
        { "PS256", test_token_ps256, test_rsa_pem },
        { "ES384", test_token_es384, test_p384_pem },
        { "ES512", test_token_es512, test_p521_pem },
        { "EdDSA", test_token_eddsa, test_ed_pem },
        { NULL, NULL, NULL }
    };

    reason = ngx_ws_gateway_jwt_key_secret(&key, test_a1_secret,
                                           test_a1_secret_len);
    if (reason == NULL) {
        test_flip("A.1 HS256", TEST_A1_TOKEN, &key);
        ngx_ws_gateway_jwt_key_free(&key);
    }

    rc = test_jwk(&j, &key, "{" J_A2 "}", &reason);

    if (rc == NGX_OK) {
        test_flip("A.2 RS256", TEST_A2_TOKEN, &key);
        ngx_ws_gateway_jwt_key_free(&key);
    }

    test_jwk_release(&j);

    rc = test_jwk(&j, &key, "{" J_A3 "}", &reason);

    if (rc == NGX_OK) {
        test_flip("A.3 ES256", TEST_A3_TOKEN, &key);
        ngx_ws_gateway_jwt_key_free(&key);
    }

    test_jwk_release(&j);

    for (i = 0; rows[i].name; i++) {
        if (test_pem(&key, rows[i].pem) == NULL) {
            ngx_str_set(&key.kid, "k1");
            test_flip(rows[i].name, rows[i].token, &key);
            ngx_ws_gateway_jwt_key_free(&key);
        }
    }
}


/* signatures of the wrong length or of no value */

static void
test_signatures(void)
{
    u_char                    *token, *sig, *dot;
    size_t                     len, sig_len, prefix;
    ngx_int_t                  rc;
    ngx_uint_t                 i, r, k, nkeys;
    test_tok_t                 t;
    test_jwk_t                 j[4];
    const char                *reason;
    ngx_ws_gateway_jwt_key_t   keys[4];

    static const char  *tokens[] = {
        TEST_A1_TOKEN, TEST_A2_TOKEN, TEST_A3_TOKEN, NULL
    };

    token = malloc(TEST_TOKEN_MAX);
    sig = malloc(TEST_TOKEN_MAX);

    nkeys = 0;

    if (ngx_ws_gateway_jwt_key_secret(&keys[nkeys], test_a1_secret,
                                      test_a1_secret_len)
        == NULL)
    {
        nkeys++;
    }

    rc = test_jwk(&j[0], &keys[nkeys], "{" J_A2 "}", &reason);
    nkeys += (rc == NGX_OK);

    rc = test_jwk(&j[1], &keys[nkeys], "{" J_A3 "}", &reason);
    nkeys += (rc == NGX_OK);

    rc = test_jwk(&j[2], &keys[nkeys], "{" J_ED "}", &reason);
    nkeys += (rc == NGX_OK);

    unit_check(nkeys == 4, "signatures: 4 keys");

    for (i = 0; tokens[i]; i++) {
        len = strlen(tokens[i]);
        dot = (u_char *) strrchr(tokens[i], '.');
        prefix = dot - (u_char *) tokens[i];
        sig_len = test_unb64u(sig, (char *) dot + 1, len - prefix - 1);

        /* one byte short */

        ngx_memcpy(token, tokens[i], prefix + 1);
        len = prefix + 1 + test_b64u(token + prefix + 1, sig, sig_len - 1);
        token[len] = '\0';

        r = test_verify_str((char *) token, keys, nkeys);
        unit_check(r == NGX_WS_GATEWAY_JWT_BAD_SIGNATURE,
                   "token %lu, a byte short: %s", (unsigned long) i,
                   test_reason(r));

        /* one byte more */

        sig[sig_len] = 0;
        len = prefix + 1 + test_b64u(token + prefix + 1, sig, sig_len + 1);
        token[len] = '\0';

        r = test_verify_str((char *) token, keys, nkeys);
        unit_check(r == NGX_WS_GATEWAY_JWT_BAD_SIGNATURE,
                   "token %lu, a byte more: %s", (unsigned long) i,
                   test_reason(r));

        /* all zeros, all ones */

        for (k = 0; k < 2; k++) {
            ngx_memset(sig, k ? 0xff : 0, sig_len);
            len = prefix + 1 + test_b64u(token + prefix + 1, sig, sig_len);
            token[len] = '\0';

            r = test_verify_str((char *) token, keys, nkeys);
            unit_check(r == NGX_WS_GATEWAY_JWT_BAD_SIGNATURE,
                       "token %lu, a signature of %s: %s", (unsigned long) i,
                       k ? "ones" : "zeros", test_reason(r));
        }

        /* none at all */

        ngx_memcpy(token, tokens[i], prefix + 1);
        token[prefix + 1] = '\0';

        r = test_decode_str(&t, (char *) token, TEST_ALL);

        if (r == NGX_WS_GATEWAY_JWT_OK) {
            unit_check(t.jwt.signature.len == 0, "no signature: length");
            r = ngx_ws_gateway_jwt_verify(&t.jwt, keys, nkeys);
            unit_check(r == NGX_WS_GATEWAY_JWT_BAD_SIGNATURE,
                       "token %lu, no signature: %s", (unsigned long) i,
                       test_reason(r));

        } else {
            unit_check(r == NGX_WS_GATEWAY_JWT_MALFORMED,
                       "token %lu, no signature: %s", (unsigned long) i,
                       test_reason(r));
        }

        test_release(&t);
    }

    /* the HS256 signature of A.1 under a header of HS384 and HS512 */

    for (i = 0; i < 2; i++) {
        len = test_make_hs(token, "{'alg':'HS256'}", "{}", test_a1_secret,
                           test_a1_secret_len);

        /* the signature kept, the header changed */

        dot = (u_char *) ngx_strchr(token, '.');
        ngx_memcpy(sig, dot, len - (dot - token) + 1);

        len = test_make(token, i ? "{'alg':'HS512'}" : "{'alg':'HS384'}",
                        "{}", (u_char *) "", 0);
        dot = (u_char *) ngx_strchr(token, '.');
        ngx_memcpy(dot, sig, ngx_strlen(sig) + 1);

        r = test_verify_str((char *) token, keys, nkeys);
        unit_check(r == NGX_WS_GATEWAY_JWT_BAD_SIGNATURE,
                   "HS256 signature under HS%s: %s", i ? "512" : "384",
                   test_reason(r));
    }

    /* HS384 and HS512 signed here verify */

    for (i = 0; i < 2; i++) {
        len = test_make_hs(token, i ? "{'alg':'HS512'}" : "{'alg':'HS384'}",
                           "{'sub':'x'}", test_a1_secret,
                           test_a1_secret_len);

        r = test_verify_str((char *) token, keys, nkeys);
        unit_check(r == NGX_WS_GATEWAY_JWT_OK, "HS%s: %s",
                   i ? "512" : "384", test_reason(r));
    }

    for (k = 0; k < nkeys; k++) {
        ngx_ws_gateway_jwt_key_free(&keys[k]);
    }

    for (k = 0; k < 3; k++) {
        test_jwk_release(&j[k]);
    }

    free(token);
    free(sig);
}


/* which keys a token may use: its kid, the families, the algs */

static void
test_kids(void)
{
    u_char                    *token, *pem;
    ngx_int_t                  rc;
    ngx_uint_t                 r;
    test_jwk_t                 j;
    const char                *reason;
    ngx_ws_gateway_jwt_key_t   keys[3], rsa;

    static u_char  other[] = "0123456789abcdef0123456789abcdef";

    token = malloc(TEST_TOKEN_MAX);

    /* keys[0]: another secret, kid "a"; keys[1]: A.1, kid "b" */

    if (ngx_ws_gateway_jwt_key_secret(&keys[0], other, 32) != NULL
        || ngx_ws_gateway_jwt_key_secret(&keys[1], test_a1_secret,
                                         test_a1_secret_len)
           != NULL)
    {
        unit_check(0, "kids: secrets refused");
        free(token);
        return;
    }

    unit_check(keys[0].family == NGX_WS_GATEWAY_JWT_KEY_HMAC
               && keys[0].algs == TEST_BIT(HS256)
               && keys[0].secret.data == other
               && keys[0].secret.len == 32 && keys[0].pkey == NULL,
               "a secret key");

    ngx_str_set(&keys[0].kid, "a");
    ngx_str_set(&keys[1].kid, "b");

    (void) test_make_hs(token, "{'alg':'HS256','kid':'b'}", "{}",
                        test_a1_secret, test_a1_secret_len);
    r = test_verify_str((char *) token, keys, 2);
    unit_check(r == NGX_WS_GATEWAY_JWT_OK, "kid b: %s", test_reason(r));

    (void) test_make_hs(token, "{'alg':'HS256','kid':'\\u0062'}", "{}",
                        test_a1_secret, test_a1_secret_len);
    r = test_verify_str((char *) token, keys, 2);
    unit_check(r == NGX_WS_GATEWAY_JWT_OK, "kid b, escaped: %s",
               test_reason(r));

    (void) test_make_hs(token, "{'alg':'HS256','kid':'a'}", "{}",
                        test_a1_secret, test_a1_secret_len);
    r = test_verify_str((char *) token, keys, 2);
    unit_check(r == NGX_WS_GATEWAY_JWT_BAD_SIGNATURE,
               "kid a, signed with b's secret: %s", test_reason(r));

    (void) test_make_hs(token, "{'alg':'HS256','kid':'c'}", "{}",
                        test_a1_secret, test_a1_secret_len);
    r = test_verify_str((char *) token, keys, 2);
    unit_check(r == NGX_WS_GATEWAY_JWT_UNKNOWN_KID, "kid c: %s",
               test_reason(r));

    (void) test_make_hs(token, "{'alg':'HS256','kid':'B'}", "{}",
                        test_a1_secret, test_a1_secret_len);
    r = test_verify_str((char *) token, keys, 2);
    unit_check(r == NGX_WS_GATEWAY_JWT_UNKNOWN_KID, "kid B: %s",
               test_reason(r));

    (void) test_make_hs(token, "{'alg':'HS256','kid':'bb'}", "{}",
                        test_a1_secret, test_a1_secret_len);
    r = test_verify_str((char *) token, keys, 2);
    unit_check(r == NGX_WS_GATEWAY_JWT_UNKNOWN_KID, "kid bb: %s",
               test_reason(r));

    /*
     * without a kid, where keys have kids: only the keys without one are
     * tried (the work of a forged token is bounded), none here
     */

    (void) test_make_hs(token, "{'alg':'HS256'}", "{}", test_a1_secret,
                        test_a1_secret_len);
    r = test_verify_str((char *) token, keys, 2);
    unit_check(r == NGX_WS_GATEWAY_JWT_UNKNOWN_KID,
               "no kid, keys with kids only: %s", test_reason(r));

    /* ... the one without a kid */

    ngx_str_null(&keys[1].kid);

    r = test_verify_str((char *) token, keys, 2);
    unit_check(r == NGX_WS_GATEWAY_JWT_OK,
               "no kid, the key without a kid: %s", test_reason(r));

    ngx_str_null(&keys[0].kid);
    ngx_str_set(&keys[1].kid, "b");

    r = test_verify_str((char *) token, keys, 2);
    unit_check(r == NGX_WS_GATEWAY_JWT_BAD_SIGNATURE,
               "no kid, the other key is the one without a kid: %s",
               test_reason(r));

    /* without any kid in the set, every key of the family is tried */

    ngx_str_null(&keys[1].kid);

    r = test_verify_str((char *) token, keys, 2);
    unit_check(r == NGX_WS_GATEWAY_JWT_OK, "no kid anywhere: %s",
               test_reason(r));

    r = test_verify_str((char *) token, keys, 1);
    unit_check(r == NGX_WS_GATEWAY_JWT_BAD_SIGNATURE,
               "no kid, the other key only: %s", test_reason(r));

    r = test_verify_str((char *) token, keys, 0);
    unit_check(r == NGX_WS_GATEWAY_JWT_UNKNOWN_KID, "no keys: %s",
               test_reason(r));

    ngx_str_set(&keys[0].kid, "a");
    ngx_str_set(&keys[1].kid, "b");

    /* two keys of one kid (a rotation): either may verify */

    ngx_str_set(&keys[1].kid, "a");

    (void) test_make_hs(token, "{'alg':'HS256','kid':'a'}", "{}",
                        test_a1_secret, test_a1_secret_len);
    r = test_verify_str((char *) token, keys, 2);
    unit_check(r == NGX_WS_GATEWAY_JWT_OK, "two keys of kid a: %s",
               test_reason(r));

    /* a kid of no key of the family */

    rc = test_jwk(&j, &keys[2], "{" J_A2 ",'kid':'r'}", &reason);

    if (rc == NGX_OK) {
        (void) test_make_hs(token, "{'alg':'HS256','kid':'r'}", "{}",
                            test_a1_secret, test_a1_secret_len);
        r = test_verify_str((char *) token, keys, 3);
        unit_check(r == NGX_WS_GATEWAY_JWT_UNKNOWN_KID,
                   "HS256 of the kid of an RSA key: %s", test_reason(r));

        ngx_ws_gateway_jwt_key_free(&keys[2]);
    }

    test_jwk_release(&j);

    ngx_ws_gateway_jwt_key_free(&keys[0]);
    ngx_ws_gateway_jwt_key_free(&keys[1]);

    /*
     * no confusion: HS256 tokens, one signed with the RSA key's PEM text
     * as the secret, against only the RSA key
     */

    reason = test_pem(&rsa, test_rsa_pem);
    unit_check(reason == NULL, "RSA PEM: %s", TEST_S(reason));

    if (reason == NULL) {
        r = test_verify_str(TEST_A1_TOKEN, &rsa, 1);
        unit_check(r == NGX_WS_GATEWAY_JWT_UNKNOWN_KID,
                   "A.1 against an RSA key: %s", test_reason(r));

        pem = (u_char *) test_rsa_pem;
        (void) test_make_hs(token, "{'alg':'HS256'}", "{'sub':'admin'}", pem,
                            ngx_strlen(pem));
        r = test_verify_str((char *) token, &rsa, 1);
        unit_check(r == NGX_WS_GATEWAY_JWT_UNKNOWN_KID,
                   "HS256 signed with the RSA PEM: %s", test_reason(r));

        (void) test_make_hs(token, "{'alg':'HS256'}", "{'sub':'admin'}", pem,
                            ngx_strlen(pem) - 1);
        r = test_verify_str((char *) token, &rsa, 1);
        unit_check(r == NGX_WS_GATEWAY_JWT_UNKNOWN_KID,
                   "HS256 signed with the RSA PEM, no new line: %s",
                   test_reason(r));

        /* RS256 (A.2) of another RSA key */

        r = test_verify_str(TEST_A2_TOKEN, &rsa, 1);
        unit_check(r == NGX_WS_GATEWAY_JWT_BAD_SIGNATURE,
                   "A.2 against another RSA key: %s", test_reason(r));

        /* ES256 and EdDSA against an RSA key */

        r = test_verify_str(TEST_A3_TOKEN, &rsa, 1);
        unit_check(r == NGX_WS_GATEWAY_JWT_UNKNOWN_KID,
                   "A.3 against an RSA key: %s", test_reason(r));

        ngx_ws_gateway_jwt_key_free(&rsa);
    }

    /* ES256 against P-384 and P-521 keys */

    if (test_pem(&keys[0], test_p384_pem) == NULL) {
        if (test_pem(&keys[1], test_p521_pem) == NULL) {
            r = test_verify_str(TEST_A3_TOKEN, keys, 2);
            unit_check(r == NGX_WS_GATEWAY_JWT_UNKNOWN_KID,
                       "A.3 against P-384 and P-521 keys: %s",
                       test_reason(r));

            ngx_ws_gateway_jwt_key_free(&keys[1]);
        }

        ngx_ws_gateway_jwt_key_free(&keys[0]);
    }

    free(token);
}


static void
test_claims_table(void)
{
    u_char          *token;
    size_t           len;
    ngx_uint_t       r;
    test_tok_t       t;
    test_claims_t   *row;

    token = malloc(TEST_TOKEN_MAX);

    for (row = test_claims_rows; row->name; row++) {
        len = test_make(token, "{'alg':'HS256'}", row->payload,
                        (u_char *) "sig", 3);

        r = test_decode(&t, token, len, TEST_ALL);

        if (r != NGX_WS_GATEWAY_JWT_OK) {
            unit_check(0, "claims \"%s\": decode: %s", row->name,
                       test_reason(r));
            test_release(&t);
            continue;
        }

        r = ngx_ws_gateway_jwt_check_claims(&t.jwt, &test_rules[row->rules],
                                            TEST_NOW);

        unit_check(r == row->expect, "claims \"%s\": %s, expected %s",
                   row->name, test_reason(r), test_reason(row->expect));

        if (r != NGX_WS_GATEWAY_JWT_OK) {
            unit_check(t.jwt.error != NULL, "claims \"%s\": no error text",
                       row->name);
        }

        test_release(&t);
    }

    free(token);
}


/*
 * jwt->exp, and NumericDates that are not plain integers: fractions
 * count (valid while now < exp), an exp beyond 10^12 (the year 33658)
 * is kept as 0, no expiry of the session, and numbers far out of the
 * range of time_t are compared without overflow (UBSan checks).
 */

static void
test_claims_exp(void)
{
    u_char      *token;
    size_t       len;
    ngx_uint_t   r, i;
    test_tok_t   t;

    static struct {
        const char  *payload;
        ngx_uint_t   rules;
        ngx_uint_t   expect;
        time_t       exp;
    } rows[] = {
        { "{'exp':1000001}", R_NONE, NGX_WS_GATEWAY_JWT_OK, 1000001 },
        { "{'exp':1000001}", R_LEEWAY, NGX_WS_GATEWAY_JWT_OK, 1000001 },
        { "{'exp':2000000000,'nbf':1}", R_NONE, NGX_WS_GATEWAY_JWT_OK,
          2000000000 },
        { "{'exp':1.000001e6}", R_NONE, NGX_WS_GATEWAY_JWT_OK, 1000001 },
        { "{'exp':999999999999}", R_NONE, NGX_WS_GATEWAY_JWT_OK,
          999999999999 },
        { "{'exp':1000000000000}", R_NONE, NGX_WS_GATEWAY_JWT_OK, 0 },
        { "{'exp':9007199254740991}", R_NONE, NGX_WS_GATEWAY_JWT_OK, 0 },
        { "{'exp':9007199254740993}", R_NONE, NGX_WS_GATEWAY_JWT_OK, 0 },
        { "{'exp':1e300}", R_NONE, NGX_WS_GATEWAY_JWT_OK, 0 },
        { "{'exp':1.7976931348623157e308}", R_NONE, NGX_WS_GATEWAY_JWT_OK,
          0 },
        { "{'nbf':1}", R_NONE, NGX_WS_GATEWAY_JWT_OK, 0 },
        { "{}", R_NONE, NGX_WS_GATEWAY_JWT_OK, 0 },

        /* fractions */

        { "{'exp':1000000.5}", R_NONE, NGX_WS_GATEWAY_JWT_OK, 1000000 },
        { "{'exp':999999.5}", R_NONE, NGX_WS_GATEWAY_JWT_EXPIRED, 0 },
        { "{'exp':999970.5}", R_LEEWAY, NGX_WS_GATEWAY_JWT_OK, 999970 },
        { "{'nbf':1000000.5}", R_NONE, NGX_WS_GATEWAY_JWT_NOT_YET_VALID,
          0 },
        { "{'iat':1000000.5}", R_NONE, NGX_WS_GATEWAY_JWT_NOT_YET_VALID,
          0 },
        { "{'iat':999399.5}", R_AGE, NGX_WS_GATEWAY_JWT_EXPIRED, 0 },

        /* far out of range */

        { "{'exp':-1e300}", R_NONE, NGX_WS_GATEWAY_JWT_EXPIRED, 0 },
        { "{'exp':-9007199254740993}", R_NONE, NGX_WS_GATEWAY_JWT_EXPIRED,
          0 },
        { "{'exp':1e-300}", R_NONE, NGX_WS_GATEWAY_JWT_EXPIRED, 0 },
        { "{'exp':-0}", R_NONE, NGX_WS_GATEWAY_JWT_EXPIRED, 0 },
        { "{'nbf':1e300}", R_NONE, NGX_WS_GATEWAY_JWT_NOT_YET_VALID, 0 },
        { "{'nbf':-1e300}", R_NONE, NGX_WS_GATEWAY_JWT_OK, 0 },
        { "{'iat':1e300}", R_NONE, NGX_WS_GATEWAY_JWT_NOT_YET_VALID, 0 },
        { "{'iat':-1e300}", R_NONE, NGX_WS_GATEWAY_JWT_OK, 0 },
        { "{'iat':-1e300}", R_AGE, NGX_WS_GATEWAY_JWT_EXPIRED, 0 },
        { "{'iat':1e300}", R_AGE, NGX_WS_GATEWAY_JWT_NOT_YET_VALID, 0 },

        { NULL, 0, 0, 0 }
    };

    token = malloc(TEST_TOKEN_MAX);

    for (i = 0; rows[i].payload; i++) {
        len = test_make(token, "{'alg':'HS256'}", rows[i].payload,
                        (u_char *) "sig", 3);
        r = test_decode(&t, token, len, TEST_ALL);

        if (r == NGX_WS_GATEWAY_JWT_OK) {
            t.jwt.exp = -1;
            r = ngx_ws_gateway_jwt_check_claims(&t.jwt,
                                                &test_rules[rows[i].rules],
                                                TEST_NOW);
        }

        unit_check(r == rows[i].expect
                   && (r != NGX_WS_GATEWAY_JWT_OK
                       || t.jwt.exp == rows[i].exp),
                   "claims %s: %s, exp %ld", rows[i].payload,
                   test_reason(r), (long) t.jwt.exp);

        test_release(&t);
    }

    free(token);
}


/*
 * The time helpers, for 32-bit and 64-bit time_t (max): an exp of today
 * on a 32-bit build is a time, not never (once every exp after 2004
 * was), and a session's expiry after 2038 is kept in its 32 bits and is
 * not due at once.
 */

static void
test_times(void)
{
    ngx_uint_t  i;

    static struct {
        double       exp;
        int64_t      max;
        int64_t      expect;
    } exps[] = {
        { 1700000000.0, INT32_MAX, 1700000000 },
        { 1073741823.0, INT32_MAX, 1073741823 },
        { 1073741824.0, INT32_MAX, 1073741824 },
        { 2147483646.5, INT32_MAX, 2147483646 },
        { 2147483647.0, INT32_MAX, INT32_MAX },
        { 2147483648.0, INT32_MAX, INT32_MAX },
        { 4294967296.0, INT32_MAX, INT32_MAX },
        { 999999999999.0, INT32_MAX, INT32_MAX },
        { 1e12, INT32_MAX, 0 },
        { 1e300, INT32_MAX, 0 },
        { -5.0, INT32_MAX, -5 },
        { -3e9, INT32_MAX, -INT32_MAX },
        { 0.5, INT32_MAX, -1 },
        { -0.5, INT32_MAX, -1 },

        { 1700000000.0, INT64_MAX, 1700000000 },
        { 2147483648.0, INT64_MAX, 2147483648LL },
        { 4294967296.0, INT64_MAX, 4294967296LL },
        { 999999999999.0, INT64_MAX, 999999999999LL },
        { 1e12, INT64_MAX, 0 },
        { -3e9, INT64_MAX, -3000000000LL },
        { -1e300, INT64_MAX, -INT64_MAX },
        { 0.0, INT64_MAX, -1 }
    };

    static struct {
        int64_t      exp;
        int64_t      leeway;
        int64_t      max;
        int64_t      expect;
    } sessions[] = {
        { 1700000000, 30, INT32_MAX, 1700000030 },
        { INT32_MAX, 30, INT32_MAX, INT32_MAX },
        { INT32_MAX - 10, 30, INT32_MAX, INT32_MAX },
        { INT32_MAX, 315360000, INT32_MAX, INT32_MAX },
        { -INT32_MAX, 30, INT32_MAX, 1 },
        { -100, 30, INT32_MAX, 1 },
        { -1, 315360000, INT32_MAX, 315359999 },
        { 0, 30, INT32_MAX, 0 },
        { 999999999999LL, 315360000, INT64_MAX, 1000315359999LL },
        { 4294967296LL, 0, INT64_MAX, 4294967296LL },
        { 0, 0, INT64_MAX, 0 }
    };

    static struct {
        int64_t      expires;
        uint32_t     expect;
    } stores[] = {
        { 0, 0 },
        { 1, 1 },
        { -1, 1 },
        { 1700000030, 1700000030 },
        { INT32_MAX, 0x7fffffff },
        { 2147483648LL, 0x80000000 },
        { 4294967295LL, 0xffffffff },
        { 4294967296LL, 0xffffffff },
        { 1000315359999LL, 0xffffffff }
    };

    static struct {
        uint32_t     expiry;
        int64_t      now;
        int64_t      expect;
    } lefts[] = {
        { 0x7fffffff, INT32_MAX - 10, 10 },
        { 0x7fffffff, INT32_MAX, 0 },
        { 1700000030, 1700000000, 30 },
        { 1700000030, 1700000031, -1 },
        { 0x80000000, 1700000000, 2147483648LL - 1700000000 },
        { 0xffffffff, 1700000000, 4294967295LL - 1700000000 },
        { 1, 1700000000, 1 - 1700000000 }
    };

    for (i = 0; i < sizeof(exps) / sizeof(exps[0]); i++) {
        unit_check(ngx_ws_gateway_jwt_exp_time(exps[i].exp, exps[i].max)
                   == exps[i].expect,
                   "exp_time(%g, %lld): %lld, expected %lld",
                   exps[i].exp, (long long) exps[i].max,
                   (long long) ngx_ws_gateway_jwt_exp_time(exps[i].exp,
                                                           exps[i].max),
                   (long long) exps[i].expect);
    }

    for (i = 0; i < sizeof(sessions) / sizeof(sessions[0]); i++) {
        unit_check(ngx_ws_gateway_jwt_session_expires(sessions[i].exp,
                                                      sessions[i].leeway,
                                                      sessions[i].max)
                   == sessions[i].expect,
                   "session_expires(%lld, %lld, %lld): expected %lld",
                   (long long) sessions[i].exp,
                   (long long) sessions[i].leeway,
                   (long long) sessions[i].max,
                   (long long) sessions[i].expect);
    }

    for (i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
        unit_check(ngx_ws_gateway_jwt_expiry32(stores[i].expires)
                   == stores[i].expect,
                   "expiry32(%lld): %u, expected %u",
                   (long long) stores[i].expires,
                   ngx_ws_gateway_jwt_expiry32(stores[i].expires),
                   stores[i].expect);
    }

    for (i = 0; i < sizeof(lefts) / sizeof(lefts[0]); i++) {
        unit_check(ngx_ws_gateway_jwt_expiry_left(lefts[i].expiry,
                                                  lefts[i].now)
                   == lefts[i].expect,
                   "expiry_left(%u, %lld): expected %lld",
                   lefts[i].expiry, (long long) lefts[i].now,
                   (long long) lefts[i].expect);
    }

    /*
     * the whole way, on a 32-bit time_t: a token of today with a leeway
     * is a session that closes then, one valid past 2038 one that
     * closes at its end, and neither is due now
     */

    unit_check(ngx_ws_gateway_jwt_expiry_left(
                   ngx_ws_gateway_jwt_expiry32(
                       ngx_ws_gateway_jwt_session_expires(
                           ngx_ws_gateway_jwt_exp_time(1700003600.0,
                                                       INT32_MAX),
                           30, INT32_MAX)),
                   1700000000)
               == 3630, "32-bit: a token of today");

    unit_check(ngx_ws_gateway_jwt_expiry_left(
                   ngx_ws_gateway_jwt_expiry32(
                       ngx_ws_gateway_jwt_session_expires(
                           ngx_ws_gateway_jwt_exp_time(4102444800.0,
                                                       INT32_MAX),
                           30, INT32_MAX)),
                   1700000000)
               == INT32_MAX - 1700000000LL, "32-bit: a token past 2038");

    unit_check(ngx_ws_gateway_jwt_expiry_left(
                   ngx_ws_gateway_jwt_expiry32(
                       ngx_ws_gateway_jwt_session_expires(
                           ngx_ws_gateway_jwt_exp_time(4102444800.0,
                                                       INT64_MAX),
                           30, INT64_MAX)),
                   1700000000)
               == 4102444830LL - 1700000000LL, "64-bit: a token of 2100");
}


static void
test_values(void)
{
    u_char                      *token;
    size_t                       len, n;
    ngx_uint_t                   r, i;
    test_tok_t                   t;
    ngx_ws_gateway_json_node_t  *node;
    u_char                       out[256], cut[256];

    static struct {
        const char  *name;
        const char  *expect;
    } rows[] = {
        { "s", "a\"b" },
        { "n", "1.50" },
        { "t", "true" },
        { "f", "false" },
        { "z", "null" },
        { "a", "x,y,3" },
        { "one", "x" },
        { "comma", "a,b,c" },
        { "o", "{ \"k\" : [1] }" },
        { "m", "[\"x\",{\"k\":1}]" },
        { "nested", "[[\"x\"]]" },
        { "u", "\xc3\xa9\n" },
        { "ue", "x,\xc3\xa9" },
        { "empty", "" },
        { "e", "" },
        { "lit", "true,null" },
        { NULL, NULL }
    };

    token = malloc(TEST_TOKEN_MAX);

    len = test_make(token, "{'alg':'HS256','kid':'k\\u0031','x5c':['a','b']}",
                    "{'s':'a\\'b','n':1.50,'t':true,'f':false,'z':null,"
                    "'a':['x','y',3],'one':['x'],'comma':['a,b','c'],"
                    "'o':{ 'k' : [1] },'m':['x',{'k':1}],"
                    "'nested':[['x']],'u':'\\u00e9\\n','ue':['x','\\u00e9'],"
                    "'empty':'','e':[],'lit':[true,null]}",
                    (u_char *) "sig", 3);

    r = test_decode(&t, token, len, TEST_ALL);
    unit_check(r == NGX_WS_GATEWAY_JWT_OK, "values: decode: %s",
               test_reason(r));

    if (r != NGX_WS_GATEWAY_JWT_OK) {
        test_release(&t);
        free(token);
        return;
    }

    for (i = 0; rows[i].name; i++) {
        node = ngx_ws_gateway_jwt_claim(&t.jwt, (u_char *) rows[i].name,
                                        strlen(rows[i].name));
        if (node == NULL) {
            unit_check(0, "value %s: no claim", rows[i].name);
            continue;
        }

        n = ngx_ws_gateway_jwt_value(&t.jwt.claims, node, NULL, 0);

        ngx_memset(out, '#', sizeof(out));
        len = ngx_ws_gateway_jwt_value(&t.jwt.claims, node, out,
                                       sizeof(out));

        unit_check(n == len && len < sizeof(out) && out[len] == '#',
                   "value %s: %lu bytes, then %lu", rows[i].name,
                   (unsigned long) n, (unsigned long) len);

        unit_check(len == strlen(rows[i].expect)
                   && ngx_memcmp(out, rows[i].expect, len) == 0,
                   "value %s: \"%.*s\", expected \"%s\"", rows[i].name,
                   (int) len, out, rows[i].expect);

        /* cut at every size: a prefix, nothing past it */

        for (n = 0; n < len; n++) {
            ngx_memset(cut, '#', sizeof(cut));

            if (ngx_ws_gateway_jwt_value(&t.jwt.claims, node, cut, n) != len
                || ngx_memcmp(cut, out, n) != 0 || cut[n] != '#')
            {
                unit_check(0, "value %s cut at %lu", rows[i].name,
                           (unsigned long) n);
                break;
            }
        }

        unit_check(n == len, "value %s cut at every size", rows[i].name);
    }

    /* the header */

    node = ngx_ws_gateway_jwt_header(&t.jwt, (u_char *) "kid", 3);
    len = node ? ngx_ws_gateway_jwt_value(&t.jwt.header, node, out,
                                          sizeof(out))
               : 0;
    unit_check(len == 2 && ngx_memcmp(out, "k1", 2) == 0, "header kid");

    node = ngx_ws_gateway_jwt_header(&t.jwt, (u_char *) "x5c", 3);
    len = node ? ngx_ws_gateway_jwt_value(&t.jwt.header, node, out,
                                          sizeof(out))
               : 0;
    unit_check(len == 3 && ngx_memcmp(out, "a,b", 3) == 0, "header x5c");

    node = ngx_ws_gateway_jwt_header(&t.jwt, (u_char *) "alg", 3);
    len = node ? ngx_ws_gateway_jwt_value(&t.jwt.header, node, NULL, 0) : 0;
    unit_check(len == 5, "header alg: %lu", (unsigned long) len);

    unit_check(ngx_ws_gateway_jwt_header(&t.jwt, (u_char *) "s", 1) == NULL,
               "no header s");
    unit_check(ngx_ws_gateway_jwt_claim(&t.jwt, (u_char *) "kid", 3) == NULL,
               "no claim kid");

    /* the whole claims set */

    node = ngx_ws_gateway_json_root(&t.jwt.claims);
    len = node ? ngx_ws_gateway_jwt_value(&t.jwt.claims, node, NULL, 0) : 0;
    unit_check(len == t.jwt.payload_json.len, "the claims set: %lu",
               (unsigned long) len);

    test_release(&t);
    free(token);
}


static void
test_keys_secret(void)
{
    u_char                    *token;
    ngx_uint_t                 i, r;
    const char                *reason;
    ngx_ws_gateway_jwt_key_t   key;
    u_char                     secret[65];

    static struct {
        size_t      len;
        ngx_uint_t  algs;
    } rows[] = {
        { 32, TEST_BIT(HS256) },
        { 47, TEST_BIT(HS256) },
        { 48, TEST_BIT(HS256) | TEST_BIT(HS384) },
        { 63, TEST_BIT(HS256) | TEST_BIT(HS384) },
        { 64, TEST_HS },
        { 65, TEST_HS },
        { 0, 0 }
    };

    static const char  *headers[] = {
        "{'alg':'HS256'}", "{'alg':'HS384'}", "{'alg':'HS512'}"
    };

    ngx_memset(secret, 's', sizeof(secret));

    reason = ngx_ws_gateway_jwt_key_secret(&key, secret, 31);
    unit_check(reason != NULL, "a secret of 31 bytes");

    reason = ngx_ws_gateway_jwt_key_secret(&key, secret, 0);
    unit_check(reason != NULL, "a secret of 0 bytes");

    /* RFC 7518, 3.2: HS384 and HS512 want 48 and 64 bytes */

    for (i = 0; rows[i].len; i++) {
        reason = ngx_ws_gateway_jwt_key_secret(&key, secret, rows[i].len);

        unit_check(reason == NULL
                   && key.family == NGX_WS_GATEWAY_JWT_KEY_HMAC
                   && key.algs == rows[i].algs && key.secret.data == secret
                   && key.secret.len == rows[i].len && key.pkey == NULL,
                   "a secret of %lu bytes: %s, algs %lx",
                   (unsigned long) rows[i].len, TEST_S(reason),
                   (unsigned long) key.algs);

        if (reason == NULL) {
            ngx_ws_gateway_jwt_key_free(&key);
        }
    }

    /* a 32-byte secret is no key for HS384 and HS512 tokens */

    if (ngx_ws_gateway_jwt_key_secret(&key, secret, 32) == NULL) {
        token = malloc(TEST_TOKEN_MAX);

        for (i = 0; i < 3; i++) {
            (void) test_make_hs(token, headers[i], "{}", secret, 64);
            r = test_verify_str((char *) token, &key, 1);
            unit_check(r == (i ? NGX_WS_GATEWAY_JWT_UNKNOWN_KID
                               : NGX_WS_GATEWAY_JWT_BAD_SIGNATURE),
                       "a secret of 32 bytes, %s: %s", headers[i],
                       test_reason(r));
        }

        free(token);
        ngx_ws_gateway_jwt_key_free(&key);
    }
}


static void
test_keys_pem(void)
{
    ngx_uint_t                 i;
    const char                *reason;
    ngx_ws_gateway_jwt_key_t   key;

    static struct {
        const char  *name;
        const char  *pem;
        ngx_int_t    family;      /* -1: refused, -2: either */
    } rows[] = {
        { "RSA 2048", test_rsa_pem, F_RSA },
        { "RSA 2048, PKCS #1", test_rsa_pkcs1_pem, -2 },
        { "RSA 1024", test_rsa1024_pem, -1 },
        { "P-256", test_p256_pem, F_P256 },
        { "P-256 certificate", test_p256_cert, F_P256 },
        { "P-384", test_p384_pem, F_P384 },
        { "P-521", test_p521_pem, F_P521 },
        { "Ed25519", test_ed_pem, F_ED25519 },
        { "P-256 private, PKCS #8", test_p256_private_pem, -1 },
        { "P-256 private, SEC 1", test_p256_ec_private_pem, -1 },
        { "Ed25519 private", test_ed_private_pem, -1 },
        { "secp256k1", test_k1_pem, -1 },
        { "X25519", test_x25519_pem, -1 },
        { "empty", "", -1 },
        { "not PEM", "hello\n", -1 },
        { "a JWK", "{\"kty\":\"oct\",\"k\":\"" TEST_K32 "\"}", -1 },
        { "no body", "-----BEGIN PUBLIC KEY-----\n"
                     "-----END PUBLIC KEY-----\n", -1 },
        { "bad body", "-----BEGIN PUBLIC KEY-----\nAAAA\n"
                      "-----END PUBLIC KEY-----\n", -1 },
        { "no end", "-----BEGIN PUBLIC KEY-----\n"
                    "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcH"
                    "URo=\n", -1 },
        { "Ed25519, one line", "-----BEGIN PUBLIC KEY-----\n"
                               "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPa"
                               "piMlrwIaaPcHURo=\n"
                               "-----END PUBLIC KEY-----\n", F_ED25519 },
        { "Ed25519, CRLF", "-----BEGIN PUBLIC KEY-----\r\n"
                           "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMl"
                           "rwIaaPcHURo=\r\n"
                           "-----END PUBLIC KEY-----\r\n", F_ED25519 },
        { NULL, NULL, 0 }
    };

    for (i = 0; rows[i].name; i++) {
        reason = test_pem(&key, rows[i].pem);

        if (rows[i].family == -1) {
            unit_check(reason != NULL, "PEM %s: accepted", rows[i].name);

            if (reason == NULL) {
                ngx_ws_gateway_jwt_key_free(&key);
            }

            continue;
        }

        if (reason) {
            unit_check(rows[i].family == -2, "PEM %s: %s", rows[i].name,
                       reason);
            continue;
        }

        unit_check(rows[i].family == -2
                   || key.family == (ngx_uint_t) rows[i].family,
                   "PEM %s: family %lu", rows[i].name,
                   (unsigned long) key.family);
        unit_check(key.algs == ngx_ws_gateway_jwt_family_algs(key.family)
                   && key.pkey != NULL && key.secret.len == 0,
                   "PEM %s: algs %lx", rows[i].name,
                   (unsigned long) key.algs);

        ngx_ws_gateway_jwt_key_free(&key);
    }
}


static void
test_keys_jwk(void)
{
    u_char                      *buf_end;
    ngx_int_t                    rc;
    ngx_uint_t                   i, k;
    test_jwk_t                   j;
    const char                  *reason;
    test_key_jwk_t              *row;
    ngx_ws_gateway_json_t       *json;
    ngx_ws_gateway_jwt_key_t     key;
    ngx_ws_gateway_json_node_t  *keys, *jwk;

    static const ngx_int_t  expect[] = {
        NGX_OK, NGX_DECLINED, NGX_OK, NGX_ERROR, NGX_OK
    };

    for (row = test_jwk_rows; row->name; row++) {
        rc = test_jwk(&j, &key, row->jwk, &reason);

        if (row->rc == TEST_REFUSED) {
            unit_check((rc == NGX_ERROR || rc == NGX_DECLINED)
                       && reason != NULL, "JWK %s: rc %ld", row->name,
                       (long) rc);

        } else {
            unit_check(rc == row->rc, "JWK %s: rc %ld (%s), expected %ld",
                       row->name, (long) rc, TEST_S(reason),
                       (long) row->rc);

            unit_check(rc == NGX_OK || reason != NULL, "JWK %s: no reason",
                       row->name);
        }

        if (rc == NGX_OK) {
            unit_check(key.family == row->family && key.algs == row->algs,
                       "JWK %s: family %lu, algs %lx", row->name,
                       (unsigned long) key.family, (unsigned long) key.algs);

            if (key.family == NGX_WS_GATEWAY_JWT_KEY_HMAC) {
                buf_end = j.buf + strlen(row->jwk);
                unit_check(key.pkey == NULL && key.secret.data >= j.buf
                           && key.secret.data + key.secret.len <= buf_end,
                           "JWK %s: the secret in buf", row->name);

            } else {
                unit_check(key.pkey != NULL, "JWK %s: pkey", row->name);
            }

            ngx_ws_gateway_jwt_key_free(&key);
        }

        test_jwk_release(&j);
    }

    /* the secret of A.1, decoded */

    rc = test_jwk(&j, &key, "{'kty':'oct','kid':'h\\u0031','k':'" TEST_A1_K
                  "'}", &reason);
    unit_check(rc == NGX_OK && key.secret.len == 64
               && ngx_memcmp(key.secret.data, test_a1_secret, 64) == 0,
               "JWK A.1: the secret");
    unit_check(rc == NGX_OK && key.kid.len == 2
               && ngx_memcmp(key.kid.data, "h1", 2) == 0, "JWK A.1: kid");

    if (rc == NGX_OK) {
        ngx_ws_gateway_jwt_key_free(&key);
    }

    test_jwk_release(&j);

    /* a JWKS of five keys, each taken in turn */

    rc = test_jwk(&j, &key, "{'keys':["
                  "{" J_A3 ",'kid':'e1'},"
                  "{" J_A2 ",'kid':'r1','use':'enc'},"
                  "{" J_ED ",'kid':'d1','use':'sig'},"
                  "{'kty':'RSA','kid':'x','n':'AQAB','e':'AQAB','d':'AQAB'},"
                  "{'kty':'oct','kid':'h1','k':'" TEST_K32 "'}"
                  "]}", &reason);

    if (rc == NGX_OK) {
        ngx_ws_gateway_jwt_key_free(&key);
    }

    json = &j.json;
    keys = ngx_ws_gateway_json_get(json, ngx_ws_gateway_json_root(json),
                                   (u_char *) "keys", 4);
    k = 0;

    for (jwk = ngx_ws_gateway_json_first(json, keys), i = 0;
         jwk;
         jwk = ngx_ws_gateway_json_next(json, jwk), i++)
    {
        ngx_memzero(&key, sizeof(key));
        reason = NULL;

        rc = ngx_ws_gateway_jwt_key_jwk(&key, json, jwk, j.buf, &reason);

        unit_check(i < 5 && rc == expect[i], "JWKS key %lu: rc %ld (%s)",
                   (unsigned long) i, (long) rc, TEST_S(reason));

        if (rc == NGX_OK) {
            unit_check(key.kid.len == 2, "JWKS key %lu: kid",
                       (unsigned long) i);
            ngx_ws_gateway_jwt_key_free(&key);
            k++;
        }
    }

    unit_check(i == 5 && k == 3, "JWKS: %lu keys, %lu taken",
               (unsigned long) i, (unsigned long) k);

    test_jwk_release(&j);
}


/*
 * An RSA key of exponent 1 verifies any "signature" that is the padded
 * hash itself: anyone could sign.  Such a key must be refused, from PEM
 * and from a JWK; if it were not, the forged token must still fail.
 */

static void
test_keys_weak_rsa(void)
{
    u_char                    *token, *p;
    size_t                     len;
    ngx_int_t                  rc;
    ngx_uint_t                 r;
    test_jwk_t                 j;
    unsigned int               md_len;
    const char                *reason;
    ngx_ws_gateway_jwt_key_t   key;
    u_char                     em[256], md[EVP_MAX_MD_SIZE];

    /* DigestInfo of SHA-256, RFC 8017 9.2 */
    static u_char  prefix[] = {
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
        0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20
    };

    token = malloc(TEST_TOKEN_MAX);

    /* EMSA-PKCS1-v1_5 of the signing input, as its own signature */

    len = test_make(token, "{'alg':'RS256'}", "{'sub':'admin'}",
                    (u_char *) "", 0) - 1;

    if (EVP_Digest(token, len, md, &md_len, EVP_sha256(), NULL) != 1) {
        printf("EVP_Digest() failed\n");
        exit(2);
    }

    em[0] = 0x00;
    em[1] = 0x01;
    ngx_memset(em + 2, 0xff, 256 - 3 - sizeof(prefix) - md_len);
    p = em + 256 - 1 - sizeof(prefix) - md_len;
    *p++ = 0x00;
    p = ngx_cpymem(p, prefix, sizeof(prefix));
    ngx_memcpy(p, md, md_len);

    p = token + len + 1;
    p += test_b64u(p, em, sizeof(em));
    *p = '\0';

    reason = test_pem(&key, test_rsa_e1_pem);
    unit_check(reason != NULL, "PEM RSA of exponent 1: accepted");

    if (reason == NULL) {
        r = test_verify_str((char *) token, &key, 1);
        unit_check(r != NGX_WS_GATEWAY_JWT_OK,
                   "PEM RSA of exponent 1: a forged token: %s",
                   test_reason(r));
        ngx_ws_gateway_jwt_key_free(&key);
    }

    rc = test_jwk(&j, &key, "{'kty':'RSA','e':'AQ','n':'" TEST_A2_N "'}",
                  &reason);
    unit_check(rc != NGX_OK, "JWK RSA of exponent 1: accepted");

    if (rc == NGX_OK) {
        r = test_verify_str((char *) token, &key, 1);
        unit_check(r != NGX_WS_GATEWAY_JWT_OK,
                   "JWK RSA of exponent 1: a forged token: %s",
                   test_reason(r));
        ngx_ws_gateway_jwt_key_free(&key);
    }

    test_jwk_release(&j);

    free(token);
}


/*
 * An Ed25519 public key of small order (here the neutral element)
 * verifies R = B, S = 1 for any message: anyone could sign.  Such a key
 * must be refused; if it were not, the forged token must still fail.
 */

static void
test_keys_weak_ed25519(void)
{
    u_char                    *token;
    ngx_int_t                  rc;
    ngx_uint_t                 r, i;
    test_jwk_t                 j;
    const char                *reason;
    ngx_ws_gateway_jwt_key_t   key;
    u_char                     sig[64];

    token = malloc(TEST_TOKEN_MAX);

    /* R: the base point, S: 1 */

    sig[0] = 0x58;
    ngx_memset(sig + 1, 0x66, 31);
    ngx_memzero(sig + 32, 32);
    sig[32] = 1;

    (void) test_make(token, "{'alg':'EdDSA'}", "{'sub':'admin'}", sig, 64);

    for (i = 0; i < 2; i++) {
        if (i == 0) {
            reason = test_pem(&key, test_ed_neutral_pem);
            rc = reason ? NGX_ERROR : NGX_OK;

        } else {
            rc = test_jwk(&j, &key, "{'kty':'OKP','crv':'Ed25519',"
                          "'x':'" TEST_ED_X_NEUTRAL "'}", &reason);
        }

        unit_check(rc != NGX_OK, "%s Ed25519 of small order: accepted",
                   i ? "JWK" : "PEM");

        if (rc == NGX_OK) {
            r = test_verify_str((char *) token, &key, 1);
            unit_check(r != NGX_WS_GATEWAY_JWT_OK,
                       "%s Ed25519 of small order: a forged token: %s",
                       i ? "JWK" : "PEM", test_reason(r));
            ngx_ws_gateway_jwt_key_free(&key);
        }

        if (i == 1) {
            test_jwk_release(&j);
        }
    }

    /* and the forged token is no token for a real key */

    if (test_pem(&key, test_ed_pem) == NULL) {
        r = test_verify_str((char *) token, &key, 1);
        unit_check(r == NGX_WS_GATEWAY_JWT_BAD_SIGNATURE,
                   "Ed25519: a forged token: %s", test_reason(r));
        ngx_ws_gateway_jwt_key_free(&key);
    }

    free(token);
}


/* random changes of real tokens and keys: no crash, sound results */

static void
test_mutations(void)
{
    u_char                      *token, *doc, *copy, *scratch, *buf;
    size_t                       len, base_len, at;
    uint64_t                     seed, r;
    ngx_int_t                    rc;
    ngx_uint_t                   i, k, nkeys, res, bad, ok, nok;
    test_tok_t                   t;
    test_jwk_t                   j[3];
    const char                  *reason;
    ngx_ws_gateway_json_t        json;
    ngx_ws_gateway_jwt_key_t     keys[4], key;
    ngx_ws_gateway_json_node_t   nodes[TEST_JWK_NODES], *root;

    static const char  *tokens[] = {
        TEST_A1_TOKEN, TEST_A2_TOKEN, TEST_A3_TOKEN, TEST_A4_TOKEN,
        TEST_ED_TOKEN, test_token_eddsa, test_token_es512, test_token_ps256
    };

    static const char  *jwks[] = {
        "{" J_A2 ",'alg':'RS256','kid':'r'}",
        "{" J_A3 ",'use':'sig'}",
        "{" J_ED ",'key_ops':['verify']}",
        "{'kty':'EC','crv':'P-521','x':'" TEST_A4_X "','y':'" TEST_A4_Y
        "'}",
        "{'kty':'oct','alg':'HS256','k':'" TEST_K32 "'}"
    };

    token = malloc(TEST_TOKEN_MAX);
    doc = malloc(TEST_TOKEN_MAX);

    nkeys = 0;

    if (ngx_ws_gateway_jwt_key_secret(&keys[nkeys], test_a1_secret,
                                      test_a1_secret_len)
        == NULL)
    {
        nkeys++;
    }

    nkeys += (test_jwk(&j[0], &keys[nkeys], "{" J_A2 "}", &reason)
              == NGX_OK);
    nkeys += (test_jwk(&j[1], &keys[nkeys], "{" J_A3 "}", &reason)
              == NGX_OK);
    nkeys += (test_jwk(&j[2], &keys[nkeys], "{" J_ED "}", &reason)
              == NGX_OK);

    seed = 11;
    bad = 0;
    nok = 0;

    for (i = 0; i < 4000; i++) {
        r = unit_random(&seed);

        base_len = strlen(tokens[r % 8]);
        ngx_memcpy(token, tokens[r % 8], base_len);
        len = base_len;

        for (k = 0; len && k < 1 + (r >> 8) % 3; k++) {
            r = unit_random(&seed);
            at = r % len;

            switch ((r >> 32) % 4) {
            case 0:
                token[at] = (u_char) (r >> 40);
                break;
            case 1:
                token[at] = test_alphabet[(r >> 40) % 64];
                break;
            case 2:
                token[at] ^= 1 << ((r >> 40) % 8);
                break;
            default:
                len = at;
                break;
            }
        }

        res = test_decode(&t, token, len, TEST_ALL);

        if (res == NGX_WS_GATEWAY_JWT_OK) {
            res = ngx_ws_gateway_jwt_verify(&t.jwt, keys, nkeys);
            ok = ngx_ws_gateway_jwt_check_claims(&t.jwt, &test_rules[R_ALL],
                                                 TEST_NOW);
            bad += (ok >= NGX_WS_GATEWAY_JWT_REASONS);
            nok += (res == NGX_WS_GATEWAY_JWT_OK);
        }

        bad += (res >= NGX_WS_GATEWAY_JWT_REASONS);

        test_release(&t);
    }

    unit_check(bad == 0, "token mutations: %lu results out of range",
               (unsigned long) bad);
    unit_check(nok < 40, "token mutations: %lu verified",
               (unsigned long) nok);

    for (k = 0; k < nkeys; k++) {
        ngx_ws_gateway_jwt_key_free(&keys[k]);
    }

    for (k = 0; k < 3; k++) {
        test_jwk_release(&j[k]);
    }

    /* JWKs */

    bad = 0;

    for (i = 0; i < 4000; i++) {
        r = unit_random(&seed);

        base_len = test_text(doc, jwks[r % 5]);
        len = base_len;

        for (k = 0; k < 1 + (r >> 8) % 3; k++) {
            r = unit_random(&seed);
            at = r % len;

            switch ((r >> 32) % 3) {
            case 0:
                doc[at] = (u_char) (r >> 40);
                break;
            case 1:
                doc[at] = test_alphabet[(r >> 40) % 64];
                break;
            default:
                doc[at] ^= 1 << ((r >> 40) % 8);
                break;
            }
        }

        copy = malloc(len);
        scratch = malloc(len);
        buf = malloc(len);
        ngx_memcpy(copy, doc, len);

        ngx_ws_gateway_json_init(&json, nodes, TEST_JWK_NODES, scratch, len);

        if (ngx_ws_gateway_json_parse(&json, copy, len) == NGX_OK) {
            root = ngx_ws_gateway_json_root(&json);
            reason = NULL;
            ngx_memzero(&key, sizeof(key));

            rc = ngx_ws_gateway_jwt_key_jwk(&key, &json, root, buf, &reason);

            if (rc == NGX_OK) {
                bad += (key.family >= NGX_WS_GATEWAY_JWT_KEY_FAMILIES
                        || key.algs == 0
                        || (key.algs
                            & ~ngx_ws_gateway_jwt_family_algs(key.family))
                        || (key.pkey == NULL
                            && key.secret.len
                               < NGX_WS_GATEWAY_JWT_MIN_SECRET));
                ngx_ws_gateway_jwt_key_free(&key);

            } else {
                bad += (reason == NULL
                        || (rc != NGX_ERROR && rc != NGX_DECLINED));
            }
        }

        free(copy);
        free(scratch);
        free(buf);
    }

    unit_check(bad == 0, "JWK mutations: %lu unsound", (unsigned long) bad);

    free(doc);
    free(token);
}
