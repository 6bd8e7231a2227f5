
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


/*
 * Compiled, not run, by scripts/unit.sh for a 32-bit target (gcc -m32
 * -fsyntax-only, NGINX's sizes for 32 bits): the metrics counters must
 * be 64-bit there too (ngx_atomic_t wraps at 4 GiB), aligned to 8 bytes
 * in the zone, and loaded and stored whole without a lock.  A failed
 * check is an array of negative size: a compile error naming it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_ws_gateway_metrics.h"


#define check(name, cond)  typedef char  check32_##name[(cond) ? 1 : -1]

#define field_size(type, f)  sizeof(((type *) 0)->f)


/* the premise: a 32-bit build, where ngx_atomic_t has 32 bits */

check(pointers_are_32_bit, sizeof(void *) == 4);
check(atomic_t_is_32_bit, sizeof(ngx_atomic_t) == 4);

/* 64-bit counters, whole */

check(counter_is_64_bit, sizeof(ngx_ws_gateway_count_t) == 8);
check(counter_is_aligned, __alignof__(ngx_ws_gateway_count_t) == 8);
check(counter_is_lock_free, __GCC_ATOMIC_LLONG_LOCK_FREE == 2);

check(bytes_in, field_size(ngx_ws_gateway_counters_t, bytes_in) == 8);
check(bytes_out, field_size(ngx_ws_gateway_counters_t, bytes_out) == 8);
check(counters, sizeof(ngx_ws_gateway_counters_t) == 8 * 8);
check(hist_sum, field_size(ngx_ws_gateway_hist_t, sum) == 8);
check(hist_bucket, field_size(ngx_ws_gateway_hist_t, bucket[0]) == 8);
check(handshakes, field_size(ngx_ws_gateway_slot_t, handshakes[0]) == 8);
check(ends, field_size(ngx_ws_gateway_slot_t, ends[0]) == 8);
check(codes, field_size(ngx_ws_gateway_slot_t, codes[0]) == 8);
check(drops, field_size(ngx_ws_gateway_slot_t, drops[0]) == 8);
check(pauses, field_size(ngx_ws_gateway_slot_t, pauses[0]) == 8);
check(auth, field_size(ngx_ws_gateway_slot_t, auth[0]) == 8);
check(batch, field_size(ngx_ws_gateway_slot_t, batch[0]) == 8);

/* the ring's buckets: their low 32 bits, stored and loaded whole */

check(second_event, field_size(ngx_ws_gateway_second_t, event[0]) == 4);
check(second_lag, field_size(ngx_ws_gateway_second_t, lag[0]) == 4);
check(second_size, sizeof(ngx_ws_gateway_second_t) % 8 == 0);

/* the largest zone ws_gateway_metrics_slots allows: 16 MB on 32 bits */

check(zone_bound, (unsigned long long) NGX_WS_GATEWAY_MAX_SLOTS
                  * sizeof(ngx_ws_gateway_slot_t) <= 16 * 1024 * 1024);

/* every slot of the zone's array starts on 8 bytes */

check(slot_size, sizeof(ngx_ws_gateway_slot_t) % 8 == 0);
check(slots_offset, offsetof(ngx_ws_gateway_shm_t, slots) % 8 == 0);
check(total_offset, offsetof(ngx_ws_gateway_slot_t, total) % 8 == 0);
check(seconds_offset, offsetof(ngx_ws_gateway_slot_t, seconds) % 8 == 0);


void
ngx_ws_gateway_check32(ngx_ws_gateway_slot_t *slot)
{
    uint64_t  v;

    /* a counter past 4 GiB, stored and loaded as the module does */

    slot->total.bytes_in = 0xffffffff;
    ngx_ws_gateway_count_add(&slot->total.bytes_in, 2);

    v = ngx_ws_gateway_count_get(&slot->total.bytes_in);

    (void) v;
}
