
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_ws_gateway.h"


/* placeholder until the status formats land */

ngx_int_t
ngx_ws_gateway_status_handler(ngx_http_request_t *r)
{
    return NGX_HTTP_SERVICE_UNAVAILABLE;
}
