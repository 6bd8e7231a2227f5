
/*
 * Copyright (C) ngx_ws_gateway_module authors
 */


#ifndef _WS_LOAD_FRAME_H_INCLUDED_
#define _WS_LOAD_FRAME_H_INCLUDED_


#include "ws_load.h"


#define WSL_OP_CONT            0x0
#define WSL_OP_TEXT            0x1
#define WSL_OP_BINARY          0x2
#define WSL_OP_CLOSE           0x8
#define WSL_OP_PING            0x9
#define WSL_OP_PONG            0xa

#define WSL_CTRL_MAX           125

/* the first bytes of each data message kept (subscribe mode reads them) */
#define WSL_HEAD_MAX           48

/* the largest client frame header: 2 + 8 length + 4 mask bytes */
#define WSL_FRAME_HEADER_MAX   14

#define WSL_KEY_LEN            24
#define WSL_ACCEPT_LEN         28


/* results of wsl_frame_parse() besides WSL_AGAIN and WSL_DONE */
#define WSL_FRAME_BAD_RSV      -10
#define WSL_FRAME_MASKED       -11
#define WSL_FRAME_BAD_OPCODE   -12
#define WSL_FRAME_BAD_CONTROL  -13
#define WSL_FRAME_BAD_CONT     -14
#define WSL_FRAME_BAD_LENGTH   -15


/*
 * Streaming parser of server frames.  Data payloads are counted and
 * skipped, never buffered, but for their first WSL_HEAD_MAX bytes, kept
 * in head[]; control payloads (at most 125 bytes) are kept in ctrl[] so
 * that pings can be answered and close codes read.
 */

typedef struct {
    unsigned            state;
    unsigned            fin:1;
    unsigned            opcode:4;
    unsigned            msg_opcode:4;    /* of the message in progress */
    unsigned            in_message:1;
    unsigned            len_bytes;       /* extended length bytes left */
    uint64_t            length;          /* payload length of the frame */
    uint64_t            left;            /* payload bytes still unseen */
    uint64_t            msg_len;         /* message payload so far */
    size_t              ctrl_len;
    unsigned char       ctrl[WSL_CTRL_MAX];
    unsigned char       head[WSL_HEAD_MAX];
} wsl_frame_parser_t;


int wsl_frame_parse(wsl_frame_parser_t *fp, const unsigned char **pos,
    const unsigned char *last);
size_t wsl_frame_header(unsigned char *buf, unsigned fin, unsigned opcode,
    uint64_t len, const unsigned char mask[4]);
size_t wsl_frame_build(unsigned char *buf, unsigned opcode,
    const unsigned char *payload, size_t len, const unsigned char mask[4]);
void wsl_frame_mask(unsigned char *dst, const unsigned char *src, size_t n,
    const unsigned char mask[4]);
const char *wsl_frame_strerror(int rc);

int wsl_handshake_key(char key[WSL_KEY_LEN + 1],
    char accept[WSL_ACCEPT_LEN + 1]);
void wsl_handshake_accept(const char key[WSL_KEY_LEN],
    char accept[WSL_ACCEPT_LEN + 1]);
int wsl_handshake_check(const char *buf, size_t len, const char *accept,
    int *status);
int wsl_handshake_request(const char *buf, size_t len,
    char key[WSL_KEY_LEN + 1]);


#endif /* _WS_LOAD_FRAME_H_INCLUDED_ */
