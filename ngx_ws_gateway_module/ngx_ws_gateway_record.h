
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#ifndef _NGX_WS_GATEWAY_RECORD_H_INCLUDED_
#define _NGX_WS_GATEWAY_RECORD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * The link-record codec (docs/protocol.md): a pure, incremental state
 * machine like the frame engine.  No I/O, no request, no allocation.  A
 * record is
 *
 *     length  u32   bytes that follow this field, 2 or more
 *     type    u8
 *     flags   u8
 *     body    length - 2 bytes: a fixed part by type, then the rest
 *
 * all integers in network byte order.  The parser takes a record's head
 * (length, type, flags and the fixed part of the body) into itself, byte
 * by byte if it comes so, and then hands out the rest of the body as
 * chunks of the buffer: records may be split at any byte, and the buffer
 * may be released or replaced between any two calls.
 *
 * The codec checks a record's framing and its fixed fields (section 8 of
 * docs/protocol.md), not its meaning: UTF-8 is not checked here (the
 * caller checks text bodies: a text SEND, close reasons), nor the
 * version of a HELLO, capabilities, ERROR codes, whether a type is
 * allowed at this point of the link (before HELLO, channels without
 * CHANNELS) or whether a session is known.
 */


#define NGX_WS_GATEWAY_LINK_VERSION         1

/* the smallest record: length, type and flags */
#define NGX_WS_GATEWAY_REC_MIN              6

/* record types: both ways */
#define NGX_WS_GATEWAY_REC_HELLO            0x01
#define NGX_WS_GATEWAY_REC_PING             0x02
#define NGX_WS_GATEWAY_REC_PONG             0x03
#define NGX_WS_GATEWAY_REC_ERROR            0x04

/* events: gateway to backend */
#define NGX_WS_GATEWAY_REC_OPEN             0x10
#define NGX_WS_GATEWAY_REC_MESSAGE          0x11
#define NGX_WS_GATEWAY_REC_CLOSE            0x12
#define NGX_WS_GATEWAY_REC_GONE             0x13
#define NGX_WS_GATEWAY_REC_REFUSED          0x14   /* u64, u8 type, u8 code */
#define NGX_WS_GATEWAY_REC_DROPPED          0x15   /* u64, u32 count */

/* commands: backend to gateway */
#define NGX_WS_GATEWAY_REC_SEND             0x20
#define NGX_WS_GATEWAY_REC_END              0x21   /* "CLOSE" command */
#define NGX_WS_GATEWAY_REC_ACCEPT           0x22
#define NGX_WS_GATEWAY_REC_REJECT           0x23
#define NGX_WS_GATEWAY_REC_SUBSCRIBE        0x30
#define NGX_WS_GATEWAY_REC_UNSUBSCRIBE      0x31
#define NGX_WS_GATEWAY_REC_PUBLISH          0x32
#define NGX_WS_GATEWAY_REC_BROADCAST        0x33

/* 0x40 to 0x4f: flow control, reserved */

/* flags */
#define NGX_WS_GATEWAY_REC_BINARY           0x01   /* MESSAGE, SEND, ... */
#define NGX_WS_GATEWAY_REC_REANNOUNCE       0x01   /* OPEN */
#define NGX_WS_GATEWAY_REC_APPROVE          0x02   /* OPEN */

/* who closed, in a CLOSE event */
#define NGX_WS_GATEWAY_BY_CLIENT            0
#define NGX_WS_GATEWAY_BY_GATEWAY           1
#define NGX_WS_GATEWAY_BY_BACKEND           2

/* ERROR codes (docs/protocol.md, section 8) */
#define NGX_WS_GATEWAY_LINK_ERR_MALFORMED   1
#define NGX_WS_GATEWAY_LINK_ERR_VERSION     2
#define NGX_WS_GATEWAY_LINK_ERR_TOO_LARGE   3
#define NGX_WS_GATEWAY_LINK_ERR_UNKNOWN     4
#define NGX_WS_GATEWAY_LINK_ERR_NOT_NOW     5
#define NGX_WS_GATEWAY_LINK_ERR_GOING_AWAY  6

/* fields of HELLO and OPEN: type u8, length u16, value */
#define NGX_WS_GATEWAY_FIELD_NAME           0x01   /* HELLO */
#define NGX_WS_GATEWAY_FIELD_SOFTWARE       0x02   /* HELLO */
#define NGX_WS_GATEWAY_FIELD_WORKER         0x03   /* HELLO: pid, slot */
#define NGX_WS_GATEWAY_FIELD_HEARTBEAT      0x04   /* HELLO: u32 ms */
#define NGX_WS_GATEWAY_FIELD_LINK           0x05   /* HELLO: u32 index */
#define NGX_WS_GATEWAY_FIELD_REMOTE         0x10   /* OPEN */
#define NGX_WS_GATEWAY_FIELD_URI            0x11   /* OPEN */
#define NGX_WS_GATEWAY_FIELD_SUBPROTOCOL    0x12   /* OPEN */
#define NGX_WS_GATEWAY_FIELD_PARAM          0x13   /* OPEN: u8 n, name,
                                                      value */
#define NGX_WS_GATEWAY_FIELD_CHANNEL        0x14   /* OPEN, re-announce */
#define NGX_WS_GATEWAY_FIELD_DROPPED        0x15   /* OPEN, re-announce */
#define NGX_WS_GATEWAY_FIELD_UNSENT         0x16   /* OPEN, re-announce */
#define NGX_WS_GATEWAY_FIELD_UNCONFIRMED    0x17   /* OPEN, re-announce */

/* capabilities, in HELLO */
#define NGX_WS_GATEWAY_CAP_CHANNELS         0x1

#define NGX_WS_GATEWAY_FIELD_HEAD           3
#define NGX_WS_GATEWAY_FIELD_MAX            65535

/* body limits */
#define NGX_WS_GATEWAY_REASON_MAX           123    /* close reasons */
#define NGX_WS_GATEWAY_ERROR_TEXT_MAX       1024
#define NGX_WS_GATEWAY_CHANNEL_MAX          255

/* the smallest max_record a backend may announce in its HELLO */
#define NGX_WS_GATEWAY_MAX_RECORD_MIN       1024

/* the largest record head: length, type, flags, fixed body part */
#define NGX_WS_GATEWAY_REC_HEAD_MAX         (NGX_WS_GATEWAY_REC_MIN + 12)


typedef struct {
    /*
     * set by the caller: the largest length field accepted (at least
     * NGX_WS_GATEWAY_REC_HEAD_MAX); commands set: the records a backend
     * sends are parsed, clear: those a gateway sends
     */
    uint32_t                  max_record;
    unsigned                  commands:1;

    ngx_uint_t                state;
    ngx_uint_t                have;           /* head bytes taken */
    ngx_uint_t                need;           /* head bytes in all */
    u_char                    head[NGX_WS_GATEWAY_REC_HEAD_MAX];

    /* the record; valid after NGX_OK from record_parse() */
    uint32_t                  length;         /* the length field */
    ngx_uint_t                type;
    ngx_uint_t                flags;
    uint64_t                  session;        /* 0 for link records */

    /*
     * by type: HELLO: version, capabilities, max_record; PING, PONG:
     * opaque; ERROR: code; CLOSE event: code, by; CLOSE command: code;
     * REJECT: code (an HTTP status); PUBLISH: channel_len; SUBSCRIBE,
     * UNSUBSCRIBE: channel_len (the whole rest); GONE: code (the type of
     * the command answered); all others 0
     */
    ngx_uint_t                version;
    uint32_t                  capabilities;
    uint32_t                  peer_max_record;
    uint64_t                  opaque;
    ngx_uint_t                code;
    ngx_uint_t                by;
    ngx_uint_t                channel_len;

    /* the rest of the body, to be taken with record_body() */
    uint32_t                  left;

    /*
     * set on NGX_ERROR: a static reason and the code of the ERROR record
     * to answer with (NGX_WS_GATEWAY_LINK_ERR_*): TOO_LARGE (3) for a
     * length above max_record, UNKNOWN (4) for a type that is unknown or
     * of the other direction, MALFORMED (1) for everything else; codes 2
     * and 5 are the caller's to find
     */
    const char               *error;
    ngx_uint_t                error_code;
} ngx_ws_gateway_record_parser_t;


/*
 * Parses one record's head from b->pos, advancing b->pos.
 *
 * NGX_AGAIN  the buffer was exhausted inside a head;
 * NGX_OK     a head is complete and checked (type known in this
 *            direction, flags defined for the type, length within
 *            max_record and within the type's bounds, the fixed fields'
 *            values): the rest of the body (p->left bytes) follows;
 * NGX_ERROR  a malformed record: p->error and p->error_code say what.
 *
 * After NGX_OK the caller takes the body with record_body() until it
 * returns NGX_OK (for an empty body too) before calling record_parse()
 * again.  After NGX_ERROR the parser is not to be used again: an error
 * is sticky, every later call returns NGX_ERROR and takes no byte.
 *
 * Checked at the head: length 2 or more and at most max_record; the type
 * known in this direction; flags defined for the type (BINARY for
 * MESSAGE, SEND, PUBLISH, BROADCAST; REANNOUNCE and APPROVE for OPEN;
 * none otherwise); length exact (PING, PONG, GONE, ACCEPT) or at least
 * the fixed part, reasons at most NGX_WS_GATEWAY_REASON_MAX, ERROR and
 * REJECT texts at most NGX_WS_GATEWAY_ERROR_TEXT_MAX, channels 1 to
 * NGX_WS_GATEWAY_CHANNEL_MAX bytes and within the body; a session id
 * not 0; a CLOSE command's code in the list of docs/protocol.md 6.2; a
 * REJECT status 400 to 599; a CLOSE event's "by" 0 to 2; a backend's
 * HELLO max_record (commands set) at least NGX_WS_GATEWAY_MAX_RECORD_MIN.
 */
ngx_int_t ngx_ws_gateway_record_parse(ngx_ws_gateway_record_parser_t *p,
    ngx_buf_t *b);

/*
 * Takes up to p->left body bytes from b->pos, sets *chunk to them and
 * advances b->pos: NGX_OK when the body is complete, NGX_AGAIN when more
 * is to come.
 */
ngx_int_t ngx_ws_gateway_record_body(ngx_ws_gateway_record_parser_t *p,
    ngx_buf_t *b, ngx_str_t *chunk);

/*
 * Walks the fields of a complete HELLO or OPEN body from *pos: NGX_OK
 * with *type and *value set and *pos advanced, NGX_DONE at end, NGX_ERROR
 * for a field cut short.
 */
ngx_int_t ngx_ws_gateway_record_field(u_char **pos, u_char *end,
    ngx_uint_t *type, ngx_str_t *value);

/*
 * Writes a record's length, type and flags (NGX_WS_GATEWAY_REC_MIN
 * bytes) for a body of body_len bytes and returns the end.
 */
u_char *ngx_ws_gateway_record_write(u_char *dst, ngx_uint_t type,
    ngx_uint_t flags, size_t body_len);

/*
 * writes a field's head and value and returns the end; with value NULL,
 * the head only, for a value of len bytes that the caller writes (an
 * empty value may have a null pointer)
 */
u_char *ngx_ws_gateway_record_write_field(u_char *dst, ngx_uint_t type,
    u_char *value, size_t len);

/* the name of a record type for logs ("SEND"), or NULL if unknown */
const char *ngx_ws_gateway_record_name(ngx_uint_t type);


#endif /* _NGX_WS_GATEWAY_RECORD_H_INCLUDED_ */
