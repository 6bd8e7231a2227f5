
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


/*
 * Frame headers, payloads and sequencing: ngx_ws_gateway_parse_frame(),
 * ngx_ws_gateway_parse_payload(), ngx_ws_gateway_unmask() and
 * ngx_ws_gateway_write_frame_header().
 *
 * A table row is a byte stream written in a small language and the
 * trace the parser must produce for it, fed whole, byte by byte and
 * split at every position (and, for short streams, at every pair of
 * positions).  Stream tokens, separated by spaces:
 *
 *   81        a byte in hex
 *   K         the masking key 37 fa 21 3d (the one of RFC 6455 5.7),
 *             restarting the key offset
 *   'Hello'   bytes as written
 *   m'Hello'  bytes masked with K
 *   *300      300 bytes 'a'; m*300 the same, masked
 *
 * Trace: one item per frame, separated by spaces: the opcode letter
 * (c t b x i o: continuation, text, binary, close, ping, pong), for a
 * continuation "[" message opcode letter, "+1" if the message has RSV1,
 * " " message size "]", then "F" if FIN, "+1" "+2" "+3" for RSV bits,
 * ":" length, and once the payload is taken "=" and the payload (dots
 * for bytes that are not printable; "a*N" for more than 32 bytes 'a').
 * An error ends the trace with "!CODE reason"; "A" means the stream
 * ended inside a header, "PN" inside a payload, N bytes short.
 */


#include "unit.h"


#define TEST_STREAM_MAX   (70 * 1024)
#define TEST_TRACE_MAX    1024


typedef struct {
    const char               *name;
    unsigned                  server;      /* p->client = 0 */
    ngx_uint_t                rsv;
    uint64_t                  max_frame;
    uint64_t                  max_message;
    const char               *stream;
    const char               *trace;
} test_frame_t;


static size_t test_build(u_char *dst, const char *spec);
static void test_trace_header(char *t, ngx_ws_gateway_parser_t *p);
static void test_trace_payload(char *t, u_char *data, size_t len);
static void test_run(test_frame_t *test, u_char *in, size_t len,
    size_t *splits, ngx_uint_t nsplits, char *trace);
static void test_frames(void);
static void test_unmask(void);
static void test_unmask_long(void);
static void test_write_header(void);
static void test_roundtrip(void);
static void test_parser_init(ngx_ws_gateway_parser_t *p, test_frame_t *test);
static char test_op_letter(ngx_uint_t op);


static u_char  test_key[4] = { 0x37, 0xfa, 0x21, 0x3d };


#define RSV1  NGX_WS_GATEWAY_RSV1
#define RSVA  (NGX_WS_GATEWAY_RSV1|NGX_WS_GATEWAY_RSV2|NGX_WS_GATEWAY_RSV3)
#define MAX63 "9223372036854775807"


static test_frame_t  test_frames_table[] = {

    /* masking, and the examples of RFC 6455 5.7 */

    { "rfc masked hello", 0, 0, 0, 0,
      "81 85 37 fa 21 3d 7f 9f 4d 51 58",
      "tF:5=Hello" },
    { "masked hello", 0, 0, 0, 0,
      "81 85 K m'Hello'",
      "tF:5=Hello" },
    { "rfc unmasked hello from a server", 1, 0, 0, 0,
      "81 05 48 65 6c 6c 6f",
      "tF:5=Hello" },
    { "unmasked from a client", 0, 0, 0, 0,
      "81 05 'Hello'",
      "!1002 unmasked frame" },
    { "masked from a server", 1, 0, 0, 0,
      "81 85 K m'Hello'",
      "!1002 masked frame" },
    { "unmasked ping from a client", 0, 0, 0, 0,
      "89 00",
      "!1002 unmasked frame" },

    /* every length boundary */

    { "length 0", 0, 0, 0, 0,
      "81 80 K",
      "tF:0=" },
    { "length 1", 0, 0, 0, 0,
      "82 81 K m*1",
      "bF:1=a" },
    { "length 125", 0, 0, 0, 0,
      "82 fd K m*125",
      "bF:125=a*125" },
    { "length 126", 0, 0, 0, 0,
      "82 fe 00 7e K m*126",
      "bF:126=a*126" },
    { "length 127", 0, 0, 0, 0,
      "82 fe 00 7f K m*127",
      "bF:127=a*127" },
    { "length 65535", 0, 0, 0, 0,
      "82 fe ff ff K m*65535",
      "bF:65535=a*65535" },
    { "length 65536", 0, 0, 0, 0,
      "82 ff 00 00 00 00 00 01 00 00 K m*65536",
      "bF:65536=a*65536" },
    { "length 2^32", 0, 0, 0, 0,
      "82 ff 00 00 00 01 00 00 00 00 K",
      "bF:4294967296 P4294967296" },
    { "length 2^63-1", 0, 0, 0, 0,
      "82 ff 7f ff ff ff ff ff ff ff K",
      "bF:" MAX63 " P" MAX63 },
    { "length 2^63", 0, 0, 0, 0,
      "82 ff 80 00 00 00 00 00 00 00 K",
      "!1002 invalid length" },
    { "length 2^64-1", 0, 0, 0, 0,
      "82 ff ff ff ff ff ff ff ff ff K",
      "!1002 invalid length" },
    { "length with the top bit, cut short", 0, 0, 0, 0,
      "82 ff 80",
      "!1002 invalid length" },
    { "length 256 from a server", 1, 0, 0, 0,
      "82 7e 01 00 *256",
      "bF:256=a*256" },
    { "length 65536 from a server", 1, 0, 0, 0,
      "82 7f 00 00 00 00 00 01 00 00 *65536",
      "bF:65536=a*65536" },

    /* non-minimal length encodings are accepted (see the parser) */

    { "length 5 in 16 bits", 0, 0, 0, 0,
      "82 fe 00 05 K m*5",
      "bF:5=aaaaa" },
    { "length 5 in 64 bits", 0, 0, 0, 0,
      "82 ff 00 00 00 00 00 00 00 05 K m*5",
      "bF:5=aaaaa" },
    { "length 0 in 64 bits", 0, 0, 0, 0,
      "82 ff 00 00 00 00 00 00 00 00 K",
      "bF:0=" },

    /* every opcode */

    { "continuation without a message", 0, 0, 0, 0,
      "80 80 K",
      "!1002 unexpected continuation frame" },
    { "text", 0, 0, 0, 0,
      "81 82 K m'hi'",
      "tF:2=hi" },
    { "binary", 0, 0, 0, 0,
      "82 83 K m'\x01\x02\x03'",
      "bF:3=..." },
    { "opcode 3", 0, 0, 0, 0, "83 80 K", "!1002 reserved opcode" },
    { "opcode 4", 0, 0, 0, 0, "84 80 K", "!1002 reserved opcode" },
    { "opcode 5", 0, 0, 0, 0, "85 80 K", "!1002 reserved opcode" },
    { "opcode 6", 0, 0, 0, 0, "86 80 K", "!1002 reserved opcode" },
    { "opcode 7", 0, 0, 0, 0, "87 80 K", "!1002 reserved opcode" },
    { "close", 0, 0, 0, 0,
      "88 82 K m'\x03\xe8'",
      "xF:2=.." },
    { "close, empty", 0, 0, 0, 0,
      "88 80 K",
      "xF:0=" },
    { "ping", 0, 0, 0, 0,
      "89 84 K m'ping'",
      "iF:4=ping" },
    { "pong", 0, 0, 0, 0,
      "8a 84 K m'pong'",
      "oF:4=pong" },
    { "opcode 0xb", 0, 0, 0, 0, "8b 80 K", "!1002 reserved opcode" },
    { "opcode 0xc", 0, 0, 0, 0, "8c 80 K", "!1002 reserved opcode" },
    { "opcode 0xd", 0, 0, 0, 0, "8d 80 K", "!1002 reserved opcode" },
    { "opcode 0xe", 0, 0, 0, 0, "8e 80 K", "!1002 reserved opcode" },
    { "opcode 0xf", 0, 0, 0, 0, "8f 80 K", "!1002 reserved opcode" },
    { "opcode 3 without FIN", 0, 0, 0, 0, "03", "!1002 reserved opcode" },
    { "opcode 0xb without FIN", 0, 0, 0, 0, "0b", "!1002 reserved opcode" },
    { "reserved opcode from a server", 1, 0, 0, 0,
      "87 00",
      "!1002 reserved opcode" },

    /* RSV bits */

    { "RSV1 not negotiated", 0, 0, 0, 0,
      "c1 85 K m'Hello'",
      "!1002 RSV bits set" },
    { "RSV2 not negotiated", 0, 0, 0, 0,
      "*1 85 K m'Hello'",
      "!1002 RSV bits set" },
    { "RSV3 not negotiated", 0, 0, 0, 0,
      "91 85 K m'Hello'",
      "!1002 RSV bits set" },
    { "RSV1 negotiated", 0, RSV1, 0, 0,
      "c1 85 K m'Hello'",
      "tF+1:5=Hello" },
    { "RSV1 negotiated, RSV1 not set", 0, RSV1, 0, 0,
      "81 85 K m'Hello'",
      "tF:5=Hello" },
    { "RSV1 negotiated, RSV2 set", 0, RSV1, 0, 0,
      "*1 85 K m'Hello'",
      "!1002 RSV bits set" },
    { "RSV1 negotiated, RSV3 set", 0, RSV1, 0, 0,
      "92 80 K",
      "!1002 RSV bits set" },
    { "RSV1 on a fragmented message", 0, RSV1, 0, 0,
      "41 83 K m'Hel' 00 81 K m'l' 80 81 K m'o'",
      "t+1:3=Hel c[t+1 4]:1=l c[t+1 5]F:1=o" },
    { "RSV1 on a continuation frame", 0, RSV1, 0, 0,
      "41 83 K m'Hel' c0 82 K m'lo'",
      "t+1:3=Hel !1002 RSV1 set on a continuation frame" },
    { "RSV1 on a continuation of an uncompressed message", 0, RSV1, 0, 0,
      "01 83 K m'Hel' c0 82 K m'lo'",
      "t:3=Hel !1002 RSV1 set on a continuation frame" },
    { "RSV1 on a ping, negotiated", 0, RSV1, 0, 0,
      "c9 80 K",
      "!1002 RSV1 set on a control frame" },
    { "RSV1 on a close, negotiated", 0, RSV1, 0, 0,
      "c8 80 K",
      "!1002 RSV1 set on a control frame" },
    { "RSV1 on a ping, not negotiated", 0, 0, 0, 0,
      "c9 80 K",
      "!1002 RSV bits set" },
    { "all RSV bits negotiated", 0, RSVA, 0, 0,
      "f1 80 K",
      "tF+1+2+3:0=" },
    { "RSV2 on a continuation, negotiated", 0, RSVA, 0, 0,
      "01 81 K m'a' a0 81 K m'b'",
      "t:1=a c[t 2]F+2:1=b" },

    /* control frames */

    { "fragmented ping", 0, 0, 0, 0,
      "09 80 K",
      "!1002 fragmented control frame" },
    { "fragmented close", 0, 0, 0, 0,
      "08 80 K",
      "!1002 fragmented control frame" },
    { "fragmented pong", 0, 0, 0, 0,
      "0a 80 K",
      "!1002 fragmented control frame" },
    { "ping of 125", 0, 0, 0, 0,
      "89 fd K m*125",
      "iF:125=a*125" },
    { "ping of 126", 0, 0, 0, 0,
      "89 fe 00 7e K m*126",
      "!1002 control frame too long" },
    { "close of 126 in 64 bits", 0, 0, 0, 0,
      "88 ff 00 00 00 00 00 00 00 7e",
      "!1002 control frame too long" },
    { "pong of 5 in 16 bits", 0, 0, 0, 0,
      "8a fe 00 05",
      "!1002 control frame too long" },
    { "ping of 126 from a server", 1, 0, 0, 0,
      "89 7e 00 7e",
      "!1002 control frame too long" },

    /* fragmentation and sequencing */

    { "two fragments", 0, 0, 0, 0,
      "01 83 K m'Hel' 80 82 K m'lo'",
      "t:3=Hel c[t 5]F:2=lo" },
    { "interleaved control frames", 0, 0, 0, 0,
      "02 82 K m'ab' 89 81 K m'p' 00 82 K m'cd' 8a 80 K 80 81 K m'e'",
      "b:2=ab iF:1=p c[b 4]:2=cd oF:0= c[b 5]F:1=e" },
    { "close inside a fragmented message", 0, 0, 0, 0,
      "01 81 K m'a' 88 82 K m'\x03\xe8'",
      "t:1=a xF:2=.." },
    { "text inside a fragmented message", 0, 0, 0, 0,
      "01 81 K m'a' 81 81 K m'b'",
      "t:1=a !1002 data frame inside a fragmented message" },
    { "binary inside a fragmented message", 0, 0, 0, 0,
      "01 81 K m'a' 02 81 K m'b'",
      "t:1=a !1002 data frame inside a fragmented message" },
    { "text after a ping inside a fragmented message", 0, 0, 0, 0,
      "01 81 K m'a' 89 80 K 81 80 K",
      "t:1=a iF:0= !1002 data frame inside a fragmented message" },
    { "continuation after a complete message", 0, 0, 0, 0,
      "81 81 K m'a' 80 81 K m'b'",
      "tF:1=a !1002 unexpected continuation frame" },
    { "continuation after a ping", 0, 0, 0, 0,
      "89 80 K 00 81 K m'b'",
      "iF:0= !1002 unexpected continuation frame" },
    { "messages back to back", 0, 0, 0, 0,
      "81 81 K m'a' 82 81 K m'b' 81 80 K",
      "tF:1=a bF:1=b tF:0=" },
    { "zero-length fragments", 0, 0, 0, 0,
      "01 80 K 00 80 K 80 80 K 82 80 K",
      "t:0= c[t 0]:0= c[t 0]F:0= bF:0=" },
    { "a message after a fragmented one", 0, 0, 0, 0,
      "01 81 K m'a' 80 81 K m'b' 82 81 K m'c' 80 80 K",
      "t:1=a c[t 2]F:1=b bF:1=c !1002 unexpected continuation frame" },

    /* limits: 1009 at header time, before any payload is read */

    { "max_frame, equal", 0, 0, 5, 0,
      "81 85 K m'Hello'",
      "tF:5=Hello" },
    { "max_frame, over", 0, 0, 5, 0,
      "81 86 K m'Hello!'",
      "!1009 frame too big" },
    { "max_frame 125, 16 bits", 0, 0, 125, 0,
      "82 fe 00 7e",
      "!1009 frame too big" },
    { "max_frame 65535, 64 bits", 0, 0, 65535, 0,
      "82 ff 00 00 00 00 00 01 00 00",
      "!1009 frame too big" },
    { "max_frame 65536, 64 bits", 0, 0, 65536, 0,
      "82 ff 00 00 00 00 00 01 00 00 K m*65536",
      "bF:65536=a*65536" },
    { "max_frame, huge length", 0, 0, 1000000, 0,
      "82 ff 7f ff ff ff ff ff ff ff",
      "!1009 frame too big" },
    { "max_frame, on a continuation", 0, 0, 3, 0,
      "01 83 K m'abc' 80 84 K",
      "t:3=abc !1009 frame too big" },
    { "max_frame does not bound a ping", 0, 0, 3, 0,
      "89 84 K m'ping'",
      "iF:4=ping" },
    { "max_frame does not bound a 125-byte pong", 0, 0, 1, 0,
      "8a fd K m*125",
      "oF:125=a*125" },
    { "max_frame does not bound a close", 0, 0, 1, 0,
      "88 85 K m'..bye'",
      "xF:5=..bye" },
    { "max_frame 1, a 2-byte text frame is still too big", 0, 0, 1, 0,
      "89 80 K 81 82 K m'ab'",
      "iF:0= !1009 frame too big" },
    { "max_message, equal", 0, 0, 0, 10,
      "01 85 K m'Hello' 80 85 K m'World'",
      "t:5=Hello c[t 10]F:5=World" },
    { "max_message, over", 0, 0, 0, 10,
      "01 85 K m'Hello' 80 86 K m'World!'",
      "t:5=Hello !1009 message too big" },
    { "max_message, one frame over", 0, 0, 0, 10,
      "81 8b K m*11",
      "!1009 message too big" },
    { "max_message, control frames do not count", 0, 0, 0, 10,
      "01 85 K m'Hello' 89 e4 K m*100 80 85 K m'World'",
      "t:5=Hello iF:100=a*100 c[t 10]F:5=World" },
    { "max_message, a new message starts at 0", 0, 0, 0, 10,
      "01 85 K m'Hello' 80 85 K m'World' 81 8a K m*10",
      "t:5=Hello c[t 10]F:5=World tF:10=aaaaaaaaaa" },
    { "max_message, huge continuation", 0, 0, 0, 100,
      "01 85 K m'Hello' 00 ff 7f ff ff ff ff ff ff ff",
      "t:5=Hello !1009 message too big" },
    { "max_message, frame limit first", 0, 0, 4, 100,
      "81 85",
      "!1009 frame too big" },
    { "no limits", 0, 0, 0, 0,
      "02 ff 7f ff ff ff ff ff ff fe K",
      "b:9223372036854775806 P9223372036854775806" },

    /* streams ending early */

    { "one byte", 0, 0, 0, 0, "81", "A" },
    { "inside the mask", 0, 0, 0, 0, "81 85 37 fa", "A" },
    { "inside a 16-bit length", 0, 0, 0, 0, "81 fe 00", "A" },
    { "inside a 64-bit length", 0, 0, 0, 0, "81 ff 00 00 00 00", "A" },
    { "inside a payload", 0, 0, 0, 0, "81 85 K m'He'", "tF:5 P3" },
    { "after a frame", 0, 0, 0, 0, "81 81 K m'a' 89", "tF:1=a A" },

    { NULL, 0, 0, 0, 0, NULL, NULL }
};


int
main(void)
{
    test_frames();
    test_unmask();
    test_unmask_long();
    test_write_header();
    test_roundtrip();

    return unit_done("frame");
}


static size_t
test_build(u_char *dst, const char *spec)
{
    int          masked;
    size_t       n, i, len;
    const char  *s, *end;
    ngx_uint_t   k;

    n = 0;
    k = 0;

    for (s = spec; *s; /* void */) {

        if (*s == ' ') {
            s++;
            continue;
        }

        if (*s == 'K') {
            ngx_memcpy(dst + n, test_key, 4);
            n += 4;
            k = 0;
            s++;
            continue;
        }

        masked = 0;

        if (*s == 'm') {
            masked = 1;
            s++;
        }

        if (*s == '\'') {
            end = strchr(s + 1, '\'');
            len = end - s - 1;
            ngx_memcpy(dst + n, s + 1, len);
            s = end + 1;

        } else if (*s == '*') {
            len = strtoul(s + 1, (char **) &end, 10);
            ngx_memset(dst + n, 'a', len);
            s = end;

        } else {
            n += unit_hex(dst + n, (char [3]) { s[0], s[1], '\0' });
            s += 2;
            continue;
        }

        if (masked) {
            for (i = 0; i < len; i++) {
                dst[n + i] ^= test_key[k++ & 3];
            }
        }

        n += len;
    }

    return n;
}


static void
test_parser_init(ngx_ws_gateway_parser_t *p, test_frame_t *test)
{
    ngx_memzero(p, sizeof(ngx_ws_gateway_parser_t));

    p->client = test->server ? 0 : 1;
    p->rsv_allowed = test->rsv;
    p->max_frame = test->max_frame;
    p->max_message = test->max_message;
}


static char
test_op_letter(ngx_uint_t op)
{
    static const char  letters[] = "ctb?????xio?????";

    return letters[op & 0x0f];
}


static void
test_trace_header(char *t, ngx_ws_gateway_parser_t *p)
{
    t += strlen(t);
    t += sprintf(t, "%c", test_op_letter(p->opcode));

    if (p->opcode == NGX_WS_GATEWAY_OP_CONT) {
        t += sprintf(t, "[%c%s %llu]", test_op_letter(p->message_opcode),
                     (p->message_rsv & RSV1) ? "+1" : "",
                     (unsigned long long) p->message_size);
    }

    t += sprintf(t, "%s%s%s%s:%llu", p->fin ? "F" : "",
                 (p->rsv & NGX_WS_GATEWAY_RSV1) ? "+1" : "",
                 (p->rsv & NGX_WS_GATEWAY_RSV2) ? "+2" : "",
                 (p->rsv & NGX_WS_GATEWAY_RSV3) ? "+3" : "",
                 (unsigned long long) p->length);
}


static void
test_trace_payload(char *t, u_char *data, size_t len)
{
    size_t  i;

    t += strlen(t);
    *t++ = '=';

    if (len > 32) {
        for (i = 0; i < len && data[i] == 'a'; i++) { /* void */ }

        sprintf(t, "%c*%lu", i == len ? 'a' : '?', (unsigned long) len);
        return;
    }

    for (i = 0; i < len; i++) {
        *t++ = (data[i] >= 0x20 && data[i] < 0x7f) ? data[i] : '.';
    }

    *t = '\0';
}


/*
 * Feeds in[0..len) to a fresh parser in chunks ending at splits[], each
 * copied to a buffer of its own size, so that a read past b->last is
 * caught by AddressSanitizer; the trace goes to trace[].
 */

static void
test_run(test_frame_t *test, u_char *in, size_t len, size_t *splits,
    ngx_uint_t nsplits, char *trace)
{
    u_char                   *buf, *pos;
    size_t                    from, to, plen;
    ngx_int_t                 rc;
    ngx_str_t                 chunk;
    ngx_buf_t                 b;
    ngx_uint_t                i, in_payload;
    static u_char             payload[TEST_STREAM_MAX];
    ngx_ws_gateway_parser_t   p;

    test_parser_init(&p, test);

    trace[0] = '\0';
    in_payload = 0;
    plen = 0;
    from = 0;

    for (i = 0; i <= nsplits; i++) {

        to = (i < nsplits) ? splits[i] : len;

        buf = malloc(to - from + 1);
        ngx_memcpy(buf, in + from, to - from);

        ngx_memzero(&b, sizeof(ngx_buf_t));
        b.start = buf;
        b.pos = buf;
        b.last = buf + (to - from);
        b.end = b.last;

        for ( ;; ) {

            if (!in_payload) {
                pos = b.pos;
                rc = ngx_ws_gateway_parse_frame(&p, &b);

                if (b.pos < pos || b.pos > b.last) {
                    strcat(trace, " #pos");
                    goto done;
                }

                if (rc == NGX_AGAIN) {
                    if (b.pos != b.last) {
                        strcat(trace, " #again");
                        goto done;
                    }

                    break;
                }

                if (rc == NGX_ERROR) {
                    sprintf(trace + strlen(trace), "%s!%lu %s",
                            trace[0] ? " " : "",
                            (unsigned long) p.close_code, p.error);
                    goto done;
                }

                if (rc != NGX_OK || p.left != p.length) {
                    strcat(trace, " #rc");
                    goto done;
                }

                if (trace[0]) {
                    strcat(trace, " ");
                }

                test_trace_header(trace, &p);
                in_payload = 1;
                plen = 0;
            }

            pos = b.pos;
            rc = ngx_ws_gateway_parse_payload(&p, &b, &chunk);

            if (chunk.data != pos || b.pos != pos + chunk.len
                || b.pos > b.last)
            {
                strcat(trace, " #chunk");
                goto done;
            }

            if (plen + chunk.len <= TEST_STREAM_MAX) {
                ngx_memcpy(payload + plen, chunk.data, chunk.len);
            }

            plen += chunk.len;

            if (rc == NGX_AGAIN) {
                if (b.pos != b.last || p.left == 0) {
                    strcat(trace, " #again");
                    goto done;
                }

                break;
            }

            if (rc != NGX_OK || p.left != 0 || plen != p.length) {
                strcat(trace, " #rc");
                goto done;
            }

            test_trace_payload(trace, payload, plen);
            in_payload = 0;

            /* a final data frame closes the message, others keep it */

            if (!ngx_ws_gateway_op_is_control(p.opcode)
                && (p.fin ? (p.message_opcode || p.message_rsv
                             || p.message_size)
                          : (p.message_opcode != NGX_WS_GATEWAY_OP_TEXT
                             && p.message_opcode != NGX_WS_GATEWAY_OP_BINARY)))
            {
                strcat(trace, " #message");
                goto done;
            }
        }

        free(buf);
        buf = NULL;
        from = to;
    }

    if (in_payload) {
        sprintf(trace + strlen(trace), " P%llu", (unsigned long long) p.left);

    } else if (p.state != 0) {
        strcat(trace, trace[0] ? " A" : "A");
    }

    return;

done:

    free(buf);
}


static void
test_frames(void)
{
    u_char        *in;
    char          *trace;
    size_t         len, i, j, *splits;
    ngx_uint_t     n, bad;
    test_frame_t  *t;

    in = malloc(TEST_STREAM_MAX);
    trace = malloc(TEST_TRACE_MAX);
    splits = malloc(TEST_STREAM_MAX * sizeof(size_t));

    for (t = test_frames_table; t->name; t++) {

        len = test_build(in, t->stream);

        /* whole */

        test_run(t, in, len, NULL, 0, trace);
        unit_check(strcmp(trace, t->trace) == 0,
                   "\"%s\" whole: \"%s\", expected \"%s\"",
                   t->name, trace, t->trace);

        /* byte by byte */

        for (i = 0; i + 1 < len; i++) {
            splits[i] = i + 1;
        }

        test_run(t, in, len, splits, len ? len - 1 : 0, trace);
        unit_check(strcmp(trace, t->trace) == 0,
                   "\"%s\" byte by byte: \"%s\", expected \"%s\"",
                   t->name, trace, t->trace);

        /* at every position, then every pair of positions */

        bad = 0;

        for (i = 0; i <= len && !bad; i++) {

            if (len > 4096 && i > 64 && i < len - 64 && i % 4093) {
                continue;
            }

            splits[0] = i;
            test_run(t, in, len, splits, 1, trace);

            if (strcmp(trace, t->trace) != 0) {
                unit_check(0, "\"%s\" split at %lu: \"%s\", expected \"%s\"",
                           t->name, (unsigned long) i, trace, t->trace);
                bad = 1;
            }
        }

        if (!bad) {
            unit_pass();
        }

        if (len > 64) {
            continue;
        }

        bad = 0;
        n = 0;

        for (i = 0; i <= len && !bad; i++) {
            for (j = i; j <= len && !bad; j++) {
                splits[0] = i;
                splits[1] = j;
                test_run(t, in, len, splits, 2, trace);
                n++;

                if (strcmp(trace, t->trace) != 0) {
                    unit_check(0, "\"%s\" split at %lu and %lu: \"%s\", "
                               "expected \"%s\"", t->name, (unsigned long) i,
                               (unsigned long) j, trace, t->trace);
                    bad = 1;
                }
            }
        }

        if (!bad) {
            unit_check(n > 0, "\"%s\": no pair splits", t->name);
        }
    }

    free(in);
    free(trace);
    free(splits);
}


static void
test_unmask(void)
{
    u_char      buf[96], copy[96], *data;
    size_t      len, align, i;
    ngx_uint_t  off, k, bad;
    uint64_t    seed;

    seed = 1;

    for (off = 0; off < 4; off++) {
        for (align = 0; align < 8; align++) {
            for (len = 0; len <= 64; len++) {

                for (i = 0; i < sizeof(buf); i++) {
                    buf[i] = (u_char) unit_random(&seed);
                }

                ngx_memcpy(copy, buf, sizeof(buf));

                /* a 16-byte aligned base, then the alignment under test */

                data = ngx_align_ptr(buf, 16) + align;
                k = off;

                ngx_ws_gateway_unmask(data, len, test_key, &k);

                bad = (k != ((off + len) & 3));

                for (i = 0; i < sizeof(buf); i++) {
                    if (buf + i >= data && buf + i < data + len) {
                        bad |= buf[i]
                               != (copy[i]
                                   ^ test_key[(off + (buf + i - data)) & 3]);

                    } else {
                        bad |= buf[i] != copy[i];
                    }
                }

                unit_check(!bad, "unmask offset %lu, alignment %lu, "
                           "length %lu", (unsigned long) off,
                           (unsigned long) align, (unsigned long) len);
            }
        }
    }
}


static void
test_unmask_long(void)
{
    u_char      *buf, *copy;
    size_t       len, i, n, from;
    uint64_t     seed;
    ngx_uint_t   k, bad, round;

    len = 1000003;
    buf = malloc(len);
    copy = malloc(len);
    seed = 7;

    for (round = 0; round < 3; round++) {

        for (i = 0; i < len; i++) {
            buf[i] = (u_char) unit_random(&seed);
        }

        ngx_memcpy(copy, buf, len);

        /* whole, then in chunks of random sizes, the offset carried */

        k = 0;
        from = 0;

        while (from < len) {
            n = (round == 0) ? len : unit_random(&seed) % (round * 700);

            if (n > len - from) {
                n = len - from;
            }

            ngx_ws_gateway_unmask(buf + from, n, test_key, &k);
            from += n;
        }

        bad = (k != (len & 3));

        for (i = 0; i < len; i++) {
            bad |= buf[i] != (copy[i] ^ test_key[i & 3]);
        }

        unit_check(!bad, "unmask of %lu bytes, round %lu",
                   (unsigned long) len, (unsigned long) round);
    }

    free(buf);
    free(copy);
}


static void
test_write_header(void)
{
    u_char       out[32], want[16], *base, *end;
    char         got_hex[128], want_hex[128];
    size_t       n, align;
    ngx_uint_t   i, bad;

    static struct {
        ngx_uint_t   opcode;
        ngx_uint_t   flags;
        uint64_t     length;
        const char  *bytes;
    } tests[] = {
        { NGX_WS_GATEWAY_OP_TEXT, NGX_WS_GATEWAY_FIN, 0, "81 00" },
        { NGX_WS_GATEWAY_OP_TEXT, NGX_WS_GATEWAY_FIN, 1, "81 01" },
        { NGX_WS_GATEWAY_OP_BINARY, NGX_WS_GATEWAY_FIN, 125, "82 7d" },
        { NGX_WS_GATEWAY_OP_BINARY, NGX_WS_GATEWAY_FIN, 126,
          "82 7e 00 7e" },
        { NGX_WS_GATEWAY_OP_BINARY, NGX_WS_GATEWAY_FIN, 127,
          "82 7e 00 7f" },
        { NGX_WS_GATEWAY_OP_BINARY, NGX_WS_GATEWAY_FIN, 256,
          "82 7e 01 00" },
        { NGX_WS_GATEWAY_OP_BINARY, NGX_WS_GATEWAY_FIN, 65535,
          "82 7e ff ff" },
        { NGX_WS_GATEWAY_OP_BINARY, NGX_WS_GATEWAY_FIN, 65536,
          "82 7f 00 00 00 00 00 01 00 00" },
        { NGX_WS_GATEWAY_OP_BINARY, NGX_WS_GATEWAY_FIN, 0x100000000ULL,
          "82 7f 00 00 00 01 00 00 00 00" },
        { NGX_WS_GATEWAY_OP_BINARY, NGX_WS_GATEWAY_FIN,
          0x0123456789abcdefULL,
          "82 7f 01 23 45 67 89 ab cd ef" },
        { NGX_WS_GATEWAY_OP_BINARY, NGX_WS_GATEWAY_FIN,
          0x7fffffffffffffffULL,
          "82 7f 7f ff ff ff ff ff ff ff" },
        { NGX_WS_GATEWAY_OP_CONT, 0, 3, "00 03" },
        { NGX_WS_GATEWAY_OP_TEXT, 0, 3, "01 03" },
        { NGX_WS_GATEWAY_OP_CLOSE, NGX_WS_GATEWAY_FIN, 2, "88 02" },
        { NGX_WS_GATEWAY_OP_PING, NGX_WS_GATEWAY_FIN, 0, "89 00" },
        { NGX_WS_GATEWAY_OP_PONG, NGX_WS_GATEWAY_FIN, 125, "8a 7d" },
        { NGX_WS_GATEWAY_OP_TEXT, NGX_WS_GATEWAY_FIN|NGX_WS_GATEWAY_RSV1,
          5, "c1 05" },
        { NGX_WS_GATEWAY_OP_BINARY, NGX_WS_GATEWAY_RSV1, 70000,
          "42 7f 00 00 00 00 00 01 11 70" },
        { NGX_WS_GATEWAY_OP_TEXT, NGX_WS_GATEWAY_FIN|0x0f, 0, "81 00" },
    };

    for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {

        n = unit_hex(want, tests[i].bytes);
        bad = 0;

        for (align = 0; align < 8; align++) {
            ngx_memset(out, 0xee, sizeof(out));
            base = ngx_align_ptr(out + 1, 8) + align;

            end = ngx_ws_gateway_write_frame_header(base, tests[i].opcode,
                                                    tests[i].flags,
                                                    tests[i].length);

            if (end != base + n || ngx_memcmp(base, want, n) != 0
                || base[n] != 0xee || base[-1] != 0xee)
            {
                bad = 1;
                break;
            }
        }

        unit_hexdump(got_hex, base, end > base ? (size_t) (end - base) : 0);
        unit_hexdump(want_hex, want, n);

        unit_check(!bad, "write_frame_header(%lu, %lu, %llu), alignment %lu: "
                   "\"%s\", expected \"%s\"", (unsigned long) tests[i].opcode,
                   (unsigned long) tests[i].flags,
                   (unsigned long long) tests[i].length,
                   (unsigned long) align, got_hex, want_hex);
    }
}


/* what write_frame_header() writes, parse_frame() reads back as a client */

static void
test_roundtrip(void)
{
    u_char                   buf[16];
    uint64_t                 seed, length;
    ngx_int_t                rc;
    ngx_buf_t                b;
    ngx_uint_t               i, opcode, bad;
    ngx_ws_gateway_parser_t  p;

    static uint64_t  lengths[] = {
        0, 1, 125, 126, 127, 65535, 65536, 65537, 0xffffffffULL,
        0x100000000ULL, 0x7fffffffffffffffULL
    };

    seed = 3;
    bad = 0;

    for (i = 0; i < 1000; i++) {

        if (i < sizeof(lengths) / sizeof(lengths[0])) {
            length = lengths[i];

        } else {
            length = unit_random(&seed) >> (unit_random(&seed) % 63 + 1);
        }

        opcode = (i & 1) ? NGX_WS_GATEWAY_OP_BINARY : NGX_WS_GATEWAY_OP_TEXT;

        ngx_memzero(&p, sizeof(ngx_ws_gateway_parser_t));
        ngx_memzero(&b, sizeof(ngx_buf_t));

        b.pos = buf;
        b.last = ngx_ws_gateway_write_frame_header(buf, opcode,
                                                   NGX_WS_GATEWAY_FIN,
                                                   length);

        rc = ngx_ws_gateway_parse_frame(&p, &b);

        if (rc != NGX_OK || b.pos != b.last || p.opcode != opcode
            || !p.fin || p.rsv || p.masked || p.length != length
            || (size_t) (b.last - buf)
               != (length < 126 ? 2 : (length < 65536 ? 4 : 10)))
        {
            unit_check(0, "roundtrip of length %llu",
                       (unsigned long long) length);
            bad = 1;
            break;
        }
    }

    if (!bad) {
        unit_pass();
    }
}
