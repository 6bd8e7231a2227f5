# The opening handshake (RFC 6455 section 4): a valid request gets 101
# with the exact accept key, header names and tokens are matched without
# regard to case, subprotocols are negotiated, and every rejection gets
# its exact status and extra headers, with one [info] line naming the
# reason and nothing at [error] or above.
use t::WsGateway;

repeat_each(1);

plan tests => repeat_each() * ::ws_count_checks(blocks());

our $Config = <<'_EOC_';
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_subprotocols chat superchat v2.json;
    }

    location /plain {
        ws_gateway_pass builtin:echo;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value(config => $Config) unless defined $block->config;
});

run_tests();

__DATA__

=== TEST 1: a valid handshake gets 101 with the RFC 6455 accept key
--- raw_request eval
::ws_handshake('/ws') . ::ws_close_frame(1000)
--- error_code: 101
--- response_headers
Upgrade: websocket
Connection: upgrade
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
!Sec-WebSocket-Protocol
!Content-Length
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- no_error_log
[error]



=== TEST 2: the accept key is computed from the client's key
--- raw_request eval
::ws_handshake('/ws', 'Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==')
. ::ws_close_frame(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- no_error_log
[error]



=== TEST 3: header names and the Upgrade and Connection tokens are case-insensitive
--- raw_request eval
::ws_handshake('/ws', 'Upgrade:', 'Connection:',
               'upgrade: WebSocket', 'connection: keep-alive, Upgrade')
. ::ws_close_frame(1000)
--- error_code: 101
--- response_headers
Upgrade: websocket
Connection: upgrade
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- no_error_log
[error]



=== TEST 4: the Sec-WebSocket-* names are case-insensitive
--- raw_request eval
::ws_handshake('/ws', 'Sec-WebSocket-Key:', 'Sec-WebSocket-Version:',
               'sec-websocket-key: AQIDBAUGBwgJCgsMDQ4PEA==',
               'SEC-WEBSOCKET-VERSION: 13')
. ::ws_close_frame(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: C/0nmHhBztSRGR1CwL6Tf4ZjwpY=
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- no_error_log
[error]



=== TEST 5: websocket anywhere in an Upgrade list, upgrade anywhere in a Connection list
--- raw_request eval
::ws_handshake('/ws', 'Upgrade: h2c, websocket',
               'Connection: keep-alive,upgrade , foo')
. ::ws_close_frame(1000)
--- error_code: 101
--- response_headers
Upgrade: websocket
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- no_error_log
[error]



=== TEST 6: subprotocols: the client's first supported one wins, not the configured order
--- raw_request eval
::ws_handshake('/ws', 'Sec-WebSocket-Protocol: foo, superchat, chat')
. ::ws_close_frame(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: superchat
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- no_error_log
[error]



=== TEST 7: subprotocols: the client's order wins, again
--- raw_request eval
::ws_handshake('/ws', 'Sec-WebSocket-Protocol: v2.json,chat')
. ::ws_close_frame(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: v2.json
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- no_error_log
[error]



=== TEST 8: subprotocols: none supported, no Sec-WebSocket-Protocol, still 101
--- raw_request eval
::ws_handshake('/ws', 'Sec-WebSocket-Protocol: foo, bar, Chat, chat2')
. ::ws_close_frame(1000)
--- error_code: 101
--- response_headers
!Sec-WebSocket-Protocol
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- no_error_log
[error]



=== TEST 9: subprotocols: offers over several header lines, the first supported one wins
--- raw_request eval
::ws_handshake('/ws', 'Sec-WebSocket-Protocol: foo',
               '+Sec-WebSocket-Protocol: chat, superchat',
               '+Sec-WebSocket-Protocol: superchat')
. ::ws_close_frame(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Protocol: chat
--- raw_response_headers_unlike: superchat
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- no_error_log
[error]



=== TEST 10: subprotocols: a location without ws_gateway_subprotocols selects none
--- raw_request eval
::ws_handshake('/plain', 'Sec-WebSocket-Protocol: chat')
. ::ws_close_frame(1000)
--- error_code: 101
--- response_headers
!Sec-WebSocket-Protocol
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- no_error_log
[error]



=== TEST 11: frames pipelined in the handshake's packet are echoed
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('text', 'first') . ::ws_frame('ping', 'p')
. ::ws_frame('binary', "\x00\x01\x02") . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: first
pong: p
binary: 3 bytes
close: 1000
--- no_error_log
[error]



=== TEST 12: a partial frame pipelined in the handshake's packet is completed later
--- raw_request eval
my $f = ::ws_frame('text', 'split');
[::ws_handshake('/ws') . substr($f, 0, 4), substr($f, 4) . ::ws_close_frame(1000)]
--- raw_request_middle_delay: 0.05
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: split
close: 1000
--- no_error_log
[error]



=== TEST 13: POST is 405 with Allow: GET
--- raw_request eval
::ws_handshake('/ws', 'Connection: Upgrade, close') =~ s/^GET /POST /r
--- error_code: 405
--- response_headers
Allow: GET
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent POST request to a WebSocket location
--- no_error_log
[error]



=== TEST 14: PUT is 405 with Allow: GET
--- raw_request eval
::ws_handshake('/ws', 'Connection: Upgrade, close', 'Content-Length: 0')
=~ s/^GET /PUT /r
--- error_code: 405
--- response_headers
Allow: GET
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent PUT request to a WebSocket location
--- no_error_log
[error]



=== TEST 15: HTTP/1.0 is 400
--- raw_request eval
::ws_handshake('/ws') =~ s{ HTTP/1\.1\r\n}{ HTTP/1.0\r\n}r
--- error_code: 400
--- response_headers
!Sec-WebSocket-Accept
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent WebSocket handshake over HTTP/1.0, HTTP/1.1 required
--- no_error_log
[error]



=== TEST 16: a plain GET without Upgrade is 426 with Upgrade: websocket
--- request
GET /ws
--- error_code: 426
--- response_headers
Upgrade: websocket
Connection: close, upgrade
!Sec-WebSocket-Version
!Sec-WebSocket-Accept
--- response_body eval
"This is a WebSocket endpoint: connect with a WebSocket client (RFC 6455).\r\n"
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent plain HTTP request to a WebSocket location
--- no_error_log
[error]



=== TEST 17: an Upgrade header without websocket is 426
--- raw_request eval
::ws_handshake('/ws', 'Upgrade: h2c', 'Connection: Upgrade, close')
--- error_code: 426
--- response_headers
Upgrade: websocket
!Sec-WebSocket-Accept
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent "Upgrade" header without "websocket"
--- no_error_log
[error]



=== TEST 18: websocket must be a whole token of Upgrade: 426
--- raw_request eval
::ws_handshake('/ws', 'Upgrade: websocket2, web socket',
               'Connection: Upgrade, close')
--- error_code: 426
--- response_headers
Upgrade: websocket
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent "Upgrade" header without "websocket"
--- no_error_log
[error]



=== TEST 19: a Connection header without upgrade is 400
--- raw_request eval
::ws_handshake('/ws', 'Connection: keep-alive')
--- error_code: 400
--- response_headers
!Sec-WebSocket-Accept
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent "Connection" header without "upgrade"
--- no_error_log
[error]



=== TEST 20: no Connection header at all is 400
--- raw_request eval
::ws_handshake('/ws', 'Connection:')
--- error_code: 400
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent "Connection" header without "upgrade"
--- no_error_log
[error]



=== TEST 21: no Sec-WebSocket-Version is 426 with Sec-WebSocket-Version: 13
--- raw_request eval
::ws_handshake('/ws', 'Sec-WebSocket-Version:', 'Connection: Upgrade, close')
--- error_code: 426
--- response_headers
Sec-WebSocket-Version: 13
Upgrade: websocket
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent unsupported "Sec-WebSocket-Version": ""
--- no_error_log
[error]



=== TEST 22: Sec-WebSocket-Version: 8 is 426 with Sec-WebSocket-Version: 13
--- raw_request eval
::ws_handshake('/ws', 'Sec-WebSocket-Version: 8', 'Connection: Upgrade, close')
--- error_code: 426
--- response_headers
Sec-WebSocket-Version: 13
Upgrade: websocket
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent unsupported "Sec-WebSocket-Version": "8"
--- no_error_log
[error]



=== TEST 23: Sec-WebSocket-Version: 13, 8 is 426 with Sec-WebSocket-Version: 13
--- raw_request eval
::ws_handshake('/ws', 'Sec-WebSocket-Version: 13, 8',
               'Connection: Upgrade, close')
--- error_code: 426
--- response_headers
Sec-WebSocket-Version: 13
Upgrade: websocket
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent unsupported "Sec-WebSocket-Version": "13, 8"
--- no_error_log
[error]



=== TEST 24: two Sec-WebSocket-Version headers are 426 with Sec-WebSocket-Version: 13
--- raw_request eval
::ws_handshake('/ws', '+Sec-WebSocket-Version: 13',
               'Connection: Upgrade, close')
--- error_code: 426
--- response_headers
Sec-WebSocket-Version: 13
Upgrade: websocket
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent unsupported "Sec-WebSocket-Version": "13"
--- no_error_log
[error]



=== TEST 25: no Sec-WebSocket-Key is 400
--- raw_request eval
::ws_handshake('/ws', 'Sec-WebSocket-Key:')
--- error_code: 400
--- response_headers
!Sec-WebSocket-Accept
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent invalid "Sec-WebSocket-Key": ""
--- no_error_log
[error]



=== TEST 26: a Sec-WebSocket-Key that is not base64 is 400
--- raw_request eval
::ws_handshake('/ws', 'Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==')
--- error_code: 400
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent invalid "Sec-WebSocket-Key": "!!!!!!!!!!!!!!!!!!!!!!=="
--- no_error_log
[error]



=== TEST 27: a Sec-WebSocket-Key of 12 bytes is 400
--- raw_request eval
::ws_handshake('/ws', 'Sec-WebSocket-Key: AAECAwQFBgcICQoL')
--- error_code: 400
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent invalid "Sec-WebSocket-Key": "AAECAwQFBgcICQoL"
--- no_error_log
[error]



=== TEST 28: a Sec-WebSocket-Key of 17 bytes is 400
--- raw_request eval
::ws_handshake('/ws', 'Sec-WebSocket-Key: AAECAwQFBgcICQoLDA0ODxA=')
--- error_code: 400
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent invalid "Sec-WebSocket-Key": "AAECAwQFBgcICQoLDA0ODxA="
--- no_error_log
[error]



=== TEST 29: a Sec-WebSocket-Key without its padding is 400
--- raw_request eval
::ws_handshake('/ws', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ')
--- error_code: 400
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent invalid "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ"
--- no_error_log
[error]



=== TEST 30: two Sec-WebSocket-Key headers are 400
--- raw_request eval
::ws_handshake('/ws', '+Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==')
--- error_code: 400
--- response_headers
!Sec-WebSocket-Accept
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent invalid "Sec-WebSocket-Key": "x3JJHMbDL1EzLkh9GBhXDw=="
--- no_error_log
[error]



=== TEST 31: a handshake with a body (Content-Length: 5) is 400
--- raw_request eval
::ws_handshake('/ws', 'Content-Length: 5') . 'hello'
--- error_code: 400
--- response_headers
!Sec-WebSocket-Accept
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent WebSocket handshake with a body
--- no_error_log
[error]



=== TEST 32: a handshake with a chunked body is 400
--- raw_request eval
::ws_handshake('/ws', 'Transfer-Encoding: chunked') . "5\r\nhello\r\n0\r\n\r\n"
--- error_code: 400
--- grep_error_log eval
qr/\[info\] \d+#\d+: \*\d+ \K.*?(?=, client: )/
--- grep_error_log_out
client sent WebSocket handshake with a body
--- no_error_log
[error]



=== TEST 33: Content-Length: 0 is no body: 101
--- raw_request eval
::ws_handshake('/ws', 'Content-Length: 0') . ::ws_close_frame(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- no_error_log
[error]



=== TEST 34: frames pipelined after headers larger than client_header_buffer_size are echoed
--- raw_request eval
::ws_handshake('/ws', 'Cookie: ' . 'c' x 3000)
. ::ws_frame('text', 'after large headers') . ::ws_frame('binary', 'y' x 5000)
. ::ws_close_frame(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body_filters eval
\&::ws_decode
--- response_body
text: after large headers
binary: 5000 bytes
close: 1000
--- no_error_log
[error]



=== TEST 35: a missing Host header is 400 (before the module sees the request)
--- raw_request eval
::ws_handshake('/ws', 'Host:')
--- error_code: 400
--- response_headers
!Sec-WebSocket-Accept
--- no_error_log
[error]



=== TEST 36: a 426 for the version says "upgrade" in Connection too (RFC 7230 6.7)
--- raw_request eval
::ws_handshake('/ws', 'Sec-WebSocket-Version: 8', 'Connection: Upgrade, close')
--- error_code: 426
--- response_headers
Upgrade: websocket
Connection: close, upgrade
Sec-WebSocket-Version: 13
--- no_error_log
[error]



=== TEST 37: HTTP/1.2 is "1.1 or higher" (RFC 6455 4.1): 101
--- raw_request eval
(::ws_handshake('/ws') =~ s{ HTTP/1\.1\r\n}{ HTTP/1.2\r\n}r)
. ::ws_close_frame(1000)
--- error_code: 101
--- response_headers
Upgrade: websocket
Connection: upgrade
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- no_error_log
[error]



=== TEST 38: HTTP/1.10 is a later HTTP/1.x too: 101
--- raw_request eval
(::ws_handshake('/ws') =~ s{ HTTP/1\.1\r\n}{ HTTP/1.10\r\n}r)
. ::ws_close_frame(1000)
--- error_code: 101
--- response_headers
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- no_error_log
[error]



=== TEST 39: proxy_pass after ws_gateway_pass in the same location fails the configuration
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        proxy_pass http://127.0.0.1:1;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_pass" conflicts with another content handler .* in the same location in \S+nginx\.conf:\d+/



=== TEST 40: ws_gateway_pass after proxy_pass in the same location fails the configuration
--- config
    location /ws {
        proxy_pass http://127.0.0.1:1;
        ws_gateway_pass builtin:echo;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_pass" directive conflicts with another content handler .* in the same location in \S+nginx\.conf:\d+/



=== TEST 41: ws_gateway_status and ws_gateway_pass in one location fail the configuration
--- config
    location /ws {
        ws_gateway_status;
        ws_gateway_pass builtin:echo;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_pass" directive conflicts with another content handler .* in \S+nginx\.conf:\d+/



=== TEST 42: ws_gateway_pass and ws_gateway_status in one location fail the configuration
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_status;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_status" directive conflicts with another content handler .* in \S+nginx\.conf:\d+/



=== TEST 43: fastcgi_pass after ws_gateway_pass fails too
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        fastcgi_pass 127.0.0.1:1;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_pass" conflicts with another content handler .* in \S+nginx\.conf:\d+/



=== TEST 44: "return" under "if" beside ws_gateway_pass is a gate, not a conflict
--- config
    location /ws {
        if ($arg_deny) {
            return 403;
        }

        ws_gateway_pass builtin:echo;
    }
--- raw_request eval
::ws_handshake('/ws?deny=1', 'Connection: Upgrade, close')
--- error_code: 403
--- no_error_log
[error]



=== TEST 45: the same location without the argument is a WebSocket endpoint
--- config
    location /ws {
        if ($arg_deny) {
            return 403;
        }

        ws_gateway_pass builtin:echo;
    }
--- raw_request eval
::ws_handshake('/ws') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000
--- no_error_log
[error]



=== TEST 46: tcp_nodelay off in the location: the session socket is left without TCP_NODELAY
--- config
    location /ws {
        tcp_nodelay off;
        ws_gateway_pass builtin:echo;
    }
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('text', 'hi') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hi
close: 1000
--- no_error_log
tcp_nodelay
[error]



=== TEST 47: tcp_nodelay on (NGINX's default): the session socket gets TCP_NODELAY
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
    }
--- raw_request eval
::ws_handshake('/ws') . ::ws_frame('text', 'hi') . ::ws_close_frame(1000)
--- error_code: 101
--- response_body_filters eval
\&::ws_decode
--- response_body
text: hi
close: 1000
--- error_log
tcp_nodelay
--- no_error_log
[error]
