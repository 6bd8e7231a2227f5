
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#ifndef _NGX_WS_GATEWAY_PARSE_H_INCLUDED_
#define _NGX_WS_GATEWAY_PARSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * The RFC 6455 frame engine: a pure, incremental state machine.
 * No I/O, no request, no allocation: it reads bytes from an ngx_buf_t,
 * unmasks payload in place and reports what it found.  Header bytes are
 * consumed into the parser, which keeps no pointer into the buffer: the
 * buffer may be released or replaced between any two calls.
 */


#define NGX_WS_GATEWAY_OP_CONT              0x0
#define NGX_WS_GATEWAY_OP_TEXT              0x1
#define NGX_WS_GATEWAY_OP_BINARY            0x2
#define NGX_WS_GATEWAY_OP_CLOSE             0x8
#define NGX_WS_GATEWAY_OP_PING              0x9
#define NGX_WS_GATEWAY_OP_PONG              0xa

#define ngx_ws_gateway_op_is_control(op)    ((op) & 0x8)

#define NGX_WS_GATEWAY_FIN                  0x80
#define NGX_WS_GATEWAY_RSV1                 0x40
#define NGX_WS_GATEWAY_RSV2                 0x20
#define NGX_WS_GATEWAY_RSV3                 0x10

#define NGX_WS_GATEWAY_CONTROL_MAX          125
#define NGX_WS_GATEWAY_HEADER_MAX           14   /* 2 + 8 + 4 (mask) */
#define NGX_WS_GATEWAY_SERVER_HEADER_MAX    10   /* never masked */

#define NGX_WS_GATEWAY_CLOSE_NORMAL         1000
#define NGX_WS_GATEWAY_CLOSE_GOING_AWAY     1001
#define NGX_WS_GATEWAY_CLOSE_PROTOCOL       1002
#define NGX_WS_GATEWAY_CLOSE_UNSUPPORTED    1003
#define NGX_WS_GATEWAY_CLOSE_NO_STATUS      1005
#define NGX_WS_GATEWAY_CLOSE_ABNORMAL       1006
#define NGX_WS_GATEWAY_CLOSE_INVALID_DATA   1007
#define NGX_WS_GATEWAY_CLOSE_POLICY         1008
#define NGX_WS_GATEWAY_CLOSE_TOO_BIG        1009
#define NGX_WS_GATEWAY_CLOSE_INTERNAL       1011
#define NGX_WS_GATEWAY_CLOSE_TRY_AGAIN      1013


/* network byte order, for any alignment when NGX_HAVE_NONALIGNED */

#if (NGX_HAVE_NONALIGNED)

#define ngx_ws_gateway_parse_uint16(p)  ntohs(*(uint16_t *) (p))
#define ngx_ws_gateway_parse_uint32(p)  ntohl(*(uint32_t *) (p))

#else

#define ngx_ws_gateway_parse_uint16(p)  ((p)[0] << 8 | (p)[1])
#define ngx_ws_gateway_parse_uint32(p)                                       \
    ((uint32_t) (p)[0] << 24 | (p)[1] << 16 | (p)[2] << 8 | (p)[3])

#endif

#define ngx_ws_gateway_parse_uint64(p)                                       \
    ((uint64_t) ngx_ws_gateway_parse_uint32(p) << 32                         \
     | ngx_ws_gateway_parse_uint32((p) + 4))


#define ngx_ws_gateway_write_uint16_aligned(p, s)                            \
    (*(uint16_t *) (p) = htons((uint16_t) (s)), (p) + sizeof(uint16_t))
#define ngx_ws_gateway_write_uint32_aligned(p, s)                            \
    (*(uint32_t *) (p) = htonl((uint32_t) (s)), (p) + sizeof(uint32_t))
#define ngx_ws_gateway_write_uint64_aligned(p, s)                            \
    (*(uint32_t *) (p) = htonl((uint32_t) ((uint64_t) (s) >> 32)),           \
     *(uint32_t *) ((p) + 4) = htonl((uint32_t) (s)),                        \
     (p) + sizeof(uint64_t))

#if (NGX_HAVE_NONALIGNED)

#define ngx_ws_gateway_write_uint16  ngx_ws_gateway_write_uint16_aligned
#define ngx_ws_gateway_write_uint32  ngx_ws_gateway_write_uint32_aligned
#define ngx_ws_gateway_write_uint64  ngx_ws_gateway_write_uint64_aligned

#else

#define ngx_ws_gateway_write_uint16(p, s)                                    \
    ((p)[0] = (u_char) ((s) >> 8),                                           \
     (p)[1] = (u_char)  (s),                                                 \
     (p) + sizeof(uint16_t))

#define ngx_ws_gateway_write_uint32(p, s)                                    \
    ((p)[0] = (u_char) ((s) >> 24),                                          \
     (p)[1] = (u_char) ((s) >> 16),                                          \
     (p)[2] = (u_char) ((s) >> 8),                                           \
     (p)[3] = (u_char)  (s),                                                 \
     (p) + sizeof(uint32_t))

#define ngx_ws_gateway_write_uint64(p, s)                                    \
    ((p)[0] = (u_char) ((uint64_t) (s) >> 56),                               \
     (p)[1] = (u_char) ((uint64_t) (s) >> 48),                               \
     (p)[2] = (u_char) ((uint64_t) (s) >> 40),                               \
     (p)[3] = (u_char) ((uint64_t) (s) >> 32),                               \
     (p)[4] = (u_char) ((s) >> 24),                                          \
     (p)[5] = (u_char) ((s) >> 16),                                          \
     (p)[6] = (u_char) ((s) >> 8),                                           \
     (p)[7] = (u_char)  (s),                                                 \
     (p) + sizeof(uint64_t))

#endif


typedef struct {
    /*
     * limits and negotiation, set by the caller; 0 means no limit;
     * max_frame applies to every frame, max_message to the sum of the
     * lengths of a message's data frames; client set: frames must be
     * masked, client clear: frames must not be masked (RFC 6455 5.1)
     */
    uint64_t                  max_frame;
    uint64_t                  max_message;

    /* the frame being parsed; valid after NGX_OK from parse_frame() */
    uint64_t                  length;          /* payload length */
    uint64_t                  left;            /* payload bytes to come */

    /*
     * the message being assembled: message_opcode is TEXT or BINARY
     * from the header of a message's first frame until the payload of
     * its final frame has been taken, 0 otherwise (so, during any data
     * frame's payload, it is the message's type); message_rsv is the
     * first frame's RSV bits (RSV1: compressed); message_size is the sum
     * of the lengths of the message's frames parsed so far
     */
    uint64_t                  message_size;

    /* set on NGX_ERROR: the close code to send and a static reason */
    const char               *error;
    uint16_t                  close_code;

    u_char                    mask[4];
    u_char                    mask_offset;
    u_char                    state;
    u_char                    opcode;
    u_char                    rsv;             /* RSV bits as on the wire */
    u_char                    message_opcode;
    u_char                    message_rsv;     /* RSV bits of 1st frame */
    u_char                    rsv_allowed;     /* NGX_WS_GATEWAY_RSV* mask */

    unsigned                  client:1;
    unsigned                  fin:1;
    unsigned                  masked:1;
    unsigned                  length_bytes:4;  /* extended length to read */
} ngx_ws_gateway_parser_t;


/*
 * Parses one frame header from b->pos, advancing b->pos.
 *
 * NGX_AGAIN  the buffer was exhausted inside a header;
 * NGX_OK     a header is complete: opcode, fin, rsv, length, mask are
 *            set, message sequencing and limits have been checked, and
 *            the payload (p->left bytes) follows at b->pos;
 * NGX_ERROR  a protocol violation: p->close_code (1002 or 1009) and
 *            p->error ("unmasked frame", ...) say what.
 *
 * After NGX_OK the caller takes the payload with parse_payload(), until
 * it returns NGX_OK, before calling parse_frame() again; this holds for a
 * zero-length payload too, as the message state is updated there.
 * After NGX_ERROR the parser is not to be used again.
 */
ngx_int_t ngx_ws_gateway_parse_frame(ngx_ws_gateway_parser_t *p,
    ngx_buf_t *b);

/*
 * Takes up to p->left payload bytes from b->pos, unmasks them in place,
 * sets *chunk to them and advances b->pos.  Returns NGX_OK when the
 * frame's payload is complete (the message state is updated: a final
 * data frame closes the message), NGX_AGAIN when more is to come.
 * A zero-length payload returns NGX_OK with an empty chunk.
 */
ngx_int_t ngx_ws_gateway_parse_payload(ngx_ws_gateway_parser_t *p,
    ngx_buf_t *b, ngx_str_t *chunk);

/* XORs n bytes with the mask starting at *offset, a word at a time */
void ngx_ws_gateway_unmask(u_char *data, size_t n, u_char *mask,
    ngx_uint_t *offset);

/*
 * Writes an unmasked frame header in the shortest length form and
 * returns the end; flags are NGX_WS_GATEWAY_FIN | NGX_WS_GATEWAY_RSV*.
 * At most NGX_WS_GATEWAY_SERVER_HEADER_MAX bytes are written; length
 * must be below 2^63.
 */
u_char *ngx_ws_gateway_write_frame_header(u_char *dst, ngx_uint_t opcode,
    ngx_uint_t flags, uint64_t length);

/*
 * Validates a close frame payload.  Returns 0 when it is valid, setting
 * *code (1005 for an empty payload) and *reason; otherwise the close code
 * to answer with: 1002 (one-byte payload, a code not allowed on the wire)
 * or 1007 (a reason that is not UTF-8).  *code and *reason are set to
 * what was received whenever the payload has at least two bytes (0 and
 * empty for a one-byte payload), so that a refusal can be logged.
 */
ngx_uint_t ngx_ws_gateway_parse_close(u_char *data, size_t len,
    ngx_uint_t *code, ngx_str_t *reason);


/*
 * Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF).  *state starts at 0 and stays between calls;
 * NGX_ERROR is returned by the call holding the first invalid byte, even
 * if that byte is inside a sequence (0xED 0xA0 fails on 0xA0), and the
 * state then rejects everything.  A message is valid when the last call
 * returned NGX_OK and the state is complete again.
 */
#define NGX_WS_GATEWAY_UTF8_ACCEPT          0

#define ngx_ws_gateway_utf8_complete(state)                                  \
    ((state) == NGX_WS_GATEWAY_UTF8_ACCEPT)

ngx_int_t ngx_ws_gateway_utf8_check(ngx_uint_t *state, u_char *data,
    size_t n);


/*
 * SipHash-2-4 of len bytes at p under a 128-bit key: for hash tables of
 * names that others choose (channels), which a random key keeps apart
 */
uint64_t ngx_ws_gateway_siphash(const uint64_t key[2], u_char *p, size_t len);


#endif /* _NGX_WS_GATEWAY_PARSE_H_INCLUDED_ */
