
/*
 * Copyright (C) 2026, the ngx_ws_gateway_module authors.
 */


/*
 * ngx_ws_gateway_json_parse() and its lookups.
 *
 * A table row is a document and what the parse must give: the tree,
 * dumped, or "!reason@offset".  In the documents of rows not marked
 * raw, ' stands for " (so that the table stays readable).  The dump
 * writes strings and keys in double quotes with \" \\ and \xHH for
 * bytes outside 0x20-0x7e, numbers as written, then "#" and the integer
 * when integral, or "~" and the double (%.17g) otherwise.
 *
 * Every row is parsed from a buffer of exactly its size with a scratch
 * buffer of exactly that size too (under ASan, a byte read or written
 * past either fails).  Every accepted object is then cut at every
 * length short of its closing brace, and each cut must be refused.
 */


#include "unit.h"
#include <ngx_ws_gateway_json.h>


#define TEST_NODES      256
#define TEST_DUMP_MAX   4096
#define TEST_DOC_MAX    8192


typedef struct {
    const char               *name;
    unsigned                  any;         /* require_object = 0 */
    unsigned                  raw;         /* ' is ' */
    const char               *doc;
    const char               *expect;
} test_json_t;


static size_t test_doc(u_char *dst, test_json_t *t);
static ngx_int_t test_parse(ngx_ws_gateway_json_t *j, u_char *doc,
    size_t len, char *result);
static char *test_dump(char *d, ngx_ws_gateway_json_t *j,
    ngx_ws_gateway_json_node_t *n);
static char *test_dump_str(char *d, ngx_str_t *s);
static ngx_uint_t test_check_tree(ngx_ws_gateway_json_t *j, u_char *doc,
    size_t len, u_char *scratch, size_t size);
static void test_table(void);
static void test_truncated(test_json_t *t, u_char *doc, size_t len);
static void test_nul(void);
static void test_limits(void);
static void test_limit(const char *name, ngx_ws_gateway_json_t *j,
    const char *doc, const char *expect);
static void test_depth(void);
static void test_jwt(void);
static void test_jwks(void);
static void test_lookup(void);
static void test_reuse(void);
static void test_mutations(void);


static ngx_ws_gateway_json_node_t  test_nodes[TEST_NODES];


static test_json_t  test_json_table[] = {

    /* valid documents */

    { "empty object", 0, 0, "{}", "{}" },
    { "white space", 0, 0, " \t\r\n{ \t\r\n} \t\r\n", "{}" },
    { "one member", 0, 0, "{'a':1}", "{\"a\":1#1}" },
    { "spaced member", 0, 0, "{ 'a' : 1 , 'b' : 2 }",
      "{\"a\":1#1,\"b\":2#2}" },
    { "empty key", 0, 0, "{'':0}", "{\"\":0#0}" },
    { "empty array", 0, 0, "{'a':[]}", "{\"a\":[]}" },
    { "empty string", 0, 0, "{'a':''}", "{\"a\":\"\"}" },
    { "all types", 0, 0,
      "{'s':'x','n':-1.5e2,'t':true,'f':false,'z':null,"
      "'a':[1,'2',[3],{}],'o':{'p':{}}}",
      "{\"s\":\"x\",\"n\":-1.5e2#-150,\"t\":true,\"f\":false,\"z\":null,"
      "\"a\":[1#1,\"2\",[3#3],{}],\"o\":{\"p\":{}}}" },
    { "same key in different objects", 0, 0,
      "{'a':{'a':1},'b':{'a':2},'c':[{'a':3},{'a':4}]}",
      "{\"a\":{\"a\":1#1},\"b\":{\"a\":2#2},"
      "\"c\":[{\"a\":3#3},{\"a\":4#4}]}" },
    { "keys differing in case and length", 0, 0,
      "{'a':1,'A':2,'ab':3,'b':4}",
      "{\"a\":1#1,\"A\":2#2,\"ab\":3#3,\"b\":4#4}" },

    /* strings */

    { "short escapes", 0, 0,
      "{'e':'\\\" \\\\ \\/ \\b \\f \\n \\r \\t'}",
      "{\"e\":\"\\\" \\\\ / \\x08 \\x0c \\x0a \\x0d \\x09\"}" },
    { "escape at the start", 0, 0, "{'e':'\\nab'}",
      "{\"e\":\"\\x0aab\"}" },
    { "escape at the end", 0, 0, "{'e':'ab\\n'}",
      "{\"e\":\"ab\\x0a\"}" },
    { "escapes in keys", 0, 0, "{'\\u0061\\n':1,'a':2}",
      "{\"a\\x0a\":1#1,\"a\":2#2}" },
    { "unicode escapes", 0, 0,
      "{'u':'\\u0041\\u00e9\\u20ac\\ud83d\\ude00'}",
      "{\"u\":\"A\\xc3\\xa9\\xe2\\x82\\xac\\xf0\\x9f\\x98\\x80\"}" },
    { "unicode escapes, upper case", 0, 0,
      "{'u':'\\u00E9\\uD83D\\uDE00\\u00Ff'}",
      "{\"u\":\"\\xc3\\xa9\\xf0\\x9f\\x98\\x80\\xc3\\xbf\"}" },
    { "escaped U+0001, U+007F, U+0080, U+07FF, U+0800", 0, 0,
      "{'u':'\\u0001\\u007f\\u0080\\u07ff\\u0800'}",
      "{\"u\":\"\\x01\\x7f\\xc2\\x80\\xdf\\xbf\\xe0\\xa0\\x80\"}" },
    { "escaped U+D7FF, U+E000, U+FFFD, U+10000, U+10FFFD", 0, 0,
      "{'u':'\\ud7ff\\ue000\\ufffd\\ud800\\udc00\\udbff\\udffd'}",
      "{\"u\":\"\\xed\\x9f\\xbf\\xee\\x80\\x80\\xef\\xbf\\xbd"
      "\\xf0\\x90\\x80\\x80\\xf4\\x8f\\xbf\\xbd\"}" },
    { "escaped U+FDCF and U+FDF0, around the noncharacters", 0, 0,
      "{'u':'\\ufdcf\\ufdf0'}",
      "{\"u\":\"\\xef\\xb7\\x8f\\xef\\xb7\\xb0\"}" },
    { "raw UTF-8", 0, 0,
      "{'\xc3\xa9':'\xe2\x82\xac\xf0\x9f\x98\x80\x7f'}",
      "{\"\\xc3\\xa9\":\"\\xe2\\x82\\xac\\xf0\\x9f\\x98\\x80\\x7f\"}" },
    { "raw UTF-8 bounds", 0, 0,
      "{'u':'\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80"
      "\xf0\x90\x80\x80\xf4\x8f\xbf\xbd'}",
      "{\"u\":\"\\xc2\\x80\\xdf\\xbf\\xe0\\xa0\\x80\\xed\\x9f\\xbf"
      "\\xee\\x80\\x80\\xf0\\x90\\x80\\x80\\xf4\\x8f\\xbf\\xbd\"}" },
    { "raw UTF-8 and escapes", 0, 0,
      "{'u':'\xc3\xa9\\n\xc3\xa9'}",
      "{\"u\":\"\\xc3\\xa9\\x0a\\xc3\\xa9\"}" },
    { "apostrophe", 0, 1, "{\"'\":\"'\"}", "{\"'\":\"'\"}" },

    /* numbers */

    { "zero", 0, 0, "{'n':0}", "{\"n\":0#0}" },
    { "minus zero", 0, 0, "{'n':-0}", "{\"n\":-0#0}" },
    { "minus zero point zero", 0, 0, "{'n':-0.0}", "{\"n\":-0.0#0}" },
    { "integers", 0, 0, "{'n':[1,-1,10,123456789]}",
      "{\"n\":[1#1,-1#-1,10#10,123456789#123456789]}" },
    { "2^53 - 1", 0, 0, "{'n':9007199254740991}",
      "{\"n\":9007199254740991#9007199254740991}" },
    { "-(2^53 - 1)", 0, 0, "{'n':-9007199254740991}",
      "{\"n\":-9007199254740991#-9007199254740991}" },
    { "2^53, not exact", 0, 0, "{'n':9007199254740992}",
      "{\"n\":9007199254740992~9007199254740992}" },
    { "-2^53, not exact", 0, 0, "{'n':-9007199254740992}",
      "{\"n\":-9007199254740992~-9007199254740992}" },
    { "2^53 + 1, rounded", 0, 0, "{'n':9007199254740993}",
      "{\"n\":9007199254740993~9007199254740992}" },
    { "20 digits", 0, 0, "{'n':12345678901234567890}",
      "{\"n\":12345678901234567890~1.2345678901234567e+19}" },
    { "exponents", 0, 0, "{'n':[1e3,1E3,1e+3,1E-3,2e0,25e-1]}",
      "{\"n\":[1e3#1000,1E3#1000,1e+3#1000,1E-3~0.001,2e0#2,"
      "25e-1~2.5]}" },
    { "fractions", 0, 0, "{'n':[0.5,-0.5,5.0,1.25e1,0.1]}",
      "{\"n\":[0.5~0.5,-0.5~-0.5,5.0#5,1.25e1~12.5,"
      "0.1~0.10000000000000001]}" },
    { "NumericDate with a fraction", 0, 0, "{'exp':1735689600.5}",
      "{\"exp\":1735689600.5~1735689600.5}" },
    { "largest double", 0, 0, "{'n':1.7976931348623157e308}",
      "{\"n\":1.7976931348623157e308~1.7976931348623157e+308}" },
    { "smallest double", 0, 0, "{'n':5e-324}",
      "{\"n\":5e-324~4.9406564584124654e-324}" },
    { "underflow to zero", 0, 0, "{'n':1e-400}", "{\"n\":1e-400#0}" },

    /* other roots, when require_object is off */

    { "number root", 1, 0, "1", "1#1" },
    { "number root, spaced", 1, 0, " -2.5 ", "-2.5~-2.5" },
    { "string root", 1, 0, "'x'", "\"x\"" },
    { "true root", 1, 0, "true", "true" },
    { "false root", 1, 0, "false", "false" },
    { "null root", 1, 0, "null", "null" },
    { "array root", 1, 0, "[]", "[]" },
    { "nested arrays", 1, 0, "[[[]],[],[[1]]]", "[[[]],[],[[1#1]]]" },
    { "object root, any", 1, 0, "{}", "{}" },

    /* structure */

    { "empty", 0, 0, "", "!unexpected end@0" },
    { "empty, any", 1, 0, "", "!unexpected end@0" },
    { "only white space", 0, 0, " \n", "!unexpected end@2" },
    { "array root", 0, 0, "[]", "!not an object@0" },
    { "number root", 0, 0, "1", "!not an object@0" },
    { "string root", 0, 0, "'{}'", "!not an object@0" },
    { "open brace", 0, 0, "{", "!unexpected end@1" },
    { "open member", 0, 0, "{'a':1", "!unexpected end@6" },
    { "open array", 0, 0, "{'a':[1", "!unexpected end@7" },
    { "open array after a comma", 0, 0, "{'a':[1,", "!unexpected end@8" },
    { "close brace alone", 1, 0, "}", "!unexpected character@0" },
    { "key without a value", 0, 0, "{'a'}", "!unexpected character@4" },
    { "key and colon only", 0, 0, "{'a':}", "!unexpected character@5" },
    { "missing colon", 0, 0, "{'a' 1}", "!unexpected character@5" },
    { "equals for a colon", 0, 0, "{'a'=1}", "!unexpected character@4" },
    { "trailing comma in an object", 0, 0, "{'a':1,}",
      "!unexpected character@7" },
    { "leading comma in an object", 0, 0, "{,'a':1}",
      "!unexpected character@1" },
    { "missing comma", 0, 0, "{'a':1 'b':2}", "!unexpected character@7" },
    { "double comma", 0, 0, "{'a':1,,'b':2}", "!unexpected character@7" },
    { "bare key", 0, 0, "{a:1}", "!unexpected character@1" },
    { "number key", 0, 0, "{1:1}", "!unexpected character@1" },
    { "single-quoted key", 0, 1, "{'a':1}", "!unexpected character@1" },
    { "single-quoted value", 0, 1, "{\"a\":'x'}",
      "!unexpected character@5" },
    { "trailing comma in an array", 0, 0, "{'a':[1,]}",
      "!unexpected character@8" },
    { "leading comma in an array", 0, 0, "{'a':[,1]}",
      "!unexpected character@6" },
    { "array without commas", 0, 0, "{'a':[1 2]}",
      "!unexpected character@8" },
    { "member in an array", 0, 0, "{'a':['b':1]}",
      "!unexpected character@9" },
    { "mismatched ]", 0, 0, "{'a':1]", "!unexpected character@6" },
    { "mismatched }", 0, 0, "{'a':[1}", "!unexpected character@7" },
    { "] in an empty object", 0, 0, "{'a':{]}", "!unexpected character@6" },
    { "} in an empty array", 0, 0, "{'a':[}}", "!unexpected character@6" },
    { "two roots", 0, 0, "{}{}", "!trailing data@2" },
    { "extra brace", 0, 0, "{'a':1}}", "!trailing data@7" },
    { "trailing word", 0, 0, "{} x", "!trailing data@3" },
    { "trailing comma", 0, 0, "{},", "!trailing data@2" },
    { "two numbers", 1, 0, "1 2", "!trailing data@2" },
    { "comment", 0, 0, "{/**/}", "!unexpected character@1" },
    { "line comment", 0, 0, "{}//", "!trailing data@2" },
    { "byte order mark", 0, 0, "\xef\xbb\xbf{}", "!not an object@0" },
    { "byte order mark, any", 1, 0, "\xef\xbb\xbf{}",
      "!unexpected character@0" },
    { "form feed is not white space", 0, 0, "{\f}",
      "!unexpected character@1" },
    { "vertical tab is not white space", 0, 0, "{\v}",
      "!unexpected character@1" },
    { "no-break space is not white space", 0, 0, "{\xc2\xa0}",
      "!unexpected character@1" },
    { "UTF-8 outside a string", 0, 0, "{'a':\xc3\xa9}",
      "!unexpected character@5" },

    /* literals */

    { "true, cut", 0, 0, "{'a':tru}", "!invalid literal@8" },
    { "true, capitalised", 0, 0, "{'a':True}", "!unexpected character@5" },
    { "null, cut at the end", 0, 0, "{'a':nul", "!unexpected end@8" },
    { "null, doubled l", 0, 0, "{'a':nulll}", "!unexpected character@9" },
    { "false, misspelt", 0, 0, "{'a':fals3}", "!invalid literal@9" },
    { "NaN", 0, 0, "{'a':NaN}", "!unexpected character@5" },
    { "nan", 0, 0, "{'a':nan}", "!invalid literal@6" },
    { "Infinity", 0, 0, "{'a':Infinity}", "!unexpected character@5" },
    { "-Infinity", 0, 0, "{'a':-Infinity}", "!invalid number@6" },
    { "undefined", 0, 0, "{'a':undefined}", "!unexpected character@5" },

    /* numbers */

    { "leading zero", 0, 0, "{'a':01}", "!invalid number@6" },
    { "leading zeros", 0, 0, "{'a':-00}", "!invalid number@7" },
    { "plus sign", 0, 0, "{'a':+1}", "!unexpected character@5" },
    { "leading point", 0, 0, "{'a':.5}", "!unexpected character@5" },
    { "trailing point", 0, 0, "{'a':1.}", "!invalid number@7" },
    { "point then exponent", 0, 0, "{'a':1.e3}", "!invalid number@7" },
    { "empty exponent", 0, 0, "{'a':1e}", "!invalid number@7" },
    { "signed empty exponent", 0, 0, "{'a':1e+}", "!invalid number@8" },
    { "minus alone", 0, 0, "{'a':-}", "!invalid number@6" },
    { "double minus", 0, 0, "{'a':--1}", "!invalid number@6" },
    { "hexadecimal", 0, 0, "{'a':0x10}", "!unexpected character@6" },
    { "two points", 0, 0, "{'a':1.5.2}", "!unexpected character@8" },
    { "digit separator", 0, 0, "{'a':1_000}", "!unexpected character@6" },
    { "minus at the end", 0, 0, "{'a':-", "!unexpected end@6" },
    { "point at the end", 0, 0, "{'a':1.", "!unexpected end@7" },
    { "exponent at the end", 0, 0, "{'a':1e-", "!unexpected end@8" },
    { "number at the end", 0, 0, "{'a':12", "!unexpected end@7" },
    { "overflow", 0, 0, "{'a':1e309}", "!number out of range@5" },
    { "negative overflow", 0, 0, "{'a':-1.8e308}",
      "!number out of range@5" },
    { "huge exponent", 0, 0, "{'a':1e99999999999999999999}",
      "!number out of range@5" },

    /* strings */

    { "unterminated string", 0, 0, "{'a", "!unexpected end@3" },
    { "unterminated value", 0, 0, "{'a':'bc", "!unexpected end@8" },
    { "raw tab", 0, 0, "{'a':'x\ty'}", "!control character@7" },
    { "raw newline", 0, 0, "{'a':'x\ny'}", "!control character@7" },
    { "raw 0x1f", 0, 0, "{'a':'\x1f'}", "!control character@6" },
    { "raw control in a key", 0, 0, "{'\x01':1}", "!control character@2" },
    { "raw control after an escape", 0, 0, "{'a':'\\n\x01'}",
      "!control character@8" },
    { "escaped apostrophe", 0, 1, "{\"a\":\"\\'\"}", "!invalid escape@6" },
    { "escaped x", 0, 0, "{'a':'\\x41'}", "!invalid escape@6" },
    { "escaped 0", 0, 0, "{'a':'\\0'}", "!invalid escape@6" },
    { "escaped U", 0, 0, "{'a':'\\U0041'}", "!invalid escape@6" },
    { "escaped newline", 0, 0, "{'a':'\\\n'}", "!invalid escape@6" },
    { "escaped non-ASCII", 0, 0, "{'a':'\\\xc3\xa9'}",
      "!invalid escape@6" },
    { "short \\u", 0, 0, "{'a':'\\u12'}", "!invalid escape@6" },
    { "non-hex \\u", 0, 0, "{'a':'\\u12g4'}", "!invalid escape@6" },
    { "\\u with a sign", 0, 0, "{'a':'\\u+123'}", "!invalid escape@6" },
    { "\\u cut at the end", 0, 0, "{'a':'\\u12", "!unexpected end@10" },
    { "backslash at the end", 0, 0, "{'a':'\\", "!unexpected end@7" },
    { "escaped NUL", 0, 0, "{'a':'x\\u0000'}", "!escaped NUL@7" },
    { "escaped NUL in a key", 0, 0, "{'\\u0000':1}", "!escaped NUL@2" },

    /* surrogates and noncharacters */

    { "lone high surrogate", 0, 0, "{'a':'\\ud800'}",
      "!invalid surrogate@6" },
    { "lone high surrogate, then text", 0, 0, "{'a':'\\udbffxxxxxx'}",
      "!invalid surrogate@6" },
    { "high surrogate, then \\n", 0, 0, "{'a':'\\ud800\\n'}",
      "!invalid surrogate@6" },
    { "two high surrogates", 0, 0, "{'a':'\\ud800\\ud800'}",
      "!invalid surrogate@6" },
    { "high surrogate, then a letter", 0, 0, "{'a':'\\ud800\\u0041'}",
      "!invalid surrogate@6" },
    { "lone low surrogate", 0, 0, "{'a':'\\udc00'}",
      "!invalid surrogate@6" },
    { "lone low surrogate, top", 0, 0, "{'a':'\\udfff'}",
      "!invalid surrogate@6" },
    { "reversed pair", 0, 0, "{'a':'\\udc00\\ud800'}",
      "!invalid surrogate@6" },
    { "high surrogate, bad low", 0, 0, "{'a':'\\ud800\\udcxx'}",
      "!invalid escape@12" },
    { "high surrogate at the end", 0, 0, "{'a':'\\ud800",
      "!unexpected end@12" },
    { "high surrogate, backslash at the end", 0, 0, "{'a':'\\ud800\\",
      "!unexpected end@13" },
    { "high surrogate, low cut", 0, 0, "{'a':'\\ud800\\udc",
      "!unexpected end@16" },
    { "U+FFFE escaped", 0, 0, "{'a':'\\ufffe'}", "!noncharacter@6" },
    { "U+FFFF escaped", 0, 0, "{'a':'\\uFFFF'}", "!noncharacter@6" },
    { "U+FDD0 escaped", 0, 0, "{'a':'\\ufdd0'}", "!noncharacter@6" },
    { "U+FDEF escaped", 0, 0, "{'a':'\\ufdef'}", "!noncharacter@6" },
    { "U+1FFFE escaped", 0, 0, "{'a':'\\ud83f\\udffe'}",
      "!noncharacter@6" },
    { "U+10FFFF escaped", 0, 0, "{'a':'\\udbff\\udfff'}",
      "!noncharacter@6" },
    { "U+FFFE raw", 0, 0, "{'a':'x\xef\xbf\xbe'}", "!noncharacter@7" },
    { "U+FDD0 raw", 0, 0, "{'a':'\xef\xb7\x90'}", "!noncharacter@6" },
    { "U+10FFFF raw", 0, 0, "{'a':'\xf4\x8f\xbf\xbf'}", "!noncharacter@6" },
    { "noncharacter in a key", 0, 0, "{'\\uffff':1}", "!noncharacter@2" },

    /* UTF-8 */

    { "lone continuation", 0, 0, "{'a':'\x80'}", "!invalid UTF-8@6" },
    { "overlong NUL", 0, 0, "{'a':'\xc0\x80'}", "!invalid UTF-8@6" },
    { "overlong 2 bytes", 0, 0, "{'a':'\xc1\xbf'}", "!invalid UTF-8@6" },
    { "overlong 3 bytes", 0, 0, "{'a':'\xe0\x80\x80'}",
      "!invalid UTF-8@7" },
    { "overlong 4 bytes", 0, 0, "{'a':'\xf0\x8f\xbf\xbf'}",
      "!invalid UTF-8@7" },
    { "raw surrogate", 0, 0, "{'a':'\xed\xa0\x80'}", "!invalid UTF-8@7" },
    { "above U+10FFFF", 0, 0, "{'a':'\xf4\x90\x80\x80'}",
      "!invalid UTF-8@7" },
    { "f5", 0, 0, "{'a':'\xf5\x80\x80\x80'}", "!invalid UTF-8@6" },
    { "ff", 0, 0, "{'a':'\xff'}", "!invalid UTF-8@6" },
    { "truncated before the quote", 0, 0, "{'a':'\xe2\x82'}",
      "!invalid UTF-8@8" },
    { "ascii inside 4 bytes", 0, 0, "{'a':'\xf0\x9f\x98x'}",
      "!invalid UTF-8@9" },
    { "truncated at the end", 0, 0, "{'a':'\xf0\x9f\x98",
      "!unexpected end@9" },
    { "invalid UTF-8 in a key", 0, 0, "{'\xc3':1}", "!invalid UTF-8@3" },
    { "invalid UTF-8 after an escape", 0, 0, "{'a':'\\n\xc3('}",
      "!invalid UTF-8@9" },

    /* duplicate keys */

    { "duplicate key", 0, 0, "{'a':1,'a':2}", "!duplicate key@7" },
    { "duplicate key, same value", 0, 0, "{'a':1,'a':1}",
      "!duplicate key@7" },
    { "duplicate key, later", 0, 0, "{'a':1,'b':2,'c':3,'b':4}",
      "!duplicate key@19" },
    { "duplicate empty key", 0, 0, "{'':1,'':2}", "!duplicate key@6" },
    { "duplicate key after unescaping", 0, 0, "{'a':1,'\\u0061':2}",
      "!duplicate key@7" },
    { "duplicate key, both escaped", 0, 0,
      "{'\\u0061b':1,'a\\u0062':2}", "!duplicate key@13" },
    { "duplicate key, raw and escaped UTF-8", 0, 0,
      "{'\xc3\xa9':1,'\\u00e9':2}", "!duplicate key@8" },
    { "duplicate key, escaped solidus", 0, 0, "{'a/b':1,'a\\/b':2}",
      "!duplicate key@9" },
    { "duplicate key, pair and raw", 0, 0,
      "{'\\ud83d\\ude00':1,'\xf0\x9f\x98\x80':2}", "!duplicate key@18" },
    { "duplicate key, nested", 0, 0, "{'x':{'a':1,'a':1}}",
      "!duplicate key@12" },
    { "duplicate key after a nested object", 0, 0,
      "{'a':{'b':1},'b':{},'a':2}", "!duplicate key@20" },
    { "duplicate key with a container value", 0, 0,
      "{'a':[1],'a':{}}", "!duplicate key@9" },

    { NULL, 0, 0, NULL, NULL }
};


int
main(void)
{
    test_table();
    test_nul();
    test_limits();
    test_depth();
    test_jwt();
    test_jwks();
    test_lookup();
    test_reuse();
    test_mutations();

    return unit_done("json");
}


static size_t
test_doc(u_char *dst, test_json_t *t)
{
    size_t  n;

    for (n = 0; t->doc[n]; n++) {
        dst[n] = (t->doc[n] == '\'' && !t->raw) ? '"' : (u_char) t->doc[n];
    }

    return n;
}


/*
 * Parses doc[0..len) from a copy of exactly that size, with a scratch
 * buffer of that size, into result (the dump or "!reason@offset");
 * checks the tree's invariants and that the input is left as it was.
 */

static ngx_int_t
test_parse(ngx_ws_gateway_json_t *j, u_char *doc, size_t len, char *result)
{
    u_char     *copy, *scratch;
    ngx_int_t   rc;

    copy = malloc(len ? len : 1);
    scratch = malloc(len ? len : 1);

    if (copy == NULL || scratch == NULL) {
        printf("malloc() failed\n");
        exit(2);
    }

    ngx_memcpy(copy, doc, len);

    j->scratch = scratch;
    j->scratch_size = len;

    rc = ngx_ws_gateway_json_parse(j, copy, len);

    if (rc == NGX_OK) {
        *test_dump(result, j, &j->nodes[0]) = '\0';

        if (!test_check_tree(j, copy, len, scratch, len)) {
            strcat(result, " BAD TREE");
        }

    } else if (rc == NGX_ERROR && j->error && j->offset <= len) {
        sprintf(result, "!%s@%lu", j->error, (unsigned long) j->offset);

    } else {
        sprintf(result, "?rc %ld, offset %lu", (long) rc,
                (unsigned long) j->offset);
    }

    if (ngx_memcmp(copy, doc, len) != 0) {
        strcat(result, " INPUT CHANGED");
    }

    free(copy);
    free(scratch);

    return rc;
}


static char *
test_dump(char *d, ngx_ws_gateway_json_t *j, ngx_ws_gateway_json_node_t *n)
{
    ngx_uint_t                   count;
    ngx_ws_gateway_json_node_t  *c;

    switch (n->type) {

    case NGX_WS_GATEWAY_JSON_OBJECT:
    case NGX_WS_GATEWAY_JSON_ARRAY:

        *d++ = (n->type == NGX_WS_GATEWAY_JSON_OBJECT) ? '{' : '[';
        count = 0;

        for (c = ngx_ws_gateway_json_first(j, n);
             c;
             c = ngx_ws_gateway_json_next(j, c))
        {
            if (count++) {
                *d++ = ',';
            }

            if (n->type == NGX_WS_GATEWAY_JSON_OBJECT) {
                d = test_dump_str(d, &c->key);
                *d++ = ':';
            }

            d = test_dump(d, j, c);
        }

        *d++ = (n->type == NGX_WS_GATEWAY_JSON_OBJECT) ? '}' : ']';

        if (count != n->count) {
            d += sprintf(d, "(COUNT %lu)", (unsigned long) n->count);
        }

        return d;

    case NGX_WS_GATEWAY_JSON_STRING:
        return test_dump_str(d, &n->value);

    case NGX_WS_GATEWAY_JSON_NUMBER:
        d = (char *) ngx_cpymem(d, n->value.data, n->value.len);

        if (n->integral) {
            return d + sprintf(d, "#%lld", (long long) n->integer);
        }

        return d + sprintf(d, "~%.17g", n->number);

    case NGX_WS_GATEWAY_JSON_TRUE:
    case NGX_WS_GATEWAY_JSON_FALSE:
    case NGX_WS_GATEWAY_JSON_NULL:
        return (char *) ngx_cpymem(d, n->value.data, n->value.len);

    default:
        return d + sprintf(d, "(TYPE %lu)", (unsigned long) n->type);
    }
}


static char *
test_dump_str(char *d, ngx_str_t *s)
{
    u_char  ch;
    size_t  i;

    *d++ = '"';

    for (i = 0; i < s->len; i++) {
        ch = s->data[i];

        if (ch == '"' || ch == '\\') {
            *d++ = '\\';
            *d++ = ch;

        } else if (ch >= 0x20 && ch < 0x7f) {
            *d++ = ch;

        } else {
            d += sprintf(d, "\\x%02x", ch);
        }
    }

    *d++ = '"';

    return d;
}


/*
 * The invariants of an accepted tree: pre-order indices, links in
 * range, keys exactly on object members, values inside the input or
 * the scratch buffer, containers spanning their brackets.
 */

static ngx_uint_t
test_check_tree(ngx_ws_gateway_json_t *j, u_char *doc, size_t len,
    u_char *scratch, size_t size)
{
    u_char                      *s;
    ngx_uint_t                   i, k, in_doc;
    ngx_ws_gateway_json_node_t  *n, *p;

    if (j->nnodes == 0 || j->nnodes > j->max_nodes) {
        return 0;
    }

    for (i = 0; i < j->nnodes; i++) {
        n = &j->nodes[i];

        if (n->type < NGX_WS_GATEWAY_JSON_OBJECT
            || n->type > NGX_WS_GATEWAY_JSON_NULL)
        {
            return 0;
        }

        if (i == 0) {
            if (n->parent != NGX_WS_GATEWAY_JSON_NONE
                || n->next != NGX_WS_GATEWAY_JSON_NONE
                || n->key.len || n->key.data)
            {
                return 0;
            }

        } else {
            if (n->parent >= i) {
                return 0;
            }

            p = &j->nodes[n->parent];

            if (p->type == NGX_WS_GATEWAY_JSON_OBJECT) {
                if (n->key.data == NULL) {
                    return 0;
                }

            } else if (p->type != NGX_WS_GATEWAY_JSON_ARRAY
                       || n->key.len || n->key.data)
            {
                return 0;
            }
        }

        if (n->child != NGX_WS_GATEWAY_JSON_NONE
            && (n->child != i + 1 || n->count == 0))
        {
            return 0;
        }

        if (n->next != NGX_WS_GATEWAY_JSON_NONE
            && (n->next <= i || n->next >= j->nnodes
                || j->nodes[n->next].parent != n->parent))
        {
            return 0;
        }

        for (k = 0; k < 2; k++) {
            s = k ? n->value.data : n->key.data;

            if (s == NULL) {
                continue;
            }

            in_doc = (s >= doc && s + (k ? n->value.len : n->key.len)
                                  <= doc + len);

            if (!in_doc
                && !(s >= scratch
                     && s + (k ? n->value.len : n->key.len)
                        <= scratch + size))
            {
                return 0;
            }
        }

        if ((n->type == NGX_WS_GATEWAY_JSON_OBJECT
             && (n->value.data[0] != '{'
                 || n->value.data[n->value.len - 1] != '}'))
            || (n->type == NGX_WS_GATEWAY_JSON_ARRAY
                && (n->value.data[0] != '['
                    || n->value.data[n->value.len - 1] != ']')))
        {
            return 0;
        }

        if (n->type == NGX_WS_GATEWAY_JSON_STRING
            && n->value.len > j->max_string)
        {
            return 0;
        }
    }

    return 1;
}


static void
test_table(void)
{
    char                    result[TEST_DUMP_MAX];
    u_char                  doc[TEST_DOC_MAX];
    size_t                  len;
    ngx_int_t               rc;
    test_json_t            *t;
    ngx_ws_gateway_json_t   j;

    for (t = test_json_table; t->name; t++) {

        len = test_doc(doc, t);

        ngx_ws_gateway_json_init(&j, test_nodes, TEST_NODES, NULL, 0);
        j.require_object = !t->any;

        rc = test_parse(&j, doc, len, result);

        unit_check(strcmp(result, t->expect) == 0,
                   "%s: got %s, expected %s", t->name, result, t->expect);

        if (rc == NGX_OK && !t->any) {
            test_truncated(t, doc, len);
        }
    }
}


/*
 * Every cut of an accepted object before its closing brace is refused,
 * and the error is within the cut.
 */

static void
test_truncated(test_json_t *t, u_char *doc, size_t len)
{
    char                    result[TEST_DUMP_MAX];
    size_t                  cut, end;
    ngx_int_t               rc;
    ngx_uint_t              bad;
    ngx_ws_gateway_json_t   j;

    bad = 0;

    for (end = len; doc[end - 1] != '}'; end--) { /* void */ }

    for (cut = 0; cut < end; cut++) {
        ngx_ws_gateway_json_init(&j, test_nodes, TEST_NODES, NULL, 0);

        rc = test_parse(&j, doc, cut, result);

        if (rc != NGX_ERROR || j.offset > cut) {
            printf("FAIL %s: cut at %lu: %s\n", t->name,
                   (unsigned long) cut, result);
            bad++;
        }
    }

    unit_check(bad == 0, "%s: %lu cuts accepted", t->name,
               (unsigned long) bad);
}


/* NUL bytes, which the table's C strings cannot hold */

static void
test_nul(void)
{
    char                    result[TEST_DUMP_MAX];
    ngx_uint_t              i;
    ngx_ws_gateway_json_t   j;

    static struct {
        const char         *name;
        const char         *doc;
        size_t              len;
        const char         *expect;
    } tests[] = {
        { "NUL in a string", "{\"a\":\"\0\"}", 9, "!control character@6" },
        { "NUL in a key", "{\"a\0\":1}", 9, "!control character@3" },
        { "NUL after the document", "{}\0", 3, "!trailing data@2" },
        { "NUL before the document", "\0{}", 3, "!not an object@0" },
        { "NUL for white space", "{\0}", 3, "!unexpected character@1" },
        { "NUL in a number", "{\"a\":1\0}", 8, "!unexpected character@6" },
        { "NUL in a literal", "{\"a\":tr\0e}", 10, "!invalid literal@7" },
        { "NUL after a backslash", "{\"a\":\"\\\0\"}", 10,
          "!invalid escape@6" },
        { "NUL in \\u", "{\"a\":\"\\u0\0000\"}", 14, "!invalid escape@6" }
    };

    for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        ngx_ws_gateway_json_init(&j, test_nodes, TEST_NODES, NULL, 0);

        (void) test_parse(&j, (u_char *) tests[i].doc, tests[i].len, result);

        unit_check(strcmp(result, tests[i].expect) == 0,
                   "%s: got %s, expected %s", tests[i].name, result,
                   tests[i].expect);
    }
}


static void
test_limits(void)
{
    char                    doc[128], expect[256];
    u_char                  scratch[4];
    size_t                  n;
    ngx_int_t               rc;
    ngx_ws_gateway_json_t   j;

    /* max_size: 11 bytes */

    ngx_ws_gateway_json_init(&j, test_nodes, TEST_NODES, NULL, 0);
    j.max_size = 11;
    test_limit("size at the limit", &j, "{\"a\":\"xyz\"}",
               "{\"a\":\"xyz\"}");
    j.max_size = 10;
    test_limit("size one past", &j, "{\"a\":\"xyz\"}",
               "!document too long@10");
    j.max_size = 0;
    test_limit("size 0, empty", &j, "", "!unexpected end@0");
    test_limit("size 0", &j, "{}", "!document too long@0");

    /* max_nodes: 5 values */

    ngx_ws_gateway_json_init(&j, test_nodes, 5, NULL, 0);
    test_limit("nodes at the limit", &j, "{\"a\":[1,2,3]}",
               "{\"a\":[1#1,2#2,3#3]}");
    j.max_nodes = 4;
    test_limit("nodes one past", &j, "{\"a\":[1,2,3]}",
               "!too many values@10");
    test_limit("nodes one past, a container", &j, "{\"a\":[1,2,[]]}",
               "!too many values@10");
    test_limit("nodes one past, empty members", &j,
               "{\"a\":{},\"b\":{},\"c\":{},\"d\":{}}",
               "!too many values@26");
    j.max_nodes = 1;
    test_limit("nodes 1", &j, "{}", "{}");
    test_limit("nodes 1, one member", &j, "{\"a\":1}",
               "!too many values@5");
    j.max_nodes = 0;
    test_limit("nodes 0", &j, "{}", "!too many values@0");

    /* max_string: decoded bytes, for keys and values */

    ngx_ws_gateway_json_init(&j, test_nodes, TEST_NODES, NULL, 0);
    j.max_string = 4;
    test_limit("string at the limit", &j, "{\"abcd\":\"efgh\"}",
               "{\"abcd\":\"efgh\"}");
    test_limit("escaped string at the limit", &j,
               "{\"a\":\"\\u00e9\\u00e9\"}",
               "{\"a\":\"\\xc3\\xa9\\xc3\\xa9\"}");
    test_limit("pair at the limit", &j, "{\"a\":\"\\ud83d\\ude00\"}",
               "{\"a\":\"\\xf0\\x9f\\x98\\x80\"}");
    j.max_string = 3;
    test_limit("key one past", &j, "{\"abcd\":1}", "!string too long@1");
    test_limit("value one past", &j, "{\"a\":\"efgh\"}",
               "!string too long@5");
    test_limit("escaped string one past", &j,
               "{\"a\":\"\\u00e9\\u00e9\"}", "!string too long@5");
    test_limit("raw UTF-8 one past", &j, "{\"a\":\"\xc3\xa9\xc3\xa9\"}",
               "!string too long@5");
    j.max_string = 0;
    test_limit("string 0, empty strings", &j, "{\"\":\"\"}",
               "{\"\":\"\"}");
    test_limit("string 0", &j, "{\"\":\"a\"}", "!string too long@4");

    /* numbers of 64 and 65 characters */

    ngx_ws_gateway_json_init(&j, test_nodes, TEST_NODES, NULL, 0);

    n = sprintf(doc, "{\"n\":1");
    ngx_memset(doc + n, '0', 63);
    doc[n + 63] = '\0';
    sprintf(expect, "{\"n\":%s~%.17g}", doc + 5, strtod(doc + 5, NULL));
    doc[n + 63] = '}';
    doc[n + 64] = '\0';
    test_limit("number at the limit", &j, doc, expect);

    sprintf(doc + n + 63, "0}");
    test_limit("number one past", &j, doc, "!number too long@5");

    n = sprintf(doc, "{\"n\":-0.");
    ngx_memset(doc + n, '0', 60);
    sprintf(doc + n + 60, "1");
    sprintf(expect, "{\"n\":%s~%.17g}", doc + 5, strtod(doc + 5, NULL));
    strcat(doc, "}");
    test_limit("fraction at the limit", &j, doc, expect);

    sprintf(doc + n + 60, "01}");
    test_limit("fraction one past", &j, doc, "!number too long@5");

    /* scratch space, used by escaped strings only */

    ngx_ws_gateway_json_init(&j, test_nodes, TEST_NODES, NULL, 0);
    rc = ngx_ws_gateway_json_parse(&j, (u_char *) "{\"a\":\"b\"}", 9);
    unit_check(rc == NGX_OK, "no scratch, no escapes: %s", j.error);

    rc = ngx_ws_gateway_json_parse(&j, (u_char *) "{\"a\":\"\\n\"}", 10);
    unit_check(rc == NGX_ERROR
               && strcmp(j.error, "out of scratch space") == 0
               && j.offset == 6,
               "no scratch, an escape: %s@%lu", j.error,
               (unsigned long) j.offset);

    ngx_ws_gateway_json_init(&j, test_nodes, TEST_NODES, scratch, 4);
    rc = ngx_ws_gateway_json_parse(&j, (u_char *) "{\"a\\n\":\"b\\n\"}",
                                   13);
    unit_check(rc == NGX_OK && j.nodes[1].key.data == scratch
               && j.nodes[1].value.data == scratch + 2,
               "scratch of 4 for 4: %s", j.error);

    rc = ngx_ws_gateway_json_parse(&j, (u_char *) "{\"a\\n\":\"bc\\n\"}",
                                   14);
    unit_check(rc == NGX_ERROR
               && strcmp(j.error, "out of scratch space") == 0
               && j.offset == 10,
               "scratch of 4 for 5: %s@%lu", j.error,
               (unsigned long) j.offset);
}


static void
test_limit(const char *name, ngx_ws_gateway_json_t *j, const char *doc,
    const char *expect)
{
    char  result[TEST_DUMP_MAX];

    (void) test_parse(j, (u_char *) doc, strlen(doc), result);

    unit_check(strcmp(result, expect) == 0, "%s: got %s, expected %s",
               name, result, expect);
}


/*
 * Nesting exactly at and one past max_depth, for arrays, objects and a
 * mix, with the default (16) and with 1 and 2.
 */

static void
test_depth(void)
{
    char                    doc[TEST_DOC_MAX], expect[TEST_DOC_MAX];
    size_t                  n, m;
    ngx_uint_t              depth, max, i, k;
    ngx_ws_gateway_json_t   j;

    static ngx_uint_t  maxes[] = { 1, 2, NGX_WS_GATEWAY_JSON_MAX_DEPTH };

    for (k = 0; k < sizeof(maxes) / sizeof(maxes[0]); k++) {
        max = maxes[k];

        for (depth = max; depth <= max + 1; depth++) {

            /* {"a":[{"a":[ ... ]}]}, {"a":1} innermost at an odd depth */

            n = 0;

            for (i = 0; i < depth; i++) {
                n += sprintf(doc + n, (i % 2) ? "[" : "{\"a\":");
            }

            ngx_memcpy(expect, doc, n);
            m = n;

            if (depth % 2) {
                doc[n++] = '1';
                m += sprintf(expect + m, "1#1");
            }

            for (i = depth; i > 0; i--) {
                doc[n++] = ((i - 1) % 2) ? ']' : '}';
                expect[m++] = doc[n - 1];
            }

            doc[n] = '\0';
            expect[m] = '\0';

            ngx_ws_gateway_json_init(&j, test_nodes, TEST_NODES, NULL, 0);
            j.max_depth = max;

            if (depth == max) {
                test_limit("depth at the limit", &j, doc, expect);
                continue;
            }

            /* the bracket opening level max + 1 */

            for (n = 0, i = 0; i < max; i++) {
                n += (i % 2) ? 1 : 5;
            }

            sprintf(expect, "!too deep@%lu", (unsigned long) n);

            test_limit("depth one past", &j, doc, expect);
        }
    }

    /* arrays only, any root */

    ngx_ws_gateway_json_init(&j, test_nodes, TEST_NODES, NULL, 0);
    j.require_object = 0;

    ngx_memset(doc, '[', 16);
    ngx_memset(doc + 16, ']', 16);
    doc[32] = '\0';
    test_limit("16 arrays", &j, doc, doc);

    ngx_memset(doc, '[', 17);
    ngx_memset(doc + 17, ']', 17);
    doc[34] = '\0';
    test_limit("17 arrays", &j, doc, "!too deep@16");

    /* closing containers gives the depth back */

    test_limit("siblings at the limit", &j,
               "[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]],"
               "[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]",
               "[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]],"
               "[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]");

    j.max_depth = 0;
    test_limit("depth 0, a scalar", &j, "1", "1#1");
    test_limit("depth 0, a container", &j, "[]", "!too deep@0");
}


#define TEST_RSA_N                                                           \
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1R"   \
    "K7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9"   \
    "yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZg"   \
    "nYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6We"   \
    "Zu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDK"   \
    "gw"

#define TEST_JWT_HEADER                                                      \
    "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"2011-04-29\"}"

#define TEST_JWT_CLAIMS                                                      \
    "{\"iss\":\"https://issuer.example\",\"sub\":\"user-42\","               \
    "\"aud\":[\"ws-gateway\",\"other\"],\"exp\":1767225600,"                 \
    "\"nbf\":1735689600,\"iat\":1735689600.25,\"jti\":\"9f1c\","            \
    "\"name\":\"Zo\\u00eb \\ud83d\\ude00\",\"admin\":false,"                 \
    "\"cnf\":{\"jkt\":\"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I\"},"     \
    "\"http:\\/\\/example.com\\/is_root\":true}"

/* after RFC 7517 A.1 and A.3 and RFC 8037 A.2 */

#define TEST_JWKS                                                            \
    "{\"keys\":\r\n"                                                         \
    " [\r\n"                                                                 \
    "  {\"kty\":\"EC\",\r\n"                                                 \
    "   \"crv\":\"P-256\",\r\n"                                              \
    "   \"x\":\"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4\",\r\n"          \
    "   \"y\":\"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM\",\r\n"          \
    "   \"use\":\"enc\",\r\n"                                                \
    "   \"kid\":\"1\"},\r\n"                                                 \
    "  {\"kty\":\"RSA\",\r\n"                                                \
    "   \"n\": \"" TEST_RSA_N "\",\r\n"                                      \
    "   \"e\":\"AQAB\",\r\n"                                                 \
    "   \"alg\":\"RS256\",\r\n"                                              \
    "   \"kid\":\"2011-04-29\"},\r\n"                                        \
    "  {\"kty\":\"OKP\",\"crv\":\"Ed25519\",\r\n"                            \
    "   \"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"},\r\n"         \
    "  {\"kty\":\"oct\",\"alg\":\"A128KW\","                                 \
    "\"k\":\"GawgguFyGrWKav7AX4VKUg\"},\r\n"                                 \
    "  {\"kty\":\"oct\",\r\n"                                                \
    "   \"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtM"  \
    "N3Yj0iPS4hcgUuTwjAzZr1Z9CAow\",\r\n"                                    \
    "   \"kid\":\"HMAC key used in JWS spec Appendix A.1 example\"}\r\n"    \
    " ]\r\n"                                                                 \
    "}\r\n"


#define test_get(j, n, name)                                                 \
    ngx_ws_gateway_json_get(j, n, (u_char *) name, sizeof(name) - 1)

#define test_get_type(j, n, name, type)                                      \
    ngx_ws_gateway_json_get_type(j, n, (u_char *) name, sizeof(name) - 1,    \
                                 NGX_WS_GATEWAY_JSON_ ## type)

#define test_str_eq(s, lit)                                                  \
    ((s)->len == sizeof(lit) - 1 && ngx_memcmp((s)->data, lit, (s)->len) == 0)


static void
test_jwt(void)
{
    u_char                       scratch[sizeof(TEST_JWT_CLAIMS)];
    ngx_uint_t                   i;
    ngx_ws_gateway_json_t        j;
    ngx_ws_gateway_json_node_t  *root, *n, *c;

    static u_char  claims[] = TEST_JWT_CLAIMS;

    ngx_ws_gateway_json_init(&j, test_nodes, TEST_NODES, scratch,
                             sizeof(scratch));

    unit_check(ngx_ws_gateway_json_parse(&j, (u_char *) TEST_JWT_HEADER,
                                         sizeof(TEST_JWT_HEADER) - 1)
               == NGX_OK, "JWT header: %s", j.error);

    root = ngx_ws_gateway_json_root(&j);

    n = test_get_type(&j, root, "alg", STRING);
    unit_check(n && test_str_eq(&n->value, "RS256"), "JWT header alg");

    n = test_get_type(&j, root, "kid", STRING);
    unit_check(n && test_str_eq(&n->value, "2011-04-29"), "JWT header kid");

    unit_check(test_get(&j, root, "crit") == NULL, "JWT header crit");
    unit_check(root->count == 3 && j.nnodes == 4, "JWT header counts");

    unit_check(ngx_ws_gateway_json_parse(&j, claims, sizeof(claims) - 1)
               == NGX_OK, "JWT claims: %s", j.error);

    root = ngx_ws_gateway_json_root(&j);

    n = test_get(&j, root, "exp");
    unit_check(n && ngx_ws_gateway_json_is_integer(n)
               && n->integer == 1767225600,
               "exp");

    n = test_get(&j, root, "iat");
    unit_check(n && n->type == NGX_WS_GATEWAY_JSON_NUMBER && !n->integral
               && n->number == 1735689600.25,
               "iat with a fraction");

    unit_check(test_get_type(&j, root, "exp", STRING) == NULL,
               "exp is not a string");

    n = test_get_type(&j, root, "aud", ARRAY);
    unit_check(n && n->count == 2, "aud");

    if (n) {
        i = 0;

        for (c = ngx_ws_gateway_json_first(&j, n);
             c;
             c = ngx_ws_gateway_json_next(&j, c))
        {
            unit_check(c->type == NGX_WS_GATEWAY_JSON_STRING
                       && (i ? test_str_eq(&c->value, "other")
                             : test_str_eq(&c->value, "ws-gateway")),
                       "aud[%lu]", (unsigned long) i);
            i++;
        }

        unit_check(i == 2, "aud iterated");
    }

    n = test_get_type(&j, root, "name", STRING);
    unit_check(n && test_str_eq(&n->value, "Zo\xc3\xab \xf0\x9f\x98\x80")
               && n->value.data >= scratch
               && n->value.data < scratch + sizeof(scratch),
               "name decoded into scratch");

    n = test_get_type(&j, root, "sub", STRING);
    unit_check(n && test_str_eq(&n->value, "user-42")
               && n->value.data > claims
               && n->value.data < claims + sizeof(claims),
               "sub points into the input");

    n = test_get_type(&j, root, "http://example.com/is_root", TRUE);
    unit_check(n != NULL, "escaped claim name");

    n = test_get_type(&j, root, "admin", FALSE);
    unit_check(n != NULL, "admin");

    n = test_get_type(&j, test_get_type(&j, root, "cnf", OBJECT), "jkt",
                      STRING);
    unit_check(n && n->value.len == 43, "cnf.jkt");

    unit_check(test_get(&j, test_get(&j, root, "sub"), "x") == NULL,
               "get on a string");
    unit_check(test_get(&j, NULL, "x") == NULL, "get on NULL");
    unit_check(ngx_ws_gateway_json_get(&j, root, NULL, 0) == NULL,
               "get an empty name");
}


static void
test_jwks(void)
{
    char                         result[TEST_DUMP_MAX * 2];
    ngx_uint_t                   i;
    ngx_ws_gateway_json_t        j;
    ngx_ws_gateway_json_node_t  *root, *keys, *k, *n;

    static const char  *kty[] = { "EC", "RSA", "OKP", "oct", "oct" };

    ngx_ws_gateway_json_init(&j, test_nodes, TEST_NODES, NULL, 0);

    unit_check(test_parse(&j, (u_char *) TEST_JWKS, sizeof(TEST_JWKS) - 1,
                          result)
               == NGX_OK, "JWKS: %s", result);

    /* test_parse() freed the input: parse it in place to look inside */

    unit_check(ngx_ws_gateway_json_parse(&j, (u_char *) TEST_JWKS,
                                         sizeof(TEST_JWKS) - 1)
               == NGX_OK, "JWKS: %s", j.error);

    root = ngx_ws_gateway_json_root(&j);
    keys = test_get_type(&j, root, "keys", ARRAY);

    unit_check(keys && keys->count == 5, "JWKS keys");

    if (keys == NULL) {
        return;
    }

    for (i = 0, k = ngx_ws_gateway_json_first(&j, keys);
         k;
         i++, k = ngx_ws_gateway_json_next(&j, k))
    {
        n = test_get_type(&j, k, "kty", STRING);

        unit_check(i < 5 && n && n->value.len == strlen(kty[i])
                   && ngx_memcmp(n->value.data, kty[i], n->value.len) == 0,
                   "JWKS key %lu kty", (unsigned long) i);
    }

    k = ngx_ws_gateway_json_first(&j, keys);
    n = test_get_type(&j, k, "y", STRING);
    unit_check(n && n->value.len == 43, "EC y");

    k = ngx_ws_gateway_json_next(&j, k);
    n = test_get_type(&j, k, "n", STRING);
    unit_check(n && test_str_eq(&n->value, TEST_RSA_N)
               && n->value.len == 342,
               "RSA n");

    k = ngx_ws_gateway_json_next(&j, k);
    n = test_get_type(&j, k, "crv", STRING);
    unit_check(n && test_str_eq(&n->value, "Ed25519"), "OKP crv");

    k = ngx_ws_gateway_json_next(&j, ngx_ws_gateway_json_next(&j, k));
    n = test_get_type(&j, k, "kid", STRING);
    unit_check(n && n->value.len == 46, "oct kid");
    unit_check(ngx_ws_gateway_json_next(&j, k) == NULL, "last key");
}


/* lookups see decoded names, and only the members of that object */

static void
test_lookup(void)
{
    u_char                       scratch[64];
    ngx_ws_gateway_json_t        j;
    ngx_ws_gateway_json_node_t  *root, *n;

    static u_char  doc[] =
        "{\"\\u006b\\u0069\\u0064\":\"a\",\"x\":{\"y\":1},\"\":[null],"
        "\"e\\u0301\":2}";

    ngx_ws_gateway_json_init(&j, test_nodes, TEST_NODES, scratch,
                             sizeof(scratch));

    unit_check(ngx_ws_gateway_json_parse(&j, doc, sizeof(doc) - 1)
               == NGX_OK, "lookup doc: %s", j.error);

    root = ngx_ws_gateway_json_root(&j);

    n = test_get(&j, root, "kid");
    unit_check(n && test_str_eq(&n->value, "a"), "escaped key found");

    unit_check(test_get(&j, root, "y") == NULL, "nested key not found");
    unit_check(test_get(&j, root, "ki") == NULL, "prefix not found");
    unit_check(test_get(&j, root, "kidd") == NULL, "longer not found");

    n = test_get_type(&j, root, "", ARRAY);
    unit_check(n && n->count == 1
               && ngx_ws_gateway_json_first(&j, n)->type
                  == NGX_WS_GATEWAY_JSON_NULL,
               "empty key");

    /* no normalization: e + U+0301 is not U+00E9 */

    unit_check(test_get(&j, root, "\xc3\xa9") == NULL, "not normalized");
    unit_check(test_get(&j, root, "e\xcc\x81") != NULL, "combining");

    unit_check(test_get(&j, test_get(&j, root, "x"), "y")->integer == 1,
               "x.y");
}


/* a parser is used again after success and failure alike */

static void
test_reuse(void)
{
    ngx_ws_gateway_json_t  j;

    ngx_ws_gateway_json_init(&j, test_nodes, TEST_NODES, NULL, 0);

    test_limit("reuse 1", &j, "{\"a\":[1,2,{\"b\":3}]}",
               "{\"a\":[1#1,2#2,{\"b\":3#3}]}");
    test_limit("reuse 2", &j, "{\"a\":1,\"a\":2}", "!duplicate key@7");
    unit_check(j.nnodes == 2, "nodes made before the error: %lu",
               (unsigned long) j.nnodes);
    test_limit("reuse 3", &j, "{\"c\":\"d\"}", "{\"c\":\"d\"}");
    unit_check(j.nnodes == 2 && j.error == NULL && j.offset == 0,
               "reuse state");
}


/*
 * Random mutations of real documents (bytes replaced, inserted,
 * deleted, cuts): never a crash, an error always within the input, an
 * accepted tree always sound.
 */

static void
test_mutations(void)
{
    u_char                 *doc, *scratch;
    size_t                  len, base_len, at;
    uint64_t                seed, r;
    ngx_int_t               rc;
    ngx_uint_t              i, k, bad, accepted;
    ngx_ws_gateway_json_t   j;

    static const char  *bases[] = {
        TEST_JWT_HEADER, TEST_JWT_CLAIMS, TEST_JWKS,
        "{\"a\":[1,-2.5e3,true,false,null,{\"b\":\"\\ud83d\\ude00\"}]}"
    };

    static const u_char  bytes[] = "{}[]\",:\\u0123456789abcdef-+.eE \x80"
                                   "\xc3\xed\xf0\xf4\xff\0tfn";

    seed = 42;
    bad = 0;
    accepted = 0;

    for (i = 0; i < 20000; i++) {
        base_len = strlen(bases[i % 4]);

        doc = malloc(base_len + 8);
        ngx_memcpy(doc, bases[i % 4], base_len);
        len = base_len;

        for (k = 0; k < 1 + unit_random(&seed) % 3; k++) {
            r = unit_random(&seed);
            at = (r >> 8) % (len + 1);

            switch (r % 4) {

            case 0:
                if (at < len) {
                    doc[at] = bytes[(r >> 32) % (sizeof(bytes) - 1)];
                }
                break;

            case 1:
                if (len < base_len + 7) {
                    ngx_memmove(doc + at + 1, doc + at, len - at);
                    doc[at] = bytes[(r >> 32) % (sizeof(bytes) - 1)];
                    len++;
                }
                break;

            case 2:
                if (at < len) {
                    ngx_memmove(doc + at, doc + at + 1, len - at - 1);
                    len--;
                }
                break;

            default:
                len = at;
            }
        }

        scratch = malloc(len ? len : 1);

        ngx_ws_gateway_json_init(&j, test_nodes, 64, scratch, len);
        j.max_string = 400;

        rc = ngx_ws_gateway_json_parse(&j, doc, len);

        if (rc == NGX_OK) {
            accepted++;

            if (!test_check_tree(&j, doc, len, scratch, len)) {
                bad++;
            }

        } else if (rc != NGX_ERROR || j.error == NULL || j.offset > len) {
            bad++;
        }

        free(scratch);
        free(doc);
    }

    unit_check(bad == 0, "mutations: %lu bad", (unsigned long) bad);
    unit_check(accepted > 0, "mutations: none accepted");
}
