
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#ifndef _FUZZ_H_INCLUDED_
#define _FUZZ_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_ws_gateway_parse.h>


#define fuzz_assert(cond)                                                    \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: \"%s\" failed\n",                        \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

ssize_t fuzz_utf8_reference(const u_char *s, size_t n,
    ngx_uint_t *complete);


#endif /* _FUZZ_H_INCLUDED_ */
