# Self-test of the Test::Nginx runner: --- tcp_listen mock backends,
# chunked responses, a 101 upgrade with a raw body, grep_error_log.
use Test::Nginx::Socket;

plan tests => 5 + 3 + 4 + 3 + 2;

run_tests();

__DATA__

=== TEST 1: proxy to a mock; the client sees a chunked response
--- config
    location /p/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
        proxy_set_header Host backend;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"GET /x HTTP/1.0\r\nHost: backend\r\nConnection: close\r\n\r\n"
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nX-Mock: yes\r\n\r\nfrom mock\n"
--- request
GET /p/x
--- raw_response_headers_like: Transfer-Encoding: chunked
--- response_headers
X-Mock: yes
--- response_body
from mock



=== TEST 2: a CODE reply sees the query; tcp_query_len
--- config
    location /p/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
        proxy_set_header Host backend;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query_len: 53
--- tcp_reply eval
sub {
    my ($uri) = $_[0] =~ /^GET (\S+)/;
    return "HTTP/1.0 200 OK\r\nContent-Length: "
           . (length($uri) + 1) . "\r\n\r\n$uri\n";
}
--- request
GET /p/y
--- response_body
/y



=== TEST 3: 101 leaves the body raw
--- config
    location /ws {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
. "Connection: Upgrade\r\n\r\n\x81\x05hello"
--- raw_request eval
"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
. "Connection: Upgrade\r\n\r\n"
--- error_code: 101
--- response_headers
Upgrade: websocket
--- response_body eval
"\x81\x05hello"
--- no_error_log
[error]



=== TEST 4: a tunnel that stays open: --- timeout, --- abort, filters
--- config
    location /ws {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_no_close
--- tcp_reply eval
["HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
 . "Connection: Upgrade\r\n\r\n", "\x81\x02hi\x89\x00"]
--- raw_request eval
"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
. "Connection: Upgrade\r\n\r\n"
--- timeout: 500ms
--- abort
--- error_code: 101
--- response_body_filters eval
sub {
    my ($data, $out) = (shift, '');
    while (length $data >= 2) {
        my $len = ord(substr $data, 1, 1) & 0x7f;
        $out .= sprintf "opcode %d: [%s]\n", ord(substr $data, 0, 1) & 0x0f,
                        substr $data, 2, $len;
        substr($data, 0, 2 + $len) = '';
    }
    return $out;
}
--- response_body
opcode 1: [hi]
opcode 9: []
--- no_error_log
[error]



=== TEST 5: grep_error_log collects the matching parts
--- config
    location /p/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_2/;
    }
--- request
GET /p/
--- error_code: 502
--- grep_error_log eval
qr/connect\(\) failed \(\d+: [^)]+\)/
--- grep_error_log_out
connect() failed (111: Connection refused)
