
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#ifndef _NGX_WS_GATEWAY_CHANNEL_H_INCLUDED_
#define _NGX_WS_GATEWAY_CHANNEL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_ws_gateway_out.h"
#include "ngx_ws_gateway_link.h"


/*
 * Channels and fan-out, per worker (docs/protocol.md, 6.4).  A channel
 * is a name and the list of its subscriptions; a subscription is on the
 * lists of its channel and of its session.  A PUBLISH or a BROADCAST is
 * framed once into a shared frame, and every recipient's queue takes a
 * reference to it.  Deliveries are made ws_gateway_fanout_slice at a
 * time per pass of the event loop: a fan-out larger than what is left of
 * a pass takes the list of its recipients' ids then, and goes on from
 * a posted event in the next passes, while the link it came from reads
 * nothing more (so that its later records keep their order).
 */


/* why a SUBSCRIBE is refused: the codes of a REFUSED event */
#define NGX_WS_GATEWAY_REFUSED_LENGTH      1   /* channel name too long */
#define NGX_WS_GATEWAY_REFUSED_MANY        2   /* too many channels */
#define NGX_WS_GATEWAY_REFUSED_OFF         3   /* channels off here */


typedef struct ngx_ws_gateway_channel_s   ngx_ws_gateway_channel_t;
typedef struct ngx_ws_gateway_sub_s       ngx_ws_gateway_sub_t;
typedef struct ngx_ws_gateway_fanout_s    ngx_ws_gateway_fanout_t;

struct ngx_ws_gateway_channel_s {
    ngx_ws_gateway_channel_t     *next;       /* in its hash bucket */
    ngx_queue_t                   subs;
    ngx_uint_t                    count;
    uint32_t                      hash;
    u_char                        len;
    u_char                        name[1];
};


struct ngx_ws_gateway_sub_s {
    ngx_queue_t                   queue;      /* the channel's */
    ngx_ws_gateway_sub_t         *next;       /* the session's */
    ngx_ws_gateway_session_t     *session;
    ngx_ws_gateway_channel_t     *channel;
};


void ngx_ws_gateway_channel_init_process(ngx_uint_t slice);
void ngx_ws_gateway_channel_exit_process(void);

/*
 * SUBSCRIBE and UNSUBSCRIBE of a session (its location's limits): 0, or
 * a NGX_WS_GATEWAY_REFUSED_* code; NGX_ERROR for no memory.  A channel
 * the session holds already is no change.  Unsubscribe: NGX_OK, or
 * NGX_DECLINED when the session does not hold the channel.
 */
ngx_int_t ngx_ws_gateway_channel_subscribe(ngx_ws_gateway_session_t *s,
    u_char *name, size_t len);
ngx_int_t ngx_ws_gateway_channel_unsubscribe(ngx_ws_gateway_session_t *s,
    u_char *name, size_t len);

/* a session's subscriptions go: it ends */
void ngx_ws_gateway_channel_release(ngx_ws_gateway_session_t *s);

/*
 * PUBLISH to a channel, BROADCAST to the sessions of an upstream (lup
 * NULL: PUBLISH): NGX_OK when every delivery is made, NGX_AGAIN when the
 * fan-out goes on later (ngx_ws_gateway_link_fanout_done(link) is
 * called when it ends), NGX_ERROR for no memory.
 */
ngx_int_t ngx_ws_gateway_channel_publish(ngx_ws_gateway_link_t *link,
    ngx_ws_gateway_lupstream_t *lup,
    u_char *name, size_t len, ngx_uint_t opcode, u_char *data,
    size_t size);

/* a link that goes: its fan-outs go on without it */

/* the shared deliveries made this pass may run on: another is made */
ngx_uint_t ngx_ws_gateway_channel_budget(void);
void ngx_ws_gateway_channel_spend(ngx_uint_t n);


#endif /* _NGX_WS_GATEWAY_CHANNEL_H_INCLUDED_ */
