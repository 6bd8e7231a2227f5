
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#ifndef _UNIT_H_INCLUDED_
#define _UNIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_ws_gateway_parse.h>


/*
 * A minimal harness for table-driven tests of pure code: every check
 * counts as one test, a failing one prints where and why, and the
 * closing line "NAME: N passed, M failed" is read by scripts/unit.sh.
 */


extern ngx_uint_t  unit_passed;
extern ngx_uint_t  unit_failed;


#define unit_check(cond, ...)                                                \
    do {                                                                     \
        if (cond) {                                                          \
            unit_passed++;                                                   \
        } else {                                                             \
            unit_failed++;                                                   \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                      \
            printf(__VA_ARGS__);                                             \
            printf("\n");                                                    \
        }                                                                    \
    } while (0)

#define unit_pass()  unit_passed++


int unit_done(const char *name);
size_t unit_hex(u_char *dst, const char *hex);
void unit_hexdump(char *dst, u_char *data, size_t len);
uint64_t unit_random(uint64_t *seed);


#endif /* _UNIT_H_INCLUDED_ */
