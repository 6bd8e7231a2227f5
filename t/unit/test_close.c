
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


/* ngx_ws_gateway_parse_close(): close codes and reasons */


#include "unit.h"


typedef struct {
    const char  *name;
    const char  *hex;
    ngx_uint_t   result;       /* 0, 1002 or 1007 */
    ngx_uint_t   code;
    size_t       reason;       /* its length */
} test_close_t;


static void test_codes(void);
static void test_table(void);


static test_close_t  test_close_table[] = {

    { "empty", "", 0, 1005, 0 },
    { "one byte", "03", 1002, 0, 0 },
    { "1000, no reason", "03 e8", 0, 1000, 0 },
    { "1000, reason", "03 e8 62 79 65", 0, 1000, 3 },
    { "1001, utf-8 reason", "03 e9 c3 a9 e2 82 ac f0 9f 98 80", 0, 1001, 9 },
    { "4999, reason of 123", "13 87 "
      "61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 "
      "61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 "
      "61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 "
      "61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 "
      "61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 "
      "61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 "
      "61 61 61", 0, 4999, 123 },
    { "reason not utf-8", "03 e8 ff", 1007, 1000, 1 },
    { "reason overlong", "03 e8 c0 80", 1007, 1000, 2 },
    { "reason a surrogate", "03 e8 ed a0 80", 1007, 1000, 3 },
    { "reason truncated", "03 e8 61 e2 82", 1007, 1000, 3 },
    { "bad code before a bad reason", "03 ed ff", 1002, 1005, 1 },
    { "code 0", "00 00", 1002, 0, 0 },
    { "code 65535", "ff ff", 1002, 65535, 0 },

    { NULL, NULL, 0, 0, 0 }
};


int
main(void)
{
    test_codes();
    test_table();

    return unit_done("close");
}


static void
test_codes(void)
{
    u_char      buf[2];
    ngx_str_t   reason;
    ngx_uint_t  i, rc, code;

    static struct {
        ngx_uint_t  code;
        ngx_uint_t  valid;
    } codes[] = {
        { 0, 0 }, { 1, 0 }, { 999, 0 },
        { 1000, 1 }, { 1001, 1 }, { 1002, 1 }, { 1003, 1 },
        { 1004, 0 }, { 1005, 0 }, { 1006, 0 },
        { 1007, 1 }, { 1008, 1 }, { 1009, 1 }, { 1010, 1 }, { 1011, 1 },
        { 1012, 1 }, { 1013, 1 }, { 1014, 1 },
        { 1015, 0 }, { 1016, 0 }, { 1100, 0 }, { 2000, 0 }, { 2999, 0 },
        { 3000, 1 }, { 3001, 1 }, { 3999, 1 }, { 4000, 1 }, { 4999, 1 },
        { 5000, 0 }, { 5001, 0 }, { 32768, 0 }, { 65535, 0 }
    };

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        buf[0] = (u_char) (codes[i].code >> 8);
        buf[1] = (u_char) codes[i].code;

        code = 12345;
        rc = ngx_ws_gateway_parse_close(buf, 2, &code, &reason);

        unit_check(rc == (codes[i].valid ? 0 : 1002) && code == codes[i].code
                   && reason.len == 0 && reason.data == buf + 2,
                   "close code %lu: result %lu, code %lu, expected %s",
                   (unsigned long) codes[i].code, (unsigned long) rc,
                   (unsigned long) code,
                   codes[i].valid ? "valid" : "1002");
    }
}


static void
test_table(void)
{
    u_char        buf[256];
    size_t        len;
    ngx_str_t     reason;
    ngx_uint_t    rc, code;
    test_close_t  *t;

    for (t = test_close_table; t->name; t++) {

        len = unit_hex(buf, t->hex);

        code = 12345;
        rc = ngx_ws_gateway_parse_close(buf, len, &code, &reason);

        unit_check(rc == t->result && code == t->code
                   && reason.len == t->reason
                   && (reason.len == 0 || reason.data == buf + 2),
                   "\"%s\": result %lu, code %lu, reason %lu, "
                   "expected %lu, %lu, %lu", t->name, (unsigned long) rc,
                   (unsigned long) code, (unsigned long) reason.len,
                   (unsigned long) t->result, (unsigned long) t->code,
                   (unsigned long) t->reason);
    }
}
