
/*
 * Copyright (C) ngx_ws_gateway_module authors
 */


#include "ws_load_frame.h"

#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <openssl/evp.h>
#include <openssl/sha.h>


#define WSL_WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


static const char *wsl_header_value(const char *line, const char *end,
    const char *name, size_t *len);
static int wsl_has_token(const char *value, size_t len, const char *token);


/*
 * Consumes bytes from *pos up to last.  Returns WSL_AGAIN when the input
 * is exhausted in the middle of a frame, WSL_DONE when a frame (header
 * and payload) is complete, with fp->opcode, fp->fin, fp->length,
 * fp->msg_len and, for control frames, fp->ctrl describing it, or a
 * negative WSL_FRAME_* error.  *pos is advanced past what was consumed.
 */

int
wsl_frame_parse(wsl_frame_parser_t *fp, const unsigned char **pos,
    const unsigned char *last)
{
    size_t                n, k;
    unsigned char         ch;
    const unsigned char  *p;

    enum {
        sw_start = 0,
        sw_length,
        sw_length_ext,
        sw_payload
    };

    p = *pos;

    while (p < last) {

        switch (fp->state) {

        case sw_start:
            ch = *p++;

            if (ch & 0x70) {
                return WSL_FRAME_BAD_RSV;
            }

            fp->fin = (ch & 0x80) ? 1 : 0;
            fp->opcode = ch & 0x0f;

            switch (fp->opcode) {

            case WSL_OP_CONT:
                if (!fp->in_message) {
                    return WSL_FRAME_BAD_CONT;
                }
                break;

            case WSL_OP_TEXT:
            case WSL_OP_BINARY:
                if (fp->in_message) {
                    return WSL_FRAME_BAD_CONT;
                }

                fp->in_message = 1;
                fp->msg_opcode = fp->opcode;
                fp->msg_len = 0;
                break;

            case WSL_OP_CLOSE:
            case WSL_OP_PING:
            case WSL_OP_PONG:
                if (!fp->fin) {
                    return WSL_FRAME_BAD_CONTROL;
                }
                break;

            default:
                return WSL_FRAME_BAD_OPCODE;
            }

            fp->state = sw_length;
            break;

        case sw_length:
            ch = *p++;

            if (ch & 0x80) {
                return WSL_FRAME_MASKED;
            }

            fp->length = ch & 0x7f;

            if (fp->length == 126) {
                fp->len_bytes = 2;
                fp->length = 0;
                fp->state = sw_length_ext;
                break;
            }

            if (fp->length == 127) {
                fp->len_bytes = 8;
                fp->length = 0;
                fp->state = sw_length_ext;
                break;
            }

            goto header_done;

        case sw_length_ext:
            fp->length = (fp->length << 8) | *p++;

            if (--fp->len_bytes) {
                break;
            }

            if (fp->length >> 63) {
                return WSL_FRAME_BAD_LENGTH;
            }

            goto header_done;

        case sw_payload:
            n = last - p;

            if (n > fp->left) {
                n = fp->left;
            }

            if (fp->opcode >= WSL_OP_CLOSE) {
                memcpy(fp->ctrl + fp->ctrl_len, p, n);
                fp->ctrl_len += n;

            } else {
                if (fp->msg_len < WSL_HEAD_MAX) {
                    k = WSL_HEAD_MAX - fp->msg_len;
                    memcpy(fp->head + fp->msg_len, p, n < k ? n : k);
                }

                fp->msg_len += n;
            }

            p += n;
            fp->left -= n;

            if (fp->left == 0) {
                goto frame_done;
            }

            break;
        }

        continue;

    header_done:

        if (fp->opcode >= WSL_OP_CLOSE && fp->length > WSL_CTRL_MAX) {
            return WSL_FRAME_BAD_CONTROL;
        }

        fp->left = fp->length;
        fp->ctrl_len = 0;

        if (fp->left) {
            fp->state = sw_payload;
            continue;
        }

    frame_done:

        fp->state = sw_start;

        if (fp->opcode < WSL_OP_CLOSE && fp->fin) {
            fp->in_message = 0;
        }

        *pos = p;
        return WSL_DONE;
    }

    *pos = p;
    return WSL_AGAIN;
}


/*
 * Writes a masked client frame header into buf (WSL_FRAME_HEADER_MAX
 * bytes at least) and returns its size.
 */

size_t
wsl_frame_header(unsigned char *buf, unsigned fin, unsigned opcode,
    uint64_t len, const unsigned char mask[4])
{
    int             i;
    unsigned char  *p;

    p = buf;

    *p++ = (fin ? 0x80 : 0) | (opcode & 0x0f);

    if (len < 126) {
        *p++ = 0x80 | (unsigned char) len;

    } else if (len <= 0xffff) {
        *p++ = 0x80 | 126;
        *p++ = (unsigned char) (len >> 8);
        *p++ = (unsigned char) len;

    } else {
        *p++ = 0x80 | 127;

        for (i = 7; i >= 0; i--) {
            *p++ = (unsigned char) (len >> (i * 8));
        }
    }

    memcpy(p, mask, 4);
    p += 4;

    return p - buf;
}


/*
 * A whole masked client frame (fin set): the header, then the payload
 * masked; buf must hold WSL_FRAME_HEADER_MAX + len bytes.  Returns the
 * frame's length.
 */

size_t
wsl_frame_build(unsigned char *buf, unsigned opcode,
    const unsigned char *payload, size_t len, const unsigned char mask[4])
{
    size_t  hlen;

    hlen = wsl_frame_header(buf, 1, opcode, len, mask);
    wsl_frame_mask(buf + hlen, payload, len, mask);

    return hlen + len;
}


void
wsl_frame_mask(unsigned char *dst, const unsigned char *src, size_t n,
    const unsigned char mask[4])
{
    size_t  i;

    for (i = 0; i < n; i++) {
        dst[i] = src[i] ^ mask[i & 3];
    }
}


const char *
wsl_frame_strerror(int rc)
{
    switch (rc) {
    case WSL_FRAME_BAD_RSV:
        return "reserved bits set";
    case WSL_FRAME_MASKED:
        return "masked server frame";
    case WSL_FRAME_BAD_OPCODE:
        return "unknown opcode";
    case WSL_FRAME_BAD_CONTROL:
        return "fragmented or oversized control frame";
    case WSL_FRAME_BAD_CONT:
        return "unexpected continuation or data frame";
    case WSL_FRAME_BAD_LENGTH:
        return "invalid payload length";
    default:
        return "unknown error";
    }
}


/*
 * A fresh random Sec-WebSocket-Key and the Sec-WebSocket-Accept value
 * the server must answer with: base64(SHA-1(key + GUID)), RFC 6455 4.1.
 */

int
wsl_handshake_key(char key[WSL_KEY_LEN + 1], char accept[WSL_ACCEPT_LEN + 1])
{
    unsigned char  nonce[16];

    if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t) sizeof(nonce)) {
        return WSL_ERROR;
    }

    EVP_EncodeBlock((unsigned char *) key, nonce, sizeof(nonce));

    wsl_handshake_accept(key, accept);

    return WSL_OK;
}


void
wsl_handshake_accept(const char key[WSL_KEY_LEN],
    char accept[WSL_ACCEPT_LEN + 1])
{
    unsigned char  digest[SHA_DIGEST_LENGTH];
    unsigned char  buf[WSL_KEY_LEN + sizeof(WSL_WS_GUID)];

    memcpy(buf, key, WSL_KEY_LEN);
    memcpy(buf + WSL_KEY_LEN, WSL_WS_GUID, sizeof(WSL_WS_GUID) - 1);

    SHA1(buf, WSL_KEY_LEN + sizeof(WSL_WS_GUID) - 1, digest);

    EVP_EncodeBlock((unsigned char *) accept, digest, sizeof(digest));
}


/*
 * Checks a complete response header block (up to and including the
 * empty line).  Returns WSL_OK for a valid "101" upgrade; otherwise
 * WSL_ERROR with *status set to the response status (0 if the status
 * line is malformed; 101 if the headers are wrong).
 */

int
wsl_handshake_check(const char *buf, size_t len, const char *accept,
    int *status)
{
    int          upgrade, connection, accepted;
    size_t       vlen;
    const char  *p, *end, *eol, *v;

    *status = 0;

    end = buf + len;

    eol = memmem(buf, len, "\r\n", 2);
    if (eol == NULL) {
        return WSL_ERROR;
    }

    /* "HTTP/1.1 101 Switching Protocols" */

    if (eol - buf < 12
        || strncmp(buf, "HTTP/1.", 7) != 0
        || buf[8] != ' '
        || buf[9] < '1' || buf[9] > '5'
        || buf[10] < '0' || buf[10] > '9'
        || buf[11] < '0' || buf[11] > '9')
    {
        return WSL_ERROR;
    }

    *status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + buf[11] - '0';

    if (*status != 101) {
        return WSL_ERROR;
    }

    upgrade = 0;
    connection = 0;
    accepted = 0;

    for (p = eol + 2; p < end; p = eol + 2) {

        eol = memmem(p, end - p, "\r\n", 2);
        if (eol == NULL || eol == p) {
            break;
        }

        v = wsl_header_value(p, eol, "upgrade", &vlen);
        if (v) {
            upgrade = (vlen == 9 && strncasecmp(v, "websocket", 9) == 0);
            continue;
        }

        v = wsl_header_value(p, eol, "connection", &vlen);
        if (v) {
            connection = wsl_has_token(v, vlen, "upgrade");
            continue;
        }

        v = wsl_header_value(p, eol, "sec-websocket-accept", &vlen);
        if (v) {
            accepted = (vlen == WSL_ACCEPT_LEN
                        && memcmp(v, accept, WSL_ACCEPT_LEN) == 0);
            continue;
        }

        /* no extension was offered, so none may be accepted */

        v = wsl_header_value(p, eol, "sec-websocket-extensions", &vlen);
        if (v && vlen) {
            return WSL_ERROR;
        }
    }

    if (!upgrade || !connection || !accepted) {
        return WSL_ERROR;
    }

    return WSL_OK;
}


/*
 * The server's side, for ws-fanout-floor: checks a complete request
 * header block (up to and including the empty line) for a WebSocket
 * upgrade, RFC 6455 4.2.1: "GET ... HTTP/1.1", "Upgrade: websocket",
 * "Connection: ...upgrade...", "Sec-WebSocket-Version: 13" and a
 * Sec-WebSocket-Key of WSL_KEY_LEN characters, copied to key.  Returns
 * WSL_OK or WSL_ERROR.
 */

int
wsl_handshake_request(const char *buf, size_t len,
    char key[WSL_KEY_LEN + 1])
{
    int          upgrade, connection, version, have_key;
    size_t       vlen;
    const char  *p, *end, *eol, *v;

    end = buf + len;

    eol = memmem(buf, len, "\r\n", 2);
    if (eol == NULL) {
        return WSL_ERROR;
    }

    /* "GET /path HTTP/1.1" */

    if (eol - buf < 14
        || strncmp(buf, "GET ", 4) != 0
        || buf[4] == ' '
        || strncmp(eol - 9, " HTTP/1.1", 9) != 0)
    {
        return WSL_ERROR;
    }

    upgrade = 0;
    connection = 0;
    version = 0;
    have_key = 0;

    for (p = eol + 2; p < end; p = eol + 2) {

        eol = memmem(p, end - p, "\r\n", 2);
        if (eol == NULL || eol == p) {
            break;
        }

        v = wsl_header_value(p, eol, "upgrade", &vlen);
        if (v) {
            upgrade = wsl_has_token(v, vlen, "websocket");
            continue;
        }

        v = wsl_header_value(p, eol, "connection", &vlen);
        if (v) {
            connection = wsl_has_token(v, vlen, "upgrade");
            continue;
        }

        v = wsl_header_value(p, eol, "sec-websocket-version", &vlen);
        if (v) {
            version = (vlen == 2 && v[0] == '1' && v[1] == '3');
            continue;
        }

        v = wsl_header_value(p, eol, "sec-websocket-key", &vlen);
        if (v) {
            if (have_key || vlen != WSL_KEY_LEN) {
                return WSL_ERROR;
            }

            memcpy(key, v, WSL_KEY_LEN);
            key[WSL_KEY_LEN] = '\0';
            have_key = 1;
        }
    }

    if (!upgrade || !connection || !version || !have_key) {
        return WSL_ERROR;
    }

    return WSL_OK;
}


/* the value of a "name: value" line, trimmed, if the name matches */

static const char *
wsl_header_value(const char *line, const char *end, const char *name,
    size_t *len)
{
    size_t       n;
    const char  *v;

    n = strlen(name);

    if ((size_t) (end - line) <= n
        || line[n] != ':'
        || strncasecmp(line, name, n) != 0)
    {
        return NULL;
    }

    v = line + n + 1;

    while (v < end && (*v == ' ' || *v == '\t')) {
        v++;
    }

    while (end > v && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    *len = end - v;

    return v;
}


/* whether a comma-separated header value holds token, ignoring case */

static int
wsl_has_token(const char *value, size_t len, const char *token)
{
    size_t       n, tlen;
    const char  *p, *end, *comma;

    tlen = strlen(token);
    end = value + len;

    for (p = value; p < end; p = comma + 1) {

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        comma = memchr(p, ',', end - p);
        if (comma == NULL) {
            comma = end;
        }

        n = comma - p;

        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
            n--;
        }

        if (n == tlen && strncasecmp(p, token, tlen) == 0) {
            return 1;
        }
    }

    return 0;
}
