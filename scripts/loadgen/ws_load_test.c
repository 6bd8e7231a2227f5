
/*
 * Copyright (C) ngx_ws_gateway_module authors
 */


/*
 * Unit tests of ws-load's pure parts: the frame parser (fed whole and
 * byte by byte), frame headers, the handshake check (and the server's
 * check of a request, for ws-fanout-floor), the histogram and the first
 * bytes of a message that the parser keeps.
 * "make -C scripts/loadgen check"; exits nonzero on failure.
 */


#include "ws_load.h"
#include "ws_load_frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct {
    const char           *name;
    const unsigned char  *data;
    size_t                len;
    int                   rc;        /* of the last parse call */
    unsigned              frames;    /* WSL_DONE results before it */
    unsigned              opcode;    /* of the last complete frame */
    uint64_t              msg_len;
} wsl_parse_case_t;


static int wsl_run_case(const wsl_parse_case_t *t, size_t step);
static int wsl_test_parser(void);
static int wsl_test_header(void);
static int wsl_test_build(void);
static int wsl_test_handshake(void);
static int wsl_test_request(void);
static int wsl_test_hist(void);
static int wsl_test_head(void);


static unsigned  wsl_failures;


#define WSL_CHECK(cond, ...)                                                  \
    if (!(cond)) {                                                            \
        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                  \
        fprintf(stderr, __VA_ARGS__);                                         \
        fprintf(stderr, "\n");                                                \
        wsl_failures++;                                                       \
    }


/* text "Hel" + continuation, a ping inside, then continuation "lo" fin */

static const unsigned char  wsl_fragmented[] = {
    0x01, 0x03, 'H', 'e', 'l',
    0x89, 0x02, 'h', 'i',
    0x80, 0x02, 'l', 'o'
};

static const unsigned char  wsl_masked[] = { 0x81, 0x81, 1, 2, 3, 4, 'x' };
static const unsigned char  wsl_rsv[] = { 0xc1, 0x00 };
static const unsigned char  wsl_opcode[] = { 0x83, 0x00 };
static const unsigned char  wsl_long_ping[] = { 0x89, 0x7e, 0x00, 0x80 };
static const unsigned char  wsl_frag_ping[] = { 0x09, 0x00 };
static const unsigned char  wsl_orphan_cont[] = { 0x80, 0x00 };
static const unsigned char  wsl_two_starts[] = { 0x01, 0x00, 0x02, 0x00 };
static const unsigned char  wsl_len64_msb[] = {
    0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0
};
static const unsigned char  wsl_close[] = { 0x88, 0x02, 0x03, 0xe8 };
static const unsigned char  wsl_empty[] = { 0x82, 0x00 };


int
main(void)
{
    wsl_test_parser();
    wsl_test_header();
    wsl_test_build();
    wsl_test_handshake();
    wsl_test_request();
    wsl_test_hist();
    wsl_test_head();

    if (wsl_failures) {
        fprintf(stderr, "%u check(s) failed\n", wsl_failures);
        return 1;
    }

    printf("ws-load unit tests: ok\n");

    return 0;
}


static int
wsl_test_parser(void)
{
    size_t            i, step;
    unsigned char     big[10 + 70000];
    wsl_parse_case_t  cases[] = {
        { "fragmented", wsl_fragmented, sizeof(wsl_fragmented),
          WSL_DONE, 3, WSL_OP_CONT, 5 },
        { "masked", wsl_masked, sizeof(wsl_masked),
          WSL_FRAME_MASKED, 0, 0, 0 },
        { "rsv", wsl_rsv, sizeof(wsl_rsv), WSL_FRAME_BAD_RSV, 0, 0, 0 },
        { "opcode", wsl_opcode, sizeof(wsl_opcode),
          WSL_FRAME_BAD_OPCODE, 0, 0, 0 },
        { "long ping", wsl_long_ping, sizeof(wsl_long_ping),
          WSL_FRAME_BAD_CONTROL, 0, 0, 0 },
        { "fragmented ping", wsl_frag_ping, sizeof(wsl_frag_ping),
          WSL_FRAME_BAD_CONTROL, 0, 0, 0 },
        { "orphan continuation", wsl_orphan_cont, sizeof(wsl_orphan_cont),
          WSL_FRAME_BAD_CONT, 0, 0, 0 },
        { "two starts", wsl_two_starts, sizeof(wsl_two_starts),
          WSL_FRAME_BAD_CONT, 1, 0, 0 },
        { "64-bit msb", wsl_len64_msb, sizeof(wsl_len64_msb),
          WSL_FRAME_BAD_LENGTH, 0, 0, 0 },
        { "close", wsl_close, sizeof(wsl_close), WSL_DONE, 1,
          WSL_OP_CLOSE, 0 },
        { "empty", wsl_empty, sizeof(wsl_empty), WSL_DONE, 1,
          WSL_OP_BINARY, 0 },
        { "64-bit length", big, sizeof(big), WSL_DONE, 1,
          WSL_OP_BINARY, 70000 },
    };

    /* an unmasked binary frame with a 64-bit length of 70000 */

    memset(big, 'z', sizeof(big));
    big[0] = 0x82;
    big[1] = 0x7f;

    for (i = 2; i < 10; i++) {
        big[i] = (unsigned char) ((uint64_t) 70000 >> ((9 - i) * 8));
    }

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (step = 1; step <= cases[i].len; step *= 3) {
            wsl_run_case(&cases[i], step);
        }

        wsl_run_case(&cases[i], cases[i].len);
    }

    return 0;
}


/* feeds t->data in chunks of "step" bytes */

static int
wsl_run_case(const wsl_parse_case_t *t, size_t step)
{
    int                   rc;
    size_t                off, n;
    unsigned              frames;
    wsl_frame_parser_t    fp;
    const unsigned char  *pos, *last;

    memset(&fp, 0, sizeof(fp));

    rc = WSL_AGAIN;
    frames = 0;

    for (off = 0; off < t->len; off += n) {
        n = t->len - off < step ? t->len - off : step;

        pos = t->data + off;
        last = pos + n;

        while (pos < last) {
            rc = wsl_frame_parse(&fp, &pos, last);

            if (rc == WSL_DONE) {
                frames++;

                if (fp.opcode == WSL_OP_PING) {
                    WSL_CHECK(fp.ctrl_len == 2
                              && memcmp(fp.ctrl, "hi", 2) == 0,
                              "%s: ping payload", t->name);
                }

                continue;
            }

            if (rc != WSL_AGAIN) {
                goto done;
            }
        }
    }

done:

    if (t->rc == WSL_DONE) {
        WSL_CHECK(rc == WSL_DONE && frames == t->frames
                  && fp.opcode == t->opcode && fp.state == 0,
                  "%s (step %zu): rc %d frames %u opcode %u",
                  t->name, step, rc, frames, (unsigned) fp.opcode);

        if (t->opcode < WSL_OP_CLOSE) {
            WSL_CHECK(fp.fin && !fp.in_message && fp.msg_len == t->msg_len,
                      "%s (step %zu): message length %llu", t->name, step,
                      (unsigned long long) fp.msg_len);
        }

    } else {
        WSL_CHECK(rc == t->rc && frames == t->frames,
                  "%s (step %zu): rc %d (%s), frames %u", t->name, step,
                  rc, wsl_frame_strerror(rc), frames);
    }

    return 0;
}


static int
wsl_test_header(void)
{
    size_t                i, len;
    unsigned char         buf[WSL_FRAME_HEADER_MAX];
    static unsigned char  mask[4] = { 0xa, 0xb, 0xc, 0xd };
    static struct {
        uint64_t          len;
        size_t            hlen;
        unsigned char     b1;
    } t[] = {
        { 0, 6, 0x80 },
        { 125, 6, 0x80 | 125 },
        { 126, 8, 0x80 | 126 },
        { 65535, 8, 0x80 | 126 },
        { 65536, 14, 0x80 | 127 },
    };

    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        len = wsl_frame_header(buf, 1, WSL_OP_TEXT, t[i].len, mask);

        WSL_CHECK(len == t[i].hlen && buf[0] == 0x81 && buf[1] == t[i].b1
                  && memcmp(buf + len - 4, mask, 4) == 0,
                  "header for length %llu", (unsigned long long) t[i].len);
    }

    return 0;
}


/*
 * The flood frame: a whole masked frame whose header (fin, opcode, mask
 * bit, the shortest length encoding) and unmasked payload are what a
 * server reads, for lengths at the encoding boundaries and 1 MB.
 */

static int
wsl_test_build(void)
{
    size_t          i, k, len, hlen, total;
    uint64_t        got;
    unsigned char   mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
    unsigned char  *payload, *frame;
    static size_t   sizes[] = { 0, 1, 125, 126, 65535, 65536, 1048576 };

    payload = malloc(1048576);
    frame = malloc(WSL_FRAME_HEADER_MAX + 1048576);

    if (payload == NULL || frame == NULL) {
        WSL_CHECK(0, "out of memory");
        free(payload);
        free(frame);
        return -1;
    }

    for (i = 0; i < 1048576; i++) {
        payload[i] = (unsigned char) (i * 131 + 7);
    }

    for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        len = sizes[k];

        total = wsl_frame_build(frame, WSL_OP_BINARY, payload, len, mask);

        hlen = len < 126 ? 6 : (len <= 0xffff ? 8 : 14);

        WSL_CHECK(total == hlen + len, "build %zu: length %zu, not %zu",
                  len, total, hlen + len);
        WSL_CHECK(frame[0] == (0x80 | WSL_OP_BINARY),
                  "build %zu: first byte 0x%02x", len, frame[0]);
        WSL_CHECK(frame[1] & 0x80, "build %zu: not masked", len);

        if (hlen == 6) {
            got = frame[1] & 0x7f;

        } else if (hlen == 8) {
            WSL_CHECK((frame[1] & 0x7f) == 126, "build %zu: no 16-bit "
                      "length", len);
            got = (uint64_t) frame[2] << 8 | frame[3];

        } else {
            WSL_CHECK((frame[1] & 0x7f) == 127, "build %zu: no 64-bit "
                      "length", len);

            for (got = 0, i = 2; i < 10; i++) {
                got = got << 8 | frame[i];
            }
        }

        WSL_CHECK(got == len, "build %zu: length field %llu", len,
                  (unsigned long long) got);
        WSL_CHECK(memcmp(frame + hlen - 4, mask, 4) == 0,
                  "build %zu: mask key", len);

        for (i = 0; i < len; i++) {
            if ((frame[hlen + i] ^ mask[i & 3]) != payload[i]) {
                break;
            }
        }

        WSL_CHECK(i == len, "build %zu: payload differs at %zu", len, i);
    }

    free(payload);
    free(frame);

    return 0;
}


static int
wsl_test_handshake(void)
{
    int          status;
    char         accept[WSL_ACCEPT_LEN + 1];
    const char  *ok, *bad_accept, *no_upgrade, *deny, *ext, *garbage;

    /* the example of RFC 6455, section 1.3 */

    wsl_handshake_accept("dGhlIHNhbXBsZSBub25jZQ==", accept);

    WSL_CHECK(strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0,
              "accept of the RFC example: %s", accept);

    ok = "HTTP/1.1 101 Switching Protocols\r\n"
         "upgrade:  WebSocket \r\n"
         "Connection: keep-alive, Upgrade\r\n"
         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

    bad_accept = "HTTP/1.1 101 Switching Protocols\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOX=\r\n\r\n";

    no_upgrade = "HTTP/1.1 101 Switching Protocols\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

    ext = "HTTP/1.1 101 Switching Protocols\r\n"
          "Upgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Extensions: permessage-deflate\r\n"
          "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

    deny = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\r\n";

    garbage = "SSH-2.0-OpenSSH\r\n\r\n";

    WSL_CHECK(wsl_handshake_check(ok, strlen(ok), accept, &status)
              == WSL_OK && status == 101, "valid 101 refused");

    WSL_CHECK(wsl_handshake_check(bad_accept, strlen(bad_accept), accept,
                                  &status)
              == WSL_ERROR && status == 101, "bad accept taken");

    WSL_CHECK(wsl_handshake_check(no_upgrade, strlen(no_upgrade), accept,
                                  &status)
              == WSL_ERROR, "missing Upgrade taken");

    WSL_CHECK(wsl_handshake_check(ext, strlen(ext), accept, &status)
              == WSL_ERROR, "unoffered extension taken");

    WSL_CHECK(wsl_handshake_check(deny, strlen(deny), accept, &status)
              == WSL_ERROR && status == 503, "503: status %d", status);

    WSL_CHECK(wsl_handshake_check(garbage, strlen(garbage), accept,
                                  &status)
              == WSL_ERROR && status == 0, "garbage: status %d", status);

    return 0;
}


/* the server's side: ws-fanout-floor's check of an upgrade request */

static int
wsl_test_request(void)
{
    char         key[WSL_KEY_LEN + 1];
    const char  *ok, *no_version, *short_key, *two_keys, *post, *http10;

    ok = "GET /sub HTTP/1.1\r\n"
         "Host: 127.0.0.1:3900\r\n"
         "upgrade:  WebSocket \r\n"
         "Connection: keep-alive, Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
         "Sec-WebSocket-Version: 13\r\n\r\n";

    no_version = "GET /sub HTTP/1.1\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

    short_key = "GET /sub HTTP/1.1\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n";

    two_keys = "GET /sub HTTP/1.1\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n";

    post = "POST /sub HTTP/1.1\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n";

    http10 = "GET /sub HTTP/1.0\r\n"
             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n\r\n";

    WSL_CHECK(wsl_handshake_request(ok, strlen(ok), key) == WSL_OK
              && strcmp(key, "dGhlIHNhbXBsZSBub25jZQ==") == 0,
              "valid request refused");

    WSL_CHECK(wsl_handshake_request(no_version, strlen(no_version), key)
              == WSL_ERROR, "request without a version taken");

    WSL_CHECK(wsl_handshake_request(short_key, strlen(short_key), key)
              == WSL_ERROR, "short key taken");

    WSL_CHECK(wsl_handshake_request(two_keys, strlen(two_keys), key)
              == WSL_ERROR, "two keys taken");

    WSL_CHECK(wsl_handshake_request(post, strlen(post), key) == WSL_ERROR,
              "POST taken");

    WSL_CHECK(wsl_handshake_request(http10, strlen(http10), key)
              == WSL_ERROR, "HTTP/1.0 taken");

    WSL_CHECK(wsl_handshake_request("GET\r\n\r\n", 7, key) == WSL_ERROR,
              "a bare GET taken");

    return 0;
}


static int
wsl_test_hist(void)
{
    uint64_t    v, p50, p99, p999;
    wsl_hist_t  h, h2;

    wsl_hist_init(&h);
    wsl_hist_init(&h2);

    /* 1..100000 us, uniform: quantiles within the 1.6% bucket width */

    for (v = 1; v <= 100000; v++) {
        wsl_hist_add(v & 1 ? &h : &h2, v);
    }

    wsl_hist_merge(&h, &h2);

    p50 = wsl_hist_percentile(&h, 0.5);
    p99 = wsl_hist_percentile(&h, 0.99);
    p999 = wsl_hist_percentile(&h, 0.999);

    WSL_CHECK(h.count == 100000 && h.min == 1 && h.max == 100000,
              "histogram totals");
    WSL_CHECK(p50 > 50000 * 0.984 && p50 < 50000 * 1.016, "p50 %llu",
              (unsigned long long) p50);
    WSL_CHECK(p99 > 99000 * 0.984 && p99 <= 100000, "p99 %llu",
              (unsigned long long) p99);
    WSL_CHECK(p999 > 99900 * 0.984 && p999 <= 100000, "p99.9 %llu",
              (unsigned long long) p999);

    /* small values are exact, huge ones clamped into the last bucket */

    wsl_hist_init(&h);
    wsl_hist_add(&h, 7);
    wsl_hist_add(&h, (uint64_t) 1 << 50);

    WSL_CHECK(wsl_hist_percentile(&h, 0.5) == 7, "exact small value");
    WSL_CHECK(h.buckets[WSL_HIST_BUCKETS - 1] == 1, "clamped value");

    return 0;
}


/*
 * head[]: the first WSL_HEAD_MAX bytes of a data message, across
 * fragments and reads, whatever the step; a ping in between leaves
 * them alone
 */

static int
wsl_test_head(void)
{
    int                   rc;
    size_t                i, n, step, len;
    unsigned char         buf[256], *p;
    wsl_frame_parser_t    fp;
    const unsigned char  *pos;

    /* "fanout 12 " in a text frame, a ping, then 60 bytes, fin */

    p = buf;
    *p++ = 0x01;
    *p++ = 10;
    memcpy(p, "fanout 12 ", 10);
    p += 10;
    *p++ = 0x89;
    *p++ = 0x01;
    *p++ = 'x';
    *p++ = 0x80;
    *p++ = 60;

    for (i = 0; i < 60; i++) {
        *p++ = (unsigned char) ('a' + i % 26);
    }

    len = p - buf;

    for (step = 1; step <= len; step++) {
        memset(&fp, 0, sizeof(fp));

        rc = WSL_AGAIN;

        for (i = 0; i < len; i += n) {
            n = len - i < step ? len - i : step;
            pos = buf + i;

            while (pos < buf + i + n) {
                rc = wsl_frame_parse(&fp, &pos, buf + i + n);

                if (rc != WSL_DONE && rc != WSL_AGAIN) {
                    break;
                }
            }
        }

        WSL_CHECK(rc == WSL_DONE && fp.msg_len == 70
                  && memcmp(fp.head, "fanout 12 abc", 13) == 0
                  && fp.head[WSL_HEAD_MAX - 1]
                     == 'a' + (WSL_HEAD_MAX - 1 - 10) % 26,
                  "head: step %zu: rc %d, msg_len %llu", step, rc,
                  (unsigned long long) fp.msg_len);
    }

    return 0;
}
