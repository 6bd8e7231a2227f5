
/*
 * Copyright (C) ngx_ws_gateway_module authors
 */


#include "ws_load.h"

#include <string.h>


static unsigned wsl_hist_index(uint64_t v);
static uint64_t wsl_hist_value(unsigned idx);


const char  *wsl_counter_names[WSL_C_N] = {
    "attempts",
    "established",
    "failed",
    "dropped",
    "open_at_end",
    "closed_clean",
    "cycles",
    "messages_sent",
    "messages_received",
    "bytes_sent",
    "bytes_received",
    "outstanding_at_end",
    "pings_received",
    "pongs_sent",
    "reset_at_end"
};


const char  *wsl_error_names[WSL_E_N] = {
    "connect",
    "addr_unavailable",
    "socket",
    "handshake_timeout",
    "handshake_status",
    "handshake_invalid",
    "handshake_eof",
    "eof",
    "reset",
    "protocol",
    "server_close",
    "echo_mismatch",
    "close_timeout",
    "send_backlog"
};


void
wsl_hist_init(wsl_hist_t *h)
{
    memset(h, 0, sizeof(wsl_hist_t));
    h->min = UINT64_MAX;
}


void
wsl_hist_add(wsl_hist_t *h, uint64_t v)
{
    h->buckets[wsl_hist_index(v)]++;
    h->count++;
    h->sum += v;

    if (v < h->min) {
        h->min = v;
    }

    if (v > h->max) {
        h->max = v;
    }
}


void
wsl_hist_merge(wsl_hist_t *dst, const wsl_hist_t *src)
{
    unsigned  i;

    for (i = 0; i < WSL_HIST_BUCKETS; i++) {
        dst->buckets[i] += src->buckets[i];
    }

    dst->count += src->count;
    dst->sum += src->sum;

    if (src->min < dst->min) {
        dst->min = src->min;
    }

    if (src->max > dst->max) {
        dst->max = src->max;
    }
}


/*
 * The value at quantile p (0 < p <= 1): the middle of the bucket that
 * holds the ceil(p * count)-th smallest value, kept within [min, max].
 */

uint64_t
wsl_hist_percentile(const wsl_hist_t *h, double p)
{
    unsigned  i;
    uint64_t  rank, seen, v;

    if (h->count == 0) {
        return 0;
    }

    rank = (uint64_t) (p * (double) h->count + 0.999999);

    if (rank == 0) {
        rank = 1;
    }

    if (rank > h->count) {
        rank = h->count;
    }

    seen = 0;

    for (i = 0; i < WSL_HIST_BUCKETS; i++) {
        seen += h->buckets[i];

        if (seen >= rank) {
            break;
        }
    }

    if (i == WSL_HIST_BUCKETS) {
        return h->max;
    }

    v = (wsl_hist_value(i) + wsl_hist_value(i + 1) - 1) / 2;

    if (v < h->min) {
        v = h->min;
    }

    if (v > h->max) {
        v = h->max;
    }

    return v;
}


void
wsl_result_init(wsl_result_t *r)
{
    memset(r, 0, sizeof(wsl_result_t));
    wsl_hist_init(&r->latency);
    wsl_hist_init(&r->handshake);
    wsl_hist_init(&r->fanout);
}


void
wsl_result_merge(wsl_result_t *dst, const wsl_result_t *src)
{
    unsigned          i;
    wsl_fan_t        *d;
    const wsl_fan_t  *s;

    for (i = 0; i < WSL_C_N; i++) {
        dst->counters[i] += src->counters[i];
    }

    for (i = 0; i < WSL_E_N; i++) {
        dst->errors[i] += src->errors[i];
    }

    for (i = 0; i < WSL_STATUS_MAX; i++) {
        dst->status[i] += src->status[i];
    }

    if (src->ramp > dst->ramp) {
        dst->ramp = src->ramp;
    }

    /* rates add up; the window is averaged by the caller */

    dst->measure += src->measure;
    dst->rate_msgs += src->rate_msgs;
    dst->rate_bytes += src->rate_bytes;
    dst->rate_handshakes += src->rate_handshakes;
    dst->win_msgs += src->win_msgs;
    dst->win_bytes += src->win_bytes;
    dst->children += src->children;

    wsl_hist_merge(&dst->latency, &src->latency);
    wsl_hist_merge(&dst->handshake, &src->handshake);
    wsl_hist_merge(&dst->fanout, &src->fanout);

    dst->fan_other += src->fan_other;
    dst->fan_dups += src->fan_dups;

    for (i = 0; i < WSL_FAN_MAX; i++) {
        d = &dst->fan[i];
        s = &src->fan[i];

        if (s->count == 0) {
            continue;
        }

        if (d->count == 0 || s->first < d->first) {
            d->first = s->first;
        }

        if (s->last > d->last) {
            d->last = s->last;
        }

        /* the same message has the same t0 everywhere */

        d->t0 = s->t0;
        d->count += s->count;
    }
}


/*
 * Bucket of v: below 2 * SUB one bucket per value; above, the bucket is
 * (octave, top SUB_BITS bits after the leading one).
 */

static unsigned
wsl_hist_index(uint64_t v)
{
    unsigned  msb, shift;

    if (v < 2 * WSL_HIST_SUB) {
        return (unsigned) v;
    }

    if (v >> WSL_HIST_MAX_BIT) {
        v = ((uint64_t) 1 << WSL_HIST_MAX_BIT) - 1;
    }

    msb = 63 - __builtin_clzll(v);
    shift = msb - WSL_HIST_SUB_BITS;

    return 2 * WSL_HIST_SUB
           + (msb - WSL_HIST_SUB_BITS - 1) * WSL_HIST_SUB
           + (unsigned) ((v >> shift) - WSL_HIST_SUB);
}


/* the smallest value of bucket idx (idx may be one past the last) */

static uint64_t
wsl_hist_value(unsigned idx)
{
    unsigned  j, msb;

    if (idx < 2 * WSL_HIST_SUB) {
        return idx;
    }

    j = idx - 2 * WSL_HIST_SUB;
    msb = WSL_HIST_SUB_BITS + 1 + j / WSL_HIST_SUB;

    return (uint64_t) (WSL_HIST_SUB + j % WSL_HIST_SUB)
           << (msb - WSL_HIST_SUB_BITS);
}
