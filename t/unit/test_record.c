
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


/*
 * Link records: ngx_ws_gateway_record_parse(), ngx_ws_gateway_record_body(),
 * ngx_ws_gateway_record_field(), the writers and record_name().
 *
 * A table row is a byte stream and the trace the parser must produce for
 * it, fed whole, byte by byte, split at every position and, for short
 * streams, at every pair of positions.  Every record parsed is encoded
 * again with the writers from what the parser returned, and must come out
 * byte for byte as it went in.  Stream tokens, separated by spaces:
 *
 *   0a        a byte in hex
 *   S         the session id of docs/protocol.md 9: 00 00 d2 a5 c3 00 00 01
 *   'hi'      bytes as written
 *   *300      300 bytes 'a'
 *   [ ... ]   a record: the u32 length of what is inside, then it
 *
 * Trace: one item per record, separated by spaces: its name, "/F" for
 * flags F (hex) if any, " s" session (hex), the fixed fields (HELLO:
 * " vVERSION cCAPS(hex) mMAX_RECORD"; PING, PONG: " oOPAQUE(hex)"; ERROR,
 * CLOSE, REJECT: " cCODE", a CLOSE event " bBY" too; GONE: " cTYPE(hex)";
 * channels: " kLENGTH"), ":" p->left, then, once the body is taken, "="
 * and the body (bytes other than printable ASCII as \xx, "a*N" for more
 * than 32 bytes 'a'), or for HELLO and OPEN "{TT=value ...}", the fields
 * ("!" for a field cut short).  An error ends the trace with "!CODE
 * reason"; "A" means the stream ended inside a head, "PN" inside a body,
 * N bytes short.
 */


#include "unit.h"
#include <ngx_ws_gateway_record.h>


#define TEST_STREAM_MAX   (70 * 1024)
#define TEST_TRACE_MAX    (8 * 1024)

#define SX                "sd2a5c3000001"


typedef struct {
    const char               *name;
    unsigned                  commands;
    uint32_t                  max_record;     /* 0: 2000 */
    const char               *stream;
    const char               *trace;
} test_record_t;


static size_t test_build(u_char *dst, const char *spec);
static void test_trace_head(char *t, ngx_ws_gateway_record_parser_t *p);
static void test_trace_bytes(char *t, u_char *data, size_t len);
static void test_trace_body(char *t, ngx_ws_gateway_record_parser_t *p,
    u_char *body, size_t len);
static size_t test_fixed(ngx_uint_t type);
static size_t test_encode(u_char *dst, ngx_ws_gateway_record_parser_t *p,
    u_char *body, size_t len);
static ngx_uint_t test_run(test_record_t *test, u_char *in, size_t len,
    size_t *splits, ngx_uint_t nsplits, char *trace);
static void test_records(void);
static void test_close_codes(void);
static void test_sticky(void);
static void test_fields(void);
static void test_writers(void);
static void test_names(void);
static void test_random(void);


#define R(s)  "[ " s " ]"

#define REASON123                                                            \
    "*100 *23"
#define TEXT1024                                                             \
    "*1000 *24"


static test_record_t  test_records_table[] = {

    /* the examples of docs/protocol.md 9, byte for byte */

    { "example: gateway HELLO", 0, 0,
      "00 00 00 19  01  00 00 01 00 00 00 00 00 10 02 00"
      " 01 00 03 67 77 31 04 00 04 00 00 13 88",
      "HELLO v1 c0 m1049088:13{01=gw1 04=\\00\\00\\13\\88}" },
    { "example: gateway HELLO read by a gateway", 1, 0,
      "00 00 00 19  01  00 00 01 00 00 00 00 00 10 02 00"
      " 01 00 03 67 77 31 04 00 04 00 00 13 88",
      "HELLO v1 c0 m1049088:13{01=gw1 04=\\00\\00\\13\\88}" },
    { "example: backend HELLO", 1, 0,
      "00 00 00 0c  01  00  00 01  00 00 00 00  00 01 00 00",
      "HELLO v1 c0 m65536:0{}" },
    { "example: PING and PONG, events", 0, 0,
      "00 00 00 0a  02  00  00 00 00 00 00 00 00 07"
      " 00 00 00 0a  03  00  00 00 00 00 00 00 00 07",
      "PING o7:0= PONG o7:0=" },
    { "example: PING and PONG, commands", 1, 0,
      "00 00 00 0a  02  00  00 00 00 00 00 00 00 07"
      " 00 00 00 0a  03  00  00 00 00 00 00 00 00 07",
      "PING o7:0= PONG o7:0=" },
    { "example: OPEN", 0, 0,
      "00 00 00 37  10  00"
      " 00 00 d2 a5 c3 00 00 01"
      " 10 00 0f 31 32 37 2e 30 2e 30 2e 31 3a 35 30 33 31 32"
      " 11 00 0c 2f 63 68 61 74 3f 72 6f 6f 6d 3d 31"
      " 13 00 09 03 73 75 62 61 6c 69 63 65",
      "OPEN " SX ":45{10=127.0.0.1:50312 11=/chat?room=1"
      " 13=\\03subalice}" },
    { "example: MESSAGE text and binary", 0, 0,
      "00 00 00 0c  11  00  00 00 d2 a5 c3 00 00 01  68 69"
      " 00 00 00 0c  11  01  00 00 d2 a5 c3 00 00 01  00 ff",
      "MESSAGE " SX ":2=hi MESSAGE/1 " SX ":2=\\00\\ff" },
    { "example: SEND", 1, 0,
      "00 00 00 0c  20  00  00 00 d2 a5 c3 00 00 01  68 69",
      "SEND " SX ":2=hi" },
    { "example: CLOSE command", 1, 0,
      "00 00 00 12  21  00  00 00 d2 a5 c3 00 00 01  0f a0"
      "  6b 69 63 6b 65 64",
      "CLOSE " SX " c4000:6=kicked" },
    { "example: CLOSE event", 0, 0,
      "00 00 00 10  12  00  00 00 d2 a5 c3 00 00 01  03 e8  00  62 79 65",
      "CLOSE " SX " c1000 b0:3=bye" },
    { "example: GONE", 0, 0,
      "00 00 00 0b  13  00  00 00 d2 a5 c3 00 00 01  20",
      "GONE " SX " c20:0=" },
    { "example: ACCEPT and REJECT", 1, 0,
      "00 00 00 0a  22  00  00 00 d2 a5 c3 00 00 01"
      " 00 00 00 12  23  00  00 00 d2 a5 c3 00 00 01  01 93"
      "  62 61 6e 6e 65 64",
      "ACCEPT " SX ":0= REJECT " SX " c403:6=banned" },
    { "example: ERROR, event", 0, 0,
      "00 00 00 07  04  00  00 01  62 61 64",
      "ERROR c1:3=bad" },
    { "example: ERROR, command", 1, 0,
      "00 00 00 07  04  00  00 01  62 61 64",
      "ERROR c1:3=bad" },
    { "example: SUBSCRIBE, PUBLISH, BROADCAST", 1, 0,
      "00 00 00 10  30  00  00 00 d2 a5 c3 00 00 01  72 6f 6f 6d 3a 31"
      " 00 00 00 0c  32  00  00 06  72 6f 6f 6d 3a 31  68 69"
      " 00 00 00 04  33  00  68 69",
      "SUBSCRIBE " SX " k6:6=room:1 PUBLISH k6:8=room:1hi BROADCAST:2=hi" },

    /* many records in one buffer: every example of a direction */

    { "every event example in a row", 0, 0,
      "00 00 00 19  01  00 00 01 00 00 00 00 00 10 02 00"
      " 01 00 03 67 77 31 04 00 04 00 00 13 88"
      " 00 00 00 0a  02  00  00 00 00 00 00 00 00 07"
      " 00 00 00 37  10  00 00 00 d2 a5 c3 00 00 01"
      " 10 00 0f 31 32 37 2e 30 2e 30 2e 31 3a 35 30 33 31 32"
      " 11 00 0c 2f 63 68 61 74 3f 72 6f 6f 6d 3d 31"
      " 13 00 09 03 73 75 62 61 6c 69 63 65"
      " 00 00 00 0c  11  00  00 00 d2 a5 c3 00 00 01  68 69"
      " 00 00 00 0c  11  01  00 00 d2 a5 c3 00 00 01  00 ff"
      " 00 00 00 10  12  00  00 00 d2 a5 c3 00 00 01  03 e8  00  62 79 65"
      " 00 00 00 0b  13  00  00 00 d2 a5 c3 00 00 01  20"
      " 00 00 00 07  04  00  00 01  62 61 64",
      "HELLO v1 c0 m1049088:13{01=gw1 04=\\00\\00\\13\\88} PING o7:0="
      " OPEN " SX ":45{10=127.0.0.1:50312 11=/chat?room=1"
      " 13=\\03subalice} MESSAGE " SX ":2=hi MESSAGE/1 " SX ":2=\\00\\ff"
      " CLOSE " SX " c1000 b0:3=bye GONE " SX " c20:0= ERROR c1:3=bad" },
    { "every command example in a row", 1, 0,
      "00 00 00 0c  01  00  00 01  00 00 00 00  00 01 00 00"
      " 00 00 00 0a  03  00  00 00 00 00 00 00 00 07"
      " 00 00 00 0a  22  00  00 00 d2 a5 c3 00 00 01"
      " 00 00 00 0c  20  00  00 00 d2 a5 c3 00 00 01  68 69"
      " 00 00 00 10  30  00  00 00 d2 a5 c3 00 00 01  72 6f 6f 6d 3a 31"
      " 00 00 00 0c  32  00  00 06  72 6f 6f 6d 3a 31  68 69"
      " 00 00 00 04  33  00  68 69"
      " 00 00 00 12  21  00  00 00 d2 a5 c3 00 00 01  0f a0"
      "  6b 69 63 6b 65 64"
      " 00 00 00 12  23  00  00 00 d2 a5 c3 00 00 01  01 93"
      "  62 61 6e 6e 65 64"
      " 00 00 00 07  04  00  00 01  62 61 64",
      "HELLO v1 c0 m65536:0{} PONG o7:0= ACCEPT " SX ":0= SEND " SX
      ":2=hi SUBSCRIBE " SX " k6:6=room:1 PUBLISH k6:8=room:1hi"
      " BROADCAST:2=hi CLOSE " SX " c4000:6=kicked REJECT " SX
      " c403:6=banned ERROR c1:3=bad" },
    { "records after an error are not read", 1, 0,
      R("20 00 S 'a'") R("20 02 S 'b'") R("20 00 S 'c'"),
      "SEND " SX ":1=a !1 undefined record flags" },

    /* the length field */

    { "length 0", 1, 0, "00 00 00 00", "!1 record length below 2" },
    { "length 1", 0, 0, "00 00 00 01 02", "!1 record length below 2" },
    { "length 2", 1, 0, "00 00 00 02 33 00", "BROADCAST:0=" },
    { "length at max_record", 1, 100, R("33 00 *98"), "BROADCAST:98=a*98" },
    { "length past max_record", 1, 100, R("33 00 *99"),
      "!3 record too large" },
    { "length past max_record, at once", 1, 100, "00 00 00 65",
      "!3 record too large" },
    { "too large before unknown", 1, 100, R("05 00 *99"),
      "!3 record too large" },
    { "length 2^32-1 at max_record", 1, 0xffffffff,
      "ff ff ff ff 33 00 'ab'",
      "BROADCAST:4294967293 P4294967291" },
    { "length 2^32-1 past max_record", 1, 0xfffffffe,
      "ff ff ff ff 33 00",
      "!3 record too large" },
    { "max_record of the largest head", 0, NGX_WS_GATEWAY_REC_HEAD_MAX,
      R("12 00 S 03 e8 02 *5") R("12 00 S 03 e8 02 *6"),
      "CLOSE " SX " c1000 b2:5=aaaaa !3 record too large" },

    /* cut short */

    { "cut in the length", 1, 0, "00 00", "A" },
    { "cut after the length", 1, 0, "00 00 00 0a", "A" },
    { "cut after the type", 1, 0, "00 00 00 0a 22", "A" },
    { "cut after the flags", 1, 0, "00 00 00 0a 22 00", "A" },
    { "cut in the session", 1, 0, "00 00 00 0a 22 00 00 00 d2", "A" },
    { "cut in the body", 1, 0, "00 00 00 0c 20 00 S 'h'",
      "SEND " SX ":2 P1" },
    { "BROADCAST, empty body cut", 1, 0, "00 00 00 02 33", "A" },

    /* every type in both directions */

    { "HELLO, command", 1, 0, R("01 00 00 01 00 00 00 03 00 00 04 00"),
      "HELLO v1 c3 m1024:0{}" },
    { "HELLO, event", 0, 0, R("01 00 ff ff ff ff ff ff 00 00 00 00"),
      "HELLO v65535 cffffffff m0:0{}" },
    { "PING, command", 1, 0, R("02 00 ff ee dd cc bb aa 99 88"),
      "PING offeeddccbbaa9988:0=" },
    { "PONG, event", 0, 0, R("03 00 ff ff ff ff ff ff ff ff"),
      "PONG offffffffffffffff:0=" },
    { "ERROR, empty text", 0, 0, R("04 00 00 06"), "ERROR c6:0=" },
    { "OPEN, command", 1, 0, R("10 00 S"),
      "!4 record type of the other direction" },
    { "OPEN, event, no fields", 0, 0, R("10 00 S"), "OPEN " SX ":0{}" },
    { "OPEN, REANNOUNCE", 0, 0, R("10 01 S 14 00 01 'c' 15 00 04 00 00 00 07"),
      "OPEN/1 " SX ":11{14=c 15=\\00\\00\\00\\07}" },
    { "OPEN, APPROVE", 0, 0, R("10 02 S"), "OPEN/2 " SX ":0{}" },
    { "OPEN, both flags", 0, 0, R("10 03 S"), "OPEN/3 " SX ":0{}" },
    { "OPEN, a field cut short", 0, 0, R("10 00 S 11 00 05 'abc'"),
      "OPEN " SX ":6{!}" },
    { "OPEN, a field head cut short", 0, 0, R("10 00 S 11 00 01 'a' 12 00"),
      "OPEN " SX ":6{11=a !}" },
    { "MESSAGE, command", 1, 0, R("11 00 S"),
      "!4 record type of the other direction" },
    { "MESSAGE, empty", 0, 0, R("11 00 S"), "MESSAGE " SX ":0=" },
    { "CLOSE event, command", 1, 0, R("12 00 S 03 e8 00"),
      "!4 record type of the other direction" },
    { "GONE, command", 1, 0, R("13 00 S 20"),
      "!4 record type of the other direction" },
    { "SEND, event", 0, 0, R("20 00 S"),
      "!4 record type of the other direction" },
    { "SEND, empty, binary", 1, 0, R("20 01 S"), "SEND/1 " SX ":0=" },
    { "CLOSE command, event", 0, 0, R("21 00 S 03 e8"),
      "!4 record type of the other direction" },
    { "CLOSE command, no reason", 1, 0, R("21 00 S 03 e8"),
      "CLOSE " SX " c1000:0=" },
    { "ACCEPT, event", 0, 0, R("22 00 S"),
      "!4 record type of the other direction" },
    { "REJECT, event", 0, 0, R("23 00 S 01 90"),
      "!4 record type of the other direction" },
    { "SUBSCRIBE, event", 0, 0, R("30 00 S 'c'"),
      "!4 record type of the other direction" },
    { "UNSUBSCRIBE, event", 0, 0, R("31 00 S 'c'"),
      "!4 record type of the other direction" },
    { "UNSUBSCRIBE", 1, 0, R("31 00 S 'c'"), "UNSUBSCRIBE " SX " k1:1=c" },
    { "PUBLISH, event", 0, 0, R("32 00 00 01 'c'"),
      "!4 record type of the other direction" },
    { "PUBLISH, binary", 1, 0, R("32 01 00 01 'c' 00"),
      "PUBLISH/1 k1:2=c\\00" },
    { "BROADCAST, event", 0, 0, R("33 00"),
      "!4 record type of the other direction" },
    { "BROADCAST, binary", 1, 0, R("33 01 ff"), "BROADCAST/1:1=\\ff" },

    /* unknown types */

    { "type 0x00", 1, 0, R("00 00"), "!4 unknown record type" },
    { "type 0x05", 0, 0, R("05 00"), "!4 unknown record type" },
    { "type 0x0f", 1, 0, R("0f 00"), "!4 unknown record type" },
    { "type 0x16", 0, 0, R("16 00 S"), "!4 unknown record type" },
    { "type 0x16, command", 1, 0, R("16 00 S"), "!4 unknown record type" },
    { "REFUSED, command", 1, 0, R("14 00 S 30 02"),
      "!4 record type of the other direction" },
    { "REFUSED of 9", 0, 0, R("14 00 S 30"), "!1 bad record length" },
    { "DROPPED of 11", 0, 0, R("15 00 S 00 00 01"), "!1 bad record length" },
    { "DROPPED 0x01", 0, 0, R("15 01 S 00 00 00 01"),
      "!1 undefined record flags" },
    { "type 0x24", 1, 0, R("24 00 S"), "!4 unknown record type" },
    { "type 0x34", 1, 0, R("34 00"), "!4 unknown record type" },
    { "type 0x40, flow control", 1, 0, R("40 00"), "!4 unknown record type" },
    { "type 0x4f, flow control", 0, 0, R("4f 00"), "!4 unknown record type" },
    { "type 0xff", 0, 0, R("ff 00"), "!4 unknown record type" },
    { "unknown type, cut at the type", 0, 0, "00 00 00 0a 50",
      "!4 unknown record type" },

    /* flags */

    { "HELLO 0x01", 1, 0, R("01 01 00 01 00 00 00 00 00 01 00 00"),
      "!1 undefined record flags" },
    { "PING 0x01", 0, 0, R("02 01 00 00 00 00 00 00 00 01"),
      "!1 undefined record flags" },
    { "PONG 0x80", 1, 0, R("03 80 00 00 00 00 00 00 00 01"),
      "!1 undefined record flags" },
    { "ERROR 0x02", 0, 0, R("04 02 00 01"), "!1 undefined record flags" },
    { "OPEN 0x04", 0, 0, R("10 04 S"), "!1 undefined record flags" },
    { "OPEN 0x80", 0, 0, R("10 80 S"), "!1 undefined record flags" },
    { "MESSAGE 0x02", 0, 0, R("11 02 S"), "!1 undefined record flags" },
    { "MESSAGE 0x03", 0, 0, R("11 03 S"), "!1 undefined record flags" },
    { "CLOSE event 0x01", 0, 0, R("12 01 S 03 e8 00"),
      "!1 undefined record flags" },
    { "GONE 0x01", 0, 0, R("13 01 S 20"), "!1 undefined record flags" },
    { "SEND 0x02", 1, 0, R("20 02 S"), "!1 undefined record flags" },
    { "CLOSE command 0x01", 1, 0, R("21 01 S 03 e8"),
      "!1 undefined record flags" },
    { "ACCEPT 0x01", 1, 0, R("22 01 S"), "!1 undefined record flags" },
    { "REJECT 0x01", 1, 0, R("23 01 S 01 90"), "!1 undefined record flags" },
    { "SUBSCRIBE 0x01", 1, 0, R("30 01 S 'c'"), "!1 undefined record flags" },
    { "UNSUBSCRIBE 0x01", 1, 0, R("31 01 S 'c'"),
      "!1 undefined record flags" },
    { "PUBLISH 0x02", 1, 0, R("32 02 00 01 'c'"),
      "!1 undefined record flags" },
    { "BROADCAST 0x80", 1, 0, R("33 80"), "!1 undefined record flags" },
    { "flags before the session", 1, 0, R("22 01 00 00 00 00 00 00 00 00"),
      "!1 undefined record flags" },
    { "flags, cut at the flags", 1, 0, "00 00 00 0a 22 04",
      "!1 undefined record flags" },

    /* exact lengths */

    { "PING of 7", 0, 0, R("02 00 00 00 00 00 00 00 01"),
      "!1 bad record length" },
    { "PING of 9", 1, 0, R("02 00 00 00 00 00 00 00 00 01 00"),
      "!1 bad record length" },
    { "PONG of 7", 1, 0, R("03 00 00 00 00 00 00 00 01"),
      "!1 bad record length" },
    { "PONG of 9", 0, 0, R("03 00 00 00 00 00 00 00 00 01 00"),
      "!1 bad record length" },
    { "PONG empty", 0, 0, R("03 00"), "!1 bad record length" },
    { "GONE of 8", 0, 0, R("13 00 S"), "!1 bad record length" },
    { "GONE of 10", 0, 0, R("13 00 S 20 00"), "!1 bad record length" },
    { "ACCEPT of 7", 1, 0, R("22 00 00 00 d2 a5 c3 00 01"),
      "!1 bad record length" },
    { "ACCEPT of 9", 1, 0, R("22 00 S 00"), "!1 bad record length" },
    { "bad length, cut at the type", 1, 0, "00 00 00 0b 22",
      "!1 bad record length" },

    /* minimums */

    { "HELLO of 9", 0, 0, R("01 00 00 01 00 00 00 00 00 00 04"),
      "!1 record too short" },
    { "HELLO empty", 1, 0, R("01 00"), "!1 record too short" },
    { "ERROR of 1", 0, 0, R("04 00 00"), "!1 record too short" },
    { "ERROR empty", 1, 0, R("04 00"), "!1 record too short" },
    { "OPEN of 7", 0, 0, R("10 00 00 00 d2 a5 c3 00 01"),
      "!1 record too short" },
    { "MESSAGE of 7", 0, 0, R("11 00 00 00 d2 a5 c3 00 01"),
      "!1 record too short" },
    { "CLOSE event of 10", 0, 0, R("12 00 S 03 e8"), "!1 record too short" },
    { "CLOSE event of 11", 0, 0, R("12 00 S 03 e8 00"),
      "CLOSE " SX " c1000 b0:0=" },
    { "SEND of 7", 1, 0, R("20 00 00 00 d2 a5 c3 00 01"),
      "!1 record too short" },
    { "SEND empty", 1, 0, R("20 00"), "!1 record too short" },
    { "CLOSE command of 9", 1, 0, R("21 00 S 03"), "!1 record too short" },
    { "CLOSE command of 8", 1, 0, R("21 00 S"), "!1 record too short" },
    { "REJECT of 9", 1, 0, R("23 00 S 01"), "!1 record too short" },
    { "REJECT of 10", 1, 0, R("23 00 S 01 90"), "REJECT " SX " c400:0=" },
    { "SUBSCRIBE of 7", 1, 0, R("30 00 00 00 d2 a5 c3 00 01"),
      "!1 record too short" },
    { "SUBSCRIBE, empty channel", 1, 0, R("30 00 S"), "!1 empty channel" },
    { "UNSUBSCRIBE, empty channel", 1, 0, R("31 00 S"),
      "!1 empty channel" },
    { "PUBLISH of 1", 1, 0, R("32 00 00"), "!1 record too short" },
    { "PUBLISH empty", 1, 0, R("32 00"), "!1 record too short" },
    { "PUBLISH, channel length 0", 1, 0, R("32 00 00 00 'hi'"),
      "!1 empty channel" },
    { "PUBLISH, channel past the record", 1, 0, R("32 00 00 01"),
      "!1 channel past the record" },
    { "PUBLISH, channel 3 past 2", 1, 0, R("32 00 00 03 'ab'"),
      "!1 channel past the record" },
    { "PUBLISH, channel of 1, no payload", 1, 0, R("32 00 00 01 'c'"),
      "PUBLISH k1:1=c" },

    /* maximums */

    { "ERROR text of 1024", 0, 0, R("04 00 00 01 " TEXT1024),
      "ERROR c1:1024=a*1024" },
    { "ERROR text of 1025", 1, 0, R("04 00 00 01 " TEXT1024 " 'x'"),
      "!1 error text too long" },
    { "REJECT text of 1024", 1, 0, R("23 00 S 02 57 " TEXT1024),
      "REJECT " SX " c599:1024=a*1024" },
    { "REJECT text of 1025", 1, 0, R("23 00 S 02 57 " TEXT1024 " 'x'"),
      "!1 reject text too long" },
    { "CLOSE event reason of 123", 0, 0, R("12 00 S 0f a0 02 " REASON123),
      "CLOSE " SX " c4000 b2:123=a*123" },
    { "CLOSE event reason of 124", 0, 0,
      R("12 00 S 0f a0 02 " REASON123 " 'x'"),
      "!1 close reason too long" },
    { "CLOSE command reason of 123", 1, 0, R("21 00 S 0f a0 " REASON123),
      "CLOSE " SX " c4000:123=a*123" },
    { "CLOSE command reason of 124", 1, 0,
      R("21 00 S 0f a0 " REASON123 " 'x'"),
      "!1 close reason too long" },
    { "SUBSCRIBE channel of 255", 1, 0, R("30 00 S *255"),
      "SUBSCRIBE " SX " k255:255=a*255" },
    { "SUBSCRIBE channel of 256", 1, 0, R("30 00 S *256"),
      "!1 channel too long" },
    { "UNSUBSCRIBE channel of 256", 1, 0, R("31 00 S *256"),
      "!1 channel too long" },
    { "PUBLISH channel of 255", 1, 0, R("32 00 00 ff *255"),
      "PUBLISH k255:255=a*255" },
    { "PUBLISH channel of 256", 1, 0, R("32 00 01 00 *256"),
      "!1 channel too long" },
    { "PUBLISH channel length 65535", 1, 0, R("32 00 ff ff *300"),
      "!1 channel too long" },
    { "SEND of 1 MiB + 512 at max_record", 1, 1049088,
      "00 10 02 00 20 00 S",
      "SEND " SX ":1049078 P1049078" },
    { "SEND past max_record", 1, 1049088, "00 10 02 01 20 00 S",
      "!3 record too large" },

    /* session 0 */

    { "OPEN, session 0", 0, 0, R("10 00 00 00 00 00 00 00 00 00"),
      "!1 session 0" },
    { "MESSAGE, session 0", 0, 0, R("11 00 00 00 00 00 00 00 00 00 'a'"),
      "!1 session 0" },
    { "CLOSE event, session 0", 0, 0,
      R("12 00 00 00 00 00 00 00 00 00 03 e8 00"),
      "!1 session 0" },
    { "GONE, session 0", 0, 0, R("13 00 00 00 00 00 00 00 00 00 20"),
      "!1 session 0" },
    { "SEND, session 0", 1, 0, R("20 00 00 00 00 00 00 00 00 00"),
      "!1 session 0" },
    { "CLOSE command, session 0", 1, 0,
      R("21 00 00 00 00 00 00 00 00 00 03 e8"),
      "!1 session 0" },
    { "ACCEPT, session 0", 1, 0, R("22 00 00 00 00 00 00 00 00 00"),
      "!1 session 0" },
    { "REJECT, session 0", 1, 0, R("23 00 00 00 00 00 00 00 00 00 01 90"),
      "!1 session 0" },
    { "SUBSCRIBE, session 0", 1, 0, R("30 00 00 00 00 00 00 00 00 00 'c'"),
      "!1 session 0" },
    { "UNSUBSCRIBE, session 0", 1, 0,
      R("31 00 00 00 00 00 00 00 00 00 'c'"),
      "!1 session 0" },
    { "session 2^64-1", 1, 0, R("22 00 ff ff ff ff ff ff ff ff"),
      "ACCEPT sffffffffffffffff:0=" },
    { "session 1", 0, 0, R("11 00 00 00 00 00 00 00 00 01"),
      "MESSAGE s1:0=" },

    /* fixed values */

    { "CLOSE command 1000", 1, 0, R("21 00 S 03 e8"),
      "CLOSE " SX " c1000:0=" },
    { "CLOSE command 1002", 1, 0, R("21 00 S 03 ea"), "!1 bad close code" },
    { "CLOSE command 1005", 1, 0, R("21 00 S 03 ed 'x'"),
      "!1 bad close code" },
    { "CLOSE command 0", 1, 0, R("21 00 S 00 00"), "!1 bad close code" },
    { "CLOSE command 4999", 1, 0, R("21 00 S 13 87"),
      "CLOSE " SX " c4999:0=" },
    { "CLOSE command 5000", 1, 0, R("21 00 S 13 88"), "!1 bad close code" },
    { "REJECT 399", 1, 0, R("23 00 S 01 8f"), "!1 bad reject status" },
    { "REJECT 400", 1, 0, R("23 00 S 01 90 'x'"), "REJECT " SX " c400:1=x" },
    { "REJECT 599", 1, 0, R("23 00 S 02 57"), "REJECT " SX " c599:0=" },
    { "REJECT 600", 1, 0, R("23 00 S 02 58"), "!1 bad reject status" },
    { "REJECT 0", 1, 0, R("23 00 S 00 00"), "!1 bad reject status" },
    { "REJECT 65535", 1, 0, R("23 00 S ff ff"), "!1 bad reject status" },
    { "CLOSE event by 1", 0, 0, R("12 00 S 03 f3 01"),
      "CLOSE " SX " c1011 b1:0=" },
    { "CLOSE event by 3", 0, 0, R("12 00 S 03 e8 03"), "!1 bad closed by" },
    { "CLOSE event by 255", 0, 0, R("12 00 S 03 e8 ff"),
      "!1 bad closed by" },
    { "CLOSE event, any code", 0, 0, R("12 00 S 03 ee 00"),
      "CLOSE " SX " c1006 b0:0=" },
    { "GONE, any type", 0, 0, R("13 00 S ff"), "GONE " SX " cff:0=" },
    { "HELLO from a backend, max_record 1023", 1, 0,
      R("01 00 00 01 00 00 00 00 00 00 03 ff"),
      "!1 max_record below 1024" },
    { "HELLO from a gateway, max_record 1023", 0, 0,
      R("01 00 00 01 00 00 00 00 00 00 03 ff"),
      "HELLO v1 c0 m1023:0{}" },
    { "HELLO, a field of 0", 0, 0,
      R("01 00 00 01 00 00 00 00 00 00 04 00 7f 00 00"),
      "HELLO v1 c0 m1024:3{7f=}" },

    { NULL, 0, 0, NULL, NULL }
};


int
main(void)
{
    test_records();
    test_close_codes();
    test_sticky();
    test_fields();
    test_writers();
    test_names();
    test_random();

    return unit_done("record");
}


static size_t
test_build(u_char *dst, const char *spec)
{
    size_t       n, len, open[4];
    const char  *s, *end;
    ngx_uint_t   depth;

    n = 0;
    depth = 0;

    for (s = spec; *s; /* void */) {

        if (*s == ' ') {
            s++;
            continue;
        }

        if (*s == '[') {
            open[depth++] = n;
            n += 4;
            s++;
            continue;
        }

        if (*s == ']') {
            len = n - open[--depth] - 4;
            (void) ngx_ws_gateway_write_uint32(dst + open[depth], len);
            s++;
            continue;
        }

        if (*s == 'S') {
            n += unit_hex(dst + n, "00 00 d2 a5 c3 00 00 01");
            s++;
            continue;
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

        n += len;
    }

    return n;
}


static void
test_trace_head(char *t, ngx_ws_gateway_record_parser_t *p)
{
    const char  *name;

    t += strlen(t);
    name = ngx_ws_gateway_record_name(p->type);

    t += sprintf(t, "%s", name ? name : "?");

    if (p->flags) {
        t += sprintf(t, "/%lx", (unsigned long) p->flags);
    }

    if (p->session) {
        t += sprintf(t, " s%llx", (unsigned long long) p->session);
    }

    switch (p->type) {

    case NGX_WS_GATEWAY_REC_HELLO:
        t += sprintf(t, " v%lu c%lx m%lu", (unsigned long) p->version,
                     (unsigned long) p->capabilities,
                     (unsigned long) p->peer_max_record);
        break;

    case NGX_WS_GATEWAY_REC_PING:
    case NGX_WS_GATEWAY_REC_PONG:
        t += sprintf(t, " o%llx", (unsigned long long) p->opaque);
        break;

    case NGX_WS_GATEWAY_REC_ERROR:
    case NGX_WS_GATEWAY_REC_END:
    case NGX_WS_GATEWAY_REC_REJECT:
        t += sprintf(t, " c%lu", (unsigned long) p->code);
        break;

    case NGX_WS_GATEWAY_REC_CLOSE:
        t += sprintf(t, " c%lu b%lu", (unsigned long) p->code,
                     (unsigned long) p->by);
        break;

    case NGX_WS_GATEWAY_REC_GONE:
        t += sprintf(t, " c%02lx", (unsigned long) p->code);
        break;

    case NGX_WS_GATEWAY_REC_SUBSCRIBE:
    case NGX_WS_GATEWAY_REC_UNSUBSCRIBE:
    case NGX_WS_GATEWAY_REC_PUBLISH:
        t += sprintf(t, " k%lu", (unsigned long) p->channel_len);
        break;
    }

    sprintf(t, ":%lu", (unsigned long) p->left);
}


static void
test_trace_bytes(char *t, u_char *data, size_t len)
{
    size_t  i;

    t += strlen(t);

    if (len > 32) {
        for (i = 0; i < len && data[i] == 'a'; i++) { /* void */ }

        if (i == len) {
            sprintf(t, "a*%lu", (unsigned long) len);
            return;
        }

        len = 32;
    }

    for (i = 0; i < len; i++) {
        if (data[i] > 0x20 && data[i] < 0x7f && data[i] != '\\') {
            *t++ = data[i];

        } else {
            t += sprintf(t, "\\%02x", data[i]);
        }
    }

    *t = '\0';
}


static void
test_trace_body(char *t, ngx_ws_gateway_record_parser_t *p, u_char *body,
    size_t len)
{
    u_char      *pos;
    ngx_int_t    rc;
    ngx_str_t    value;
    ngx_uint_t   type, n;

    if (p->type != NGX_WS_GATEWAY_REC_HELLO
        && p->type != NGX_WS_GATEWAY_REC_OPEN)
    {
        strcat(t, "=");
        test_trace_bytes(t, body, len);
        return;
    }

    strcat(t, "{");
    pos = body;

    for (n = 0; /* void */; n++) {
        rc = ngx_ws_gateway_record_field(&pos, body + len, &type, &value);

        if (rc == NGX_DONE) {
            break;
        }

        if (n) {
            strcat(t, " ");
        }

        if (rc != NGX_OK) {
            strcat(t, "!");
            break;
        }

        sprintf(t + strlen(t), "%02lx=", (unsigned long) type);
        test_trace_bytes(t, value.data, value.len);
    }

    strcat(t, "}");
}


static size_t
test_fixed(ngx_uint_t type)
{
    switch (type) {
    case NGX_WS_GATEWAY_REC_HELLO:
    case NGX_WS_GATEWAY_REC_END:
    case NGX_WS_GATEWAY_REC_REJECT:
        return 10;
    case NGX_WS_GATEWAY_REC_ERROR:
    case NGX_WS_GATEWAY_REC_PUBLISH:
        return 2;
    case NGX_WS_GATEWAY_REC_CLOSE:
        return 11;
    case NGX_WS_GATEWAY_REC_GONE:
        return 9;
    case NGX_WS_GATEWAY_REC_BROADCAST:
        return 0;
    default:
        return 8;
    }
}


/* the record again, from what the parser returned, with the writers */

static size_t
test_encode(u_char *dst, ngx_ws_gateway_record_parser_t *p, u_char *body,
    size_t len)
{
    u_char      *d, *pos;
    ngx_str_t    value;
    ngx_uint_t   type;

    d = ngx_ws_gateway_record_write(dst, p->type, p->flags,
                                    test_fixed(p->type) + len);

    switch (p->type) {

    case NGX_WS_GATEWAY_REC_HELLO:
        d = ngx_ws_gateway_write_uint16(d, p->version);
        d = ngx_ws_gateway_write_uint32(d, p->capabilities);
        d = ngx_ws_gateway_write_uint32(d, p->peer_max_record);
        break;

    case NGX_WS_GATEWAY_REC_PING:
    case NGX_WS_GATEWAY_REC_PONG:
        d = ngx_ws_gateway_write_uint64(d, p->opaque);
        break;

    case NGX_WS_GATEWAY_REC_ERROR:
        d = ngx_ws_gateway_write_uint16(d, p->code);
        break;

    case NGX_WS_GATEWAY_REC_PUBLISH:
        d = ngx_ws_gateway_write_uint16(d, p->channel_len);
        break;

    case NGX_WS_GATEWAY_REC_BROADCAST:
        break;

    default:
        d = ngx_ws_gateway_write_uint64(d, p->session);

        if (p->type == NGX_WS_GATEWAY_REC_CLOSE
            || p->type == NGX_WS_GATEWAY_REC_END
            || p->type == NGX_WS_GATEWAY_REC_REJECT)
        {
            d = ngx_ws_gateway_write_uint16(d, p->code);
        }

        if (p->type == NGX_WS_GATEWAY_REC_CLOSE) {
            *d++ = (u_char) p->by;
        }

        if (p->type == NGX_WS_GATEWAY_REC_GONE) {
            *d++ = (u_char) p->code;
        }
    }

    if (p->type != NGX_WS_GATEWAY_REC_HELLO
        && p->type != NGX_WS_GATEWAY_REC_OPEN)
    {
        d = ngx_cpymem(d, body, len);
        return d - dst;
    }

    pos = body;

    while (ngx_ws_gateway_record_field(&pos, body + len, &type, &value)
           == NGX_OK)
    {
        d = ngx_ws_gateway_record_write_field(d, type, value.data,
                                              value.len);
    }

    /* a field cut short goes as it came */

    d = ngx_cpymem(d, pos, body + len - pos);

    return d - dst;
}


/* returns the number of records parsed */

static ngx_uint_t
test_run(test_record_t *test, u_char *in, size_t len, size_t *splits,
    ngx_uint_t nsplits, char *trace)
{
    u_char                          *buf, *pos;
    size_t                           from, to, blen, start, n;
    ngx_int_t                        rc;
    ngx_str_t                        chunk;
    ngx_buf_t                        b;
    ngx_uint_t                       i, in_body, records;
    static u_char                    body[TEST_STREAM_MAX];
    static u_char                    enc[TEST_STREAM_MAX + 32];
    ngx_ws_gateway_record_parser_t   p;

    ngx_memzero(&p, sizeof(ngx_ws_gateway_record_parser_t));
    p.commands = test->commands;
    p.max_record = test->max_record ? test->max_record : 2000;

    buf = NULL;
    trace[0] = '\0';
    in_body = 0;
    records = 0;
    blen = 0;
    start = 0;
    from = 0;

    for (i = 0; i <= nsplits; i++) {

        to = (i < nsplits) ? splits[i] : len;

        /* exactly the chunk: ASan catches any read past it */

        buf = malloc(to - from + 1);
        ngx_memcpy(buf, in + from, to - from);

        ngx_memzero(&b, sizeof(ngx_buf_t));
        b.start = buf;
        b.pos = buf;
        b.last = buf + (to - from);
        b.end = b.last;

        for ( ;; ) {

            if (!in_body) {
                pos = b.pos;

                if (p.state == 0) {
                    start = from + (pos - buf);
                }

                rc = ngx_ws_gateway_record_parse(&p, &b);

                if (b.pos < pos || b.pos > b.last) {
                    strcat(trace, " #pos");
                    goto done;
                }

                if (rc == NGX_AGAIN) {
                    if (b.pos != b.last || p.have > p.need
                        || p.need > NGX_WS_GATEWAY_REC_HEAD_MAX)
                    {
                        strcat(trace, " #again");
                        goto done;
                    }

                    break;
                }

                if (rc == NGX_ERROR) {
                    if (p.error == NULL || p.error_code == 0) {
                        strcat(trace, " #error");
                        goto done;
                    }

                    sprintf(trace + strlen(trace), "%s!%lu %s",
                            trace[0] ? " " : "",
                            (unsigned long) p.error_code, p.error);
                    goto done;
                }

                if (rc != NGX_OK
                    || p.left != p.length - 2 - test_fixed(p.type))
                {
                    strcat(trace, " #rc");
                    goto done;
                }

                if (trace[0]) {
                    strcat(trace, " ");
                }

                test_trace_head(trace, &p);
                in_body = 1;
                blen = 0;
            }

            pos = b.pos;
            n = p.left;
            rc = ngx_ws_gateway_record_body(&p, &b, &chunk);

            if (chunk.data != pos || b.pos != pos + chunk.len
                || b.pos > b.last || p.left + chunk.len != n)
            {
                strcat(trace, " #chunk");
                goto done;
            }

            if (blen + chunk.len <= TEST_STREAM_MAX) {
                ngx_memcpy(body + blen, chunk.data, chunk.len);
            }

            blen += chunk.len;

            if (rc == NGX_AGAIN) {
                if (b.pos != b.last || p.left == 0) {
                    strcat(trace, " #again");
                    goto done;
                }

                break;
            }

            if (rc != NGX_OK || p.left != 0) {
                strcat(trace, " #rc");
                goto done;
            }

            test_trace_body(trace, &p, body, blen);
            in_body = 0;
            records++;

            /* the writers give back the same bytes */

            n = test_encode(enc, &p, body, blen);

            if (n != from + (b.pos - buf) - start
                || ngx_memcmp(enc, in + start, n) != 0)
            {
                strcat(trace, " #encode");
                goto done;
            }
        }

        free(buf);
        buf = NULL;
        from = to;
    }

    if (in_body) {
        sprintf(trace + strlen(trace), " P%lu", (unsigned long) p.left);

    } else if (p.state != 0) {
        strcat(trace, trace[0] ? " A" : "A");
    }

    return records;

done:

    free(buf);

    return records;
}


static void
test_records(void)
{
    u_char         *in;
    char           *trace;
    size_t          len, i, j, *splits;
    ngx_uint_t      n, bad;
    test_record_t  *t;

    in = malloc(TEST_STREAM_MAX);
    trace = malloc(TEST_TRACE_MAX);
    splits = malloc(TEST_STREAM_MAX * sizeof(size_t));

    for (t = test_records_table; t->name; t++) {

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

        if (len > 300) {
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


/* every CLOSE command code: exactly the list of docs/protocol.md 6.2 */

static void
test_close_codes(void)
{
    u_char                          rec[16];
    ngx_int_t                       rc;
    ngx_buf_t                       b;
    ngx_uint_t                      code, valid, bad;
    ngx_ws_gateway_record_parser_t  p;

    bad = 0;

    for (code = 0; code <= 0xffff; code++) {

        valid = code == 1000 || code == 1001 || code == 1003
                || (code >= 1007 && code <= 1014)
                || (code >= 3000 && code <= 4999);

        unit_hex(rec, "00 00 00 0c 21 00 00 00 d2 a5 c3 00 00 01");
        (void) ngx_ws_gateway_write_uint16(rec + 14, code);

        ngx_memzero(&p, sizeof(ngx_ws_gateway_record_parser_t));
        p.commands = 1;
        p.max_record = 2000;

        ngx_memzero(&b, sizeof(ngx_buf_t));
        b.pos = rec;
        b.last = rec + 16;

        rc = ngx_ws_gateway_record_parse(&p, &b);

        if (valid ? (rc != NGX_OK || p.code != code)
                  : (rc != NGX_ERROR
                     || strcmp(p.error, "bad close code") != 0
                     || p.error_code != NGX_WS_GATEWAY_LINK_ERR_MALFORMED))
        {
            unit_check(0, "CLOSE command code %lu: rc %ld",
                       (unsigned long) code, (long) rc);
            bad++;
        }
    }

    unit_check(bad == 0, "CLOSE command codes: %lu wrong",
               (unsigned long) bad);
}


/* after NGX_ERROR every call returns NGX_ERROR and takes nothing */

static void
test_sticky(void)
{
    u_char                          bad[16], good[16];
    size_t                          n;
    ngx_int_t                       rc;
    ngx_buf_t                       b;
    ngx_str_t                       chunk;
    const char                     *error;
    ngx_uint_t                      i;
    ngx_ws_gateway_record_parser_t  p;

    static const char  *streams[] = {
        "00 00 00 00",                              /* length */
        "00 10 00 00",                              /* too large */
        "00 00 00 0a 10",                           /* other direction */
        "00 00 00 0a 22 01",                        /* flags */
        "00 00 00 0a 22 00 00 00 00 00 00 00 00 00" /* session 0 */
    };

    unit_hex(good, "00 00 00 04 33 00 68 69");

    for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {

        ngx_memzero(&p, sizeof(ngx_ws_gateway_record_parser_t));
        p.commands = 1;
        p.max_record = 2000;

        n = unit_hex(bad, streams[i]);

        ngx_memzero(&b, sizeof(ngx_buf_t));
        b.pos = bad;
        b.last = bad + n;

        rc = ngx_ws_gateway_record_parse(&p, &b);
        error = p.error;

        unit_check(rc == NGX_ERROR && error && p.left == 0,
                   "sticky %lu: first rc %ld", (unsigned long) i, (long) rc);

        /* a good record now, then an empty buffer */

        b.pos = good;
        b.last = good + 8;

        rc = ngx_ws_gateway_record_parse(&p, &b);

        unit_check(rc == NGX_ERROR && b.pos == good && p.error == error,
                   "sticky %lu: rc %ld after an error, %ld bytes taken",
                   (unsigned long) i, (long) rc, (long) (b.pos - good));

        b.pos = good;
        b.last = good;

        rc = ngx_ws_gateway_record_parse(&p, &b);

        unit_check(rc == NGX_ERROR, "sticky %lu: rc %ld on an empty buffer",
                   (unsigned long) i, (long) rc);

        /* record_body() after an error has nothing to give */

        b.pos = good;
        b.last = good + 8;

        rc = ngx_ws_gateway_record_body(&p, &b, &chunk);

        unit_check(rc == NGX_OK && chunk.len == 0 && b.pos == good,
                   "sticky %lu: record_body() after an error",
                   (unsigned long) i);
    }
}


static void
test_fields(void)
{
    u_char      *buf, *pos, *end, *before, *val;
    char         walk[64];
    size_t       n, k;
    ngx_int_t    rc;
    ngx_str_t    value;
    ngx_uint_t   i, j, type;

    static struct {
        const char  *hex;
        const char  *walk;     /* "T:N" per field, "." done, "!" error */
    } tests[] = {
        { "", "." },
        { "01 00 00", "01:0 ." },
        { "01", "!" },
        { "01 00", "!" },
        { "01 00 01", "!" },
        { "01 00 03 61 62", "!" },
        { "01 00 02 61 62", "01:2 ." },
        { "01 00 02 61 62 02", "01:2 !" },
        { "01 00 02 61 62 02 00", "01:2 !" },
        { "01 00 02 61 62 ff 00 01 63", "01:2 ff:1 ." },
        { "10 01 00", "!" },
        { "00 00 00 00 00 00 00 00 00", "00:0 00:0 00:0 ." },
    };

    for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {

        /* exactly the bytes: ASan catches a read past them */

        buf = malloc(strlen(tests[i].hex) / 2 + 1);
        n = unit_hex(buf, tests[i].hex);
        end = buf + n;
        pos = buf;
        walk[0] = '\0';

        for (j = 0; j < 8; j++) {
            before = pos;
            rc = ngx_ws_gateway_record_field(&pos, end, &type, &value);

            if (rc == NGX_DONE) {
                strcat(walk, ".");
                break;
            }

            if (rc != NGX_OK) {
                strcat(walk, (pos == before) ? "!" : "#pos");
                break;
            }

            if (value.data != before + 3 || pos != value.data + value.len
                || pos > end)
            {
                strcat(walk, "#value");
                break;
            }

            sprintf(walk + strlen(walk), "%02lx:%lu ", (unsigned long) type,
                    (unsigned long) value.len);
        }

        unit_check(strcmp(walk, tests[i].walk) == 0,
                   "fields \"%s\": \"%s\", expected \"%s\"",
                   tests[i].hex, walk, tests[i].walk);

        free(buf);
    }

    /*
     * a value of 65535 bytes, written and walked; then the same head
     * over one byte less
     */

    val = malloc(NGX_WS_GATEWAY_FIELD_MAX);
    ngx_memset(val, 'v', NGX_WS_GATEWAY_FIELD_MAX);

    for (k = 0; k < 2; k++) {
        n = NGX_WS_GATEWAY_FIELD_HEAD + NGX_WS_GATEWAY_FIELD_MAX - k;
        buf = malloc(n);
        end = ngx_ws_gateway_record_write_field(buf, 0x11, val,
                                                NGX_WS_GATEWAY_FIELD_MAX - k);

        buf[1] = 0xff;
        buf[2] = 0xff;
        pos = buf;

        rc = ngx_ws_gateway_record_field(&pos, buf + n, &type, &value);

        unit_check(k == 0 ? (rc == NGX_OK && type == 0x11
                             && value.len == 65535 && pos == buf + n
                             && end == buf + n
                             && ngx_memcmp(value.data, val, 65535) == 0)
                          : (rc == NGX_ERROR && pos == buf),
                   "a field of 65535 in %lu bytes: rc %ld",
                   (unsigned long) n, (long) rc);

        free(buf);
    }

    free(val);
}


static void
test_writers(void)
{
    u_char  out[128], want[128], *d;
    size_t  n;

    /* the gateway HELLO of docs/protocol.md 9, from constants */

    n = unit_hex(want, "00 00 00 19  01  00  00 01  00 00 00 00"
                       "  00 10 02 00  01 00 03 67 77 31"
                       "  04 00 04 00 00 13 88");

    d = ngx_ws_gateway_record_write(out, NGX_WS_GATEWAY_REC_HELLO, 0,
                                    10 + 6 + 7);
    d = ngx_ws_gateway_write_uint16(d, NGX_WS_GATEWAY_LINK_VERSION);
    d = ngx_ws_gateway_write_uint32(d, 0);
    d = ngx_ws_gateway_write_uint32(d, 1048576 + 512);
    d = ngx_ws_gateway_record_write_field(d, NGX_WS_GATEWAY_FIELD_NAME,
                                          (u_char *) "gw1", 3);
    d = ngx_ws_gateway_record_write_field(d, NGX_WS_GATEWAY_FIELD_HEARTBEAT,
                                          (u_char *) "\x00\x00\x13\x88", 4);

    unit_check((size_t) (d - out) == n && ngx_memcmp(out, want, n) == 0,
               "the gateway HELLO written");

    /* the OPEN of docs/protocol.md 9 */

    n = unit_hex(want, "00 00 00 37  10  00  00 00 d2 a5 c3 00 00 01"
                 "  10 00 0f 31 32 37 2e 30 2e 30 2e 31 3a 35 30 33 31 32"
                 "  11 00 0c 2f 63 68 61 74 3f 72 6f 6f 6d 3d 31"
                 "  13 00 09 03 73 75 62 61 6c 69 63 65");

    d = ngx_ws_gateway_record_write(out, NGX_WS_GATEWAY_REC_OPEN, 0,
                                    8 + 18 + 15 + 12);
    d = ngx_ws_gateway_write_uint64(d, 0x0000d2a5c3000001ULL);
    d = ngx_ws_gateway_record_write_field(d, NGX_WS_GATEWAY_FIELD_REMOTE,
                                          (u_char *) "127.0.0.1:50312", 15);
    d = ngx_ws_gateway_record_write_field(d, NGX_WS_GATEWAY_FIELD_URI,
                                          (u_char *) "/chat?room=1", 12);
    d = ngx_ws_gateway_record_write_field(d, NGX_WS_GATEWAY_FIELD_PARAM,
                                          (u_char *) "\x03subalice", 9);

    unit_check((size_t) (d - out) == n && ngx_memcmp(out, want, n) == 0,
               "the OPEN written");

    /* heads: empty body, the largest length, flags */

    n = unit_hex(want, "00 00 00 02 33 01");
    d = ngx_ws_gateway_record_write(out, NGX_WS_GATEWAY_REC_BROADCAST,
                                    NGX_WS_GATEWAY_REC_BINARY, 0);

    unit_check(d == out + NGX_WS_GATEWAY_REC_MIN
               && ngx_memcmp(out, want, n) == 0, "an empty BROADCAST head");

    n = unit_hex(want, "ff ff ff ff 20 00");
    d = ngx_ws_gateway_record_write(out, NGX_WS_GATEWAY_REC_SEND, 0,
                                    0xfffffffd);

    unit_check(d == out + NGX_WS_GATEWAY_REC_MIN
               && ngx_memcmp(out, want, n) == 0, "the largest SEND head");

    n = unit_hex(want, "11 00 00 ee");
    ngx_memset(out, 0xee, sizeof(out));
    d = ngx_ws_gateway_record_write_field(out, 0x11, NULL, 0);

    unit_check(d == out + 3 && ngx_memcmp(out, want, n) == 0,
               "an empty field");
}


static void
test_names(void)
{
    ngx_uint_t   i, known;
    const char  *name;

    static struct {
        ngx_uint_t   type;
        const char  *name;
    } names[] = {
        { 0x01, "HELLO" }, { 0x02, "PING" }, { 0x03, "PONG" },
        { 0x04, "ERROR" }, { 0x10, "OPEN" }, { 0x11, "MESSAGE" },
        { 0x12, "CLOSE" }, { 0x13, "GONE" }, { 0x14, "REFUSED" },
        { 0x15, "DROPPED" }, { 0x20, "SEND" },
        { 0x21, "CLOSE" }, { 0x22, "ACCEPT" }, { 0x23, "REJECT" },
        { 0x30, "SUBSCRIBE" }, { 0x31, "UNSUBSCRIBE" },
        { 0x32, "PUBLISH" }, { 0x33, "BROADCAST" }
    };

    known = 0;

    for (i = 0; i < 0x200; i++) {
        name = ngx_ws_gateway_record_name(i);

        if (name) {
            known++;
        }
    }

    unit_check(known == sizeof(names) / sizeof(names[0]),
               "record_name() knows %lu types", (unsigned long) known);

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        name = ngx_ws_gateway_record_name(names[i].type);

        unit_check(name && strcmp(name, names[i].name) == 0,
                   "record_name(0x%02lx): \"%s\"",
                   (unsigned long) names[i].type, name ? name : "NULL");
    }
}


/* many random records in one stream, cut at random points */

static void
test_random(void)
{
    u_char                          *in, *d, *rec;
    char                            *trace;
    size_t                           len, k, body, tmp, *splits;
    uint64_t                         seed, r;
    ngx_uint_t                       round, i, n, records, type, dir;
    test_record_t                    t;
    ngx_ws_gateway_record_parser_t   p;

    static ngx_uint_t  types[2][12] = {
        { 0x01, 0x02, 0x03, 0x04, 0x10, 0x11, 0x12, 0x13, 0, 0, 0, 0 },
        { 0x01, 0x02, 0x03, 0x04, 0x20, 0x21, 0x22, 0x23, 0x30, 0x31,
          0x32, 0x33 }
    };

    in = malloc(TEST_STREAM_MAX);
    trace = malloc(TEST_TRACE_MAX * 32);
    rec = malloc(1024);
    splits = malloc(TEST_STREAM_MAX * sizeof(size_t));
    seed = 11;

    for (round = 0; round < 200; round++) {

        dir = round & 1;
        len = 0;
        records = 0;

        ngx_memzero(&p, sizeof(ngx_ws_gateway_record_parser_t));

        while (len < 8192) {
            r = unit_random(&seed);
            type = types[dir][r % (dir ? 12 : 8)];
            r >>= 8;

            p.type = type;
            p.flags = 0;
            p.session = (r & 0xffff) + 1;
            p.version = 1;
            p.capabilities = r & 3;
            p.peer_max_record = 1024 + (r & 0xffff);
            p.opaque = r;
            p.by = r % 3;
            p.code = 1000;

            body = (r >> 16) % 100;

            switch (type) {
            case 0x02:
            case 0x03:
            case 0x22:
                body = 0;
                break;
            case 0x13:
                body = 0;
                p.code = 0x20;
                break;
            case 0x23:
                p.code = 400 + r % 200;
                break;
            case 0x30:
            case 0x31:
                body = 1 + body;
                break;
            case 0x32:
                p.channel_len = 1 + (r >> 24) % 50;
                body += p.channel_len;
                break;
            case 0x11:
            case 0x20:
            case 0x33:
                p.flags = r & 1;
                break;
            case 0x10:
                p.flags = r & 3;
                break;
            }

            /* HELLO and OPEN bodies are fields */

            if (type == 0x01 || type == 0x10) {
                d = rec;

                for (k = 0; k < body % 4; k++) {
                    d = ngx_ws_gateway_record_write_field(d, k,
                                                          (u_char *) "abcdef",
                                                          k * 2);
                }

                body = d - rec;

            } else {
                for (k = 0; k < body; k++) {
                    rec[k] = (u_char) (unit_random(&seed));
                }
            }

            len += test_encode(in + len, &p, rec, body);
            records++;
        }

        t.name = "random";
        t.commands = dir;
        t.max_record = 2000;
        t.stream = NULL;
        t.trace = NULL;

        n = unit_random(&seed) % 64;

        for (i = 0; i < n; i++) {
            splits[i] = unit_random(&seed) % (len + 1);
        }

        /* in order */

        for (i = 1; i < n; i++) {
            for (k = i; k > 0 && splits[k - 1] > splits[k]; k--) {
                tmp = splits[k];
                splits[k] = splits[k - 1];
                splits[k - 1] = tmp;
            }
        }

        i = test_run(&t, in, len, splits, n, trace);

        /* no error: its item, or a "#" marker, follows a space */

        unit_check(i == records && strstr(trace, " #") == NULL
                   && trace[0] != '!' && strstr(trace, " !") == NULL,
                   "random round %lu: %lu of %lu records: %.200s",
                   (unsigned long) round, (unsigned long) i,
                   (unsigned long) records, trace);
    }

    free(in);
    free(rec);
    free(trace);
    free(splits);
}
