# Self-test of the Test::Nginx runner: raw requests, timeouts, pipelining,
# body filters, a block reusing the previous nginx.  The blocks run in
# order because TEST 2 has no --- config.
use Test::Nginx::Socket;

no_shuffle();
plan tests => 3 + 2 + 1 + 2 + 2 + 4 + 4 + 4;

run_tests();

__DATA__

=== TEST 1: a bad raw request gets 400
--- config
    location /t {
        return 200 "ok\n";
    }
--- raw_request eval
"GET / HTTP/1.1\r\n\r\n"
--- error_code: 400
--- response_body_like: 400 Bad Request
--- error_log
client sent HTTP/1.1 request without "Host" header



=== TEST 2: no --- config: reuse the running nginx; raw writes
--- raw_request eval
["GET /t HTTP/1.0\r\n", "Host: x\r\n\r\n"]
--- raw_request_middle_delay: 0.05
--- response_body
ok



=== TEST 3: an unfinished request times out, --- abort accepts that
--- config
    location /t {
        return 200 "ok\n";
    }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\n"
--- timeout: 300ms
--- abort
--- ignore_response
--- no_error_log
[error]



=== TEST 4: half-close after the request
--- config
    location /t {
        return 200 "ok\n";
    }
--- raw_request eval
"GET /t HTTP/1.0\r\n\r\n"
--- shutdown
--- response_body
ok



=== TEST 5: named and CODE body filters
--- config
    location /t {
        return 200 "Hello\n";
    }
--- request
GET /t
--- response_body_filters eval
["uc", sub { my $s = shift; $s =~ s{\n\z}{}; "[$s]" }]
--- response_body chomp
[HELLO]



=== TEST 6: one filter list per request
--- config
    location /t {
        return 200 "Hello\n";
    }
--- request eval
["GET /t", "GET /t"]
--- response_body_filters eval
[["uc"], ["length"]]
--- response_body eval
["HELLO\n", 6]



=== TEST 7: more_headers per request
--- config
    location /t {
        return 200 "[$http_x_n]\n";
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["X-N: 1", "X-N: 2"]
--- response_body eval
["[1]\n", "[2]\n"]
--- error_code eval
[200, 200]



=== TEST 8: pipelined requests on one connection
--- config
    location /t {
        return 200 "$request_uri\n";
    }
--- pipelined_requests eval
["GET /t/a", "GET /t/b"]
--- error_code eval
[200, 200]
--- response_body eval
["/t/a\n", "/t/b\n"]
