# Sanity: the module loads, a location with ws_gateway_pass answers, and
# every bad directive argument fails the configuration test naming the
# directive and file:line.
use t::WsGateway;

repeat_each(1);

plan tests => repeat_each() * (blocks() * 2 + 4);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the module loads and the location answers a plain request
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
    }
--- request
GET /ws
--- error_code: 426
--- response_headers
Upgrade: websocket
--- response_body_like: WebSocket endpoint
--- no_error_log
[error]



=== TEST 2: a WebSocket handshake gets 101 and the RFC 6455 accept key
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
    }
--- raw_request eval
::ws_handshake('/ws') . ::ws_close_frame(1000)
--- error_code: 101
--- response_headers
Upgrade: websocket
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
--- response_body_filters eval
\&::ws_decode
--- response_body
close: 1000



=== TEST 3: ws_gateway_pass takes exactly one argument
--- config
    location /ws {
        ws_gateway_pass;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*invalid number of arguments in "ws_gateway_pass" directive in \S+nginx\.conf:\d+/



=== TEST 4: ws_gateway_pass of an upstream that does not exist fails as proxy_pass does
--- config
    location /ws {
        ws_gateway_pass nowhere;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*no port in upstream "nowhere" in \S+nginx\.conf:\d+/



=== TEST 5: ws_gateway_pass rejects an unknown built-in target
--- config
    location /ws {
        ws_gateway_pass builtin:nope;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*unknown built-in target "builtin:nope" in "ws_gateway_pass" directive, only "builtin:echo" exists in \S+nginx\.conf:\d+/



=== TEST 6: ws_gateway_pass twice is a duplicate
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_pass builtin:echo;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_pass" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 7: ws_gateway_pass is not allowed at server level
--- config
    ws_gateway_pass builtin:echo;
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_pass" directive is not allowed here in \S+nginx\.conf:\d+/



=== TEST 8: sizes must be sizes
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_max_frame_size lots;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_max_frame_size" directive invalid value in \S+nginx\.conf:\d+/



=== TEST 9: sizes have bounds
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_buffer_size 100;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_buffer_size" must be between 256 and \d+ in \S+nginx\.conf:\d+/



=== TEST 10: a frame may not be larger than a message
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_max_frame_size 2m;
        ws_gateway_max_message_size 1m;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_max_frame_size" 2097152 must not be greater than "ws_gateway_max_message_size" 1048576 in \S+nginx\.conf:\d+/



=== TEST 11: times must be times
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_ping_interval soon;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_ping_interval" directive invalid value in \S+nginx\.conf:\d+/



=== TEST 12: subprotocols are HTTP tokens
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_subprotocols "chat/v1";
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*invalid subprotocol "chat\/v1" in "ws_gateway_subprotocols" directive: not an HTTP token in \S+nginx\.conf:\d+/



=== TEST 13: subprotocols are listed once
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_subprotocols chat chat;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*duplicate subprotocol "chat" in "ws_gateway_subprotocols" directive in \S+nginx\.conf:\d+/



=== TEST 14: every timeout directive takes one time value
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_pong_timeout 1s 2s;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*invalid number of arguments in "ws_gateway_pong_timeout" directive in \S+nginx\.conf:\d+/



=== TEST 15: a send deadline of 0 would end every session at once
--- config
    location /ws {
        ws_gateway_pass builtin:echo;
        ws_gateway_send_timeout 0;
    }
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] .*"ws_gateway_send_timeout" must be greater than 0 in \S+nginx\.conf:\d+/
