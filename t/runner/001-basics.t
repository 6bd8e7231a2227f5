# Self-test of the Test::Nginx runner: responses, headers, several
# requests per block, logs.  Passes under t/lib and under the real
# Test::Nginx::Socket (see t/README.md).
use Test::Nginx::Socket;

repeat_each(2);

# status + body, per request, unless noted; error-log patterns are
# checked after every request.
plan tests => repeat_each() * (3 + 4 + 2 + 9 + 3 + 5 + 2);

run_tests();

__DATA__

=== TEST 1: return a fixed body
--- config
    location = /t {
        return 200 "hello\n";
    }
--- request
GET /t
--- response_body
hello
--- no_error_log
[error]



=== TEST 2: response headers, present and absent
--- config
    location = /h {
        add_header X-Foo bar;
        return 204;
    }
--- request
GET /h
--- error_code: 204
--- response_headers
X-Foo: bar
! X-Missing
--- response_body



=== TEST 3: request URI and more_headers reach nginx
--- config
    location /echo {
        return 200 "uri=$request_uri foo=$http_x_foo\n";
    }
--- request
GET /echo/a?b=1
--- more_headers
X-Foo: 42
--- response_body
uri=/echo/a?b=1 foo=42



=== TEST 4: several requests, each on its own connection
--- config
    location /echo {
        return 200 "$request_method $uri $content_length\n";
    }
--- request eval
["GET /echo/1", "HEAD /echo/2", "POST /echo/3\nhello"]
--- error_code eval
[200, 200, 200]
--- response_body eval
["GET /echo/1 \n", "", "POST /echo/3 5\n"]
--- no_error_log
[error]



=== TEST 5: regex checks on status, raw headers and body
--- config
    location = /404 {
        return 404;
    }
--- request
GET /404
--- error_code_like: ^4\d\d$
--- raw_response_headers_like: ^HTTP/1\.1 404 Not Found\r\n
--- response_body_like: <title>404 Not Found</title>



=== TEST 6: error_log with a substring and a regex
--- config
--- request
GET /missing.html
--- error_code: 404
--- error_log eval
["No such file or directory", qr/open\(\) "\S+missing\.html" failed/]
--- no_error_log
[alert]
[crit]



=== TEST 7: user_files are served from html/
--- config
--- user_files
>>> a.txt
file A
--- request
GET /a.txt
--- response_body
file A
